//! Mixtures of Gaussians with full covariances.

use super::gaussian::Gaussian;
use super::{
    AnalyticDensity, check_t, checked_shape, choose, closed_form_gradients, flatten_inputs,
    logsumexp, logsumexp_rows, normalized_weights, sample_buffer,
};
use crate::autograd::Graph;
use crate::backend::Backend;
use crate::energy::{Energy, EnergyGradients};
use crate::error::{Error, Result};
use crate::linalg::Matrix;
use crate::rng::{RngKey, normal_values, uniform_at};
use crate::scalar::Float;
use crate::tensor::Tensor;

/// The mixture sum_k w_k N(mu_k, Sigma_k); its noisy density is sum_k w_k N(mu_k, Sigma_k + t I).
/// With U_k the energy of component k ([`Gaussian`]) and a_k = ln w_k - U_k:
///
/// - U(y, t) = -logsumexp_k(a_k),
/// - grad_y U = sum_k pi_k grad_y U_k, with pi = softmax(a) the responsibilities,
/// - dU/dt = sum_k pi_k dU_k/dt.
///
/// Its entropy has no closed form: estimate it with
/// [`monte_carlo_entropy`](super::monte_carlo_entropy).
///
/// ```
/// use dualscore_core::energy::analytic::{AnalyticDensity, Gaussian, GaussianMixture};
/// # fn main() -> dualscore_core::Result<()> {
/// let gmm = GaussianMixture::new(
///     &[0.3, 0.7],
///     vec![Gaussian::isotropic(vec![-2.0], 0.5)?, Gaussian::isotropic(vec![1.0], 1.0)?],
/// )?;
/// assert_eq!(gmm.dim(), 1);
/// assert!(gmm.energy_host(&[1.0], 0.1)? < gmm.energy_host(&[5.0], 0.1)?);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    weights: Vec<f64>,
    components: Vec<Gaussian>,
    shape: Vec<usize>,
}

impl GaussianMixture {
    /// sum_k w_k N(mu_k, Sigma_k) from positive `weights` (normalized here to sum to 1) and
    /// one [`Gaussian`] per weight, all of one dimension.
    pub fn new(weights: &[f64], components: Vec<Gaussian>) -> Result<Self> {
        const OP: &str = "GaussianMixture::new";
        let weights = normalized_weights(OP, weights)?;
        if components.len() != weights.len() {
            return Err(Error::invalid(
                OP,
                format!(
                    "{} weights and {} components",
                    weights.len(),
                    components.len()
                ),
            ));
        }
        let d = components[0].dim();
        if components.iter().any(|c| c.dim() != d) {
            return Err(Error::invalid(OP, "the components differ in dimension"));
        }
        Ok(GaussianMixture {
            weights,
            components,
            shape: vec![d],
        })
    }

    /// sum_k w_k N(mu_k, Sigma_k) from means and covariances (each decomposed once).
    pub fn from_moments(
        weights: &[f64],
        means: &[Vec<f64>],
        covariances: &[Matrix],
    ) -> Result<Self> {
        if means.len() != covariances.len() {
            return Err(Error::invalid(
                "GaussianMixture::from_moments",
                format!(
                    "{} means and {} covariances",
                    means.len(),
                    covariances.len()
                ),
            ));
        }
        let components = means
            .iter()
            .zip(covariances)
            .map(|(m, c)| Gaussian::new(m.clone(), c))
            .collect::<Result<Vec<_>>>()?;
        Self::new(weights, components)
    }

    /// The same density, with samples of shape `shape` (its product must be d).
    pub fn with_shape(mut self, shape: &[usize]) -> Result<Self> {
        self.shape = checked_shape("GaussianMixture::with_shape", self.dim(), shape)?;
        Ok(self)
    }

    /// The normalized weights w_k.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The components N(mu_k, Sigma_k).
    pub fn components(&self) -> &[Gaussian] {
        &self.components
    }

    /// The logits a_k = ln w_k - U_k and, with `derivatives`, each component's grad_y U_k and
    /// dU_k/dt.
    fn logits<B: Backend, T: Float>(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        derivatives: bool,
    ) -> Result<MixtureLogits<B, T>> {
        let n = y.dims()[0];
        let mut logits = Vec::with_capacity(self.components.len());
        let mut grads = Vec::new();
        let mut grad_ts = Vec::new();
        for (w, c) in self.weights.iter().zip(&self.components) {
            let terms = c.terms(y, t, derivatives)?;
            logits.push(terms.energy.affine(-1.0, w.ln())?.reshape([n, 1])?);
            if derivatives {
                grads.push(terms.grad_y.expect("derivatives"));
                grad_ts.push(terms.grad_t.expect("derivatives").reshape([n, 1])?);
            }
        }
        let refs: Vec<&Tensor<B, T>> = logits.iter().collect();
        let a = Tensor::concat(&refs, 1)?;
        let grad_t = if derivatives {
            let refs: Vec<&Tensor<B, T>> = grad_ts.iter().collect();
            Some(Tensor::concat(&refs, 1)?)
        } else {
            None
        };
        Ok(MixtureLogits { a, grads, grad_t })
    }
}

/// The logits a_k (`[N, K]`); with derivatives, grad_y U_k (`[N, d]` each) and dU_k/dt
/// (`[N, K]`).
struct MixtureLogits<B: Backend, T: Float> {
    a: Tensor<B, T>,
    grads: Vec<Tensor<B, T>>,
    grad_t: Option<Tensor<B, T>>,
}

impl AnalyticDensity for GaussianMixture {
    fn dim(&self) -> usize {
        self.components[0].dim()
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn energy_host(&self, y: &[f64], t: f64) -> Result<f64> {
        let a = self
            .weights
            .iter()
            .zip(&self.components)
            .map(|(w, c)| Ok(w.ln() - c.energy_host(y, t)?))
            .collect::<Result<Vec<f64>>>()?;
        Ok(-logsumexp(&a))
    }

    /// Sample `i` uses indices `i (d + 1) .. (i + 1)(d + 1)` of `key`'s sequence: the first as
    /// a uniform number choosing the component k, the next d as the standard normal w of
    /// component k's sampler, mu_k + V_k (sqrt(l_k + t) w).
    fn sample_rows(&self, n: usize, t: f64, key: RngKey) -> Result<Vec<f64>> {
        const OP: &str = "GaussianMixture::sample_rows";
        check_t(OP, t)?;
        let d = self.dim();
        let mut out = sample_buffer(OP, n, d, d + 1)?;
        for i in 0..n {
            let base = (i * (d + 1)) as u64;
            let k = choose(&self.weights, uniform_at(key, base));
            let c = &self.components[k];
            let w = normal_values(key, base + 1, d);
            let sw: Vec<f64> = w
                .iter()
                .zip(c.eigenvalues())
                .map(|(w, l)| w * (l + t).sqrt())
                .collect();
            let x = c.eigenvectors().matvec(&sw)?;
            out.extend(x.iter().zip(c.mean()).map(|(x, m)| x + m));
        }
        Ok(out)
    }
}

impl<B: Backend, T: Float> Energy<B, T> for GaussianMixture {
    fn energy(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        let (yf, tc) = flatten_inputs("GaussianMixture::energy", self.dim(), y, t)?;
        let logits = self.logits(&yf, &tc, false)?;
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
        let op = "GaussianMixture::energy_gradients";
        closed_form_gradients(op, self.dim(), (y, t), graph, |yf, tc| {
            let MixtureLogits {
                a,
                grads,
                grad_t: grad_ts,
            } = self.logits(yf, tc, true)?;
            let (lse, pi) = logsumexp_rows(&a)?;
            let mut grad_y: Option<Tensor<B, T>> = None;
            for (k, g) in grads.iter().enumerate() {
                let term = pi.slice(1, k, 1)?.mul(g)?;
                grad_y = Some(match grad_y {
                    None => term,
                    Some(acc) => acc.add(&term)?,
                });
            }
            let grad_y = grad_y.expect("at least one component");
            let grad_t = pi.mul(&grad_ts.expect("derivatives"))?.sum(&[1], false)?;
            Ok(EnergyGradients {
                energy: lse.neg()?,
                grad_y,
                grad_t,
            })
        })
    }
}

crate::energy_score_model!(impl<B: Backend, T: Float> ScoreModel<B, T> for GaussianMixture);
