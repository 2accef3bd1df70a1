//! `--device`: a checkpoint trained on the CPU resumes and is measured on a GPU (and back), the
//! same numbers within f32 rounding; `info` lists the devices; a GPU that cannot be used, and a
//! device that does not exist, are clear errors, never a panic. The GPU parts run only where a
//! GPU is present (`dualscore_cuda::testing::device`), and say that they skip otherwise.

use dualscore::app::run;
use dualscore::data::npy_f64_bytes;
use dualscore_core::energy::analytic::{AnalyticDensity, Gaussian};
use dualscore_core::rng::RngKey;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Whether a test that needs a GPU can run: prints why it skips when not (and fails then under
/// `DUALSCORE_REQUIRE_GPU=1`).
fn gpu_for_test() -> bool {
    dualscore_cuda::testing::device().is_some()
}

/// Whether this build sees a GPU, asked of the driver without counting as a device test.
fn gpu_present() -> bool {
    dualscore_cuda::devices().is_ok_and(|d| !d.is_empty())
}

/// Runs the program with `--json --threads 2` and `args`.
fn run_json(args: &[&str]) -> Result<Value, String> {
    let mut all = vec!["dualscore", "--json", "--threads", "2"];
    all.extend_from_slice(args);
    let mut out = Vec::new();
    run(&all, &mut out, false).map_err(|e| e.to_string())
}

fn ok(args: &[&str]) -> Value {
    run_json(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn number(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {v}"))
}

/// Writes 128 training and 32 test images of 8x8 from a Gaussian into `dir`.
fn write_data(dir: &Path) -> (String, String) {
    let g = Gaussian::isotropic(vec![0.5; 64], 0.01).unwrap();
    let paths = [("train.npy", 128, 1), ("test.npy", 32, 2)].map(|(name, n, stream)| {
        let rows = g.sample_rows(n, 0.0, RngKey::new(stream, 0)).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, npy_f64_bytes(&rows, &[n, 8, 8])).unwrap();
        path.display().to_string()
    });
    let [train, test] = paths;
    (train, test)
}

/// A tiny `train` of `device` into `out` up to `steps`.
fn train<'a>(device: &'a str, out: &'a str, steps: &'a str, data: &'a (String, String)) -> Value {
    ok(&[
        "--device",
        device,
        "train",
        "--train",
        &data.0,
        "--test",
        &data.1,
        "--out",
        out,
        "--steps",
        steps,
        "--batch",
        "8",
        "--base-width",
        "4",
        "--scales",
        "1",
        "--checkpoint-every",
        "2",
        "--eval-images",
        "16",
    ])
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

#[test]
fn a_checkpoint_trained_on_the_cpu_continues_on_a_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path());
    let run_dir = dir.path().join("run").display().to_string();
    let first = train("cpu", &run_dir, "4", &data);
    assert_eq!(number(&first, "/result/step"), 4.0);
    if !gpu_for_test() {
        return;
    }
    // The CPU's run to 6 steps, beside the same run resumed on the GPU at step 4.
    let straight_dir = dir.path().join("straight").display().to_string();
    let straight = train("cpu", &straight_dir, "6", &data);
    let resumed = {
        let mut args = vec!["--device", "cuda"];
        let base = [
            "train", "--train", &data.0, "--test", &data.1, "--out", &run_dir, "--steps", "6",
            "--resume",
        ];
        args.extend(base);
        ok(&args)
    };
    assert_eq!(number(&resumed, "/result/steps_run"), 2.0);
    let (gpu_loss, cpu_loss) = (
        number(&resumed, "/result/last/loss"),
        number(&straight, "/result/last/loss"),
    );
    assert!(close(gpu_loss, cpu_loss, 1e-2), "{gpu_loss} vs {cpu_loss}");

    // The GPU's checkpoint measured on both devices: the CPU estimates and stores the
    // constant, the GPU reads it, then estimates it again.
    let nll = |device: &str, extra: &[&str]| {
        let mut args = vec![
            "--device", device, "nll", "--model", &run_dir, "--train", &data.0, "--test", &data.1,
        ];
        args.extend_from_slice(extra);
        ok(&args)
    };
    let on_cpu = nll("cpu", &[]);
    let on_gpu = nll("cuda:0", &[]);
    assert_eq!(on_gpu.pointer("/result/constant/source").unwrap(), "stored");
    let bits = "/result/summary/nll_bits_per_dim";
    let (g, c) = (number(&on_gpu, bits), number(&on_cpu, bits));
    assert!(close(g, c, 1e-4), "{g} vs {c}");
    let estimated = nll("cuda", &["--recompute-constant"]);
    let constant = "/result/constant/value";
    let (g, c) = (number(&estimated, constant), number(&on_cpu, constant));
    assert!(close(g, c, 1e-3), "constant {g} vs {c}");
}

#[test]
fn bench_times_the_gpu_when_there_is_one() {
    if !gpu_for_test() {
        return;
    }
    let value = ok(&[
        "--device", "cuda", "bench", "--scales", "1", "--size", "8", "--batch", "2", "--steps",
        "2", "--warmup", "1", "--sgemm", "64",
    ]);
    let r = &value["result"];
    assert!(
        r["setup"]["backend"]
            .as_str()
            .unwrap()
            .starts_with("cuda:0"),
        "{r}"
    );
    for key in [
        "/train_step_ms",
        "/score_ms",
        "/logp_ms",
        "/sgemm/0/best_gflops",
    ] {
        let x = number(r, key);
        assert!(x.is_finite() && x > 0.0, "{key} = {x}");
    }
}

#[test]
fn info_lists_the_cpu_and_what_cuda_can_reach() {
    let info = ok(&["info"]);
    let r = &info["result"];
    assert_eq!(r["device"], "cpu");
    assert_eq!(r["backend"], "cpu (2 threads)");
    assert_eq!(r["cpu"]["threads"], 2);
    assert!(r["version"].is_string());
    let cuda = &r["cuda"];
    assert_eq!(cuda["built"], dualscore_cuda::BUILT_WITH_CUDA);
    let gpus = cuda["devices"].as_array().unwrap();
    if gpu_present() {
        assert!(cuda["unavailable"].is_null(), "{cuda}");
        for (i, gpu) in gpus.iter().enumerate() {
            assert_eq!(gpu["device"], format!("cuda:{i}"));
            let memory = gpu["memory_bytes"].as_u64().unwrap();
            // (The kernel emulator of tests reports no memory.)
            assert!(memory > 0 || !dualscore_cuda::BUILT_WITH_CUDA, "{gpu}");
            assert!(gpu["name"].is_string() && gpu["compute_capability"].is_string());
        }
    } else {
        assert!(gpus.is_empty());
        let reason = cuda["unavailable"].as_str().unwrap();
        if !dualscore_cuda::BUILT_WITH_CUDA {
            assert!(reason.contains("built without CUDA"), "{reason}");
        }
    }
    // The chosen device is reported, and has no backend when it cannot be used.
    let chosen = ok(&["--device", "cuda:7", "info"]);
    assert_eq!(chosen["result"]["device"], "cuda:7");
    if !gpu_present() {
        assert!(chosen["result"]["backend"].is_null(), "{chosen}");
    }
}

#[test]
fn a_gpu_that_cannot_be_used_is_a_clear_error() {
    if gpu_present() {
        println!("a CUDA device is present, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fields").display().to_string();
    let err = run_json(&[
        "--device", "cuda", "synth", "--family", "field", "--out", &out,
    ])
    .unwrap_err();
    assert!(err.starts_with("--device cuda:0: "), "{err}");
    if dualscore_cuda::BUILT_WITH_CUDA {
        assert!(err.contains("no CUDA device can be used"), "{err}");
    } else {
        assert!(err.contains("built without CUDA"), "{err}");
        assert!(err.contains("--features cuda"), "{err}");
    }
    assert!(!Path::new(&out).exists(), "nothing runs without its device");
}

#[test]
fn an_unknown_device_is_a_usage_error_naming_the_forms() {
    for bad in ["nonsense", "gpu", "cuda:x", "cuda:-1"] {
        let err = run_json(&["--device", bad, "info"]).unwrap_err();
        assert!(err.contains(&format!("'{bad}'")), "{bad}: {err}");
        assert!(err.contains("cpu, cuda") && err.contains("cuda:N"), "{err}");
    }
}

/// The real program: the error goes to standard error with exit status 1, not a panic; the
/// environment variable chooses the device when `--device` is not given.
#[test]
fn the_program_reports_device_errors_and_reads_the_environment() {
    let program = |args: &[&str], device_env: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dualscore"));
        command.args(args).env_remove("DUALSCORE_DEVICE");
        if let Some(value) = device_env {
            command.env("DUALSCORE_DEVICE", value);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        (output.status.code(), stderr)
    };
    let (code, stderr) = program(&["--device", "nonsense", "info"], None);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("'nonsense'"), "{stderr}");

    let (code, stderr) = program(&["info"], Some("gpu"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("DUALSCORE_DEVICE: unknown device 'gpu'"),
        "{stderr}"
    );
    // --device wins over the environment.
    let (code, stderr) = program(&["--device", "cpu", "--threads", "1", "info"], Some("gpu"));
    assert_eq!(code, Some(0), "{stderr}");

    if !gpu_present() {
        let args = [
            "--threads",
            "1",
            "synth",
            "--family",
            "field",
            "--write-model",
        ];
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.json").display().to_string();
        let (code, stderr) = program(&[&args[..], &[&file]].concat(), Some("cuda"));
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.starts_with("error: --device cuda:0: "), "{stderr}");
    }
}

/// `--sync-every K` reads the loss back once every K steps: the run, its metrics file and its
/// checkpoint are the same as with K = 1.
#[test]
fn sync_every_changes_when_values_are_read_not_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path());
    let losses = |k: &str| {
        let out = dir.path().join(format!("sync{k}"));
        let out = out.display().to_string();
        let mut args = vec![
            "--device", "cpu", "train", "--train", &data.0, "--out", &out,
        ];
        args.extend([
            "--steps",
            "7",
            "--batch",
            "8",
            "--base-width",
            "4",
            "--scales",
            "1",
        ]);
        args.extend(["--checkpoint-every", "3", "--sync-every", k]);
        let result = ok(&args);
        assert_eq!(number(&result, "/result/step"), 7.0);
        let metrics = std::fs::read_to_string(Path::new(&out).join("metrics.jsonl")).unwrap();
        let lines: Vec<(f64, f64)> = metrics
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (number(&v, "/step"), number(&v, "/loss"))
            })
            .collect();
        (lines, number(&result, "/result/last/loss"))
    };
    let (every_step, last_1) = losses("1");
    let (every_fourth, last_4) = losses("4");
    assert_eq!(every_step.len(), 7);
    assert_eq!(every_step, every_fourth);
    assert_eq!(last_1, last_4);
    assert_eq!(last_1, every_step[6].1);
}
