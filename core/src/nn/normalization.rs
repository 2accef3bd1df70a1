//! The scale-preserving, per-sample normalization of the paper's UNet (docs/METHOD.md section 2).

use super::{Init, Linear, Module, visit_scoped, visit_scoped_mut};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::tensor::Tensor;

/// The normalization's default eps, as in the authors' code.
pub const DEFAULT_NORM_EPS: f64 = 1e-5;

/// Per-sample, per-channel normalization that keeps the global scale of its input, with a learned
/// gain and a multiplicative time gain:
///
/// `out_c = (x_c - m_c) * sqrt(mean_c'(v_c') / (v_c + eps) + eps) * g_c * (1 + e_c(t))`
///
/// with `m_c` and `v_c` the spatial mean and population variance of channel `c` of one sample,
/// `g_c` the learned gain ([`Normalization::weight`], initialized to 1) and `e_c(t)` a linear map
/// of the time embedding ([`Normalization::conditioning_embedding`], with bias). No batch
/// statistics and no additive term: samples are independent, and with `eps = 0` the layer is
/// positively homogeneous of degree 1 in `x` (scaling `x` by `a > 0` scales the output by `a`).
///
/// This is the authors' `Normalization` with `group_size = 1`, `use_statistics = "input"` and
/// `homogeneous = True`; its parameter names are theirs (`weight`,
/// `conditioning_embedding.weight`, `conditioning_embedding.bias`).
#[derive(Clone, Debug)]
pub struct Normalization<B: Backend, T: Float> {
    /// The gain `g_c`, `[C]`.
    pub weight: Tensor<B, T>,
    /// The map from the time embedding to `e_c(t)`: `Linear(embedding_width -> C)` with bias.
    pub conditioning_embedding: Linear<B, T>,
    /// The eps of the formula (both places), 1e-5 by default.
    pub eps: f64,
}

impl<B: Backend, T: Float> Normalization<B, T> {
    /// A layer for `channels` channels conditioned on an embedding of width
    /// `conditioning_width`: gain 1, PyTorch's default initialization for the linear map.
    pub fn new(
        backend: &B,
        init: &mut Init,
        channels: usize,
        conditioning_width: usize,
        eps: f64,
    ) -> Result<Self> {
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(Error::invalid(
                "Normalization",
                format!("eps must be finite and >= 0, not {eps}"),
            ));
        }
        let weight = init.constant(backend, [channels], 1.0)?;
        let conditioning_embedding =
            Linear::new(backend, init, conditioning_width, channels, true)?;
        Ok(Normalization {
            weight,
            conditioning_embedding,
            eps,
        })
    }

    /// The number of channels.
    pub fn channels(&self) -> usize {
        self.weight.numel()
    }

    /// Applies the layer to `x` (`[N, C, H, W]`) with the time embedding `embedding`
    /// (`[N, conditioning_width]`).
    pub fn forward(&self, x: &Tensor<B, T>, embedding: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        let dims = x.dims();
        if dims.len() != 4 || dims[1] != self.channels() {
            return Err(Error::shapes(
                "Normalization",
                dims,
                self.weight.dims(),
                "the input must be [N, C, H, W] with the layer's C channels",
            ));
        }
        let (n, c) = (dims[0], dims[1]);
        let (centered, variance) = x.center_with_variance(&[2, 3])?; // variance [N, C, 1, 1]
        let factor = variance
            .mean(&[1], true)?
            .div(&variance.add_scalar(self.eps)?)?
            .add_scalar(self.eps)?
            .sqrt()?;
        let time_gain = self
            .conditioning_embedding
            .forward(embedding)?
            .add_scalar(1.0)?
            .reshape([n, c, 1, 1])?;
        let gain = self.weight.reshape([1, c, 1, 1])?;
        centered.mul(&factor.mul(&gain)?.mul(&time_gain)?)
    }
}

impl<B: Backend, T: Float> Module<B, T> for Normalization<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        f("weight", &self.weight);
        visit_scoped("conditioning_embedding", &self.conditioning_embedding, f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        f("weight", &mut self.weight);
        visit_scoped_mut(
            "conditioning_embedding",
            &mut self.conditioning_embedding,
            f,
        );
    }
}
