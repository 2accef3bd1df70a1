//! Fully connected layers.

use super::{Init, Module, uniform_fan_in};
use crate::backend::Backend;
use crate::error::Result;
use crate::scalar::Float;
use crate::tensor::Tensor;

/// y = x W^T (+ b), x of shape `[N, in]`, W of shape `[out, in]`, b of shape `[out]`.
/// Biases belong only where a layer acts on t, never on the image.
#[derive(Clone, Debug)]
pub struct Linear<B: Backend, T: Float> {
    /// `[out, in]`.
    pub weight: Tensor<B, T>,
    /// `[out]`, if any.
    pub bias: Option<Tensor<B, T>>,
}

impl<B: Backend, T: Float> Linear<B, T> {
    /// A layer with PyTorch's default initialization.
    pub fn new(
        backend: &B,
        init: &mut Init,
        inputs: usize,
        outputs: usize,
        bias: bool,
    ) -> Result<Self> {
        let bound = uniform_fan_in(inputs);
        let weight = init.uniform(backend, [outputs, inputs], bound)?;
        let bias = if bias {
            Some(init.uniform(backend, [outputs], bound)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    /// Applies the layer to `[N, in]`.
    pub fn forward(&self, x: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        let y = x.matmul_t(&self.weight, false, true)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }
}

impl<B: Backend, T: Float> Module<B, T> for Linear<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        f("weight", &self.weight);
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        f("weight", &mut self.weight);
        if let Some(b) = &mut self.bias {
            f("bias", b);
        }
    }
}
