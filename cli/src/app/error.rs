//! What can stop a command.

use crate::data::DataError;
use crate::model::ModelError;
use dualscore_core::train::TrainError;
use std::path::PathBuf;

/// A command's failure, with a message that says what and where.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The command line is not valid (clap's message, usage included).
    #[error("{0}")]
    Usage(String),
    /// Reading images failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Opening a model failed, or it does not fit the data.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Training or a checkpoint operation failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A computation failed.
    #[error("{0}")]
    Core(#[from] dualscore_core::Error),
    /// A file could not be written.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was tried.
        action: &'static str,
        /// What the operating system reported.
        source: std::io::Error,
    },
    /// Anything else, said in words.
    #[error("{0}")]
    Message(String),
}

impl AppError {
    /// An input/output error on `path`.
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        AppError::Io {
            path: path.into(),
            action,
            source,
        }
    }

    /// An error said in words.
    pub fn msg(message: impl Into<String>) -> Self {
        AppError::Message(message.into())
    }
}

/// A command's result.
pub type AppResult<T> = Result<T, AppError>;
