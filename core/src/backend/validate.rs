//! The argument and shape checks of every [`Backend`](super::Backend) method, written once.
//!
//! Each function here takes what a method receives, with every buffer replaced by its length
//! (as [`Backend::len`](super::Backend::len) gives it), performs every check of that method in
//! a fixed order, and returns what the kernel needs: the output's shape and element count, the
//! sorted axes of a reduction or a flip. An invalid call is an `Err` (never a panic) with the
//! same variant and message on every backend.
//!
//! Every backend calls `validate::<method>` first and hands the result to its kernel, which may
//! then assume its inputs valid: buffer lengths match their shapes, every element count and
//! size the shape rules compute fits in `usize`, and the output's element count is `len`.
//! Methods without a shape (`fill`, `upload`, `download`, `cast`, `unary`, the random numbers)
//! have no invalid input and no function here.
//!
//! The checks guard the shared shape rules of [`ops`](super::ops) and [`Shape`], which compute
//! sizes with plain arithmetic: the overflow checks come first, so those rules cannot overflow.

mod conv;
mod elementwise;
mod layout;
mod linalg;
mod reduce;

pub use conv::{conv_transpose2d, conv2d, conv2d_weight_grad};
pub use elementwise::binary;
pub use layout::{concat, flip, pad, permute, slice};
pub use linalg::matmul;
pub use reduce::{broadcast_to, center_with_variance, reduce};

use crate::error::{Error, Result};
use crate::shape::Shape;

/// The output of a validated call: its shape and its element count (computed without overflow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The shape of the output.
    pub shape: Shape,
    /// The number of elements of the output buffer.
    pub len: usize,
}

impl Output {
    /// The output of shape `shape`, or an error when its element count does not fit in `usize`.
    pub fn of(op: &'static str, shape: Shape) -> Result<Output> {
        let len = numel(op, &shape)?;
        Ok(Output { shape, len })
    }
}

/// A validated reduction: the output (reduced axes kept as size 1) and the reduced axes, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reduction {
    /// The output, see [`Output`].
    pub output: Output,
    /// The reduced axes in increasing order, each named once and in range.
    pub axes: Vec<usize>,
}

/// The number of elements of `shape`, or an error when it does not fit in `usize`.
///
/// A shape with a zero axis has zero elements, however large its other axes.
///
/// ```
/// use dualscore_core::Shape;
/// use dualscore_core::backend::validate::numel;
/// assert_eq!(numel("t", &Shape::new([2, 3])).unwrap(), 6);
/// assert_eq!(numel("t", &Shape::new([usize::MAX, usize::MAX, 0])).unwrap(), 0);
/// assert!(numel("t", &Shape::new([usize::MAX, 2])).is_err());
/// ```
pub fn numel(op: &'static str, shape: &Shape) -> Result<usize> {
    let dims = shape.dims();
    if dims.contains(&0) {
        return Ok(0);
    }
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::invalid(
                op,
                format!("shape {shape} has more elements than fit in memory"),
            )
        })
}

/// Checks that a buffer of `len` elements holds `shape`, with the shared rule
/// [`Shape::check_len`].
///
/// `Shape::numel` multiplies from the left, so a zero-size shape such as `[huge, huge, 0]`
/// would overflow on the way to its zero; for those the same rule is applied here.
pub fn storage(op: &'static str, shape: &Shape, len: usize) -> Result<()> {
    let expected = numel(op, shape)?;
    let left_fold = shape
        .dims()
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match left_fold {
        Some(_) => shape.check_len(op, len),
        None if len == expected => Ok(()),
        None => Err(Error::StorageLength {
            op,
            expected,
            actual: len,
        }),
    }
}

#[cfg(test)]
mod tests;
