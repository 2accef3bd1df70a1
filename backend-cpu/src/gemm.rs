//! The one place that calls `matrixmultiply`: a safe, single-threaded GEMM on strided slices.
//!
//! `matrixmultiply` is built without its `threading` feature; parallelism is the callers'
//! business (over the backend's own pool). Its result for one output element depends only on
//! the contraction length (it sums in blocks of `kc` along k, in order), not on the position of
//! the element or on how the output is split, so splitting a product over rows or columns
//! never changes its bits.

use dualscore_core::{DType, Float};

/// A read-only strided matrix: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mat<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

/// A writable strided matrix: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug)]
pub(crate) struct MatMut<'a, T> {
    pub(crate) data: &'a mut [T],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A row-major `rows x cols` matrix at the start of `data`.
    pub(crate) fn rows(data: &'a [T], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The same elements read transposed.
    pub(crate) fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

impl<'a, T> MatMut<'a, T> {
    /// A row-major `rows x cols` matrix at the start of `data`.
    pub(crate) fn rows(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        MatMut {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
}

/// The largest offset a strided view reaches, or `None` when it is empty.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return None;
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)));
    Some(last.expect("gemm: view extent overflows"))
}

fn check_view(what: &str, len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    if let Some(last) = extent(rows, cols, rs, cs) {
        assert!(
            last < len,
            "gemm: {what} view {rows}x{cols} (strides {rs}, {cs}) reaches {last}, beyond {len}"
        );
        assert!(
            rs <= isize::MAX as usize && cs <= isize::MAX as usize,
            "gemm: {what} strides overflow isize"
        );
    }
}

/// `c = a b`, or `c += a b` when `accumulate`, single-threaded.
///
/// Panics (an internal error, never reachable from a kernel's arguments) when the dimensions do
/// not agree or a view reaches beyond its slice.
pub(crate) fn gemm<T: Float>(a: Mat<'_, T>, b: Mat<'_, T>, c: MatMut<'_, T>, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && c.rows == m && c.cols == n,
        "gemm: dimensions {m}x{k} @ {}x{n} -> {}x{}",
        b.rows,
        c.rows,
        c.cols
    );
    check_view("lhs", a.data.len(), m, k, a.rs, a.cs);
    check_view("rhs", b.data.len(), k, n, b.rs, b.cs);
    check_view("out", c.data.len(), m, n, c.rs, c.cs);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    c.data[i * c.rs + j * c.cs] = T::zero();
                }
            }
        }
        return;
    }
    let beta = if accumulate { 1.0 } else { 0.0 };
    let (rsa, csa) = (a.rs as isize, a.cs as isize);
    let (rsb, csb) = (b.rs as isize, b.cs as isize);
    let (rsc, csc) = (c.rs as isize, c.cs as isize);
    match T::DTYPE {
        DType::F32 => {
            // SAFETY: `Float` is sealed to f32 and f64 and `T::DTYPE` names which, so here `T`
            // is f32 and the casts only rename the element type of the pointers. Every offset
            // the GEMM reads or writes is `i * rs + j * cs` for `i < rows`, `j < cols` of its
            // view, which `check_view` bounded by the slice's length (so the strides also fit
            // in isize). `c` is borrowed mutably and `a`, `b` shared, so `c` aliases neither,
            // and nothing else touches these slices during the call; k > 0, m > 0, n > 0.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    a.data.as_ptr().cast::<f32>(),
                    rsa,
                    csa,
                    b.data.as_ptr().cast::<f32>(),
                    rsb,
                    csb,
                    beta as f32,
                    c.data.as_mut_ptr().cast::<f32>(),
                    rsc,
                    csc,
                )
            }
        }
        DType::F64 => {
            // SAFETY: as above, with `T` = f64 (named by `T::DTYPE`, the trait being sealed).
            unsafe {
                matrixmultiply::dgemm(
                    m,
                    k,
                    n,
                    1.0,
                    a.data.as_ptr().cast::<f64>(),
                    rsa,
                    csa,
                    b.data.as_ptr().cast::<f64>(),
                    rsb,
                    csb,
                    beta,
                    c.data.as_mut_ptr().cast::<f64>(),
                    rsc,
                    csc,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_products_in_both_types() {
        // [[1, 2], [3, 4]] @ [[5, 6], [7, 8]] = [[19, 22], [43, 50]].
        let a = [1.0f32, 2.0, 3.0, 4.0];
        let b = [5.0f32, 6.0, 7.0, 8.0];
        let mut c = [0.0f32; 4];
        gemm(
            Mat::rows(&a, 2, 2),
            Mat::rows(&b, 2, 2),
            MatMut::rows(&mut c, 2, 2),
            false,
        );
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        gemm(
            Mat::rows(&a, 2, 2),
            Mat::rows(&b, 2, 2),
            MatMut::rows(&mut c, 2, 2),
            true,
        );
        assert_eq!(c, [38.0, 44.0, 86.0, 100.0]);
        // Transposed lhs, f64: A^T B with A = [[1, 2], [3, 4]].
        let a = [1.0f64, 2.0, 3.0, 4.0];
        let b = [5.0f64, 6.0, 7.0, 8.0];
        let mut c = [0.0f64; 4];
        gemm(
            Mat::rows(&a, 2, 2).t(),
            Mat::rows(&b, 2, 2),
            MatMut::rows(&mut c, 2, 2),
            false,
        );
        assert_eq!(c, [26.0, 30.0, 38.0, 44.0]);
        // k = 0 gives zeros.
        let mut c = [7.0f64; 4];
        gemm(
            Mat::rows(&[], 2, 0),
            Mat::rows(&[], 0, 2),
            MatMut::rows(&mut c, 2, 2),
            false,
        );
        assert_eq!(c, [0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "beyond")]
    fn views_beyond_the_slice_are_caught() {
        let a = [1.0f32; 3];
        let mut c = [0.0f32; 4];
        gemm(
            Mat::rows(&a, 2, 2),
            Mat::rows(&a, 2, 2),
            MatMut::rows(&mut c, 2, 2),
            false,
        );
    }
}
