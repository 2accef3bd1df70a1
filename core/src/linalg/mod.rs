//! Dense linear algebra on the host, in f64: a row-major [`Matrix`], the symmetric
//! eigendecomposition ([`symmetric_eigen`]), the Cholesky factorization with its log-determinant
//! ([`cholesky`]), sample mean and covariance of a data set given as rows ([`mean_covariance`]),
//! and a small two-dimensional discrete Fourier transform with the real Fourier basis of a
//! periodic grid ([`fourier`]).
//!
//! These run once per model or data set (a covariance, a normalization constant, an analytic
//! energy's eigenbasis), never inside a training step, so they live on the host rather than on
//! a backend. The algorithms are the textbook ones (Householder tridiagonalization followed by
//! the implicit QL iteration; the Cholesky-Banachiewicz order), written so that every inner loop
//! runs over contiguous memory.
//!
//! ```
//! use dualscore_core::linalg::{Matrix, cholesky, symmetric_eigen};
//! # fn main() -> dualscore_core::Result<()> {
//! let a = Matrix::from_vec(2, 2, vec![2.0, 1.0, 1.0, 2.0])?;
//! let eig = symmetric_eigen(&a)?;
//! assert!((eig.values[0] - 1.0).abs() < 1e-14 && (eig.values[1] - 3.0).abs() < 1e-14);
//! assert!((cholesky(&a)?.log_det() - 3f64.ln()).abs() < 1e-14);
//! # Ok(()) }
//! ```

mod cholesky;
mod eigen;
pub mod fourier;
mod matrix;
mod stats;

pub use cholesky::{Cholesky, cholesky};
pub use eigen::{SymmetricEigen, symmetric_eigen};
pub use matrix::Matrix;
pub use stats::{MeanCovariance, mean_covariance};
