//! Reductions over axes (keeping them as size-1 axes) and their adjoint, broadcasting.

use super::elementwise::{max_nan, min_nan};
use super::{filled, index};
use crate::backend::ops::ReduceOp;
use crate::backend::validate::{Output, Reduction};
use crate::error::Result;
use crate::scalar::Float;
use crate::shape::Shape;

/// Reduces the axes `checked.axes` of `x`: every input element is folded, in row-major order and in f64, into
/// the output element at its multi-index with the reduced axes set to 0. A sum over an empty
/// axis is 0 and a mean over one is 0 / 0 = NaN; Max and Min reject it (the shared rule).
/// `checked` is the output and the sorted axes, from
/// [`validate::reduce`](crate::backend::validate::reduce).
pub(super) fn reduce<T: Float>(
    op: ReduceOp,
    x: &[T],
    shape: &Shape,
    checked: &Reduction,
) -> Result<Vec<T>> {
    let Reduction { output, axes } = checked;
    let start = match op {
        ReduceOp::Sum | ReduceOp::Mean => 0.0,
        ReduceOp::Max => f64::NEG_INFINITY,
        ReduceOp::Min => f64::INFINITY,
    };
    let mut acc = filled(output.len, start)?;
    let dims = shape.dims();
    let out_strides = index::strides(output.shape.dims());
    let mut at = vec![0; dims.len()];
    for (flat, &v) in x.iter().enumerate() {
        index::unravel(flat, dims, &mut at);
        for &a in axes {
            at[a] = 0;
        }
        let slot = &mut acc[index::ravel(&at, &out_strides)];
        let v = v.as_f64();
        *slot = match op {
            ReduceOp::Sum | ReduceOp::Mean => *slot + v,
            ReduceOp::Max => max_nan(*slot, v),
            ReduceOp::Min => min_nan(*slot, v),
        };
    }
    if op == ReduceOp::Mean {
        // Counted in f64: exact for any count of a real buffer, and it cannot overflow when an
        // axis outside `axes` is empty and the reduced ones are huge.
        let count: f64 = axes.iter().map(|&a| dims[a] as f64).product();
        for slot in &mut acc {
            *slot /= count;
        }
    }
    Ok(acc.into_iter().map(T::of_f64).collect())
}

/// Copies `x` of shape `shape` to every position of the target it broadcasts to; `output` is
/// the target, from [`validate::broadcast_to`](crate::backend::validate::broadcast_to).
pub(super) fn broadcast_to<T: Float>(x: &[T], shape: &Shape, output: &Output) -> Result<Vec<T>> {
    let dims = output.shape.dims();
    let from = index::broadcast_strides(shape.dims(), dims);
    let mut out = filled(output.len, T::zero())?;
    let mut at = vec![0; dims.len()];
    for (flat, o) in out.iter_mut().enumerate() {
        index::unravel(flat, dims, &mut at);
        *o = x[index::ravel(&at, &from)];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::backend::reference::Reference;
    use crate::backend::reference::tests::cube;

    /// The kernel as the backend calls it, after validation.
    fn reduce<T: Float>(op: ReduceOp, x: &[T], shape: &Shape, axes: &[usize]) -> Result<Vec<T>> {
        Reference.reduce(op, &x.to_vec(), shape, axes)
    }

    /// The kernel as the backend calls it, after validation.
    fn broadcast_to<T: Float>(x: &[T], shape: &Shape, target: &Shape) -> Result<Vec<T>> {
        Reference.broadcast_to(&x.to_vec(), shape, target)
    }

    #[test]
    fn sum_over_several_axes() {
        let (x, s) = cube();
        // Over i and k: sum_i sum_k (100 i + 10 j + k) = 4*100 + 8*10 j + 2*6.
        let out = reduce(ReduceOp::Sum, &x, &s, &[2, 0]).unwrap();
        assert_eq!(out, vec![412.0, 492.0, 572.0]);
        // Over j only, a middle axis.
        let out = reduce(ReduceOp::Sum, &x, &s, &[1]).unwrap();
        assert_eq!(out[..4], [30.0, 33.0, 36.0, 39.0]);
        assert_eq!(out[4..], [330.0, 333.0, 336.0, 339.0]);
    }

    #[test]
    fn all_axes_and_no_axes() {
        let (x, s) = cube();
        // 12*100 + 8*(0+10+20) + 6*(0+1+2+3) = 1200 + 240 + 36.
        assert_eq!(
            reduce(ReduceOp::Sum, &x, &s, &[0, 1, 2]).unwrap(),
            vec![1476.0]
        );
        assert_eq!(
            reduce(ReduceOp::Mean, &x, &s, &[0, 1, 2]).unwrap(),
            vec![61.5]
        );
        assert_eq!(
            reduce(ReduceOp::Max, &x, &s, &[0, 1, 2]).unwrap(),
            vec![123.0]
        );
        assert_eq!(
            reduce(ReduceOp::Min, &x, &s, &[2, 1, 0]).unwrap(),
            vec![0.0]
        );
        for op in ReduceOp::ALL {
            assert_eq!(reduce(op, &x, &s, &[]).unwrap(), x, "{}", op.name());
        }
        let scalar = reduce(ReduceOp::Mean, &[2.5f32], &Shape::scalar(), &[]).unwrap();
        assert_eq!(scalar, vec![2.5]);
    }

    #[test]
    fn mean_max_min_over_axes() {
        let (x, s) = cube();
        let mean = reduce(ReduceOp::Mean, &x, &s, &[0, 2]).unwrap();
        assert_eq!(mean, vec![51.5, 61.5, 71.5]);
        let max = reduce(ReduceOp::Max, &x, &s, &[1]).unwrap();
        assert_eq!(max[..4], [20.0, 21.0, 22.0, 23.0]);
        let min = reduce(ReduceOp::Min, &x, &s, &[0]).unwrap();
        assert_eq!(min, x[..12].to_vec());
        // Negative values: a max that starts from 0 would be wrong.
        let neg = [-3.0f32, -1.0, -2.0];
        let s3 = Shape::new([3]);
        assert_eq!(reduce(ReduceOp::Max, &neg, &s3, &[0]).unwrap(), vec![-1.0]);
        assert_eq!(
            reduce(ReduceOp::Min, &[3.0f32, 1.0], &Shape::new([2]), &[0]).unwrap(),
            vec![1.0]
        );
    }

    #[test]
    fn max_min_propagate_nan() {
        let x = [1.0, f64::NAN, 3.0, 4.0];
        let s = Shape::new([2, 2]);
        let max = reduce(ReduceOp::Max, &x, &s, &[1]).unwrap();
        assert!(max[0].is_nan());
        assert_eq!(max[1], 4.0);
        let min = reduce(ReduceOp::Min, &x, &s, &[0]).unwrap();
        assert!(min[1].is_nan());
        assert_eq!(min[0], 1.0);
    }

    #[test]
    fn zero_size_reductions() {
        let s = Shape::new([2, 0]);
        assert_eq!(
            reduce::<f64>(ReduceOp::Sum, &[], &s, &[1]).unwrap(),
            vec![0.0, 0.0]
        );
        let mean = reduce::<f64>(ReduceOp::Mean, &[], &s, &[1]).unwrap();
        assert!(mean.len() == 2 && mean.iter().all(|v| v.is_nan()));
        assert!(reduce::<f64>(ReduceOp::Max, &[], &s, &[1]).is_err());
        assert!(reduce::<f64>(ReduceOp::Min, &[], &s, &[0, 1]).is_err());
        // Reducing a non-empty axis of an empty tensor gives an empty output.
        assert!(
            reduce::<f64>(ReduceOp::Max, &[], &s, &[0])
                .unwrap()
                .is_empty()
        );
        let huge = Shape::new([0, usize::MAX, usize::MAX]);
        assert!(
            reduce::<f64>(ReduceOp::Mean, &[], &huge, &[1, 2])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn broadcast_to_copies_along_new_and_unit_axes() {
        let x = [1.0f32, 2.0, 3.0];
        let out = broadcast_to(&x, &Shape::new([3, 1]), &Shape::new([2, 3, 2])).unwrap();
        assert_eq!(
            out,
            vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
        );
        let out = broadcast_to(&x, &Shape::new([3]), &Shape::new([2, 3])).unwrap();
        assert_eq!(out, vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        let out = broadcast_to(&[7.0f32], &Shape::scalar(), &Shape::new([2])).unwrap();
        assert_eq!(out, vec![7.0, 7.0]);
        assert_eq!(
            broadcast_to(&x, &Shape::new([3]), &Shape::new([3])).unwrap(),
            x.to_vec()
        );
        let out = broadcast_to(&x, &Shape::new([1, 3]), &Shape::new([0, 3])).unwrap();
        assert!(out.is_empty());
    }
}
