//! 2-D convolution (cross-correlation) in NCHW and its input-adjoint, the transposed
//! convolution, each written as the direct loop of its definition.
//!
//! Along one spatial axis, output position `ho` of the convolution reads input position
//! `hi = ho * s - p + kh * d` for every kernel tap `kh`, and taps that fall outside `0..H` read
//! the zero padding. The transposed convolution is the adjoint of that map: input position `hi`
//! scatters into output position `hi * s - p + kh * d` for every tap, and positions outside the
//! output are dropped.
//!
//! Each takes the output its validation returned (see [`crate::backend::validate`]).

use super::{filled, index};
use crate::backend::ops::{Conv2dParams, ConvTranspose2dParams};
use crate::backend::validate::Output;
use crate::error::Result;
use crate::scalar::Float;
use crate::shape::Shape;

/// `base + tap - pad` when it lies in `0..size`: the position a tap reaches, or `None` in the
/// zero padding. `base + tap` is `ho * s + kh * d` for a convolution, `hi * s + kh * d` for a
/// transposed one.
fn shifted(base: usize, tap: usize, pad: usize, size: usize) -> Option<usize> {
    let pos = (base + tap).checked_sub(pad)?;
    (pos < size).then_some(pos)
}

/// `out[n, o, ho, wo] = sum_{c, kh, kw} x[n, c, ho*sh - ph + kh*dh, wo*sw - pw + kw*dw]
/// * w[o, c, kh, kw]`, with out-of-range input positions reading zero.
pub(super) fn conv2d<T: Float>(
    input: &[T],
    input_shape: &Shape,
    weight: &[T],
    weight_shape: &Shape,
    params: &Conv2dParams,
    output: &Output,
) -> Result<Vec<T>> {
    let xs = input_shape.dims();
    let ws = weight_shape.dims();
    let os = output.shape.dims();
    let (x_st, w_st, o_st) = (index::strides(xs), index::strides(ws), index::strides(os));
    let ([sh, sw], [ph, pw], [dh, dw]) = (params.stride, params.padding, params.dilation);
    let mut out = filled(output.len, 0.0)?;
    for n in 0..os[0] {
        for o in 0..os[1] {
            for ho in 0..os[2] {
                for wo in 0..os[3] {
                    let mut acc = 0.0;
                    for c in 0..xs[1] {
                        for kh in 0..ws[2] {
                            let Some(hi) = shifted(ho * sh, kh * dh, ph, xs[2]) else {
                                continue;
                            };
                            for kw in 0..ws[3] {
                                let Some(wi) = shifted(wo * sw, kw * dw, pw, xs[3]) else {
                                    continue;
                                };
                                let xv = input[index::ravel(&[n, c, hi, wi], &x_st)].as_f64();
                                let wv = weight[index::ravel(&[o, c, kh, kw], &w_st)].as_f64();
                                acc += xv * wv;
                            }
                        }
                    }
                    out[index::ravel(&[n, o, ho, wo], &o_st)] = acc;
                }
            }
        }
    }
    Ok(out.into_iter().map(T::of_f64).collect())
}

/// The adjoint of [`conv2d`] in its input: `out[n, co, hi*sh - ph + kh*dh, wi*sw - pw + kw*dw]
/// += x[n, ci, hi, wi] * w[ci, co, kh, kw]`, dropping positions outside the output (whose size
/// includes the output padding).
pub(super) fn conv_transpose2d<T: Float>(
    input: &[T],
    input_shape: &Shape,
    weight: &[T],
    weight_shape: &Shape,
    params: &ConvTranspose2dParams,
    output: &Output,
) -> Result<Vec<T>> {
    let xs = input_shape.dims();
    let ws = weight_shape.dims();
    let os = output.shape.dims();
    let (x_st, w_st, o_st) = (index::strides(xs), index::strides(ws), index::strides(os));
    let ([sh, sw], [ph, pw], [dh, dw]) = (params.stride, params.padding, params.dilation);
    let mut out = filled(output.len, 0.0)?;
    for n in 0..xs[0] {
        for ci in 0..xs[1] {
            for hi in 0..xs[2] {
                for wi in 0..xs[3] {
                    let xv = input[index::ravel(&[n, ci, hi, wi], &x_st)].as_f64();
                    for co in 0..ws[1] {
                        for kh in 0..ws[2] {
                            let Some(ho) = shifted(hi * sh, kh * dh, ph, os[2]) else {
                                continue;
                            };
                            for kw in 0..ws[3] {
                                let Some(wo) = shifted(wi * sw, kw * dw, pw, os[3]) else {
                                    continue;
                                };
                                let wv = weight[index::ravel(&[ci, co, kh, kw], &w_st)].as_f64();
                                out[index::ravel(&[n, co, ho, wo], &o_st)] += xv * wv;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(out.into_iter().map(T::of_f64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::backend::reference::Reference;
    use crate::rng::{RngKey, uniform_values};

    /// The convolution as the backend calls it, after validation.
    fn conv(x: &[f64], xs: [usize; 4], w: &[f64], ws: [usize; 4], p: Conv2dParams) -> Vec<f64> {
        let (x, w) = (x.to_vec(), w.to_vec());
        Reference
            .conv2d(&x, &Shape::new(xs), &w, &Shape::new(ws), &p)
            .unwrap()
    }

    fn convt(
        x: &[f64],
        xs: [usize; 4],
        w: &[f64],
        ws: [usize; 4],
        p: ConvTranspose2dParams,
    ) -> Vec<f64> {
        let (x, w) = (x.to_vec(), w.to_vec());
        Reference
            .conv_transpose2d(&x, &Shape::new(xs), &w, &Shape::new(ws), &p)
            .unwrap()
    }

    fn iota(len: usize) -> Vec<f64> {
        (0..len).map(|i| i as f64).collect()
    }

    #[test]
    fn small_valid_convolution() {
        // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 2], [3, 4]].
        let x: Vec<f64> = (1..=9).map(f64::from).collect();
        let w = [1.0, 2.0, 3.0, 4.0];
        let out = conv(&x, [1, 1, 3, 3], &w, [1, 1, 2, 2], Conv2dParams::default());
        // out[0, 0] = 1*1 + 2*2 + 4*3 + 5*4, and so on.
        assert_eq!(out, vec![37.0, 47.0, 67.0, 77.0]);
        // With padding 1 the corner reads three zeros: out[0, 0] = 1*4.
        let out = conv(
            &x,
            [1, 1, 3, 3],
            &w,
            [1, 1, 2, 2],
            Conv2dParams::new(1, 1, 1),
        );
        assert_eq!(out.len(), 16);
        assert_eq!(out[0], 4.0);
        assert_eq!(out[5], 37.0);
        assert_eq!(out[15], 9.0);
    }

    #[test]
    fn stride_two_dilation_two_padding_one() {
        // x[i, j] = 5 i + j on 5x5; w = [[1, 2], [3, 4]]; HO = (5 + 2 - 2 - 1) / 2 + 1 = 3.
        // Output (ho, wo) reads rows 2 ho - 1 + 2 kh and columns 2 wo - 1 + 2 kw; e.g.
        // out[1, 1] = x[1,1]*1 + x[1,3]*2 + x[3,1]*3 + x[3,3]*4 = 6 + 16 + 48 + 72.
        let x = iota(25);
        let w = [1.0, 2.0, 3.0, 4.0];
        let out = conv(
            &x,
            [1, 1, 5, 5],
            &w,
            [1, 1, 2, 2],
            Conv2dParams::new(2, 1, 2),
        );
        #[rustfmt::skip]
        let want = vec![
            24.0, 50.0, 24.0,
            76.0, 142.0, 62.0,
            32.0, 52.0, 18.0,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn channels_and_batch_are_indexed_right() {
        // Two images of two channels, 1x2 each; a 1x1 kernel mixing channels into three outputs.
        // Image 0: c0 = [1, 2], c1 = [3, 4]; image 1: c0 = [5, 6], c1 = [7, 8].
        let x: Vec<f64> = (1..=8).map(f64::from).collect();
        // w[o, c]: o0 = c0, o1 = c1, o2 = c0 - 10 c1.
        let w = [1.0, 0.0, 0.0, 1.0, 1.0, -10.0];
        let out = conv(&x, [2, 2, 1, 2], &w, [3, 2, 1, 1], Conv2dParams::default());
        #[rustfmt::skip]
        let want = vec![
            1.0, 2.0, 3.0, 4.0, -29.0, -38.0,
            5.0, 6.0, 7.0, 8.0, -65.0, -74.0,
        ];
        assert_eq!(out, want);
        // The transposed convolution with the same weight maps three channels back to two.
        let y = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let back = convt(
            &y,
            [1, 3, 1, 2],
            &w,
            [3, 2, 1, 1],
            ConvTranspose2dParams::default(),
        );
        // c0 = y0 + y2, c1 = y1 - 10 y2.
        assert_eq!(back, vec![2.0, 1.0, -10.0, -9.0]);
    }

    #[test]
    fn non_square_params_per_axis() {
        // Stride only along columns, padding only along rows.
        let x = iota(12); // 3x4
        let w = [1.0, 1.0]; // 1x2: adds horizontal neighbours
        let p = Conv2dParams {
            stride: [1, 2],
            padding: [1, 0],
            dilation: [1, 1],
        };
        let out = conv(&x, [1, 1, 3, 4], &w, [1, 1, 1, 2], p);
        // Rows -1..=3 (the first and last are padding), columns pairs (0,1) and (2,3).
        assert_eq!(
            out,
            vec![0.0, 0.0, 1.0, 5.0, 9.0, 13.0, 17.0, 21.0, 0.0, 0.0]
        );
    }

    #[test]
    fn transposed_with_output_padding() {
        // Stride 2 and a 2x2 kernel place non-overlapping copies of w scaled by x; output
        // padding 1 adds a last row and column that nothing reaches.
        let x = [1.0, 2.0, 3.0, 4.0];
        let w = [1.0, 10.0, 100.0, 1000.0];
        let out = convt(
            &x,
            [1, 1, 2, 2],
            &w,
            [1, 1, 2, 2],
            ConvTranspose2dParams::new(2, 0, 1, 1),
        );
        #[rustfmt::skip]
        let want = vec![
            1.0, 10.0, 2.0, 20.0, 0.0,
            100.0, 1000.0, 200.0, 2000.0, 0.0,
            3.0, 30.0, 4.0, 40.0, 0.0,
            300.0, 3000.0, 400.0, 4000.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn transposed_with_padding_overlap_and_output_padding() {
        // One row: x = [1, 2], w = [1, 2, 3], stride 2, padding 1, output padding 1 along
        // columns. Width (2 - 1) 2 - 2 + 2 + 1 + 1 = 4. x[0] lands at -1, 0, 1 and x[1] at
        // 1, 2, 3: out = [1*2, 1*3 + 2*1, 2*2, 2*3], the last column only there thanks to
        // the output padding.
        let p = ConvTranspose2dParams {
            stride: [1, 2],
            padding: [0, 1],
            output_padding: [0, 1],
            dilation: [1, 1],
        };
        let out = convt(&[1.0, 2.0], [1, 1, 1, 2], &[1.0, 2.0, 3.0], [1, 1, 1, 3], p);
        assert_eq!(out, vec![2.0, 5.0, 4.0, 6.0]);
        // Dilation 2, stride 1: x[0] lands at 0, 2 and x[1] at 1, 3 (a 1x2 kernel).
        let p = ConvTranspose2dParams {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 1],
            dilation: [1, 2],
        };
        let out = convt(&[1.0, 2.0], [1, 1, 1, 2], &[1.0, 10.0], [1, 1, 1, 2], p);
        assert_eq!(out, vec![1.0, 2.0, 10.0, 20.0, 0.0]);
    }

    /// <conv2d(x, w), y> = <x, conv_transpose2d(y, w)> with the output padding that recovers
    /// x's spatial size.
    #[test]
    fn transposed_convolution_is_the_adjoint() {
        // (input HW, kernel HW, stride, padding, dilation)
        type Case = [[usize; 2]; 5];
        let cases: [Case; 8] = [
            [[5, 6], [3, 3], [1, 1], [0, 0], [1, 1]],
            [[5, 6], [3, 3], [1, 1], [1, 1], [1, 1]],
            [[7, 8], [3, 2], [2, 2], [1, 0], [1, 1]],
            [[8, 7], [3, 3], [2, 3], [1, 2], [2, 1]],
            [[9, 9], [2, 3], [3, 2], [0, 1], [2, 2]],
            [[6, 5], [1, 1], [2, 2], [0, 0], [1, 1]],
            [[4, 4], [4, 4], [1, 1], [2, 2], [1, 1]],
            [[10, 7], [3, 2], [3, 1], [2, 1], [3, 2]],
        ];
        for (case, &[hw, k, stride, padding, dilation]) in cases.iter().enumerate() {
            let (n, c, o) = (2, 3, 2);
            let xs = [n, c, hw[0], hw[1]];
            let ws = [o, c, k[0], k[1]];
            let p = Conv2dParams {
                stride,
                padding,
                dilation,
            };
            let ys = p.output_shape(&Shape::new(xs), &Shape::new(ws)).unwrap();
            let ys: [usize; 4] = ys.dims().try_into().unwrap();
            let output_padding =
                [0, 1].map(|a| (hw[a] + 2 * padding[a] - dilation[a] * (k[a] - 1) - 1) % stride[a]);
            let pt = ConvTranspose2dParams {
                stride,
                padding,
                output_padding,
                dilation,
            };
            let len = |s: [usize; 4]| s.iter().product::<usize>();
            let key = |stream| RngKey::new(case as u64, stream);
            let x = uniform_values(key(0), 0, len(xs));
            let w = uniform_values(key(1), 0, len(ws));
            let y = uniform_values(key(2), 0, len(ys));
            let cx = conv(&x, xs, &w, ws, p);
            let ty = convt(&y, ys, &w, ws, pt);
            assert_eq!(ty.len(), x.len(), "case {case}");
            let lhs: f64 = cx.iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&ty).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0),
                "case {case}: {lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn zero_size_batches_and_channels() {
        let p = Conv2dParams::default();
        assert!(conv(&[], [0, 1, 3, 3], &[1.0; 4], [1, 1, 2, 2], p).is_empty());
        assert!(conv(&[0.0; 9], [1, 1, 3, 3], &[], [0, 1, 2, 2], p).is_empty());
        // No input channels: a sum of nothing.
        assert_eq!(conv(&[], [1, 0, 3, 3], &[], [2, 0, 2, 2], p), vec![0.0; 8]);
        let pt = ConvTranspose2dParams::default();
        assert!(convt(&[], [0, 1, 2, 2], &[1.0; 4], [1, 1, 2, 2], pt).is_empty());
        assert_eq!(
            convt(&[1.0; 4], [1, 1, 2, 2], &[], [1, 0, 2, 2], pt),
            Vec::<f64>::new()
        );
    }
}
