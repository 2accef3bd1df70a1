//! The symmetric eigendecomposition: Householder reduction to tridiagonal form, then the
//! implicit QL iteration with shifts (the EISPACK routines `tred2` and `tql2`, as in Wilkinson
//! and Reinsch's Handbook and the public-domain JAMA library).
//!
//! The orthogonal factor is held transposed while it is built (its columns are rows of a
//! row-major buffer), so that every inner loop, the Givens rotations of the QL sweeps included,
//! runs over contiguous memory.

use super::matrix::{Matrix, dot};
use crate::error::{Error, Result};

/// The eigendecomposition `A = V diag(values) V^T` of a symmetric matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct SymmetricEigen {
    /// The eigenvalues, in ascending order.
    pub values: Vec<f64>,
    /// The orthonormal eigenvectors as the columns of `V` (column `k` belongs to `values[k]`).
    pub vectors: Matrix,
}

impl SymmetricEigen {
    /// The order of the matrix.
    pub fn dim(&self) -> usize {
        self.values.len()
    }

    /// Eigenvector `k` (column `k` of `V`), copied.
    pub fn eigenvector(&self, k: usize) -> Vec<f64> {
        self.vectors.column(k)
    }

    /// `V diag(values) V^T`, the matrix that was decomposed (up to rounding).
    pub fn reconstruct(&self) -> Matrix {
        self.map_values(|l| l)
    }

    /// `V diag(f(values)) V^T`: a function of the matrix (its square root, inverse, ...).
    pub fn map_values(&self, f: impl Fn(f64) -> f64) -> Matrix {
        let n = self.dim();
        let fv: Vec<f64> = self.values.iter().map(|&l| f(l)).collect();
        // Rows of V^T scaled by f(l): then entry (i, j) is the dot product of rows i and j of
        // V scaled on one side.
        let vt = self.vectors.transpose();
        let mut scaled = vt.clone();
        for (k, &s) in fv.iter().enumerate() {
            for v in scaled.row_mut(k) {
                *v *= s;
            }
        }
        // (V diag V^T)_{ij} = sum_k V_ik f_k V_jk: with W = V^T, sum_k W_ki f_k W_kj.
        let mut out = Matrix::zeros(n, n);
        for k in 0..n {
            let w = vt.row(k);
            let ws = scaled.row(k);
            for (i, &a) in ws.iter().enumerate() {
                if a != 0.0 {
                    super::matrix::axpy(a, w, out.row_mut(i));
                }
            }
        }
        out
    }
}

/// The eigendecomposition of a symmetric matrix, eigenvalues ascending.
///
/// Only the lower triangle is read; a matrix whose two triangles differ by more than
/// `1e-8 * max |a_ij|` is rejected as not symmetric (a sign of a bug in the caller).
/// Cost: about 9 n^3 floating-point operations with the eigenvectors (1e10 for n = 1024).
///
/// ```
/// use dualscore_core::linalg::{Matrix, symmetric_eigen};
/// # fn main() -> dualscore_core::Result<()> {
/// let a = Matrix::from_vec(2, 2, vec![2.0, 1.0, 1.0, 2.0])?;
/// let eig = symmetric_eigen(&a)?;
/// assert!((eig.values[0] - 1.0).abs() < 1e-14);
/// assert!(eig.reconstruct().max_abs_diff(&a) < 1e-14);
/// # Ok(()) }
/// ```
pub fn symmetric_eigen(a: &Matrix) -> Result<SymmetricEigen> {
    const OP: &str = "symmetric_eigen";
    if !a.is_square() {
        return Err(Error::invalid(
            OP,
            format!("a {} x {} matrix is not square", a.rows(), a.cols()),
        ));
    }
    let n = a.rows();
    if a.as_slice().iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(OP, "the matrix has a non-finite entry"));
    }
    let scale = a.max_abs();
    for i in 0..n {
        for j in 0..i {
            if (a[(i, j)] - a[(j, i)]).abs() > 1e-8 * scale {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "the matrix is not symmetric: entries ({i}, {j}) and ({j}, {i}) are {} and {}",
                        a[(i, j)],
                        a[(j, i)]
                    ),
                ));
            }
        }
    }
    if n == 0 {
        return Ok(SymmetricEigen {
            values: Vec::new(),
            vectors: Matrix::zeros(0, 0),
        });
    }
    // w = V^T, where V is the working matrix of tred2/tql2 and starts as A. Reading the lower
    // triangle of V (entries V[k][j], k >= j) is reading w[j][k].
    let mut w = a.transpose().into_vec();
    let mut d = vec![0.0; n];
    let mut e = vec![0.0; n];
    tred2(n, &mut w, &mut d, &mut e);
    tql2(n, &mut w, &mut d, &mut e)?;
    // Sort ascending, moving the eigenvectors (rows of w) with their values.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| d[i].total_cmp(&d[j]));
    let values: Vec<f64> = order.iter().map(|&i| d[i]).collect();
    let mut vectors = Matrix::zeros(n, n);
    for (col, &k) in order.iter().enumerate() {
        let row = &w[k * n..(k + 1) * n];
        for (i, &v) in row.iter().enumerate() {
            vectors[(i, col)] = v;
        }
    }
    Ok(SymmetricEigen { values, vectors })
}

/// Householder reduction of the symmetric matrix held (transposed) in `w` to tridiagonal form:
/// on return `d` holds the diagonal, `e[1..]` the subdiagonal, and `w` the transpose of the
/// orthogonal transformation.
fn tred2(n: usize, w: &mut [f64], d: &mut [f64], e: &mut [f64]) {
    let at = |j: usize, k: usize| j * n + k;
    for j in 0..n {
        d[j] = w[at(j, n - 1)];
    }
    for i in (1..n).rev() {
        let mut h = 0.0;
        let scale: f64 = d[..i].iter().map(|v| v.abs()).sum();
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = w[at(j, i - 1)];
                w[at(j, i)] = 0.0;
                w[at(i, j)] = 0.0;
            }
        } else {
            // Generate the Householder vector.
            for v in &mut d[..i] {
                *v /= scale;
                h += *v * *v;
            }
            let mut f = d[i - 1];
            let mut g = h.sqrt();
            if f > 0.0 {
                g = -g;
            }
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            for v in &mut e[..i] {
                *v = 0.0;
            }
            // Apply the similarity transformation to the remaining columns.
            for j in 0..i {
                f = d[j];
                w[at(i, j)] = f;
                let row = &w[at(j, j + 1)..at(j, i)];
                g = e[j] + w[at(j, j)] * f + dot(row, &d[j + 1..i]);
                for (ek, &v) in e[j + 1..i].iter_mut().zip(row) {
                    *ek += v * f;
                }
                e[j] = g;
            }
            f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let (f, g) = (d[j], e[j]);
                let row = &mut w[at(j, j)..at(j, i)];
                for ((v, &ek), &dk) in row.iter_mut().zip(&e[j..i]).zip(&d[j..i]) {
                    *v -= f * ek + g * dk;
                }
                d[j] = w[at(j, i - 1)];
                w[at(j, i)] = 0.0;
            }
        }
        d[i] = h;
    }
    // Accumulate the transformations.
    let mut u = vec![0.0; n];
    for i in 0..n - 1 {
        w[at(i, n - 1)] = w[at(i, i)];
        w[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            u[..=i].copy_from_slice(&w[at(i + 1, 0)..=at(i + 1, i)]);
            for k in 0..=i {
                d[k] = u[k] / h;
            }
            for j in 0..=i {
                let row = &mut w[at(j, 0)..=at(j, i)];
                let g = dot(&u[..=i], row);
                for (v, &dk) in row.iter_mut().zip(&d[..=i]) {
                    *v -= g * dk;
                }
            }
        }
        for k in 0..=i {
            w[at(i + 1, k)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = w[at(j, n - 1)];
        w[at(j, n - 1)] = 0.0;
    }
    w[at(n - 1, n - 1)] = 1.0;
    e[0] = 0.0;
}

/// The implicit QL iteration on the tridiagonal matrix (`d`, `e`), accumulating the rotations
/// into the rows of `w`. On return `d` holds the eigenvalues (unsorted) and row `k` of `w` the
/// eigenvector of `d[k]`.
fn tql2(n: usize, w: &mut [f64], d: &mut [f64], e: &mut [f64]) -> Result<()> {
    /// Iterations allowed per eigenvalue; two or three are typical.
    const MAX_ITERATIONS: usize = 60;
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0.0;
    let mut tst1: f64 = 0.0;
    let eps = f64::EPSILON;
    for l in 0..n {
        // Find a small subdiagonal element.
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > eps * tst1 {
            m += 1;
        }
        // If m == l, d[l] is already an eigenvalue; otherwise iterate.
        if m > l {
            let mut iterations = 0;
            loop {
                iterations += 1;
                if iterations > MAX_ITERATIONS {
                    return Err(Error::invalid(
                        "symmetric_eigen",
                        format!(
                            "the QL iteration did not converge for eigenvalue {l} in {MAX_ITERATIONS} iterations"
                        ),
                    ));
                }
                // Compute the implicit shift.
                let mut g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for v in &mut d[l + 2..n] {
                    *v -= h;
                }
                f += h;
                // Implicit QL transformation.
                p = d[m];
                let mut c = 1.0;
                let mut c2 = c;
                let mut c3 = c;
                let el1 = e[l + 1];
                let mut s = 0.0;
                let mut s2 = 0.0;
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    // Accumulate the rotation into eigenvector rows i and i + 1.
                    let (head, tail) = w.split_at_mut((i + 1) * n);
                    let wi = &mut head[i * n..];
                    let wi1 = &mut tail[..n];
                    for (a, b) in wi.iter_mut().zip(wi1.iter_mut()) {
                        let hk = *b;
                        *b = s * *a + c * hk;
                        *a = c * *a - s * hk;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                // Check for convergence.
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
    Ok(())
}
