//! The checks of the elementwise methods: `binary`.

use super::{Output, storage};
use crate::backend::ops::BinaryOp;
use crate::error::Result;
use crate::shape::Shape;

/// The checks of [`Backend::binary`](crate::Backend::binary): each buffer holds its shape and
/// the shapes broadcast; returns the broadcast output.
pub fn binary(
    op: BinaryOp,
    lhs_len: usize,
    lhs_shape: &Shape,
    rhs_len: usize,
    rhs_shape: &Shape,
) -> Result<Output> {
    let name = op.name();
    storage(name, lhs_shape, lhs_len)?;
    storage(name, rhs_shape, rhs_len)?;
    Output::of(name, Shape::broadcast(name, lhs_shape, rhs_shape)?)
}
