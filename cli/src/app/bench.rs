//! `dualscore bench`: the time of what a user waits for, for one model and batch: a training
//! step, a score evaluation, a log p evaluation, the peak memory, and the throughput of the
//! model's largest convolution beside the best square sgemm of the same run.

use super::architecture::{ArchitectureArgs, MAX_BASE_DIM};
use super::bench_profile::{self as profile, KernelShare};
use super::device::Synchronize;
use super::error::{AppError, AppResult};
use super::output::Output;
use super::train::FAST_AVERAGE_DECAY;
use crate::data::ImageSet;
use crate::model::{Preset, UNetEnergy};
use clap::Args;
use dualscore_core::autograd::Graph;
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams, MatmulSpec};
use dualscore_core::energy::{ScoreModel, energy_in_parts};
use dualscore_core::nn::Module;
use dualscore_core::rng::{RngKey, uniform_values};
use dualscore_core::train::{InMemoryImages, LogUniform, LrSchedule, TrainConfig, Trainer};
use dualscore_core::{Shape, Tensor};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Instant;

/// Time a training step, a score and a log p evaluation, and the largest convolution.
#[derive(Clone, Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub arch: ArchitectureArgs,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// The image side (default: the preset's nominal size).
    #[arg(long)]
    pub size: Option<usize>,
    /// Channels of the images.
    #[arg(long, default_value_t = 1)]
    pub channels: usize,
    /// Untimed repetitions of each measurement first.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed repetitions of each measurement (the median is reported).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Sides of the square sgemm products timed beside the convolutions.
    #[arg(long, value_delimiter = ',', default_value = "1024,2048")]
    pub sgemm: Vec<usize>,
    /// Also time every kernel of the training step and of the log p evaluation and print where
    /// their time goes.
    #[arg(long)]
    pub profile: bool,
}

/// The model and batch that were timed.
#[derive(Clone, Debug, Serialize)]
pub struct BenchSetup {
    /// The preset, as `--preset` names it.
    pub preset: String,
    /// Images per step.
    pub batch: usize,
    /// `[C, H, W]` of the images.
    pub image_shape: [usize; 3],
    /// Trained parameters.
    pub parameters: usize,
    /// The backend: the CPU with its thread count, or the GPU.
    pub backend: String,
    /// The host processor (`model name` of /proc/cpuinfo), when known.
    pub cpu: Option<String>,
    /// Untimed and timed repetitions.
    pub warmup: usize,
    /// Timed repetitions.
    pub steps: usize,
}

/// The largest 3x3 convolution of the model, timed as training runs it.
#[derive(Clone, Debug, Serialize)]
pub struct ConvThroughput {
    /// `[N, C, H, W]` of its input.
    pub input: [usize; 4],
    /// Output channels.
    pub out_channels: usize,
    /// Floating-point operations of one convolution, 2 N O H W C 9.
    pub flop: u64,
    /// GFLOP/s of the forward convolution (median).
    pub forward_gflops: f64,
    /// GFLOP/s of the input gradient (the transposed convolution).
    pub input_gradient_gflops: f64,
    /// GFLOP/s of the weight gradient (the convolution of the input by the output gradient).
    pub weight_gradient_gflops: f64,
}

/// One square sgemm.
#[derive(Clone, Debug, Serialize)]
pub struct SgemmThroughput {
    /// The side n of the n x n by n x n product.
    pub n: usize,
    /// GFLOP/s (2 n^3 operations), the best repetition.
    pub best_gflops: f64,
}

/// What `bench` measured.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// What was timed.
    pub setup: BenchSetup,
    /// A dual score matching step: loss with the energy gradient and dU/dt on the graph, its
    /// gradient with respect to every parameter, and the Adam update (median, ms).
    pub train_step_ms: f64,
    /// The energy gradient and dU/dt of a batch, first order (median, ms).
    pub score_ms: f64,
    /// The energy of a batch at t = 0, no gradient, in the backend's parts as the log p
    /// commands compute it ([`energy_in_parts`]): what log p costs (median, ms).
    pub logp_ms: f64,
    /// The peak resident memory of the process (Linux), MiB.
    pub peak_rss_mib: Option<f64>,
    /// The model's largest 3x3 convolution.
    pub conv: ConvThroughput,
    /// The square sgemm products.
    pub sgemm: Vec<SgemmThroughput>,
    /// With `--profile`: the kernels of a training step, the most time first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Vec<KernelShare>>,
    /// With `--profile`: the kernels of a log p evaluation, the most time first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logp_profile: Option<Vec<KernelShare>>,
}

/// Runs `bench`.
pub fn run<B: Synchronize>(
    args: &BenchArgs,
    output: &mut Output<'_>,
    backend: &B,
) -> AppResult<Value> {
    let report = bench(args, output, backend)?;
    print_table(&report, output)?;
    if let Some(profile) = &report.profile {
        profile::print_table("a training step", profile, output)?;
    }
    if let Some(profile) = &report.logp_profile {
        profile::print_table("a log p evaluation", profile, output)?;
    }
    Ok(json!({ "command": "bench", "result": report }))
}

fn bench<B: Synchronize>(
    args: &BenchArgs,
    output: &mut Output<'_>,
    backend: &B,
) -> AppResult<BenchReport> {
    if args.batch == 0 || args.steps == 0 || args.channels == 0 {
        return Err(AppError::msg(
            "--batch, --steps and --channels must be at least 1",
        ));
    }
    let size = args
        .size
        .unwrap_or_else(|| args.arch.preset.unet().image_size);
    // Enough images for a well-conditioned full covariance when the model has a full base: a
    // nearly singular one gives the energy extreme values, unlike training on real data (and
    // the steps measured slower with it).
    let d = args
        .channels
        .checked_mul(size)
        .and_then(|d| d.checked_mul(size))
        .ok_or_else(|| AppError::msg(format!("{size} x {size} images are too large")))?;
    let count = args
        .batch
        .saturating_mul(8)
        .max(64)
        .max(if d <= MAX_BASE_DIM { 4 * d } else { 0 });
    let images = random_images(args.channels, size, count)?;
    let config = args.arch.model_config(&images)?;
    let model = args.arch.new_model(&config, &images, 0, backend)?;
    let parameters = model.num_parameters();
    let preset = format!("{:?}", args.arch.preset).to_lowercase();
    output.line(format!(
        "bench: {preset}, {parameters} parameters, batch {} of {}x{size}x{size}, {}",
        args.batch,
        args.channels,
        backend.name()
    ))?;

    let (mut trainer, data) = new_trainer(args, &images, model, backend)?;
    let train_step = timed(backend, args, || {
        trainer.step(&data)?;
        Ok(())
    })?;

    let mut measured = trainer.into_model();
    measured.detach_parameters();
    let [c, h, w] = images.image_shape();
    let y = Tensor::<B, f32>::rand(backend, [args.batch, c, h, w], RngKey::new(7, 1), 0)?;
    let t_values = LogUniform::default().sample(
        &mut dualscore_core::rng::CounterRng::new(RngKey::new(7, 2)),
        args.batch,
    );
    let t = Tensor::from_f64(backend, &t_values, [args.batch])?;
    let zero = Tensor::<B, f32>::zeros(backend, [args.batch])?;
    let score = timed(backend, args, || {
        measured.score_terms(&y, &t, Graph::Drop)?;
        Ok(())
    })?;
    let logp = timed(backend, args, || {
        energy_in_parts(&measured, &y, &zero)?;
        Ok(())
    })?;

    let width = config.unet.base_width;
    let conv = conv_throughput(backend, [args.batch, width, h, w], width, args)?;
    let sgemm = args
        .sgemm
        .iter()
        .map(|&n| sgemm_throughput(backend, n, args))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(BenchReport {
        setup: BenchSetup {
            preset,
            batch: args.batch,
            image_shape: [c, h, w],
            parameters,
            backend: backend.name(),
            cpu: cpu_model(),
            warmup: args.warmup,
            steps: args.steps,
        },
        train_step_ms: median(train_step),
        score_ms: median(score),
        logp_ms: median(logp),
        peak_rss_mib: peak_resident_bytes().map(|b| b as f64 / (1024.0 * 1024.0)),
        conv,
        sgemm,
        profile: if args.profile {
            Some(profile::training_step(args, &images, &config, backend)?)
        } else {
            None
        },
        logp_profile: if args.profile {
            Some(profile::log_p(
                args,
                &images,
                &config,
                &y.to_vec()?,
                backend,
            )?)
        } else {
            None
        },
    })
}

/// The trainer that `bench` times.
pub(super) type BenchTrainer<B> = Trainer<B, f32, UNetEnergy<B>>;

/// A trainer of `model` with the batch of `args`, and `images` on the model's backend.
pub(super) fn new_trainer<B: Synchronize>(
    args: &BenchArgs,
    images: &ImageSet,
    model: UNetEnergy<B>,
    backend: &B,
) -> AppResult<(BenchTrainer<B>, InMemoryImages<B, f32>)> {
    let train_config = TrainConfig {
        batch_size: args.batch,
        schedule: LrSchedule::constant(1e-4),
        average_decay: (args.arch.preset == Preset::Fast).then_some(FAST_AVERAGE_DECAY),
        ..TrainConfig::default()
    };
    let data = images.to_in_memory::<B, f32>(backend)?;
    Ok((Trainer::new(model, (), train_config)?, data))
}

/// `n` images of `channels x size x size` with uniform values in [0, 1).
fn random_images(channels: usize, size: usize, n: usize) -> AppResult<ImageSet> {
    let d = channels * size * size;
    let len = n
        .checked_mul(d)
        .filter(|&len| dualscore_core::backend::alloc::reserved::<f64>("host", len).is_ok())
        .ok_or_else(|| {
            AppError::msg(format!(
                "{n} images of {channels}x{size}x{size} do not fit in memory: choose a smaller --batch"
            ))
        })?;
    let values = uniform_values(RngKey::new(7, 0), 0, len);
    Ok(ImageSet::new(
        values,
        [n, channels, size, size],
        "random images",
    )?)
}

/// The forward, input-gradient and weight-gradient convolutions of a 3x3 layer of
/// `out_channels` on inputs `[N, C, H, W]`, as the backward pass runs them.
fn conv_throughput<B: Synchronize>(
    backend: &B,
    input: [usize; 4],
    out_channels: usize,
    args: &BenchArgs,
) -> AppResult<ConvThroughput> {
    let [n, c, h, w] = input;
    let o = out_channels;
    let flop = (2 * n * o * h * w * c * 9) as u64;
    let xs = Shape::new([n, c, h, w]);
    let ws = Shape::new([o, c, 3, 3]);
    let ys = Shape::new([n, o, h, w]);
    let key = RngKey::new(7, 3);
    let upload = |len: usize, offset: u64| -> AppResult<B::Storage<f32>> {
        let host: Vec<f32> = uniform_values(key, offset, len)
            .into_iter()
            .map(|v| v as f32 - 0.5)
            .collect();
        Ok(backend.upload(&host)?)
    };
    let x = upload(xs.numel(), 0)?;
    let weight = upload(ws.numel(), 1 << 40)?;
    let dy = upload(ys.numel(), 2 << 40)?;
    let forward = Conv2dParams::new(1, 1, 1);
    let transposed = ConvTranspose2dParams::new(1, 1, 0, 1);
    let gflops = |ms: Vec<f64>| flop as f64 / (median(ms) * 1e6);
    let forward_ms = timed(backend, args, || {
        backend.conv2d(&x, &xs, &weight, &ws, &forward)?;
        Ok(())
    })?;
    let input_ms = timed(backend, args, || {
        backend.conv_transpose2d(&dy, &ys, &weight, &ws, &transposed)?;
        Ok(())
    })?;
    let weight_ms = timed(backend, args, || {
        backend.conv2d_weight_grad(&x, &xs, &dy, &ys, [3, 3], &forward)?;
        Ok(())
    })?;
    Ok(ConvThroughput {
        input,
        out_channels: o,
        flop,
        forward_gflops: gflops(forward_ms),
        input_gradient_gflops: gflops(input_ms),
        weight_gradient_gflops: gflops(weight_ms),
    })
}

/// The best GFLOP/s of `warmup + steps` square products of side `n`.
fn sgemm_throughput<B: Synchronize>(
    backend: &B,
    n: usize,
    args: &BenchArgs,
) -> AppResult<SgemmThroughput> {
    if n == 0 {
        return Err(AppError::msg("--sgemm sizes must be at least 1"));
    }
    let host: Vec<f32> = uniform_values(RngKey::new(7, 4), 0, n * n)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let a = backend.upload(&host)?;
    let spec = MatmulSpec::batched(1, n, n, n);
    let mut best = f64::INFINITY;
    backend.synchronize()?;
    for _ in 0..args.warmup.max(1) + args.steps {
        let started = Instant::now();
        backend.matmul(&a, &a, &spec)?;
        backend.synchronize()?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok(SgemmThroughput {
        n,
        best_gflops: 2.0 * (n as f64).powi(3) / (best * 1e9),
    })
}

/// Milliseconds of each of `steps` runs of `f` after `warmup` untimed ones, each until the
/// device has finished the work it queued.
fn timed<B: Synchronize>(
    backend: &B,
    args: &BenchArgs,
    mut f: impl FnMut() -> AppResult<()>,
) -> AppResult<Vec<f64>> {
    let mut ms = Vec::with_capacity(args.steps);
    backend.synchronize()?;
    for i in 0..args.warmup + args.steps {
        let started = Instant::now();
        f()?;
        backend.synchronize()?;
        if i >= args.warmup {
            ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(ms)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let k = values.len();
    if k % 2 == 1 {
        values[k / 2]
    } else {
        0.5 * (values[k / 2 - 1] + values[k / 2])
    }
}

/// The peak resident set of this process in bytes (Linux), if the kernel reports it.
fn peak_resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The processor's model name (Linux), if known.
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

fn print_table(r: &BenchReport, output: &mut Output<'_>) -> AppResult<()> {
    let conv = &r.conv;
    let [n, c, h, w] = conv.input;
    let mut lines = vec![
        "| measure | value |".to_string(),
        "| --- | ---: |".to_string(),
        format!("| training step (ms) | {:.1} |", r.train_step_ms),
        format!("| score, first order (ms) | {:.1} |", r.score_ms),
        format!("| log p, t = 0 (ms) | {:.1} |", r.logp_ms),
    ];
    if let Some(rss) = r.peak_rss_mib {
        lines.push(format!("| peak resident memory (MiB) | {rss:.0} |"));
    }
    let layer = format!("{n}x{c}x{h}x{w} -> {} channels", conv.out_channels);
    lines.push(format!(
        "| conv 3x3 {layer}: forward (GFLOP/s) | {:.1} |",
        conv.forward_gflops
    ));
    lines.push(format!(
        "| conv 3x3 {layer}: input gradient (GFLOP/s) | {:.1} |",
        conv.input_gradient_gflops
    ));
    lines.push(format!(
        "| conv 3x3 {layer}: weight gradient (GFLOP/s) | {:.1} |",
        conv.weight_gradient_gflops
    ));
    for s in &r.sgemm {
        lines.push(format!(
            "| sgemm n = {} best (GFLOP/s) | {:.1} |",
            s.n, s.best_gflops
        ));
    }
    for line in lines {
        output.line(line)?;
    }
    Ok(())
}
