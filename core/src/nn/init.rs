//! Parameter initialization from the counter-based generator, so a seed fixes every weight on
//! every backend.

use crate::backend::Backend;
use crate::backend::alloc::reserved;
use crate::error::{Error, Result};
use crate::rng::{RngKey, uniform_at};
use crate::scalar::Float;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Where a layer draws its initial values: a key and a running offset, so consecutive layers
/// get disjoint ranges of one sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Init {
    /// The sequence.
    pub key: RngKey,
    /// The next unused index.
    pub offset: u64,
}

impl Init {
    /// Initialization from `seed` (stream 0 of that seed is reserved for weights).
    pub fn new(seed: u64) -> Self {
        Init {
            key: RngKey::new(seed, 0),
            offset: 0,
        }
    }

    /// Uniform values in [-bound, bound] of `shape`; advances the offset.
    pub fn uniform<B: Backend, T: Float>(
        &mut self,
        backend: &B,
        shape: impl Into<Shape>,
        bound: f64,
    ) -> Result<Tensor<B, T>> {
        let shape = shape.into();
        // A shape too large to hold is an error, not an abort in the allocation.
        let len = shape.checked_numel().ok_or_else(|| {
            Error::invalid(
                "Init::uniform",
                format!("shape {shape} has too many elements"),
            )
        })?;
        let mut values = reserved::<f64>("host", len)?;
        values.extend(
            (0..len as u64).map(|i| bound * (2.0 * uniform_at(self.key, self.offset + i) - 1.0)),
        );
        self.offset += len as u64;
        Tensor::from_f64(backend, &values, shape)
    }

    /// A tensor of one value (no draw).
    pub fn constant<B: Backend, T: Float>(
        &mut self,
        backend: &B,
        shape: impl Into<Shape>,
        value: f64,
    ) -> Result<Tensor<B, T>> {
        Tensor::full(backend, shape, value)
    }
}

/// PyTorch's default bound for weights and biases of a layer with `fan_in` inputs:
/// 1 / sqrt(fan_in) (kaiming uniform with a = sqrt 5).
pub fn uniform_fan_in(fan_in: usize) -> f64 {
    1.0 / (fan_in.max(1) as f64).sqrt()
}
