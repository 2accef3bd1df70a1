//! `dualscore report`: every measurement of one model on one data set, as PNG figures and a
//! `report.md` that shows them with the numbers.

use super::args::DataArgs;
use super::denoise;
use super::dim::{self, DimSettings};
use super::error::{AppError, AppResult};
use super::files::write_file;
use super::measure::{ModelArgs, tensor, with_energy};
use super::nll::{self, NllReport};
use super::output::Output;
use super::sample;
use crate::data::ImageSet;
use crate::model::Model;
use crate::plot::{self, Axes, Scale, Series};
use clap::Args;
use dualscore_core::Backend;
use dualscore_core::analysis::{
    ContrastOptions, LogProbStatistics, TABLE1_PSNRS_DB, contrast_curves,
    haar_participation_ratios, log_grid, log_prob_statistics,
};
use dualscore_core::analysis::{DenoisingReport, LocalDimensionality};
use dualscore_core::density::log_p_db_per_dim;
use dualscore_core::train::{StepMetrics, read_metrics};
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// All measurements of a model on a data set, into a folder of figures and report.md.
#[derive(Clone, Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// The report folder.
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    #[command(flatten)]
    pub sizes: ReportSizes,
}

/// How much each measurement computes.
#[derive(Clone, Debug, Args)]
pub struct ReportSizes {
    /// Images for log p, its histogram, the sorted images, contrast and sparsity.
    #[arg(long, default_value_t = 1024)]
    pub images: usize,
    /// Images for the denoising curve.
    #[arg(long, default_value_t = 256)]
    pub denoise_images: usize,
    /// Images for the local dimensionality.
    #[arg(long, default_value_t = 32)]
    pub dim_images: usize,
    /// Points of the local dimensionality's grid of t (1e-6 .. 1e3).
    #[arg(long, default_value_t = 19)]
    pub dim_points: usize,
    /// Samples drawn.
    #[arg(long, default_value_t = 16)]
    pub samples: usize,
    /// Reverse diffusion steps per sample.
    #[arg(long, default_value_t = 200)]
    pub sample_steps: usize,
    /// Added to the diagonal of the Gaussian baseline's covariance.
    #[arg(long, default_value_t = 1e-6)]
    pub ridge: f64,
}

/// The numbers of a report (the JSON result).
#[derive(Clone, Debug, Serialize)]
pub struct ReportSummary {
    /// The report folder.
    pub out: PathBuf,
    /// NLL, baseline and constant.
    pub nll: NllReport,
    /// log p statistics with the Gumbel fit.
    pub log_p: LogProbStatistics,
    /// The denoising curve.
    pub denoising: DenoisingReport,
    /// d_eff and the checks (curves averaged over images).
    pub dimensionality: LocalDimensionality,
    /// The figures written, file names in the folder.
    pub figures: Vec<String>,
}

/// Writes the report of `model` on `test` (with `train` for the baseline) into `out`.
#[allow(clippy::too_many_arguments)]
pub fn write_report<B: Backend>(
    model: &Model<B>,
    model_args: &ModelArgs,
    train: Option<&ImageSet>,
    test: &ImageSet,
    sizes: &ReportSizes,
    out: &Path,
    backend: &B,
    output: &mut Output<'_>,
) -> AppResult<ReportSummary> {
    std::fs::create_dir_all(out).map_err(|e| AppError::io(out, "create the folder", e))?;
    let shape = test.image_shape();
    let [c, h, w] = shape;
    let d = c * h * w;
    let images = spread(test, sizes.images)?;
    let mut figures = Vec::new();
    let mut figure = |name: &str| -> PathBuf {
        figures.push(name.to_string());
        out.join(name)
    };

    output.line("report: NLL and log p")?;
    let nll_report = nll::measure(
        model,
        model_args,
        train,
        &images,
        sizes.ridge,
        backend,
        output,
    )?;
    let constant = nll_report.constant.value;
    let nlp = with_energy!(model, |energy, F| {
        super::measure::neg_log_probs(energy, &tensor::<F, _>(&images, backend)?, constant)?
    });
    let log_p: Vec<f64> = nlp.iter().map(|&v| log_p_db_per_dim(v, d)).collect();
    let stats = log_prob_statistics(&log_p)?;
    let gumbel_curve = stats.gumbel.as_ref().map(|g| {
        let (lo, hi) = (stats.min, stats.max);
        let points = (0..=200)
            .map(|k| {
                let x = lo + (hi - lo) * k as f64 / 200.0;
                let z = (x - g.location) / g.scale;
                (x, (-(z + (-z).exp())).exp() / g.scale)
            })
            .collect();
        Series::new("Gumbel fit", points)
    });
    plot::histogram(
        &figure("log_p_histogram.png"),
        &Axes::new("log p of the images", "log p (dB/dim)", "density"),
        &log_p,
        40,
        gumbel_curve.as_slice(),
    )
    .map_err(plot_error)?;

    let mut order: Vec<usize> = (0..log_p.len()).collect();
    order.sort_by(|&a, &b| log_p[a].total_cmp(&log_p[b]));
    let shown = 64.min(order.len());
    let picks: Vec<Vec<f64>> = (0..shown)
        .map(|k| {
            let i = order[k * (order.len() - 1) / (shown - 1).max(1)];
            images.image(i).expect("an index of the set").to_vec()
        })
        .collect();
    plot::image_grid(
        &figure("images_by_log_p.png"),
        &picks,
        c,
        h,
        w,
        8,
        scale_for(h, w),
    )
    .map_err(plot_error)?;

    output.line("report: contrast and sparsity")?;
    let contrast_set = spread(&images, 64)?;
    let contrast = with_energy!(model, |energy, F| {
        contrast_curves(
            energy,
            &tensor::<F, _>(&contrast_set, backend)?,
            &ContrastOptions {
                constant_nats: Some(constant),
                ..ContrastOptions::default()
            },
        )?
    });
    let mut contrast_series: Vec<Series> = contrast
        .log_p_db_per_dim
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, curve)| {
            Series::new(
                format!("image {i}"),
                contrast
                    .contrasts
                    .iter()
                    .copied()
                    .zip(curve.iter().copied())
                    .collect(),
            )
        })
        .collect();
    contrast_series.push(Series::new(
        format!("mean of {}", contrast.log_p_db_per_dim.len()),
        contrast
            .contrasts
            .iter()
            .copied()
            .zip(contrast.mean_log_p_db_per_dim.iter().copied())
            .collect(),
    ));
    plot::line_chart(
        &figure("log_p_vs_contrast.png"),
        &Axes::new(
            "log p(a x + 1/2) against the contrast a",
            "contrast a",
            "log p (dB/dim)",
        ),
        &contrast_series,
    )
    .map_err(plot_error)?;

    let haar_levels = haar_levels(h, w);
    let sparsity = if haar_levels > 0 {
        let ratios = haar_participation_ratios(&tensor::<f64, _>(&images, backend)?, haar_levels)?;
        plot::scatter_chart(
            &figure("log_p_vs_sparsity.png"),
            &Axes::new(
                "log p against the sparsity of Haar coefficients",
                "participation ratio of Haar coefficients / d",
                "log p (dB/dim)",
            ),
            &[Series::new(
                "",
                ratios
                    .iter()
                    .zip(&log_p)
                    .map(|(r, l)| (*r / d as f64, *l))
                    .collect(),
            )],
        )
        .map_err(plot_error)?;
        Some(correlation(&ratios, &log_p))
    } else {
        None
    };

    output.line("report: denoising")?;
    let denoise_set = spread(&images, sizes.denoise_images)?;
    let denoising = denoise::measure(model, &denoise_set, &TABLE1_PSNRS_DB, 0, backend)?;
    let psnr_points: Vec<(f64, f64)> = denoising
        .levels
        .iter()
        .map(|l| (l.input_psnr_db, l.output_psnr_db))
        .collect();
    let (lo, hi) = (TABLE1_PSNRS_DB[8], TABLE1_PSNRS_DB[0]);
    plot::line_chart(
        &figure("denoising_psnr.png"),
        &Axes::new(
            "denoising performance",
            "input PSNR (dB)",
            "output PSNR (dB)",
        ),
        &[
            Series::new("energy's denoiser", psnr_points),
            Series::new("identity", vec![(lo, lo), (hi, hi)]),
        ],
    )
    .map_err(plot_error)?;

    output.line("report: local dimensionality")?;
    let dim_set = spread(&images, sizes.dim_images)?;
    let settings = DimSettings {
        grid: log_grid(1e-6, 1e3, sizes.dim_points.max(2))?,
        draws: 2,
        seed: 0,
        per_image: false,
    };
    let dimensionality = dim::measure(model, &dim_set, &settings, Some(constant), backend)?;
    plot::line_chart(
        &figure("d_eff_vs_t.png"),
        &Axes::new("local dimensionality", "noise variance t", "d_eff / d")
            .with_scales(Scale::Log10, Scale::Linear),
        &[Series::new(
            "mean over images",
            dimensionality
                .noise_variances
                .iter()
                .zip(&dimensionality.mean_d_eff)
                .map(|(t, e)| (*t, e.mean / d as f64))
                .collect(),
        )],
    )
    .map_err(plot_error)?;

    if sizes.samples > 0 {
        output.line("report: samples")?;
        let values = sample::draw(model, shape, sizes.samples, sizes.sample_steps, 0, backend)?;
        sample::write_grid(&figure("samples.png"), &values, shape)?;
    }

    let metrics = match model {
        Model::Network(n) => read_metrics(&n.dir.join("metrics.jsonl")).ok(),
        Model::Analytic(_) => None,
    };
    if let Some(metrics) = metrics.as_ref().filter(|m| !m.is_empty()) {
        plot::line_chart(
            &figure("training_loss.png"),
            &Axes::new("training loss", "step", "loss (dsm + tsm)")
                .with_scales(Scale::Linear, Scale::Log10),
            &loss_series(metrics),
        )
        .map_err(plot_error)?;
    }

    let summary = ReportSummary {
        out: out.to_path_buf(),
        nll: nll_report,
        log_p: stats,
        denoising,
        dimensionality,
        figures,
    };
    let markdown = markdown(
        &summary,
        model,
        test,
        sparsity,
        contrast.mean_log_p_db_per_dim.first().copied(),
    );
    write_file(&out.join("report.md"), markdown.as_bytes())?;
    output.line(format!(
        "report written to {}",
        out.join("report.md").display()
    ))?;
    Ok(summary)
}

fn plot_error(e: crate::plot::PlotError) -> AppError {
    AppError::msg(e.to_string())
}

/// `count` images spread evenly over a set (all when fewer), so that a set made of several
/// photographs in turn is represented by all of them.
pub fn spread(set: &ImageSet, count: usize) -> AppResult<ImageSet> {
    let n = set.len();
    let k = n.min(count.max(1));
    let indices: Vec<usize> = (0..k).map(|i| i * n / k).collect();
    Ok(set.select(&indices)?)
}

/// Pixels per image pixel in a grid: about 64 screen pixels per image side.
fn scale_for(h: usize, w: usize) -> usize {
    (64 / h.max(w)).clamp(1, 8)
}

/// The number of Haar levels an image of `h x w` allows (both sides halve), at most 4.
pub fn haar_levels(h: usize, w: usize) -> usize {
    let mut levels = 0;
    let (mut h, mut w) = (h, w);
    while levels < 4 && h % 2 == 0 && w % 2 == 0 && h >= 2 && w >= 2 {
        h /= 2;
        w /= 2;
        levels += 1;
    }
    levels
}

/// Pearson's correlation of the pairs of `a` and `b` (the shorter's length).
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// The raw loss and its running mean over about 1 % of the steps.
pub(super) fn loss_series(metrics: &[StepMetrics]) -> Vec<Series> {
    let raw: Vec<(f64, f64)> = metrics.iter().map(|m| (m.step as f64, m.loss)).collect();
    let window = (metrics.len() / 100).max(1);
    let mut smooth = Vec::with_capacity(metrics.len() / window + 1);
    for chunk in metrics.chunks(window) {
        let mean = chunk.iter().map(|m| m.loss).sum::<f64>() / chunk.len() as f64;
        smooth.push((chunk[chunk.len() / 2].step as f64, mean));
    }
    vec![
        Series::new("per step", raw),
        Series::new(format!("mean of {window} steps"), smooth),
    ]
}

fn markdown<B: Backend>(
    s: &ReportSummary,
    model: &Model<B>,
    test: &ImageSet,
    sparsity_correlation: Option<f64>,
    flat_image_log_p: Option<f64>,
) -> String {
    let mut m = String::new();
    let n = &s.nll;
    let _ = writeln!(m, "# dualscore report\n");
    let _ = writeln!(m, "- model: {}", model.describe());
    let _ = writeln!(
        m,
        "- data: {} ({} images of {:?}; {} of them, evenly spaced, used for log p)",
        test.origin().display(),
        test.len(),
        test.image_shape(),
        n.summary.images
    );
    let _ = writeln!(
        m,
        "- normalization constant: {:.3} +- {:.3} nats ({})\n",
        n.constant.value, n.constant.std_error, n.constant.source
    );
    let _ = writeln!(m, "## Negative log-likelihood\n");
    let _ = writeln!(m, "| density | NLL (bits/dim) | mean log p (dB/dim) |");
    let _ = writeln!(m, "|---|---|---|");
    let _ = writeln!(
        m,
        "| this model | {:.4} +- {:.4} | {:.3} |",
        n.summary.nll_bits_per_dim,
        n.summary.nll_bits_per_dim_std_error,
        n.summary.mean_log_p_db_per_dim
    );
    if let Some(b) = &n.baseline {
        let _ = writeln!(
            m,
            "| Gaussian, full covariance of {} training images | {:.4} +- {:.4} | {:.3} |",
            b.train_images,
            b.summary.nll_bits_per_dim,
            b.summary.nll_bits_per_dim_std_error,
            b.summary.mean_log_p_db_per_dim
        );
    }
    let l = &s.log_p;
    let _ = writeln!(m, "\n## Distribution of log p\n");
    let _ = writeln!(
        m,
        "Mean {:.3}, median {:.3}, std {:.3}, skewness {:.3} dB/dim over {} images (min {:.3}, max {:.3}).",
        l.mean, l.median, l.std, l.skewness, l.count, l.min, l.max
    );
    if let Some(g) = &l.gumbel {
        let _ = writeln!(
            m,
            "Gumbel fit: location {:.3} +- {:.3}, scale {:.3} +- {:.3} dB/dim.",
            g.location, g.location_std_error, g.scale, g.scale_std_error
        );
    }
    let _ = writeln!(m, "\n![log p histogram](log_p_histogram.png)\n");
    let _ = writeln!(
        m,
        "Images in order of log p, lowest first (64 evenly spaced ranks):\n\n![images by log p](images_by_log_p.png)\n"
    );
    let _ = writeln!(m, "## Probability and content\n");
    if let Some(flat) = flat_image_log_p {
        let _ = writeln!(
            m,
            "The flat mid-gray image (a = 0) has log p {flat:.3} dB/dim."
        );
    }
    let _ = writeln!(m, "\n![log p against contrast](log_p_vs_contrast.png)\n");
    if let Some(r) = sparsity_correlation {
        let _ = writeln!(
            m,
            "Correlation of log p with the participation ratio of Haar coefficients: {r:.3}.\n\n![log p against sparsity](log_p_vs_sparsity.png)\n"
        );
    }
    let _ = writeln!(m, "## Denoising\n");
    let _ = writeln!(m, "| input PSNR (dB) | output PSNR (dB) | gain (dB) |");
    let _ = writeln!(m, "|---|---|---|");
    for level in &s.denoising.levels {
        let _ = writeln!(
            m,
            "| {:.0} | {:.2} +- {:.2} | {:+.2} |",
            level.input_psnr_db,
            level.output_psnr_db,
            level.output_psnr_std_error_db,
            level.gain_db
        );
    }
    let _ = writeln!(m, "\n![denoising](denoising_psnr.png)\n");
    let dm = &s.dimensionality;
    let _ = writeln!(m, "## Local dimensionality\n");
    let _ = writeln!(
        m,
        "{} images, {} draws each, t from {:.0e} to {:.0e}.",
        dm.images,
        dm.draws,
        dm.noise_variances.first().copied().unwrap_or(0.0),
        dm.noise_variances.last().copied().unwrap_or(0.0)
    );
    if let Some(c) = &dm.slope_check {
        let _ = writeln!(
            m,
            "Slope identity: max |error| {:.4} dB/dim per decade, rms {:.4} (relative {:.2e}).",
            c.max_abs_error, c.rms_error, c.relative_rms_error
        );
    }
    if let Some(c) = &dm.immse_check {
        let _ = writeln!(
            m,
            "I-MMSE: direct log p {:.4} dB/dim, integral {:.4} dB/dim, difference {:.4} +- {:.4} dB/dim.",
            c.direct_db_per_dim,
            c.immse_db_per_dim,
            c.difference_db_per_dim,
            c.difference_db_per_dim_std_error
        );
    }
    let _ = writeln!(m, "\n![d_eff against t](d_eff_vs_t.png)\n");
    if s.figures.iter().any(|f| f == "samples.png") {
        let _ = writeln!(m, "## Samples\n\n![samples](samples.png)\n");
    }
    if s.figures.iter().any(|f| f == "training_loss.png") {
        let _ = writeln!(m, "## Training\n\n![training loss](training_loss.png)\n");
    }
    m
}

/// Runs `report`.
pub fn run<B: Backend>(
    args: &ReportArgs,
    output: &mut Output<'_>,
    backend: &B,
) -> AppResult<Value> {
    let sets = args.data.read()?;
    let test = sets.evaluation()?;
    let model = args.model.open(backend)?;
    let summary = write_report(
        &model,
        &args.model,
        sets.train.as_ref(),
        test,
        &args.sizes,
        &args.out,
        backend,
        output,
    )?;
    Ok(json!({ "command": "report", "result": summary }))
}
