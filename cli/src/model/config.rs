//! The architecture of a trained model, as written into its checkpoints.

use dualscore_core::Result;
use dualscore_core::energy::{InnerProduct, InnerProductConfig};
use dualscore_core::nn::{Init, UNet, UNetConfig};
use dualscore_cpu::Cpu;
use serde::{Deserialize, Serialize};

/// The paper's energy of a UNet score network, in f32 on the CPU backend.
pub type UNetEnergy = InnerProduct<Cpu, f32, UNet<Cpu, f32>>;

/// The named UNet sizes ([`UNetConfig::small`], [`UNetConfig::mid`], [`UNetConfig::paper`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
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

    /// The model with weights drawn from `seed` (stream 0 of the seed).
    pub fn build(&self, backend: &Cpu, seed: u64) -> Result<UNetEnergy> {
        self.validate()?;
        let mut init = Init::new(seed);
        let network = UNet::new(backend, &mut init, &self.unet)?;
        InnerProduct::with_config(backend, &mut init, network, &self.energy)
    }
}
