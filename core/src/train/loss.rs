//! The dual score matching loss (docs/METHOD.md section 3), targets computed from z.

use crate::autograd::{Graph, no_grad};
use crate::backend::Backend;
use crate::energy::ScoreModel;
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::tensor::Tensor;

/// Which terms the loss has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Objective {
    /// Denoising and time score matching: the normalization is learned.
    #[default]
    Dual,
    /// Denoising score matching only (the baseline; U is fixed only up to a constant per t).
    Single,
}

/// The loss and its per-sample terms.
#[derive(Clone, Debug)]
pub struct ScoreMatchingLoss<B: Backend, T: Float> {
    /// mean over the batch of (dsm + tsm), a rank-0 tensor on the graph.
    pub loss: Tensor<B, T>,
    /// ||sqrt(t) grad_y U - z||^2 / d per sample.
    pub dsm: Tensor<B, T>,
    /// ((1 - ||z||^2 / d) / 2 - (t / d) dU/dt)^2 per sample (zeros for [`Objective::Single`]).
    pub tsm: Tensor<B, T>,
}

/// The score matching loss of `model` on clean images `x` (`[N, ...]`), noise variances `t`
/// (`[N]`) and standard normal noise `z` (the shape of `x`), with `y = x + sqrt(t) z` built
/// outside the graph. Differentiate `loss` with respect to the parameters: the derivatives
/// inside it are kept on the graph (second-order differentiation).
pub fn score_matching_loss<B: Backend, T: Float, M: ScoreModel<B, T> + ?Sized>(
    model: &M,
    x: &Tensor<B, T>,
    t: &Tensor<B, T>,
    z: &Tensor<B, T>,
    objective: Objective,
) -> Result<ScoreMatchingLoss<B, T>> {
    const OP: &str = "score_matching_loss";
    if x.shape() != z.shape() {
        return Err(Error::shapes(
            OP,
            x.dims(),
            z.dims(),
            "x and z must have one shape",
        ));
    }
    if x.rank() < 1 || t.dims() != [x.dims()[0]] {
        return Err(Error::shapes(
            OP,
            x.dims(),
            t.dims(),
            "t must hold one noise variance per image of x",
        ));
    }
    let n = x.dims()[0];
    let d = x.numel() / n.max(1);
    let per_image: Vec<usize> = std::iter::once(n)
        .chain(std::iter::repeat_n(1, x.rank() - 1))
        .collect();
    let image_axes: Vec<usize> = (1..x.rank()).collect();
    let (y, sqrt_t, tsm_target) = no_grad(|| -> Result<_> {
        let t = t.detach();
        let sqrt_t = t.sqrt()?.reshape(per_image.clone())?;
        let y = x.detach().add(&sqrt_t.mul(z)?)?;
        let z_norm = z.square()?.sum(&image_axes, false)?;
        let tsm_target = z_norm.affine(-0.5 / d as f64, 0.5)?;
        Ok((y, sqrt_t, tsm_target))
    })?;
    let terms = model.score_terms(&y, t, Graph::Keep)?;
    let residual = sqrt_t.mul(&terms.grad_y)?.sub(z)?;
    let dsm = residual
        .square()?
        .sum(&image_axes, false)?
        .scale(1.0 / d as f64)?;
    let tsm = match objective {
        Objective::Dual => {
            let grad_t = terms.grad_t.as_ref().ok_or_else(|| {
                Error::invalid(
                    OP,
                    "dual score matching needs dU/dt: the model is not an energy (train it with the single objective)",
                )
            })?;
            tsm_target
                .sub(&t.detach().mul(grad_t)?.scale(1.0 / d as f64)?)?
                .square()?
        }
        Objective::Single => dsm.detach().zeros_like()?,
    };
    let loss = dsm.add(&tsm)?.mean_all()?;
    Ok(ScoreMatchingLoss { loss, dsm, tsm })
}
