//! `dualscore bench`: every number it reports is there, finite and positive, for a model with a
//! base (the fast preset) and one without (the paper's small preset), with the setup it timed;
//! bad sizes are clear errors. Timings are not checked: they belong in BENCHMARKS.md.

use dualscore::app::run;
use serde_json::Value;

/// `bench` on 8x8 images, one scale, batch 2 and sgemm sides 16 and 32, unless `extra` says
/// otherwise.
fn bench(extra: &[&str]) -> Result<Value, String> {
    let mut args = vec![
        "dualscore",
        "--json",
        "--threads",
        "2",
        "bench",
        "--scales",
        "1",
    ];
    args.extend_from_slice(extra);
    for (flag, value) in [
        ("--batch", "2"),
        ("--size", "8"),
        ("--steps", "2"),
        ("--warmup", "1"),
        ("--sgemm", "16,32"),
    ] {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    let mut out = Vec::new();
    run(&args, &mut out, false).map_err(|e| e.to_string())
}

fn positive(v: &Value, pointer: &str) -> f64 {
    let x = v
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} missing in {v}"));
    assert!(x.is_finite() && x > 0.0, "{pointer} = {x}");
    x
}

#[test]
fn bench_reports_every_measure_of_the_model_it_built() {
    for preset in ["fast", "small"] {
        let value = bench(&["--preset", preset]).unwrap();
        assert_eq!(value["command"], "bench");
        let r = &value["result"];
        for key in ["/train_step_ms", "/score_ms", "/logp_ms"] {
            positive(r, key);
        }
        for key in [
            "forward_gflops",
            "input_gradient_gflops",
            "weight_gradient_gflops",
        ] {
            positive(r, &format!("/conv/{key}"));
        }
        let sgemm: Vec<u64> = r["sgemm"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["n"].as_u64().unwrap())
            .collect();
        assert_eq!(sgemm, [16, 32]);
        positive(r, "/sgemm/1/best_gflops");
        assert_eq!(r["setup"]["preset"], preset);
        assert_eq!(r["setup"]["image_shape"], serde_json::json!([1, 8, 8]));
        assert_eq!(r["setup"]["steps"], 2);
        // The largest 3x3 layer: the first scale's width (16 in both), at the batch and size.
        let width = 16;
        assert_eq!(r["conv"]["input"], serde_json::json!([2, width, 8, 8]));
        assert_eq!(
            r["conv"]["flop"].as_u64().unwrap(),
            2 * 2 * width * 8 * 8 * width * 9
        );
        if cfg!(target_os = "linux") {
            positive(r, "/peak_rss_mib");
        }
    }
}

#[test]
fn bad_sizes_are_errors() {
    for (flags, expect) in [
        (&["--batch", "0"][..], "at least 1"),
        (&["--sgemm", "0"][..], "--sgemm"),
    ] {
        let err = bench(flags).unwrap_err();
        assert!(err.contains(expect), "{flags:?}: {err}");
    }
}

/// `--profile` adds the kernels of a training step and of a log p evaluation, the most time
/// first, with the time outside them last; the kernels' shares and the outside share make up
/// the step.
#[test]
fn profile_lists_the_kernels_of_a_training_step() {
    let value = bench(&["--preset", "small", "--profile"]).unwrap();
    let profile = value["result"]["profile"].as_array().unwrap();
    let kernels: Vec<&str> = profile
        .iter()
        .map(|k| k["kernel"].as_str().unwrap())
        .collect();
    assert!(
        kernels
            .iter()
            .any(|k| k.starts_with("conv2d 3x3 16->16 on 8x8")),
        "{kernels:?}"
    );
    assert!(
        kernels.contains(&"conv2d_weight_grad 3x3 16->16 on 8x8"),
        "{kernels:?}"
    );
    assert!(kernels.contains(&"unary gelu_grad"), "{kernels:?}");
    assert_eq!(kernels.last(), Some(&"outside the kernels"));
    let kernel_ms: Vec<f64> = profile[..profile.len() - 1]
        .iter()
        .map(|k| k["ms_per_step"].as_f64().unwrap())
        .collect();
    assert!(kernel_ms.iter().all(|&ms| ms >= 0.0));
    assert!(kernel_ms.windows(2).all(|w| w[0] >= w[1]), "{kernel_ms:?}");
    let shares: f64 = profile.iter().map(|k| k["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "{shares}");
    // The log p evaluation: no gradient, so the normalizations' statistics are one call each
    // and no backward kernel runs.
    let logp = value["result"]["logp_profile"].as_array().unwrap();
    let kernels: Vec<&str> = logp.iter().map(|k| k["kernel"].as_str().unwrap()).collect();
    assert!(kernels.contains(&"unary gelu"), "{kernels:?}");
    assert!(
        kernels.contains(&"center_with_variance over [2, 3]"),
        "{kernels:?}"
    );
    assert!(!kernels.iter().any(|k| k.contains("grad")), "{kernels:?}");
    assert_eq!(kernels.last(), Some(&"outside the kernels"));
    let shares: f64 = logp.iter().map(|k| k["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "{shares}");
    let without = bench(&["--preset", "small"]).unwrap();
    assert!(without["result"].get("profile").is_none());
    assert!(without["result"].get("logp_profile").is_none());
}
