//! Every command of the real program given bad input: missing, truncated or misplaced files,
//! wrong shapes, empty sets, zero, negative, NaN and absurd numbers, model folders with a file
//! missing or cut short. Each ends with exit status 1 (an error of the command) or 2 (a usage
//! error found by the argument parser) and a message that says what is wrong; none panics
//! (status 101) or aborts (a signal). The walk is recorded in docs/ROBUSTNESS.md.

mod tiny_run;

use dualscore::data::npy_f64_bytes;
use dualscore_core::rng::{RngKey, uniform_values};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tiny_run::TinyRun;

/// How long one case may run before it counts as a hang.
const LIMIT: Duration = Duration::from_secs(120);

/// The program's status and standard error for `args` (with one thread), or a failure after
/// [`LIMIT`].
fn run<S: AsRef<str> + std::fmt::Debug>(args: &[S]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualscore"))
        .args(["--threads", "1"])
        .args(args.iter().map(|a| a.as_ref()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env_remove("DUALSCORE_DEVICE")
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("{args:?} ran for more than {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

/// Asserts that `args` fails with `code` and a message holding each of `parts`, without a
/// panic or a signal.
#[track_caller]
fn fails<S: AsRef<str> + std::fmt::Debug>(code: i32, args: &[S], parts: &[&str]) {
    let (status, stderr) = run(args);
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    assert_eq!(status, Some(code), "{args:?}:\n{stderr}");
    for part in parts {
        assert!(
            stderr.contains(part),
            "{args:?}: {stderr:?} does not contain {part:?}"
        );
    }
}

/// The pieces of a command line, joined.
fn line(pieces: &[&[&str]]) -> Vec<String> {
    pieces.concat().iter().map(|s| s.to_string()).collect()
}

/// Files of every kind of bad input, in a temporary folder.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let images = |n: usize, side: usize| uniform_values(RngKey::new(3, 0), 0, n * side * side);
        let train = npy_f64_bytes(&images(64, 8), &[64, 8, 8]);
        std::fs::write(p.join("train.npy"), &train).unwrap();
        std::fs::write(
            p.join("test.npy"),
            npy_f64_bytes(&images(16, 8), &[16, 8, 8]),
        )
        .unwrap();
        std::fs::write(p.join("empty.npy"), npy_f64_bytes(&[], &[0, 8, 8])).unwrap();
        std::fs::write(p.join("rank1.npy"), npy_f64_bytes(&[0.5; 5], &[5])).unwrap();
        std::fs::write(p.join("no_rows.npy"), npy_f64_bytes(&[], &[4, 0, 8])).unwrap();
        std::fs::write(
            p.join("big.npy"),
            npy_f64_bytes(&images(2, 16), &[2, 16, 16]),
        )
        .unwrap();
        std::fs::write(p.join("truncated.npy"), &train[..200]).unwrap();
        std::fs::write(p.join("garbage.npy"), b"hello world").unwrap();
        let mut ints = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2, 2), }";
        let header = format!("{header:<117}\n");
        ints.extend((header.len() as u16).to_le_bytes());
        ints.extend(header.as_bytes());
        ints.extend([0u8; 16]);
        std::fs::write(p.join("ints.npy"), ints).unwrap();
        let gaussian = |extra: &str| {
            format!(
                r#"{{"kind": "gaussian", "shape": [1, 8, 8], "mean": 0.5, "variance": 0.01{extra}}}"#
            )
        };
        std::fs::write(p.join("gaussian.json"), gaussian("")).unwrap();
        std::fs::write(p.join("cut.json"), &gaussian("")[..20]).unwrap();
        std::fs::write(p.join("negative.json"), gaussian("").replace("0.01", "-1")).unwrap();
        std::fs::write(
            p.join("no_values.json"),
            gaussian("").replace("[1, 8, 8]", "[1, 0, 8]"),
        )
        .unwrap();
        std::fs::write(
            p.join("huge.json"),
            gaussian("").replace("[1, 8, 8]", "[1, 100000, 100000]"),
        )
        .unwrap();
        std::fs::create_dir(p.join("folder")).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

#[test]
fn bad_data_files_are_refused_with_their_reason() {
    let f = Files::new();
    let model = f.arg("gaussian.json");
    let cases: &[(&str, &[&str])] = &[
        ("missing.npy", &["cannot read"]),
        ("empty.npy", &["no images"]),
        ("rank1.npy", &["is not a set of images"]),
        ("no_rows.npy", &["H = 0"]),
        ("ints.npy", &["unsupported npy element type"]),
        ("truncated.npy", &["truncated npy file"]),
        ("garbage.npy", &["not a valid image file"]),
        ("folder", &["is a folder"]),
        ("big.npy", &["defined on images of shape [1, 8, 8]"]),
    ];
    for (name, parts) in cases {
        let test = f.arg(name);
        fails(1, &["nll", "--model", &model, "--test", &test], parts);
    }
    let test = f.arg("test.npy");
    let data = ["--model", &model, "--test", &test];
    for (flags, part) in [
        (&["--limit", "0"][..], "--limit must be at least 1"),
        (&["--patch", "0"], "patch size must be at least 1"),
        (
            &["--patch", "4", "--stride", "0"],
            "stride must be at least 1",
        ),
        (&["--patch", "100"], "smaller than the 100 x 100 patches"),
    ] {
        fails(1, &[&["nll"], &data[..], flags].concat(), &[part]);
    }
}

#[test]
fn bad_analytic_models_are_refused_with_their_reason() {
    let f = Files::new();
    let test = f.arg("test.npy");
    for (name, part) in [
        ("missing.json", "no such checkpoint folder or model file"),
        ("cut.json", "not an analytic model description"),
        ("negative.json", "a variance must be finite and >= 0"),
        ("no_values.json", "has no values"),
        ("huge.json", "analytic models hold at most"),
        ("train.npy", "the file is not text"),
        ("folder", "not a model folder (no checkpoint.json)"),
    ] {
        let model = f.arg(name);
        fails(1, &["nll", "--model", &model, "--test", &test], &[part]);
    }
}

#[test]
fn bad_numbers_of_the_measuring_commands_are_refused() {
    let f = Files::new();
    let (model, train, test) = (
        f.arg("gaussian.json"),
        f.arg("train.npy"),
        f.arg("test.npy"),
    );
    let m = ["--model", &model, "--test", &test];
    let cases: &[(i32, &[&str], &str)] = &[
        (
            1,
            &["nll", "--train", &train, "--ridge", "nan"],
            "ridge must be finite",
        ),
        (
            2,
            &["nll", "--train", &train, "--ridge", "-1"],
            "unexpected argument '-1'",
        ),
        (2, &["nll", "--t-max", "-1"], "unexpected argument '-1'"),
        (1, &["denoise", "--psnrs", "nan"], "input PSNR"),
        (1, &["denoise", "--psnrs", "1e308"], "input PSNR"),
        (1, &["dim", "--grid-min", "0"], "log_grid"),
        (1, &["dim", "--grid-min", "nan"], "log_grid"),
        (
            1,
            &["dim", "--grid-min", "10", "--grid-max", "1"],
            "log_grid",
        ),
        (1, &["dim", "--points", "1"], "at least 2 points"),
        (1, &["dim", "--draws", "0"], "--draws must be at least 1"),
        (1, &["dim", "--points", "100000000000000"], "does not fit"),
        (
            1,
            &["dim", "--points", "2", "--draws", "1000000000000000000"],
            "more than one key's sequence",
        ),
        (
            1,
            &["logp", "--out", &f.arg("folder")],
            "must end in .csv or .npy",
        ),
        (
            1,
            &["logp", "--out", &f.arg("out.txt")],
            "must end in .csv or .npy",
        ),
    ];
    for (code, args, part) in cases {
        let args = [&args[..1], &m[..], &args[1..]].concat();
        fails(*code, &args, &[part]);
    }
    let sample = |extra: &[&str]| {
        let out = f.arg("samples.png");
        line(&[&["sample", "--model", &model, "--out", &out], extra])
    };
    let cases: &[(&[&str], &str)] = &[
        (&["--count", "0"], "--count and --steps must be at least 1"),
        (&["--steps", "0"], "--count and --steps must be at least 1"),
        (&["--size", "0"], "leave out --size"),
        (&["--steps", "100000000000000"], "does not fit"),
        (
            &["--count", "1000000000000000"],
            "more than one key's sequence",
        ),
        (
            &["--steps", "2", "--count", "2", "--npy", &f.arg("folder")],
            "folder",
        ),
    ];
    for (extra, part) in cases {
        fails(1, &sample(extra), &[part]);
    }
    let report = |extra: &[&str]| {
        let out = f.arg("report");
        line(&[&["report"], &m, &["--out", &out], extra])
    };
    fails(
        1,
        &report(&["--sample-steps", "0"]),
        &["must be at least 1"],
    );
    let file = f.arg("train.npy");
    fails(
        1,
        &["report", "--model", &model, "--test", &test, "--out", &file],
        &["cannot create the folder"],
    );
}

#[test]
fn bad_training_flags_are_refused_before_training() {
    let f = Files::new();
    let train = f.arg("train.npy");
    let tiny = ["--base-width", "4", "--scales", "1", "--batch", "4"];
    let new_run = |name: &str, extra: &[&str]| {
        let out = f.arg(name);
        line(&[&["train", "--train", &train, "--out", &out], extra])
    };
    let cases: &[(i32, &[&str], &str)] = &[
        (1, &[], "say how long to train"),
        (
            1,
            &["--steps", "2", "--batch", "0"],
            "batch_size must be at least 1",
        ),
        (
            1,
            &["--steps", "2", "--lr", "nan"],
            "lr must be positive and finite",
        ),
        (
            1,
            &["--steps", "2", "--lr", "0"],
            "lr must be positive and finite",
        ),
        (1, &["--steps", "2", "--min-lr", "nan"], "min_lr"),
        (
            1,
            &["--steps", "2", "--minutes", "0"],
            "--minutes must be positive",
        ),
        (
            1,
            &["--steps", "2", "--minutes", "nan"],
            "--minutes must be positive",
        ),
        (
            1,
            &["--steps", "2", "--average-decay", "2"],
            "average_decay",
        ),
        (1, &["--steps", "2", "--sync-every", "0"], "sync_every"),
        (
            1,
            &["--steps", "2", "--lr-halve-every", "0"],
            "--lr-halve-every",
        ),
        (
            1,
            &["--steps", "2", "--base-width", "0"],
            "base_width must be positive",
        ),
        (
            1,
            &["--steps", "2", "--scales", "0"],
            "scales must be positive",
        ),
        (
            1,
            &["--steps", "2", "--scales", "5"],
            "multiple of 2^scales",
        ),
        (
            1,
            &["--steps", "2", "--layers-per-block", "0"],
            "layers_per_block",
        ),
        (
            1,
            &["--steps", "2", "--base-width", "100000000"],
            "parameters",
        ),
        (
            1,
            &["--steps", "2", "--batch", "100000000000000"],
            "does not fit in memory",
        ),
        (2, &["--steps", "-1"], "unexpected argument '-1'"),
    ];
    for (i, (code, extra, part)) in cases.iter().enumerate() {
        fails(*code, &new_run(&format!("run{i}"), extra), &[part]);
    }
    // A file where the run's folder should be; a constant image set (no variance).
    fails(
        1,
        &new_run("train.npy", &["--steps", "2"]),
        &["cannot create the folder"],
    );
    let one = f.path("one.npy");
    std::fs::write(&one, npy_f64_bytes(&[0.5; 64], &[1, 8, 8])).unwrap();
    let one = one.display().to_string();
    let out = f.arg("constant");
    fails(
        1,
        &[
            &["train", "--train", &one, "--out", &out, "--steps", "2"][..],
            &tiny[..],
        ]
        .concat(),
        &["data_variance"],
    );
}

/// A trained tiny model, and copies of its folder with one file missing or cut short.
#[test]
fn model_folders_with_a_file_missing_or_cut_short_are_refused() {
    let run = TinyRun::new(2, 0);
    let model = run.path("model");
    run.train(&model, 2, false);
    let test = run.path("test.npy").display().to_string();
    let check = |name: &str, spoil: &dyn Fn(&Path), part: &str| {
        let copy = run.path(name);
        copy_folder(&model, &copy);
        spoil(&copy);
        let copy = copy.display().to_string();
        fails(1, &["nll", "--model", &copy, "--test", &test], &[part]);
    };
    let file = |dir: &Path, prefix: &str| -> PathBuf {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap()
    };
    let cut = |path: &Path, keep: usize| {
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(path, &bytes[..keep.min(bytes.len())]).unwrap();
    };
    let edit = |dir: &Path, from: &str, to: &str| {
        let path = dir.join("checkpoint.json");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from} in {text}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    check(
        "no_weights",
        &|d| std::fs::remove_file(file(d, "model-")).unwrap(),
        "No such file",
    );
    check(
        "no_average",
        &|d| std::fs::remove_file(file(d, "averaged-")).unwrap(),
        "averaged-",
    );
    check(
        "cut_weights",
        &|d| cut(&file(d, "model-"), 500),
        "it may be truncated or corrupt",
    );
    check(
        "cut_json",
        &|d| cut(&d.join("checkpoint.json"), 300),
        "it may be truncated or corrupt",
    );
    check(
        "empty_json",
        &|d| cut(&d.join("checkpoint.json"), 0),
        "it may be truncated or corrupt",
    );
    check(
        "folder_weights",
        &|d| {
            let w = file(d, "model-");
            std::fs::remove_file(&w).unwrap();
            std::fs::create_dir(&w).unwrap();
        },
        "model-",
    );
    check(
        "zero_width",
        &|d| edit(d, "\"base_width\": 4", "\"base_width\": 0"),
        "base_width must be positive",
    );
    check(
        "huge_embedding",
        &|d| {
            edit(
                d,
                "\"embedding_frequencies\": 16",
                "\"embedding_frequencies\": 100000000000",
            )
        },
        "parameters",
    );
    check(
        "other_step",
        &|d| edit(d, "\"step\": 2,", "\"step\": 3,"),
        "belongs to step 2",
    );
    check(
        "f16",
        &|d| edit(d, "\"dtype\": \"f32\"", "\"dtype\": \"f16\""),
        "f32 models",
    );
    // The same folder is refused by the other commands that open a model.
    let cut_json = run.path("cut_json").display().to_string();
    let out = run.path("samples.png").display().to_string();
    fails(
        1,
        &["sample", "--model", &cut_json, "--out", &out],
        &["truncated or corrupt"],
    );
    fails(
        1,
        &["nll", "--model", &cut_json, "--test", &test],
        &["truncated or corrupt"],
    );
    // Image sides the model does not take, with a Gaussian base and without one (where the
    // size of a sample itself overflows).
    let model = model.display().to_string();
    let sample = |model: &str, size: &str, part: &str| {
        let args = [
            "sample", "--model", model, "--size", size, "--steps", "1", "--out", &out,
        ];
        fails(1, &args, &[part]);
    };
    sample(&model, "7", "divisible by 2");
    sample(&model, "16", "fitted on images of 1x8x8");
    let plain = run.path("no_base").display().to_string();
    let train = run.path("train.npy").display().to_string();
    let args = [
        "train",
        "--train",
        &train,
        "--out",
        &plain,
        "--steps",
        "1",
        "--preset",
        "small",
        "--base-width",
        "4",
        "--scales",
        "1",
        "--batch",
        "4",
    ];
    assert_eq!(run_status(&args), Some(0));
    sample(&plain, "0", "sample");
    sample(&plain, "100000000000", "is too large");
}

fn run_status(args: &[&str]) -> Option<i32> {
    let (status, stderr) = run(args);
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    status
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

/// `--resume` in a folder that a run left before its first checkpoint starts the run from step 0
/// (and ends as an uninterrupted run does); in a folder that does not exist it says what to do.
#[test]
fn resume_before_the_first_checkpoint_starts_again() {
    let run = TinyRun::new(2, 0);
    let reference = run.path("reference");
    run.train(&reference, 4, false);
    let out = run.path("killed");
    run.train(&out, 4, false);
    // What a run killed before its first checkpoint leaves: the folder and metrics.jsonl.
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "metrics.jsonl" {
            std::fs::remove_file(path).unwrap();
        }
    }
    let output = run.train(&out, 4, true);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("holds no checkpoint yet"), "{stdout}");
    tiny_run::assert_same_run(&reference, &out);
    let missing = run.path("missing");
    let output = run.command(&missing, 4, true).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no run to resume (no such folder)"),
        "{stderr}"
    );
}

#[test]
fn the_other_commands_refuse_bad_input() {
    let f = Files::new();
    let train = f.arg("train.npy");
    let out = f.arg("out");
    let missing = f.arg("missing");
    let garbage = f.arg("garbage.npy");
    let folder = f.arg("folder");
    let metrics = f.path("bad_run");
    std::fs::create_dir(&metrics).unwrap();
    std::fs::write(metrics.join("metrics.jsonl"), "not json\n").unwrap();
    let bad_run = metrics.display().to_string();
    let cases: &[(i32, &[&str], &str)] = &[
        (1, &["import", &missing, "--out", &out], "cannot read"),
        (
            1,
            &["import", &garbage, "--out", &out],
            "not a safetensors file",
        ),
        (1, &["import", &folder, "--out", &out], "Is a directory"),
        (1, &["curves", "--run", &missing], "metrics.jsonl"),
        (1, &["curves", "--run", &bad_run], "cannot parse"),
        (
            1,
            &[
                "synth",
                "--family",
                "field",
                "--train-count",
                "0",
                "--out",
                &out,
            ],
            "at least 1",
        ),
        (
            1,
            &[
                "synth",
                "--family",
                "field",
                "--train-count",
                "1000000000000000",
                "--out",
                &out,
            ],
            "samples of 256 values",
        ),
        (
            1,
            &[
                "synth",
                "--family",
                "field",
                "--train-count",
                "4",
                "--test-count",
                "4",
                "--entropy-samples",
                "1000000000000000",
                "--out",
                &out,
            ],
            "sample_rows",
        ),
        (
            1,
            &["synth", "--model", &f.arg("cut.json"), "--out", &out],
            "not an analytic model",
        ),
        (
            1,
            &["synth", "--family", "field", "--out", &train],
            "cannot create the folder",
        ),
        (
            1,
            &["bench", "--batch", "0", "--steps", "1"],
            "must be at least 1",
        ),
        (
            1,
            &["bench", "--batch", "100000000000000", "--steps", "1"],
            "do not fit in memory",
        ),
        (
            1,
            &["bench", "--size", "10000000000", "--steps", "1"],
            "too large",
        ),
        (2, &["--device", "bogus", "info"], "--device"),
        (2, &["--threads", "0", "info"], "--threads"),
        (
            1,
            &["demo", "--minutes", "nan", "--out", &out],
            "--minutes must be positive",
        ),
        (
            2,
            &["demo", "--minutes", "-1", "--out", &out],
            "unexpected argument '-1'",
        ),
        (1, &["demo", "--quick", "--out", &train], "model"),
        (1, &["nll", "--model", &f.arg("gaussian.json")], "test"),
        (1, &["train", "--out", &out, "--steps", "1"], "train"),
    ];
    for (code, args, part) in cases {
        fails(*code, args, &[part]);
    }
}
