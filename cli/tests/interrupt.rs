//! Ctrl-C during training: the program finishes the step, writes a checkpoint of it, exits with
//! status 130, and the run resumes from there. Runs the real binary and sends it SIGINT.

#![cfg(unix)]

use dualscore::data::npy_f64_bytes;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn ctrl_c_writes_a_checkpoint_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f64> = (0..64 * 64)
        .map(|i| ((i * 37) % 101) as f64 / 100.0)
        .collect();
    let data = dir.path().join("train.npy");
    std::fs::write(&data, npy_f64_bytes(&values, &[64, 8, 8])).unwrap();
    let out = dir.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_dualscore"))
        .args(["--threads", "1", "train", "--train"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .args([
            "--steps",
            "1000000",
            "--batch",
            "4",
            "--base-width",
            "4",
            "--scales",
            "1",
        ])
        .args(["--checkpoint-every", "1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until a few steps are logged, then interrupt.
    let metrics = out.join("metrics.jsonl");
    let started = Instant::now();
    loop {
        let lines = std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count());
        if lines >= 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "training did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("interrupted: checkpoint of step"),
        "{stdout}"
    );

    // The checkpoint holds every logged step.
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("checkpoint.json")).unwrap())
            .unwrap();
    let step = info["step"].as_u64().unwrap();
    let logged = std::fs::read_to_string(&metrics).unwrap().lines().count() as u64;
    assert!(
        step >= 3 && step == logged,
        "checkpoint at {step}, {logged} steps logged"
    );

    // And the run resumes from it.
    let mut buf = Vec::new();
    let resumed = dualscore::app::run(
        [
            "dualscore",
            "--json",
            "--threads",
            "1",
            "train",
            "--train",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--resume",
            "--steps",
            &(step + 2).to_string(),
        ],
        &mut buf,
        false,
    )
    .unwrap();
    assert_eq!(resumed["result"]["steps_run"], 2);
}
