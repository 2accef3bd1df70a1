//! Inputs for the gradient properties: shapes, seeds, and values drawn from a seed per domain.

use dualscore_core::rng::{RngKey, normal_values, uniform_values};
use dualscore_core::{Backend, Result, Tensor};
use proptest::prelude::*;

/// Where the values of an input live.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Domain {
    /// Uniform in [-2, 2].
    Any,
    /// Uniform in [0.3, 3].
    Positive,
    /// Magnitude in [0.3, 3], either sign.
    AwayFromZero,
    /// Odd multiples of 0.1 in [-2, 2]: never equal to an [`Domain::EvenTenths`] value.
    OddTenths,
    /// Even multiples of 0.1 in [-2, 2].
    EvenTenths,
    /// Distinct values 0.1 apart (for max and min without ties), shuffled.
    Distinct,
    /// Standard normal, scaled by 1 / sqrt(fan_in) for weights.
    Weight(usize),
}

/// Values of `len` elements from `domain`, drawn from `seed`.
pub fn values(domain: Domain, len: usize, seed: u64, stream: u64) -> Vec<f64> {
    let key = RngKey::new(seed, stream);
    let u = uniform_values(key, 0, len);
    match domain {
        Domain::Any => u.iter().map(|v| 4.0 * v - 2.0).collect(),
        Domain::Positive => u.iter().map(|v| 0.3 + 2.7 * v).collect(),
        Domain::AwayFromZero => {
            let signs = uniform_values(key, len as u64, len);
            u.iter()
                .zip(signs)
                .map(|(v, s)| (0.3 + 2.7 * v) * if s < 0.5 { -1.0 } else { 1.0 })
                .collect()
        }
        Domain::OddTenths => u
            .iter()
            .map(|v| (2.0 * (v * 20.0).floor() - 19.0) * 0.1)
            .collect(),
        Domain::EvenTenths => u
            .iter()
            .map(|v| (2.0 * (v * 21.0).floor() - 20.0) * 0.1)
            .collect(),
        Domain::Distinct => {
            let mut order: Vec<usize> = (0..len).collect();
            order.sort_by(|&a, &b| u[a].total_cmp(&u[b]));
            let mut out = vec![0.0; len];
            for (rank, &i) in order.iter().enumerate() {
                out[i] = (rank as f64 - len as f64 / 2.0) * 0.1;
            }
            out
        }
        Domain::Weight(fan_in) => normal_values(key, 0, len)
            .into_iter()
            .map(|v| v / (fan_in.max(1) as f64).sqrt())
            .collect(),
    }
}

/// A tensor of `shape` with values from `domain`.
pub fn tensor<B: Backend>(
    backend: &B,
    shape: &[usize],
    domain: Domain,
    seed: u64,
    stream: u64,
) -> Result<Tensor<B, f64>> {
    let len = shape.iter().product();
    Tensor::from_f64(backend, &values(domain, len, seed, stream), shape.to_vec())
}

/// A shape of rank 0 to 3 with axes of size 1 to 4.
pub fn shape() -> impl Strategy<Value = Vec<usize>> + Clone {
    prop::collection::vec(1usize..=4, 0..=3)
}

/// A shape of rank 1 to 3 with axes of size 1 to 4.
pub fn nonscalar_shape() -> impl Strategy<Value = Vec<usize>> + Clone {
    prop::collection::vec(1usize..=4, 1..=3)
}

/// Two shapes that broadcast together: the output shape with, per operand, some leading axes
/// dropped and some axes set to 1.
pub fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (shape(), 0usize..=3, 0usize..=3, any::<u8>(), any::<u8>()).prop_map(
        |(out, drop_a, drop_b, ones_a, ones_b)| {
            let side = |drop: usize, ones: u8| -> Vec<usize> {
                let drop = drop.min(out.len());
                out[drop..]
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| if ones >> i & 1 == 1 { 1 } else { d })
                    .collect()
            };
            (side(drop_a, ones_a), side(drop_b, ones_b))
        },
    )
}

/// A subset of the axes of a rank-`rank` shape, as a sorted list.
pub fn axes_of(rank: usize, mask: u8) -> Vec<usize> {
    (0..rank).filter(|a| mask >> a & 1 == 1).collect()
}
