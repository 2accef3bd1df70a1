//! The `dualscore` program: its command line and commands, callable from Rust with
//! [`run`] (the binary is a thin wrapper around it).
//!
//! Every command prints lines for people and, with `--json`, one JSON object as its last line:
//! `{"command": NAME, "result": {...}}`.
//!
//! The commands are written once for any [`Backend`](dualscore_core::Backend); [`run_cli`]
//! opens the device that `--device` (or `DUALSCORE_DEVICE`) chose and runs the command there.

mod architecture;
mod args;
mod bench;
mod bench_profile;
mod curves;
mod demo;
mod denoise;
mod device;
mod dim;
mod error;
mod files;
mod import_cmd;
mod info;
mod logp;
mod measure;
mod nll;
mod output;
mod progress;
mod report;
mod run_folder;
mod sample;
mod synth;
mod train;

pub use architecture::ArchitectureArgs;
pub use args::{DataArgs, Sets};
pub use demo::demo_patches;
pub use device::{DEVICE_ENV, Device, Synchronize, open_cpu, open_cuda};
pub use dim::{DimSettings, measure as measure_dimensionality, print as print_dimensionality};
pub use error::{AppError, AppResult};
pub use files::{write_csv, write_file};
pub use measure::{Constant, ConstantChoice, ModelArgs, constant, neg_log_probs};
pub use nll::{Baseline, NllReport, measure as measure_nll};
pub use output::Output;
pub use report::{correlation, haar_levels, spread};
pub use train::{Evaluation, INTERRUPTED, TrainArgs, TrainOutcome, train_model};

use clap::{Parser, Subcommand};
use serde_json::Value;
use std::ffi::OsString;
use std::io::Write;

/// Learn normalized probability densities of images by dual score matching.
#[derive(Debug, Parser)]
#[command(name = "dualscore", version, about)]
pub struct Cli {
    /// Print the result as one JSON object on the last line.
    #[arg(long, global = true)]
    pub json: bool,
    /// Threads of the CPU backend (default: DUALSCORE_THREADS or all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Where to compute: cpu, cuda (the first GPU) or cuda:N (default: DUALSCORE_DEVICE or
    /// cpu). A GPU needs a program built with the `cuda` feature.
    #[arg(long, global = true, value_name = "DEVICE", value_parser = Device::parse)]
    pub device: Option<Device>,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train and measure a density of built-in photographs' patches (no files needed).
    Demo(Box<demo::DemoArgs>),
    /// Show the version, the devices this program can use (CPU and GPUs) and their settings.
    Info,
    /// Train a UNet energy by dual score matching.
    Train(Box<train::TrainArgs>),
    /// Test NLL (bits/dim) and mean log p (dB/dim), beside a full-covariance Gaussian.
    Nll(Box<nll::NllArgs>),
    /// log p of every image, to .npy or CSV.
    Logp(Box<logp::LogpArgs>),
    /// Output PSNR against input PSNR of the energy's denoiser.
    Denoise(Box<denoise::DenoiseArgs>),
    /// Local dimensionality d_eff(x, t) and the slope and I-MMSE checks.
    Dim(Box<dim::DimArgs>),
    /// Draw images from the learned density by reverse diffusion.
    Sample(Box<sample::SampleArgs>),
    /// All of the measurements into a folder of figures and report.md.
    Report(Box<report::ReportArgs>),
    /// Convert an authors' PyTorch checkpoint (see docs/IMPORT.md).
    Import(Box<import_cmd::ImportArgs>),
    /// Draw a run's training and held-out loss curves (also while it trains).
    Curves(Box<curves::CurvesArgs>),
    /// Draw training and test sets from an analytic model, with the exact test NLL.
    Synth(Box<synth::SynthArgs>),
    /// Time a training step, a score and a log p evaluation, and the largest convolution.
    Bench(Box<bench::BenchArgs>),
}

/// Parses `args` (the program name first) and runs the command, writing its report to `out`.
/// Returns the command's JSON result; `progress` shows progress bars on standard error.
pub fn run<I, S>(args: I, out: &mut (dyn Write + Send), progress: bool) -> AppResult<Value>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(|e| AppError::Usage(e.to_string()))?;
    run_cli(&cli, out, progress)
}

/// Runs a parsed command line on the device it chose.
pub fn run_cli(cli: &Cli, out: &mut (dyn Write + Send), progress: bool) -> AppResult<Value> {
    if cli.threads == Some(0) {
        return Err(AppError::msg("--threads must be at least 1"));
    }
    let device = Device::from_option_or_env(cli.device)?;
    let mut output = Output::new(out, cli.json, progress && !cli.json);
    let value = match (&cli.command, device) {
        (Command::Info, _) => info::run(device, cli.threads, &mut output)?,
        (Command::Import(a), _) => import_cmd::run(a, &mut output)?,
        (command, Device::Cpu) => run_on(command, &mut output, &open_cpu(cli.threads)?)?,
        (command, Device::Cuda(ordinal)) => run_on(command, &mut output, &open_cuda(ordinal)?)?,
    };
    output.finish(&value)?;
    Ok(value)
}

/// Runs a command that computes, on `backend`, inside [`Backend::run`](dualscore_core::Backend::run)
/// (on the CPU, a thread of the backend's own pool).
fn run_on<B: Synchronize>(
    command: &Command,
    output: &mut Output<'_>,
    backend: &B,
) -> AppResult<Value> {
    backend.run(|| run_here(command, output, backend))
}

/// [`run_on`] on the calling thread.
fn run_here<B: Synchronize>(
    command: &Command,
    output: &mut Output<'_>,
    backend: &B,
) -> AppResult<Value> {
    match command {
        Command::Demo(a) => demo::run(a, output, backend),
        Command::Train(a) => train::run(a, output, backend),
        Command::Nll(a) => nll::run(a, output, backend),
        Command::Logp(a) => logp::run(a, output, backend),
        Command::Denoise(a) => denoise::run(a, output, backend),
        Command::Dim(a) => dim::run(a, output, backend),
        Command::Sample(a) => sample::run(a, output, backend),
        Command::Report(a) => report::run(a, output, backend),
        Command::Curves(a) => curves::run(a, output, backend),
        Command::Synth(a) => synth::run(a, output, backend),
        Command::Bench(a) => bench::run(a, output, backend),
        Command::Info | Command::Import(_) => {
            unreachable!("info and import run without opening a device")
        }
    }
}
