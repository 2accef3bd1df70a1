//! A one-line description of an image set: count, shape and value statistics.

use std::fmt;

/// The count, shape and value statistics of a set of images.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The number of images.
    pub count: usize,
    /// The shape of one image, `[C, H, W]`.
    pub image_shape: [usize; 3],
    /// The mean of all values.
    pub mean: f64,
    /// The standard deviation of all values (dividing by the number of values).
    pub std: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Summary {
    /// The statistics of `values`, which hold `count` images of shape `image_shape`.
    pub fn of(values: &[f64], count: usize, image_shape: [usize; 3]) -> Self {
        let len = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / len;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / len;
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        Summary {
            count,
            image_shape,
            mean,
            std: var.sqrt(),
            min,
            max,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [c, h, w] = self.image_shape;
        write!(
            f,
            "{} images of {c} x {h} x {w} (C x H x W), mean {:.4}, std {:.4}, range [{:.4}, {:.4}]",
            self.count, self.mean, self.std, self.min, self.max
        )
    }
}
