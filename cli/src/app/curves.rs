//! `dualscore curves`: the training curves of a run, drawn from its files while it trains.

use super::error::{AppError, AppResult};
use super::output::Output;
use super::report::loss_series;
use crate::plot::{self, Axes, Scale, Series};
use clap::Args;
use dualscore_core::train::read_metrics;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Draw a run's training loss and held-out loss per noise band (safe while it trains).
#[derive(Clone, Debug, Args)]
pub struct CurvesArgs {
    /// The run's folder (`train --out`).
    #[arg(long)]
    pub run: PathBuf,
    /// Where to write the figures (default: the run's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `curves`.
pub fn run(args: &CurvesArgs, output: &mut Output<'_>) -> AppResult<Value> {
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
        plot::line_chart(
            &path,
            &Axes::new("held-out loss per noise band", "step", "loss (dsm + tsm)")
                .with_scales(Scale::Linear, Scale::Log10),
            &bands,
        )
        .map_err(|e| AppError::msg(e.to_string()))?;
        figures.push(path);
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
    Ok(json!({
        "command": "curves",
        "result": {"step": last.step, "loss": last.loss, "evaluations": evaluations.len(), "figures": figures}
    }))
}
