//! Training by dual score matching: the loss, noise-level samplers, Adam, learning-rate
//! schedules, data sources, the training loop, metrics and checkpoints.
//!
//! - [`score_matching_loss`]: the dual (or single) score matching loss of a batch;
//! - [`LogUniform`], [`EVAL_PSNRS_DB`]: the training distribution of the noise variance and
//!   the evaluation grid; [`BandSampler`]: importance sampling of the variance;
//! - [`Adam`], [`LrSchedule`]: the optimizer (PyTorch's update) and its learning rate;
//! - [`ImageSource`], [`InMemoryImages`], [`EpochOrder`]: the data and the order it is visited;
//! - [`Trainer`], [`TrainConfig`], [`StepMetrics`]: the reproducible training loop;
//! - [`checkpoint`]: checkpoint folders, written atomically and loaded strictly;
//! - [`held_out_loss`], [`band_losses`]: the loss on held-out images at fixed noise levels and
//!   its mean per noise band;
//! - [`TrainError`]: what can stop a step or a checkpoint operation.

mod adam;
mod atomic;
mod average;
pub mod checkpoint;
mod config;
mod data;
mod error;
mod evaluate;
mod faults;
mod importance;
mod loss;
mod noise;
pub(crate) mod parts;
mod schedule;
mod trainer;

pub use adam::{Adam, AdamConfig, AdamMoments};
pub use average::ParameterAverage;
pub use checkpoint::{
    CHECKPOINT_FILE, CheckpointInfo, RngState, TrainRngStates, load_checkpoint_averaged_weights,
    load_checkpoint_weights, load_weights, read_checkpoint, save_weights,
};
pub use config::TrainConfig;
pub use data::{EpochOrder, ImageSource, InMemoryImages, mirror_images};
pub use error::TrainError;
pub use evaluate::{BandLoss, LevelLoss, NOISE_BANDS, band_losses, held_out_loss};
pub use importance::{BandSampler, ImportanceSampling};
pub use loss::{Objective, ScoreMatchingLoss, score_matching_loss};
pub use noise::{
    EVAL_PSNRS_DB, LogUniform, evaluation_variances, psnr_grid, psnr_to_variance, variance_to_psnr,
};
pub use schedule::LrSchedule;
pub use trainer::{
    DATA_STREAM, FLIP_STREAM, NOISE_LEVEL_STREAM, NOISE_STREAM, StepMetrics, TrainSummary, Trainer,
    read_metrics,
};
