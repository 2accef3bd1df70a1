//! Shapes, contiguous row-major strides and NumPy broadcasting.

use crate::error::{Error, Result};
use std::fmt;

/// The dimensions of a contiguous, row-major (C order) tensor. A shape of rank 0 is a scalar.
///
/// ```
/// use dualscore_core::Shape;
/// let a = Shape::new([3, 1, 5]);
/// let b = Shape::new([4, 1]);
/// assert_eq!(Shape::broadcast("add", &a, &b).unwrap(), Shape::new([3, 4, 5]));
/// assert!(Shape::broadcast("add", &a, &Shape::new([2, 4])).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// A shape from its dimensions.
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Shape(dims.into())
    }

    /// The shape of a scalar (rank 0, one element).
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The number of elements (1 for a scalar), saturating at `usize::MAX` for a shape too large
    /// to exist (see [`Shape::checked_numel`]).
    pub fn numel(&self) -> usize {
        self.0.iter().fold(1usize, |acc, &d| acc.saturating_mul(d))
    }

    /// The number of elements, or `None` when it overflows `usize`.
    pub fn checked_numel(&self) -> Option<usize> {
        self.0.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// The size of `axis`, or an error naming `op` when the axis does not exist.
    pub fn dim(&self, op: &'static str, axis: usize) -> Result<usize> {
        self.0
            .get(axis)
            .copied()
            .ok_or_else(|| Error::invalid(op, format!("axis {axis} out of range for shape {self}")))
    }

    /// Row-major strides in elements.
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![0; self.0.len()];
        let mut acc = 1usize;
        for (stride, &dim) in strides.iter_mut().zip(&self.0).rev() {
            *stride = acc;
            acc = acc.saturating_mul(dim);
        }
        strides
    }

    /// Strides for reading this shape as if broadcast to `target`: broadcast axes get stride 0.
    /// `target` must be a broadcast of `self` (see [`Shape::broadcast`]).
    pub fn broadcast_strides(&self, target: &Shape) -> Vec<usize> {
        let own = self.strides();
        let offset = target.rank() - self.rank();
        (0..target.rank())
            .map(|axis| {
                if axis < offset || self.0[axis - offset] == 1 {
                    0
                } else {
                    own[axis - offset]
                }
            })
            .collect()
    }

    /// The NumPy broadcast of two shapes: axes aligned from the right, each pair equal or one
    /// of them 1.
    pub fn broadcast(op: &'static str, lhs: &Shape, rhs: &Shape) -> Result<Shape> {
        let rank = lhs.rank().max(rhs.rank());
        let mut dims = vec![0; rank];
        for (i, dim) in dims.iter_mut().enumerate() {
            let l = lhs.dim_from_right(rank - 1 - i);
            let r = rhs.dim_from_right(rank - 1 - i);
            *dim = match (l, r) {
                (a, b) if a == b => a,
                (1, b) => b,
                (a, 1) => a,
                (a, b) => {
                    return Err(Error::shapes(
                        op,
                        lhs.dims(),
                        rhs.dims(),
                        format!(
                            "axis {i} of the broadcast has sizes {a} and {b}; broadcasting needs them equal or one of them 1"
                        ),
                    ));
                }
            };
        }
        Ok(Shape(dims))
    }

    /// Whether `self` broadcasts to exactly `target`.
    pub fn broadcasts_to(&self, target: &Shape) -> bool {
        self.rank() <= target.rank()
            && (0..self.rank()).all(|i| {
                let d = self.dim_from_right(i);
                d == 1 || d == target.dim_from_right(i)
            })
    }

    fn dim_from_right(&self, i: usize) -> usize {
        if i < self.rank() {
            self.0[self.rank() - 1 - i]
        } else {
            1
        }
    }

    /// Checks a set of reduction axes (each in range, none repeated) and returns them sorted.
    pub fn check_axes(&self, op: &'static str, axes: &[usize]) -> Result<Vec<usize>> {
        let mut sorted = axes.to_vec();
        sorted.sort_unstable();
        for pair in sorted.windows(2) {
            if pair[0] == pair[1] {
                return Err(Error::invalid(
                    op,
                    format!("axis {} named twice in {axes:?}", pair[0]),
                ));
            }
        }
        if let Some(&bad) = sorted.iter().find(|&&a| a >= self.rank()) {
            return Err(Error::invalid(
                op,
                format!("axis {bad} out of range for shape {self}"),
            ));
        }
        Ok(sorted)
    }

    /// The shape after reducing `axes` to size 1 (keepdim form).
    pub fn reduced(&self, op: &'static str, axes: &[usize]) -> Result<Shape> {
        let axes = self.check_axes(op, axes)?;
        let mut dims = self.0.clone();
        for a in axes {
            dims[a] = 1;
        }
        Ok(Shape(dims))
    }

    /// Checks that `axes` is a permutation of `0..rank` and returns the permuted shape.
    pub fn permuted(&self, op: &'static str, axes: &[usize]) -> Result<Shape> {
        if axes.len() != self.rank() {
            return Err(Error::invalid(
                op,
                format!(
                    "permutation {axes:?} has {} axes but shape {self} has {}",
                    axes.len(),
                    self.rank()
                ),
            ));
        }
        let mut seen = vec![false; self.rank()];
        for &a in axes {
            if a >= self.rank() || seen[a] {
                return Err(Error::invalid(
                    op,
                    format!("{axes:?} is not a permutation of the axes of shape {self}"),
                ));
            }
            seen[a] = true;
        }
        Ok(Shape(axes.iter().map(|&a| self.0[a]).collect()))
    }

    /// Checks that a buffer of `len` elements can hold this shape.
    pub fn check_len(&self, op: &'static str, len: usize) -> Result<()> {
        if self.checked_numel().is_none() {
            return Err(Error::invalid(
                op,
                format!("shape {self} has more elements than fit in memory"),
            ));
        }
        if len == self.numel() {
            Ok(())
        } else {
            Err(Error::StorageLength {
                op,
                expected: self.numel(),
                actual: len,
            })
        }
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<Vec<usize>> for Shape {
    fn from(dims: Vec<usize>) -> Self {
        Shape(dims)
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(dims: [usize; N]) -> Self {
        Shape(dims.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_are_row_major() {
        assert_eq!(Shape::new([2, 3, 4]).strides(), vec![12, 4, 1]);
        assert_eq!(Shape::scalar().strides(), Vec::<usize>::new());
        assert_eq!(Shape::scalar().numel(), 1);
    }

    #[test]
    fn broadcast_follows_numpy() {
        let b = |a: &[usize], c: &[usize]| Shape::broadcast("t", &a.into(), &c.into());
        assert_eq!(b(&[2, 1], &[3]).unwrap(), Shape::new([2, 3]));
        assert_eq!(b(&[], &[3, 1]).unwrap(), Shape::new([3, 1]));
        assert_eq!(b(&[5, 1, 4], &[3, 1]).unwrap(), Shape::new([5, 3, 4]));
        let err = b(&[2, 3], &[4]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("[2, 3]") && msg.contains("[4]") && msg.contains("t:"),
            "{msg}"
        );
    }

    #[test]
    fn broadcast_strides_zero_on_broadcast_axes() {
        let s = Shape::new([3, 1]);
        assert_eq!(s.broadcast_strides(&Shape::new([2, 3, 4])), vec![0, 1, 0]);
        assert!(s.broadcasts_to(&Shape::new([2, 3, 4])));
        assert!(!s.broadcasts_to(&Shape::new([2, 4])));
    }

    #[test]
    fn axes_and_permutations_are_checked() {
        let s = Shape::new([2, 3, 4]);
        assert_eq!(s.reduced("sum", &[2, 0]).unwrap(), Shape::new([1, 3, 1]));
        assert!(s.reduced("sum", &[1, 1]).is_err());
        assert!(s.reduced("sum", &[3]).is_err());
        assert_eq!(s.permuted("p", &[2, 0, 1]).unwrap(), Shape::new([4, 2, 3]));
        assert!(s.permuted("p", &[0, 0, 1]).is_err());
        assert!(s.permuted("p", &[0, 1]).is_err());
    }
}
