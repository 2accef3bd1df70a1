//! Folders of PNG and JPEG photographs: decoding, gray and color, patches, the split by
//! photograph, and every bad folder or file.

mod common;

use common::*;
use dualscore::data::{
    Channels, DataError, LUMA_601, PhotoOptions, TestPhotos, decode_photo, list_photos,
    open_images, patch_positions, read_photo, read_photo_folder,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Six gray PNG photographs of different sizes, a JPEG, a text file and a subfolder.
fn folder() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let mut photos = Vec::new();
    for (i, (w, h)) in [(12, 10), (10, 10), (16, 9), (9, 13), (10, 11), (20, 8)]
        .into_iter()
        .enumerate()
    {
        photos.push(gray_photo(dir.path(), &format!("p{i}.png"), w, h, i as u32));
    }
    photos.push(gray_photo(dir.path(), "q.JPG", 11, 12, 9));
    write(dir.path(), "notes.txt", b"not a photograph");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    gray_photo(&dir.path().join("sub"), "inner.png", 40, 40, 0);
    (dir, photos)
}

fn patches_of(photo: &Path, patch: usize, stride: usize) -> usize {
    let set = read_photo(photo, Channels::Gray).unwrap();
    let [_, _, h, w] = set.shape();
    patch_positions(h, patch, stride).unwrap() * patch_positions(w, patch, stride).unwrap()
}

#[test]
fn gray_png_values_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = gray_photo(dir.path(), "g.png", 7, 5, 3);
    let set = read_photo(&path, Channels::Gray).unwrap();
    assert_eq!(set.shape(), [1, 1, 5, 7]);
    for y in 0..5 {
        for x in 0..7 {
            let v = f64::from(pixel(3, x as u32, y as u32)) / 255.0;
            assert_eq!(set.values()[y * 7 + x], v);
        }
    }
    let color = read_photo(&path, Channels::Color).unwrap();
    assert_eq!(color.shape(), [1, 3, 5, 7]);
    assert_eq!(&color.values()[..35], set.values());
    assert_eq!(&color.values()[70..], set.values());
}

#[test]
fn color_png_is_601_luma_or_three_planes() {
    let dir = tempfile::tempdir().unwrap();
    let path = color_photo(dir.path(), "c.png", 6, 4, 1);
    let gray = read_photo(&path, Channels::Gray).unwrap();
    let color = read_photo(&path, Channels::Color).unwrap();
    assert_eq!(gray.shape(), [1, 1, 4, 6]);
    assert_eq!(color.shape(), [1, 3, 4, 6]);
    for y in 0..4u32 {
        for x in 0..6u32 {
            let rgb =
                [pixel(1, x, y), pixel(2, x, y), pixel(3, y, x)].map(|v| f64::from(v) / 255.0);
            let i = (y * 6 + x) as usize;
            for (k, &v) in rgb.iter().enumerate() {
                assert_eq!(color.values()[k * 24 + i], v);
            }
            let luma = LUMA_601[0] * rgb[0] + LUMA_601[1] * rgb[1] + LUMA_601[2] * rgb[2];
            assert!((gray.values()[i] - luma).abs() < 1e-15);
        }
    }
}

#[test]
fn sixteen_bit_png_is_scaled_by_65535() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.png");
    let img = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(3, 2, |x, y| {
        image::Luma([(x * 20000 + y * 3) as u16])
    });
    img.save(&path).unwrap();
    let set = read_photo(&path, Channels::Gray).unwrap();
    assert_eq!(set.values()[2], 40000.0 / 65535.0);
    assert_eq!(set.values()[3], 3.0 / 65535.0);
}

#[test]
fn jpeg_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flat.jpg");
    image::GrayImage::from_pixel(16, 8, image::Luma([128]))
        .save(&path)
        .unwrap();
    let set = read_photo(&path, Channels::Gray).unwrap();
    assert_eq!(set.shape(), [1, 1, 8, 16]);
    for &v in set.values() {
        assert!((v - 128.0 / 255.0).abs() < 2.0 / 255.0, "{v}");
    }
    let path = color_photo(dir.path(), "c.jpeg", 9, 7, 0);
    assert_eq!(
        read_photo(&path, Channels::Color).unwrap().shape(),
        [1, 3, 7, 9]
    );
    assert_eq!(open_images(&path).unwrap().shape(), [1, 1, 7, 9]);
}

#[test]
fn folder_is_listed_sorted_without_other_files() {
    let (dir, photos) = folder();
    assert_eq!(list_photos(dir.path()).unwrap(), photos);
}

#[test]
fn folder_patches_without_split() {
    let (dir, photos) = folder();
    let sets = read_photo_folder(dir.path(), &PhotoOptions::new(4, 3)).unwrap();
    let expected: usize = photos.iter().map(|p| patches_of(p, 4, 3)).sum();
    assert_eq!(sets.train.shape(), [expected, 1, 4, 4]);
    assert!(sets.test.is_none());
    assert!(sets.test_photos.is_empty());
    assert_eq!(sets.train_photos, photos);
    // The first patch is the top-left corner of the first photograph.
    let first = read_photo(&photos[0], Channels::Gray).unwrap();
    for y in 0..4 {
        assert_eq!(
            &sets.train.image(0).unwrap()[y * 4..y * 4 + 4],
            &first.values()[y * 12..y * 12 + 4]
        );
    }
    // The second patch starts 3 pixels to the right.
    assert_eq!(sets.train.image(1).unwrap()[0], first.values()[3]);
}

#[test]
fn seeded_split_is_by_photograph_and_reproducible() {
    let (dir, photos) = folder();
    let mut options = PhotoOptions::new(5, 5);
    let mut splits = BTreeSet::new();
    for seed in 0..8 {
        options.test = TestPhotos::Seeded { seed, count: 2 };
        let a = read_photo_folder(dir.path(), &options).unwrap();
        let b = read_photo_folder(dir.path(), &options).unwrap();
        assert_eq!(a, b, "seed {seed}");
        assert_eq!(a.test_photos.len(), 2);
        assert_eq!(a.train_photos.len(), photos.len() - 2);
        let train: BTreeSet<_> = a.train_photos.iter().collect();
        let test: BTreeSet<_> = a.test_photos.iter().collect();
        assert!(train.is_disjoint(&test));
        assert_eq!(train.len() + test.len(), photos.len());
        let n_train: usize = a.train_photos.iter().map(|p| patches_of(p, 5, 5)).sum();
        let n_test: usize = a.test_photos.iter().map(|p| patches_of(p, 5, 5)).sum();
        assert_eq!(a.train.len(), n_train);
        assert_eq!(a.test.as_ref().unwrap().len(), n_test);
        splits.insert(a.test_photos.clone());
    }
    assert!(splits.len() > 2, "seeds should give different splits");
}

#[test]
fn named_split_by_file_name_or_stem() {
    let (dir, photos) = folder();
    let mut options = PhotoOptions::new(8, 8);
    options.test = TestPhotos::Named(vec!["p2".into(), "q.JPG".into()]);
    let sets = read_photo_folder(dir.path(), &options).unwrap();
    assert_eq!(sets.test_photos, vec![photos[2].clone(), photos[6].clone()]);
    let test = sets.test.unwrap();
    assert_eq!(
        test.len(),
        patches_of(&photos[2], 8, 8) + patches_of(&photos[6], 8, 8)
    );
    assert_eq!(
        test.image(0).unwrap(),
        &read_photo(&photos[2], Channels::Gray)
            .unwrap()
            .patches(8, 8)
            .unwrap()
            .values()[..64]
    );
}

#[test]
fn color_folder_has_three_channels() {
    let dir = tempfile::tempdir().unwrap();
    color_photo(dir.path(), "a.png", 8, 8, 0);
    gray_photo(dir.path(), "b.png", 8, 4, 1);
    let mut options = PhotoOptions::new(4, 4);
    options.channels = Channels::Color;
    let sets = read_photo_folder(dir.path(), &options).unwrap();
    assert_eq!(sets.train.shape(), [6, 3, 4, 4]);
}

#[test]
fn split_errors_name_the_folder() {
    let (dir, _) = folder();
    let mut options = PhotoOptions::new(4, 4);
    options.test = TestPhotos::Seeded { seed: 1, count: 7 };
    let e = read_photo_folder(dir.path(), &options).unwrap_err();
    assert!(matches!(e, DataError::Invalid { .. }), "{e}");
    assert_message(&e, dir.path(), &["at least one must be left for training"]);
    options.test = TestPhotos::Named(vec!["chelsea".into()]);
    let e = read_photo_folder(dir.path(), &options).unwrap_err();
    assert_message(&e, dir.path(), &["\"chelsea\" is not among"]);
    let all = (0..6)
        .map(|i| format!("p{i}"))
        .chain(["q".to_string()])
        .collect();
    options.test = TestPhotos::Named(all);
    let e = read_photo_folder(dir.path(), &options).unwrap_err();
    assert_message(&e, dir.path(), &["every photograph"]);
    for (patch, stride) in [(0, 1), (1, 0)] {
        let e = read_photo_folder(dir.path(), &PhotoOptions::new(patch, stride)).unwrap_err();
        assert!(matches!(e, DataError::Invalid { .. }), "{e}");
        assert_message(&e, dir.path(), &["at least 1"]);
    }
}

#[test]
fn folder_without_images_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "readme.txt", b"x");
    let e = read_photo_folder(dir.path(), &PhotoOptions::new(4, 4)).unwrap_err();
    assert!(matches!(e, DataError::NoImages { .. }), "{e}");
    assert_message(&e, dir.path(), &["no PNG or JPEG"]);
    let missing = dir.path().join("missing");
    let e = read_photo_folder(&missing, &PhotoOptions::new(4, 4)).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    assert_message(&e, &missing, &["cannot read"]);
}

#[test]
fn unreadable_photograph_is_named() {
    let (dir, photos) = folder();
    let bad = write(dir.path(), "p3.png", b"\x89PNG\r\n\x1a\nnot really");
    let e = read_photo_folder(dir.path(), &PhotoOptions::new(4, 4)).unwrap_err();
    assert!(matches!(e, DataError::Image { .. }), "{e}");
    assert_message(&e, &bad, &["cannot decode image"]);
    let garbage = write(dir.path(), "p3.png", b"plain text with a png name");
    let e = read_photo_folder(dir.path(), &PhotoOptions::new(4, 4)).unwrap_err();
    assert_message(&e, &garbage, &["cannot decode image"]);
    // A truncated JPEG.
    let jpeg = std::fs::read(&photos[6]).unwrap();
    let cut = write(dir.path(), "p3.png", &jpeg[..jpeg.len() / 3]);
    let e = read_photo_folder(dir.path(), &PhotoOptions::new(4, 4)).unwrap_err();
    assert_eq!(e.path(), cut, "{e}");
}

#[test]
fn truncated_png_is_an_error_at_every_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = color_photo(dir.path(), "c.png", 5, 5, 0);
    let bytes = std::fs::read(&path).unwrap();
    // Every cut before the closing IEND chunk (whose absence the decoder forgives, the pixels
    // being complete by then) is an error.
    let iend = bytes.windows(4).position(|w| w == b"IEND").unwrap() - 4;
    for len in 0..iend {
        let r = decode_photo(&bytes[..len], Path::new("c.png"), Channels::Gray);
        assert!(r.is_err(), "{len}");
    }
}

#[test]
fn photograph_smaller_than_the_patch_is_named() {
    let (dir, photos) = folder();
    let e = read_photo_folder(dir.path(), &PhotoOptions::new(10, 2)).unwrap_err();
    assert!(matches!(e, DataError::TooSmall { .. }), "{e}");
    // p2 is 16 x 9: the first photograph in name order with a side below 10.
    assert_message(&e, &photos[2], &["9 x 16 pixels", "10 x 10 patches"]);
}
