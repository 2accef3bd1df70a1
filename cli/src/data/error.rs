//! The error type of the data readers: every variant names the file (or folder) it is about.

use std::path::{Path, PathBuf};

/// What went wrong while reading or preparing image data, and in which file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file or folder could not be opened or read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system reported.
        source: std::io::Error,
    },
    /// The file ends before the data its header announces.
    #[error("{}: truncated {format} file: {message}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The file format, as in `"npy"` or `"IDX"`.
        format: &'static str,
        /// What is missing.
        message: String,
    },
    /// The file is not of the format it was read as, or its contents are inconsistent: a wrong
    /// magic number, a header that does not parse, a corrupt compressed stream, trailing bytes,
    /// non-finite values.
    #[error("{}: not a valid {format} file: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The file format.
        format: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A valid file whose element type is not one the readers accept.
    #[error("{}: unsupported {format} element type {dtype}: {expected}", path.display())]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The file format.
        format: &'static str,
        /// The element type as the file names it, as in `'<i4' (int32)`.
        dtype: String,
        /// What is accepted instead.
        expected: &'static str,
    },
    /// A valid file whose array has a number of dimensions that is not an image batch.
    #[error(
        "{}: {format} array of rank {} (shape {shape:?}) is not a set of images: {expected}",
        path.display(),
        shape.len()
    )]
    Rank {
        /// The file.
        path: PathBuf,
        /// The file format.
        format: &'static str,
        /// The array's shape.
        shape: Vec<u64>,
        /// The shapes accepted.
        expected: &'static str,
    },
    /// A valid npy file stored in Fortran (column-major) order.
    #[error(
        "{}: npy file in Fortran order is not supported: save it in C order \
         (numpy.ascontiguousarray)",
        path.display()
    )]
    FortranOrder {
        /// The file.
        path: PathBuf,
    },
    /// A file, or the result of an operation, that holds no image (a zero in its shape).
    #[error("{}: no images: {message}", path.display())]
    Empty {
        /// The file, or the origin of the set.
        path: PathBuf,
        /// Which dimension is zero, or why nothing is left.
        message: String,
    },
    /// An image smaller than the patches to cut from it.
    #[error(
        "{}: image of {height} x {width} pixels is smaller than the {patch} x {patch} patches",
        path.display()
    )]
    TooSmall {
        /// The image file, or the origin of the set.
        path: PathBuf,
        /// The image height.
        height: usize,
        /// The image width.
        width: usize,
        /// The patch size.
        patch: usize,
    },
    /// A folder without a single PNG or JPEG file.
    #[error("{}: no PNG or JPEG images in this folder", path.display())]
    NoImages {
        /// The folder.
        path: PathBuf,
    },
    /// An image file that the decoder rejects.
    #[error("{}: cannot decode image: {source}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// What the decoder reported.
        source: image::ImageError,
    },
    /// An argument the operation cannot accept (a zero patch size, a split that leaves no
    /// training photograph, an unknown test photograph).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file, folder or set origin the argument was applied to.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An error of the core library (converting a set to tensors).
    #[error("{}: {source}", path.display())]
    Core {
        /// The origin of the set.
        path: PathBuf,
        /// The core library's error.
        source: dualscore_core::Error,
    },
}

impl DataError {
    /// The file or folder the error is about.
    pub fn path(&self) -> &Path {
        match self {
            DataError::Io { path, .. }
            | DataError::Truncated { path, .. }
            | DataError::Corrupt { path, .. }
            | DataError::Dtype { path, .. }
            | DataError::Rank { path, .. }
            | DataError::FortranOrder { path }
            | DataError::Empty { path, .. }
            | DataError::TooSmall { path, .. }
            | DataError::NoImages { path }
            | DataError::Image { path, .. }
            | DataError::Invalid { path, .. }
            | DataError::Core { path, .. } => path,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, format: &'static str, message: impl Into<String>) -> Self {
        DataError::Corrupt {
            path: path.to_path_buf(),
            format,
            message: message.into(),
        }
    }

    pub(crate) fn truncated(path: &Path, format: &'static str, message: impl Into<String>) -> Self {
        DataError::Truncated {
            path: path.to_path_buf(),
            format,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn empty(path: &Path, message: impl Into<String>) -> Self {
        DataError::Empty {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// The result type of the data readers.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
