//! The energy/score duality: an energy U(y, t) = -log p(y, t) + const gives the energy gradient
//! grad_y U (the score is its negative) and the time derivative dU/dt by differentiation.

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
        let mut grads = grad(
            &[&energy],
            &[&y, &t],
            GradOptions {
                create_graph,
                retain_graph: None,
            },
        )?;
        let grad_t = grads.pop().expect("two inputs");
        let grad_y = grads.pop().expect("two inputs");
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
