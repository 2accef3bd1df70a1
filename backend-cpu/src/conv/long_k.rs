//! Convolutions with a few output pixels and a large kernel: the weight gradient of a
//! convolution, `conv2d(x^T, dy^T)`, whose "kernel" is the output gradient (`HO x WO` of the
//! original layer) and whose output is the original kernel size. Batch and channels swap because
//! that gradient sums over the batch; the layer's stride is the dilation here (and its dilation
//! the stride) because the output gradient's pixel index steps the image by the layer's stride.
//!
//! Output pixel `(a, b)` is
//!
//! ```text
//! out[i, o, a, b] = sum_{c, y, x} xp[i, c, a sy + y dy, b sx + x dx] w[o, c, y, x]
//! ```
//!
//! with `xp` the zero-padded input. Split the padded plane into its `dy x dx` phases (rows
//! `Y dy + ry`, columns `X dx + rx`): pixel `(a, b)` reads phase `(a sy mod dy, b sx mod dx)` at
//! `(a sy div dy + y, b sx div dx + x)`, a unit-dilation window. Store each phase transposed,
//! image index innermost: `L[(c, Y, X)][i]` over a `Hq x Wq` plane. Then the contraction index
//! `q = c Hq Wq + y Wq + x` reads row `q + shift(a, b)` of `L`: for each output pixel the right
//! operand of the GEMM is `L` itself, shifted, with unit row stride; nothing is replicated.
//! The weight is spread over the same `q` (zeros where `y >= KH` or `x >= KW`), and the
//! products of those zeros with the data between kernel rows are exact zeros because the data
//! is finite (the caller routes non-finite data to the direct path). Each phase block of `L`
//! has zero rows past its planes so that every shifted read stays in range.
//!
//! One GEMM per output pixel is `[O, Q] x [Q, N]` with `Q` about `C Hq Wq`; when the column
//! stride equals the column dilation, a whole output row is one GEMM of `WO N` columns (pixel
//! `(a, b + j)` reads `L` j rows further, the same matrix read `j N` elements later). The
//! contraction is split into a fixed number of chunks (from the shapes alone) for
//! parallelism, and the chunks' partial products are added in order.

use super::{Geom, MIN_TASKS, valid_range};
use crate::gemm::{Mat, MatMut, gemm};
use crate::{Cpu, par};
use dualscore_core::Float;

/// Shortest contraction chunk worth a task.
const MIN_CHUNK: usize = 4096;

/// The phase plane `(Hq, Wq)` that covers every position the kernel reads.
fn phase_plane(g: &Geom) -> (usize, usize) {
    let hq = (g.ho - 1) * g.stride[0] / g.dil[0] + g.kh;
    let wq = (g.wo - 1) * g.stride[1] / g.dil[1] + g.kw;
    (hq, wq)
}

/// The spread contraction length `Q`.
fn q_len(g: &Geom, hq: usize, wq: usize) -> usize {
    (g.c - 1) * hq * wq + (g.kh - 1) * wq + g.kw
}

/// Whether this path suits `g`: no cropping, at most 64 output pixels, a long contraction,
/// and a spread contraction at most twice the real one.
pub(super) fn suits(g: &Geom) -> bool {
    if g.pad[0] < 0 || g.pad[1] < 0 || g.pixels() > 64 || g.k() < 1024 {
        return false;
    }
    let (hq, wq) = phase_plane(g);
    q_len(g, hq, wq) <= 2 * g.k()
}

/// `out = conv(x, w)` for finite data, when [`suits`] holds.
pub(super) fn conv2d<T: Float>(cpu: &Cpu, g: &Geom, x: &[T], w: &[T], out: &mut [T]) {
    let (hq, wq) = phase_plane(g);
    let (pt, pl) = (g.pad[0], g.pad[1]);
    let ([sy, sx], [dy, dx]) = (g.stride, g.dil);
    let (ni, o, c) = (g.n, g.o, g.c);
    let plane = hq * wq;
    let q = q_len(g, hq, wq);
    let pixels = g.pixels();
    // Phase and row shift of output pixel `ab`.
    let locate = |ab: usize| {
        let (py, px) = ((ab / g.wo) * sy, (ab % g.wo) * sx);
        ((py % dy) * dx + px % dx, (py / dy) * wq + px / dx)
    };
    let rows = (c * plane).max(locate(pixels - 1).1 + q);
    let phases = dy * dx;
    let parallel = (ni * o * pixels).saturating_mul(g.k()) >= 1 << 16;

    // L[phase][(c, Y, X)][i] = x[i, c, Y dy + ry - pt, X dx + rx - pl], zero outside, then
    // zero rows up to `rows` per phase.
    let ws = cpu.workspace();
    let mut l: Vec<T> = ws.take(phases * rows * ni);
    let mut lens = Vec::with_capacity(phases * (c + 1));
    for _ in 0..phases {
        lens.extend(std::iter::repeat_n(plane * ni, c));
        lens.push((rows - c * plane) * ni);
    }
    let hw = g.h * g.w;
    par::pieces_mut(cpu, &mut l, &lens, parallel, |t, dst| {
        let (ph, ci) = (t / (c + 1), t % (c + 1));
        if ci == c {
            return;
        }
        let (ry, rx) = ((ph / dx) as isize, (ph % dx) as isize);
        let (x_lo, x_hi) = valid_range(rx - pl, dx, g.w, wq);
        // One input row of every image at a time, so that the block written stays in L1.
        for yq in 0..hq {
            let iy = (yq * dy) as isize + ry - pt;
            if iy < 0 || iy >= g.h as isize {
                continue;
            }
            let row = &mut dst[yq * wq * ni..][..wq * ni];
            for i in 0..ni {
                let src = &x[(i * c + ci) * hw + iy as usize * g.w..][..g.w];
                for xq in x_lo..x_hi {
                    let ix = ((xq * dx) as isize + rx - pl) as usize;
                    row[xq * ni + i] = src[ix];
                }
            }
        }
    });

    // wq[(c, y, x)][o] = w[o, c, y, x] on the spread index, zero elsewhere. The last
    // channel's chunk is cut at `q`, past its last tap.
    let mut wsp: Vec<T> = ws.take(q * o);
    let kk = g.kh * g.kw;
    par::chunks_mut(cpu, &mut wsp, plane * o, |ci, dst| {
        for y in 0..g.kh {
            let row = &mut dst[y * wq * o..][..g.kw * o];
            for oi in 0..o {
                let src = &w[(oi * c + ci) * kk + y * g.kw..][..g.kw];
                for (xx, &v) in src.iter().enumerate() {
                    row[xx * o + oi] = v;
                }
            }
        }
    });

    // Tasks: (group of output pixels, contraction chunk).
    let bw = if sx == dx { g.wo } else { 1 };
    let groups = pixels / bw;
    let chunks = (2 * MIN_TASKS).div_ceil(groups).min((q / MIN_CHUNK).max(1));
    let chunk_len = q.div_ceil(chunks);
    let width = bw * ni;
    let parts = par::map_range(cpu, groups * chunks, parallel, |t| {
        let (gi, ch) = (t / chunks, t % chunks);
        let q0 = ch * chunk_len;
        let ql = chunk_len.min(q - q0);
        let (ph, shift) = locate(gi * bw);
        let mut part = vec![T::zero(); o * width];
        let a = Mat {
            data: &wsp[q0 * o..],
            rows: o,
            cols: ql,
            rs: 1,
            cs: o,
        };
        let b = Mat {
            data: &l[(ph * rows + shift + q0) * ni..],
            rows: ql,
            cols: width,
            rs: ni,
            cs: 1,
        };
        gemm(a, b, MatMut::rows(&mut part, o, width), false);
        part
    });
    ws.give(l);
    ws.give(wsp);
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
