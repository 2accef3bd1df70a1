//! Reductions, broadcasting and their backward rules.

use super::Tensor;
use crate::autograd::{BackwardOp, is_grad_enabled};
use crate::backend::{Backend, BinaryOp, ReduceOp};
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::shape::Shape;

impl<B: Backend, T: Float> Tensor<B, T> {
    /// Reduces `axes` with `op`; `keepdim` keeps them as size-1 axes.
    pub fn reduce(&self, op: ReduceOp, axes: &[usize], keepdim: bool) -> Result<Self> {
        let kept = op.output_shape(self.shape(), axes)?;
        let storage = self
            .backend()
            .reduce(op, self.storage(), self.shape(), axes)?;
        let input_shape = self.shape().clone();
        let reduced = Self::from_op(self.backend(), storage, kept, &[self], || ReduceBackward {
            op,
            input_shape,
        });
        if keepdim {
            Ok(reduced)
        } else {
            let dims: Vec<usize> = (0..self.rank())
                .filter(|a| !axes.contains(a))
                .map(|a| self.dims()[a])
                .collect();
            reduced.reshape(dims)
        }
    }

    /// Sum over `axes`.
    pub fn sum(&self, axes: &[usize], keepdim: bool) -> Result<Self> {
        self.reduce(ReduceOp::Sum, axes, keepdim)
    }

    /// Mean over `axes`.
    pub fn mean(&self, axes: &[usize], keepdim: bool) -> Result<Self> {
        self.reduce(ReduceOp::Mean, axes, keepdim)
    }

    /// Maximum over `axes`; the gradient is shared equally among tied maxima.
    pub fn max(&self, axes: &[usize], keepdim: bool) -> Result<Self> {
        self.reduce(ReduceOp::Max, axes, keepdim)
    }

    /// Minimum over `axes`; the gradient is shared equally among tied minima.
    pub fn min(&self, axes: &[usize], keepdim: bool) -> Result<Self> {
        self.reduce(ReduceOp::Min, axes, keepdim)
    }

    /// The sum of all elements, as a rank-0 tensor.
    pub fn sum_all(&self) -> Result<Self> {
        let axes: Vec<usize> = (0..self.rank()).collect();
        self.sum(&axes, false)
    }

    /// The mean of all elements, as a rank-0 tensor.
    pub fn mean_all(&self) -> Result<Self> {
        let axes: Vec<usize> = (0..self.rank()).collect();
        self.mean(&axes, false)
    }

    /// The broadcast of this tensor to `target` (NumPy rules), materialized.
    pub fn broadcast_to(&self, target: impl Into<Shape>) -> Result<Self> {
        let target = target.into();
        if self.shape() == &target {
            return Ok(self.clone());
        }
        let storage = self
            .backend()
            .broadcast_to(self.storage(), self.shape(), &target)?;
        let input_shape = self.shape().clone();
        Ok(Self::from_op(
            self.backend(),
            storage,
            target,
            &[self],
            || BroadcastBackward { input_shape },
        ))
    }

    /// Sums the axes that broadcasting to this tensor's shape would have added, so that the
    /// result has shape `target` (the adjoint of [`Tensor::broadcast_to`]).
    pub fn sum_to(&self, target: &Shape) -> Result<Self> {
        if self.shape() == target {
            return Ok(self.clone());
        }
        if !target.broadcasts_to(self.shape()) {
            return Err(Error::shapes(
                "sum_to",
                self.dims(),
                target.dims(),
                "the target does not broadcast to the tensor's shape",
            ));
        }
        let lead = self.rank() - target.rank();
        let axes: Vec<usize> = (0..self.rank())
            .filter(|&a| a < lead || (target.dims()[a - lead] == 1 && self.dims()[a] != 1))
            .collect();
        self.sum(&axes, true)?.reshape(target.clone())
    }

    /// This tensor minus its mean over `axes`, recorded as one op. Centering is a linear
    /// projection and its own adjoint, so the gradient is the centered gradient: a reduction
    /// and a subtraction, where the composition `x - x.mean(axes)` differentiates into a
    /// negation, a reduction, a broadcast and an addition over the whole tensor (and twice as
    /// many again at the second order).
    ///
    /// ```
    /// use dualscore_core::backend::reference::Reference;
    /// use dualscore_core::Tensor;
    ///
    /// # fn main() -> dualscore_core::Result<()> {
    /// let x = Tensor::<_, f64>::from_f64(&Reference, &[1.0, 2.0, 6.0, 3.0, 3.0, 3.0], [2, 3])?;
    /// assert_eq!(x.center(&[1])?.to_f64_vec()?, vec![-2.0, -1.0, 3.0, 0.0, 0.0, 0.0]);
    /// # Ok(()) }
    /// ```
    pub fn center(&self, axes: &[usize]) -> Result<Self> {
        let kept = ReduceOp::Mean.output_shape(self.shape(), axes)?;
        let backend = self.backend();
        let mean = backend.reduce(ReduceOp::Mean, self.storage(), self.shape(), axes)?;
        let storage = backend.binary(BinaryOp::Sub, self.storage(), self.shape(), &mean, &kept)?;
        let axes = axes.to_vec();
        Ok(Self::from_op(
            backend,
            storage,
            self.shape().clone(),
            &[self],
            || CenterBackward { axes },
        ))
    }
}

impl<B: Backend, T: Float> Tensor<B, T> {
    /// `(c, v)` with `c = self.center(axes)` and `v = c.square().mean(axes, true)`, the
    /// variance over `axes`. Where no gradient is recorded (in
    /// [`no_grad`](crate::autograd::no_grad), or
    /// for a tensor that needs none) it is one [`Backend::center_with_variance`] call, which a
    /// backend may fuse; otherwise the recorded operations above.
    ///
    /// ```
    /// use dualscore_core::backend::reference::Reference;
    /// use dualscore_core::Tensor;
    /// # fn main() -> dualscore_core::Result<()> {
    /// let x = Tensor::<_, f64>::from_f64(&Reference, &[1.0, 3.0, 2.0, 2.0], [2, 2])?;
    /// let (centered, variance) = x.center_with_variance(&[1])?;
    /// assert_eq!(centered.to_f64_vec()?, vec![-1.0, 1.0, 0.0, 0.0]);
    /// assert_eq!(variance.to_f64_vec()?, vec![1.0, 0.0]);
    /// assert_eq!(variance.dims(), [2, 1]);
    /// # Ok(()) }
    /// ```
    pub fn center_with_variance(&self, axes: &[usize]) -> Result<(Self, Self)> {
        if is_grad_enabled() && self.requires_grad() {
            let centered = self.center(axes)?;
            let variance = centered.square()?.mean(axes, true)?;
            return Ok((centered, variance));
        }
        let kept = self.shape().reduced("center_with_variance", axes)?;
        let backend = self.backend();
        let (centered, variance) =
            backend.center_with_variance(self.storage(), self.shape(), axes)?;
        Ok((
            Self::constant(backend, centered, self.shape().clone()),
            Self::constant(backend, variance, kept),
        ))
    }
}

struct CenterBackward {
    axes: Vec<usize>,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for CenterBackward {
    fn name(&self) -> &'static str {
        "center"
    }

    fn backward(
        &self,
        _inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        _needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        Ok(vec![Some(g.center(&self.axes)?)])
    }
}

struct ReduceBackward {
    op: ReduceOp,
    input_shape: Shape,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for ReduceBackward {
    fn name(&self) -> &'static str {
        self.op.name()
    }

    fn backward(
        &self,
        inputs: &[Tensor<B, T>],
        output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        _needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let spread = g.broadcast_to(self.input_shape.clone())?;
        let gx = match self.op {
            ReduceOp::Sum => spread,
            ReduceOp::Mean => {
                let count = self.input_shape.numel() / g.numel().max(1);
                spread.scale(1.0 / count.max(1) as f64)?
            }
            ReduceOp::Max | ReduceOp::Min => {
                let x = &inputs[0];
                let extreme = match output {
                    Some(o) => o.detach(),
                    None => {
                        let axes = reduced_axes(&self.input_shape, g.shape());
                        x.detach().reduce(self.op, &axes, true)?
                    }
                };
                let mask = x.eq(&extreme)?;
                let axes = reduced_axes(&self.input_shape, g.shape());
                let ties = mask.sum(&axes, true)?;
                spread.mul(&mask.div(&ties)?)?
            }
        };
        Ok(vec![Some(gx)])
    }
}

/// The axes of `input` that were reduced to size 1 in `kept`.
fn reduced_axes(input: &Shape, kept: &Shape) -> Vec<usize> {
    (0..input.rank())
        .filter(|&a| kept.dims()[a] == 1 && input.dims()[a] != 1)
        .collect()
}

struct BroadcastBackward {
    input_shape: Shape,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for BroadcastBackward {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }

    fn backward(
        &self,
        _inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        _needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        Ok(vec![Some(g.sum_to(&self.input_shape)?)])
    }
}
