//! [`ImageSet`]: a loaded set of images, its patches, flips and conversion for training.

use std::path::{Path, PathBuf};

use dualscore_core::rng::{RngKey, uniform_at};
use dualscore_core::train::InMemoryImages;
use dualscore_core::{Backend, Float};

use super::error::{DataError, Result};
use super::finite::first_non_finite;
use super::patches;
use super::summary::Summary;

/// A non-empty set of images of one shape, held as row-major f64 values of shape
/// `[N, C, H, W]`, with the file or folder it came from (named in errors).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    values: Vec<f64>,
    shape: [usize; 4],
    origin: PathBuf,
}

impl ImageSet {
    /// A set from row-major values of shape `[N, C, H, W]`; `origin` names it in errors. Fails
    /// when a dimension is zero, `values` does not have `N C H W` elements, or a value is NaN
    /// or infinite (the error names the image, channel, row and column).
    pub fn new(values: Vec<f64>, shape: [usize; 4], origin: impl Into<PathBuf>) -> Result<Self> {
        let origin = origin.into();
        for (name, &d) in ["N", "C", "H", "W"].iter().zip(&shape) {
            if d == 0 {
                return Err(DataError::empty(
                    &origin,
                    format!("the shape {shape:?} (N, C, H, W) has {name} = 0"),
                ));
            }
        }
        let len = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if len != Some(values.len()) {
            return Err(DataError::invalid(
                &origin,
                format!(
                    "{} values do not make images of shape {shape:?} (N, C, H, W)",
                    values.len()
                ),
            ));
        }
        if let Some(found) = first_non_finite(&values, shape) {
            return Err(DataError::invalid(&origin, found.to_string()));
        }
        Ok(ImageSet {
            values,
            shape,
            origin,
        })
    }

    /// The number of images, N.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Always false: a set has at least one image.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The shape of the set, `[N, C, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// The shape of one image, `[C, H, W]`.
    pub fn image_shape(&self) -> [usize; 3] {
        [self.shape[1], self.shape[2], self.shape[3]]
    }

    /// The values, row-major `[N, C, H, W]`.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The values, row-major `[N, C, H, W]`, without a copy.
    pub fn into_values(self) -> Vec<f64> {
        self.values
    }

    /// The values of image `index`, row-major `[C, H, W]`; `None` past the end.
    pub fn image(&self, index: usize) -> Option<&[f64]> {
        let d = self.image_len();
        self.values
            .get(index.checked_mul(d)?..(index + 1).checked_mul(d)?)
    }

    /// The file or folder the set came from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The count, shape, mean, standard deviation and range of the set.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.values, self.len(), self.image_shape())
    }

    /// Every `patch` x `patch` patch at stride `stride` of every image (all channels kept), image
    /// by image, then row by row, then column by column. Cutting 32 x 32 images with patch 16
    /// and stride 16 gives four patches per image.
    ///
    /// Fails when `patch` or `stride` is zero or the images are smaller than one patch.
    pub fn patches(&self, patch: usize, stride: usize) -> Result<ImageSet> {
        let mut out = Vec::new();
        let count = patches::cut_into(
            &mut out,
            &self.values,
            self.shape,
            patch,
            stride,
            &self.origin,
        )?;
        ImageSet::new(
            out,
            [count, self.shape[1], patch, patch],
            self.origin.clone(),
        )
    }

    /// The images at `indices` (repetitions allowed), in that order. Fails when `indices` is
    /// empty or an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Result<ImageSet> {
        let d = self.image_len();
        let mut out = Vec::with_capacity(indices.len().saturating_mul(d).min(self.values.len()));
        for &i in indices {
            let image = self.image(i).ok_or_else(|| {
                DataError::invalid(
                    &self.origin,
                    format!("image index {i} is out of range for {} images", self.len()),
                )
            })?;
            out.extend_from_slice(image);
        }
        let [_, c, h, w] = self.shape;
        ImageSet::new(out, [indices.len(), c, h, w], self.origin.clone())
    }

    /// Mirrors image `index` left to right (every channel). Returns false, changing nothing, when
    /// `index` is out of range.
    pub fn flip_horizontal(&mut self, index: usize) -> bool {
        if index >= self.len() {
            return false;
        }
        let d = self.image_len();
        let w = self.shape[3];
        for row in self.values[index * d..(index + 1) * d].chunks_exact_mut(w) {
            row.reverse();
        }
        true
    }

    /// Mirrors each image left to right with probability 1/2, a pure function of `key`: image
    /// `i` is flipped when the uniform number at index `i` of `key` is below 1/2. Returns the
    /// number of images flipped. (The trainer can also flip each batch it draws; this is for a
    /// set prepared once.)
    pub fn random_horizontal_flips(&mut self, key: RngKey) -> usize {
        let mut flipped = 0;
        for i in 0..self.len() {
            if uniform_at(key, i as u64) < 0.5 {
                self.flip_horizontal(i);
                flipped += 1;
            }
        }
        flipped
    }

    /// The set followed by its mirror images (2 N images): image `N + i` is image `i` flipped
    /// left to right.
    pub fn with_horizontal_flips(&self) -> ImageSet {
        let mut mirrored = self.clone();
        for i in 0..self.len() {
            mirrored.flip_horizontal(i);
        }
        let mut values = Vec::with_capacity(2 * self.values.len());
        values.extend_from_slice(&self.values);
        values.extend_from_slice(&mirrored.values);
        let mut shape = self.shape;
        shape[0] *= 2;
        ImageSet {
            values,
            shape,
            origin: self.origin.clone(),
        }
    }

    /// The set as training data on `backend`, in precision `T` (values rounded from f64): an
    /// [`InMemoryImages`], which implements [`dualscore_core::train::ImageSource`].
    pub fn to_in_memory<B: Backend, T: Float>(&self, backend: &B) -> Result<InMemoryImages<B, T>> {
        InMemoryImages::from_f64(backend, &self.values, self.shape).map_err(|source| {
            DataError::Core {
                path: self.origin.clone(),
                source,
            }
        })
    }

    fn image_len(&self) -> usize {
        self.shape[1] * self.shape[2] * self.shape[3]
    }
}
