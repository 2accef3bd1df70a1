//! Stride-1 convolutions of f32 data whose output rows are whole vectors of 8 pixels, on CPUs
//! with AVX2 and FMA (the 3x3 convolutions of the UNet, their input gradients and their weight
//! gradients).
//!
//! Each image is copied once into a zero-padded buffer (or read where it is, when it needs no
//! padding, as the phase planes of [`super::patches`] do; a thread zeroes its buffer once per
//! call and then copies only each image's own pixels into it), and the kernel reads the columns
//! of its product as shifted rows of that buffer, in place: nothing is gathered, and only the
//! weight is packed. A register tile holds 4 output channels by 2 vectors of 8 pixels (one
//! channel by 4 vectors when the convolution has one output channel); every output element is
//! one chain of fused multiply-adds over `(c, ky, kx)` in order, so results depend on the
//! shapes alone. The im2col path, by contrast, copies each input pixel `KH KW` times
//! into its column tiles and the GEMM copies them once more into its panels, which costs more
//! than the arithmetic when the channels are few.

use super::Geom;
use crate::Cpu;
use crate::par::{self, Scratch};
use crate::simd::{LANES, ZERO, lane_sum};
use std::arch::x86_64::{
    __m256, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_storeu_ps,
};

/// Output channels per register tile.
const MR: usize = 4;
/// Groups of 8 output pixels per register tile of a convolution.
const NG: usize = 2;

/// Whether a convolution of finite f32 data with geometry `g` takes this path.
pub(super) fn suits(g: &Geom) -> bool {
    g.stride == [1, 1]
        && g.dil == [1, 1]
        && g.wo > 0
        && g.wo % LANES == 0
        && g.ho > 0
        && g.c > 0
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
}

/// `out = conv(x, w)` for a geometry that [`suits`] this path, one image per task.
pub(super) fn conv2d(cpu: &Cpu, g: &Geom, x: &[f32], w: &[f32], out: &mut [f32]) {
    assert!(suits(g), "rows::conv2d: unsuitable geometry {g:?}");
    if g.o == 1 {
        // A tile of 4 channels would compute 3 for nothing: one channel by 4 groups instead.
        conv2d_tiled::<1, 4>(cpu, g, x, w, out);
    } else {
        conv2d_tiled::<MR, NG>(cpu, g, x, w, out);
    }
}

/// [`conv2d`] with register tiles of `M` output channels by `G` groups of 8 pixels.
fn conv2d_tiled<const M: usize, const G: usize>(
    cpu: &Cpu,
    g: &Geom,
    x: &[f32],
    w: &[f32],
    out: &mut [f32],
) {
    let packed = pack_weight::<M>(g, w);
    let padded = Padded::new(g);
    let image = g.c * g.h * g.w;
    let scratch = Scratch::<f32>::new(cpu);
    par::chunks_mut(cpu, out, g.o * g.pixels(), |n, dst| {
        let src = &x[n * image..][..image];
        if padded.is_image(g) {
            // SAFETY: `suits` checked that the CPU has AVX2 and FMA.
            unsafe { image_avx2_fma::<M, G>(g, &padded, src, &packed, dst) };
        } else {
            let zero = |xp: &mut [f32]| xp.fill(0.0);
            scratch.with_prepared(padded.len(), zero, |xp| {
                padded.fill_image(g, src, xp);
                // SAFETY: `suits` checked that the CPU has AVX2 and FMA.
                unsafe { image_avx2_fma::<M, G>(g, &padded, xp, &packed, dst) };
            });
        }
    });
}

/// The weight in blocks of `M` output channels, each `[C KH KW][M]` (zeros past the last
/// channel), so that a tile reads its weights in order.
fn pack_weight<const M: usize>(g: &Geom, w: &[f32]) -> Vec<f32> {
    let k = g.k();
    let blocks = g.o.div_ceil(M);
    let mut packed = vec![0.0; blocks * k * M];
    for (o, row) in w.chunks_exact(k).enumerate().take(g.o) {
        let (b, i) = (o / M, o % M);
        for (kk, &v) in row.iter().enumerate() {
            packed[(b * k + kk) * M + i] = v;
        }
    }
    packed
}

/// The zero-padded copy of one image: rows `-pad[0] .. ho + kh - 1 - pad[0]` and columns
/// `-pad[1] .. wo + kw - 1 - pad[1]` of each channel, zero outside the image.
struct Padded {
    channels: usize,
    rows: usize,
    cols: usize,
}

impl Padded {
    fn new(g: &Geom) -> Self {
        Padded {
            channels: g.c,
            rows: g.ho + g.kh - 1,
            cols: g.wo + g.kw - 1,
        }
    }

    fn plane(&self) -> usize {
        self.rows * self.cols
    }

    fn len(&self) -> usize {
        self.channels * self.plane()
    }

    /// Whether the padded copy would be the image itself (no padding, no row or column left
    /// unread), so that the kernels can read the image in place.
    fn is_image(&self, g: &Geom) -> bool {
        g.pad == [0, 0] && self.rows == g.h && self.cols == g.w
    }

    /// Writes the padded copy of `image` (`[C, H, W]`) into `xp`.
    fn fill(&self, g: &Geom, image: &[f32], xp: &mut [f32]) {
        xp.fill(0.0);
        self.fill_image(g, image, xp);
    }

    /// Writes `image` (`[C, H, W]`) into the padded copy `xp`, whose padding is zeros already
    /// (one task's buffer is zeroed once and then holds image after image: only the image's
    /// own pixels change).
    fn fill_image(&self, g: &Geom, image: &[f32], xp: &mut [f32]) {
        let (lo, hi) = super::valid_range(-g.pad[1], 1, g.w, self.cols);
        if lo >= hi {
            return;
        }
        let from = (lo as isize - g.pad[1]) as usize;
        let (first, last) = super::valid_range(-g.pad[0], 1, g.h, self.rows);
        for (src, dst) in image
            .chunks_exact(g.h * g.w)
            .zip(xp.chunks_exact_mut(self.plane()))
        {
            for r in first..last {
                let iy = (r as isize - g.pad[0]) as usize;
                let data = &src[iy * g.w + from..][..hi - lo];
                let row = &mut dst[r * self.cols + lo..][..hi - lo];
                // SAFETY: `suits` checked that the CPU has AVX2 and FMA.
                unsafe { copy_avx2(data, row) };
            }
        }
    }
}

/// `dst.copy_from_slice(src)` in whole vectors (the last one overlapping the one before) when
/// the rows are 8 elements or more: a padded image's rows are a few vectors long, where a call
/// into `memcpy` per row costs more than the copy.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2,fma")]
unsafe fn copy_avx2(src: &[f32], dst: &mut [f32]) {
    let m = src.len();
    assert_eq!(m, dst.len());
    if m < LANES {
        dst.copy_from_slice(src);
        return;
    }
    let mut j = 0;
    // SAFETY: every vector read and written starts at `j <= m - 8`.
    unsafe {
        while j + LANES < m {
            _mm256_storeu_ps(
                dst.as_mut_ptr().add(j),
                _mm256_loadu_ps(src.as_ptr().add(j)),
            );
            j += LANES;
        }
        let j = m - LANES;
        _mm256_storeu_ps(
            dst.as_mut_ptr().add(j),
            _mm256_loadu_ps(src.as_ptr().add(j)),
        );
    }
}

/// All output channels of one image, from its padded copy `xp`, into `dst` (`[O, HO, WO]`),
/// in register tiles of `M` channels by `G` groups of 8 pixels.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn image_avx2_fma<const M: usize, const G: usize>(
    g: &Geom,
    padded: &Padded,
    xp: &[f32],
    packed: &[f32],
    dst: &mut [f32],
) {
    let k = g.k();
    let pix = g.pixels();
    let per_row = g.wo / LANES;
    let groups = g.ho * per_row;
    // Where group `i` of 8 output pixels reads (channel 0, tap 0) and writes.
    let at = |i: usize| {
        let (oy, gx) = (i / per_row, (i % per_row) * LANES);
        (oy * padded.cols + gx, oy * g.wo + gx)
    };
    assert!(xp.len() >= padded.len() && packed.len() >= g.o.div_ceil(M) * k * M);
    assert_eq!(dst.len(), g.o * pix);
    for (b, weights) in packed.chunks_exact(k * M).enumerate() {
        let o0 = b * M;
        for first in (0..groups).step_by(G) {
            // The last tile repeats its last group where the groups run out.
            let members: [usize; G] = std::array::from_fn(|i| (first + i).min(groups - 1));
            let reads = members.map(|i| at(i).0);
            // SAFETY: every tap of a group lies in the padded image (see `tile`).
            let acc = unsafe { tile::<M, G>(g, padded, xp, weights, reads) };
            for (i, acc) in acc.iter().enumerate().take(g.o - o0) {
                let plane = &mut dst[(o0 + i) * pix..][..pix];
                for (m, &v) in acc.iter().enumerate().take(groups - first) {
                    let write = at(members[m]).1;
                    // SAFETY: each group's 8 pixels lie in one output row, inside `plane`.
                    unsafe { _mm256_storeu_ps(plane[write..][..LANES].as_mut_ptr(), v) };
                }
            }
        }
    }
}

/// One register tile: `M` output channels by the `G` 8-pixel groups that start at padded
/// offsets `reads`, summed over `(c, ky, kx)` in order. With [`MR`] by [`NG`]: 8 sums, 2 inputs
/// and a weight in registers (3 groups measured slower, the compiler then shuffles registers).
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `xp` must hold the `C` padded planes and `weights` the
/// `C KH KW` packed rows of one block. Every read stays inside them: a group starts at
/// `oy cols + gx` with `oy < HO` and `gx + 8 <= WO`, so its last tap reads `(C - 1) plane +
/// (oy + KH - 1) cols + gx + KW - 1 + 7 < C plane`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<const M: usize, const G: usize>(
    g: &Geom,
    padded: &Padded,
    xp: &[f32],
    weights: &[f32],
    reads: [usize; G],
) -> [[__m256; G]; M] {
    let mut acc = [[ZERO; G]; M];
    let starts = reads.map(|r| xp.as_ptr().wrapping_add(r));
    let mut wk = weights.as_ptr();
    for c in 0..g.c {
        for ky in 0..g.kh {
            let row = c * padded.plane() + ky * padded.cols;
            for kx in 0..g.kw {
                // SAFETY: in bounds, see the function's contract.
                unsafe {
                    let mut v = [ZERO; G];
                    for (v, start) in v.iter_mut().zip(starts) {
                        *v = _mm256_loadu_ps(start.add(row + kx));
                    }
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let wv = _mm256_broadcast_ss(&*wk.add(i));
                        for (acc, &v) in acc.iter_mut().zip(&v) {
                            *acc = _mm256_fmadd_ps(wv, v, *acc);
                        }
                    }
                    wk = wk.add(M);
                }
            }
        }
    }
    acc
}

/// Columns `(c, ky, kx)` of the weight gradient per register tile.
const NR: usize = 3;

/// The weight gradient `gw[o, (c, ky, kx)] = sum_{n, p} dy[n, o, p] xp_n[(c, ky, kx) + p]` for
/// a geometry that [`suits`] this path, with `xp_n` the padded copy of image `n`. Tasks own
/// blocks of [`MR`] output channels and sum every image in order, so nothing is reduced across
/// tasks; a tile sums 8 pixels per lane and adds its lanes once at the end.
pub(super) fn conv2d_weight_grad(cpu: &Cpu, g: &Geom, x: &[f32], dy: &[f32], out: &mut [f32]) {
    assert!(
        suits(g),
        "rows::conv2d_weight_grad: unsuitable geometry {g:?}"
    );
    let padded = Padded::new(g);
    let image = g.c * g.h * g.w;
    let copy = (!padded.is_image(g)).then(|| {
        let mut xp = cpu.workspace().take::<f32>(g.n * padded.len());
        par::chunks_mut(cpu, &mut xp, padded.len(), |n, dst| {
            padded.fill(g, &x[n * image..][..image], dst);
        });
        xp
    });
    let xp = copy.as_deref().unwrap_or(x);
    let k = g.k();
    let taps = g.kh * g.kw;
    // Where column j reads, relative to a pixel group's start; the columns past the last one
    // (which fill the last tile) read column 0 and are discarded.
    let offsets: Vec<usize> = (0..k.div_ceil(NR) * NR)
        .map(|j| {
            let (c, tap) = if j < k { (j / taps, j % taps) } else { (0, 0) };
            c * padded.plane() + (tap / g.kw) * padded.cols + tap % g.kw
        })
        .collect();
    par::chunks_mut(cpu, out, MR * k, |b, rows| {
        // SAFETY: `suits` checked that the CPU has AVX2 and FMA.
        unsafe { weight_block_avx2_fma(g, &padded, xp, dy, &offsets, b * MR, rows) };
    });
    if let Some(xp) = copy {
        cpu.workspace().give(xp);
    }
}

/// Rows `o0..` of the weight gradient (`rows` holds whole rows of `C KH KW`), from the padded
/// images `xp` and the output gradient `dy`.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn weight_block_avx2_fma(
    g: &Geom,
    padded: &Padded,
    xp: &[f32],
    dy: &[f32],
    offsets: &[usize],
    o0: usize,
    rows: &mut [f32],
) {
    let (k, pix) = (g.k(), g.pixels());
    let channels = rows.len() / k;
    assert!(channels >= 1 && o0 + channels <= g.o && offsets.len() >= k);
    assert!(xp.len() >= g.n * padded.len() && dy.len() >= g.n * g.o * pix);
    // Each tile's lanes, carried from image to image: an image's rows of the output gradient
    // and its padded copy stay in the L1 cache while every tile passes over them.
    let mut sums = vec![[[ZERO; NR]; MR]; k.div_ceil(NR)];
    for n in 0..g.n {
        let xn = xp[n * padded.len()..].as_ptr();
        // The block's output-gradient rows; a block past the last channel repeats it.
        let mut dy_rows = [dy.as_ptr(); MR];
        for (i, row) in dy_rows.iter_mut().enumerate() {
            *row = dy[(n * g.o + o0 + i.min(channels - 1)) * pix..].as_ptr();
        }
        for (tile, sum) in sums.iter_mut().enumerate() {
            let offs = &offsets[tile * NR..][..NR];
            let mut acc = *sum;
            for oy in 0..g.ho {
                for gx in (0..g.wo).step_by(LANES) {
                    let (read, at) = (oy * padded.cols + gx, oy * g.wo + gx);
                    // SAFETY: `at + 8 <= pix` within each row's plane; `read + offs[j] + 8 <=
                    // C plane` as in `tile`.
                    // 12 sums, 3 columns and one output-gradient row at a time: 16 registers.
                    unsafe {
                        let mut b = [ZERO; NR];
                        for (b, &off) in b.iter_mut().zip(offs) {
                            *b = _mm256_loadu_ps(xn.add(read + off));
                        }
                        for (acc, row) in acc.iter_mut().zip(dy_rows) {
                            let a = _mm256_loadu_ps(row.add(at));
                            for (acc, &b) in acc.iter_mut().zip(&b) {
                                *acc = _mm256_fmadd_ps(a, b, *acc);
                            }
                        }
                    }
                }
            }
            *sum = acc;
        }
    }
    for (tile, acc) in sums.iter().enumerate() {
        let j0 = tile * NR;
        for (i, acc) in acc.iter().enumerate().take(channels) {
            for (j, &v) in acc.iter().enumerate().take(k - j0) {
                // SAFETY: the caller's CPU has AVX2 and FMA.
                rows[i * k + j0 + j] = unsafe { lane_sum(v) };
            }
        }
    }
}
