//! Checks that every backend's tests share: gradients against finite differences (to any
//! order), Jacobian-vector products by a double reverse pass, adjoint pairs, and a backend
//! wrapper that counts kernel calls.

mod counting;
mod gradcheck;

pub use counting::{Counting, KernelCounts};
pub use gradcheck::{
    GradCheckConfig, GradCheckReport, GradFunction, LinearMap, check_adjoint, check_grads,
    check_jvp, keep_away_from_zero,
};
