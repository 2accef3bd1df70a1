//! Importing the authors' released PyTorch models (FlorentinGuth/DualScoreMatching) as
//! dualscore checkpoint folders.
//!
//! Two steps, because reading PyTorch's pickle format needs PyTorch:
//!
//! ```text
//! python3 tools/reference/import_authors.py model.pth.tar model.safetensors
//! dualscore import model.safetensors --out folder
//! ```
//!
//! The script extracts the network's `state_dict` from the authors' checkpoint (keys
//! `network.` + their UNet's parameter names, which are dualscore's names too), writes it as
//! float32 safetensors, and records in the metadata what the run's arguments say about the
//! architecture (`dualscore.unet_config`) and which of its options dualscore does not implement
//! (`dualscore.unsupported`). [`import_weights`] then infers the [`UNetConfig`] from the tensor
//! shapes, completes it from the metadata, checks every tensor against the network it builds
//! and writes a checkpoint folder at step 0 (optimizer moments empty): every command opens it,
//! and `train --resume` fine-tunes it. See docs/IMPORT.md.

use crate::model::{ModelConfig, NetworkModel, UNetEnergy};
use dualscore_core::Tensor;
use dualscore_core::energy::InnerProductConfig;
use dualscore_core::nn::{Activation, Module, UNetConfig};
use dualscore_core::train::{CHECKPOINT_FILE, TrainConfig, Trainer};
use dualscore_cpu::Cpu;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// The metadata key of the architecture the run's arguments give (a JSON object with
/// [`UNetConfig`]'s field names, any subset).
pub const UNET_CONFIG_KEY: &str = "dualscore.unet_config";
/// The metadata key of the run's options that dualscore does not implement (a JSON list of
/// strings); a file that lists any is refused.
pub const UNSUPPORTED_KEY: &str = "dualscore.unsupported";
/// The metadata key of the provenance the script records (a JSON object, copied into the
/// summary).
pub const SOURCE_KEY: &str = "dualscore.source";
/// The metadata key of the script's notes (a JSON list of strings, copied into the summary).
pub const NOTES_KEY: &str = "dualscore.notes";
/// The file written next to the checkpoint: the [`ImportSummary`] as JSON.
pub const SUMMARY_FILE: &str = "import.json";

/// The prefix of every parameter name: the energy's network (and the authors'
/// `Reparameterization` wrapper).
const PREFIX: &str = "network.";
/// The time embedding's first linear layer, `[W, 2F]`.
const EMBEDDING_KEY: &str = "network.noise_var_embedding.time_embed.0.weight";

/// Values given on the command line; each replaces what the file says (with a note when they
/// differ). The architecture the tensors fix (scales, widths, depth, channels, embedding sizes)
/// cannot be overridden.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportOptions {
    /// The nominal image size to record.
    pub image_size: Option<usize>,
    /// The nonlinearity.
    pub activation: Option<Activation>,
    /// The normalization's eps.
    pub norm_eps: Option<f64>,
    /// The time embedding's t_min.
    pub embedding_t_min: Option<f64>,
    /// The time embedding's t_max.
    pub embedding_t_max: Option<f64>,
    /// Replace a checkpoint already in the output folder (refused otherwise).
    pub overwrite: bool,
}

/// What [`import_weights`] did, for printing as JSON (also written to `import.json` in the
/// output folder).
#[derive(Clone, Debug, Serialize)]
pub struct ImportSummary {
    /// The safetensors file read.
    pub input: PathBuf,
    /// The checkpoint folder written.
    pub out_dir: PathBuf,
    /// The architecture of the checkpoint.
    pub config: ModelConfig,
    /// Scalar parameters imported.
    pub num_parameters: usize,
    /// Tensors imported.
    pub num_tensors: usize,
    /// Where each field of the UNet configuration came from: `"tensor shapes"`, `"metadata"`,
    /// `"command line"` or `"default (UNetConfig::paper)"`.
    pub config_sources: BTreeMap<String, String>,
    /// The file's provenance (`dualscore.source`), when recorded.
    pub source: Option<serde_json::Value>,
    /// Everything worth knowing: defaults taken, overrides, the conversion script's notes.
    pub notes: Vec<String>,
}

/// One tensor of the file that does not fit the network.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorProblem {
    /// The network has the parameter, the file not.
    Missing {
        /// The parameter name.
        name: String,
        /// Its shape in the network.
        expected: Vec<usize>,
    },
    /// The shapes differ.
    WrongShape {
        /// The parameter name.
        name: String,
        /// The shape in the network.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// Not float32 (the script writes float32; the weights are float32 in the authors' files).
    WrongDtype {
        /// The parameter name.
        name: String,
        /// The data type in the file, as safetensors names it (`F64`, `BF16`, ...).
        found: String,
    },
    /// NaN or infinite values.
    NonFinite {
        /// The parameter name.
        name: String,
        /// How many values are not finite.
        count: usize,
    },
    /// The file has a tensor the network does not.
    Unexpected {
        /// The tensor name in the file.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
}

impl fmt::Display for TensorProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorProblem::Missing { name, expected } => {
                write!(
                    f,
                    "missing tensor '{name}' (the network's shape {expected:?})"
                )
            }
            TensorProblem::WrongShape {
                name,
                expected,
                found,
            } => write!(
                f,
                "'{name}' has shape {found:?}, the network's parameter {expected:?}"
            ),
            TensorProblem::WrongDtype { name, found } => write!(
                f,
                "'{name}' is {found}, expected F32 (what import_authors.py writes)"
            ),
            TensorProblem::NonFinite { name, count } => {
                write!(f, "'{name}' has {count} NaN or infinite value(s)")
            }
            TensorProblem::Unexpected { name, shape } => write!(
                f,
                "unexpected tensor '{name}' (shape {shape:?}): the network has no such parameter"
            ),
        }
    }
}

/// Why an import failed; every variant names the file (or folder) concerned.
#[derive(Debug)]
pub enum ImportError {
    /// The input file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The input is not a safetensors file (garbage, truncated, a `.pth.tar` given directly).
    NotSafetensors {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A `dualscore.*` metadata entry that cannot be read.
    Metadata {
        /// The file.
        path: PathBuf,
        /// The metadata key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The run used options dualscore's UNet does not implement.
    Unsupported {
        /// The file.
        path: PathBuf,
        /// One line per option.
        reasons: Vec<String>,
    },
    /// The architecture cannot be inferred, the metadata contradicts the shapes, or the
    /// resulting configuration is invalid.
    Architecture {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Tensors that do not fit the inferred network (all of them listed).
    Tensors {
        /// The file.
        path: PathBuf,
        /// The inferred architecture.
        config: Box<UNetConfig>,
        /// Every problem found.
        problems: Vec<TensorProblem>,
    },
    /// The output folder already holds a checkpoint (see [`ImportOptions::overwrite`]).
    OutputExists {
        /// The folder.
        dir: PathBuf,
    },
    /// Writing or re-reading the checkpoint folder failed.
    Write {
        /// The folder.
        dir: PathBuf,
        /// What failed.
        message: String,
    },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Read { path, source } => {
                write!(f, "{}: cannot read: {source}", path.display())
            }
            ImportError::NotSafetensors { path, message } => write!(
                f,
                "{}: not a safetensors file ({message}); convert the authors' model.pth.tar first \
                 with tools/reference/import_authors.py",
                path.display()
            ),
            ImportError::Metadata { path, key, message } => {
                write!(f, "{}: metadata '{key}': {message}", path.display())
            }
            ImportError::Unsupported { path, reasons } => {
                write!(
                    f,
                    "{}: the model uses what dualscore does not implement:",
                    path.display()
                )?;
                for r in reasons {
                    write!(f, "\n  - {r}")?;
                }
                Ok(())
            }
            ImportError::Architecture { path, message } => {
                write!(f, "{}: {message}", path.display())
            }
            ImportError::Tensors {
                path,
                config,
                problems,
            } => {
                write!(
                    f,
                    "{}: {} tensor problem{} for a UNet of {} scales, base width {}, {} layers per \
                     block, {} channel(s):",
                    path.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" },
                    config.scales,
                    config.base_width,
                    config.layers_per_block,
                    config.image_channels
                )?;
                for p in problems {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
            ImportError::OutputExists { dir } => write!(
                f,
                "{}: already holds a checkpoint ({CHECKPOINT_FILE}); choose another folder or \
                 overwrite it",
                dir.display()
            ),
            ImportError::Write { dir, message } => write!(f, "{}: {message}", dir.display()),
        }
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImportError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The architecture as the conversion script records it: any subset of [`UNetConfig`]'s
/// fields.
#[derive(Clone, Debug, Default, Deserialize)]
struct PartialConfig {
    image_channels: Option<usize>,
    image_size: Option<usize>,
    scales: Option<usize>,
    base_width: Option<usize>,
    layers_per_block: Option<usize>,
    activation: Option<String>,
    norm_eps: Option<f64>,
    embedding_frequencies: Option<usize>,
    embedding_width: Option<usize>,
    embedding_t_min: Option<f64>,
    embedding_t_max: Option<f64>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// A tensor of the file: its data type, shape and raw bytes.
struct FileTensor<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    data: &'a [u8],
}

/// Imports a safetensors file written by `tools/reference/import_authors.py` from one of the
/// authors' checkpoints, and writes a dualscore checkpoint folder `out_dir` (step 0, the
/// paper's faithful energy `U = 1/2 <y, s(y, t)>`, training configuration
/// [`TrainConfig::default`], optimizer moments empty).
///
/// Intended command line (the `import` subcommand of the `dualscore` program):
///
/// ```text
/// python3 tools/reference/import_authors.py model.pth.tar model.safetensors
/// dualscore import model.safetensors --out folder
/// ```
///
/// The architecture: scales, base width, layers per block and image channels come from the
/// convolution shapes, the embedding's frequencies and width from its first linear layer; the
/// activation, norm eps, embedding range and nominal image size from the `dualscore.unet_config`
/// metadata (checked against the shapes where both say something), else from `overrides`, else
/// from [`UNetConfig::paper`] with a note. Tensor names are `network.` + the authors' UNet keys
/// (bare UNet keys are accepted too). Every parameter of the network built from that
/// configuration must be in the file, float32, finite and of its shape, and the file may hold
/// nothing else: all problems are listed in one [`ImportError::Tensors`]. After writing, the
/// folder is loaded back with [`NetworkModel::load`] and compared with the file. Never panics
/// on bad input.
///
/// ```no_run
/// use dualscore::import::{ImportOptions, import_weights};
/// use std::path::Path;
/// let summary = import_weights(
///     Path::new("model.safetensors"),
///     Path::new("imported"),
///     &ImportOptions::default(),
/// )?;
/// println!("{}", serde_json::to_string_pretty(&summary).unwrap());
/// # Ok::<(), dualscore::import::ImportError>(())
/// ```
pub fn import_weights(
    input: &Path,
    out_dir: &Path,
    overrides: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let bytes = fs::read(input).map_err(|source| ImportError::Read {
        path: input.to_path_buf(),
        source,
    })?;
    let not_safetensors = |e: safetensors::SafeTensorError| ImportError::NotSafetensors {
        path: input.to_path_buf(),
        message: format!("{} bytes: {e}", bytes.len()),
    };
    let file = SafeTensors::deserialize(&bytes).map_err(not_safetensors)?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(not_safetensors)?;
    let metadata = header.metadata().clone().unwrap_or_default();

    let mut notes = Vec::new();
    let tensors = canonical_tensors(&file, &mut notes);
    let unsupported: Vec<String> =
        read_json(input, &metadata, UNSUPPORTED_KEY)?.unwrap_or_default();
    if !unsupported.is_empty() {
        return Err(ImportError::Unsupported {
            path: input.to_path_buf(),
            reasons: unsupported,
        });
    }
    let partial: Option<PartialConfig> = read_json(input, &metadata, UNET_CONFIG_KEY)?;
    let source: Option<serde_json::Value> = read_json(input, &metadata, SOURCE_KEY)?;
    let script_notes: Vec<String> = read_json(input, &metadata, NOTES_KEY)?.unwrap_or_default();
    notes.extend(script_notes.into_iter().map(|n| format!("conversion: {n}")));

    let shapes = infer_from_shapes(input, &tensors)?;
    let (unet, config_sources) =
        resolve_config(input, &shapes, partial.as_ref(), overrides, &mut notes)?;
    let config = ModelConfig {
        unet,
        energy: InnerProductConfig::faithful(),
    };
    config
        .validate()
        .map_err(|e| architecture(input, format!("the inferred configuration is invalid: {e}")))?;

    let backend = Cpu::new();
    let mut model = config
        .build(&backend, 0)
        .map_err(|e| architecture(input, format!("cannot build the network: {e}")))?;
    let values = check_tensors(input, &config.unet, &model, &tensors)?;
    let mut failed = None;
    model.visit_mut(&mut |name, p| {
        if failed.is_some() {
            return;
        }
        let Some(v) = values.get(name) else {
            failed = Some(format!("'{name}' was not checked"));
            return;
        };
        match Tensor::from_slice(&backend, v, p.shape().clone()) {
            Ok(t) => *p = t,
            Err(e) => failed = Some(format!("'{name}': {e}")),
        }
    });
    if let Some(message) = failed {
        return Err(architecture(input, message));
    }
    let num_parameters = model.num_parameters();

    if out_dir.join(CHECKPOINT_FILE).exists() && !overrides.overwrite {
        return Err(ImportError::OutputExists {
            dir: out_dir.to_path_buf(),
        });
    }
    let write_error = |message: String| ImportError::Write {
        dir: out_dir.to_path_buf(),
        message,
    };
    let mut trainer = Trainer::new(model, config.clone(), TrainConfig::default())
        .map_err(|e| write_error(format!("cannot set up the checkpoint: {e}")))?;
    trainer
        .save_checkpoint(out_dir)
        .map_err(|e| write_error(format!("cannot write the checkpoint: {e}")))?;
    verify_written(out_dir, &values).map_err(write_error)?;

    let summary = ImportSummary {
        input: input.to_path_buf(),
        out_dir: out_dir.to_path_buf(),
        config,
        num_parameters,
        num_tensors: values.len(),
        config_sources,
        source,
        notes,
    };
    let json = serde_json::to_vec_pretty(&summary)
        .map_err(|e| write_error(format!("cannot serialize the summary: {e}")))?;
    fs::write(out_dir.join(SUMMARY_FILE), json)
        .map_err(|e| write_error(format!("cannot write {SUMMARY_FILE}: {e}")))?;
    Ok(summary)
}

fn architecture(path: &Path, message: impl Into<String>) -> ImportError {
    ImportError::Architecture {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    metadata: &std::collections::HashMap<String, String>,
    key: &str,
) -> Result<Option<T>, ImportError> {
    match metadata.get(key) {
        None => Ok(None),
        Some(text) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| ImportError::Metadata {
                path: path.to_path_buf(),
                key: key.to_string(),
                message: format!("not the expected JSON: {e}"),
            }),
    }
}

/// The file's tensors under the energy's names: as they are when any starts with `network.`,
/// else (bare UNet names) with `network.` prepended.
fn canonical_tensors<'a>(
    file: &'a SafeTensors<'a>,
    notes: &mut Vec<String>,
) -> BTreeMap<String, FileTensor<'a>> {
    let names = file.names();
    let bare = !names.iter().any(|n| n.starts_with(PREFIX));
    if bare && !names.is_empty() {
        notes.push("the tensors have bare UNet names; read as 'network.' + name".to_string());
    }
    let mut out = BTreeMap::new();
    for (name, view) in file.iter() {
        let key = if bare {
            format!("{PREFIX}{name}")
        } else {
            name.to_string()
        };
        out.insert(
            key,
            FileTensor {
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                data: view.data(),
            },
        );
    }
    out
}

/// What the tensor shapes fix.
#[derive(Clone, Copy, Debug)]
struct ShapeConfig {
    image_channels: usize,
    scales: usize,
    base_width: usize,
    layers_per_block: usize,
    embedding_frequencies: usize,
    embedding_width: usize,
}

/// The convolution layers of a block: the number of consecutive `<block>.<3l>.weight` from
/// l = 0.
fn block_depth(tensors: &BTreeMap<String, FileTensor<'_>>, block: &str) -> usize {
    (0..)
        .take_while(|l| tensors.contains_key(&format!("{PREFIX}{block}.{}.weight", 3 * l)))
        .count()
}

fn infer_from_shapes(
    path: &Path,
    tensors: &BTreeMap<String, FileTensor<'_>>,
) -> Result<ShapeConfig, ImportError> {
    let need = |key: &str, what: &str, rank: usize| -> Result<&[usize], ImportError> {
        let t = tensors.get(key).ok_or_else(|| {
            architecture(
                path,
                format!(
                    "cannot infer the architecture: no tensor '{key}' ({what}); is this a \
                     converted checkpoint of the authors' UNet?"
                ),
            )
        })?;
        if t.shape.len() != rank {
            return Err(architecture(
                path,
                format!(
                    "cannot infer the architecture: '{key}' ({what}) has shape {:?}, expected \
                     rank {rank}",
                    t.shape
                ),
            ));
        }
        Ok(&t.shape)
    };
    let embedding = need(EMBEDDING_KEY, "the time embedding's first layer", 2)?;
    let (embedding_width, two_f) = (embedding[0], embedding[1]);
    if two_f == 0 || two_f % 2 != 0 {
        return Err(architecture(
            path,
            format!(
                "'{EMBEDDING_KEY}' has {two_f} inputs: the embedding [cos, sin] needs an even, \
                 positive number"
            ),
        ));
    }
    let first_key = format!("{PREFIX}encoder.0.0.weight");
    let first = need(&first_key, "the first convolution", 4)?;
    if first[2..] != [3, 3] {
        return Err(architecture(
            path,
            format!(
                "'{first_key}' has shape {first:?}: dualscore's UNet starts with a 3x3 convolution"
            ),
        ));
    }
    let (base_width, image_channels) = (first[0], first[1]);
    let scales = (0..)
        .take_while(|s| tensors.contains_key(&format!("{PREFIX}encoder.{s}.0.weight")))
        .count();
    let mut depths = vec![("encoder 0".to_string(), block_depth(tensors, "encoder.0"))];
    for s in 1..scales {
        depths.push((
            format!("encoder {s}"),
            block_depth(tensors, &format!("encoder.{s}")),
        ));
    }
    depths.push(("middle".to_string(), block_depth(tensors, "middle_block")));
    for s in 0..scales {
        depths.push((
            format!("decoder {s}"),
            block_depth(tensors, &format!("decoder.{s}")),
        ));
    }
    // A garbage file must not make the network huge: every parameter is in the file, and the
    // widest convolution and the embedding's second layer each hold at least width^2 values.
    let total = tensors
        .values()
        .map(|t| t.shape.iter().fold(1usize, |a, &b| a.saturating_mul(b)))
        .fold(0usize, usize::saturating_add);
    let widest = if scales <= 16 {
        base_width.saturating_mul(1 << scales)
    } else {
        usize::MAX
    };
    for (what, width) in [
        ("channels of the deepest scale", widest),
        ("embedding width", embedding_width),
    ] {
        if width.saturating_mul(width) > total {
            return Err(architecture(
                path,
                format!(
                    "the shapes imply a network larger than the file: {what} {width} needs at                      least {width}^2 values, the file holds {total}"
                ),
            ));
        }
    }
    let layers_per_block = depths[0].1;
    let distinct: BTreeSet<usize> = depths.iter().map(|(_, d)| *d).filter(|&d| d > 0).collect();
    if distinct.len() > 1 {
        return Err(ImportError::Unsupported {
            path: path.to_path_buf(),
            reasons: vec![format!(
                "blocks of different depths ({}): dualscore's UNet has one layers_per_block",
                depths
                    .iter()
                    .map(|(b, d)| format!("{b}: {d}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
        });
    }
    Ok(ShapeConfig {
        image_channels,
        scales,
        base_width,
        layers_per_block,
        embedding_frequencies: two_f / 2,
        embedding_width,
    })
}

/// The configuration: shapes, then metadata, overrides and defaults; and where each field came
/// from.
fn resolve_config(
    path: &Path,
    shapes: &ShapeConfig,
    partial: Option<&PartialConfig>,
    overrides: &ImportOptions,
    notes: &mut Vec<String>,
) -> Result<(UNetConfig, BTreeMap<String, String>), ImportError> {
    const SHAPES: &str = "tensor shapes";
    const METADATA: &str = "metadata";
    const COMMAND_LINE: &str = "command line";
    const DEFAULT: &str = "default (UNetConfig::paper)";
    let paper = UNetConfig::paper();
    let empty = PartialConfig::default();
    let meta = partial.unwrap_or(&empty);
    if partial.is_none() {
        notes.push(format!(
            "the file has no '{UNET_CONFIG_KEY}' metadata (the run's arguments were not \
             available to the conversion)"
        ));
    }
    for key in meta.other.keys() {
        notes.push(format!(
            "ignored the unknown field '{key}' of '{UNET_CONFIG_KEY}'"
        ));
    }

    // The metadata must agree with the shapes where both say something.
    let fixed = [
        ("image_channels", meta.image_channels, shapes.image_channels),
        ("scales", meta.scales, shapes.scales),
        ("base_width", meta.base_width, shapes.base_width),
        (
            "layers_per_block",
            meta.layers_per_block,
            shapes.layers_per_block,
        ),
        (
            "embedding_frequencies",
            meta.embedding_frequencies,
            shapes.embedding_frequencies,
        ),
        (
            "embedding_width",
            meta.embedding_width,
            shapes.embedding_width,
        ),
    ];
    let mut sources = BTreeMap::new();
    let mut conflicts = Vec::new();
    for (field, said, found) in fixed {
        if let Some(said) = said {
            if said != found {
                conflicts.push(format!(
                    "{field}: the metadata says {said}, the tensors give {found}"
                ));
            }
        }
        sources.insert(field.to_string(), SHAPES.to_string());
    }
    if !conflicts.is_empty() {
        return Err(architecture(
            path,
            format!(
                "the '{UNET_CONFIG_KEY}' metadata contradicts the tensor shapes: {}",
                conflicts.join("; ")
            ),
        ));
    }

    let activation_meta = match &meta.activation {
        None => None,
        Some(name) => Some(
            Activation::from_name(name).ok_or_else(|| ImportError::Metadata {
                path: path.to_path_buf(),
                key: UNET_CONFIG_KEY.to_string(),
                message: format!("unknown activation '{name}' (relu, gelu or silu)"),
            })?,
        ),
    };

    let mut unet = UNetConfig {
        image_channels: shapes.image_channels,
        scales: shapes.scales,
        base_width: shapes.base_width,
        layers_per_block: shapes.layers_per_block,
        embedding_frequencies: shapes.embedding_frequencies,
        embedding_width: shapes.embedding_width,
        ..paper.clone()
    };

    // One field: the override, else the metadata, else the default.
    fn pick<V: Clone + PartialEq + fmt::Debug>(
        field: &str,
        overridden: Option<V>,
        from_meta: Option<V>,
        default: V,
        sources: &mut BTreeMap<String, String>,
        notes: &mut Vec<String>,
    ) -> V {
        match (overridden, from_meta) {
            (Some(v), meta) => {
                if let Some(m) = meta.filter(|m| *m != v) {
                    notes.push(format!(
                        "{field}: {v:?} from the command line replaces the metadata's {m:?}"
                    ));
                }
                sources.insert(field.to_string(), COMMAND_LINE.to_string());
                v
            }
            (None, Some(m)) => {
                sources.insert(field.to_string(), METADATA.to_string());
                m
            }
            (None, None) => {
                notes.push(format!(
                    "{field}: not in the file, took the paper's {default:?}"
                ));
                sources.insert(field.to_string(), DEFAULT.to_string());
                default
            }
        }
    }
    unet.activation = pick(
        "activation",
        overrides.activation,
        activation_meta,
        paper.activation,
        &mut sources,
        notes,
    );
    unet.norm_eps = pick(
        "norm_eps",
        overrides.norm_eps,
        meta.norm_eps,
        paper.norm_eps,
        &mut sources,
        notes,
    );
    unet.embedding_t_min = pick(
        "embedding_t_min",
        overrides.embedding_t_min,
        meta.embedding_t_min,
        paper.embedding_t_min,
        &mut sources,
        notes,
    );
    unet.embedding_t_max = pick(
        "embedding_t_max",
        overrides.embedding_t_max,
        meta.embedding_t_max,
        paper.embedding_t_max,
        &mut sources,
        notes,
    );
    // The paper's 64 unless the downsamplings need a larger multiple.
    let multiple = unet.size_multiple();
    let default_size = paper.image_size.div_ceil(multiple) * multiple;
    unet.image_size = pick(
        "image_size",
        overrides.image_size,
        meta.image_size,
        default_size,
        &mut sources,
        notes,
    );
    Ok((unet, sources))
}

/// Checks every parameter of `model` against the file and returns their float32 values.
fn check_tensors(
    path: &Path,
    config: &UNetConfig,
    model: &UNetEnergy<Cpu>,
    tensors: &BTreeMap<String, FileTensor<'_>>,
) -> Result<BTreeMap<String, Vec<f32>>, ImportError> {
    let mut problems = Vec::new();
    let mut values = BTreeMap::new();
    let mut wanted = BTreeSet::new();
    model.visit(&mut |name, p| {
        wanted.insert(name.to_string());
        let expected = p.dims().to_vec();
        let Some(t) = tensors.get(name) else {
            problems.push(TensorProblem::Missing {
                name: name.to_string(),
                expected,
            });
            return;
        };
        if t.shape != expected {
            problems.push(TensorProblem::WrongShape {
                name: name.to_string(),
                expected,
                found: t.shape.clone(),
            });
            return;
        }
        if t.dtype != Dtype::F32 {
            problems.push(TensorProblem::WrongDtype {
                name: name.to_string(),
                found: format!("{:?}", t.dtype),
            });
            return;
        }
        let v: Vec<f32> = t
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let bad = v.iter().filter(|x| !x.is_finite()).count();
        if bad > 0 {
            problems.push(TensorProblem::NonFinite {
                name: name.to_string(),
                count: bad,
            });
            return;
        }
        values.insert(name.to_string(), v);
    });
    for (name, t) in tensors {
        if !wanted.contains(name) {
            problems.push(TensorProblem::Unexpected {
                name: name.clone(),
                shape: t.shape.clone(),
            });
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(ImportError::Tensors {
            path: path.to_path_buf(),
            config: Box::new(config.clone()),
            problems,
        })
    }
}

/// Loads the written folder as every command will and compares its weights with the file's.
fn verify_written(dir: &Path, values: &BTreeMap<String, Vec<f32>>) -> Result<(), String> {
    let loaded = NetworkModel::load(dir, &Cpu::new())
        .map_err(|e| format!("the written checkpoint does not load back: {e}"))?;
    let mut problems = Vec::new();
    loaded
        .energy
        .visit(&mut |name, p| match (values.get(name), p.to_vec()) {
            (Some(want), Ok(got)) if got == *want => {}
            (Some(_), Ok(_)) => problems.push(format!("'{name}' differs after writing")),
            (None, _) => problems.push(format!("'{name}' was not imported")),
            (_, Err(e)) => problems.push(format!("'{name}': {e}")),
        });
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the written checkpoint does not hold the imported weights: {}",
            problems.join("; ")
        ))
    }
}
