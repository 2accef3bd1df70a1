//! The transposed convolution with a stride above 1: for a tile of input pixels, one GEMM
//! gives every (output channel, tap) contribution `cols[(co, ky, kx), p] = sum_ci
//! w[ci, co, ky, kx] x[n, ci, p]`, which is then added into the output at
//! `(p_row sy + ky dy - pt, p_col sx + kx dx - pl)`.
//!
//! Tasks own one image and a block of output channels (a contiguous piece of the output), and
//! add their contributions in a fixed order.

use super::im2col::{Seg, segments};
use super::{Geom, MIN_TASKS, TILE_ELEMS, valid_range};
use crate::Cpu;
use crate::gemm::{Mat, MatMut, gemm};
use crate::par::{self, Scratch};
use dualscore_core::Float;

/// `out = conv_transpose(x, w)` for finite data. In `g` (the geometry of the convolution this
/// transposes) `x` is the output (`g.o` channels of `g.ho x g.wo`) and `out` the input (`g.c`
/// channels of `g.h x g.w`).
pub(super) fn conv_transpose2d<T: Float>(cpu: &Cpu, g: &Geom, x: &[T], w: &[T], out: &mut [T]) {
    let (cin, cout) = (g.o, g.c);
    let kk = g.kh * g.kw;
    let (xp, op) = (g.ho * g.wo, g.h * g.w);
    // Output channel blocks so that there are enough tasks.
    let blocks = if g.n >= MIN_TASKS {
        1
    } else {
        MIN_TASKS.div_ceil(g.n).min(cout)
    };
    let cb = cout.div_ceil(blocks);
    let blocks = cout.div_ceil(cb);
    let mut lens = Vec::with_capacity(g.n * blocks);
    for _ in 0..g.n {
        for b in 0..blocks {
            lens.push(cb.min(cout - b * cb) * op);
        }
    }
    let rows_max = cb * kk;
    let tp = (TILE_ELEMS / rows_max).clamp(16, xp.max(16)).min(xp);
    let scratch = Scratch::<T>::new(cpu);
    let work = (g.n * cout * xp).saturating_mul(cin * kk);
    par::pieces_mut(cpu, out, &lens, work >= 1 << 16, |t, piece| {
        let (n, b) = (t / blocks, t % blocks);
        let c0 = b * cb;
        let cbl = piece.len() / op;
        let rows = cbl * kk;
        scratch.with(rows * tp, |cols| {
            let mut segs: Vec<Seg> = Vec::new();
            for p0 in (0..xp).step_by(tp) {
                let len = tp.min(xp - p0);
                let cols = &mut cols[..rows * len];
                let a = Mat {
                    data: &w[c0 * kk..],
                    rows,
                    cols: cin,
                    rs: 1,
                    cs: cout * kk,
                };
                let bm = Mat {
                    data: &x[n * cin * xp + p0..],
                    rows: cin,
                    cols: len,
                    rs: xp,
                    cs: 1,
                };
                gemm(a, bm, MatMut::rows(cols, rows, len), false);
                segments(&mut segs, 0, g.ho, g.wo, p0, len);
                scatter(g, &segs, cols, len, cbl, piece);
            }
        });
    });
}

/// Adds `cols[(co, ky, kx), p]` into `piece[co, p_row sy + ky dy - pt, p_col sx + kx dx - pl]`
/// where that lies inside the output.
fn scatter<T: Float>(g: &Geom, segs: &[Seg], cols: &[T], len: usize, cbl: usize, piece: &mut [T]) {
    let [sy, sx] = g.stride;
    for co in 0..cbl {
        let plane = &mut piece[co * g.h * g.w..][..g.h * g.w];
        for ky in 0..g.kh {
            let offy = (ky * g.dil[0]) as isize - g.pad[0];
            for kx in 0..g.kw {
                let offx = (kx * g.dil[1]) as isize - g.pad[1];
                let (lo, hi) = valid_range(offx, sx, g.w, g.wo);
                let src = &cols[((co * g.kh + ky) * g.kw + kx) * len..][..len];
                for seg in segs {
                    let oy = (seg.row * sy) as isize + offy;
                    if oy < 0 || oy >= g.h as isize {
                        continue;
                    }
                    let end = seg.col + seg.run;
                    let a = lo.clamp(seg.col, end);
                    let b = hi.clamp(a, end);
                    let row = &mut plane[oy as usize * g.w..][..g.w];
                    let ox0 = ((a * sx) as isize + offx) as usize;
                    let vals = &src[seg.dst + (a - seg.col)..seg.dst + (b - seg.col)];
                    for (i, &v) in vals.iter().enumerate() {
                        let at = ox0 + i * sx;
                        row[at] = row[at] + v;
                    }
                }
            }
        }
    }
}
