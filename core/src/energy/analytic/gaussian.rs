//! The Gaussian N(mu, Sigma): p(y, t) = N(mu, Sigma + t I) at every noise variance t.

use super::{
    AnalyticDensity, check_t, checked_shape, closed_form_gradients, flatten_inputs,
    gaussian_entropy, sample_buffer,
};
use crate::autograd::Graph;
use crate::backend::Backend;
use crate::energy::{Energy, EnergyGradients};
use crate::error::{Error, Result};
use crate::linalg::{Matrix, symmetric_eigen};
use crate::rng::{RngKey, normal_values};
use crate::scalar::Float;
use crate::tensor::Tensor;
use std::f64::consts::PI;

/// The Gaussian N(mu, Sigma) at t = 0; its noisy density is p(y, t) = N(mu, Sigma + t I).
///
/// With Sigma = V diag(l) V^T (decomposed once, at construction) and c = V^T (y - mu):
///
/// - U(y, t) = 1/2 sum_k c_k^2 / (l_k + t) + 1/2 sum_k ln(2 pi (l_k + t)),
/// - grad_y U = V (c / (l + t)) = (Sigma + t I)^{-1} (y - mu),
/// - dU/dt = 1/2 sum_k 1/(l_k + t) - 1/2 sum_k c_k^2 / (l_k + t)^2.
///
/// A singular Sigma (a zero eigenvalue) is allowed; its energy is then infinite at t = 0 off
/// the support and needs t > 0.
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::energy::Energy;
/// use dualscore_core::energy::analytic::Gaussian;
/// use dualscore_core::linalg::Matrix;
/// use dualscore_core::tensor::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// let g = Gaussian::new(vec![1.0, 0.0], &Matrix::from_diagonal(&[1.0, 3.0]))?;
/// let y = Tensor::<_, f64>::from_f64(&Reference, &[1.0, 0.0], [1, 2])?;
/// let t = Tensor::from_f64(&Reference, &[1.0], [1])?;
/// // At the mean: U = 1/2 ln(2 pi 2) + 1/2 ln(2 pi 4).
/// let u = g.energy(&y, &t)?.to_scalar()?;
/// let want = 0.5 * (2.0 * std::f64::consts::PI * 2.0).ln() + 0.5 * (2.0 * std::f64::consts::PI * 4.0).ln();
/// assert!((u - want).abs() < 1e-14);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian {
    mean: Vec<f64>,
    eigenvalues: Vec<f64>,
    eigenvectors: Matrix,
    shape: Vec<usize>,
}

impl Gaussian {
    /// N(mean, covariance). The covariance must be symmetric positive semi-definite
    /// (eigenvalues below `-1e-10 max |l|` are an error; smaller negative ones, rounding, are
    /// set to 0).
    pub fn new(mean: Vec<f64>, covariance: &Matrix) -> Result<Self> {
        const OP: &str = "Gaussian::new";
        if covariance.rows() != mean.len() || covariance.cols() != mean.len() {
            return Err(Error::shapes(
                OP,
                &[mean.len()],
                &[covariance.rows(), covariance.cols()],
                "the covariance must be d x d for a mean of length d",
            ));
        }
        let eig = symmetric_eigen(covariance)?;
        Self::from_eigen(mean, eig.values, eig.vectors)
    }

    /// N(mean, V diag(eigenvalues) V^T) from an orthonormal `eigenvectors` matrix V (its
    /// columns; orthonormality is checked to 1e-8).
    pub fn from_eigen(mean: Vec<f64>, eigenvalues: Vec<f64>, eigenvectors: Matrix) -> Result<Self> {
        const OP: &str = "Gaussian::from_eigen";
        let d = mean.len();
        if eigenvalues.len() != d || eigenvectors.rows() != d || eigenvectors.cols() != d {
            return Err(Error::invalid(
                OP,
                format!(
                    "a mean of length {d} needs {d} eigenvalues and a {d} x {d} basis, got {} and {} x {}",
                    eigenvalues.len(),
                    eigenvectors.rows(),
                    eigenvectors.cols()
                ),
            ));
        }
        if d == 0 {
            return Err(Error::invalid(OP, "the dimension must be positive"));
        }
        if mean.iter().chain(&eigenvalues).any(|v| !v.is_finite()) {
            return Err(Error::invalid(OP, "non-finite mean or eigenvalue"));
        }
        let lmax = eigenvalues.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if let Some(l) = eigenvalues.iter().find(|&&l| l < -1e-10 * lmax) {
            return Err(Error::invalid(
                OP,
                format!("the covariance is not positive semi-definite (eigenvalue {l:e})"),
            ));
        }
        let gram = eigenvectors.transpose().matmul(&eigenvectors)?;
        if gram.max_abs_diff(&Matrix::identity(d)) > 1e-8 {
            return Err(Error::invalid(OP, "the eigenvectors are not orthonormal"));
        }
        let eigenvalues = eigenvalues.into_iter().map(|l| l.max(0.0)).collect();
        Ok(Gaussian {
            mean,
            eigenvalues,
            eigenvectors,
            shape: vec![d],
        })
    }

    /// N(mean, variance I).
    pub fn isotropic(mean: Vec<f64>, variance: f64) -> Result<Self> {
        let d = mean.len();
        Self::from_eigen(mean, vec![variance; d], Matrix::identity(d))
    }

    /// The same density, with samples of shape `shape` (its product must be d), e.g.
    /// `[C, H, W]` for images.
    pub fn with_shape(mut self, shape: &[usize]) -> Result<Self> {
        self.shape = checked_shape("Gaussian::with_shape", self.dim(), shape)?;
        Ok(self)
    }

    /// The mean mu.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The eigenvalues l of Sigma (in the order of the columns of [`Gaussian::eigenvectors`]).
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// The orthonormal eigenvectors V of Sigma, as columns.
    pub fn eigenvectors(&self) -> &Matrix {
        &self.eigenvectors
    }

    /// Sigma = V diag(l) V^T.
    pub fn covariance(&self) -> Matrix {
        let v = &self.eigenvectors;
        let vl = Matrix::from_fn(v.rows(), v.cols(), |i, j| v[(i, j)] * self.eigenvalues[j]);
        vl.matmul(&v.transpose()).expect("square factors")
    }

    /// The exact entropy of p(., t) in nats: 1/2 sum_k ln(2 pi e (l_k + t)).
    pub fn entropy(&self, t: f64) -> f64 {
        gaussian_entropy(&self.eigenvalues, t)
    }

    /// The energy and, with `derivatives`, grad_y U (`[N, d]`) and dU/dt (`[N]`), from y as
    /// `[N, d]` and t as `[N, 1]`.
    pub(crate) fn terms<B: Backend, T: Float>(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        derivatives: bool,
    ) -> Result<GaussianTerms<B, T>> {
        let backend = y.backend();
        let d = self.dim();
        let n = y.dims()[0];
        let v = Tensor::<B, T>::from_f64(backend, self.eigenvectors.as_slice(), [d, d])?;
        let mean = Tensor::from_f64(backend, &self.mean, [d])?;
        let l = Tensor::from_f64(backend, &self.eigenvalues, [d])?;
        let c = y.sub(&mean)?.matmul(&v)?;
        let variance = l.add(t)?; // [N, d]
        let inv = variance.recip()?;
        let quadratic = c.square()?.mul(&inv)?.sum(&[1], false)?;
        let log_det = variance.log()?.sum(&[1], false)?;
        let energy = quadratic
            .add(&log_det)?
            .affine(0.5, 0.5 * d as f64 * (2.0 * PI).ln())?;
        if !derivatives {
            return Ok(GaussianTerms {
                energy,
                grad_y: None,
                grad_t: None,
            });
        }
        let w = c.mul(&inv)?;
        let grad_y = w.matmul_t(&v, false, true)?;
        let grad_t = inv
            .sum(&[1], false)?
            .sub(&w.square()?.sum(&[1], false)?)?
            .scale(0.5)?;
        debug_assert_eq!(grad_t.dims(), [n]);
        Ok(GaussianTerms {
            energy,
            grad_y: Some(grad_y),
            grad_t: Some(grad_t),
        })
    }
}

/// U, grad_y U (`[N, d]`) and dU/dt of a Gaussian (or a mixture component).
pub(crate) struct GaussianTerms<B: Backend, T: Float> {
    pub(crate) energy: Tensor<B, T>,
    pub(crate) grad_y: Option<Tensor<B, T>>,
    pub(crate) grad_t: Option<Tensor<B, T>>,
}

impl AnalyticDensity for Gaussian {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn energy_host(&self, y: &[f64], t: f64) -> Result<f64> {
        let d = self.dim();
        if y.len() != d {
            return Err(Error::invalid(
                "Gaussian::energy_host",
                format!("a sample of {} values for dimension {d}", y.len()),
            ));
        }
        let centered: Vec<f64> = y.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
        let c = self.eigenvectors.transpose().matvec(&centered)?;
        Ok(0.5
            * c.iter()
                .zip(&self.eigenvalues)
                .map(|(c, l)| c * c / (l + t) + (2.0 * PI * (l + t)).ln())
                .sum::<f64>())
    }

    /// Sample `i` is mu + V (sqrt(l + t) w) with w the standard normal values at indices
    /// `i d .. (i + 1) d` of `key`'s sequence.
    fn sample_rows(&self, n: usize, t: f64, key: RngKey) -> Result<Vec<f64>> {
        const OP: &str = "Gaussian::sample_rows";
        check_t(OP, t)?;
        let d = self.dim();
        let scale: Vec<f64> = self.eigenvalues.iter().map(|l| (l + t).sqrt()).collect();
        let mut out = sample_buffer(OP, n, d, d)?;
        for i in 0..n {
            let w = normal_values(key, (i * d) as u64, d);
            let sw: Vec<f64> = w.iter().zip(&scale).map(|(w, s)| w * s).collect();
            let x = self.eigenvectors.matvec(&sw)?;
            out.extend(x.iter().zip(&self.mean).map(|(x, m)| x + m));
        }
        Ok(out)
    }
}

impl<B: Backend, T: Float> Energy<B, T> for Gaussian {
    fn energy(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        let (yf, tc) = flatten_inputs("Gaussian::energy", self.dim(), y, t)?;
        Ok(self.terms(&yf, &tc, false)?.energy)
    }

    /// The closed forms (see the type's documentation), from tensor ops: recorded on the given
    /// `y` and `t` with [`Graph::Keep`], not recorded with [`Graph::Drop`].
    fn energy_gradients(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        graph: Graph,
    ) -> Result<EnergyGradients<B, T>> {
        let op = "Gaussian::energy_gradients";
        closed_form_gradients(op, self.dim(), (y, t), graph, |yf, tc| {
            let terms = self.terms(yf, tc, true)?;
            Ok(EnergyGradients {
                energy: terms.energy,
                grad_y: terms.grad_y.expect("derivatives"),
                grad_t: terms.grad_t.expect("derivatives"),
            })
        })
    }
}

crate::energy_score_model!(impl<B: Backend, T: Float> ScoreModel<B, T> for Gaussian);
