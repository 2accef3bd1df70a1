//! Writing results atomically: files (`.npy` arrays from [`crate::data::npy_f64_bytes`]) and
//! CSV tables.

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
