//! Checks that every backend's tests share: gradients against finite differences (to any
//! order), Jacobian-vector products by a double reverse pass, adjoint pairs, and a backend
//! wrapper that counts kernel calls; and for the tests against PyTorch, a reader of the
//! reference files and the error they are judged by; the sorted names in a folder.

mod counting;
mod files;
mod gradcheck;
mod oracle;

pub use counting::{Counting, KernelCounts};
pub use files::folder_names;
pub use gradcheck::{
    GradCheckConfig, GradCheckReport, GradFunction, LinearMap, check_adjoint, check_grads,
    check_jvp, keep_away_from_zero,
};
pub use oracle::{normwise_relative_error, read_safetensors_f64};
