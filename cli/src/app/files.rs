//! Writing results: `.npy` arrays and CSV tables, atomically.

use super::error::{AppError, AppResult};
use dualscore_core::train::checkpoint::write_atomic;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_file(path: &Path, bytes: &[u8]) -> AppResult<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| AppError::io(dir, "create the folder", e))?;
    }
    write_atomic(path, bytes).map_err(|e| AppError::msg(e.to_string()))
}

/// The bytes of a version 1.0 `.npy` file of little-endian f64 values of `shape` (C order).
///
/// ```
/// let bytes = dualscore::app::npy_f64_bytes(&[1.0, 2.0], &[1, 1, 2]);
/// let set = dualscore::data::parse_npy(&bytes, std::path::Path::new("x.npy")).unwrap();
/// assert_eq!(set.values(), &[1.0, 2.0]);
/// ```
pub fn npy_f64_bytes(values: &[f64], shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in values {
        bytes.extend(v.to_le_bytes());
    }
    bytes
}

/// Writes a CSV table: a header line, then one line per row.
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<f64>]) -> AppResult<()> {
    let mut text = header.join(",");
    text.push('\n');
    for row in rows {
        let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    write_file(path, text.as_bytes())
}
