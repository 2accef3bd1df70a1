//! 2-D convolution and transposed convolution in NCHW, on the GEMM of [`crate::gemm`] and on
//! kernels of their own.
//!
//! Paths, chosen from the shapes and the element type alone (so results never depend on the
//! thread count):
//!
//! - [`im2col`]: the general convolution. Tiles of output pixels are gathered into a
//!   `[C KH KW, pixels]` column buffer (per-thread scratch, reused across the images a thread
//!   handles) and multiplied by the weight. Parallel over images, and over output channels
//!   when there are few images.
//! - [`rows`] (x86-64 with AVX2 and FMA, f32): a stride-1 convolution whose output rows are
//!   whole vectors of 8 pixels, and its weight gradient. The kernels read shifted rows of a
//!   zero-padded copy of each image in place, so nothing is gathered.
//! - [`patches`] (the same CPUs, f32): a convolution whose stride equals its kernel (2x2 stride
//!   2), its weight gradient and its transposed convolution, as 1x1 convolutions of the image's
//!   phase planes on the shifted-row kernels.
//! - [`long_k`]: a convolution whose output is a few pixels and whose kernel is large (the
//!   weight gradient of a convolution, where the kernel is the output gradient). Each output
//!   pixel is one GEMM over a long contraction that reads a transposed, zero-padded copy of
//!   the input in place, so nothing is replicated.
//! - [`col2im`]: the transposed convolution with a stride above 1: a GEMM gives every tap's
//!   contribution, scattered into the output. A transposed convolution with stride 1 is a
//!   convolution with the flipped, transposed kernel and goes through the paths above.
//! - [`weight_grad`]: the weight gradient of a convolution, from gathered column tiles of the
//!   image and blocks of the output gradient.
//! - [`direct`]: when an input or the weight holds an infinity or a NaN, the direct loop of
//!   the definition, which skips the taps that fall in the padding exactly as the reference
//!   does (the GEMM paths multiply padding zeros by the weight, and `0 * inf` is NaN).
//!
//! Both entry points take the output their validation returned (see
//! [`dualscore_core::backend::validate`]).

mod col2im;
mod direct;
mod im2col;
mod long_k;
#[cfg(target_arch = "x86_64")]
mod patches;
#[cfg(target_arch = "x86_64")]
mod rows;
mod weight_grad;

use crate::{Cpu, zeroed};
#[cfg(target_arch = "x86_64")]
use crate::{as_f32, as_f32_mut};
use dualscore_core::backend::validate::Output;
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams};
use dualscore_core::{Float, Result, Shape};
use rayon::prelude::*;
#[cfg(target_arch = "x86_64")]
use std::any::TypeId;

/// Elements of a gathered column tile (256 KiB of f32): it stays in the L2 cache.
pub(crate) const TILE_ELEMS: usize = 1 << 16;
/// The number of independent tasks a convolution aims for (a constant, so the partition does
/// not depend on the thread count).
pub(crate) const MIN_TASKS: usize = 8;

/// The geometry of a convolution `out[n, o, oy, ox] = sum_{c, ky, kx}
/// x[n, c, oy sy + ky dy - pt, ox sx + kx dx - pl] w[o, c, ky, kx]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geom {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) o: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    pub(crate) ho: usize,
    pub(crate) wo: usize,
    pub(crate) stride: [usize; 2],
    pub(crate) dil: [usize; 2],
    /// Padding before row 0 and column 0; negative crops.
    pub(crate) pad: [isize; 2],
}

impl Geom {
    /// Contraction length `C KH KW`.
    pub(crate) fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Output pixels per image.
    pub(crate) fn pixels(&self) -> usize {
        self.ho * self.wo
    }
}

/// 2-D convolution, see [`Conv2dParams`].
pub(crate) fn conv2d<T: Float>(
    cpu: &Cpu,
    x: &[T],
    xs: &Shape,
    w: &[T],
    ws: &Shape,
    p: &Conv2dParams,
    output: &Output,
) -> Result<Vec<T>> {
    let mut out = zeroed::<T>(output.len)?;
    if out.is_empty() || x.is_empty() {
        return Ok(out);
    }
    let (d, k, os) = (xs.dims(), ws.dims(), output.shape.dims());
    let g = Geom {
        n: d[0],
        c: d[1],
        h: d[2],
        w: d[3],
        o: k[0],
        kh: k[2],
        kw: k[3],
        ho: os[2],
        wo: os[3],
        stride: p.stride,
        dil: p.dilation,
        pad: [p.padding[0] as isize, p.padding[1] as isize],
    };
    if !all_finite(cpu, x) || !all_finite(cpu, w) || !moderate(&g) {
        direct::conv2d(cpu, &g, x, w, &mut out);
    } else {
        forward(cpu, &g, x, w, &mut out);
    }
    Ok(out)
}

/// The weight gradient of a 2-D convolution (see
/// [`Backend::conv2d_weight_grad`](dualscore_core::Backend::conv2d_weight_grad)), or `None`
/// when the composed route is faster for the shape (neither [`rows_suit`] nor
/// [`weight_grad::suits`] takes it), the data holds an
/// infinity or a NaN, or the sizes are extreme: the caller then takes the composed route (whose
/// direct loops skip the padding as the reference does).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_weight_grad<T: Float>(
    cpu: &Cpu,
    x: &[T],
    xs: &Shape,
    dy: &[T],
    dys: &Shape,
    kernel: [usize; 2],
    p: &Conv2dParams,
    output: &Output,
) -> Result<Option<Vec<T>>> {
    let (d, gd) = (xs.dims(), dys.dims());
    let g = Geom {
        n: d[0],
        c: d[1],
        h: d[2],
        w: d[3],
        o: gd[1],
        kh: kernel[0],
        kw: kernel[1],
        ho: gd[2],
        wo: gd[3],
        stride: p.stride,
        dil: p.dilation,
        pad: [p.padding[0] as isize, p.padding[1] as isize],
    };
    let by_rows = rows_suit::<T>(&g);
    if !(by_rows || weight_grad::suits(&g))
        || !moderate(&g)
        || !all_finite(cpu, x)
        || !all_finite(cpu, dy)
    {
        return Ok(None);
    }
    let mut out = zeroed::<T>(output.len)?;
    if !(by_rows && weight_grad_by_rows(cpu, &g, x, dy, &mut out)) {
        weight_grad::conv2d_weight_grad(cpu, &g, x, dy, &mut out)?;
    }
    Ok(Some(out))
}

/// 2-D transposed convolution, see [`ConvTranspose2dParams`].
pub(crate) fn conv_transpose2d<T: Float>(
    cpu: &Cpu,
    x: &[T],
    xs: &Shape,
    w: &[T],
    ws: &Shape,
    p: &ConvTranspose2dParams,
    output: &Output,
) -> Result<Vec<T>> {
    let mut out = zeroed::<T>(output.len)?;
    if out.is_empty() || x.is_empty() {
        return Ok(out);
    }
    let (d, k, os) = (xs.dims(), ws.dims(), output.shape.dims());
    // The geometry of the convolution this transposes: from the output (its input) to `x`.
    let g = Geom {
        n: d[0],
        c: k[1],
        h: os[2],
        w: os[3],
        o: d[1],
        kh: k[2],
        kw: k[3],
        ho: d[2],
        wo: d[3],
        stride: p.stride,
        dil: p.dilation,
        pad: [p.padding[0] as isize, p.padding[1] as isize],
    };
    if !all_finite(cpu, x) || !all_finite(cpu, w) || !moderate(&g) {
        direct::conv_transpose2d(cpu, &g, x, w, &mut out);
    } else if p.stride == [1, 1] {
        // A convolution of `x` with the flipped kernel, transposed in its channels:
        // out[co, oy] = sum x[ci, oy + ky' d - (d (KH - 1) - p)] w[ci, co, KH - 1 - ky'].
        let (cin, cout, kh, kw) = (k[0], k[1], k[2], k[3]);
        let mut flipped = zeroed::<T>(w.len())?;
        for ci in 0..cin {
            for co in 0..cout {
                for ky in 0..kh {
                    for kx in 0..kw {
                        flipped[((co * cin + ci) * kh + ky) * kw + kx] =
                            w[((ci * cout + co) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx)];
                    }
                }
            }
        }
        let fg = Geom {
            n: d[0],
            c: cin,
            h: d[2],
            w: d[3],
            o: cout,
            kh,
            kw,
            ho: os[2],
            wo: os[3],
            stride: [1, 1],
            dil: p.dilation,
            pad: [
                (p.dilation[0] * (kh - 1)) as isize - p.padding[0] as isize,
                (p.dilation[1] * (kw - 1)) as isize - p.padding[1] as isize,
            ],
        };
        forward(cpu, &fg, x, &flipped, &mut out);
    } else if !transposed_by_patches(cpu, &g, x, w, &mut out) {
        col2im::conv_transpose2d(cpu, &g, x, w, &mut out);
    }
    Ok(out)
}

/// A convolution with finite data, on the fastest path for its shape.
fn forward<T: Float>(cpu: &Cpu, g: &Geom, x: &[T], w: &[T], out: &mut [T]) {
    if long_k::suits(g) {
        long_k::conv2d(cpu, g, x, w, out);
    } else if !by_rows(cpu, g, x, w, out) {
        im2col::conv2d(cpu, g, x, w, out);
    }
}

/// Whether the shifted-row kernels of [`rows`] (directly or through [`patches`]) take a
/// convolution of `T` data with geometry `g` (f32 on x86-64 with AVX2 and FMA).
fn rows_suit<T: Float>(g: &Geom) -> bool {
    #[cfg(target_arch = "x86_64")]
    return TypeId::of::<T>() == TypeId::of::<f32>() && (rows::suits(g) || patches::suits(g));
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// [`rows::conv2d`] or [`patches::conv2d`] when one takes the convolution ([`rows_suit`]);
/// `false` otherwise.
#[allow(unused_variables)]
fn by_rows<T: Float>(cpu: &Cpu, g: &Geom, x: &[T], w: &[T], out: &mut [T]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let (Some(x), Some(w), Some(out)) = (as_f32(x), as_f32(w), as_f32_mut(out)) {
        if rows::suits(g) {
            rows::conv2d(cpu, g, x, w, out);
            return true;
        }
        if patches::suits(g) {
            patches::conv2d(cpu, g, x, w, out);
            return true;
        }
    }
    false
}

/// [`patches::conv_transpose2d`] when it takes the transposed convolution of `g`; `false`
/// otherwise.
#[allow(unused_variables)]
fn transposed_by_patches<T: Float>(cpu: &Cpu, g: &Geom, x: &[T], w: &[T], out: &mut [T]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let (Some(x), Some(w), Some(out)) = (as_f32(x), as_f32(w), as_f32_mut(out)) {
        if patches::suits(g) {
            patches::conv_transpose2d(cpu, g, x, w, out);
            return true;
        }
    }
    false
}

/// [`rows::conv2d_weight_grad`] or [`patches::conv2d_weight_grad`] when one takes the
/// convolution ([`rows_suit`]); `false` otherwise.
#[allow(unused_variables)]
fn weight_grad_by_rows<T: Float>(cpu: &Cpu, g: &Geom, x: &[T], dy: &[T], gw: &mut [T]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let (Some(x), Some(dy), Some(gw)) = (as_f32(x), as_f32(dy), as_f32_mut(gw)) {
        if rows::suits(g) {
            rows::conv2d_weight_grad(cpu, g, x, dy, gw);
            return true;
        }
        if patches::suits(g) {
            patches::conv2d_weight_grad(cpu, g, x, dy, gw);
            return true;
        }
    }
    false
}

/// Whether every size and parameter is small enough (at most 2^31) for the fast paths'
/// `isize` index arithmetic to be exact; others go to the direct loops, which use `i128`.
fn moderate(g: &Geom) -> bool {
    const MAX: usize = 1 << 31;
    [g.h, g.w, g.ho, g.wo, g.kh, g.kw]
        .into_iter()
        .chain(g.stride)
        .chain(g.dil)
        .all(|v| v <= MAX)
        && g.pad.iter().all(|p| p.unsigned_abs() <= MAX)
}

/// Whether every element is finite; blocks are scanned in parallel.
fn all_finite<T: Float>(cpu: &Cpu, x: &[T]) -> bool {
    const BLOCK: usize = 1 << 16;
    if x.len() <= BLOCK {
        return block_finite(x);
    }
    cpu.pool().install(|| x.par_chunks(BLOCK).all(block_finite))
}

fn block_finite<T: Float>(x: &[T]) -> bool {
    // Independent lanes so that it vectorizes: 0 v is 0 for finite v and NaN otherwise.
    const LANES: usize = 16;
    x.chunks(1 << 12).all(|block| {
        let mut acc = [T::zero(); LANES];
        let mut it = block.chunks_exact(LANES);
        for c in &mut it {
            for j in 0..LANES {
                acc[j] = acc[j] + c[j] * T::zero();
            }
        }
        let tail = it
            .remainder()
            .iter()
            .fold(T::zero(), |a, &v| a + v * T::zero());
        acc.iter().fold(tail, |a, &v| a + v) == T::zero()
    })
}

/// `(lo, hi)`: the output positions `o` in `0..len` whose input position `o s + off` lies in
/// `0..size`.
#[inline]
pub(crate) fn valid_range(off: isize, s: usize, size: usize, len: usize) -> (usize, usize) {
    let s = s as isize;
    let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
    let end = size as isize - off;
    let hi = if end <= 0 { 0 } else { (end + s - 1) / s };
    let lo = (lo as usize).min(len);
    let hi = (hi as usize).min(len).max(lo);
    (lo, hi)
}

#[cfg(test)]
mod tests;
