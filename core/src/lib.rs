//! # dualscore-core
//!
//! The numerical core of dualscore: normalized image densities learned by dual score matching.
//!
//! Layers, each using only those before it:
//! - [`scalar`]: the [`Float`] element types (f32, f64);
//! - [`shape`]: shapes and NumPy broadcasting;
//! - [`backend`]: the [`Backend`] trait (the kernels a device implements) and its reference
//!   implementation;
//! - [`rng`]: counter-based random numbers shared by every backend;
//! - [`tensor`] and [`autograd`]: tensors and reverse-mode differentiation to any order;
//! - [`nn`]: layers and the [`nn::Module`] trait;
//! - [`energy`]: the energy/score duality;
//! - [`train`]: the dual score matching loss, Adam, the training loop and checkpoints;
//! - [`linalg`] and [`density`]: host linear algebra, the normalization constant, log p and NLL;
//! - [`analysis`]: the paper's measurements (denoising, dimensionality, sampling, statistics);
//! - [`testing`]: gradient checks that every backend's tests use.

#![warn(missing_docs)]

pub mod analysis;
pub mod autograd;
pub mod backend;
pub mod density;
pub mod energy;
pub mod error;
pub mod linalg;
pub mod nn;
pub mod rng;
pub mod scalar;
pub mod shape;
pub mod tensor;
pub mod testing;
pub mod train;

pub use backend::Backend;
pub use error::{Error, Result};
pub use scalar::{DType, Float};
pub use shape::Shape;
pub use tensor::Tensor;
