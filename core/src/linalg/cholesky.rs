//! The Cholesky factorization A = L L^T of a symmetric positive definite matrix.

use super::matrix::{Matrix, dot};
use crate::error::{Error, Result};

/// The lower-triangular factor `L` of `A = L L^T`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cholesky {
    factor: Matrix,
}

/// The Cholesky factorization of a symmetric positive definite matrix (only the lower triangle
/// is read). An error when a pivot is not positive (the matrix is not positive definite to
/// working precision) or an entry is not finite. Cost: n^3 / 3 floating-point operations.
///
/// ```
/// use dualscore_core::linalg::{Matrix, cholesky};
/// # fn main() -> dualscore_core::Result<()> {
/// let a = Matrix::from_vec(2, 2, vec![4.0, 2.0, 2.0, 5.0])?;
/// let c = cholesky(&a)?;
/// assert_eq!(c.factor().as_slice(), &[2.0, 0.0, 1.0, 2.0]);
/// assert!((c.log_det() - 16f64.ln()).abs() < 1e-14);
/// assert!(cholesky(&Matrix::from_diagonal(&[1.0, -1.0])).is_err());
/// # Ok(()) }
/// ```
pub fn cholesky(a: &Matrix) -> Result<Cholesky> {
    const OP: &str = "cholesky";
    if !a.is_square() {
        return Err(Error::invalid(
            OP,
            format!("a {} x {} matrix is not square", a.rows(), a.cols()),
        ));
    }
    let n = a.rows();
    let mut l = Matrix::zeros(n, n);
    for i in 0..n {
        for j in 0..=i {
            let s = {
                let li = &l.as_slice()[i * n..i * n + j];
                let lj = &l.as_slice()[j * n..j * n + j];
                a[(i, j)] - dot(li, lj)
            };
            if !s.is_finite() {
                return Err(Error::invalid(
                    OP,
                    format!("a non-finite value at ({i}, {j})"),
                ));
            }
            if i == j {
                if s <= 0.0 {
                    return Err(Error::invalid(
                        OP,
                        format!("the matrix is not positive definite (pivot {i} is {s:e})"),
                    ));
                }
                l[(i, i)] = s.sqrt();
            } else {
                l[(i, j)] = s / l[(j, j)];
            }
        }
    }
    Ok(Cholesky { factor: l })
}

impl Cholesky {
    /// The order of the matrix.
    pub fn dim(&self) -> usize {
        self.factor.rows()
    }

    /// The lower-triangular factor `L`.
    pub fn factor(&self) -> &Matrix {
        &self.factor
    }

    /// ln det A = 2 sum_i ln L_ii.
    pub fn log_det(&self) -> f64 {
        2.0 * self.factor.diagonal().iter().map(|v| v.ln()).sum::<f64>()
    }

    /// `L^{-1} b` (forward substitution).
    pub fn solve_lower(&self, b: &[f64]) -> Result<Vec<f64>> {
        self.check_len("Cholesky::solve_lower", b.len())?;
        let n = self.dim();
        let mut x = b.to_vec();
        for i in 0..n {
            let row = self.factor.row(i);
            x[i] = (x[i] - dot(&row[..i], &x[..i])) / row[i];
        }
        Ok(x)
    }

    /// `A^{-1} b = L^{-T} L^{-1} b`.
    pub fn solve(&self, b: &[f64]) -> Result<Vec<f64>> {
        let mut x = self.solve_lower(b)?;
        let n = self.dim();
        for i in (0..n).rev() {
            x[i] /= self.factor[(i, i)];
            let xi = x[i];
            // Subtract column i of L^T (row i of L) from the unknowns above.
            for (xk, &lik) in x[..i].iter_mut().zip(&self.factor.row(i)[..i]) {
                *xk -= lik * xi;
            }
        }
        Ok(x)
    }

    /// b^T A^{-1} b = ||L^{-1} b||^2.
    pub fn quadratic_form(&self, b: &[f64]) -> Result<f64> {
        let x = self.solve_lower(b)?;
        Ok(dot(&x, &x))
    }

    /// The transpose of `L^{-1}` (upper triangular): row `j` is `L^{-1} e_j`. For a batch of
    /// rows `X`, `X (L^{-1})^T` whitens them: `||row||^2` is the quadratic form `x^T A^{-1} x`.
    /// Cost: n^3 / 3 floating-point operations.
    pub fn inverse_factor_transpose(&self) -> Matrix {
        let n = self.dim();
        let mut out = Matrix::zeros(n, n);
        for j in 0..n {
            let x = out.row_mut(j);
            for i in j..n {
                let row = self.factor.row(i);
                let rhs = if i == j { 1.0 } else { 0.0 };
                x[i] = (rhs - dot(&row[j..i], &x[j..i])) / row[i];
            }
        }
        out
    }

    fn check_len(&self, op: &'static str, len: usize) -> Result<()> {
        if len != self.dim() {
            return Err(Error::shapes(
                op,
                &[self.dim(), self.dim()],
                &[len],
                "the vector's length is not the matrix order",
            ));
        }
        Ok(())
    }
}
