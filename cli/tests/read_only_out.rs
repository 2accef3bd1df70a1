//! A run's folder (`--out`) that cannot be written is refused before training starts, with an
//! error that names the folder, for a new run and for `--resume` (whose checkpoint stays as it
//! was): a folder without write permission (skipped where permissions are not enforced, as
//! for root, with the reason printed), and a read-only file system (where the test may mount
//! one). Runs the real binary.

#![cfg(unix)]

mod mounts;
mod tiny_run;

use mounts::Tmpfs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tiny_run::{TinyRun, describe, load_checkpoint, names};

/// Runs `train` into `out`; it must fail before training. Returns its stderr.
fn refused(run: &TinyRun, out: &Path, steps: u64, resume: bool) -> String {
    let output = run.command(out, steps, resume).output().unwrap();
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("training on"),
        "training started: {text}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "{}: cannot write into the run's folder",
            out.display()
        )),
        "{stderr}"
    );
    stderr
}

fn set_mode(dir: &Path, mode: u32) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_folder_without_write_permission_is_refused_before_training() {
    let run = TinyRun::new(4, 0);
    let out = run.path("locked");
    std::fs::create_dir(&out).unwrap();
    set_mode(&out, 0o555);
    let probe = out.join("probe");
    if std::fs::write(&probe, b"x").is_ok() {
        let _ = std::fs::remove_file(&probe);
        set_mode(&out, 0o755);
        eprintln!(
            "skipped: this user can write into a folder without write permission (root does), \
             so a read-only folder cannot be made with permissions"
        );
        return;
    }
    let stderr = refused(&run, &out, 8, false);
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(names(&out).is_empty(), "{:?}", names(&out));

    // A run whose folder became read-only is not resumed; its checkpoint is unchanged.
    let saved = run.path("saved");
    run.train(&saved, 8, false);
    let before = names(&saved);
    let json = std::fs::read(saved.join("checkpoint.json")).unwrap();
    set_mode(&saved, 0o555);
    let stderr = refused(&run, &saved, 12, true);
    set_mode(&saved, 0o755);
    set_mode(&out, 0o755);
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(names(&saved), before);
    assert_eq!(std::fs::read(saved.join("checkpoint.json")).unwrap(), json);
    assert_eq!(load_checkpoint(&saved), Ok(8));
}

#[test]
fn a_read_only_file_system_is_refused_before_training() {
    let run = TinyRun::new(4, 0);
    let out = run.path("read-only");
    std::fs::create_dir(&out).unwrap();
    let Some(disk) = Tmpfs::mount(&out, 8 << 20, true) else {
        return;
    };
    let stderr = refused(&run, &out, 8, false);
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(names(&out).is_empty(), "{:?}", names(&out));
    // A folder to create inside it: the error names that folder.
    let inner = out.join("run");
    let output = run.command(&inner, 8, false).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}: cannot create the folder", inner.display())),
        "{stderr}"
    );

    // A run on a file system remounted read-only is not resumed; its checkpoint is unchanged.
    disk.remount("rw");
    run.train(&out, 8, false);
    let before = names(&out);
    let json = std::fs::read(out.join("checkpoint.json")).unwrap();
    disk.remount("ro");
    let stderr = refused(&run, &out, 12, true);
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert_eq!(names(&out), before);
    assert_eq!(std::fs::read(out.join("checkpoint.json")).unwrap(), json);
    assert_eq!(load_checkpoint(&out), Ok(8));
}
