//! Strided views for the index arithmetic of the layout and broadcasting kernels.
//!
//! A [`Strided`] maps the row-major index `i` of an output of shape `dims` to the element
//! `offset + sum_k idx_k(i) * strides[k]` of a buffer: a broadcast has stride 0 on its
//! repeated axes, a permutation permutes the strides, a flip negates one and moves the offset,
//! a slice moves the offset. `common.cuh` declares the same struct for the kernels.

/// The most axes a kernel indexes; views of higher rank are first collapsed (see [`collapse`]).
pub(crate) const MAX_RANK: usize = 8;

/// A view passed to kernels by value (`struct Strided` of `common.cuh`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Strided {
    rank: i32,
    pad: i32,
    offset: i64,
    dims: [i64; MAX_RANK],
    strides: [i64; MAX_RANK],
}

impl Strided {
    /// The view of `dims` with `strides` from `offset`, or `None` above [`MAX_RANK`] axes.
    pub fn new(dims: &[usize], strides: &[i64], offset: i64) -> Option<Strided> {
        if dims.len() > MAX_RANK {
            return None;
        }
        let mut view = Strided {
            rank: dims.len() as i32,
            pad: 0,
            offset,
            dims: [1; MAX_RANK],
            strides: [0; MAX_RANK],
        };
        for (k, (&d, &s)) in dims.iter().zip(strides).enumerate() {
            view.dims[k] = d as i64;
            view.strides[k] = s;
        }
        Some(view)
    }

    /// The element that row-major index `i` reads: `strided_offset` of `common.cuh` on the
    /// host, for tests of the views the launchers build.
    #[cfg(test)]
    pub fn offset(&self, mut i: i64) -> i64 {
        let mut offset = self.offset;
        for k in (0..self.rank as usize).rev() {
            let d = self.dims[k];
            offset += (i % d) * self.strides[k];
            i /= d;
        }
        offset
    }
}

/// Row-major strides of a contiguous buffer of shape `dims`.
pub(crate) fn contiguous_strides(dims: &[usize]) -> Vec<i64> {
    let mut strides = vec![0i64; dims.len()];
    let mut step = 1i64;
    for k in (0..dims.len()).rev() {
        strides[k] = step;
        step = step.saturating_mul(dims[k] as i64);
    }
    strides
}

/// Strides that read a contiguous buffer of shape `shape` broadcast (NumPy rules, aligned on
/// the right) to `target`: 0 along the axes it repeats.
pub(crate) fn broadcast_strides(shape: &[usize], target: &[usize]) -> Vec<i64> {
    let own = contiguous_strides(shape);
    let lead = target.len() - shape.len();
    (0..target.len())
        .map(|k| {
            if k < lead || shape[k - lead] == 1 {
                0
            } else {
                own[k - lead]
            }
        })
        .collect()
}

/// Drops the size-1 axes of `dims` and merges neighbouring axes that every view in `views`
/// walks as one (stride of the outer = stride of the inner times its size), so that the same
/// elements are addressed with fewer axes. Returns the new dims and each view's new strides.
pub(crate) fn collapse(dims: &[usize], views: &[Vec<i64>]) -> (Vec<usize>, Vec<Vec<i64>>) {
    let mut out_dims: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<i64>> = vec![Vec::new(); views.len()];
    for k in 0..dims.len() {
        if dims[k] == 1 {
            continue;
        }
        let merges = !out_dims.is_empty()
            && views.iter().zip(&out_strides).all(|(v, o)| {
                let outer = *o.last().expect("same length as out_dims");
                outer == v[k].saturating_mul(dims[k] as i64)
            });
        if merges {
            *out_dims.last_mut().expect("not empty") *= dims[k];
            for (v, o) in views.iter().zip(&mut out_strides) {
                *o.last_mut().expect("not empty") = v[k];
            }
        } else {
            out_dims.push(dims[k]);
            for (v, o) in views.iter().zip(&mut out_strides) {
                o.push(v[k]);
            }
        }
    }
    (out_dims, out_strides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_merges_contiguous_axes_and_keeps_broadcasts_apart() {
        let dims = [2, 3, 1, 4];
        let a = contiguous_strides(&dims);
        let (d, s) = collapse(&dims, &[a]);
        assert_eq!(d, vec![24]);
        assert_eq!(s, vec![vec![1]]);

        let b = broadcast_strides(&[3, 1, 1], &dims);
        let c = contiguous_strides(&dims);
        let (d, s) = collapse(&dims, &[b, c]);
        assert_eq!(d, vec![2, 3, 4]);
        assert_eq!(s, vec![vec![0, 1, 0], vec![12, 4, 1]]);
    }

    #[test]
    fn views_above_the_largest_rank_are_refused() {
        assert!(Strided::new(&[1; 9], &[0; 9], 0).is_none());
        assert!(Strided::new(&[2; 8], &[1; 8], 3).is_some());
    }
}
