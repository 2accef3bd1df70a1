//! The paper's measurements of a learned density (docs/METHOD.md sections 5.2 and 5.5 to 5.7), for
//! any model seen through the traits [`ScoreModel`] and
//! [`Energy`](crate::energy::Energy):
//!
//! - [`denoising`]: output PSNR of the denoiser xhat(y, t) = y - t grad_y U(y, t) against the
//!   input PSNR -10 log10 t (Table 1);
//! - [`local_dimensionality`]: d_eff(x, t) = E_z ||xhat(x + sqrt(t) z, t) - x||^2 / t on a
//!   grid of t (Fig. 5), with the two consistency checks of a normalized model: the slope
//!   identity d_eff = d + 2 t d/dt E_z[log p(x + sqrt(t) z, t)] and the I-MMSE integral
//!   E log p(x) = E log p(y, t_max) + int_0^t_max (d - d_eff) / (2 t) dt;
//! - [`sample`]: images drawn from the learned density by a stochastic reverse diffusion;
//! - [`log_prob_statistics`] and [`fit_gumbel`]: the distribution of log p in dB/dim over a
//!   data set and its maximum-likelihood Gumbel fit (Fig. 3);
//! - [`contrast_curves`] and [`haar_participation_ratios`]: log p(a x + 1/2) against the
//!   contrast a, and the sparsity of Haar wavelet coefficients (Fig. 4).
//!
//! Conventions shared by every measurement:
//! - data sets are tensors `[n, ...]` (any per-image shape the model accepts, e.g. `[C, H, W]`
//!   or `[d]`), evaluated in batches of `batch_size` images (or noisy copies);
//! - noise comes from a counter-based [`RngKey`](crate::rng::RngKey), laid out by image (and
//!   draw, level or step) index, never by batch, so a result does not depend on the batch size;
//! - nothing is recorded: the model is evaluated with `Graph::Drop` and every result
//!   is detached, so no graph outlives a call even when the model's parameters require
//!   gradients (a gradient in y is still taken when the model is an energy, so recording is
//!   switched on for that evaluation alone);
//! - results are plain structs (serde `Serialize`/`Deserialize`) in nats, dB per dimension
//!   (log p in dB/dim = 10 log10(p) / d, higher is more probable) or PSNR dB, with Monte Carlo
//!   standard errors as [`Estimate`]s;
//! - the normalization constant c (-log p = U + c, see [`crate::density`]) is an option where
//!   absolute log-probabilities are reported; without it values are U-based "up to c" and say
//!   so (`normalized: false`). The consistency checks do not depend on c.

mod content;
mod denoising;
mod dimensionality;
mod sampling;
mod statistics;

pub use content::{
    ContrastCurves, ContrastOptions, HaarDecomposition, HaarLevel, contrast_curves,
    haar_decomposition, haar_participation_ratios, participation_ratio,
};
pub use denoising::{
    DenoisingLevel, DenoisingOptions, DenoisingReport, TABLE1_PSNRS_DB, denoising,
};
pub use dimensionality::{
    ImageDimensionality, ImmseCheck, LocalDimensionOptions, LocalDimensionality, SlopeCheck,
    SlopeInterval, local_dimensionality, log_grid,
};
pub use sampling::{SamplerKind, SamplerOptions, sample};
pub use statistics::{
    GumbelFit, LogProbStatistics, Percentiles, fit_gumbel, log_prob_statistics, percentile,
};

pub use crate::energy::analytic::Estimate;

use crate::autograd::{Graph, with_grad_mode};
use crate::backend::Backend;
pub(crate) use crate::density::check_batch;
use crate::energy::ScoreModel;
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::tensor::Tensor;
use std::f64::consts::LN_10;

/// The number of images and the per-image shape of a data set `[n, ...]` (rank >= 2, at least
/// one image, at least one value per image).
pub(crate) fn data_shape<B: Backend, T: Float>(
    op: &'static str,
    data: &Tensor<B, T>,
) -> Result<(usize, Vec<usize>)> {
    let dims = data.dims();
    if dims.len() < 2 || dims[0] == 0 || dims[1..].iter().product::<usize>() == 0 {
        return Err(Error::invalid(
            op,
            format!(
                "a data set must be [n, ...] with n >= 1 images of at least one value, got {dims:?}"
            ),
        ));
    }
    Ok((dims[0], dims[1..].to_vec()))
}

/// The count of random numbers that `factors` multiply to (as in `steps x images x values`),
/// or an error naming `op` when a key's sequence (2^64 numbers) cannot index them.
pub(crate) fn noise_len(op: &'static str, factors: &[usize]) -> Result<u64> {
    factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(u64::try_from(f).ok()?))
        .filter(|&len| usize::try_from(len).is_ok())
        .ok_or_else(|| {
            Error::invalid(
                op,
                format!("{factors:?} random numbers are more than one key's sequence holds"),
            )
        })
}

/// A host buffer for `len` values of a grid, or an error naming `op` when it cannot be held.
pub(crate) fn grid_buffer(op: &'static str, len: usize) -> Result<Vec<f64>> {
    crate::backend::alloc::reserved("host", len)
        .map_err(|e| Error::invalid(op, format!("a grid of {len} points does not fit: {e}")))
}

/// `[n]` followed by `sample_shape`.
pub(crate) fn batch_shape(n: usize, sample_shape: &[usize]) -> Vec<usize> {
    std::iter::once(n)
        .chain(sample_shape.iter().copied())
        .collect()
}

/// The model's energy gradient grad_y U at (y, t) and, when it gives one, U: evaluated with
/// [`Graph::Drop`] and recording switched on for this call alone (an energy needs it
/// to differentiate in y), then detached, so nothing stays on a graph.
pub(crate) fn evaluate<B, T, M>(
    op: &'static str,
    model: &M,
    y: &Tensor<B, T>,
    t: &Tensor<B, T>,
) -> Result<Evaluated<B, T>>
where
    B: Backend,
    T: Float,
    M: ScoreModel<B, T> + ?Sized,
{
    let terms = with_grad_mode(true, || model.score_terms(y, t, Graph::Drop))?;
    if terms.grad_y.dims() != y.dims() {
        return Err(Error::shapes(
            op,
            terms.grad_y.dims(),
            y.dims(),
            "the energy gradient must have the shape of y",
        ));
    }
    let n = t.dims()[0];
    let energy = match terms.energy {
        Some(u) if u.dims() != [n] => {
            return Err(Error::shapes(
                op,
                u.dims(),
                &[n],
                "an energy must give one value per sample",
            ));
        }
        Some(u) => Some(u.detach()),
        None => None,
    };
    Ok(Evaluated {
        grad_y: terms.grad_y.detach(),
        energy,
    })
}

/// What [`evaluate`] gives: grad_y U and, for an energy model, U (both detached).
pub(crate) struct Evaluated<B: Backend, T: Float> {
    pub(crate) grad_y: Tensor<B, T>,
    pub(crate) energy: Option<Tensor<B, T>>,
}

/// The sum of squares of each of the `rows` rows of `x` (any shape whose first axis is
/// `rows`), on the host.
pub(crate) fn row_sum_squares<B: Backend, T: Float>(
    x: &Tensor<B, T>,
    rows: usize,
) -> Result<Vec<f64>> {
    let per_row = x.numel() / rows.max(1);
    x.reshape([rows, per_row])?
        .square()?
        .sum(&[1], false)?
        .to_f64_vec()
}

/// log p in nats to dB per dimension: 10 log10(p) / d.
pub(crate) fn nats_to_db_per_dim(log_p_nats: f64, dim: usize) -> f64 {
    10.0 * log_p_nats / (dim as f64 * LN_10)
}

/// Running moments of pairs (q, b) of a quantity q and a zero-mean control variate b: q is
/// shifted by its first value, so that the variance of values with a large common offset keeps
/// its digits.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PairMoments {
    count: usize,
    shift: f64,
    sum_q: f64,
    sum_b: f64,
    sum_qq: f64,
    sum_bb: f64,
    sum_qb: f64,
}

impl PairMoments {
    pub(crate) fn add(&mut self, q: f64, b: f64) {
        if self.count == 0 {
            self.shift = q;
        }
        let q = q - self.shift;
        self.count += 1;
        self.sum_q += q;
        self.sum_b += b;
        self.sum_qq += q * q;
        self.sum_bb += b * b;
        self.sum_qb += q * b;
    }

    /// The mean of q.
    pub(crate) fn mean_q(&self) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        self.shift + self.sum_q / self.count as f64
    }

    /// The mean of b.
    pub(crate) fn mean_b(&self) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        self.sum_b / self.count as f64
    }

    /// The sample variances of q and b and their covariance (0 for fewer than two pairs).
    fn covariances(&self) -> (f64, f64, f64) {
        if self.count < 2 {
            return (0.0, 0.0, 0.0);
        }
        let n = self.count as f64;
        let var_q = (self.sum_qq - self.sum_q * self.sum_q / n) / (n - 1.0);
        let var_b = (self.sum_bb - self.sum_b * self.sum_b / n) / (n - 1.0);
        let cov = (self.sum_qb - self.sum_q * self.sum_b / n) / (n - 1.0);
        (var_q, var_b, cov)
    }

    /// The least-squares coefficient of q on b, Cov(q, b) / Var(b) (0 when b does not vary).
    pub(crate) fn regression(&self) -> f64 {
        let (_, var_b, cov) = self.covariances();
        if var_b > 0.0 { cov / var_b } else { 0.0 }
    }

    /// The mean of q - gamma b and its standard error (0 for fewer than two pairs).
    pub(crate) fn estimate(&self, gamma: f64) -> Estimate {
        let (var_q, var_b, cov) = self.covariances();
        let n = self.count;
        let var = (var_q - 2.0 * gamma * cov + gamma * gamma * var_b).max(0.0);
        Estimate {
            mean: self.mean_q() - gamma * self.mean_b(),
            std_error: if n > 1 { (var / n as f64).sqrt() } else { 0.0 },
            samples: n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_moments_match_two_pass_estimates_with_a_large_offset() {
        let q: Vec<f64> = (0..100)
            .map(|i| 1e9 + ((i * 37) % 11) as f64 * 0.25)
            .collect();
        let b: Vec<f64> = (0..100).map(|i| ((i * 13) % 7) as f64 - 3.0).collect();
        let mut m = PairMoments::default();
        q.iter().zip(&b).for_each(|(&q, &b)| m.add(q, b));
        let gamma = 0.3;
        let combined: Vec<f64> = q.iter().zip(&b).map(|(q, b)| q - 1e9 - gamma * b).collect();
        let want = Estimate::of(&combined);
        let got = m.estimate(gamma);
        assert!((got.mean - 1e9 - want.mean).abs() < 1e-6);
        assert!((got.std_error - want.std_error).abs() < 1e-12 * want.std_error.max(1.0));
        assert_eq!(got.samples, 100);
        // The regression coefficient minimizes the variance.
        let best = m.regression();
        for g in [best - 0.01, best + 0.01] {
            assert!(m.estimate(g).std_error >= m.estimate(best).std_error);
        }
    }
}
