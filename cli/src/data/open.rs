//! Opening a file of images whatever its format, told by its first bytes.

use std::path::Path;

use super::error::{DataError, Result};
use super::idx::{looks_like_idx, parse_idx};
use super::npy::parse_npy;
use super::photo::{Channels, decode_photo};
use super::set::ImageSet;

/// Reads a file of images, choosing the reader by the file's first bytes: `.npy`
/// ([`super::read_npy`]), IDX plain or gzip ([`super::read_idx`]), or one PNG or JPEG
/// photograph in gray ([`super::read_photo`]). For a folder of photographs use
/// [`super::read_photo_folder`].
pub fn open_images(path: impl AsRef<Path>) -> Result<ImageSet> {
    let path = path.as_ref();
    if path.is_dir() {
        return Err(DataError::invalid(
            path,
            "is a folder: read a folder of photographs with its patch size and split",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.starts_with(b"\x93NUMPY") {
        parse_npy(&bytes, path)
    } else if looks_like_idx(&bytes) {
        parse_idx(&bytes, path)
    } else if bytes.starts_with(b"\x89PNG") || bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        decode_photo(&bytes, path, Channels::Gray)
    } else if bytes.is_empty() {
        Err(DataError::empty(path, "the file is empty"))
    } else {
        Err(DataError::corrupt(
            path,
            "image",
            "unrecognized format: expected .npy, IDX (plain or gzip), PNG or JPEG",
        ))
    }
}
