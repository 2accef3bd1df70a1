//! The weight gradient of a convolution, read from the image and the output gradient in place:
//!
//! ```text
//! gw[o, (c, ky, kx)] = sum_{n, p} dy[n, o, p] cols_n[(c, ky, kx), p]
//! ```
//!
//! with `cols_n` the column matrix of image `n` that [`im2col`](super::im2col) gathers for the
//! forward convolution. The pixels of all images, flat over `(image, pixel)`, are cut into
//! tiles; a tile's columns are gathered into the thread's scratch (as in the forward pass) with
//! the matching `[O, pixels]` block of the output gradient, and one GEMM per contraction chunk
//! accumulates `dy_tile cols_tile^T` into the task's partial gradient. Tasks own consecutive
//! tiles (a split fixed by the shapes), and their partial gradients are added in task order,
//! so the result does not depend on the thread count.
//!
//! The composed route (a convolution of permuted copies of the image and the output gradient,
//! [`dualscore_core::backend::composed::conv2d_weight_grad`]) copies both operands twice and
//! runs a convolution whose "kernel" is a whole output gradient; this path copies nothing but
//! the tiles it multiplies.

use super::im2col::{K_CHUNK, NR, gather, gather_same, segments};
use super::{Geom, MIN_TASKS, TILE_ELEMS};
use crate::gemm::{Mat, MatMut, gemm};
use crate::par::{self, Scratch};
use crate::{Cpu, zeroed};
use dualscore_core::{Float, Result};

/// Whether this path is the faster one for `g` (measured on 32 images, BENCHMARKS.md): for a
/// first layer (a few input channels), and for wide layers (`O C >= 1024`). The composed route
/// wins for a few output channels (a GEMV-shaped product here) and for narrow layers.
pub(super) fn suits(g: &Geom) -> bool {
    g.o >= 4 && (g.c < 4 || g.o * g.c >= 1024)
}

/// How the flat pixels are cut into tiles and tasks.
#[derive(Clone, Copy, Debug)]
struct Split {
    /// Contraction chunk length.
    tk: usize,
    /// Pixels per tile.
    tp: usize,
    /// Tiles in all.
    tiles: usize,
    /// Tasks, each owning consecutive tiles.
    tasks: usize,
}

impl Split {
    fn new(g: &Geom) -> Self {
        let k = g.k();
        let tk = k.div_ceil(k.div_ceil(K_CHUNK));
        let total = g.n * g.pixels();
        let tp_max = ((TILE_ELEMS / tk).clamp(64, 4096) / NR) * NR;
        let tiles = total.div_ceil(tp_max).max(1);
        let tp = total.div_ceil(tiles);
        let tasks = tiles.min(MIN_TASKS);
        Split {
            tk,
            tp,
            tiles,
            tasks,
        }
    }

    /// The flat pixels of task `t`.
    fn task_pixels(&self, t: usize, total: usize) -> (usize, usize) {
        let first = t * self.tiles / self.tasks;
        let end = (t + 1) * self.tiles / self.tasks;
        ((first * self.tp).min(total), (end * self.tp).min(total))
    }
}

/// `out[o, (c, ky, kx)] = sum_{n, p} dy[n, o, p] cols_n[(c, ky, kx), p]` for finite data:
/// `x` is `[N, C, H, W]`, `dy` `[N, O, HO, WO]` (the geometry's output size), `out`
/// `[O, C, KH, KW]`, zeroed.
pub(super) fn conv2d_weight_grad<T: Float>(
    cpu: &Cpu,
    g: &Geom,
    x: &[T],
    dy: &[T],
    out: &mut [T],
) -> Result<()> {
    let (k, o, pix) = (g.k(), g.o, g.pixels());
    let total = g.n * pix;
    if total == 0 || k == 0 || o == 0 {
        return Ok(());
    }
    let s = Split::new(g);
    let mut partials = zeroed::<T>(s.tasks * o * k)?;
    let scratch = Scratch::<T>::new(cpu);
    let work = total.saturating_mul(k).saturating_mul(o);
    let same = g.stride == [1, 1] && g.wo == g.w;
    let lens = vec![o * k; s.tasks];
    par::pieces_mut(cpu, &mut partials, &lens, work >= 1 << 16, |t, partial| {
        let (first, end) = s.task_pixels(t, total);
        scratch.with(s.tk * s.tp + o * s.tp, |buf| {
            let (cols, dy_tile) = buf.split_at_mut(s.tk * s.tp);
            let mut segs = Vec::new();
            for f0 in (first..end).step_by(s.tp) {
                let len = s.tp.min(end - f0);
                let dy_tile = &mut dy_tile[..o * len];
                copy_output_gradient(g, dy, f0, len, dy_tile);
                segments(&mut segs, 0, g.ho, g.wo, f0, len);
                for k0 in (0..k).step_by(s.tk) {
                    let kl = s.tk.min(k - k0);
                    let cols = &mut cols[..kl * len];
                    if same {
                        for (r, row) in cols.chunks_exact_mut(len).enumerate() {
                            for (img, p0, dst, run) in image_runs(f0, len, pix) {
                                gather_same(g, x, img, p0, k0 + r, &mut row[dst..dst + run]);
                            }
                        }
                    } else {
                        gather(g, x, &segs, k0, kl, len, cols);
                    }
                    // partial^T[k0.., o] += cols dy_tile^T
                    let c = MatMut {
                        data: &mut partial[k0 * o..],
                        rows: kl,
                        cols: o,
                        rs: o,
                        cs: 1,
                    };
                    gemm(
                        Mat::rows(cols, kl, len),
                        Mat::rows(dy_tile, o, len).t(),
                        c,
                        true,
                    );
                }
            }
        });
    });
    for partial in partials.chunks_exact(o * k) {
        for (kk, row) in partial.chunks_exact(o).enumerate() {
            for (oi, &v) in row.iter().enumerate() {
                out[oi * k + kk] = out[oi * k + kk] + v;
            }
        }
    }
    Ok(())
}

/// The pieces of flat pixels `f0..f0 + len` that lie in one image each: `(image, first pixel
/// in the image, offset in the tile, length)`.
fn image_runs(
    f0: usize,
    len: usize,
    pix: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    let mut f = f0;
    std::iter::from_fn(move || {
        if f >= f0 + len {
            return None;
        }
        let (img, p0) = (f / pix, f % pix);
        let run = (pix - p0).min(f0 + len - f);
        let piece = (img, p0, f - f0, run);
        f += run;
        Some(piece)
    })
}

/// `tile[o][j] = dy[img, o, p]` for the flat pixels `(img, p)` of `f0..f0 + len`.
fn copy_output_gradient<T: Float>(g: &Geom, dy: &[T], f0: usize, len: usize, tile: &mut [T]) {
    let pix = g.pixels();
    for (img, p0, dst, run) in image_runs(f0, len, pix) {
        for oi in 0..g.o {
            tile[oi * len + dst..][..run]
                .copy_from_slice(&dy[(img * g.o + oi) * pix + p0..][..run]);
        }
    }
}
