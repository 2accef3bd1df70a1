//! Batched matrix products on the GEMM of [`crate::gemm`].
//!
//! The work is a flat list of single-threaded GEMMs, never a parallel GEMM inside a parallel
//! loop: small products are one task per batch entry (parallel over the batch); a large
//! product is split into blocks of output rows (disjoint, contiguous pieces of the output; at
//! most [`ROW_BLOCK`] rows, fewer for short matrices so that there are several blocks), or,
//! when it has few rows, into blocks of [`COL_BLOCK`] columns computed into scratch and copied
//! out. Block sizes follow from the shapes alone, so the partition, and the result, do not
//! depend on the number of threads. (The GEMM's result for an element does not depend on the
//! split at all, see [`crate::gemm`]: blocks only change which thread computes it.)

use crate::gemm::{Mat, MatMut, gemm};
use crate::{Cpu, par, zeroed};
use dualscore_core::backend::MatmulSpec;
use dualscore_core::{Float, Result};

/// Multiply-adds from which one product is split into blocks.
pub(crate) const LARGE: usize = 1 << 21;
/// Output rows per block of a large product (at most): each block repacks the right operand,
/// so larger blocks are cheaper, as long as there are enough of them.
pub(crate) const ROW_BLOCK: usize = 256;
/// The fewest rows in a block.
const MIN_ROW_BLOCK: usize = 64;
/// Output columns per block of a large product with few rows.
pub(crate) const COL_BLOCK: usize = 256;
/// Multiply-adds below which a whole call runs on the calling thread.
const SERIAL: usize = 1 << 16;

/// `out[b] = op(lhs[b]) op(rhs[b])`, see [`MatmulSpec`]; the call has passed
/// [`validate::matmul`](dualscore_core::backend::validate::matmul).
pub(crate) fn matmul<T: Float>(
    cpu: &Cpu,
    lhs: &[T],
    rhs: &[T],
    spec: &MatmulSpec,
) -> Result<Vec<T>> {
    let mut out = zeroed::<T>(spec.out_len())?;
    if out.is_empty() {
        return Ok(out);
    }
    let &MatmulSpec {
        batch,
        m,
        k,
        n,
        transpose_lhs,
        transpose_rhs,
        lhs_batched,
        rhs_batched,
    } = spec;
    let a_of = |b: usize| -> Mat<'_, T> {
        let base = if lhs_batched { b * m * k } else { 0 };
        let data = &lhs[base..base + m * k];
        if transpose_lhs {
            Mat::rows(data, k, m).t()
        } else {
            Mat::rows(data, m, k)
        }
    };
    let b_of = |b: usize| -> Mat<'_, T> {
        let base = if rhs_batched { b * k * n } else { 0 };
        let data = &rhs[base..base + k * n];
        if transpose_rhs {
            Mat::rows(data, n, k).t()
        } else {
            Mat::rows(data, k, n)
        }
    };
    let macs = m.saturating_mul(k).saturating_mul(n);
    let total = macs.saturating_mul(batch);
    let parallel = total >= SERIAL;
    // Rows per block: up to ROW_BLOCK, a multiple of MIN_ROW_BLOCK, about a quarter of `m`.
    let rb = (m / 4)
        .div_ceil(MIN_ROW_BLOCK)
        .clamp(1, ROW_BLOCK / MIN_ROW_BLOCK)
        * MIN_ROW_BLOCK;
    if macs < LARGE || (m < 2 * MIN_ROW_BLOCK && n < 2 * COL_BLOCK) {
        // One task per batch entry.
        let lens = vec![m * n; batch];
        par::pieces_mut(cpu, &mut out, &lens, parallel, |b, piece| {
            if !by_dots(lhs, rhs, spec, b, piece) {
                gemm(a_of(b), b_of(b), MatMut::rows(piece, m, n), false);
            }
        });
    } else if m >= 2 * MIN_ROW_BLOCK {
        // Blocks of rows: contiguous pieces of the output.
        let blocks = m.div_ceil(rb);
        let mut lens = Vec::with_capacity(batch * blocks);
        for _ in 0..batch {
            for r in 0..blocks {
                lens.push(rb.min(m - r * rb) * n);
            }
        }
        par::pieces_mut(cpu, &mut out, &lens, parallel, |t, piece| {
            let (b, r) = (t / blocks, t % blocks);
            let rows = piece.len() / n;
            let a = a_of(b).row_range(r * rb, rows);
            gemm(a, b_of(b), MatMut::rows(piece, rows, n), false);
        });
    } else {
        // Few rows, many columns: blocks of columns into scratch, then copied out.
        let blocks = n.div_ceil(COL_BLOCK);
        let parts = par::map_range(cpu, batch * blocks, parallel, |t| {
            let (b, c) = (t / blocks, t % blocks);
            let cols = COL_BLOCK.min(n - c * COL_BLOCK);
            let mut part = vec![T::zero(); m * cols];
            let bm = b_of(b).col_range(c * COL_BLOCK, cols);
            gemm(a_of(b), bm, MatMut::rows(&mut part, m, cols), false);
            part
        });
        for (t, part) in parts.iter().enumerate() {
            let (b, c) = (t / blocks, t % blocks);
            let cols = COL_BLOCK.min(n - c * COL_BLOCK);
            for i in 0..m {
                let at = (b * m + i) * n + c * COL_BLOCK;
                out[at..at + cols].copy_from_slice(&part[i * cols..(i + 1) * cols]);
            }
        }
    }
    Ok(out)
}

/// [`dots::matmul_nt`](crate::dots::matmul_nt) of batch entry `b` into `out` when it takes
/// the product (f32, `A B^T` with few rows of `A`); `false` otherwise.
#[allow(unused_variables)]
fn by_dots<T: Float>(lhs: &[T], rhs: &[T], spec: &MatmulSpec, b: usize, out: &mut [T]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::{as_f32, as_f32_mut, dots};
        let &MatmulSpec { m, k, n, .. } = spec;
        if spec.transpose_lhs || !spec.transpose_rhs || !dots::suits(m, k, n) {
            return false;
        }
        let a = &lhs[if spec.lhs_batched { b * m * k } else { 0 }..][..m * k];
        let r = &rhs[if spec.rhs_batched { b * k * n } else { 0 }..][..k * n];
        if let (Some(a), Some(r), Some(out)) = (as_f32(a), as_f32(r), as_f32_mut(out)) {
            dots::matmul_nt(a, r, [m, k, n], out);
            return true;
        }
    }
    false
}

impl<'a, T> Mat<'a, T> {
    /// Rows `start..start + rows`.
    pub(crate) fn row_range(self, start: usize, rows: usize) -> Self {
        let data = if rows == 0 || self.cols == 0 {
            &self.data[..0]
        } else {
            &self.data[start * self.rs..]
        };
        Mat { data, rows, ..self }
    }

    /// Columns `start..start + cols`.
    pub(crate) fn col_range(self, start: usize, cols: usize) -> Self {
        let data = if cols == 0 || self.rows == 0 {
            &self.data[..0]
        } else {
            &self.data[start * self.cs..]
        };
        Mat { data, cols, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{buf, cpu, reference_close};
    use dualscore_core::Backend;
    use dualscore_core::backend::reference::Reference;

    fn data(n: usize, seed: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + seed) * 0.377).sin()).collect()
    }

    #[test]
    fn every_layout_and_split_matches_the_reference() {
        let cpu = cpu(2);
        let sizes = [
            (3, 2, 3, 4),
            (2, 0, 5, 3),
            (2, 4, 0, 3),
            (1, 300, 40, 200), // row blocks
            (2, 20, 300, 600), // column blocks
            (1, 7, 1, 9),
        ];
        for (batch, m, k, n) in sizes {
            for flags in 0..16u8 {
                let spec = MatmulSpec {
                    batch,
                    m,
                    k,
                    n,
                    transpose_lhs: flags & 1 != 0,
                    transpose_rhs: flags & 2 != 0,
                    lhs_batched: flags & 4 != 0,
                    rhs_batched: flags & 8 != 0,
                };
                let (a, b) = (data(spec.lhs_len(), 0.0), data(spec.rhs_len(), 1.0));
                let got = cpu.matmul(&buf(&a), &buf(&b), &spec).unwrap();
                let want = Reference.matmul(&a, &b, &spec).unwrap();
                reference_close("matmul", &got, &want, 1e-12);
            }
        }
    }

    #[test]
    fn bad_specs_are_errors() {
        let cpu = cpu(1);
        let x = buf(&[1.0f32; 4]);
        assert!(
            cpu.matmul(&x, &x, &MatmulSpec::batched(1, 2, 3, 2))
                .is_err()
        );
        let huge = MatmulSpec::batched(usize::MAX, 2, 2, 2);
        assert!(cpu.matmul(&x, &x, &huge).is_err());
    }
}
