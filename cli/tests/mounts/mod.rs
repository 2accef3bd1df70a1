//! A small tmpfs mounted on a test's folder, where the test may mount one (as root, with
//! `mount` on the path); elsewhere [`Tmpfs::mount`] prints why the test skips and gives `None`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a folder, unmounted when dropped.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` bytes (rounded up to pages) on `dir`, read-only when asked;
    /// `None`, with the reason printed, where it cannot.
    pub fn mount(dir: &Path, size: u64, read_only: bool) -> Option<Tmpfs> {
        let mut options = format!("size={size}");
        if read_only {
            options.push_str(",ro");
        }
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(dir)
            .output();
        match output {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir: dir.to_path_buf(),
            }),
            Ok(o) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs on {} (it needs root): {}",
                    dir.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount to make a small tmpfs: {e}");
                None
            }
        }
    }

    /// Mounts it again with `options` (as in `size=1m` or `ro`).
    pub fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success(), "remount,{options} {}", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}
