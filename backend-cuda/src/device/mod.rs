//! The backend itself (built with the `cuda` feature): a device handle, its memory cache, its
//! stream and its loaded kernels, and the [`Backend`](dualscore_core::Backend) methods, one
//! file per kernel family, each beside its CUDA source (`<family>.rs` launches the kernels of
//! `<family>.cu`).

mod backend;
mod conv;
#[cfg(feature = "cuda")]
mod driver;
#[cfg(not(feature = "cuda"))]
#[path = "driver_emulated.rs"]
mod driver;
mod elementwise;
mod host;
mod launch;
mod layout;
mod matmul;
mod modules;
mod pool;
mod random;
mod reduce;
mod storage;
mod strided;

pub use storage::CudaStorage;

use driver::{Context, DriverError, Stream};
use dualscore_core::{Error, Float, Result};
use launch::Args;
use modules::{Family, Kernels};
use pool::Pool;
use std::fmt;
use std::sync::Arc;

use crate::{DeviceInfo, NAME};

impl From<DriverError> for Error {
    fn from(e: DriverError) -> Error {
        Error::Backend {
            backend: NAME.to_string(),
            message: e.to_string(),
        }
    }
}

/// The GPUs this process can use; an error when there is no driver or no device.
pub fn devices() -> Result<Vec<DeviceInfo>> {
    (0..driver::device_count()?).map(device_info).collect()
}

/// What the driver says about device `ordinal`; an error naming the count when there is none.
fn device_info(ordinal: usize) -> Result<DeviceInfo> {
    let p = driver::device_properties(ordinal)?;
    Ok(DeviceInfo {
        ordinal,
        name: p.name,
        total_memory: p.total_memory,
        compute_capability: p.compute_capability,
        multiprocessors: p.multiprocessors,
    })
}

/// The driver's CUDA version as `(major, minor)`.
pub fn driver_version() -> Result<(i32, i32)> {
    let v = driver::driver_version()?;
    Ok((v / 1000, (v % 1000) / 10))
}

/// Everything one device needs: its context, stream, memory cache and kernels.
pub(crate) struct Device {
    info: DeviceInfo,
    kernels: Kernels,
    stream: Stream,
    pool: Arc<Pool>,
    context: Arc<Context>,
}

impl Device {
    fn open(ordinal: usize) -> Result<Device> {
        let info = device_info(ordinal)?;
        let context = Arc::new(Context::primary(ordinal)?);
        let stream = Stream::new(&context)?;
        let kernels = Kernels::load(&context)?;
        let pool = Arc::new(Pool::new(context.clone()));
        Ok(Device {
            info,
            kernels,
            stream,
            pool,
            context,
        })
    }

    /// Makes the device's context current on the calling thread. Every method that calls the
    /// driver starts with this: a context is current per thread, and the backend is used from
    /// test threads, rayon workers and users' threads alike.
    pub(crate) fn enter(&self) -> Result<()> {
        Ok(self.context.make_current()?)
    }

    /// A buffer of `len` elements, uninitialized.
    pub(crate) fn alloc<T: Float>(&self, len: usize) -> Result<CudaStorage<T>> {
        let bytes = len
            .checked_mul(T::DTYPE.size_in_bytes())
            .ok_or_else(|| Error::Backend {
                backend: NAME.to_string(),
                message: format!("cannot allocate {len} elements: the size overflows"),
            })?;
        self.enter()?;
        let block = self.pool.allocate(bytes).map_err(|e| Error::Backend {
            backend: NAME.to_string(),
            message: format!("cannot allocate {len} elements of {}: {e}", T::DTYPE),
        })?;
        Ok(CudaStorage::new(block, len, self.pool.clone()))
    }

    /// Launches kernel `name` of `family` on the device's stream.
    pub(crate) fn launch(
        &self,
        family: Family,
        name: &'static str,
        grid: [u32; 3],
        block: [u32; 3],
        shared_bytes: u32,
        args: &mut Args,
    ) -> Result<()> {
        self.enter()?;
        let function = self.kernels.function(family, name)?;
        // SAFETY: each launcher passes the arguments its kernel declares, in order, with
        // buffers whose lengths the shared validation has checked against the shapes.
        unsafe {
            self.stream
                .launch(&function, grid, block, shared_bytes, args.pointers())?
        };
        Ok(())
    }

    /// Launches the one-dimensional kernel `name` of `family` over `len` items: the grid of
    /// [`launch::grid_1d`], blocks of [`launch::BLOCK`] threads, no shared memory.
    pub(crate) fn launch_1d(
        &self,
        family: Family,
        name: &'static str,
        len: usize,
        args: &mut Args,
    ) -> Result<()> {
        self.launch(
            family,
            name,
            launch::grid_1d(len),
            [launch::BLOCK, 1, 1],
            0,
            args,
        )
    }

    /// Waits for all queued work.
    pub(crate) fn synchronize(&self) -> Result<()> {
        self.enter()?;
        Ok(self.stream.synchronize()?)
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // Modules and the stream are released with the context current; errors cannot be
        // reported from a drop.
        let _ = self.context.make_current();
        let _ = self.stream.synchronize();
    }
}

/// The CUDA backend: a cheap, cloneable handle to one GPU.
///
/// Clones share the device, its stream and its memory cache. All work runs in order on one
/// stream; reading a result back ([`Backend::download`](dualscore_core::Backend::download))
/// waits for it.
#[derive(Clone)]
pub struct Cuda {
    device: Arc<Device>,
}

impl Cuda {
    /// The backend on device `ordinal` (`cuda:N`). An error when the driver or the device is
    /// missing ([`is_no_device`] tells), or when the device fails to start.
    pub fn new(ordinal: usize) -> Result<Cuda> {
        Ok(Cuda {
            device: Arc::new(Device::open(ordinal)?),
        })
    }

    /// The device this handle runs on.
    pub fn info(&self) -> &DeviceInfo {
        &self.device.info
    }

    /// Waits until every queued kernel has finished (for timing).
    pub fn synchronize(&self) -> Result<()> {
        self.device.synchronize()
    }

    /// Bytes of device memory held in the cache of released buffers.
    pub fn cached_bytes(&self) -> usize {
        self.device.pool.cached_bytes()
    }

    /// Returns the cached memory to the driver.
    pub fn release_cached_memory(&self) -> Result<()> {
        self.device.synchronize()?;
        Ok(self.device.pool.trim()?)
    }
}

impl fmt::Debug for Cuda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Cuda(cuda:{} {})",
            self.device.info.ordinal, self.device.info.name
        )
    }
}
