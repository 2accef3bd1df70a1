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

    /// The images at `indices`, image `i` mirrored horizontally (its width axis reversed) where
    /// `mirror[i]` is true; `mirror` has one entry per index.
    ///
    /// The default fetches the batch and mirrors it on the device in one computation,
    /// [`mirror_images`]. A source that holds its images on the host can mirror them while
    /// gathering them, as [`InMemoryImages`] does, so that the batch is one upload and no device
    /// work.
    fn fetch_mirrored(&self, indices: &[usize], mirror: &[bool]) -> Result<Tensor<B, T>> {
        mirror_images(&self.fetch(indices)?, mirror)
    }
}

/// Mirrors image `i` of a batch `[N, C, H, W]` horizontally where `mirror[i]` is true, in one
/// device computation: the whole batch reversed along the width, `f`, and a mask `m` of shape
/// `[N, 1, 1, 1]` (1 for a mirrored image) uploaded from `mirror`, combined as
/// `x (1 - m) + f m`. For finite values that is `x` or `f` exactly, except that a pixel equal
/// to -0 can come out as +0 (a sum of zeros of opposite signs: the same number, another sign
/// bit); an infinite or NaN pixel makes the pixel at its mirrored position NaN too, so a
/// non-finite image stays non-finite. A batch with no mirrored image is
/// returned as it is, and one with every image mirrored is the exact reversal.
pub fn mirror_images<B: Backend, T: Float>(
    x: &Tensor<B, T>,
    mirror: &[bool],
) -> Result<Tensor<B, T>> {
    let n = match x.dims() {
        &[n, _, _, _] if n == mirror.len() => n,
        dims => {
            return Err(Error::shapes(
                "mirror_images",
                dims,
                &[mirror.len()],
                "the batch must be [N, C, H, W] with one mirror flag per image",
            ));
        }
    };
    if !mirror.iter().any(|&m| m) {
        return Ok(x.clone());
    }
    let flipped = x.flip(&[3])?;
    if mirror.iter().all(|&m| m) {
        return Ok(flipped);
    }
    let mask: Vec<f64> = mirror.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
    let mask = Tensor::from_f64(x.backend(), &mask, [n, 1, 1, 1])?;
    let keep = mask.affine(-1.0, 1.0)?;
    x.mul(&keep)?.add(&flipped.mul(&mask)?)
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
        self.gather(indices, None)
    }

    /// Mirrors the images on the host while gathering them: exact, and one upload.
    fn fetch_mirrored(&self, indices: &[usize], mirror: &[bool]) -> Result<Tensor<B, T>> {
        if mirror.len() != indices.len() {
            return Err(Error::shapes(
                "fetch_mirrored",
                &[indices.len()],
                &[mirror.len()],
                "one mirror flag per image",
            ));
        }
        self.gather(indices, Some(mirror))
    }
}

impl<B: Backend, T: Float> InMemoryImages<B, T> {
    /// The images at `indices` as one upload, each reversed along its rows where `mirror` says.
    fn gather(&self, indices: &[usize], mirror: Option<&[bool]>) -> Result<Tensor<B, T>> {
        let [count, c, h, w] = self.shape;
        let d = c * h * w;
        let mut batch = Vec::with_capacity(indices.len() * d);
        for (k, &i) in indices.iter().enumerate() {
            if i >= count {
                return Err(Error::invalid(
                    "fetch",
                    format!("image index {i} is out of range for {count} images"),
                ));
            }
            let image = &self.values[i * d..(i + 1) * d];
            if mirror.is_some_and(|m| m[k]) {
                for row in image.chunks_exact(w) {
                    batch.extend(row.iter().rev());
                }
            } else {
                batch.extend_from_slice(image);
            }
        }
        Tensor::from_slice(&self.backend, &batch, [indices.len(), c, h, w])
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
