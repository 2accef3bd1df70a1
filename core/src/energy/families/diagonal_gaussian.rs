//! A Gaussian family in a fixed orthonormal basis, with a free time offset.

use crate::backend::Backend;
use crate::energy::{Energy, TimeOffset, TimeOffsetConfig};
use crate::error::{Error, Result};
use crate::linalg::Matrix;
use crate::nn::{Init, Module, visit_scoped, visit_scoped_mut};
use crate::scalar::Float;
use crate::tensor::Tensor;

/// U(y, t) = 1/2 sum_k c_k^2 / (exp(theta_k) + t) + b(t), c = Q^T (y - m), for samples of d
/// values, with Q a fixed d x d orthonormal basis (columns), learned log-variances theta and
/// mean m, and a free time offset b(t) ([`TimeOffset`], an MLP of log(t + t0)).
///
/// The true noisy energy of N(m, Sigma) with Sigma = Q diag(lambda) Q^T is in the family:
/// theta = ln lambda and b(t) = 1/2 sum_k ln(2 pi (lambda_k + t)). Denoising score matching
/// fixes theta and m but sees b only through derivatives in y, which it has none of: b(t) is
/// left free. Time score matching fixes b'(t), so one normalization at a large t normalizes
/// every t.
#[derive(Clone, Debug)]
pub struct DiagonalGaussianEnergy<B: Backend, T: Float> {
    /// The basis Q, `[d, d]`, columns orthonormal (fixed, not a parameter).
    pub basis: Tensor<B, T>,
    /// log-variances theta, `[d]`.
    pub log_variance: Tensor<B, T>,
    /// The mean m, `[d]`.
    pub mean: Tensor<B, T>,
    /// b(t).
    pub offset: TimeOffset<B, T>,
}

impl<B: Backend, T: Float> DiagonalGaussianEnergy<B, T> {
    /// A model in `basis` (d x d, orthonormal columns), starting from unit variances and a zero
    /// mean.
    pub fn new(
        backend: &B,
        init: &mut Init,
        basis: &Matrix,
        offset: &TimeOffsetConfig,
    ) -> Result<Self> {
        if !basis.is_square() {
            return Err(Error::invalid(
                "DiagonalGaussianEnergy",
                format!(
                    "the basis must be square, not {}x{}",
                    basis.rows(),
                    basis.cols()
                ),
            ));
        }
        let d = basis.rows();
        Ok(DiagonalGaussianEnergy {
            basis: Tensor::from_f64(backend, basis.as_slice(), [d, d])?,
            log_variance: Tensor::zeros(backend, [d])?,
            mean: Tensor::zeros(backend, [d])?,
            offset: TimeOffset::new(backend, init, offset)?,
        })
    }

    /// The learned variances exp(theta).
    pub fn variances(&self) -> Result<Vec<f64>> {
        self.log_variance.exp()?.to_f64_vec()
    }
}

impl<B: Backend, T: Float> Energy<B, T> for DiagonalGaussianEnergy<B, T> {
    fn energy(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        let d = self.mean.numel();
        let n = y.dims().first().copied().unwrap_or(0);
        if y.numel() != n * d {
            return Err(Error::shapes(
                "DiagonalGaussianEnergy",
                y.dims(),
                &[d],
                format!("each sample must have {d} values"),
            ));
        }
        let c = y.reshape([n, d])?.sub(&self.mean)?.matmul(&self.basis)?;
        let variance = self
            .log_variance
            .exp()?
            .reshape([1, d])?
            .add(&t.reshape([n, 1])?)?;
        let quadratic = c.square()?.div(&variance)?.sum(&[1], false)?.scale(0.5)?;
        quadratic.add(&self.offset.forward(t, d)?)
    }
}

crate::energy_score_model!(
    impl<B: Backend, T: Float> ScoreModel<B, T> for DiagonalGaussianEnergy<B, T>
);

impl<B: Backend, T: Float> Module<B, T> for DiagonalGaussianEnergy<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        f("log_variance", &self.log_variance);
        f("mean", &self.mean);
        visit_scoped("time_offset", &self.offset, f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        f("log_variance", &mut self.log_variance);
        f("mean", &mut self.mean);
        visit_scoped_mut("time_offset", &mut self.offset, f);
    }
}
