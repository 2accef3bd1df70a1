//! A backend wrapper that counts kernel calls, to test what autodiff computes, and transfers
//! between host and device, to test what crosses them.

use crate::backend::{
    Backend, BinaryOp, Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp, UnaryOp,
};
use crate::error::Result;
use crate::rng::RngKey;
use crate::scalar::Float;
use crate::shape::Shape;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Calls per kernel family since the counter was made (or reset).
#[derive(Debug, Default)]
pub struct KernelCounts {
    /// conv2d calls.
    pub conv2d: AtomicUsize,
    /// conv_transpose2d calls.
    pub conv_transpose2d: AtomicUsize,
    /// matmul calls.
    pub matmul: AtomicUsize,
    /// Every other kernel, uploads and downloads included.
    pub other: AtomicUsize,
    /// Host-to-device copies ([`Backend::upload`]).
    pub uploads: AtomicUsize,
    /// Device-to-host copies ([`Backend::download`]).
    pub downloads: AtomicUsize,
}

impl KernelCounts {
    /// (conv2d, conv_transpose2d, matmul, other).
    pub fn snapshot(&self) -> (usize, usize, usize, usize) {
        (
            self.conv2d.load(Ordering::SeqCst),
            self.conv_transpose2d.load(Ordering::SeqCst),
            self.matmul.load(Ordering::SeqCst),
            self.other.load(Ordering::SeqCst),
        )
    }

    /// (uploads, downloads).
    pub fn transfers(&self) -> (usize, usize) {
        (
            self.uploads.load(Ordering::SeqCst),
            self.downloads.load(Ordering::SeqCst),
        )
    }

    /// Sets every count to 0.
    pub fn reset(&self) {
        for c in [
            &self.conv2d,
            &self.conv_transpose2d,
            &self.matmul,
            &self.other,
            &self.uploads,
            &self.downloads,
        ] {
            c.store(0, Ordering::SeqCst);
        }
    }
}

/// Changes the output of a conv2d call, given the call's parameters and the output as f64
/// values: a deliberate fault, for tests that show a check catches a wrong kernel.
pub type Conv2dHook = dyn Fn(&Conv2dParams, &mut [f64]) + Send + Sync;

/// Wraps a backend and counts the kernels called through it. Methods with a default built from
/// other methods (zeros, cast, random numbers) are passed to the wrapped backend as they are
/// and count as one kernel, so that a transfer counted is one the caller asked for.
#[derive(Clone)]
pub struct Counting<B: Backend> {
    /// The wrapped backend.
    pub inner: B,
    /// The shared counters.
    pub counts: Arc<KernelCounts>,
    conv2d_hook: Option<Arc<Conv2dHook>>,
}

impl<B: Backend> std::fmt::Debug for Counting<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counting")
            .field("inner", &self.inner)
            .field("counts", &self.counts)
            .field("conv2d_hook", &self.conv2d_hook.is_some())
            .finish()
    }
}

impl<B: Backend> Counting<B> {
    /// Wraps `inner` with fresh counters.
    pub fn new(inner: B) -> Self {
        Counting {
            inner,
            counts: Arc::default(),
            conv2d_hook: None,
        }
    }

    /// Wraps `inner` with fresh counters, and `hook` applied to the output of every conv2d call
    /// (downloaded, changed, uploaded again; those transfers are not counted).
    pub fn with_conv2d_hook(
        inner: B,
        hook: impl Fn(&Conv2dParams, &mut [f64]) + Send + Sync + 'static,
    ) -> Self {
        Counting {
            conv2d_hook: Some(Arc::new(hook)),
            ..Counting::new(inner)
        }
    }

    fn other(&self) {
        self.counts.other.fetch_add(1, Ordering::SeqCst);
    }
}

impl<B: Backend> Backend for Counting<B> {
    type Storage<T: Float> = B::Storage<T>;

    fn name(&self) -> String {
        format!("counting {}", self.inner.name())
    }

    fn len<T: Float>(&self, storage: &Self::Storage<T>) -> usize {
        self.inner.len(storage)
    }

    fn fill<T: Float>(&self, len: usize, value: T) -> Result<Self::Storage<T>> {
        self.other();
        self.inner.fill(len, value)
    }

    fn same_device(&self, other: &Self) -> bool {
        self.inner.same_device(&other.inner)
    }

    fn zeros<T: Float>(&self, len: usize) -> Result<Self::Storage<T>> {
        self.other();
        self.inner.zeros(len)
    }

    fn upload<T: Float>(&self, data: &[T]) -> Result<Self::Storage<T>> {
        self.other();
        self.counts.uploads.fetch_add(1, Ordering::SeqCst);
        self.inner.upload(data)
    }

    fn download<T: Float>(&self, storage: &Self::Storage<T>) -> Result<Vec<T>> {
        self.other();
        self.counts.downloads.fetch_add(1, Ordering::SeqCst);
        self.inner.download(storage)
    }

    fn cast<T: Float, U: Float>(&self, storage: &Self::Storage<T>) -> Result<Self::Storage<U>> {
        self.other();
        self.inner.cast(storage)
    }

    fn unary<T: Float>(&self, op: UnaryOp, x: &Self::Storage<T>) -> Result<Self::Storage<T>> {
        self.other();
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
        self.other();
        self.inner.binary(op, lhs, lhs_shape, rhs, rhs_shape)
    }

    fn reduce<T: Float>(
        &self,
        op: ReduceOp,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>> {
        self.other();
        self.inner.reduce(op, x, shape, axes)
    }

    fn center_with_variance<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<(Self::Storage<T>, Self::Storage<T>)> {
        self.other();
        self.inner.center_with_variance(x, shape, axes)
    }

    fn broadcast_to<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        target: &Shape,
    ) -> Result<Self::Storage<T>> {
        self.other();
        self.inner.broadcast_to(x, shape, target)
    }

    fn matmul<T: Float>(
        &self,
        lhs: &Self::Storage<T>,
        rhs: &Self::Storage<T>,
        spec: &MatmulSpec,
    ) -> Result<Self::Storage<T>> {
        self.counts.matmul.fetch_add(1, Ordering::SeqCst);
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
        self.counts.conv2d.fetch_add(1, Ordering::SeqCst);
        let out = self
            .inner
            .conv2d(input, input_shape, weight, weight_shape, params)?;
        let Some(hook) = &self.conv2d_hook else {
            return Ok(out);
        };
        let mut host: Vec<f64> = self
            .inner
            .download(&out)?
            .iter()
            .map(|v| v.as_f64())
            .collect();
        hook(params, &mut host);
        let back: Vec<T> = host.into_iter().map(T::of_f64).collect();
        self.inner.upload(&back)
    }

    fn conv_transpose2d<T: Float>(
        &self,
        input: &Self::Storage<T>,
        input_shape: &Shape,
        weight: &Self::Storage<T>,
        weight_shape: &Shape,
        params: &ConvTranspose2dParams,
    ) -> Result<Self::Storage<T>> {
        self.counts.conv_transpose2d.fetch_add(1, Ordering::SeqCst);
        self.inner
            .conv_transpose2d(input, input_shape, weight, weight_shape, params)
    }

    fn permute<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>> {
        self.other();
        self.inner.permute(x, shape, axes)
    }

    fn concat<T: Float>(
        &self,
        parts: &[(&Self::Storage<T>, &Shape)],
        axis: usize,
    ) -> Result<Self::Storage<T>> {
        self.other();
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
        self.other();
        self.inner.slice(x, shape, axis, start, len)
    }

    fn pad<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        pads: &[(usize, usize)],
    ) -> Result<Self::Storage<T>> {
        self.other();
        self.inner.pad(x, shape, pads)
    }

    fn flip<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>> {
        self.other();
        self.inner.flip(x, shape, axes)
    }

    fn random_uniform<T: Float>(
        &self,
        key: RngKey,
        offset: u64,
        len: usize,
    ) -> Result<Self::Storage<T>> {
        self.other();
        self.inner.random_uniform(key, offset, len)
    }

    fn random_normal<T: Float>(
        &self,
        key: RngKey,
        offset: u64,
        len: usize,
    ) -> Result<Self::Storage<T>> {
        self.other();
        self.inner.random_normal(key, offset, len)
    }
}
