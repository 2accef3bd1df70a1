//! Checkpoints: a folder with the weights, the optimizer state and a JSON description, written
//! so that a crash never leaves a half-written checkpoint.
//!
//! # Layout
//!
//! ```text
//! <dir>/checkpoint.json                   format, version, step, dtype, model config, training
//!                                         config, random streams, data-set size, elapsed time,
//!                                         and the names of the two files below
//! <dir>/model-<step>.safetensors          the weights, one tensor per parameter and buffer,
//!                                         named by Module::visit and Module::visit_buffers
//!                                         (f32 or f64, the model's type)
//! <dir>/optimizer-<step>.safetensors      Adam's moments: "exp_avg.<name>", "exp_avg_sq.<name>"
//! <dir>/averaged-<step>.safetensors       the averaged weights, when the run averages them
//!                                         (a weights file: the averages and the buffers)
//! ```
//!
//! `<step>` has ten digits. Each safetensors file carries one metadata entry, `"dualscore"`,
//! a JSON string with its kind and step (and, for the optimizer, each parameter's update
//! count).
//!
//! # Atomicity
//!
//! Every file is written to a temporary file in the same folder (`.<name>.tmp`), flushed to
//! disk and renamed into place ([`write_atomic`]). `checkpoint.json` is written last and is the
//! commit point: until it is renamed, it names the previous step's files, which are untouched.
//! Only after the commit are the previous step's files and leftover temporary files removed.
//! When a write fails (a full disk, a folder made read-only), the error names the file, the
//! files of the new step already in place are removed again, and the previous checkpoint is
//! left as it was.
//!
//! # Faults on demand
//!
//! Two environment variables make the checkpoint writer fail or stop where a test wants it to
//! (docs/ROBUSTNESS.md; both are read at each file and touch checkpoint files only):
//!
//! - [`PAUSE_IN_CHECKPOINT_WRITE_ENV`], `DUALSCORE_PAUSE_IN_CHECKPOINT_WRITE=<ms>`: after each
//!   file's temporary file is written and flushed, and before its rename, print a line starting
//!   with [`PAUSE_MARKER`] to stderr and sleep `<ms>` milliseconds, so that a test can kill the
//!   process in the middle of a checkpoint;
//! - [`CHECKPOINT_DISK_BYTES_ENV`], `DUALSCORE_CHECKPOINT_DISK_BYTES=<n>`: checkpoint files
//!   written by the process may hold `n` bytes in all; the write past that fails as on a full
//!   disk (`No space left on device`).
//!
//! # Loading
//!
//! Loading is strict: a parameter missing from the file, a tensor the model does not have, or a
//! shape that differs is an error that names the file, the parameter and both shapes. Values
//! stored as f32 or f64 load into a model of either type (converted).

use super::adam::{Adam, AdamMoments};
use super::average::ParameterAverage;
use super::config::TrainConfig;
use super::error::TrainError;
use crate::backend::Backend;
use crate::nn::Module;
use crate::rng::{CounterRng, RngKey};
use crate::scalar::{DType, Float};
use crate::tensor::Tensor;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::Path;

pub use super::atomic::write_atomic;
use super::atomic::write_checkpoint_file;
pub use super::faults::{CHECKPOINT_DISK_BYTES_ENV, PAUSE_IN_CHECKPOINT_WRITE_ENV, PAUSE_MARKER};

/// The name of the description file of a checkpoint folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.json";
/// The `format` field of `checkpoint.json`.
pub const CHECKPOINT_FORMAT: &str = "dualscore-checkpoint";
/// The `version` field of `checkpoint.json` written by this library. Version 2 added buffers
/// (untrained tensors such as a Gaussian base, [`Module::visit_buffers`]) to the weights file
/// and the energy options that use them to the model configuration.
pub const CHECKPOINT_VERSION: u32 = 2;
/// The oldest version this library reads: version 1 (no buffers) loads unchanged.
pub const OLDEST_CHECKPOINT_VERSION: u32 = 1;
/// The key of the one metadata entry of the safetensors files written here.
pub const METADATA_KEY: &str = "dualscore";

/// A counter-based generator's state, as stored: (seed, stream, next).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RngState {
    /// The seed of the sequence.
    pub seed: u64,
    /// The stream within the seed.
    pub stream: u64,
    /// The index of the next value.
    pub next: u64,
}

impl From<CounterRng> for RngState {
    fn from(r: CounterRng) -> Self {
        RngState {
            seed: r.key.seed,
            stream: r.key.stream,
            next: r.next,
        }
    }
}

impl From<RngState> for CounterRng {
    fn from(s: RngState) -> Self {
        CounterRng {
            key: RngKey::new(s.seed, s.stream),
            next: s.next,
        }
    }
}

/// The random streams of a training run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainRngStates {
    /// The data order; `next` counts the images drawn so far (see [`super::EpochOrder`]).
    pub data: RngState,
    /// The horizontal flips, one uniform number per image when flips are on.
    pub flips: RngState,
    /// The noise variances t, one uniform number per image.
    pub noise_level: RngState,
    /// The noise z, one normal number per pixel.
    pub noise: RngState,
}

/// The contents of `checkpoint.json`. `C` is the model's configuration, which the caller
/// chooses so that it fully describes the architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointInfo<C> {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// [`CHECKPOINT_VERSION`] when written by this library.
    pub version: u32,
    /// The number of training steps completed.
    pub step: u64,
    /// The model's element type when saved, `"f32"` or `"f64"`.
    pub dtype: String,
    /// The model's configuration.
    pub model_config: C,
    /// The training configuration.
    pub train_config: TrainConfig,
    /// The random streams, positioned after `step` steps.
    pub rng: TrainRngStates,
    /// The number of images of the data set the data order was drawn for (none before the
    /// first step).
    pub num_images: Option<u64>,
    /// Wall-clock seconds of training so far.
    pub elapsed_s: f64,
    /// The weights file, in the same folder.
    pub weights_file: String,
    /// The optimizer file, in the same folder.
    pub optimizer_file: String,
    /// The averaged weights ([`ParameterAverage`]), in the same folder, when the run averages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub averaged_weights_file: Option<String>,
    /// The running mean square of the loss per band of t, when the run draws t by importance
    /// sampling ([`super::BandSampler::mean_squares`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_band_mean_squares: Option<Vec<f64>>,
}

/// The one metadata entry of the safetensors files written here.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct FileMeta {
    kind: String,
    step: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    param_steps: BTreeMap<String, u64>,
}

/// The file name of the weights of step `step`.
pub fn weights_file_name(step: u64) -> String {
    format!("model-{step:010}.safetensors")
}

/// The file name of the averaged weights of step `step`.
pub fn averaged_weights_file_name(step: u64) -> String {
    format!("averaged-{step:010}.safetensors")
}

/// The file name of the optimizer state of step `step`.
pub fn optimizer_file_name(step: u64) -> String {
    format!("optimizer-{step:010}.safetensors")
}

// ---- files --------------------------------------------------------------------------------

fn read_file(path: &Path) -> Result<Vec<u8>, TrainError> {
    fs::read(path).map_err(|e| TrainError::io(path, "read", e))
}

// ---- tensors <-> safetensors --------------------------------------------------------------

fn safetensors_dtype(dtype: DType) -> Dtype {
    match dtype {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
    }
}

fn to_le_bytes<T: Float>(values: &[T]) -> Vec<u8> {
    match T::DTYPE {
        DType::F32 => values
            .iter()
            .flat_map(|v| (v.as_f64() as f32).to_le_bytes())
            .collect(),
        DType::F64 => values
            .iter()
            .flat_map(|v| v.as_f64().to_le_bytes())
            .collect(),
    }
}

fn view_values(view: &TensorView<'_>) -> Option<Vec<f64>> {
    let data = view.data();
    match view.dtype() {
        Dtype::F32 => Some(
            data.chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        Dtype::F64 => Some(
            data.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
        _ => None,
    }
}

/// Serializes named tensors (host copies) with one metadata entry.
fn serialize_tensors<B: Backend, T: Float>(
    path: &Path,
    tensors: &[(String, Tensor<B, T>)],
    meta: &FileMeta,
) -> Result<Vec<u8>, TrainError> {
    let mut seen = HashSet::new();
    let mut host: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        if !seen.insert(name.as_str()) {
            return Err(TrainError::checkpoint(
                path,
                format!("cannot save: the model has two parameters named '{name}'"),
            ));
        }
        host.push((name.clone(), t.dims().to_vec(), to_le_bytes(&t.to_vec()?)));
    }
    let dtype = safetensors_dtype(T::DTYPE);
    let views = host
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(dtype, shape.clone(), bytes).map(|v| (name.as_str(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrainError::checkpoint(path, format!("cannot serialize: {e}")))?;
    let meta_json = serde_json::to_string(meta).expect("file metadata serializes");
    let metadata = HashMap::from([(METADATA_KEY.to_string(), meta_json)]);
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| TrainError::checkpoint(path, format!("cannot serialize: {e}")))
}

fn parse_safetensors<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>, TrainError> {
    SafeTensors::deserialize(bytes).map_err(|e| {
        TrainError::checkpoint(
            path,
            format!(
                "not a valid safetensors file ({} bytes; it may be truncated or corrupt): {e}",
                bytes.len()
            ),
        )
    })
}

fn file_meta(path: &Path, bytes: &[u8]) -> Result<Option<FileMeta>, TrainError> {
    let (_, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| TrainError::checkpoint(path, format!("not a valid safetensors file: {e}")))?;
    match metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
    {
        None => Ok(None),
        Some(json) => serde_json::from_str(json).map(Some).map_err(|e| {
            TrainError::checkpoint(path, format!("unreadable '{METADATA_KEY}' metadata: {e}"))
        }),
    }
}

fn check_meta(
    path: &Path,
    meta: Option<&FileMeta>,
    kind: &str,
    step: Option<u64>,
) -> Result<(), TrainError> {
    let Some(meta) = meta else {
        return Ok(());
    };
    if meta.kind != kind {
        return Err(TrainError::checkpoint(
            path,
            format!("holds '{}' data, expected '{kind}'", meta.kind),
        ));
    }
    if let Some(step) = step {
        if meta.step != step {
            return Err(TrainError::checkpoint(
                path,
                format!(
                    "belongs to step {} but {CHECKPOINT_FILE} is at step {step}",
                    meta.step
                ),
            ));
        }
    }
    Ok(())
}

fn shape_str(dims: &[usize]) -> String {
    format!("{dims:?}")
}

/// The message of a file that does not fit the model: one problem per line.
fn mismatch_report(problems: &[String]) -> String {
    let mut message = format!(
        "does not fit the model ({} problem{}):",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        message.push_str("\n  ");
        message.push_str(p);
    }
    message
}

// ---- weights ------------------------------------------------------------------------------

fn weights_bytes<B: Backend, T: Float, M: Module<B, T> + ?Sized>(
    path: &Path,
    model: &M,
    step: u64,
) -> Result<Vec<u8>, TrainError> {
    let mut tensors = model.parameters();
    tensors.extend(model.buffers());
    serialize_tensors(
        path,
        &tensors,
        &FileMeta {
            kind: "weights".into(),
            step,
            ..FileMeta::default()
        },
    )
}

/// Saves the parameters of `model` to the safetensors file `path` (atomically), one tensor per
/// parameter name, in the model's element type; `step` is recorded in the metadata.
pub fn save_weights<B: Backend, T: Float, M: Module<B, T> + ?Sized>(
    path: &Path,
    model: &M,
    step: u64,
) -> Result<(), TrainError> {
    let bytes = weights_bytes(path, model, step)?;
    write_atomic(path, &bytes)
}

/// Loads the safetensors file `path` into the parameters of `model`: every parameter must be
/// in the file with its shape and no other tensor may be (each problem is listed in the error).
/// f32 and f64 files load into either element type. A parameter that required a gradient is
/// replaced by a new leaf that requires one; the others by constants. On error the model is
/// unchanged.
pub fn load_weights<B: Backend, T: Float, M: Module<B, T> + ?Sized>(
    path: &Path,
    model: &mut M,
) -> Result<(), TrainError> {
    load_weights_checked(path, model, None)
}

fn load_weights_checked<B: Backend, T: Float, M: Module<B, T> + ?Sized>(
    path: &Path,
    model: &mut M,
    step: Option<u64>,
) -> Result<(), TrainError> {
    let bytes = read_file(path)?;
    let file = parse_safetensors(path, &bytes)?;
    check_meta(path, file_meta(path, &bytes)?.as_ref(), "weights", step)?;
    let mut params = model.parameters();
    params.extend(model.buffers());
    let mut problems = Vec::new();
    let mut names = HashSet::new();
    let mut values: HashMap<String, Tensor<B, T>> = HashMap::new();
    for (name, p) in &params {
        names.insert(name.as_str());
        match file.tensor(name) {
            Err(_) => problems.push(format!(
                "missing parameter '{name}' (the model's shape {})",
                shape_str(p.dims())
            )),
            Ok(view) if view.shape() != p.dims() => problems.push(format!(
                "parameter '{name}': expected shape {} (the model), found {} (the file)",
                shape_str(p.dims()),
                shape_str(view.shape())
            )),
            Ok(view) => match view_values(&view) {
                None => problems.push(format!(
                    "parameter '{name}': data type {:?} is not F32 or F64",
                    view.dtype()
                )),
                Some(v) => {
                    values.insert(
                        name.clone(),
                        Tensor::from_f64(p.backend(), &v, p.shape().clone())?,
                    );
                }
            },
        }
    }
    let mut extra: Vec<(String, Vec<usize>)> = file
        .iter()
        .filter(|(n, _)| !names.contains(n))
        .map(|(n, v)| (n.to_string(), v.shape().to_vec()))
        .collect();
    extra.sort();
    for (n, shape) in extra {
        problems.push(format!(
            "unexpected tensor '{n}' (shape {}): the model has no such parameter",
            shape_str(&shape)
        ));
    }
    if !problems.is_empty() {
        return Err(TrainError::checkpoint(path, mismatch_report(&problems)));
    }
    model.visit_mut(&mut |name, p| {
        if let Some(v) = values.remove(name) {
            *p = if p.requires_grad() {
                v.requiring_grad()
            } else {
                v
            };
        }
    });
    model.visit_buffers_mut(&mut |name, b| {
        if let Some(v) = values.remove(name) {
            *b = v;
        }
    });
    Ok(())
}

// ---- optimizer ----------------------------------------------------------------------------

fn optimizer_bytes<B: Backend, T: Float>(
    path: &Path,
    adam: &Adam<B, T>,
    step: u64,
) -> Result<Vec<u8>, TrainError> {
    let mut tensors = Vec::with_capacity(2 * adam.state().len());
    let mut param_steps = BTreeMap::new();
    for (name, m) in adam.state() {
        tensors.push((format!("exp_avg.{name}"), m.exp_avg.clone()));
        tensors.push((format!("exp_avg_sq.{name}"), m.exp_avg_sq.clone()));
        param_steps.insert(name.clone(), m.step);
    }
    serialize_tensors(
        path,
        &tensors,
        &FileMeta {
            kind: "adam".into(),
            step,
            param_steps,
        },
    )
}

/// Saves Adam's state to the safetensors file `path` (atomically).
pub fn save_optimizer<B: Backend, T: Float>(
    path: &Path,
    adam: &Adam<B, T>,
    step: u64,
) -> Result<(), TrainError> {
    write_atomic(path, &optimizer_bytes(path, adam, step)?)
}

/// Loads Adam's state from `path` for the parameters of `model` (their names, shapes and
/// backends): each parameter has both moments of its shape and an update count, or no state
/// at all. On error the optimizer is unchanged.
pub fn load_optimizer<B: Backend, T: Float, M: Module<B, T> + ?Sized>(
    path: &Path,
    adam: &mut Adam<B, T>,
    model: &M,
) -> Result<(), TrainError> {
    load_optimizer_checked(path, adam, model, None)
}

fn load_optimizer_checked<B: Backend, T: Float, M: Module<B, T> + ?Sized>(
    path: &Path,
    adam: &mut Adam<B, T>,
    model: &M,
    step: Option<u64>,
) -> Result<(), TrainError> {
    let bytes = read_file(path)?;
    let file = parse_safetensors(path, &bytes)?;
    let meta = file_meta(path, &bytes)?.ok_or_else(|| {
        TrainError::checkpoint(
            path,
            format!("no '{METADATA_KEY}' metadata: not an optimizer file written by this library"),
        )
    })?;
    check_meta(path, Some(&meta), "adam", step)?;
    let mut problems = Vec::new();
    let mut used = HashSet::new();
    let mut state = BTreeMap::new();
    for (name, p) in model.parameters() {
        let keys = [format!("exp_avg.{name}"), format!("exp_avg_sq.{name}")];
        let views: Vec<_> = keys.iter().map(|k| file.tensor(k).ok()).collect();
        let param_step = meta.param_steps.get(&name).copied();
        if views.iter().all(Option::is_none) && param_step.is_none() {
            continue;
        }
        let mut moments = Vec::new();
        for (key, view) in keys.iter().zip(&views) {
            used.insert(key.clone());
            match view {
                None => problems.push(format!("missing tensor '{key}' for parameter '{name}'")),
                Some(v) if v.shape() != p.dims() => problems.push(format!(
                    "tensor '{key}': expected shape {} (parameter '{name}'), found {} (the file)",
                    shape_str(p.dims()),
                    shape_str(v.shape())
                )),
                Some(v) => match view_values(v) {
                    None => problems.push(format!(
                        "tensor '{key}': data type {:?} is not F32 or F64",
                        v.dtype()
                    )),
                    Some(vals) => {
                        moments.push(Tensor::from_f64(p.backend(), &vals, p.shape().clone())?)
                    }
                },
            }
        }
        let Some(param_step) = param_step else {
            problems.push(format!("no update count for parameter '{name}'"));
            continue;
        };
        if let [m, v] = &moments[..] {
            state.insert(
                name.clone(),
                AdamMoments {
                    step: param_step,
                    exp_avg: m.clone(),
                    exp_avg_sq: v.clone(),
                },
            );
        }
    }
    let mut extra: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| !used.contains(*n))
        .map(str::to_string)
        .collect();
    extra.sort();
    for n in extra {
        problems.push(format!(
            "unexpected tensor '{n}': the model has no such parameter"
        ));
    }
    let names: HashSet<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
    for n in meta.param_steps.keys().filter(|n| !names.contains(*n)) {
        problems.push(format!(
            "an update count for '{n}', which is not a parameter of the model"
        ));
    }
    if !problems.is_empty() {
        return Err(TrainError::checkpoint(path, mismatch_report(&problems)));
    }
    adam.set_state(state);
    Ok(())
}

// ---- the checkpoint folder ----------------------------------------------------------------

/// Reads `dir/checkpoint.json`, checking its format and version. `C` is the model's
/// configuration type (use `serde_json::Value` to read any).
pub fn read_checkpoint<C: DeserializeOwned>(dir: &Path) -> Result<CheckpointInfo<C>, TrainError> {
    let path = dir.join(CHECKPOINT_FILE);
    let bytes = read_file(&path)?;
    let info: CheckpointInfo<C> = serde_json::from_slice(&bytes).map_err(|e| {
        TrainError::checkpoint(
            &path,
            format!(
                "cannot parse ({} bytes; it may be truncated or corrupt): {e}",
                bytes.len()
            ),
        )
    })?;
    if info.format != CHECKPOINT_FORMAT {
        return Err(TrainError::checkpoint(
            &path,
            format!("format '{}', expected '{CHECKPOINT_FORMAT}'", info.format),
        ));
    }
    if !(OLDEST_CHECKPOINT_VERSION..=CHECKPOINT_VERSION).contains(&info.version) {
        return Err(TrainError::checkpoint(
            &path,
            format!(
                "version {}, this library reads versions {OLDEST_CHECKPOINT_VERSION} to {CHECKPOINT_VERSION}",
                info.version
            ),
        ));
    }
    let averaged = info.averaged_weights_file.iter();
    let named = [
        ("weights_file", &info.weights_file),
        ("optimizer_file", &info.optimizer_file),
    ];
    for (what, name) in named
        .into_iter()
        .chain(averaged.map(|n| ("averaged_weights_file", n)))
    {
        let plain = Path::new(name)
            .file_name()
            .is_some_and(|f| f == std::ffi::OsStr::new(name));
        if !plain || name.starts_with('.') {
            return Err(TrainError::checkpoint(
                &path,
                format!("{what} '{name}' is not a plain file name in the checkpoint folder"),
            ));
        }
    }
    Ok(info)
}

/// Loads the weights of the checkpoint in `dir` into `model` (see [`load_weights`]); the model
/// configuration in `checkpoint.json` is not read. Returns the checkpoint's step.
pub fn load_checkpoint_weights<B: Backend, T: Float, M: Module<B, T> + ?Sized>(
    dir: &Path,
    model: &mut M,
) -> Result<u64, TrainError> {
    let info: CheckpointInfo<serde::de::IgnoredAny> = read_checkpoint(dir)?;
    load_weights_checked(&dir.join(&info.weights_file), model, Some(info.step))?;
    Ok(info.step)
}

/// Loads the weights of the checkpoint in `dir` into `model`, then, when the run averaged its
/// weights, the averages in their place: the weights to measure. Returns the checkpoint's step
/// and whether the weights are averages.
pub fn load_checkpoint_averaged_weights<B: Backend, T: Float, M: Module<B, T> + ?Sized>(
    dir: &Path,
    model: &mut M,
) -> Result<(u64, bool), TrainError> {
    let info: CheckpointInfo<serde::de::IgnoredAny> = read_checkpoint(dir)?;
    load_weights_checked(&dir.join(&info.weights_file), model, Some(info.step))?;
    if let Some(name) = &info.averaged_weights_file {
        load_weights_checked(&dir.join(name), model, Some(info.step))?;
    }
    Ok((info.step, info.averaged_weights_file.is_some()))
}

/// Loads the averaged weights of the checkpoint `info` read from `dir` into `average`.
pub(crate) fn load_checkpoint_average<B: Backend, T: Float, C>(
    dir: &Path,
    info: &CheckpointInfo<C>,
    average: &mut ParameterAverage<B, T>,
) -> Result<(), TrainError> {
    let Some(name) = &info.averaged_weights_file else {
        return Err(TrainError::checkpoint(
            dir.join(CHECKPOINT_FILE),
            "the run averages its weights, but the checkpoint has no averaged_weights_file",
        ));
    };
    load_weights_checked(&dir.join(name), average, Some(info.step))
}

/// Loads the weights and the optimizer state of the checkpoint `info` read from `dir`.
pub(crate) fn load_checkpoint_state<B: Backend, T: Float, M: Module<B, T> + ?Sized, C>(
    dir: &Path,
    info: &CheckpointInfo<C>,
    model: &mut M,
    adam: &mut Adam<B, T>,
) -> Result<(), TrainError> {
    // Check both files before changing anything.
    let mut staged = Adam::new(*adam.config())?;
    load_optimizer_checked(
        &dir.join(&info.optimizer_file),
        &mut staged,
        model,
        Some(info.step),
    )?;
    load_weights_checked(&dir.join(&info.weights_file), model, Some(info.step))?;
    adam.set_state(staged.state().clone());
    Ok(())
}

/// Writes a checkpoint of step `info.step` into `dir` (created if needed): the averaged
/// weights (when the run averages), the weights and the optimizer files, then
/// `checkpoint.json` (the commit point), then removes the files of other steps and leftover
/// temporary files. The names of the files in `info` are set here.
///
/// Each file goes through its temporary file `.<name>.tmp`, flushed to disk, then a rename. On
/// an error (a full disk, a read-only folder) the error names the file, the files of this step
/// already renamed into place are removed again unless `checkpoint.json` names them, and the
/// previous checkpoint is untouched.
///
/// The environment variable `DUALSCORE_PAUSE_IN_CHECKPOINT_WRITE=<ms>`
/// ([`PAUSE_IN_CHECKPOINT_WRITE_ENV`]) pauses each file between its written temporary file and
/// its rename, printing a line that starts with [`PAUSE_MARKER`] to stderr, so that a test can
/// kill the process there; `DUALSCORE_CHECKPOINT_DISK_BYTES=<n>` ([`CHECKPOINT_DISK_BYTES_ENV`])
/// makes the writes fail as on a disk that holds `n` bytes of checkpoint files.
pub(crate) fn write_checkpoint<B: Backend, T: Float, M: Module<B, T> + ?Sized, C: Serialize>(
    dir: &Path,
    info: &mut CheckpointInfo<C>,
    model: &M,
    adam: &Adam<B, T>,
    average: Option<&ParameterAverage<B, T>>,
) -> Result<(), TrainError> {
    fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, "create the folder", e))?;
    info.weights_file = weights_file_name(info.step);
    info.optimizer_file = optimizer_file_name(info.step);
    info.averaged_weights_file = average.map(|_| averaged_weights_file_name(info.step));
    let json_path = dir.join(CHECKPOINT_FILE);
    let mut files = Vec::with_capacity(4);
    if let (Some(average), Some(name)) = (average, &info.averaged_weights_file) {
        let path = dir.join(name);
        let bytes = weights_bytes(&path, average, info.step)?;
        files.push((path, bytes));
    }
    let weights_path = dir.join(&info.weights_file);
    let weights = weights_bytes(&weights_path, model, info.step)?;
    files.push((weights_path, weights));
    let optimizer_path = dir.join(&info.optimizer_file);
    let optimizer = optimizer_bytes(&optimizer_path, adam, info.step)?;
    files.push((optimizer_path, optimizer));
    let json = serde_json::to_vec_pretty(&*info).map_err(|e| {
        TrainError::checkpoint(
            &json_path,
            format!("cannot serialize the configuration: {e}"),
        )
    })?;
    files.push((json_path, json));
    let mut renamed = Vec::with_capacity(files.len());
    for (path, bytes) in &files {
        if let Err(e) = write_checkpoint_file(path, bytes) {
            remove_uncommitted_files(dir, &renamed);
            return Err(e);
        }
        renamed.push(path.as_path());
    }
    let mut keep = vec![info.weights_file.as_str(), info.optimizer_file.as_str()];
    keep.extend(info.averaged_weights_file.as_deref());
    remove_stale_files(dir, &keep);
    Ok(())
}

/// After a failed checkpoint write: removes the files of the new step that were renamed into
/// place, except those that `checkpoint.json` names (a checkpoint of the same step written
/// again). Leaves everything when `checkpoint.json` exists but cannot be read (best effort).
fn remove_uncommitted_files(dir: &Path, renamed: &[&Path]) {
    let committed: Vec<String> = match read_checkpoint::<serde::de::IgnoredAny>(dir) {
        Ok(info) => [Some(info.weights_file), Some(info.optimizer_file)]
            .into_iter()
            .chain([info.averaged_weights_file])
            .flatten()
            .collect(),
        Err(_) if !dir.join(CHECKPOINT_FILE).exists() => Vec::new(),
        Err(_) => return,
    };
    for path in renamed {
        let named = path
            .file_name()
            .is_some_and(|n| committed.iter().any(|c| n == c.as_str()));
        if !named {
            let _ = fs::remove_file(path);
        }
    }
}

/// Whether `name` is a step file of a checkpoint folder (`model-`, `optimizer-` or
/// `averaged-<digits>.safetensors`).
fn is_step_file(name: &str) -> bool {
    ["model-", "optimizer-", "averaged-"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(".safetensors"))
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Removes step files other than `keep` and temporary files of this module (best effort).
fn remove_stale_files(dir: &Path, keep: &[&str]) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_temp = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".tmp"))
            .is_some_and(|n| n == CHECKPOINT_FILE || is_step_file(n));
        let is_old = is_step_file(&name) && !keep.contains(&name.as_str());
        if (is_temp || is_old) && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}
