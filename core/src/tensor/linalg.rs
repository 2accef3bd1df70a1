//! Matrix products and their backward rules.

use super::Tensor;
use crate::autograd::BackwardOp;
use crate::backend::{Backend, MatmulSpec};
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::shape::Shape;

impl<B: Backend, T: Float> Tensor<B, T> {
    /// The matrix product over the last two axes; leading (batch) axes broadcast.
    ///
    /// ```
    /// use dualscore_core::backend::reference::Reference;
    /// use dualscore_core::tensor::Tensor;
    /// # fn main() -> dualscore_core::Result<()> {
    /// let a = Tensor::<_, f64>::from_f64(&Reference, &[1.0, 2.0, 3.0, 4.0], [2, 2])?;
    /// let v = Tensor::from_f64(&Reference, &[1.0, 1.0], [2, 1])?;
    /// assert_eq!(a.matmul(&v)?.to_f64_vec()?, vec![3.0, 7.0]);
    /// # Ok(()) }
    /// ```
    pub fn matmul(&self, rhs: &Self) -> Result<Self> {
        self.matmul_t(rhs, false, false)
    }

    /// `op(self) @ op(rhs)` where `op` swaps the last two axes when its flag is set (no copy is
    /// made for the transposes).
    pub fn matmul_t(&self, rhs: &Self, transpose_lhs: bool, transpose_rhs: bool) -> Result<Self> {
        const OP: &str = "matmul";
        if self.rank() < 2 || rhs.rank() < 2 {
            return Err(Error::shapes(
                OP,
                self.dims(),
                rhs.dims(),
                "both operands need at least 2 axes",
            ));
        }
        let (a_batch, a_mat) = self.dims().split_at(self.rank() - 2);
        let (b_batch, b_mat) = rhs.dims().split_at(rhs.rank() - 2);
        let (m, k) = if transpose_lhs {
            (a_mat[1], a_mat[0])
        } else {
            (a_mat[0], a_mat[1])
        };
        let (k2, n) = if transpose_rhs {
            (b_mat[1], b_mat[0])
        } else {
            (b_mat[0], b_mat[1])
        };
        if k != k2 {
            return Err(Error::shapes(
                OP,
                self.dims(),
                rhs.dims(),
                format!("contracted sizes differ: {k} and {k2}"),
            ));
        }
        let (batch_dims, lhs_batched, rhs_batched) = if a_batch == b_batch {
            (a_batch.to_vec(), true, true)
        } else if b_batch.is_empty() {
            (a_batch.to_vec(), true, false)
        } else if a_batch.is_empty() {
            (b_batch.to_vec(), false, true)
        } else {
            let common = Shape::broadcast(OP, &a_batch.into(), &b_batch.into())?;
            let with = |mat: &[usize]| Shape::new([common.dims(), mat].concat());
            let a = self.broadcast_to(with(a_mat))?;
            let b = rhs.broadcast_to(with(b_mat))?;
            return a.matmul_t(&b, transpose_lhs, transpose_rhs);
        };
        let spec = MatmulSpec {
            batch: batch_dims.iter().product(),
            m,
            k,
            n,
            transpose_lhs,
            transpose_rhs,
            lhs_batched,
            rhs_batched,
        };
        let storage = self
            .backend()
            .matmul(self.storage(), rhs.storage(), &spec)?;
        let shape = Shape::new([batch_dims.as_slice(), &[m, n]].concat());
        Ok(Self::from_op(
            self.backend(),
            storage,
            shape,
            &[self, rhs],
            || MatmulBackward {
                transpose_lhs,
                transpose_rhs,
            },
        ))
    }
}

struct MatmulBackward {
    transpose_lhs: bool,
    transpose_rhs: bool,
}

impl<B: Backend, T: Float> BackwardOp<B, T> for MatmulBackward {
    fn name(&self) -> &'static str {
        "matmul"
    }

    fn backward(
        &self,
        inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let (ta, tb) = (self.transpose_lhs, self.transpose_rhs);
        let ga = if needs.first().copied().unwrap_or(false) {
            let raw = if ta {
                b.matmul_t(g, tb, true)?
            } else {
                g.matmul_t(b, false, !tb)?
            };
            Some(raw.sum_to(a.shape())?)
        } else {
            None
        };
        let gb = if needs.get(1).copied().unwrap_or(false) {
            let raw = if tb {
                g.matmul_t(a, true, ta)?
            } else {
                a.matmul_t(g, !ta, false)?
            };
            Some(raw.sum_to(b.shape())?)
        } else {
            None
        };
        Ok(vec![ga, gb])
    }
}
