//! Reductions over axes (keeping them as size-1 axes).
//!
//! Size-1 axes are dropped and neighbouring axes of the same kind (reduced or kept) merged, so
//! every reduction becomes one of two forms:
//!
//! - the innermost axis is reduced: each output folds contiguous rows (the fast path for
//!   reducing trailing axes, a single row for a full reduction);
//! - the innermost axis is kept: each output row accumulates contiguous input rows,
//!   elementwise.
//!
//! Sums add a row in fixed blocks of [`BLOCK`] elements, each summed in [`LANES`] interleaved
//! partial sums combined pairwise; the block sums are added in order. A long row is split over
//! threads at block boundaries, and partial results are always combined in a fixed order, so
//! results do not depend on the number of threads.

use crate::binary::{max_nan, min_nan};
use crate::par::{self, CHUNK};
use crate::{Cpu, filled, zeroed};
use dualscore_core::backend::ReduceOp;
use dualscore_core::backend::validate::Reduction;
use dualscore_core::{Float, Result, Shape};

/// Elements per block of a sum.
pub(crate) const BLOCK: usize = 2048;
/// Interleaved partial sums within a block.
const LANES: usize = 16;

/// Reduces the axes `checked.axes` of `x`; `checked` is from
/// [`validate::reduce`](dualscore_core::backend::validate::reduce).
pub(crate) fn reduce<T: Float>(
    cpu: &Cpu,
    op: ReduceOp,
    x: &[T],
    shape: &Shape,
    checked: &Reduction,
) -> Result<Vec<T>> {
    let (out_n, axes) = (checked.output.len, &checked.axes);
    let dims = shape.dims();
    if out_n == 0 {
        return zeroed::<T>(0);
    }
    if x.is_empty() {
        // An empty reduced axis (Max and Min reject it): the sum is 0, the mean 0 / 0.
        let v = if op == ReduceOp::Sum {
            T::zero()
        } else {
            T::nan()
        };
        return filled(out_n, v);
    }
    // Merge axes: (size, reduced), size-1 axes dropped.
    let mut groups: Vec<(usize, bool)> = Vec::new();
    for (a, &d) in dims.iter().enumerate() {
        if d == 1 {
            continue;
        }
        let red = axes.contains(&a);
        match groups.last_mut() {
            Some((gd, gr)) if *gr == red => *gd *= d,
            _ => groups.push((d, red)),
        }
    }
    let mut out = zeroed::<T>(out_n)?;
    if !groups.iter().any(|g| g.1) {
        // Nothing to fold: every output is one element (a mean divides by 1).
        out.copy_from_slice(x);
        return Ok(out);
    }
    let mut strides = vec![0usize; groups.len()];
    let mut acc = 1;
    for (s, g) in strides.iter_mut().zip(&groups).rev() {
        *s = acc;
        acc *= g.0;
    }
    let form = Form::new(&groups, &strides);
    match op {
        ReduceOp::Sum | ReduceOp::Mean => form.run(cpu, x, &mut out, |a, b| a + b, row_sum),
        ReduceOp::Max => form.run(cpu, x, &mut out, max_nan, row_max),
        ReduceOp::Min => form.run(cpu, x, &mut out, min_nan, row_min),
    }
    if op == ReduceOp::Mean {
        let count: f64 = axes.iter().map(|&a| dims[a] as f64).product();
        let count = T::of_f64(count);
        par::chunks_mut(cpu, &mut out, CHUNK, |_, piece| {
            for v in piece {
                *v = *v / count;
            }
        });
    }
    Ok(out)
}

/// A reduction after merging axes: kept and reduced axes (size, stride), outermost first, and
/// the innermost axis.
struct Form {
    kept: Vec<(usize, usize)>,
    reduced: Vec<(usize, usize)>,
    /// Length of the innermost axis (contiguous).
    inner: usize,
    /// Whether the innermost axis is reduced.
    inner_reduced: bool,
}

impl Form {
    fn new(groups: &[(usize, bool)], strides: &[usize]) -> Self {
        let last = groups.len() - 1;
        let (inner, inner_reduced) = groups[last];
        let mut kept = Vec::new();
        let mut reduced = Vec::new();
        for (g, &s) in groups[..last].iter().zip(strides) {
            if g.1 {
                reduced.push((g.0, s));
            } else {
                kept.push((g.0, s));
            }
        }
        Form {
            kept,
            reduced,
            inner,
            inner_reduced,
        }
    }

    fn run<T: Float>(
        &self,
        cpu: &Cpu,
        x: &[T],
        out: &mut [T],
        combine: impl Fn(T, T) -> T + Sync + Send + Copy,
        fold: impl Fn(&[T]) -> T + Sync + Send + Copy,
    ) {
        if self.inner_reduced {
            self.rows_reduced(cpu, x, out, combine, fold);
        } else {
            self.rows_kept(cpu, x, out, combine);
        }
    }

    /// The innermost axis is reduced: output `o` folds the rows at every reduced outer index.
    fn rows_reduced<T: Float>(
        &self,
        cpu: &Cpu,
        x: &[T],
        out: &mut [T],
        combine: impl Fn(T, T) -> T + Sync + Send + Copy,
        fold: impl Fn(&[T]) -> T + Sync + Send + Copy,
    ) {
        let len = self.inner;
        if out.len() == 1 && self.reduced.is_empty() {
            // A single contiguous row: block results in parallel, combined in order.
            out[0] = fold_long_row(cpu, x, combine, fold);
            return;
        }
        let per_output = x.len() / out.len();
        let outputs_per_piece = (CHUNK / per_output.max(1)).max(1);
        let red_offsets = offsets(&self.reduced);
        par::chunks_mut(cpu, out, outputs_per_piece, |pi, piece| {
            let first = pi * outputs_per_piece;
            for (i, o) in piece.iter_mut().enumerate() {
                let base = unravel_offset(first + i, &self.kept);
                let mut acc: Option<T> = None;
                for &r in &red_offsets {
                    let start = base + r;
                    let v = fold(&x[start..start + len]);
                    acc = Some(acc.map_or(v, |a| combine(a, v)));
                }
                *o = acc.unwrap_or_else(T::zero);
            }
        });
    }

    /// The innermost axis is kept: output row `o` accumulates, elementwise, the input rows at
    /// every reduced index.
    fn rows_kept<T: Float>(
        &self,
        cpu: &Cpu,
        x: &[T],
        out: &mut [T],
        combine: impl Fn(T, T) -> T + Sync + Send + Copy,
    ) {
        let len = self.inner;
        let red_offsets = offsets(&self.reduced);
        let out_rows = out.len() / len;
        let r = red_offsets.len();
        // One output row, many short input rows: split the reduced rows into fixed blocks,
        // accumulate each block in parallel and combine the blocks in order.
        let rows_per_block = (CHUNK / len).max(1);
        if out_rows == 1 && len < CHUNK && r > 2 * rows_per_block {
            let blocks = r.div_ceil(rows_per_block);
            let partials = par::map_range(cpu, blocks, true, |b| {
                let rows = &red_offsets[b * rows_per_block..((b + 1) * rows_per_block).min(r)];
                let mut acc = x[rows[0]..rows[0] + len].to_vec();
                accumulate_rows(&mut acc, x, 0, &rows[1..], combine);
                acc
            });
            out.copy_from_slice(&partials[0]);
            for p in &partials[1..] {
                for (o, &v) in out.iter_mut().zip(p) {
                    *o = combine(*o, v);
                }
            }
            return;
        }
        // Otherwise pieces of output rows, or column blocks of long rows.
        let col_block = len.min(CHUNK);
        let blocks_per_row = len.div_ceil(col_block);
        let mut lens = Vec::with_capacity(out_rows * blocks_per_row);
        for _ in 0..out_rows {
            for b in 0..blocks_per_row {
                lens.push(col_block.min(len - b * col_block));
            }
        }
        let work = x.len() > CHUNK;
        par::pieces_mut(cpu, out, &lens, work, |pi, piece| {
            let (row, block) = (pi / blocks_per_row, pi % blocks_per_row);
            let base = unravel_offset(row, &self.kept) + block * col_block;
            let first = base + red_offsets[0];
            piece.copy_from_slice(&x[first..first + piece.len()]);
            accumulate_rows(piece, x, base, &red_offsets[1..], combine);
        });
    }
}

/// `acc[j] = combine(acc[j], x[base + start + j])` for each start in `starts`, in order.
fn accumulate_rows<T: Float>(
    acc: &mut [T],
    x: &[T],
    base: usize,
    starts: &[usize],
    combine: impl Fn(T, T) -> T + Copy,
) {
    let len = acc.len();
    for &s in starts {
        let s = base + s;
        for (a, &v) in acc.iter_mut().zip(&x[s..s + len]) {
            *a = combine(*a, v);
        }
    }
}

/// Offsets of every multi-index of `axes` (size, stride), in row-major order.
fn offsets(axes: &[(usize, usize)]) -> Vec<usize> {
    let mut offs = vec![0usize];
    for &(size, stride) in axes {
        let mut next = Vec::with_capacity(offs.len() * size);
        for &o in &offs {
            for i in 0..size {
                next.push(o + i * stride);
            }
        }
        offs = next;
    }
    offs
}

/// The offset of the `flat`-th multi-index (row-major) of `axes` (size, stride).
fn unravel_offset(flat: usize, axes: &[(usize, usize)]) -> usize {
    let mut rem = flat;
    let mut off = 0;
    for &(size, stride) in axes.iter().rev() {
        off += (rem % size) * stride;
        rem /= size;
    }
    off
}

/// Folds one long contiguous row: [`BLOCK`]-sized pieces in parallel, combined in order.
fn fold_long_row<T: Float>(
    cpu: &Cpu,
    x: &[T],
    combine: impl Fn(T, T) -> T + Sync + Send + Copy,
    fold: impl Fn(&[T]) -> T + Sync + Send + Copy,
) -> T {
    if x.len() <= BLOCK * 4 {
        return fold(x);
    }
    let blocks = x.len().div_ceil(BLOCK);
    let mut partial = vec![T::zero(); blocks];
    const BLOCKS_PER_PIECE: usize = 16;
    par::chunks_mut(cpu, &mut partial, BLOCKS_PER_PIECE, |pi, piece| {
        for (j, p) in piece.iter_mut().enumerate() {
            let b = pi * BLOCKS_PER_PIECE + j;
            *p = fold(&x[b * BLOCK..((b + 1) * BLOCK).min(x.len())]);
        }
    });
    partial[1..].iter().fold(partial[0], |a, &v| combine(a, v))
}

/// The sum of a row: its [`BLOCK`]s' sums added in order.
pub(crate) fn row_sum<T: Float>(x: &[T]) -> T {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = crate::as_f32(x).filter(|_| std::arch::is_x86_feature_detected!("avx2")) {
        // SAFETY: the CPU has AVX2, checked just above.
        let sum = unsafe { avx2::row_sum(x, |v| v, |v| v) };
        return T::of_f64(f64::from(sum));
    }
    row_sum_of(x, |v| v)
}

/// The sum of `f(v)` over a row, in the order of [`row_sum`]: the same result as `row_sum` of
/// the mapped row, without writing it.
#[inline(always)]
pub(crate) fn row_sum_of<T: Float>(x: &[T], f: impl Fn(T) -> T + Copy) -> T {
    // Plain loops, no closures of the standard library: everything inlines into a caller
    // compiled for wider vectors.
    let mut blocks = x.chunks(BLOCK);
    let mut sum = match blocks.next() {
        Some(block) => block_sum_of(block, f),
        None => T::zero(),
    };
    for block in blocks {
        sum = sum + block_sum_of(block, f);
    }
    sum
}

/// The sum of `f(v)` over at most a block: [`LANES`] interleaved sums, combined pairwise.
#[inline(always)]
fn block_sum_of<T: Float>(x: &[T], f: impl Fn(T) -> T) -> T {
    let mut acc = [T::zero(); LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for j in 0..LANES {
            acc[j] = acc[j] + f(c[j]);
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a = *a + f(v);
    }
    combine_lanes(acc)
}

/// The [`LANES`] interleaved sums of a block added pairwise: halves, then quarters, down to one.
#[inline(always)]
fn combine_lanes<T: Float>(mut acc: [T; LANES]) -> T {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for j in 0..width {
            acc[j] = acc[j] + acc[j + width];
        }
    }
    acc[0]
}

/// The sums of [`row_sum_of`] for f32 written out in 256-bit vectors, for CPUs with AVX2: the
/// same operations in the same order, so the same bits (the compiler vectorizes the generic
/// sums two lanes at a time).
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::{BLOCK, LANES};
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };

    /// [`row_sum_of`](crate::reduce::row_sum_of) with `f` as `vector` on whole vectors and
    /// `scalar` on the rest.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn row_sum(
        x: &[f32],
        vector: impl Fn(__m256) -> __m256 + Copy,
        scalar: impl Fn(f32) -> f32 + Copy,
    ) -> f32 {
        let mut blocks = x.chunks(BLOCK);
        // SAFETY: the caller's CPU has AVX2.
        unsafe {
            let mut sum = match blocks.next() {
                Some(block) => block_sum(block, vector, scalar),
                None => 0.0,
            };
            for block in blocks {
                sum += block_sum(block, vector, scalar);
            }
            sum
        }
    }

    /// `block_sum_of` of [`crate::reduce`]: 16 interleaved sums (two vectors), the rest into
    /// the first lanes, then combined pairwise.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn block_sum(
        x: &[f32],
        vector: impl Fn(__m256) -> __m256,
        scalar: impl Fn(f32) -> f32,
    ) -> f32 {
        let whole = x.len() / LANES * LANES;
        let mut acc = [0.0f32; LANES];
        // SAFETY: the caller's CPU has AVX2; `j + 16 <= whole <= x.len()`, and `acc` holds
        // two vectors.
        unsafe {
            let (mut low, mut high) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            for j in (0..whole).step_by(LANES) {
                low = _mm256_add_ps(low, vector(_mm256_loadu_ps(x.as_ptr().add(j))));
                high = _mm256_add_ps(high, vector(_mm256_loadu_ps(x.as_ptr().add(j + 8))));
            }
            _mm256_storeu_ps(acc.as_mut_ptr(), low);
            _mm256_storeu_ps(acc.as_mut_ptr().add(8), high);
        }
        for (a, &v) in acc.iter_mut().zip(&x[whole..]) {
            *a += scalar(v);
        }
        super::combine_lanes(acc)
    }
}

/// The largest element, NaN if any is NaN (the first of equal elements).
fn row_max<T: Float>(x: &[T]) -> T {
    let mut nan = false;
    let mut m = T::neg_infinity();
    for &v in x {
        nan |= v.is_nan();
        if v > m {
            m = v;
        }
    }
    if nan { T::nan() } else { m }
}

/// The smallest element, NaN if any is NaN.
fn row_min<T: Float>(x: &[T]) -> T {
    let mut nan = false;
    let mut m = T::infinity();
    for &v in x {
        nan |= v.is_nan();
        if v < m {
            m = v;
        }
    }
    if nan { T::nan() } else { m }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{buf, cpu, reference_close};
    use dualscore_core::Backend;
    use dualscore_core::backend::reference::Reference;

    #[test]
    fn every_form_matches_the_reference() {
        let cpu = cpu(3);
        let cases: [(&[usize], &[usize]); 12] = [
            (&[2, 3, 4], &[0, 2]),
            (&[2, 3, 4], &[1]),
            (&[2, 3, 4], &[]),
            (&[2, 3, 4], &[0, 1, 2]),
            (&[100_000], &[0]),
            (&[300, 700], &[1]),
            (&[3000, 7], &[0]),
            (&[2, 40_000], &[0]),
            (&[8, 16, 9, 9], &[0, 2, 3]),
            (&[8, 16, 9, 9], &[1]),
            (&[1, 5, 1], &[0, 2]),
            (&[], &[]),
        ];
        for (d, axes) in cases {
            let s = Shape::new(d);
            let x: Vec<f64> = (0..s.numel()).map(|i| ((i as f64) * 0.61).sin()).collect();
            for op in ReduceOp::ALL {
                let got = cpu.reduce(op, &buf(&x), &s, axes).unwrap();
                let want = Reference.reduce(op, &x, &s, axes).unwrap();
                reference_close(op.name(), &got, &want, 1e-12);
            }
        }
    }

    #[test]
    fn empty_axes_and_nan() {
        let cpu = cpu(1);
        let s = Shape::new([2, 0]);
        let e = buf::<f32>(&[]);
        assert_eq!(
            cpu.reduce(ReduceOp::Sum, &e, &s, &[1]).unwrap()[..],
            [0.0; 2]
        );
        assert!(cpu.reduce(ReduceOp::Mean, &e, &s, &[1]).unwrap()[0].is_nan());
        assert!(cpu.reduce(ReduceOp::Max, &e, &s, &[1]).is_err());
        assert_eq!(cpu.reduce(ReduceOp::Max, &e, &s, &[0]).unwrap().len(), 0);
        let x = buf(&[1.0f32, f32::NAN, 3.0, 2.0]);
        let s = Shape::new([2, 2]);
        let m = cpu.reduce(ReduceOp::Max, &x, &s, &[1]).unwrap();
        assert!(m[0].is_nan() && m[1] == 3.0);
        let m = cpu.reduce(ReduceOp::Min, &x, &s, &[0]).unwrap();
        assert!(m[0] == 1.0 && m[1].is_nan());
        assert!(cpu.reduce(ReduceOp::Sum, &x, &s, &[1, 1]).is_err());
        assert!(cpu.reduce(ReduceOp::Sum, &x, &s, &[2]).is_err());
    }

    /// The written-out f32 sums give the bits of the generic ones, for every length around
    /// the vector, lane and block sizes, with infinities, NaN and signed zeros among the terms.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_sums_match_the_generic_ones_bitwise() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let values: Vec<f32> = crate::tests::data(5000, 9);
        for len in [0, 1, 7, 8, 15, 16, 17, 31, 33, 2047, 2048, 2049, 4096, 5000] {
            for special in [None, Some(f32::INFINITY), Some(f32::NAN), Some(-0.0)] {
                let mut x = values[..len].to_vec();
                if let (Some(v), Some(first)) = (special, x.first_mut()) {
                    *first = v;
                }
                let generic = row_sum_of(&x, |v| v);
                // SAFETY: the CPU has AVX2, checked above.
                let vector = unsafe { avx2::row_sum(&x, |v| v, |v| v) };
                assert_eq!(
                    generic.to_bits(),
                    vector.to_bits(),
                    "{len} terms, {special:?}"
                );
                assert_eq!(row_sum(&x).to_bits(), vector.to_bits(), "{len} terms");
            }
        }
    }
}
