//! Layout copies: permute, concat, slice, pad and flip. They move elements without computing
//! with them, so they copy `T` as it is.
//!
//! Each is written as a map between multi-indices: an output element at `j` comes from the
//! input element at the index the definition of the op gives. Each takes the output its
//! validation returned (see [`crate::backend::validate`]).

use super::{filled, index};
use crate::backend::validate::Output;
use crate::error::Result;
use crate::scalar::Float;
use crate::shape::Shape;

/// Output axis `i` is input axis `axes[i]`: `out[j] = x[i]` with `i[axes[a]] = j[a]`.
pub(super) fn permute<T: Float>(
    x: &[T],
    shape: &Shape,
    axes: &[usize],
    output: &Output,
) -> Result<Vec<T>> {
    let in_strides = index::strides(shape.dims());
    // Stepping output axis `a` steps input axis `axes[a]`.
    let from: Vec<usize> = axes.iter().map(|&a| in_strides[a]).collect();
    let dims = output.shape.dims();
    let mut out = filled(output.len, T::zero())?;
    let mut at = vec![0; dims.len()];
    for (flat, o) in out.iter_mut().enumerate() {
        index::unravel(flat, dims, &mut at);
        *o = x[index::ravel(&at, &from)];
    }
    Ok(out)
}

/// Part `p` lands at its own index shifted along `axis` by the sizes of the parts before it.
pub(super) fn concat<T: Float>(
    parts: &[(&[T], &Shape)],
    axis: usize,
    output: &Output,
) -> Result<Vec<T>> {
    let out_strides = index::strides(output.shape.dims());
    let mut out = filled(output.len, T::zero())?;
    let mut shift = 0;
    for (data, shape) in parts {
        let dims = shape.dims();
        let mut at = vec![0; dims.len()];
        for (flat, &v) in data.iter().enumerate() {
            index::unravel(flat, dims, &mut at);
            at[axis] += shift;
            out[index::ravel(&at, &out_strides)] = v;
        }
        shift += dims[axis];
    }
    Ok(out)
}

/// `out[j] = x[i]` with `i[axis] = j[axis] + start` and the other coordinates equal.
pub(super) fn slice<T: Float>(
    x: &[T],
    shape: &Shape,
    axis: usize,
    start: usize,
    output: &Output,
) -> Result<Vec<T>> {
    let in_strides = index::strides(shape.dims());
    let dims = output.shape.dims();
    let mut out = filled(output.len, T::zero())?;
    let mut at = vec![0; dims.len()];
    for (flat, o) in out.iter_mut().enumerate() {
        index::unravel(flat, dims, &mut at);
        at[axis] += start;
        *o = x[index::ravel(&at, &in_strides)];
    }
    Ok(out)
}

/// `out[i + before] = x[i]`, every other output element zero.
pub(super) fn pad<T: Float>(
    x: &[T],
    shape: &Shape,
    pads: &[(usize, usize)],
    output: &Output,
) -> Result<Vec<T>> {
    let out_strides = index::strides(output.shape.dims());
    let dims = shape.dims();
    let mut out = filled(output.len, T::zero())?;
    let mut at = vec![0; dims.len()];
    for (flat, &v) in x.iter().enumerate() {
        index::unravel(flat, dims, &mut at);
        for (i, &(before, _)) in at.iter_mut().zip(pads) {
            *i += before;
        }
        out[index::ravel(&at, &out_strides)] = v;
    }
    Ok(out)
}

/// `out[j] = x[i]` with `i[a] = size[a] - 1 - j[a]` for each flipped axis `a` (`axes` sorted,
/// from [`validate::flip`](crate::backend::validate::flip)).
pub(super) fn flip<T: Float>(x: &[T], shape: &Shape, axes: &[usize]) -> Result<Vec<T>> {
    let dims = shape.dims();
    let strides = index::strides(dims);
    let mut out = x.to_vec();
    let mut at = vec![0; dims.len()];
    for (flat, o) in out.iter_mut().enumerate() {
        index::unravel(flat, dims, &mut at);
        for &a in axes {
            at[a] = dims[a] - 1 - at[a];
        }
        *o = x[index::ravel(&at, &strides)];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::backend::reference::Reference;
    use crate::backend::reference::tests::cube;

    // The kernels as the backend calls them, after validation.

    fn permute<T: Float>(x: &[T], shape: &Shape, axes: &[usize]) -> Result<Vec<T>> {
        Reference.permute(&x.to_vec(), shape, axes)
    }

    fn concat<T: Float>(parts: &[(&[T], &Shape)], axis: usize) -> Result<Vec<T>> {
        let owned: Vec<(Vec<T>, &Shape)> = parts.iter().map(|&(d, s)| (d.to_vec(), s)).collect();
        let parts: Vec<(&Vec<T>, &Shape)> = owned.iter().map(|(d, s)| (d, *s)).collect();
        Reference.concat(&parts, axis)
    }

    fn slice<T: Float>(
        x: &[T],
        shape: &Shape,
        axis: usize,
        start: usize,
        len: usize,
    ) -> Result<Vec<T>> {
        Reference.slice(&x.to_vec(), shape, axis, start, len)
    }

    fn pad<T: Float>(x: &[T], shape: &Shape, pads: &[(usize, usize)]) -> Result<Vec<T>> {
        Reference.pad(&x.to_vec(), shape, pads)
    }

    fn flip<T: Float>(x: &[T], shape: &Shape, axes: &[usize]) -> Result<Vec<T>> {
        Reference.flip(&x.to_vec(), shape, axes)
    }

    /// The value of `cube` at (i, j, k).
    fn c(i: usize, j: usize, k: usize) -> f64 {
        (100 * i + 10 * j + k) as f64
    }

    #[test]
    fn permute_3d() {
        let (x, s) = cube();
        // Output [4, 2, 3]: out[k, i, j] = x[i, j, k].
        let out = permute(&x, &s, &[2, 0, 1]).unwrap();
        assert_eq!(out.len(), 24);
        for k in 0..4 {
            for i in 0..2 {
                for j in 0..3 {
                    assert_eq!(out[(k * 2 + i) * 3 + j], c(i, j, k));
                }
            }
        }
        assert_eq!(out[..6], [0.0, 10.0, 20.0, 100.0, 110.0, 120.0]);
        assert_eq!(permute(&x, &s, &[0, 1, 2]).unwrap(), x);
        // Permuting back with the inverse permutation [1, 2, 0] restores x.
        let back = permute(&out, &Shape::new([4, 2, 3]), &[1, 2, 0]).unwrap();
        assert_eq!(back, x);
        assert_eq!(
            permute(&[5.0f32], &Shape::scalar(), &[]).unwrap(),
            vec![5.0]
        );
    }

    #[test]
    fn concat_3d_on_each_axis() {
        let (x, s) = cube();
        let ones = [1.0; 8]; // [2, 1, 4]
        let out = concat(&[(&x[..], &s), (&ones[..], &Shape::new([2, 1, 4]))], 1).unwrap();
        assert_eq!(out.len(), 32);
        // Each image is x's 3 rows then a row of ones.
        assert_eq!(out[..16], [&x[..12], &[1.0; 4][..]].concat()[..]);
        assert_eq!(out[16..], [&x[12..], &[1.0; 4][..]].concat()[..]);
        // Along the first axis concat is plain appending.
        let out = concat(&[(&x[..], &s), (&x[..12], &Shape::new([1, 3, 4]))], 0).unwrap();
        assert_eq!(out, [&x[..], &x[..12]].concat());
        // Along the last axis, with an empty part in the middle.
        let twos = vec![2.0; 6];
        let parts: [(&[f64], &Shape); 3] = [
            (&x, &s),
            (&[], &Shape::new([2, 3, 0])),
            (&twos, &Shape::new([2, 3, 1])),
        ];
        let out = concat(&parts, 2).unwrap();
        assert_eq!(out[..5], [0.0, 1.0, 2.0, 3.0, 2.0]);
        assert_eq!(out[25..], [120.0, 121.0, 122.0, 123.0, 2.0]);
        // A single part is a copy.
        assert_eq!(concat(&[(&x[..], &s)], 1).unwrap(), x);
    }

    #[test]
    fn slice_3d() {
        let (x, s) = cube();
        let out = slice(&x, &s, 1, 1, 2).unwrap();
        assert_eq!(out.len(), 16);
        assert_eq!(out[..4], [10.0, 11.0, 12.0, 13.0]);
        assert_eq!(out[12..], [120.0, 121.0, 122.0, 123.0]);
        let out = slice(&x, &s, 2, 3, 1).unwrap();
        assert_eq!(out, vec![3.0, 13.0, 23.0, 103.0, 113.0, 123.0]);
        assert!(slice(&x, &s, 0, 2, 0).unwrap().is_empty());
        assert_eq!(slice(&x, &s, 0, 0, 2).unwrap(), x);
    }

    #[test]
    fn pad_3d() {
        let (x, s) = cube();
        let out = pad(&x, &s, &[(0, 1), (1, 0), (2, 1)]).unwrap();
        // Output [3, 4, 7]: x[i, j, k] at (i, j + 1, k + 2).
        assert_eq!(out.len(), 3 * 4 * 7);
        let at = |i: usize, j: usize, k: usize| out[(i * 4 + j) * 7 + k];
        for i in 0..3 {
            for j in 0..4 {
                for k in 0..7 {
                    let inside = i < 2 && (1..4).contains(&j) && (2..6).contains(&k);
                    let want = if inside { c(i, j - 1, k - 2) } else { 0.0 };
                    assert_eq!(at(i, j, k), want, "({i}, {j}, {k})");
                }
            }
        }
        assert_eq!(pad(&x, &s, &[(0, 0); 3]).unwrap(), x);
        // Padding an empty tensor gives zeros.
        assert_eq!(
            pad::<f64>(&[], &Shape::new([0, 2]), &[(1, 0), (0, 0)]).unwrap(),
            vec![0.0; 2]
        );
    }

    #[test]
    fn flip_3d() {
        let (x, s) = cube();
        let out = flip(&x, &s, &[0, 2]).unwrap();
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    assert_eq!(out[(i * 3 + j) * 4 + k], c(1 - i, j, 3 - k));
                }
            }
        }
        assert_eq!(out[..4], [103.0, 102.0, 101.0, 100.0]);
        assert_eq!(flip(&x, &s, &[]).unwrap(), x);
        let all = flip(&x, &s, &[2, 1, 0]).unwrap();
        assert_eq!(all, x.iter().rev().copied().collect::<Vec<_>>());
        assert!(
            flip::<f64>(&[], &Shape::new([0, 3]), &[0, 1])
                .unwrap()
                .is_empty()
        );
    }
}
