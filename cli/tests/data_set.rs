//! Image sets: construction, patches, flips, summary, detection of formats and conversion to
//! the training data source.

mod common;

use common::*;
use dualscore::data::{DataError, ImageSet, open_images, patch_positions};
use dualscore_core::backend::reference::Reference;
use dualscore_core::rng::RngKey;
use dualscore_core::train::ImageSource;
use dualscore_cpu::Cpu;
use std::path::Path;

/// `n` images of `c` x `h` x `w` whose values encode (image, channel, y, x).
fn coded(n: usize, c: usize, h: usize, w: usize) -> ImageSet {
    let mut values = Vec::new();
    for i in 0..n {
        for k in 0..c {
            for y in 0..h {
                for x in 0..w {
                    values.push((i * 1_000_000 + k * 10_000 + y * 100 + x) as f64);
                }
            }
        }
    }
    ImageSet::new(values, [n, c, h, w], "coded").unwrap()
}

fn code(i: usize, k: usize, y: usize, x: usize) -> f64 {
    (i * 1_000_000 + k * 10_000 + y * 100 + x) as f64
}

#[test]
fn new_checks_shape_and_length() {
    let e = ImageSet::new(vec![], [0, 1, 2, 2], "z").unwrap_err();
    assert!(matches!(e, DataError::Empty { .. }), "{e}");
    assert_message(&e, Path::new("z"), &["N = 0"]);
    let e = ImageSet::new(vec![0.0; 3], [1, 1, 2, 2], "z").unwrap_err();
    assert!(matches!(e, DataError::Invalid { .. }), "{e}");
    let e = ImageSet::new(vec![], [usize::MAX, 2, 2, 2], "z").unwrap_err();
    assert!(matches!(e, DataError::Invalid { .. }), "{e}");
    let set = coded(2, 1, 2, 3);
    assert_eq!(set.len(), 2);
    assert!(!set.is_empty());
    assert_eq!(set.image_shape(), [1, 2, 3]);
    assert!(set.image(2).is_none());
    assert!(set.image(usize::MAX).is_none());
}

#[test]
fn thirty_two_pixel_images_cut_into_four_sixteen_pixel_patches() {
    let set = coded(3, 1, 32, 32);
    let p = set.patches(16, 16).unwrap();
    assert_eq!(p.shape(), [12, 1, 16, 16]);
    // Patch 4 k + 2 r + c of image k is the quadrant (r, c).
    for k in 0..3 {
        for (q, (r, c)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
            let patch = p.image(4 * k + q).unwrap();
            for y in 0..16 {
                for x in 0..16 {
                    assert_eq!(patch[y * 16 + x], code(k, 0, 16 * r + y, 16 * c + x));
                }
            }
        }
    }
}

#[test]
fn overlapping_patches_keep_every_channel() {
    let set = coded(2, 3, 7, 9);
    let p = set.patches(4, 2).unwrap();
    let (rows, cols) = (
        patch_positions(7, 4, 2).unwrap(),
        patch_positions(9, 4, 2).unwrap(),
    );
    assert_eq!((rows, cols), (2, 3));
    assert_eq!(p.shape(), [2 * rows * cols, 3, 4, 4]);
    let patch = p.image(rows * cols + cols + 2).unwrap(); // image 1, row 1, column 2
    for k in 0..3 {
        for y in 0..4 {
            for x in 0..4 {
                assert_eq!(patch[k * 16 + y * 4 + x], code(1, k, 2 + y, 4 + x));
            }
        }
    }
    assert_eq!(set.patches(7, 100).unwrap().len(), 2);
    assert_eq!(set.patches(1, 1).unwrap().len(), 2 * 63);
}

#[test]
fn patch_errors() {
    let set = coded(1, 1, 8, 6);
    let e = set.patches(7, 1).unwrap_err();
    assert!(matches!(e, DataError::TooSmall { .. }), "{e}");
    assert_message(&e, Path::new("coded"), &["8 x 6 pixels", "7 x 7 patches"]);
    for (patch, stride) in [(0, 1), (2, 0)] {
        let e = set.patches(patch, stride).unwrap_err();
        assert!(matches!(e, DataError::Invalid { .. }), "{e}");
    }
    assert_eq!(patch_positions(5, 6, 1), None);
    assert_eq!(patch_positions(5, 0, 1), None);
    assert_eq!(patch_positions(5, 2, 0), None);
    assert_eq!(patch_positions(6, 6, 1), Some(1));
}

#[test]
fn patches_of_a_loaded_npy_file() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..2 * 32 * 32).map(|i| (i % 251) as u8).collect();
    let path = write(
        dir.path(),
        "p32.npy",
        &npy_bytes(1, &npy_dict("|u1", "(2, 32, 32)"), &data),
    );
    let set = open_images(&path).unwrap();
    let p = set.patches(16, 16).unwrap();
    assert_eq!(p.shape(), [8, 1, 16, 16]);
    assert_eq!(p.origin(), path);
    assert_eq!(p.image(5).unwrap()[0], f64::from(data[1024 + 16]) / 255.0);
    let e = set.patches(33, 1).unwrap_err();
    assert_message(&e, &path, &["smaller than the 33 x 33 patches"]);
}

#[test]
fn horizontal_flips() {
    let mut set = coded(3, 2, 2, 3);
    assert!(set.flip_horizontal(1));
    assert!(!set.flip_horizontal(3));
    let img = set.image(1).unwrap();
    assert_eq!(img[0], code(1, 0, 0, 2));
    assert_eq!(img[2], code(1, 0, 0, 0));
    assert_eq!(img[6 + 3], code(1, 1, 1, 2));
    assert_eq!(set.image(0).unwrap(), coded(1, 2, 2, 3).image(0).unwrap());

    let original = coded(1000, 1, 2, 2);
    let mut a = original.clone();
    let mut b = original.clone();
    let key = RngKey::new(7, 3);
    let flipped = a.random_horizontal_flips(key);
    assert_eq!(b.random_horizontal_flips(key), flipped);
    assert_eq!(a, b);
    assert!((400..600).contains(&flipped), "{flipped}");
    let changed = (0..1000)
        .filter(|&i| a.image(i) != original.image(i))
        .count();
    assert_eq!(changed, flipped);

    let doubled = coded(2, 1, 1, 3).with_horizontal_flips();
    assert_eq!(doubled.shape(), [4, 1, 1, 3]);
    assert_eq!(
        doubled.image(3).unwrap(),
        &[code(1, 0, 0, 2), code(1, 0, 0, 1), code(1, 0, 0, 0)]
    );
}

#[test]
fn select_images() {
    let set = coded(4, 1, 1, 2);
    let s = set.select(&[3, 0, 3]).unwrap();
    assert_eq!(s.shape(), [3, 1, 1, 2]);
    assert_eq!(s.image(2).unwrap(), set.image(3).unwrap());
    assert!(matches!(
        set.select(&[4]).unwrap_err(),
        DataError::Invalid { .. }
    ));
    assert!(matches!(
        set.select(&[]).unwrap_err(),
        DataError::Empty { .. }
    ));
}

#[test]
fn summary_counts_and_statistics() {
    let set = ImageSet::new(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [3, 1, 1, 2], "s").unwrap();
    let s = set.summary();
    assert_eq!(s.count, 3);
    assert_eq!(s.image_shape, [1, 1, 2]);
    assert_eq!(s.mean, 2.5);
    assert!((s.std - (35.0f64 / 12.0).sqrt()).abs() < 1e-15);
    assert_eq!((s.min, s.max), (0.0, 5.0));
    let text = s.to_string();
    assert!(text.starts_with("3 images of 1 x 1 x 2"), "{text}");
    assert!(
        text.contains("mean 2.5000") && text.contains("range [0.0000, 5.0000]"),
        "{text}"
    );
}

#[test]
fn training_source_serves_the_images() {
    let set = coded(5, 2, 3, 4);
    let cpu = set.to_in_memory::<Cpu, f64>(&Cpu::new()).unwrap();
    assert_eq!(ImageSource::<Cpu, f64>::num_images(&cpu), 5);
    assert_eq!(ImageSource::<Cpu, f64>::image_shape(&cpu), [2, 3, 4]);
    let batch = cpu.fetch(&[4, 1]).unwrap();
    assert_eq!(batch.dims(), &[2, 2, 3, 4]);
    let values = batch.to_vec().unwrap();
    assert_eq!(&values[..24], set.image(4).unwrap());
    assert_eq!(&values[24..], set.image(1).unwrap());
    let f32s = set.to_in_memory::<Reference, f32>(&Reference).unwrap();
    assert_eq!(f32s.values()[25], set.values()[25] as f32);
}

#[test]
fn open_images_rejects_unknown_files_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    let text = write(dir.path(), "x.npy", b"hello");
    let e = open_images(&text).unwrap_err();
    assert_message(&e, &text, &["unrecognized format"]);
    let empty = write(dir.path(), "e.npy", b"");
    let e = open_images(&empty).unwrap_err();
    assert!(matches!(e, DataError::Empty { .. }), "{e}");
    let e = open_images(dir.path()).unwrap_err();
    assert_message(&e, dir.path(), &["is a folder"]);
    let missing = dir.path().join("missing");
    assert!(matches!(
        open_images(&missing).unwrap_err(),
        DataError::Io { .. }
    ));
}
