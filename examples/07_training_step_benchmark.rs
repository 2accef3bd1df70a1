//! The time of one training step: dual score matching loss, its gradient (second order) and
//! an Adam update, for the small and mid UNet presets in f32 on the CPU backend.
//!
//! The idea. A dual step costs several network passes: the forward pass of U, a backward pass
//! to y and t that records its own graph, and the backward pass of the loss through both to
//! every weight. Timing it against PyTorch's step, which does the same work, shows where the
//! library's own kernels stand.
//!
//! The math. The step computes, for a batch of images with their own t and z,
//! `loss = mean(||sqrt(t) grad_y U - z||^2 / d + ((1 - ||z||^2 / d) / 2 - (t / d) dU/dt)^2)`
//! with `U(y, t) = 1/2 <y, s(y, t)>` and s the UNet (docs/METHOD.md section 3), then
//! `d loss / d theta` by reverse over reverse, then one Adam update. The authors report that
//! the double backward pass made their step about 3.5 times a score network's.
//!
//! What it does: each preset trains with [`Trainer`] on random images of its nominal size
//! (batch 32 by default, random flips, t log-uniform in [1e-9, 1e3]); after `--warmup` steps it
//! times `--steps` more and prints the median, minimum and maximum milliseconds per step.
//! PyTorch: `tools/reference/train_step_benchmark.py` times the same step the same way.
//!
//! What to look at: the median per preset, beside PyTorch's on the same machine and load
//! (BENCHMARKS.md, "Against PyTorch, interleaved", has `dualscore bench`'s step beside it: on 2
//! cores of an AMD EPYC 21.6 ms for small and 307.5 ms for mid, 0.43 and 0.70 times PyTorch's.
//! This machine's speed moves by up to 40% within an hour, and this example's random images
//! and flips differ from bench's, so compare it only with PyTorch run in the same minutes).
//! The spread between the minimum and the maximum shows how much the machine's load moved the
//! numbers.
//!
//! Run: `cargo run --release -p dualscore-examples --example 07_training_step_benchmark -- \
//!   --threads 2`
//! The last line printed is `{"small_ms":..,"mid_ms":..}` (medians).

use clap::Parser;
use dualscore_core::energy::InnerProduct;
use dualscore_core::nn::{Activation, Init, Module, UNet, UNetConfig};
use dualscore_core::rng::RngKey;
use dualscore_core::train::{InMemoryImages, LrSchedule, TrainConfig, Trainer};
use dualscore_core::{Result, Tensor};
use dualscore_cpu::Cpu;
use std::time::Instant;

/// Time one training step of the small and mid UNet presets.
#[derive(Debug, Parser)]
struct Args {
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Threads of the CPU backend.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Presets to time, comma-separated (small, mid, paper).
    #[arg(long, default_value = "small,mid", value_delimiter = ',')]
    presets: Vec<String>,
}

/// Milliseconds per step of `steps` timed steps after `warmup`, sorted.
fn time_steps(cpu: &Cpu, config: &UNetConfig, args: &Args) -> Result<Vec<f64>> {
    let network = UNet::<Cpu, f32>::new(cpu, &mut Init::new(0), config)?;
    let energy = InnerProduct::new(network);
    println!(
        "{} parameters, images {}x{}, batch {}",
        energy.num_parameters(),
        config.image_size,
        config.image_size,
        args.batch
    );
    let size = config.image_size;
    let images =
        Tensor::<Cpu, f32>::rand(cpu, [8 * args.batch, 1, size, size], RngKey::new(1, 9), 0)?;
    let data = InMemoryImages::from_tensor(&images)?;
    let train = TrainConfig {
        batch_size: args.batch,
        steps: (args.warmup + args.steps) as u64,
        schedule: LrSchedule::constant(5e-4),
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(energy, (), train)
        .map_err(|e| dualscore_core::Error::invalid("bench", e.to_string()))?;
    let mut times = Vec::with_capacity(args.steps);
    for i in 0..args.warmup + args.steps {
        let started = Instant::now();
        trainer
            .step(&data)
            .map_err(|e| dualscore_core::Error::invalid("bench", e.to_string()))?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        if i >= args.warmup {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let cpu = Cpu::with_threads(args.threads)?;
    println!(
        "CPU backend, {} threads, f32; {} warm-up steps, {} timed",
        cpu.threads(),
        args.warmup,
        args.steps
    );
    let mut summary = Vec::new();
    for name in &args.presets {
        let config = match name.as_str() {
            "small" => UNetConfig::small(),
            "mid" => UNetConfig::mid(),
            "paper" => UNetConfig::paper(),
            other => return Err(format!("unknown preset '{other}'").into()),
        }
        .with_activation(Activation::Gelu);
        print!("{name}: ");
        let times = time_steps(&cpu, &config, &args)?;
        let median = if times.len() % 2 == 1 {
            times[times.len() / 2]
        } else {
            0.5 * (times[times.len() / 2 - 1] + times[times.len() / 2])
        };
        println!(
            "{name}: median {median:.1} ms/step (min {:.1}, max {:.1}) over {} steps",
            times[0],
            times[times.len() - 1],
            times.len()
        );
        summary.push(format!("\"{name}_ms\":{median:.2}"));
    }
    println!("{{{}}}", summary.join(","));
    Ok(())
}
