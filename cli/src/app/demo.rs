//! `dualscore demo`: the whole method on built-in photographs, with no files and no options.
//!
//! Seven photographs in the public domain or under CC0 (scikit-image's sample images; see
//! `cli/assets/photos/LICENSES.md`) are built into the program. The demo cuts them into gray
//! 16x16 patches, holds out two photographs for testing, trains the default `fast` model (the
//! small UNet as the residual of a Gaussian fit: docs/CONVERGENCE.md) for a few minutes, prints
//! the test NLL beside the full-covariance Gaussian baseline and writes a report folder.

use super::architecture::ArchitectureArgs;
use super::error::{AppError, AppResult};
use super::measure::{ConstantChoice, ModelArgs};
use super::nll;
use super::output::Output;
use super::report::{ReportSizes, write_report};
use super::train::{TrainArgs, train_model};
use crate::data::{Channels, ImageSet, decode_photo};
use crate::model::{Model, NetworkModel, Preset};
use clap::Args;
use dualscore_core::Backend;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The built-in photographs: name and PNG bytes.
pub const PHOTOS: [(&str, &[u8]); 7] = [
    (
        "astronaut.png",
        include_bytes!("../../assets/photos/astronaut.png"),
    ),
    ("brick.png", include_bytes!("../../assets/photos/brick.png")),
    (
        "camera.png",
        include_bytes!("../../assets/photos/camera.png"),
    ),
    (
        "chelsea.png",
        include_bytes!("../../assets/photos/chelsea.png"),
    ),
    (
        "coffee.png",
        include_bytes!("../../assets/photos/coffee.png"),
    ),
    ("grass.png", include_bytes!("../../assets/photos/grass.png")),
    (
        "gravel.png",
        include_bytes!("../../assets/photos/gravel.png"),
    ),
];

/// The photographs held out for testing: one scene and one texture.
pub const TEST_PHOTOS: [&str; 2] = ["chelsea.png", "brick.png"];

/// Train and measure a density of 16x16 patches of built-in photographs.
#[derive(Clone, Debug, Args)]
pub struct DemoArgs {
    /// Finish in under a minute: a short training and a smaller report.
    #[arg(long)]
    pub quick: bool,
    /// Minutes of training (default 3, or 0.3 with --quick).
    #[arg(long)]
    pub minutes: Option<f64>,
    /// The output folder: the report, and the trained model in its `model` subfolder.
    #[arg(long, default_value = "dualscore-demo")]
    pub out: PathBuf,
}

/// The built-in photographs as gray 16x16 patches at `stride`: (training, test).
pub fn demo_patches(stride: usize) -> AppResult<(ImageSet, ImageSet)> {
    let mut train = Vec::new();
    let mut test = Vec::new();
    let (mut n_train, mut n_test) = (0, 0);
    for (name, bytes) in PHOTOS {
        let photo = decode_photo(bytes, Path::new(name), Channels::Gray)?;
        let patches = photo.patches(16, stride)?;
        if TEST_PHOTOS.contains(&name) {
            n_test += patches.len();
            test.extend_from_slice(patches.values());
        } else {
            n_train += patches.len();
            train.extend_from_slice(patches.values());
        }
    }
    Ok((
        ImageSet::new(
            train,
            [n_train, 1, 16, 16],
            "built-in photographs (training)",
        )?,
        ImageSet::new(
            test,
            [n_test, 1, 16, 16],
            "built-in photographs (test: chelsea, brick)",
        )?,
    ))
}

/// The files that make a folder a training run's: demo replaces only such a folder (or an
/// empty one), never one that holds anything else.
const RUN_FILES: [&str; 2] = [dualscore_core::train::CHECKPOINT_FILE, "metrics.jsonl"];

/// Refuses to let demo delete `dir` unless it is an empty folder or a run folder.
fn check_replaceable(dir: &std::path::Path) -> AppResult<()> {
    let refuse = |why: &str| {
        Err(AppError::msg(format!(
            "{}: {why}; demo writes its model there and would delete it: move it or choose \
             another --out",
            dir.display()
        )))
    };
    if !dir.is_dir() {
        return refuse("exists and is not a folder");
    }
    let mut entries = std::fs::read_dir(dir).map_err(|e| AppError::io(dir, "read", e))?;
    let empty = entries.next().is_none();
    if !empty && !RUN_FILES.iter().any(|f| dir.join(f).is_file()) {
        return refuse(&format!(
            "is not a model folder written by dualscore (it has neither {} nor {})",
            RUN_FILES[0], RUN_FILES[1]
        ));
    }
    Ok(())
}

/// Runs `demo`.
pub fn run<B: Backend>(args: &DemoArgs, output: &mut Output<'_>, backend: &B) -> AppResult<Value> {
    let minutes = args.minutes.unwrap_or(if args.quick { 0.3 } else { 3.0 });
    let (train, test) = demo_patches(if args.quick { 16 } else { 8 })?;
    output.line(format!(
        "demo: {} training and {} test patches of 16x16 from {} built-in photographs",
        train.len(),
        test.len(),
        PHOTOS.len()
    ))?;
    let model_dir = args.out.join("model");
    if model_dir.exists() {
        check_replaceable(&model_dir)?;
        std::fs::remove_dir_all(&model_dir)
            .map_err(|e| AppError::io(&model_dir, "replace the folder", e))?;
    }
    let train_args = TrainArgs {
        data: Default::default(),
        out: model_dir.clone(),
        resume: false,
        arch: ArchitectureArgs::preset(Preset::Fast),
        single: false,
        steps: None,
        minutes: Some(minutes),
        batch: None,
        lr: None,
        lr_halve_every: None,
        average_decay: None,
        min_lr: None,
        lr_decay: None,
        lr_warmup: None,
        t_sampling: None,
        seed: 0,
        no_flips: false,
        checkpoint_every: 500,
        sync_every: 1,
        eval_every: 0,
        eval_images: 256,
    };
    let trained = train_model(&train_args, &train, Some(&test), output, backend)?;
    let model = Model::Network(Box::new(NetworkModel::load(&model_dir, backend)?));
    let model_args = ModelArgs {
        model: model_dir,
        t_max: 1e3,
        constant: ConstantChoice::Corrected,
        recompute_constant: false,
        constant_images: 4096,
    };
    let sizes = if args.quick {
        ReportSizes {
            images: 256,
            denoise_images: 64,
            dim_images: 8,
            dim_points: 10,
            samples: 16,
            sample_steps: 50,
            ridge: 1e-6,
        }
    } else {
        ReportSizes {
            images: 1024,
            denoise_images: 256,
            dim_images: 32,
            dim_points: 19,
            samples: 36,
            sample_steps: 200,
            ridge: 1e-6,
        }
    };
    let report = write_report(
        &model,
        &model_args,
        Some(&train),
        &test,
        &sizes,
        &args.out,
        backend,
        output,
    )?;
    nll::print(&report.nll, output)?;
    Ok(json!({ "command": "demo", "result": {"train": trained, "report": report} }))
}
