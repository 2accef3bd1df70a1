//! Argument checks and allocation that turn every bad input into an `Err`, never a panic.
//!
//! The shared shape rules of `dualscore_core` compute element counts and sizes with plain
//! arithmetic; the guards here make sure those computations cannot overflow first, the same
//! way the reference backend does, so both backends accept and reject the same inputs.

use dualscore_core::{Error, Result, Shape};

/// The number of elements of `shape`, or an error when it does not fit in `usize`.
pub(crate) fn numel(op: &'static str, shape: &Shape) -> Result<usize> {
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

/// Checks that a buffer of `len` elements holds `shape` (the shared rule
/// [`Shape::check_len`], applied without overflow for zero-size shapes with huge axes).
pub(crate) fn storage(op: &'static str, shape: &Shape, len: usize) -> Result<()> {
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
pub(crate) fn filled<T: Clone>(len: usize, value: T) -> Result<Vec<T>> {
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|e| Error::Backend {
        backend: "cpu".into(),
        message: format!("cannot allocate {len} elements: {e}"),
    })?;
    out.resize(len, value);
    Ok(out)
}

/// Row-major strides of `dims`, as `isize`. Callers only use this for shapes whose element
/// count fits in memory, so the products cannot overflow.
pub(crate) fn strides(dims: &[usize]) -> Vec<isize> {
    let mut strides = vec![0isize; dims.len()];
    let mut acc = 1usize;
    for (stride, &dim) in strides.iter_mut().zip(dims).rev() {
        *stride = acc as isize;
        acc = acc.saturating_mul(dim);
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numel_and_storage_never_overflow() {
        assert_eq!(numel("t", &Shape::new([2, 3])).unwrap(), 6);
        assert_eq!(numel("t", &Shape::scalar()).unwrap(), 1);
        assert_eq!(
            numel("t", &Shape::new([usize::MAX, usize::MAX, 0])).unwrap(),
            0
        );
        assert!(numel("t", &Shape::new([usize::MAX, 2])).is_err());
        assert!(storage("t", &Shape::new([2, 3]), 6).is_ok());
        assert!(matches!(
            storage("t", &Shape::new([2, 3]), 5),
            Err(Error::StorageLength { .. })
        ));
        let empty = Shape::new([usize::MAX, usize::MAX, 0]);
        assert!(storage("t", &empty, 0).is_ok());
        assert!(storage("t", &empty, 1).is_err());
        assert!(filled(usize::MAX, 0.0f32).is_err());
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}
