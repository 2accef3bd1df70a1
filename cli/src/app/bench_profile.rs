//! `dualscore bench --profile`: where the time of a training step goes, kernel by kernel.

use super::bench::{BenchArgs, new_trainer};
use super::device::Synchronize;
use super::error::AppResult;
use super::output::Output;
use crate::data::ImageSet;
use crate::model::ModelConfig;
use dualscore_core::Tensor;
use dualscore_core::backend::profiled::Profiled;
use dualscore_core::energy::energy_in_parts;
use dualscore_core::nn::Module;
use serde::Serialize;
use std::time::Instant;

/// One kind of kernel call of a training step (see [`Profiled`]).
#[derive(Clone, Debug, Serialize)]
pub struct KernelShare {
    /// The kernel and what decides its cost, as in `conv2d 3x3 16->32 on 8x8`.
    pub kernel: String,
    /// Calls per step.
    pub calls_per_step: f64,
    /// Milliseconds per step.
    pub ms_per_step: f64,
    /// Its part of the step's wall time.
    pub share: f64,
}

/// The name of the line that holds the step's time outside every kernel.
pub const OUTSIDE_KERNELS: &str = "outside the kernels";

/// Trains the model of `config` on `images` through a [`Profiled`] copy of `backend` for the
/// warm-up and timed steps of `args`, and returns the kernels of the timed steps, the most time
/// first, then the time outside them (autodiff's bookkeeping and the optimizer's loop).
pub fn training_step<B: Synchronize>(
    args: &BenchArgs,
    images: &ImageSet,
    config: &ModelConfig,
    backend: &B,
) -> AppResult<Vec<KernelShare>> {
    let profiled = Profiled::new(backend.clone());
    let model = args.arch.new_model(config, images, 0, &profiled)?;
    let (mut trainer, data) = new_trainer(args, images, model, &profiled)?;
    kernel_shares(&profiled, args, || {
        trainer.step(&data)?;
        Ok(())
    })
}

/// The kernels of a log p evaluation ([`energy_in_parts`] of a batch of `y` at t = 0) by the
/// model of `config`, as [`training_step`] gives them for a step.
pub fn log_p<B: Synchronize>(
    args: &BenchArgs,
    images: &ImageSet,
    config: &ModelConfig,
    y: &[f32],
    backend: &B,
) -> AppResult<Vec<KernelShare>> {
    let profiled = Profiled::new(backend.clone());
    let mut model = args.arch.new_model(config, images, 0, &profiled)?;
    model.detach_parameters();
    let [c, h, w] = images.image_shape();
    let y = Tensor::<_, f32>::from_slice(&profiled, y, [args.batch, c, h, w])?;
    let zero = Tensor::<_, f32>::zeros(&profiled, [args.batch])?;
    kernel_shares(&profiled, args, || {
        energy_in_parts(&model, &y, &zero)?;
        Ok(())
    })
}

/// Runs `work` for the warm-up and timed repetitions of `args` and returns the kernels of the
/// timed ones, the most time first, then the time outside them.
fn kernel_shares<B: Synchronize>(
    profiled: &Profiled<B>,
    args: &BenchArgs,
    mut work: impl FnMut() -> AppResult<()>,
) -> AppResult<Vec<KernelShare>> {
    for _ in 0..args.warmup {
        work()?;
    }
    profiled.synchronize()?;
    profiled.profile.reset();
    let started = Instant::now();
    for _ in 0..args.steps {
        work()?;
    }
    profiled.synchronize()?;
    let wall_ms = started.elapsed().as_secs_f64() * 1e3 / args.steps as f64;
    let steps = args.steps as f64;
    let mut shares: Vec<KernelShare> = profiled
        .profile
        .entries()
        .into_iter()
        .map(|(kernel, time)| KernelShare {
            kernel,
            calls_per_step: time.calls as f64 / steps,
            ms_per_step: time.seconds * 1e3 / steps,
            share: time.seconds * 1e3 / steps / wall_ms,
        })
        .collect();
    let outside = wall_ms - profiled.profile.total_seconds() * 1e3 / steps;
    shares.push(KernelShare {
        kernel: OUTSIDE_KERNELS.into(),
        calls_per_step: 0.0,
        ms_per_step: outside,
        share: outside / wall_ms,
    });
    Ok(shares)
}

/// Prints the kernels that take at least 1% of the time of `what` (as in "a training step"),
/// and the rest as one line.
pub fn print_table(what: &str, shares: &[KernelShare], output: &mut Output<'_>) -> AppResult<()> {
    output.line("")?;
    output.line(format!("| kernel of {what} | calls | ms | share |"))?;
    output.line("| --- | ---: | ---: | ---: |")?;
    let (shown, rest): (Vec<&KernelShare>, Vec<&KernelShare>) = shares
        .iter()
        .partition(|s| s.share >= 0.01 || s.kernel == OUTSIDE_KERNELS);
    for s in shown {
        output.line(format!(
            "| {} | {:.0} | {:.2} | {:.1}% |",
            s.kernel,
            s.calls_per_step,
            s.ms_per_step,
            100.0 * s.share
        ))?;
    }
    if !rest.is_empty() {
        let calls: f64 = rest.iter().map(|s| s.calls_per_step).sum();
        let ms: f64 = rest.iter().map(|s| s.ms_per_step).sum();
        let share: f64 = rest.iter().map(|s| s.share).sum();
        output.line(format!(
            "| {} other kinds | {calls:.0} | {ms:.2} | {:.1}% |",
            rest.len(),
            100.0 * share
        ))?;
    }
    Ok(())
}
