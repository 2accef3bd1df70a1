//! Kernels written with the other kernels of a [`Backend`]: the defaults of the methods that a
//! backend may implement directly for speed, kept public so that such a backend can still fall
//! back to them (for example for data its fast path does not handle).

use super::{Backend, BinaryOp, Conv2dParams, ReduceOp, UnaryOp, validate};
use crate::error::Result;
use crate::scalar::Float;
use crate::shape::Shape;

const OP: &str = "conv2d weight gradient";
const SWAP_BATCH_AND_CHANNELS: [usize; 4] = [1, 0, 2, 3];

/// [`Backend::conv2d_weight_grad`] as a convolution of the input (batch and channels swapped)
/// with the output gradient as its kernel, stride and dilation exchanged, cropped to the
/// kernel's size.
///
/// Why: `dL/dw[o, c, ky, kx]` sums `g[n, o, oy, ox] x[n, c, oy s + ky d - p, ..]` over the
/// batch (hence the swap), and `g`'s index `oy` steps `x` by the stride `s`, the output's `ky`
/// by the dilation `d`.
pub fn conv2d_weight_grad<B: Backend, T: Float>(
    backend: &B,
    input: &B::Storage<T>,
    input_shape: &Shape,
    grad: &B::Storage<T>,
    grad_shape: &Shape,
    kernel: [usize; 2],
    params: &Conv2dParams,
) -> Result<B::Storage<T>> {
    validate::conv2d_weight_grad(
        backend.len(input),
        input_shape,
        backend.len(grad),
        grad_shape,
        kernel,
        params,
    )?;
    let swapped = Conv2dParams {
        stride: params.dilation,
        padding: params.padding,
        dilation: params.stride,
    };
    let xt_shape = input_shape.permuted(OP, &SWAP_BATCH_AND_CHANNELS)?;
    let gt_shape = grad_shape.permuted(OP, &SWAP_BATCH_AND_CHANNELS)?;
    let xt = backend.permute(input, input_shape, &SWAP_BATCH_AND_CHANNELS)?;
    let gt = backend.permute(grad, grad_shape, &SWAP_BATCH_AND_CHANNELS)?;
    let mut out_shape = swapped.output_shape(&xt_shape, &gt_shape)?;
    let mut out = backend.conv2d(&xt, &xt_shape, &gt, &gt_shape, &swapped)?;
    for (axis, &size) in kernel.iter().enumerate() {
        if out_shape.dims()[2 + axis] > size {
            out = backend.slice(&out, &out_shape, 2 + axis, 0, size)?;
            let mut dims = out_shape.dims().to_vec();
            dims[2 + axis] = size;
            out_shape = Shape::new(dims);
        }
    }
    backend.permute(&out, &out_shape, &SWAP_BATCH_AND_CHANNELS)
}

/// [`Backend::center_with_variance`] from the primitives: the mean over `axes`, the difference
/// from it, its square and the square's mean.
pub fn center_with_variance<B: Backend, T: Float>(
    backend: &B,
    x: &B::Storage<T>,
    shape: &Shape,
    axes: &[usize],
) -> Result<(B::Storage<T>, B::Storage<T>)> {
    let checked = validate::center_with_variance(backend.len(x), shape, axes)?;
    let kept = &checked.output.shape;
    let mean = backend.reduce(ReduceOp::Mean, x, shape, axes)?;
    let centered = backend.binary(BinaryOp::Sub, x, shape, &mean, kept)?;
    let squares = backend.unary(UnaryOp::Square, &centered)?;
    let variance = backend.reduce(ReduceOp::Mean, &squares, shape, axes)?;
    Ok((centered, variance))
}
