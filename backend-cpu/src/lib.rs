//! # dualscore-cpu
//!
//! The CPU backend of dualscore: every kernel of [`dualscore_core::Backend`] for `f32` and
//! `f64`, on host buffers ([`Buffer`]), parallel on a rayon thread pool of its own, with matrix
//! products and convolutions on `matrixmultiply`'s GEMM.
//!
//! Results are bitwise reproducible: the same inputs give the same bits on every run and for
//! every thread count. Work is split into pieces whose boundaries depend only on the sizes,
//! and partial results (of sums, of split matrix products) are combined in a fixed order.
//!
//! ```
//! use dualscore_core::{Backend, Shape};
//! use dualscore_core::backend::ReduceOp;
//! use dualscore_cpu::Cpu;
//!
//! let cpu = Cpu::with_threads(2).unwrap();
//! let x = cpu.upload(&[1.0f32, 2.0, 3.0, 4.0]).unwrap();
//! let rows = cpu.reduce(ReduceOp::Sum, &x, &Shape::new([2, 2]), &[1]).unwrap();
//! assert_eq!(cpu.download(&rows).unwrap(), vec![3.0, 7.0]);
//! ```
//!
//! ## Speed in a program of your own
//!
//! - Run a sequence of many tensor operations inside [`Backend::run`]: `cpu.run(|| ...)` runs
//!   it on a thread of the pool, so each parallel kernel starts on threads that are already
//!   awake. [`Trainer`](dualscore_core::train::Trainer) does this for each step.
//! - A training step allocates and frees its activations hundreds of times, with the same
//!   sizes on every step. The backend keeps the large buffers that tensors free in a [`cache`]
//!   and hands them to the next kernel that asks for their size, so that memory is not returned
//!   to the operating system and faulted in again page by page; [`cache::release`] frees them,
//!   [`cache::set_limit`] bounds them. A caching allocator such as `mimalloc`
//!   (`#[global_allocator] static A: mimalloc::MiMalloc = mimalloc::MiMalloc;`) does the same for
//!   the smaller blocks, and the `dualscore` program uses it. BENCHMARKS.md has the
//!   measurements.

#![warn(missing_docs)]

mod binary;
mod buffer;
pub mod cache;
mod center;
mod conv;
#[cfg(target_arch = "x86_64")]
mod dots;
mod elementwise;
mod fast_math;
mod gemm;
mod layout;
mod matmul;
mod par;
mod reduce;
#[cfg(target_arch = "x86_64")]
mod simd;
mod strided;
mod workspace;

use dualscore_core::autograd::carry_grad_mode;
use dualscore_core::backend::{
    BinaryOp, Conv2dParams, ConvTranspose2dParams, Job, MatmulSpec, ReduceOp, UnaryOp, alloc,
    composed, validate,
};
use dualscore_core::{Backend, Error, Float, Result, Shape};
use std::fmt;
use std::sync::Arc;

pub use buffer::Buffer;

/// The environment variable that sets the number of threads of [`Cpu::new`].
pub const THREADS_ENV: &str = "DUALSCORE_THREADS";

/// The backend's name in its errors.
const NAME: &str = "cpu";

/// A buffer of `len` copies of `value` (an allocation failure is an error).
pub(crate) fn filled<T: Float>(len: usize, value: T) -> Result<Vec<T>> {
    let mut out = reserved(len)?;
    out.resize(len, value);
    Ok(out)
}

/// An empty buffer with room for `len` elements: one of the [`cache`] when it holds one of
/// `len`'s class, else a new allocation (of the class's capacity when it will be cached).
pub(crate) fn reserved<T: Float>(len: usize) -> Result<Vec<T>> {
    if let Some(buf) = cache::take(len) {
        return Ok(buf);
    }
    if cache::rounds_up::<T>(len) {
        let class = cache::class_for_request(len);
        if let Ok(buf) = alloc::reserved(NAME, class) {
            return Ok(buf);
        }
    }
    alloc::reserved(NAME, len)
}

/// A buffer of `len` zeros, written at the speed of `memset` (an allocation failure is an
/// error, as for [`filled`]).
pub(crate) fn zeroed<T: Float>(len: usize) -> Result<Vec<T>> {
    let mut out = Vec::new();
    zeroed_into(&mut out, len)?;
    Ok(out)
}

/// A buffer of `len` elements written piece by piece in parallel, without first zeroing
/// memory that is about to be overwritten: `fill(i, piece)` gets the `i`-th piece of
/// [`par::CHUNK`] elements (the last may be shorter). An allocation failure is an error, as
/// for [`filled`].
///
/// # Safety
///
/// `fill` must initialize every element of each piece it is given.
pub(crate) unsafe fn written_in_chunks<T: Float>(
    cpu: &Cpu,
    len: usize,
    fill: impl Fn(usize, &mut [std::mem::MaybeUninit<T>]) + Sync + Send,
) -> Result<Vec<T>> {
    let mut out = reserved(len)?;
    par::chunks_mut(cpu, &mut out.spare_capacity_mut()[..len], par::CHUNK, fill);
    // SAFETY: the capacity is at least `len`; the pieces of `chunks_mut` cover the first `len`
    // elements, and the caller's `fill` initialized each piece.
    unsafe { out.set_len(len) };
    Ok(out)
}

/// `x` as f32 elements when `T` is f32 (for the kernels written for f32 alone).
#[cfg(target_arch = "x86_64")]
pub(crate) fn as_f32<T: Float>(x: &[T]) -> Option<&[f32]> {
    // SAFETY: `T` is `f32`, checked by its type id.
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(x.as_ptr().cast(), x.len()) })
}

/// `x` as mutable f32 elements when `T` is f32.
#[cfg(target_arch = "x86_64")]
pub(crate) fn as_f32_mut<T: Float>(x: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: `T` is `f32`, checked by its type id.
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast(), x.len()) })
}

/// Makes `buf` `len` zeros, reusing its capacity.
pub(crate) fn zeroed_into<T: Float>(buf: &mut Vec<T>, len: usize) -> Result<()> {
    buf.clear();
    if buf.capacity() < len {
        *buf = reserved(len)?;
    }
    // SAFETY: the capacity is at least `len`, and `Float` is sealed to f32 and f64, for which
    // all-zero bytes are the value +0.0, so the first `len` elements are initialized.
    unsafe {
        buf.as_mut_ptr().write_bytes(0, len);
        buf.set_len(len);
    }
    Ok(())
}

/// The CPU backend: a cheap, cloneable handle to a rayon thread pool of its own.
///
/// Clones share the pool. Every parallel kernel runs inside that pool, never on rayon's global
/// one, so the number of threads is exactly [`Cpu::threads`]. Kernels small enough to be one
/// piece of work run on the calling thread.
#[derive(Clone)]
pub struct Cpu {
    pool: Arc<rayon::ThreadPool>,
    workspace: Arc<workspace::Workspace>,
    threads: usize,
}

impl Cpu {
    /// A backend with the number of threads given by the `DUALSCORE_THREADS` environment
    /// variable when it is set to a positive integer, else one per available core.
    ///
    /// # Panics
    ///
    /// When the operating system refuses to start even one thread.
    pub fn new() -> Cpu {
        let threads = std::env::var(THREADS_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Cpu::with_threads(threads)
            .or_else(|_| Cpu::with_threads(1))
            .unwrap_or_else(|e| panic!("cannot start the CPU backend's thread pool: {e}"))
    }

    /// A backend with `threads` threads; an error for 0 or when the pool cannot be built.
    pub fn with_threads(threads: usize) -> Result<Cpu> {
        if threads == 0 {
            return Err(Error::invalid(
                "cpu",
                "the thread pool needs at least one thread",
            ));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("dualscore-cpu-{i}"))
            .build()
            .map_err(|e| Error::Backend {
                backend: NAME.into(),
                message: format!("cannot build a pool of {threads} threads: {e}"),
            })?;
        Ok(Cpu {
            pool: Arc::new(pool),
            workspace: Arc::default(),
            threads,
        })
    }

    /// The number of threads of the pool.
    pub fn threads(&self) -> usize {
        self.threads
    }

    pub(crate) fn pool(&self) -> &rayon::ThreadPool {
        &self.pool
    }

    pub(crate) fn workspace(&self) -> &workspace::Workspace {
        &self.workspace
    }
}

impl Default for Cpu {
    fn default() -> Self {
        Cpu::new()
    }
}

impl fmt::Debug for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cpu")
            .field("threads", &self.threads)
            .finish()
    }
}

impl Backend for Cpu {
    type Storage<T: Float> = Buffer<T>;

    fn name(&self) -> String {
        let plural = if self.threads == 1 { "" } else { "s" };
        format!("cpu ({} thread{plural})", self.threads)
    }

    fn same_device(&self, _other: &Self) -> bool {
        true
    }

    fn len<T: Float>(&self, storage: &Buffer<T>) -> usize {
        storage.len()
    }

    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(carry_grad_mode(f))
    }

    fn run_jobs<R: Send>(&self, jobs: Vec<Job<'_, R>>) -> Vec<R> {
        par::jobs(self, jobs)
    }

    fn training_parts(&self, batch: usize) -> usize {
        par::training_parts(batch)
    }

    fn fill<T: Float>(&self, len: usize, value: T) -> Result<Buffer<T>> {
        filled(len, value).map(Buffer::from)
    }

    fn zeros<T: Float>(&self, len: usize) -> Result<Buffer<T>> {
        zeroed(len).map(Buffer::from)
    }

    fn upload<T: Float>(&self, data: &[T]) -> Result<Buffer<T>> {
        let mut out = reserved(data.len())?;
        out.extend_from_slice(data);
        Ok(Buffer::from(out))
    }

    fn download<T: Float>(&self, storage: &Buffer<T>) -> Result<Vec<T>> {
        alloc::copied(NAME, storage)
    }

    fn cast<T: Float, U: Float>(&self, storage: &Buffer<T>) -> Result<Buffer<U>> {
        elementwise::cast(self, storage).map(Buffer::from)
    }

    fn unary<T: Float>(&self, op: UnaryOp, x: &Buffer<T>) -> Result<Buffer<T>> {
        elementwise::unary(self, op, x).map(Buffer::from)
    }

    fn binary<T: Float>(
        &self,
        op: BinaryOp,
        lhs: &Buffer<T>,
        lhs_shape: &Shape,
        rhs: &Buffer<T>,
        rhs_shape: &Shape,
    ) -> Result<Buffer<T>> {
        let out = validate::binary(op, lhs.len(), lhs_shape, rhs.len(), rhs_shape)?;
        binary::binary(self, op, lhs, lhs_shape, rhs, rhs_shape, &out).map(Buffer::from)
    }

    fn reduce<T: Float>(
        &self,
        op: ReduceOp,
        x: &Buffer<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Buffer<T>> {
        let checked = validate::reduce(op, x.len(), shape, axes)?;
        reduce::reduce(self, op, x, shape, &checked).map(Buffer::from)
    }

    fn center_with_variance<T: Float>(
        &self,
        x: &Buffer<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<(Buffer<T>, Buffer<T>)> {
        let checked = validate::center_with_variance(x.len(), shape, axes)?;
        match center::center_with_variance(self, x, shape, &checked)? {
            Some((centered, variance)) => Ok((Buffer::from(centered), Buffer::from(variance))),
            None => composed::center_with_variance(self, x, shape, axes),
        }
    }

    fn broadcast_to<T: Float>(
        &self,
        x: &Buffer<T>,
        shape: &Shape,
        target: &Shape,
    ) -> Result<Buffer<T>> {
        let out = validate::broadcast_to(x.len(), shape, target)?;
        layout::broadcast_to(self, x, shape, &out).map(Buffer::from)
    }

    fn matmul<T: Float>(
        &self,
        lhs: &Buffer<T>,
        rhs: &Buffer<T>,
        spec: &MatmulSpec,
    ) -> Result<Buffer<T>> {
        validate::matmul(lhs.len(), rhs.len(), spec)?;
        matmul::matmul(self, lhs, rhs, spec).map(Buffer::from)
    }

    fn conv2d<T: Float>(
        &self,
        input: &Buffer<T>,
        input_shape: &Shape,
        weight: &Buffer<T>,
        weight_shape: &Shape,
        params: &Conv2dParams,
    ) -> Result<Buffer<T>> {
        let out = validate::conv2d(input.len(), input_shape, weight.len(), weight_shape, params)?;
        conv::conv2d(self, input, input_shape, weight, weight_shape, params, &out).map(Buffer::from)
    }

    fn conv2d_weight_grad<T: Float>(
        &self,
        input: &Buffer<T>,
        input_shape: &Shape,
        grad: &Buffer<T>,
        grad_shape: &Shape,
        kernel: [usize; 2],
        params: &Conv2dParams,
    ) -> Result<Buffer<T>> {
        let out = validate::conv2d_weight_grad(
            input.len(),
            input_shape,
            grad.len(),
            grad_shape,
            kernel,
            params,
        )?;
        let fast = conv::conv2d_weight_grad(
            self,
            input,
            input_shape,
            grad,
            grad_shape,
            kernel,
            params,
            &out,
        )?;
        match fast {
            Some(gw) => Ok(Buffer::from(gw)),
            None => composed::conv2d_weight_grad(
                self,
                input,
                input_shape,
                grad,
                grad_shape,
                kernel,
                params,
            ),
        }
    }

    fn conv_transpose2d<T: Float>(
        &self,
        input: &Buffer<T>,
        input_shape: &Shape,
        weight: &Buffer<T>,
        weight_shape: &Shape,
        params: &ConvTranspose2dParams,
    ) -> Result<Buffer<T>> {
        let out = validate::conv_transpose2d(
            input.len(),
            input_shape,
            weight.len(),
            weight_shape,
            params,
        )?;
        conv::conv_transpose2d(self, input, input_shape, weight, weight_shape, params, &out)
            .map(Buffer::from)
    }

    fn permute<T: Float>(&self, x: &Buffer<T>, shape: &Shape, axes: &[usize]) -> Result<Buffer<T>> {
        let out = validate::permute(x.len(), shape, axes)?;
        layout::permute(self, x, shape, axes, &out).map(Buffer::from)
    }

    fn concat<T: Float>(&self, parts: &[(&Buffer<T>, &Shape)], axis: usize) -> Result<Buffer<T>> {
        let lens: Vec<(usize, &Shape)> = parts.iter().map(|&(d, s)| (d.len(), s)).collect();
        let out = validate::concat(&lens, axis)?;
        let parts: Vec<(&[T], &Shape)> = parts.iter().map(|&(d, s)| (&d[..], s)).collect();
        layout::concat(self, &parts, axis, &out).map(Buffer::from)
    }

    fn slice<T: Float>(
        &self,
        x: &Buffer<T>,
        shape: &Shape,
        axis: usize,
        start: usize,
        len: usize,
    ) -> Result<Buffer<T>> {
        let out = validate::slice(x.len(), shape, axis, start, len)?;
        layout::slice(self, x, shape, axis, start, &out).map(Buffer::from)
    }

    fn pad<T: Float>(
        &self,
        x: &Buffer<T>,
        shape: &Shape,
        pads: &[(usize, usize)],
    ) -> Result<Buffer<T>> {
        let out = validate::pad(x.len(), shape, pads)?;
        layout::pad(self, x, shape, pads, &out).map(Buffer::from)
    }

    fn flip<T: Float>(&self, x: &Buffer<T>, shape: &Shape, axes: &[usize]) -> Result<Buffer<T>> {
        let axes = validate::flip(x.len(), shape, axes)?;
        layout::flip(self, x, shape, &axes).map(Buffer::from)
    }
}

#[cfg(test)]
mod tests;
