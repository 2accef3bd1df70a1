//! The reference backend: naive loops on host vectors, every kernel evaluated in f64.
//!
//! It is the oracle of the tests, not a fast path. Each kernel is written straight from the
//! definition in [`crate::backend::ops`], with clarity over speed (but linear in the work); the
//! checks of [`validate`], shared by every backend, make it accept and reject exactly what
//! every other backend does. Arithmetic kernels convert their inputs to f64, compute, and
//! round the results to the element type once; layout kernels copy elements unchanged.
//!
//! Each trait method validates its call with [`validate`] and hands the result to its kernel,
//! which trusts its inputs. The kernels live in one file per family: `elementwise`, `reduce`
//! (with broadcasting), `linalg` (matmul), `conv` and `layout`; `index` holds the row-major
//! index arithmetic they share.

mod conv;
mod elementwise;
mod index;
mod layout;
mod linalg;
mod reduce;

use super::ops::{BinaryOp, Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp, UnaryOp};
use super::{Backend, alloc, validate};
use crate::error::Result;
use crate::scalar::Float;
use crate::shape::Shape;

/// The reference backend: host `Vec` storage and naive kernels computed in f64.
///
/// ```
/// use dualscore_core::Backend;
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::backend::BinaryOp;
/// use dualscore_core::Shape;
///
/// let r = Reference;
/// let a = r.upload(&[1.0f32, 2.0, 3.0]).unwrap();
/// let b = r.upload(&[10.0f32]).unwrap();
/// let sum = r.binary(BinaryOp::Add, &a, &Shape::new([3]), &b, &Shape::new([1])).unwrap();
/// assert_eq!(r.download(&sum).unwrap(), vec![11.0, 12.0, 13.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reference;

/// The backend's name in its errors.
const NAME: &str = "reference";

/// A buffer of `len` copies of `value`, see [`alloc::filled`].
fn filled<E: Clone>(len: usize, value: E) -> Result<Vec<E>> {
    alloc::filled(NAME, len, value)
}

impl Backend for Reference {
    type Storage<T: Float> = Vec<T>;

    fn name(&self) -> String {
        "reference".to_string()
    }

    fn len<T: Float>(&self, storage: &Vec<T>) -> usize {
        storage.len()
    }

    fn fill<T: Float>(&self, len: usize, value: T) -> Result<Vec<T>> {
        filled(len, value)
    }

    fn upload<T: Float>(&self, data: &[T]) -> Result<Vec<T>> {
        Ok(data.to_vec())
    }

    fn download<T: Float>(&self, storage: &Vec<T>) -> Result<Vec<T>> {
        Ok(storage.clone())
    }

    fn unary<T: Float>(&self, op: UnaryOp, x: &Vec<T>) -> Result<Vec<T>> {
        elementwise::unary(op, x)
    }

    fn binary<T: Float>(
        &self,
        op: BinaryOp,
        lhs: &Vec<T>,
        lhs_shape: &Shape,
        rhs: &Vec<T>,
        rhs_shape: &Shape,
    ) -> Result<Vec<T>> {
        let out = validate::binary(op, lhs.len(), lhs_shape, rhs.len(), rhs_shape)?;
        elementwise::binary(op, lhs, lhs_shape, rhs, rhs_shape, &out)
    }

    fn reduce<T: Float>(
        &self,
        op: ReduceOp,
        x: &Vec<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Vec<T>> {
        let checked = validate::reduce(op, x.len(), shape, axes)?;
        reduce::reduce(op, x, shape, &checked)
    }

    fn broadcast_to<T: Float>(&self, x: &Vec<T>, shape: &Shape, target: &Shape) -> Result<Vec<T>> {
        let out = validate::broadcast_to(x.len(), shape, target)?;
        reduce::broadcast_to(x, shape, &out)
    }

    fn matmul<T: Float>(&self, lhs: &Vec<T>, rhs: &Vec<T>, spec: &MatmulSpec) -> Result<Vec<T>> {
        validate::matmul(lhs.len(), rhs.len(), spec)?;
        linalg::matmul(lhs, rhs, spec)
    }

    fn conv2d<T: Float>(
        &self,
        input: &Vec<T>,
        input_shape: &Shape,
        weight: &Vec<T>,
        weight_shape: &Shape,
        params: &Conv2dParams,
    ) -> Result<Vec<T>> {
        let out = validate::conv2d(input.len(), input_shape, weight.len(), weight_shape, params)?;
        conv::conv2d(input, input_shape, weight, weight_shape, params, &out)
    }

    fn conv_transpose2d<T: Float>(
        &self,
        input: &Vec<T>,
        input_shape: &Shape,
        weight: &Vec<T>,
        weight_shape: &Shape,
        params: &ConvTranspose2dParams,
    ) -> Result<Vec<T>> {
        let out = validate::conv_transpose2d(
            input.len(),
            input_shape,
            weight.len(),
            weight_shape,
            params,
        )?;
        conv::conv_transpose2d(input, input_shape, weight, weight_shape, params, &out)
    }

    fn permute<T: Float>(&self, x: &Vec<T>, shape: &Shape, axes: &[usize]) -> Result<Vec<T>> {
        let out = validate::permute(x.len(), shape, axes)?;
        layout::permute(x, shape, axes, &out)
    }

    fn concat<T: Float>(&self, parts: &[(&Vec<T>, &Shape)], axis: usize) -> Result<Vec<T>> {
        let lens: Vec<(usize, &Shape)> = parts.iter().map(|&(d, s)| (d.len(), s)).collect();
        let out = validate::concat(&lens, axis)?;
        let parts: Vec<(&[T], &Shape)> = parts.iter().map(|&(d, s)| (d.as_slice(), s)).collect();
        layout::concat(&parts, axis, &out)
    }

    fn slice<T: Float>(
        &self,
        x: &Vec<T>,
        shape: &Shape,
        axis: usize,
        start: usize,
        len: usize,
    ) -> Result<Vec<T>> {
        let out = validate::slice(x.len(), shape, axis, start, len)?;
        layout::slice(x, shape, axis, start, &out)
    }

    fn pad<T: Float>(&self, x: &Vec<T>, shape: &Shape, pads: &[(usize, usize)]) -> Result<Vec<T>> {
        let out = validate::pad(x.len(), shape, pads)?;
        layout::pad(x, shape, pads, &out)
    }

    fn flip<T: Float>(&self, x: &Vec<T>, shape: &Shape, axes: &[usize]) -> Result<Vec<T>> {
        let axes = validate::flip(x.len(), shape, axes)?;
        layout::flip(x, shape, &axes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::rng::{self, RngKey};

    /// x[i, j, k] = 100 i + 10 j + k on [2, 3, 4]: every element names its index (the layout
    /// and reduction kernels' tests).
    pub(super) fn cube() -> (Vec<f64>, Shape) {
        let mut x = Vec::new();
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    x.push((100 * i + 10 * j + k) as f64);
                }
            }
        }
        (x, Shape::new([2, 3, 4]))
    }

    #[test]
    fn memory_and_identity() {
        let r = Reference;
        assert_eq!(r.name(), "reference");
        assert!(r.same_device(&Reference));
        let z = r.zeros::<f32>(3).unwrap();
        assert_eq!(r.len(&z), 3);
        assert_eq!(r.download(&z).unwrap(), vec![0.0; 3]);
        let f = r.fill(2, 1.5f64).unwrap();
        assert_eq!(f, vec![1.5, 1.5]);
        let u = r.upload(&[1.0f32, -2.0]).unwrap();
        assert_eq!(r.download(&u).unwrap(), vec![1.0, -2.0]);
        assert!(r.fill(usize::MAX, 0.0f64).is_err());
    }

    #[test]
    fn cast_rounds_to_nearest() {
        let r = Reference;
        let x = r.upload(&[0.1f64, 1.0 + 2f64.powi(-30)]).unwrap();
        let y: Vec<f32> = r.cast(&x).unwrap();
        assert_eq!(y, vec![0.1f32, 1.0]);
        let back: Vec<f64> = r.cast(&y).unwrap();
        assert_eq!(back, vec![0.1f32 as f64, 1.0]);
    }

    #[test]
    fn random_numbers_follow_the_shared_sequence() {
        let r = Reference;
        let key = RngKey::new(3, 4);
        let u: Vec<f64> = r.random_uniform(key, 5, 4).unwrap();
        assert_eq!(u, rng::uniform_values(key, 5, 4));
        let n: Vec<f32> = r.random_normal(key, 0, 3).unwrap();
        let want: Vec<f32> = rng::normal_values(key, 0, 3)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        assert_eq!(n, want);
    }

    #[test]
    fn trait_methods_reach_every_kernel() {
        let r = Reference;
        let s = Shape::new([2, 2]);
        let x = r.upload(&[1.0f64, -2.0, 3.0, -4.0]).unwrap();
        assert_eq!(r.unary(UnaryOp::Abs, &x).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            r.binary(BinaryOp::Mul, &x, &s, &x, &s).unwrap(),
            vec![1.0, 4.0, 9.0, 16.0]
        );
        assert_eq!(
            r.reduce(ReduceOp::Sum, &x, &s, &[1]).unwrap(),
            vec![-1.0, -1.0]
        );
        let b = r
            .broadcast_to(&vec![1.0, 2.0], &Shape::new([2]), &s)
            .unwrap();
        assert_eq!(b, vec![1.0, 2.0, 1.0, 2.0]);
        let spec = MatmulSpec::batched(1, 2, 2, 2);
        assert_eq!(
            r.matmul(&x, &x, &spec).unwrap(),
            vec![-5.0, 6.0, -9.0, 10.0]
        );
        let s4 = Shape::new([1, 1, 2, 2]);
        assert_eq!(
            r.conv2d(&x, &s4, &x, &s4, &Conv2dParams::default())
                .unwrap(),
            vec![30.0]
        );
        let one = vec![2.0];
        let s1 = Shape::new([1, 1, 1, 1]);
        let t = r.conv_transpose2d(&one, &s1, &x, &s4, &ConvTranspose2dParams::default());
        assert_eq!(t.unwrap(), vec![2.0, -4.0, 6.0, -8.0]);
        assert_eq!(
            r.permute(&x, &s, &[1, 0]).unwrap(),
            vec![1.0, 3.0, -2.0, -4.0]
        );
        let c = r.concat(&[(&x, &s), (&x, &s)], 1).unwrap();
        assert_eq!(c, vec![1.0, -2.0, 1.0, -2.0, 3.0, -4.0, 3.0, -4.0]);
        assert_eq!(r.slice(&x, &s, 0, 1, 1).unwrap(), vec![3.0, -4.0]);
        assert_eq!(
            r.pad(&x, &s, &[(0, 0), (1, 0)]).unwrap(),
            vec![0.0, 1.0, -2.0, 0.0, 3.0, -4.0]
        );
        assert_eq!(r.flip(&x, &s, &[1]).unwrap(), vec![-2.0, 1.0, -4.0, 3.0]);
    }

    #[test]
    fn invalid_calls_are_errors_through_the_trait() {
        let r = Reference;
        let x = r.upload(&[1.0f32, 2.0, 3.0]).unwrap();
        let s = Shape::new([2, 2]);
        let len_err = |e: Result<Vec<f32>>| matches!(e, Err(Error::StorageLength { .. }));
        assert!(len_err(r.binary(BinaryOp::Add, &x, &s, &x, &s)));
        assert!(len_err(r.reduce(ReduceOp::Sum, &x, &s, &[0])));
        assert!(len_err(r.broadcast_to(&x, &s, &s)));
        assert!(len_err(r.permute(&x, &s, &[1, 0])));
        assert!(len_err(r.concat(&[(&x, &s)], 0)));
        assert!(len_err(r.slice(&x, &s, 0, 0, 1)));
        assert!(len_err(r.pad(&x, &s, &[(0, 0), (0, 0)])));
        assert!(len_err(r.flip(&x, &s, &[0])));
        assert!(len_err(r.matmul(&x, &x, &MatmulSpec::batched(1, 2, 2, 2))));
        let s4 = Shape::new([1, 1, 2, 2]);
        assert!(len_err(r.conv2d(
            &x,
            &s4,
            &x,
            &s4,
            &Conv2dParams::default()
        )));
        let pt = ConvTranspose2dParams::default();
        assert!(len_err(r.conv_transpose2d(&x, &s4, &x, &s4, &pt)));
    }
}
