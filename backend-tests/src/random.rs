//! Random numbers: every backend returns the library's counter-based sequence, bit for bit;
//! a backend may declare a tolerance in ulps for the normal numbers
//! ([`random_normal_within_ulps`]).

use crate::harness::{check, dev_run, widen};
use crate::tolerance::assert_exact;
use dualscore_core::rng::{self, RngKey};
use dualscore_core::{Backend, DType, Float};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestCaseResult};

/// Offsets near 0, around 2^32 (where the counter's high word changes), in the middle of the
/// range and near its end.
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..1000u64,
        (1u64 << 32) - 400..(1u64 << 32) + 400,
        u64::MAX / 2..u64::MAX / 2 + 1000,
        u64::MAX - 2000..u64::MAX - 400,
    ]
}

fn sequence_case() -> impl Strategy<Value = (u64, u64, u64, usize)> {
    (any::<u64>(), any::<u64>(), offset(), 0..=300usize)
}

/// `random_uniform` equals [`rng::uniform_values`] rounded to `T` (and kept below 1), bit for
/// bit, for any seed, stream, offset and length.
pub fn random_uniform<B: Backend, T: Float>(backend: &B) {
    // Index 38471471 of (0, 0) is 1 - 4.5e-9, which rounds to 1 in f32: it must stay below 1.
    let edge = backend
        .random_uniform::<T>(RngKey::new(0, 0), 38_471_471, 1)
        .and_then(|s| backend.download(&s))
        .expect("random_uniform of one value");
    assert!(
        edge[0] < T::one(),
        "random_uniform gave {} ({})",
        edge[0],
        T::DTYPE
    );
    let below_one = T::one() - T::epsilon() / (T::one() + T::one());
    check(
        &format!("random_uniform ({})", T::DTYPE),
        sequence_case(),
        |(seed, stream, offset, len)| {
            let key = RngKey::new(seed, stream);
            let what = format!("random_uniform {key:?} at {offset} ({})", T::DTYPE);
            let got: Vec<T> = dev_run(backend, &what, len, |b| b.random_uniform(key, offset, len))?;
            let want: Vec<T> = crate::harness::round::<T>(&rng::uniform_values(key, offset, len))
                .into_iter()
                .map(|v| v.min(below_one))
                .collect();
            assert_exact(&what, &got, &widen(&want))
        },
    );
}

/// `random_normal` equals [`rng::normal_values`] rounded to `T`, bit for bit, for any seed,
/// stream, offset and length: [`random_normal_within_ulps`] with 0 ulps.
pub fn random_normal<B: Backend, T: Float>(backend: &B) {
    random_normal_within_ulps::<B, T>(backend, 0);
}

/// `random_normal` within `ulps` units in the last place of `T` of [`rng::normal_values`]
/// rounded to `T`, for any seed, stream, offset and length; 0 demands the same bits.
///
/// For a backend that evaluates Box-Muller's `log` and `cos` with its own elementary functions
/// (a GPU's), which may differ from the host's libm in the last bits. The uniform numbers, the
/// Philox words and the Box-Muller inputs involve no such function: [`random_uniform`] stays
/// exact for every backend.
pub fn random_normal_within_ulps<B: Backend, T: Float>(backend: &B, ulps: u64) {
    check(
        &format!("random_normal ({})", T::DTYPE),
        sequence_case(),
        |(seed, stream, offset, len)| {
            let key = RngKey::new(seed, stream);
            let what = format!("random_normal {key:?} at {offset} ({})", T::DTYPE);
            let got: Vec<T> = dev_run(backend, &what, len, |b| b.random_normal(key, offset, len))?;
            let want: Vec<T> = crate::harness::round(&rng::normal_values(key, offset, len));
            if ulps == 0 {
                assert_exact(&what, &got, &widen(&want))
            } else {
                assert_within_ulps(&what, &got, &want, ulps)
            }
        },
    );
}

/// How many values of `T` lie from `a` to `b`: 0 when they are equal (-0 and +0 included),
/// 1 for neighbours; `None` when either is NaN.
pub fn ulps_apart<T: Float>(a: T, b: T) -> Option<u64> {
    if a.is_nan() || b.is_nan() {
        return None;
    }
    // The bit patterns, as sign and magnitude, put on one integer line in the order of the
    // values they encode.
    let line = |v: T| -> i128 {
        let (bits, sign) = match T::DTYPE {
            DType::F32 => (u64::from((v.as_f64() as f32).to_bits()), 1u64 << 31),
            DType::F64 => (v.as_f64().to_bits(), 1u64 << 63),
        };
        let magnitude = i128::from(bits & !sign);
        if bits & sign == 0 {
            magnitude
        } else {
            -magnitude
        }
    };
    Some(line(a).abs_diff(line(b)) as u64)
}

/// Checks that `got` and `want` are at most `ulps` apart elementwise ([`ulps_apart`]), NaN
/// only where `want` is NaN.
fn assert_within_ulps<T: Float>(what: &str, got: &[T], want: &[T], ulps: u64) -> TestCaseResult {
    if got.len() != want.len() {
        return Err(TestCaseError::fail(format!(
            "{what}: {} elements, expected {}",
            got.len(),
            want.len()
        )));
    }
    let bad: Vec<String> = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|&(_, (&g, &w))| match ulps_apart(g, w) {
            Some(d) => d > ulps,
            None => !(g.is_nan() && w.is_nan()),
        })
        .map(|(i, (&g, &w))| {
            format!(
                "[{i}]: got {:e}, expected {:e}, {:?} ulps apart",
                g.as_f64(),
                w.as_f64(),
                ulps_apart(g, w)
            )
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "{what}: {} of {} elements more than {ulps} ulps from the sequence; first ones:\n  {}",
            bad.len(),
            got.len(),
            bad.iter().take(6).cloned().collect::<Vec<_>>().join("\n  ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulps_count_the_values_between() {
        assert_eq!(ulps_apart(1.0f64, 1.0), Some(0));
        assert_eq!(ulps_apart(0.0f64, -0.0), Some(0));
        assert_eq!(ulps_apart(1.0f64, 1.0 + f64::EPSILON), Some(1));
        assert_eq!(ulps_apart(1.0f32, 1.0 - f32::EPSILON / 2.0), Some(1));
        assert_eq!(ulps_apart(1.0f32, 1.0 + 3.0 * f32::EPSILON), Some(3));
        let tiny = f64::from_bits(1);
        assert_eq!(ulps_apart(-tiny, tiny), Some(2));
        assert_eq!(ulps_apart(f32::MAX, f32::INFINITY), Some(1));
        assert_eq!(ulps_apart(f64::NAN, 1.0), None);
    }
}
