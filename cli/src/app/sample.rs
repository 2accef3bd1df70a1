//! `dualscore sample`: images drawn from the learned density by reverse diffusion.

use super::error::{AppError, AppResult};
use super::files::write_file;
use super::output::Output;
use crate::data::npy_f64_bytes;
use crate::model::Model;
use crate::plot::image_grid;
use clap::Args;
use dualscore_core::Backend;
use dualscore_core::analysis::{SamplerOptions, sample};
use dualscore_core::rng::RngKey;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Draw images by a stochastic reverse diffusion with the learned score.
#[derive(Clone, Debug, Args)]
pub struct SampleArgs {
    /// A checkpoint folder or an analytic model file.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// How many images.
    #[arg(long, default_value_t = 16)]
    pub count: usize,
    /// The image side (default: the model's nominal size).
    #[arg(long)]
    pub size: Option<usize>,
    /// Reverse steps from t = 1e3 down to t = 1e-4.
    #[arg(long, default_value_t = 500)]
    pub steps: usize,
    /// The seed of the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The PNG grid to write.
    #[arg(long, default_value = "samples.png")]
    pub out: PathBuf,
    /// Also write the samples as a .npy array [N, C, H, W] of float64.
    #[arg(long, value_name = "FILE")]
    pub npy: Option<PathBuf>,
}

/// The image shape `[C, H, W]` samples take.
pub fn sample_shape<B: Backend>(model: &Model<B>, size: Option<usize>) -> AppResult<[usize; 3]> {
    let shape = match model {
        Model::Analytic(a) => {
            if size.is_some_and(|s| [s, s] != [a.image_shape()[1], a.image_shape()[2]]) {
                return Err(AppError::msg(
                    "an analytic model samples at its own shape; leave out --size",
                ));
            }
            a.image_shape()
        }
        Model::Network(n) => {
            let s = size.unwrap_or(n.config.unet.image_size);
            [n.config.unet.image_channels, s, s]
        }
    };
    model.check_image_shape(shape)?;
    Ok(shape)
}

/// Draws `count` images of `shape`, row-major values.
pub fn draw<B: Backend>(
    model: &Model<B>,
    shape: [usize; 3],
    count: usize,
    steps: usize,
    seed: u64,
    backend: &B,
) -> AppResult<Vec<f64>> {
    if count == 0 || steps == 0 {
        return Err(AppError::msg("--count and --steps must be at least 1"));
    }
    let options = SamplerOptions {
        steps,
        key: RngKey::new(seed, 14),
        ..SamplerOptions::default()
    };
    Ok(super::measure::with_energy!(model, |energy, F| {
        sample::<B, F, _>(energy, backend, count, &shape, &options)?.to_f64_vec()?
    }))
}

/// Writes `values` (`count` images of `shape`) as a PNG grid.
pub fn write_grid(path: &Path, values: &[f64], shape: [usize; 3]) -> AppResult<()> {
    let [c, h, w] = shape;
    let d = c * h * w;
    let images: Vec<Vec<f64>> = values.chunks_exact(d).map(<[f64]>::to_vec).collect();
    let columns = (images.len() as f64).sqrt().ceil().max(1.0) as usize;
    let scale = (128 / h.max(w)).clamp(1, 8);
    image_grid(path, &images, c, h, w, columns, scale).map_err(|e| AppError::msg(e.to_string()))
}

/// Runs `sample`.
pub fn run<B: Backend>(
    args: &SampleArgs,
    output: &mut Output<'_>,
    backend: &B,
) -> AppResult<Value> {
    let model = Model::open(&args.model, backend)?;
    let shape = sample_shape(&model, args.size)?;
    let values = draw(&model, shape, args.count, args.steps, args.seed, backend)?;
    write_grid(&args.out, &values, shape)?;
    if let Some(npy) = &args.npy {
        let [c, h, w] = shape;
        write_file(npy, &npy_f64_bytes(&values, &[args.count, c, h, w]))?;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
    output.line(format!(
        "{} samples of {shape:?} written to {} (pixel mean {mean:.4}, std {std:.4})",
        args.count,
        args.out.display()
    ))?;
    Ok(json!({
        "command": "sample",
        "result": {"out": args.out, "count": args.count, "shape": shape, "pixel_mean": mean, "pixel_std": std}
    }))
}
