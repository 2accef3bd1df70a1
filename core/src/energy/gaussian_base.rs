//! A fixed Gaussian base for an energy: the exact noisy energy of N(mu, S), to which a network
//! adds what is not Gaussian.

use crate::backend::Backend;
use crate::density::fit_gaussian_statistics;
use crate::error::{Error, Result};
use crate::linalg::symmetric_eigen;
use crate::nn::Module;
use crate::scalar::Float;
use crate::tensor::Tensor;
use std::f64::consts::PI;

/// The energy of N(mu, S + t I), the exact noisy density of Gaussian data N(mu, S), for images
/// of one shape `[C, H, W]`:
///
/// `U_G(y, t) = 1/2 sum_k c_k^2 / (l_k + t) + 1/2 sum_k ln(2 pi (l_k + t))`, `c = V^T (y - mu)`,
///
/// with `S = V diag(l) V^T`. It is normalized at every t and solves the heat equation
/// `dU/dt = 1/2 Lap U - 1/2 |grad U|^2` exactly, so a model `U_G + U_net` whose residual
/// `U_net` starts at zero *is* the Gaussian fit at step 0, with the Gaussian's NLL.
///
/// Its tensors (`mean` `[d]`, `eigenvalues` `[d]`, `eigenvectors` `[d, d]`, columns) are
/// buffers: saved in checkpoints, never trained. It only accepts images of the shape it was
/// fitted on.
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::energy::GaussianBase;
/// use dualscore_core::tensor::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// let data: Vec<f64> = (0..400).map(|i| ((i * 37 % 101) as f64 / 101.0)).collect();
/// let train = Tensor::<_, f64>::from_f64(&Reference, &data, [100, 1, 2, 2])?;
/// let base = GaussianBase::fit(&train, 50, 1e-6)?;
/// let y = train.slice(0, 0, 3)?;
/// let t = Tensor::from_f64(&Reference, &[0.0, 0.1, 10.0], [3])?;
/// assert_eq!(base.energy(&y, &t)?.dims(), &[3]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct GaussianBase<B: Backend, T: Float> {
    /// The image shape `[C, H, W]` it was fitted on.
    pub shape: [usize; 3],
    /// The mean image mu, `[d]`.
    pub mean: Tensor<B, T>,
    /// The eigenvalues l of S, `[d]`.
    pub eigenvalues: Tensor<B, T>,
    /// The orthonormal eigenvectors V of S, `[d, d]`, one per column.
    pub eigenvectors: Tensor<B, T>,
}

impl<B: Backend, T: Float> GaussianBase<B, T> {
    /// The Gaussian with the sample mean and unbiased covariance (plus `ridge` on the
    /// diagonal) of `train` (`[n, C, H, W]`, n >= 2), computed in batches of `batch_size` and
    /// decomposed in f64 on the host: the density of
    /// [`GaussianBaseline`](crate::density::GaussianBaseline) fitted with the same ridge.
    pub fn fit(train: &Tensor<B, T>, batch_size: usize, ridge: f64) -> Result<Self> {
        const OP: &str = "GaussianBase::fit";
        let (shape, mc) = fit_gaussian_statistics(OP, train, batch_size, ridge)?;
        let n = mc.count;
        let eig = symmetric_eigen(&mc.covariance)?;
        if let Some(l) = eig.values.iter().find(|&&l| l <= 0.0) {
            return Err(Error::invalid(
                OP,
                format!(
                    "the covariance of {n} images plus ridge {ridge} is not positive definite (eigenvalue {l:e}); raise the ridge"
                ),
            ));
        }
        let backend = train.backend();
        let d = shape.dim();
        Ok(GaussianBase {
            shape: shape.dims(),
            mean: Tensor::from_f64(backend, &mc.mean, [d])?,
            eigenvalues: Tensor::from_f64(backend, &eig.values, [d])?,
            eigenvectors: Tensor::from_f64(backend, eig.vectors.as_slice(), [d, d])?,
        })
    }

    /// A base of the right shape for images of `shape`, all zeros: a place to load a
    /// checkpoint's buffers into.
    pub fn placeholder(backend: &B, shape: [usize; 3]) -> Result<Self> {
        let d = shape.iter().product::<usize>();
        if d == 0 {
            return Err(Error::invalid(
                "GaussianBase",
                format!("the image shape {shape:?} has no values"),
            ));
        }
        Ok(GaussianBase {
            shape,
            mean: Tensor::zeros(backend, [d])?,
            eigenvalues: Tensor::zeros(backend, [d])?,
            eigenvectors: Tensor::zeros(backend, [d, d])?,
        })
    }

    /// The same base in another element type.
    pub fn cast<U: Float>(&self) -> Result<GaussianBase<B, U>> {
        let convert =
            |t: &Tensor<B, T>| Tensor::from_f64(t.backend(), &t.to_f64_vec()?, t.shape().clone());
        Ok(GaussianBase {
            shape: self.shape,
            mean: convert(&self.mean)?,
            eigenvalues: convert(&self.eigenvalues)?,
            eigenvectors: convert(&self.eigenvectors)?,
        })
    }

    /// The dimension d = C H W.
    pub fn dim(&self) -> usize {
        self.shape.iter().product()
    }

    /// `U_G(y, t)` per sample, `[N]`, for `y` of shape `[N, C, H, W]` (the fitted shape) and
    /// `t` of shape `[N]`; differentiable in `y` and `t` to any order.
    pub fn energy(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        let dims = y.dims();
        if dims.len() != 4 || dims[1..] != self.shape {
            return Err(Error::shapes(
                "GaussianBase",
                dims,
                &self.shape,
                format!(
                    "the model's Gaussian base was fitted on images of {}x{}x{}; it cannot measure images of another shape",
                    self.shape[0], self.shape[1], self.shape[2]
                ),
            ));
        }
        let (n, d) = (dims[0], self.dim());
        let centered = y.reshape([n, d])?.sub(&self.mean.reshape([1, d])?)?;
        let coefficients = centered.matmul(&self.eigenvectors)?;
        let variances = self.eigenvalues.reshape([1, d])?.add(&t.reshape([n, 1])?)?;
        let quadratic = coefficients.square()?.div(&variances)?.sum(&[1], false)?;
        let log_det = variances.scale(2.0 * PI)?.log()?.sum(&[1], false)?;
        quadratic.add(&log_det)?.scale(0.5)
    }
}

impl<B: Backend, T: Float> Module<B, T> for GaussianBase<B, T> {
    fn visit(&self, _f: &mut dyn FnMut(&str, &Tensor<B, T>)) {}

    fn visit_mut(&mut self, _f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {}

    fn visit_buffers(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        f("mean", &self.mean);
        f("eigenvalues", &self.eigenvalues);
        f("eigenvectors", &self.eigenvectors);
    }

    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        f("mean", &mut self.mean);
        f("eigenvalues", &mut self.eigenvalues);
        f("eigenvectors", &mut self.eigenvectors);
    }
}
