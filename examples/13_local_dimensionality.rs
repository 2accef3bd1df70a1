//! Local dimensionality: into how many dimensions does the density spread around an image,
//! at each scale? (the paper's Fig. 5), and two checks that the model is a consistent density.
//!
//! The idea. Around an image x, at noise variance t, the denoiser's error measures how many
//! directions the density leaves free at scale sqrt(t):
//!
//! `d_eff(x, t) = E_z ||xhat(x + sqrt(t) z, t) - x||^2 / t`,  `xhat = y - t grad_y U(y, t)`.
//!
//! At tiny t every direction is free (d_eff = d); at huge t the noise swamps the image and one
//! direction is left (d_eff -> 1 for the mean). In between, d_eff says at which scales the
//! image's neighbourhood is low dimensional. The paper (64x64 gray) finds mean d_eff 4096,
//! 3445, 1758, 243, 13 and 1 at t = 1e-12, 1e-5, 1e-3, 0.1, 10 and 1e3, probable images losing
//! most dimensions at small t and textured ones staying near d until t ~ 1e-4
//! (docs/METHOD.md section 5.7).
//!
//! Two checks that the energy's log p and its denoiser belong to one density:
//! - the slope identity `d_eff = d + 2 t d/dt E_z[log p(x + sqrt(t) z, t)]`;
//! - the I-MMSE integral `E log p(x) = E log p(y, t_max) + int_0^t_max (d - d_eff) / (2 t) dt`
//!   against the direct `log p(x) = -U(x, 0) - c` (the paper: 11.51 against 11.47 dB/dim).
//!
//! (The mean of d_eff / d is the denoising loss by definition, for any model: it checks
//! nothing.) What it measures: d_eff of test patches on a grid of t, per patch and on average,
//! with both checks, by the program's `dim` code. What to look at: the mean curve falling from
//! d to 1 (`d_eff.png`); the most probable patches (by log p) falling first
//! (`d_eff_by_log_p.png`) and the negative correlation of log p with d_eff at small t; the
//! slope identity's measured slopes on its prediction (`slope_identity.png`); the I-MMSE
//! difference in dB/dim. The last line printed is JSON.
//!
//! Run: `cargo run --release -p dualscore-examples --example 13_local_dimensionality` (trains a
//! small model first; give one with `--model DIR`, e.g. example 10's, and the natural patches
//! with `--train ... --test ...`).

use clap::Parser;
use dualscore::app::{Output, print_dimensionality, spread, write_csv};
use dualscore::plot::{self, Axes, Scale, Series};
use dualscore_cpu::Cpu;
use dualscore_examples::dimensionality::{self, log_p_dimension_correlation, nearest};
use dualscore_examples::natural::{ModelSource, PatchArgs};
use dualscore_examples::{ExampleResult, on_cpu};
use serde_json::json;
use std::path::PathBuf;

/// Measure the local dimensionality of test patches and check the model's consistency.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    data: PatchArgs,
    #[command(flatten)]
    model: ModelSource,
    /// Test patches measured (spread over the test set).
    #[arg(long, default_value_t = 64)]
    images: usize,
    /// Points of the grid of t, from --t-min to 1e3.
    #[arg(long, default_value_t = 23)]
    points: usize,
    /// The smallest noise variance of the grid.
    #[arg(long, default_value_t = 1e-8)]
    t_min: f64,
    /// Noise draws per patch.
    #[arg(long, default_value_t = 2)]
    draws: usize,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The output folder.
    #[arg(long, default_value = "example-13")]
    out: PathBuf,
}

fn main() -> ExampleResult<()> {
    let args = Args::parse();
    on_cpu(args.threads, |cpu| run(&args, cpu))
}

fn run(args: &Args, cpu: &Cpu) -> ExampleResult<()> {
    if args.images < 2 || args.points < 2 || args.draws == 0 {
        return Err("--images and --points must be at least 2, --draws at least 1".into());
    }
    if !(args.t_min > 0.0 && args.t_min < 1e3) {
        return Err(format!("--t-min must be in (0, 1e3), got {}", args.t_min).into());
    }
    std::fs::create_dir_all(&args.out)?;
    let (train, test) = args.data.read()?;
    let (model, _) = args.model.open_or_train(&train, &args.out, cpu)?;
    let images = spread(&test, args.images)?;
    let (nll, _) = model.print_nll(&train, &images, cpu)?;
    let report =
        dimensionality::measure(&model, &images, args.t_min, args.points, args.draws, cpu)?;
    let mut stdout = std::io::stdout();
    print_dimensionality(&report, &mut Output::new(&mut stdout, false, false))?;
    let d = report.dim as f64;
    let correlation = log_p_dimension_correlation(&report, 1e-3);
    println!("correlation over patches of log p(x) and d_eff(x, 1e-3): {correlation:+.3}");

    let curve = |values: &[f64]| -> Vec<(f64, f64)> {
        report
            .noise_variances
            .iter()
            .copied()
            .zip(values.iter().map(|v| v / d))
            .collect()
    };
    let means: Vec<f64> = report.mean_d_eff.iter().map(|e| e.mean).collect();
    plot::line_chart(
        &args.out.join("d_eff.png"),
        &Axes::new(
            "local dimensionality of test patches",
            "noise variance t",
            "mean d_eff / d",
        )
        .with_scales(Scale::Log10, Scale::Log10),
        &[Series::new("mean over patches", curve(&means))],
    )?;
    let mut by_log_p: Vec<_> = report
        .per_image
        .iter()
        .filter_map(|i| Some((i.direct_log_p_db_per_dim?, i)))
        .collect();
    by_log_p.sort_by(|a, b| b.0.total_cmp(&a.0));
    let shown = 3.min(by_log_p.len() / 2);
    let picks = by_log_p[..shown]
        .iter()
        .chain(&by_log_p[by_log_p.len() - shown..]);
    let series: Vec<Series> = picks
        .map(|(log_p, image)| {
            let values: Vec<f64> = image.d_eff.iter().map(|e| e.mean).collect();
            Series::new(format!("log p {log_p:.1} dB/dim"), curve(&values))
        })
        .collect();
    plot::line_chart(
        &args.out.join("d_eff_by_log_p.png"),
        &Axes::new(
            "the three most and least probable patches",
            "noise variance t",
            "d_eff / d",
        )
        .with_scales(Scale::Log10, Scale::Log10),
        &series,
    )?;
    if let Some(s) = &report.slope_check {
        let points = |f: fn(&dualscore_core::analysis::SlopeInterval) -> f64| -> Vec<(f64, f64)> {
            s.intervals
                .iter()
                .map(|i| ((i.t_lower * i.t_upper).sqrt(), f(i)))
                .collect()
        };
        plot::line_chart(
            &args.out.join("slope_identity.png"),
            &Axes::new(
                "slope of E log p(x + sqrt(t) z, t) per decade of t",
                "noise variance t",
                "dB/dim per decade",
            )
            .with_scales(Scale::Log10, Scale::Linear),
            &[
                Series::new("measured", points(|i| i.measured)),
                Series::new("identity: from d_eff", points(|i| i.identity)),
            ],
        )?;
    }
    let rows: Vec<Vec<f64>> = report
        .noise_variances
        .iter()
        .zip(&report.mean_d_eff)
        .map(|(t, e)| vec![*t, e.mean, e.std_error])
        .collect();
    write_csv(
        &args.out.join("d_eff.csv"),
        &["t", "mean_d_eff", "std_error"],
        &rows,
    )?;
    println!(
        "figures in {}: d_eff.png, d_eff_by_log_p.png, slope_identity.png; d_eff.csv",
        args.out.display()
    );
    let at = |t: f64| {
        let k = nearest(&report, t);
        json!({"t": report.noise_variances[k], "d_eff": report.mean_d_eff[k].mean})
    };
    let immse = report.immse_check.as_ref();
    let slope = report.slope_check.as_ref();
    println!(
        "{}",
        json!({
            "nll_bits": nll,
            "dim": report.dim,
            "mean_d_eff": [at(args.t_min), at(1e-5), at(1e-3), at(0.1), at(10.0), at(1e3)],
            "log_p_d_eff_correlation_at_1e-3": correlation,
            "slope_rms_error_db_per_decade": slope.map(|s| s.rms_error),
            "slope_relative_rms_error": slope.map(|s| s.relative_rms_error),
            "immse_direct_db": immse.map(|c| c.direct_db_per_dim),
            "immse_integral_db": immse.map(|c| c.immse_db_per_dim),
            "immse_difference_db": immse.map(|c| c.difference_db_per_dim),
            "immse_difference_std_error_db": immse.map(|c| c.difference_db_per_dim_std_error),
        })
    );
    Ok(())
}
