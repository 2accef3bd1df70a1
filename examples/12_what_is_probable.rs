//! What is probable: the distribution of log p over natural patches, and what makes a patch
//! probable (the paper's Figs. 3 and 4).
//!
//! The idea. A normalized density gives every image a number, log p(x), and numbers can be
//! compared across images: `-log p(x) = U(x, 0) + c` with one constant c for all of them
//! (docs/METHOD.md section 4). In dB per dimension, `10 log10 p(x) / d`, a difference of 10 dB/dim
//! between two 16x16 patches is a probability ratio of 10^256. The paper finds on 64x64 gray
//! images (docs/METHOD.md sections 5.5 and 5.6): log p spread over tens of dB/dim, skewed to the
//! right and fitted by a Gumbel law (mean 11.43, std 4.17, skewness about 1.2; location 9.57,
//! scale 3.17); flat images far above every real one, uniform noise far below; log p falls as
//! the contrast grows, hardly changes with the brightness, and is higher for images whose Haar
//! wavelet coefficients are sparser (a lower participation ratio `||c||_1^2 / (n ||c||_2^2)`).
//!
//! What it measures on test patches: log p of each (with the maximum-likelihood Gumbel fit),
//! of the flat mid-gray patch and of uniform noise; `log p(a (x - mean x) + 1/2)` against the
//! contrast a (a = 1: the patch's own contrast; a = 0: the flat patch); `log p(x - mean x + b)`
//! against the brightness b; the Haar participation ratio of each patch (4 levels) and its
//! correlation with log p.
//!
//! What to look at: the model must beat the Gaussian baseline first (the NLL line); the
//! histogram's long right tail and its Gumbel fit (`log_p_histogram.png`); smooth patches at
//! the top of `images_by_log_p.png` (most probable last), textures at the bottom; the falling
//! contrast curve (`log_p_vs_contrast.png`), the flat brightness curve
//! (`log_p_vs_brightness.png`), the negative correlation with the participation ratio
//! (`log_p_vs_sparsity.png`). `log_p.csv` holds every patch's log p and participation ratio.
//! The last line printed is JSON.
//!
//! Run: `cargo run --release -p dualscore-examples --example 12_what_is_probable` (trains a
//! small model first; give one with `--model DIR`, e.g. example 10's, and the natural patches
//! with `--train ... --test ...`).

use clap::Parser;
use dualscore::app::{spread, write_csv};
use dualscore::plot::{self, Axes, Series};
use dualscore_cpu::Cpu;
use dualscore_examples::natural::{ModelSource, PatchArgs};
use dualscore_examples::probable::{self, Probable};
use dualscore_examples::{ExampleResult, on_cpu};
use serde_json::json;
use std::path::PathBuf;

/// Measure what the learned density finds probable.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    data: PatchArgs,
    #[command(flatten)]
    model: ModelSource,
    /// Test patches measured (spread over the test set).
    #[arg(long, default_value_t = 2048)]
    images: usize,
    /// Test patches of the contrast and brightness curves.
    #[arg(long, default_value_t = 128)]
    contrast_images: usize,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The output folder.
    #[arg(long, default_value = "example-12")]
    out: PathBuf,
}

fn main() -> ExampleResult<()> {
    let args = Args::parse();
    on_cpu(args.threads, |cpu| run(&args, cpu))
}

fn run(args: &Args, cpu: &Cpu) -> ExampleResult<()> {
    if args.images < 2 || args.contrast_images == 0 {
        return Err("--images must be at least 2 and --contrast-images at least 1".into());
    }
    std::fs::create_dir_all(&args.out)?;
    let (train, test) = args.data.read()?;
    let (model, _) = args.model.open_or_train(&train, &args.out, cpu)?;
    let images = spread(&test, args.images)?;
    let (ours, gaussian) = model.print_nll(&train, &images, cpu)?;
    let p = probable::measure(&model, &images, args.contrast_images, cpu)?;
    let s = &p.statistics;
    println!(
        "log p (dB/dim): mean {:.2}, median {:.2}, std {:.2}, skewness {:+.2}, from {:.2} to {:.2}",
        s.mean, s.median, s.std, s.skewness, s.min, s.max
    );
    if let Some(g) = &s.gumbel {
        println!(
            "Gumbel fit: location {:.2} +- {:.2}, scale {:.2} +- {:.2}",
            g.location, g.location_std_error, g.scale, g.scale_std_error
        );
    }
    println!(
        "flat mid-gray patch {:.2}, uniform noise {:.2} dB/dim",
        p.flat_log_p, p.noise_log_p
    );
    let at = |a: f64| {
        let k = p
            .contrast
            .contrasts
            .iter()
            .position(|&c| (c - a).abs() < 1e-9)
            .unwrap_or(0);
        p.contrast.mean_log_p_db_per_dim[k]
    };
    println!(
        "mean log p at contrast 0, 0.5, 1, 2: {:.2}, {:.2}, {:.2}, {:.2}",
        at(0.0),
        at(0.5),
        at(1.0),
        at(2.0)
    );
    let bright: Vec<f64> = p.brightness.iter().map(|(_, l)| *l).collect();
    let bright_range = bright.iter().cloned().fold(f64::MIN, f64::max)
        - bright.iter().cloned().fold(f64::MAX, f64::min);
    println!(
        "mean log p at brightness 0.1 .. 0.9: {} (range {bright_range:.2})",
        bright
            .iter()
            .map(|l| format!("{l:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "correlation of log p and the Haar participation ratio: {:+.3}",
        p.sparsity_correlation
    );
    figures(args, &p, &images)?;
    println!(
        "{}",
        json!({
            "nll_bits": ours,
            "gaussian_nll_bits": gaussian,
            "log_p_mean": s.mean,
            "log_p_median": s.median,
            "log_p_std": s.std,
            "log_p_skewness": s.skewness,
            "log_p_min": s.min,
            "log_p_max": s.max,
            "gumbel_location": s.gumbel.as_ref().map(|g| g.location),
            "gumbel_scale": s.gumbel.as_ref().map(|g| g.scale),
            "flat_log_p": p.flat_log_p,
            "noise_log_p": p.noise_log_p,
            "contrast_0": at(0.0),
            "contrast_1": at(1.0),
            "contrast_2": at(2.0),
            "brightness_range": bright_range,
            "sparsity_correlation": p.sparsity_correlation,
        })
    );
    Ok(())
}

fn figures(args: &Args, p: &Probable, images: &dualscore::data::ImageSet) -> ExampleResult<()> {
    let out = &args.out;
    let s = &p.statistics;
    let fit: Vec<Series> = s
        .gumbel
        .iter()
        .map(|g| {
            let points = (0..=200)
                .map(|k| {
                    let x = s.min + (s.max - s.min) * k as f64 / 200.0;
                    let z = (x - g.location) / g.scale;
                    (x, (-z - (-z).exp()).exp() / g.scale)
                })
                .collect();
            Series::new("Gumbel fit", points)
        })
        .collect();
    plot::histogram(
        &out.join("log_p_histogram.png"),
        &Axes::new("log p of test patches", "log p (dB/dim)", "density"),
        &p.log_p,
        40,
        &fit,
    )?;

    let mut order: Vec<usize> = (0..p.log_p.len()).collect();
    order.sort_by(|&a, &b| p.log_p[a].total_cmp(&p.log_p[b]));
    let shown = 64.min(order.len());
    let picks = (0..shown)
        .map(|k| {
            let i = order[k * (order.len() - 1) / (shown - 1).max(1)];
            images
                .image(i)
                .map(<[f64]>::to_vec)
                .ok_or("an index outside the set")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let [c, h, w] = images.image_shape();
    plot::image_grid(&out.join("images_by_log_p.png"), &picks, c, h, w, 8, 4)?;

    let contrast = &p.contrast;
    let mut curves: Vec<Series> = contrast
        .log_p_db_per_dim
        .iter()
        .take(6)
        .enumerate()
        .map(|(i, curve)| {
            Series::new(
                format!("patch {i}"),
                contrast
                    .contrasts
                    .iter()
                    .copied()
                    .zip(curve.clone())
                    .collect(),
            )
        })
        .collect();
    curves.push(Series::new(
        format!("mean of {}", contrast.log_p_db_per_dim.len()),
        contrast
            .contrasts
            .iter()
            .copied()
            .zip(contrast.mean_log_p_db_per_dim.clone())
            .collect(),
    ));
    plot::line_chart(
        &out.join("log_p_vs_contrast.png"),
        &Axes::new(
            "log p(a (x - mean x) + 1/2) against the contrast a",
            "contrast a (1: the patch's own)",
            "log p (dB/dim)",
        ),
        &curves,
    )?;
    plot::line_chart(
        &out.join("log_p_vs_brightness.png"),
        &Axes::new(
            "log p(x - mean x + b) against the brightness b",
            "brightness b",
            "mean log p (dB/dim)",
        ),
        &[Series::new("mean over patches", p.brightness.clone())],
    )?;
    plot::scatter_chart(
        &out.join("log_p_vs_sparsity.png"),
        &Axes::new(
            "log p against the sparsity of Haar coefficients",
            "participation ratio / d (lower: sparser)",
            "log p (dB/dim)",
        ),
        &[Series::new(
            "",
            p.sparsity.iter().copied().zip(p.log_p.clone()).collect(),
        )],
    )?;
    let rows: Vec<Vec<f64>> = p
        .log_p
        .iter()
        .zip(&p.sparsity)
        .map(|(l, r)| vec![*l, *r])
        .collect();
    write_csv(
        &out.join("log_p.csv"),
        &["log_p_db_per_dim", "haar_participation_ratio_over_d"],
        &rows,
    )?;
    println!(
        "figures in {}: log_p_histogram.png, images_by_log_p.png, log_p_vs_contrast.png, log_p_vs_brightness.png, log_p_vs_sparsity.png; log_p.csv",
        out.display()
    );
    Ok(())
}
