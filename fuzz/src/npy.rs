//! The `.npy` reader on arbitrary bytes: an error or a valid set, never a panic.

use crate::images::check_set;
use dualscore::data::{f32_le_bytes, f64_le_bytes, npy_bytes, npy_dict, parse_npy};
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
    let floats: Vec<f32> = (0..16).map(|i| i as f32 * 0.5).collect();
    let doubles = f64_le_bytes(&(0..12).map(|i| i as f64 - 3.0).collect::<Vec<_>>());
    vec![
        npy_bytes(1, &npy_dict("|u1", "(2, 3, 4)"), &[7; 24]),
        npy_bytes(2, &npy_dict("<f4", "(1, 4, 2, 2)"), &f32_le_bytes(&floats)),
        npy_bytes(1, &npy_dict("<f8", "(3, 2, 2)"), &doubles),
        npy_bytes(
            1,
            "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2, 2), }",
            &doubles,
        ),
        npy_bytes(1, &npy_dict("<i4", "(1, 2, 2)"), &[0; 16]),
    ]
}
