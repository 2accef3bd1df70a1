//! The driver of the `emulate` feature: the same interface as `driver.rs`, on the host. Device
//! memory is host memory, copies are `memcpy`, and a launch runs the kernel's C++ build
//! (`emulator/`, compiled by `build.rs` from the same `.cu` sources) with every block's threads
//! as fibers. It lets the whole shared test suite judge the kernels on a machine without a GPU;
//! it says nothing about their speed.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::collections::HashMap;
use std::ffi::{CString, c_char, c_void};
use std::fmt;
use std::sync::{Mutex, PoisonError};

/// What went wrong, as the real driver's statuses name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub(crate) enum Status {
    CUDA_ERROR_OUT_OF_MEMORY,
    CUDA_ERROR_NOT_FOUND,
    CUDA_ERROR_INVALID_VALUE,
    CUDA_ERROR_LAUNCH_FAILED,
}

/// A call that failed: which call (or kernel) and why.
#[derive(Clone, Debug)]
pub(crate) struct DriverError {
    pub call: String,
    pub status: Status,
}

impl DriverError {
    pub fn is_out_of_memory(&self) -> bool {
        self.status == Status::CUDA_ERROR_OUT_OF_MEMORY
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {:?}", self.call, self.status)
    }
}

type DriverResult<T> = Result<T, DriverError>;

/// One emulated device.
pub(crate) fn device_count() -> DriverResult<usize> {
    Ok(1)
}

#[derive(Clone, Debug)]
pub(crate) struct DeviceProperties {
    pub name: String,
    pub total_memory: usize,
    pub compute_capability: (i32, i32),
    pub multiprocessors: i32,
}

pub(crate) fn driver_version() -> DriverResult<i32> {
    Ok(13000)
}

pub(crate) fn device_properties(ordinal: usize) -> DriverResult<DeviceProperties> {
    if ordinal != 0 {
        return Err(DriverError {
            call: format!("device {ordinal} of the emulator, which has one"),
            status: Status::CUDA_ERROR_INVALID_VALUE,
        });
    }
    Ok(DeviceProperties {
        name: "emulated GPU (kernels on the host)".to_string(),
        total_memory: 0,
        compute_capability: (8, 0),
        multiprocessors: 1,
    })
}

#[derive(Debug)]
pub(crate) struct Context;

impl Context {
    pub fn primary(ordinal: usize) -> DriverResult<Context> {
        device_properties(ordinal)?;
        Ok(Context)
    }

    pub fn make_current(&self) -> DriverResult<()> {
        Ok(())
    }
}

/// Kernels run synchronously, so the stream's order holds trivially.
#[derive(Debug)]
pub(crate) struct Stream;

unsafe extern "C" {
    fn dualscore_emulator_find(family: *const c_char, name: *const c_char) -> *const c_void;
    fn dualscore_emulator_launch(
        kernel: *const c_void,
        grid: *const u32,
        block: *const u32,
        shared_bytes: u32,
        args: *mut *mut c_void,
        error: *mut c_char,
        error_len: usize,
    ) -> i32;
}

impl Stream {
    pub fn new(_context: &Context) -> DriverResult<Stream> {
        Ok(Stream)
    }

    pub fn synchronize(&self) -> DriverResult<()> {
        Ok(())
    }

    /// # Safety
    ///
    /// As `driver::Stream::upload`.
    pub unsafe fn upload(&self, dst: u64, src: *const c_void, bytes: usize) -> DriverResult<()> {
        if bytes > 0 {
            // SAFETY: the caller's contract; device addresses are host addresses here.
            unsafe { std::ptr::copy_nonoverlapping(src.cast::<u8>(), dst as *mut u8, bytes) };
        }
        Ok(())
    }

    /// # Safety
    ///
    /// As `driver::Stream::download`.
    pub unsafe fn download(&self, dst: *mut c_void, src: u64, bytes: usize) -> DriverResult<()> {
        if bytes > 0 {
            // SAFETY: the caller's contract.
            unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst.cast::<u8>(), bytes) };
        }
        Ok(())
    }

    /// # Safety
    ///
    /// As `driver::Stream::copy`.
    pub unsafe fn copy(&self, dst: u64, src: u64, bytes: usize) -> DriverResult<()> {
        if bytes > 0 {
            // SAFETY: the caller's contract; `copy` allows overlap.
            unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, bytes) };
        }
        Ok(())
    }

    /// # Safety
    ///
    /// As `driver::Stream::launch`.
    pub unsafe fn launch(
        &self,
        kernel: &Function,
        grid: [u32; 3],
        block: [u32; 3],
        shared_bytes: u32,
        args: &mut [*mut c_void],
    ) -> DriverResult<()> {
        let mut error = [0 as c_char; 256];
        // SAFETY: the caller's contract; `kernel.raw` came from the registry.
        let status = unsafe {
            dualscore_emulator_launch(
                kernel.raw,
                grid.as_ptr(),
                block.as_ptr(),
                shared_bytes,
                args.as_mut_ptr(),
                error.as_mut_ptr(),
                error.len(),
            )
        };
        if status == 0 {
            return Ok(());
        }
        let bytes: Vec<u8> = error
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        Err(DriverError {
            call: format!(
                "launch {} ({})",
                kernel.name,
                String::from_utf8_lossy(&bytes)
            ),
            status: Status::CUDA_ERROR_LAUNCH_FAILED,
        })
    }
}

/// The sizes of live allocations, for `free`.
static ALLOCATIONS: Mutex<Option<HashMap<u64, usize>>> = Mutex::new(None);

const ALIGN: usize = 256;

/// Zeroed host memory (a real device gives garbage; zero is one kind of garbage, and the
/// suite's results do not depend on it).
pub(crate) fn allocate(bytes: usize) -> DriverResult<u64> {
    let out_of_memory = || DriverError {
        call: format!("allocation of {bytes} bytes"),
        status: Status::CUDA_ERROR_OUT_OF_MEMORY,
    };
    let layout = Layout::from_size_align(bytes.max(1), ALIGN).map_err(|_| out_of_memory())?;
    // SAFETY: the layout has a non-zero size.
    let address = unsafe { alloc_zeroed(layout) } as u64;
    if address == 0 {
        return Err(out_of_memory());
    }
    let mut table = ALLOCATIONS.lock().unwrap_or_else(PoisonError::into_inner);
    table
        .get_or_insert_with(HashMap::new)
        .insert(address, bytes.max(1));
    Ok(address)
}

/// # Safety
///
/// `address` must come from [`allocate`] and not be used again.
pub(crate) unsafe fn free(address: u64) -> DriverResult<()> {
    let mut table = ALLOCATIONS.lock().unwrap_or_else(PoisonError::into_inner);
    let bytes = table
        .get_or_insert_with(HashMap::new)
        .remove(&address)
        .ok_or_else(|| DriverError {
            call: format!("free of {address:#x}, which was not allocated"),
            status: Status::CUDA_ERROR_INVALID_VALUE,
        })?;
    let layout = Layout::from_size_align(bytes, ALIGN).expect("valid when allocated");
    // SAFETY: allocated with this layout by `allocate`.
    unsafe { dealloc(address as *mut u8, layout) };
    Ok(())
}

/// A family's kernels in the emulator's registry.
#[derive(Debug)]
pub(crate) struct Module {
    name: &'static str,
}

impl Module {
    pub fn load(name: &'static str, _ptx: &str) -> DriverResult<Module> {
        Ok(Module { name })
    }

    pub fn function(&self, name: &'static str) -> DriverResult<Function> {
        let family = CString::new(self.name).expect("no NUL in family names");
        let symbol = CString::new(name).expect("no NUL in kernel names");
        // SAFETY: two NUL-terminated strings; the registry is static.
        let raw = unsafe { dualscore_emulator_find(family.as_ptr(), symbol.as_ptr()) };
        if raw.is_null() {
            return Err(DriverError {
                call: format!("cuModuleGetFunction({}::{name})", self.name),
                status: Status::CUDA_ERROR_NOT_FOUND,
            });
        }
        Ok(Function { raw, name })
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Function {
    raw: *const c_void,
    pub name: &'static str,
}

// SAFETY: the pointer addresses a static registry entry, read-only.
unsafe impl Send for Function {}
// SAFETY: as above.
unsafe impl Sync for Function {}
