//! Folders of photographs: listed, split into training and test photographs, and cut into
//! patches, so that no photograph contributes to both sets.

use std::path::{Path, PathBuf};

use dualscore_core::rng::{RngKey, uniform_at};

use super::error::{DataError, Result};
use super::patches;
use super::photo::{Channels, read_photo};
use super::set::ImageSet;

/// Which photographs of a folder are held out for testing. The others are for training; at
/// least one must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestPhotos {
    /// No photograph: everything is for training.
    None,
    /// `count` photographs drawn from `seed`: the sorted list of photographs shuffled by a
    /// Fisher-Yates permutation from the counter-based sequence of `seed`, its first `count`
    /// held out. The same folder and seed always give the same split.
    Seeded {
        /// The seed of the shuffle.
        seed: u64,
        /// How many photographs to hold out.
        count: usize,
    },
    /// The photographs with these file names (`"chelsea.png"`) or stems (`"chelsea"`, which
    /// holds out every photograph with that stem). Each name must match a photograph.
    Named(Vec<String>),
}

/// How a folder of photographs becomes sets of patches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhotoOptions {
    /// The side of the square patches, in pixels.
    pub patch: usize,
    /// The step between patches, in pixels (equal to `patch` for patches that do not overlap).
    pub stride: usize,
    /// Gray (ITU-R BT.601 luma) or color.
    pub channels: Channels,
    /// Which photographs are held out.
    pub test: TestPhotos,
}

impl PhotoOptions {
    /// Gray patches of side `patch` at stride `stride`, nothing held out.
    pub fn new(patch: usize, stride: usize) -> Self {
        PhotoOptions {
            patch,
            stride,
            channels: Channels::Gray,
            test: TestPhotos::None,
        }
    }
}

/// The training and test patches of a folder of photographs, and which photographs gave them.
#[derive(Clone, Debug, PartialEq)]
pub struct PhotoSets {
    /// The patches of the training photographs.
    pub train: ImageSet,
    /// The patches of the test photographs; `None` when none is held out.
    pub test: Option<ImageSet>,
    /// The training photographs, sorted by name.
    pub train_photos: Vec<PathBuf>,
    /// The test photographs, sorted by name.
    pub test_photos: Vec<PathBuf>,
}

/// Whether a file name has a PNG or JPEG extension (`.png`, `.jpg`, `.jpeg`, any case).
pub fn is_photo_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

/// The PNG and JPEG files directly inside `folder` (not in subfolders), sorted by name. Other
/// files are ignored. Fails when there is none.
pub fn list_photos(folder: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let folder = folder.as_ref();
    let entries = std::fs::read_dir(folder).map_err(|e| DataError::io(folder, e))?;
    let mut photos = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(folder, e))?.path();
        if is_photo_name(&path) && path.is_file() {
            photos.push(path);
        }
    }
    if photos.is_empty() {
        return Err(DataError::NoImages {
            path: folder.to_path_buf(),
        });
    }
    photos.sort();
    Ok(photos)
}

/// For each photograph of `photos`, whether it is held out for testing under `test`. `folder`
/// names the photographs' folder in errors. Fails when no photograph is left for training or a
/// named photograph is missing.
pub fn choose_test_photos(
    photos: &[PathBuf],
    test: &TestPhotos,
    folder: &Path,
) -> Result<Vec<bool>> {
    let mut held = vec![false; photos.len()];
    match test {
        TestPhotos::None => {}
        TestPhotos::Seeded { seed, count } => {
            if *count >= photos.len() {
                return Err(DataError::invalid(
                    folder,
                    format!(
                        "cannot hold out {count} of {} photographs: at least one must be left \
                         for training",
                        photos.len()
                    ),
                ));
            }
            let key = RngKey::new(*seed, 0);
            let mut order: Vec<usize> = (0..photos.len()).collect();
            for i in (1..order.len()).rev() {
                let j = ((uniform_at(key, i as u64) * (i + 1) as f64) as usize).min(i);
                order.swap(i, j);
            }
            for &i in &order[..*count] {
                held[i] = true;
            }
        }
        TestPhotos::Named(names) => {
            for name in names {
                let mut found = false;
                for (i, photo) in photos.iter().enumerate() {
                    let file = photo.file_name().and_then(|f| f.to_str());
                    let stem = photo.file_stem().and_then(|f| f.to_str());
                    if file == Some(name.as_str()) || stem == Some(name.as_str()) {
                        held[i] = true;
                        found = true;
                    }
                }
                if !found {
                    return Err(DataError::invalid(
                        folder,
                        format!(
                            "the test photograph {name:?} is not among the {} PNG and JPEG \
                             files of this folder",
                            photos.len()
                        ),
                    ));
                }
            }
            if held.iter().all(|&h| h) {
                return Err(DataError::invalid(
                    folder,
                    "every photograph is named for testing: at least one must be left for \
                     training",
                ));
            }
        }
    }
    Ok(held)
}

/// Reads every PNG and JPEG photograph of `folder`, splits them into training and test
/// photographs by `options.test`, and cuts each into `options.patch` x `options.patch` patches
/// at stride `options.stride` (photograph by photograph, in name order).
///
/// Fails, naming the file, when a photograph cannot be decoded or is smaller than a patch.
pub fn read_photo_folder(folder: impl AsRef<Path>, options: &PhotoOptions) -> Result<PhotoSets> {
    let folder = folder.as_ref();
    patches::check_params(folder, options.patch, options.stride)?;
    let photos = list_photos(folder)?;
    let held = choose_test_photos(&photos, &options.test, folder)?;
    let c = options.channels.count();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    let (mut n_train, mut n_test) = (0, 0);
    let (mut train_photos, mut test_photos) = (Vec::new(), Vec::new());
    for (photo, &is_test) in photos.iter().zip(&held) {
        let image = read_photo(photo, options.channels)?;
        let (out, n, list) = if is_test {
            (&mut test, &mut n_test, &mut test_photos)
        } else {
            (&mut train, &mut n_train, &mut train_photos)
        };
        *n += patches::cut_into(
            out,
            image.values(),
            image.shape(),
            options.patch,
            options.stride,
            photo,
        )?;
        list.push(photo.clone());
    }
    let shape = |n| [n, c, options.patch, options.patch];
    let test = if test_photos.is_empty() {
        None
    } else {
        Some(ImageSet::new(test, shape(n_test), folder)?)
    };
    Ok(PhotoSets {
        train: ImageSet::new(train, shape(n_train), folder)?,
        test,
        train_photos,
        test_photos,
    })
}
