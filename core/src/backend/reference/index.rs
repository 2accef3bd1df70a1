//! Row-major indexing: multi-index to flat offset and back, written once for every kernel.
//!
//! A multi-index `i` of a shape `dims` lives at offset `sum_a i[a] * strides[a]`, with
//! `strides[a]` the product of the dimensions after `a`. Kernels loop over the flat offsets of
//! their output (or input), [`unravel`] each one into a multi-index, map it to the other operand's
//! multi-index by the definition of the op, and [`ravel`] that back to an offset.

/// Row-major strides of `dims`, in elements.
///
/// Saturates instead of overflowing: for a shape with a zero-size axis the strides are never
/// used (there is no element to address), and for any other shape whose element count fits in
/// `usize` every stride does too.
pub(super) fn strides(dims: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; dims.len()];
    let mut acc: usize = 1;
    for (stride, &dim) in strides.iter_mut().zip(dims).rev() {
        *stride = acc;
        acc = acc.saturating_mul(dim);
    }
    strides
}

/// Strides that read a buffer of shape `dims` as if it were broadcast to `target` (which must
/// have at least as many axes, aligned from the right): axes that are missing or of size 1 get
/// stride 0.
pub(super) fn broadcast_strides(dims: &[usize], target: &[usize]) -> Vec<usize> {
    let own = strides(dims);
    let lead = target.len() - dims.len();
    (0..target.len())
        .map(|axis| {
            if axis < lead || dims[axis - lead] == 1 {
                0
            } else {
                own[axis - lead]
            }
        })
        .collect()
}

/// Writes into `index` the multi-index of the flat row-major offset `flat` in `dims`.
///
/// `flat` must be smaller than the number of elements of `dims`; `index` has one entry per axis.
pub(super) fn unravel(mut flat: usize, dims: &[usize], index: &mut [usize]) {
    for (i, &dim) in index.iter_mut().zip(dims).rev() {
        *i = flat % dim;
        flat /= dim;
    }
}

/// The flat offset of the multi-index `index` under `strides`.
pub(super) fn ravel(index: &[usize], strides: &[usize]) -> usize {
    index.iter().zip(strides).map(|(&i, &s)| i * s).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_are_row_major() {
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(strides(&[]), Vec::<usize>::new());
        assert_eq!(strides(&[5]), vec![1]);
        // A zero-size shape with huge axes does not overflow.
        assert_eq!(strides(&[usize::MAX, usize::MAX, 0]), vec![0, 0, 1]);
        assert_eq!(
            strides(&[0, usize::MAX, usize::MAX]),
            vec![usize::MAX, usize::MAX, 1]
        );
    }

    #[test]
    fn unravel_and_ravel_are_inverse() {
        let dims = [2, 3, 4];
        let st = strides(&dims);
        let mut index = [0; 3];
        for flat in 0..24 {
            unravel(flat, &dims, &mut index);
            assert_eq!(index, [flat / 12, (flat / 4) % 3, flat % 4]);
            assert_eq!(ravel(&index, &st), flat);
        }
        let mut none: [usize; 0] = [];
        unravel(0, &[], &mut none);
        assert_eq!(ravel(&none, &[]), 0);
    }

    #[test]
    fn broadcast_strides_skip_missing_and_unit_axes() {
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
        assert_eq!(broadcast_strides(&[4], &[3, 4]), vec![0, 1]);
        assert_eq!(broadcast_strides(&[2, 3], &[2, 3]), vec![3, 1]);
        assert_eq!(broadcast_strides(&[], &[2]), vec![0]);
    }
}
