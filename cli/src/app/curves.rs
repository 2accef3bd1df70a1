//! `dualscore curves`: the training curves of a run, drawn from its files while it trains;
//! with `--truth`, beside the held-out loss of the exact density the data were drawn from.

use super::error::{AppError, AppResult};
use super::output::Output;
use super::report::loss_series;
use crate::data::open_images;
use crate::model::AnalyticModel;
use crate::plot::{self, Axes, Scale, Series};
use clap::Args;
use dualscore_core::rng::RngKey;
use dualscore_core::train::{
    BandLoss, LevelLoss, Objective, band_losses, evaluation_variances, held_out_loss, read_metrics,
};
use dualscore_core::{Backend, Tensor};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Draw a run's training loss and held-out loss per noise band (safe while it trains).
#[derive(Clone, Debug, Args)]
pub struct CurvesArgs {
    /// The run's folder (`train --out`).
    #[arg(long)]
    pub run: PathBuf,
    /// Where to write the figures (default: the run's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The analytic model (.json) the run's data were drawn from (e.g. by `dualscore synth`):
    /// its exact held-out loss, the optimum, is computed on the run's test images with the
    /// same noise, written to RUN/optimum.json and drawn as dashed lines.
    #[arg(long, value_name = "MODEL.json", requires = "test")]
    pub truth: Option<PathBuf>,
    /// The test images the run was trained with (`train --test`), for `--truth`.
    #[arg(long, value_name = "FILE", requires = "truth")]
    pub test: Option<PathBuf>,
    /// Cut the test images into P x P patches, as `train --patch` did.
    #[arg(long, value_name = "P", requires = "test")]
    pub patch: Option<usize>,
    /// The stride of `--patch` (default P).
    #[arg(long, value_name = "S", requires = "patch")]
    pub stride: Option<usize>,
}

/// The exact density's held-out loss on a run's evaluation images: the best any model can reach
/// (up to the sampling of images and noise, which it shares with the run's evaluations).
#[derive(Clone, Debug, Serialize)]
pub struct Optimum {
    /// The analytic model file.
    pub truth: PathBuf,
    /// The test file.
    pub test: PathBuf,
    /// The first `images` test images were evaluated, as in the run's eval.jsonl.
    pub images: usize,
    /// "dual" or "single", the run's objective.
    pub objective: String,
    /// The noise key (seed, stream) shared with `train`'s evaluation.
    pub noise_key: [u64; 2],
    /// The loss per noise level.
    pub levels: Vec<LevelLoss>,
    /// The mean per noise band.
    pub bands: Vec<BandLoss>,
    /// The mean over the levels.
    pub mean_loss: f64,
}

/// The noise of `train`'s held-out evaluation (cli/src/app/train.rs `evaluate`).
const EVAL_KEY: (u64, u64) = (0, 7);

/// The run's objective, from its checkpoint.json (dual when it cannot be read).
fn run_objective(run: &Path) -> Objective {
    let objective = std::fs::read_to_string(run.join("checkpoint.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v["train_config"]["objective"].as_str().map(str::to_string));
    match objective.as_deref() {
        Some("single") => Objective::Single,
        _ => Objective::Dual,
    }
}

/// Computes the optimum of `args.truth` on the first `images` images of `args.test`.
fn optimum<B: Backend>(
    args: &CurvesArgs,
    truth: &Path,
    test_path: &Path,
    images: usize,
    backend: &B,
) -> AppResult<Optimum> {
    let model = AnalyticModel::read(truth)?;
    let mut test = open_images(test_path)?;
    if let Some(p) = args.patch {
        test = test.patches(p, args.stride.unwrap_or(p))?;
    }
    if test.image_shape() != model.image_shape() {
        return Err(AppError::msg(format!(
            "{}: the test images are {:?}, the model {} is defined on {:?}",
            test_path.display(),
            test.image_shape(),
            truth.display(),
            model.image_shape()
        )));
    }
    let count = test.len().min(images.max(1));
    let first: Vec<usize> = (0..count).collect();
    let set = test.select(&first)?;
    let x = Tensor::<B, f64>::from_f64(backend, set.values(), set.shape())?;
    let objective = run_objective(&args.run);
    let levels = held_out_loss(
        &model.density,
        &x,
        &evaluation_variances(),
        objective,
        64,
        RngKey::new(EVAL_KEY.0, EVAL_KEY.1),
    )?;
    let mean_loss = levels.iter().map(|l| l.loss.mean).sum::<f64>() / levels.len() as f64;
    Ok(Optimum {
        truth: truth.to_path_buf(),
        test: test_path.to_path_buf(),
        images: count,
        objective: match objective {
            Objective::Dual => "dual",
            Objective::Single => "single",
        }
        .into(),
        noise_key: [EVAL_KEY.0, EVAL_KEY.1],
        bands: band_losses(&levels),
        levels,
        mean_loss,
    })
}

/// Runs `curves`.
pub fn run<B: Backend>(
    args: &CurvesArgs,
    output: &mut Output<'_>,
    backend: &B,
) -> AppResult<Value> {
    if args.truth.is_some() != args.test.is_some() {
        return Err(AppError::msg(
            "--truth MODEL.json and --test FILE go together: the optimum is the model's loss on the run's test images",
        ));
    }
    let out = args.out.clone().unwrap_or_else(|| args.run.clone());
    std::fs::create_dir_all(&out).map_err(|e| AppError::io(&out, "create the folder", e))?;
    let metrics = read_metrics(&args.run.join("metrics.jsonl"))?;
    if metrics.is_empty() {
        return Err(AppError::msg(format!(
            "{}: no steps logged yet",
            args.run.join("metrics.jsonl").display()
        )));
    }
    let loss_path = out.join("training_loss.png");
    plot::line_chart(
        &loss_path,
        &Axes::new("training loss", "step", "loss (dsm + tsm)")
            .with_scales(Scale::Linear, Scale::Log10),
        &loss_series(&metrics),
    )
    .map_err(|e| AppError::msg(e.to_string()))?;
    let mut figures = vec![loss_path];

    let eval_path = args.run.join("eval.jsonl");
    let evaluations: Vec<Value> = std::fs::read_to_string(&eval_path)
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default();
    let mut optimum_value = Value::Null;
    let mut band_table = Vec::new();
    if let (Some(truth), Some(test)) = (&args.truth, &args.test) {
        let Some(images) = evaluations.iter().rev().find_map(|e| e["images"].as_u64()) else {
            return Err(AppError::msg(format!(
                "{}: no held-out evaluation yet, so no image count to compare with (train with --test)",
                eval_path.display()
            )));
        };
        let opt = optimum(args, truth, test, images as usize, backend)?;
        let path = args.run.join("optimum.json");
        let text = serde_json::to_string_pretty(&opt)
            .map_err(|e| AppError::msg(format!("cannot write optimum.json: {e}")))?;
        super::files::write_file(&path, (text + "\n").as_bytes())?;
        let last = evaluations.last().expect("not empty");
        for band in &opt.bands {
            let learned = last["bands"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|b| b["name"].as_str() == Some(band.name.as_str()))
                .and_then(|b| b["loss"].as_f64())
                .unwrap_or(f64::NAN);
            band_table.push(json!({
                "band": band.name,
                "step": last["step"],
                "loss": learned,
                "optimum": band.loss,
                "gap": learned - band.loss,
            }));
        }
        optimum_value = serde_json::to_value(&opt)
            .map_err(|e| AppError::msg(format!("cannot describe the optimum: {e}")))?;
        figures.push(path);
    }
    if !evaluations.is_empty() {
        let mut bands: Vec<Series> = Vec::new();
        for e in &evaluations {
            let step = e["step"].as_f64().unwrap_or(f64::NAN);
            for band in e["bands"].as_array().into_iter().flatten() {
                let name = band["name"].as_str().unwrap_or("").to_string();
                let loss = band["loss"].as_f64().unwrap_or(f64::NAN);
                match bands.iter_mut().find(|s| s.name == name) {
                    Some(s) => s.points.push((step, loss)),
                    None => bands.push(Series::new(name, vec![(step, loss)])),
                }
            }
        }
        let path = out.join("held_out_loss.png");
        let axes = Axes::new("held-out loss per noise band", "step", "loss (dsm + tsm)")
            .with_scales(Scale::Linear, Scale::Log10);
        match optimum_value.get("bands").and_then(Value::as_array) {
            Some(optimum_bands) => {
                let value_of = |name: &str| {
                    optimum_bands
                        .iter()
                        .find(|b| b["name"].as_str() == Some(name))
                        .and_then(|b| b["loss"].as_f64())
                        .unwrap_or(f64::NAN)
                };
                let steps = |s: &Series| {
                    let xs = s.points.iter().map(|p| p.0).filter(|x| x.is_finite());
                    let lo = xs.clone().fold(f64::INFINITY, f64::min);
                    let hi = xs.fold(f64::NEG_INFINITY, f64::max);
                    (lo, hi)
                };
                let references: Vec<Series> = bands
                    .iter()
                    .map(|s| {
                        let (lo, hi) = steps(s);
                        let v = value_of(&s.name);
                        Series::new(format!("optimum, {}", s.name), vec![(lo, v), (hi, v)])
                    })
                    .collect();
                plot::line_chart_with_references(&path, &axes, &bands, &references)
                    .map_err(|e| AppError::msg(e.to_string()))?;
                figures.push(path);
                let gaps: Vec<Series> = bands
                    .iter()
                    .map(|s| {
                        let v = value_of(&s.name);
                        Series::new(
                            s.name.clone(),
                            s.points.iter().map(|&(x, y)| (x, y - v)).collect(),
                        )
                    })
                    .collect();
                let gap_path = out.join("held_out_gap.png");
                plot::line_chart(
                    &gap_path,
                    &Axes::new(
                        "held-out loss above the exact density's, per noise band",
                        "step",
                        "loss - optimum",
                    )
                    .with_scales(Scale::Linear, Scale::Log10),
                    &gaps,
                )
                .map_err(|e| AppError::msg(e.to_string()))?;
                figures.push(gap_path);
            }
            None => {
                plot::line_chart(&path, &axes, &bands).map_err(|e| AppError::msg(e.to_string()))?;
                figures.push(path);
            }
        }
    }
    let last = metrics.last().expect("not empty");
    output.line(format!(
        "step {}: loss {:.4} after {:.0} s; {} evaluations; figures: {}",
        last.step,
        last.loss,
        last.time_s,
        evaluations.len(),
        figures
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    if !band_table.is_empty() {
        output.line(format!(
            "{:<16} {:>8} {:>12} {:>12} {:>12}",
            "band", "step", "loss", "optimum", "gap"
        ))?;
        for row in &band_table {
            output.line(format!(
                "{:<16} {:>8} {:>12.6} {:>12.6} {:>12.6}",
                row["band"].as_str().unwrap_or(""),
                row["step"].as_u64().unwrap_or(0),
                row["loss"].as_f64().unwrap_or(f64::NAN),
                row["optimum"].as_f64().unwrap_or(f64::NAN),
                row["gap"].as_f64().unwrap_or(f64::NAN),
            ))?;
        }
    }
    let mut result = json!({"step": last.step, "loss": last.loss, "evaluations": evaluations.len(), "figures": figures});
    if !optimum_value.is_null() {
        result["optimum"] = optimum_value;
        result["bands"] = Value::Array(band_table);
    }
    Ok(json!({ "command": "curves", "result": result }))
}
