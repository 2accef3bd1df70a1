//! The energy/score duality: an energy U(y, t) = -log p(y, t) + const gives the energy gradient
//! grad_y U (the score is its negative) and the time derivative dU/dt by differentiation.
//!
//! Six names, one idea each:
//!
//! - [`Energy`] (trait): a scalar U(y, t) per sample. Its provided method
//!   [`Energy::energy_gradients`] differentiates it once, giving an [`EnergyGradients`]:
//!   U, grad_y U and dU/dt, all three always present.
//! - [`ScoreModel`] (trait): what score matching trains and evaluates. It gives
//!   [`ScoreTerms`]: grad_y U always; U and dU/dt only when the model is an energy (the dual
//!   objective needs dU/dt, the single one does not). Every energy is a score model; the
//!   [`energy_score_model!`](crate::energy_score_model) macro writes that implementation.
//! - [`ScoreNetwork`] (trait, in [`nn`](crate::nn)): a network s(y, t) whose output has the
//!   shape of y, such as the [`UNet`](crate::nn::UNet). It is neither an energy nor a score
//!   model by itself; it becomes one of them by a wrapper:
//!   - [`InnerProduct`]: the energy U = 1/2 <y, s(y, t)> (the paper's model);
//!   - [`ScoreNetworkModel`]: s used directly as grad_y U, a score model with no energy (the
//!     score-network baseline, trainable by single score matching only).
//!
//! `EnergyGradients` and `ScoreTerms` hold the same derivatives; they differ only in whether U
//! and dU/dt may be missing, and `ScoreTerms::from` turns the first into the second.
//!
//! Why a macro rather than one `impl<E: Energy<B, T>> ScoreModel<B, T> for E`: that blanket
//! implementation would overlap [`ScoreNetworkModel`]'s, because a downstream crate with a
//! backend of its own may implement `Energy<ItsBackend, T>` for `ScoreNetworkModel<N>`, and
//! coherence must allow for it. (The blanket implementations for closures do not overlap: no
//! crate can implement `Fn` for `ScoreNetworkModel`.)

mod gaussian_base;
mod in_parts;
mod inner_product;

pub use gaussian_base::{BaseBasis, Basis, GaussianBase};
pub use in_parts::energy_in_parts;
pub use inner_product::{
    DEFAULT_TIME_OFFSET_T0, InnerProduct, InnerProductConfig, Preconditioning, TimeOffset,
    TimeOffsetConfig,
};

pub mod analytic;
pub mod families;

use crate::autograd::{Graph, grad, is_grad_enabled, with_grad_mode};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::nn::{Module, ScoreNetwork};
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
    /// t (so dU/dt is at fixed y). With [`Graph::Keep`] the derivatives stay on the graph, so a
    /// loss built from them can be differentiated with respect to the parameters.
    fn energy_gradients(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        graph: Graph,
    ) -> Result<EnergyGradients<B, T>> {
        let y_leaf = y.detach().requiring_grad();
        let t_leaf = t.detach().requiring_grad();
        let energy = self.energy(&y_leaf, &t_leaf)?;
        check_energy_shape(&energy, &t_leaf)?;
        let grads = grad(&[&energy], &[&y_leaf, &t_leaf], graph.into())?;
        let [grad_y, grad_t]: [Tensor<B, T>; 2] = grads.try_into().expect("one gradient per input");
        let energy = match graph {
            Graph::Keep => energy,
            Graph::Drop => energy.detach(),
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
/// Every [`Energy`] is a score model through [`Energy::energy_gradients`] (all three from one
/// reverse pass): write that implementation with
/// [`energy_score_model!`](crate::energy_score_model). Closures of (y, t) are both. A score
/// network used directly as the score ([`ScoreNetworkModel`]) gives only grad_y U: it can be
/// trained by single (denoising) score matching, not dual.
pub trait ScoreModel<B: Backend, T: Float> {
    /// The derivatives at (y, t); with [`Graph::Keep`] they stay on the graph.
    fn score_terms(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        graph: Graph,
    ) -> Result<ScoreTerms<B, T>>;
}

/// The output of [`ScoreModel::score_terms`]: an [`EnergyGradients`] whose U and dU/dt are
/// missing for a model that is no energy.
#[derive(Clone, Debug)]
pub struct ScoreTerms<B: Backend, T: Float> {
    /// grad_y U, the shape of y.
    pub grad_y: Tensor<B, T>,
    /// dU/dt at fixed y, `[N]`, for energy models.
    pub grad_t: Option<Tensor<B, T>>,
    /// U(y, t), `[N]`, for energy models.
    pub energy: Option<Tensor<B, T>>,
}

impl<B: Backend, T: Float> From<EnergyGradients<B, T>> for ScoreTerms<B, T> {
    fn from(g: EnergyGradients<B, T>) -> Self {
        ScoreTerms {
            grad_y: g.grad_y,
            grad_t: Some(g.grad_t),
            energy: Some(g.energy),
        }
    }
}

/// The score terms of an energy: U, grad_y U and dU/dt from [`Energy::energy_gradients`]. The
/// body of every implementation that [`energy_score_model!`](crate::energy_score_model) writes.
pub fn energy_score_terms<B: Backend, T: Float, E: Energy<B, T> + ?Sized>(
    energy: &E,
    y: &Tensor<B, T>,
    t: &Tensor<B, T>,
    graph: Graph,
) -> Result<ScoreTerms<B, T>> {
    Ok(energy.energy_gradients(y, t, graph)?.into())
}

/// Implements [`ScoreModel`](crate::energy::ScoreModel) for an
/// [`Energy`](crate::energy::Energy) type by
/// [`energy_score_terms`](crate::energy::energy_score_terms). The argument is the header of
/// the implementation, each generic parameter with one bound:
///
/// ```
/// use dualscore_core::backend::Backend;
/// use dualscore_core::energy::{Energy, ScoreModel};
/// use dualscore_core::{Float, Result, Tensor};
///
/// /// U = 1/2 |y|^2, whatever t.
/// struct Half;
///
/// impl<B: Backend, T: Float> Energy<B, T> for Half {
///     fn energy(&self, y: &Tensor<B, T>, _t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
///         y.square()?.sum(&[1], false)?.scale(0.5)
///     }
/// }
///
/// dualscore_core::energy_score_model!(impl<B: Backend, T: Float> ScoreModel<B, T> for Half);
/// ```
///
/// Why not one blanket implementation: see the [`energy`](crate::energy) module.
#[macro_export]
macro_rules! energy_score_model {
    (impl $(<$($param:ident: $bound:path),* $(,)?>)? ScoreModel<$b:ty, $t:ty> for $ty:ty) => {
        impl<$($($param: $bound),*)?> $crate::energy::ScoreModel<$b, $t> for $ty {
            fn score_terms(
                &self,
                y: &$crate::tensor::Tensor<$b, $t>,
                t: &$crate::tensor::Tensor<$b, $t>,
                graph: $crate::autograd::Graph,
            ) -> $crate::error::Result<$crate::energy::ScoreTerms<$b, $t>> {
                $crate::energy::energy_score_terms(self, y, t, graph)
            }
        }
    };
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
        graph: Graph,
    ) -> Result<ScoreTerms<B, T>> {
        energy_score_terms(self, y, t, graph)
    }
}

/// A network used directly as the energy gradient, grad_y U = s(y, t) (the score-network
/// baseline: the same architecture, no energy).
#[derive(Clone, Debug)]
pub struct ScoreNetworkModel<N> {
    /// The network s(y, t).
    pub network: N,
}

impl<B: Backend, T: Float, N: ScoreNetwork<B, T>> ScoreModel<B, T> for ScoreNetworkModel<N> {
    fn score_terms(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        graph: Graph,
    ) -> Result<ScoreTerms<B, T>> {
        let grad_y = with_grad_mode(graph.is_keep() && is_grad_enabled(), || {
            self.network.forward(y, t)
        })?;
        Ok(ScoreTerms {
            grad_y,
            grad_t: None,
            energy: None,
        })
    }
}

impl<B: Backend, T: Float, N: Module<B, T>> Module<B, T> for ScoreNetworkModel<N> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        self.network.visit(f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        self.network.visit_mut(f);
    }
}
