//! The eigenbases of the channel, row and column covariances of a data set: the factors of a
//! separable Gaussian's eigenvectors ([`crate::energy::BaseBasis::Separable`]).

use super::stats::{ImageShape, check_batch, data_mean, rows};
use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::linalg::{Matrix, symmetric_eigen};
use crate::scalar::Float;
use crate::tensor::Tensor;

/// The mean image and the eigenvectors (one per column) of the three axis covariances of a
/// data set `[n, C, H, W]`.
#[derive(Clone, Debug)]
pub(crate) struct AxisEigenbases {
    /// The image shape.
    pub shape: ImageShape,
    /// The mean image, `C H W` values.
    pub mean: Vec<f64>,
    /// `C x C`: eigenvectors of the covariance between channels, over pixels and images.
    pub channels: Matrix,
    /// `H x H`: eigenvectors of the covariance between rows, over columns, channels, images.
    pub rows: Matrix,
    /// `W x W`: eigenvectors of the covariance between columns, over rows, channels, images.
    pub columns: Matrix,
}

/// The axis eigenbases of `train` (`[n, C, H, W]`, n >= 2): the products of the centered
/// images are computed on the backend in batches of `batch_size` and decomposed in f64 on the
/// host. Cost: `n d (C + H + W)` multiply-adds.
pub(crate) fn fit_axis_eigenbases<B: Backend, T: Float>(
    op: &'static str,
    train: &Tensor<B, T>,
    batch_size: usize,
) -> Result<AxisEigenbases> {
    check_batch(op, batch_size)?;
    let (n, shape) = ImageShape::of_data(op, train)?;
    if n < 2 {
        return Err(Error::invalid(
            op,
            format!("a covariance needs at least 2 images, got {n}"),
        ));
    }
    let [c, h, w] = shape.dims();
    let d = shape.dim();
    no_grad(|| {
        let mean = data_mean(train, n, d, batch_size)?;
        let mean_t = Tensor::<B, T>::from_f64(train.backend(), &mean, [d])?;
        let mut sums = [vec![0.0; c * c], vec![0.0; h * h], vec![0.0; w * w]];
        for start in (0..n).step_by(batch_size) {
            let b = batch_size.min(n - start);
            let x = rows(train, start, b, d)?.sub(&mean_t)?;
            let by_channel = x.reshape([b, c, h * w])?;
            let by_row = x.reshape([b * c, h, w])?;
            let by_column = x.reshape([b * c * h, w])?;
            let products = [
                by_channel
                    .matmul_t(&by_channel, false, true)?
                    .sum(&[0], false)?,
                by_row.matmul_t(&by_row, false, true)?.sum(&[0], false)?,
                by_column.matmul_t(&by_column, true, false)?,
            ];
            for (sum, product) in sums.iter_mut().zip(&products) {
                let values = product.to_f64_vec()?;
                sum.iter_mut().zip(&values).for_each(|(a, v)| *a += v);
            }
        }
        let [channels, rows, columns] = sums;
        Ok(AxisEigenbases {
            shape,
            mean,
            channels: eigenvectors(c, channels)?,
            rows: eigenvectors(h, rows)?,
            columns: eigenvectors(w, columns)?,
        })
    })
}

/// The eigenvectors of the symmetric part of the `k x k` matrix `values`.
fn eigenvectors(k: usize, values: Vec<f64>) -> Result<Matrix> {
    let mut m = Matrix::from_vec(k, k, values)?;
    for i in 0..k {
        for j in 0..i {
            let v = 0.5 * (m[(i, j)] + m[(j, i)]);
            m[(i, j)] = v;
            m[(j, i)] = v;
        }
    }
    Ok(symmetric_eigen(&m)?.vectors)
}
