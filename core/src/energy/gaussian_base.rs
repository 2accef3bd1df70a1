//! A fixed Gaussian base for an energy: the exact noisy energy of N(mu, S), to which a network
//! adds what is not Gaussian. S is either a full covariance (images of up to a few thousand
//! values) or separable: diagonal in the product of an eigenbasis of the rows, one of the
//! columns and one of the channels (any size).

use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::density::{fit_axis_eigenbases, fit_gaussian_statistics};
use crate::error::{Error, Result};
use crate::linalg::symmetric_eigen;
use crate::nn::Module;
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// How a [`GaussianBase`] factors its covariance S.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseBasis {
    /// The sample covariance, decomposed as a whole: `S = V diag(l) V^T`, V of d x d.
    #[default]
    Full,
    /// `S = V diag(l) V^T` with `V = V_C (x) V_H (x) V_W`, the Kronecker product of the
    /// eigenbases of the channel, row and column covariances of the data, and `l` the data's
    /// variance along each product vector: the best Gaussian whose eigenvectors are separable.
    /// For stationary data whose spectrum is symmetric under reflections (natural images,
    /// nearly) the bases are Fourier bases and the base is the stationary fit. It costs
    /// `d (C + H + W)` per image instead of `d^2`, so it serves images of any size.
    Separable,
}

impl BaseBasis {
    /// True for [`BaseBasis::Full`] (the default, left out of configuration files).
    pub fn is_full(&self) -> bool {
        *self == BaseBasis::Full
    }
}

/// The eigenvectors of a [`GaussianBase`]'s covariance, as its [`BaseBasis`] stores them.
#[derive(Clone, Debug)]
pub enum Basis<B: Backend, T: Float> {
    /// V, `[d, d]`, one eigenvector per column.
    Full(Tensor<B, T>),
    /// The factors of `V = V_C (x) V_H (x) V_W`, each with one eigenvector per column.
    Separable {
        /// `V_C`, `[C, C]`.
        channels: Tensor<B, T>,
        /// `V_H`, `[H, H]`.
        rows: Tensor<B, T>,
        /// `V_W`, `[W, W]`.
        columns: Tensor<B, T>,
    },
}

/// The energy of N(mu, S + t I), the exact noisy density of Gaussian data N(mu, S), for images
/// of one shape `[C, H, W]`:
///
/// `U_G(y, t) = 1/2 sum_k c_k^2 / (l_k + t) + 1/2 sum_k ln(2 pi (l_k + t))`, `c = V^T (y - mu)`,
///
/// with `S = V diag(l) V^T` ([`BaseBasis`] says how V is stored). It is normalized at every t
/// and solves the heat equation `dU/dt = 1/2 Lap U - 1/2 |grad U|^2` exactly, so a model
/// `U_G + U_net` whose residual `U_net` starts at zero *is* the Gaussian fit at step 0, with
/// the Gaussian's NLL.
///
/// Its tensors (`mean` `[d]`, `eigenvalues` `[d]` and the basis) are buffers: saved in
/// checkpoints, never trained. It only accepts images of the shape it was fitted on.
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::energy::{BaseBasis, GaussianBase};
/// use dualscore_core::tensor::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// let data: Vec<f64> = (0..400).map(|i| ((i * 37 % 101) as f64 / 101.0)).collect();
/// let train = Tensor::<_, f64>::from_f64(&Reference, &data, [100, 1, 2, 2])?;
/// let y = train.slice(0, 0, 3)?;
/// let t = Tensor::from_f64(&Reference, &[0.0, 0.1, 10.0], [3])?;
/// for basis in [BaseBasis::Full, BaseBasis::Separable] {
///     let base = GaussianBase::fit(&train, basis, 50, 1e-6)?;
///     assert_eq!(base.energy(&y, &t)?.dims(), &[3]);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct GaussianBase<B: Backend, T: Float> {
    /// The image shape `[C, H, W]` it was fitted on.
    pub shape: [usize; 3],
    /// The mean image mu, `[d]`.
    pub mean: Tensor<B, T>,
    /// The eigenvalues l of S, `[d]` (in the order `[C, H, W]` of the product vectors for a
    /// separable basis).
    pub eigenvalues: Tensor<B, T>,
    /// The eigenvectors of S.
    pub basis: Basis<B, T>,
}

impl<B: Backend, T: Float> GaussianBase<B, T> {
    /// The Gaussian fitted on `train` (`[n, C, H, W]`, n >= 2) with the sample mean, in
    /// batches of `batch_size`, decomposed in f64 on the host, `ridge` added to every
    /// eigenvalue:
    ///
    /// - [`BaseBasis::Full`]: the unbiased sample covariance, the density of
    ///   [`GaussianBaseline`](crate::density::GaussianBaseline) fitted with the same ridge;
    /// - [`BaseBasis::Separable`]: the eigenbases of the channel, row and column covariances
    ///   and the unbiased variance of the data along each of their products.
    pub fn fit(
        train: &Tensor<B, T>,
        basis: BaseBasis,
        batch_size: usize,
        ridge: f64,
    ) -> Result<Self> {
        const OP: &str = "GaussianBase::fit";
        let backend = train.backend();
        let (shape, mean, eigenvalues, basis) = match basis {
            BaseBasis::Full => {
                let (shape, mc) = fit_gaussian_statistics(OP, train, batch_size, ridge)?;
                let eig = symmetric_eigen(&mc.covariance)?;
                let d = shape.dim();
                let vectors = Tensor::from_f64(backend, eig.vectors.as_slice(), [d, d])?;
                (shape, mc.mean, eig.values, Basis::Full(vectors))
            }
            BaseBasis::Separable => {
                if !(ridge >= 0.0 && ridge.is_finite()) {
                    return Err(Error::invalid(
                        OP,
                        format!("the ridge must be finite and >= 0, got {ridge}"),
                    ));
                }
                let axes = fit_axis_eigenbases(OP, train, batch_size)?;
                let [c, h, w] = axes.shape.dims();
                let basis = Basis::Separable {
                    channels: Tensor::from_f64(backend, axes.channels.as_slice(), [c, c])?,
                    rows: Tensor::from_f64(backend, axes.rows.as_slice(), [h, h])?,
                    columns: Tensor::from_f64(backend, axes.columns.as_slice(), [w, w])?,
                };
                let variances = variances_along(train, &axes.mean, &basis, batch_size, ridge)?;
                (axes.shape, axes.mean, variances, basis)
            }
        };
        if let Some(l) = eigenvalues.iter().find(|&&l| l.is_nan() || l <= 0.0) {
            let n = train.dims()[0];
            return Err(Error::invalid(
                OP,
                format!(
                    "the covariance of {n} images plus ridge {ridge} is not positive definite (eigenvalue {l:e}); raise the ridge"
                ),
            ));
        }
        let d = shape.dim();
        Ok(GaussianBase {
            shape: shape.dims(),
            mean: Tensor::from_f64(backend, &mean, [d])?,
            eigenvalues: Tensor::from_f64(backend, &eigenvalues, [d])?,
            basis,
        })
    }

    /// A base of the right shape for images of `shape`, all zeros: a place to load a
    /// checkpoint's buffers into.
    pub fn placeholder(backend: &B, shape: [usize; 3], basis: BaseBasis) -> Result<Self> {
        let d = shape.iter().product::<usize>();
        if d == 0 {
            return Err(Error::invalid(
                "GaussianBase",
                format!("the image shape {shape:?} has no values"),
            ));
        }
        let [c, h, w] = shape;
        let basis = match basis {
            BaseBasis::Full => Basis::Full(Tensor::zeros(backend, [d, d])?),
            BaseBasis::Separable => Basis::Separable {
                channels: Tensor::zeros(backend, [c, c])?,
                rows: Tensor::zeros(backend, [h, h])?,
                columns: Tensor::zeros(backend, [w, w])?,
            },
        };
        Ok(GaussianBase {
            shape,
            mean: Tensor::zeros(backend, [d])?,
            eigenvalues: Tensor::zeros(backend, [d])?,
            basis,
        })
    }

    /// The same base in another element type.
    pub fn cast<U: Float>(&self) -> Result<GaussianBase<B, U>> {
        let convert =
            |t: &Tensor<B, T>| Tensor::from_f64(t.backend(), &t.to_f64_vec()?, t.shape().clone());
        let basis = match &self.basis {
            Basis::Full(vectors) => Basis::Full(convert(vectors)?),
            Basis::Separable {
                channels,
                rows,
                columns,
            } => Basis::Separable {
                channels: convert(channels)?,
                rows: convert(rows)?,
                columns: convert(columns)?,
            },
        };
        Ok(GaussianBase {
            shape: self.shape,
            mean: convert(&self.mean)?,
            eigenvalues: convert(&self.eigenvalues)?,
            basis,
        })
    }

    /// How the basis is stored.
    pub fn basis_kind(&self) -> BaseBasis {
        match self.basis {
            Basis::Full(_) => BaseBasis::Full,
            Basis::Separable { .. } => BaseBasis::Separable,
        }
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
        let coefficients = self.basis.coefficients(&centered, self.shape)?;
        let variances = self.eigenvalues.reshape([1, d])?.add(&t.reshape([n, 1])?)?;
        let quadratic = coefficients.square()?.div(&variances)?.sum(&[1], false)?;
        let log_det = variances.scale(2.0 * PI)?.log()?.sum(&[1], false)?;
        quadratic.add(&log_det)?.scale(0.5)
    }
}

/// The unbiased variance of the data `[n, C, H, W]` along each vector of `basis`, plus `ridge`.
fn variances_along<B: Backend, T: Float>(
    train: &Tensor<B, T>,
    mean: &[f64],
    basis: &Basis<B, T>,
    batch_size: usize,
    ridge: f64,
) -> Result<Vec<f64>> {
    let dims = train.dims();
    let (n, shape) = (dims[0], [dims[1], dims[2], dims[3]]);
    let d = mean.len();
    no_grad(|| {
        let mean = Tensor::<B, T>::from_f64(train.backend(), mean, [1, d])?;
        let mut sums = vec![0.0; d];
        for start in (0..n).step_by(batch_size) {
            let b = batch_size.min(n - start);
            let x = train.slice(0, start, b)?.reshape([b, d])?.sub(&mean)?;
            let squares = basis.coefficients(&x, shape)?.square()?.sum(&[0], false)?;
            sums.iter_mut()
                .zip(squares.to_f64_vec()?)
                .for_each(|(s, v)| *s += v);
        }
        Ok(sums
            .into_iter()
            .map(|s| s / (n - 1) as f64 + ridge)
            .collect())
    })
}

impl<B: Backend, T: Float> Basis<B, T> {
    /// `V^T x` for rows `x` `[N, d]` of images of `shape`, as `[N, d]`.
    pub fn coefficients(&self, x: &Tensor<B, T>, shape: [usize; 3]) -> Result<Tensor<B, T>> {
        match self {
            Basis::Full(vectors) => x.matmul(vectors),
            Basis::Separable {
                channels,
                rows,
                columns,
            } => {
                let [c, h, w] = shape;
                let n = x.dims()[0];
                let d = c * h * w;
                // Columns, then rows (V_H^T from the left, broadcast over the batch), then
                // channels; one channel needs no turn (its basis is +-1).
                let z = x.reshape([n, c, h, w])?.matmul(columns)?;
                let z = rows.matmul_t(&z, true, false)?;
                let z = if c == 1 {
                    z
                } else {
                    channels.matmul_t(&z.reshape([n, c, h * w])?, true, false)?
                };
                z.reshape([n, d])
            }
        }
    }
}

impl<B: Backend, T: Float> Module<B, T> for GaussianBase<B, T> {
    fn visit(&self, _f: &mut dyn FnMut(&str, &Tensor<B, T>)) {}

    fn visit_mut(&mut self, _f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {}

    fn visit_buffers(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        f("mean", &self.mean);
        f("eigenvalues", &self.eigenvalues);
        match &self.basis {
            Basis::Full(vectors) => f("eigenvectors", vectors),
            Basis::Separable {
                channels,
                rows,
                columns,
            } => {
                f("channel_eigenvectors", channels);
                f("row_eigenvectors", rows);
                f("column_eigenvectors", columns);
            }
        }
    }

    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        f("mean", &mut self.mean);
        f("eigenvalues", &mut self.eigenvalues);
        match &mut self.basis {
            Basis::Full(vectors) => f("eigenvectors", vectors),
            Basis::Separable {
                channels,
                rows,
                columns,
            } => {
                f("channel_eigenvectors", channels);
                f("row_eigenvectors", rows);
                f("column_eigenvectors", columns);
            }
        }
    }
}
