//! Adam (Kingma and Ba), with PyTorch's exact update, state keyed by parameter name.

use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::nn::Module;
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A parameter's new value and state.
type Update<B, T> = (Tensor<B, T>, AdamMoments<B, T>);

/// Adam's constants (PyTorch's defaults; no weight decay, no AMSGrad).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// Decay of the first moment, in [0, 1).
    pub beta1: f64,
    /// Decay of the second moment, in [0, 1).
    pub beta2: f64,
    /// Added to the square root of the corrected second moment, >= 0.
    pub eps: f64,
}

impl Default for AdamConfig {
    /// beta1 0.9, beta2 0.999, eps 1e-8.
    fn default() -> Self {
        AdamConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl AdamConfig {
    /// Checks the ranges of the constants.
    pub fn validate(&self) -> Result<()> {
        let beta_ok = |b: f64| (0.0..1.0).contains(&b);
        if !beta_ok(self.beta1) || !beta_ok(self.beta2) {
            return Err(Error::invalid(
                "adam",
                format!(
                    "betas must be in [0, 1), got ({}, {})",
                    self.beta1, self.beta2
                ),
            ));
        }
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return Err(Error::invalid(
                "adam",
                format!("eps must be finite and >= 0, got {}", self.eps),
            ));
        }
        Ok(())
    }
}

/// The state of one parameter: its update count and moment estimates (PyTorch's `step`,
/// `exp_avg` and `exp_avg_sq`), the parameter's shape, on its backend.
#[derive(Clone, Debug)]
pub struct AdamMoments<B: Backend, T: Float> {
    /// The number of updates applied to the parameter.
    pub step: u64,
    /// The first moment estimate m.
    pub exp_avg: Tensor<B, T>,
    /// The second moment estimate v.
    pub exp_avg_sq: Tensor<B, T>,
}

/// The Adam optimizer. Its state is a map from parameter name to [`AdamMoments`], created at a
/// parameter's first update.
///
/// Each update is PyTorch's (`torch.optim.Adam`, single-tensor path), operation for operation:
///
/// ```text
/// step += 1
/// m     = lerp(m, g, 1 - beta1)            (m + (1 - beta1) (g - m))
/// v     = v * beta2 + ((1 - beta2) * g) * g
/// denom = sqrt(v) / sqrt(1 - beta2^step) + eps
/// p     = p + (-(lr / (1 - beta1^step)) * m) / denom
/// ```
///
/// computed with tensor ops under [`no_grad`] on the parameter's backend.
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::nn::Module;
/// use dualscore_core::train::{Adam, AdamConfig};
/// use dualscore_core::{Tensor, Result};
///
/// struct Scalar(Tensor<Reference, f64>);
/// impl Module<Reference, f64> for Scalar {
///     fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<Reference, f64>)) { f("w", &self.0) }
///     fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<Reference, f64>)) {
///         f("w", &mut self.0)
///     }
/// }
/// # fn main() -> Result<()> {
/// let mut model = Scalar(Tensor::from_f64(&Reference, &[1.0], [1])?.requiring_grad());
/// let mut adam = Adam::new(AdamConfig::default())?;
/// let g = Tensor::from_f64(&Reference, &[0.5], [1])?;
/// adam.step(&mut model, &[("w".to_string(), g)], 0.1)?;
/// // The first update moves every coordinate by about lr against the gradient's sign.
/// assert!((model.0.to_f64_vec()?[0] - 0.9).abs() < 1e-6);
/// assert!(model.0.requires_grad());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Adam<B: Backend, T: Float> {
    config: AdamConfig,
    state: BTreeMap<String, AdamMoments<B, T>>,
}

impl<B: Backend, T: Float> Adam<B, T> {
    /// An optimizer with empty state.
    pub fn new(config: AdamConfig) -> Result<Self> {
        config.validate()?;
        Ok(Adam {
            config,
            state: BTreeMap::new(),
        })
    }

    /// The constants.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// The per-parameter state, by name.
    pub fn state(&self) -> &BTreeMap<String, AdamMoments<B, T>> {
        &self.state
    }

    /// Replaces the whole state (when loading a checkpoint).
    pub fn set_state(&mut self, state: BTreeMap<String, AdamMoments<B, T>>) {
        self.state = state;
    }

    /// The updated value and state of one parameter `param` with gradient `grad`, given its
    /// previous state (`None` before its first update). Pure: nothing is recorded or changed.
    pub fn update(
        &self,
        param: &Tensor<B, T>,
        grad: &Tensor<B, T>,
        previous: Option<&AdamMoments<B, T>>,
        lr: f64,
    ) -> Result<(Tensor<B, T>, AdamMoments<B, T>)> {
        const OP: &str = "adam";
        if param.shape() != grad.shape() {
            return Err(Error::shapes(
                OP,
                param.dims(),
                grad.dims(),
                "a gradient must have its parameter's shape",
            ));
        }
        if let Some(prev) = previous {
            for (name, moment) in [("exp_avg", &prev.exp_avg), ("exp_avg_sq", &prev.exp_avg_sq)] {
                if moment.shape() != param.shape() {
                    return Err(Error::shapes(
                        OP,
                        param.dims(),
                        moment.dims(),
                        format!("the state's {name} must have its parameter's shape"),
                    ));
                }
            }
        }
        let AdamConfig { beta1, beta2, eps } = self.config;
        no_grad(|| {
            let p = param.detach();
            let g = grad.detach();
            let step = previous.map_or(0, |s| s.step) + 1;
            let (m, v) = match previous {
                Some(s) => (s.exp_avg.detach(), s.exp_avg_sq.detach()),
                None => (p.zeros_like()?, p.zeros_like()?),
            };
            // torch.lerp(m, g, w): m + w (g - m) for w < 0.5, else g - (g - m) (1 - w).
            let weight = 1.0 - beta1;
            let m = if weight < 0.5 {
                m.add(&g.sub(&m)?.scale(weight)?)?
            } else {
                g.sub(&g.sub(&m)?.scale(1.0 - weight)?)?
            };
            // v.mul_(beta2).addcmul_(g, g, value = 1 - beta2).
            let v = v.scale(beta2)?.add(&g.scale(1.0 - beta2)?.mul(&g)?)?;
            let bias_correction1 = 1.0 - libm::pow(beta1, step as f64);
            let bias_correction2 = 1.0 - libm::pow(beta2, step as f64);
            let step_size = lr / bias_correction1;
            let bc2_sqrt = Tensor::scalar(p.backend(), libm::sqrt(bias_correction2))?;
            let denom = v.sqrt()?.div(&bc2_sqrt)?.add_scalar(eps)?;
            // p.addcdiv_(m, denom, value = -step_size).
            let p = p.add(&m.scale(-step_size)?.div(&denom)?)?;
            Ok((
                p,
                AdamMoments {
                    step,
                    exp_avg: m,
                    exp_avg_sq: v,
                },
            ))
        })
    }

    /// Applies one update to every parameter of `model` that has an entry in `grads` (name,
    /// gradient), with learning rate `lr`. Updated parameters are replaced through
    /// [`Module::visit_mut`] by new leaves that require a gradient; parameters without a
    /// gradient are left alone.
    ///
    /// All or nothing: on an error (a gradient for an unknown parameter, a shape mismatch,
    /// duplicate names) neither the model nor the state changes.
    pub fn step<M: Module<B, T> + ?Sized>(
        &mut self,
        model: &mut M,
        grads: &[(String, Tensor<B, T>)],
        lr: f64,
    ) -> Result<()> {
        const OP: &str = "adam";
        if !lr.is_finite() {
            return Err(Error::invalid(
                OP,
                format!("the learning rate must be finite, got {lr}"),
            ));
        }
        let mut by_name: HashMap<&str, &Tensor<B, T>> = HashMap::with_capacity(grads.len());
        for (name, g) in grads {
            if by_name.insert(name.as_str(), g).is_some() {
                return Err(Error::invalid(
                    OP,
                    format!("two gradients for parameter '{name}'"),
                ));
            }
        }
        let mut updates: HashMap<String, Update<B, T>> = HashMap::new();
        let mut first_error: Option<Error> = None;
        let mut seen: HashSet<String> = HashSet::new();
        model.visit(&mut |name, param| {
            if first_error.is_some() {
                return;
            }
            if !seen.insert(name.to_string()) {
                first_error = Some(Error::invalid(
                    OP,
                    format!("the model has two parameters named '{name}'"),
                ));
                return;
            }
            let Some(g) = by_name.get(name) else {
                return;
            };
            match self.update(param, g, self.state.get(name), lr) {
                Ok(u) => {
                    updates.insert(name.to_string(), u);
                }
                Err(e) => {
                    first_error = Some(match e {
                        Error::ShapeMismatch {
                            op,
                            lhs,
                            rhs,
                            reason,
                        } => Error::ShapeMismatch {
                            op,
                            lhs,
                            rhs,
                            reason: format!("parameter '{name}': {reason}"),
                        },
                        other => other,
                    })
                }
            }
        });
        if let Some(e) = first_error {
            return Err(e);
        }
        if let Some((name, _)) = grads.iter().find(|(n, _)| !seen.contains(n.as_str())) {
            return Err(Error::invalid(
                OP,
                format!("a gradient for '{name}', which is not a parameter of the model"),
            ));
        }
        model.visit_mut(&mut |name, param| {
            if let Some((value, moments)) = updates.remove(name) {
                *param = value.requiring_grad();
                self.state.insert(name.to_string(), moments);
            }
        });
        Ok(())
    }
}
