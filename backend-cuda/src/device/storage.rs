//! [`CudaStorage`]: a buffer of device memory holding `len` elements of one type.

use super::pool::{Block, Pool};
use dualscore_core::{DType, Float};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// A contiguous buffer of `len` elements of `T` in device memory. Dropping it returns its
/// memory to the device's cache.
pub struct CudaStorage<T> {
    block: Block,
    len: usize,
    pool: Arc<Pool>,
    _element: PhantomData<T>,
}

impl<T: Float> CudaStorage<T> {
    pub(crate) fn new(block: Block, len: usize, pool: Arc<Pool>) -> Self {
        debug_assert!(block.bytes >= len * T::DTYPE.size_in_bytes());
        CudaStorage {
            block,
            len,
            pool,
            _element: PhantomData,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device address of the first element (0 for an empty buffer).
    pub(crate) fn address(&self) -> u64 {
        self.block.address
    }

    /// The size of the elements in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.len * T::DTYPE.size_in_bytes()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        T::DTYPE
    }
}

impl<T> Drop for CudaStorage<T> {
    fn drop(&mut self) {
        self.pool.release(self.block);
    }
}

impl<T: Float> fmt::Debug for CudaStorage<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CudaStorage<{}>[{}] at {:#x}",
            T::DTYPE,
            self.len,
            self.block.address
        )
    }
}
