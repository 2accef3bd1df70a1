//! Gradient properties, in f64: every differentiable op at orders 1 and 2 against central
//! finite differences ([`dualscore_core::testing::check_grads`]), the dot-product test of every
//! exact adjoint pair, Jacobian-vector products by a double reverse pass, and random
//! compositions (conv and linear stacks with ReLU, GELU and normalization-like ops).
//!
//! Inputs stay away from the kinks of ReLU, abs and max (magnitudes of at least 0.3, operands
//! of max and min 0.1 apart, distinct values in reductions, compositions whose ReLU inputs
//! clear 0 by 2e-3), far more than a finite-difference step moves them, so the finite
//! differences see a smooth function.

mod cases;
mod composition;
mod ops;

pub use composition::{composition, jvp};
pub use ops::{adjoints, binary, center, conv_transpose2d, conv2d, layout, matmul, reduce, unary};

use dualscore_core::testing::GradCheckConfig;

/// Finite-difference step 1e-5 along unit-variance directions: truncation error ~1e-10 and
/// rounding error ~1e-11 relative, so rtol 1e-6 has a wide margin and still catches any
/// wrong term (which shows up at O(1)).
pub fn grad_config() -> GradCheckConfig {
    GradCheckConfig {
        step: 1e-5,
        rtol: 1e-6,
        atol: 1e-10,
        seed: 7,
    }
}
