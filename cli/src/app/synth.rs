//! `dualscore synth`: training and test sets drawn from an analytic model, with the exact test
//! NLL and entropy that a learned model is judged against, and the Gaussian baseline.

use super::error::{AppError, AppResult};
use super::files::write_file;
use super::measure::neg_log_probs;
use super::output::Output;
use crate::data::npy_f64_bytes;
use crate::model::{AnalyticModel, AnalyticSpec, FieldComponent};
use clap::{Args, ValueEnum};
use dualscore_core::analysis::Estimate;
use dualscore_core::density::{GaussianBaseline, LogProbSummary, neg_log_prob_bits_per_dim};
use dualscore_core::energy::analytic::{AnalyticDensity, monte_carlo_entropy};
use dualscore_core::rng::RngKey;
use dualscore_core::{Backend, Tensor};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The built-in analytic models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Family {
    /// Three 16x16 stationary fields of different slopes, anisotropies and pixel variances
    /// (the Gaussian fit is about 0.8 bits/dim above the truth).
    ThreeFields,
    /// Three 16x16 fields of one spectrum (alpha 2) with pixel variances 0.005, 0.02, 0.08.
    ScaleMixture,
    /// One 16x16 stationary field, alpha 2, pixel variance 0.02 (a Gaussian: the baseline is
    /// the truth).
    Field,
}

impl Family {
    /// The family's model description.
    pub fn spec(self) -> AnalyticSpec {
        let field = |weight, alpha, anisotropy, pixel_variance, mean| FieldComponent {
            weight,
            alpha,
            anisotropy,
            pixel_variance,
            mean,
            k0: None,
            floor: None,
        };
        let components = match self {
            Family::ThreeFields => vec![
                // Tuned so that the Gaussian fit is about 0.8 bits/dim above the truth: the
                // flat, strong field gives the mixture its high frequencies, the others its
                // smooth images.
                field(1.0, 1.5, 0.5, 0.08, 0.45),
                field(1.0, 2.5, 2.0, 0.004, 0.5),
                field(1.0, 3.5, 1.0, 0.05, 0.55),
            ],
            Family::ScaleMixture => vec![
                field(1.0, 2.0, 1.0, 0.005, 0.5),
                field(1.0, 2.0, 1.0, 0.02, 0.5),
                field(1.0, 2.0, 1.0, 0.08, 0.5),
            ],
            Family::Field => vec![field(1.0, 2.0, 1.0, 0.02, 0.5)],
        };
        AnalyticSpec::FieldMixture {
            shape: [1, 16, 16],
            components,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::ThreeFields => "three-fields",
            Family::ScaleMixture => "scale-mixture",
            Family::Field => "field",
        }
    }
}

/// Draw a training and a test set from an analytic model, with the exact test NLL.
#[derive(Clone, Debug, Args)]
pub struct SynthArgs {
    /// An analytic model file (.json), e.g. {"kind": "field_mixture", "shape": [1, 16, 16],
    /// "components": [{"weight": 1, "alpha": 2, "anisotropy": 1, "pixel_variance": 0.02,
    /// "mean": 0.5}]}.
    #[arg(long, value_name = "FILE", conflicts_with = "family")]
    pub model: Option<PathBuf>,
    /// A built-in model instead of a file.
    #[arg(long, value_enum)]
    pub family: Option<Family>,
    /// Training images to draw.
    #[arg(long, default_value_t = 20000)]
    pub train_count: usize,
    /// Test images to draw.
    #[arg(long, default_value_t = 2000)]
    pub test_count: usize,
    /// The seed: the same seed draws the same images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The folder for train.npy, test.npy and model.json.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write the model's description (.json) to this file.
    #[arg(long, value_name = "FILE")]
    pub write_model: Option<PathBuf>,
    /// Fresh samples of the Monte Carlo entropy estimate (0: none).
    #[arg(long, default_value_t = 20000)]
    pub entropy_samples: usize,
    /// Added to the diagonal of the Gaussian baseline's covariance (as in `nll`).
    #[arg(long, default_value_t = 1e-6)]
    pub ridge: f64,
}

/// The random streams of the sets: image `i` of a set depends only on the seed, the set and `i`.
fn keys(seed: u64) -> (RngKey, RngKey, RngKey) {
    (
        RngKey::new(seed, 0x5e7_0001),
        RngKey::new(seed, 0x5e7_0002),
        RngKey::new(seed, 0x5e7_0003),
    )
}

/// The Monte Carlo entropy of the model.
#[derive(Clone, Debug, Serialize)]
pub struct Entropy {
    /// In nats per image.
    pub nats: Estimate,
    /// 8 + H / (d ln 2): the NLL a perfect model reaches in expectation.
    pub bits_per_dim: f64,
    /// Its standard error.
    pub bits_per_dim_std_error: f64,
}

/// What `synth` drew and measured.
#[derive(Clone, Debug, Serialize)]
pub struct SynthReport {
    /// The model.
    pub model: String,
    /// Its description.
    pub spec: AnalyticSpec,
    /// The image shape `[C, H, W]`.
    pub image_shape: [usize; 3],
    /// The seed.
    pub seed: u64,
    /// The files written (train.npy, test.npy, model.json).
    pub files: Vec<PathBuf>,
    /// Training images drawn.
    pub train_images: usize,
    /// Test images drawn.
    pub test_images: usize,
    /// The exact -log p of the test set under the model (constant 0).
    pub truth: LogProbSummary,
    /// The entropy of the model by Monte Carlo over fresh samples.
    pub entropy: Option<Entropy>,
    /// The full-covariance Gaussian fitted on the training images (as `nll` fits it), on the
    /// test set.
    pub gaussian_baseline: LogProbSummary,
    /// The exact entropy of the Gaussian with the model's mean and covariance, 8 + H / (d ln 2):
    /// the baseline's NLL with infinitely many training images, in expectation.
    pub gaussian_fit_exact_bits_per_dim: f64,
    /// Baseline NLL minus true NLL on the test set, image by image (bits/dim).
    pub gap_bits_per_dim: Estimate,
}

/// Runs `synth`.
pub fn run<B: Backend>(args: &SynthArgs, output: &mut Output<'_>, backend: &B) -> AppResult<Value> {
    let (model, name) = match (&args.model, args.family) {
        (Some(path), None) => (AnalyticModel::read(path)?, path.display().to_string()),
        (None, Some(family)) => (
            AnalyticModel::from_spec(family.spec()).map_err(AppError::msg)?,
            family.name().to_string(),
        ),
        _ => {
            return Err(AppError::msg(
                "say what to draw from: --model FILE.json or --family NAME",
            ));
        }
    };
    let spec_json = serde_json::to_string_pretty(&model.spec)
        .map_err(|e| AppError::msg(format!("cannot describe the model: {e}")))?
        + "\n";
    if let Some(path) = &args.write_model {
        write_file(path, spec_json.as_bytes())?;
        output.line(format!("model description written to {}", path.display()))?;
    }
    let Some(out) = &args.out else {
        if args.write_model.is_some() {
            return Ok(json!({
                "command": "synth",
                "result": {"model": name, "spec": model.spec, "files": [args.write_model]}
            }));
        }
        return Err(AppError::msg(
            "say where to write the sets: --out DIR (or only --write-model FILE)",
        ));
    };
    if args.train_count == 0 || args.test_count == 0 {
        return Err(AppError::msg(
            "--train-count and --test-count must be at least 1",
        ));
    }
    let report = synthesize(&model, &name, args, out, &spec_json, backend, output)?;
    print(&report, output)?;
    Ok(json!({ "command": "synth", "result": report }))
}

fn synthesize<B: Backend>(
    model: &AnalyticModel,
    name: &str,
    args: &SynthArgs,
    out: &Path,
    spec_json: &str,
    backend: &B,
    output: &mut Output<'_>,
) -> AppResult<SynthReport> {
    let shape = model.image_shape();
    let [c, h, w] = shape;
    let d = c * h * w;
    let density = &model.density;
    let (train_key, test_key, entropy_key) = keys(args.seed);
    output.line(format!(
        "synth: drawing {} training and {} test images of {shape:?} from {name} (seed {})",
        args.train_count, args.test_count, args.seed
    ))?;
    let train = density.sample_rows(args.train_count, 0.0, train_key)?;
    let test = density.sample_rows(args.test_count, 0.0, test_key)?;
    let files = vec![
        out.join("train.npy"),
        out.join("test.npy"),
        out.join("model.json"),
    ];
    write_file(
        &files[0],
        &npy_f64_bytes(&train, &[args.train_count, c, h, w]),
    )?;
    write_file(
        &files[1],
        &npy_f64_bytes(&test, &[args.test_count, c, h, w]),
    )?;
    write_file(&files[2], spec_json.as_bytes())?;

    let test_x = Tensor::<B, f64>::from_f64(backend, &test, [args.test_count, c, h, w])?;
    let truth_nlp = neg_log_probs(density, &test_x, 0.0)?;
    let truth = LogProbSummary::from_neg_log_prob_nats(&truth_nlp, d);

    let train_x = Tensor::<B, f64>::from_f64(backend, &train, [args.train_count, c, h, w])?;
    let fitted = GaussianBaseline::fit(&train_x, 256, args.ridge)?;
    let baseline_nlp = fitted.neg_log_prob_nats(&test_x, 256)?;
    let gaussian_baseline = LogProbSummary::from_neg_log_prob_nats(&baseline_nlp, d);
    let differences: Vec<f64> = baseline_nlp
        .iter()
        .zip(&truth_nlp)
        .map(|(b, t)| (b - t) / (d as f64 * std::f64::consts::LN_2))
        .collect();

    let entropy = if args.entropy_samples > 0 {
        let h = monte_carlo_entropy::<B, f64, _>(
            density,
            backend,
            0.0,
            args.entropy_samples,
            256,
            entropy_key,
        )?;
        Some(Entropy {
            nats: h,
            bits_per_dim: neg_log_prob_bits_per_dim(h.mean, d) + 8.0,
            bits_per_dim_std_error: h.std_error / (d as f64 * std::f64::consts::LN_2),
        })
    } else {
        None
    };
    let fit_entropy = model.gaussian_fit_entropy().map_err(AppError::msg)?;
    Ok(SynthReport {
        model: name.to_string(),
        spec: model.spec.clone(),
        image_shape: shape,
        seed: args.seed,
        files,
        train_images: args.train_count,
        test_images: args.test_count,
        truth,
        entropy,
        gaussian_baseline,
        gaussian_fit_exact_bits_per_dim: 8.0 + neg_log_prob_bits_per_dim(fit_entropy, d),
        gap_bits_per_dim: Estimate::of(&differences),
    })
}

fn print(r: &SynthReport, output: &mut Output<'_>) -> AppResult<()> {
    output.line(format!(
        "wrote {}",
        r.files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    output.line(format!(
        "true model:        test NLL {:.4} +- {:.4} bits/dim (exact log p), mean log p {:.3} dB/dim",
        r.truth.nll_bits_per_dim, r.truth.nll_bits_per_dim_std_error, r.truth.mean_log_p_db_per_dim
    ))?;
    if let Some(e) = &r.entropy {
        output.line(format!(
            "entropy:           {:.4} +- {:.4} bits/dim (8 + H / (d ln 2), Monte Carlo over {} fresh images)",
            e.bits_per_dim, e.bits_per_dim_std_error, e.nats.samples
        ))?;
    }
    output.line(format!(
        "Gaussian baseline: test NLL {:.4} +- {:.4} bits/dim (full covariance of {} training images; exact fit {:.4})",
        r.gaussian_baseline.nll_bits_per_dim,
        r.gaussian_baseline.nll_bits_per_dim_std_error,
        r.train_images,
        r.gaussian_fit_exact_bits_per_dim
    ))?;
    output.line(format!(
        "gap:               Gaussian - truth = {:.4} +- {:.4} bits/dim on the test set",
        r.gap_bits_per_dim.mean, r.gap_bits_per_dim.std_error
    ))?;
    Ok(())
}
