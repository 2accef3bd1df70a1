//! Memorization and generalization (the paper's Fig. 2; example 11 and the test
//! `examples_claims`): two models trained on disjoint subsets of N training patches, compared
//! on their own training patches, on each other's, and on test patches.

use crate::ExampleResult;
use crate::natural::{self, Trained};
use dualscore::app::{correlation, spread};
use dualscore::data::ImageSet;
use dualscore_core::Tensor;
use dualscore_core::density::{GaussianBaseline, log_p_db_per_dim};
use dualscore_core::rng::RngKey;
use dualscore_core::train::EpochOrder;
use dualscore_cpu::Cpu;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// The sizes of one run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The subset sizes N, each trained twice (subsets A and B, disjoint).
    pub sizes: Vec<usize>,
    /// Training steps of each model (batch 32, the fast preset).
    pub steps: u64,
    /// Test patches on which the two models are compared.
    pub test_images: usize,
    /// Training patches of each subset on which memorization is measured (at most N).
    pub train_images: usize,
    /// The seed of the subsets; model A trains from this seed, model B from the next.
    pub seed: u64,
}

/// log p (dB/dim) of two models, or of their Gaussian bases, on the same patches.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Mean over A's training patches of log p_A - log p_B.
    pub own_advantage_a: f64,
    /// Mean over B's training patches of log p_B - log p_A.
    pub own_advantage_b: f64,
    /// Mean |log p_A - log p_B| over the test patches.
    pub test_mean_abs_difference: f64,
    /// Root mean square of log p_A - log p_B over the test patches.
    pub test_rms_difference: f64,
    /// The correlation of log p_A and log p_B over the test patches.
    pub test_correlation: f64,
    /// Mean log p_A over the test patches.
    pub test_mean_log_p_a: f64,
    /// Mean log p_B over the test patches.
    pub test_mean_log_p_b: f64,
}

/// What one subset size gave.
#[derive(Clone, Debug, Serialize)]
pub struct SizeResult {
    /// N.
    pub size: usize,
    /// The trained models.
    pub models: Comparison,
    /// Their Gaussian bases alone (each the full-covariance Gaussian of its N patches; the
    /// models at step 0).
    pub bases: Comparison,
    /// Seconds to train both models.
    pub train_seconds: f64,
    /// Test log p of every compared test patch under A and B (for the figure).
    pub test_pairs: Vec<(f64, f64)>,
}

/// Trains the two models for every N of `settings` into `out/N-a` and `out/N-b` (folders that
/// must not hold runs) and compares them.
pub fn run(
    settings: &Settings,
    train: &ImageSet,
    test: &ImageSet,
    out: &Path,
    backend: &Cpu,
    mut progress: impl FnMut(&SizeResult),
) -> ExampleResult<Vec<SizeResult>> {
    let largest = settings.sizes.iter().copied().max().unwrap_or(0);
    if settings.sizes.contains(&0) || 2 * largest > train.len() {
        return Err(format!(
            "every N must be between 1 and half the {} training patches, got {:?}",
            train.len(),
            settings.sizes
        )
        .into());
    }
    let order = EpochOrder::new(RngKey::new(settings.seed, 21), train.len())?.permutation(0);
    let test = spread(test, settings.test_images)?;
    let mut results = Vec::new();
    for &n in &settings.sizes {
        let a = train.select(&order[..n])?;
        let b = train.select(&order[n..2 * n])?;
        let started = Instant::now();
        let mut models = Vec::new();
        for (name, subset, seed) in [("a", &a, settings.seed), ("b", &b, settings.seed + 1)] {
            let dir = out.join(format!("{n}-{name}"));
            let flags = [
                "--steps",
                &settings.steps.to_string(),
                "--checkpoint-every",
                &settings.steps.max(1).to_string(),
                "--seed",
                &seed.to_string(),
            ]
            .map(String::from);
            natural::train(subset, None, &dir, &flags, backend)?;
            models.push(Trained::open(&dir, subset, backend)?);
        }
        let train_seconds = started.elapsed().as_secs_f64();
        let seen_a = spread(&a, settings.train_images)?;
        let seen_b = spread(&b, settings.train_images)?;
        let model_log_p = |set: &ImageSet| -> ExampleResult<(Vec<f64>, Vec<f64>)> {
            Ok((
                models[0].log_p_db(set, backend)?,
                models[1].log_p_db(set, backend)?,
            ))
        };
        let (base_a, base_b) = (gaussian(&a, backend)?, gaussian(&b, backend)?);
        let base_log_p = |set: &ImageSet| -> ExampleResult<(Vec<f64>, Vec<f64>)> {
            Ok((
                gaussian_log_p(&base_a, set, backend)?,
                gaussian_log_p(&base_b, set, backend)?,
            ))
        };
        let on_test = model_log_p(&test)?;
        let result = SizeResult {
            size: n,
            models: compare(model_log_p(&seen_a)?, model_log_p(&seen_b)?, &on_test),
            bases: compare(
                base_log_p(&seen_a)?,
                base_log_p(&seen_b)?,
                &base_log_p(&test)?,
            ),
            train_seconds,
            test_pairs: on_test.0.iter().copied().zip(on_test.1.clone()).collect(),
        };
        progress(&result);
        results.push(result);
    }
    Ok(results)
}

/// The full-covariance Gaussian of `set` with the fast model's ridge: the model's base.
fn gaussian(set: &ImageSet, backend: &Cpu) -> ExampleResult<GaussianBaseline> {
    let x = Tensor::<Cpu, f64>::from_f64(backend, set.values(), set.shape())?;
    Ok(GaussianBaseline::fit(&x, 256, 1e-6)?)
}

fn gaussian_log_p(g: &GaussianBaseline, set: &ImageSet, backend: &Cpu) -> ExampleResult<Vec<f64>> {
    let x = Tensor::<Cpu, f64>::from_f64(backend, set.values(), set.shape())?;
    let d = set.image_shape().iter().product();
    Ok(g.neg_log_prob_nats(&x, 256)?
        .iter()
        .map(|&v| log_p_db_per_dim(v, d))
        .collect())
}

/// The comparison of (log p_A, log p_B) on A's patches, on B's, and on the test patches.
fn compare(
    on_a: (Vec<f64>, Vec<f64>),
    on_b: (Vec<f64>, Vec<f64>),
    on_test: &(Vec<f64>, Vec<f64>),
) -> Comparison {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let differences = |(p, q): &(Vec<f64>, Vec<f64>)| -> Vec<f64> {
        p.iter().zip(q).map(|(p, q)| p - q).collect()
    };
    let test = differences(on_test);
    Comparison {
        own_advantage_a: mean(&differences(&on_a)),
        own_advantage_b: -mean(&differences(&on_b)),
        test_mean_abs_difference: mean(&test.iter().map(|v| v.abs()).collect::<Vec<_>>()),
        test_rms_difference: mean(&test.iter().map(|v| v * v).collect::<Vec<_>>()).sqrt(),
        test_correlation: correlation(&on_test.0, &on_test.1),
        test_mean_log_p_a: mean(&on_test.0),
        test_mean_log_p_b: mean(&on_test.1),
    }
}
