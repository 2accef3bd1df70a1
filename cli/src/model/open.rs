//! Opening a model: a checkpoint folder or an analytic model file.

use super::analytic::AnalyticModel;
use super::config::{ModelConfig, UNetEnergy};
use dualscore_core::Backend;
use dualscore_core::train::{
    CHECKPOINT_FILE, CheckpointInfo, load_checkpoint_averaged_weights, read_checkpoint,
};
use std::fmt;
use std::path::{Path, PathBuf};

/// A model that could not be opened or does not fit the data, naming the path.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelError {
    /// The checkpoint folder or model file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl ModelError {
    /// An error about `path`.
    pub fn new(path: &Path, message: impl Into<String>) -> Self {
        ModelError {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for ModelError {}

/// A trained network loaded from its checkpoint folder, with its averaged weights when the run
/// kept an average.
#[derive(Debug)]
pub struct NetworkModel<B: Backend> {
    /// The checkpoint folder.
    pub dir: PathBuf,
    /// The architecture.
    pub config: ModelConfig,
    /// The checkpoint's metadata.
    pub info: CheckpointInfo<ModelConfig>,
    /// The energy with the checkpoint's weights.
    pub energy: UNetEnergy<B>,
}

impl<B: Backend> NetworkModel<B> {
    /// Loads the checkpoint folder `dir` on `backend`.
    pub fn load(dir: &Path, backend: &B) -> Result<Self, ModelError> {
        let info: CheckpointInfo<ModelConfig> =
            read_checkpoint(dir).map_err(|e| ModelError::new(dir, e.to_string()))?;
        if info.dtype != "f32" {
            return Err(ModelError::new(
                dir,
                format!(
                    "the program runs f32 models, this checkpoint is {}",
                    info.dtype
                ),
            ));
        }
        let config = info.model_config.clone();
        let mut energy = config
            .build(backend, 0)
            .map_err(|e| ModelError::new(dir, format!("model_config: {e}")))?;
        load_checkpoint_averaged_weights(dir, &mut energy)
            .map_err(|e| ModelError::new(dir, e.to_string()))?;
        Ok(NetworkModel {
            dir: dir.to_path_buf(),
            config,
            info,
            energy,
        })
    }

    /// Checks that images of shape `[C, H, W]` fit the network: its channels, and a size the
    /// UNet's downsamplings divide.
    pub fn check_image_shape(&self, shape: [usize; 3]) -> Result<(), ModelError> {
        let [c, h, w] = shape;
        let unet = &self.config.unet;
        let multiple = unet.size_multiple();
        if c != unet.image_channels {
            return Err(ModelError::new(
                &self.dir,
                format!(
                    "the model takes {} channel(s), the images have {c}",
                    unet.image_channels
                ),
            ));
        }
        if h % multiple != 0 || w % multiple != 0 {
            return Err(ModelError::new(
                &self.dir,
                format!(
                    "the model's {} scales need image sides divisible by {multiple}, the images are {h}x{w}",
                    unet.scales
                ),
            ));
        }
        if let Some([bc, bh, bw]) = self.config.energy.gaussian_base.filter(|b| *b != shape) {
            return Err(ModelError::new(
                &self.dir,
                format!(
                    "the model's Gaussian base was fitted on images of {bc}x{bh}x{bw}; it cannot measure images of {c}x{h}x{w} (cut patches of that size, or train a model with --base none)"
                ),
            ));
        }
        Ok(())
    }
}

/// What a measurement command evaluates.
#[derive(Debug)]
pub enum Model<B: Backend> {
    /// A trained network (f32).
    Network(Box<NetworkModel<B>>),
    /// An analytic density (f64, exactly normalized).
    Analytic(Box<AnalyticModel>),
}

impl<B: Backend> Model<B> {
    /// A checkpoint folder (a folder with `checkpoint.json`) or an analytic model file
    /// (`.json`).
    pub fn open(path: &Path, backend: &B) -> Result<Self, ModelError> {
        if path.is_dir() && !path.join(CHECKPOINT_FILE).exists() {
            Err(ModelError::new(
                path,
                format!(
                    "not a model folder (no {CHECKPOINT_FILE}): give a folder written by \
                     `train` or `import`, or an analytic model (.json)"
                ),
            ))
        } else if path.is_dir() {
            NetworkModel::load(path, backend).map(|m| Model::Network(Box::new(m)))
        } else if path.is_file() {
            AnalyticModel::read(path).map(|m| Model::Analytic(Box::new(m)))
        } else {
            Err(ModelError::new(
                path,
                "no such checkpoint folder or model file",
            ))
        }
    }

    /// Checks that images of shape `[C, H, W]` fit the model.
    pub fn check_image_shape(&self, shape: [usize; 3]) -> Result<(), ModelError> {
        match self {
            Model::Network(m) => m.check_image_shape(shape),
            Model::Analytic(a) if a.image_shape() == shape => Ok(()),
            Model::Analytic(a) => Err(ModelError::new(
                Path::new("analytic model"),
                format!(
                    "it is defined on images of shape {:?}, the data are {shape:?}",
                    a.image_shape()
                ),
            )),
        }
    }

    /// A one-line description.
    pub fn describe(&self) -> String {
        match self {
            Model::Network(m) => format!(
                "UNet energy ({} scales, width {}, {} channel(s)) at step {} from {}",
                m.config.unet.scales,
                m.config.unet.base_width,
                m.config.unet.image_channels,
                m.info.step,
                m.dir.display()
            ),
            Model::Analytic(a) => a.describe(),
        }
    }
}
