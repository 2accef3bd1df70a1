//! Random numbers: every backend returns the library's counter-based sequence, bit for bit.

use crate::harness::{check, dev_run, widen};
use crate::tolerance::assert_exact;
use dualscore_core::rng::{self, RngKey};
use dualscore_core::{Backend, Float};
use proptest::prelude::*;

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
/// stream, offset and length.
pub fn random_normal<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("random_normal ({})", T::DTYPE),
        sequence_case(),
        |(seed, stream, offset, len)| {
            let key = RngKey::new(seed, stream);
            let what = format!("random_normal {key:?} at {offset} ({})", T::DTYPE);
            let got: Vec<T> = dev_run(backend, &what, len, |b| b.random_normal(key, offset, len))?;
            let want: Vec<T> = crate::harness::round(&rng::normal_values(key, offset, len));
            assert_exact(&what, &got, &widen(&want))
        },
    );
}
