//! The direct loops of the definitions, for data holding infinities or NaNs (and for
//! parameters too large for the index arithmetic of the fast paths): taps that fall in the
//! padding are skipped, never multiplied, exactly as in the reference backend.

use super::Geom;
use crate::{Cpu, par};
use dualscore_core::Float;

/// `in_pos = out_pos * s + tap * d - pad` when it lies in `0..size`.
#[inline]
fn pos(out_pos: usize, s: usize, tap: usize, d: usize, pad: isize, size: usize) -> Option<usize> {
    let p = out_pos as i128 * s as i128 + tap as i128 * d as i128 - pad as i128;
    (0..size as i128).contains(&p).then_some(p as usize)
}

/// Convolution: one output plane per task.
pub(super) fn conv2d<T: Float>(cpu: &Cpu, g: &Geom, x: &[T], w: &[T], out: &mut [T]) {
    let plane = g.ho * g.wo;
    let kk = g.kh * g.kw;
    par::chunks_mut(cpu, out, plane, |t, dst| {
        let (n, o) = (t / g.o, t % g.o);
        for oy in 0..g.ho {
            for ox in 0..g.wo {
                let mut acc = T::zero();
                for c in 0..g.c {
                    let xc = &x[(n * g.c + c) * g.h * g.w..][..g.h * g.w];
                    let wc = &w[(o * g.c + c) * kk..][..kk];
                    for ky in 0..g.kh {
                        let Some(iy) = pos(oy, g.stride[0], ky, g.dil[0], g.pad[0], g.h) else {
                            continue;
                        };
                        for kx in 0..g.kw {
                            let Some(ix) = pos(ox, g.stride[1], kx, g.dil[1], g.pad[1], g.w) else {
                                continue;
                            };
                            acc = acc + xc[iy * g.w + ix] * wc[ky * g.kw + kx];
                        }
                    }
                }
                dst[oy * g.wo + ox] = acc;
            }
        }
    });
}

/// Transposed convolution (the adjoint of [`conv2d`] for the geometry `g`, whose output is
/// `x` and whose input is `out`): one output image per task, contributions added in a fixed
/// order.
pub(super) fn conv_transpose2d<T: Float>(cpu: &Cpu, g: &Geom, x: &[T], w: &[T], out: &mut [T]) {
    let image = g.c * g.h * g.w;
    let kk = g.kh * g.kw;
    par::chunks_mut(cpu, out, image, |n, dst| {
        for ci in 0..g.o {
            let xc = &x[(n * g.o + ci) * g.ho * g.wo..][..g.ho * g.wo];
            for iy in 0..g.ho {
                for ix in 0..g.wo {
                    let v = xc[iy * g.wo + ix];
                    for co in 0..g.c {
                        let wc = &w[(ci * g.c + co) * kk..][..kk];
                        for ky in 0..g.kh {
                            let Some(oy) = pos(iy, g.stride[0], ky, g.dil[0], g.pad[0], g.h) else {
                                continue;
                            };
                            for kx in 0..g.kw {
                                let Some(ox) = pos(ix, g.stride[1], kx, g.dil[1], g.pad[1], g.w)
                                else {
                                    continue;
                                };
                                let at = (co * g.h + oy) * g.w + ox;
                                dst[at] = dst[at] + v * wc[ky * g.kw + kx];
                            }
                        }
                    }
                }
            }
        }
    });
}
