//! Faults on demand inside checkpoint writes, for the robustness tests of programs built on the
//! library (docs/ROBUSTNESS.md):
//!
//! - [`PAUSE_IN_CHECKPOINT_WRITE_ENV`] pauses between a checkpoint file's temporary file and its
//!   rename, and says so on stderr, so that a test can kill the process exactly there;
//! - [`CHECKPOINT_DISK_BYTES_ENV`] gives checkpoint files a disk of that many bytes, so that a
//!   test can see a checkpoint write fail as it fails on a full disk.
//!
//! Both are read from the environment of the process at each checkpoint file and affect
//! checkpoint files only (not metrics, logs or results). Unset, as in normal use, they cost one
//! environment lookup per file and change nothing.

use super::error::TrainError;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `DUALSCORE_PAUSE_IN_CHECKPOINT_WRITE=<ms>`: when a checkpoint file's temporary file has been
/// written and flushed to disk, and before it is renamed into place, print a line that starts
/// with [`PAUSE_MARKER`] to stderr, then sleep this many milliseconds. Every file of every
/// checkpoint pauses (the averaged weights, the weights, the optimizer state, then
/// `checkpoint.json`, the commit point). A value that is not a whole number is an error of the
/// checkpoint write.
pub const PAUSE_IN_CHECKPOINT_WRITE_ENV: &str = "DUALSCORE_PAUSE_IN_CHECKPOINT_WRITE";

/// The beginning of the line printed at each pause of [`PAUSE_IN_CHECKPOINT_WRITE_ENV`]; the
/// whole line is `dualscore: paused in a checkpoint write: <temporary file> is written, <file>
/// is not yet renamed (<ms> ms)`.
pub const PAUSE_MARKER: &str = "dualscore: paused in a checkpoint write";

/// `DUALSCORE_CHECKPOINT_DISK_BYTES=<n>`: the checkpoint files written by this process may hold
/// `n` bytes in all (counted as written, not freed by removals). The write that would go past
/// that writes what fits and then fails as a full disk does (`No space left on device`, the
/// error kind `StorageFull`), so the checkpoint is not written and the previous one stays. A
/// value that is not a whole number is an error of the checkpoint write.
pub const CHECKPOINT_DISK_BYTES_ENV: &str = "DUALSCORE_CHECKPOINT_DISK_BYTES";

/// The bytes of checkpoint files written by this process, for [`CHECKPOINT_DISK_BYTES_ENV`].
static CHECKPOINT_BYTES_WRITTEN: AtomicU64 = AtomicU64::new(0);

/// The whole number in the environment variable `name`, if it is set.
fn env_number(name: &str) -> Result<Option<u64>, TrainError> {
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok(text) => text.trim().parse().map(Some).map_err(|_| {
            TrainError::Config(format!(
                "the environment variable {name} must be a whole number, got '{text}'"
            ))
        }),
        Err(std::env::VarError::NotUnicode(text)) => Err(TrainError::Config(format!(
            "the environment variable {name} must be a whole number, got {text:?}"
        ))),
    }
}

/// The pause of [`PAUSE_IN_CHECKPOINT_WRITE_ENV`], when it is set: `tmp` is written and
/// flushed, `path` not yet renamed.
pub(crate) fn pause_before_rename(tmp: &Path, path: &Path) -> Result<(), TrainError> {
    if let Some(ms) = env_number(PAUSE_IN_CHECKPOINT_WRITE_ENV)? {
        eprintln!(
            "{PAUSE_MARKER}: {} is written, {} is not yet renamed ({ms} ms)",
            tmp.display(),
            path.display()
        );
        std::thread::sleep(Duration::from_millis(ms));
    }
    Ok(())
}

/// A writer of one checkpoint file that counts its bytes against the disk of
/// [`CHECKPOINT_DISK_BYTES_ENV`] (no limit when it is not set).
#[derive(Debug)]
pub(crate) struct CheckpointDisk<W> {
    inner: W,
    limit: Option<u64>,
}

impl<W: Write> CheckpointDisk<W> {
    /// `inner`, limited by the environment variable when it is set.
    pub(crate) fn new(inner: W) -> Result<Self, TrainError> {
        Ok(CheckpointDisk {
            inner,
            limit: env_number(CHECKPOINT_DISK_BYTES_ENV)?,
        })
    }

    /// The inner writer.
    pub(crate) fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> Write for CheckpointDisk<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(limit) = self.limit else {
            return self.inner.write(buf);
        };
        let room = limit.saturating_sub(CHECKPOINT_BYTES_WRITTEN.load(Ordering::SeqCst));
        if room == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("No space left on device (simulated: {CHECKPOINT_DISK_BYTES_ENV}={limit})"),
            ));
        }
        let fits = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let written = self.inner.write(&buf[..fits])?;
        CHECKPOINT_BYTES_WRITTEN.fetch_add(written as u64, Ordering::SeqCst);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_writes_what_fits_then_fails() {
        // The environment variable is not set in the tests: set the limit by hand.
        let mut disk = CheckpointDisk {
            inner: Vec::new(),
            limit: Some(CHECKPOINT_BYTES_WRITTEN.load(Ordering::SeqCst) + 5),
        };
        let err = disk.write_all(b"0123456789").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(err.to_string().contains("No space left on device"), "{err}");
        assert_eq!(disk.get_ref(), b"01234");
    }
}
