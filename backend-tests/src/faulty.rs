//! A backend with one deliberate fault in its convolutions, to show that a whole-model check
//! ([`crate::models`]) catches an error confined to one kernel call: [`FaultyConv`] is another
//! backend, unchanged, except that one chosen `conv2d` call has one output element scaled.

use dualscore_core::backend::{
    BinaryOp, Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp, UnaryOp,
};
use dualscore_core::rng::RngKey;
use dualscore_core::{Backend, Float, Result, Shape};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which `conv2d` call is wrong, and how.
#[derive(Clone, Copy, Debug)]
pub struct ConvFault {
    /// Only calls with this dilation count.
    pub dilation: [usize; 2],
    /// The wrong call: the `nth` counted one (from 0).
    pub nth: usize,
    /// Its output element `element` (taken modulo the output's length) is multiplied by
    /// `1 + relative`.
    pub element: usize,
    /// The relative error of that element.
    pub relative: f64,
}

/// `B` with the fault [`ConvFault`]; every other call, and every other convolution, is `B`'s.
#[derive(Clone, Debug)]
pub struct FaultyConv<B> {
    inner: B,
    fault: ConvFault,
    counted: Arc<AtomicUsize>,
}

impl<B: Backend> FaultyConv<B> {
    /// `inner` with `fault`.
    pub fn new(inner: B, fault: ConvFault) -> Self {
        FaultyConv {
            inner,
            fault,
            counted: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How many calls matched the fault's dilation so far.
    pub fn counted(&self) -> usize {
        self.counted.load(Ordering::SeqCst)
    }
}

impl<B: Backend> Backend for FaultyConv<B> {
    type Storage<T: Float> = B::Storage<T>;

    fn name(&self) -> String {
        format!("{} with {:?}", self.inner.name(), self.fault)
    }

    fn same_device(&self, other: &Self) -> bool {
        self.inner.same_device(&other.inner)
    }

    fn len<T: Float>(&self, storage: &Self::Storage<T>) -> usize {
        self.inner.len(storage)
    }

    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.inner.run(f)
    }

    fn fill<T: Float>(&self, len: usize, value: T) -> Result<Self::Storage<T>> {
        self.inner.fill(len, value)
    }

    fn upload<T: Float>(&self, data: &[T]) -> Result<Self::Storage<T>> {
        self.inner.upload(data)
    }

    fn download<T: Float>(&self, storage: &Self::Storage<T>) -> Result<Vec<T>> {
        self.inner.download(storage)
    }

    fn cast<T: Float, U: Float>(&self, storage: &Self::Storage<T>) -> Result<Self::Storage<U>> {
        self.inner.cast(storage)
    }

    fn unary<T: Float>(&self, op: UnaryOp, x: &Self::Storage<T>) -> Result<Self::Storage<T>> {
        self.inner.unary(op, x)
    }

    fn binary<T: Float>(
        &self,
        op: BinaryOp,
        lhs: &Self::Storage<T>,
        lhs_shape: &Shape,
        rhs: &Self::Storage<T>,
        rhs_shape: &Shape,
    ) -> Result<Self::Storage<T>> {
        self.inner.binary(op, lhs, lhs_shape, rhs, rhs_shape)
    }

    fn reduce<T: Float>(
        &self,
        op: ReduceOp,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>> {
        self.inner.reduce(op, x, shape, axes)
    }

    fn broadcast_to<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        target: &Shape,
    ) -> Result<Self::Storage<T>> {
        self.inner.broadcast_to(x, shape, target)
    }

    fn matmul<T: Float>(
        &self,
        lhs: &Self::Storage<T>,
        rhs: &Self::Storage<T>,
        spec: &MatmulSpec,
    ) -> Result<Self::Storage<T>> {
        self.inner.matmul(lhs, rhs, spec)
    }

    fn conv2d<T: Float>(
        &self,
        input: &Self::Storage<T>,
        input_shape: &Shape,
        weight: &Self::Storage<T>,
        weight_shape: &Shape,
        params: &Conv2dParams,
    ) -> Result<Self::Storage<T>> {
        let out = self
            .inner
            .conv2d(input, input_shape, weight, weight_shape, params)?;
        if params.dilation != self.fault.dilation
            || self.counted.fetch_add(1, Ordering::SeqCst) != self.fault.nth
        {
            return Ok(out);
        }
        let mut host = self.inner.download(&out)?;
        if host.is_empty() {
            return Ok(out);
        }
        let at = self.fault.element % host.len();
        host[at] = T::of_f64(host[at].as_f64() * (1.0 + self.fault.relative));
        self.inner.upload(&host)
    }

    fn conv_transpose2d<T: Float>(
        &self,
        input: &Self::Storage<T>,
        input_shape: &Shape,
        weight: &Self::Storage<T>,
        weight_shape: &Shape,
        params: &ConvTranspose2dParams,
    ) -> Result<Self::Storage<T>> {
        self.inner
            .conv_transpose2d(input, input_shape, weight, weight_shape, params)
    }

    fn permute<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>> {
        self.inner.permute(x, shape, axes)
    }

    fn concat<T: Float>(
        &self,
        parts: &[(&Self::Storage<T>, &Shape)],
        axis: usize,
    ) -> Result<Self::Storage<T>> {
        self.inner.concat(parts, axis)
    }

    fn slice<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axis: usize,
        start: usize,
        len: usize,
    ) -> Result<Self::Storage<T>> {
        self.inner.slice(x, shape, axis, start, len)
    }

    fn pad<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        pads: &[(usize, usize)],
    ) -> Result<Self::Storage<T>> {
        self.inner.pad(x, shape, pads)
    }

    fn flip<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>> {
        self.inner.flip(x, shape, axes)
    }

    fn random_uniform<T: Float>(
        &self,
        key: RngKey,
        offset: u64,
        len: usize,
    ) -> Result<Self::Storage<T>> {
        self.inner.random_uniform(key, offset, len)
    }

    fn random_normal<T: Float>(
        &self,
        key: RngKey,
        offset: u64,
        len: usize,
    ) -> Result<Self::Storage<T>> {
        self.inner.random_normal(key, offset, len)
    }
}
