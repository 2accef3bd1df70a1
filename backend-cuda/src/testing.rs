//! The device for tests: one [`Cuda`] per test process, or a skip when this machine has none.
//!
//! [`device`] opens device 0 (or `DUALSCORE_CUDA_DEVICE`) once. When the build has no `cuda`
//! feature, or the driver reports no device or is missing (the stand-in library of machines
//! without a GPU), each test that asks prints "no CUDA device, skipping" and passes; any other
//! failure to start the device fails the test. With `DUALSCORE_REQUIRE_GPU=1` every skip is a
//! failure instead. When the test process exits it prints how many device tests ran and how
//! many skipped.
//!
//! ```no_run
//! if let Some(gpu) = dualscore_cuda::testing::device() {
//!     // ... compare `gpu` against the CPU ...
//! }
//! ```

use crate::{BUILT_WITH_CUDA, Cuda, EMULATED, is_no_device};
use std::sync::Once;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set to `1` to make every skip a failure (on a machine that must have a GPU).
pub const REQUIRE_ENV: &str = "DUALSCORE_REQUIRE_GPU";

/// The ordinal of the device the tests use (default 0).
pub const DEVICE_ENV: &str = "DUALSCORE_CUDA_DEVICE";

static DEVICE: OnceLock<Result<Cuda, String>> = OnceLock::new();
static RAN: AtomicUsize = AtomicUsize::new(0);
static SKIPPED: AtomicUsize = AtomicUsize::new(0);
static SUMMARY: Once = Once::new();

/// The device for one test, or `None` (after printing why) when there is none to use.
///
/// # Panics
///
/// When a device is present but fails to start, or when [`REQUIRE_ENV`] is set and there is
/// no device: both are test failures.
pub fn device() -> Option<Cuda> {
    SUMMARY.call_once(register_summary);
    let opened = DEVICE.get_or_init(|| {
        let ordinal = std::env::var(DEVICE_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        match Cuda::new(ordinal) {
            Ok(gpu) => Ok(gpu),
            Err(e) if is_no_device(&e) || !(BUILT_WITH_CUDA || EMULATED) => Err(e.to_string()),
            Err(e) => panic!("the CUDA device {ordinal} is present but failed to start: {e}"),
        }
    });
    match opened {
        Ok(gpu) => {
            RAN.fetch_add(1, Ordering::Relaxed);
            Some(gpu.clone())
        }
        Err(reason) => {
            let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v.trim() == "1");
            assert!(
                !required,
                "{REQUIRE_ENV}=1 but there is no CUDA device: {reason}"
            );
            SKIPPED.fetch_add(1, Ordering::Relaxed);
            println!("no CUDA device, skipping ({reason})");
            None
        }
    }
}

/// How many tests got a device and how many skipped, so far in this process.
pub fn counts() -> (usize, usize) {
    (RAN.load(Ordering::Relaxed), SKIPPED.load(Ordering::Relaxed))
}

fn register_summary() {
    unsafe extern "C" {
        fn atexit(callback: extern "C" fn()) -> i32;
    }
    extern "C" fn print_summary() {
        let (ran, skipped) = counts();
        let on = match DEVICE.get() {
            Some(Ok(gpu)) => format!(" on {}", gpu.info().name),
            _ => String::new(),
        };
        eprintln!("CUDA device tests: {ran} ran{on}, {skipped} skipped");
    }
    // SAFETY: registers a function without arguments that only reads atomics and prints.
    unsafe {
        atexit(print_summary);
    }
}
