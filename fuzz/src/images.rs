//! Checks shared by the image-file harnesses: what a successful read must satisfy, and gzip for
//! the seeds (the files themselves come from the library's writers, `dualscore::data::npy_bytes`
//! and `idx_bytes`).

use dualscore::data::ImageSet;
use std::io::Write;

/// Checks the invariants of a set that a reader returned, then cuts it into patches whose
/// size and stride come from `choice` (stride at least half the patch, so the patches hold at
/// most four times the values), which must succeed or fail without a panic.
pub fn check_set(set: &ImageSet, choice: u8, unit_range: bool) {
    let [n, c, h, w] = set.shape();
    assert!(
        n > 0 && c > 0 && h > 0 && w > 0,
        "empty shape {:?}",
        set.shape()
    );
    assert_eq!(set.values().len(), n * c * h * w);
    assert!(set.values().iter().all(|v| v.is_finite()));
    if unit_range {
        assert!(set.values().iter().all(|v| (0.0..=1.0).contains(v)));
    }
    let summary = set.summary();
    assert_eq!(summary.count, n);
    let patch = 1 + (choice % 8) as usize;
    let stride = patch.div_ceil(2) + (choice / 8 % 4) as usize;
    match set.patches(patch, stride) {
        Ok(p) => {
            assert_eq!(p.image_shape(), [c, patch, patch]);
            let rows = (h - patch) / stride + 1;
            let cols = (w - patch) / stride + 1;
            assert_eq!(p.len(), n * rows * cols);
        }
        Err(_) => assert!(h < patch || w < patch),
    }
}

/// `bytes` compressed with gzip.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}
