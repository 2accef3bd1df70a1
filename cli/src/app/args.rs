//! Command-line arguments shared by several commands: the data and the model.

use super::error::{AppError, AppResult};
use crate::data::{Channels, ImageSet, PhotoOptions, TestPhotos, open_images, read_photo_folder};
use clap::Args;
use std::path::PathBuf;

/// Where the images come from.
#[derive(Clone, Debug, Default, Args)]
pub struct DataArgs {
    /// Training images: a .npy or IDX file (plain or gzip).
    #[arg(long, value_name = "FILE")]
    pub train: Option<PathBuf>,
    /// Test images: a .npy or IDX file (plain or gzip).
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    /// A folder of PNG/JPEG photographs, cut into patches and split into training and test
    /// sets by photograph (instead of --train and --test).
    #[arg(long, value_name = "FOLDER", conflicts_with_all = ["train", "test"])]
    pub photos: Option<PathBuf>,
    /// Photographs held out for testing (with --photos): this many, chosen by --split-seed.
    #[arg(long, default_value_t = 2)]
    pub test_photos: usize,
    /// The seed of the choice of test photographs.
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    /// Keep the photographs' colors (3 channels) instead of gray (ITU-R 601 luma).
    #[arg(long)]
    pub color: bool,
    /// Cut the images into square patches of this side (photographs: 16 when not given).
    #[arg(long, value_name = "P")]
    pub patch: Option<usize>,
    /// The step between patches (default: the patch side, no overlap).
    #[arg(long, value_name = "S")]
    pub stride: Option<usize>,
    /// Use at most this many test images (the first ones).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// The training and test sets a command asked for.
#[derive(Clone, Debug, Default)]
pub struct Sets {
    /// The training images.
    pub train: Option<ImageSet>,
    /// The test images (at most `--limit`).
    pub test: Option<ImageSet>,
}

impl DataArgs {
    /// Reads the sets.
    pub fn read(&self) -> AppResult<Sets> {
        let mut sets = if let Some(folder) = &self.photos {
            let patch = self.patch.unwrap_or(16);
            let options = PhotoOptions {
                patch,
                stride: self.stride.unwrap_or(patch),
                channels: if self.color {
                    Channels::Color
                } else {
                    Channels::Gray
                },
                test: if self.test_photos == 0 {
                    TestPhotos::None
                } else {
                    TestPhotos::Seeded {
                        seed: self.split_seed,
                        count: self.test_photos,
                    }
                },
            };
            let photo_sets = read_photo_folder(folder, &options)?;
            Sets {
                train: Some(photo_sets.train),
                test: photo_sets.test,
            }
        } else {
            let read = |path: &Option<PathBuf>| -> AppResult<Option<ImageSet>> {
                let Some(path) = path else { return Ok(None) };
                let set = open_images(path)?;
                Ok(Some(match self.patch {
                    Some(p) => set.patches(p, self.stride.unwrap_or(p))?,
                    None => set,
                }))
            };
            Sets {
                train: read(&self.train)?,
                test: read(&self.test)?,
            }
        };
        if let (Some(limit), Some(test)) = (self.limit, &sets.test) {
            if limit == 0 {
                return Err(AppError::msg("--limit must be at least 1"));
            }
            if limit < test.len() {
                let first: Vec<usize> = (0..limit).collect();
                sets.test = Some(test.select(&first)?);
            }
        }
        Ok(sets)
    }
}

impl Sets {
    /// The training set, or an error that says which option gives it.
    pub fn need_train(&self) -> AppResult<&ImageSet> {
        self.train.as_ref().ok_or_else(|| {
            AppError::msg("training images are needed: give --train FILE or --photos FOLDER")
        })
    }

    /// The test set (or, without one, the training set), or an error.
    pub fn evaluation(&self) -> AppResult<&ImageSet> {
        self.test.as_ref().or(self.train.as_ref()).ok_or_else(|| {
            AppError::msg(
                "images are needed: give --test FILE (or --train FILE, or --photos FOLDER)",
            )
        })
    }
}
