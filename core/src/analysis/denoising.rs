//! Denoising performance: output PSNR against input PSNR (docs/METHOD.md section 5.2, Table 1).

use super::{Estimate, batch_shape, check_batch, data_shape, evaluate, row_sum_squares};
use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::energy::ScoreModel;
use crate::error::{Error, Result};
use crate::rng::RngKey;
use crate::scalar::Float;
use crate::tensor::Tensor;
use crate::train::psnr_to_variance;
use serde::{Deserialize, Serialize};
use std::f64::consts::LN_10;

/// The input PSNRs of the paper's Table 1, in dB: 90, 75, ..., -30 (t = 1e-9 .. 1e3).
pub const TABLE1_PSNRS_DB: [f64; 9] = [90.0, 75.0, 60.0, 45.0, 30.0, 15.0, 0.0, -15.0, -30.0];

/// How to measure [`denoising`].
#[derive(Clone, Debug, PartialEq)]
pub struct DenoisingOptions {
    /// The input PSNRs in dB; the noise variance of each is t = 10^(-psnr / 10) (images in
    /// [0, 1], peak 1).
    pub input_psnrs_db: Vec<f64>,
    /// Images per model evaluation.
    pub batch_size: usize,
    /// The noise: image i at level l gets the standard normal values at indices
    /// `(l n + i) d .. (l n + i + 1) d` of this key's sequence (n images of d values).
    pub key: RngKey,
}

impl Default for DenoisingOptions {
    /// The Table 1 levels ([`TABLE1_PSNRS_DB`]), batches of 64, key (0, 0).
    fn default() -> Self {
        DenoisingOptions {
            input_psnrs_db: TABLE1_PSNRS_DB.to_vec(),
            batch_size: 64,
            key: RngKey::new(0, 0),
        }
    }
}

/// The denoising performance at one noise level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoisingLevel {
    /// The input PSNR in dB, -10 log10 t.
    pub input_psnr_db: f64,
    /// The noise variance t.
    pub noise_variance: f64,
    /// The mean squared error per pixel, ||xhat - x||^2 / d, averaged over the images (its
    /// standard error is over images, one noise draw each).
    pub mse: Estimate,
    /// The output PSNR in dB, -10 log10 of the mean squared error over the data set.
    pub output_psnr_db: f64,
    /// The standard error of `output_psnr_db` (first order: 10 / ln 10 times the relative
    /// standard error of the mean squared error).
    pub output_psnr_std_error_db: f64,
    /// The gain, output minus input PSNR, in dB.
    pub gain_db: f64,
}

/// Denoising performance over a data set, one [`DenoisingLevel`] per input PSNR.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoisingReport {
    /// The number of images.
    pub images: usize,
    /// The dimension d (values per image).
    pub dim: usize,
    /// One entry per input PSNR, in the order asked for.
    pub levels: Vec<DenoisingLevel>,
}

/// The denoising performance of `model` on clean images `data` (`[n, ...]`, pixels in [0, 1]):
/// at each input PSNR, y = x + sqrt(t) z with one z per image, xhat = y - t grad_y U(y, t),
/// and the output PSNR is -10 log10 of the mean squared error per pixel over the data set
/// (peak 1). Only the energy gradient is used, so a score network works as well as an energy.
///
/// The error is computed as xhat - x = sqrt(t) z - t grad_y U, never as a difference of y and
/// x, so it keeps its digits at t = 1e-9 in f32. Nothing is recorded.
///
/// ```
/// use dualscore_core::analysis::{DenoisingOptions, denoising};
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::energy::analytic::{AnalyticDensity, Gaussian};
/// use dualscore_core::rng::RngKey;
/// use dualscore_core::tensor::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// let g = Gaussian::isotropic(vec![0.5; 4], 0.01)?;
/// let data: Tensor<_, f64> = g.sample(&Reference, 500, 0.0, RngKey::new(1, 0))?;
/// let options = DenoisingOptions { input_psnrs_db: vec![20.0], ..Default::default() };
/// let report = denoising(&g, &data, &options)?;
/// // The optimal denoiser of N(mu, s I) at t has mean squared error s t / (s + t) per pixel.
/// let want = 0.01 * 0.01 / 0.02;
/// assert!((report.levels[0].mse.mean - want).abs() < 5.0 * report.levels[0].mse.std_error);
/// # Ok(()) }
/// ```
pub fn denoising<B, T, M>(
    model: &M,
    data: &Tensor<B, T>,
    options: &DenoisingOptions,
) -> Result<DenoisingReport>
where
    B: Backend,
    T: Float,
    M: ScoreModel<B, T> + ?Sized,
{
    const OP: &str = "denoising";
    check_batch(OP, options.batch_size)?;
    let (n, sample_shape) = data_shape(OP, data)?;
    let d: usize = sample_shape.iter().product();
    let backend = data.backend();
    let mut levels = Vec::with_capacity(options.input_psnrs_db.len());
    for (l, &psnr) in options.input_psnrs_db.iter().enumerate() {
        let t = psnr_to_variance(psnr);
        if !(t > 0.0 && t.is_finite()) {
            return Err(Error::invalid(
                OP,
                format!("the input PSNR {psnr} dB gives the noise variance {t}"),
            ));
        }
        let sqrt_t = t.sqrt();
        let mut mse = Vec::with_capacity(n);
        for start in (0..n).step_by(options.batch_size) {
            let b = options.batch_size.min(n - start);
            let sq = no_grad(|| -> Result<Vec<f64>> {
                let x = data.slice(0, start, b)?.detach();
                let z = Tensor::randn(
                    backend,
                    batch_shape(b, &sample_shape),
                    options.key,
                    ((l * n + start) * d) as u64,
                )?;
                let y = x.add(&z.scale(sqrt_t)?)?;
                let tt = Tensor::full(backend, [b], t)?;
                let g = evaluate(OP, model, &y, &tt)?.grad_y;
                row_sum_squares(&z.scale(sqrt_t)?.sub(&g.scale(t)?)?, b)
            })?;
            mse.extend(sq.into_iter().map(|s| s / d as f64));
        }
        if let Some(bad) = mse.iter().find(|v| !v.is_finite()) {
            return Err(Error::invalid(
                OP,
                format!("the denoiser's error is not finite at t = {t:e} ({bad})"),
            ));
        }
        let mse = Estimate::of(&mse);
        let output_psnr_db = -10.0 * mse.mean.log10();
        levels.push(DenoisingLevel {
            input_psnr_db: psnr,
            noise_variance: t,
            mse,
            output_psnr_db,
            output_psnr_std_error_db: 10.0 / LN_10 * mse.std_error / mse.mean,
            gain_db: output_psnr_db - psnr,
        });
    }
    Ok(DenoisingReport {
        images: n,
        dim: d,
        levels,
    })
}
