//! Reading real image data for training and evaluation.
//!
//! Every reader gives an [`ImageSet`]: a non-empty array of f64 values of shape
//! `[N, C, H, W]` that remembers the file it came from.
//!
//! - [`read_npy`]: NumPy `.npy` files (uint8 scaled to value / 255, float32, float64; rank 3
//!   for one channel or rank 4), as in `natural_gray_p32_s16_train.npy`.
//! - [`read_idx`]: IDX files of MNIST and Fashion-MNIST, plain or gzip.
//! - [`read_photo_folder`]: folders of PNG and JPEG photographs, gray by ITU-R BT.601 luma or
//!   in color, cut into patches and split into training and test sets by photograph.
//! - [`open_images`]: any single file of the above, told by its first bytes.
//!
//! [`ImageSet::patches`] cuts any set into smaller patches, [`ImageSet::random_horizontal_flips`]
//! mirrors images for training, [`ImageSet::summary`] describes a set, and
//! [`ImageSet::to_in_memory`] gives the [`dualscore_core::train::ImageSource`] that training
//! consumes.
//!
//! Bad input is a [`DataError`] naming the file and the problem, never a panic.
//!
//! ```no_run
//! use dualscore::data::read_npy;
//! use dualscore_cpu::Cpu;
//!
//! let set = read_npy("natural_gray_p32_s16_train.npy")?.patches(16, 16)?;
//! println!("{}", set.summary());
//! let source = set.to_in_memory::<Cpu, f32>(&Cpu::new())?;
//! # let _ = source;
//! # Ok::<(), dualscore::data::DataError>(())
//! ```

mod error;
mod finite;
mod idx;
mod npy;
mod open;
mod patches;
mod photo;
mod photos;
mod set;
mod summary;

pub use error::{DataError, Result};
pub use finite::{NonFinitePixel, first_non_finite};
pub use idx::{idx_bytes, looks_like_idx, parse_idx, read_idx};
pub use npy::{
    NpyDtype, NpyHeader, f32_le_bytes, f64_le_bytes, npy_bytes, npy_dict, npy_f64_bytes,
    parse_header as parse_npy_header, parse_npy, read_npy,
};
pub use open::open_images;
pub use patches::positions as patch_positions;
pub use photo::{Channels, LUMA_601, decode_photo, photo_dimensions, read_photo};
pub use photos::{
    PhotoOptions, PhotoSets, TestPhotos, choose_test_photos, is_photo_name, list_photos,
    read_photo_folder,
};
pub use set::ImageSet;
pub use summary::Summary;
