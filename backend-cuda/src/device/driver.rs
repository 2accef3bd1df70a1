//! Every call into the CUDA driver, through the raw bindings that the cust crate re-exports
//! (`cust::sys`). Nothing else in the crate touches the driver, so the binding can be swapped
//! here alone.
//!
//! A failed call becomes a [`DriverError`] naming the call and the driver's status, formatted
//! with `{:?}` (the enum's name, such as `CUDA_ERROR_NO_DEVICE`): formatting it never calls
//! back into the driver.

use cust::sys as cu;
use std::cell::Cell;
use std::ffi::{CString, c_void};
use std::fmt;
use std::ptr;

/// A driver call that failed: which call (or kernel) and the status it returned.
#[derive(Clone, Debug)]
pub(crate) struct DriverError {
    /// The driver function, or `launch <kernel>` for a kernel launch.
    pub call: String,
    /// The driver's status.
    pub status: cu::CUresult,
}

impl DriverError {
    /// Whether the device ran out of memory.
    pub fn is_out_of_memory(&self) -> bool {
        self.status == cu::CUresult::CUDA_ERROR_OUT_OF_MEMORY
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {:?}", self.call, self.status)
    }
}

type DriverResult<T> = Result<T, DriverError>;

fn check(call: &str, status: cu::CUresult) -> DriverResult<()> {
    if status == cu::CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(DriverError {
            call: call.to_string(),
            status,
        })
    }
}

/// Initializes the driver (idempotent) and returns the number of devices.
pub(crate) fn device_count() -> DriverResult<usize> {
    // SAFETY: plain driver calls with valid out-pointers.
    unsafe {
        check("cuInit", cu::cuInit(0))?;
        let mut count = 0;
        check("cuDeviceGetCount", cu::cuDeviceGetCount(&mut count))?;
        Ok(count.max(0) as usize)
    }
}

/// What the driver says about one device.
#[derive(Clone, Debug)]
pub(crate) struct DeviceProperties {
    pub name: String,
    pub total_memory: usize,
    pub compute_capability: (i32, i32),
    pub multiprocessors: i32,
}

/// The driver's version, as `major * 1000 + minor * 10`.
pub(crate) fn driver_version() -> DriverResult<i32> {
    let mut version = 0;
    // SAFETY: a valid out-pointer.
    unsafe { check("cuDriverGetVersion", cu::cuDriverGetVersion(&mut version))? };
    Ok(version)
}

fn device_handle(ordinal: usize) -> DriverResult<cu::CUdevice> {
    let count = device_count()?;
    if ordinal >= count {
        return Err(DriverError {
            call: format!("cuDeviceGet({ordinal}) with {count} devices"),
            status: cu::CUresult::CUDA_ERROR_INVALID_DEVICE,
        });
    }
    let mut device = 0;
    // SAFETY: a valid out-pointer; the ordinal is below the count.
    unsafe { check("cuDeviceGet", cu::cuDeviceGet(&mut device, ordinal as i32))? };
    Ok(device)
}

/// The name, memory and compute capability of device `ordinal`.
pub(crate) fn device_properties(ordinal: usize) -> DriverResult<DeviceProperties> {
    let device = device_handle(ordinal)?;
    let attribute = |attr: cu::CUdevice_attribute, call: &str| -> DriverResult<i32> {
        let mut value = 0;
        // SAFETY: a valid out-pointer and device.
        unsafe { check(call, cu::cuDeviceGetAttribute(&mut value, attr, device))? };
        Ok(value)
    };
    use cu::CUdevice_attribute as A;
    let major = attribute(
        A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
        "cuDeviceGetAttribute",
    )?;
    let minor = attribute(
        A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
        "cuDeviceGetAttribute",
    )?;
    let multiprocessors = attribute(
        A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
        "cuDeviceGetAttribute",
    )?;
    let mut name = [0 as std::os::raw::c_char; 256];
    let mut total_memory = 0usize;
    // SAFETY: the buffer holds 256 characters, as told; valid out-pointers.
    unsafe {
        check(
            "cuDeviceGetName",
            cu::cuDeviceGetName(name.as_mut_ptr(), 256, device),
        )?;
        check(
            "cuDeviceTotalMem",
            cu::cuDeviceTotalMem_v2(&mut total_memory, device),
        )?;
    }
    let bytes: Vec<u8> = name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(DeviceProperties {
        name: String::from_utf8_lossy(&bytes).into_owned(),
        total_memory,
        compute_capability: (major, minor),
        multiprocessors,
    })
}

/// The primary context of one device, retained while this value lives.
#[derive(Debug)]
pub(crate) struct Context {
    raw: cu::CUcontext,
    device: cu::CUdevice,
}

// SAFETY: a CUDA context may be made current on, and used from, any thread; the driver API is
// thread-safe. The handle is only passed back to the driver.
unsafe impl Send for Context {}
// SAFETY: as above.
unsafe impl Sync for Context {}

thread_local! {
    /// The context this thread last made current (as an address), to skip redundant calls.
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

impl Context {
    /// Retains the primary context of device `ordinal`.
    pub fn primary(ordinal: usize) -> DriverResult<Context> {
        let device = device_handle(ordinal)?;
        let mut raw = ptr::null_mut();
        // SAFETY: a valid out-pointer and device.
        unsafe {
            check(
                "cuDevicePrimaryCtxRetain",
                cu::cuDevicePrimaryCtxRetain(&mut raw, device),
            )?
        };
        let context = Context { raw, device };
        context.make_current()?;
        Ok(context)
    }

    /// Makes this context current on the calling thread (a context is current per thread).
    pub fn make_current(&self) -> DriverResult<()> {
        let address = self.raw as usize;
        if CURRENT.with(Cell::get) == address {
            return Ok(());
        }
        // SAFETY: the context is retained for as long as `self` lives.
        unsafe { check("cuCtxSetCurrent", cu::cuCtxSetCurrent(self.raw))? };
        CURRENT.with(|c| c.set(address));
        Ok(())
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        CURRENT.with(|c| {
            if c.get() == self.raw as usize {
                c.set(0)
            }
        });
        // SAFETY: releases the retain of `primary`; an error cannot be reported from a drop.
        unsafe {
            let _ = cu::cuDevicePrimaryCtxRelease_v2(self.device);
        }
    }
}

/// A stream of the current context; work on it runs in order.
#[derive(Debug)]
pub(crate) struct Stream {
    raw: cu::CUstream,
}

// SAFETY: a stream handle may be used from any thread that has its context current.
unsafe impl Send for Stream {}
// SAFETY: as above.
unsafe impl Sync for Stream {}

impl Stream {
    /// A stream that does not synchronize with the legacy default stream.
    pub fn new(context: &Context) -> DriverResult<Stream> {
        context.make_current()?;
        let mut raw = ptr::null_mut();
        let flags = cu::CUstream_flags::CU_STREAM_NON_BLOCKING as u32;
        // SAFETY: a valid out-pointer; the context is current.
        unsafe { check("cuStreamCreate", cu::cuStreamCreate(&mut raw, flags))? };
        Ok(Stream { raw })
    }

    /// Waits for all work queued on the stream.
    pub fn synchronize(&self) -> DriverResult<()> {
        // SAFETY: the stream lives while `self` does.
        unsafe { check("cuStreamSynchronize", cu::cuStreamSynchronize(self.raw)) }
    }

    /// Queues a copy of `bytes` bytes from host memory to the device. Pageable host memory is
    /// staged before the call returns, so `src` may be freed right after.
    ///
    /// # Safety
    ///
    /// `dst` must address at least `bytes` bytes of device memory; `src` must be readable for
    /// `bytes` bytes.
    pub unsafe fn upload(&self, dst: u64, src: *const c_void, bytes: usize) -> DriverResult<()> {
        if bytes == 0 {
            return Ok(());
        }
        // SAFETY: the caller's contract.
        unsafe {
            check(
                "cuMemcpyHtoDAsync",
                cu::cuMemcpyHtoDAsync_v2(dst, src, bytes, self.raw),
            )
        }
    }

    /// Copies `bytes` bytes from the device to host memory, after all queued work.
    ///
    /// # Safety
    ///
    /// `src` must address at least `bytes` bytes of device memory; `dst` must be writable for
    /// `bytes` bytes.
    pub unsafe fn download(&self, dst: *mut c_void, src: u64, bytes: usize) -> DriverResult<()> {
        if bytes == 0 {
            return Ok(());
        }
        // SAFETY: the caller's contract.
        unsafe {
            check(
                "cuMemcpyDtoHAsync",
                cu::cuMemcpyDtoHAsync_v2(dst, src, bytes, self.raw),
            )?;
        }
        self.synchronize()
    }

    /// Queues a device-to-device copy of `bytes` bytes.
    ///
    /// # Safety
    ///
    /// Both addresses must address at least `bytes` bytes of device memory.
    pub unsafe fn copy(&self, dst: u64, src: u64, bytes: usize) -> DriverResult<()> {
        if bytes == 0 {
            return Ok(());
        }
        // SAFETY: the caller's contract.
        unsafe {
            check(
                "cuMemcpyDtoDAsync",
                cu::cuMemcpyDtoDAsync_v2(dst, src, bytes, self.raw),
            )
        }
    }

    /// Queues a kernel launch.
    ///
    /// # Safety
    ///
    /// `args` must point at values whose types and order match the kernel's parameters, and
    /// every device address among them must be valid for what the kernel accesses.
    pub unsafe fn launch(
        &self,
        kernel: &Function,
        grid: [u32; 3],
        block: [u32; 3],
        shared_bytes: u32,
        args: &mut [*mut c_void],
    ) -> DriverResult<()> {
        // SAFETY: the caller's contract; the function's module is loaded while it lives.
        let status = unsafe {
            cu::cuLaunchKernel(
                kernel.raw,
                grid[0],
                grid[1],
                grid[2],
                block[0],
                block[1],
                block[2],
                shared_bytes,
                self.raw,
                args.as_mut_ptr(),
                ptr::null_mut(),
            )
        };
        check(&format!("launch {}", kernel.name), status)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: the stream is not used after this; an error cannot be reported from a drop.
        unsafe {
            let _ = cu::cuStreamDestroy_v2(self.raw);
        }
    }
}

/// Allocates `bytes` bytes of device memory in the current context.
pub(crate) fn allocate(bytes: usize) -> DriverResult<u64> {
    let mut address = 0;
    // SAFETY: a valid out-pointer.
    unsafe { check("cuMemAlloc", cu::cuMemAlloc_v2(&mut address, bytes))? };
    Ok(address)
}

/// Frees memory from [`allocate`]. The driver waits for the device to finish with it.
///
/// # Safety
///
/// `address` must come from [`allocate`] in the current context and not be used again.
pub(crate) unsafe fn free(address: u64) -> DriverResult<()> {
    // SAFETY: the caller's contract.
    unsafe { check("cuMemFree", cu::cuMemFree_v2(address)) }
}

/// A loaded PTX module; unloaded on drop.
#[derive(Debug)]
pub(crate) struct Module {
    raw: cu::CUmodule,
    name: &'static str,
}

// SAFETY: a module handle may be used from any thread that has its context current.
unsafe impl Send for Module {}
// SAFETY: as above.
unsafe impl Sync for Module {}

impl Module {
    /// Loads (JIT-compiles) PTX text in the current context.
    pub fn load(name: &'static str, ptx: &str) -> DriverResult<Module> {
        let text = CString::new(ptx).map_err(|_| DriverError {
            call: format!("cuModuleLoadData({name}): the PTX holds a NUL byte"),
            status: cu::CUresult::CUDA_ERROR_INVALID_IMAGE,
        })?;
        let mut raw = ptr::null_mut();
        // SAFETY: a valid out-pointer and a NUL-terminated image.
        let status = unsafe { cu::cuModuleLoadData(&mut raw, text.as_ptr().cast()) };
        check(&format!("cuModuleLoadData({name})"), status)?;
        Ok(Module { raw, name })
    }

    /// The kernel `name` of this module.
    pub fn function(&self, name: &'static str) -> DriverResult<Function> {
        let symbol = CString::new(name).expect("kernel names hold no NUL byte");
        let mut raw = ptr::null_mut();
        // SAFETY: a valid out-pointer, module and NUL-terminated name.
        let status = unsafe { cu::cuModuleGetFunction(&mut raw, self.raw, symbol.as_ptr()) };
        check(
            &format!("cuModuleGetFunction({}::{name})", self.name),
            status,
        )?;
        Ok(Function { raw, name })
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: no function of the module is used after this (they are dropped first).
        unsafe {
            let _ = cu::cuModuleUnload(self.raw);
        }
    }
}

/// A kernel of a loaded module.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Function {
    raw: cu::CUfunction,
    pub name: &'static str,
}

// SAFETY: a function handle may be launched from any thread that has its context current.
unsafe impl Send for Function {}
// SAFETY: as above.
unsafe impl Sync for Function {}
