//! `dualscore logp`: log p of every image, to `.npy` or CSV.

use super::args::DataArgs;
use super::error::{AppError, AppResult};
use super::files::{write_csv, write_file};
use super::measure::{ModelArgs, neg_log_probs, open_with_constant, tensor, with_energy};
use super::output::Output;
use crate::data::npy_f64_bytes;
use clap::Args;
use dualscore_core::Backend;
use dualscore_core::density::{LogProbSummary, log_p_db_per_dim};
use serde_json::{Value, json};
use std::path::PathBuf;

/// log p of every image in nats and dB/dim.
#[derive(Clone, Debug, Args)]
pub struct LogpArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// The output: a .csv table (index, log p in nats, log p in dB/dim) or a .npy array
    /// [N, 2] of float64 (log p in nats, log p in dB/dim).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `logp`.
pub fn run<B: Backend>(args: &LogpArgs, output: &mut Output<'_>, backend: &B) -> AppResult<Value> {
    let csv = match args.out.extension().and_then(|e| e.to_str()) {
        Some("csv") => true,
        Some("npy") => false,
        _ => {
            return Err(AppError::msg(format!(
                "{}: the output must end in .csv or .npy",
                args.out.display()
            )));
        }
    };
    let (sets, model, c) = open_with_constant(&args.model, &args.data, backend, output)?;
    let images = sets.evaluation()?;
    let d: usize = images.image_shape().iter().product();
    let nlp = with_energy!(&model, |energy, F| {
        neg_log_probs(energy, &tensor::<F, _>(images, backend)?, c.value)?
    });
    let rows: Vec<Vec<f64>> = nlp
        .iter()
        .map(|&v| vec![-v, log_p_db_per_dim(v, d)])
        .collect();
    if csv {
        let indexed: Vec<Vec<f64>> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| vec![i as f64, r[0], r[1]])
            .collect();
        write_csv(
            &args.out,
            &["index", "log_p_nats", "log_p_db_per_dim"],
            &indexed,
        )?;
    } else {
        write_file(&args.out, &npy_f64_bytes(&rows.concat(), &[rows.len(), 2]))?;
    }
    let summary = LogProbSummary::from_neg_log_prob_nats(&nlp, d);
    output.line(format!(
        "log p of {} images written to {} (mean {:.3} dB/dim; constant {:.3} nats, {})",
        nlp.len(),
        args.out.display(),
        summary.mean_log_p_db_per_dim,
        c.value,
        c.source
    ))?;
    Ok(json!({
        "command": "logp",
        "result": {"out": args.out, "images": nlp.len(), "constant": c, "summary": summary}
    }))
}
