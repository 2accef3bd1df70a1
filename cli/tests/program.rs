//! The program end to end, through its own entry point (`dualscore::app::run`), on generated
//! data: every command runs on a trained network, and on an analytic Gaussian, where the
//! measurements are checked against exact values.
//!
//! The data are exact samples of N(m, s I) on 8x8 images (m = 0.5, s = 0.01). For this
//! density, with y = x + sqrt(t) z:
//! - -log p(x) = ||x - m||^2 / (2 s) + d/2 ln(2 pi s), so the NLL and every log p are exact;
//! - the denoiser's error is xhat - x = (s sqrt(t) z - t (x - m)) / (s + t), whose mean square
//!   per pixel over z is (s^2 t d + t^2 ||x - m||^2) / ((s + t)^2 d) for each image;
//! - d_eff(x, t) = E_z ||xhat - x||^2 / t = (s^2 d + t ||x - m||^2) / (s + t)^2.
//!
//! Monte Carlo results (denoising, d_eff) are compared within 5 of their own standard errors;
//! deterministic ones (log p, NLL) within 1e-9 relative (f64 throughout).

mod common;

use dualscore::app::run;
use dualscore::data::npy_f64_bytes;
use dualscore_core::energy::analytic::{AnalyticDensity, Gaussian};
use dualscore_core::rng::RngKey;
use serde_json::Value;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

const MEAN: f64 = 0.5;
const VARIANCE: f64 = 0.01;
const SIDE: usize = 8;
const D: usize = SIDE * SIDE;

struct Fixture {
    dir: tempfile::TempDir,
    test_values: Vec<f64>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let g = Gaussian::isotropic(vec![MEAN; D], VARIANCE).unwrap();
        let train = g.sample_rows(256, 0.0, RngKey::new(1, 0)).unwrap();
        let test = g.sample_rows(64, 0.0, RngKey::new(2, 0)).unwrap();
        std::fs::write(
            dir.path().join("train.npy"),
            npy_f64_bytes(&train, &[256, SIDE, SIDE]),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("test.npy"),
            npy_f64_bytes(&test, &[64, SIDE, SIDE]),
        )
        .unwrap();
        let spec = format!(
            r#"{{"kind": "gaussian", "shape": [1, {SIDE}, {SIDE}], "mean": {MEAN}, "variance": {VARIANCE}}}"#
        );
        std::fs::write(dir.path().join("gaussian.json"), spec).unwrap();
        Fixture {
            dir,
            test_values: test,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Runs the program with `args` and `--json`; returns the result and checks that the last
    /// printed line is the same JSON object.
    fn run(&self, args: &[&str]) -> Value {
        common::run_json(args)
    }

    fn run_err(&self, args: &[&str]) -> String {
        common::run_err(args)
    }

    /// ||x - m||^2 of every test image.
    fn squared_distances(&self) -> Vec<f64> {
        self.test_values
            .chunks(D)
            .map(|x| x.iter().map(|v| (v - MEAN).powi(2)).sum())
            .collect()
    }
}

fn exact_neg_log_p(r2: f64) -> f64 {
    exact_neg_log_p_in(D, r2)
}

/// -log p of an image at squared distance `r2` from the mean of the isotropic Gaussian
/// N(MEAN, VARIANCE I) in dimension `d`.
fn exact_neg_log_p_in(d: usize, r2: f64) -> f64 {
    r2 / (2.0 * VARIANCE) + 0.5 * d as f64 * (2.0 * PI * VARIANCE).ln()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

fn number(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {v}"))
}

#[test]
fn analytic_gaussian_measurements_are_exact() {
    let f = Fixture::new();
    let (model, train, test) = (
        f.arg("gaussian.json"),
        f.arg("train.npy"),
        f.arg("test.npy"),
    );
    let r2 = f.squared_distances();
    let exact: Vec<f64> = r2.iter().map(|&r| exact_neg_log_p(r)).collect();
    let exact_mean = exact.iter().sum::<f64>() / exact.len() as f64;

    // nll: the constant is exactly 0 and the NLL is the exact mean -log p in bits/dim.
    let nll = f.run(&["nll", "--model", &model, "--train", &train, "--test", &test]);
    assert_eq!(number(&nll, "/result/constant/value"), 0.0);
    assert_eq!(nll.pointer("/result/constant/source").unwrap(), "exact");
    let bits = 8.0 + exact_mean / (D as f64 * 2f64.ln());
    let got = number(&nll, "/result/summary/nll_bits_per_dim");
    assert!(close(got, bits, 1e-9), "{got} vs {bits}");
    // The fitted Gaussian baseline is close to the truth on its own samples, and not better
    // than it by more than the fit's optimism allows.
    let baseline = number(&nll, "/result/baseline/summary/nll_bits_per_dim");
    assert!((baseline - bits).abs() < 0.25, "{baseline} vs {bits}");

    // logp: every image's log p, in nats and dB/dim.
    let csv = f.path("logp.csv");
    f.run(&[
        "logp",
        "--model",
        &model,
        "--test",
        &test,
        "--out",
        csv.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 64);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], i as f64);
        assert!(
            close(row[1], -exact[i], 1e-9),
            "image {i}: {} vs {}",
            row[1],
            -exact[i]
        );
        let db = -10.0 * exact[i] / (D as f64 * 10f64.ln());
        assert!(close(row[2], db, 1e-9));
    }
    // The same as .npy.
    let npy = f.path("logp.npy");
    f.run(&[
        "logp",
        "--model",
        &model,
        "--test",
        &test,
        "--out",
        npy.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&npy).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(
        header.contains("'descr': '<f8'") && header.contains("'shape': (64, 2)"),
        "{header}"
    );
    let values: Vec<f64> = bytes[10 + header_len..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(values.len(), 128);
    assert!(close(values[0], -exact[0], 1e-9) && close(values[3], rows[1][2], 1e-12));

    // denoise: the mean square error per pixel at each level, against its exact conditional
    // expectation given the test images.
    let denoise = f.run(&[
        "denoise",
        "--model",
        &model,
        "--test",
        &test,
        "--psnrs",
        "30,20,10,-10",
    ]);
    for level in denoise
        .pointer("/result/levels")
        .unwrap()
        .as_array()
        .unwrap()
    {
        let t = number(level, "/noise_variance");
        let s = VARIANCE;
        let want = r2
            .iter()
            .map(|&r| (s * s * t * D as f64 + t * t * r) / ((s + t).powi(2) * D as f64))
            .sum::<f64>()
            / r2.len() as f64;
        let (mse, se) = (number(level, "/mse/mean"), number(level, "/mse/std_error"));
        assert!(
            (mse - want).abs() < 5.0 * se,
            "t = {t}: {mse} vs {want} (se {se})"
        );
        let psnr = number(level, "/output_psnr_db");
        assert!(close(psnr, -10.0 * mse.log10(), 1e-12));
    }

    // dim: the mean d_eff at each t against the exact value, and the I-MMSE check.
    let dim = f.run(&[
        "dim",
        "--model",
        &model,
        "--test",
        &test,
        "--grid-min",
        "1e-4",
        "--grid-max",
        "10",
        "--points",
        "11",
        "--draws",
        "4",
    ]);
    let ts = dim
        .pointer("/result/noise_variances")
        .unwrap()
        .as_array()
        .unwrap();
    let d_eff = dim
        .pointer("/result/mean_d_eff")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(ts.len(), 11);
    for (t, e) in ts.iter().zip(d_eff) {
        let (t, s) = (t.as_f64().unwrap(), VARIANCE);
        let want = r2
            .iter()
            .map(|&r| (s * s * D as f64 + t * r) / (s + t).powi(2))
            .sum::<f64>()
            / r2.len() as f64;
        let (got, se) = (number(e, "/mean"), number(e, "/std_error"));
        assert!(
            (got - want).abs() < 5.0 * se + 1e-9 * want,
            "t = {t}: {got} vs {want} (se {se})"
        );
    }
    let direct = number(&dim, "/result/immse_check/direct_db_per_dim");
    let direct_want = -10.0 * exact_mean / (D as f64 * 10f64.ln());
    assert!(
        close(direct, direct_want, 1e-9),
        "{direct} vs {direct_want}"
    );

    // sample: pixel statistics of the Gaussian.
    let png = f.path("samples.png");
    let sample = f.run(&[
        "sample",
        "--model",
        &model,
        "--count",
        "64",
        "--steps",
        "200",
        "--out",
        png.to_str().unwrap(),
    ]);
    let (mean, std) = (
        number(&sample, "/result/pixel_mean"),
        number(&sample, "/result/pixel_std"),
    );
    // 4096 values: the mean's standard error is 0.1 / 64; the sampler's bias is below 1e-3.
    assert!((mean - MEAN).abs() < 0.01, "{mean}");
    assert!((std - VARIANCE.sqrt()).abs() < 0.01, "{std}");
    assert!(image::open(&png).is_ok());

    // report: the folder with its figures, and the exact NLL in report.md.
    let out = f.path("report");
    let report = f.run(&[
        "report",
        "--model",
        &model,
        "--train",
        &train,
        "--test",
        &test,
        "--out",
        out.to_str().unwrap(),
        "--dim-images",
        "8",
        "--dim-points",
        "8",
        "--samples",
        "4",
        "--sample-steps",
        "20",
    ]);
    let got = number(&report, "/result/nll/summary/nll_bits_per_dim");
    assert!(close(got, bits, 1e-9));
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(markdown.contains(&format!("{bits:.4}")), "{markdown}");
    for figure in report
        .pointer("/result/figures")
        .unwrap()
        .as_array()
        .unwrap()
    {
        let name = figure.as_str().unwrap();
        assert!(markdown.contains(name), "{name} not shown in report.md");
        assert!(image::open(out.join(name)).is_ok(), "{name}");
    }
}

fn train_args<'a>(
    f: &'a Fixture,
    out: &'a str,
    steps: &'a str,
    train: &'a str,
    test: &'a str,
) -> Vec<&'a str> {
    let _ = f;
    vec![
        "train",
        "--train",
        train,
        "--test",
        test,
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
        "--layers-per-block",
        "2",
        "--checkpoint-every",
        "3",
        "--eval-images",
        "16",
        "--center",
        "--time-offset",
    ]
}

/// The fast preset's model starts as the Gaussian fitted on the training images: at step 0 its
/// NLL is the baseline's, within the sampling error of the normalization constant, and images
/// of another shape are refused.
#[test]
fn a_fast_model_starts_as_the_gaussian_baseline() {
    let f = Fixture::new();
    let (train, test) = (f.arg("train.npy"), f.arg("test.npy"));
    let run_dir = f.arg("start");
    f.run(&[
        "train", "--train", &train, "--test", &test, "--out", &run_dir, "--steps", "0", "--scales",
        "1",
    ]);
    let nll = f.run(&[
        "nll", "--model", &run_dir, "--train", &train, "--test", &test,
    ]);
    let model = number(&nll, "/result/summary/nll_bits_per_dim");
    let baseline = number(&nll, "/result/baseline/summary/nll_bits_per_dim");
    let constant_error = number(&nll, "/result/constant/std_error") / (D as f64 * 2f64.ln());
    assert!(
        (model - baseline).abs() <= 5.0 * constant_error + 1e-4,
        "model {model} vs baseline {baseline} (constant's error {constant_error} bits/dim)"
    );
    // An untrained faithful model is nowhere near (its NLL is the constant's, ~15 bits/dim).
    let faithful_dir = f.arg("faithful");
    f.run(&[
        "train",
        "--train",
        &train,
        "--out",
        &faithful_dir,
        "--steps",
        "0",
        "--preset",
        "small",
        "--scales",
        "1",
    ]);
    let faithful = f.run(&[
        "nll",
        "--model",
        &faithful_dir,
        "--train",
        &train,
        "--test",
        &test,
    ]);
    assert!(number(&faithful, "/result/summary/nll_bits_per_dim") > baseline + 1.0);
    // The base was fitted on 8x8 images.
    let wide = f.path("wide.npy");
    std::fs::write(&wide, npy_f64_bytes(&vec![0.5; 4 * 8 * 16], &[4, 8, 16])).unwrap();
    let err = f.run_err(&["nll", "--model", &run_dir, "--test", wide.to_str().unwrap()]);
    assert!(err.contains("1x8x8"), "{err}");
}

/// Above 1,024 values per image the fast preset's base is separable: the model starts as that
/// Gaussian (for isotropic data, the truth up to sampling error), and a full base is refused
/// with a message that names the alternatives.
#[test]
fn a_fast_model_of_large_images_starts_as_its_separable_base() {
    let f = Fixture::new();
    let side = 36;
    let d = side * side;
    let g = Gaussian::isotropic(vec![MEAN; d], VARIANCE).unwrap();
    let train = f.path("big-train.npy");
    let test = f.path("big-test.npy");
    let train_rows = g.sample_rows(2000, 0.0, RngKey::new(3, 0)).unwrap();
    let test_rows = g.sample_rows(200, 0.0, RngKey::new(4, 0)).unwrap();
    std::fs::write(&train, npy_f64_bytes(&train_rows, &[2000, side, side])).unwrap();
    std::fs::write(&test, npy_f64_bytes(&test_rows, &[200, side, side])).unwrap();
    let (train, test) = (train.to_str().unwrap(), test.to_str().unwrap());
    let run_dir = f.arg("big");
    f.run(&[
        "train",
        "--train",
        train,
        "--test",
        test,
        "--out",
        &run_dir,
        "--steps",
        "0",
        "--scales",
        "1",
        "--base-width",
        "4",
    ]);
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(f.path("big/checkpoint.json")).unwrap())
            .unwrap();
    assert_eq!(info["model_config"]["energy"]["base_basis"], "separable");
    let nll = f.run(&["nll", "--model", &run_dir, "--train", train, "--test", test]);
    let model = number(&nll, "/result/summary/nll_bits_per_dim");
    let constant_error = number(&nll, "/result/constant/std_error") / (d as f64 * 2f64.ln());
    let truth = test_rows
        .chunks(d)
        .map(|x| {
            let r2: f64 = x.iter().map(|v| (v - MEAN).powi(2)).sum();
            exact_neg_log_p_in(d, r2)
        })
        .sum::<f64>()
        / 200.0;
    let truth_bits = 8.0 + truth / (d as f64 * 2f64.ln());
    assert!(
        (model - truth_bits).abs() <= 0.02 + 5.0 * constant_error,
        "model {model} vs truth {truth_bits} bits/dim"
    );
    let err = f.run_err(&[
        "train",
        "--train",
        train,
        "--out",
        &f.arg("full"),
        "--steps",
        "0",
        "--base",
        "gaussian",
    ]);
    assert!(err.contains("--base separable"), "{err}");
}

#[test]
fn a_trained_network_runs_through_every_command() {
    let f = Fixture::new();
    let (train, test) = (f.arg("train.npy"), f.arg("test.npy"));
    let run_dir = f.arg("run");

    // Train 4 steps, then resume to 7: the metrics file has one line per step, and the
    // resumed run equals an uninterrupted one.
    let first = f.run(&train_args(&f, &run_dir, "4", &train, &test));
    assert_eq!(number(&first, "/result/step"), 4.0);
    let resumed = {
        let mut args = train_args(&f, &run_dir, "7", &train, &test);
        args.push("--resume");
        f.run(&args)
    };
    assert_eq!(number(&resumed, "/result/steps_run"), 3.0);
    let straight_dir = f.arg("straight");
    let mut straight_args = train_args(&f, &straight_dir, "7", &train, &test);
    straight_args.extend(["--eval-every", "7"]);
    let straight = f.run(&straight_args);
    // The starting point is evaluated, and the last step's evaluation is logged once, not
    // again at the end.
    let evals = std::fs::read_to_string(Path::new(&straight_dir).join("eval.jsonl")).unwrap();
    let steps: Vec<u64> = evals
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, [0, 7], "{evals}");
    assert_eq!(
        resumed.pointer("/result/last/loss"),
        straight.pointer("/result/last/loss"),
        "a resumed run must continue exactly"
    );
    let metrics = std::fs::read_to_string(Path::new(&run_dir).join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 7);
    let bands = resumed
        .pointer("/result/evaluation/bands")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(bands.len(), 3);

    // A second run into the same folder is refused.
    let again = f.run_err(&train_args(&f, &run_dir, "7", &train, &test));
    assert!(again.contains("--resume"), "{again}");

    // nll computes the constant once and then reads it from the checkpoint.
    let nll = f.run(&[
        "nll", "--model", &run_dir, "--train", &train, "--test", &test,
    ]);
    assert_eq!(nll.pointer("/result/constant/source").unwrap(), "estimated");
    assert!(number(&nll, "/result/summary/nll_bits_per_dim").is_finite());
    let nll2 = f.run(&[
        "nll", "--model", &run_dir, "--train", &train, "--test", &test,
    ]);
    assert_eq!(nll2.pointer("/result/constant/source").unwrap(), "stored");
    assert_eq!(
        nll.pointer("/result/summary/nll_bits_per_dim"),
        nll2.pointer("/result/summary/nll_bits_per_dim")
    );

    let csv = f.arg("trained_logp.csv");
    f.run(&["logp", "--model", &run_dir, "--test", &test, "--out", &csv]);
    f.run(&[
        "denoise", "--model", &run_dir, "--test", &test, "--psnrs", "20,0",
    ]);
    f.run(&[
        "dim", "--model", &run_dir, "--test", &test, "--points", "5", "--limit", "8",
    ]);
    let png = f.arg("trained_samples.png");
    f.run(&[
        "sample", "--model", &run_dir, "--count", "4", "--steps", "10", "--out", &png,
    ]);
    let out = f.arg("trained_report");
    let report = f.run(&[
        "report",
        "--model",
        &run_dir,
        "--train",
        &train,
        "--test",
        &test,
        "--out",
        &out,
        "--images",
        "64",
        "--dim-images",
        "4",
        "--dim-points",
        "5",
        "--samples",
        "4",
        "--sample-steps",
        "10",
    ]);
    let figures = report
        .pointer("/result/figures")
        .unwrap()
        .as_array()
        .unwrap();
    assert!(figures.iter().any(|f| f == "training_loss.png"));
    assert!(Path::new(&out).join("report.md").exists());

    // Images the network cannot take are refused with the reason.
    let odd = f.path("odd.npy");
    std::fs::write(&odd, npy_f64_bytes(&vec![0.5; 2 * 49], &[2, 7, 7])).unwrap();
    let err = f.run_err(&["nll", "--model", &run_dir, "--test", odd.to_str().unwrap()]);
    assert!(
        err.contains("divisible by 2") && err.contains("7x7"),
        "{err}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let f = Fixture::new();
    std::fs::write(
        f.path("bad.json"),
        r#"{"kind": "gaussian", "shape": [1, 8, 8], "mean": 0.5}"#,
    )
    .unwrap();
    let (gaussian, test, train) = (
        f.arg("gaussian.json"),
        f.arg("test.npy"),
        f.arg("train.npy"),
    );
    let (nowhere, absent, bad, r, txt) = (
        f.arg("nowhere"),
        f.arg("absent.npy"),
        f.arg("bad.json"),
        f.arg("r"),
        f.arg("x.txt"),
    );
    // (command line, what the message must contain)
    let cases: [(Vec<&str>, Vec<&str>); 7] = [
        (
            vec!["nll", "--model", &nowhere, "--test", &test],
            vec!["nowhere", "no such"],
        ),
        (
            vec!["nll", "--model", &gaussian, "--test", &absent],
            vec!["absent.npy"],
        ),
        (
            vec!["nll", "--model", &bad, "--test", &test],
            vec!["bad.json", "variance"],
        ),
        (
            vec!["train", "--train", &train, "--out", &r],
            vec!["--steps"],
        ),
        (
            vec!["train", "--train", &train, "--out", &r, "--minutes", "0"],
            vec!["--minutes must be positive"],
        ),
        (
            vec!["logp", "--model", &gaussian, "--test", &test, "--out", &txt],
            vec![".csv or .npy"],
        ),
        (vec!["frobnicate"], vec!["frobnicate"]),
    ];
    for (args, expected) in cases {
        let err = f.run_err(&args);
        for part in expected {
            assert!(err.contains(part), "{args:?}: {err}");
        }
    }
    assert!(
        !f.path("r").exists(),
        "a refused run must not leave a folder"
    );
}

#[test]
fn the_quick_demo_writes_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let mut buf = Vec::new();
    let value = run(
        [
            "dualscore",
            "--json",
            "demo",
            "--quick",
            "--minutes",
            "0.05",
            "--out",
            out.to_str().unwrap(),
        ],
        &mut buf,
        false,
    )
    .unwrap();
    let model = number(&value, "/result/report/nll/summary/nll_bits_per_dim");
    let baseline = number(
        &value,
        "/result/report/nll/baseline/summary/nll_bits_per_dim",
    );
    assert!(model.is_finite() && baseline.is_finite());
    assert!(out.join("report.md").exists());
    assert!(out.join("model").join("checkpoint.json").exists());
}

#[test]
fn demo_refuses_to_delete_a_model_folder_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let model = out.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("thesis.tex"), "years of work").unwrap();
    let mut buf = Vec::new();
    let args = [
        "dualscore",
        "demo",
        "--quick",
        "--out",
        out.to_str().unwrap(),
    ];
    let err = run(args, &mut buf, false).unwrap_err().to_string();
    assert!(
        err.contains("is not a model folder written by dualscore") && err.contains("model"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(model.join("thesis.tex")).unwrap(),
        "years of work"
    );

    std::fs::remove_dir_all(&model).unwrap();
    std::fs::write(&model, "a file").unwrap();
    let err = run(args, &mut buf, false).unwrap_err().to_string();
    assert!(err.contains("exists and is not a folder"), "{err}");
    assert_eq!(std::fs::read_to_string(&model).unwrap(), "a file");
}

#[test]
fn an_imported_authors_checkpoint_is_measured_like_any_other() {
    let f = Fixture::new();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/authors_tiny.safetensors");
    let out = f.arg("imported");
    let imported = f.run(&["import", input.to_str().unwrap(), "--out", &out]);
    assert_eq!(number(&imported, "/result/num_parameters"), 16752.0);
    let nll = f.run(&[
        "nll",
        "--model",
        &out,
        "--train",
        &f.arg("train.npy"),
        "--test",
        &f.arg("test.npy"),
    ]);
    assert!(number(&nll, "/result/summary/nll_bits_per_dim").is_finite());
    // A second import into the same folder is refused without --overwrite.
    let err = f.run_err(&["import", input.to_str().unwrap(), "--out", &out]);
    assert!(err.contains(&out), "{err}");
    f.run(&[
        "import",
        input.to_str().unwrap(),
        "--out",
        &out,
        "--overwrite",
    ]);
}

#[test]
fn color_photographs_train_and_sample_in_color() {
    let f = Fixture::new();
    let photos = f.path("photos");
    std::fs::create_dir(&photos).unwrap();
    for (k, name) in ["a.png", "b.png", "c.png"].iter().enumerate() {
        let image = image::RgbImage::from_fn(16, 16, |x, y| {
            image::Rgb([
                (x * 16) as u8,
                (y * 16) as u8,
                (40 * k as u32 + x + y) as u8,
            ])
        });
        image.save(photos.join(name)).unwrap();
    }
    let run_dir = f.arg("color_run");
    let trained = f.run(&[
        "train",
        "--photos",
        photos.to_str().unwrap(),
        "--color",
        "--patch",
        "8",
        "--test-photos",
        "1",
        "--out",
        &run_dir,
        "--steps",
        "2",
        "--batch",
        "4",
        "--base-width",
        "4",
        "--scales",
        "1",
        "--eval-images",
        "4",
    ]);
    assert_eq!(number(&trained, "/result/step"), 2.0);
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&run_dir).join("checkpoint.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["model_config"]["unet"]["image_channels"], 3);
    let png = f.path("color_samples.png");
    f.run(&[
        "sample",
        "--model",
        &run_dir,
        "--count",
        "4",
        "--steps",
        "5",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert_eq!(image::open(&png).unwrap().color(), image::ColorType::Rgb8);
    // A gray data set does not fit the color model.
    let err = f.run_err(&["nll", "--model", &run_dir, "--test", &f.arg("test.npy")]);
    assert!(
        err.contains("3 channel(s)") && err.contains("have 1"),
        "{err}"
    );
}
