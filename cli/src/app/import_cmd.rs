//! `dualscore import`: an authors' checkpoint, converted by `tools/reference/import_authors.py`,
//! into a checkpoint folder (docs/IMPORT.md).

use super::architecture::parse_activation;
use super::error::{AppError, AppResult};
use super::output::Output;
use crate::import::{ImportOptions, import_weights};
use clap::Args;
use dualscore_core::nn::Activation;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Convert an authors' model (safetensors from tools/reference/import_authors.py).
#[derive(Clone, Debug, Args)]
pub struct ImportArgs {
    /// The safetensors file written by tools/reference/import_authors.py.
    pub input: PathBuf,
    /// The checkpoint folder to write.
    #[arg(long)]
    pub out: PathBuf,
    /// The nominal image size, when the file does not say.
    #[arg(long)]
    pub image_size: Option<usize>,
    /// The nonlinearity, when the file does not say.
    #[arg(long, value_parser = parse_activation)]
    pub activation: Option<Activation>,
    /// The normalization's eps, when the file does not say.
    #[arg(long)]
    pub norm_eps: Option<f64>,
    /// The time embedding's t_min, when the file does not say.
    #[arg(long)]
    pub t_min: Option<f64>,
    /// The time embedding's t_max, when the file does not say.
    #[arg(long)]
    pub t_max: Option<f64>,
    /// Replace a checkpoint already in the output folder.
    #[arg(long)]
    pub overwrite: bool,
}

/// Runs `import`.
pub fn run(args: &ImportArgs, output: &mut Output<'_>) -> AppResult<Value> {
    let options = ImportOptions {
        image_size: args.image_size,
        activation: args.activation,
        norm_eps: args.norm_eps,
        embedding_t_min: args.t_min,
        embedding_t_max: args.t_max,
        overwrite: args.overwrite,
    };
    let summary = import_weights(&args.input, &args.out, &options)
        .map_err(|e| AppError::msg(e.to_string()))?;
    let unet = &summary.config.unet;
    output.line(format!(
        "imported {} tensors ({} parameters) from {} into {}: {} channel(s), {} scales, width {}, {} layers per block, {:?}",
        summary.num_tensors,
        summary.num_parameters,
        summary.input.display(),
        summary.out_dir.display(),
        unet.image_channels,
        unet.scales,
        unet.base_width,
        unet.layers_per_block,
        unet.activation
    ))?;
    for note in &summary.notes {
        output.line(format!("note: {note}"))?;
    }
    Ok(json!({ "command": "import", "result": summary }))
}
