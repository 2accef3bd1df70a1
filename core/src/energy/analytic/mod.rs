//! Analytic energies: noisy densities p(y, t) known in closed form at every noise variance t,
//! the ground truth of tests and examples (docs/METHOD.md section 6).
//!
//! - [`Gaussian`]: N(mu, Sigma) at t = 0, so p(y, t) = N(mu, Sigma + t I); with
//!   [`StationaryGaussianImages`], a stationary Gaussian image model on a periodic grid.
//! - [`GaussianScaleMixture`]: a radial mixture of isotropic Gaussians N(0, s_k^2 I).
//! - [`GaussianMixture`]: a mixture of Gaussians with full covariances.
//!
//! Each is an [`Energy`] whose `energy` is built from tensor ops (so autodiff
//! can differentiate it to any order) and whose `energy_gradients` is overridden with the
//! closed forms of grad_y U and dU/dt, also built from tensor ops: with [`Graph::Drop`] they
//! are computed without recording; with [`Graph::Keep`] they are recorded as functions of the
//! `y` and `t` passed in (not of fresh leaves: pass detached tensors for the trait's usual
//! semantics, or tensors that require a gradient to differentiate the closed forms again, e.g.
//! for a Laplacian). The families hold no parameters on the graph, so no gradient ever reaches a
//! parameter through them. Each is also a [`ScoreModel`](super::ScoreModel) through
//! [`energy_score_terms`](super::energy_score_terms).
//!
//! Every family also implements [`AnalyticDensity`]: exact sampling of p(., t) from a
//! counter-based [`RngKey`], and U on the host in f64 for a single sample. Entropies: exact for
//! the Gaussian ([`Gaussian::entropy`]), by one-dimensional quadrature for the scale mixture
//! ([`GaussianScaleMixture::entropy`]), by Monte Carlo for any family
//! ([`monte_carlo_entropy`]: U is normalized, so the entropy of p(., t) is E[U(y, t)] over
//! y ~ p(., t)).
//!
//! Constant parameters (means, eigenvectors) are kept on the host in f64 and uploaded to the
//! backend of `y` at every evaluation; a d x d eigenbasis costs d^2 values per call.

mod gaussian;
mod mixture;
mod scale_mixture;
mod stationary;

pub use gaussian::Gaussian;
pub use mixture::GaussianMixture;
pub use scale_mixture::GaussianScaleMixture;
pub use stationary::{StationaryGaussianImages, StationaryImageParams};

use crate::autograd::{Graph, is_grad_enabled, no_grad, with_grad_mode};
use crate::backend::Backend;
use crate::energy::{Energy, EnergyGradients};
use crate::error::{Error, Result};
use crate::rng::RngKey;
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::f64::consts::{E, PI};

/// What every analytic family offers beside its energy: its dimension and sample shape, exact
/// sampling, and U on the host.
pub trait AnalyticDensity {
    /// The dimension d (the number of values per sample).
    fn dim(&self) -> usize;

    /// The shape of one sample (its product is d); `[d]` unless set with `with_shape`.
    fn sample_shape(&self) -> &[usize];

    /// U(y, t) = -log p(y, t) for one sample `y` of length d, on the host in f64.
    fn energy_host(&self, y: &[f64], t: f64) -> Result<f64>;

    /// `n` exact samples of p(., t), row-major (`n * d` values). Sample `i` depends only on
    /// `key` and `i` (it uses its own block of the counter-based sequence), not on `n`.
    fn sample_rows(&self, n: usize, t: f64, key: RngKey) -> Result<Vec<f64>>;

    /// `n` exact samples of p(., t) as a tensor of shape `[n, sample_shape...]` on `backend`.
    fn sample<B: Backend, T: Float>(
        &self,
        backend: &B,
        n: usize,
        t: f64,
        key: RngKey,
    ) -> Result<Tensor<B, T>>
    where
        Self: Sized,
    {
        let rows = self.sample_rows(n, t, key)?;
        let shape: Vec<usize> = std::iter::once(n)
            .chain(self.sample_shape().iter().copied())
            .collect();
        Tensor::from_f64(backend, &rows, shape)
    }
}

/// A Monte Carlo estimate: the mean of `samples` values and its standard error.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The sample mean.
    pub mean: f64,
    /// The standard error of the mean, sample standard deviation / sqrt(samples).
    pub std_error: f64,
    /// The number of samples.
    pub samples: usize,
}

impl Estimate {
    /// The mean and standard error of `values` (standard error 0 for fewer than two).
    pub fn of(values: &[f64]) -> Estimate {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let std_error = if n > 1 {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            (var / n as f64).sqrt()
        } else {
            0.0
        };
        Estimate {
            mean,
            std_error,
            samples: n,
        }
    }
}

/// The entropy of p(., t) in nats by Monte Carlo: the mean of U(y, t) over `samples` exact
/// samples y ~ p(., t) (U is normalized, so E U = E(-log p) is the entropy), evaluated in
/// batches of `batch_size` without recording.
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::energy::analytic::{Gaussian, monte_carlo_entropy};
/// use dualscore_core::rng::RngKey;
/// # fn main() -> dualscore_core::Result<()> {
/// let g = Gaussian::isotropic(vec![0.0; 3], 2.0)?;
/// let h = monte_carlo_entropy::<_, f64, _>(&g, &Reference, 0.5, 4000, 1000, RngKey::new(1, 0))?;
/// assert!((h.mean - g.entropy(0.5)).abs() < 5.0 * h.std_error);
/// # Ok(()) }
/// ```
pub fn monte_carlo_entropy<B, T, D>(
    density: &D,
    backend: &B,
    t: f64,
    samples: usize,
    batch_size: usize,
    key: RngKey,
) -> Result<Estimate>
where
    B: Backend,
    T: Float,
    D: AnalyticDensity + Energy<B, T>,
{
    if batch_size == 0 || samples == 0 {
        return Err(Error::invalid(
            "monte_carlo_entropy",
            "samples and batch_size must be positive",
        ));
    }
    let rows = density.sample_rows(samples, t, key)?;
    let d = density.dim();
    let mut values = Vec::with_capacity(samples);
    for start in (0..samples).step_by(batch_size) {
        let b = batch_size.min(samples - start);
        let y = Tensor::<B, T>::from_f64(backend, &rows[start * d..(start + b) * d], [b, d])?;
        let tt = Tensor::full(backend, [b], t)?;
        let u = no_grad(|| density.energy(&y, &tt))?;
        values.extend(u.to_f64_vec()?);
    }
    Ok(Estimate::of(&values))
}

/// Checks `y` (`[N, ...]` with d values per sample) and `t` (`[N]`) and returns y as `[N, d]`
/// and t as `[N, 1]`.
pub(crate) fn flatten_inputs<B: Backend, T: Float>(
    op: &'static str,
    dim: usize,
    y: &Tensor<B, T>,
    t: &Tensor<B, T>,
) -> Result<(Tensor<B, T>, Tensor<B, T>)> {
    if y.rank() < 1 || t.dims() != [y.dims()[0]] {
        return Err(Error::shapes(
            op,
            y.dims(),
            t.dims(),
            "y must be [N, ...] and t must hold one noise variance per sample, [N]",
        ));
    }
    let n = y.dims()[0];
    let per_sample: usize = y.dims()[1..].iter().product();
    if per_sample != dim {
        return Err(Error::invalid(
            op,
            format!(
                "y of shape {:?} has {per_sample} values per sample; this energy has dimension {dim}",
                y.dims()
            ),
        ));
    }
    Ok((y.reshape([n, dim])?, t.reshape([n, 1])?))
}

/// Room for `n` samples of `d` values that use `stream_per_sample` numbers each of the key's
/// sequence: an error naming `op`, not an abort, when they are too many to index or to hold.
pub(crate) fn sample_buffer(
    op: &'static str,
    n: usize,
    d: usize,
    stream_per_sample: usize,
) -> Result<Vec<f64>> {
    let too_many = || Error::invalid(op, format!("{n} samples of {d} values are too many"));
    let values = n.checked_mul(d).ok_or_else(too_many)?;
    n.checked_mul(stream_per_sample)
        .and_then(|s| u64::try_from(s).ok())
        .ok_or_else(too_many)?;
    crate::backend::alloc::reserved("host", values).map_err(|e| {
        Error::invalid(
            op,
            format!("{n} samples of {d} values do not fit in memory: {e}"),
        )
    })
}

/// The entropy in nats of a Gaussian whose covariance has eigenvalues `variances`, at noise
/// variance t: 1/2 sum_k ln(2 pi e (l_k + t)).
pub(crate) fn gaussian_entropy(variances: &[f64], t: f64) -> f64 {
    0.5 * variances
        .iter()
        .map(|l| (2.0 * PI * E * (l + t)).ln())
        .sum::<f64>()
}

/// The frame of every family's `energy_gradients`: checks and flattens `y` and `t` as
/// [`flatten_inputs`] does, computes the closed forms on them (recorded with [`Graph::Keep`]
/// when recording is on, not recorded with [`Graph::Drop`]) and gives grad_y the shape of `y`.
pub(crate) fn closed_form_gradients<B: Backend, T: Float>(
    op: &'static str,
    dim: usize,
    (y, t): (&Tensor<B, T>, &Tensor<B, T>),
    graph: Graph,
    closed_forms: impl FnOnce(&Tensor<B, T>, &Tensor<B, T>) -> Result<EnergyGradients<B, T>>,
) -> Result<EnergyGradients<B, T>> {
    with_grad_mode(graph.is_keep() && is_grad_enabled(), || {
        let (yf, tc) = flatten_inputs(op, dim, y, t)?;
        let flat = closed_forms(&yf, &tc)?;
        Ok(EnergyGradients {
            grad_y: flat.grad_y.reshape(y.shape().clone())?,
            ..flat
        })
    })
}

/// The log-sum-exp of each row of `a` (`[N, K]`) and the softmax of each row (the
/// responsibilities), stable for any magnitude: the row maximum is subtracted as a constant
/// (detached; the result does not depend on it, so no gradient is lost).
pub(crate) fn logsumexp_rows<B: Backend, T: Float>(
    a: &Tensor<B, T>,
) -> Result<(Tensor<B, T>, Tensor<B, T>)> {
    let n = a.dims()[0];
    let m = a.max(&[1], true)?.detach();
    let e = a.sub(&m)?.exp()?;
    let s = e.sum(&[1], true)?;
    let lse = s.log()?.add(&m)?.reshape([n])?;
    let softmax = e.div(&s)?;
    Ok((lse, softmax))
}

/// The host log-sum-exp of `values`.
pub(crate) fn logsumexp(values: &[f64]) -> f64 {
    let m = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + values.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// The index chosen by a uniform number `u` in [0, 1) among cumulative `weights` (summing to 1).
pub(crate) fn choose(weights: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    for (k, &w) in weights.iter().enumerate() {
        acc += w;
        if u < acc {
            return k;
        }
    }
    weights.len() - 1
}

/// Normalized mixture weights: positive and finite, divided by their sum.
pub(crate) fn normalized_weights(op: &'static str, weights: &[f64]) -> Result<Vec<f64>> {
    if weights.is_empty() || weights.iter().any(|&w| !(w > 0.0 && w.is_finite())) {
        return Err(Error::invalid(
            op,
            format!("mixture weights must be positive and finite, got {weights:?}"),
        ));
    }
    let total: f64 = weights.iter().sum();
    Ok(weights.iter().map(|w| w / total).collect())
}

/// Checks a per-sample shape against the dimension.
pub(crate) fn checked_shape(op: &'static str, dim: usize, shape: &[usize]) -> Result<Vec<usize>> {
    let n = shape
        .iter()
        .try_fold(1usize, |n, &side| n.checked_mul(side));
    if n != Some(dim) || shape.is_empty() {
        return Err(Error::invalid(
            op,
            format!("a sample shape {shape:?} does not hold {dim} values"),
        ));
    }
    Ok(shape.to_vec())
}

/// Checks a noise variance.
pub(crate) fn check_t(op: &'static str, t: f64) -> Result<()> {
    if !(t >= 0.0 && t.is_finite()) {
        return Err(Error::invalid(
            op,
            format!("the noise variance t must be finite and >= 0, got {t}"),
        ));
    }
    Ok(())
}

/// Gauss-Legendre nodes and weights on [-1, 1] (Newton's iteration on the Legendre
/// polynomial from Chebyshev guesses).
pub(crate) fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 0.0;
        for _ in 0..100 {
            // P_n(x) and its derivative by the three-term recurrence.
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            let p = if n == 0 { 1.0 } else { p1 };
            let pm1 = if n <= 1 { 1.0 } else { p0 };
            dp = n as f64 * (x * p - pm1) / (x * x - 1.0);
            let dx = p / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        nodes[i] = -x;
        nodes[n - 1 - i] = x;
        let w = 2.0 / ((1.0 - x * x) * dp * dp);
        weights[i] = w;
        weights[n - 1 - i] = w;
    }
    (nodes, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let (x, w) = gauss_legendre(20);
        for p in 0..40 {
            let got: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(p)).sum();
            let want = if p % 2 == 1 {
                0.0
            } else {
                2.0 / (p as f64 + 1.0)
            };
            assert!((got - want).abs() < 1e-14, "x^{p}: {got} vs {want}");
        }
    }

    #[test]
    fn logsumexp_is_stable() {
        assert!((logsumexp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert!(
            (logsumexp(&[-1000.0, -1000.0 + 1e-3]) - (-1000.0 + (1.0 + (1e-3f64).exp()).ln()))
                .abs()
                < 1e-12
        );
        assert_eq!(choose(&[0.25, 0.75], 0.2), 0);
        assert_eq!(choose(&[0.25, 0.75], 0.3), 1);
    }
}
