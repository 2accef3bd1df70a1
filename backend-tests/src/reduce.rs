//! Reductions: every [`ReduceOp`] over random subsets of the axes.

use crate::harness::{
    Input, check, dev_run, fetch, no_panic, oracle, oracle_run, oracle_up, run_ok, same_variant,
    variant_name,
};
use crate::strategies::{axis_subset, shape, value, value_or_special, values};
use crate::tolerance::{
    all_integers, assert_close, assert_equal, eps, sum_bounds, sum_bounds_exact_ints,
};
use dualscore_core::backend::ReduceOp;
use dualscore_core::{Backend, Float, Shape};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestCaseResult};

/// A shape of rank 0..=4 (axes up to 5, sometimes empty), its values (sometimes NaN) and a
/// subset of its axes, from none to all, in any order.
fn reduce_case() -> impl Strategy<Value = (Shape, Vec<f64>, Vec<usize>)> {
    shape(4, 5).prop_flat_map(|s| {
        let (n, r) = (s.numel(), s.rank());
        (Just(s), values(value_or_special(), n), axis_subset(r))
    })
}

/// Checks one reduction of `(shape, values, axes)` against the oracle.
pub fn reduce_one<B: Backend, T: Float>(
    backend: &B,
    op: ReduceOp,
    (shape, xs, axes): (Shape, Vec<f64>, Vec<usize>),
) -> TestCaseResult {
    let what = format!(
        "reduce {} of {shape} over {axes:?} ({})",
        op.name(),
        T::DTYPE
    );
    let x = Input::<T>::new(&xs);
    let dev_x = x.upload(backend)?;
    let oracle_x = x.oracle()?;
    let expected = match op.output_shape(&shape, &axes) {
        Ok(s) => s,
        Err(rule) => {
            // Max / Min of an empty axis: both must refuse, with the shared rule's error.
            let theirs = no_panic(&what, || backend.reduce(op, &dev_x, &shape, &axes))?;
            let ours = no_panic(&what, || oracle().reduce(op, &oracle_x, &shape, &axes))?;
            return match (theirs, ours) {
                (Err(a), Err(b)) if same_variant(&a, &rule) && same_variant(&b, &rule) => Ok(()),
                (a, b) => Err(TestCaseError::fail(format!(
                    "{what}: the shared rule says {} ({rule}); backend gave {:?}, oracle {:?}",
                    variant_name(&rule),
                    a.err(),
                    b.err()
                ))),
            };
        }
    };
    let got: Vec<T> = dev_run(backend, &what, expected.numel(), |b| {
        b.reduce(op, &dev_x, &shape, &axes)
    })?;
    let want = oracle_run(&what, |o| o.reduce(op, &oracle_x, &shape, &axes))?;
    let terms: usize = axes.iter().map(|&a| shape.dims()[a]).product();
    match op {
        ReduceOp::Sum | ReduceOp::Mean => {
            let abs_x = x.oracle_abs()?;
            let magnitude = oracle_run(&what, |o| o.reduce(op, &abs_x, &shape, &axes))?;
            // Mean: one more rounding, the division by the count.
            let n = if op == ReduceOp::Mean {
                terms + 1
            } else {
                terms
            };
            // A sum of integers is exact (a mean is rounded once more).
            let ints = op == ReduceOp::Sum && all_integers(&x.exact);
            let bound = sum_bounds_exact_ints::<T>(&magnitude, n, ints);
            assert_close(&what, &got, &want, &bound)
        }
        // One of the elements (or NaN): exact; the sign of a zero among ties is open.
        ReduceOp::Max | ReduceOp::Min => assert_equal(&what, &got, &want),
    }
}

/// Every [`ReduceOp`] against the oracle over random axis subsets (none, some, all; in any
/// order) of shapes of rank 0 to 4 with NaN and empty axes. Sum and Mean within the summation
/// bound with `n` the number of elements reduced into each output; Max and Min exact, NaN
/// positions included; Max and Min of an empty axis must be refused by both.
pub fn reduce<B: Backend, T: Float>(backend: &B) {
    for op in ReduceOp::ALL {
        check(
            &format!("reduce {} ({})", op.name(), T::DTYPE),
            reduce_case(),
            |case| reduce_one::<B, T>(backend, op, case),
        );
    }
}

/// [`Backend::center_with_variance`] against the oracle (the composed default in f64) over
/// random axis subsets of shapes of rank 0 to 4 with finite values. The mean of `n` terms is
/// within `m = SUM_C (n + 1) eps mean|x|`; each difference within `m + 2 eps (|x| + mean|x|)`;
/// the variance within the summation bound of `n + 4` terms of magnitude `(|x| + mean|x|)^2`
/// (each square adds two roundings and the difference's error) plus `m^2` (the mean's error
/// enters squared: the exact differences sum to zero).
pub fn center_with_variance<B: Backend, T: Float>(backend: &B) {
    let case = shape(4, 5).prop_flat_map(|s| {
        let (n, r) = (s.numel(), s.rank());
        (Just(s), values(value(), n), axis_subset(r))
    });
    check(
        &format!("center_with_variance ({})", T::DTYPE),
        case,
        |(shape, xs, axes)| {
            let what = format!(
                "center_with_variance of {shape} over {axes:?} ({})",
                T::DTYPE
            );
            let x = Input::<T>::new(&xs);
            let dev_x = x.upload(backend)?;
            let kept = shape.reduced("center_with_variance", &axes).unwrap();
            let (centered, variance) = run_ok(&what, || {
                backend.center_with_variance(&dev_x, &shape, &axes)
            })?;
            let got_c: Vec<T> = fetch(backend, &what, &centered, shape.numel())?;
            let got_v: Vec<T> = fetch(backend, &what, &variance, kept.numel())?;
            let (o, ox) = (oracle(), x.oracle()?);
            let (want_c, want_v) = run_ok(&what, || o.center_with_variance(&ox, &shape, &axes))?;
            let (want_c, want_v) = (o.download(&want_c).unwrap(), o.download(&want_v).unwrap());
            let terms: usize = axes.iter().map(|&a| shape.dims()[a]).product();
            let abs_x = x.oracle_abs()?;
            let mean_abs = oracle_run(&what, |o| o.reduce(ReduceOp::Mean, &abs_x, &shape, &axes))?;
            let mean_bound = sum_bounds::<T>(&mean_abs, terms + 1);
            let spread = |row: &[f64]| {
                oracle_run(&what, |o| {
                    o.broadcast_to(&oracle_up(row).unwrap(), &kept, &shape)
                })
            };
            let (mean_abs_at, mean_bound_at) = (spread(&mean_abs)?, spread(&mean_bound)?);
            let bound_c: Vec<f64> = x
                .exact
                .iter()
                .zip(&mean_abs_at)
                .zip(&mean_bound_at)
                .map(|((v, m), b)| b + 2.0 * eps::<T>() * (v.abs() + m))
                .collect();
            assert_close(&format!("{what}: centered"), &got_c, &want_c, &bound_c)?;
            let squares: Vec<f64> = x
                .exact
                .iter()
                .zip(&mean_abs_at)
                .map(|(v, m)| (v.abs() + m).powi(2))
                .collect();
            let magnitude = oracle_run(&what, |o| {
                o.reduce(ReduceOp::Mean, &oracle_up(&squares).unwrap(), &shape, &axes)
            })?;
            let bound_v: Vec<f64> = sum_bounds::<T>(&magnitude, terms + 4)
                .into_iter()
                .zip(&mean_bound)
                .map(|(b, m)| b + m * m)
                .collect();
            assert_close(&format!("{what}: variance"), &got_v, &want_v, &bound_v)
        },
    );
}
