//! # dualscore-cuda
//!
//! The CUDA backend of dualscore: every kernel of [`dualscore_core::Backend`] for `f32` and
//! `f64` on an NVIDIA GPU, so that tensors, autodiff to second order, the networks, training
//! and the analyses run there unchanged.
//!
//! The kernels are CUDA C (`src/device/<family>.cu`, one file per kernel family beside the
//! Rust that launches it), compiled to PTX for compute capability 8.0 and newer; the PTX is
//! checked in (`ptx/`), so building needs no CUDA compiler (see `build.rs`). The host side
//! calls the driver through the `cust` crate, behind the `cuda` cargo feature: without it the
//! crate builds on any machine and [`Cuda::new`] returns an error that says so.
//!
//! Reductions combine partial results in a fixed tree, never with atomics, so a result is the
//! same on every run. The random numbers are the core's counter-based sequence: the uniform
//! numbers equal the CPU's bit for bit; the normal numbers go through the GPU's `log` and `cos`
//! and may differ from the host's by a few units in the last place.
//!
//! ```no_run
//! use dualscore_core::{Backend, Shape};
//! use dualscore_core::backend::ReduceOp;
//! use dualscore_cuda::Cuda;
//!
//! let gpu = Cuda::new(0)?;
//! let x = gpu.upload(&[1.0f32, 2.0, 3.0, 4.0])?;
//! let rows = gpu.reduce(ReduceOp::Sum, &x, &Shape::new([2, 2]), &[1])?;
//! assert_eq!(gpu.download(&rows)?, vec![3.0, 7.0]);
//! # Ok::<(), dualscore_core::Error>(())
//! ```

#![warn(missing_docs)]

#[cfg(any(feature = "cuda", feature = "emulate"))]
mod device;
#[cfg(any(feature = "cuda", feature = "emulate"))]
pub use device::{Cuda, CudaStorage, devices, driver_version};

#[cfg(not(any(feature = "cuda", feature = "emulate")))]
mod disabled;
#[cfg(not(any(feature = "cuda", feature = "emulate")))]
pub use disabled::{Cuda, CudaStorage, devices, driver_version};

pub mod testing;

use dualscore_core::Error;

/// Whether this build can reach a GPU at all (it was built with the `cuda` feature).
pub const BUILT_WITH_CUDA: bool = cfg!(feature = "cuda");

/// Whether this build runs the kernels on the host's emulator (the `emulate` feature, for
/// tests) instead of a GPU.
pub const EMULATED: bool = cfg!(all(feature = "emulate", not(feature = "cuda")));

/// The backend's name in errors.
pub(crate) const NAME: &str = "cuda";

/// One GPU as the driver describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device's index, as in `cuda:N`.
    pub ordinal: usize,
    /// The product name, such as `"NVIDIA H100 80GB HBM3"`.
    pub name: String,
    /// Device memory in bytes.
    pub total_memory: usize,
    /// The compute capability, (major, minor).
    pub compute_capability: (i32, i32),
    /// The number of streaming multiprocessors.
    pub multiprocessors: i32,
}

/// Whether an error from [`Cuda::new`] or [`devices`] means that this machine has no usable
/// GPU (no device, no driver, or the stand-in driver library of machines without one), as
/// opposed to a failure of a GPU that is there. False for a build without the `cuda`
/// feature (see [`BUILT_WITH_CUDA`]).
pub fn is_no_device(error: &Error) -> bool {
    const NO_DEVICE_STATUSES: [&str; 2] = ["CUDA_ERROR_NO_DEVICE", "CUDA_ERROR_STUB_LIBRARY"];
    matches!(error, Error::Backend { backend, message }
        if backend == NAME && NO_DEVICE_STATUSES.iter().any(|s| message.ends_with(s)))
}
