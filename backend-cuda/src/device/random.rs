//! Launchers of `random.cu`: the counter-based uniform and normal numbers of
//! [`dualscore_core::rng`], drawn on the device.
//!
//! Value `i` of a launch is the one at index `offset + i` of the sequence `key`: the kernel runs
//! Philox4x32-10 on the counter (index low, index high, stream low, stream high) under the key
//! (seed low, seed high), as [`rng::philox4x32_10`] does, with `__umulhi` for the high words of
//! the products.
//!
//! * **Uniform**: 53 bits of the first two words times 2^-53, exact in `f64`, then rounded to
//!   nearest for `f32` and kept below 1 (`min(1 - eps / 2)`), as the default
//!   [`Backend::random_uniform`](dualscore_core::Backend::random_uniform) does. Integer
//!   operations, an exact product and one correctly rounded conversion: the values equal the
//!   CPU's bit for bit.
//! * **Normal**: Box-Muller's cosine branch in `f64`, `sqrt(-2 log u1) cos(2 pi u2)` with the
//!   host's `u1` and `u2` (exact), then rounded to the element type. The square root is
//!   correctly rounded on both sides, but `log` and `cos` are CUDA's (within 1 and 2 ulp
//!   respectively, per the CUDA Math API) where the host uses libm (within 1 ulp each). To first
//!   order the two results then differ by at most `(1/2 + 1/2 + 1/2 + 1/2 + 3 + 1) eps' = 6 eps'`
//!   relatively (`eps' = 2^-52`: the two logarithms' errors halved by the square root, both
//!   square roots' roundings, the two cosines' errors, both products' roundings), which is at
//!   most 12 ulp of the `f64` result and, typically, one or two. Rounded to `f32`, a difference
//!   that small changes the result only next to a rounding boundary, by one ulp. Expected bound:
//!   **12 ulp for `f64`, 1 ulp for `f32`**; the shared suite takes it as `normal_ulps = 12`.

use super::launch::{Args, typed};
use super::modules::Family;
use super::{CudaStorage, Device};
use dualscore_core::rng::RngKey;
use dualscore_core::{Float, Result};

/// The sequence and the first index of a launch, passed by value (`struct Counter` of
/// `random.cu`): the words of the key and of the counter's upper half, low word first.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counter {
    key: [u32; 2],
    stream: [u32; 2],
    offset: u64,
}

impl Counter {
    fn new(key: RngKey, offset: u64) -> Counter {
        Counter {
            key: [key.seed as u32, (key.seed >> 32) as u32],
            stream: [key.stream as u32, (key.stream >> 32) as u32],
            offset,
        }
    }

    /// The Philox counter of value `i` of the launch (the kernel's `offset + i`, wrapping).
    #[cfg(test)]
    fn counter(&self, i: u64) -> [u32; 4] {
        let index = self.offset.wrapping_add(i);
        [
            index as u32,
            (index >> 32) as u32,
            self.stream[0],
            self.stream[1],
        ]
    }
}

pub(crate) fn uniform<T: Float>(
    device: &Device,
    key: RngKey,
    offset: u64,
    len: usize,
) -> Result<CudaStorage<T>> {
    generate(
        device,
        typed::<T>("uniform_f32", "uniform_f64"),
        key,
        offset,
        len,
    )
}

pub(crate) fn normal<T: Float>(
    device: &Device,
    key: RngKey,
    offset: u64,
    len: usize,
) -> Result<CudaStorage<T>> {
    generate(
        device,
        typed::<T>("normal_f32", "normal_f64"),
        key,
        offset,
        len,
    )
}

/// `len` values of kernel `name` from index `offset` of `key`'s sequence.
fn generate<T: Float>(
    device: &Device,
    name: &'static str,
    key: RngKey,
    offset: u64,
    len: usize,
) -> Result<CudaStorage<T>> {
    let out = device.alloc::<T>(len)?;
    if len > 0 {
        let mut args = Args::new();
        args.buffer(&out).size(len).value(Counter::new(key, offset));
        device.launch_1d(Family::Random, name, len, &mut args)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dualscore_core::rng;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn the_counter_has_the_kernels_layout() {
        assert_eq!(size_of::<Counter>(), 24);
        assert_eq!(align_of::<Counter>(), 8);
        assert_eq!(offset_of!(Counter, key), 0);
        assert_eq!(offset_of!(Counter, stream), 8);
        assert_eq!(offset_of!(Counter, offset), 16);
    }

    #[test]
    fn seed_stream_and_offset_are_packed_low_word_first() {
        let c = Counter::new(
            RngKey::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
            0x1111_2222_3333_4444,
        );
        assert_eq!(c.key, [0x89ab_cdef, 0x0123_4567]);
        assert_eq!(c.stream, [0x7654_3210, 0xfedc_ba98]);
        assert_eq!(c.offset, 0x1111_2222_3333_4444);
        assert_eq!(
            c.counter(0),
            [0x3333_4444, 0x1111_2222, 0x7654_3210, 0xfedc_ba98]
        );
        // The index carries into its high word, and wraps at 2^64 as the kernel's does.
        let edge = Counter::new(RngKey::new(0, 0), u64::from(u32::MAX));
        assert_eq!(edge.counter(1)[..2], [0, 1]);
        assert_eq!(
            Counter::new(RngKey::new(0, 0), u64::MAX).counter(2)[..2],
            [1, 0]
        );
    }

    /// The words the kernel draws from, put through the host's formulas, are the core's values:
    /// the packing selects the same block of the sequence.
    #[test]
    fn the_packed_counter_draws_the_cores_sequence() {
        for (seed, stream, offset) in [
            (0, 0, 0),
            (7, 1, 3),
            (u64::MAX, u64::MAX - 5, (1 << 32) - 2),
            (0x5eed_2026, 1 << 40, u64::MAX / 2),
        ] {
            let key = RngKey::new(seed, stream);
            let c = Counter::new(key, offset);
            for i in 0..4 {
                let w = rng::philox4x32_10(c.counter(i), c.key);
                let bits = (u64::from(w[0]) << 21) | (u64::from(w[1]) >> 11);
                let u = bits as f64 * (1.0 / (1u64 << 53) as f64);
                assert_eq!(u.to_bits(), rng::uniform_at(key, offset + i).to_bits());
            }
        }
    }
}
