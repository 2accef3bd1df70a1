//! Convolutions with a few output pixels and a large kernel: the weight gradient of a
//! convolution, `conv2d(x^T, dy^T)`, whose "kernel" is the output gradient (`HO x WO` of the
//! original layer) and whose output is the original kernel size.
//!
//! With unit dilation, output pixel `(a, b)` is
//!
//! ```text
//! out[i, o, a, b] = sum_{c, y, x} xp[i, c, a sy + y, b sx + x] w[o, c, y, x]
//! ```
//!
//! with `xp` the zero-padded input. Store `xp` transposed, image index innermost:
//! `L[(c, yy, xx)][i]` over the padded plane. Then the contraction index
//! `q = c Hp Wp + y Wp + x` reads row `q + (a sy Wp + b sx)` of `L`: for each output pixel the
//! right operand of the GEMM is `L` itself, shifted, with unit row stride; nothing is
//! replicated. The weight is spread over the same `q` (zeros where `y >= KH` or `x >= KW`),
//! and the products of those zeros with the data between kernel rows are exact zeros because
//! the data is finite (the caller routes non-finite data to the direct path). `L` is padded
//! with zero rows past its end so that every shifted read stays in range.
//!
//! One GEMM per output pixel is `[O, Q] x [Q, N]` with `Q` about `C Hp Wp`; the contraction is
//! split into a fixed number of chunks (from the shapes alone) for parallelism, and the
//! chunks' partial products are added in order.

use super::{Geom, MIN_TASKS};
use crate::gemm::{Mat, MatMut, gemm};
use crate::{Cpu, par};
use dualscore_core::Float;

/// Shortest contraction chunk worth a task.
const MIN_CHUNK: usize = 4096;

/// The padded plane `(Hp, Wp)` that covers every position the kernel reads.
fn padded(g: &Geom) -> (usize, usize) {
    let [pt, pl] = [g.pad[0] as usize, g.pad[1] as usize];
    let hp = (g.h + pt).max((g.ho - 1) * g.stride[0] + g.kh);
    let wp = (g.w + pl).max((g.wo - 1) * g.stride[1] + g.kw);
    (hp, wp)
}

/// The spread contraction length `Q`.
fn q_len(g: &Geom, hp: usize, wp: usize) -> usize {
    (g.c - 1) * hp * wp + (g.kh - 1) * wp + g.kw
}

/// Whether this path suits `g`: unit dilation, no cropping, at most 64 output pixels, a long
/// contraction, and a spread contraction at most twice the real one.
pub(super) fn suits(g: &Geom) -> bool {
    if g.dil != [1, 1] || g.pad[0] < 0 || g.pad[1] < 0 || g.pixels() > 64 || g.k() < 1024 {
        return false;
    }
    let (hp, wp) = padded(g);
    q_len(g, hp, wp) <= 2 * g.k()
}

/// `out = conv(x, w)` for finite data, when [`suits`] holds.
pub(super) fn conv2d<T: Float>(cpu: &Cpu, g: &Geom, x: &[T], w: &[T], out: &mut [T]) {
    let (hp, wp) = padded(g);
    let (pt, pl) = (g.pad[0] as usize, g.pad[1] as usize);
    let (ni, o, c) = (g.n, g.o, g.c);
    let plane = hp * wp;
    let q = q_len(g, hp, wp);
    let pixels = g.pixels();
    let shift = |ab: usize| (ab / g.wo) * g.stride[0] * wp + (ab % g.wo) * g.stride[1];
    let rows = (c * plane).max(shift(pixels - 1) + q);
    let parallel = (ni * o * pixels).saturating_mul(g.k()) >= 1 << 16;

    // L[(c, yy, xx)][i] = x[i, c, yy - pt, xx - pl], zero outside; zero rows past the planes.
    let ws = cpu.workspace();
    let mut l: Vec<T> = ws.take(rows * ni);
    let chunk = plane * ni;
    // One input row of every image at a time, so that the block written stays in L1.
    let hw = g.h * g.w;
    par::chunks_mut(cpu, &mut l[..c * chunk], chunk, |ci, dst| {
        for y in 0..g.h {
            let row = &mut dst[((y + pt) * wp + pl) * ni..][..g.w * ni];
            for i in 0..ni {
                let src = &x[(i * c + ci) * hw + y * g.w..][..g.w];
                for (xx, &v) in src.iter().enumerate() {
                    row[xx * ni + i] = v;
                }
            }
        }
    });

    // The last channel's chunk is cut at `q`, past its last tap.
    let mut wq: Vec<T> = ws.take(q * o);
    let kk = g.kh * g.kw;
    par::chunks_mut(cpu, &mut wq, plane * o, |ci, dst| {
        for y in 0..g.kh {
            let row = &mut dst[y * wp * o..][..g.kw * o];
            for oi in 0..o {
                let src = &w[(oi * c + ci) * kk + y * g.kw..][..g.kw];
                for (xx, &v) in src.iter().enumerate() {
                    row[xx * o + oi] = v;
                }
            }
        }
    });

    // Tasks: (group of output pixels, contraction chunk). With unit column stride, the
    // columns of one output row are one GEMM: pixel (a, b + j) reads `L` shifted by j more
    // rows, which is the same matrix read j * N elements further, so `[Q, WO N]` with row
    // stride N covers them all.
    let bw = if g.stride[1] == 1 { g.wo } else { 1 };
    let groups = pixels / bw;
    let chunks = (2 * MIN_TASKS).div_ceil(groups).min((q / MIN_CHUNK).max(1));
    let chunk_len = q.div_ceil(chunks);
    let width = bw * ni;
    let parts = par::map_range(cpu, groups * chunks, parallel, |t| {
        let (gi, ch) = (t / chunks, t % chunks);
        let q0 = ch * chunk_len;
        let ql = chunk_len.min(q - q0);
        let mut part = vec![T::zero(); o * width];
        let a = Mat {
            data: &wq[q0 * o..],
            rows: o,
            cols: ql,
            rs: 1,
            cs: o,
        };
        let b = Mat {
            data: &l[(shift(gi * bw) + q0) * ni..],
            rows: ql,
            cols: width,
            rs: ni,
            cs: 1,
        };
        gemm(a, b, MatMut::rows(&mut part, o, width), false);
        part
    });
    ws.give(l);
    ws.give(wq);
    // out[i, o, pixel] = sum over chunks, in order.
    for gi in 0..groups {
        let first = &parts[gi * chunks];
        for oi in 0..o {
            for j in 0..bw {
                for i in 0..ni {
                    let at = oi * width + j * ni + i;
                    let mut v = first[at];
                    for ch in 1..chunks {
                        v = v + parts[gi * chunks + ch][at];
                    }
                    out[(i * o + oi) * pixels + gi * bw + j] = v;
                }
            }
        }
    }
}
