//! Writing a file atomically: into a temporary file beside it, flushed to disk, then renamed
//! over it, so that a reader (or a process started after a crash) sees the old file or the new
//! one, never a part of either.

use super::error::TrainError;
use super::faults::{CheckpointDisk, pause_before_rename};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary file of `path`: `.<name>.tmp` in the same folder.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `bytes` to `path` atomically: to `.<name>.tmp` in the same folder, flushed to disk,
/// then renamed over `path`. On failure the temporary file is removed, `path` is untouched and
/// the error names `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    write_atomic_file(path, bytes, false)
}

/// [`write_atomic`] for a file of a checkpoint, with the faults on demand of
/// [`super::faults`]: a limited disk while writing, a pause before the rename.
pub(crate) fn write_checkpoint_file(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    write_atomic_file(path, bytes, true)
}

fn write_atomic_file(path: &Path, bytes: &[u8], checkpoint: bool) -> Result<(), TrainError> {
    let tmp = temp_path(path);
    let written = (|| -> Result<(), TrainError> {
        let file = fs::File::create(&tmp).map_err(|e| TrainError::io(path, "write", e))?;
        if checkpoint {
            let mut disk = CheckpointDisk::new(file)?;
            disk.write_all(bytes)
                .and_then(|()| disk.get_ref().sync_all())
                .map_err(|e| TrainError::io(path, "write", e))?;
            pause_before_rename(&tmp, path)
        } else {
            let mut file = file;
            file.write_all(bytes)
                .and_then(|()| file.sync_all())
                .map_err(|e| TrainError::io(path, "write", e))
        }
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(TrainError::io(path, "rename into place", e));
    }
    sync_folder(path);
    Ok(())
}

/// Makes a rename in the folder of `path` durable (best effort: not every platform can open a
/// folder).
fn sync_folder(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}
