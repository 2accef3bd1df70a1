//! Network layers: bias-free convolutions and linear maps, activations, and the [`Module`]
//! trait that names every parameter (for optimizers and checkpoints).
//!
//! Parameters are tensors held by the layers. For training they are leaves that require a
//! gradient; an optimizer replaces them through [`Module::visit_mut`]. Names are stable paths
//! such as `"enc.0.conv.weight"`.

mod activation;
mod conv;
mod embedding;
mod init;
mod linear;
mod mlp;
mod normalization;
mod state;
pub mod unet;

pub use activation::Activation;
pub use conv::{Conv2d, ConvTranspose2d};
pub use embedding::{TimeEmbedding, TimeInput, embedding_frequencies};
pub use init::{Init, uniform_fan_in};
pub use linear::Linear;
pub use mlp::Mlp;
pub use normalization::{DEFAULT_NORM_EPS, Normalization};
pub use state::load_parameters;
pub use unet::{UNet, UNetBlock, UNetConfig, UNetConv, UNetLayer};

/// The most parameters a network of this module may have (2^34, about 2,000 times the paper's
/// UNet): [`UNetConfig::validate`] and [`Mlp::new`] refuse larger sizes instead of failing in
/// an allocation.
pub const MAX_PARAMETERS: usize = 1 << 34;

use crate::backend::Backend;
use crate::error::Result;
use crate::scalar::Float;
use crate::tensor::Tensor;

/// Something with named parameters.
pub trait Module<B: Backend, T: Float> {
    /// Calls `f` with the full name and value of every parameter, in a fixed order.
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>));

    /// Calls `f` with the full name of every parameter and a place to replace it, in the
    /// order of [`Module::visit`].
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>));

    /// Calls `f` with the full name and value of every *buffer*: a tensor that is part of the
    /// model and of its checkpoints but is not trained (a fixed Gaussian base, say). None by
    /// default. Buffer names must differ from parameter names.
    fn visit_buffers(&self, _f: &mut dyn FnMut(&str, &Tensor<B, T>)) {}

    /// Calls `f` with the full name of every buffer and a place to replace it (loading a
    /// checkpoint), in the order of [`Module::visit_buffers`].
    fn visit_buffers_mut(&mut self, _f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {}

    /// Every buffer with its name, in the order of [`Module::visit_buffers`].
    fn buffers(&self) -> Vec<(String, Tensor<B, T>)> {
        let mut out = Vec::new();
        self.visit_buffers(&mut |name, t| out.push((name.to_string(), t.clone())));
        out
    }

    /// Every parameter with its name, in the order of [`Module::visit`].
    fn parameters(&self) -> Vec<(String, Tensor<B, T>)> {
        let mut out = Vec::new();
        self.visit(&mut |name, t| out.push((name.to_string(), t.clone())));
        out
    }

    /// The number of scalar parameters.
    fn num_parameters(&self) -> usize {
        let mut n = 0;
        self.visit(&mut |_, t| n += t.numel());
        n
    }

    /// Makes every parameter a leaf that requires a gradient (for training).
    fn require_grad(&mut self) {
        self.visit_mut(&mut |_, t| *t = t.detach().requiring_grad());
    }

    /// Cuts every parameter from the graph (for inference without recording).
    fn detach_parameters(&mut self) {
        self.visit_mut(&mut |_, t| *t = t.detach());
    }
}

/// Visits `module`'s parameters under `prefix` (names become `"prefix.name"`).
pub fn visit_scoped<B: Backend, T: Float>(
    prefix: &str,
    module: &dyn Module<B, T>,
    f: &mut dyn FnMut(&str, &Tensor<B, T>),
) {
    module.visit(&mut |name, t| f(&format!("{prefix}.{name}"), t));
}

/// Visits `module`'s parameters mutably under `prefix`.
pub fn visit_scoped_mut<B: Backend, T: Float>(
    prefix: &str,
    module: &mut dyn Module<B, T>,
    f: &mut dyn FnMut(&str, &mut Tensor<B, T>),
) {
    module.visit_mut(&mut |name, t| f(&format!("{prefix}.{name}"), t));
}

impl<B: Backend, T: Float, M: Module<B, T>> Module<B, T> for Vec<M> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        for (i, m) in self.iter().enumerate() {
            visit_scoped(&i.to_string(), m, f);
        }
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        for (i, m) in self.iter_mut().enumerate() {
            visit_scoped_mut(&i.to_string(), m, f);
        }
    }
}

/// A network of (y, t): the output has the shape of `y` (`[N, C, H, W]`), `t` is `[N]`.
pub trait ScoreNetwork<B: Backend, T: Float>: Module<B, T> {
    /// s(y, t).
    fn forward(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<Tensor<B, T>>;
}
