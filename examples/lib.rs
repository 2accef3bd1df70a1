//! Runnable examples of dualscore: the numbered files beside this one, run with
//! `cargo run --release -p dualscore-examples --example NAME`.
//!
//! The work of the examples whose numbers the paper claims (04 and 05) is here, so that the
//! tests in `tests/central_claim.rs` run the same code at small settings and assert what the
//! examples print.
//!
//! The README's code is compiled and run as a test of this crate:
#![doc = include_str!("../README.md")]

pub mod denoising_table;
pub mod duality;
pub mod gaussian_family;
pub mod generalization;
pub mod homogeneity;
pub mod natural;
pub mod probable;
pub mod scale_mixture;

/// The error type of the examples' runs: the library's errors and its trainer's.
pub type ExampleResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;
