//! Runnable examples of dualscore: the numbered files beside this one, run with
//! `cargo run --release -p dualscore-examples --example NAME`.
//!
//! The work of the examples whose numbers the paper claims is here, so that the tests run the
//! same code at small settings and assert what the examples print: 04 and 05 in
//! `tests/central_claim.rs`, 08, 09 and 11 to 14 in `tests/examples_claims.rs`. Examples 10 to
//! 14 train and measure with the program's own code ([`natural`]).
//!
//! The README's code is compiled and run as a test of this crate:
#![doc = include_str!("../README.md")]

pub mod denoising_table;
pub mod dimensionality;
pub mod duality;
pub mod gaussian_family;
pub mod generalization;
pub mod homogeneity;
pub mod natural;
pub mod probable;
pub mod scale_mixture;

/// The error type of the examples' runs: the library's errors and its trainer's.
pub type ExampleResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Runs `f` on a CPU backend of `threads` threads, inside the backend's own thread pool (as
/// the program runs its commands).
pub fn on_cpu(
    threads: usize,
    f: impl FnOnce(&dualscore_cpu::Cpu) -> ExampleResult<()> + Send,
) -> ExampleResult<()> {
    use dualscore_core::Backend;
    let cpu = dualscore_cpu::Cpu::with_threads(threads)?;
    Ok(cpu.run(|| f(&cpu).map_err(|e| e.to_string()))?)
}
