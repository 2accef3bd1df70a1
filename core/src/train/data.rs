//! Where training images come from: the [`ImageSource`] trait, an in-memory source, and the
//! reproducible order in which a run visits them.

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::rng::{RngKey, uniform_at};
use crate::scalar::Float;
use crate::tensor::Tensor;

/// A data set of images of one shape `[C, H, W]`, fetched in batches by index.
pub trait ImageSource<B: Backend, T: Float> {
    /// The number of images.
    fn num_images(&self) -> usize;

    /// The shape of one image, `[C, H, W]`.
    fn image_shape(&self) -> [usize; 3];

    /// The images at `indices` (repetitions allowed), as a tensor `[indices.len(), C, H, W]`.
    fn fetch(&self, indices: &[usize]) -> Result<Tensor<B, T>>;
}

/// Images held in host memory and uploaded batch by batch.
#[derive(Clone, Debug)]
pub struct InMemoryImages<B: Backend, T: Float> {
    backend: B,
    values: Vec<T>,
    shape: [usize; 4],
}

impl<B: Backend, T: Float> InMemoryImages<B, T> {
    /// The images of a tensor `[N, C, H, W]` (copied to the host once).
    pub fn from_tensor(images: &Tensor<B, T>) -> Result<Self> {
        let shape = image_batch_shape(images.dims())?;
        Ok(InMemoryImages {
            backend: images.backend().clone(),
            values: images.to_vec()?,
            shape,
        })
    }

    /// Images from row-major f64 values of shape `[N, C, H, W]` (rounded to `T`).
    pub fn from_f64(backend: &B, values: &[f64], shape: [usize; 4]) -> Result<Self> {
        image_batch_shape(&shape)?;
        let len = shape.iter().product::<usize>();
        if values.len() != len {
            return Err(Error::StorageLength {
                op: "InMemoryImages",
                expected: len,
                actual: values.len(),
            });
        }
        Ok(InMemoryImages {
            backend: backend.clone(),
            values: values.iter().map(|&v| T::of_f64(v)).collect(),
            shape,
        })
    }

    /// The values, row-major `[N, C, H, W]`.
    pub fn values(&self) -> &[T] {
        &self.values
    }
}

fn image_batch_shape(dims: &[usize]) -> Result<[usize; 4]> {
    match dims {
        &[n, c, h, w] if n > 0 && c > 0 && h > 0 && w > 0 => Ok([n, c, h, w]),
        _ => Err(Error::invalid(
            "InMemoryImages",
            format!("images must be a non-empty [N, C, H, W] array, got shape {dims:?}"),
        )),
    }
}

impl<B: Backend, T: Float> ImageSource<B, T> for InMemoryImages<B, T> {
    fn num_images(&self) -> usize {
        self.shape[0]
    }

    fn image_shape(&self) -> [usize; 3] {
        [self.shape[1], self.shape[2], self.shape[3]]
    }

    fn fetch(&self, indices: &[usize]) -> Result<Tensor<B, T>> {
        let d = self.shape[1] * self.shape[2] * self.shape[3];
        let mut batch = Vec::with_capacity(indices.len() * d);
        for &i in indices {
            if i >= self.shape[0] {
                return Err(Error::invalid(
                    "fetch",
                    format!(
                        "image index {i} is out of range for {} images",
                        self.shape[0]
                    ),
                ));
            }
            batch.extend_from_slice(&self.values[i * d..(i + 1) * d]);
        }
        Tensor::from_slice(
            &self.backend,
            &batch,
            [indices.len(), self.shape[1], self.shape[2], self.shape[3]],
        )
    }
}

/// The order in which a run visits a data set of `n` images: epoch after epoch, each a
/// permutation (Fisher-Yates) drawn from the counter-based sequence `key`. The permutation of
/// epoch e uses the uniform numbers at indices `e n .. (e + 1) n`, so the order is a pure
/// function of (key, n) and a position in it is one integer.
#[derive(Clone, Debug)]
pub struct EpochOrder {
    key: RngKey,
    n: usize,
    cached: Option<(u64, Vec<usize>)>,
}

impl EpochOrder {
    /// The order of `n` images drawn from `key`.
    pub fn new(key: RngKey, n: usize) -> Result<Self> {
        if n == 0 {
            return Err(Error::invalid("EpochOrder", "the data set has no images"));
        }
        Ok(EpochOrder {
            key,
            n,
            cached: None,
        })
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false (an order has at least one image).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The permutation of epoch `epoch`.
    pub fn permutation(&self, epoch: u64) -> Vec<usize> {
        let n = self.n as u64;
        let mut perm: Vec<usize> = (0..self.n).collect();
        for i in (1..self.n).rev() {
            let u = uniform_at(self.key, epoch * n + i as u64);
            let j = ((u * (i + 1) as f64) as usize).min(i);
            perm.swap(i, j);
        }
        perm
    }

    /// The image at position `position` of the endless sequence of epochs.
    pub fn at(&mut self, position: u64) -> usize {
        let n = self.n as u64;
        let epoch = position / n;
        if self.cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.cached = Some((epoch, self.permutation(epoch)));
        }
        let (_, perm) = self.cached.as_ref().expect("just filled");
        perm[(position % n) as usize]
    }

    /// The images at positions `start .. start + len`.
    pub fn batch(&mut self, start: u64, len: usize) -> Vec<usize> {
        (0..len as u64).map(|k| self.at(start + k)).collect()
    }
}
