//! What a learned density finds probable (the paper's Figs. 3 and 4; example 12 and the test
//! `examples_claims`): the distribution of log p over test images with its Gumbel fit, and
//! log p against contrast, brightness and the sparsity of Haar coefficients.

use crate::ExampleResult;
use crate::natural::Trained;
use dualscore::app::{correlation, haar_levels};
use dualscore::data::ImageSet;
use dualscore_core::Tensor;
use dualscore_core::analysis::{
    ContrastCurves, ContrastOptions, LogProbStatistics, contrast_curves, haar_participation_ratios,
    log_prob_statistics,
};
use dualscore_core::rng::{RngKey, uniform_values};
use dualscore_cpu::Cpu;
use serde::Serialize;

/// The contrasts a of `log p(a (x - mean x) + 1/2)`: 0 (the flat mid-gray image) to 2.
pub fn contrasts() -> Vec<f64> {
    (0..=20).map(|k| 0.1 * k as f64).collect()
}

/// The brightnesses b of `log p(x - mean x + b)`.
pub fn brightnesses() -> Vec<f64> {
    (1..=9).map(|k| 0.1 * k as f64).collect()
}

/// What was measured.
#[derive(Clone, Debug, Serialize)]
pub struct Probable {
    /// log p (dB/dim) of each measured test image.
    pub log_p: Vec<f64>,
    /// Their statistics and Gumbel fit.
    pub statistics: LogProbStatistics,
    /// log p of the flat mid-gray image.
    pub flat_log_p: f64,
    /// Mean log p of images of uniform noise in [0, 1].
    pub noise_log_p: f64,
    /// log p against the contrast of the centred images, at brightness 1/2.
    pub contrast: ContrastCurves,
    /// Mean log p against the brightness b at the images' own contrast: `(b, mean log p)`.
    pub brightness: Vec<(f64, f64)>,
    /// The Haar participation ratio / d of each image (lower is sparser).
    pub sparsity: Vec<f64>,
    /// The correlation of log p and the participation ratio.
    pub sparsity_correlation: f64,
}

/// Measures `model` on `images` (`contrast_images` of them for the contrast and brightness
/// curves).
pub fn measure(
    model: &Trained,
    images: &ImageSet,
    contrast_images: usize,
    backend: &Cpu,
) -> ExampleResult<Probable> {
    let [c, h, w] = images.image_shape();
    let d = c * h * w;
    let log_p = model.log_p_db(images, backend)?;
    let statistics = log_prob_statistics(&log_p)?;

    let flat = ImageSet::new(vec![0.5; d], [1, c, h, w], "flat mid-gray image")?;
    let flat_log_p = model.log_p_db(&flat, backend)?[0];
    let noise_count = 64;
    let noise = ImageSet::new(
        uniform_values(RngKey::new(0, 31), 0, noise_count * d),
        [noise_count, c, h, w],
        "uniform noise",
    )?;
    let noise_log_p = mean(&model.log_p_db(&noise, backend)?);

    let n = contrast_images.clamp(1, images.len());
    let centred = centred(images, n, backend)?;
    let energy = &model.network.energy;
    let curves = |contrasts: Vec<f64>, offset: f64| {
        contrast_curves(
            energy,
            &centred,
            &ContrastOptions {
                contrasts,
                offset,
                constant_nats: Some(model.constant_nats),
                batch_size: 64,
            },
        )
    };
    let contrast = curves(contrasts(), 0.5)?;
    let brightness = brightnesses()
        .into_iter()
        .map(|b| Ok((b, curves(vec![1.0], b)?.mean_log_p_db_per_dim[0])))
        .collect::<ExampleResult<Vec<_>>>()?;

    let x = Tensor::<Cpu, f64>::from_f64(backend, images.values(), images.shape())?;
    let sparsity: Vec<f64> = haar_participation_ratios(&x, haar_levels(h, w))?
        .into_iter()
        .map(|r| r / d as f64)
        .collect();
    let sparsity_correlation = correlation(&sparsity, &log_p);
    Ok(Probable {
        log_p,
        statistics,
        flat_log_p,
        noise_log_p,
        contrast,
        brightness,
        sparsity,
        sparsity_correlation,
    })
}

/// The first `n` images with each image's own mean removed, in f32.
fn centred(images: &ImageSet, n: usize, backend: &Cpu) -> ExampleResult<Tensor<Cpu, f32>> {
    let [_, c, h, w] = images.shape();
    let d = c * h * w;
    let values: Vec<f64> = images.values()[..n * d]
        .chunks_exact(d)
        .flat_map(|image| {
            let m = mean(image);
            image.iter().map(move |v| v - m)
        })
        .collect();
    Ok(Tensor::from_f64(backend, &values, [n, c, h, w])?)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}
