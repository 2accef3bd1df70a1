//! `dualscore denoise`: output PSNR against input PSNR for the energy's denoiser.

use super::args::DataArgs;
use super::error::AppResult;
use super::measure::{ModelArgs, tensor, with_energy};
use super::output::Output;
use crate::data::ImageSet;
use crate::model::Model;
use clap::Args;
use dualscore_core::Backend;
use dualscore_core::analysis::{DenoisingOptions, DenoisingReport, TABLE1_PSNRS_DB, denoising};
use dualscore_core::rng::RngKey;
use serde_json::{Value, json};

/// Denoising performance: xhat = y - t grad_y U(y, t) at each input PSNR (docs/METHOD.md 5.2).
#[derive(Clone, Debug, Args)]
pub struct DenoiseArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Input PSNRs in dB (comma-separated; default: Table 1's 90, 75, ..., -30).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub psnrs: Option<Vec<f64>>,
    /// The seed of the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Measures the denoising curve of `model` on `images`.
pub fn measure<B: Backend>(
    model: &Model<B>,
    images: &ImageSet,
    psnrs: &[f64],
    seed: u64,
    backend: &B,
) -> AppResult<DenoisingReport> {
    model.check_image_shape(images.image_shape())?;
    let options = DenoisingOptions {
        input_psnrs_db: psnrs.to_vec(),
        batch_size: 64,
        key: RngKey::new(seed, 12),
    };
    Ok(with_energy!(model, |energy, F| {
        denoising(energy, &tensor::<F, _>(images, backend)?, &options)?
    }))
}

/// Prints a report as a table.
pub fn print(report: &DenoisingReport, output: &mut Output<'_>) -> AppResult<()> {
    output.line(format!(
        "denoising {} images of {} values: input PSNR -> output PSNR (dB)",
        report.images, report.dim
    ))?;
    for l in &report.levels {
        output.line(format!(
            "  {:7.1} -> {:7.2} +- {:.2}  (gain {:+.2})",
            l.input_psnr_db, l.output_psnr_db, l.output_psnr_std_error_db, l.gain_db
        ))?;
    }
    Ok(())
}

/// Runs `denoise`.
pub fn run<B: Backend>(
    args: &DenoiseArgs,
    output: &mut Output<'_>,
    backend: &B,
) -> AppResult<Value> {
    let sets = args.data.read()?;
    let images = sets.evaluation()?;
    let model = args.model.open(backend)?;
    let psnrs = args
        .psnrs
        .clone()
        .unwrap_or_else(|| TABLE1_PSNRS_DB.to_vec());
    let report = measure(&model, images, &psnrs, args.seed, backend)?;
    print(&report, output)?;
    Ok(json!({ "command": "denoise", "result": report }))
}
