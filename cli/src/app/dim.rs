//! `dualscore dim`: local dimensionality d_eff(x, t) over a log grid of t, with the slope and
//! I-MMSE consistency checks.

use super::args::DataArgs;
use super::error::{AppError, AppResult};
use super::files::write_csv;
use super::measure::{ModelArgs, open_with_constant, tensor, with_energy};
use super::output::Output;
use crate::data::ImageSet;
use crate::model::Model;
use clap::Args;
use dualscore_core::Backend;
use dualscore_core::analysis::{
    LocalDimensionOptions, LocalDimensionality, local_dimensionality, log_grid,
};
use dualscore_core::rng::RngKey;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Local dimensionality and its consistency checks (docs/METHOD.md 5.7).
#[derive(Clone, Debug, Args)]
pub struct DimArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// The smallest noise variance of the grid.
    #[arg(long, default_value_t = 1e-6)]
    pub grid_min: f64,
    /// The largest noise variance of the grid.
    #[arg(long, default_value_t = 1e3)]
    pub grid_max: f64,
    /// Points of the grid (log-spaced).
    #[arg(long, default_value_t = 28)]
    pub points: usize,
    /// Noise draws per image.
    #[arg(long, default_value_t = 2)]
    pub draws: usize,
    /// The seed of the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write each image's curve to this CSV (index, t, d_eff, its standard error).
    #[arg(long, value_name = "FILE")]
    pub per_image: Option<PathBuf>,
}

/// The grid and sampling of a measurement.
#[derive(Clone, Debug)]
pub struct DimSettings {
    /// The noise variances.
    pub grid: Vec<f64>,
    /// Draws per image.
    pub draws: usize,
    /// The noise seed.
    pub seed: u64,
    /// Keep every image's curve.
    pub per_image: bool,
}

impl DimArgs {
    /// The settings of the arguments.
    pub fn settings(&self) -> AppResult<DimSettings> {
        if self.draws == 0 {
            return Err(AppError::msg("--draws must be at least 1"));
        }
        Ok(DimSettings {
            grid: log_grid(self.grid_min, self.grid_max, self.points)?,
            draws: self.draws,
            seed: self.seed,
            per_image: self.per_image.is_some(),
        })
    }
}

/// Measures d_eff of `model` on `images`; `constant_nats` gives absolute log p.
pub fn measure<B: Backend>(
    model: &Model<B>,
    images: &ImageSet,
    settings: &DimSettings,
    constant_nats: Option<f64>,
    backend: &B,
) -> AppResult<LocalDimensionality> {
    model.check_image_shape(images.image_shape())?;
    let options = LocalDimensionOptions {
        noise_variances: settings.grid.clone(),
        draws: settings.draws,
        batch_size: 64,
        key: RngKey::new(settings.seed, 13),
        constant_nats,
        per_image: settings.per_image,
        control_variate: true,
    };
    Ok(with_energy!(model, |energy, F| {
        local_dimensionality(energy, &tensor::<F, _>(images, backend)?, &options)?
    }))
}

/// Prints the curve and the checks.
pub fn print(report: &LocalDimensionality, output: &mut Output<'_>) -> AppResult<()> {
    output.line(format!(
        "local dimensionality of {} images of d = {} ({} draws each): t, mean d_eff, d_eff / d",
        report.images, report.dim, report.draws
    ))?;
    for (t, e) in report.noise_variances.iter().zip(&report.mean_d_eff) {
        output.line(format!(
            "  {t:10.3e}  {:10.3} +- {:<8.3} {:.4}",
            e.mean,
            e.std_error,
            e.mean / report.dim as f64
        ))?;
    }
    if let Some(s) = &report.slope_check {
        output.line(format!(
            "slope identity: max |error| {:.4} dB/dim per decade, rms {:.4} (relative {:.2e}), worst {:.1} standard errors",
            s.max_abs_error, s.rms_error, s.relative_rms_error, s.max_abs_error_in_std_errors
        ))?;
    }
    if let Some(c) = &report.immse_check {
        output.line(format!(
            "I-MMSE: direct log p {:.4} dB/dim, integral {:.4} dB/dim, difference {:.4} +- {:.4} dB/dim",
            c.direct_db_per_dim,
            c.immse_db_per_dim,
            c.difference_db_per_dim,
            c.difference_db_per_dim_std_error
        ))?;
    }
    Ok(())
}

/// Runs `dim`.
pub fn run<B: Backend>(args: &DimArgs, output: &mut Output<'_>, backend: &B) -> AppResult<Value> {
    let settings = args.settings()?;
    let (sets, model, c) = open_with_constant(&args.model, &args.data, backend, output)?;
    let images = sets.evaluation()?;
    let report = measure(&model, images, &settings, Some(c.value), backend)?;
    print(&report, output)?;
    if let Some(path) = &args.per_image {
        let mut rows = Vec::new();
        for image in &report.per_image {
            for (t, e) in report.noise_variances.iter().zip(&image.d_eff) {
                rows.push(vec![image.index as f64, *t, e.mean, e.std_error]);
            }
        }
        write_csv(path, &["index", "t", "d_eff", "std_error"], &rows)?;
        output.line(format!("per-image curves written to {}", path.display()))?;
    }
    Ok(json!({ "command": "dim", "result": report, "constant": c }))
}
