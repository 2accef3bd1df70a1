//! A tiny training run of the real program, for the fault tests: generated 8x8 images, a UNet
//! of one scale and base width 4 (the fast preset's energy: a Gaussian base, centering, a time
//! offset, preconditioning and an average of the weights), one thread; and the checks that a
//! run folder holds a loadable checkpoint and equals another run's, bit for bit.

#![allow(dead_code)]

use dualscore::data::npy_f64_bytes;
use dualscore::model::{ModelConfig, UNetEnergy};
use dualscore_core::rng::{RngKey, uniform_values};
use dualscore_core::train::{CHECKPOINT_FILE, Trainer, read_checkpoint};
use dualscore_cpu::Cpu;
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Training and test images in a temporary folder, and the flags of a tiny run on them.
#[derive(Debug)]
pub struct TinyRun {
    dir: tempfile::TempDir,
    train: PathBuf,
    test: PathBuf,
    /// Write a checkpoint every this many steps.
    pub checkpoint_every: u64,
    /// Measure the held-out loss every this many steps (0: never, and no test set).
    pub eval_every: u64,
}

impl TinyRun {
    /// 64 training and 16 test images of 8x8 uniform values, in a new temporary folder.
    pub fn new(checkpoint_every: u64, eval_every: u64) -> Self {
        Self::in_folder(tempfile::tempdir().unwrap(), checkpoint_every, eval_every)
    }

    /// The same in the temporary folder `dir`.
    pub fn in_folder(dir: tempfile::TempDir, checkpoint_every: u64, eval_every: u64) -> Self {
        let train = dir.path().join("train.npy");
        let test = dir.path().join("test.npy");
        let values = |n: usize, stream: u64| uniform_values(RngKey::new(17, stream), 0, n * 64);
        std::fs::write(&train, npy_f64_bytes(&values(64, 1), &[64, 8, 8])).unwrap();
        std::fs::write(&test, npy_f64_bytes(&values(16, 2), &[16, 8, 8])).unwrap();
        TinyRun {
            dir,
            train,
            test,
            checkpoint_every,
            eval_every,
        }
    }

    /// `name` in the temporary folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The arguments of `dualscore train` into `out` up to step `steps`.
    pub fn args(&self, out: &Path, steps: u64, resume: bool) -> Vec<OsString> {
        let mut args: Vec<OsString> = ["--threads", "1", "train", "--train"]
            .iter()
            .map(OsString::from)
            .collect();
        args.push(self.train.clone().into());
        if self.eval_every > 0 {
            args.extend(["--test".into(), self.test.clone().into()]);
            args.extend(["--eval-every", &self.eval_every.to_string()].map(OsString::from));
            args.extend(["--eval-images", "8"].map(OsString::from));
        }
        args.extend(["--out".into(), out.as_os_str().to_owned()]);
        let steps = steps.to_string();
        let every = self.checkpoint_every.to_string();
        args.extend(
            [
                "--steps",
                &steps,
                "--checkpoint-every",
                &every,
                "--batch",
                "4",
                "--base-width",
                "4",
                "--scales",
                "1",
            ]
            .map(OsString::from),
        );
        if resume {
            args.push("--resume".into());
        }
        args
    }

    /// The program with the arguments of [`TinyRun::args`], its output captured.
    pub fn command(&self, out: &Path, steps: u64, resume: bool) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dualscore"));
        command
            .args(self.args(out, steps, resume))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs [`TinyRun::command`] to its end and asserts that it succeeded.
    pub fn train(&self, out: &Path, steps: u64, resume: bool) -> Output {
        let output = self.command(out, steps, resume).output().unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        output
    }
}

/// The exit status, stdout and stderr of a finished program, for messages.
pub fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Loads the checkpoint in `dir` as `train --resume` does (the configuration, the weights, the
/// optimizer state, the averaged weights, the random streams) and returns its step.
pub fn load_checkpoint(dir: &Path) -> Result<u64, String> {
    let info = read_checkpoint::<ModelConfig>(dir).map_err(|e| e.to_string())?;
    let backend = Cpu::with_threads(1).unwrap();
    let model: UNetEnergy<Cpu> = info
        .model_config
        .build(&backend, 0)
        .map_err(|e| e.to_string())?;
    let trainer: Trainer<Cpu, f32, UNetEnergy<Cpu>, ModelConfig> =
        Trainer::resume(dir, model).map_err(|e| e.to_string())?;
    assert_eq!(trainer.completed_steps(), info.step);
    Ok(info.step)
}

/// Whether `dir` holds a checkpoint description.
pub fn has_checkpoint(dir: &Path) -> bool {
    dir.join(CHECKPOINT_FILE).exists()
}

/// The names in the folder `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    dualscore_core::testing::folder_names(dir).unwrap()
}

/// `checkpoint.json` of `dir` without what differs between two runs of the same steps: the
/// wall-clock time and the paths of the run's own folder.
pub fn checkpoint_description(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join(CHECKPOINT_FILE)).unwrap();
    let mut info: Value = serde_json::from_str(&text).unwrap();
    let object = info.as_object_mut().unwrap();
    object.remove("elapsed_s");
    let train = object["train_config"].as_object_mut().unwrap();
    train.remove("checkpoint_dir");
    train.remove("metrics_path");
    info
}

/// The lines of `metrics.jsonl` of `dir` without their times: step, loss, terms and rate.
pub fn metrics(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap_or_default();
    text.lines()
        .map(|line| {
            let mut v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: line {line:?}: {e}", dir.display()));
            let object = v.as_object_mut().unwrap();
            object.remove("time_s");
            object.remove("step_time_s");
            v
        })
        .collect()
}

/// Asserts that the run folders `a` and `b` hold the same files with the same contents: the
/// weights, optimizer state and averaged weights bit for bit, the same checkpoint description,
/// the same metrics (but their times) and the same held-out losses.
pub fn assert_same_run(a: &Path, b: &Path) {
    assert_eq!(
        names(a),
        names(b),
        "the files of {} and {}",
        a.display(),
        b.display()
    );
    for name in names(a) {
        let (x, y) = (a.join(&name), b.join(&name));
        if name.ends_with(".safetensors") || name == "eval.jsonl" {
            assert!(
                std::fs::read(&x).unwrap() == std::fs::read(&y).unwrap(),
                "{} and {} differ",
                x.display(),
                y.display()
            );
        }
    }
    assert_eq!(checkpoint_description(a), checkpoint_description(b));
    assert_eq!(metrics(a), metrics(b));
}
