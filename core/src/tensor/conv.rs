//! Convolutions and their backward rules.
//!
//! The three ops conv2d, conv_transpose2d and conv2d_weight_grad are closed under
//! differentiation: the input gradient of conv2d is conv_transpose2d and the other way round,
//! both weight gradients are conv2d_weight_grad, and the gradients of conv2d_weight_grad are a
//! conv_transpose2d and a conv2d. So every derivative of a convolution, at any order, is again
//! one of the three.

use super::Tensor;
use crate::autograd::BackwardOp;
use crate::backend::{Backend, Conv2dParams, ConvTranspose2dParams};
use crate::error::{Error, Result};
use crate::scalar::Float;

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

    /// The gradient with respect to the weight of `self.conv2d(weight, params)` for the
    /// gradient `grad` of its output (`[N, O, HO, WO]`): the `[O, C, KH, KW]` tensor
    /// `sum_n grad[n, o] * self[n, c]` correlated at the kernel's taps, `kernel = [KH, KW]`.
    /// Differentiable, like every op.
    pub fn conv2d_weight_grad(
        &self,
        grad: &Self,
        kernel: [usize; 2],
        params: &Conv2dParams,
    ) -> Result<Self> {
        let shape = params.weight_grad_shape(self.shape(), grad.shape(), kernel)?;
        let storage = self.backend().conv2d_weight_grad(
            self.storage(),
            self.shape(),
            grad.storage(),
            grad.shape(),
            kernel,
            params,
        )?;
        let params = *params;
        Ok(Self::from_op(
            self.backend(),
            storage,
            shape,
            &[self, grad],
            || Conv2dWeightGradBackward { params },
        ))
    }

    /// The gradient with respect to the input `[N, C, H, W]` (of spatial size `input_hw`) of
    /// `x.conv2d(weight, params)` for the output gradient `self`: a transposed convolution
    /// whose output padding restores the rows and columns that no output pixel reads.
    fn conv2d_input_grad(
        &self,
        weight: &Self,
        input_hw: [usize; 2],
        params: &Conv2dParams,
    ) -> Result<Self> {
        let mut output_padding = [0; 2];
        for (axis, padding) in output_padding.iter_mut().enumerate() {
            let covered = (self.dims()[2 + axis] - 1) * params.stride[axis]
                + params.dilation[axis] * (weight.dims()[2 + axis] - 1)
                + 1;
            // The rows of a padded input that no output reads: at most stride - 1 of them.
            *padding = (input_hw[axis] + 2 * params.padding[axis])
                .checked_sub(covered)
                .ok_or_else(|| Error::invalid("conv2d backward", "inconsistent shapes"))?;
        }
        let transposed = ConvTranspose2dParams {
            stride: params.stride,
            padding: params.padding,
            output_padding,
            dilation: params.dilation,
        };
        self.conv_transpose2d(weight, &transposed)
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
            Some(g.conv2d_input_grad(w, [x.dims()[2], x.dims()[3]], p)?)
        } else {
            None
        };
        let gw = if needs.get(1).copied().unwrap_or(false) {
            Some(x.conv2d_weight_grad(g, [w.dims()[2], w.dims()[3]], p)?)
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
            Some(g.conv2d_weight_grad(x, [w.dims()[2], w.dims()[3]], &forward)?)
        } else {
            None
        };
        Ok(vec![gx, gw])
    }
}

struct Conv2dWeightGradBackward {
    params: Conv2dParams,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for Conv2dWeightGradBackward {
    fn name(&self) -> &'static str {
        "conv2d_weight_grad"
    }

    /// `<h, conv2d_weight_grad(x, g)> = <conv2d(x, h), g>` (cropped to `g`'s pixels): its
    /// gradient in `x` is conv2d's input gradient with `h` as the weight, in `g` the cropped
    /// convolution of `x` with `h`.
    fn backward(
        &self,
        inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        h: &Tensor<B, T>,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let (x, g) = (&inputs[0], &inputs[1]);
        let p = &self.params;
        let gx = if needs.first().copied().unwrap_or(false) {
            Some(g.conv2d_input_grad(h, [x.dims()[2], x.dims()[3]], p)?)
        } else {
            None
        };
        let gg = if needs.get(1).copied().unwrap_or(false) {
            Some(x.conv2d(h, p)?.crop_spatial(g.dims()[2], g.dims()[3])?)
        } else {
            None
        };
        Ok(vec![gx, gg])
    }
}
