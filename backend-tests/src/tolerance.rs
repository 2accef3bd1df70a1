//! Error bounds: how far a backend's output may be from the oracle's.
//!
//! Notation: `eps` is the machine epsilon of the element type `T` (2^-23 for f32, 2^-52 for
//! f64), `u = eps / 2` its unit roundoff, `ref` the oracle's output (computed in f64 from the
//! same rounded inputs).
//!
//! No bound is an elementwise *relative* error: a sum whose terms cancel to (nearly) zero has a
//! perfectly good result whose relative error is unbounded. The bounds are instead:
//!
//! * **Sums and products** (matmul, conv2d, conv_transpose2d, Sum / Mean reductions, Add / Sub,
//!   Mul / Div): `|got - ref| <= SUM_C * n * eps * S`, elementwise, where `S` is the same oracle
//!   op applied to the absolute values of the inputs (both operands for bilinear ops), i.e. the
//!   sum of the magnitudes of the terms, and `n` the number of terms summed into one output (at
//!   least 1): `k` for matmul, `C KH KW` for conv2d, `Cin KH KW` (an upper bound) for
//!   conv_transpose2d, the count plus one (the division) for Mean, 1 for the elementwise ops
//!   (`S = |a| + |b|` for Add / Sub, `|ref|` for Mul / Div).
//!   Any summation order (sequential, pairwise, blocked, with or without FMA) of `n` products
//!   has error at most `gamma_n * S ~ n u S` (Higham, *Accuracy and Stability of Numerical
//!   Algorithms*, 3.1); for `T = f64` the oracle itself has the same worst case, and the output
//!   is rounded once more: `(2n + 1) u = (n + 1/2) eps` in all, which `SUM_C = 2` covers with a
//!   factor of about 2 to spare. The bound is rigorous, not statistical: no summation order
//!   can fail it, while a kernel that drops or doubles a term of typical size, or sums in a
//!   lower precision, does. Where every input is an integer and `S <= 2 / eps`, every partial
//!   sum is exact in any order, and the bound is 0 ([`sum_bounds_exact_ints`]).
//! * **Elementwise functions**: `|got - ref| <= FUNC_C * eps * scale(x)`, with a per-op scale
//!   documented in [`unary_scale`]: `|ref|` for functions that a good implementation evaluates
//!   with small relative error (exp, sqrt, recip, tanh, erf, sigmoid, ...), plus a
//!   condition-appropriate term `|x f'(x)|` (the change of `f` when its argument moves by a
//!   relative `eps`, as when a kernel scales its argument first) and, for formulas that add
//!   terms of different signs (GELU, the derivatives of GELU and SiLU), the sum of the magnitudes
//!   of those terms. `FUNC_C = 4`: up to 2 ulp for the backend's elementary function (libm is
//!   within 1, CUDA's non-intrinsic functions within 2 for these arguments), 1 for the final
//!   rounding and 1 for the oracle's own f64 evaluation when `T = f64`.
//! * **Exact**: layout ops (permute, concat, slice, pad, flip, broadcast_to), copies (upload,
//!   download, fill, cast), sign-like functions (Neg, Abs, Sign, Relu, Step), Max / Min (binary
//!   and reductions) and comparisons must equal the oracle exactly.
//!
//! Special values: where the oracle gives NaN, the backend must give NaN (so NaN positions agree
//! for Max / Min); where it gives an infinity, the same infinity; elsewhere a finite value
//! within the bound. The oracle's result is exact in f64; what rounding it to `T` costs is
//! allowed on top of the bound: the rounding error, an infinity where the result overflows `T`,
//! and an absolute error of `T`'s smallest normal number (gradual underflow).

use crate::harness::{self};
use dualscore_core::Float;
use dualscore_core::backend::UnaryOp;
use proptest::test_runner::{TestCaseError, TestCaseResult};

/// Constant of the summation bound, see the module documentation.
pub const SUM_C: f64 = 2.0;

/// Constant of the elementwise-function bound, see the module documentation.
pub const FUNC_C: f64 = 4.0;

/// How many violations a failure message lists.
const SHOWN: usize = 6;

/// The machine epsilon of `T`, in f64.
pub fn eps<T: Float>() -> f64 {
    T::epsilon().as_f64()
}

/// Elementwise bounds for sums of `terms` terms whose magnitudes sum to `magnitude` (the oracle
/// op on absolute values): `SUM_C * max(terms, 1) * eps * magnitude`.
pub fn sum_bounds<T: Float>(magnitude: &[f64], terms: usize) -> Vec<f64> {
    let factor = SUM_C * terms.max(1) as f64 * eps::<T>();
    magnitude.iter().map(|m| factor * m).collect()
}

/// Whether every value is an integer (finite, no fraction).
pub fn all_integers(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite() && v.fract() == 0.0)
}

/// [`sum_bounds`], tightened to 0 where the inputs are all integers and the magnitude of the
/// terms is at most `2 / eps` (2^24 for f32, 2^53 for f64): then every product and every partial
/// sum, in any order, is an integer of at most that size, exactly representable in `T`, so any
/// correct kernel is exact. This catches a dropped or doubled term even where `n eps` is large.
pub fn sum_bounds_exact_ints<T: Float>(
    magnitude: &[f64],
    terms: usize,
    integers: bool,
) -> Vec<f64> {
    let exact_below = 2.0 / eps::<T>();
    sum_bounds::<T>(magnitude, terms)
        .into_iter()
        .zip(magnitude)
        .map(|(b, &m)| if integers && m <= exact_below { 0.0 } else { b })
        .collect()
}

/// The scale of the error bound of an elementwise function at the (rounded) argument `x`, whose
/// exact value is `fx`; `None` for ops that must be exact. `op` carries its parameters already
/// rounded to the element type.
///
/// | op | scale | why |
/// | --- | --- | --- |
/// | Neg, Abs, Sign, Relu, Step | exact | no rounding involved |
/// | Affine s, b | `(\|s x\| + \|b\|) / 2` | a sum of two terms, two roundings at most (`SUM_C n eps` with n = 1 equals `FUNC_C eps` times this) |
/// | Square, Recip, Sqrt, Exp | `\|fx\|` | relative accuracy is standard (IEEE ops; exp within an ulp or two) |
/// | Log | `\|fx\| + 1` | `x f'(x) = 1`: near x = 1 log is only absolutely accurate |
/// | Sin, Cos | `\|fx\| + \|x\|` | argument reduction: an absolute error `eps \|x\|` |
/// | Tanh | `\|fx\| + \|x\| (1 - fx^2)` | relative plus condition |
/// | Erf | `\|fx\| + \|x\| 2/sqrt(pi) e^(-x^2)` | relative plus condition (`erf(x/sqrt 2)` inside GELU) |
/// | Sigmoid | `\|fx\| (1 + \|x\| (1 - fx))` | relative plus condition |
/// | Gelu | `\|x\| (1 + \|erf(x/sqrt 2)\|) / 2 + \|x f'(x)\|` | `x/2 + x/2 erf` cancels for x << 0 |
/// | GeluGrad | `(1 + \|erf\|)/2 + \|x\| phi + \|x f'(x)\|` | `1/2 + erf/2 + x phi` cancels |
/// | Silu | `\|fx\| + \|x f'(x)\|` | relative plus condition |
/// | SiluGrad | `s (1 + \|x\| (1 + s)) + \|x f'(x)\|`, s = sigmoid x | `1 - s` cancels for x >> 0 |
/// | Powf p | `\|fx\| (1 + \|p\| + \|p ln \|x\|\|)` | condition in x (`p`) and in the rounded p (`p ln x`) |
pub fn unary_scale(op: UnaryOp, x: f64, fx: f64) -> Option<f64> {
    use std::f64::consts::{FRAC_2_SQRT_PI, SQRT_2};
    let ax = x.abs();
    let sigmoid = 1.0 / (1.0 + (-x).exp());
    let phi = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let erf = <f64 as Float>::erf(x / SQRT_2);
    let big_phi = 0.5 * (1.0 + erf);
    let scale = match op {
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign | UnaryOp::Relu | UnaryOp::Step => {
            return None;
        }
        UnaryOp::Affine { scale, shift } => 0.5 * ((scale * x).abs() + shift.abs()),
        UnaryOp::Square | UnaryOp::Recip | UnaryOp::Sqrt | UnaryOp::Exp => fx.abs(),
        UnaryOp::Log => fx.abs() + 1.0,
        UnaryOp::Sin | UnaryOp::Cos => fx.abs() + ax,
        UnaryOp::Tanh => fx.abs() + ax * (1.0 - fx * fx),
        UnaryOp::Erf => fx.abs() + ax * FRAC_2_SQRT_PI * (-x * x).exp(),
        UnaryOp::Sigmoid => fx.abs() * (1.0 + ax * (1.0 - fx)),
        UnaryOp::Gelu => {
            let derivative = big_phi + x * phi;
            0.5 * ax * (1.0 + erf.abs()) + (x * derivative).abs()
        }
        UnaryOp::GeluGrad => {
            let second = phi * (2.0 - x * x);
            0.5 * (1.0 + erf.abs()) + ax * phi + (x * second).abs()
        }
        UnaryOp::Silu => {
            let derivative = sigmoid * (1.0 + x * (1.0 - sigmoid));
            fx.abs() + (x * derivative).abs()
        }
        UnaryOp::SiluGrad => {
            let second = sigmoid * (1.0 - sigmoid) * (2.0 + x * (1.0 - 2.0 * sigmoid));
            sigmoid * (1.0 + ax * (1.0 + sigmoid)) + (x * second).abs()
        }
        UnaryOp::Powf(p) => {
            // 0^p is exact (0, 1 or inf): no condition term, and no 0 * inf.
            let in_p = if p == 0.0 || x == 0.0 {
                0.0
            } else {
                (p * ax.ln()).abs()
            };
            fx.abs() * (1.0 + p.abs() + in_p)
        }
    };
    Some(scale)
}

/// The bound of an elementwise function at `x`: `FUNC_C * eps * unary_scale(op, x, fx)`.
///
/// At an infinite argument the bound is 0: the result must be exact (the limit, or NaN).
pub fn unary_bound<T: Float>(op: UnaryOp, x: f64, fx: f64) -> Option<f64> {
    let scale = unary_scale(op, x, fx)?;
    Some(if x.is_finite() {
        FUNC_C * eps::<T>() * scale
    } else {
        0.0
    })
}

fn describe(what: &str, bad: &[String], count: usize, total: usize) -> TestCaseError {
    TestCaseError::fail(format!(
        "{what}: {count} of {total} elements out of bounds; first ones:\n  {}",
        bad.join("\n  ")
    ))
}

fn lengths(what: &str, got: usize, want: usize) -> TestCaseResult {
    if got == want {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "{what}: {got} elements, the oracle gives {want}"
        )))
    }
}

/// The absolute error allowed for results in (or computed through) the subnormal range of `T`:
/// its smallest normal number. Gradual underflow loses relative accuracy there.
pub fn underflow<T: Float>() -> f64 {
    T::min_positive_value().as_f64()
}

/// Checks `|got - want| <= bound` elementwise, with the special-value rules of the module
/// documentation (NaN where the oracle has NaN, the same infinity where it has one). `want` is
/// exact (f64); the comparison allows what rounding it to `T` costs: the rounding error itself,
/// an infinity where it overflows `T`, and [`underflow`] absolutely.
pub fn assert_close<T: Float>(
    what: &str,
    got: &[T],
    want: &[f64],
    bound: &[f64],
) -> TestCaseResult {
    lengths(what, got.len(), want.len())?;
    let mut bad = Vec::new();
    let mut count = 0;
    for (i, ((g, &w), &b)) in got.iter().zip(want).zip(bound).enumerate() {
        let g = g.as_f64();
        // The exact result rounded to T: what a perfect kernel returns.
        let wt = T::of_f64(w).as_f64();
        let fine = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else if g.is_nan() {
            false
        } else if wt.is_infinite() {
            // The result overflows T: the same infinity, or a finite value within the bound.
            g == wt || (g - w).abs() <= b
        } else {
            (g - w).abs() <= b + (w - wt).abs() + underflow::<T>()
        };
        if !fine {
            count += 1;
            if bad.len() < SHOWN {
                bad.push(format!(
                    "[{i}]: got {g:e}, oracle {w:e}, |diff| {:e} > bound {b:e}",
                    (g - w).abs()
                ));
            }
        }
    }
    if count == 0 {
        Ok(())
    } else {
        Err(describe(what, &bad, count, got.len()))
    }
}

/// Checks that `got` equals `want` exactly: the same bits in f64, or NaN on both sides.
pub fn assert_exact<T: Float>(what: &str, got: &[T], want: &[f64]) -> TestCaseResult {
    lengths(what, got.len(), want.len())?;
    let mut bad = Vec::new();
    let mut count = 0;
    for (i, (g, &w)) in got.iter().zip(want).enumerate() {
        let g = g.as_f64();
        let fine = (g.is_nan() && w.is_nan()) || g.to_bits() == w.to_bits();
        if !fine {
            count += 1;
            if bad.len() < SHOWN {
                bad.push(format!("[{i}]: got {g:e}, expected exactly {w:e}"));
            }
        }
    }
    if count == 0 {
        Ok(())
    } else {
        Err(describe(what, &bad, count, got.len()))
    }
}

/// Checks that `got` equals `want` as numbers (so `-0 == 0`), NaN on both sides counting as
/// equal: for ops whose sign of zero the contract leaves open (Relu of -0, Max of -0 and 0).
pub fn assert_equal<T: Float>(what: &str, got: &[T], want: &[f64]) -> TestCaseResult {
    lengths(what, got.len(), want.len())?;
    let mut bad = Vec::new();
    let mut count = 0;
    for (i, (g, &w)) in got.iter().zip(want).enumerate() {
        let g = g.as_f64();
        let fine = (g.is_nan() && w.is_nan()) || g == w;
        if !fine {
            count += 1;
            if bad.len() < SHOWN {
                bad.push(format!("[{i}]: got {g:e}, expected {w:e}"));
            }
        }
    }
    if count == 0 {
        Ok(())
    } else {
        Err(describe(what, &bad, count, got.len()))
    }
}

/// Checks that two outputs of the backend under test have identical bits.
pub fn assert_same_bits<T: Float>(what: &str, a: &[T], b: &[T]) -> TestCaseResult {
    let a = harness::widen(a);
    let b = harness::widen(b);
    lengths(what, a.len(), b.len())?;
    match a
        .iter()
        .zip(&b)
        .position(|(x, y)| x.to_bits() != y.to_bits())
    {
        None => Ok(()),
        Some(i) => Err(TestCaseError::fail(format!(
            "{what}: not bitwise reproducible: element {i} is {:e} in one run and {:e} in the other",
            a[i], b[i]
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_accepts_cancellation_to_zero() {
        // 1 + 1e-8 - 1 in f32: the relative error is huge but the sum bound is not.
        let got = [1e-8f32 - 1e-8];
        assert!(assert_close("t", &got, &[1e-8], &sum_bounds::<f32>(&[2.0], 3)).is_ok());
        assert!(assert_close("t", &[1.0f32], &[0.0], &sum_bounds::<f32>(&[1.0], 3)).is_err());
    }

    #[test]
    fn special_values_must_match() {
        let b = [1.0];
        assert!(assert_close("t", &[f64::NAN], &[f64::NAN], &b).is_ok());
        assert!(assert_close("t", &[0.0f64], &[f64::NAN], &b).is_err());
        assert!(assert_close("t", &[f64::NAN], &[0.0], &b).is_err());
        assert!(assert_close("t", &[f64::INFINITY], &[f64::INFINITY], &b).is_ok());
        assert!(assert_close("t", &[f64::MAX], &[f64::INFINITY], &b).is_err());
        assert!(assert_exact("t", &[-0.0f32], &[0.0]).is_err());
        assert!(assert_equal("t", &[-0.0f32], &[0.0]).is_ok());
        assert!(assert_exact("t", &[f32::NAN], &[f64::NAN]).is_ok());
    }

    #[test]
    fn exact_functions_have_no_scale() {
        assert_eq!(unary_scale(UnaryOp::Relu, 0.0, 0.0), None);
        let s = unary_scale(UnaryOp::Sin, 10.0, 10f64.sin()).unwrap();
        assert!(s >= 10.0);
        let s = unary_scale(UnaryOp::Log, 1.0, 0.0).unwrap();
        assert!(s >= 1.0);
    }
}
