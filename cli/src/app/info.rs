//! `dualscore info`: the version, the device the commands would run on, and every device this
//! program can see: the CPU with its threads and, in a build with the `cuda` feature, each GPU
//! (or why none can be used).

use super::device::{Device, driver_message, open_cpu};
use super::error::AppResult;
use super::output::Output;
use dualscore_core::Backend;
use dualscore_cuda::DeviceInfo;
use serde::Serialize;
use serde_json::{Value, json};

/// One GPU, as `info` reports it.
#[derive(Clone, Debug, Serialize)]
pub struct GpuReport {
    /// Its `--device` name, `cuda:N`.
    pub device: String,
    /// The ordinal N.
    pub ordinal: usize,
    /// The product name.
    pub name: String,
    /// Device memory in bytes.
    pub memory_bytes: usize,
    /// The compute capability, as `"major.minor"`.
    pub compute_capability: String,
    /// Streaming multiprocessors.
    pub multiprocessors: i32,
}

impl From<&DeviceInfo> for GpuReport {
    fn from(d: &DeviceInfo) -> Self {
        let (major, minor) = d.compute_capability;
        GpuReport {
            device: Device::Cuda(d.ordinal).to_string(),
            ordinal: d.ordinal,
            name: d.name.clone(),
            memory_bytes: d.total_memory,
            compute_capability: format!("{major}.{minor}"),
            multiprocessors: d.multiprocessors,
        }
    }
}

/// What the CUDA backend can reach.
#[derive(Clone, Debug, Serialize)]
pub struct CudaReport {
    /// Whether the program was built with the `cuda` feature.
    pub built: bool,
    /// The driver's CUDA version, `"major.minor"`, when a driver answered.
    pub driver_version: Option<String>,
    /// The GPUs.
    pub devices: Vec<GpuReport>,
    /// Why no GPU can be used, when none can.
    pub unavailable: Option<String>,
}

impl CudaReport {
    /// Asks the driver (nothing is started on the GPUs).
    pub fn probe() -> Self {
        let built = dualscore_cuda::BUILT_WITH_CUDA;
        let driver_version = dualscore_cuda::driver_version()
            .ok()
            .map(|(major, minor)| format!("{major}.{minor}"));
        let (devices, unavailable) = match dualscore_cuda::devices() {
            Ok(list) if list.is_empty() => (Vec::new(), Some("the driver lists no GPU".into())),
            Ok(list) => (list.iter().map(GpuReport::from).collect(), None),
            Err(e) => (Vec::new(), Some(driver_message(&e))),
        };
        CudaReport {
            built,
            driver_version,
            devices,
            unavailable,
        }
    }
}

/// Runs `info`: `device` is the one `--device` (or `DUALSCORE_DEVICE`) chose, `threads` the
/// CPU's `--threads`.
pub fn run(device: Device, threads: Option<usize>, output: &mut Output<'_>) -> AppResult<Value> {
    let cpu = open_cpu(threads)?;
    let cuda = CudaReport::probe();
    // The chosen device's backend name, as the commands print it; none when it cannot be used.
    let backend = match device {
        Device::Cpu => Some(cpu.name()),
        Device::Cuda(n) => cuda
            .devices
            .iter()
            .find(|g| g.ordinal == n)
            .map(|g| format!("{} ({})", g.device, g.name)),
    };
    output.line(format!("dualscore {}", env!("CARGO_PKG_VERSION")))?;
    output.line(format!(
        "device: {}; --device or DUALSCORE_DEVICE chooses: cpu, cuda, cuda:N",
        backend
            .as_deref()
            .unwrap_or(&format!("{device}, which cannot be used here"))
    ))?;
    output.line("backends:")?;
    output.line(format!(
        "  {} (set DUALSCORE_THREADS or --threads to change)",
        cpu.name()
    ))?;
    for gpu in &cuda.devices {
        output.line(format!(
            "  {} ({}): {:.1} GiB, compute capability {}, {} multiprocessors",
            gpu.device,
            gpu.name,
            gpu.memory_bytes as f64 / f64::from(1u32 << 30),
            gpu.compute_capability,
            gpu.multiprocessors
        ))?;
    }
    if let Some(reason) = &cuda.unavailable {
        output.line(format!("  cuda: no GPU can be used: {reason}"))?;
    }
    if let Some(version) = &cuda.driver_version {
        output.line(format!("  cuda driver: CUDA {version}"))?;
    }
    output.line("  reference (naive f64 loops, the test oracle)")?;
    Ok(json!({
        "command": "info",
        "result": {
            "version": env!("CARGO_PKG_VERSION"),
            "device": device.to_string(),
            "backend": backend,
            "cpu": {"device": "cpu", "name": cpu.name(), "threads": cpu.threads()},
            "cuda": cuda,
        }
    }))
}
