//! Launchers of `layout.cu`: broadcast, permute, concat, slice, pad and flip.
//!
//! Each op is planned on the host as copies through strided views ([`Plan`]): broadcast,
//! permute, slice and flip gather their output from the input; pad and each part of concat
//! scatter their input into the output. A view that collapses to one contiguous run becomes a
//! device-to-device copy; one that keeps more than [`MAX_RANK`](super::strided::MAX_RANK) axes sends the call to the
//! host.

use super::launch::{Args, typed};
use super::modules::Family;
use super::strided::{Strided, broadcast_strides, collapse, contiguous_strides};
use super::{CudaStorage, Device, elementwise, host};
use dualscore_core::backend::validate::Output;
use dualscore_core::{Backend, Float, Result, Shape};

pub(crate) fn broadcast_to<T: Float>(
    device: &Device,
    x: &CudaStorage<T>,
    shape: &Shape,
    out: &Output,
) -> Result<CudaStorage<T>> {
    if out.len == 0 {
        return device.alloc::<T>(0);
    }
    match broadcast_plan(shape.dims(), out.shape.dims()) {
        Some(plan) => gathered(device, plan, x, out.len),
        None => host::on_host(device, &[x], |r, h| {
            r.broadcast_to(&h[0], shape, &out.shape)
        }),
    }
}

pub(crate) fn permute<T: Float>(
    device: &Device,
    x: &CudaStorage<T>,
    shape: &Shape,
    axes: &[usize],
    out: &Output,
) -> Result<CudaStorage<T>> {
    if out.len == 0 {
        return device.alloc::<T>(0);
    }
    match permute_plan(shape.dims(), axes) {
        Some(plan) => gathered(device, plan, x, out.len),
        None => host::on_host(device, &[x], |r, h| r.permute(&h[0], shape, axes)),
    }
}

pub(crate) fn concat<T: Float>(
    device: &Device,
    parts: &[(&CudaStorage<T>, &Shape)],
    axis: usize,
    out: &Output,
) -> Result<CudaStorage<T>> {
    let shapes: Vec<&[usize]> = parts.iter().map(|p| p.1.dims()).collect();
    let plans = concat_plans(&shapes, axis, out.shape.dims());
    if plans.iter().any(Option::is_none) {
        let storages: Vec<&CudaStorage<T>> = parts.iter().map(|p| p.0).collect();
        return host::on_host(device, &storages, |r, h| {
            let host_parts: Vec<(&Vec<T>, &Shape)> =
                h.iter().zip(parts).map(|(v, p)| (v, p.1)).collect();
            r.concat(&host_parts, axis)
        });
    }
    let result = device.alloc::<T>(out.len)?;
    for (plan, (part, _)) in plans.into_iter().zip(parts) {
        run(
            device,
            plan.expect("checked above"),
            part,
            &result,
            part.len(),
        )?;
    }
    Ok(result)
}

pub(crate) fn slice<T: Float>(
    device: &Device,
    x: &CudaStorage<T>,
    shape: &Shape,
    axis: usize,
    start: usize,
    out: &Output,
) -> Result<CudaStorage<T>> {
    let len = out.shape.dims()[axis];
    if out.len == 0 {
        return device.alloc::<T>(0);
    }
    match slice_plan(shape.dims(), axis, start, len) {
        Some(plan) => gathered(device, plan, x, out.len),
        None => host::on_host(device, &[x], |r, h| r.slice(&h[0], shape, axis, start, len)),
    }
}

pub(crate) fn pad<T: Float>(
    device: &Device,
    x: &CudaStorage<T>,
    shape: &Shape,
    pads: &[(usize, usize)],
    out: &Output,
) -> Result<CudaStorage<T>> {
    if x.is_empty() {
        return elementwise::fill(device, out.len, T::zero());
    }
    let Some(plan) = pad_plan(shape.dims(), pads) else {
        return host::on_host(device, &[x], |r, h| r.pad(&h[0], shape, pads));
    };
    let result = if x.len() < out.len {
        elementwise::fill(device, out.len, T::zero())?
    } else {
        device.alloc::<T>(out.len)?
    };
    run(device, plan, x, &result, x.len())?;
    Ok(result)
}

pub(crate) fn flip<T: Float>(
    device: &Device,
    x: &CudaStorage<T>,
    shape: &Shape,
    axes: &[usize],
) -> Result<CudaStorage<T>> {
    if x.is_empty() {
        return device.alloc::<T>(0);
    }
    match flip_plan(shape.dims(), axes) {
        Some(plan) => gathered(device, plan, x, x.len()),
        None => host::on_host(device, &[x], |r, h| r.flip(&h[0], shape, axes)),
    }
}

/// One copy between a source and a destination buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Plan {
    /// `len` consecutive elements from element `src` of the source to element `dst` of the
    /// destination.
    Block { src: usize, dst: usize, len: usize },
    /// `dst[i] = src[view(i)]` for each row-major index `i` of the view.
    Gather(Strided),
    /// `dst[view(i)] = src[i]` for each row-major index `i` of the view, which addresses each
    /// element of the destination at most once.
    Scatter(Strided),
}

/// A non-empty view after collapsing.
enum Collapsed {
    /// One contiguous run from this element on.
    Run(usize),
    /// Strided, of at most [`MAX_RANK`](super::strided::MAX_RANK) axes.
    View(Strided),
}

/// The view of `dims` with `strides` from `offset`, collapsed; `None` above [`MAX_RANK`](super::strided::MAX_RANK) axes.
fn collapsed(dims: &[usize], strides: Vec<i64>, offset: i64) -> Option<Collapsed> {
    let (dims, strides) = collapse(dims, &[strides]);
    let strides = &strides[0];
    if dims.is_empty() || (dims.len() == 1 && strides[0] == 1) {
        let start = usize::try_from(offset).expect("a run starts inside its buffer");
        return Some(Collapsed::Run(start));
    }
    Strided::new(&dims, strides, offset).map(Collapsed::View)
}

/// `dst[i] = src[offset + sum_k idx_k(i) strides[k]]` over the row-major indices of `dims`.
fn gather_plan(dims: &[usize], strides: Vec<i64>, offset: i64) -> Option<Plan> {
    let len = dims.iter().product();
    Some(match collapsed(dims, strides, offset)? {
        Collapsed::Run(src) => Plan::Block { src, dst: 0, len },
        Collapsed::View(view) => Plan::Gather(view),
    })
}

/// `dst[offset + sum_k idx_k(i) strides[k]] = src[i]` over the row-major indices of `dims`.
fn scatter_plan(dims: &[usize], strides: Vec<i64>, offset: i64) -> Option<Plan> {
    let len = dims.iter().product();
    Some(match collapsed(dims, strides, offset)? {
        Collapsed::Run(dst) => Plan::Block { src: 0, dst, len },
        Collapsed::View(view) => Plan::Scatter(view),
    })
}

/// A buffer of `shape` read as its broadcast to `target`: stride 0 along the repeated axes.
fn broadcast_plan(shape: &[usize], target: &[usize]) -> Option<Plan> {
    gather_plan(target, broadcast_strides(shape, target), 0)
}

/// Output axis `a` walks input axis `axes[a]`.
fn permute_plan(shape: &[usize], axes: &[usize]) -> Option<Plan> {
    let own = contiguous_strides(shape);
    let dims: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
    gather_plan(&dims, axes.iter().map(|&a| own[a]).collect(), 0)
}

/// The input's own strides from `start` along `axis`, over `len` of its elements there.
fn slice_plan(shape: &[usize], axis: usize, start: usize, len: usize) -> Option<Plan> {
    let strides = contiguous_strides(shape);
    let offset = start as i64 * strides[axis];
    let mut dims = shape.to_vec();
    dims[axis] = len;
    gather_plan(&dims, strides, offset)
}

/// The input's own strides, negated along the flipped axes, from their last elements.
fn flip_plan(shape: &[usize], axes: &[usize]) -> Option<Plan> {
    let mut strides = contiguous_strides(shape);
    let mut offset = 0;
    for &a in axes {
        offset += (shape[a] as i64 - 1) * strides[a];
        strides[a] = -strides[a];
    }
    gather_plan(shape, strides, offset)
}

/// The input written into the output's strides from `(before_0, before_1, ...)`; the rest of the
/// output is zeroed separately.
fn pad_plan(shape: &[usize], pads: &[(usize, usize)]) -> Option<Plan> {
    let out: Vec<usize> = shape
        .iter()
        .zip(pads)
        .map(|(&d, &(b, a))| b + d + a)
        .collect();
    let strides = contiguous_strides(&out);
    let offset = pads
        .iter()
        .zip(&strides)
        .map(|(&(b, _), &s)| b as i64 * s)
        .sum();
    scatter_plan(shape, strides, offset)
}

/// Each part written into the output's strides, shifted along `axis` by the parts before it
/// (an empty part copies nothing).
fn concat_plans(parts: &[&[usize]], axis: usize, out: &[usize]) -> Vec<Option<Plan>> {
    let strides = contiguous_strides(out);
    let mut shift = 0;
    parts
        .iter()
        .map(|dims| {
            let offset = shift as i64 * strides[axis];
            shift += dims[axis];
            match dims.iter().product::<usize>() {
                0 => Some(Plan::Block {
                    src: 0,
                    dst: 0,
                    len: 0,
                }),
                _ => scatter_plan(dims, strides.clone(), offset),
            }
        })
        .collect()
}

/// A new buffer of `len` elements gathered from `x` by `plan`.
fn gathered<T: Float>(
    device: &Device,
    plan: Plan,
    x: &CudaStorage<T>,
    len: usize,
) -> Result<CudaStorage<T>> {
    let out = device.alloc::<T>(len)?;
    run(device, plan, x, &out, len)?;
    Ok(out)
}

/// Queues `plan` from `src` to `dst`; `n` is the number of indices of its view.
fn run<T: Float>(
    device: &Device,
    plan: Plan,
    src: &CudaStorage<T>,
    dst: &CudaStorage<T>,
    n: usize,
) -> Result<()> {
    let (view, name) = match plan {
        Plan::Block {
            src: from,
            dst: to,
            len,
        } => {
            return device.copy_elements(src, from, dst, to, len);
        }
        Plan::Gather(view) => (view, typed::<T>("gather_f32", "gather_f64")),
        Plan::Scatter(view) => (view, typed::<T>("scatter_f32", "scatter_f64")),
    };
    let mut args = Args::new();
    args.buffer(dst).buffer(src).value(view).size(n);
    device.launch_1d(Family::Layout, name, n, &mut args)
}

impl Device {
    /// Queues a copy of `len` elements from element `src_at` of `src` to element `dst_at` of
    /// `dst`, on the device's stream.
    pub(crate) fn copy_elements<T: Float>(
        &self,
        src: &CudaStorage<T>,
        src_at: usize,
        dst: &CudaStorage<T>,
        dst_at: usize,
        len: usize,
    ) -> Result<()> {
        assert!(
            src_at + len <= src.len() && dst_at + len <= dst.len(),
            "a copy of {len} elements from {src_at} of {} to {dst_at} of {}",
            src.len(),
            dst.len()
        );
        if len == 0 {
            return Ok(());
        }
        let size = T::DTYPE.size_in_bytes();
        let from = src.address() + (src_at * size) as u64;
        let to = dst.address() + (dst_at * size) as u64;
        self.enter()?;
        // SAFETY: both ranges lie inside their buffers (asserted above).
        unsafe { self.stream.copy(to, from, len * size)? };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::strided::MAX_RANK;
    use dualscore_core::backend::reference::Reference;

    /// `plan` applied on the host (the kernels' index arithmetic through [`Strided::offset`]).
    fn apply(plan: Plan, src: &[f64], dst: &mut [f64], n: usize) {
        match plan {
            Plan::Block {
                src: s,
                dst: d,
                len,
            } => {
                dst[d..d + len].copy_from_slice(&src[s..s + len]);
            }
            Plan::Gather(view) => {
                for i in 0..n {
                    dst[i] = src[view.offset(i as i64) as usize];
                }
            }
            Plan::Scatter(view) => {
                for i in 0..n {
                    dst[view.offset(i as i64) as usize] = src[i];
                }
            }
        }
    }

    /// The values 0, 1, 2, ... of `dims`: every output element names the input it came from.
    fn indices(dims: &[usize]) -> Vec<f64> {
        (0..dims.iter().product::<usize>())
            .map(|i| i as f64)
            .collect()
    }

    /// What `plan` gathers from the indices of `dims` into `len` elements (NaN where it writes
    /// nothing, so that a missed element fails the comparison with the reference).
    fn gather_of(plan: Plan, dims: &[usize], len: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; len];
        apply(plan, &indices(dims), &mut out, len);
        out
    }

    fn all_subsets(rank: usize) -> impl Iterator<Item = Vec<usize>> {
        (0..1usize << rank).map(move |m| (0..rank).filter(|a| m >> a & 1 == 1).collect())
    }

    fn all_permutations(rank: usize) -> Vec<Vec<usize>> {
        if rank == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in all_permutations(rank - 1) {
            for at in 0..=p.len() {
                let mut q = p.clone();
                q.insert(at, rank - 1);
                out.push(q);
            }
        }
        out
    }

    #[test]
    fn broadcast_views_copy_what_the_reference_copies() {
        let cases: [(&[usize], &[usize]); 7] = [
            (&[3, 1], &[2, 3, 2]),
            (&[], &[2]),
            (&[3], &[2, 3]),
            (&[1, 3], &[4, 3]),
            (&[2, 1, 1, 3], &[2, 5, 4, 3]),
            (&[3], &[3]),
            (&[1, 1], &[1, 1]),
        ];
        for (shape, target) in cases {
            let plan = broadcast_plan(shape, target).unwrap();
            let len = target.iter().product();
            let want = Reference
                .broadcast_to(&indices(shape), &Shape::new(shape), &Shape::new(target))
                .unwrap();
            assert_eq!(gather_of(plan, shape, len), want, "{shape:?} -> {target:?}");
        }
    }

    #[test]
    fn permute_views_copy_what_the_reference_copies() {
        for shape in [&[2, 3, 4][..], &[2, 1, 3], &[3, 2, 1, 2], &[5], &[]] {
            for axes in all_permutations(shape.len()) {
                let plan = permute_plan(shape, &axes).unwrap();
                let want = Reference
                    .permute(&indices(shape), &Shape::new(shape), &axes)
                    .unwrap();
                let got = gather_of(plan, shape, want.len());
                assert_eq!(got, want, "{shape:?} by {axes:?}");
            }
        }
    }

    #[test]
    fn slice_views_copy_what_the_reference_copies() {
        let shape = [2, 3, 4];
        for axis in 0..3 {
            for start in 0..shape[axis] {
                for len in 1..=shape[axis] - start {
                    let plan = slice_plan(&shape, axis, start, len).unwrap();
                    let want = Reference
                        .slice(&indices(&shape), &Shape::new(shape), axis, start, len)
                        .unwrap();
                    let got = gather_of(plan, &shape, want.len());
                    assert_eq!(got, want, "axis {axis} from {start}, {len}");
                }
            }
        }
    }

    #[test]
    fn flip_views_copy_what_the_reference_copies() {
        for shape in [&[2, 3, 4][..], &[1, 3, 1], &[6]] {
            for axes in all_subsets(shape.len()) {
                let plan = flip_plan(shape, &axes).unwrap();
                let want = Reference
                    .flip(&indices(shape), &Shape::new(shape), &axes)
                    .unwrap();
                let got = gather_of(plan, shape, want.len());
                assert_eq!(got, want, "{shape:?} along {axes:?}");
            }
        }
    }

    #[test]
    fn pad_views_copy_what_the_reference_copies() {
        type Pads<'a> = &'a [(usize, usize)];
        let cases: [(&[usize], Pads<'_>); 5] = [
            (&[2, 3, 4], &[(0, 1), (1, 0), (2, 1)]),
            (&[2, 3, 4], &[(0, 0); 3]),
            (&[2, 3, 4], &[(1, 1), (0, 0), (0, 0)]),
            (&[3], &[(2, 5)]),
            (&[2, 1, 2], &[(0, 0), (3, 0), (0, 0)]),
        ];
        for (shape, pads) in cases {
            let plan = pad_plan(shape, pads).unwrap();
            let x = indices(shape);
            let want = Reference.pad(&x, &Shape::new(shape), pads).unwrap();
            // The launcher zeroes the output first unless the input fills it.
            let mut got = vec![if x.len() < want.len() { 0.0 } else { f64::NAN }; want.len()];
            apply(plan, &x, &mut got, x.len());
            assert_eq!(got, want, "{shape:?} by {pads:?}");
        }
    }

    #[test]
    fn concat_views_copy_what_the_reference_copies() {
        let cases: [(&[&[usize]], usize); 5] = [
            (&[&[2, 3, 4], &[2, 1, 4]], 1),
            (&[&[2, 3, 4], &[1, 3, 4]], 0),
            (&[&[2, 3, 4], &[2, 3, 0], &[2, 3, 1]], 2),
            (&[&[2, 3]], 1),
            (&[&[1, 2], &[1, 3], &[1, 1]], 1),
        ];
        for (shapes, axis) in cases {
            // Part p holds 1000 p + its own indices.
            let values: Vec<Vec<f64>> = shapes
                .iter()
                .enumerate()
                .map(|(p, dims)| {
                    indices(dims)
                        .iter()
                        .map(|v| v + 1000.0 * p as f64)
                        .collect()
                })
                .collect();
            let shape_of: Vec<Shape> = shapes.iter().map(|d| Shape::new(*d)).collect();
            let parts: Vec<(&Vec<f64>, &Shape)> = values.iter().zip(&shape_of).collect();
            let want = Reference.concat(&parts, axis).unwrap();
            let mut out = shapes[0].to_vec();
            out[axis] = shapes.iter().map(|d| d[axis]).sum();
            let mut got = vec![f64::NAN; want.len()];
            for (plan, x) in concat_plans(shapes, axis, &out).into_iter().zip(&values) {
                apply(plan.unwrap(), x, &mut got, x.len());
            }
            assert_eq!(got, want, "{shapes:?} along {axis}");
        }
    }

    #[test]
    fn contiguous_runs_become_block_copies() {
        let block = |src, dst, len| Some(Plan::Block { src, dst, len });
        assert_eq!(slice_plan(&[4, 3], 0, 1, 2), block(3, 0, 6));
        assert_eq!(slice_plan(&[1, 4, 3], 1, 2, 1), block(6, 0, 3));
        assert_eq!(permute_plan(&[2, 1, 3], &[1, 0, 2]), block(0, 0, 6));
        assert_eq!(flip_plan(&[1, 5], &[0]), block(0, 0, 5));
        assert_eq!(broadcast_plan(&[3], &[1, 3]), block(0, 0, 3));
        assert_eq!(pad_plan(&[2, 3], &[(1, 2), (0, 0)]), block(0, 3, 6));
        let plans = concat_plans(&[&[2, 3], &[1, 3]], 0, &[3, 3]);
        assert_eq!(plans, vec![block(0, 0, 6), block(0, 6, 3)]);
        assert!(matches!(flip_plan(&[5], &[0]), Some(Plan::Gather(_))));
    }

    #[test]
    fn views_of_more_than_eight_axes_go_to_the_host() {
        // Reversing nine axes leaves nine that do not merge.
        let shape = [2; MAX_RANK + 1];
        let reversed: Vec<usize> = (0..shape.len()).rev().collect();
        assert_eq!(permute_plan(&shape, &reversed), None);
        // Nine axes that merge into one are a plain copy.
        assert_eq!(
            permute_plan(&shape, &(0..shape.len()).collect::<Vec<_>>()),
            Some(Plan::Block {
                src: 0,
                dst: 0,
                len: 512
            })
        );
        // Flipping every other axis of ten keeps ten apart.
        let flips: Vec<usize> = (0..10).step_by(2).collect();
        assert_eq!(flip_plan(&[2; 10], &flips), None);
    }
}
