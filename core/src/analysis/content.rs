//! Probability and image content (docs/METHOD.md section 5.6, Fig. 4): contrast curves and the
//! sparsity of Haar wavelet coefficients.

use super::{check_batch, data_shape, nats_to_db_per_dim};
use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::density::check_energy_values;
use crate::energy::Energy;
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// How to measure [`contrast_curves`].
#[derive(Clone, Debug, PartialEq)]
pub struct ContrastOptions {
    /// The contrasts a.
    pub contrasts: Vec<f64>,
    /// The offset b added to every pixel (the paper's 1/2: mid-gray).
    pub offset: f64,
    /// The normalization constant c in nats (-log p = U + c); `None` reports log p up to c.
    pub constant_nats: Option<f64>,
    /// Images per energy evaluation.
    pub batch_size: usize,
}

impl Default for ContrastOptions {
    /// a = 0, 0.05, ..., 0.5 (the paper's range), offset 1/2, no constant, batches of 64.
    fn default() -> Self {
        ContrastOptions {
            contrasts: (0..=10).map(|k| 0.05 * k as f64).collect(),
            offset: 0.5,
            constant_nats: None,
            batch_size: 64,
        }
    }
}

/// log p(a x + b) in dB/dim against the contrast a, for every image x of a data set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContrastCurves {
    /// The contrasts a.
    pub contrasts: Vec<f64>,
    /// The offset b.
    pub offset: f64,
    /// Whether a normalization constant was given (otherwise log p is up to c).
    pub normalized: bool,
    /// log p(a x + b) in dB/dim, `[image][contrast]`.
    pub log_p_db_per_dim: Vec<Vec<f64>>,
    /// The mean over images at each contrast.
    pub mean_log_p_db_per_dim: Vec<f64>,
}

/// log p(a x + b) = -U(a x + b, 0) - c in dB/dim for every image x of `data` (`[n, ...]`) and
/// every contrast a of `options` (b = `options.offset`): one energy evaluation at t = 0 per
/// image and contrast, without recording. At a = 0 every image becomes the flat image b.
///
/// ```
/// use dualscore_core::analysis::{ContrastOptions, contrast_curves};
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::energy::analytic::Gaussian;
/// use dualscore_core::tensor::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// let g = Gaussian::isotropic(vec![0.5; 4], 0.01)?;
/// let x = Tensor::<_, f64>::from_f64(&Reference, &[0.0, 1.0, 0.0, 1.0], [1, 4])?;
/// let curves = contrast_curves(&g, &x, &ContrastOptions::default())?;
/// // Under N(1/2, s I) log p(a x + 1/2) falls with the contrast.
/// let lp = &curves.log_p_db_per_dim[0];
/// assert!(lp.windows(2).all(|w| w[1] < w[0]));
/// # Ok(()) }
/// ```
pub fn contrast_curves<B, T, E>(
    energy: &E,
    data: &Tensor<B, T>,
    options: &ContrastOptions,
) -> Result<ContrastCurves>
where
    B: Backend,
    T: Float,
    E: Energy<B, T> + ?Sized,
{
    const OP: &str = "contrast_curves";
    check_batch(OP, options.batch_size)?;
    if options
        .contrasts
        .iter()
        .chain([&options.offset])
        .chain(options.constant_nats.as_ref())
        .any(|v| !v.is_finite())
    {
        return Err(Error::invalid(
            OP,
            "the contrasts, the offset and the constant must be finite",
        ));
    }
    let (n, sample_shape) = data_shape(OP, data)?;
    let d: usize = sample_shape.iter().product();
    let c = options.constant_nats.unwrap_or(0.0);
    let m = options.contrasts.len();
    let mut table = vec![vec![0.0; m]; n];
    no_grad(|| -> Result<()> {
        for start in (0..n).step_by(options.batch_size) {
            let b = options.batch_size.min(n - start);
            let x = data.slice(0, start, b)?.detach();
            let t = Tensor::zeros(data.backend(), [b])?;
            for (k, &a) in options.contrasts.iter().enumerate() {
                let u = energy.energy(&x.affine(a, options.offset)?, &t)?;
                check_energy_values(OP, &u, b)?;
                for (i, u) in u.to_f64_vec()?.into_iter().enumerate() {
                    table[start + i][k] = nats_to_db_per_dim(-u - c, d);
                }
            }
        }
        Ok(())
    })?;
    let mean = (0..m)
        .map(|k| table.iter().map(|row| row[k]).sum::<f64>() / n as f64)
        .collect();
    Ok(ContrastCurves {
        contrasts: options.contrasts.clone(),
        offset: options.offset,
        normalized: options.constant_nats.is_some(),
        log_p_db_per_dim: table,
        mean_log_p_db_per_dim: mean,
    })
}

/// The detail coefficients of one level of a Haar decomposition, divided by 2^(j+1) (j = 0 the
/// finest level), row-major `height x width`.
///
/// For a 2 x 2 block [p q; r s] of the level's input (the previous level's undivided
/// lowpass), the orthonormal Haar coefficients are (p + q + r + s) / 2 (the lowpass, passed
/// on), (p + q - r - s) / 2 (`horizontal`: a difference between rows),
/// (p - q + r - s) / 2 (`vertical`: between columns) and (p - q - r + s) / 2 (`diagonal`),
/// the same as PyWavelets' `dwt2` with `db1` up to signs (which the participation ratio
/// ignores). Divided by 2^(j+1), a level-j coefficient is a difference of block means:
/// a constant image has lowpass equal to its value at every level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HaarLevel {
    /// Rows of each band.
    pub height: usize,
    /// Columns of each band.
    pub width: usize,
    /// Differences between rows.
    pub horizontal: Vec<f64>,
    /// Differences between columns.
    pub vertical: Vec<f64>,
    /// Diagonal differences.
    pub diagonal: Vec<f64>,
}

/// A J-level Haar (db1) wavelet decomposition of a one-channel image, each level's
/// coefficients divided by 2^(j+1) as in the paper's sparsity measure: the detail bands of
/// every level and the coarsest lowpass (divided by 2^J).
///
/// Sides: with a side that is a power of 2 (at least 2^J), every level halves it exactly and
/// the decomposition has as many coefficients as the image has pixels. Otherwise a level whose
/// input has an odd side first repeats its last row or column (PyWavelets' `symmetric` mode
/// with `db1`), so the band has ceil(side / 2) entries and the decomposition has more
/// coefficients than pixels (a side of 1 stays 1, its details are 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HaarDecomposition {
    /// Levels, finest (j = 0) first.
    pub levels: Vec<HaarLevel>,
    /// Rows of the coarsest lowpass.
    pub lowpass_height: usize,
    /// Columns of the coarsest lowpass.
    pub lowpass_width: usize,
    /// The coarsest lowpass divided by 2^J (the mean of each 2^J x 2^J block), row-major.
    pub lowpass: Vec<f64>,
}

impl HaarDecomposition {
    /// Every coefficient of the sparsity measure: the three detail bands of each level, finest
    /// first, then the coarsest lowpass.
    pub fn coefficients(&self) -> Vec<f64> {
        let mut out = Vec::new();
        for level in &self.levels {
            out.extend_from_slice(&level.horizontal);
            out.extend_from_slice(&level.vertical);
            out.extend_from_slice(&level.diagonal);
        }
        out.extend_from_slice(&self.lowpass);
        out
    }

    /// The participation ratio of [`HaarDecomposition::coefficients`]
    /// ([`participation_ratio`]).
    pub fn participation_ratio(&self) -> f64 {
        participation_ratio(&self.coefficients())
    }
}

/// The J-level Haar decomposition of a one-channel `height x width` image (row-major, finite
/// values), `levels` >= 1; see [`HaarDecomposition`] for the normalization and for sides that
/// are not powers of 2.
///
/// ```
/// use dualscore_core::analysis::haar_decomposition;
/// // A constant 4 x 4 image: no details, a lowpass equal to the constant.
/// let h = haar_decomposition(&[0.3; 16], 4, 4, 2).unwrap();
/// assert!(h.levels.iter().all(|l| l.diagonal.iter().all(|&c| c == 0.0)));
/// assert!((h.lowpass[0] - 0.3).abs() < 1e-15);
/// ```
pub fn haar_decomposition(
    image: &[f64],
    height: usize,
    width: usize,
    levels: usize,
) -> Result<HaarDecomposition> {
    const OP: &str = "haar_decomposition";
    if height == 0 || width == 0 || levels == 0 || image.len() != height * width {
        return Err(Error::invalid(
            OP,
            format!(
                "need a {height} x {width} image of {} values and at least one level, got {} \
                 values and {levels} levels",
                height * width,
                image.len()
            ),
        ));
    }
    if image.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(OP, "the image must be finite"));
    }
    let mut low = image.to_vec();
    let (mut h, mut w) = (height, width);
    let mut out = Vec::with_capacity(levels);
    let mut scale = 1.0;
    for _ in 0..levels {
        scale *= 0.5;
        let (h2, w2) = (h.div_ceil(2), w.div_ceil(2));
        let mut next = vec![0.0; h2 * w2];
        let mut horizontal = vec![0.0; h2 * w2];
        let mut vertical = vec![0.0; h2 * w2];
        let mut diagonal = vec![0.0; h2 * w2];
        for r in 0..h2 {
            let (r0, r1) = (2 * r, (2 * r + 1).min(h - 1));
            for c in 0..w2 {
                let (c0, c1) = (2 * c, (2 * c + 1).min(w - 1));
                let p = low[r0 * w + c0];
                let q = low[r0 * w + c1];
                let s = low[r1 * w + c0];
                let u = low[r1 * w + c1];
                let i = r * w2 + c;
                next[i] = 0.5 * (p + q + s + u);
                horizontal[i] = 0.5 * (p + q - s - u) * scale;
                vertical[i] = 0.5 * (p - q + s - u) * scale;
                diagonal[i] = 0.5 * (p - q - s + u) * scale;
            }
        }
        out.push(HaarLevel {
            height: h2,
            width: w2,
            horizontal,
            vertical,
            diagonal,
        });
        low = next;
        (h, w) = (h2, w2);
    }
    Ok(HaarDecomposition {
        levels: out,
        lowpass_height: h,
        lowpass_width: w,
        lowpass: low.into_iter().map(|v| v * scale).collect(),
    })
}

/// The participation ratio ||c||_1^2 / (n ||c||_2^2) of n coefficients: 1 when all have the
/// same magnitude, 1 / n when one alone is non-zero (lower is sparser). NaN when all are 0
/// (or there are none).
///
/// ```
/// use dualscore_core::analysis::participation_ratio;
/// assert_eq!(participation_ratio(&[1.0, -1.0, 1.0, 1.0]), 1.0);
/// assert_eq!(participation_ratio(&[0.0, 3.0, 0.0, 0.0]), 0.25);
/// ```
pub fn participation_ratio(coefficients: &[f64]) -> f64 {
    let l1: f64 = coefficients.iter().map(|c| c.abs()).sum();
    let l2: f64 = coefficients.iter().map(|c| c * c).sum();
    if l2 > 0.0 {
        l1 * l1 / (coefficients.len() as f64 * l2)
    } else {
        f64::NAN
    }
}

/// The Haar participation ratio of every image of `data` (`[n, C, H, W]` or `[n, H, W]`):
/// each channel decomposed with `levels` levels ([`haar_decomposition`]; the paper takes
/// J = 6 for 64 x 64), all channels' coefficients pooled into one ratio per image. NaN for an
/// all-zero image. Images are downloaded to the host a batch of 256 at a time.
pub fn haar_participation_ratios<B: Backend, T: Float>(
    data: &Tensor<B, T>,
    levels: usize,
) -> Result<Vec<f64>> {
    const OP: &str = "haar_participation_ratios";
    let (channels, height, width) = match *data.dims() {
        [_, c, h, w] => (c, h, w),
        [_, h, w] => (1, h, w),
        _ => {
            return Err(Error::invalid(
                OP,
                format!(
                    "images must be [n, C, H, W] or [n, H, W], got {:?}",
                    data.dims()
                ),
            ));
        }
    };
    let n = data.dims()[0];
    let plane = height * width;
    if channels * plane == 0 {
        return Err(Error::invalid(OP, "images must hold at least one pixel"));
    }
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(256) {
        let b = 256.min(n - start);
        let values = no_grad(|| data.slice(0, start, b)?.to_f64_vec())?;
        for image in values.chunks(channels * plane) {
            let mut coefficients = Vec::new();
            for channel in image.chunks(plane) {
                coefficients
                    .extend(haar_decomposition(channel, height, width, levels)?.coefficients());
            }
            out.push(participation_ratio(&coefficients));
        }
    }
    Ok(out)
}
