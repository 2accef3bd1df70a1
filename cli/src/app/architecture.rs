//! The model flags shared by `train` and `bench`: a preset and what overrides it, and the
//! model they build for a data set.

use super::error::{AppError, AppResult};
use crate::data::ImageSet;
use crate::model::{ModelConfig, Preset, UNetEnergy};
use clap::Args;
use dualscore_core::energy::{
    BaseBasis, DEFAULT_TIME_OFFSET_T0, GaussianBase, InnerProductConfig, Preconditioning,
    TimeOffsetConfig,
};
use dualscore_core::nn::{Activation, TimeInput};
use dualscore_core::{Backend, Tensor};
use serde_json::Value;

/// The model: a preset, and the flags that override its choices.
#[derive(Clone, Debug, Args)]
pub struct ArchitectureArgs {
    /// The model and its training settings: fast (the default: learns in minutes, starts at
    /// the Gaussian fit) or the paper's energy and settings at three sizes (small, mid,
    /// paper). Every option below overrides the preset's choice.
    #[arg(long, value_enum, default_value_t = Preset::Fast)]
    pub preset: Preset,
    /// Channels at the first scale (overrides the preset).
    #[arg(long)]
    pub base_width: Option<usize>,
    /// Number of scales (overrides the preset).
    #[arg(long)]
    pub scales: Option<usize>,
    /// Convolution layers per block (overrides the preset).
    #[arg(long)]
    pub layers_per_block: Option<usize>,
    /// The nonlinearity: gelu (every preset's) or relu.
    #[arg(long, value_parser = parse_activation)]
    pub activation: Option<Activation>,
    /// Center the energy on the training data's mean per channel (docs/METHOD.md section 7): `--center`
    /// or `--center false` (fast: on).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub center: Option<bool>,
    /// Add a learned time offset b(t) to the energy (docs/METHOD.md section 7) (fast: on).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub time_offset: Option<bool>,
    /// The time embedding's input: the variance t (the paper's) or log t (fast).
    #[arg(long, value_enum)]
    pub time_input: Option<TimeInputArg>,
    /// A fixed base under the network: none (the paper's) or a Gaussian fitted on the
    /// training images, which the model starts as: gaussian (full covariance) or separable
    /// (any image size). Fast: gaussian up to 1,024 values per image, separable above.
    #[arg(long, value_enum)]
    pub base: Option<BaseArg>,
    /// Scale the network's input and output to unit size at every t (fast: on).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub precondition: Option<bool>,
}

/// The time embedding's input, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TimeInputArg {
    /// The raw variance t (the paper's).
    Variance,
    /// log(t + 1e-9).
    Log,
}

/// The base under the network, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BaseArg {
    /// No base (the paper's).
    None,
    /// The full-covariance Gaussian of the training images (at most 1,024 values per image).
    Gaussian,
    /// The Gaussian with separable eigenvectors (rows, columns, channels): any image size.
    Separable,
}

/// The ridge added to the covariance of a Gaussian base: the one `nll` gives its baseline, so a
/// new model's NLL is the baseline's.
pub const BASE_RIDGE: f64 = 1e-6;

/// The variance below which a preconditioned network's output scale stops growing.
pub const PRECONDITIONING_T_FLOOR: f64 = 1e-5;

/// Parses an activation name.
pub fn parse_activation(name: &str) -> Result<Activation, String> {
    serde_json::from_value(Value::String(name.to_lowercase()))
        .map_err(|_| format!("unknown activation '{name}' (gelu, relu, silu)"))
}

impl ArchitectureArgs {
    /// A preset's model, nothing overridden.
    pub fn preset(preset: Preset) -> Self {
        ArchitectureArgs {
            preset,
            base_width: None,
            scales: None,
            layers_per_block: None,
            activation: None,
            center: None,
            time_offset: None,
            time_input: None,
            base: None,
            precondition: None,
        }
    }

    /// The architecture these flags choose for images like `train`'s (whose statistics set
    /// the centering and the preconditioning).
    pub fn model_config(&self, train: &ImageSet) -> AppResult<ModelConfig> {
        let [c, h, w] = train.image_shape();
        let fast = self.preset == Preset::Fast;
        let mut config = ModelConfig::preset(self.preset, c, h.min(w));
        if let Some(v) = self.base_width {
            config.unet.base_width = v;
        }
        if let Some(v) = self.scales {
            config.unet.scales = v;
        }
        if let Some(v) = self.layers_per_block {
            config.unet.layers_per_block = v;
        }
        if let Some(v) = self.activation {
            config.unet.activation = v;
        }
        match self.time_input {
            Some(TimeInputArg::Variance) => config.unet.time_input = TimeInput::Variance,
            Some(TimeInputArg::Log) => {
                config.unet.time_input = TimeInput::LogVariance {
                    t0: DEFAULT_TIME_OFFSET_T0,
                }
            }
            None => {}
        }
        let center = self.center.unwrap_or(fast).then(|| channel_means(train));
        let base = self
            .base
            .unwrap_or(match (fast, c * h * w <= MAX_BASE_DIM) {
                (true, true) => BaseArg::Gaussian,
                (true, false) => BaseArg::Separable,
                (false, _) => BaseArg::None,
            });
        let preconditioning = self.precondition.unwrap_or(fast).then(|| Preconditioning {
            data_variance: mean_variance(train),
            t_floor: PRECONDITIONING_T_FLOOR,
        });
        config.energy = InnerProductConfig {
            center,
            time_offset: self
                .time_offset
                .unwrap_or(fast)
                .then(TimeOffsetConfig::default),
            preconditioning,
            gaussian_base: (base != BaseArg::None).then_some([c, h, w]),
            base_basis: if base == BaseArg::Separable {
                BaseBasis::Separable
            } else {
                BaseBasis::Full
            },
        };
        config.validate()?;
        let multiple = config.unet.size_multiple();
        if h % multiple != 0 || w % multiple != 0 {
            return Err(AppError::msg(format!(
                "{}: images of {h}x{w} do not fit a UNet of {} scales (sides must be multiples of {multiple}); cut patches with --patch",
                train.origin().display(),
                config.unet.scales
            )));
        }
        if base == BaseArg::Gaussian && c * h * w > MAX_BASE_DIM {
            return Err(AppError::msg(format!(
                "{}: a Gaussian base of {c}x{h}x{w} images would hold a {d}x{d} covariance; use images of at most {MAX_BASE_DIM} values (--patch), --base separable or --base none",
                train.origin().display(),
                d = c * h * w
            )));
        }
        Ok(config)
    }

    /// The model of `config` for a new run: weights from the seed, and a Gaussian base fitted
    /// on `train` if the configuration has one.
    pub fn new_model<B: Backend>(
        &self,
        config: &ModelConfig,
        train: &ImageSet,
        seed: u64,
        backend: &B,
    ) -> AppResult<UNetEnergy<B>> {
        let mut model = config.build(backend, seed)?;
        if config.energy.gaussian_base.is_some() {
            let data = Tensor::<B, f64>::from_f64(backend, train.values(), train.shape())?;
            let basis = config.energy.base_basis;
            model.gaussian_base = Some(GaussianBase::fit(&data, basis, 256, BASE_RIDGE)?.cast()?);
        }
        Ok(model)
    }
}

/// The largest image (C H W values) a Gaussian base accepts: its eigenbasis is a d x d matrix
/// stored with every checkpoint.
pub const MAX_BASE_DIM: usize = 1024;

/// The mean over pixels of the per-pixel variance of a set.
fn mean_variance(set: &ImageSet) -> f64 {
    let [n, c, h, w] = set.shape();
    let d = c * h * w;
    let rows = set.values().chunks_exact(d);
    let mut means = vec![0.0; d];
    for row in rows.clone() {
        means.iter_mut().zip(row).for_each(|(m, v)| *m += v);
    }
    means.iter_mut().for_each(|m| *m /= n as f64);
    let mut squares = vec![0.0; d];
    for row in rows {
        for ((s, v), m) in squares.iter_mut().zip(row).zip(&means) {
            *s += (v - m).powi(2);
        }
    }
    squares.iter().map(|s| s / n as f64).sum::<f64>() / d as f64
}

/// Per-channel means of a set.
fn channel_means(set: &ImageSet) -> Vec<f64> {
    let [n, c, h, w] = set.shape();
    let mut sums = vec![0.0; c];
    for (k, v) in set.values().iter().enumerate() {
        sums[(k / (h * w)) % c] += v;
    }
    sums.iter().map(|s| s / (n * h * w) as f64).collect()
}
