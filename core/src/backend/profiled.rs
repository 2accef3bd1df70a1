//! A backend wrapper that times every kernel call, to see where the time of a training step
//! goes (`dualscore bench --profile`).
//!
//! The time of a call is the wall time from its start to its return. That is the kernel's time
//! on a backend that returns when the work is done (the CPU backend); on a backend that queues
//! work (CUDA) it is the time to queue it.

use crate::backend::{
    Backend, BinaryOp, Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp, UnaryOp,
};
use crate::error::Result;
use crate::rng::RngKey;
use crate::scalar::Float;
use crate::shape::Shape;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// The calls and the time of one kind of kernel call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KernelTime {
    /// Calls.
    pub calls: u64,
    /// Seconds spent in them.
    pub seconds: f64,
}

/// Time per kind of kernel call, since the profile was made or reset.
///
/// A kind is the kernel and what decides its cost: the op of an elementwise kernel or
/// reduction, the kernel and channels of a convolution and the image size it runs on.
#[derive(Debug, Default)]
pub struct KernelProfile {
    table: Mutex<HashMap<String, KernelTime>>,
}

impl KernelProfile {
    fn record(&self, kind: String, started: Instant) {
        let seconds = started.elapsed().as_secs_f64();
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = table.entry(kind).or_default();
        entry.calls += 1;
        entry.seconds += seconds;
    }

    /// Every kind with its calls and time, the most time first.
    pub fn entries(&self) -> Vec<(String, KernelTime)> {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let mut entries: Vec<_> = table.iter().map(|(k, v)| (k.clone(), *v)).collect();
        entries.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds).then(a.0.cmp(&b.0)));
        entries
    }

    /// The time of every call recorded, in seconds.
    pub fn total_seconds(&self) -> f64 {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.values().map(|t| t.seconds).sum()
    }

    /// Forgets every call.
    pub fn reset(&self) {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Wraps a backend and times every kernel called through it into a shared [`KernelProfile`].
/// [`Backend::run`] goes to the wrapped backend, so its kernels run where they normally do.
///
/// ```
/// use dualscore_core::backend::profiled::Profiled;
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::Tensor;
///
/// let backend = Profiled::new(Reference);
/// let x = Tensor::<_, f64>::from_f64(&backend, &[1.0, -2.0], [2]).unwrap();
/// x.exp().unwrap().sum_all().unwrap();
/// let kinds: Vec<String> = backend.profile.entries().into_iter().map(|(k, _)| k).collect();
/// assert!(kinds.contains(&"unary exp".to_string()));
/// ```
#[derive(Clone, Debug)]
pub struct Profiled<B: Backend> {
    /// The wrapped backend.
    pub inner: B,
    /// The shared table of times.
    pub profile: Arc<KernelProfile>,
}

impl<B: Backend> Profiled<B> {
    /// Wraps `inner` with an empty profile.
    pub fn new(inner: B) -> Self {
        Profiled {
            inner,
            profile: Arc::default(),
        }
    }

    fn timed<R>(&self, kind: impl FnOnce() -> String, call: impl FnOnce(&B) -> R) -> R {
        let started = Instant::now();
        let out = call(&self.inner);
        self.profile.record(kind(), started);
        out
    }
}

fn spatial(shape: &Shape) -> String {
    match shape.dims() {
        [.., h, w] => format!("{h}x{w}"),
        dims => format!("{dims:?}"),
    }
}

fn conv_kind(name: &str, input: &Shape, weight: &Shape) -> String {
    match weight.dims() {
        [a, b, kh, kw] => format!("{name} {kh}x{kw} {b}->{a} on {}", spatial(input)),
        dims => format!("{name} {dims:?}"),
    }
}

impl<B: Backend> Backend for Profiled<B> {
    type Storage<T: Float> = B::Storage<T>;

    fn name(&self) -> String {
        format!("profiled {}", self.inner.name())
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

    /// The wrapped backend's parts, computed one after the other (the default
    /// [`Backend::run_jobs`]), so that each kernel's time is its own.
    fn training_parts(&self, batch: usize) -> usize {
        self.inner.training_parts(batch)
    }

    fn fill<T: Float>(&self, len: usize, value: T) -> Result<Self::Storage<T>> {
        self.timed(|| "fill".into(), |b| b.fill(len, value))
    }

    fn zeros<T: Float>(&self, len: usize) -> Result<Self::Storage<T>> {
        self.timed(|| "fill".into(), |b| b.zeros(len))
    }

    fn upload<T: Float>(&self, data: &[T]) -> Result<Self::Storage<T>> {
        self.timed(|| "upload".into(), |b| b.upload(data))
    }

    fn download<T: Float>(&self, storage: &Self::Storage<T>) -> Result<Vec<T>> {
        self.timed(|| "download".into(), |b| b.download(storage))
    }

    fn cast<T: Float, U: Float>(&self, storage: &Self::Storage<T>) -> Result<Self::Storage<U>> {
        self.timed(|| "cast".into(), |b| b.cast(storage))
    }

    fn unary<T: Float>(&self, op: UnaryOp, x: &Self::Storage<T>) -> Result<Self::Storage<T>> {
        self.timed(|| format!("unary {}", op.name()), |b| b.unary(op, x))
    }

    fn binary<T: Float>(
        &self,
        op: BinaryOp,
        lhs: &Self::Storage<T>,
        lhs_shape: &Shape,
        rhs: &Self::Storage<T>,
        rhs_shape: &Shape,
    ) -> Result<Self::Storage<T>> {
        let kind = || {
            let broadcast = if lhs_shape == rhs_shape {
                ""
            } else {
                " (broadcast)"
            };
            format!("binary {op:?}{broadcast}").to_lowercase()
        };
        self.timed(kind, |b| b.binary(op, lhs, lhs_shape, rhs, rhs_shape))
    }

    fn reduce<T: Float>(
        &self,
        op: ReduceOp,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>> {
        let kind = || format!("reduce {op:?} over {axes:?}").to_lowercase();
        self.timed(kind, |b| b.reduce(op, x, shape, axes))
    }

    fn center_with_variance<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<(Self::Storage<T>, Self::Storage<T>)> {
        let kind = || format!("center_with_variance over {axes:?}");
        self.timed(kind, |b| b.center_with_variance(x, shape, axes))
    }

    fn broadcast_to<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        target: &Shape,
    ) -> Result<Self::Storage<T>> {
        self.timed(
            || "broadcast_to".into(),
            |b| b.broadcast_to(x, shape, target),
        )
    }

    fn matmul<T: Float>(
        &self,
        lhs: &Self::Storage<T>,
        rhs: &Self::Storage<T>,
        spec: &MatmulSpec,
    ) -> Result<Self::Storage<T>> {
        self.timed(|| "matmul".into(), |b| b.matmul(lhs, rhs, spec))
    }

    fn conv2d<T: Float>(
        &self,
        input: &Self::Storage<T>,
        input_shape: &Shape,
        weight: &Self::Storage<T>,
        weight_shape: &Shape,
        params: &Conv2dParams,
    ) -> Result<Self::Storage<T>> {
        self.timed(
            || conv_kind("conv2d", input_shape, weight_shape),
            |b| b.conv2d(input, input_shape, weight, weight_shape, params),
        )
    }

    fn conv2d_weight_grad<T: Float>(
        &self,
        input: &Self::Storage<T>,
        input_shape: &Shape,
        grad: &Self::Storage<T>,
        grad_shape: &Shape,
        kernel: [usize; 2],
        params: &Conv2dParams,
    ) -> Result<Self::Storage<T>> {
        let kind = || {
            let (c, o) = (input_shape.dims()[1], grad_shape.dims()[1]);
            let [kh, kw] = kernel;
            let at = spatial(input_shape);
            format!("conv2d_weight_grad {kh}x{kw} {c}->{o} on {at}")
        };
        self.timed(kind, |b| {
            b.conv2d_weight_grad(input, input_shape, grad, grad_shape, kernel, params)
        })
    }

    fn conv_transpose2d<T: Float>(
        &self,
        input: &Self::Storage<T>,
        input_shape: &Shape,
        weight: &Self::Storage<T>,
        weight_shape: &Shape,
        params: &ConvTranspose2dParams,
    ) -> Result<Self::Storage<T>> {
        self.timed(
            || conv_kind("conv_transpose2d", input_shape, weight_shape),
            |b| b.conv_transpose2d(input, input_shape, weight, weight_shape, params),
        )
    }

    fn permute<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>> {
        self.timed(|| "permute".into(), |b| b.permute(x, shape, axes))
    }

    fn concat<T: Float>(
        &self,
        parts: &[(&Self::Storage<T>, &Shape)],
        axis: usize,
    ) -> Result<Self::Storage<T>> {
        self.timed(|| "concat".into(), |b| b.concat(parts, axis))
    }

    fn slice<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axis: usize,
        start: usize,
        len: usize,
    ) -> Result<Self::Storage<T>> {
        self.timed(|| "slice".into(), |b| b.slice(x, shape, axis, start, len))
    }

    fn pad<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        pads: &[(usize, usize)],
    ) -> Result<Self::Storage<T>> {
        self.timed(|| "pad".into(), |b| b.pad(x, shape, pads))
    }

    fn flip<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>> {
        self.timed(|| "flip".into(), |b| b.flip(x, shape, axes))
    }

    fn random_uniform<T: Float>(
        &self,
        key: RngKey,
        offset: u64,
        len: usize,
    ) -> Result<Self::Storage<T>> {
        self.timed(
            || "random_uniform".into(),
            |b| b.random_uniform(key, offset, len),
        )
    }

    fn random_normal<T: Float>(
        &self,
        key: RngKey,
        offset: u64,
        len: usize,
    ) -> Result<Self::Storage<T>> {
        self.timed(
            || "random_normal".into(),
            |b| b.random_normal(key, offset, len),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::reference::Reference;
    use crate::tensor::Tensor;

    #[test]
    fn every_call_is_counted_under_its_kind() {
        let backend = Profiled::new(Reference);
        let x = Tensor::<_, f64>::from_f64(&backend, &[1.0, 2.0, 3.0, 4.0], [1, 1, 2, 2]).unwrap();
        let w = Tensor::<_, f64>::from_f64(&backend, &[1.0; 18], [2, 1, 3, 3]).unwrap();
        let y = x.conv2d(&w, &Conv2dParams::new(1, 1, 1)).unwrap();
        y.mul(&y).unwrap();
        y.mul(&y).unwrap();
        let entries: HashMap<String, KernelTime> = backend.profile.entries().into_iter().collect();
        assert_eq!(entries["conv2d 3x3 1->2 on 2x2"].calls, 1);
        assert_eq!(entries["binary mul"].calls, 2);
        assert_eq!(entries["upload"].calls, 2);
        let total = backend.profile.total_seconds();
        let sum: f64 = entries.values().map(|t| t.seconds).sum();
        assert!((total - sum).abs() <= 1e-12 * total.max(1.0));
        backend.profile.reset();
        assert!(backend.profile.entries().is_empty());
    }
}
