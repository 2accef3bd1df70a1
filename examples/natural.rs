//! Natural image patches and the `fast` model, as examples 10 to 14 use them: the data (the
//! program's built-in photographs, or `.npy` files such as `natural_gray_p32_s16_*.npy`), a
//! training run of the program's `train` command, and a trained model with its normalization
//! constant.
//!
//! Everything here calls the program's library (`dualscore::app`, `dualscore::data`,
//! `dualscore::model`): an example trains and measures exactly as `dualscore train` and
//! `dualscore nll` do.

use crate::ExampleResult;
use clap::{Args, Parser};
use dualscore::app::{
    DataArgs, ModelArgs, NllReport, Output, TrainArgs, TrainOutcome, constant, demo_patches,
    measure_nll, neg_log_probs, train_model,
};
use dualscore::data::ImageSet;
use dualscore::model::{Model, NetworkModel};
use dualscore_core::Tensor;
use dualscore_core::density::log_p_db_per_dim;
use dualscore_cpu::Cpu;
use std::path::{Path, PathBuf};

/// Where the patches come from.
#[derive(Clone, Debug, Default, Args)]
pub struct PatchArgs {
    /// Training images, a `.npy` or IDX file (e.g. natural_gray_p32_s16_train.npy); without
    /// it, 16x16 patches of the program's seven built-in photographs.
    #[arg(long, value_name = "FILE", requires = "test")]
    pub train: Option<PathBuf>,
    /// Test images, from other photographs than the training images.
    #[arg(long, value_name = "FILE", requires = "train")]
    pub test: Option<PathBuf>,
    /// Cut the files' images into square patches of this side.
    #[arg(long, default_value_t = 16)]
    pub patch: usize,
}

impl PatchArgs {
    /// The training and test patches.
    pub fn read(&self) -> ExampleResult<(ImageSet, ImageSet)> {
        let (Some(train), Some(test)) = (&self.train, &self.test) else {
            return Ok(demo_patches(8)?);
        };
        let sets = DataArgs {
            train: Some(train.clone()),
            test: Some(test.clone()),
            patch: Some(self.patch),
            ..DataArgs::default()
        }
        .read()?;
        match (sets.train, sets.test) {
            (Some(train), Some(test)) => Ok((train, test)),
            _ => Err("both --train and --test are needed".into()),
        }
    }
}

/// `dualscore train`'s flags, parsed as the program parses them.
#[derive(Debug, Parser)]
#[command(name = "train")]
struct TrainCommand {
    #[command(flatten)]
    args: TrainArgs,
}

/// Trains a model as `dualscore train FLAGS --out OUT` does (default preset: `fast`), on
/// `train` and with the held-out loss on `test`; the run's folder `out` must not hold a run.
/// `flags` are the program's, e.g. `["--steps", "500", "--eval-every", "100"]`.
pub fn train(
    train: &ImageSet,
    test: Option<&ImageSet>,
    out: &Path,
    flags: &[String],
    backend: &Cpu,
) -> ExampleResult<TrainOutcome> {
    let argv = ["train".to_string(), "--out".into(), path_arg(out)?]
        .into_iter()
        .chain(flags.iter().cloned());
    let command = TrainCommand::try_parse_from(argv).map_err(|e| e.to_string())?;
    let mut sink = std::io::sink();
    let mut output = Output::new(&mut sink, false, false);
    Ok(train_model(
        &command.args,
        train,
        test,
        &mut output,
        backend,
    )?)
}

fn path_arg(path: &Path) -> ExampleResult<String> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{}: not a UTF-8 path", path.display()).into())
}

/// A trained model and its normalization constant for the patches' shape.
#[derive(Debug)]
pub struct Trained {
    /// The checkpoint's network and configuration.
    pub network: NetworkModel<Cpu>,
    /// The model, as the measurements take it.
    pub model: Model<Cpu>,
    /// c in nats: -log p = U(x, 0) + c.
    pub constant_nats: f64,
}

impl Trained {
    /// Opens the checkpoint folder `dir` and finds its constant as `dualscore nll` does
    /// (stored in the checkpoint, or estimated at t_max = 1e3 on `train` and stored).
    pub fn open(dir: &Path, train: &ImageSet, backend: &Cpu) -> ExampleResult<Self> {
        let model = Model::open(dir, backend)?;
        let mut sink = std::io::sink();
        let mut output = Output::new(&mut sink, false, false);
        let c = constant(
            &model,
            &model_args(dir)?,
            Some(train),
            train,
            backend,
            &mut output,
        )?;
        let network = NetworkModel::load(dir, backend)?;
        Ok(Trained {
            network,
            model,
            constant_nats: c.value,
        })
    }

    /// log p in dB/dim of every image of `set`.
    pub fn log_p_db(&self, set: &ImageSet, backend: &Cpu) -> ExampleResult<Vec<f64>> {
        let x = Tensor::<Cpu, f32>::from_f64(backend, set.values(), set.shape())?;
        let d = set.image_shape().iter().product();
        let nlp = neg_log_probs(&self.network.energy, &x, self.constant_nats)?;
        Ok(nlp.iter().map(|&v| log_p_db_per_dim(v, d)).collect())
    }

    /// Prints the NLL on `images` beside the Gaussian of `train` on one line, so that a
    /// figure's reader sees whether the model beats the baseline; returns both (bits/dim).
    pub fn print_nll(
        &self,
        train: &ImageSet,
        images: &ImageSet,
        backend: &Cpu,
    ) -> ExampleResult<(f64, f64)> {
        let nll = self.nll(train, images, backend)?;
        let (ours, gaussian) = (nll.summary.nll_bits_per_dim, baseline_bits(&nll));
        println!(
            "model {}: NLL {ours:.4} bits/dim on {} test patches, the Gaussian {gaussian:.4}",
            self.network.dir.display(),
            images.len()
        );
        Ok((ours, gaussian))
    }

    /// The test NLL beside the full-covariance Gaussian of `train`, as `dualscore nll`
    /// measures them.
    pub fn nll(
        &self,
        train: &ImageSet,
        test: &ImageSet,
        backend: &Cpu,
    ) -> ExampleResult<NllReport> {
        let mut sink = std::io::sink();
        let mut output = Output::new(&mut sink, false, false);
        let dir = &self.network.dir;
        Ok(measure_nll(
            &self.model,
            &model_args(dir)?,
            Some(train),
            test,
            1e-6,
            backend,
            &mut output,
        )?)
    }
}

/// The NLL in bits/dim of the Gaussian baseline of a report (NaN without one).
pub fn baseline_bits(report: &NllReport) -> f64 {
    report
        .baseline
        .as_ref()
        .map_or(f64::NAN, |b| b.summary.nll_bits_per_dim)
}

/// The measurement flags of `dualscore nll --model DIR` at their defaults.
fn model_args(dir: &Path) -> ExampleResult<ModelArgs> {
    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        model: ModelArgs,
    }
    let argv = ["nll".as_ref(), "--model".as_ref(), dir.as_os_str()];
    Ok(Wrapper::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .model)
}

/// The model an example measures: one given by `--model`, or one it trains first.
#[derive(Clone, Debug, Args)]
pub struct ModelSource {
    /// A model trained on the same kind of patches (`dualscore train --out DIR`, or example
    /// 10's `OUT/model`); without it, a model of the fast preset is trained first.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Training steps of that model (batch 32) when --model is not given.
    #[arg(long, default_value_t = 600)]
    pub steps: u64,
}

impl ModelSource {
    /// The model: opened from `--model`, or trained on `train` into `out/model` (which must
    /// not hold a run). Returns it with its folder.
    pub fn open_or_train(
        &self,
        train: &ImageSet,
        out: &Path,
        backend: &Cpu,
    ) -> ExampleResult<(Trained, PathBuf)> {
        let dir = match &self.model {
            Some(dir) => dir.clone(),
            None => {
                let dir = out.join("model");
                let flags = [
                    "--steps",
                    &self.steps.to_string(),
                    "--checkpoint-every",
                    &self.steps.max(1).to_string(),
                ]
                .map(String::from);
                let outcome = self::train(train, None, &dir, &flags, backend)?;
                println!(
                    "trained {} steps of the fast preset in {:.0} s into {}",
                    outcome.step,
                    outcome.seconds,
                    dir.display()
                );
                dir
            }
        };
        Ok((Trained::open(&dir, train, backend)?, dir))
    }
}
