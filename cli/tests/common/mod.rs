//! Small files for the data tests, made in a temporary folder.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// An `.npy` file: magic, version `major.0`, the header dict `dict` padded with spaces to a
/// multiple of 64 bytes and ended by a newline, as numpy writes it, then `data`.
pub fn npy_bytes(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let prefix = if major == 1 { 10 } else { 12 };
    let mut header = dict.to_string();
    while (prefix + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// The dict of a C-order array of `descr` and shape text `shape` (as in `"(2, 3, 4)"`).
pub fn npy_dict(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

/// Little-endian bytes of f32 values.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian bytes of f64 values.
pub fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// An IDX file: two zero bytes, `code`, the rank, the big-endian dimensions, then `data`.
pub fn idx_bytes(code: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

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
