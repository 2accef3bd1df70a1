//! Argument checks and allocation that turn every bad input into an `Err`, never a panic.

use crate::error::{Error, Result};
use crate::shape::Shape;

/// The number of elements of `shape`, or an error when it does not fit in `usize`.
pub(super) fn numel(op: &'static str, shape: &Shape) -> Result<usize> {
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
pub(super) fn storage(op: &'static str, shape: &Shape, len: usize) -> Result<()> {
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

/// A buffer of `len` copies of `value`; an allocation failure is an error.
pub(super) fn filled<E: Clone>(len: usize, value: E) -> Result<Vec<E>> {
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|e| Error::Backend {
        backend: "reference".into(),
        message: format!("cannot allocate {len} elements: {e}"),
    })?;
    out.resize(len, value);
    Ok(out)
}

/// A buffer of zeros for an output of shape `shape`.
pub(super) fn zeros_for(op: &'static str, shape: &Shape) -> Result<Vec<f64>> {
    filled(numel(op, shape)?, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numel_reports_overflow() {
        assert_eq!(numel("t", &Shape::new([2, 3])).unwrap(), 6);
        assert_eq!(numel("t", &Shape::scalar()).unwrap(), 1);
        assert_eq!(
            numel("t", &Shape::new([usize::MAX, usize::MAX, 0])).unwrap(),
            0
        );
        assert!(numel("t", &Shape::new([usize::MAX, 2])).is_err());
    }

    #[test]
    fn storage_checks_length() {
        assert!(storage("t", &Shape::new([2, 3]), 6).is_ok());
        assert!(matches!(
            storage("t", &Shape::new([2, 3]), 5),
            Err(Error::StorageLength {
                expected: 6,
                actual: 5,
                ..
            })
        ));
        assert!(storage("t", &Shape::new([usize::MAX, 3]), 6).is_err());
        let empty = Shape::new([usize::MAX, usize::MAX, 0]);
        assert!(storage("t", &empty, 0).is_ok());
        assert!(matches!(
            storage("t", &empty, 1),
            Err(Error::StorageLength {
                expected: 0,
                actual: 1,
                ..
            })
        ));
    }

    #[test]
    fn impossible_allocation_is_an_error() {
        assert!(filled(usize::MAX, 0.0f64).is_err());
        assert_eq!(filled(3, 1.5f32).unwrap(), vec![1.5; 3]);
    }
}
