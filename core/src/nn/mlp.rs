//! Multilayer perceptrons of the noise level.

use super::{Activation, Init, Linear, Module, visit_scoped, visit_scoped_mut};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::tensor::Tensor;

/// `Linear(in, h)`, activation, (`Linear(h, h)`, activation) x (hidden - 1), `Linear(h, out)`:
/// every layer with a bias (an MLP acts on t, never on the image). Parameter names are the
/// indices of the equivalent PyTorch `nn.Sequential` (`0.weight`, `0.bias`, `2.weight`, ...).
#[derive(Clone, Debug)]
pub struct Mlp<B: Backend, T: Float> {
    /// The linear layers.
    pub layers: Vec<Linear<B, T>>,
    /// The hidden activation.
    pub activation: Activation,
}

impl<B: Backend, T: Float> Mlp<B, T> {
    /// An MLP with PyTorch's default initialization.
    pub fn new(
        backend: &B,
        init: &mut Init,
        inputs: usize,
        width: usize,
        hidden: usize,
        outputs: usize,
        activation: Activation,
    ) -> Result<Self> {
        if hidden == 0 || width == 0 || inputs == 0 || outputs == 0 {
            return Err(Error::invalid(
                "Mlp",
                "inputs, width, hidden layers and outputs must be positive",
            ));
        }
        // Weights and biases: inputs -> width, (hidden - 1) x (width -> width), width -> outputs.
        let parameters = || -> Option<usize> {
            let first = inputs.checked_add(1)?.checked_mul(width)?;
            let inner = width
                .checked_add(1)?
                .checked_mul(width)?
                .checked_mul(hidden - 1)?;
            let last = width.checked_add(1)?.checked_mul(outputs)?;
            first.checked_add(inner)?.checked_add(last)
        };
        if parameters().is_none_or(|n| n > super::MAX_PARAMETERS) {
            return Err(Error::invalid(
                "Mlp",
                format!(
                    "{inputs} inputs, {hidden} hidden layers of {width} and {outputs} outputs are \
                     more than {} parameters",
                    super::MAX_PARAMETERS
                ),
            ));
        }
        let mut layers = vec![Linear::new(backend, init, inputs, width, true)?];
        for _ in 1..hidden {
            layers.push(Linear::new(backend, init, width, width, true)?);
        }
        layers.push(Linear::new(backend, init, width, outputs, true)?);
        Ok(Mlp { layers, activation })
    }

    /// Applies the MLP to `[N, inputs]`.
    pub fn forward(&self, x: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i < last {
                h = self.activation.apply(&h)?;
            }
        }
        Ok(h)
    }
}

impl<B: Backend, T: Float> Module<B, T> for Mlp<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        for (i, layer) in self.layers.iter().enumerate() {
            visit_scoped(&(2 * i).to_string(), layer, f);
        }
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            visit_scoped_mut(&(2 * i).to_string(), layer, f);
        }
    }
}
