//! The checks of the convolutions: `conv2d`, its weight gradient and `conv_transpose2d`.

use super::{Output, storage};
use crate::backend::ops::{Conv2dParams, ConvTranspose2dParams};
use crate::error::{Error, Result};
use crate::shape::Shape;

/// The checks of [`Backend::conv2d`](crate::Backend::conv2d): each buffer holds its shape, the
/// spatial sizes fit in `usize`, then the shape rule [`Conv2dParams::output_shape`]; returns the
/// output `[N, O, HO, WO]`.
pub fn conv2d(
    input_len: usize,
    input_shape: &Shape,
    weight_len: usize,
    weight_shape: &Shape,
    params: &Conv2dParams,
) -> Result<Output> {
    const OP: &str = "conv2d";
    let sizes = Sizes {
        stride: params.stride,
        padding: params.padding,
        dilation: params.dilation,
        output_padding: [0, 0],
    };
    sizes.check_buffers(OP, input_len, input_shape, weight_len, weight_shape)?;
    Output::of(OP, params.output_shape(input_shape, weight_shape)?)
}

/// The checks of [`Backend::conv2d_weight_grad`](crate::Backend::conv2d_weight_grad): each
/// buffer holds its shape, the spatial sizes fit in `usize`, then the shape rule
/// [`Conv2dParams::weight_grad_shape`]; returns the weight's shape `[O, C, KH, KW]`.
pub fn conv2d_weight_grad(
    input_len: usize,
    input_shape: &Shape,
    grad_len: usize,
    grad_shape: &Shape,
    kernel: [usize; 2],
    params: &Conv2dParams,
) -> Result<Output> {
    const OP: &str = "conv2d weight gradient";
    storage(OP, input_shape, input_len)?;
    storage(OP, grad_shape, grad_len)?;
    let weight = params.weight_grad_shape(input_shape, grad_shape, kernel)?;
    let sizes = Sizes {
        stride: params.stride,
        padding: params.padding,
        dilation: params.dilation,
        output_padding: [0, 0],
    };
    sizes.check(OP, input_shape, &weight)?;
    Output::of(OP, weight)
}

/// The checks of [`Backend::conv_transpose2d`](crate::Backend::conv_transpose2d): each buffer
/// holds its shape, the spatial sizes fit in `usize`, then the shape rule
/// [`ConvTranspose2dParams::output_shape`]; returns the output `[N, Cout, HO, WO]`.
pub fn conv_transpose2d(
    input_len: usize,
    input_shape: &Shape,
    weight_len: usize,
    weight_shape: &Shape,
    params: &ConvTranspose2dParams,
) -> Result<Output> {
    const OP: &str = "conv_transpose2d";
    let sizes = Sizes {
        stride: params.stride,
        padding: params.padding,
        dilation: params.dilation,
        output_padding: params.output_padding,
    };
    sizes.check_buffers(OP, input_len, input_shape, weight_len, weight_shape)?;
    Output::of(OP, params.output_shape(input_shape, weight_shape)?)
}

/// The per-axis parameters of a convolution or a transposed one (output padding 0 for the
/// former).
struct Sizes {
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    output_padding: [usize; 2],
}

impl Sizes {
    /// Checks that each buffer holds its shape, then [`Sizes::check`].
    fn check_buffers(
        &self,
        op: &'static str,
        input_len: usize,
        input_shape: &Shape,
        weight_len: usize,
        weight_shape: &Shape,
    ) -> Result<()> {
        storage(op, input_shape, input_len)?;
        storage(op, weight_shape, weight_len)?;
        self.check(op, input_shape, weight_shape)
    }

    /// Makes sure that the spatial sizes the shared shape rules (and the kernels) compute fit
    /// in `usize`: the padded input `H + 2 p`, the dilated kernel span `d (K - 1) + 1`, and the
    /// full transposed output `(H - 1) s + d (K - 1) + op + 1`. Shapes that are not 4-D are left
    /// to the shared rules to reject.
    fn check(&self, op: &'static str, input: &Shape, weight: &Shape) -> Result<()> {
        let (x, w) = (input.dims(), weight.dims());
        if x.len() != 4 || w.len() != 4 {
            return Ok(());
        }
        for axis in 0..2 {
            let (size, taps) = (x[2 + axis] as u128, w[2 + axis] as u128);
            let (s, p, d, op_) = (
                self.stride[axis] as u128,
                self.padding[axis] as u128,
                self.dilation[axis] as u128,
                self.output_padding[axis] as u128,
            );
            // Saturating: a value past `usize::MAX` is refused however far past it is.
            let span = d.saturating_mul(taps.saturating_sub(1)).saturating_add(1);
            let padded = size.saturating_add(p.saturating_mul(2));
            let full = size
                .saturating_sub(1)
                .saturating_mul(s)
                .saturating_add(span)
                .saturating_add(op_);
            if [span, padded, full].iter().any(|&v| v > usize::MAX as u128) {
                return Err(Error::invalid(
                    op,
                    format!(
                        "sizes along axis {} overflow: input {size}, kernel {taps}, stride {s}, padding {p}, dilation {d}, output padding {op_}",
                        2 + axis
                    ),
                ));
            }
        }
        Ok(())
    }
}
