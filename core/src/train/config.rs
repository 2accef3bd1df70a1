//! The training configuration (serde), with the authors' settings as defaults.

use super::adam::AdamConfig;
use super::error::TrainError;
use super::importance::ImportanceSampling;
use super::loss::Objective;
use super::noise::LogUniform;
use super::schedule::LrSchedule;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything that defines a training run besides the model and the data.
///
/// Every field has a default (the authors' settings where they apply, listed for the paper's
/// presets in docs/PROGRAM.md, `train`), so a configuration file need only name what it changes.
/// Unknown fields are an error.
///
/// ```
/// use dualscore_core::train::{LrSchedule, Objective, TrainConfig};
/// let config: TrainConfig = serde_json::from_str(
///     r#"{"batch_size": 16, "steps": 1000, "objective": "single",
///         "schedule": {"kind": "constant", "lr": 1e-3}}"#,
/// ).unwrap();
/// assert_eq!(config.objective, Objective::Single);
/// assert_eq!(config.schedule, LrSchedule::constant(1e-3));
/// assert!(config.flips);
/// assert!(serde_json::from_str::<TrainConfig>(r#"{"batch": 16}"#).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Images per step (128).
    pub batch_size: usize,
    /// The step count at which [`super::Trainer::train`] stops (1,000,000).
    pub steps: u64,
    /// Dual (denoising and time score matching) or single (denoising only): `"dual"` or
    /// `"single"` in files.
    #[serde(with = "objective_name")]
    pub objective: Objective,
    /// The distribution of the noise variance t (log-uniform on [1e-9, 1e3]).
    pub noise: LogUniform,
    /// Adam's constants.
    pub optimizer: AdamConfig,
    /// The learning rate per step (5e-4 halved every 100k steps).
    pub schedule: LrSchedule,
    /// Raise the learning rate linearly over this many first steps, from 1 / warmup_steps of
    /// the schedule's rate to all of it (0: none, as the authors).
    #[serde(skip_serializing_if = "is_zero")]
    pub warmup_steps: u64,
    /// Draw t by importance sampling instead of log-uniformly, with weights that keep the
    /// objective (none, as the authors; see [`super::BandSampler`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub importance: Option<ImportanceSampling>,
    /// The seed of the data order, the flips and the noise (0). Streams 1 to 4 of this seed
    /// are used (stream 0 is the one [`crate::nn::Init`] uses for weights).
    pub seed: u64,
    /// Random horizontal flips of the training images (true).
    pub flips: bool,
    /// Write a checkpoint every this many steps (none); a checkpoint is also written when
    /// [`super::Trainer::train`] finishes, if `checkpoint_dir` is set.
    pub checkpoint_every: Option<u64>,
    /// The checkpoint folder (none).
    pub checkpoint_dir: Option<PathBuf>,
    /// A JSON-lines file that receives one [`super::StepMetrics`] per step (none).
    pub metrics_path: Option<PathBuf>,
    /// Keep an exponential moving average of the weights with this decay, saved with every
    /// checkpoint and used by measurements ([`super::ParameterAverage`]; none, as the authors).
    pub average_decay: Option<f64>,
    /// Read the values of the steps back from the device every this many steps (1: every step).
    ///
    /// Each step leaves its loss, its two terms and the sum of |g| of every parameter's
    /// gradient in a small tensor on the device; [`super::Trainer::train`] and
    /// [`super::Trainer::advance`] read the tensors of `sync_every` steps back in one download,
    /// check them and write their metrics lines, so that on a device the host does not wait for
    /// every step to finish. The updates do not depend on it: a run's parameters are the same
    /// for every value. What does: a non-finite value is found up to `sync_every - 1` steps
    /// late, after later updates were applied, and then the trainer stops for good (see
    /// [`super::TrainError::NonFinite`]; with 1, a failing step is never applied). Importance
    /// sampling adapts t to every step's losses, so it needs 1. Checkpoints and the end of
    /// training always read back first, so a checkpoint only records checked steps. May be
    /// changed when resuming.
    #[serde(skip_serializing_if = "is_one")]
    pub sync_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size: 128,
            steps: 1_000_000,
            objective: Objective::Dual,
            noise: LogUniform::default(),
            optimizer: AdamConfig::default(),
            schedule: LrSchedule::default(),
            warmup_steps: 0,
            importance: None,
            seed: 0,
            flips: true,
            checkpoint_every: None,
            checkpoint_dir: None,
            metrics_path: None,
            average_decay: None,
            sync_every: 1,
        }
    }
}

impl TrainConfig {
    /// The learning rate of the update with index `step` (0 for the first): the schedule's,
    /// scaled by the warm-up.
    ///
    /// ```
    /// use dualscore_core::train::{LrSchedule, TrainConfig};
    /// let config = TrainConfig {
    ///     schedule: LrSchedule::constant(1e-3),
    ///     warmup_steps: 4,
    ///     ..TrainConfig::default()
    /// };
    /// assert_eq!(config.lr_at(0), 2.5e-4);
    /// assert_eq!(config.lr_at(3), 1e-3);
    /// assert_eq!(config.lr_at(100), 1e-3);
    /// ```
    pub fn lr_at(&self, step: u64) -> f64 {
        let rate = self.schedule.lr_at(step);
        if step < self.warmup_steps {
            rate * (step + 1) as f64 / self.warmup_steps as f64
        } else {
            rate
        }
    }

    /// Checks every value, naming the first bad one.
    pub fn validate(&self) -> Result<(), TrainError> {
        if self.batch_size == 0 {
            return Err(TrainError::Config("batch_size must be at least 1".into()));
        }
        self.noise
            .validate()
            .map_err(|e| TrainError::Config(format!("noise: {e}")))?;
        self.optimizer
            .validate()
            .map_err(|e| TrainError::Config(format!("optimizer: {e}")))?;
        self.schedule
            .validate()
            .map_err(|e| TrainError::Config(format!("schedule: {e}")))?;
        if let Some(importance) = &self.importance {
            importance
                .validate()
                .map_err(|e| TrainError::Config(format!("importance: {e}")))?;
        }
        if self.sync_every == 0 {
            return Err(TrainError::Config("sync_every must be at least 1".into()));
        }
        if self.importance.is_some() && self.sync_every != 1 {
            return Err(TrainError::Config(format!(
                "importance sampling needs sync_every = 1 (got {}): the sampler draws each step's t from the losses of every step before it, which must be read back at once",
                self.sync_every
            )));
        }
        if let Some(d) = self.average_decay.filter(|d| !(0.0..1.0).contains(d)) {
            return Err(TrainError::Config(format!(
                "average_decay must be in [0, 1), got {d}"
            )));
        }
        match (self.checkpoint_every, &self.checkpoint_dir) {
            (Some(0), _) => Err(TrainError::Config(
                "checkpoint_every must be at least 1".into(),
            )),
            (Some(_), None) => Err(TrainError::Config(
                "checkpoint_every needs a checkpoint_dir".into(),
            )),
            _ => Ok(()),
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// `Objective` as `"dual"` / `"single"`.
mod objective_name {
    use super::Objective;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(objective: &Objective, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match objective {
            Objective::Dual => "dual",
            Objective::Single => "single",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Objective, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "dual" => Ok(Objective::Dual),
            "single" => Ok(Objective::Single),
            other => Err(serde::de::Error::custom(format!(
                "unknown objective '{other}', expected 'dual' or 'single'"
            ))),
        }
    }
}
