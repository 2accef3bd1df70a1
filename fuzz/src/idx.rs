//! The IDX reader on arbitrary bytes, plain or gzip: an error or a valid set, never a panic.

use crate::images::{check_set, gzip};
use dualscore::data::{idx_bytes, parse_idx};
use std::path::Path;

/// Parses `bytes` as an IDX file (gzip when they start with its magic) and checks any set it
/// returns.
pub fn run(bytes: &[u8]) {
    if let Ok(set) = parse_idx(bytes, Path::new("fuzz-idx3-ubyte")) {
        check_set(&set, bytes.last().copied().unwrap_or(0), true);
    }
}

/// Small valid files, plain and gzip, to start fuzzing from.
pub fn seeds() -> Vec<Vec<u8>> {
    let data: Vec<u8> = (0..2 * 5 * 6).map(|i| (i * 13) as u8).collect();
    let plain = idx_bytes(0x08, &[2, 5, 6], &data);
    vec![
        gzip(&plain),
        plain,
        idx_bytes(0x08, &[4], &[1, 2, 3, 4]),
        gzip(&idx_bytes(0x08, &[1, 3, 3], &[9; 9])),
    ]
}
