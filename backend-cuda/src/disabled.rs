//! The backend in a build without the `cuda` feature: the types exist, so that code generic
//! over backends compiles, but no value of them can be made; [`Cuda::new`] says why.

use crate::{DeviceInfo, NAME};
use dualscore_core::backend::{
    BinaryOp, Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp, UnaryOp,
};
use dualscore_core::{Backend, Error, Float, Result, Shape};
use std::fmt;
use std::marker::PhantomData;

/// No value: nothing of this build's backend can exist.
#[derive(Clone, Copy, Debug)]
enum Never {}

fn built_without_cuda() -> Error {
    Error::Backend {
        backend: NAME.to_string(),
        message: "this program was built without CUDA; rebuild it with the `cuda` feature \
                  (for example `cargo build --release --features cuda`)"
            .to_string(),
    }
}

/// The CUDA backend; in this build (without the `cuda` feature) it cannot be created.
#[derive(Clone)]
pub struct Cuda {
    never: Never,
}

/// A buffer of device memory; in this build none can exist.
pub struct CudaStorage<T> {
    never: Never,
    _element: PhantomData<T>,
}

impl<T> fmt::Debug for CudaStorage<T> {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.never {}
    }
}

impl fmt::Debug for Cuda {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.never {}
    }
}

impl Cuda {
    /// Always an error in this build: it was made without the `cuda` feature.
    pub fn new(_ordinal: usize) -> Result<Cuda> {
        Err(built_without_cuda())
    }

    /// The device this handle runs on.
    pub fn info(&self) -> &DeviceInfo {
        match self.never {}
    }

    /// Waits until every queued kernel has finished.
    pub fn synchronize(&self) -> Result<()> {
        match self.never {}
    }

    /// Bytes of device memory held in the cache of released buffers.
    pub fn cached_bytes(&self) -> usize {
        match self.never {}
    }

    /// Returns the cached memory to the driver.
    pub fn release_cached_memory(&self) -> Result<()> {
        match self.never {}
    }
}

/// Always an error in this build: it was made without the `cuda` feature.
pub fn devices() -> Result<Vec<DeviceInfo>> {
    Err(built_without_cuda())
}

/// Always an error in this build: it was made without the `cuda` feature.
pub fn driver_version() -> Result<(i32, i32)> {
    Err(built_without_cuda())
}

impl Backend for Cuda {
    type Storage<T: Float> = CudaStorage<T>;

    fn name(&self) -> String {
        match self.never {}
    }

    fn len<T: Float>(&self, _: &CudaStorage<T>) -> usize {
        match self.never {}
    }

    fn fill<T: Float>(&self, _: usize, _: T) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn upload<T: Float>(&self, _: &[T]) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn download<T: Float>(&self, _: &CudaStorage<T>) -> Result<Vec<T>> {
        match self.never {}
    }

    fn unary<T: Float>(&self, _: UnaryOp, _: &CudaStorage<T>) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn binary<T: Float>(
        &self,
        _: BinaryOp,
        _: &CudaStorage<T>,
        _: &Shape,
        _: &CudaStorage<T>,
        _: &Shape,
    ) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn reduce<T: Float>(
        &self,
        _: ReduceOp,
        _: &CudaStorage<T>,
        _: &Shape,
        _: &[usize],
    ) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn broadcast_to<T: Float>(
        &self,
        _: &CudaStorage<T>,
        _: &Shape,
        _: &Shape,
    ) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn matmul<T: Float>(
        &self,
        _: &CudaStorage<T>,
        _: &CudaStorage<T>,
        _: &MatmulSpec,
    ) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn conv2d<T: Float>(
        &self,
        _: &CudaStorage<T>,
        _: &Shape,
        _: &CudaStorage<T>,
        _: &Shape,
        _: &Conv2dParams,
    ) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn conv_transpose2d<T: Float>(
        &self,
        _: &CudaStorage<T>,
        _: &Shape,
        _: &CudaStorage<T>,
        _: &Shape,
        _: &ConvTranspose2dParams,
    ) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn permute<T: Float>(
        &self,
        _: &CudaStorage<T>,
        _: &Shape,
        _: &[usize],
    ) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn concat<T: Float>(
        &self,
        _: &[(&CudaStorage<T>, &Shape)],
        _: usize,
    ) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn slice<T: Float>(
        &self,
        _: &CudaStorage<T>,
        _: &Shape,
        _: usize,
        _: usize,
        _: usize,
    ) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn pad<T: Float>(
        &self,
        _: &CudaStorage<T>,
        _: &Shape,
        _: &[(usize, usize)],
    ) -> Result<CudaStorage<T>> {
        match self.never {}
    }

    fn flip<T: Float>(&self, _: &CudaStorage<T>, _: &Shape, _: &[usize]) -> Result<CudaStorage<T>> {
        match self.never {}
    }
}
