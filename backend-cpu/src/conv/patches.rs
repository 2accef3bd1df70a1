//! Convolutions whose stride equals their kernel (the UNet's 2x2 stride-2 downsampling and, as
//! transposed convolutions, its upsampling), in f32 on CPUs with AVX2 and FMA.
//!
//! Such a kernel reads non-overlapping patches, so the convolution is a 1x1 convolution of the
//! image rearranged into `C KH KW` phase planes (`xs[(c, a, b), i, j] = x[c, KH i + a, KW j +
//! b]`, the weight `[O, C, KH, KW]` already being `[O, C KH KW]`), and the transposed
//! convolution is a 1x1 convolution into `O KH KW` phase planes followed by the inverse
//! rearrangement. The 1x1 convolutions run on the shifted-row kernels of [`super::rows`] over
//! each plane taken as one row, which asks only for a whole number of 8-pixel vectors per
//! plane (4x4 planes included).

use super::Geom;
use super::rows;
use crate::{Cpu, par};

/// Whether a convolution of finite f32 data with geometry `g` takes this path.
pub(super) fn suits(g: &Geom) -> bool {
    (g.kh > 1 || g.kw > 1)
        && g.stride == [g.kh, g.kw]
        && g.dil == [1, 1]
        && g.pad == [0, 0]
        && g.h >= g.ho * g.kh
        && g.w >= g.wo * g.kw
        && rows::suits(&planes(g))
}

/// The 1x1 convolution over the phase planes of `g`'s input: `C KH KW` channels, each plane
/// one row of `HO WO` pixels.
fn planes(g: &Geom) -> Geom {
    let pixels = g.ho * g.wo;
    Geom {
        n: g.n,
        c: g.c * g.kh * g.kw,
        h: 1,
        w: pixels,
        o: g.o,
        kh: 1,
        kw: 1,
        ho: 1,
        wo: pixels,
        stride: [1, 1],
        dil: [1, 1],
        pad: [0, 0],
    }
}

/// `out = conv(x, w)` for a geometry that [`suits`] this path.
pub(super) fn conv2d(cpu: &Cpu, g: &Geom, x: &[f32], w: &[f32], out: &mut [f32]) {
    let xs = to_planes(cpu, g, x);
    rows::conv2d(cpu, &planes(g), &xs, w, out);
    cpu.workspace().give(xs);
}

/// The weight gradient of `g`'s convolution for a geometry that [`suits`] this path.
pub(super) fn conv2d_weight_grad(cpu: &Cpu, g: &Geom, x: &[f32], dy: &[f32], out: &mut [f32]) {
    let xs = to_planes(cpu, g, x);
    rows::conv2d_weight_grad(cpu, &planes(g), &xs, dy, out);
    cpu.workspace().give(xs);
}

/// The transposed convolution of `g` (whose input is `out`, `[N, C, H, W]`, and whose output
/// is `x`, `[N, O, HO, WO]`) with the weight `w` (`[O, C, KH, KW]`), for a geometry that
/// [`suits`] this path. `out` must be zeros: rows and columns past `HO KH` and `WO KW` (an
/// output padding) receive nothing.
pub(super) fn conv_transpose2d(cpu: &Cpu, g: &Geom, x: &[f32], w: &[f32], out: &mut [f32]) {
    let taps = g.kh * g.kw;
    let pixels = g.ho * g.wo;
    // The 1x1 convolution from x's O channels to the C KH KW phase planes of `out`.
    let to = Geom {
        c: g.o,
        o: g.c * taps,
        ..planes(g)
    };
    // Its weight `[C KH KW, O]`: `w` (`[O, C KH KW]`) transposed.
    let k = g.c * taps;
    let mut wt = vec![0.0; k * g.o];
    for (o, row) in w.chunks_exact(k).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            wt[j * g.o + o] = v;
        }
    }
    let mut ys = cpu.workspace().take::<f32>(g.n * k * pixels);
    rows::conv2d(cpu, &to, x, &wt, &mut ys);
    let image = g.c * g.h * g.w;
    par::chunks_mut(cpu, out, image, |n, dst| {
        let src = &ys[n * k * pixels..][..k * pixels];
        for (j, plane) in src.chunks_exact(pixels).enumerate() {
            for (i, row) in plane.chunks_exact(g.wo).enumerate() {
                let (start, b) = phase_row(g, j, i);
                let line = &mut dst[start..][..g.w];
                for (jx, &v) in row.iter().enumerate() {
                    line[g.kw * jx + b] = v;
                }
            }
        }
    });
    cpu.workspace().give(ys);
}

/// The phase planes of every image of `x` (`[N, C, H, W]`): `[N, C KH KW, HO WO]`, in a buffer
/// of the backend's workspace.
fn to_planes(cpu: &Cpu, g: &Geom, x: &[f32]) -> Vec<f32> {
    let taps = g.kh * g.kw;
    let pixels = g.ho * g.wo;
    let image = g.c * g.h * g.w;
    let mut xs = cpu.workspace().take::<f32>(g.n * g.c * taps * pixels);
    par::chunks_mut(cpu, &mut xs, g.c * taps * pixels, |n, dst| {
        let src = &x[n * image..][..image];
        for (j, plane) in dst.chunks_exact_mut(pixels).enumerate() {
            for (i, row) in plane.chunks_exact_mut(g.wo).enumerate() {
                let (start, b) = phase_row(g, j, i);
                let line = &src[start..][..g.w];
                for (jx, v) in row.iter_mut().enumerate() {
                    *v = line[g.kw * jx + b];
                }
            }
        }
    });
    xs
}

/// Where row `i` of phase plane `j = (c, a, b)` lives in an image `[C, H, W]`: the start of
/// image row `KH i + a` of channel `c`, and the column phase `b` (the row's pixel `jx` is
/// column `KW jx + b`).
fn phase_row(g: &Geom, j: usize, i: usize) -> (usize, usize) {
    let taps = g.kh * g.kw;
    let (c, tap) = (j / taps, j % taps);
    let (a, b) = (tap / g.kw, tap % g.kw);
    ((c * g.h + g.kh * i + a) * g.w, b)
}
