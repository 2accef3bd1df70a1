//! Pointwise nonlinearities, as a configuration value.

use crate::backend::Backend;
use crate::error::Result;
use crate::scalar::Float;
use crate::tensor::Tensor;

/// A pointwise nonlinearity.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(x, 0): positively homogeneous, so a bias-free ReLU network is exactly degree-1
    /// homogeneous.
    Relu,
    /// Exact (erf) GELU, as in the paper's networks.
    #[default]
    Gelu,
    /// x sigmoid(x).
    Silu,
}

impl Activation {
    /// Applies the nonlinearity.
    pub fn apply<B: Backend, T: Float>(&self, x: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu(),
            Activation::Silu => x.silu(),
        }
    }

    /// The lower-case name, as in configuration files.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
        }
    }

    /// Parses a name written by [`Activation::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "relu" => Some(Activation::Relu),
            "gelu" => Some(Activation::Gelu),
            "silu" => Some(Activation::Silu),
            _ => None,
        }
    }
}
