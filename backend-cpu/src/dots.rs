//! `A B^T` in f32 for a few rows of `A` (a linear layer applied to a small batch: the time
//! embedding's layers, the normalizations' time gains), on CPUs with AVX2 and FMA.
//!
//! Both operands are read as they are stored: each output is the dot product of a row of `A`
//! and a row of `B`, both contiguous, so nothing is packed (the GEMM packs the whole of `B`,
//! which costs as much as the products when `A` has 16 rows). A register tile holds 4 rows of
//! `A` by 3 rows of `B` as 12 vectors of 8 partial sums over `k`; each sum's lanes are added in
//! a fixed order and the last `k mod 8` terms after them, so results depend on the shapes
//! alone.

use crate::simd::{LANES, ZERO, lane_sum};
use std::arch::x86_64::{_mm256_fmadd_ps, _mm256_loadu_ps};

/// Rows of `A` per register tile.
const MR: usize = 4;
/// Rows of `B` (output columns) per register tile.
const NR: usize = 3;
/// The most rows of `A` this path takes: beyond, the GEMM's packing pays for itself.
const MAX_ROWS: usize = 64;

/// Whether an `[m, k] x [n, k]^T` product takes this path.
pub(crate) fn suits(m: usize, k: usize, n: usize) -> bool {
    m > 0
        && m <= MAX_ROWS
        && n > 0
        && k >= LANES
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
}

/// `out = a b^T` with `a` `[m, k]`, `b` `[n, k]` and `out` `[m, n]`, row-major, for a shape
/// that [`suits`] this path.
pub(crate) fn matmul_nt(a: &[f32], b: &[f32], [m, k, n]: [usize; 3], out: &mut [f32]) {
    assert!(
        suits(m, k, n),
        "dots::matmul_nt: unsuitable shape {m}x{k}x{n}"
    );
    assert!(a.len() >= m * k && b.len() >= n * k && out.len() == m * n);
    // SAFETY: `suits` checked that the CPU has AVX2 and FMA.
    unsafe { matmul_nt_avx2_fma(a, b, [m, k, n], out) };
}

/// See [`matmul_nt`].
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `a`, `b` and `out` hold their shapes.
#[target_feature(enable = "avx2,fma")]
unsafe fn matmul_nt_avx2_fma(a: &[f32], b: &[f32], [m, k, n]: [usize; 3], out: &mut [f32]) {
    let whole = k / LANES * LANES;
    for i0 in (0..m).step_by(MR) {
        // The last tile repeats its last row (and column) where they run out.
        let rows: [usize; MR] = std::array::from_fn(|r| (i0 + r).min(m - 1));
        for j0 in (0..n).step_by(NR) {
            let cols: [usize; NR] = std::array::from_fn(|c| (j0 + c).min(n - 1));
            let mut acc = [[ZERO; NR]; MR];
            for kk in (0..whole).step_by(LANES) {
                // SAFETY: `row k + kk + 8 <= row k + whole <= (row + 1) k` for every row of
                // `a` and `b` read. 12 sums, 3 rows of `b` and one of `a`: 16 registers.
                unsafe {
                    let bv = cols.map(|j| _mm256_loadu_ps(b.as_ptr().add(j * k + kk)));
                    for (acc, &i) in acc.iter_mut().zip(&rows) {
                        let av = _mm256_loadu_ps(a.as_ptr().add(i * k + kk));
                        for (acc, &bv) in acc.iter_mut().zip(&bv) {
                            *acc = _mm256_fmadd_ps(av, bv, *acc);
                        }
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate().take(m - i0) {
                let (i, a_row) = (i0 + r, &a[(i0 + r) * k..][..k]);
                for (c, &v) in acc.iter().enumerate().take(n - j0) {
                    let b_row = &b[(j0 + c) * k..][..k];
                    // SAFETY: the caller's CPU has AVX2 and FMA.
                    let mut sum = unsafe { lane_sum(v) };
                    for (&x, &y) in a_row[whole..].iter().zip(&b_row[whole..]) {
                        sum = x.mul_add(y, sum);
                    }
                    out[i * n + j0 + c] = sum;
                }
            }
        }
    }
}
