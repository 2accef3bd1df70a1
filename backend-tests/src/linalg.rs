//! Batched matrix products.

use crate::harness::{Input, check, dev_run, oracle_run};
use crate::strategies::{MatmulCase, matmul_case, seeded};
use crate::tolerance::{all_integers, assert_close, sum_bounds_exact_ints};
use dualscore_core::{Backend, Float};
use proptest::test_runner::TestCaseResult;

/// Runs one matmul case on the backend and the oracle and compares them with the summation
/// bound (`n = k` products per output, magnitude from the oracle's product of `|lhs|` and
/// `|rhs|`).
pub fn matmul_one<B: Backend, T: Float>(backend: &B, case: &MatmulCase) -> TestCaseResult {
    let spec = case.spec;
    let what = format!("matmul {spec:?} ({})", T::DTYPE);
    let lhs = Input::<T>::new(&seeded(case.kind, case.seed, 0, spec.lhs_len()));
    let rhs = Input::<T>::new(&seeded(case.kind, case.seed, 1, spec.rhs_len()));
    let (dl, dr) = (lhs.upload(backend)?, rhs.upload(backend)?);
    let got: Vec<T> = dev_run(backend, &what, spec.out_len(), |b| {
        b.matmul(&dl, &dr, &spec)
    })?;
    let (ol, or) = (lhs.oracle()?, rhs.oracle()?);
    let want = oracle_run(&what, |o| o.matmul(&ol, &or, &spec))?;
    let (al, ar) = (lhs.oracle_abs()?, rhs.oracle_abs()?);
    let magnitude = oracle_run(&what, |o| o.matmul(&al, &ar, &spec))?;
    let ints = all_integers(&lhs.exact) && all_integers(&rhs.exact);
    let bound = sum_bounds_exact_ints::<T>(&magnitude, spec.k, ints);
    assert_close(&what, &got, &want, &bound)
}

/// Batched matmul against the oracle: batch 1 to 3 (rarely 0), every combination of the transpose and
/// batching flags, sizes 0 to 40 (odd, even, around powers of two).
pub fn matmul<B: Backend, T: Float>(backend: &B) {
    check(&format!("matmul ({})", T::DTYPE), matmul_case(), |case| {
        matmul_one::<B, T>(backend, &case)
    });
}
