//! The checks of the reductions and of their adjoint: `reduce` and `broadcast_to`.

use super::{Output, Reduction, storage};
use crate::backend::ops::ReduceOp;
use crate::error::{Error, Result};
use crate::shape::Shape;

/// The checks of [`Backend::reduce`](crate::Backend::reduce): the buffer holds `shape`, the
/// axes are distinct and in range (the rule of [`ReduceOp::output_shape`], which also refuses
/// a Max or Min over an empty axis); returns the output and the sorted axes.
pub fn reduce(op: ReduceOp, len: usize, shape: &Shape, axes: &[usize]) -> Result<Reduction> {
    let name = op.name();
    storage(name, shape, len)?;
    let out_shape = op.output_shape(shape, axes)?;
    let axes = shape.check_axes(name, axes)?;
    Ok(Reduction {
        output: Output::of(name, out_shape)?,
        axes,
    })
}

/// The checks of [`Backend::center_with_variance`](crate::Backend::center_with_variance): the
/// buffer holds `shape` and the axes are distinct and in range; returns the variance's output
/// (the reduced axes kept as size 1) and the sorted axes.
pub fn center_with_variance(len: usize, shape: &Shape, axes: &[usize]) -> Result<Reduction> {
    const OP: &str = "center_with_variance";
    storage(OP, shape, len)?;
    let axes = shape.check_axes(OP, axes)?;
    let out_shape = shape.reduced(OP, &axes)?;
    Ok(Reduction {
        output: Output::of(OP, out_shape)?,
        axes,
    })
}

/// The checks of [`Backend::broadcast_to`](crate::Backend::broadcast_to): the buffer holds
/// `shape` and `shape` broadcasts to `target`; returns the output, of shape `target`.
pub fn broadcast_to(len: usize, shape: &Shape, target: &Shape) -> Result<Output> {
    const OP: &str = "broadcast_to";
    storage(OP, shape, len)?;
    if !shape.broadcasts_to(target) {
        return Err(Error::shapes(
            OP,
            shape.dims(),
            target.dims(),
            "the first shape does not broadcast to the second: aligned from the right, each axis must equal the target's or be 1",
        ));
    }
    Output::of(OP, target.clone())
}
