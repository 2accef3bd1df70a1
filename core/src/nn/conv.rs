//! Bias-free convolution layers.

use super::{Init, Module, uniform_fan_in};
use crate::backend::{Backend, Conv2dParams, ConvTranspose2dParams};
use crate::error::Result;
use crate::scalar::Float;
use crate::tensor::Tensor;

/// A bias-free 2-D convolution, weight `[out, in, kh, kw]`.
#[derive(Clone, Debug)]
pub struct Conv2d<B: Backend, T: Float> {
    /// `[out, in, kh, kw]`.
    pub weight: Tensor<B, T>,
    /// Stride, padding and dilation.
    pub params: Conv2dParams,
}

impl<B: Backend, T: Float> Conv2d<B, T> {
    /// A layer with PyTorch's default initialization (uniform, bound 1 / sqrt(in kh kw)).
    pub fn new(
        backend: &B,
        init: &mut Init,
        inputs: usize,
        outputs: usize,
        kernel: usize,
        params: Conv2dParams,
    ) -> Result<Self> {
        // Saturating: for absurd sizes the weight's allocation below reports the error.
        let bound = uniform_fan_in(inputs.saturating_mul(kernel).saturating_mul(kernel));
        Ok(Conv2d {
            weight: init.uniform(backend, [outputs, inputs, kernel, kernel], bound)?,
            params,
        })
    }

    /// Applies the layer to `[N, in, H, W]`.
    pub fn forward(&self, x: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        x.conv2d(&self.weight, &self.params)
    }
}

impl<B: Backend, T: Float> Module<B, T> for Conv2d<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        f("weight", &self.weight);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        f("weight", &mut self.weight);
    }
}

/// A bias-free 2-D transposed convolution, weight `[in, out, kh, kw]` (PyTorch's layout).
#[derive(Clone, Debug)]
pub struct ConvTranspose2d<B: Backend, T: Float> {
    /// `[in, out, kh, kw]`.
    pub weight: Tensor<B, T>,
    /// Stride, padding, output padding and dilation.
    pub params: ConvTranspose2dParams,
}

impl<B: Backend, T: Float> ConvTranspose2d<B, T> {
    /// A layer with PyTorch's default initialization (its fan-in is computed from the weight's
    /// second axis: bound 1 / sqrt(out kh kw)).
    pub fn new(
        backend: &B,
        init: &mut Init,
        inputs: usize,
        outputs: usize,
        kernel: usize,
        params: ConvTranspose2dParams,
    ) -> Result<Self> {
        let bound = uniform_fan_in(outputs.saturating_mul(kernel).saturating_mul(kernel));
        Ok(ConvTranspose2d {
            weight: init.uniform(backend, [inputs, outputs, kernel, kernel], bound)?,
            params,
        })
    }

    /// Applies the layer to `[N, in, H, W]`.
    pub fn forward(&self, x: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        x.conv_transpose2d(&self.weight, &self.params)
    }
}

impl<B: Backend, T: Float> Module<B, T> for ConvTranspose2d<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        f("weight", &self.weight);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        f("weight", &mut self.weight);
    }
}
