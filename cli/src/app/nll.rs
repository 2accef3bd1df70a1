//! `dualscore nll`: the test NLL of a model beside a full-covariance Gaussian baseline.

use super::args::DataArgs;
use super::error::AppResult;
use super::measure::{Constant, ModelArgs, constant, neg_log_probs, tensor, with_energy};
use super::output::Output;
use crate::data::ImageSet;
use crate::model::Model;
use clap::Args;
use dualscore_core::Backend;
use dualscore_core::density::{GaussianBaseline, LogProbSummary};
use serde::Serialize;
use serde_json::{Value, json};

/// Test NLL (bits/dim) and mean log p (dB/dim), with the Gaussian baseline.
#[derive(Clone, Debug, Args)]
pub struct NllArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Added to the diagonal of the baseline's covariance (its smallest eigenvalues can be ~0).
    #[arg(long, default_value_t = 1e-6)]
    pub ridge: f64,
}

/// The full-covariance Gaussian fitted on the training images, evaluated on the test images.
#[derive(Clone, Debug, Serialize)]
pub struct Baseline {
    /// Training images it was fitted on.
    pub train_images: usize,
    /// The ridge added to the covariance.
    pub ridge: f64,
    /// Its test -log p.
    pub summary: LogProbSummary,
}

/// What `nll` measured.
#[derive(Clone, Debug, Serialize)]
pub struct NllReport {
    /// The model.
    pub model: String,
    /// The test images.
    pub data: String,
    /// The normalization constant.
    pub constant: Constant,
    /// The model's test -log p.
    pub summary: LogProbSummary,
    /// The baseline, when training images were given.
    pub baseline: Option<Baseline>,
}

/// Measures the NLL of `model` on `test` (and the baseline fitted on `train`).
pub fn measure<B: Backend>(
    model: &Model<B>,
    args: &ModelArgs,
    train: Option<&ImageSet>,
    test: &ImageSet,
    ridge: f64,
    backend: &B,
    output: &mut Output<'_>,
) -> AppResult<NllReport> {
    let c = constant(model, args, train, test, backend, output)?;
    let d = test.image_shape().iter().product();
    let nlp = with_energy!(model, |energy, F| {
        neg_log_probs(energy, &tensor::<F, _>(test, backend)?, c.value)?
    });
    let summary = LogProbSummary::from_neg_log_prob_nats(&nlp, d);
    let baseline = match train.filter(|t| t.image_shape() == test.image_shape()) {
        Some(train) => {
            let fitted = GaussianBaseline::fit(&tensor::<f64, _>(train, backend)?, 256, ridge)?;
            let nlp = fitted.neg_log_prob_nats(&tensor::<f64, _>(test, backend)?, 256)?;
            Some(Baseline {
                train_images: train.len(),
                ridge,
                summary: LogProbSummary::from_neg_log_prob_nats(&nlp, d),
            })
        }
        None => None,
    };
    Ok(NllReport {
        model: model.describe(),
        data: test.origin().display().to_string(),
        constant: c,
        summary,
        baseline,
    })
}

/// Prints a report.
pub fn print(report: &NllReport, output: &mut Output<'_>) -> AppResult<()> {
    let s = &report.summary;
    output.line(format!(
        "normalization constant: {:.3} +- {:.3} nats ({})",
        report.constant.value, report.constant.std_error, report.constant.source
    ))?;
    output.line(format!(
        "model:    NLL {:.4} +- {:.4} bits/dim, mean log p {:.3} dB/dim ({} images of {} values)",
        s.nll_bits_per_dim, s.nll_bits_per_dim_std_error, s.mean_log_p_db_per_dim, s.images, s.dim
    ))?;
    if let Some(b) = &report.baseline {
        output.line(format!(
            "Gaussian: NLL {:.4} +- {:.4} bits/dim, mean log p {:.3} dB/dim (full covariance of {} training images)",
            b.summary.nll_bits_per_dim,
            b.summary.nll_bits_per_dim_std_error,
            b.summary.mean_log_p_db_per_dim,
            b.train_images
        ))?;
    }
    Ok(())
}

/// Runs `nll`.
pub fn run<B: Backend>(args: &NllArgs, output: &mut Output<'_>, backend: &B) -> AppResult<Value> {
    let sets = args.data.read()?;
    let test = sets.evaluation()?;
    let model = args.model.open(backend)?;
    let report = measure(
        &model,
        &args.model,
        sets.train.as_ref(),
        test,
        args.ridge,
        backend,
        output,
    )?;
    print(&report, output)?;
    Ok(json!({ "command": "nll", "result": report }))
}
