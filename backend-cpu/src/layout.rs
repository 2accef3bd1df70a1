//! Layout copies: broadcast_to, permute, concat, slice, pad and flip. They move elements
//! without computing with them.
//!
//! broadcast_to, permute, slice and flip are strided gathers through a [`Plan`] (with zero,
//! permuted, offset or negative strides); a transpose of the two innermost axes is done in
//! cache-sized tiles. concat and pad copy contiguous runs.
//!
//! Each takes the output its validation returned (see [`dualscore_core::backend::validate`]).

use crate::binary::broadcast_strides;
use crate::par::{self, CHUNK};
use crate::strided::{Plan, gather, strides};
use crate::{Cpu, zeroed};
use dualscore_core::backend::validate::Output;
use dualscore_core::{Float, Result, Shape};

/// Copies `x` of `shape` to every position of the target (`output`) it broadcasts to.
pub(crate) fn broadcast_to<T: Float>(
    cpu: &Cpu,
    x: &[T],
    shape: &Shape,
    output: &Output,
) -> Result<Vec<T>> {
    let target = &output.shape;
    let mut out = zeroed::<T>(output.len)?;
    if out.is_empty() {
        return Ok(out);
    }
    let strides: Vec<[isize; 1]> = broadcast_strides(shape, target)
        .into_iter()
        .map(|s| [s])
        .collect();
    copy_plan(cpu, &Plan::new(target.dims(), &strides, [0]), x, &mut out);
    Ok(out)
}

/// Output axis `i` is input axis `axes[i]`.
pub(crate) fn permute<T: Float>(
    cpu: &Cpu,
    x: &[T],
    shape: &Shape,
    axes: &[usize],
    output: &Output,
) -> Result<Vec<T>> {
    let mut out = zeroed::<T>(output.len)?;
    if out.is_empty() {
        return Ok(out);
    }
    let own = strides(shape.dims());
    let steps: Vec<[isize; 1]> = axes.iter().map(|&a| [own[a]]).collect();
    let plan = Plan::new(output.shape.dims(), &steps, [0]);
    if plan.row_strides()[0] != 1 && transpose_tiles(cpu, &plan, x, &mut out) {
        return Ok(out);
    }
    copy_plan(cpu, &plan, x, &mut out);
    Ok(out)
}

/// Joins `parts` along `axis`.
pub(crate) fn concat<T: Float>(
    cpu: &Cpu,
    parts: &[(&[T], &Shape)],
    axis: usize,
    output: &Output,
) -> Result<Vec<T>> {
    let mut out = zeroed::<T>(output.len)?;
    if out.is_empty() {
        return Ok(out);
    }
    let dims = output.shape.dims();
    let inner: usize = dims[axis + 1..].iter().product();
    let outer: usize = dims[..axis].iter().product();
    // Each output block (one outer index) is the parts' blocks one after the other.
    let block = dims[axis] * inner;
    let part_len: Vec<usize> = parts.iter().map(|(_, s)| s.dims()[axis] * inner).collect();
    let blocks_per_piece = (CHUNK / block.max(1)).max(1);
    par::chunks_mut(cpu, &mut out, blocks_per_piece * block, |pi, piece| {
        let first = pi * blocks_per_piece;
        for (bi, dst) in piece.chunks_mut(block).enumerate() {
            let o = first + bi;
            debug_assert!(o < outer);
            let mut at = 0;
            for ((data, _), &len) in parts.iter().zip(&part_len) {
                dst[at..at + len].copy_from_slice(&data[o * len..(o + 1) * len]);
                at += len;
            }
        }
    });
    Ok(out)
}

/// The elements `start..start + len` along `axis`.
pub(crate) fn slice<T: Float>(
    cpu: &Cpu,
    x: &[T],
    shape: &Shape,
    axis: usize,
    start: usize,
    output: &Output,
) -> Result<Vec<T>> {
    let mut out = zeroed::<T>(output.len)?;
    if out.is_empty() {
        return Ok(out);
    }
    let own = strides(shape.dims());
    let steps: Vec<[isize; 1]> = own.iter().map(|&s| [s]).collect();
    let base = start as isize * own[axis];
    copy_plan(
        cpu,
        &Plan::new(output.shape.dims(), &steps, [base]),
        x,
        &mut out,
    );
    Ok(out)
}

/// Zero padding, `(before, after)` per axis.
pub(crate) fn pad<T: Float>(
    cpu: &Cpu,
    x: &[T],
    shape: &Shape,
    pads: &[(usize, usize)],
    output: &Output,
) -> Result<Vec<T>> {
    let out_shape = &output.shape;
    let mut out = zeroed::<T>(output.len)?;
    if out.is_empty() || x.is_empty() {
        return Ok(out);
    }
    if shape.rank() == 0 {
        out[0] = x[0];
        return Ok(out);
    }
    let (dims, odims) = (shape.dims(), out_shape.dims());
    let r = dims.len();
    let (row_in, row_out) = (dims[r - 1], odims[r - 1]);
    let before_last = pads[r - 1].0;
    let in_strides = strides(dims);
    // Every output row (fixed outer index) is either all padding or [zeros, x row, zeros].
    let rows_per_piece = (CHUNK / row_out).max(1);
    par::chunks_mut(cpu, &mut out, rows_per_piece * row_out, |pi, piece| {
        for (row, dst) in (pi * rows_per_piece..).zip(piece.chunks_mut(row_out)) {
            // Decode the outer index of this output row and find the input row, if any.
            let mut rem = row;
            let mut src = 0isize;
            let mut inside = true;
            for a in (0..r - 1).rev() {
                let i = rem % odims[a];
                rem /= odims[a];
                let (b, d) = (pads[a].0, dims[a]);
                if i < b || i >= b + d {
                    inside = false;
                    break;
                }
                src += (i - b) as isize * in_strides[a];
            }
            if inside {
                let s = src as usize;
                dst[before_last..before_last + row_in].copy_from_slice(&x[s..s + row_in]);
            }
        }
    });
    Ok(out)
}

/// Reverses the order of elements along each of `axes` (sorted, from
/// [`validate::flip`](dualscore_core::backend::validate::flip)).
pub(crate) fn flip<T: Float>(cpu: &Cpu, x: &[T], shape: &Shape, axes: &[usize]) -> Result<Vec<T>> {
    let mut out = zeroed::<T>(x.len())?;
    if out.is_empty() {
        return Ok(out);
    }
    let dims = shape.dims();
    let own = strides(dims);
    let mut base = 0isize;
    let steps: Vec<[isize; 1]> = (0..dims.len())
        .map(|a| {
            if axes.contains(&a) {
                base += (dims[a] as isize - 1) * own[a];
                [-own[a]]
            } else {
                [own[a]]
            }
        })
        .collect();
    copy_plan(cpu, &Plan::new(dims, &steps, [base]), x, &mut out);
    Ok(out)
}

/// Fills `out` with the elements of `x` that `plan` reads.
fn copy_plan<T: Float>(cpu: &Cpu, plan: &Plan<1>, x: &[T], out: &mut [T]) {
    let [s] = plan.row_strides();
    plan.fill_rows(cpu, out, |row, [off]| gather(row, x, off, s));
}

/// Side of the square tiles of a transposing copy.
const TILE: usize = 32;

/// A permutation whose innermost output axis is not the innermost input axis reads `x` with a
/// large stride; when the innermost input axis is the next-to-innermost output axis (a
/// transpose of the last two axes, batched), copy in square tiles so both sides stay in cache.
/// Returns false (doing nothing) for other permutations.
fn transpose_tiles<T: Float>(cpu: &Cpu, plan: &Plan<1>, x: &[T], out: &mut [T]) -> bool {
    let (dims, strides) = plan.parts();
    let r = dims.len();
    if r < 2 || strides[r - 2][0] != 1 {
        return false;
    }
    let (rows, cols) = (dims[r - 2], dims[r - 1]);
    if rows < TILE || cols < TILE {
        return false;
    }
    let col_stride = strides[r - 1][0];
    // Outer (batch) axes: one `rows x cols` output matrix per outer index.
    let outer = Plan::from_parts(
        dims[..r - 2].to_vec(),
        strides[..r - 2].to_vec(),
        plan.base(),
    );
    let mat = rows * cols;
    let mats_per_piece = (CHUNK / mat).max(1);
    par::chunks_mut(cpu, out, mats_per_piece * mat, |pi, piece| {
        let first = pi * mats_per_piece;
        let count = piece.len() / mat;
        let mut mats = piece.chunks_exact_mut(mat);
        outer.for_all(first, first + count, |[src]| {
            let Some(dst) = mats.next() else { return };
            for i0 in (0..rows).step_by(TILE) {
                for j0 in (0..cols).step_by(TILE) {
                    for i in i0..(i0 + TILE).min(rows) {
                        let drow = &mut dst[i * cols..(i + 1) * cols];
                        let mut p = src + i as isize + j0 as isize * col_stride;
                        for d in &mut drow[j0..(j0 + TILE).min(cols)] {
                            *d = x[p as usize];
                            p += col_stride;
                        }
                    }
                }
            }
        });
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{buf, cpu};
    use dualscore_core::Backend;
    use dualscore_core::backend::reference::Reference;

    fn iota(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    #[test]
    fn permutations_match_the_reference() {
        let cpu = cpu(2);
        let cases: [(&[usize], &[usize]); 6] = [
            (&[2, 3, 4], &[2, 0, 1]),
            (&[64, 48], &[1, 0]),
            (&[3, 40, 70], &[0, 2, 1]),
            (&[4, 5, 6, 7], &[1, 0, 2, 3]),
            (&[130, 2, 200], &[2, 1, 0]),
            (&[], &[]),
        ];
        for (d, axes) in cases {
            let s = Shape::new(d);
            let x = iota(s.numel());
            assert_eq!(
                cpu.permute(&buf(&x), &s, axes).unwrap()[..],
                Reference.permute(&x, &s, axes).unwrap()[..],
                "{d:?} {axes:?}"
            );
        }
        assert!(
            cpu.permute(&buf(&iota(6)), &Shape::new([2, 3]), &[0, 0])
                .is_err()
        );
    }

    #[test]
    fn copies_match_the_reference() {
        let cpu = cpu(2);
        let s = Shape::new([3, 50, 200]);
        let x = iota(s.numel());
        let xb = buf(&x);
        for axis in 0..3 {
            assert_eq!(
                cpu.slice(&xb, &s, axis, 1, 2).unwrap()[..],
                Reference.slice(&x, &s, axis, 1, 2).unwrap()[..]
            );
            assert_eq!(
                cpu.flip(&xb, &s, &[axis]).unwrap()[..],
                Reference.flip(&x, &s, &[axis]).unwrap()[..]
            );
            let parts = [(&x, &s), (&x, &s)];
            let cpu_parts = [(&xb, &s), (&xb, &s)];
            assert_eq!(
                cpu.concat(&cpu_parts, axis).unwrap()[..],
                Reference.concat(&parts, axis).unwrap()[..]
            );
        }
        assert_eq!(
            cpu.flip(&xb, &s, &[0, 2]).unwrap()[..],
            Reference.flip(&x, &s, &[0, 2]).unwrap()[..]
        );
        let pads = [(1, 0), (0, 2), (3, 1)];
        assert_eq!(
            cpu.pad(&xb, &s, &pads).unwrap()[..],
            Reference.pad(&x, &s, &pads).unwrap()[..]
        );
        let small = Shape::new([50, 1]);
        let t = Shape::new([4, 50, 300]);
        let y = iota(50);
        let yb = buf(&y);
        assert_eq!(
            cpu.broadcast_to(&yb, &small, &t).unwrap()[..],
            Reference.broadcast_to(&y, &small, &t).unwrap()[..]
        );
        assert!(cpu.broadcast_to(&yb, &small, &Shape::new([3, 2])).is_err());
        assert!(cpu.slice(&xb, &s, 0, 2, 2).is_err());
        assert!(
            cpu.pad(&xb, &s, &[(0, 0), (usize::MAX, 1), (0, 0)])
                .is_err()
        );
        assert!(cpu.concat::<f32>(&[], 0).is_err());
    }
}
