//! Launchers of `reduce.cu`: sums, means, maxima and minima over axes.
//!
//! The input is contiguous; the reduction is split into two index spaces over it: the outputs
//! (the kept axes, row-major, which is the output's order since the reduced axes become size 1)
//! and the reduced indices (the reduced axes, row-major), each a [`Strided`] view after
//! collapsing the axes it walks as one. An output's value is the fold of the elements at
//! `outer(o) + red(r)` for every `r`.
//!
//! How the threads share the work ([`Plan`]) depends on the sizes alone, and the kernel folds
//! in an order fixed by the plan (each thread a fixed strided subset, then a pairwise tree), so a
//! result is the same on every run. Sums are accumulated in the element type; the suite's bound
//! `2 n eps S` covers any summation order. A mean is the sum divided by the count in `f64`
//! before the final rounding, as the reference does. A reduction over an empty axis is filled
//! (0 for a sum, NaN for a mean; the shared validation refuses Max and Min).

use super::launch::{Args, typed};
use super::modules::Family;
use super::strided::{Strided, collapse, contiguous_strides};
use super::{CudaStorage, Device, elementwise, host};
use dualscore_core::backend::ReduceOp;
use dualscore_core::backend::validate::Reduction;
use dualscore_core::{Backend, Float, Result, Shape};

/// Threads per block of every launch (`REDUCE_THREADS` of `reduce.cu`).
const THREADS: usize = 256;

/// Reduced elements a thread folds before more threads share an output.
const PER_THREAD: usize = 4;

/// The fewest reduced elements per thread in a launch whose reduced range is split.
const SPLIT_PER_THREAD: usize = 16;

/// Blocks that keep a large GPU busy: fewer than this, and long reductions are split.
const TARGET_BLOCKS: usize = 1024;

/// The most blocks along the outputs; the kernel loops beyond.
const MAX_GRID_X: usize = 1 << 16;

/// Consecutive outputs read by consecutive threads when the outputs, not the reduced elements,
/// are contiguous in the input (a warp's loads then fall in one segment).
const COALESCED: usize = 32;

pub(crate) fn reduce<T: Float>(
    device: &Device,
    op: ReduceOp,
    x: &CudaStorage<T>,
    shape: &Shape,
    checked: &Reduction,
) -> Result<CudaStorage<T>> {
    let n_out = checked.output.len;
    let dims = shape.dims();
    if n_out == 0 {
        return device.alloc::<T>(0);
    }
    if checked.axes.iter().any(|&a| dims[a] == 0) {
        let empty = match op {
            ReduceOp::Mean => f64::NAN,
            _ => 0.0,
        };
        return elementwise::fill(device, n_out, T::of_f64(empty));
    }
    let split = Split::new(dims, &checked.axes);
    let (Some(outer), Some(red)) = (
        Strided::new(&split.outer_dims, &split.outer_strides, 0),
        Strided::new(&split.red_dims, &split.red_strides, 0),
    ) else {
        return host::on_host(device, &[x], |r, h| {
            r.reduce(op, &h[0], shape, &checked.axes)
        });
    };
    let n_red: usize = split.red_dims.iter().product();
    let (fold, divisor) = match op {
        ReduceOp::Sum => (Fold::Sum, 1.0),
        ReduceOp::Mean => (Fold::Sum, n_red as f64),
        ReduceOp::Max => (Fold::Max, 1.0),
        ReduceOp::Min => (Fold::Min, 1.0),
    };
    let problem = Problem {
        outer,
        red,
        n_out,
        n_red,
        r_fastest: split.r_fastest(),
    };
    run(device, fold, x, &problem, divisor)
}

/// The kernels of `reduce.cu`; a mean is a sum with a divisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fold {
    Sum,
    Max,
    Min,
}

impl Fold {
    fn kernel<T: Float>(self) -> &'static str {
        match self {
            Fold::Sum => typed::<T>("reduce_sum_f32", "reduce_sum_f64"),
            Fold::Max => typed::<T>("reduce_max_f32", "reduce_max_f64"),
            Fold::Min => typed::<T>("reduce_min_f32", "reduce_min_f64"),
        }
    }
}

/// A reduction as the kernel sees it: output `o` folds the elements `outer(o) + red(r)` for
/// `r < n_red`.
struct Problem {
    outer: Strided,
    red: Strided,
    n_out: usize,
    n_red: usize,
    /// Whether consecutive `r` are consecutive elements (then threads of an output are
    /// neighbours; otherwise threads of neighbouring outputs are).
    r_fastest: bool,
}

/// Folds `problem` over `x` and divides sums by `divisor`; a split launch is followed by a
/// second one over its partial results.
fn run<T: Float>(
    device: &Device,
    fold: Fold,
    x: &CudaStorage<T>,
    problem: &Problem,
    divisor: f64,
) -> Result<CudaStorage<T>> {
    let plan = Plan::new(problem.n_out, problem.n_red, problem.r_fastest);
    let out = device.alloc::<T>(problem.n_out * plan.splits)?;
    let mut args = Args::new();
    args.buffer(&out)
        .buffer(x)
        .value(problem.outer)
        .value(problem.red)
        .size(problem.n_out)
        .size(problem.n_red)
        .size(plan.chunk)
        .size(plan.splits)
        .value(plan.lanes as i32)
        .value(i32::from(problem.r_fastest))
        .value(if plan.splits > 1 { 1.0 } else { divisor });
    device.launch(
        Family::Reduce,
        fold.kernel::<T>(),
        [plan.blocks as u32, plan.splits as u32, 1],
        [THREADS as u32, 1, 1],
        0,
        &mut args,
    )?;
    if plan.splits == 1 {
        return Ok(out);
    }
    let partials = Problem {
        outer: Strided::new(&[problem.n_out], &[plan.splits as i64], 0).expect("rank 1"),
        red: Strided::new(&[plan.splits], &[1], 0).expect("rank 1"),
        n_out: problem.n_out,
        n_red: plan.splits,
        r_fastest: true,
    };
    run(device, fold, &out, &partials, divisor)
}

/// The kept and the reduced axes of a contiguous input as two collapsed views of it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Split {
    outer_dims: Vec<usize>,
    outer_strides: Vec<i64>,
    red_dims: Vec<usize>,
    red_strides: Vec<i64>,
}

impl Split {
    /// The views of reducing the sorted `axes` of a contiguous buffer of shape `dims`.
    fn new(dims: &[usize], axes: &[usize]) -> Split {
        let strides = contiguous_strides(dims);
        let pick = |reduced: bool| {
            let (d, s): (Vec<usize>, Vec<i64>) = (0..dims.len())
                .filter(|k| axes.contains(k) == reduced)
                .map(|k| (dims[k], strides[k]))
                .unzip();
            let (d, mut s) = collapse(&d, &[s]);
            (d, s.pop().expect("one view"))
        };
        let (outer_dims, outer_strides) = pick(false);
        let (red_dims, red_strides) = pick(true);
        Split {
            outer_dims,
            outer_strides,
            red_dims,
            red_strides,
        }
    }

    /// Whether the reduced elements of an output are contiguous at the innermost level.
    fn r_fastest(&self) -> bool {
        self.red_strides.last().is_none_or(|&s| s == 1)
    }
}

/// How one launch covers `n_out` outputs of `n_red` reduced elements each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plan {
    /// Threads per output, a power of two dividing [`THREADS`].
    lanes: usize,
    /// Reduced elements per split (all of them when `splits` is 1).
    chunk: usize,
    /// Pieces of the reduced range, each giving a partial result (the grid's `y`).
    splits: usize,
    /// Blocks along the outputs (the grid's `x`).
    blocks: usize,
}

impl Plan {
    /// The plan for positive `n_out` and `n_red`: enough lanes that each folds about
    /// [`PER_THREAD`] elements (keeping [`COALESCED`] outputs per block when the outputs are the
    /// contiguous side), and, when that leaves the GPU short of [`TARGET_BLOCKS`] blocks, the
    /// reduced range split into chunks of at least [`SPLIT_PER_THREAD`] elements per thread.
    fn new(n_out: usize, n_red: usize, r_fastest: bool) -> Plan {
        let wanted = n_red.div_ceil(PER_THREAD).next_power_of_two();
        let most = if r_fastest {
            THREADS
        } else {
            THREADS / n_out.next_power_of_two().min(COALESCED)
        };
        let lanes = wanted.min(most);
        let groups = THREADS / lanes;
        let needed = n_out.div_ceil(groups);
        let blocks = needed.min(MAX_GRID_X);
        let splits = if needed < TARGET_BLOCKS {
            TARGET_BLOCKS
                .div_ceil(needed)
                .min(n_red / (lanes * SPLIT_PER_THREAD))
                .max(1)
        } else {
            1
        };
        if splits == 1 {
            return Plan {
                lanes,
                chunk: n_red,
                splits,
                blocks,
            };
        }
        let chunk = n_red.div_ceil(splits).next_multiple_of(lanes);
        Plan {
            lanes,
            chunk,
            splits: n_red.div_ceil(chunk),
            blocks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output slot of every input element, as the reference folds them: its multi-index
    /// with the reduced axes set to 0, row-major in the output's shape.
    fn reference_slots(dims: &[usize], axes: &[usize]) -> Vec<usize> {
        let out: Vec<usize> = (0..dims.len())
            .map(|k| if axes.contains(&k) { 1 } else { dims[k] })
            .collect();
        let n: usize = dims.iter().product();
        (0..n)
            .map(|flat| {
                let mut rest = flat;
                let mut slot = 0;
                let mut step = 1;
                for k in (0..dims.len()).rev() {
                    let i = rest % dims[k];
                    rest /= dims[k];
                    if !axes.contains(&k) {
                        slot += i * step;
                    }
                    step *= out[k];
                }
                slot
            })
            .collect()
    }

    /// Every subset of the axes of `dims`, sorted.
    fn subsets(rank: usize) -> impl Iterator<Item = Vec<usize>> {
        (0..1usize << rank).map(move |m| (0..rank).filter(|k| m >> k & 1 == 1).collect())
    }

    #[test]
    fn the_views_visit_each_element_once_in_its_output() {
        for dims in [
            vec![],
            vec![5],
            vec![2, 3],
            vec![3, 1, 4],
            vec![2, 3, 4, 5],
            vec![1, 2, 1, 3, 2],
        ] {
            let n: usize = dims.iter().product();
            for axes in subsets(dims.len()) {
                let split = Split::new(&dims, &axes);
                let n_out: usize = split.outer_dims.iter().product();
                let n_red: usize = split.red_dims.iter().product();
                let outer = Strided::new(&split.outer_dims, &split.outer_strides, 0).unwrap();
                let red = Strided::new(&split.red_dims, &split.red_strides, 0).unwrap();
                assert_eq!(n_out * n_red, n, "{dims:?} over {axes:?}");
                let slots = reference_slots(&dims, &axes);
                let mut seen = vec![false; n];
                for o in 0..n_out {
                    let base = outer.offset(o as i64);
                    for r in 0..n_red {
                        let at = (base + red.offset(r as i64)) as usize;
                        assert!(!seen[at], "{dims:?} over {axes:?}: {at} twice");
                        seen[at] = true;
                        assert_eq!(slots[at], o, "{dims:?} over {axes:?}: element {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_views_collapse_neighbouring_axes() {
        let last = Split::new(&[4, 5, 6], &[2]);
        assert_eq!((last.outer_dims, last.outer_strides), (vec![20], vec![6]));
        assert_eq!(
            (last.red_dims.clone(), last.red_strides.clone()),
            (vec![6], vec![1])
        );
        assert!(Split::new(&[4, 5, 6], &[1, 2]).r_fastest());

        let first = Split::new(&[4, 5, 6], &[0]);
        assert_eq!(
            (first.outer_dims.clone(), first.outer_strides.clone()),
            (vec![30], vec![1])
        );
        assert_eq!(
            (first.red_dims.clone(), first.red_strides.clone()),
            (vec![4], vec![30])
        );
        assert!(!first.r_fastest());

        let outer_and_inner = Split::new(&[4, 5, 6], &[0, 2]);
        assert_eq!(outer_and_inner.red_dims, vec![4, 6]);
        assert_eq!(outer_and_inner.red_strides, vec![30, 1]);
        assert!(outer_and_inner.r_fastest());

        let none = Split::new(&[4, 5], &[]);
        assert!(none.red_dims.is_empty() && none.r_fastest());
        assert_eq!((none.outer_dims, none.outer_strides), (vec![20], vec![1]));
    }

    /// The invariants the kernel relies on, and the splitting of long reductions.
    fn check(n_out: usize, n_red: usize, r_fastest: bool) -> Plan {
        let p = Plan::new(n_out, n_red, r_fastest);
        let what = format!("{n_out} x {n_red} ({r_fastest}): {p:?}");
        assert!(p.lanes.is_power_of_two() && p.lanes <= THREADS, "{what}");
        assert!((1..=MAX_GRID_X).contains(&p.blocks), "{what}");
        let covered = p.blocks * (THREADS / p.lanes) >= n_out;
        assert!(
            covered || p.blocks == MAX_GRID_X,
            "{what}: outputs left out"
        );
        assert!(p.splits >= 1 && p.splits <= 65_535, "{what}");
        assert!(p.chunk * p.splits >= n_red, "{what}: a chunk missing");
        assert!(p.chunk * (p.splits - 1) < n_red, "{what}: an empty chunk");
        if p.splits > 1 {
            assert_eq!(p.chunk % p.lanes, 0, "{what}");
            assert!(p.chunk >= p.lanes * SPLIT_PER_THREAD, "{what}");
            assert!(p.splits < n_red, "{what}: the second pass is not smaller");
        }
        if !r_fastest {
            assert!(THREADS / p.lanes >= n_out.min(COALESCED), "{what}");
        }
        p
    }

    #[test]
    fn plans_keep_the_kernels_invariants() {
        let sizes = [
            1usize,
            2,
            3,
            5,
            31,
            32,
            33,
            255,
            256,
            257,
            1000,
            4096,
            65_537,
            1 << 20,
            10_000_019,
        ];
        for &n_out in &sizes {
            for &n_red in &sizes {
                for r_fastest in [true, false] {
                    check(n_out, n_red, r_fastest);
                }
            }
        }
        check(1 << 30, 4, true);
    }

    #[test]
    fn long_reductions_fill_the_gpu_and_short_ones_do_not_split() {
        let all = check(1, 100_000_000, true);
        assert_eq!(all.lanes, THREADS);
        assert!(all.splits >= TARGET_BLOCKS / 2, "{all:?}");
        let second = check(1, all.splits, true);
        assert_eq!(second.splits, 1, "{second:?}");

        let columns = check(4, 1_000_000, false);
        assert!(
            columns.blocks * columns.splits >= TARGET_BLOCKS / 2,
            "{columns:?}"
        );

        let rows = check(100_000, 1000, true);
        assert_eq!((rows.splits, rows.lanes, rows.blocks), (1, 256, 65_536));
        let short = check(1_000_000, 5, true);
        assert_eq!((short.splits, short.lanes), (1, 2));
        let copy = check(1000, 1, false);
        assert_eq!((copy.splits, copy.lanes, copy.chunk), (1, 1, 1));
    }
}
