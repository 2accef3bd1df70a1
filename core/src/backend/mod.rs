//! The [`Backend`] trait: the storage-level kernels every device implements, and nothing else.
//!
//! A backend is a cheap, cloneable handle to a device. Storage is a contiguous, row-major
//! buffer of one element type; shapes travel beside it (a buffer does not know its shape).
//! Tensors and autodiff (above this layer) are written once against this trait, so a new
//! device needs only these kernels.
//!
//! Every method returns a [`Result`]: an invalid shape is an error, never a panic. The checks
//! are written once, in [`validate`] (one function per method that takes shapes, built on the
//! shared rules of [`ops`]): every implementation calls `validate::<method>` first, with the
//! lengths of its buffers, and its kernels may then assume valid inputs. So every backend
//! accepts and rejects the same calls, with the same errors. Host buffers are allocated
//! through [`alloc`], which reports an impossible size as an error too.
//!
//! Kernels that exist only for speed are trait methods with a default built from the
//! primitives, so that a backend which does not override them stays correct.

pub mod alloc;
pub mod composed;
pub mod ops;
pub mod profiled;
pub mod reference;
pub mod validate;

pub use ops::{
    BinaryOp, Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp, UnaryOp, concat_shape,
    pad_shape, slice_shape,
};

use crate::error::Result;
use crate::rng::{self, RngKey};
use crate::scalar::Float;
use crate::shape::Shape;
use std::fmt::Debug;

/// A piece of work for [`Backend::run_jobs`].
pub type Job<'a, R> = Box<dyn FnOnce() -> R + Send + 'a>;

/// A device and its kernels.
///
/// Implementations: the reference backend of this crate ([`reference::Reference`], naive loops
/// in f64, the oracle of the tests) and the fast backends in their own crates.
///
/// The contract of an implementation: every method that takes shapes calls its
/// `validate::<method>` (see [`validate`]) first, with [`Backend::len`] of each buffer, and
/// returns its error unchanged; kernels may then assume valid inputs.
pub trait Backend: Clone + Debug + Send + Sync + 'static {
    /// A contiguous buffer of `T` on this device.
    type Storage<T: Float>: Debug + Send + Sync + 'static;

    /// A human-readable name, as in `"cpu (2 threads)"`.
    fn name(&self) -> String;

    /// Whether two handles address the same device, so that their buffers can be combined.
    fn same_device(&self, _other: &Self) -> bool {
        true
    }

    /// Number of elements in `storage`.
    fn len<T: Float>(&self, storage: &Self::Storage<T>) -> usize;

    /// Runs `f` where this backend's kernels are cheapest to call, and returns its result.
    ///
    /// A training step calls hundreds of kernels, each split across threads. The CPU backend
    /// runs `f` on a thread of its own pool, so that each parallel kernel inside starts its
    /// pieces on threads that are already awake instead of handing them over from an outside
    /// thread and waiting (a saving that matters most to small models on few cores). Other
    /// backends run `f` on the calling thread (the default). Calls nest freely. An
    /// implementation that moves `f` to another thread carries the autodiff recording mode
    /// with it ([`crate::autograd::carry_grad_mode`]), so `f` behaves as it would here.
    ///
    /// ```
    /// use dualscore_core::backend::reference::Reference;
    /// use dualscore_core::{Backend, Tensor};
    ///
    /// let x = Tensor::<Reference, f64>::from_f64(&Reference, &[1.0, 2.0], [2]).unwrap();
    /// let sum = Reference.run(|| x.sum_all().unwrap().to_scalar().unwrap());
    /// assert_eq!(sum, 3.0);
    /// ```
    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        f()
    }

    /// Runs `jobs` and returns their results in order. A backend with threads of its own may run
    /// them at the same time, each job's kernels then sharing the threads (the CPU backend);
    /// the default runs them one after the other on the calling thread. Each job runs with
    /// this thread's autodiff recording mode.
    ///
    /// ```
    /// use dualscore_core::backend::{Job, reference::Reference};
    /// use dualscore_core::Backend;
    ///
    /// let jobs: Vec<Job<usize>> = vec![Box::new(|| 1), Box::new(|| 2)];
    /// assert_eq!(Reference.run_jobs(jobs), vec![1, 2]);
    /// ```
    fn run_jobs<R: Send>(&self, jobs: Vec<Job<'_, R>>) -> Vec<R> {
        jobs.into_iter().map(|job| job()).collect()
    }

    /// Into how many parts a training step splits a batch of `batch` images, to compute the
    /// parts' losses and gradients as [`Backend::run_jobs`] jobs (their gradients are summed in
    /// part order). It must depend only on the batch, never on the thread count, so that
    /// results stay the same for any number of threads. The default, 1, computes the whole
    /// batch at once.
    fn training_parts(&self, batch: usize) -> usize {
        let _ = batch;
        1
    }

    // ---- memory --------------------------------------------------------------------------

    /// A buffer of `len` copies of `value`.
    fn fill<T: Float>(&self, len: usize, value: T) -> Result<Self::Storage<T>>;

    /// A buffer of `len` zeros.
    fn zeros<T: Float>(&self, len: usize) -> Result<Self::Storage<T>> {
        self.fill(len, T::zero())
    }

    /// Copies host data to the device.
    fn upload<T: Float>(&self, data: &[T]) -> Result<Self::Storage<T>>;

    /// Copies device data to the host.
    fn download<T: Float>(&self, storage: &Self::Storage<T>) -> Result<Vec<T>>;

    /// Converts the element type (rounding to nearest from f64 to f32).
    fn cast<T: Float, U: Float>(&self, storage: &Self::Storage<T>) -> Result<Self::Storage<U>> {
        let host: Vec<U> = self
            .download(storage)?
            .into_iter()
            .map(|v| U::of_f64(v.as_f64()))
            .collect();
        self.upload(&host)
    }

    // ---- elementwise ---------------------------------------------------------------------

    /// Applies `op` to every element.
    fn unary<T: Float>(&self, op: UnaryOp, x: &Self::Storage<T>) -> Result<Self::Storage<T>>;

    /// Applies `op` to the NumPy broadcast of `lhs` and `rhs`; the output has the broadcast shape.
    fn binary<T: Float>(
        &self,
        op: BinaryOp,
        lhs: &Self::Storage<T>,
        lhs_shape: &Shape,
        rhs: &Self::Storage<T>,
        rhs_shape: &Shape,
    ) -> Result<Self::Storage<T>>;

    // ---- reductions and broadcasting -------------------------------------------------------

    /// Reduces `axes` of `x`; the output keeps them as size-1 axes (see [`ReduceOp::output_shape`]).
    /// Parallel implementations must use a partition that does not depend on the thread count,
    /// so results are bitwise reproducible.
    fn reduce<T: Float>(
        &self,
        op: ReduceOp,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>>;

    /// `x` minus its mean over `axes`, and the mean over `axes` of that difference's square
    /// (the variance, with the reduced axes kept as size-1 axes): what a normalization layer
    /// computes before it scales. The default is [`composed::center_with_variance`]: a mean,
    /// a subtraction, a square and a mean.
    fn center_with_variance<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<(Self::Storage<T>, Self::Storage<T>)> {
        composed::center_with_variance(self, x, shape, axes)
    }

    /// Materializes the broadcast of `x` to `target` (which `shape` must broadcast to).
    fn broadcast_to<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        target: &Shape,
    ) -> Result<Self::Storage<T>>;

    // ---- linear algebra and convolution -----------------------------------------------------

    /// A batched matrix product, see [`MatmulSpec`].
    fn matmul<T: Float>(
        &self,
        lhs: &Self::Storage<T>,
        rhs: &Self::Storage<T>,
        spec: &MatmulSpec,
    ) -> Result<Self::Storage<T>>;

    /// 2-D convolution in NCHW, see [`Conv2dParams`].
    fn conv2d<T: Float>(
        &self,
        input: &Self::Storage<T>,
        input_shape: &Shape,
        weight: &Self::Storage<T>,
        weight_shape: &Shape,
        params: &Conv2dParams,
    ) -> Result<Self::Storage<T>>;

    /// The gradient with respect to the weight of [`Backend::conv2d`]`(input, weight, params)`
    /// for the gradient `grad` of its output: `[O, C, KH, KW]` with `kernel = [KH, KW]` (see
    /// [`Conv2dParams::weight_grad_shape`]). The default is [`composed::conv2d_weight_grad`],
    /// a convolution of permuted copies.
    fn conv2d_weight_grad<T: Float>(
        &self,
        input: &Self::Storage<T>,
        input_shape: &Shape,
        grad: &Self::Storage<T>,
        grad_shape: &Shape,
        kernel: [usize; 2],
        params: &Conv2dParams,
    ) -> Result<Self::Storage<T>> {
        composed::conv2d_weight_grad(self, input, input_shape, grad, grad_shape, kernel, params)
    }

    /// 2-D transposed convolution in NCHW, see [`ConvTranspose2dParams`].
    fn conv_transpose2d<T: Float>(
        &self,
        input: &Self::Storage<T>,
        input_shape: &Shape,
        weight: &Self::Storage<T>,
        weight_shape: &Shape,
        params: &ConvTranspose2dParams,
    ) -> Result<Self::Storage<T>>;

    // ---- layout ---------------------------------------------------------------------------

    /// Reorders axes: output axis `i` is input axis `axes[i]`.
    fn permute<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>>;

    /// Joins buffers along `axis` (see [`concat_shape`]).
    fn concat<T: Float>(
        &self,
        parts: &[(&Self::Storage<T>, &Shape)],
        axis: usize,
    ) -> Result<Self::Storage<T>>;

    /// The elements `start..start + len` along `axis` (see [`slice_shape`]).
    fn slice<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axis: usize,
        start: usize,
        len: usize,
    ) -> Result<Self::Storage<T>>;

    /// Zero padding, `(before, after)` per axis (see [`pad_shape`]).
    fn pad<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        pads: &[(usize, usize)],
    ) -> Result<Self::Storage<T>>;

    /// Reverses the order of elements along each of `axes`.
    fn flip<T: Float>(
        &self,
        x: &Self::Storage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Self::Storage<T>>;

    // ---- random numbers -------------------------------------------------------------------

    /// Uniform numbers in [0, 1) at indices `offset..offset + len` of the sequence `key`
    /// (see [`crate::rng`]); every backend returns the same values.
    fn random_uniform<T: Float>(
        &self,
        key: RngKey,
        offset: u64,
        len: usize,
    ) -> Result<Self::Storage<T>> {
        // Rounding to nearest could turn a value just below 1 into 1 in f32: keep [0, 1).
        let below_one = T::one() - T::epsilon() / (T::one() + T::one());
        let host: Vec<T> = rng::uniform_values(key, offset, len)
            .into_iter()
            .map(|u| T::of_f64(u).min(below_one))
            .collect();
        self.upload(&host)
    }

    /// Standard normal numbers at indices `offset..offset + len` of the sequence `key`.
    fn random_normal<T: Float>(
        &self,
        key: RngKey,
        offset: u64,
        len: usize,
    ) -> Result<Self::Storage<T>> {
        let host: Vec<T> = rng::normal_values(key, offset, len)
            .into_iter()
            .map(T::of_f64)
            .collect();
        self.upload(&host)
    }
}
