//! [`Backend::center_with_variance`](dualscore_core::Backend::center_with_variance) over
//! trailing axes (the `[H, W]` of a normalization layer): each row of the reduced axes is
//! read for its mean, then once more to write its difference from the mean and to sum that
//! difference's square, where the composed default reads and writes whole tensors four times.
//!
//! The sums are those of [`reduce`](crate::reduce), in the same order, and the mean the same
//! division, so the results are bitwise those of the default on this backend.

use crate::par::CHUNK;
use crate::reduce::row_sum_of;
use crate::{Cpu, reserved, zeroed};
use dualscore_core::backend::validate::Reduction;
use dualscore_core::{Float, Result, Shape};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The centered rows and their variances when the reduced axes of `checked` are the trailing
/// axes of `shape` (and some), `None` otherwise (the caller composes).
pub(crate) fn center_with_variance<T: Float>(
    cpu: &Cpu,
    x: &[T],
    shape: &Shape,
    checked: &Reduction,
) -> Result<Option<(Vec<T>, Vec<T>)>> {
    let (rank, axes) = (shape.rank(), &checked.axes);
    let trailing = axes
        .iter()
        .enumerate()
        .all(|(i, &a)| a + axes.len() == rank + i);
    if axes.is_empty() || !trailing || x.is_empty() {
        return Ok(None);
    }
    let row_len = x.len() / checked.output.len;
    let count = T::of_f64(row_len as f64);
    let mut centered = reserved::<T>(x.len())?;
    let mut variance = zeroed::<T>(checked.output.len)?;
    let rows_per_piece = (CHUNK / row_len).max(1);
    let piece = rows_per_piece * row_len;
    let center = |out: &mut [MaybeUninit<T>], var: &mut [T], src: &[T]| {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            if let Some((out, var, src)) = f32_pieces(out, var, src) {
                // SAFETY: the CPU has AVX2, checked just above.
                unsafe { avx2::center_rows(out, var, src, row_len, count.as_f64() as f32) };
                return;
            }
        }
        center_rows(out, var, src, row_len, count);
    };
    let out = &mut centered.spare_capacity_mut()[..x.len()];
    if x.len() <= CHUNK {
        center(out, &mut variance, x);
    } else {
        cpu.pool().install(|| {
            out.par_chunks_mut(piece)
                .zip(variance.par_chunks_mut(rows_per_piece))
                .zip(x.par_chunks(piece))
                .for_each(|((out, var), src)| center(out, var, src))
        });
    }
    // SAFETY: the capacity is at least `x.len()`, and the rows of `out` cover it: each element
    // was written with its row's difference.
    unsafe { centered.set_len(x.len()) };
    Ok(Some((centered, variance)))
}

/// Writes each row of `src` (rows of `row_len`) less its mean into `out`, and the mean of the
/// difference's square into `var`.
#[inline(always)]
fn center_rows<T: Float>(
    out: &mut [MaybeUninit<T>],
    var: &mut [T],
    src: &[T],
    row_len: usize,
    count: T,
) {
    for ((out, v), row) in out
        .chunks_mut(row_len)
        .zip(var.iter_mut())
        .zip(src.chunks(row_len))
    {
        let mean = row_sum_of(row, |x| x) / count;
        for (o, &x) in out.iter_mut().zip(row) {
            o.write(x - mean);
        }
        *v = row_sum_of(row, |x| {
            let d = x - mean;
            d * d
        }) / count;
    }
}

/// The pieces as f32 when `T` is f32.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::type_complexity)]
fn f32_pieces<'a, T: Float>(
    out: &'a mut [MaybeUninit<T>],
    var: &'a mut [T],
    src: &'a [T],
) -> Option<(&'a mut [MaybeUninit<f32>], &'a mut [f32], &'a [f32])> {
    let (var, src) = (crate::as_f32_mut(var)?, crate::as_f32(src)?);
    // SAFETY: `T` is `f32` (`as_f32` said so); the length is kept.
    let out = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast(), out.len()) };
    Some((out, var, src))
}

/// [`center_rows`] for f32 in 256-bit vectors, with the sums of
/// [`reduce::avx2`](crate::reduce::avx2): the same operations in the same order, so the same
/// bits.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use crate::reduce::avx2::row_sum;
    use std::arch::x86_64::{
        __m256, _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps, _mm256_storeu_ps, _mm256_sub_ps,
    };
    use std::mem::MaybeUninit;

    /// See [`super::center_rows`].
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn center_rows(
        out: &mut [MaybeUninit<f32>],
        var: &mut [f32],
        src: &[f32],
        row_len: usize,
        count: f32,
    ) {
        for ((out, v), row) in out
            .chunks_mut(row_len)
            .zip(var.iter_mut())
            .zip(src.chunks(row_len))
        {
            let whole = row.len() / 8 * 8;
            // SAFETY: the caller's CPU has AVX2; every vector read and written starts at
            // `j <= whole - 8` of `row` and `out`, which have the same length.
            unsafe {
                let mean = row_sum(row, |x| x, |x| x) / count;
                let m = _mm256_set1_ps(mean);
                for j in (0..whole).step_by(8) {
                    let d = _mm256_sub_ps(_mm256_loadu_ps(row.as_ptr().add(j)), m);
                    _mm256_storeu_ps(out.as_mut_ptr().add(j).cast(), d);
                }
                for (o, &x) in out[whole..].iter_mut().zip(&row[whole..]) {
                    o.write(x - mean);
                }
                let square = |x: __m256| {
                    let d = _mm256_sub_ps(x, m);
                    _mm256_mul_ps(d, d)
                };
                *v = row_sum(row, square, |x| (x - mean) * (x - mean)) / count;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{buf, cpu, data};
    use dualscore_core::backend::composed;
    use dualscore_core::{Backend, Float, Shape};

    fn bits<T: Float>(v: &[T]) -> Vec<u64> {
        v.iter().map(|x| x.as_f64().to_bits()).collect()
    }

    /// The fused rows give the bits of the composed default (a mean, a subtraction, a square
    /// and a mean on this backend), whether the rows fit in one piece or many, are longer than
    /// a block of a sum, are single elements, or hold infinities, NaN and signed zeros; axes
    /// that are not trailing take the default.
    fn matches_the_default<T: Float>() {
        let cases: [(&[usize], &[usize]); 8] = [
            (&[2, 3, 4, 4], &[2, 3]),
            (&[16, 16, 16, 16], &[2, 3]),
            (&[3, 5000], &[1]),
            (&[4, 2, 1, 1], &[2, 3]),
            (&[2, 3, 4, 5], &[3, 1, 2]),
            (&[7], &[0]),
            (&[2, 3, 4, 4], &[1, 2]),
            (&[2, 0, 4], &[2]),
        ];
        for threads in [1, 2] {
            let cpu = cpu(threads);
            for (i, (dims, axes)) in cases.into_iter().enumerate() {
                let shape = Shape::new(dims);
                let mut values: Vec<T> = data(shape.numel(), i as u64 + 1);
                let specials = [T::nan(), T::infinity(), -T::zero(), T::zero()];
                for (v, s) in values.iter_mut().step_by(97).zip(specials) {
                    *v = s;
                }
                let x = buf(&values);
                let (c, v) = cpu.center_with_variance(&x, &shape, axes).unwrap();
                let (cc, cv) = composed::center_with_variance(&cpu, &x, &shape, axes).unwrap();
                let what = format!("{dims:?} over {axes:?}, {threads} threads ({})", T::DTYPE);
                assert_eq!(bits(&c), bits(&cc), "centered, {what}");
                assert_eq!(bits(&v), bits(&cv), "variance, {what}");
            }
        }
    }

    #[test]
    fn fused_rows_match_the_default_bitwise() {
        matches_the_default::<f32>();
        matches_the_default::<f64>();
    }
}
