//! The full-covariance Gaussian baseline that every image model must beat.

use super::stats::{ImageShape, check_batch, fit_gaussian_statistics};
use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::linalg::{Cholesky, Matrix, cholesky};
use crate::scalar::Float;
use crate::tensor::Tensor;
use std::f64::consts::PI;

/// N(m, S + ridge I) with m and S the sample mean and unbiased covariance of training images.
///
/// -log p(x) = 1/2 ||L^{-1} (x - m)||^2 + d/2 ln(2 pi) + 1/2 ln det(S + ridge I), with
/// S + ridge I = L L^T; the whitening L^{-1} is applied on the backend as one matrix product
/// per batch.
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::density::GaussianBaseline;
/// use dualscore_core::energy::analytic::{AnalyticDensity, Gaussian};
/// use dualscore_core::rng::RngKey;
/// use dualscore_core::tensor::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// let g = Gaussian::isotropic(vec![0.5; 4], 0.01)?.with_shape(&[1, 2, 2])?;
/// let train: Tensor<_, f64> = g.sample(&Reference, 2000, 0.0, RngKey::new(1, 0))?;
/// let test: Tensor<_, f64> = g.sample(&Reference, 2000, 0.0, RngKey::new(2, 0))?;
/// let baseline = GaussianBaseline::fit(&train, 256, 0.0)?;
/// let bits = baseline.nll_bits_per_dim(&test, 256)?;
/// let exact = 8.0 + g.entropy(0.0) / (4.0 * 2f64.ln());
/// assert!((bits - exact).abs() < 0.05, "{bits} vs {exact}");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianBaseline {
    shape: ImageShape,
    mean: Vec<f64>,
    cholesky: Cholesky,
    whitening_t: Matrix,
    ridge: f64,
    samples: usize,
}

impl GaussianBaseline {
    /// Fits the mean and covariance of `train` (`[n, C, H, W]`, n >= 2), computed on the
    /// backend in batches of `batch_size`. `ridge` (>= 0) is added to the covariance's
    /// diagonal; it must make it positive definite (n <= d always needs ridge > 0).
    pub fn fit<B: Backend, T: Float>(
        train: &Tensor<B, T>,
        batch_size: usize,
        ridge: f64,
    ) -> Result<Self> {
        const OP: &str = "GaussianBaseline::fit";
        let (shape, mc) = fit_gaussian_statistics(OP, train, batch_size, ridge)?;
        let n = mc.count;
        let cholesky = cholesky(&mc.covariance).map_err(|e| {
            Error::invalid(
                OP,
                format!("the covariance of {n} images plus ridge {ridge} is not positive definite ({e}); raise the ridge"),
            )
        })?;
        let whitening_t = cholesky.inverse_factor_transpose();
        Ok(GaussianBaseline {
            shape,
            mean: mc.mean,
            cholesky,
            whitening_t,
            ridge,
            samples: n,
        })
    }

    /// The image shape it was fitted on.
    pub fn image_shape(&self) -> ImageShape {
        self.shape
    }

    /// The mean image m (length d).
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The ridge added to the covariance.
    pub fn ridge(&self) -> f64 {
        self.ridge
    }

    /// The number of training images.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// ln det(S + ridge I).
    pub fn log_det_covariance(&self) -> f64 {
        self.cholesky.log_det()
    }

    /// The entropy of the fitted Gaussian in nats, 1/2 ln det(2 pi e (S + ridge I)).
    pub fn entropy(&self) -> f64 {
        let d = self.shape.dim() as f64;
        0.5 * (d * (2.0 * PI * std::f64::consts::E).ln() + self.log_det_covariance())
    }

    /// -log p(x) in nats under the fitted Gaussian for each image of `data` (its shape must be
    /// the training shape).
    pub fn neg_log_prob_nats<B: Backend, T: Float>(
        &self,
        data: &Tensor<B, T>,
        batch_size: usize,
    ) -> Result<Vec<f64>> {
        const OP: &str = "GaussianBaseline::neg_log_prob_nats";
        check_batch(OP, batch_size)?;
        let (n, shape) = ImageShape::of_data(OP, data)?;
        if shape != self.shape {
            return Err(Error::invalid(
                OP,
                format!(
                    "images of shape {:?} for a baseline fitted on {:?}",
                    shape.dims(),
                    self.shape.dims()
                ),
            ));
        }
        let d = shape.dim();
        let constant = 0.5 * (d as f64 * (2.0 * PI).ln() + self.log_det_covariance());
        no_grad(|| {
            let backend = data.backend();
            let mean = Tensor::<B, T>::from_f64(backend, &self.mean, [d])?;
            let w = Tensor::<B, T>::from_f64(backend, self.whitening_t.as_slice(), [d, d])?;
            let mut out = Vec::with_capacity(n);
            for start in (0..n).step_by(batch_size) {
                let b = batch_size.min(n - start);
                let xc = data.slice(0, start, b)?.reshape([b, d])?.sub(&mean)?;
                let q = xc.matmul(&w)?.square()?.sum(&[1], false)?.to_f64_vec()?;
                out.extend(q.into_iter().map(|q| 0.5 * q + constant));
            }
            Ok(out)
        })
    }

    /// The NLL of `data` in bits per dimension of 8-bit images
    /// ([`nll_bits_per_dim`](super::nll_bits_per_dim)).
    pub fn nll_bits_per_dim<B: Backend, T: Float>(
        &self,
        data: &Tensor<B, T>,
        batch_size: usize,
    ) -> Result<f64> {
        let nlp = self.neg_log_prob_nats(data, batch_size)?;
        Ok(super::nll_bits_per_dim(&nlp, self.shape.dim()))
    }
}
