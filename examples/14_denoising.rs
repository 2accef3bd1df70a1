//! Denoising: does learning an energy cost anything against learning the score directly?
//! (the paper's Table 1)
//!
//! The idea. Tweedie's identity turns any energy into a denoiser, `xhat(y, t) = y - t grad_y
//! U(y, t)`, the minimum mean squared error estimate of x from y = x + sqrt(t) z when U is the
//! true noisy energy. A score network skips the energy: its output is used as grad_y U
//! directly and trained by the denoising loss alone; it is free to be non-conservative, the
//! energy is not. The paper finds no price for the constraint: at input PSNRs from 90 to -30
//! dB the two output PSNRs agree within 0.3 dB from 90 to -15 dB (docs/METHOD.md section 5.2).
//!
//! What it does: takes an energy model of the `fast` preset (trained by dual score matching,
//! given by `--model` or trained first), then trains the same architecture as a score network
//! (same initialization, Gaussian base, preconditioning, training settings and number of
//! steps; the plain denoising loss), and measures both denoisers' output PSNR on the same test
//! patches and noise at the nine input PSNRs of Table 1.
//!
//! What to look at: the two columns of output PSNR side by side and their difference; both far
//! above the input PSNR at low PSNR (large noise), both near it at high PSNR (almost no noise
//! to remove). `denoising_psnr.png` draws both curves; `denoising.csv` holds the table; the last
//! line printed is JSON.
//!
//! Run: `cargo run --release -p dualscore-examples --example 14_denoising` (trains a small
//! energy first; give one with `--model DIR`, e.g. example 10's, and the natural patches with
//! `--train ... --test ...`).

use clap::Parser;
use dualscore::app::{spread, write_csv};
use dualscore::plot::{self, Axes, Series};
use dualscore_core::analysis::DenoisingReport;
use dualscore_cpu::Cpu;
use dualscore_examples::denoising_table::{compare, train_score_network};
use dualscore_examples::natural::{ModelSource, PatchArgs};
use dualscore_examples::{ExampleResult, on_cpu};
use serde_json::json;
use std::path::PathBuf;

/// The paper's Table 1 (color ImageNet64): output PSNR of the score and the energy network.
const PAPER: [(f64, f64, f64); 9] = [
    (90.0, 90.20, 90.09),
    (75.0, 75.47, 75.17),
    (60.0, 60.43, 60.45),
    (45.0, 47.19, 47.25),
    (30.0, 35.58, 35.67),
    (15.0, 25.92, 26.01),
    (0.0, 18.84, 18.88),
    (-15.0, 13.31, 13.48),
    (-30.0, -0.11, 2.53),
];

/// Compare the denoisers of an energy and of a score network of the same architecture.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    data: PatchArgs,
    #[command(flatten)]
    model: ModelSource,
    /// Test patches denoised (spread over the test set).
    #[arg(long, default_value_t = 512)]
    images: usize,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The output folder.
    #[arg(long, default_value = "example-14")]
    out: PathBuf,
}

fn main() -> ExampleResult<()> {
    let args = Args::parse();
    on_cpu(args.threads, |cpu| run(&args, cpu))
}

fn run(args: &Args, cpu: &Cpu) -> ExampleResult<()> {
    if args.images == 0 {
        return Err("--images must be at least 1".into());
    }
    std::fs::create_dir_all(&args.out)?;
    let (train, test) = args.data.read()?;
    let (energy, dir) = args.model.open_or_train(&train, &args.out, cpu)?;
    let steps = energy.network.info.step;
    println!(
        "energy {} ({steps} steps of dual score matching); training the score network for as many steps of denoising score matching",
        dir.display()
    );
    let (score, seconds) = train_score_network(&energy, &train, cpu)?;
    println!("score network trained in {seconds:.0} s");
    let images = spread(&test, args.images)?;
    let (by_energy, by_score) = compare(&energy, &score, &images, cpu)?;
    println!(
        "output PSNR (dB) on {} test patches; the paper's on color ImageNet64 beside",
        images.len()
    );
    println!(
        "{:>6} | {:>7} {:>7} {:>7} | {:>7} {:>7}",
        "input", "score", "energy", "diff", "score", "energy"
    );
    let mut rows = Vec::new();
    for (s, e) in by_score.levels.iter().zip(&by_energy.levels) {
        let paper = PAPER
            .iter()
            .find(|p| (p.0 - s.input_psnr_db).abs() < 1e-9)
            .map_or((f64::NAN, f64::NAN), |p| (p.1, p.2));
        println!(
            "{:>6.0} | {:>7.2} {:>7.2} {:>+7.2} | {:>7.2} {:>7.2}",
            s.input_psnr_db,
            s.output_psnr_db,
            e.output_psnr_db,
            e.output_psnr_db - s.output_psnr_db,
            paper.0,
            paper.1
        );
        rows.push(vec![
            s.input_psnr_db,
            s.output_psnr_db,
            e.output_psnr_db,
            s.output_psnr_std_error_db,
            e.output_psnr_std_error_db,
        ]);
    }
    write_csv(
        &args.out.join("denoising.csv"),
        &[
            "input_psnr_db",
            "score_network_psnr_db",
            "energy_psnr_db",
            "score_network_std_error_db",
            "energy_std_error_db",
        ],
        &rows,
    )?;
    let curve = |r: &DenoisingReport| -> Vec<(f64, f64)> {
        r.levels
            .iter()
            .map(|l| (l.input_psnr_db, l.output_psnr_db))
            .collect()
    };
    let figure = args.out.join("denoising_psnr.png");
    plot::line_chart(
        &figure,
        &Axes::new(
            "denoising: energy against score network",
            "input PSNR (dB)",
            "output PSNR (dB)",
        ),
        &[
            Series::new("score network", curve(&by_score)),
            Series::new("energy", curve(&by_energy)),
            Series::new("identity", vec![(-30.0, -30.0), (90.0, 90.0)]),
        ],
    )?;
    println!(
        "figure: {}; table: {}",
        figure.display(),
        args.out.join("denoising.csv").display()
    );
    let largest_difference = by_score
        .levels
        .iter()
        .zip(&by_energy.levels)
        .map(|(s, e)| (e.output_psnr_db - s.output_psnr_db).abs())
        .fold(0.0, f64::max);
    println!(
        "{}",
        json!({
            "steps": steps,
            "input_psnr_db": by_energy.levels.iter().map(|l| l.input_psnr_db).collect::<Vec<_>>(),
            "energy_psnr_db": by_energy.levels.iter().map(|l| l.output_psnr_db).collect::<Vec<_>>(),
            "score_network_psnr_db": by_score.levels.iter().map(|l| l.output_psnr_db).collect::<Vec<_>>(),
            "largest_abs_difference_db": largest_difference,
        })
    );
    Ok(())
}
