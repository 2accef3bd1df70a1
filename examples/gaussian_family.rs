//! Stationary Gaussian images learned by a model whose family contains the truth (example 04
//! and the test `central_claim`).
//!
//! Images: 8x8 stationary Gaussian images with an anisotropic spectrum (d = 64). Model: a
//! diagonal Gaussian energy in the Fourier basis, which contains every noisy density
//! N(m, Sigma + t I) of such images, plus a free time offset b(t). Denoising score matching
//! sees U only through grad_y U, which b(t) does not change: the single objective leaves b
//! free, so its normalization (fixed at t_max) is wrong at t = 0. Time score matching fixes
//! dU/dt, hence b, at every t: the dual objective's test NLL matches the true cross-entropy.
//!
//! The NLL is the cross-entropy in bits/dim (no 8-bit quantization), scored as the mean
//! paired difference of the model's and the true -log p over the test samples.

use crate::ExampleResult;
use dualscore_core::density::{NormalizationOptions, neg_log_prob_nats, normalization_constant};
use dualscore_core::energy::TimeOffsetConfig;
use dualscore_core::energy::analytic::{
    AnalyticDensity, StationaryGaussianImages, StationaryImageParams,
};
use dualscore_core::energy::families::DiagonalGaussianEnergy;
use dualscore_core::linalg::fourier::real_fourier_basis;
use dualscore_core::nn::Init;
use dualscore_core::rng::RngKey;
use dualscore_core::train::{
    InMemoryImages, LogUniform, LrSchedule, Objective, TrainConfig, Trainer,
};
use dualscore_core::{Result, Tensor};
use dualscore_cpu::Cpu;
use std::time::Instant;

/// Side of the images.
pub const SIZE: usize = 8;
/// The smallest noise level trained (and the time offset's reference).
pub const T_MIN: f64 = 1e-4;
/// The largest noise level trained, where the normalization constant is computed.
pub const T_MAX: f64 = 1e2;

/// The sizes of one run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Training steps per objective (the rate starts at 1e-2 and halves 12 times over them).
    pub steps: u64,
    /// Images per step.
    pub batch: usize,
    /// Seed of the data, the initialization and the training noise.
    pub seed: u64,
    /// Training images.
    pub train: usize,
    /// Test images (the NLL average) and images for the normalization constant, each.
    pub test: usize,
}

impl Default for Settings {
    /// The example's defaults.
    fn default() -> Self {
        Settings {
            steps: 8000,
            batch: 256,
            seed: 0,
            train: 50_000,
            test: 10_000,
        }
    }
}

/// What one objective reached.
#[derive(Clone, Copy, Debug)]
pub struct ObjectiveResult {
    /// The objective trained.
    pub objective: Objective,
    /// The last batch loss.
    pub final_loss: f64,
    /// Test NLL in bits/dim.
    pub nll_bits: f64,
    /// Training and evaluation time in seconds.
    pub seconds: f64,
}

impl ObjectiveResult {
    /// Signed distance of this NLL from `truth` (bits/dim).
    pub fn error_bits(&self, truth: f64) -> f64 {
        self.nll_bits - truth
    }
}

/// Both objectives beside the truth.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Entropy of the image density in bits/dim.
    pub entropy_bits: f64,
    /// The true density's test cross-entropy in bits/dim (the entropy up to sampling).
    pub true_nll_bits: f64,
    /// The dual objective's result.
    pub dual: ObjectiveResult,
    /// The single objective's result.
    pub single: ObjectiveResult,
}

/// Trains the model with both objectives and scores each on the same test images.
pub fn run(settings: &Settings) -> ExampleResult<Outcome> {
    let cpu = Cpu::new();
    let images = StationaryGaussianImages::new(StationaryImageParams {
        anisotropy: 2.0,
        ..StationaryImageParams::new(SIZE, SIZE)
    })?;
    let truth = images.gaussian()?;
    let d = images.dim();
    let draw = |n: usize, stream: u64| -> Result<Tensor<Cpu, f64>> {
        let rows = images.sample_rows(n, RngKey::new(settings.seed, stream))?;
        Tensor::from_f64(&cpu, &rows, [n, 1, SIZE, SIZE])
    };
    let train = InMemoryImages::from_tensor(&draw(settings.train, 101)?)?;
    let test = draw(settings.test, 102)?;
    let for_constant = draw(settings.test, 103)?;

    // -log p of the test images under the true density.
    let test_rows = test.to_f64_vec()?;
    let true_nll: Vec<f64> = test_rows
        .chunks(d)
        .map(|x| truth.energy_host(x, 0.0))
        .collect::<Result<_>>()?;
    let bits = |nats: f64| nats / (d as f64 * std::f64::consts::LN_2);
    let true_nll_bits = bits(true_nll.iter().sum::<f64>() / true_nll.len() as f64);

    let basis = real_fourier_basis(SIZE, SIZE);
    let mut results = Vec::new();
    for objective in [Objective::Dual, Objective::Single] {
        let model = DiagonalGaussianEnergy::<Cpu, f64>::new(
            &cpu,
            &mut Init::new(settings.seed),
            &basis.vectors,
            &TimeOffsetConfig {
                t0: T_MIN,
                ..TimeOffsetConfig::default()
            },
        )?;
        let config = TrainConfig {
            batch_size: settings.batch,
            steps: settings.steps,
            objective,
            noise: LogUniform::new(T_MIN, T_MAX)?,
            schedule: LrSchedule::step_decay(1e-2, 0.5, (settings.steps / 12).max(1)),
            seed: settings.seed,
            flips: false,
            ..TrainConfig::default()
        };
        let start = Instant::now();
        let mut trainer = Trainer::new(model, (), config)?;
        let mut final_loss = f64::NAN;
        trainer.train(&train, |m| final_loss = m.loss)?;
        let model = trainer.into_model();
        let options = NormalizationOptions {
            t_max: T_MAX,
            batch_size: 500,
            key: RngKey::new(settings.seed, 104),
            ..NormalizationOptions::default()
        };
        let constant = normalization_constant(&model, &for_constant, &options)?;
        let model_nll = neg_log_prob_nats(&model, &test, &constant, 500)?;
        let paired: f64 = model_nll
            .iter()
            .zip(&true_nll)
            .map(|(m, t)| m - t)
            .sum::<f64>()
            / true_nll.len() as f64;
        results.push(ObjectiveResult {
            objective,
            final_loss,
            nll_bits: true_nll_bits + bits(paired),
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    Ok(Outcome {
        entropy_bits: bits(images.entropy()),
        true_nll_bits,
        dual: results[0],
        single: results[1],
    })
}
