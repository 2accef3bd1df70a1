//! Elementwise kernels: the formulas of [`UnaryOp`] and [`BinaryOp`], evaluated in f64, and
//! NumPy broadcasting for binary ops.

use super::{filled, index};
use crate::backend::ops::{BinaryOp, UnaryOp};
use crate::backend::validate::Output;
use crate::error::Result;
use crate::scalar::Float;
use crate::shape::Shape;
use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// `op` applied to every element of `x`.
pub(super) fn unary<T: Float>(op: UnaryOp, x: &[T]) -> Result<Vec<T>> {
    let op = round_params::<T>(op);
    Ok(x.iter()
        .map(|&v| T::of_f64(eval_unary(op, v.as_f64())))
        .collect())
}

/// `op` with its scalar parameters rounded to `T`, as the contract of [`UnaryOp`] asks.
fn round_params<T: Float>(op: UnaryOp) -> UnaryOp {
    let round = |v: f64| T::of_f64(v).as_f64();
    match op {
        UnaryOp::Affine { scale, shift } => UnaryOp::Affine {
            scale: round(scale),
            shift: round(shift),
        },
        UnaryOp::Powf(p) => UnaryOp::Powf(round(p)),
        other => other,
    }
}

/// The logistic function, in a form that neither overflows nor loses the small tail.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::exp(-x))
    } else {
        // Also the NaN branch: exp(NaN) is NaN.
        let e = libm::exp(x);
        e / (1.0 + e)
    }
}

/// The standard normal distribution function Phi.
fn normal_cdf(x: f64) -> f64 {
    0.5 * (1.0 + libm::erf(x * FRAC_1_SQRT_2))
}

/// The standard normal density phi.
fn normal_pdf(x: f64) -> f64 {
    libm::exp(-0.5 * x * x) / libm::sqrt(2.0 * PI)
}

/// The definition of each unary op, in f64 (parameters already rounded).
pub(super) fn eval_unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sign => {
            if x.is_nan() {
                x
            } else if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        UnaryOp::Exp => libm::exp(x),
        UnaryOp::Log => libm::log(x),
        UnaryOp::Sqrt => libm::sqrt(x),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Square => x * x,
        UnaryOp::Sin => libm::sin(x),
        UnaryOp::Cos => libm::cos(x),
        UnaryOp::Tanh => libm::tanh(x),
        UnaryOp::Erf => libm::erf(x),
        UnaryOp::Sigmoid => sigmoid(x),
        UnaryOp::Relu => {
            if x.is_nan() || x > 0.0 {
                x
            } else {
                0.0
            }
        }
        UnaryOp::Step => {
            if x.is_nan() {
                x
            } else if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        UnaryOp::Gelu => 0.5 * x * (1.0 + libm::erf(x * FRAC_1_SQRT_2)),
        UnaryOp::GeluGrad => normal_cdf(x) + x * normal_pdf(x),
        UnaryOp::Silu => x * sigmoid(x),
        UnaryOp::SiluGrad => {
            let s = sigmoid(x);
            s * (1.0 + x * (1.0 - s))
        }
        UnaryOp::Affine { scale, shift } => scale * x + shift,
        UnaryOp::Powf(p) => libm::pow(x, p),
    }
}

/// The larger of `a` and `b`, NaN if either is NaN.
pub(super) fn max_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a >= b {
        a
    } else {
        b
    }
}

/// The smaller of `a` and `b`, NaN if either is NaN.
pub(super) fn min_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a <= b {
        a
    } else {
        b
    }
}

fn indicator(condition: bool) -> f64 {
    if condition { 1.0 } else { 0.0 }
}

/// The definition of each binary op, in f64.
pub(super) fn eval_binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Max => max_nan(a, b),
        BinaryOp::Min => min_nan(a, b),
        BinaryOp::Eq => indicator(a == b),
        BinaryOp::Ne => indicator(a != b),
        BinaryOp::Lt => indicator(a < b),
        BinaryOp::Le => indicator(a <= b),
        BinaryOp::Gt => indicator(a > b),
        BinaryOp::Ge => indicator(a >= b),
    }
}

/// `op` on the NumPy broadcast of `lhs` and `rhs`: each output multi-index reads the operands
/// at the same index, with their missing and size-1 axes pinned to 0. `output` is the
/// broadcast, from [`validate::binary`](crate::backend::validate::binary).
pub(super) fn binary<T: Float>(
    op: BinaryOp,
    lhs: &[T],
    lhs_shape: &Shape,
    rhs: &[T],
    rhs_shape: &Shape,
    output: &Output,
) -> Result<Vec<T>> {
    let dims = output.shape.dims();
    let lhs_strides = index::broadcast_strides(lhs_shape.dims(), dims);
    let rhs_strides = index::broadcast_strides(rhs_shape.dims(), dims);
    let mut out = filled(output.len, T::zero())?;
    let mut at = vec![0; dims.len()];
    for (flat, o) in out.iter_mut().enumerate() {
        index::unravel(flat, dims, &mut at);
        let a = lhs[index::ravel(&at, &lhs_strides)].as_f64();
        let b = rhs[index::ravel(&at, &rhs_strides)].as_f64();
        *o = T::of_f64(eval_binary(op, a, b));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::backend::reference::Reference;

    /// The kernel as the backend calls it, after validation.
    fn binary<T: Float>(
        op: BinaryOp,
        lhs: &[T],
        lhs_shape: &Shape,
        rhs: &[T],
        rhs_shape: &Shape,
    ) -> Result<Vec<T>> {
        Reference.binary(op, &lhs.to_vec(), lhs_shape, &rhs.to_vec(), rhs_shape)
    }

    fn u(op: UnaryOp, x: f64) -> f64 {
        unary::<f64>(op, &[x]).unwrap()[0]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-15 * (1.0 + b.abs())
    }

    #[test]
    fn sign_step_relu_at_zero_and_nan() {
        assert_eq!(u(UnaryOp::Sign, 0.0), 0.0);
        assert_eq!(u(UnaryOp::Sign, -0.0), 0.0);
        assert_eq!(u(UnaryOp::Sign, -2.5), -1.0);
        assert_eq!(u(UnaryOp::Sign, 3.0), 1.0);
        assert_eq!(u(UnaryOp::Step, 0.0), 0.0);
        assert_eq!(u(UnaryOp::Step, 1e-300), 1.0);
        assert_eq!(u(UnaryOp::Step, -1.0), 0.0);
        assert_eq!(u(UnaryOp::Relu, -1.0), 0.0);
        assert_eq!(u(UnaryOp::Relu, 2.0), 2.0);
        for op in [UnaryOp::Sign, UnaryOp::Step, UnaryOp::Relu] {
            assert!(u(op, f64::NAN).is_nan(), "{}", op.name());
        }
    }

    #[test]
    fn simple_ops_follow_their_formulas() {
        assert_eq!(u(UnaryOp::Neg, 2.0), -2.0);
        assert_eq!(u(UnaryOp::Abs, -2.0), 2.0);
        assert_eq!(u(UnaryOp::Exp, 0.0), 1.0);
        assert_eq!(u(UnaryOp::Log, 1.0), 0.0);
        assert!(u(UnaryOp::Log, -1.0).is_nan());
        assert_eq!(u(UnaryOp::Sqrt, 9.0), 3.0);
        assert_eq!(u(UnaryOp::Recip, 4.0), 0.25);
        assert_eq!(u(UnaryOp::Square, -3.0), 9.0);
        assert_eq!(u(UnaryOp::Sin, 0.0), 0.0);
        assert_eq!(u(UnaryOp::Cos, 0.0), 1.0);
        assert_eq!(u(UnaryOp::Tanh, 0.0), 0.0);
        assert!(close(u(UnaryOp::Erf, 1.0), 0.842_700_792_949_714_9));
        assert_eq!(
            u(
                UnaryOp::Affine {
                    scale: 2.0,
                    shift: -1.0
                },
                3.0
            ),
            5.0
        );
        assert_eq!(u(UnaryOp::Powf(0.5), 16.0), 4.0);
        assert!(u(UnaryOp::Powf(0.5), -16.0).is_nan());
        assert_eq!(u(UnaryOp::Powf(2.0), -3.0), 9.0);
    }

    #[test]
    fn smooth_activations_match_known_values() {
        // Phi(1) and phi(1).
        let (cdf1, pdf1) = (0.841_344_746_068_542_9, 0.241_970_724_519_143_37);
        assert_eq!(u(UnaryOp::Gelu, 0.0), 0.0);
        assert!(close(u(UnaryOp::Gelu, 1.0), cdf1));
        assert!(close(u(UnaryOp::Gelu, -1.0), -(1.0 - cdf1)));
        assert_eq!(u(UnaryOp::GeluGrad, 0.0), 0.5);
        assert!(close(u(UnaryOp::GeluGrad, 1.0), cdf1 + pdf1));
        assert_eq!(u(UnaryOp::Sigmoid, 0.0), 0.5);
        assert_eq!(u(UnaryOp::Sigmoid, 800.0), 1.0);
        assert_eq!(u(UnaryOp::Sigmoid, -800.0), 0.0);
        // The stable form keeps the tail: sigmoid(-40) = e^-40 / (1 + e^-40).
        assert!(close(u(UnaryOp::Sigmoid, -40.0), (-40.0f64).exp()));
        let s2 = 1.0 / (1.0 + (-2.0f64).exp());
        assert!(close(u(UnaryOp::Silu, 2.0), 2.0 * s2));
        assert_eq!(u(UnaryOp::SiluGrad, 0.0), 0.5);
        assert!(close(
            u(UnaryOp::SiluGrad, 2.0),
            s2 * (1.0 + 2.0 * (1.0 - s2))
        ));
        assert_eq!(u(UnaryOp::Silu, -800.0), -0.0);
    }

    #[test]
    fn derivative_ops_match_finite_differences() {
        let h = 1e-6;
        for x in [-2.0, -0.3, 0.7, 1.9] {
            for (f, df) in [
                (UnaryOp::Gelu, UnaryOp::GeluGrad),
                (UnaryOp::Silu, UnaryOp::SiluGrad),
            ] {
                let fd = (u(f, x + h) - u(f, x - h)) / (2.0 * h);
                assert!((fd - u(df, x)).abs() < 1e-8, "{} at {x}", df.name());
            }
        }
    }

    #[test]
    fn scalars_are_rounded_to_the_element_type_first() {
        // 1 + 2^-24 - 2^-40 rounds to 1 in f32, so these are exact in f32 ...
        let nearly_one = 1.0 + 2f64.powi(-24) - 2f64.powi(-40);
        let x = 16_777_215.0f32; // 2^24 - 1
        let affine = UnaryOp::Affine {
            scale: nearly_one,
            shift: 0.0,
        };
        assert_eq!(unary::<f32>(affine, &[x]).unwrap(), vec![x]);
        let big = 2f32.powi(100);
        assert_eq!(
            unary::<f32>(UnaryOp::Powf(nearly_one), &[big]).unwrap(),
            vec![big]
        );
        // ... while in f64 the unrounded scalars change the result.
        assert_ne!(unary::<f64>(affine, &[x as f64]).unwrap()[0], x as f64);
        assert_ne!(
            unary::<f64>(UnaryOp::Powf(nearly_one), &[big as f64]).unwrap()[0],
            big as f64
        );
    }

    #[test]
    fn every_unary_op_runs_on_f32_and_empty_input() {
        for op in UnaryOp::ALL {
            assert_eq!(unary::<f32>(op, &[0.5, 2.0]).unwrap().len(), 2);
            assert!(unary::<f64>(op, &[]).unwrap().is_empty());
        }
    }

    #[test]
    fn broadcasting_3x1_with_4() {
        let a = [1.0, 2.0, 3.0];
        let b = [10.0, 20.0, 30.0, 40.0];
        let out =
            binary::<f64>(BinaryOp::Add, &a, &Shape::new([3, 1]), &b, &Shape::new([4])).unwrap();
        #[rustfmt::skip]
        let want = vec![
            11.0, 21.0, 31.0, 41.0,
            12.0, 22.0, 32.0, 42.0,
            13.0, 23.0, 33.0, 43.0,
        ];
        assert_eq!(out, want);
        // The operand order matters for Sub, and the broadcast is symmetric in shape.
        let out =
            binary::<f64>(BinaryOp::Sub, &b, &Shape::new([4]), &a, &Shape::new([3, 1])).unwrap();
        assert_eq!(out[..4], [9.0, 19.0, 29.0, 39.0]);
        assert_eq!(out[8..], [7.0, 17.0, 27.0, 37.0]);
    }

    #[test]
    fn scalar_and_zero_size_broadcasts() {
        let out = binary::<f32>(
            BinaryOp::Mul,
            &[2.0],
            &Shape::scalar(),
            &[1.0, 2.0, 3.0],
            &Shape::new([3]),
        )
        .unwrap();
        assert_eq!(out, vec![2.0, 4.0, 6.0]);
        let out = binary::<f32>(
            BinaryOp::Add,
            &[],
            &Shape::new([0, 3]),
            &[1.0, 2.0, 3.0],
            &Shape::new([3]),
        )
        .unwrap();
        assert!(out.is_empty());
        let out = binary::<f32>(
            BinaryOp::Add,
            &[1.0],
            &Shape::new([1, 1]),
            &[],
            &Shape::new([2, 0]),
        )
        .unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn max_min_propagate_nan_and_comparisons_are_indicators() {
        let nan = f64::NAN;
        let lhs = [1.0, nan, 3.0, 2.0];
        let rhs = [nan, 1.0, 2.0, 2.0];
        let s = Shape::new([4]);
        let run = |op| binary::<f64>(op, &lhs, &s, &rhs, &s).unwrap();
        let max = run(BinaryOp::Max);
        assert!(max[0].is_nan() && max[1].is_nan());
        assert_eq!(max[2..], [3.0, 2.0]);
        let min = run(BinaryOp::Min);
        assert!(min[0].is_nan() && min[1].is_nan());
        assert_eq!(min[2..], [2.0, 2.0]);
        assert_eq!(run(BinaryOp::Eq), vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(run(BinaryOp::Ne), vec![1.0, 1.0, 1.0, 0.0]);
        assert_eq!(run(BinaryOp::Lt), vec![0.0, 0.0, 0.0, 0.0]);
        assert_eq!(run(BinaryOp::Le), vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(run(BinaryOp::Gt), vec![0.0, 0.0, 1.0, 0.0]);
        assert_eq!(run(BinaryOp::Ge), vec![0.0, 0.0, 1.0, 1.0]);
        assert_eq!(run(BinaryOp::Div)[2..], [1.5, 1.0]);
    }
}
