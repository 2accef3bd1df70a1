//! The CPU backend's storage: a host vector that goes back to the [buffer cache](crate::cache)
//! when it is dropped.

use crate::cache;
use dualscore_core::Float;
use std::fmt;
use std::ops::{Deref, DerefMut};

/// The storage of a tensor on the CPU backend: a contiguous host buffer, read and written as a
/// slice. Dropping it hands its memory to the [buffer cache](crate::cache) for the next kernel.
///
/// ```
/// use dualscore_core::Backend;
/// use dualscore_cpu::{Buffer, Cpu};
///
/// let cpu = Cpu::with_threads(1).unwrap();
/// let x: Buffer<f32> = cpu.upload(&[1.0, 2.0]).unwrap();
/// assert_eq!(&x[..], &[1.0, 2.0]);
/// assert_eq!(x.into_vec(), vec![1.0, 2.0]);
/// ```
pub struct Buffer<T: Float> {
    data: Vec<T>,
}

impl<T: Float> Buffer<T> {
    /// The elements as a vector (no copy).
    pub fn into_vec(mut self) -> Vec<T> {
        std::mem::take(&mut self.data)
    }
}

impl<T: Float> From<Vec<T>> for Buffer<T> {
    fn from(data: Vec<T>) -> Self {
        Buffer { data }
    }
}

impl<T: Float> Drop for Buffer<T> {
    fn drop(&mut self) {
        cache::give(std::mem::take(&mut self.data));
    }
}

impl<T: Float> Clone for Buffer<T> {
    fn clone(&self) -> Self {
        match crate::reserved(self.data.len()) {
            Ok(mut data) => {
                data.extend_from_slice(&self.data);
                Buffer { data }
            }
            Err(_) => Buffer {
                data: self.data.clone(),
            },
        }
    }
}

impl<T: Float> Deref for Buffer<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.data
    }
}

impl<T: Float> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.data
    }
}

impl<T: Float> fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.data.iter()).finish()
    }
}

impl<T: Float> PartialEq for Buffer<T> {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
    }
}
