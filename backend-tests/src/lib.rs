//! # dualscore-backend-tests
//!
//! One property-test suite for the [`Backend`](dualscore_core::Backend) trait, written once and
//! instantiated for every backend with [`backend_test_suite!`]:
//!
//! ```text
//! dualscore_backend_tests::backend_test_suite!(
//!     cpu,
//!     dualscore_cpu::Cpu::new(),
//!     threads = |n| dualscore_cpu::Cpu::with_threads(n).unwrap()
//! );
//! ```
//!
//! Every property is also a generic `pub fn` of this crate (`conv2d::<B, T>(&backend)`), so a
//! backend can call one directly.
//!
//! ## How a kernel is judged
//!
//! The oracle is the naive f64 reference backend of `dualscore-core`
//! ([`harness::Oracle`]). Inputs are drawn on the host in f64 (by proptest, or from a printed
//! seed for the bigger kernels), rounded to the element type `T` for the backend under test, and
//! the *rounded* values are what the oracle sees: only the kernel's own error is measured.
//!
//! The bounds ([`tolerance`]) are never elementwise relative errors, which fail on values that
//! cancel to zero:
//!
//! * sums and products (matmul, convolutions, Sum / Mean, Add / Sub / Mul / Div):
//!   `|got - ref| <= 2 n eps S`, with `S` the oracle's result on the absolute values of the
//!   inputs and `n` the number of terms per output;
//! * elementwise functions: `|got - ref| <= 4 eps scale(x)`, a per-op scale that is `|ref|` plus
//!   a condition-appropriate term (`|x|` for sin and cos, `1` for log, ...);
//! * copies, layout ops, sign-like functions, Max / Min and comparisons: exact, NaN where the
//!   oracle has NaN.
//!
//! Shapes are small in most properties (fast cases, readable counterexamples); the [`large`]
//! properties cross the partition boundaries of parallel backends (chunks, blocks, tiles).
//! Invalid inputs must give the oracle's error variant, never a panic ([`errors`]); random
//! numbers must equal the library's counter-based sequence bit for bit ([`random`]), except that
//! a backend whose `log` and `cos` are not the host's (a GPU) may declare a tolerance in ulps for
//! the normal numbers alone (`normal_ulps = N` in [`backend_test_suite!`],
//! [`random_normal_within_ulps`]); kernels must be bitwise reproducible across runs and thread
//! counts ([`determinism`]).
//!
//! Each property runs [`harness::DEFAULT_CASES`] (256) cases, or `PROPTEST_CASES` when set;
//! proptest's other `PROPTEST_*` variables apply as usual.

#![warn(missing_docs)]

pub mod conv;
pub mod conv_paths;
pub mod determinism;
pub mod elementwise;
pub mod errors;
pub mod faulty;
pub mod gradients;
pub mod harness;
pub mod large;
pub mod layout;
pub mod linalg;
mod macros;
pub mod models;
pub mod random;
pub mod reduce;
pub mod run;
pub mod strategies;
pub mod tolerance;

pub use conv::{conv_transpose2d, conv2d, conv2d_weight_grad};
pub use conv_paths::conv_paths;
pub use determinism::{repeatable, threads_conv2d, threads_matmul, threads_sum};
pub use elementwise::{binary, unary};
pub use errors::{
    binary_errors, broadcast_to_errors, center_with_variance_errors, concat_errors,
    conv_transpose2d_errors, conv2d_errors, conv2d_weight_grad_errors, flip_errors, matmul_errors,
    pad_errors, permute_errors, reduce_errors, slice_errors,
};
pub use large::{large_conv, large_elementwise, large_layout, large_matmul, large_reduce};
pub use layout::{broadcast_to, cast, concat, flip, memory, pad, permute, slice};
pub use linalg::matmul;
pub use random::{random_normal, random_normal_within_ulps, random_uniform};
pub use reduce::{center_with_variance, reduce};
pub use run::run_closures;

/// Items the macros name; not part of the interface.
#[doc(hidden)]
pub mod __private {
    pub use dualscore_core::Backend;
}
