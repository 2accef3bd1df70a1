//! Image shapes and data statistics computed on the backend in batches.

use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::linalg::{Matrix, MeanCovariance, cholesky};
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The shape of one image, `[C, H, W]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageShape {
    /// Channels C.
    pub channels: usize,
    /// Height H.
    pub height: usize,
    /// Width W.
    pub width: usize,
}

impl ImageShape {
    /// The dimension d = C H W.
    pub fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// `[C, H, W]`.
    pub fn dims(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// The number of images and their shape, from a data set `[n, C, H, W]`.
    pub fn of_data<B: Backend, T: Float>(
        op: &'static str,
        data: &Tensor<B, T>,
    ) -> Result<(usize, ImageShape)> {
        match *data.dims() {
            [n, channels, height, width] if channels * height * width > 0 => Ok((
                n,
                ImageShape {
                    channels,
                    height,
                    width,
                },
            )),
            _ => Err(Error::invalid(
                op,
                format!(
                    "a data set must be [n, C, H, W] with C H W > 0, got {:?}",
                    data.dims()
                ),
            )),
        }
    }
}

/// Checks a batch size.
pub(crate) fn check_batch(op: &'static str, batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::invalid(op, "the batch size must be positive"));
    }
    Ok(())
}

/// Checks that an energy evaluated on a batch of `b` images gave one value per image.
pub(crate) fn check_energy_values<B: Backend, T: Float>(
    op: &'static str,
    u: &Tensor<B, T>,
    b: usize,
) -> Result<()> {
    if u.dims() != [b] {
        return Err(Error::shapes(
            op,
            u.dims(),
            &[b],
            "an energy must give one value per image",
        ));
    }
    Ok(())
}

/// Images `start .. start + len` of `data`, as rows `[len, d]`.
pub(crate) fn rows<B: Backend, T: Float>(
    data: &Tensor<B, T>,
    start: usize,
    len: usize,
    d: usize,
) -> Result<Tensor<B, T>> {
    data.slice(0, start, len)?.reshape([len, d])
}

/// The mean image (as f64, length d), summed on the backend in batches.
pub(crate) fn data_mean<B: Backend, T: Float>(
    data: &Tensor<B, T>,
    n: usize,
    d: usize,
    batch_size: usize,
) -> Result<Vec<f64>> {
    let mut sum = vec![0.0; d];
    for start in (0..n).step_by(batch_size) {
        let b = batch_size.min(n - start);
        let s = rows(data, start, b, d)?.sum(&[0], false)?.to_f64_vec()?;
        sum.iter_mut().zip(&s).for_each(|(a, v)| *a += v);
    }
    Ok(sum.into_iter().map(|v| v / n as f64).collect())
}

/// The image shape, mean and unbiased covariance plus `ridge` on the diagonal of images
/// `[n, C, H, W]`, as a fitted Gaussian needs them (`op` names the caller in errors).
pub(crate) fn fit_gaussian_statistics<B: Backend, T: Float>(
    op: &'static str,
    train: &Tensor<B, T>,
    batch_size: usize,
    ridge: f64,
) -> Result<(ImageShape, MeanCovariance)> {
    check_batch(op, batch_size)?;
    if !(ridge >= 0.0 && ridge.is_finite()) {
        return Err(Error::invalid(
            op,
            format!("the ridge must be finite and >= 0, got {ridge}"),
        ));
    }
    let (_, shape) = ImageShape::of_data(op, train)?;
    let mut mc = data_mean_covariance(train, batch_size)?;
    mc.covariance = mc.covariance.add_identity(ridge)?;
    Ok((shape, mc))
}

/// The mean and unbiased covariance (divided by n - 1) of a data set `[n, C, H, W]` (or any
/// `[n, ...]`), the products computed on the backend in batches of `batch_size` images
/// (`X_b^T X_b` of the centered batch) and accumulated on the host in f64. Cost: n d^2
/// multiply-adds on the backend and one d x d download per batch.
pub fn data_mean_covariance<B: Backend, T: Float>(
    data: &Tensor<B, T>,
    batch_size: usize,
) -> Result<MeanCovariance> {
    const OP: &str = "data_mean_covariance";
    check_batch(OP, batch_size)?;
    let (n, d) = count_and_dim(OP, data)?;
    no_grad(|| {
        let mean = data_mean(data, n, d, batch_size)?;
        let mean_t = Tensor::<B, T>::from_f64(data.backend(), &mean, [d])?;
        let mut acc = vec![0.0; d * d];
        for start in (0..n).step_by(batch_size) {
            let b = batch_size.min(n - start);
            let xc = rows(data, start, b, d)?.sub(&mean_t)?;
            let g = xc.matmul_t(&xc, true, false)?.to_f64_vec()?;
            acc.iter_mut().zip(&g).for_each(|(a, v)| *a += v);
        }
        let denom = (n - 1) as f64;
        let mut cov = Matrix::from_vec(d, d, acc)?;
        // Symmetrize exactly (the batch products are symmetric up to rounding).
        for i in 0..d {
            for j in 0..i {
                let v = 0.5 * (cov[(i, j)] + cov[(j, i)]) / denom;
                cov[(i, j)] = v;
                cov[(j, i)] = v;
            }
            cov[(i, i)] /= denom;
        }
        Ok(MeanCovariance {
            mean,
            covariance: cov,
            count: n,
        })
    })
}

/// ln det(S + shift I) for the unbiased sample covariance S of a data set `[n, ...]` and
/// `shift > 0`, by Cholesky. When n <= d it works with the n x n Gram matrix
/// G = X_c X_c^T / (n - 1) instead (Sylvester's identity:
/// det(S + shift I_d) = shift^(d - n) det(G + shift I_n)), so the cost is
/// min(n, d)^2 max(n, d) on the backend plus min(n, d)^3 / 3 on the host.
pub fn log_det_covariance_plus_identity<B: Backend, T: Float>(
    data: &Tensor<B, T>,
    shift: f64,
    batch_size: usize,
) -> Result<f64> {
    const OP: &str = "log_det_covariance_plus_identity";
    check_batch(OP, batch_size)?;
    if !(shift > 0.0 && shift.is_finite()) {
        return Err(Error::invalid(
            OP,
            format!("the shift must be positive, got {shift}"),
        ));
    }
    let (n, d) = count_and_dim(OP, data)?;
    if n > d {
        let mc = data_mean_covariance(data, batch_size)?;
        return Ok(cholesky(&mc.covariance.add_identity(shift)?)?.log_det());
    }
    no_grad(|| {
        let mean = data_mean(data, n, d, batch_size)?;
        let mean_t = Tensor::<B, T>::from_f64(data.backend(), &mean, [d])?;
        let mut gram = Matrix::zeros(n, n);
        for i0 in (0..n).step_by(batch_size) {
            let bi = batch_size.min(n - i0);
            let xi = rows(data, i0, bi, d)?.sub(&mean_t)?;
            for j0 in (0..=i0).step_by(batch_size) {
                let bj = batch_size.min(n - j0);
                let xj = rows(data, j0, bj, d)?.sub(&mean_t)?;
                let g = xi.matmul_t(&xj, false, true)?.to_f64_vec()?;
                for a in 0..bi {
                    for b in 0..bj {
                        let v = g[a * bj + b] / (n - 1) as f64;
                        gram[(i0 + a, j0 + b)] = v;
                        gram[(j0 + b, i0 + a)] = v;
                    }
                }
            }
        }
        let log_det_gram = cholesky(&gram.add_identity(shift)?)?.log_det();
        Ok(log_det_gram + (d - n) as f64 * shift.ln())
    })
}

/// The number of samples (at least 2) and the dimension of a data set `[n, ...]`.
fn count_and_dim<B: Backend, T: Float>(
    op: &'static str,
    data: &Tensor<B, T>,
) -> Result<(usize, usize)> {
    if data.rank() < 2 || data.dims()[0] < 2 {
        return Err(Error::invalid(
            op,
            format!(
                "a covariance needs a data set [n, ...] with n >= 2, got {:?}",
                data.dims()
            ),
        ));
    }
    let n = data.dims()[0];
    Ok((n, data.numel() / n))
}
