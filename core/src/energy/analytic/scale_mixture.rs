//! The radial Gaussian scale mixture sum_k w_k N(0, s_k^2 I).

use super::{
    AnalyticDensity, check_t, checked_shape, choose, closed_form_gradients, flatten_inputs,
    gauss_legendre, logsumexp, logsumexp_rows, normalized_weights, sample_buffer,
};
use crate::autograd::Graph;
use crate::backend::Backend;
use crate::energy::{Energy, EnergyGradients};
use crate::error::{Error, Result};
use crate::rng::{RngKey, normal_values, uniform_at};
use crate::scalar::Float;
use crate::tensor::Tensor;
use std::f64::consts::PI;

/// The Gaussian scale mixture sum_k w_k N(0, s_k^2 I) in dimension d (docs/METHOD.md section 5.1:
/// weights (1/2, 1/2), variances (1, 16), d = 1000). With v_k = s_k^2 + t and r^2 = ||y||^2:
///
/// - U(y, t) = -logsumexp_k(a_k), a_k = ln w_k - d/2 ln(2 pi v_k) - r^2 / (2 v_k),
/// - grad_y U = y sum_k pi_k / v_k, with pi = softmax(a) the responsibilities,
/// - dU/dt = sum_k pi_k (d / (2 v_k) - r^2 / (2 v_k^2)).
///
/// The log-sum-exp subtracts the row maximum first, so U is finite for any d and radius.
///
/// ```
/// use dualscore_core::energy::analytic::{AnalyticDensity, GaussianScaleMixture};
/// # fn main() -> dualscore_core::Result<()> {
/// let gsm = GaussianScaleMixture::new(&[0.5, 0.5], &[1.0, 16.0], 1000)?;
/// // The energy at radius 4 sqrt(d) minus that at sqrt(d): d/2 ln 16 = 1386.3 nats.
/// let at = |r: f64| gsm.energy_host(&[vec![r; 1], vec![0.0; 999]].concat(), 0.0);
/// let diff = at(4.0 * 1000f64.sqrt())? - at(1000f64.sqrt())?;
/// assert!((diff - 500.0 * 16f64.ln()).abs() < 1e-9, "{diff}");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianScaleMixture {
    weights: Vec<f64>,
    variances: Vec<f64>,
    dim: usize,
    shape: Vec<usize>,
}

impl GaussianScaleMixture {
    /// sum_k w_k N(0, s_k^2 I) in dimension `dim`, from positive `weights` (normalized here to
    /// sum to 1) and positive variances s_k^2.
    pub fn new(weights: &[f64], variances: &[f64], dim: usize) -> Result<Self> {
        const OP: &str = "GaussianScaleMixture::new";
        let weights = normalized_weights(OP, weights)?;
        if variances.len() != weights.len() {
            return Err(Error::invalid(
                OP,
                format!(
                    "{} weights and {} variances",
                    weights.len(),
                    variances.len()
                ),
            ));
        }
        if variances.iter().any(|&v| !(v > 0.0 && v.is_finite())) {
            return Err(Error::invalid(
                OP,
                format!("variances must be positive and finite, got {variances:?}"),
            ));
        }
        if dim == 0 {
            return Err(Error::invalid(OP, "the dimension must be positive"));
        }
        Ok(GaussianScaleMixture {
            weights,
            variances: variances.to_vec(),
            dim,
            shape: vec![dim],
        })
    }

    /// The same density, with samples of shape `shape` (its product must be d).
    pub fn with_shape(mut self, shape: &[usize]) -> Result<Self> {
        self.shape = checked_shape("GaussianScaleMixture::with_shape", self.dim, shape)?;
        Ok(self)
    }

    /// The normalized weights w_k.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The variances s_k^2 at t = 0.
    pub fn variances(&self) -> &[f64] {
        &self.variances
    }

    /// U at radius `r` = ||y|| and noise variance `t`, on the host.
    pub fn energy_at_radius(&self, r: f64, t: f64) -> f64 {
        let d = self.dim as f64;
        let a: Vec<f64> = self
            .weights
            .iter()
            .zip(&self.variances)
            .map(|(w, s2)| {
                let v = s2 + t;
                w.ln() - 0.5 * d * (2.0 * PI * v).ln() - r * r / (2.0 * v)
            })
            .collect();
        -logsumexp(&a)
    }

    /// The entropy of p(., t) in nats, E[U(y, t)] over y ~ p(., t), by quadrature: under
    /// component k the radius is sqrt(s_k^2 + t) times a chi variable with d degrees of
    /// freedom, so the entropy is sum_k w_k int U(sqrt(s_k^2 + t) rho, t) chi_d(rho) d rho.
    /// The integral runs over the chi density's bulk (its mode +- 14, where the density has
    /// fallen below e^-90 of its peak) with 20-point Gauss-Legendre panels of width 1/2: the
    /// integrand is smooth there, and the result is accurate to about 1e-12 relative.
    pub fn entropy(&self, t: f64) -> f64 {
        let d = self.dim as f64;
        let (nodes, gl_weights) = gauss_legendre(20);
        let mode = (d - 1.0).max(0.0).sqrt();
        let lo = (mode - 14.0).max(0.0);
        let hi = mode + 14.0;
        let panels = ((hi - lo) / 0.5).ceil() as usize;
        let width = (hi - lo) / panels as f64;
        let log_norm = (0.5 * d - 1.0) * 2f64.ln() + libm::lgamma(0.5 * d);
        let mut total = 0.0;
        for (w, s2) in self.weights.iter().zip(&self.variances) {
            let sigma = (s2 + t).sqrt();
            let mut integral = 0.0;
            for p in 0..panels {
                let a = lo + p as f64 * width;
                for (x, gw) in nodes.iter().zip(&gl_weights) {
                    let rho = a + 0.5 * width * (x + 1.0);
                    let log_pdf = if rho > 0.0 {
                        (d - 1.0) * rho.ln() - 0.5 * rho * rho - log_norm
                    } else if self.dim == 1 {
                        -log_norm
                    } else {
                        f64::NEG_INFINITY
                    };
                    integral +=
                        0.5 * width * gw * log_pdf.exp() * self.energy_at_radius(sigma * rho, t);
                }
            }
            total += w * integral;
        }
        total
    }
}

impl AnalyticDensity for GaussianScaleMixture {
    fn dim(&self) -> usize {
        self.dim
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn energy_host(&self, y: &[f64], t: f64) -> Result<f64> {
        if y.len() != self.dim {
            return Err(Error::invalid(
                "GaussianScaleMixture::energy_host",
                format!("a sample of {} values for dimension {}", y.len(), self.dim),
            ));
        }
        Ok(self.energy_at_radius(y.iter().map(|v| v * v).sum::<f64>().sqrt(), t))
    }

    /// Sample `i` uses indices `i (d + 1) .. (i + 1)(d + 1)` of `key`'s sequence: the first as
    /// a uniform number choosing the component k, the next d as standard normal w; the sample
    /// is sqrt(s_k^2 + t) w.
    fn sample_rows(&self, n: usize, t: f64, key: RngKey) -> Result<Vec<f64>> {
        const OP: &str = "GaussianScaleMixture::sample_rows";
        check_t(OP, t)?;
        let d = self.dim;
        let mut out = sample_buffer(OP, n, d, d + 1)?;
        for i in 0..n {
            let base = (i * (d + 1)) as u64;
            let k = choose(&self.weights, uniform_at(key, base));
            let s = (self.variances[k] + t).sqrt();
            out.extend(normal_values(key, base + 1, d).into_iter().map(|w| s * w));
        }
        Ok(out)
    }
}

/// The logits a (`[N, K]`), the variances v = s^2 + t (`[N, K]`) and r^2 (`[N, 1]`).
struct Logits<B: Backend, T: Float> {
    a: Tensor<B, T>,
    v: Tensor<B, T>,
    r2: Tensor<B, T>,
}

impl GaussianScaleMixture {
    fn logits<B: Backend, T: Float>(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
    ) -> Result<Logits<B, T>> {
        let backend = y.backend();
        let k = self.weights.len();
        let d = self.dim as f64;
        let log_w: Vec<f64> = self.weights.iter().map(|w| w.ln()).collect();
        let log_w = Tensor::<B, T>::from_f64(backend, &log_w, [1, k])?;
        let s2 = Tensor::from_f64(backend, &self.variances, [1, k])?;
        let r2 = y.square()?.sum(&[1], true)?;
        let v = s2.add(t)?;
        let a = log_w
            .sub(&v.scale(2.0 * PI)?.log()?.scale(0.5 * d)?)?
            .sub(&r2.div(&v)?.scale(0.5)?)?;
        Ok(Logits { a, v, r2 })
    }
}

impl<B: Backend, T: Float> Energy<B, T> for GaussianScaleMixture {
    fn energy(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        let (yf, tc) = flatten_inputs("GaussianScaleMixture::energy", self.dim, y, t)?;
        let logits = self.logits(&yf, &tc)?;
        logsumexp_rows(&logits.a)?.0.neg()
    }

    /// The closed forms (see the type's documentation), from tensor ops: recorded on the given
    /// `y` and `t` with [`Graph::Keep`], not recorded with [`Graph::Drop`].
    fn energy_gradients(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        graph: Graph,
    ) -> Result<EnergyGradients<B, T>> {
        let op = "GaussianScaleMixture::energy_gradients";
        closed_form_gradients(op, self.dim, (y, t), graph, |yf, tc| {
            let Logits { a, v, r2 } = self.logits(yf, tc)?;
            let (lse, pi) = logsumexp_rows(&a)?;
            let inv = v.recip()?;
            let pi_inv = pi.mul(&inv)?;
            let grad_y = yf.mul(&pi_inv.sum(&[1], true)?)?;
            // sum_k pi_k (d/2 - r^2/(2 v_k)) / v_k
            let grad_t = pi_inv
                .mul(&r2.mul(&inv)?.affine(-0.5, 0.5 * self.dim as f64)?)?
                .sum(&[1], false)?;
            Ok(EnergyGradients {
                energy: lse.neg()?,
                grad_y,
                grad_t,
            })
        })
    }
}

crate::energy_score_model!(impl<B: Backend, T: Float> ScoreModel<B, T> for GaussianScaleMixture);
