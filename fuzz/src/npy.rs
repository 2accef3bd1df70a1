//! The `.npy` reader on arbitrary bytes: an error or a valid set, never a panic.

use crate::images::{check_set, npy_file};
use dualscore::data::parse_npy;
use std::path::Path;

/// Parses `bytes` as an `.npy` file and checks any set it returns.
pub fn run(bytes: &[u8]) {
    if let Ok(set) = parse_npy(bytes, Path::new("fuzz.npy")) {
        let choice = bytes.last().copied().unwrap_or(0);
        let unit = bytes.windows(2).any(|w| w == b"u1");
        check_set(
            &set,
            choice,
            unit && !bytes.windows(2).any(|w| w == b"f4" || w == b"f8"),
        );
    }
}

/// Small valid files of every accepted kind, to start fuzzing from.
pub fn seeds() -> Vec<Vec<u8>> {
    let dict = |descr: &str, shape: &str| {
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
    };
    let floats: Vec<u8> = (0..16)
        .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
        .collect();
    let doubles: Vec<u8> = (0..12)
        .flat_map(|i| (i as f64 - 3.0).to_le_bytes())
        .collect();
    vec![
        npy_file(1, &dict("|u1", "(2, 3, 4)"), &[7; 24]),
        npy_file(2, &dict("<f4", "(1, 4, 2, 2)"), &floats),
        npy_file(1, &dict("<f8", "(3, 2, 2)"), &doubles),
        npy_file(
            1,
            "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2, 2), }",
            &doubles,
        ),
        npy_file(1, &dict("<i4", "(1, 2, 2)"), &[0; 16]),
    ]
}
