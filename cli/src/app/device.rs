//! The device the commands run on: `--device cpu|cuda|cuda:N` (or the environment variable
//! `DUALSCORE_DEVICE`), opening it, and what the commands need of a device beyond the
//! [`Backend`] kernels.

use super::error::{AppError, AppResult};
use dualscore_core::backend::profiled::Profiled;
use dualscore_core::{Backend, Error};
use dualscore_cpu::Cpu;
use dualscore_cuda::Cuda;
use std::fmt;
use std::str::FromStr;

/// The environment variable that chooses the device when `--device` is not given.
pub const DEVICE_ENV: &str = "DUALSCORE_DEVICE";

/// The forms `--device` accepts, for messages.
pub const DEVICE_FORMS: &str = "cpu, cuda (the first GPU) or cuda:N (GPU number N, from 0)";

/// Where the commands compute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// The CPU backend (the default).
    #[default]
    Cpu,
    /// The CUDA backend on the GPU of this ordinal.
    Cuda(usize),
}

impl Device {
    /// Parses `cpu`, `cuda` (GPU 0) or `cuda:N`; anything else is an error naming the forms.
    pub fn parse(text: &str) -> Result<Device, String> {
        let bad = || format!("unknown device '{text}': use {DEVICE_FORMS}");
        match text.trim() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            other => {
                let ordinal = other.strip_prefix("cuda:").ok_or_else(bad)?;
                if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                ordinal.parse().map(Device::Cuda).map_err(|_| bad())
            }
        }
    }

    /// The device of `--device` when given, else of `env` (the value of [`DEVICE_ENV`], unset
    /// or empty meaning the CPU).
    pub fn chosen(option: Option<Device>, env: Option<&str>) -> AppResult<Device> {
        match (option, env.map(str::trim).filter(|v| !v.is_empty())) {
            (Some(device), _) => Ok(device),
            (None, Some(value)) => {
                Device::parse(value).map_err(|e| AppError::msg(format!("{DEVICE_ENV}: {e}")))
            }
            (None, None) => Ok(Device::Cpu),
        }
    }

    /// The device of `--device` when given, else of the environment variable [`DEVICE_ENV`].
    pub fn from_option_or_env(option: Option<Device>) -> AppResult<Device> {
        let env = std::env::var(DEVICE_ENV).ok();
        Device::chosen(option, env.as_deref())
    }
}

impl FromStr for Device {
    type Err = String;

    fn from_str(text: &str) -> Result<Device, String> {
        Device::parse(text)
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(ordinal) => write!(f, "cuda:{ordinal}"),
        }
    }
}

/// The CPU backend with `threads` threads, or as many as `DUALSCORE_THREADS` or the cores say.
pub fn open_cpu(threads: Option<usize>) -> AppResult<Cpu> {
    match threads {
        Some(0) => Err(AppError::msg("--threads must be at least 1")),
        Some(n) => Ok(Cpu::with_threads(n)?),
        None => Ok(Cpu::new()),
    }
}

/// The CUDA backend on GPU `ordinal`, or an error that says why it cannot be used: the
/// program was built without the `cuda` feature, the machine has no usable GPU, or the GPU
/// failed to start.
pub fn open_cuda(ordinal: usize) -> AppResult<Cuda> {
    Cuda::new(ordinal).map_err(|e| {
        let device = Device::Cuda(ordinal);
        let reason = driver_message(&e);
        AppError::msg(if !dualscore_cuda::BUILT_WITH_CUDA {
            format!("--device {device}: {reason}")
        } else if dualscore_cuda::is_no_device(&e) {
            format!("--device {device}: no CUDA device can be used on this machine ({reason})")
        } else {
            format!("--device {device}: cannot start the GPU: {reason}")
        })
    })
}

/// What the CUDA backend reported, without the `backend cuda:` prefix of its errors.
pub fn driver_message(error: &Error) -> String {
    match error {
        Error::Backend { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Waiting for a device's queued work, so that a clock read after it measures the work: a
/// GPU runs kernels asynchronously, the CPU backend returns when they are done.
pub trait Synchronize: Backend {
    /// Returns once every kernel queued so far has finished.
    fn synchronize(&self) -> dualscore_core::Result<()>;
}

impl Synchronize for Cpu {
    fn synchronize(&self) -> dualscore_core::Result<()> {
        Ok(())
    }
}

impl<B: Synchronize> Synchronize for Profiled<B> {
    fn synchronize(&self) -> dualscore_core::Result<()> {
        self.inner.synchronize()
    }
}

impl Synchronize for Cuda {
    fn synchronize(&self) -> dualscore_core::Result<()> {
        Cuda::synchronize(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accepted_forms_parse() {
        assert_eq!(Device::parse("cpu"), Ok(Device::Cpu));
        assert_eq!(Device::parse("cuda"), Ok(Device::Cuda(0)));
        assert_eq!(Device::parse("cuda:0"), Ok(Device::Cuda(0)));
        assert_eq!(Device::parse("cuda:3"), Ok(Device::Cuda(3)));
        assert_eq!(Device::parse(" cuda:12 "), Ok(Device::Cuda(12)));
        assert_eq!("cuda:1".parse::<Device>(), Ok(Device::Cuda(1)));
    }

    #[test]
    fn other_strings_are_errors_that_name_the_forms() {
        for bad in [
            "",
            "gpu",
            "CPU",
            "cuda:",
            "cuda:x",
            "cuda:-1",
            "cuda:+1",
            "cuda:1.5",
            "cuda0",
            "cuda:0:1",
            "cpu:0",
            "cuda: 1",
            "cuda:99999999999999999999999",
        ] {
            let err = Device::parse(bad).unwrap_err();
            assert!(err.contains(&format!("'{bad}'")), "{bad}: {err}");
            assert!(err.contains("cpu, cuda") && err.contains("cuda:N"), "{err}");
        }
    }

    #[test]
    fn display_gives_back_the_canonical_form() {
        for device in [Device::Cpu, Device::Cuda(0), Device::Cuda(7)] {
            assert_eq!(Device::parse(&device.to_string()), Ok(device));
        }
        assert_eq!(Device::Cuda(0).to_string(), "cuda:0");
    }

    #[test]
    fn the_option_wins_over_the_environment_which_wins_over_the_default() {
        let chosen = |option, env| Device::chosen(option, env).map_err(|e| e.to_string());
        assert_eq!(chosen(None, None), Ok(Device::Cpu));
        assert_eq!(chosen(None, Some("")), Ok(Device::Cpu));
        assert_eq!(chosen(None, Some("cuda:2")), Ok(Device::Cuda(2)));
        assert_eq!(chosen(Some(Device::Cpu), Some("cuda")), Ok(Device::Cpu));
        assert_eq!(
            chosen(Some(Device::Cuda(1)), Some("nonsense")),
            Ok(Device::Cuda(1))
        );
        let err = chosen(None, Some("gpu")).unwrap_err();
        assert!(
            err.starts_with("DUALSCORE_DEVICE: unknown device 'gpu'"),
            "{err}"
        );
    }

    #[test]
    fn zero_threads_is_an_error() {
        let err = open_cpu(Some(0)).unwrap_err().to_string();
        assert!(err.contains("--threads"), "{err}");
        assert_eq!(open_cpu(Some(2)).unwrap().threads(), 2);
    }

    #[test]
    fn cuda_that_cannot_start_says_why() {
        match open_cuda(0) {
            Ok(gpu) => assert_eq!(gpu.info().ordinal, 0),
            Err(e) => {
                let message = e.to_string();
                assert!(message.starts_with("--device cuda:0: "), "{message}");
                if !dualscore_cuda::BUILT_WITH_CUDA {
                    assert!(message.contains("built without CUDA"), "{message}");
                    assert!(message.contains("--features cuda"), "{message}");
                }
            }
        }
    }
}
