//! The error type of training and checkpoints: tensor errors plus files, configurations and
//! non-finite losses.

use crate::error::Error;
use std::fmt;
use std::path::PathBuf;

/// What stopped a training step or a checkpoint operation.
#[derive(Debug)]
pub enum TrainError {
    /// A tensor operation failed (shapes, backend).
    Tensor(Error),
    /// A configuration value that cannot be used.
    Config(String),
    /// The loss or a gradient was NaN or infinite. No checkpoint was written for the step.
    ///
    /// When `applied_through` is `None`, the step was not applied: the model, the optimizer and
    /// the random streams are as they were before it, and the trainer may go on. Otherwise
    /// the step's values were read back after its update and those of the steps up to
    /// `applied_through` were applied ([`super::TrainConfig::sync_every`] above 1): the model
    /// holds updates made from a non-finite gradient, so the trainer refuses every further
    /// step and checkpoint with this error, and the run continues from the last good
    /// checkpoint.
    NonFinite {
        /// The number of the step that failed (1 for the first update).
        step: u64,
        /// What was not finite: `"loss"` or `"gradient of 'name'"`.
        what: String,
        /// Its value (a NaN, an infinity, or a sum of absolute values for a gradient).
        value: f64,
        /// The batch mean of the denoising term.
        dsm: f64,
        /// The batch mean of the time term.
        tsm: f64,
        /// The folder of the last checkpoint written by this trainer, if any.
        last_checkpoint: Option<PathBuf>,
        /// The last step applied when the failure was found, if the failed step was applied.
        applied_through: Option<u64>,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done, as in `"read"` or `"rename into place"`.
        action: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// A checkpoint file that cannot be parsed, or that does not fit the model or the
    /// optimizer (missing or extra parameters, other shapes, other data types).
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Everything found wrong, one problem per line.
        message: String,
    },
}

impl TrainError {
    /// A [`TrainError::Checkpoint`] about `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        TrainError::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A [`TrainError::Io`] about `path`.
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Tensor(e) => write!(f, "{e}"),
            TrainError::Config(message) => write!(f, "invalid training configuration: {message}"),
            TrainError::NonFinite {
                step,
                what,
                value,
                dsm,
                tsm,
                last_checkpoint,
                applied_through,
            } => {
                write!(
                    f,
                    "training stopped at step {step}: the {what} is not finite ({value}; batch mean dsm {dsm}, tsm {tsm}); "
                )?;
                match applied_through {
                    None => write!(f, "the step was not applied. ")?,
                    Some(last) => write!(
                        f,
                        "it was read back after the updates of steps {step} to {last} were applied (sync_every), so this trainer takes no more steps and writes no checkpoint. "
                    )?,
                }
                match last_checkpoint {
                    Some(dir) => write!(
                        f,
                        "The last good checkpoint is {} (unchanged)",
                        dir.display()
                    ),
                    None => write!(f, "No checkpoint was written by this run"),
                }
            }
            TrainError::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            TrainError::Checkpoint { path, message } => {
                write!(f, "checkpoint file {}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for TrainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrainError::Tensor(e) => Some(e),
            TrainError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Error> for TrainError {
    fn from(e: Error) -> Self {
        TrainError::Tensor(e)
    }
}
