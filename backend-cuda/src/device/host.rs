//! Copies between host and device, and the host path for the rare calls no kernel covers
//! (views of more than `MAX_RANK` axes after collapsing): the reference backend's kernel on a
//! downloaded copy, the result uploaded.

use super::{CudaStorage, Device};
use dualscore_core::backend::{alloc, reference::Reference};
use dualscore_core::{Float, Result};

/// Copies host data into a new device buffer.
pub(crate) fn upload<T: Float>(device: &Device, data: &[T]) -> Result<CudaStorage<T>> {
    let out = device.alloc::<T>(data.len())?;
    device.enter()?;
    // SAFETY: `out` holds `data.len()` elements of `T`, and `data` is readable for as many.
    unsafe {
        device
            .stream
            .upload(out.address(), data.as_ptr().cast(), out.bytes())?
    };
    Ok(out)
}

/// Copies a device buffer to the host, after all queued work.
pub(crate) fn download<T: Float>(device: &Device, storage: &CudaStorage<T>) -> Result<Vec<T>> {
    let mut host = alloc::filled(super::NAME, storage.len(), T::zero())?;
    device.enter()?;
    // SAFETY: `host` holds `storage.len()` elements of `T`, as many as the device buffer.
    unsafe {
        device
            .stream
            .download(host.as_mut_ptr().cast(), storage.address(), storage.bytes())?
    };
    Ok(host)
}

/// Runs `kernel` of the reference backend on host copies of `inputs` and uploads its result.
pub(crate) fn on_host<T: Float>(
    device: &Device,
    inputs: &[&CudaStorage<T>],
    kernel: impl FnOnce(&Reference, &[Vec<T>]) -> Result<Vec<T>>,
) -> Result<CudaStorage<T>> {
    let host = inputs
        .iter()
        .map(|s| download(device, s))
        .collect::<Result<Vec<_>>>()?;
    upload(device, &kernel(&Reference, &host)?)
}
