//! Unary elementwise kernels (the formulas of [`UnaryOp`]) and element type conversion.
//!
//! Each op is a closure monomorphized into its own loop over fixed-size pieces, so the simple
//! ones vectorize; the pieces run in parallel on the pool.

use crate::par::CHUNK;
use crate::{Cpu, fast_math, written_in_chunks};
use dualscore_core::backend::UnaryOp;
use dualscore_core::{DType, Float, Result};
use std::f64::consts::{FRAC_1_SQRT_2, PI};
use std::mem::MaybeUninit;

/// `op` applied to every element of `x`.
pub(crate) fn unary<T: Float>(cpu: &Cpu, op: UnaryOp, x: &[T]) -> Result<Vec<T>> {
    let c = |v: f64| T::of_f64(v);
    let (zero, one, half) = (T::zero(), T::one(), c(0.5));
    match op {
        UnaryOp::Neg => map(cpu, x, |v| -v),
        UnaryOp::Abs => map(cpu, x, |v| v.abs()),
        UnaryOp::Sign => map(cpu, x, move |v| {
            if v > zero {
                one
            } else if v < zero {
                -one
            } else if v == zero {
                zero
            } else {
                v
            }
        }),
        UnaryOp::Exp if T::DTYPE == DType::F32 => exp_f32(cpu, x),
        UnaryOp::Exp => map(cpu, x, |v| v.exp()),
        UnaryOp::Log => map(cpu, x, |v| v.ln()),
        UnaryOp::Sqrt => map(cpu, x, |v| v.sqrt()),
        UnaryOp::Recip => map(cpu, x, move |v| one / v),
        UnaryOp::Square => map(cpu, x, |v| v * v),
        UnaryOp::Sin => map(cpu, x, |v| v.sin()),
        UnaryOp::Cos => map(cpu, x, |v| v.cos()),
        UnaryOp::Tanh => map(cpu, x, |v| v.tanh()),
        UnaryOp::Erf if T::DTYPE == DType::F32 => map_f32(cpu, x, fast_math::erf),
        UnaryOp::Gelu if T::DTYPE == DType::F32 => map_f32(cpu, x, fast_math::gelu),
        UnaryOp::GeluGrad if T::DTYPE == DType::F32 => map_f32(cpu, x, fast_math::gelu_grad),
        UnaryOp::Erf => map(cpu, x, |v| Float::erf(v)),
        UnaryOp::Sigmoid => map(cpu, x, sigmoid),
        UnaryOp::Relu => map(
            cpu,
            x,
            move |v| {
                if v > zero || v.is_nan() { v } else { zero }
            },
        ),
        UnaryOp::Step => map(cpu, x, move |v| {
            if v > zero {
                one
            } else if v.is_nan() {
                v
            } else {
                zero
            }
        }),
        UnaryOp::Gelu => {
            let r = c(FRAC_1_SQRT_2);
            map(cpu, x, move |v| half * v * (one + Float::erf(v * r)))
        }
        UnaryOp::GeluGrad => {
            let (r, inv) = (c(FRAC_1_SQRT_2), c(1.0 / (2.0 * PI).sqrt()));
            map(cpu, x, move |v| {
                let cdf = half * (one + Float::erf(v * r));
                let pdf = (-(half * v * v)).exp() * inv;
                cdf + v * pdf
            })
        }
        UnaryOp::Silu => map(cpu, x, |v| v * sigmoid(v)),
        UnaryOp::SiluGrad => map(cpu, x, move |v| {
            let s = sigmoid(v);
            s * (one + v * (one - s))
        }),
        UnaryOp::Affine { scale, shift } => {
            let (a, b) = (c(scale), c(shift));
            map(cpu, x, move |v| a * v + b)
        }
        UnaryOp::Powf(p) => {
            let p = c(p);
            map(cpu, x, move |v| v.powf(p))
        }
    }
}

/// The logistic function, in a form that neither overflows nor loses the small tail; NaN
/// takes the second branch and stays NaN.
#[inline]
pub(crate) fn sigmoid<T: Float>(v: T) -> T {
    if v >= T::zero() {
        T::one() / (T::one() + (-v).exp())
    } else {
        let e = v.exp();
        e / (T::one() + e)
    }
}

/// [`map`] of an f32 function, for `T` = f32 (the conversions are identities).
fn map_f32<T: Float>(cpu: &Cpu, x: &[T], f: impl Fn(f32) -> f32 + Sync + Send) -> Result<Vec<T>> {
    map(cpu, x, move |v| T::of_f64(f64::from(f(v.as_f64() as f32))))
}

/// `e^x` in f32: the vectorized [`fast_math::exp_normal`] where its result is a normal number,
/// libm's `exp` elsewhere (overflow, subnormal results, NaN), fixed up after the vector pass.
fn exp_f32<T: Float>(cpu: &Cpu, x: &[T]) -> Result<Vec<T>> {
    use fast_math::{EXP_NORMAL_MAX, EXP_NORMAL_MIN, exp_normal};
    let of = |v: T| v.as_f64() as f32;
    let fast = move |v: T| {
        T::of_f64(f64::from(exp_normal(
            of(v).clamp(EXP_NORMAL_MIN, EXP_NORMAL_MAX),
        )))
    };
    // SAFETY: `apply` writes every element of a piece from the piece of `x` of its length.
    unsafe {
        written_in_chunks(cpu, x.len(), |i, piece| {
            let src = &x[i * CHUNK..][..piece.len()];
            apply(src, piece, &fast);
            let inside = |v: T| (EXP_NORMAL_MIN..=EXP_NORMAL_MAX).contains(&of(v));
            // A fold without an early exit, so that the check vectorizes.
            if !src.iter().fold(true, |all, &v| all & inside(v)) {
                for (o, &v) in piece.iter_mut().zip(src) {
                    if !inside(v) {
                        o.write(v.exp());
                    }
                }
            }
        })
    }
}

/// `f(x[i])` for every element, piece by piece in parallel.
fn map<T: Float, F: Fn(T) -> T + Sync + Send>(cpu: &Cpu, x: &[T], f: F) -> Result<Vec<T>> {
    // SAFETY: `apply` writes every element of a piece from the piece of `x` of its length.
    unsafe {
        written_in_chunks(cpu, x.len(), |i, piece| {
            apply(&x[i * CHUNK..][..piece.len()], piece, &f);
        })
    }
}

/// `out[i] = f(src[i])` for every element of `out` (as long as `src`), in 256-bit vectors with
/// fused multiply-adds where the CPU has AVX2 and FMA (the polynomial functions of
/// [`fast_math`] run about twice as fast there as in the baseline's 128-bit SSE2, and their
/// `mul_add`s become single instructions). Each element is computed by the same operations
/// either way, so the results are the same.
fn apply<T: Copy, F: Fn(T) -> T>(src: &[T], out: &mut [MaybeUninit<T>], f: &F) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { apply_avx2_fma(src, out, f) };
        return;
    }
    apply_here(src, out, f);
}

/// [`apply_here`] compiled for AVX2 and FMA.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn apply_avx2_fma<T: Copy, F: Fn(T) -> T>(src: &[T], out: &mut [MaybeUninit<T>], f: &F) {
    apply_here(src, out, f);
}

#[inline(always)]
fn apply_here<T: Copy, F: Fn(T) -> T>(src: &[T], out: &mut [MaybeUninit<T>], f: &F) {
    for (o, &v) in out.iter_mut().zip(src) {
        o.write(f(v));
    }
}

/// Converts the element type, rounding to nearest.
pub(crate) fn cast<T: Float, U: Float>(cpu: &Cpu, x: &[T]) -> Result<Vec<U>> {
    // SAFETY: `x` has the output's length, so from the piece's start on it is at least as long
    // as the piece, and the loop writes every element of the piece.
    unsafe {
        written_in_chunks(cpu, x.len(), |i, piece| {
            for (o, &v) in piece.iter_mut().zip(&x[i * CHUNK..]) {
                o.write(U::of_f64(v.as_f64()));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Buffer;
    use crate::tests::{buf, cpu, reference_close};
    use dualscore_core::Backend;
    use dualscore_core::backend::reference::Reference;

    #[test]
    fn special_values_follow_the_contract() {
        let cpu = cpu(2);
        let x = buf(&[0.0f64, -0.0, 1.5, -2.0, f64::NAN]);
        let sign = cpu.unary(UnaryOp::Sign, &x).unwrap();
        assert_eq!(sign[..4], [0.0, 0.0, 1.0, -1.0]);
        assert!(sign[4].is_nan());
        let step = cpu.unary(UnaryOp::Step, &x).unwrap();
        assert_eq!(step[..4], [0.0, 0.0, 1.0, 0.0]);
        assert!(step[4].is_nan());
        let relu = cpu.unary(UnaryOp::Relu, &x).unwrap();
        assert_eq!(relu[..4], [0.0, 0.0, 1.5, 0.0]);
        assert!(relu[4].is_nan());
        let s = cpu
            .unary(UnaryOp::Sigmoid, &buf(&[-800.0f64, 800.0]))
            .unwrap();
        assert_eq!(s[..], [0.0, 1.0]);
        // GELU'(0) = Phi(0) = 1/2.
        assert_eq!(
            cpu.unary(UnaryOp::GeluGrad, &buf(&[0.0f32])).unwrap()[..],
            [0.5]
        );
    }

    /// f32's exp takes libm's value outside the range of its polynomial: overflow, subnormal
    /// and zero results, infinities and NaN, in a buffer long enough for several pieces.
    #[test]
    fn f32_exp_outside_the_polynomial_range_is_libms() {
        let cpu = cpu(2);
        let special = [89.0f32, 88.7, 100.0, -87.5, -100.0, -104.0, -200.0];
        let mut x: Vec<f32> = (0..40_000)
            .map(|i| (i as f32 * 0.37).sin() * 90.0)
            .collect();
        x.extend(special);
        x.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
        let got = cpu.unary(UnaryOp::Exp, &buf(&x)).unwrap();
        let n = x.len();
        for (&v, &e) in x[..n - 3].iter().zip(&got[..n - 3]) {
            let want = f64::from(v).exp();
            let outside = !(fast_math::EXP_NORMAL_MIN..=fast_math::EXP_NORMAL_MAX).contains(&v);
            if outside {
                assert_eq!(e.to_bits(), v.exp().to_bits(), "exp({v})");
            } else {
                assert!(
                    (f64::from(e) - want).abs() <= 2.0 * f64::from(f32::EPSILON) * want,
                    "exp({v})"
                );
            }
        }
        assert_eq!(got[n - 3], f32::INFINITY);
        assert_eq!(got[n - 2], 0.0);
        assert!(got[n - 1].is_nan());
    }

    #[test]
    fn every_op_matches_the_reference() {
        let cpu = cpu(3);
        // Long enough to be split into several pieces.
        let x: Vec<f64> = (0..40_000).map(|i| (i as f64 * 0.37).sin() * 6.0).collect();
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        for op in UnaryOp::ALL {
            let got = cpu.unary(op, &buf(&x)).unwrap();
            let want = Reference.unary(op, &x).unwrap();
            reference_close(op.name(), &got, &want, 1e-13);
            let got = cpu.unary(op, &buf(&x32)).unwrap();
            let want = Reference.unary(op, &x32).unwrap();
            reference_close(op.name(), &got, &want, 1e-5);
        }
    }

    #[test]
    fn cast_rounds_to_nearest() {
        let cpu = cpu(1);
        let y: Buffer<f32> = cpu.cast(&buf(&[0.1f64, 1.0 + 2f64.powi(-30)])).unwrap();
        assert_eq!(y[..], [0.1f32, 1.0]);
    }
}
