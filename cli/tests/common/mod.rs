//! Small files for the data tests, made in a temporary folder.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

// The library's writers, for the tests that include this module (not every one uses each).
#[allow(unused_imports)]
pub use dualscore::data::{f32_le_bytes, f64_le_bytes, idx_bytes, npy_bytes, npy_dict};

/// `bytes` compressed with gzip.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A deterministic pixel value of image `seed` at (x, y).
pub fn pixel(seed: u32, x: u32, y: u32) -> u8 {
    ((x * 37 + y * 101 + seed * 53 + x * y * 7) % 256) as u8
}

/// Saves a `w` x `h` gray photograph (the format from the extension) and returns its path.
pub fn gray_photo(dir: &Path, name: &str, w: u32, h: u32, seed: u32) -> PathBuf {
    let path = dir.join(name);
    image::GrayImage::from_fn(w, h, |x, y| image::Luma([pixel(seed, x, y)]))
        .save(&path)
        .unwrap();
    path
}

/// Saves a `w` x `h` color photograph and returns its path.
pub fn color_photo(dir: &Path, name: &str, w: u32, h: u32, seed: u32) -> PathBuf {
    let path = dir.join(name);
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            pixel(seed, x, y),
            pixel(seed + 1, x, y),
            pixel(seed + 2, y, x),
        ])
    })
    .save(&path)
    .unwrap();
    path
}

/// Asserts that the error's message names `path` and contains each of `parts`.
pub fn assert_message(err: &dualscore::data::DataError, path: &Path, parts: &[&str]) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "{msg:?} does not name {}",
        path.display()
    );
    assert_eq!(err.path(), path, "{msg}");
    for part in parts {
        assert!(msg.contains(part), "{msg:?} does not contain {part:?}");
    }
}

/// Runs the program with `--json --threads 2` and `args`; returns the result and checks that
/// the last printed line is the same JSON object.
pub fn run_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["dualscore", "--json", "--threads", "2"];
    all.extend_from_slice(args);
    let mut out = Vec::new();
    let value =
        dualscore::app::run(&all, &mut out, false).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let text = String::from_utf8(out).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last, value);
    value
}

/// Runs the program with `args`, which must fail; returns the error's message.
pub fn run_err(args: &[&str]) -> String {
    let mut all = vec!["dualscore"];
    all.extend_from_slice(args);
    let mut out = Vec::new();
    match dualscore::app::run(&all, &mut out, false) {
        Ok(v) => panic!("{args:?} should fail, gave {v}"),
        Err(e) => e.to_string(),
    }
}
