//! Single vs dual score matching on a Gaussian scale mixture, the paper's Figure 1 (example
//! 05 and the test `central_claim`).
//!
//! Data: x ~ sum_k w_k N(0, s_k^2 I) in dimension d (default 1/2 N(0, I) + 1/2 N(0, 16 I),
//! d = 1000). Model: the radial mixture energy U = -logsumexp_k(-(a_k(t) ||y||^2 + b_k(t)))
//! with (a, b) from an MLP of log(t + 0.01), a family that contains the true noisy density.
//!
//! Denoising score matching alone learns each mode's shape but not the modes' relative mass
//! (the score between modes is learned from few samples) nor the normalization across t: its
//! normalized log p is off by several dB/dim and its modes switch at the wrong radius. Dual
//! score matching gets both.
//!
//! Both models are normalized at t_max = 100 with the covariance-corrected constant and
//! compared with the true density over radii ||x|| / sqrt(d) in [0.2, 5] at the noise levels
//! of [`PROFILE_TS`]: the errors, the switch radius and the energy gap at the smallest trained
//! level t = 0.01 (where the paper compares), and the cross-entropy on held-out samples there.

use crate::ExampleResult;
use dualscore_core::density::{NormalizationOptions, normalization_constant};
use dualscore_core::energy::Energy;
use dualscore_core::energy::analytic::{AnalyticDensity, GaussianScaleMixture};
use dualscore_core::energy::families::RadialMixtureEnergy;
use dualscore_core::nn::{Activation, Init};
use dualscore_core::rng::{RngKey, normal_values, uniform_at};
use dualscore_core::train::{
    ImageSource, LogUniform, LrSchedule, Objective, StepMetrics, TrainConfig, Trainer,
};
use dualscore_core::{Error, Result, Tensor};
use dualscore_cpu::Cpu;
use rayon::prelude::*;
use std::f64::consts::LN_10;
use std::time::Instant;

/// The sizes of one run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Dimension d.
    pub dim: usize,
    /// Standard deviations of the components.
    pub sigmas: Vec<f64>,
    /// Weights of the components (normalized to sum to 1).
    pub weights: Vec<f64>,
    /// Training steps per objective.
    pub steps: u64,
    /// Samples per step.
    pub batch: usize,
    /// Initial learning rate, halved every `halve_every` steps down to `min_lr`.
    pub lr: f64,
    /// Steps between halvings of the learning rate.
    pub halve_every: u64,
    /// The smallest learning rate.
    pub min_lr: f64,
    /// Width of the MLP's hidden layers.
    pub width: usize,
    /// Number of hidden layers of the MLP.
    pub layers: usize,
    /// Seed of the data, the initialization and the training noise.
    pub seed: u64,
    /// Training samples (drawn once).
    pub data: usize,
    /// Held-out samples for the normalization constant.
    pub held_out: usize,
}

impl Default for Settings {
    /// The example's defaults (the paper's Figure 1).
    fn default() -> Self {
        Settings {
            dim: 1000,
            sigmas: vec![1.0, 4.0],
            weights: vec![0.5, 0.5],
            steps: 4000,
            batch: 512,
            lr: 1e-3,
            halve_every: 800,
            min_lr: 3e-6,
            width: 256,
            layers: 4,
            seed: 0,
            data: 100_000,
            held_out: 10_000,
        }
    }
}

/// log p against the radius at one noise level, the truth beside one learned model.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The noise variance t.
    pub t: f64,
    /// Radius / sqrt(d) of each point ([`RADIUS_MIN`] to [`RADIUS_MAX`]).
    pub radii: Vec<f64>,
    /// The true log p(y, t) in dB/dim at each radius.
    pub truth_db: Vec<f64>,
    /// The learned, normalized log p(y, t) in dB/dim at each radius.
    pub learned_db: Vec<f64>,
}

impl Profile {
    /// The learned log p minus the true one, dB/dim, at each radius.
    pub fn error_db(&self) -> Vec<f64> {
        self.learned_db
            .iter()
            .zip(&self.truth_db)
            .map(|(l, t)| l - t)
            .collect()
    }
}

/// What one objective reached.
#[derive(Clone, Debug)]
pub struct ObjectiveResult {
    /// The objective trained.
    pub objective: Objective,
    /// The largest |log p error| in dB/dim over radius / sqrt(d) in [0.2, 5] at t = `T_MIN`.
    pub max_err_db: f64,
    /// The mean |log p error| in dB/dim over the same radii.
    pub mean_err_db: f64,
    /// Radius / sqrt(d) where the model's dominant component changes first (None: never).
    pub switch_radius: Option<f64>,
    /// U(4 sqrt(d) e_1, t) - U(sqrt(d) e_1, t) at t = `T_MIN`, nats: the two modes' offset.
    pub energy_gap: f64,
    /// The mean normalized -log p(x, `T_MIN`) over the held-out samples (those that normalize
    /// the model), nats.
    pub cross_entropy: f64,
    /// The learned log p beside the truth at each noise level of [`PROFILE_TS`].
    pub profiles: Vec<Profile>,
    /// Training and evaluation time in seconds.
    pub seconds: f64,
}

/// Both objectives beside the truth.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Radius / sqrt(d) where the true density's dominant component changes first.
    pub true_switch_radius: Option<f64>,
    /// The true U(4 sqrt(d) e_1, t) - U(sqrt(d) e_1, t) at t = `T_MIN`, nats.
    pub true_energy_gap: f64,
    /// The true -log p(x, `T_MIN`) averaged over the held-out samples, nats.
    pub true_cross_entropy: f64,
    /// The entropy of the data density (t = 0), nats.
    pub entropy: f64,
    /// The dual objective's result.
    pub dual: ObjectiveResult,
    /// The single objective's result.
    pub single: ObjectiveResult,
}

/// The smallest noise level trained, where the models are compared with the truth.
pub const T_MIN: f64 = 1e-2;
/// The largest noise level trained, where the normalization constant is computed.
pub const T_MAX: f64 = 1e2;
/// The noise levels of the profiles: the smallest trained, where the paper compares, and 1.
pub const PROFILE_TS: [f64; 2] = [T_MIN, 1.0];
/// The smallest radius / sqrt(d) of the profiles.
pub const RADIUS_MIN: f64 = 0.2;
/// The largest radius / sqrt(d) of the profiles.
pub const RADIUS_MAX: f64 = 5.0;
/// Points of each profile.
pub const RADIUS_POINTS: usize = 241;

/// Samples of the mixture (drawn once, in parallel: sample i depends only on the
/// key and i), kept in f32.
pub struct MixtureSamples {
    backend: Cpu,
    dim: usize,
    values: Vec<f32>,
}

impl std::fmt::Debug for MixtureSamples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MixtureSamples")
            .field("dim", &self.dim)
            .field("samples", &(self.values.len() / self.dim.max(1)))
            .finish()
    }
}

impl MixtureSamples {
    /// `count` samples of the mixture of `weights` (summing to 1) and standard deviations
    /// `sigmas` in dimension `dim`.
    pub fn draw(
        backend: &Cpu,
        dim: usize,
        sigmas: &[f64],
        weights: &[f64],
        key: RngKey,
        count: usize,
    ) -> Self {
        let mut values = vec![0f32; count * dim];
        values
            .par_chunks_mut(dim)
            .enumerate()
            .for_each(|(index, row)| {
                let component = RngKey::new(key.seed, key.stream + 1);
                let u = uniform_at(component, index as u64);
                let mut k = 0;
                let mut cumulative = weights[0];
                while u >= cumulative && k + 1 < weights.len() {
                    k += 1;
                    cumulative += weights[k];
                }
                let z = normal_values(key, (index * dim) as u64, dim);
                for (x, z) in row.iter_mut().zip(z) {
                    *x = (sigmas[k] * z) as f32;
                }
            });
        MixtureSamples {
            backend: backend.clone(),
            dim,
            values,
        }
    }
}

impl ImageSource<Cpu, f32> for MixtureSamples {
    fn num_images(&self) -> usize {
        self.values.len() / self.dim
    }

    fn image_shape(&self) -> [usize; 3] {
        [1, 1, self.dim]
    }

    fn fetch(&self, indices: &[usize]) -> Result<Tensor<Cpu, f32>> {
        let mut batch = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            let row = self
                .values
                .get(i * self.dim..(i + 1) * self.dim)
                .ok_or_else(|| {
                    Error::invalid("fetch", format!("sample {i} of {}", self.num_images()))
                })?;
            batch.extend_from_slice(row);
        }
        Tensor::from_slice(&self.backend, &batch, [indices.len(), 1, 1, self.dim])
    }
}

/// log p in dB/dim from -log p in nats.
pub fn db(neg_log_prob: f64, d: usize) -> f64 {
    -10.0 * neg_log_prob / (d as f64 * LN_10)
}

/// The radius / sqrt(d) where the dominant component changes first, from per-component
/// coefficients (a_k, b_k): component k has exponent a_k r^2 + b_k.
pub fn switch_radius(a: &[f64], b: &[f64], d: usize) -> Option<f64> {
    let dominant = |r: f64| {
        (0..a.len())
            .min_by(|&i, &j| (a[i] * r * r + b[i]).total_cmp(&(a[j] * r * r + b[j])))
            .unwrap_or(0)
    };
    let sqrt_d = (d as f64).sqrt();
    let grid: Vec<f64> = (0..=5000)
        .map(|i| sqrt_d * 5.0 * i as f64 / 5000.0)
        .collect();
    let first = dominant(grid[0]);
    let (lo, hi) = grid
        .windows(2)
        .map(|w| (w[0], w[1]))
        .find(|&(_, hi)| dominant(hi) != first)?;
    let next = dominant(hi);
    // The crossing of the two exponents, within [lo, hi].
    let r2 = (b[next] - b[first]) / (a[first] - a[next]);
    Some(r2.sqrt().clamp(lo, hi) / sqrt_d)
}

/// Normalized weights and variances of `settings`, or why they are invalid.
pub fn check_settings(settings: &Settings) -> Result<(Vec<f64>, Vec<f64>)> {
    let bad = |m: String| Error::invalid("arguments", m);
    if settings.sigmas.len() != settings.weights.len() || settings.sigmas.is_empty() {
        return Err(bad(format!(
            "--sigmas has {} values and --weights {}: give one weight per component",
            settings.sigmas.len(),
            settings.weights.len()
        )));
    }
    if settings
        .sigmas
        .iter()
        .chain(&settings.weights)
        .any(|v| !(v.is_finite() && *v > 0.0))
    {
        return Err(bad("sigmas and weights must be positive".into()));
    }
    if settings.dim == 0
        || settings.steps == 0
        || settings.batch == 0
        || settings.data == 0
        || settings.held_out == 0
    {
        return Err(bad(
            "--dim, --steps, --batch, --data and --held-out must be positive".into(),
        ));
    }
    let total: f64 = settings.weights.iter().sum();
    let weights: Vec<f64> = settings.weights.iter().map(|w| w / total).collect();
    let variances: Vec<f64> = settings.sigmas.iter().map(|s| s * s).collect();
    Ok((weights, variances))
}

/// The points of a profile, as radius / sqrt(d).
pub fn profile_radii() -> Vec<f64> {
    let steps = (RADIUS_POINTS - 1) as f64;
    (0..RADIUS_POINTS)
        .map(|i| RADIUS_MIN + (RADIUS_MAX - RADIUS_MIN) * i as f64 / steps)
        .collect()
}

/// Points r sqrt(d) e_1 for each radius / sqrt(d) `r`, as a batch of shape [n, 1, 1, d].
fn points_at(cpu: &Cpu, radii: &[f64], d: usize) -> Result<Tensor<Cpu, f32>> {
    let rows: Vec<f64> = radii
        .iter()
        .flat_map(|&r| {
            let mut y = vec![0.0; d];
            y[0] = r * (d as f64).sqrt();
            y
        })
        .collect();
    Tensor::from_f64(cpu, &rows, [radii.len(), 1, 1, d])
}

/// What the truth gives, against which each model is measured.
struct Truth {
    density: GaussianScaleMixture,
    /// ||x|| of each held-out sample.
    held_out_norms: Vec<f64>,
}

impl Truth {
    fn energy(&self, radius_over_sqrt_d: f64, t: f64) -> f64 {
        let d = self.density.dim() as f64;
        self.density
            .energy_at_radius(radius_over_sqrt_d * d.sqrt(), t)
    }
}

/// Normalizes a trained model with the held-out samples and measures it against the truth.
fn measure(
    cpu: &Cpu,
    model: &RadialMixtureEnergy<Cpu, f32>,
    truth: &Truth,
    held_out: &Tensor<Cpu, f32>,
    objective: Objective,
    seed: u64,
) -> ExampleResult<ObjectiveResult> {
    let d = truth.density.dim();
    let options = NormalizationOptions {
        t_max: T_MAX,
        batch_size: 1000,
        key: RngKey::new(seed, 300),
        ..NormalizationOptions::default()
    };
    let constant = normalization_constant(model, held_out, &options)?.value;
    let radii = profile_radii();
    let grid = points_at(cpu, &radii, d)?;
    let mut profiles = Vec::new();
    for t in PROFILE_TS {
        let u = model
            .energy(&grid, &Tensor::full(cpu, [radii.len()], t)?)?
            .to_f64_vec()?;
        profiles.push(Profile {
            t,
            learned_db: u.iter().map(|u| db(u + constant, d)).collect(),
            truth_db: radii.iter().map(|&r| db(truth.energy(r, t), d)).collect(),
            radii: radii.clone(),
        });
    }
    let errors: Vec<f64> = profiles[0].error_db().iter().map(|e| e.abs()).collect();
    let ends = model
        .energy(
            &points_at(cpu, &[1.0, 4.0], d)?,
            &Tensor::full(cpu, [2], T_MIN)?,
        )?
        .to_f64_vec()?;
    let n = truth.held_out_norms.len();
    let on_data = model.energy(held_out, &Tensor::full(cpu, [n], T_MIN)?)?;
    let (a, b) = model.coefficients(&Tensor::full(cpu, [1], T_MIN)?, d)?;
    Ok(ObjectiveResult {
        objective,
        max_err_db: errors.iter().copied().fold(0.0, f64::max),
        mean_err_db: errors.iter().sum::<f64>() / errors.len() as f64,
        switch_radius: switch_radius(&a.to_f64_vec()?, &b.to_f64_vec()?, d),
        energy_gap: ends[1] - ends[0],
        cross_entropy: on_data.to_f64_vec()?.iter().sum::<f64>() / n as f64 + constant,
        profiles,
        seconds: 0.0,
    })
}

/// Trains the radial mixture energy with both objectives and compares each with the true
/// log p at the noise levels of [`PROFILE_TS`]; `on_step` sees every training step of each
/// objective.
pub fn run(
    settings: &Settings,
    mut on_step: impl FnMut(Objective, &StepMetrics),
) -> ExampleResult<Outcome> {
    let (weights, variances) = check_settings(settings)?;
    let d = settings.dim;
    let cpu = Cpu::new();
    let data = MixtureSamples::draw(
        &cpu,
        d,
        &settings.sigmas,
        &weights,
        RngKey::new(settings.seed, 100),
        settings.data,
    );
    let held_out = MixtureSamples::draw(
        &cpu,
        d,
        &settings.sigmas,
        &weights,
        RngKey::new(settings.seed, 200),
        settings.held_out,
    );
    let held_out_norms: Vec<f64> = held_out
        .values
        .chunks(d)
        .map(|x| {
            x.iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let held_out = held_out.fetch(&(0..settings.held_out).collect::<Vec<_>>())?;
    let truth = Truth {
        density: GaussianScaleMixture::new(&weights, &variances, d)?,
        held_out_norms,
    };

    let true_a: Vec<f64> = variances.iter().map(|v| 0.5 / (v + T_MIN)).collect();
    let true_b: Vec<f64> = variances
        .iter()
        .zip(&weights)
        .map(|(v, w)| 0.5 * d as f64 * (2.0 * std::f64::consts::PI * (v + T_MIN)).ln() - w.ln())
        .collect();
    let true_cross_entropy = truth
        .held_out_norms
        .iter()
        .map(|&r| truth.density.energy_at_radius(r, T_MIN))
        .sum::<f64>()
        / settings.held_out as f64;

    // Start the components at variances spread around the data's (a factor 4 apart), so
    // that they are not interchangeable at the first step.
    let data_variance: f64 = weights.iter().zip(&variances).map(|(w, v)| w * v).sum();
    let k = weights.len();
    let initial_variances: Vec<f64> = (0..k)
        .map(|i| data_variance * 4f64.powf(i as f64 - (k as f64 - 1.0) / 2.0))
        .collect();
    let mut results = Vec::new();
    for objective in [Objective::Dual, Objective::Single] {
        let model = RadialMixtureEnergy::<Cpu, f32>::new(
            &cpu,
            &mut Init::new(settings.seed),
            weights.len(),
            settings.width,
            settings.layers,
            Activation::Gelu,
            0.01,
        )?
        .with_initial_variances(&initial_variances)?;
        let config = TrainConfig {
            batch_size: settings.batch,
            steps: settings.steps,
            objective,
            noise: LogUniform::new(T_MIN, T_MAX)?,
            schedule: LrSchedule::step_decay(settings.lr, 0.5, settings.halve_every)
                .with_min_lr(settings.min_lr),
            seed: settings.seed,
            flips: false,
            ..TrainConfig::default()
        };
        let start = Instant::now();
        let mut trainer = Trainer::new(model, (), config)?;
        trainer.train(&data, |m| on_step(objective, m))?;
        let model = trainer.into_model();
        let mut result = measure(&cpu, &model, &truth, &held_out, objective, settings.seed)?;
        result.seconds = start.elapsed().as_secs_f64();
        results.push(result);
    }
    let single = results.pop().ok_or("no single result")?;
    let dual = results.pop().ok_or("no dual result")?;
    Ok(Outcome {
        true_switch_radius: switch_radius(&true_a, &true_b, d),
        true_energy_gap: truth.energy(4.0, T_MIN) - truth.energy(1.0, T_MIN),
        true_cross_entropy,
        entropy: truth.density.entropy(0.0),
        dual,
        single,
    })
}
