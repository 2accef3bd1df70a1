//! The general convolution: gathered column tiles times the weight.
//!
//! Work is split into tasks that each own a contiguous piece of the output: one image and a
//! block of output channels, or a group of whole images when images are small. A task walks
//! its output pixels in tiles; for each tile and each chunk of the contraction it gathers the
//! `[chunk, pixels]` columns (zero where the kernel reads padding) into its thread's scratch
//! and accumulates one GEMM into the output. The weight is transposed once per call so that
//! the GEMM packs it with contiguous copies.

use super::{Geom, MIN_TASKS, TILE_ELEMS, valid_range};
use crate::Cpu;
use crate::gemm::{Mat, MatMut, gemm};
use crate::par::{self, Scratch};
use dualscore_core::Float;

/// Longest contraction chunk gathered at once.
pub(super) const K_CHUNK: usize = 256;
/// GEMM register tile width: tile sizes are rounded to multiples of it.
pub(super) const NR: usize = 16;

/// A run of output pixels of one output row: image, row, first column, length, and where it
/// lands in the tile.
#[derive(Clone, Copy, Debug)]
pub(super) struct Seg {
    pub(super) img: usize,
    pub(super) row: usize,
    pub(super) col: usize,
    pub(super) run: usize,
    pub(super) dst: usize,
}

/// The runs of output rows covering flat pixels `p0..p0 + len` (flat over `(image, row,
/// column)` with `rows x cols` images starting at image `img0`).
pub(super) fn segments(
    segs: &mut Vec<Seg>,
    img0: usize,
    rows: usize,
    cols: usize,
    p0: usize,
    len: usize,
) {
    segs.clear();
    let plane = rows * cols;
    let mut p = p0;
    let mut dst = 0;
    while dst < len {
        let (img, rem) = (p / plane, p % plane);
        let (row, col) = (rem / cols, rem % cols);
        let run = (cols - col).min(len - dst);
        segs.push(Seg {
            img: img0 + img,
            row,
            col,
            run,
            dst,
        });
        p += run;
        dst += run;
    }
}

/// How a convolution is split into tasks and tiles.
#[derive(Clone, Copy, Debug)]
struct Split {
    /// Contraction chunk length.
    tk: usize,
    /// Images per task.
    per_task: usize,
    /// Output channels per task.
    ob: usize,
    /// Pixels per tile (when a task holds one image).
    tp: usize,
}

impl Split {
    fn new(g: &Geom) -> Self {
        let k = g.k();
        let tk = k.div_ceil(k.div_ceil(K_CHUNK));
        let tp_max = ((TILE_ELEMS / tk).clamp(64, 4096) / NR) * NR;
        let pix = g.pixels();
        let per_task = if pix * 2 >= tp_max {
            1
        } else {
            (tp_max / pix).clamp(1, g.n.div_ceil(MIN_TASKS).max(1))
        };
        let groups = g.n.div_ceil(per_task);
        let mut ob = g.o;
        if per_task == 1 && groups < MIN_TASKS && g.o > 2 * NR {
            let blocks = MIN_TASKS.div_ceil(groups).min(g.o.div_ceil(NR));
            ob = g.o.div_ceil(blocks).div_ceil(NR) * NR;
        }
        let tiles = pix.div_ceil(tp_max);
        let tp = (pix.div_ceil(tiles).div_ceil(NR) * NR).min(pix);
        Split {
            tk,
            per_task,
            ob,
            tp,
        }
    }
}

/// `out = conv(x, w)` for finite data.
pub(super) fn conv2d<T: Float>(cpu: &Cpu, g: &Geom, x: &[T], w: &[T], out: &mut [T]) {
    let (k, pix, o) = (g.k(), g.pixels(), g.o);
    // wt[kk][o] = w[o][kk]: the GEMM's left operand, column-major.
    let mut wt = vec![T::zero(); k * o];
    for (oi, row) in w.chunks_exact(k).enumerate() {
        for (kk, &v) in row.iter().enumerate() {
            wt[kk * o + oi] = v;
        }
    }
    let s = Split::new(g);
    let groups = g.n.div_ceil(s.per_task);
    let blocks = o.div_ceil(s.ob);
    let mut lens = Vec::with_capacity(groups * blocks);
    for gi in 0..groups {
        let imgs = s.per_task.min(g.n - gi * s.per_task);
        for b in 0..blocks {
            lens.push(imgs * s.ob.min(o - b * s.ob) * pix);
        }
    }
    let tile = if s.per_task == 1 {
        s.tp
    } else {
        s.per_task * pix
    };
    let acc_len = if s.per_task == 1 { 0 } else { o * tile };
    let scratch = Scratch::<T>::new(cpu);
    let work = (g.n * o * pix).saturating_mul(k);
    // A "same" convolution gathers each row of the column matrix with one copy per image.
    let same = g.stride == [1, 1] && g.wo == g.w;
    par::pieces_mut(cpu, out, &lens, work >= 1 << 16, |t, piece| {
        let (gi, b) = (t / blocks, t % blocks);
        let img0 = gi * s.per_task;
        let o0 = b * s.ob;
        let ob = piece.len() / pix / s.per_task.min(g.n - img0);
        scratch.with(s.tk * tile + acc_len, |buf| {
            let (cols, acc) = buf.split_at_mut(s.tk * tile);
            let mut segs = Vec::new();
            if s.per_task == 1 {
                for p0 in (0..pix).step_by(s.tp) {
                    let len = s.tp.min(pix - p0);
                    segments(&mut segs, img0, g.ho, g.wo, p0, len);
                    for k0 in (0..k).step_by(s.tk) {
                        let kl = s.tk.min(k - k0);
                        let cols = &mut cols[..kl * len];
                        if same {
                            for (r, row) in cols.chunks_exact_mut(len).enumerate() {
                                gather_same(g, x, img0, p0, k0 + r, row);
                            }
                        } else {
                            gather(g, x, &segs, k0, kl, len, cols);
                        }
                        let a = Mat {
                            data: &wt[k0 * o + o0..],
                            rows: ob,
                            cols: kl,
                            rs: 1,
                            cs: o,
                        };
                        let c = MatMut {
                            data: &mut piece[p0..],
                            rows: ob,
                            cols: len,
                            rs: pix,
                            cs: 1,
                        };
                        gemm(a, Mat::rows(cols, kl, len), c, k0 > 0);
                    }
                }
            } else {
                let imgs = s.per_task.min(g.n - img0);
                let len = imgs * pix;
                segments(&mut segs, img0, g.ho, g.wo, 0, len);
                let acc = &mut acc[..o * len];
                for k0 in (0..k).step_by(s.tk) {
                    let kl = s.tk.min(k - k0);
                    let cols = &mut cols[..kl * len];
                    if same {
                        for (r, row) in cols.chunks_exact_mut(len).enumerate() {
                            for (j, dst) in row.chunks_exact_mut(pix).enumerate() {
                                gather_same(g, x, img0 + j, 0, k0 + r, dst);
                            }
                        }
                    } else {
                        gather(g, x, &segs, k0, kl, len, cols);
                    }
                    let a = Mat {
                        data: &wt[k0 * o..],
                        rows: o,
                        cols: kl,
                        rs: 1,
                        cs: o,
                    };
                    gemm(
                        a,
                        Mat::rows(cols, kl, len),
                        MatMut::rows(acc, o, len),
                        k0 > 0,
                    );
                }
                // acc[o][(image, pixel)] -> piece[image][o][pixel].
                for j in 0..imgs {
                    for oi in 0..o {
                        piece[(j * o + oi) * pix..][..pix]
                            .copy_from_slice(&acc[oi * len + j * pix..][..pix]);
                    }
                }
            }
        });
    });
}

/// Gathers rows `k0..k0 + kl` of the column matrix for the pixels of `segs` into `cols`
/// (`kl x len`, row-major): `cols[kk][p] = x[img, c, row sy + ky dy - pt, col sx + kx dx - pl]`
/// with `(c, ky, kx)` the contraction index `k0 + kk`, zero in the padding.
pub(super) fn gather<T: Float>(
    g: &Geom,
    x: &[T],
    segs: &[Seg],
    k0: usize,
    kl: usize,
    len: usize,
    cols: &mut [T],
) {
    let kk_per_c = g.kh * g.kw;
    let plane = g.h * g.w;
    let [sy, sx] = g.stride;
    for (r, dst_row) in cols.chunks_exact_mut(len).take(kl).enumerate() {
        let kk = k0 + r;
        let (c, rem) = (kk / kk_per_c, kk % kk_per_c);
        let (ky, kx) = (rem / g.kw, rem % g.kw);
        let offx = (kx * g.dil[1]) as isize - g.pad[1];
        let (lo, hi) = valid_range(offx, sx, g.w, g.wo);
        let offy = (ky * g.dil[0]) as isize - g.pad[0];
        for seg in segs {
            let dst = &mut dst_row[seg.dst..seg.dst + seg.run];
            let iy = (seg.row * sy) as isize + offy;
            if iy < 0 || iy >= g.h as isize {
                zero(dst);
                continue;
            }
            let src = &x[(seg.img * g.c + c) * plane + iy as usize * g.w..][..g.w];
            let end = seg.col + seg.run;
            let a = lo.clamp(seg.col, end);
            let b = hi.clamp(a, end);
            zero(&mut dst[..a - seg.col]);
            zero(&mut dst[b - seg.col..]);
            if b > a {
                let ix0 = ((a * sx) as isize + offx) as usize;
                let body = &mut dst[a - seg.col..b - seg.col];
                if sx == 1 {
                    body.copy_from_slice(&src[ix0..ix0 + (b - a)]);
                } else {
                    for (i, d) in body.iter_mut().enumerate() {
                        *d = src[ix0 + i * sx];
                    }
                }
            }
        }
    }
}

/// Zeros a short run without a call into `memset`.
#[inline]
fn zero<T: Float>(run: &mut [T]) {
    for v in run {
        *v = T::zero();
    }
}

/// [`gather`] for a "same" convolution (unit stride, output as wide as the input): row `kk`
/// of the column matrix, for pixels `p0..p0 + dst.len()` of image `img`. Output pixel
/// `p = oy W + ox` reads input element `p + (ky dy - pt) W + (kx dx - pl)`: one contiguous
/// copy, then zeros where the kernel reads the padding (rows above or below the image, and the
/// few columns past its left or right edge, which the copy filled from the neighbouring row).
pub(super) fn gather_same<T: Float>(
    g: &Geom,
    x: &[T],
    img: usize,
    p0: usize,
    kk: usize,
    dst: &mut [T],
) {
    let plane = g.h * g.w;
    let (w, ho) = (g.w, g.ho);
    let p1 = p0 + dst.len();
    let (c, rem) = (kk / (g.kh * g.kw), kk % (g.kh * g.kw));
    let (ky, kx) = (rem / g.kw, rem % g.kw);
    let offy = (ky * g.dil[0]) as isize - g.pad[0];
    let offx = (kx * g.dil[1]) as isize - g.pad[1];
    let src = &x[(img * g.c + c) * plane..][..plane];
    // Output rows whose input row lies inside the image.
    let oy_lo = (-offy).clamp(0, ho as isize) as usize;
    let oy_hi = (g.h as isize - offy).clamp(oy_lo as isize, ho as isize) as usize;
    // Pixels of the tile in those rows whose shifted index lies in the plane.
    let shift = offy * w as isize + offx;
    let lo = (oy_lo * w).max(p0).max((-shift).max(0) as usize).min(p1);
    let hi = (oy_hi * w)
        .min(p1)
        .min((plane as isize - shift).max(0) as usize)
        .max(lo);
    zero(&mut dst[..lo - p0]);
    zero(&mut dst[hi - p0..]);
    if hi > lo {
        let s0 = (lo as isize + shift) as usize;
        dst[lo - p0..hi - p0].copy_from_slice(&src[s0..s0 + (hi - lo)]);
    }
    // Columns whose input column falls outside the image.
    let (c_lo, c_hi) = valid_range(offx, 1, w, w);
    if c_lo > 0 || c_hi < w {
        for oy in lo / w..hi.div_ceil(w) {
            let row = oy * w;
            for ox in (0..c_lo).chain(c_hi..w) {
                let p = row + ox;
                if p >= lo && p < hi {
                    dst[p - p0] = T::zero();
                }
            }
        }
    }
}
