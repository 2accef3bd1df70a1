//! Kernel arguments and launch shapes.

use super::storage::CudaStorage;
use dualscore_core::Float;
use std::any::Any;
use std::ffi::c_void;

/// The arguments of one kernel launch, in the order of the kernel's parameters.
///
/// Each value is boxed so that its address stays fixed while more are pushed; the driver
/// reads the values through those addresses at launch.
#[derive(Default)]
pub(crate) struct Args {
    values: Vec<Box<dyn Any>>,
    pointers: Vec<*mut c_void>,
}

impl Args {
    pub fn new() -> Args {
        Args::default()
    }

    /// Appends a plain value (a number, or a `#[repr(C)]` struct the kernel takes by value).
    pub fn value<V: Copy + 'static>(&mut self, value: V) -> &mut Args {
        let boxed = Box::new(value);
        self.pointers.push((&*boxed as *const V).cast_mut().cast());
        self.values.push(boxed);
        self
    }

    /// Appends the device address of a buffer (a `T*` parameter).
    pub fn buffer<T: Float>(&mut self, storage: &CudaStorage<T>) -> &mut Args {
        self.value(storage.address())
    }

    /// Appends a size or index as the kernel's `long long`.
    pub fn size(&mut self, value: usize) -> &mut Args {
        self.value(value as i64)
    }

    /// Appends a scalar rounded to the element type `T` (a `T` parameter).
    pub fn scalar<T: Float>(&mut self, value: f64) -> &mut Args {
        match T::DTYPE {
            dualscore_core::DType::F32 => self.value(value as f32),
            dualscore_core::DType::F64 => self.value(value),
        }
    }

    pub(crate) fn pointers(&mut self) -> &mut [*mut c_void] {
        &mut self.pointers
    }
}

/// Threads per block of the one-dimensional kernels.
pub(crate) const BLOCK: u32 = 256;

/// The most blocks a one-dimensional launch uses; kernels loop with a grid stride beyond.
const MAX_BLOCKS: usize = 1 << 16;

/// The grid of a one-dimensional kernel over `n` items (with a grid-stride loop).
pub(crate) fn grid_1d(n: usize) -> [u32; 3] {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, MAX_BLOCKS);
    [blocks as u32, 1, 1]
}

/// The name of a kernel for the element type `T`: `f32_name` or `f64_name`.
pub(crate) fn typed<T: Float>(f32_name: &'static str, f64_name: &'static str) -> &'static str {
    match T::DTYPE {
        dualscore_core::DType::F32 => f32_name,
        dualscore_core::DType::F64 => f64_name,
    }
}
