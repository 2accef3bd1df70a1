//! `dualscore train`: dual (or single) score matching on a data set, with checkpoints,
//! resumption, a wall-clock budget, a progress bar and a clean stop on Ctrl-C.

use super::architecture::ArchitectureArgs;
use super::args::DataArgs;
use super::error::{AppError, AppResult};
use super::output::Output;
use super::progress::Progress;
use super::run_folder::{checkpoint_failed, ensure_writable};
use crate::data::ImageSet;
use crate::model::{ModelConfig, Preset, UNetEnergy};
use clap::Args;
use dualscore_core::nn::Module;
use dualscore_core::rng::RngKey;
use dualscore_core::train::{
    BandLoss, ImportanceSampling, LevelLoss, LrSchedule, Objective, StepMetrics, TrainConfig,
    Trainer, band_losses, evaluation_variances, held_out_loss,
};
use dualscore_core::{Backend, Tensor};
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Set by Ctrl-C: the training loop writes a checkpoint and returns.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Train a UNet energy by dual score matching.
#[derive(Clone, Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The run's folder: checkpoint, metrics.jsonl (one line per step) and eval.jsonl.
    #[arg(long, default_value = "run")]
    pub out: PathBuf,
    /// Continue the run saved in --out, exactly as if it had not stopped (a run stopped before
    /// its first checkpoint starts again from step 0).
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub arch: ArchitectureArgs,
    /// Train with denoising score matching only (the baseline), not the dual objective.
    #[arg(long)]
    pub single: bool,
    /// Stop after this many steps in all (counting steps before a resume).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Stop after this many minutes of this invocation.
    #[arg(long)]
    pub minutes: Option<f64>,
    /// Images per step (fast: 32; the paper's presets: 128).
    #[arg(long)]
    pub batch: Option<usize>,
    /// The learning rate (fast: 1e-3; the paper's presets: 5e-4).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Keep an exponential moving average of the weights with this decay, saved with every
    /// checkpoint and measured instead of the raw weights (fast: 0.999; the paper's: none; 0
    /// turns it off).
    #[arg(long)]
    pub average_decay: Option<f64>,
    /// Halve the learning rate every this many steps (fast: 10,000; the paper's: 100,000).
    #[arg(long)]
    pub lr_halve_every: Option<u64>,
    /// The learning rate never goes below this.
    #[arg(long)]
    pub min_lr: Option<f64>,
    /// How the learning rate decays: halve (every --lr-halve-every steps; every preset's) or
    /// cosine (half a cosine down to --min-lr or 0 at --steps, which it needs).
    #[arg(long, value_enum)]
    pub lr_decay: Option<LrDecayArg>,
    /// Raise the learning rate linearly over this many first steps (every preset's: 0).
    #[arg(long)]
    pub lr_warmup: Option<u64>,
    /// How t is drawn: log-uniform (every preset's) or importance (more samples in the bands
    /// of t where the loss varies most, weighted so that the objective is the same).
    #[arg(long, value_enum)]
    pub t_sampling: Option<TSamplingArg>,
    /// The seed of the weights, the data order, the flips and the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train without random horizontal flips.
    #[arg(long)]
    pub no_flips: bool,
    /// Write a checkpoint every this many steps (and always at the end).
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: u64,
    /// Read the loss and the gradients' finiteness back from the device once every this many
    /// steps (1: every step). Above 1, a GPU runs several steps without waiting for the host;
    /// a non-finite value found at read-back stops the run naming its step, and the last
    /// checkpoint is kept. Needs 1 with --t-sampling importance.
    #[arg(long, default_value_t = 1)]
    pub sync_every: usize,
    /// Measure the held-out loss per noise level every this many steps (0: only at the end).
    #[arg(long, default_value_t = 0)]
    pub eval_every: u64,
    /// Test images used for the held-out loss.
    #[arg(long, default_value_t = 256)]
    pub eval_images: usize,
}

/// The learning-rate decay, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LrDecayArg {
    /// Halve every --lr-halve-every steps.
    Halve,
    /// Half a cosine down to --min-lr (or 0) at --steps.
    Cosine,
}

/// The distribution of t during training, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TSamplingArg {
    /// Log-uniform on the training range (the paper's).
    LogUniform,
    /// Importance sampling by band of log t (see the library's `BandSampler`).
    Importance,
}

/// The weight average's decay of the fast preset: a time constant of 1,000 steps.
pub const FAST_AVERAGE_DECAY: f64 = 0.999;

/// One line of `eval.jsonl`: the held-out loss at a step.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// Steps completed.
    pub step: u64,
    /// Test images used.
    pub images: usize,
    /// The loss per noise level (the 17 levels of PSNR -30 .. 90 dB).
    pub levels: Vec<LevelLoss>,
    /// The mean loss per noise band.
    pub bands: Vec<BandLoss>,
    /// The mean over all levels.
    pub mean_loss: f64,
}

/// The held-out loss of `energy` on (at most `max_images` of) `test`.
pub fn evaluate<B: Backend>(
    energy: &UNetEnergy<B>,
    test: &ImageSet,
    max_images: usize,
    objective: Objective,
    step: u64,
    backend: &B,
) -> AppResult<Evaluation> {
    let count = test.len().min(max_images.max(1));
    let first: Vec<usize> = (0..count).collect();
    let set = test.select(&first)?;
    let x = Tensor::<B, f32>::from_f64(backend, set.values(), set.shape())?;
    let levels = held_out_loss(
        energy,
        &x,
        &evaluation_variances(),
        objective,
        64,
        RngKey::new(0, 7),
    )?;
    let mean_loss = levels.iter().map(|l| l.loss.mean).sum::<f64>() / levels.len() as f64;
    Ok(Evaluation {
        step,
        images: count,
        bands: band_losses(&levels),
        levels,
        mean_loss,
    })
}

impl TrainArgs {
    fn train_config(&self) -> AppResult<TrainConfig> {
        if self.steps.is_none() && self.minutes.is_none() {
            return Err(AppError::msg(
                "say how long to train: --steps N and/or --minutes M",
            ));
        }
        let fast = self.arch.preset == Preset::Fast;
        let halve_every = self
            .lr_halve_every
            .unwrap_or(if fast { 10_000 } else { 100_000 });
        if halve_every == 0 {
            return Err(AppError::msg("--lr-halve-every must be at least 1"));
        }
        let lr = self.lr.unwrap_or(if fast { 1e-3 } else { 5e-4 });
        let config = TrainConfig {
            batch_size: self.batch.unwrap_or(if fast { 32 } else { 128 }),
            steps: self.steps.unwrap_or(u64::MAX),
            objective: if self.single {
                Objective::Single
            } else {
                Objective::Dual
            },
            schedule: self.lr_schedule(lr, halve_every)?,
            warmup_steps: self.lr_warmup.unwrap_or(0),
            importance: (self.t_sampling == Some(TSamplingArg::Importance))
                .then(ImportanceSampling::default),
            seed: self.seed,
            flips: !self.no_flips,
            checkpoint_every: Some(self.checkpoint_every.max(1)),
            sync_every: self.sync_every,
            checkpoint_dir: Some(self.out.clone()),
            metrics_path: Some(self.out.join("metrics.jsonl")),
            average_decay: self
                .average_decay
                .or(fast.then_some(FAST_AVERAGE_DECAY))
                .filter(|d| *d != 0.0),
            ..TrainConfig::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// The learning-rate schedule of the flags, from the rate `lr`.
    fn lr_schedule(&self, lr: f64, halve_every: u64) -> AppResult<LrSchedule> {
        let schedule = match self.lr_decay.unwrap_or(LrDecayArg::Halve) {
            LrDecayArg::Halve => LrSchedule::step_decay(lr, 0.5, halve_every),
            LrDecayArg::Cosine => {
                let Some(steps) = self.steps else {
                    return Err(AppError::msg(
                        "--lr-decay cosine decays to the end of the run: give --steps",
                    ));
                };
                LrSchedule::cosine(lr, steps)
            }
        };
        Ok(match self.min_lr {
            Some(min) => schedule.with_min_lr(min),
            None => schedule,
        })
    }
}

/// What `train` did.
#[derive(Clone, Debug, Serialize)]
pub struct TrainOutcome {
    /// The run's folder.
    pub out: PathBuf,
    /// Steps run by this invocation.
    pub steps_run: u64,
    /// Steps completed in all.
    pub step: u64,
    /// The last step's metrics.
    pub last: Option<StepMetrics>,
    /// Why it stopped: "steps", "minutes" or "interrupted".
    pub stopped_by: String,
    /// Seconds of this invocation.
    pub seconds: f64,
    /// The held-out loss at the end (when there is a test set).
    pub evaluation: Option<Evaluation>,
}

/// Runs `train`.
pub fn run<B: Backend>(args: &TrainArgs, output: &mut Output<'_>, backend: &B) -> AppResult<Value> {
    let sets = args.data.read()?;
    let train = sets.need_train()?;
    let outcome = train_model(args, train, sets.test.as_ref(), output, backend)?;
    Ok(json!({ "command": "train", "result": outcome }))
}

/// Whether `--resume` finds a checkpoint in `out`. A folder without one is a run stopped before
/// its first checkpoint (or a folder a new run may use): the run starts from step 0, saying so,
/// as it would without `--resume`. A folder that does not exist is an error.
fn has_checkpoint_to_resume(out: &Path, output: &mut Output<'_>) -> AppResult<bool> {
    let checkpoint = out.join(dualscore_core::train::CHECKPOINT_FILE);
    if checkpoint.exists() {
        return Ok(true);
    }
    if !out.is_dir() {
        let why = if out.exists() {
            "not a folder"
        } else {
            "no such folder"
        };
        return Err(AppError::msg(format!(
            "{}: no run to resume ({why}): start one without --resume",
            out.display()
        )));
    }
    output.line(format!(
        "{} holds no checkpoint yet (the run stopped before its first): starting from step 0",
        out.display()
    ))?;
    Ok(false)
}

/// Trains on `train` (and evaluates on `test`), as `dualscore train` does.
pub fn train_model<B: Backend>(
    args: &TrainArgs,
    train: &ImageSet,
    test: Option<&ImageSet>,
    output: &mut Output<'_>,
    backend: &B,
) -> AppResult<TrainOutcome> {
    if let Some(m) = args.minutes.filter(|m| !(*m > 0.0 && m.is_finite())) {
        return Err(AppError::msg(format!(
            "--minutes must be positive, got {m}"
        )));
    }
    let started = Instant::now();
    let resuming = args.resume && has_checkpoint_to_resume(&args.out, output)?;
    let mut trainer: Trainer<B, f32, UNetEnergy<B>, ModelConfig> = if resuming {
        let info = dualscore_core::train::read_checkpoint::<ModelConfig>(&args.out)?;
        ensure_writable(&args.out)?;
        let model = info.model_config.build(backend, 0)?;
        let mut trainer = Trainer::resume(&args.out, model)?;
        let config = trainer.config_mut();
        if let Some(steps) = args.steps {
            config.steps = steps;
        }
        config.checkpoint_dir = Some(args.out.clone());
        config.checkpoint_every = Some(args.checkpoint_every.max(1));
        config.sync_every = args.sync_every;
        config.metrics_path = Some(args.out.join("metrics.jsonl"));
        output.line(format!(
            "resuming {} at step {}",
            args.out.display(),
            trainer.completed_steps()
        ))?;
        trainer
    } else {
        let config = args.train_config()?;
        let model_config = args.arch.model_config(train)?;
        if args
            .out
            .join(dualscore_core::train::CHECKPOINT_FILE)
            .exists()
        {
            return Err(AppError::msg(format!(
                "{} already holds a run: continue it with --resume, or choose another --out",
                args.out.display()
            )));
        }
        std::fs::create_dir_all(&args.out)
            .map_err(|e| AppError::io(&args.out, "create the folder", e))?;
        ensure_writable(&args.out)?;
        let model = args
            .arch
            .new_model(&model_config, train, args.seed, backend)?;
        Trainer::new(model, model_config, config)?
    };
    let data = train.to_in_memory::<B, f32>(backend)?;
    let objective = trainer.config().objective;
    let target = trainer.config().steps;
    let budget_s = args.minutes.map(|m| m * 60.0);
    if target == u64::MAX && budget_s.is_none() {
        return Err(AppError::msg(
            "this run was started with --minutes only: say how long to continue, --steps N and/or --minutes M",
        ));
    }
    let [c, h, w] = train.image_shape();
    output.line(format!(
        "training on {} images of {c}x{h}x{w} from {}; {} parameters; {}",
        train.len(),
        train.origin().display(),
        trainer.model().num_parameters(),
        describe_stop(args, target)
    ))?;

    let first_step = trainer.completed_steps();
    let mut progress = Progress::new(output.progress, target, budget_s, first_step);
    let mut eval_log = EvalLog::new(&args.out, resuming.then_some(first_step))?;
    let mut last = None;
    // A resumed run starts from a checkpoint of its first step.
    let mut saved_step = resuming.then_some(first_step);
    let mut latest_evaluation: Option<Evaluation> = None;
    if let Some(test) = test.filter(|_| args.eval_every > 0 && first_step == 0) {
        // The starting point of the curves: a model with a base starts as its base.
        let evaluation = evaluate(
            &*measured_model(&trainer)?,
            test,
            args.eval_images,
            objective,
            0,
            backend,
        )?;
        eval_log.append(&evaluation)?;
    }
    let stopped_by = loop {
        if trainer.completed_steps() >= target {
            break "steps";
        }
        if budget_s.is_some_and(|b| started.elapsed().as_secs_f64() >= b) {
            break "minutes";
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            break "interrupted";
        }
        let read_back = match trainer.advance(&data) {
            Ok(m) => m,
            Err(e) => {
                progress.finish();
                return Err(AppError::Train(e));
            }
        };
        for metrics in read_back {
            progress.update(&metrics, started.elapsed().as_secs_f64());
            last = Some(metrics);
        }
        let step = trainer.completed_steps();
        // The held-out loss of a step is logged before its checkpoint, so that a run stopped
        // between the two measures it again when resumed.
        if let Some(test) = test.filter(|_| args.eval_every > 0 && step % args.eval_every == 0) {
            let evaluation = evaluate(
                &*measured_model(&trainer)?,
                test,
                args.eval_images,
                objective,
                step,
                backend,
            )?;
            progress.note(&format!(
                "step {step}: held-out loss {:.4}",
                evaluation.mean_loss
            ));
            eval_log.append(&evaluation)?;
            latest_evaluation = Some(evaluation);
        }
        if step % args.checkpoint_every.max(1) == 0 {
            trainer
                .save_checkpoint(&args.out)
                .map_err(|e| checkpoint_failed(e, &args.out, step, saved_step))?;
            saved_step = Some(step);
        }
    };
    let read_back = trainer.sync();
    for metrics in read_back.iter().flatten() {
        progress.update(metrics, started.elapsed().as_secs_f64());
    }
    progress.finish();
    last = read_back?.into_iter().last().or(last);
    let step = trainer.completed_steps();
    if saved_step != Some(step) {
        trainer
            .save_checkpoint(&args.out)
            .map_err(|e| checkpoint_failed(e, &args.out, step, saved_step))?;
    }
    if stopped_by == "interrupted" {
        output.line(format!(
            "interrupted: checkpoint of step {step} written to {}",
            args.out.display()
        ))?;
    }
    let evaluation = match (test, latest_evaluation) {
        (Some(_), Some(e)) if e.step == step => Some(e),
        (Some(test), _) => {
            let e = evaluate(
                &*measured_model(&trainer)?,
                test,
                args.eval_images,
                objective,
                step,
                backend,
            )?;
            // A resumed run that takes no step may find this step measured already.
            if !eval_log.holds(step) {
                eval_log.append(&e)?;
            }
            Some(e)
        }
        (None, _) => None,
    };
    let outcome = TrainOutcome {
        out: args.out.clone(),
        steps_run: step - first_step,
        step,
        last,
        stopped_by: stopped_by.to_string(),
        seconds: started.elapsed().as_secs_f64(),
        evaluation,
    };
    print_outcome(&outcome, output)?;
    Ok(outcome)
}

/// The model that measurements see: the averaged weights when the run keeps an average.
fn measured_model<B: Backend>(
    trainer: &Trainer<B, f32, UNetEnergy<B>, ModelConfig>,
) -> AppResult<std::borrow::Cow<'_, UNetEnergy<B>>> {
    Ok(match trainer.averaged_model()? {
        Some(model) => std::borrow::Cow::Owned(model),
        None => std::borrow::Cow::Borrowed(trainer.model()),
    })
}

fn describe_stop(args: &TrainArgs, target: u64) -> String {
    match (target, args.minutes) {
        (u64::MAX, Some(m)) => format!("for {m} minutes"),
        (s, Some(m)) => format!("to step {s} or for {m} minutes"),
        (s, None) => format!("to step {s}"),
    }
}

fn print_outcome(outcome: &TrainOutcome, output: &mut Output<'_>) -> AppResult<()> {
    if let Some(m) = &outcome.last {
        output.line(format!(
            "step {}: loss {:.4} (dsm {:.4}, tsm {:.4}), {:.0} s; stopped by {}",
            m.step, m.loss, m.dsm, m.tsm, outcome.seconds, outcome.stopped_by
        ))?;
    }
    output.line(format!("checkpoint: {}", outcome.out.display()))?;
    if let Some(e) = &outcome.evaluation {
        let bands: Vec<String> = e
            .bands
            .iter()
            .map(|b| format!("{} {:.4}", b.name, b.loss))
            .collect();
        output.line(format!(
            "held-out loss on {} images: {:.4} ({})",
            e.images,
            e.mean_loss,
            bands.join(", ")
        ))?;
    }
    Ok(())
}

/// `eval.jsonl` of a run.
struct EvalLog {
    path: PathBuf,
    /// The steps of the evaluations in the file.
    steps: Vec<u64>,
}

impl EvalLog {
    /// The log of the run in `dir`. A resumed run (`resumed` is its first step) keeps the
    /// evaluations of steps up to that step and measures the later steps again; a new run
    /// starts the log empty (a run killed before its first checkpoint may have left one).
    fn new(dir: &Path, resumed: Option<u64>) -> AppResult<Self> {
        let path = dir.join("eval.jsonl");
        let mut steps = Vec::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            let mut kept = String::new();
            for line in text.lines() {
                let line_step = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v.get("step").and_then(Value::as_u64))
                    .filter(|&s| resumed.is_some_and(|first| s <= first));
                if let Some(s) = line_step {
                    steps.push(s);
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
            if kept.len() != text.len() {
                super::files::write_file(&path, kept.as_bytes())?;
            }
        }
        Ok(EvalLog { path, steps })
    }

    /// Whether the log holds an evaluation of `step`.
    fn holds(&self, step: u64) -> bool {
        self.steps.contains(&step)
    }

    fn append(&mut self, evaluation: &Evaluation) -> AppResult<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| AppError::io(&self.path, "open", e))?;
        let mut line = serde_json::to_string(evaluation).expect("evaluations serialize");
        line.push('\n');
        file.write_all(line.as_bytes())
            .map_err(|e| AppError::io(&self.path, "append to", e))?;
        self.steps.push(evaluation.step);
        Ok(())
    }
}
