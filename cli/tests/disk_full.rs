//! A checkpoint that cannot be written because the disk is full: the program stops with an
//! error that names the file and says which checkpoint the folder still holds; that checkpoint
//! is intact and loadable, the files of the failed step are gone, and `--resume` (once there is
//! room) ends with the uninterrupted run's weights, bit for bit. The full disk is simulated by
//! `DUALSCORE_CHECKPOINT_DISK_BYTES` (anywhere), and is a real small tmpfs where the test may
//! mount one (as root; otherwise it says why it skips). Runs the real binary.

#![cfg(unix)]

mod mounts;
mod tiny_run;

use dualscore_core::train::checkpoint::{
    CHECKPOINT_DISK_BYTES_ENV, averaged_weights_file_name, optimizer_file_name, weights_file_name,
};
use mounts::Tmpfs;
use std::path::Path;
use tiny_run::{TinyRun, assert_same_run, describe, load_checkpoint, names};

/// Two checkpoints: steps 4 and 8.
const STEPS: u64 = 8;
const CHECKPOINT_EVERY: u64 = 4;

/// The sizes of a checkpoint's files: averaged weights, weights, optimizer, checkpoint.json.
fn file_sizes(dir: &Path) -> [u64; 4] {
    let size = |name: String| std::fs::metadata(dir.join(name)).unwrap().len();
    [
        size(averaged_weights_file_name(STEPS)),
        size(weights_file_name(STEPS)),
        size(optimizer_file_name(STEPS)),
        size("checkpoint.json".to_string()),
    ]
}

/// Runs the tiny run into `out` with checkpoint files limited to `bytes` in all; it must fail.
/// Returns its stderr.
fn fail_with_disk_bytes(run: &TinyRun, out: &Path, bytes: u64) -> String {
    let output = run
        .command(out, STEPS, false)
        .env(CHECKPOINT_DISK_BYTES_ENV, bytes.to_string())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_contains(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{text:?} does not contain {part:?}");
    }
}

/// The folder holds the checkpoint of step 4 and nothing of step 8, and no temporary file.
fn assert_holds_step_4_only(out: &Path) {
    assert_eq!(load_checkpoint(out), Ok(4));
    let mut expected = vec![
        averaged_weights_file_name(4),
        "checkpoint.json".to_string(),
        "metrics.jsonl".to_string(),
        weights_file_name(4),
        optimizer_file_name(4),
    ];
    expected.sort();
    assert_eq!(names(out), expected);
}

#[test]
fn a_full_disk_fails_the_checkpoint_names_the_file_and_keeps_the_previous_one() {
    let run = TinyRun::new(CHECKPOINT_EVERY, 0);
    let reference = run.path("uninterrupted");
    run.train(&reference, STEPS, false);
    let [averaged, weights, optimizer, json] = file_sizes(&reference);
    let checkpoint = averaged + weights + optimizer + json;

    // No room for the first checkpoint: its first file fails, nothing is left behind.
    let out = run.path("first");
    let stderr = fail_with_disk_bytes(&run, &out, 100);
    let file = out.join(averaged_weights_file_name(4));
    assert_contains(
        &stderr,
        &[
            &format!("cannot write {}", file.display()),
            "No space left on device",
            "the checkpoint of step 4 was not written",
            "holds no checkpoint yet",
        ],
    );
    assert_eq!(names(&out), ["metrics.jsonl"]);

    // Room for one checkpoint and half of the next one's weights.
    let out = run.path("weights");
    let stderr = fail_with_disk_bytes(&run, &out, checkpoint + averaged + weights / 2);
    let file = out.join(weights_file_name(8));
    assert_contains(
        &stderr,
        &[
            &format!("cannot write {}", file.display()),
            "No space left on device",
            "the checkpoint of step 8 was not written",
            "still holds the checkpoint of step 4, unchanged",
            "--resume",
        ],
    );
    // The averaged weights of step 8 were in place: they were removed again.
    assert_holds_step_4_only(&out);
    run.train(&out, STEPS, true);
    assert_same_run(&reference, &out);

    // Room for everything but the end of the second checkpoint.json, the commit point.
    let out = run.path("commit");
    let stderr = fail_with_disk_bytes(&run, &out, checkpoint + averaged + weights + optimizer + 10);
    assert_contains(
        &stderr,
        &[
            &format!("cannot write {}", out.join("checkpoint.json").display()),
            "No space left on device",
            "still holds the checkpoint of step 4, unchanged",
        ],
    );
    assert_holds_step_4_only(&out);
    run.train(&out, STEPS, true);
    assert_same_run(&reference, &out);
}

#[test]
fn a_full_tmpfs_fails_the_checkpoint_and_keeps_the_previous_one() {
    let run = TinyRun::new(CHECKPOINT_EVERY, 0);
    let reference = run.path("uninterrupted");
    run.train(&reference, STEPS, false);
    let [averaged, weights, optimizer, json] = file_sizes(&reference);
    let page = |bytes: u64| bytes.div_ceil(4096) * 4096;
    let metrics = page(
        std::fs::metadata(reference.join("metrics.jsonl"))
            .unwrap()
            .len(),
    );
    // One checkpoint and the metrics, then the next checkpoint's averaged weights and weights
    // and half of its optimizer state.
    let size = page(averaged) + page(weights) + page(optimizer) + page(json) + metrics;
    let size = size + page(averaged) + page(weights) + page(optimizer / 2);
    let out = run.path("tmpfs");
    std::fs::create_dir(&out).unwrap();
    let Some(disk) = Tmpfs::mount(&out, size, false) else {
        return;
    };
    let output = run.command(&out, STEPS, false).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_contains(
        &stderr,
        &[
            &format!(
                "cannot write {}",
                out.join(optimizer_file_name(8)).display()
            ),
            "No space left on device",
            "still holds the checkpoint of step 4, unchanged",
        ],
    );
    assert_holds_step_4_only(&out);
    // Room again: the run resumes and ends as the uninterrupted one.
    disk.remount(&format!("size={}", 4 * size));
    run.train(&out, STEPS, true);
    assert_same_run(&reference, &out);
}
