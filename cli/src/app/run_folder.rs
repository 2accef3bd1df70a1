//! The run's folder of `train`: refused before training when files cannot be written into it
//! (a read-only folder would otherwise fail at the first checkpoint, after the training time),
//! and the message of a checkpoint that could not be written.

use super::error::{AppError, AppResult};
use dualscore_core::train::TrainError;
use std::path::Path;

/// The probe file created and removed by [`ensure_writable`]; a probe left by a killed process
/// is replaced and removed by the next one.
const PROBE: &str = ".dualscore-write-probe.tmp";

/// Checks that a file can be created in the folder `dir`, by creating and removing a probe
/// file. The error names the folder and says what the system reported.
pub fn ensure_writable(dir: &Path) -> AppResult<()> {
    let probe = dir.join(PROBE);
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe);
    match made {
        Ok(file) => {
            drop(file);
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(AppError::msg(format!(
            "{}: cannot write into the run's folder ({e}); training would fail at its first \
             checkpoint: make the folder writable or choose another --out",
            dir.display()
        ))),
    }
}

/// The error of a checkpoint of `step` that could not be written into `dir`, where `saved` is
/// the step of the checkpoint that the folder holds (if any). A non-finite value keeps its own
/// message, which already names the last good checkpoint.
pub fn checkpoint_failed(e: TrainError, dir: &Path, step: u64, saved: Option<u64>) -> AppError {
    if matches!(e, TrainError::NonFinite { .. }) {
        return AppError::Train(e);
    }
    let kept = match saved {
        Some(s) => format!(
            "{} still holds the checkpoint of step {s}, unchanged: fix the cause, then continue \
             with --resume",
            dir.display()
        ),
        None => format!("{} holds no checkpoint yet", dir.display()),
    };
    AppError::msg(format!(
        "{e}; the checkpoint of step {step} was not written; {kept}"
    ))
}
