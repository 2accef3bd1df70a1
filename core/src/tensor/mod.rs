//! [`Tensor`]: an n-dimensional array on a backend, optionally recorded for differentiation.
//!
//! # Errors, not panics
//!
//! Every op that can fail (a shape mismatch, a bad axis, a device error) returns a
//! [`Result`]. The arithmetic operators follow the same rule: `&a + &b` is a
//! `Result<Tensor>`, so expressions read `((&a * &b)? + &c)?`. Nothing in this module panics on
//! user input.
//!
//! # Storage
//!
//! A tensor is a contiguous, row-major buffer (shared, immutable) with a shape. Reshaping shares
//! the buffer; every other layout change (permute, slice, broadcast) makes a copy on the device.
//!
//! ```
//! use dualscore_core::backend::reference::Reference;
//! use dualscore_core::tensor::Tensor;
//! # fn main() -> dualscore_core::Result<()> {
//! let a = Tensor::<_, f64>::from_f64(&Reference, &[1.0, 2.0, 3.0, 4.0], [2, 2])?;
//! let b = Tensor::from_f64(&Reference, &[10.0, 20.0], [2])?;
//! let c = (&a + &b)?; // broadcasts b over the rows
//! assert_eq!(c.to_f64_vec()?, vec![11.0, 22.0, 13.0, 24.0]);
//! assert!((&a + &Tensor::from_f64(&Reference, &[1.0, 2.0, 3.0], [3])?).is_err());
//! # Ok(()) }
//! ```

mod conv;
mod elementwise;
mod layout;
mod linalg;
mod operators;
mod reduce;

use crate::autograd::{BackwardOp, Node, is_grad_enabled};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::rng::RngKey;
use crate::scalar::Float;
use crate::shape::Shape;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

static LIVE_BUFFERS: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The number of tensor buffers alive in this process (for leak tests).
pub fn live_buffers() -> usize {
    LIVE_BUFFERS.load(Ordering::SeqCst)
}

/// Bytes held by live tensor buffers in this process, on every backend.
pub fn live_buffer_bytes() -> usize {
    LIVE_BYTES.load(Ordering::SeqCst)
}

/// The most bytes held by tensor buffers at once since the last [`reset_peak_buffer_bytes`].
pub fn peak_buffer_bytes() -> usize {
    PEAK_BYTES.load(Ordering::SeqCst)
}

/// Starts a new peak measurement from the bytes live now.
pub fn reset_peak_buffer_bytes() {
    PEAK_BYTES.store(live_buffer_bytes(), Ordering::SeqCst);
}

/// A device buffer, counted while alive.
pub(crate) struct Buffer<B: Backend, T: Float> {
    storage: B::Storage<T>,
    bytes: usize,
}

impl<B: Backend, T: Float> Buffer<B, T> {
    fn new(backend: &B, storage: B::Storage<T>) -> Arc<Self> {
        let bytes = backend.len(&storage) * T::DTYPE.size_in_bytes();
        LIVE_BUFFERS.fetch_add(1, Ordering::SeqCst);
        let live = LIVE_BYTES.fetch_add(bytes, Ordering::SeqCst) + bytes;
        PEAK_BYTES.fetch_max(live, Ordering::SeqCst);
        Arc::new(Buffer { storage, bytes })
    }
}

impl<B: Backend, T: Float> Drop for Buffer<B, T> {
    fn drop(&mut self) {
        LIVE_BUFFERS.fetch_sub(1, Ordering::SeqCst);
        LIVE_BYTES.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

/// The element count of a shape that can exist, or an error naming it.
fn checked_len(shape: &Shape) -> Result<usize> {
    shape.checked_numel().ok_or_else(|| {
        Error::invalid(
            "tensor",
            format!("shape {shape} has more elements than fit in memory"),
        )
    })
}

pub(crate) struct TensorInner<B: Backend, T: Float> {
    backend: B,
    shape: Shape,
    buffer: Arc<Buffer<B, T>>,
    node: Option<Arc<Node<B, T>>>,
}

/// An n-dimensional array of `T` on the backend `B`. Cloning is cheap (shared buffer).
pub struct Tensor<B: Backend, T: Float> {
    inner: Arc<TensorInner<B, T>>,
}

impl<B: Backend, T: Float> Clone for Tensor<B, T> {
    fn clone(&self) -> Self {
        Tensor {
            inner: self.inner.clone(),
        }
    }
}

impl<B: Backend, T: Float> fmt::Debug for Tensor<B, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor({}, {}, {}{})",
            self.shape(),
            T::DTYPE,
            self.inner.backend.name(),
            if self.requires_grad() {
                ", requires grad"
            } else {
                ""
            }
        )
    }
}

impl<B: Backend, T: Float> Tensor<B, T> {
    // ---- construction ----------------------------------------------------------------------

    pub(crate) fn from_inner(inner: Arc<TensorInner<B, T>>) -> Self {
        Tensor { inner }
    }

    /// Wraps a device buffer, after checking that its length fits `shape`.
    pub fn from_storage(
        backend: &B,
        storage: B::Storage<T>,
        shape: impl Into<Shape>,
    ) -> Result<Self> {
        let shape = shape.into();
        shape.check_len("tensor", backend.len(&storage))?;
        Ok(Self::constant(backend, storage, shape))
    }

    fn constant(backend: &B, storage: B::Storage<T>, shape: Shape) -> Self {
        Self::with_buffer(backend, Buffer::new(backend, storage), shape)
    }

    fn with_buffer(backend: &B, buffer: Arc<Buffer<B, T>>, shape: Shape) -> Self {
        Tensor {
            inner: Arc::new(TensorInner {
                backend: backend.clone(),
                shape,
                buffer,
                node: None,
            }),
        }
    }

    /// The result of an op: recorded on the graph when recording is on and an input requires a
    /// gradient. `op` is only built when it is recorded.
    pub(crate) fn from_op<Op: BackwardOp<B, T> + 'static>(
        backend: &B,
        storage: B::Storage<T>,
        shape: Shape,
        inputs: &[&Tensor<B, T>],
        op: impl FnOnce() -> Op,
    ) -> Self {
        Self::from_op_buffer(backend, Buffer::new(backend, storage), shape, inputs, op)
    }

    fn from_op_buffer<Op: BackwardOp<B, T> + 'static>(
        backend: &B,
        buffer: Arc<Buffer<B, T>>,
        shape: Shape,
        inputs: &[&Tensor<B, T>],
        op: impl FnOnce() -> Op,
    ) -> Self {
        if !is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
            return Self::with_buffer(backend, buffer, shape);
        }
        let op: Box<dyn BackwardOp<B, T>> = Box::new(op());
        let inputs: Vec<Tensor<B, T>> = inputs.iter().map(|t| (*t).clone()).collect();
        let inner = Arc::new_cyclic(|weak: &Weak<TensorInner<B, T>>| TensorInner {
            backend: backend.clone(),
            shape,
            buffer,
            node: Some(Arc::new(Node::op(op, inputs, weak.clone()))),
        });
        Tensor { inner }
    }

    /// A tensor from host values, in row-major order.
    pub fn from_slice(backend: &B, data: &[T], shape: impl Into<Shape>) -> Result<Self> {
        let shape = shape.into();
        shape.check_len("tensor", data.len())?;
        Ok(Self::constant(backend, backend.upload(data)?, shape))
    }

    /// A tensor from f64 host values, rounded to `T`.
    pub fn from_f64(backend: &B, data: &[f64], shape: impl Into<Shape>) -> Result<Self> {
        let host: Vec<T> = data.iter().map(|&v| T::of_f64(v)).collect();
        Self::from_slice(backend, &host, shape)
    }

    /// A tensor of one value.
    pub fn full(backend: &B, shape: impl Into<Shape>, value: f64) -> Result<Self> {
        let shape = shape.into();
        Ok(Self::constant(
            backend,
            backend.fill(shape.numel(), T::of_f64(value))?,
            shape,
        ))
    }

    /// Zeros.
    pub fn zeros(backend: &B, shape: impl Into<Shape>) -> Result<Self> {
        let shape = shape.into();
        Ok(Self::constant(
            backend,
            backend.zeros(shape.numel())?,
            shape,
        ))
    }

    /// Ones.
    pub fn ones(backend: &B, shape: impl Into<Shape>) -> Result<Self> {
        Self::full(backend, shape, 1.0)
    }

    /// A rank-0 tensor.
    pub fn scalar(backend: &B, value: f64) -> Result<Self> {
        Self::full(backend, Shape::scalar(), value)
    }

    /// Standard normal values at indices `offset..` of the counter-based sequence `key`.
    pub fn randn(backend: &B, shape: impl Into<Shape>, key: RngKey, offset: u64) -> Result<Self> {
        let shape = shape.into();
        let len = checked_len(&shape)?;
        Ok(Self::constant(
            backend,
            backend.random_normal(key, offset, len)?,
            shape,
        ))
    }

    /// Uniform values in [0, 1) at indices `offset..` of the counter-based sequence `key`.
    pub fn rand(backend: &B, shape: impl Into<Shape>, key: RngKey, offset: u64) -> Result<Self> {
        let shape = shape.into();
        let len = checked_len(&shape)?;
        Ok(Self::constant(
            backend,
            backend.random_uniform(key, offset, len)?,
            shape,
        ))
    }

    /// Zeros of this tensor's shape, on its backend.
    pub fn zeros_like(&self) -> Result<Self> {
        Self::zeros(self.backend(), self.shape().clone())
    }

    /// Ones of this tensor's shape, on its backend.
    pub fn ones_like(&self) -> Result<Self> {
        Self::ones(self.backend(), self.shape().clone())
    }

    /// A constant of this tensor's shape, on its backend.
    pub fn full_like(&self, value: f64) -> Result<Self> {
        Self::full(self.backend(), self.shape().clone(), value)
    }

    // ---- inspection ------------------------------------------------------------------------

    /// The backend this tensor lives on.
    pub fn backend(&self) -> &B {
        &self.inner.backend
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.inner.shape
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        self.inner.shape.dims()
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.inner.shape.rank()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.inner.shape.numel()
    }

    /// The device buffer.
    pub fn storage(&self) -> &B::Storage<T> {
        &self.inner.buffer.storage
    }

    /// The values, copied to the host in row-major order.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        self.backend().download(self.storage())
    }

    /// The values as f64, copied to the host in row-major order.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        Ok(self.to_vec()?.into_iter().map(T::as_f64).collect())
    }

    /// The value of a one-element tensor.
    pub fn to_scalar(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::invalid(
                "to_scalar",
                format!(
                    "tensor of shape {} has {} elements, not 1",
                    self.shape(),
                    self.numel()
                ),
            ));
        }
        Ok(self.to_f64_vec()?[0])
    }

    // ---- the graph -------------------------------------------------------------------------

    pub(crate) fn node(&self) -> Option<&Arc<Node<B, T>>> {
        self.inner.node.as_ref()
    }

    /// Whether gradients can flow to this tensor (it is a leaf made with
    /// [`Tensor::requiring_grad`] or the recorded result of such tensors).
    pub fn requires_grad(&self) -> bool {
        self.inner.node.is_some()
    }

    /// Whether this tensor is a leaf of the graph (not the recorded result of an op).
    pub fn is_leaf(&self) -> bool {
        self.inner.node.as_ref().is_none_or(|n| n.is_leaf)
    }

    /// A new leaf that shares this tensor's buffer and requires a gradient.
    pub fn requiring_grad(&self) -> Self {
        let inner = Arc::new_cyclic(|weak: &Weak<TensorInner<B, T>>| TensorInner {
            backend: self.inner.backend.clone(),
            shape: self.inner.shape.clone(),
            buffer: self.inner.buffer.clone(),
            node: Some(Arc::new(Node::leaf(weak.clone()))),
        });
        Tensor { inner }
    }

    /// The same values, cut from the graph (no gradient flows through the result).
    pub fn detach(&self) -> Self {
        Self::with_buffer(
            self.backend(),
            self.inner.buffer.clone(),
            self.inner.shape.clone(),
        )
    }

    /// The same values with another shape of equal size (shares the buffer).
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Self> {
        let shape = shape.into();
        if shape.numel() != self.numel() {
            return Err(Error::shapes(
                "reshape",
                self.dims(),
                shape.dims(),
                format!(
                    "{} elements cannot take a shape of {}",
                    self.numel(),
                    shape.numel()
                ),
            ));
        }
        let input_shape = self.shape().clone();
        Ok(Self::from_op_buffer(
            self.backend(),
            self.inner.buffer.clone(),
            shape,
            &[self],
            || layout::ReshapeBackward { input_shape },
        ))
    }
}
