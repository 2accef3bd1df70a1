//! Layout ops (reshape, permute, slice, concat, pad, flip) and their backward rules.

use super::Tensor;
use crate::autograd::BackwardOp;
use crate::backend::{Backend, concat_shape, pad_shape, slice_shape};
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::shape::Shape;

impl<B: Backend, T: Float> Tensor<B, T> {
    /// Reorders axes: output axis `i` is input axis `axes[i]`.
    pub fn permute(&self, axes: &[usize]) -> Result<Self> {
        let shape = self.shape().permuted("permute", axes)?;
        let storage = self.backend().permute(self.storage(), self.shape(), axes)?;
        let axes = axes.to_vec();
        Ok(Self::from_op(
            self.backend(),
            storage,
            shape,
            &[self],
            || PermuteBackward { axes },
        ))
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Self> {
        self.shape().dim("transpose", a)?;
        self.shape().dim("transpose", b)?;
        let mut axes: Vec<usize> = (0..self.rank()).collect();
        axes.swap(a, b);
        self.permute(&axes)
    }

    /// The elements `start..start + len` along `axis`.
    pub fn slice(&self, axis: usize, start: usize, len: usize) -> Result<Self> {
        let shape = slice_shape(self.shape(), axis, start, len)?;
        let storage = self
            .backend()
            .slice(self.storage(), self.shape(), axis, start, len)?;
        let size = self.dims()[axis];
        Ok(Self::from_op(
            self.backend(),
            storage,
            shape,
            &[self],
            || SliceBackward {
                axis,
                start,
                len,
                size,
            },
        ))
    }

    /// Joins tensors along `axis`; all other axes must agree.
    pub fn concat(parts: &[&Self], axis: usize) -> Result<Self> {
        let first = parts
            .first()
            .ok_or_else(|| Error::invalid("concat", "nothing to concatenate"))?;
        let shapes: Vec<&Shape> = parts.iter().map(|p| p.shape()).collect();
        let shape = concat_shape(&shapes, axis)?;
        let pairs: Vec<(&B::Storage<T>, &Shape)> =
            parts.iter().map(|p| (p.storage(), p.shape())).collect();
        let storage = first.backend().concat(&pairs, axis)?;
        let sizes: Vec<usize> = parts.iter().map(|p| p.dims()[axis]).collect();
        Ok(Self::from_op(
            first.backend(),
            storage,
            shape,
            parts,
            || ConcatBackward { axis, sizes },
        ))
    }

    /// Zero padding, `(before, after)` per axis.
    pub fn pad(&self, pads: &[(usize, usize)]) -> Result<Self> {
        let shape = pad_shape(self.shape(), pads)?;
        let storage = self.backend().pad(self.storage(), self.shape(), pads)?;
        let pads = pads.to_vec();
        let input_shape = self.shape().clone();
        Ok(Self::from_op(
            self.backend(),
            storage,
            shape,
            &[self],
            || PadBackward { pads, input_shape },
        ))
    }

    /// Reverses the order of elements along each of `axes`.
    pub fn flip(&self, axes: &[usize]) -> Result<Self> {
        let storage = self.backend().flip(self.storage(), self.shape(), axes)?;
        let axes = axes.to_vec();
        Ok(Self::from_op(
            self.backend(),
            storage,
            self.shape().clone(),
            &[self],
            || FlipBackward { axes },
        ))
    }
}

pub(super) struct ReshapeBackward {
    pub(super) input_shape: Shape,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for ReshapeBackward {
    fn name(&self) -> &'static str {
        "reshape"
    }

    fn backward(
        &self,
        _inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        _needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        Ok(vec![Some(g.reshape(self.input_shape.clone())?)])
    }
}

struct PermuteBackward {
    axes: Vec<usize>,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for PermuteBackward {
    fn name(&self) -> &'static str {
        "permute"
    }

    fn backward(
        &self,
        _inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        _needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let mut inverse = vec![0; self.axes.len()];
        for (i, &a) in self.axes.iter().enumerate() {
            inverse[a] = i;
        }
        Ok(vec![Some(g.permute(&inverse)?)])
    }
}

struct SliceBackward {
    axis: usize,
    start: usize,
    len: usize,
    size: usize,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for SliceBackward {
    fn name(&self) -> &'static str {
        "slice"
    }

    fn backward(
        &self,
        _inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        _needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let mut pads = vec![(0, 0); g.rank()];
        pads[self.axis] = (self.start, self.size - self.start - self.len);
        Ok(vec![Some(g.pad(&pads)?)])
    }
}

struct ConcatBackward {
    axis: usize,
    sizes: Vec<usize>,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for ConcatBackward {
    fn name(&self) -> &'static str {
        "concat"
    }

    fn backward(
        &self,
        _inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let mut start = 0;
        let mut grads = Vec::with_capacity(self.sizes.len());
        for (i, &size) in self.sizes.iter().enumerate() {
            grads.push(if needs.get(i).copied().unwrap_or(false) {
                Some(g.slice(self.axis, start, size)?)
            } else {
                None
            });
            start += size;
        }
        Ok(grads)
    }
}

struct PadBackward {
    pads: Vec<(usize, usize)>,
    input_shape: Shape,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for PadBackward {
    fn name(&self) -> &'static str {
        "pad"
    }

    fn backward(
        &self,
        _inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        _needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let mut gx = g.clone();
        for (axis, &(before, _)) in self.pads.iter().enumerate() {
            let size = self.input_shape.dims()[axis];
            if gx.dims()[axis] != size {
                gx = gx.slice(axis, before, size)?;
            }
        }
        Ok(vec![Some(gx)])
    }
}

struct FlipBackward {
    axes: Vec<usize>,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for FlipBackward {
    fn name(&self) -> &'static str {
        "flip"
    }

    fn backward(
        &self,
        _inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        _needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        Ok(vec![Some(g.flip(&self.axes)?)])
    }
}
