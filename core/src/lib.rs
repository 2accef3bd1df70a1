//! # dualscore-core
//!
//! The numerical core of dualscore: normalized image densities learned by dual score matching.
//! This crate holds the element types, shapes, the [`Backend`] trait with its reference
//! implementation, and the counter-based random numbers that every backend shares.

#![warn(missing_docs)]

pub mod backend;
pub mod error;
pub mod rng;
pub mod scalar;
pub mod shape;

pub use backend::Backend;
pub use error::{Error, Result};
pub use scalar::{DType, Float};
pub use shape::Shape;
