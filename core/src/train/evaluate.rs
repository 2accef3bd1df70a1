//! The held-out loss of a model on fixed noise levels, and its mean per noise band.

use super::loss::Objective;
use crate::analysis::Estimate;
use crate::autograd::{Graph, with_grad_mode};
use crate::backend::Backend;
use crate::energy::ScoreModel;
use crate::error::{Error, Result};
use crate::rng::RngKey;
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The held-out dual score matching loss at one noise variance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelLoss {
    /// The noise variance t.
    pub t: f64,
    /// dsm + tsm over the images (mean and standard error).
    pub loss: Estimate,
    /// The denoising term ||sqrt(t) grad_y U - z||^2 / d.
    pub dsm: Estimate,
    /// The time term ((1 - ||z||^2 / d) / 2 - (t / d) dU/dt)^2.
    pub tsm: Estimate,
}

/// The mean held-out loss over the levels of one band of noise variances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BandLoss {
    /// A name such as `"t < 1e-3"`.
    pub name: String,
    /// The band holds the levels with `t_lower <= t < t_upper`.
    pub t_lower: f64,
    /// See `t_lower`.
    pub t_upper: f64,
    /// The number of levels in the band.
    pub levels: usize,
    /// The mean of dsm + tsm over the band's levels.
    pub loss: f64,
    /// The mean denoising term.
    pub dsm: f64,
    /// The mean time term.
    pub tsm: f64,
}

/// The three bands of the paper's discussion: small (t < 1e-3), middle (1e-3 <= t < 1) and
/// large (t >= 1) noise.
pub const NOISE_BANDS: [(&str, f64, f64); 3] = [
    ("t < 1e-3", 0.0, 1e-3),
    ("1e-3 <= t < 1", 1e-3, 1.0),
    ("t >= 1", 1.0, f64::INFINITY),
];

/// The score matching loss (dsm and tsm of [`super::score_matching_loss`], in f64 from the
/// model's derivatives) of `model` on the images `data` (`[n, ...]`) at each noise
/// variance of `levels`, with the noise z of image `i` at level `l` drawn from `key` at the
/// index of (l, i), so the result does not depend on `batch_size`. Nothing is recorded.
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::energy::analytic::Gaussian;
/// use dualscore_core::rng::RngKey;
/// use dualscore_core::train::{Objective, held_out_loss};
/// use dualscore_core::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// // The true density's loss: its dsm is the irreducible E ||z - E[z | y]||^2 / d.
/// let g = Gaussian::isotropic(vec![0.0; 4], 1.0)?;
/// let x = Tensor::<Reference, f64>::randn(&Reference, [64, 4], RngKey::new(1, 0), 0)?;
/// let levels = held_out_loss(&g, &x, &[1.0], Objective::Dual, 16, RngKey::new(2, 0))?;
/// // At t = 1 = the data variance, the best denoiser leaves half the noise: dsm = 1/2.
/// assert!((levels[0].dsm.mean - 0.5).abs() < 4.0 * levels[0].dsm.std_error + 0.05);
/// # Ok(()) }
/// ```
pub fn held_out_loss<B, T, M>(
    model: &M,
    data: &Tensor<B, T>,
    levels: &[f64],
    objective: Objective,
    batch_size: usize,
    key: RngKey,
) -> Result<Vec<LevelLoss>>
where
    B: Backend,
    T: Float,
    M: ScoreModel<B, T> + ?Sized,
{
    const OP: &str = "held_out_loss";
    let (n, sample_shape) = crate::analysis::data_shape(OP, data)?;
    crate::analysis::check_batch(OP, batch_size)?;
    if let Some(bad) = levels.iter().find(|t| !(**t > 0.0 && t.is_finite())) {
        return Err(Error::invalid(
            OP,
            format!("noise variances must be positive and finite, got {bad}"),
        ));
    }
    let d: usize = sample_shape.iter().product();
    let backend = data.backend();
    let mut out = Vec::with_capacity(levels.len());
    for (l, &t) in levels.iter().enumerate() {
        let (mut dsm, mut tsm) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for start in (0..n).step_by(batch_size) {
            let b = batch_size.min(n - start);
            let x = data.slice(0, start, b)?;
            let offset = ((l * n + start) * d) as u64;
            let z = Tensor::randn(backend, x.shape().clone(), key, offset)?;
            let tt = Tensor::full(backend, [b], t)?;
            let y = x.add(&z.scale(t.sqrt())?)?;
            let terms = with_grad_mode(true, || model.score_terms(&y, &tt, Graph::Drop))?;
            let grad_y = terms.grad_y.to_f64_vec()?;
            let grad_t = match (&terms.grad_t, objective) {
                (Some(g), _) => Some(g.to_f64_vec()?),
                (None, Objective::Single) => None,
                (None, Objective::Dual) => {
                    return Err(Error::invalid(
                        OP,
                        "the dual loss needs dU/dt: the model is not an energy",
                    ));
                }
            };
            let z = z.to_f64_vec()?;
            let mut terms = (Vec::with_capacity(b), Vec::with_capacity(b));
            for i in 0..b {
                let (g, zi) = (&grad_y[i * d..(i + 1) * d], &z[i * d..(i + 1) * d]);
                let dsm_i = g
                    .iter()
                    .zip(zi)
                    .map(|(g, z)| (t.sqrt() * g - z).powi(2))
                    .sum::<f64>()
                    / d as f64;
                let tsm_i = match (&grad_t, objective) {
                    (Some(gt), Objective::Dual) => {
                        let z_norm: f64 = zi.iter().map(|z| z * z).sum();
                        ((1.0 - z_norm / d as f64) / 2.0 - t / d as f64 * gt[i]).powi(2)
                    }
                    _ => 0.0,
                };
                terms.0.push(dsm_i);
                terms.1.push(tsm_i);
            }
            dsm.extend(terms.0);
            tsm.extend(terms.1);
        }
        let total: Vec<f64> = dsm.iter().zip(&tsm).map(|(a, b)| a + b).collect();
        out.push(LevelLoss {
            t,
            loss: Estimate::of(&total),
            dsm: Estimate::of(&dsm),
            tsm: Estimate::of(&tsm),
        });
    }
    Ok(out)
}

/// The mean loss per band of [`NOISE_BANDS`] (bands without levels are left out).
pub fn band_losses(levels: &[LevelLoss]) -> Vec<BandLoss> {
    NOISE_BANDS
        .iter()
        .filter_map(|&(name, lower, upper)| {
            let inside: Vec<&LevelLoss> = levels
                .iter()
                .filter(|l| l.t >= lower && l.t < upper)
                .collect();
            if inside.is_empty() {
                return None;
            }
            let mean = |f: &dyn Fn(&LevelLoss) -> f64| {
                inside.iter().map(|l| f(l)).sum::<f64>() / inside.len() as f64
            };
            Some(BandLoss {
                name: name.to_string(),
                t_lower: lower,
                t_upper: upper,
                levels: inside.len(),
                loss: mean(&|l| l.loss.mean),
                dsm: mean(&|l| l.dsm.mean),
                tsm: mean(&|l| l.tsm.mean),
            })
        })
        .collect()
}
