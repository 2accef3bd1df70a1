//! An exponential moving average of a model's parameters (Polyak averaging), the weights that
//! measurements use.

use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::nn::Module;
use crate::scalar::Float;
use crate::tensor::Tensor;

/// The average `a <- d a + (1 - d) p` of every parameter `p` after every step, with
/// `d = min(decay, (1 + step) / (10 + step))` so that the first steps are not dominated by the
/// initial weights. It holds a copy of the model's buffers too, so it saves and loads as a
/// complete weights file of the model ([`Module`]: the averages as parameters).
///
/// Adam moves every weight by about the learning rate at every step, whatever the size of its
/// gradient; an energy's level at t = 0 is a sum over many weights, so it jitters from step to
/// step. The average removes that jitter (a time constant of `1 / (1 - decay)` steps) without
/// slowing training.
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::nn::{Init, Linear, Module};
/// use dualscore_core::train::ParameterAverage;
/// # fn main() -> dualscore_core::Result<()> {
/// let mut layer = Linear::<_, f64>::new(&Reference, &mut Init::new(0), 2, 1, false)?;
/// let mut average = ParameterAverage::new(&layer, 0.9)?;
/// layer.visit_mut(&mut |_, w| *w = w.add_scalar(1.0).unwrap());
/// average.update(&layer, 1)?; // d = min(0.9, 2 / 11)
/// let mut averaged = layer.clone();
/// average.apply_to(&mut averaged)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ParameterAverage<B: Backend, T: Float> {
    decay: f64,
    parameters: Vec<(String, Tensor<B, T>)>,
    buffers: Vec<(String, Tensor<B, T>)>,
}

impl<B: Backend, T: Float> ParameterAverage<B, T> {
    /// An average that starts at `model`'s parameters; `decay` in [0, 1).
    pub fn new<M: Module<B, T> + ?Sized>(model: &M, decay: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&decay) {
            return Err(Error::invalid(
                "ParameterAverage",
                format!("the decay must be in [0, 1), got {decay}"),
            ));
        }
        let detached = |list: Vec<(String, Tensor<B, T>)>| {
            list.into_iter()
                .map(|(name, t)| (name, t.detach()))
                .collect::<Vec<_>>()
        };
        Ok(ParameterAverage {
            decay,
            parameters: detached(model.parameters()),
            buffers: detached(model.buffers()),
        })
    }

    /// The decay.
    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// Adds `model`'s parameters after step `step` (1 for the first) to the average.
    pub fn update<M: Module<B, T> + ?Sized>(&mut self, model: &M, step: u64) -> Result<()> {
        let warm = (1.0 + step as f64) / (10.0 + step as f64);
        let d = self.decay.min(warm);
        let current = model.parameters();
        if current.len() != self.parameters.len() {
            return Err(Error::invalid(
                "ParameterAverage::update",
                "the model's parameters differ from the averaged ones",
            ));
        }
        no_grad(|| {
            for ((name, average), (other, p)) in self.parameters.iter_mut().zip(current) {
                if *name != other {
                    return Err(Error::invalid(
                        "ParameterAverage::update",
                        format!("parameter '{other}' where '{name}' was averaged"),
                    ));
                }
                *average = average.scale(d)?.add(&p.detach().scale(1.0 - d)?)?;
            }
            Ok(())
        })
    }

    /// Replaces `model`'s parameters by their averages (as constants).
    pub fn apply_to<M: Module<B, T> + ?Sized>(&self, model: &mut M) -> Result<()> {
        let mut missing = Vec::new();
        let mut k = 0;
        model.visit_mut(&mut |name, p| match self.parameters.get(k) {
            Some((n, a)) if n == name && a.dims() == p.dims() => {
                *p = a.clone();
                k += 1;
            }
            _ => missing.push(name.to_string()),
        });
        if missing.is_empty() && k == self.parameters.len() {
            Ok(())
        } else {
            Err(Error::invalid(
                "ParameterAverage::apply_to",
                format!("the model does not match the average (first mismatch: {missing:?})"),
            ))
        }
    }
}

impl<B: Backend, T: Float> Module<B, T> for ParameterAverage<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        for (name, t) in &self.parameters {
            f(name, t);
        }
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        for (name, t) in &mut self.parameters {
            f(name, t);
        }
    }

    fn visit_buffers(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        for (name, t) in &self.buffers {
            f(name, t);
        }
    }

    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        for (name, t) in &mut self.buffers {
            f(name, t);
        }
    }
}
