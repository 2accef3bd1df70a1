//! Bad numbers: NaN and infinite pixels are refused with the file, the image and the position
//! (channel, row, column), by every reader that can hold them and by the program; a loss that
//! turns NaN stops `train` naming the step, and the last good checkpoint stays loadable; and
//! constant, all-zero and saturated images get a finite log p from a trained network.

mod common;
mod tiny_run;

use common::{f32_le_bytes, f64_le_bytes, idx_bytes, npy_bytes, npy_dict, run_err, run_json};
use dualscore::data::{DataError, ImageSet, read_idx, read_npy};
use serde_json::Value;
use std::path::Path;
use tiny_run::{TinyRun, describe, load_checkpoint};

/// 3 images of 2 x 4 x 5 values in [0, 1], row-major.
fn values() -> Vec<f64> {
    (0..3 * 2 * 4 * 5).map(|i| (i % 7) as f64 / 6.0).collect()
}

/// The element of image 2, channel 1, row 3, column 4 (the last) and of image 1, channel 0,
/// row 2, column 1.
const LAST: usize = 119;
const INNER: usize = 40 + 2 * 5 + 1;

/// Writes `values` as an `.npy` file of `descr` ('<f4' or '<f8') and `shape`.
fn write_npy(dir: &Path, name: &str, descr: &str, shape: &str, values: &[f64]) -> String {
    let data = if descr == "<f4" {
        f32_le_bytes(&values.iter().map(|&v| v as f32).collect::<Vec<_>>())
    } else {
        f64_le_bytes(values)
    };
    let path = common::write(dir, name, &npy_bytes(1, &npy_dict(descr, shape), &data));
    path.to_str().unwrap().to_string()
}

#[test]
fn non_finite_pixels_in_npy_files_are_refused_with_their_image_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            f64::NAN,
            LAST,
            "NaN in image 2 at channel 1, row 3, column 4",
        ),
        (
            f64::INFINITY,
            INNER,
            "inf in image 1 at channel 0, row 2, column 1",
        ),
        (
            f64::NEG_INFINITY,
            0,
            "-inf in image 0 at channel 0, row 0, column 0",
        ),
    ];
    for descr in ["<f4", "<f8"] {
        for (bad, at, expected) in cases {
            let mut v = values();
            v[at] = bad;
            let name = format!("bad{}_{at}.npy", &descr[2..]);
            let path = write_npy(dir.path(), &name, descr, "(3, 2, 4, 5)", &v);
            let err = read_npy(&path).unwrap_err();
            common::assert_message(&err, Path::new(&path), &[expected, "non-finite value"]);
            assert!(matches!(err, DataError::Corrupt { .. }), "{err}");
            // The program says the same when it reads the file, and makes no run folder.
            let out = dir.path().join("never");
            let message = run_err(&[
                "train",
                "--train",
                &path,
                "--steps",
                "1",
                "--out",
                out.to_str().unwrap(),
            ]);
            assert!(message.contains(expected), "{message}");
            assert!(message.contains(&path), "{message}");
            assert!(!out.exists());
        }
    }
    // Rank 3 (one channel): the channel is 0.
    let mut v = values();
    v[INNER] = f64::NAN;
    let path = write_npy(dir.path(), "rank3.npy", "<f4", "(6, 4, 5)", &v);
    let err = read_npy(&path).unwrap_err();
    common::assert_message(
        &err,
        Path::new(&path),
        &["NaN in image 2 at channel 0, row 2, column 1"],
    );
}

#[test]
fn every_image_set_refuses_non_finite_values() {
    // Photographs, patches and analytic samples all become an ImageSet.
    for (bad, expected) in [
        (f64::NAN, "NaN in image 1 at channel 0, row 2, column 1"),
        (
            f64::INFINITY,
            "inf in image 1 at channel 0, row 2, column 1",
        ),
    ] {
        let mut v = values();
        v[INNER] = bad;
        let err = ImageSet::new(v, [3, 2, 4, 5], "photos").unwrap_err();
        common::assert_message(&err, Path::new("photos"), &[expected]);
    }
    assert!(ImageSet::new(values(), [3, 2, 4, 5], "photos").is_ok());
}

#[test]
fn idx_files_hold_bytes_only_and_float_files_are_refused() {
    // IDX images are unsigned bytes (always finite); a float IDX file is refused by its type.
    let dir = tempfile::tempdir().unwrap();
    for code in [0x0Du8, 0x0E] {
        let size = if code == 0x0D { 4 } else { 8 };
        let nan_bytes = vec![0xFFu8; 2 * 2 * 2 * size];
        let path = common::write(
            dir.path(),
            "float.idx",
            &idx_bytes(code, &[2, 2, 2], &nan_bytes),
        );
        let err = read_idx(&path).unwrap_err();
        common::assert_message(&err, &path, &["float", "expected unsigned bytes (0x08)"]);
    }
}

#[test]
fn a_nan_loss_stops_training_at_its_step_and_keeps_the_last_checkpoint() {
    // A learning rate of 1e30 makes a loss NaN within a few steps; a checkpoint every step.
    let run = TinyRun::new(1, 0);
    let out = run.path("run");
    let output = run
        .command(&out, 20, false)
        .args(["--lr", "1e30"])
        .output()
        .unwrap();
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let step: u64 = stderr
        .split("training stopped at step ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step named: {text}"));
    assert!(step >= 2, "{text}");
    assert!(stderr.contains("is not finite"), "{text}");
    assert!(
        stderr.contains(&format!(
            "The last good checkpoint is {} (unchanged)",
            out.display()
        )),
        "{text}"
    );
    // The checkpoint of the step before, every step before logged, nothing of the failed one.
    assert_eq!(load_checkpoint(&out), Ok(step - 1));
    assert_eq!(tiny_run::metrics(&out).len() as u64, step - 1);
}

/// Constant (0.37), all-zero, all-one and checkerboard (0 and 1) images of 8x8.
fn special_images() -> Vec<f64> {
    let checker: Vec<f64> = (0..64).map(|i| ((i / 8 + i % 8) % 2) as f64).collect();
    [vec![0.37; 64], vec![0.0; 64], vec![1.0; 64], checker].concat()
}

/// The log p (nats, then dB/dim) of each image of `test` under `model`, from the CSV output.
fn log_p(model: &str, test: &str, out: &Path, extra: &[&str]) -> Vec<f64> {
    let out_arg = out.to_str().unwrap();
    let mut args = vec!["logp", "--model", model, "--test", test, "--out", out_arg];
    args.extend_from_slice(extra);
    let result = run_json(&args);
    assert_eq!(result["result"]["images"], Value::from(4), "{result}");
    let text = std::fs::read_to_string(out).unwrap();
    text.lines()
        .skip(1)
        .flat_map(|line| {
            line.split(',')
                .skip(1)
                .map(|v| v.parse::<f64>().unwrap_or(f64::NAN))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn constant_zero_and_saturated_images_have_a_finite_log_p() {
    let dir = tempfile::tempdir().unwrap();
    let special = common::write(
        dir.path(),
        "special.npy",
        &npy_bytes(
            1,
            &npy_dict("<f8", "(4, 8, 8)"),
            &f64_le_bytes(&special_images()),
        ),
    );
    let special = special.to_str().unwrap();
    let run = TinyRun::new(5, 0);
    for preset in ["fast", "small"] {
        let model = run.path(preset);
        let output = run
            .command(&model, 10, false)
            .args(["--preset", preset])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        let model = model.to_str().unwrap();
        // The constant estimated on the special images themselves, then stored and reused.
        for extra in [&["--recompute-constant"][..], &[][..]] {
            let values = log_p(model, special, &dir.path().join("logp.csv"), extra);
            assert_eq!(values.len(), 8, "{preset}");
            assert!(
                values.iter().all(|v| v.is_finite()),
                "{preset} {extra:?}: log p {values:?}"
            );
        }
    }
}
