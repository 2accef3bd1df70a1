//! Mixtures of stationary Gaussian fields as analytic models: their log p against a dense
//! computation written here, `synth` (reproducible sets, exact numbers that `nll` agrees with),
//! `curves --truth` (the exact density's held-out loss, recomputed here), and bad inputs.
//!
//! The images are 8x8 and the sets small, so every test takes well under a second.

mod common;

use common::{run_err, run_json};
use dualscore::app::run;
use dualscore::model::{AnalyticModel, AnalyticSpec};
use dualscore_core::Tensor;
use dualscore_core::energy::Energy;
use dualscore_core::energy::analytic::{
    AnalyticDensity, Gaussian, GaussianMixture, StationaryGaussianImages, StationaryImageParams,
};
use dualscore_core::rng::RngKey;
use dualscore_core::train::{Objective, band_losses, evaluation_variances, held_out_loss};
use dualscore_cpu::Cpu;
use serde_json::Value;
use std::f64::consts::PI;
use std::path::Path;

const SIDE: usize = 8;
const D: usize = SIDE * SIDE;

/// Two fields: a smooth anisotropic one and a rough one with a spectral floor and its own k0.
const MIX: &str = r#"{"kind": "field_mixture", "shape": [1, 8, 8], "components": [
  {"weight": 2, "alpha": 3, "anisotropy": 2, "pixel_variance": 0.05, "mean": 0.4},
  {"weight": 1, "alpha": 1.5, "anisotropy": 0.7, "pixel_variance": 0.01, "mean": 0.6,
   "k0": 0.2, "floor": 0.001}
]}"#;

/// (weight, alpha, anisotropy, pixel variance, mean, k0, floor) of [`MIX`].
const FIELDS: [(f64, f64, f64, f64, f64, f64, f64); 2] = [
    (2.0, 3.0, 2.0, 0.05, 0.4, 1.0 / 8.0, 0.0),
    (1.0, 1.5, 0.7, 0.01, 0.6, 0.2, 0.001),
];

fn program_text(args: &[&str]) -> String {
    let mut all = vec!["dualscore", "--threads", "2"];
    all.extend_from_slice(args);
    let mut out = Vec::new();
    run(&all, &mut out, false).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    String::from_utf8(out).unwrap()
}

fn number(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {v}"))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The spectrum of a field, from docs/METHOD.md's formula: lam(k) = A / ((a kx)^2 + (ky/a)^2 +
/// k0^2)^(alpha/2) + floor with signed frequencies in cycles per pixel and A such that the mean
/// of lam is the pixel variance. Indexed `ky * W + kx`.
fn spectrum(alpha: f64, a: f64, variance: f64, k0: f64, floor: f64) -> Vec<f64> {
    let freq = |i: usize, n: usize| {
        let i = i as f64;
        let n = n as f64;
        if i <= n / 2.0 { i / n } else { (i - n) / n }
    };
    let shape: Vec<f64> = (0..D)
        .map(|i| {
            let (ky, kx) = (freq(i / SIDE, SIDE), freq(i % SIDE, SIDE));
            ((a * kx).powi(2) + (ky / a).powi(2) + k0 * k0).powf(-alpha / 2.0)
        })
        .collect();
    let amplitude = (variance - floor) / (shape.iter().sum::<f64>() / D as f64);
    shape.iter().map(|s| amplitude * s + floor).collect()
}

/// -log N(x; m, C + t I) by a dense Cholesky factorization of the circulant covariance, built
/// entry by entry as the inverse DFT of the spectrum.
fn dense_neg_log_normal(x: &[f64], mean: f64, lam: &[f64], t: f64) -> f64 {
    let mut c = vec![0.0; D * D];
    for i in 0..D {
        for j in 0..D {
            let dy = (i / SIDE) as f64 - (j / SIDE) as f64;
            let dx = (i % SIDE) as f64 - (j % SIDE) as f64;
            let v: f64 = (0..D)
                .map(|k| {
                    let (ky, kx) = ((k / SIDE) as f64, (k % SIDE) as f64);
                    lam[k] * (2.0 * PI * (ky * dy + kx * dx) / SIDE as f64).cos()
                })
                .sum::<f64>()
                / D as f64;
            c[i * D + j] = v + if i == j { t } else { 0.0 };
        }
    }
    // Cholesky: c = L L^T.
    let mut l = vec![0.0; D * D];
    for i in 0..D {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * D + k] * l[j * D + k]).sum();
            if i == j {
                l[i * D + i] = (c[i * D + i] - s).sqrt();
            } else {
                l[i * D + j] = (c[i * D + j] - s) / l[j * D + j];
            }
        }
    }
    // Solve L u = x - m; -log N = |u|^2 / 2 + sum ln L_ii + d/2 ln(2 pi).
    let mut u = vec![0.0; D];
    for i in 0..D {
        let s: f64 = (0..i).map(|k| l[i * D + k] * u[k]).sum();
        u[i] = (x[i] - mean - s) / l[i * D + i];
    }
    0.5 * u.iter().map(|v| v * v).sum::<f64>()
        + (0..D).map(|i| l[i * D + i].ln()).sum::<f64>()
        + 0.5 * D as f64 * (2.0 * PI).ln()
}

fn dense_mixture_energy(x: &[f64], t: f64) -> f64 {
    let total: f64 = FIELDS.iter().map(|f| f.0).sum();
    let a: Vec<f64> = FIELDS
        .iter()
        .map(|&(w, alpha, an, v, m, k0, floor)| {
            (w / total).ln() - dense_neg_log_normal(x, m, &spectrum(alpha, an, v, k0, floor), t)
        })
        .collect();
    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    -(max + a.iter().map(|v| (v - max).exp()).sum::<f64>().ln())
}

/// The mixture built from core's parts, independently of the program's model file.
fn core_mixture() -> GaussianMixture {
    let components: Vec<Gaussian> = FIELDS
        .iter()
        .map(|&(_, alpha, anisotropy, pixel_variance, mean, k0, floor)| {
            let p = StationaryImageParams {
                alpha,
                anisotropy,
                pixel_variance,
                mean,
                k0,
                floor,
                ..StationaryImageParams::new(SIDE, SIDE)
            };
            StationaryGaussianImages::new(p)
                .unwrap()
                .gaussian()
                .unwrap()
        })
        .collect();
    let weights: Vec<f64> = FIELDS.iter().map(|f| f.0).collect();
    GaussianMixture::new(&weights, components)
        .unwrap()
        .with_shape(&[1, SIDE, SIDE])
        .unwrap()
}

#[test]
fn field_mixture_log_p_is_exact() {
    let spec: AnalyticSpec = serde_json::from_str(MIX).unwrap();
    let model = AnalyticModel::from_spec(spec).unwrap();
    assert_eq!(model.image_shape(), [1, SIDE, SIDE]);
    assert!(model.describe().contains("2 stationary Gaussian field"));
    let density = &model.density;
    assert_eq!(density.dim(), D);
    let core = core_mixture();
    let x = density.sample_rows(6, 0.0, RngKey::new(3, 1)).unwrap();
    let cpu = Cpu::with_threads(1).unwrap();
    for t in [0.0, 0.003] {
        let y = Tensor::<Cpu, f64>::from_f64(&cpu, &x, [6, 1, SIDE, SIDE]).unwrap();
        let tt = Tensor::full(&cpu, [6], t).unwrap();
        let u = density.energy(&y, &tt).unwrap().to_f64_vec().unwrap();
        for (i, xi) in x.chunks(D).enumerate() {
            let dense = dense_mixture_energy(xi, t);
            let host = core.energy_host(xi, t).unwrap();
            assert!(
                (u[i] - dense).abs() < 1e-9,
                "t {t} image {i}: {} vs dense {dense}",
                u[i]
            );
            assert!(
                (host - dense).abs() < 1e-9,
                "t {t} image {i}: host {host} vs {dense}"
            );
            let own = density.energy_host(xi, t).unwrap();
            assert!((own - dense).abs() < 1e-9);
        }
    }
    // The best Gaussian fit's entropy: the mixed spectrum plus the spread of the means at
    // frequency 0, against a dense log det of the mixture's covariance.
    let total: f64 = FIELDS.iter().map(|f| f.0).sum();
    let mean: f64 = FIELDS.iter().map(|f| f.0 / total * f.4).sum();
    let mut mixed = vec![0.0; D];
    for &(w, alpha, an, v, m, k0, floor) in &FIELDS {
        for (s, l) in mixed.iter_mut().zip(spectrum(alpha, an, v, k0, floor)) {
            *s += w / total * l;
        }
        mixed[0] += w / total * D as f64 * (m - mean).powi(2);
    }
    // -log N(mean; mean, C) + d/2 = 1/2 ln det(2 pi e C).
    let want = dense_neg_log_normal(&vec![mean; D], mean, &mixed, 0.0) + 0.5 * D as f64;
    let got = model.gaussian_fit_entropy().unwrap();
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
}

#[test]
fn nll_on_synth_data_equals_synths_exact_number() {
    let dir = tempfile::tempdir().unwrap();
    let mix = write(dir.path(), "mix.json", MIX);
    let out = dir.path().join("sets");
    let out_s = out.display().to_string();
    let synth = run_json(&[
        "synth",
        "--model",
        &mix,
        "--train-count",
        "300",
        "--test-count",
        "40",
        "--entropy-samples",
        "300",
        "--seed",
        "5",
        "--out",
        &out_s,
    ]);
    let train = out.join("train.npy").display().to_string();
    let test = out.join("test.npy").display().to_string();
    let set = dualscore::data::open_images(&test).unwrap();
    assert_eq!(set.shape(), [40, 1, SIDE, SIDE]);
    // Values as drawn: float64, not clipped to [0, 1].
    assert!(set.values().iter().all(|v| v.is_finite()));
    let nll = run_json(&["nll", "--model", &mix, "--train", &train, "--test", &test]);
    let want = number(&synth, "/result/truth/nll_bits_per_dim");
    let got = number(&nll, "/result/summary/nll_bits_per_dim");
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    assert_eq!(number(&nll, "/result/constant/value"), 0.0);
    let base_synth = number(&synth, "/result/gaussian_baseline/nll_bits_per_dim");
    let base_nll = number(&nll, "/result/baseline/summary/nll_bits_per_dim");
    assert!((base_synth - base_nll).abs() < 1e-9);
    // The exact test NLL from the dense formula.
    let mean_nlp: f64 = set
        .values()
        .chunks(D)
        .map(|x| dense_mixture_energy(x, 0.0))
        .sum::<f64>()
        / 40.0;
    let dense = 8.0 + mean_nlp / (D as f64 * std::f64::consts::LN_2);
    assert!((dense - want).abs() < 1e-9, "{dense} vs {want}");
    // The gap is image by image, and the entropy estimate is near the test NLL.
    let gap = number(&synth, "/result/gap_bits_per_dim/mean");
    assert!((gap - (base_synth - want)).abs() < 1e-9);
    let h = number(&synth, "/result/entropy/bits_per_dim");
    assert!((h - want).abs() < 0.1, "entropy {h}, test NLL {want}");
    let model = std::fs::read_to_string(out.join("model.json")).unwrap();
    let spec: AnalyticSpec = serde_json::from_str(&model).unwrap();
    assert_eq!(spec, serde_json::from_str::<AnalyticSpec>(MIX).unwrap());
    // Every measurement command accepts the mixture.
    let logp = run_json(&[
        "logp",
        "--model",
        &mix,
        "--test",
        &test,
        "--out",
        &dir.path().join("lp.csv").display().to_string(),
    ]);
    assert_eq!(logp["command"], "logp");
    let denoise = run_json(&["denoise", "--model", &mix, "--test", &test, "--psnrs", "20"]);
    assert_eq!(denoise["command"], "denoise");
    let grid = dir.path().join("s.png").display().to_string();
    let sample = run_json(&[
        "sample", "--model", &mix, "--count", "2", "--steps", "4", "--out", &grid,
    ]);
    assert_eq!(sample["command"], "sample");
}

#[test]
fn synth_is_reproducible_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let draw = |seed: &str, name: &str| {
        let out = dir.path().join(name);
        run_json(&[
            "synth",
            "--family",
            "three-fields",
            "--train-count",
            "20",
            "--test-count",
            "10",
            "--entropy-samples",
            "0",
            "--seed",
            seed,
            "--out",
            &out.display().to_string(),
        ]);
        (
            std::fs::read(out.join("train.npy")).unwrap(),
            std::fs::read(out.join("test.npy")).unwrap(),
        )
    };
    let a = draw("0", "a");
    let b = draw("0", "b");
    let c = draw("1", "c");
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
    assert_ne!(a.0, a.1, "the training and test sets are different draws");
    // The presets as files, with no sets drawn.
    for family in ["three-fields", "scale-mixture", "field"] {
        let path = dir.path().join(format!("{family}.json"));
        run_json(&[
            "synth",
            "--family",
            family,
            "--write-model",
            &path.display().to_string(),
        ]);
        let model = AnalyticModel::read(&path).unwrap();
        assert_eq!(model.image_shape(), [1, 16, 16]);
    }
}

#[test]
fn curves_with_truth_writes_the_optimum() {
    let dir = tempfile::tempdir().unwrap();
    let mix = write(dir.path(), "mix.json", MIX);
    let sets = dir.path().join("sets");
    run_json(&[
        "synth",
        "--model",
        &mix,
        "--train-count",
        "30",
        "--test-count",
        "24",
        "--entropy-samples",
        "0",
        "--out",
        &sets.display().to_string(),
    ]);
    let test = sets.join("test.npy").display().to_string();
    let images = 16;
    let set = dualscore::data::open_images(&test).unwrap();
    let cpu = Cpu::with_threads(1).unwrap();
    let x =
        Tensor::<Cpu, f64>::from_f64(&cpu, &set.values()[..images * D], [images, 1, SIDE, SIDE])
            .unwrap();
    let levels = evaluation_variances();
    let key = RngKey::new(0, 7);
    // A trivially bad model (a wide isotropic Gaussian) evaluated as `train` does, as the run.
    let bad = Gaussian::isotropic(vec![0.5; D], 1.0).unwrap();
    let bad_levels = held_out_loss(&bad, &x, &levels, Objective::Dual, 64, key).unwrap();
    let bad_bands = band_losses(&bad_levels);
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let metrics = r#"{"step": 10, "loss": 1.0, "dsm": 0.9, "tsm": 0.1, "lr": 0.0005, "time_s": 1.0, "step_time_s": 0.1}"#;
    std::fs::write(run_dir.join("metrics.jsonl"), format!("{metrics}\n")).unwrap();
    let eval = serde_json::json!({
        "step": 10, "images": images, "levels": bad_levels, "bands": bad_bands, "mean_loss": 0.0
    });
    std::fs::write(run_dir.join("eval.jsonl"), format!("{eval}\n")).unwrap();
    let run_s = run_dir.display().to_string();

    let curves = run_json(&["curves", "--run", &run_s, "--truth", &mix, "--test", &test]);
    let optimum: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("optimum.json")).unwrap())
            .unwrap();
    assert_eq!(optimum["images"], images);
    assert_eq!(optimum["objective"], "dual");
    assert!(run_dir.join("held_out_gap.png").is_file());
    assert!(run_dir.join("held_out_loss.png").is_file());
    // The exact loss recomputed here from core's mixture, with the same images and noise.
    let truth_levels =
        held_out_loss(&core_mixture(), &x, &levels, Objective::Dual, 16, key).unwrap();
    let truth_bands = band_losses(&truth_levels);
    let bands = optimum["bands"].as_array().unwrap();
    assert_eq!(bands.len(), 3);
    for ((band, want), bad) in bands.iter().zip(&truth_bands).zip(&bad_bands) {
        assert_eq!(band["name"], want.name.as_str());
        let got = band["loss"].as_f64().unwrap();
        assert!(
            (got - want.loss).abs() < 1e-9,
            "{}: {got} vs {}",
            want.name,
            want.loss
        );
        assert!(
            got < bad.loss,
            "{}: optimum {got} vs bad {}",
            want.name,
            bad.loss
        );
    }
    let rows = curves["result"]["bands"].as_array().unwrap();
    for (row, bad) in rows.iter().zip(&bad_bands) {
        assert!((row["loss"].as_f64().unwrap() - bad.loss).abs() < 1e-12);
        assert!(row["gap"].as_f64().unwrap() > 0.0);
    }
    // The table for people.
    let text = program_text(&["curves", "--run", &run_s, "--truth", &mix, "--test", &test]);
    assert!(
        text.contains("optimum") && text.contains("1e-3 <= t < 1"),
        "{text}"
    );
}

#[test]
fn bad_field_mixtures_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let component = |extra: &str| {
        format!(
            r#"{{"kind": "field_mixture", "shape": [1, 8, 8], "components": [{{"alpha": 2, "anisotropy": 1, "mean": 0.5, {extra}}}]}}"#
        )
    };
    let cases = [
        (component(r#""weight": 0, "pixel_variance": 0.02"#), "weight must be positive"),
        (component(r#""weight": -1, "pixel_variance": 0.02"#), "weight must be positive"),
        (
            component(r#""weight": 1, "pixel_variance": 0.01, "floor": 0.01"#),
            "must exceed the spectral floor",
        ),
        (component(r#""weight": 1, "pixel_variance": 0"#), "must exceed the spectral floor"),
        (
            component(r#""weight": 1, "pixel_variance": 0.02, "k0": 0"#),
            "k0 > 0",
        ),
        (
            component(r#""weight": 1, "pixel_variance": 0.02, "sigma": 3"#),
            "unknown field",
        ),
        (
            r#"{"kind": "field_mixture", "shape": [3, 8, 8], "components": [{"weight": 1, "alpha": 2, "pixel_variance": 0.02, "mean": 0.5}]}"#.to_string(),
            "one channel",
        ),
        (
            r#"{"kind": "field_mixture", "shape": [1, 8, 8], "components": []}"#.to_string(),
            "at least one component",
        ),
        (
            r#"{"kind": "field_mixture", "shape": [1, 128, 128], "components": [{"weight": 1, "alpha": 2, "pixel_variance": 0.02, "mean": 0.5}]}"#.to_string(),
            "at most 4096",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("bad{i}.json"), text);
        let e = run_err(&[
            "synth",
            "--model",
            &path,
            "--out",
            &dir.path().join("o").display().to_string(),
        ]);
        assert!(e.contains(want), "case {i}: {e:?} should say {want:?}");
        assert!(e.contains(&path), "case {i}: {e:?} should name the file");
    }
    // A model of 8x8 images with 16x16 data.
    let mix = write(dir.path(), "mix.json", MIX);
    let sets = dir.path().join("sets16");
    run_json(&[
        "synth",
        "--family",
        "field",
        "--train-count",
        "4",
        "--test-count",
        "4",
        "--entropy-samples",
        "0",
        "--out",
        &sets.display().to_string(),
    ]);
    let test16 = sets.join("test.npy").display().to_string();
    let e = run_err(&["nll", "--model", &mix, "--test", &test16]);
    assert!(e.contains("[1, 8, 8]") && e.contains("[1, 16, 16]"), "{e}");
    // curves: --truth needs --test, and the other way round; the shapes must agree.
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let run_s = run_dir.display().to_string();
    let e = run_err(&["curves", "--run", &run_s, "--truth", &mix]);
    assert!(e.contains("--test"), "{e}");
    let e = run_err(&["curves", "--run", &run_s, "--test", &test16]);
    assert!(e.contains("--truth"), "{e}");
    std::fs::write(
        run_dir.join("metrics.jsonl"),
        r#"{"step": 1, "loss": 1.0, "dsm": 0.9, "tsm": 0.1, "lr": 0.0005, "time_s": 1.0, "step_time_s": 0.1}"#,
    )
    .unwrap();
    let e = run_err(&[
        "curves", "--run", &run_s, "--truth", &mix, "--test", &test16,
    ]);
    assert!(e.contains("no held-out evaluation"), "{e}");
    std::fs::write(
        run_dir.join("eval.jsonl"),
        r#"{"step": 1, "images": 4, "levels": [], "bands": [], "mean_loss": 0}"#,
    )
    .unwrap();
    let e = run_err(&[
        "curves", "--run", &run_s, "--truth", &mix, "--test", &test16,
    ]);
    assert!(e.contains("[1, 16, 16]") && e.contains("[1, 8, 8]"), "{e}");
    // synth: something to draw from, somewhere to write.
    let e = run_err(&[
        "synth",
        "--out",
        &dir.path().join("x").display().to_string(),
    ]);
    assert!(e.contains("--model") && e.contains("--family"), "{e}");
    let e = run_err(&["synth", "--family", "field"]);
    assert!(e.contains("--out"), "{e}");
    let e = run_err(&["synth", "--family", "field", "--model", &mix, "--out", "x"]);
    assert!(e.contains("cannot be used with"), "{e}");
}
