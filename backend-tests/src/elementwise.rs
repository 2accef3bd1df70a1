//! Elementwise kernels: every [`UnaryOp`] on its own domain, every [`BinaryOp`] with
//! broadcasting.

use crate::harness::{Input, check, dev_run, oracle_run};
use crate::strategies::{broadcast_pair, log_uniform, value_or_special, values};
use crate::tolerance::{
    all_integers, assert_close, assert_equal, assert_exact, sum_bounds_exact_ints, unary_bound,
};
use dualscore_core::backend::{BinaryOp, UnaryOp};
use dualscore_core::{Backend, Float, Shape};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestCaseResult};

/// Up to this many elements per unary case.
const MAX_LEN: usize = 48;

/// `element` values of any length up to [`MAX_LEN`].
fn many<S: Strategy<Value = f64> + Clone + 'static>(element: S) -> BoxedStrategy<Vec<f64>> {
    (0..=MAX_LEN)
        .prop_flat_map(move |n| values(element.clone(), n))
        .boxed()
}

/// Mostly `main`, sometimes NaN, sometimes one of `extra` (edge values of the domain).
fn domain(
    main: impl Strategy<Value = f64> + Clone + 'static,
    extra: Vec<f64>,
) -> impl Strategy<Value = f64> + Clone + 'static {
    prop_oneof![
        30 => main,
        3 => prop::sample::select(extra),
        1 => Just(f64::NAN),
    ]
}

/// The inputs of one unary op: its parameters (random for Affine and Powf) and arguments from
/// its domain. The match is exhaustive, so a new op cannot be added without a domain.
fn unary_case(op: UnaryOp) -> BoxedStrategy<(UnaryOp, Vec<f64>)> {
    let with = |xs: BoxedStrategy<Vec<f64>>| xs.prop_map(move |xs| (op, xs)).boxed();
    match op {
        // Exact zeros (both signs) and negative values check the conventions at the tie.
        UnaryOp::Neg
        | UnaryOp::Abs
        | UnaryOp::Sign
        | UnaryOp::Relu
        | UnaryOp::Step
        | UnaryOp::Square => with(many(value_or_special())),
        UnaryOp::Affine { .. } => (-4.0f64..4.0, -4.0f64..4.0, many(value_or_special()))
            .prop_map(|(scale, shift, xs)| (UnaryOp::Affine { scale, shift }, xs))
            .boxed(),
        UnaryOp::Exp => with(many(domain(-20.0f64..20.0, vec![0.0, -0.0, 1.0, -1.0]))),
        // Positive, from 1e-4 to 1e4, near 1 where log is small; and its IEEE edges: log 0 =
        // -inf, log of a negative number is NaN.
        UnaryOp::Log => with(many(domain(
            prop_oneof![3 => log_uniform(1e-4, 1e4), 1 => 0.99f64..1.01],
            vec![1.0, 0.0, -1.0, 2.0],
        ))),
        UnaryOp::Sqrt => with(many(domain(
            log_uniform(1e-4, 1e4),
            vec![0.0, 1.0, 4.0, -1.0],
        ))),
        // Away from 0.
        UnaryOp::Recip => with(many(domain(
            (log_uniform(1e-2, 1e2), any::<bool>()).prop_map(|(x, neg)| if neg { -x } else { x }),
            vec![1.0, -1.0, 0.5, 3.0],
        ))),
        UnaryOp::Sin | UnaryOp::Cos => with(many(domain(
            -10.0f64..10.0,
            vec![0.0, -0.0, std::f64::consts::PI, std::f64::consts::FRAC_PI_2],
        ))),
        UnaryOp::Tanh
        | UnaryOp::Erf
        | UnaryOp::Sigmoid
        | UnaryOp::Gelu
        | UnaryOp::GeluGrad
        | UnaryOp::Silu
        | UnaryOp::SiluGrad => with(many(domain(
            prop_oneof![3 => -12.0f64..12.0, 1 => -1.0f64..1.0],
            vec![0.0, -0.0, 1.0, -1.0, 12.0, -12.0],
        ))),
        UnaryOp::Powf(_) => {
            // Integer exponents: any sign of x (zero only for p >= 0, where it stays finite).
            let integer = (-3i32..=3).prop_flat_map(|p| {
                let magnitude = log_uniform(0.05, 5.0);
                let x = (magnitude, any::<bool>()).prop_map(|(m, neg)| if neg { -m } else { m });
                let xs = if p >= 0 {
                    many(domain(x, vec![0.0, 1.0, -1.0]))
                } else {
                    many(domain(x, vec![1.0, -1.0, 2.0]))
                };
                (Just(UnaryOp::Powf(f64::from(p))), xs)
            });
            // Other exponents: positive x, and rarely a negative one (NaN by IEEE pow).
            let fractional = (
                -3.0f64..3.0,
                many(domain(log_uniform(0.01, 10.0), vec![1.0, 2.0, -1.0])),
            )
                .prop_map(|(p, xs)| (UnaryOp::Powf(p), xs));
            prop_oneof![integer, fractional].boxed()
        }
    }
}

/// `op` with its parameters rounded to `T`, as the contract says the backend must use them:
/// what the f64 oracle is given.
pub fn rounded_op<T: Float>(op: UnaryOp) -> UnaryOp {
    let r = |v: f64| T::of_f64(v).as_f64();
    match op {
        UnaryOp::Affine { scale, shift } => UnaryOp::Affine {
            scale: r(scale),
            shift: r(shift),
        },
        UnaryOp::Powf(p) => UnaryOp::Powf(r(p)),
        other => other,
    }
}

/// The contract of the ops that must be exact, written out independently of the oracle (so the
/// oracle is checked too).
fn exact_model(op: UnaryOp, x: f64) -> Option<f64> {
    let v = match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sign if x.is_nan() => f64::NAN,
        UnaryOp::Sign if x == 0.0 => 0.0,
        UnaryOp::Sign => x.signum(),
        UnaryOp::Relu if x.is_nan() => f64::NAN,
        UnaryOp::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        UnaryOp::Step if x.is_nan() => f64::NAN,
        UnaryOp::Step => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        _ => return None,
    };
    Some(v)
}

/// Checks `op` on the arguments `xs` against the oracle (and, for the exact ops, against the
/// contract written out here).
pub fn unary_one<B: Backend, T: Float>(backend: &B, op: UnaryOp, xs: &[f64]) -> TestCaseResult {
    let x = Input::<T>::new(xs);
    let what = format!("unary {} ({})", op.name(), T::DTYPE);
    let dev_x = x.upload(backend)?;
    let got: Vec<T> = dev_run(backend, &what, x.len(), |b| b.unary(op, &dev_x))?;
    let exact_op = rounded_op::<T>(op);
    let oracle_x = x.oracle()?;
    let want = oracle_run(&what, |o| o.unary(exact_op, &oracle_x))?;
    if want.len() != x.len() {
        return Err(TestCaseError::fail(format!(
            "oracle {what}: {} outputs for {} inputs",
            want.len(),
            x.len()
        )));
    }
    if let Some(model) = x
        .exact
        .iter()
        .map(|&v| exact_model(op, v))
        .collect::<Option<Vec<f64>>>()
    {
        assert_equal(
            &format!("oracle {what} against the contract"),
            &want,
            &model,
        )?;
        return match op {
            // IEEE negation and absolute value are sign-bit operations: exact bits.
            UnaryOp::Neg | UnaryOp::Abs => assert_exact(&what, &got, &want),
            // The sign of a zero result is not part of the contract of Sign, Relu and Step.
            _ => assert_equal(&what, &got, &want),
        };
    }
    let bound: Vec<f64> = x
        .exact
        .iter()
        .zip(&want)
        .map(|(&xv, &fx)| unary_bound::<T>(exact_op, xv, fx).unwrap_or(0.0))
        .collect();
    assert_close(&what, &got, &want, &bound)
}

/// Every [`UnaryOp`] against the oracle, each on its own domain (see [`crate::tolerance`] for
/// the bounds): positive arguments for Log, Sqrt and non-integer Powf, arguments away from 0 for
/// Recip, exact zeros and negative values for the sign-like ops, NaN everywhere. The parameters
/// of Affine and Powf are random.
pub fn unary<B: Backend, T: Float>(backend: &B) {
    for op in UnaryOp::ALL {
        check(
            &format!("unary {} ({})", op.name(), T::DTYPE),
            unary_case(op),
            |(op, xs)| unary_one::<B, T>(backend, op, &xs),
        );
    }
}

/// A binary case: two broadcast-compatible shapes and their values (sometimes NaN).
fn binary_case() -> impl Strategy<Value = (Shape, Vec<f64>, Shape, Vec<f64>)> {
    broadcast_pair().prop_flat_map(|(a, b)| {
        let (na, nb) = (a.numel(), b.numel());
        (
            Just(a),
            values(value_or_special(), na),
            Just(b),
            values(value_or_special(), nb),
        )
    })
}

/// Checks one broadcast `op` of `(shape, values)` pairs against the oracle.
pub fn binary_one<B: Backend, T: Float>(
    backend: &B,
    op: BinaryOp,
    (sa, va, sb, vb): (Shape, Vec<f64>, Shape, Vec<f64>),
) -> TestCaseResult {
    let what = format!("binary {} {sa} {sb} ({})", op.name(), T::DTYPE);
    let out = Shape::broadcast("binary", &sa, &sb)
        .map_err(|e| TestCaseError::fail(format!("bad case: {e}")))?;
    let (a, b) = (Input::<T>::new(&va), Input::<T>::new(&vb));
    let (da, db) = (a.upload(backend)?, b.upload(backend)?);
    let got: Vec<T> = dev_run(backend, &what, out.numel(), |be| {
        be.binary(op, &da, &sa, &db, &sb)
    })?;
    let (oa, ob) = (a.oracle()?, b.oracle()?);
    let want = oracle_run(&what, |o| o.binary(op, &oa, &sa, &ob, &sb))?;
    match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
            // The magnitude of the terms: |a| + |b| for sums, |a * b|, |a / b| for products
            // (one rounding each, n = 1).
            let magnitude_op = match op {
                BinaryOp::Add | BinaryOp::Sub => BinaryOp::Add,
                other => other,
            };
            let (pa, pb) = (a.oracle_abs()?, b.oracle_abs()?);
            let magnitude = oracle_run(&what, |o| o.binary(magnitude_op, &pa, &sa, &pb, &sb))?;
            let ints = op != BinaryOp::Div && all_integers(&a.exact) && all_integers(&b.exact);
            let bound = sum_bounds_exact_ints::<T>(&magnitude, 1, ints);
            assert_close(&what, &got, &want, &bound)
        }
        // The sign of a zero result of max(-0, 0) is not part of the contract.
        BinaryOp::Max | BinaryOp::Min => assert_equal(&what, &got, &want),
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            assert_exact(&what, &got, &want)
        }
    }
}

/// Every [`BinaryOp`] with NumPy broadcasting against the oracle: shape pairs of different ranks
/// (down to 0) with size-1 axes, values with ties, zeros and NaN. Add, Sub, Mul, Div within
/// `2 eps` of the magnitude of their terms; Max, Min and the comparisons exact.
pub fn binary<B: Backend, T: Float>(backend: &B) {
    for op in BinaryOp::ALL {
        check(
            &format!("binary {} ({})", op.name(), T::DTYPE),
            binary_case(),
            |case| binary_one::<B, T>(backend, op, case),
        );
    }
}
