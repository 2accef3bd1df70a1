//! Sample mean and covariance of a data set given as rows.

use super::matrix::{Matrix, dot};
use crate::error::{Error, Result};

/// The sample mean and the unbiased sample covariance of a data set.
#[derive(Clone, Debug, PartialEq)]
pub struct MeanCovariance {
    /// The mean of the rows, length `dim`.
    pub mean: Vec<f64>,
    /// `1/(n - 1) sum_i (x_i - mean)(x_i - mean)^T`, `dim x dim`.
    pub covariance: Matrix,
    /// The number of rows `n`.
    pub count: usize,
}

/// The mean and unbiased covariance (divided by n - 1) of `n = rows.len() / dim` rows of
/// length `dim`, stored one after another. Two passes (the mean, then the centered products),
/// with the products accumulated over blocks of rows so that the covariance is swept once per
/// block. Needs at least two rows. Cost: n dim^2 floating-point operations.
///
/// ```
/// use dualscore_core::linalg::mean_covariance;
/// # fn main() -> dualscore_core::Result<()> {
/// let mc = mean_covariance(&[0.0, 0.0, 2.0, 2.0, 4.0, -2.0], 2)?;
/// assert_eq!(mc.mean, vec![2.0, 0.0]);
/// assert_eq!(mc.covariance.as_slice(), &[4.0, -2.0, -2.0, 4.0]);
/// # Ok(()) }
/// ```
pub fn mean_covariance(rows: &[f64], dim: usize) -> Result<MeanCovariance> {
    const OP: &str = "mean_covariance";
    if dim == 0 || rows.len() % dim != 0 {
        return Err(Error::invalid(
            OP,
            format!("{} values are not rows of length {dim}", rows.len()),
        ));
    }
    let n = rows.len() / dim;
    if n < 2 {
        return Err(Error::invalid(
            OP,
            format!("a covariance needs at least 2 rows, got {n}"),
        ));
    }
    let mut mean = vec![0.0; dim];
    for row in rows.chunks_exact(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    // Centered rows of a block, transposed: column j of the block is a contiguous run, so that
    // each covariance entry gets one dot product per block.
    const BLOCK: usize = 64;
    let mut cov = Matrix::zeros(dim, dim);
    let mut centered_t = vec![0.0; dim * BLOCK];
    for block in rows.chunks(dim * BLOCK) {
        let b = block.len() / dim;
        for (r, row) in block.chunks_exact(dim).enumerate() {
            for j in 0..dim {
                centered_t[j * BLOCK + r] = row[j] - mean[j];
            }
        }
        for i in 0..dim {
            let ci = &centered_t[i * BLOCK..i * BLOCK + b];
            let cov_row = cov.row_mut(i);
            for (j, c) in cov_row.iter_mut().enumerate().take(i + 1) {
                *c += dot(ci, &centered_t[j * BLOCK..j * BLOCK + b]);
            }
        }
    }
    let denom = (n - 1) as f64;
    for i in 0..dim {
        for j in 0..=i {
            let v = cov[(i, j)] / denom;
            cov[(i, j)] = v;
            cov[(j, i)] = v;
        }
    }
    Ok(MeanCovariance {
        mean,
        covariance: cov,
        count: n,
    })
}
