//! The checks of the layout copies: `permute`, `concat`, `slice`, `pad` and `flip`.

use super::{Output, storage};
use crate::backend::ops::{concat_shape, pad_shape, slice_shape};
use crate::error::{Error, Result};
use crate::shape::Shape;

/// The checks of [`Backend::permute`](crate::Backend::permute): the buffer holds `shape` and
/// `axes` is a permutation of its axes; returns the permuted output.
pub fn permute(len: usize, shape: &Shape, axes: &[usize]) -> Result<Output> {
    const OP: &str = "permute";
    storage(OP, shape, len)?;
    Output::of(OP, shape.permuted(OP, axes)?)
}

/// The checks of [`Backend::concat`](crate::Backend::concat), with each part given as its
/// buffer's length and its shape: each buffer holds its shape, the sizes along `axis` add up
/// without overflow, then the shape rule [`concat_shape`]; returns the joined output.
pub fn concat(parts: &[(usize, &Shape)], axis: usize) -> Result<Output> {
    const OP: &str = "concat";
    for &(len, shape) in parts {
        storage(OP, shape, len)?;
    }
    // The shared rule adds the sizes; make sure the sum fits first.
    let total = parts
        .iter()
        .try_fold(0usize, |acc, (_, s)| match s.dims().get(axis) {
            Some(&d) => acc.checked_add(d),
            // A missing axis is reported by the shared rule.
            None => Some(acc),
        });
    if total.is_none() {
        return Err(Error::invalid(
            OP,
            format!("the parts' sizes along axis {axis} overflow"),
        ));
    }
    let shapes: Vec<&Shape> = parts.iter().map(|&(_, s)| s).collect();
    Output::of(OP, concat_shape(&shapes, axis)?)
}

/// The checks of [`Backend::slice`](crate::Backend::slice): the buffer holds `shape`, then the
/// shape rule [`slice_shape`]; returns the output, of size `len` along `axis`.
pub fn slice(x_len: usize, shape: &Shape, axis: usize, start: usize, len: usize) -> Result<Output> {
    const OP: &str = "slice";
    storage(OP, shape, x_len)?;
    Output::of(OP, slice_shape(shape, axis, start, len)?)
}

/// The checks of [`Backend::pad`](crate::Backend::pad): the buffer holds `shape`, the padded
/// sizes fit in `usize`, then the shape rule [`pad_shape`]; returns the padded output.
pub fn pad(len: usize, shape: &Shape, pads: &[(usize, usize)]) -> Result<Output> {
    const OP: &str = "pad";
    storage(OP, shape, len)?;
    // The shared rule adds the pads; make sure the sums fit first.
    let fits = shape
        .dims()
        .iter()
        .zip(pads)
        .all(|(&d, &(b, a))| d.checked_add(b).and_then(|s| s.checked_add(a)).is_some());
    if !fits {
        return Err(Error::invalid(
            OP,
            format!("padding {pads:?} of shape {shape} overflows"),
        ));
    }
    Output::of(OP, pad_shape(shape, pads)?)
}

/// The checks of [`Backend::flip`](crate::Backend::flip): the buffer holds `shape` and the axes
/// are distinct and in range; returns them sorted. The output has the input's shape.
pub fn flip(len: usize, shape: &Shape, axes: &[usize]) -> Result<Vec<usize>> {
    const OP: &str = "flip";
    storage(OP, shape, len)?;
    shape.check_axes(OP, axes)
}
