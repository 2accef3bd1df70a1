//! The energy/score duality: an energy U(y, t) = -log p(y, t) + const gives the energy gradient
//! grad_y U (the score is its negative) and the time derivative dU/dt by differentiation.

mod gaussian_base;
mod inner_product;

pub use gaussian_base::{BaseBasis, Basis, GaussianBase};
pub use inner_product::{
    DEFAULT_TIME_OFFSET_T0, InnerProduct, InnerProductConfig, Preconditioning, TimeOffset,
    TimeOffsetConfig,
};

pub mod analytic;
pub mod families;

use crate::autograd::{GradOptions, grad};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::tensor::Tensor;

/// The derivatives of an energy at (y, t), y and t independent.
#[derive(Clone, Debug)]
pub struct EnergyGradients<B: Backend, T: Float> {
    /// U(y, t) per sample, shape `[N]`.
    pub energy: Tensor<B, T>,
    /// grad_y U, the shape of y. The score is its negative.
    pub grad_y: Tensor<B, T>,
    /// dU/dt at fixed y, shape `[N]`.
    pub grad_t: Tensor<B, T>,
}

/// An energy U(y, t) per sample, with y of shape `[N, ...]` and t (the noise variance) of
/// shape `[N]`.
///
/// Any closure `Fn(&Tensor, &Tensor) -> Result<Tensor>` is an energy.
pub trait Energy<B: Backend, T: Float> {
    /// U(y, t), shape `[N]`.
    fn energy(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<Tensor<B, T>>;

    /// U, grad_y U and dU/dt from one reverse pass of sum_n U with respect to fresh leaves y and
    /// t (so dU/dt is at fixed y). With `create_graph` the derivatives stay on the graph, so a
    /// loss built from them can be differentiated with respect to the parameters.
    fn energy_gradients(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        create_graph: bool,
    ) -> Result<EnergyGradients<B, T>> {
        let y = y.detach().requiring_grad();
        let t = t.detach().requiring_grad();
        let energy = self.energy(&y, &t)?;
        check_energy_shape(&energy, &t)?;
        let grads = grad(
            &[&energy],
            &[&y, &t],
            GradOptions {
                create_graph,
                retain_graph: None,
            },
        )?;
        let [grad_y, grad_t]: [Tensor<B, T>; 2] = grads.try_into().expect("one gradient per input");
        let energy = if create_graph {
            energy
        } else {
            energy.detach()
        };
        Ok(EnergyGradients {
            energy,
            grad_y,
            grad_t,
        })
    }
}

impl<B, T, F> Energy<B, T> for F
where
    B: Backend,
    T: Float,
    F: Fn(&Tensor<B, T>, &Tensor<B, T>) -> Result<Tensor<B, T>>,
{
    fn energy(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        self(y, t)
    }
}

fn check_energy_shape<B: Backend, T: Float>(energy: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<()> {
    if energy.shape() != t.shape() {
        return Err(Error::shapes(
            "energy",
            energy.dims(),
            t.dims(),
            "an energy must give one value per sample, the shape of t",
        ));
    }
    Ok(())
}

/// What score matching needs from a model: the energy gradient grad_y U (whose negative is the
/// score), and for an energy model also U and dU/dt.
///
/// An energy is a score model through [`Energy::energy_gradients`] (all three from one reverse
/// pass): implement this trait with [`energy_score_terms`]. Closures of (y, t) are both. A
/// score network used directly as the score ([`ScoreNetworkModel`]) gives only grad_y U: it can
/// be trained by single (denoising) score matching, not dual.
pub trait ScoreModel<B: Backend, T: Float> {
    /// The derivatives at (y, t); with `create_graph` they stay on the graph.
    fn score_terms(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        create_graph: bool,
    ) -> Result<ScoreTerms<B, T>>;
}

/// The output of [`ScoreModel::score_terms`].
#[derive(Clone, Debug)]
pub struct ScoreTerms<B: Backend, T: Float> {
    /// grad_y U, the shape of y.
    pub grad_y: Tensor<B, T>,
    /// dU/dt at fixed y, `[N]`, for energy models.
    pub grad_t: Option<Tensor<B, T>>,
    /// U(y, t), `[N]`, for energy models.
    pub energy: Option<Tensor<B, T>>,
}

/// The score terms of an energy: U, grad_y U and dU/dt from [`Energy::energy_gradients`].
pub fn energy_score_terms<B: Backend, T: Float, E: Energy<B, T> + ?Sized>(
    energy: &E,
    y: &Tensor<B, T>,
    t: &Tensor<B, T>,
    create_graph: bool,
) -> Result<ScoreTerms<B, T>> {
    let g = energy.energy_gradients(y, t, create_graph)?;
    Ok(ScoreTerms {
        grad_y: g.grad_y,
        grad_t: Some(g.grad_t),
        energy: Some(g.energy),
    })
}

impl<B, T, F> ScoreModel<B, T> for F
where
    B: Backend,
    T: Float,
    F: Fn(&Tensor<B, T>, &Tensor<B, T>) -> Result<Tensor<B, T>>,
{
    fn score_terms(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        create_graph: bool,
    ) -> Result<ScoreTerms<B, T>> {
        energy_score_terms(self, y, t, create_graph)
    }
}

/// A network used directly as the energy gradient, grad_y U = s(y, t) (the score-network
/// baseline: the same architecture, no energy).
#[derive(Clone, Debug)]
pub struct ScoreNetworkModel<N> {
    /// The network s(y, t).
    pub network: N,
}

impl<B: Backend, T: Float, N: crate::nn::ScoreNetwork<B, T>> ScoreModel<B, T>
    for ScoreNetworkModel<N>
{
    fn score_terms(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        create_graph: bool,
    ) -> Result<ScoreTerms<B, T>> {
        let grad_y = crate::autograd::with_grad_mode(
            create_graph && crate::autograd::is_grad_enabled(),
            || self.network.forward(y, t),
        )?;
        Ok(ScoreTerms {
            grad_y,
            grad_t: None,
            energy: None,
        })
    }
}

impl<B: Backend, T: Float, N: crate::nn::Module<B, T>> crate::nn::Module<B, T>
    for ScoreNetworkModel<N>
{
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        self.network.visit(f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        self.network.visit_mut(f);
    }
}
