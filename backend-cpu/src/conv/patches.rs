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
    if g.kw == 2 {
        from_planes::<2>(cpu, g, &ys, out);
    } else {
        from_planes::<0>(cpu, g, &ys, out);
    }
    cpu.workspace().give(ys);
}

/// The phase planes of every image of `x` (`[N, C, H, W]`): `[N, C KH KW, HO WO]`, in a buffer
/// of the backend's workspace.
fn to_planes(cpu: &Cpu, g: &Geom, x: &[f32]) -> Vec<f32> {
    let mut xs = cpu
        .workspace()
        .take::<f32>(g.n * g.c * g.kh * g.kw * g.ho * g.wo);
    if g.kw == 2 {
        gather_planes::<2>(cpu, g, x, &mut xs);
    } else {
        gather_planes::<0>(cpu, g, x, &mut xs);
    }
    xs
}

/// Writes the phase planes of every image of `x` into `xs`. `KW` is the kernel's width, or 0
/// to read it from `g` (a known width turns the inner loop's divisions into shifts, and the
/// width 2 of the UNet's kernels into one pass over each image row that vectorizes).
fn gather_planes<const KW: usize>(cpu: &Cpu, g: &Geom, x: &[f32], xs: &mut [f32]) {
    let image = g.c * g.h * g.w;
    let pixels = g.ho * g.wo;
    par::chunks_mut(cpu, xs, g.c * g.kh * g.kw * pixels, |n, dst| {
        // Inside the closure, so that the compiler sees a known width.
        let kw = if KW == 0 { g.kw } else { KW };
        let src = &x[n * image..][..image];
        for_each_phase_line(g, |row, start| {
            let line = &src[start..][..g.wo * kw];
            if kw == 2 {
                let (even, odd) = dst[row..].split_at_mut(pixels);
                let planes = even[..g.wo].iter_mut().zip(&mut odd[..g.wo]);
                for ((e, o), patch) in planes.zip(line.chunks_exact(2)) {
                    *e = patch[0];
                    *o = patch[1];
                }
            } else {
                for b in 0..kw {
                    let plane = dst[row + b * pixels..][..g.wo].iter_mut();
                    for (v, patch) in plane.zip(line.chunks_exact(kw)) {
                        *v = patch[b];
                    }
                }
            }
        });
    });
}

/// The inverse of [`gather_planes`]: writes the phase planes `ys` (`[N, C KH KW, HO WO]`) into
/// the images of `out` (`[N, C, H, W]`).
fn from_planes<const KW: usize>(cpu: &Cpu, g: &Geom, ys: &[f32], out: &mut [f32]) {
    let pixels = g.ho * g.wo;
    let planes = g.c * g.kh * g.kw * pixels;
    par::chunks_mut(cpu, out, g.c * g.h * g.w, |n, dst| {
        let kw = if KW == 0 { g.kw } else { KW };
        let src = &ys[n * planes..][..planes];
        for_each_phase_line(g, |row, start| {
            let line = &mut dst[start..][..g.wo * kw];
            if kw == 2 {
                let (even, odd) = (&src[row..][..g.wo], &src[row + pixels..][..g.wo]);
                for ((patch, &e), &o) in line.chunks_exact_mut(2).zip(even).zip(odd) {
                    patch[0] = e;
                    patch[1] = o;
                }
            } else {
                for b in 0..kw {
                    let plane = &src[row + b * pixels..][..g.wo];
                    for (patch, &v) in line.chunks_exact_mut(kw).zip(plane) {
                        patch[b] = v;
                    }
                }
            }
        });
    });
}

/// Calls `f(row, start)` for every image row that the phase planes of an image `[C, H, W]`
/// read: image row `KH i + a` of channel `c` is row `i` of the planes `(c, a, b)` for every
/// column phase `b` (the planes' pixel `jx` is the image row's column `KW jx + b`). `row` is
/// where that row of plane `(c, a, 0)` starts in `[C KH KW, HO, WO]` (plane `b`'s is `b HO WO`
/// further), `start` where the image row starts.
#[inline(always)]
fn for_each_phase_line(g: &Geom, mut f: impl FnMut(usize, usize)) {
    let pixels = g.ho * g.wo;
    for c in 0..g.c {
        for a in 0..g.kh {
            let plane = (c * g.kh + a) * g.kw * pixels;
            for i in 0..g.ho {
                f(plane + i * g.wo, (c * g.h + g.kh * i + a) * g.w);
            }
        }
    }
}
