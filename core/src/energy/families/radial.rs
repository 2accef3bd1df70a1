//! The radial mixture energy of the paper's single-vs-dual experiment.

use crate::backend::Backend;
use crate::energy::Energy;
use crate::error::{Error, Result};
use crate::nn::{Activation, Init, Mlp, Module, visit_scoped, visit_scoped_mut};
use crate::scalar::Float;
use crate::tensor::Tensor;

/// U(y, t) = -logsumexp_k(-(a_k(t) ||y||^2 + b_k(t))) for K components, with
/// (log a_1..log a_K, b_1/d..b_K/d) = MLP(log(t + t0)).
///
/// The true noisy density of a Gaussian scale mixture sum_k w_k N(0, s_k^2 I) is in the
/// family: a_k = 1/(2 (s_k^2 + t)), b_k = d/2 ln(2 pi (s_k^2 + t)) - ln w_k. The paper's MLP
/// outputs a_k directly; here it outputs log a_k, so every member is normalizable (a_k > 0)
/// from the first step. The b outputs are scaled by d so that weights of order 1 reach
/// energies of order d.
#[derive(Clone, Debug)]
pub struct RadialMixtureEnergy<B: Backend, T: Float> {
    /// The MLP of log(t + t0), 2K outputs.
    pub mlp: Mlp<B, T>,
    /// Number of components K.
    pub components: usize,
    /// The input of the MLP is log(t + t0).
    pub t0: f64,
}

impl<B: Backend, T: Float> RadialMixtureEnergy<B, T> {
    /// A model with `components` components and an MLP of `hidden` layers of `width` units
    /// (the paper: 2 components, 4 layers of 256, GELU, t0 = 0.01).
    pub fn new(
        backend: &B,
        init: &mut Init,
        components: usize,
        width: usize,
        hidden: usize,
        activation: Activation,
        t0: f64,
    ) -> Result<Self> {
        if components == 0 || !(t0.is_finite() && t0 > 0.0) {
            return Err(Error::invalid(
                "RadialMixtureEnergy",
                "needs at least one component and t0 > 0",
            ));
        }
        Ok(RadialMixtureEnergy {
            mlp: Mlp::new(backend, init, 1, width, hidden, 2 * components, activation)?,
            components,
            t0,
        })
    }

    /// Sets the output layer's biases so that the model starts near an equal-weight mixture
    /// of N(0, v_k I) (at small t): log a_k = ln(1 / (2 v_k)), b_k / d = 1/2 ln(2 pi v_k).
    /// Spreading the v_k breaks the symmetry between components, which gradient descent
    /// otherwise removes only slowly.
    pub fn with_initial_variances(mut self, variances: &[f64]) -> Result<Self> {
        if variances.len() != self.components
            || variances.iter().any(|v| !(v.is_finite() && *v > 0.0))
        {
            return Err(Error::invalid(
                "RadialMixtureEnergy",
                format!(
                    "{} positive initial variances needed, got {variances:?}",
                    self.components
                ),
            ));
        }
        let Some(last) = self.mlp.layers.last_mut() else {
            return Ok(self);
        };
        let log_a = variances.iter().map(|v| (0.5 / v).ln());
        let b = variances
            .iter()
            .map(|v| 0.5 * (2.0 * std::f64::consts::PI * v).ln());
        let bias: Vec<f64> = log_a.chain(b).collect();
        let backend = last.weight.backend().clone();
        last.bias = Some(Tensor::from_f64(&backend, &bias, [bias.len()])?);
        Ok(self)
    }

    /// (a_k(t), b_k(t)) per sample, each `[N, K]`, for samples of dimension `d`.
    pub fn coefficients(&self, t: &Tensor<B, T>, d: usize) -> Result<(Tensor<B, T>, Tensor<B, T>)> {
        let n = t.numel();
        let out = self
            .mlp
            .forward(&t.add_scalar(self.t0)?.log()?.reshape([n, 1])?)?;
        let a = out.slice(1, 0, self.components)?.exp()?;
        let b = out
            .slice(1, self.components, self.components)?
            .scale(d as f64)?;
        Ok((a, b))
    }
}

impl<B: Backend, T: Float> Energy<B, T> for RadialMixtureEnergy<B, T> {
    fn energy(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        let n = y.dims().first().copied().unwrap_or(0);
        let d = y.numel() / n.max(1);
        let flat = y.reshape([n, d])?;
        let r2 = flat.square()?.sum(&[1], true)?;
        let (a, b) = self.coefficients(t, d)?;
        let exponents = a.mul(&r2)?.add(&b)?.neg()?;
        let max = exponents.max(&[1], true)?.detach();
        let lse = exponents
            .sub(&max)?
            .exp()?
            .sum(&[1], true)?
            .log()?
            .add(&max)?;
        lse.neg()?.reshape([n])
    }
}

crate::energy_score_model!(
    impl<B: Backend, T: Float> ScoreModel<B, T> for RadialMixtureEnergy<B, T>
);

impl<B: Backend, T: Float> Module<B, T> for RadialMixtureEnergy<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        visit_scoped("mlp", &self.mlp, f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        visit_scoped_mut("mlp", &mut self.mlp, f);
    }
}
