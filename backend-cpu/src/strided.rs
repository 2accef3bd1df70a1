//! Strided iteration: an output shape read through `K` operands with arbitrary (possibly zero
//! or negative) strides, walked one contiguous output row at a time.
//!
//! Axes of size 1 are dropped and neighbouring axes that every operand steps through
//! contiguously are merged, so that the innermost row is as long as possible. Rows are handed
//! out in fixed-size groups, in parallel.

use crate::Cpu;
use crate::par;

/// The iteration plan of an output of `dims` (row-major, contiguous) over `K` operands.
#[derive(Clone, Debug)]
pub(crate) struct Plan<const K: usize> {
    /// Merged output dimensions, outermost first; never empty (a scalar is `[1]`).
    dims: Vec<usize>,
    /// Per merged axis, the stride of each operand.
    strides: Vec<[isize; K]>,
    /// Offset of element 0 in each operand.
    base: [isize; K],
}

impl<const K: usize> Plan<K> {
    /// A plan for `dims`, operand `j` reading element `(i_0, .., i_r)` at
    /// `base[j] + sum_a i_a strides[a][j]`. Callers guarantee that every offset reached is in
    /// range of the operand and that the element count fits in memory.
    pub(crate) fn new(dims: &[usize], strides: &[[isize; K]], base: [isize; K]) -> Self {
        let mut md: Vec<usize> = Vec::with_capacity(dims.len());
        let mut ms: Vec<[isize; K]> = Vec::with_capacity(dims.len());
        for (&d, &s) in dims.iter().zip(strides) {
            if d == 1 {
                continue;
            }
            if let (Some(pd), Some(ps)) = (md.last_mut(), ms.last_mut()) {
                // The previous (outer) axis merges with this one when its stride is this
                // one's stride times this size, for every operand.
                if (0..K).all(|j| ps[j] == s[j] * d as isize) {
                    *pd *= d;
                    *ps = s;
                    continue;
                }
            }
            md.push(d);
            ms.push(s);
        }
        if md.is_empty() {
            md.push(1);
            ms.push([0; K]);
        }
        Plan {
            dims: md,
            strides: ms,
            base,
        }
    }

    /// A plan over exactly `dims` (no merging), whose rows are single elements: used to walk
    /// every multi-index of a few outer axes with [`Plan::for_all`].
    pub(crate) fn from_parts(dims: Vec<usize>, strides: Vec<[isize; K]>, base: [isize; K]) -> Self {
        let (mut dims, mut strides) = (dims, strides);
        dims.push(1);
        strides.push([0; K]);
        Plan {
            dims,
            strides,
            base,
        }
    }

    /// The merged dimensions and per-axis strides.
    pub(crate) fn parts(&self) -> (&[usize], &[[isize; K]]) {
        (&self.dims, &self.strides)
    }

    /// The operands' offsets of element 0.
    pub(crate) fn base(&self) -> [isize; K] {
        self.base
    }

    /// Calls `f(offsets)` for rows `start..end` (the elements of a [`Plan::from_parts`] plan).
    pub(crate) fn for_all(&self, start: usize, end: usize, mut f: impl FnMut([isize; K])) {
        self.for_rows(start, end, |_, off| f(off));
    }

    /// Length of the innermost (contiguous in the output) row.
    pub(crate) fn row_len(&self) -> usize {
        self.dims[self.dims.len() - 1]
    }

    /// Strides of the operands along the innermost row.
    pub(crate) fn row_strides(&self) -> [isize; K] {
        self.strides[self.strides.len() - 1]
    }

    /// Number of rows.
    #[cfg(test)]
    pub(crate) fn rows(&self) -> usize {
        self.dims[..self.dims.len() - 1].iter().product()
    }

    /// Calls `f(row, offsets)` for rows `start..end`, with the operands' offsets of the first
    /// element of each row.
    pub(crate) fn for_rows(&self, start: usize, end: usize, mut f: impl FnMut(usize, [isize; K])) {
        if start >= end {
            return;
        }
        let outer = &self.dims[..self.dims.len() - 1];
        let ostr = &self.strides[..self.strides.len() - 1];
        // The multi-index of `start` over the outer axes.
        let mut idx = vec![0usize; outer.len()];
        let mut rem = start;
        for a in (0..outer.len()).rev() {
            idx[a] = rem % outer[a];
            rem /= outer[a];
        }
        let mut off = self.base;
        for a in 0..outer.len() {
            for j in 0..K {
                off[j] += idx[a] as isize * ostr[a][j];
            }
        }
        for row in start..end {
            f(row, off);
            // Odometer step.
            for a in (0..outer.len()).rev() {
                idx[a] += 1;
                for j in 0..K {
                    off[j] += ostr[a][j];
                }
                if idx[a] < outer[a] {
                    break;
                }
                for j in 0..K {
                    off[j] -= outer[a] as isize * ostr[a][j];
                }
                idx[a] = 0;
            }
        }
    }

    /// Fills `out` (the whole output, contiguous) row by row: `f(out_row, offsets)` with the
    /// operands' offsets of the row's first element. Groups of rows run in parallel.
    pub(crate) fn fill_rows<T: Send>(
        &self,
        cpu: &Cpu,
        out: &mut [T],
        f: impl Fn(&mut [T], [isize; K]) + Sync + Send,
    ) {
        let len = self.row_len();
        if len == 0 || out.is_empty() {
            return;
        }
        let rows_per_piece = (par::CHUNK / len).max(1);
        par::chunks_mut(cpu, out, rows_per_piece * len, |piece_idx, piece| {
            let first = piece_idx * rows_per_piece;
            let count = piece.len() / len;
            let mut rows = piece.chunks_exact_mut(len);
            self.for_rows(first, first + count, |_, off| {
                if let Some(row) = rows.next() {
                    f(row, off);
                }
            });
        });
    }
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

/// Copies `len` elements of `src` starting at `off` with stride `stride` into `dst`.
#[inline]
pub(crate) fn gather<T: Copy>(dst: &mut [T], src: &[T], off: isize, stride: isize) {
    match stride {
        1 => {
            let o = off as usize;
            dst.copy_from_slice(&src[o..o + dst.len()]);
        }
        0 => dst.fill(src[off as usize]),
        _ => {
            let mut p = off;
            for d in dst.iter_mut() {
                *d = src[p as usize];
                p += stride;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_contiguous_axes_and_drops_ones() {
        // A contiguous [2, 1, 3, 4] read as itself: one row of 24.
        let p = Plan::<1>::new(&[2, 1, 3, 4], &[[12], [12], [4], [1]], [0]);
        assert_eq!((p.rows(), p.row_len()), (1, 24));
        // A transpose of [3, 4] does not merge.
        let p = Plan::<1>::new(&[4, 3], &[[1], [4]], [0]);
        assert_eq!((p.rows(), p.row_len(), p.row_strides()), (4, 3, [4]));
        let mut seen = Vec::new();
        p.for_rows(1, 4, |r, off| seen.push((r, off[0])));
        assert_eq!(seen, vec![(1, 1), (2, 2), (3, 3)]);
        // A scalar.
        let p = Plan::<2>::new(&[], &[], [0, 0]);
        assert_eq!((p.rows(), p.row_len()), (1, 1));
    }

    #[test]
    fn row_major_strides() {
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert!(strides(&[]).is_empty());
    }

    #[test]
    fn odometer_visits_every_row() {
        let p = Plan::<2>::new(&[2, 3, 5], &[[0, 15], [5, 1], [1, 3]], [0, 0]);
        let mut offs = Vec::new();
        p.for_rows(0, p.rows(), |_, off| offs.push(off));
        assert_eq!(offs.len(), 6);
        assert_eq!(offs[4], [5, 16]);
        let mut tail = Vec::new();
        p.for_rows(4, 6, |_, off| tail.push(off));
        assert_eq!(tail[..], offs[4..]);
    }
}
