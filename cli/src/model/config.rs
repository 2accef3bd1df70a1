//! The architecture of a trained model, as written into its checkpoints.

use dualscore_core::energy::{DEFAULT_TIME_OFFSET_T0, InnerProduct, InnerProductConfig};
use dualscore_core::nn::{Init, TimeInput, UNet, UNetConfig, UNetConv};
use dualscore_core::{Backend, Result, Tensor};
use serde::{Deserialize, Serialize};

/// The paper's energy of a UNet score network, in f32 on backend `B`.
pub type UNetEnergy<B> = InnerProduct<B, f32, UNet<B, f32>>;

/// The named models. `fast` learns a useful density in minutes on a CPU: the small UNet
/// conditioned on log t, preconditioned, as the residual of a Gaussian fitted to the training
/// images (it starts as that Gaussian), with centering and a time offset, and its own training
/// settings. `small`, `mid` and `paper` are the paper's energy and training settings at three
/// sizes ([`UNetConfig::small`], [`UNetConfig::mid`], [`UNetConfig::paper`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The small UNet on log t as the residual of a Gaussian base (see docs/CONVERGENCE.md).
    Fast,
    /// 2 scales, base width 16, 2 layers per block: 203,808 parameters.
    Small,
    /// 3 scales, base width 32, 2 layers per block: 1,304,896 parameters.
    Mid,
    /// The paper's network: 3 scales, base width 64, 3 layers per block: 8,647,552 parameters.
    Paper,
}

impl Preset {
    /// The preset's UNet configuration (grayscale, GELU).
    pub fn unet(self) -> UNetConfig {
        match self {
            Preset::Fast => UNetConfig {
                time_input: TimeInput::LogVariance {
                    t0: DEFAULT_TIME_OFFSET_T0,
                },
                embedding_frequencies: 16,
                embedding_width: 128,
                embedding_t_min: 0.25,
                embedding_t_max: 64.0,
                ..UNetConfig::small()
            },
            Preset::Small => UNetConfig::small(),
            Preset::Mid => UNetConfig::mid(),
            Preset::Paper => UNetConfig::paper(),
        }
    }
}

/// Everything that rebuilds a model's architecture: the score network and the energy's
/// options. Written as `model_config` into every checkpoint's `checkpoint.json`.
///
/// ```
/// use dualscore::model::{ModelConfig, Preset};
/// let config = ModelConfig::preset(Preset::Small, 1, 16);
/// let text = serde_json::to_string(&config).unwrap();
/// assert_eq!(serde_json::from_str::<ModelConfig>(&text).unwrap(), config);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The score network.
    pub unet: UNetConfig,
    /// Centering and time offset of the energy (none: the paper's energy).
    #[serde(default)]
    pub energy: InnerProductConfig,
}

impl ModelConfig {
    /// A preset's network for images of `channels` channels and nominal size `image_size`,
    /// inside the paper's energy.
    pub fn preset(preset: Preset, channels: usize, image_size: usize) -> Self {
        let mut unet = preset.unet();
        unet.image_channels = channels;
        unet.image_size = image_size;
        ModelConfig {
            unet,
            energy: InnerProductConfig::faithful(),
        }
    }

    /// Checks the architecture.
    pub fn validate(&self) -> Result<()> {
        self.unet.validate()
    }

    /// The model with weights drawn from `seed` (stream 0 of the seed). With a Gaussian base,
    /// the network's last layer starts at zero, so the model starts as its base; the base
    /// itself is zero until fitted ([`dualscore_core::energy::GaussianBase::fit`]) or loaded
    /// from a checkpoint.
    pub fn build<B: Backend>(&self, backend: &B, seed: u64) -> Result<UNetEnergy<B>> {
        self.validate()?;
        let mut init = Init::new(seed);
        let mut network = UNet::new(backend, &mut init, &self.unet)?;
        if self.energy.gaussian_base.is_some() {
            if let Some(last) = network
                .decoder
                .first_mut()
                .and_then(|b| b.layers.last_mut())
            {
                let UNetConv::Conv(conv) = &mut last.conv else {
                    unreachable!("the UNet ends with a convolution")
                };
                conv.weight = Tensor::zeros(backend, conv.weight.dims().to_vec())?;
            }
        }
        InnerProduct::with_config(backend, &mut init, network, &self.energy)
    }
}
