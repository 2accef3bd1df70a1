//! Convolutions and their backward rules.
//!
//! The pair conv2d / conv_transpose2d is closed under differentiation: the input gradient of
//! each is the other, and both weight gradients are (dilated) conv2d calls on tensors with their
//! batch and channel axes swapped. So every derivative of a convolution, at any order, is again
//! a convolution.

use super::Tensor;
use crate::autograd::BackwardOp;
use crate::backend::{Backend, Conv2dParams, ConvTranspose2dParams};
use crate::error::{Error, Result};
use crate::scalar::Float;

const SWAP_BATCH_AND_CHANNELS: [usize; 4] = [1, 0, 2, 3];

impl<B: Backend, T: Float> Tensor<B, T> {
    /// 2-D convolution (cross-correlation) of an `[N, C, H, W]` input with an `[O, C, KH, KW]`
    /// weight, no bias.
    pub fn conv2d(&self, weight: &Self, params: &Conv2dParams) -> Result<Self> {
        let shape = params.output_shape(self.shape(), weight.shape())?;
        let storage = self.backend().conv2d(
            self.storage(),
            self.shape(),
            weight.storage(),
            weight.shape(),
            params,
        )?;
        let params = *params;
        Ok(Self::from_op(
            self.backend(),
            storage,
            shape,
            &[self, weight],
            || Conv2dBackward { params },
        ))
    }

    /// 2-D transposed convolution of an `[N, Cin, H, W]` input with a `[Cin, Cout, KH, KW]`
    /// weight: the adjoint of [`Tensor::conv2d`] with respect to its input.
    pub fn conv_transpose2d(&self, weight: &Self, params: &ConvTranspose2dParams) -> Result<Self> {
        let shape = params.output_shape(self.shape(), weight.shape())?;
        let storage = self.backend().conv_transpose2d(
            self.storage(),
            self.shape(),
            weight.storage(),
            weight.shape(),
            params,
        )?;
        let params = *params;
        Ok(Self::from_op(
            self.backend(),
            storage,
            shape,
            &[self, weight],
            || ConvTranspose2dBackward { params },
        ))
    }

    /// Keeps the first `h` rows and `w` columns of an NCHW tensor.
    fn crop_spatial(&self, h: usize, w: usize) -> Result<Self> {
        let mut out = self.clone();
        if out.dims()[2] > h {
            out = out.slice(2, 0, h)?;
        }
        if out.dims()[3] > w {
            out = out.slice(3, 0, w)?;
        }
        Ok(out)
    }
}

/// The gradient with respect to the weight of `conv2d(input, weight, stride, padding,
/// dilation)` for an output gradient `g`: a conv2d of the input (batch and channels swapped)
/// with `g` as its kernel, stride and dilation exchanged.
///
/// Why: `dL/dw` sums `g[n, o, oy, ox] x[n, c, oy s + ky d - p, ..]` over the batch (hence the
/// swap), and `g`'s index `oy` steps `x` by the stride `s`, the output's `ky` by the dilation `d`.
fn conv2d_weight_grad<B: Backend, T: Float>(
    input: &Tensor<B, T>,
    g: &Tensor<B, T>,
    params: &Conv2dParams,
    kernel: [usize; 2],
) -> Result<Tensor<B, T>> {
    let swapped = Conv2dParams {
        stride: params.dilation,
        padding: params.padding,
        dilation: params.stride,
    };
    input
        .permute(&SWAP_BATCH_AND_CHANNELS)?
        .conv2d(&g.permute(&SWAP_BATCH_AND_CHANNELS)?, &swapped)?
        .crop_spatial(kernel[0], kernel[1])?
        .permute(&SWAP_BATCH_AND_CHANNELS)
}

struct Conv2dBackward {
    params: Conv2dParams,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for Conv2dBackward {
    fn name(&self) -> &'static str {
        "conv2d"
    }

    fn backward(
        &self,
        inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let p = &self.params;
        let gx = if needs.first().copied().unwrap_or(false) {
            let mut output_padding = [0; 2];
            for (axis, padding) in output_padding.iter_mut().enumerate() {
                let covered = (g.dims()[2 + axis] - 1) * p.stride[axis]
                    + p.dilation[axis] * (w.dims()[2 + axis] - 1)
                    + 1;
                // The rows of a padded input that no output reads: at most stride - 1 of them.
                *padding = (x.dims()[2 + axis] + 2 * p.padding[axis])
                    .checked_sub(covered)
                    .ok_or_else(|| Error::invalid("conv2d backward", "inconsistent shapes"))?;
            }
            let transposed = ConvTranspose2dParams {
                stride: p.stride,
                padding: p.padding,
                output_padding,
                dilation: p.dilation,
            };
            Some(g.conv_transpose2d(w, &transposed)?)
        } else {
            None
        };
        let gw = if needs.get(1).copied().unwrap_or(false) {
            Some(conv2d_weight_grad(x, g, p, [w.dims()[2], w.dims()[3]])?)
        } else {
            None
        };
        Ok(vec![gx, gw])
    }
}

struct ConvTranspose2dBackward {
    params: ConvTranspose2dParams,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for ConvTranspose2dBackward {
    fn name(&self) -> &'static str {
        "conv_transpose2d"
    }

    fn backward(
        &self,
        inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let forward = self.params.forward_conv();
        let gx = if needs.first().copied().unwrap_or(false) {
            Some(
                g.conv2d(w, &forward)?
                    .crop_spatial(x.dims()[2], x.dims()[3])?,
            )
        } else {
            None
        };
        // y = conv_transpose2d(x, w) is the input-adjoint of z = conv2d(., w), so
        // <y, g> = <x, conv2d(g, w)>: the weight gradient is conv2d's, with g as its input
        // and x as its output gradient.
        let gw = if needs.get(1).copied().unwrap_or(false) {
            let gw_as_conv = conv2d_weight_grad(g, x, &forward, [w.dims()[2], w.dims()[3]])?;
            Some(gw_as_conv)
        } else {
            None
        };
        Ok(vec![gx, gw])
    }
}
