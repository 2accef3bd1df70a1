//! Counter-based random numbers: every value is a pure function of (seed, stream, index).
//!
//! The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011). Values are drawn on the host, in f64, so every backend sees the same numbers; a
//! saved generator state is three integers ([`CounterRng`]).

/// Which sequence to draw from: a seed and a stream within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RngKey {
    /// The user's seed.
    pub seed: u64,
    /// An independent sequence per purpose (data order, noise, initialization, ...).
    pub stream: u64,
}

impl RngKey {
    /// The key of `stream` under `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        RngKey { seed, stream }
    }
}

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;

/// The Philox4x32 block function with 10 rounds.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let p0 = u64::from(PHILOX_M0) * u64::from(c[0]);
        let p1 = u64::from(PHILOX_M1) * u64::from(c[2]);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

fn block(key: RngKey, index: u64) -> [u32; 4] {
    philox4x32_10(
        [
            index as u32,
            (index >> 32) as u32,
            key.stream as u32,
            (key.stream >> 32) as u32,
        ],
        [key.seed as u32, (key.seed >> 32) as u32],
    )
}

/// A uniform number in [0, 1) with 53 random bits from two 32-bit words.
fn unit_interval(hi: u32, lo: u32) -> f64 {
    let bits = (u64::from(hi) << 21) | (u64::from(lo) >> 11);
    bits as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The uniform number in [0, 1) at `index` of the sequence `key`.
pub fn uniform_at(key: RngKey, index: u64) -> f64 {
    let w = block(key, index);
    unit_interval(w[0], w[1])
}

/// The standard normal number at `index` of the sequence `key` (Box-Muller, cosine branch).
pub fn normal_at(key: RngKey, index: u64) -> f64 {
    let w = block(key, index);
    let u1 = 1.0 - unit_interval(w[0], w[1]);
    let u2 = unit_interval(w[2], w[3]);
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
}

/// Uniform numbers in [0, 1) at indices `offset..offset + len`.
pub fn uniform_values(key: RngKey, offset: u64, len: usize) -> Vec<f64> {
    (0..len as u64)
        .map(|i| uniform_at(key, offset + i))
        .collect()
}

/// Standard normal numbers at indices `offset..offset + len`.
pub fn normal_values(key: RngKey, offset: u64, len: usize) -> Vec<f64> {
    (0..len as u64)
        .map(|i| normal_at(key, offset + i))
        .collect()
}

/// A position in a counter-based sequence: its whole state is (seed, stream, next index).
///
/// ```
/// use dualscore_core::rng::{CounterRng, RngKey};
/// let mut a = CounterRng::new(RngKey::new(7, 1));
/// let first = a.normal(3);
/// let saved = a; // three integers
/// let next = a.normal(2);
/// let mut b = saved;
/// assert_eq!(b.normal(2), next);
/// assert_ne!(first[..2], next[..]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CounterRng {
    /// The sequence drawn from.
    pub key: RngKey,
    /// The index of the next value.
    pub next: u64,
}

impl CounterRng {
    /// A generator at the start of `key`'s sequence.
    pub fn new(key: RngKey) -> Self {
        CounterRng { key, next: 0 }
    }

    /// Reserves `len` indices and returns the first; the caller draws `first..first + len`.
    pub fn reserve(&mut self, len: usize) -> u64 {
        let first = self.next;
        self.next += len as u64;
        first
    }

    /// The next `len` standard normal numbers.
    pub fn normal(&mut self, len: usize) -> Vec<f64> {
        let first = self.reserve(len);
        normal_values(self.key, first, len)
    }

    /// The next `len` uniform numbers in [0, 1).
    pub fn uniform(&mut self, len: usize) -> Vec<f64> {
        let first = self.reserve(len);
        uniform_values(self.key, first, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors of the Random123 distribution (kat_vectors, philox4x32 10 rounds).
    #[test]
    fn philox_matches_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn normal_moments_are_standard() {
        let v = normal_values(RngKey::new(3, 9), 0, 200_000);
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        // Standard errors: 1/sqrt(n) = 0.0022 for the mean, sqrt(2/n) = 0.0032 for the variance.
        assert!(mean.abs() < 0.012, "mean {mean}");
        assert!((var - 1.0).abs() < 0.016, "variance {var}");
    }

    #[test]
    fn uniform_is_in_unit_interval_and_streams_differ() {
        let a = uniform_values(RngKey::new(1, 0), 0, 10_000);
        assert!(a.iter().all(|&u| (0.0..1.0).contains(&u)));
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        assert!((mean - 0.5).abs() < 0.015, "mean {mean}");
        let b = uniform_values(RngKey::new(1, 1), 0, 10_000);
        assert_ne!(a, b);
        assert_eq!(a[5..], uniform_values(RngKey::new(1, 0), 5, 9_995)[..]);
    }
}
