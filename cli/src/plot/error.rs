//! The error type of the figure writers.

use std::path::PathBuf;

/// Why a figure could not be written. Every message names the output file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The folder that should hold the figure does not exist (or is not a folder).
    #[error("cannot write {}: the folder {} does not exist", path.display(), folder.display())]
    MissingFolder {
        /// The figure that was to be written.
        path: PathBuf,
        /// Its folder.
        folder: PathBuf,
    },
    /// The output path has no file name (it ends in `..` or is a root).
    #[error("cannot write {}: the path does not name a file", path.display())]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// The input cannot be drawn (zero bins, images of the wrong length, ...).
    #[error("cannot draw {}: {message}", path.display())]
    InvalidInput {
        /// The figure that was to be written.
        path: PathBuf,
        /// What is wrong with the input.
        message: String,
    },
    /// The embedded font could not be loaded.
    #[error("cannot draw {}: the embedded DejaVu Sans font could not be loaded", path.display())]
    Font {
        /// The figure that was to be written.
        path: PathBuf,
    },
    /// Drawing the chart failed.
    #[error("cannot draw {}: {message}", path.display())]
    Draw {
        /// The figure that was to be written.
        path: PathBuf,
        /// The drawing library's message.
        message: String,
    },
    /// Encoding the PNG failed.
    #[error("cannot encode {} as PNG: {source}", path.display())]
    Encode {
        /// The figure that was to be written.
        path: PathBuf,
        /// The encoder's error.
        source: image::ImageError,
    },
    /// Creating, writing or renaming the file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The figure that was to be written.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl PlotError {
    /// The figure this error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::MissingFolder { path, .. }
            | Self::NotAFile { path }
            | Self::InvalidInput { path, .. }
            | Self::Font { path }
            | Self::Draw { path, .. }
            | Self::Encode { path, .. }
            | Self::Io { path, .. } => path,
        }
    }

    pub(super) fn invalid(path: &std::path::Path, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}
