//! The normalization constant at t_max and -log p at t = 0.

use super::stats::{
    ImageShape, check_batch, check_energy_values, log_det_covariance_plus_identity,
};
use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::energy::analytic::Estimate;
use crate::energy::{Energy, energy_in_parts};
use crate::error::{Error, Result};
use crate::rng::RngKey;
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::f64::consts::{E, PI};

/// Which Gaussian stands in for p(., t_max) in the normalization constant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConstantForm {
    /// N(mean, S + t_max I) with S the sample covariance of the data: entropy
    /// 1/2 ln det(2 pi e (S + t_max I)). Exact for Gaussian data.
    #[default]
    CovarianceCorrected,
    /// N(mean, t_max I), as in the paper: entropy d/2 ln(2 pi e t_max). It overestimates
    /// log p by about tr(S) / (2 t_max) nats.
    Authors,
}

/// How to compute a [`NormalizationConstant`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormalizationOptions {
    /// The noise variance at which the energy is normalized (1e3 for images in [0, 1]).
    pub t_max: f64,
    /// The form of the constant.
    pub form: ConstantForm,
    /// Images per energy evaluation.
    pub batch_size: usize,
    /// The noise: image i gets the standard normal values at indices `i d .. (i + 1) d` of
    /// this key's sequence, whatever the batch size.
    pub key: RngKey,
}

impl Default for NormalizationOptions {
    /// t_max = 1e3, the covariance-corrected form, batches of 64, key (0, 0).
    fn default() -> Self {
        NormalizationOptions {
            t_max: 1e3,
            form: ConstantForm::CovarianceCorrected,
            batch_size: 64,
            key: RngKey::new(0, 0),
        }
    }
}

/// The constant c with -log p(x) = U(x, 0) + c, for one model and image shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NormalizationConstant {
    /// Channels C of the images it normalizes.
    pub channels: usize,
    /// Height H.
    pub height: usize,
    /// Width W.
    pub width: usize,
    /// The noise variance at which it was estimated.
    pub t_max: f64,
    /// Its form.
    pub form: ConstantForm,
    /// The number of images (one noise draw each).
    pub samples: usize,
    /// c in nats.
    pub value: f64,
    /// The standard error of c in nats: that of the mean of U(y_i, t_max). (The sampling error
    /// of the covariance in the covariance-corrected form is not included; for Gaussian data
    /// it largely cancels against the mean's, so this is conservative there.)
    pub std_error: f64,
    /// mean_i U(x_i + sqrt(t_max) z_i, t_max) in nats.
    pub mean_energy: f64,
    /// The entropy of the stand-in Gaussian in nats (c = this - `mean_energy`).
    pub reference_entropy: f64,
}

impl NormalizationConstant {
    /// The image shape it normalizes.
    pub fn image_shape(&self) -> ImageShape {
        ImageShape {
            channels: self.channels,
            height: self.height,
            width: self.width,
        }
    }

    /// The dimension d = C H W.
    pub fn dim(&self) -> usize {
        self.image_shape().dim()
    }

    /// -log p = U(x, 0) + c, in nats.
    pub fn neg_log_prob_nats(&self, energy_at_zero: f64) -> f64 {
        energy_at_zero + self.value
    }
}

/// The normalization constant of `energy` from clean images `data` (`[n, C, H, W]` on a
/// backend): U is evaluated at y_i = x_i + sqrt(t_max) z_i and t_max, in batches, without
/// recording (no graph is built even if the energy's parameters require gradients).
///
/// c = H_ref - mean_i U(y_i, t_max), with H_ref = 1/2 ln det(2 pi e (S + t_max I)) (S the
/// sample covariance of `data`) for [`ConstantForm::CovarianceCorrected`] and
/// d/2 ln(2 pi e t_max) for [`ConstantForm::Authors`]. Use thousands of images: the spread of U
/// per image is about sqrt(d / 2) nats.
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::density::{NormalizationOptions, normalization_constant};
/// use dualscore_core::energy::analytic::{AnalyticDensity, Gaussian};
/// use dualscore_core::rng::RngKey;
/// use dualscore_core::tensor::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// let g = Gaussian::isotropic(vec![0.5; 4], 0.1)?.with_shape(&[1, 2, 2])?;
/// let data: Tensor<_, f64> = g.sample(&Reference, 500, 0.0, RngKey::new(1, 0))?;
/// let options = NormalizationOptions { t_max: 10.0, ..Default::default() };
/// let c = normalization_constant(&g, &data, &options)?;
/// // The exact energy is already normalized: c = 0 up to its error.
/// assert!(c.value.abs() < 5.0 * c.std_error);
/// # Ok(()) }
/// ```
pub fn normalization_constant<B, T, E>(
    energy: &E,
    data: &Tensor<B, T>,
    options: &NormalizationOptions,
) -> Result<NormalizationConstant>
where
    B: Backend,
    T: Float,
    E: Energy<B, T> + Sync + ?Sized,
{
    const OP: &str = "normalization_constant";
    check_batch(OP, options.batch_size)?;
    let t_max = options.t_max;
    if !(t_max > 0.0 && t_max.is_finite()) {
        return Err(Error::invalid(
            OP,
            format!("t_max must be positive and finite, got {t_max}"),
        ));
    }
    let (n, shape) = ImageShape::of_data(OP, data)?;
    if n < 2 {
        return Err(Error::invalid(
            OP,
            format!("a constant and its error need at least 2 images, got {n}"),
        ));
    }
    let d = shape.dim();
    let [c, h, w] = shape.dims();
    let backend = data.backend();
    let sqrt_t = t_max.sqrt();
    let energies = no_grad(|| -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(options.batch_size) {
            let b = options.batch_size.min(n - start);
            let x = data.slice(0, start, b)?;
            let z = Tensor::randn(backend, [b, c, h, w], options.key, (start * d) as u64)?;
            let y = x.add(&z.scale(sqrt_t)?)?;
            let t = Tensor::full(backend, [b], t_max)?;
            let u = energy_in_parts(energy, &y, &t)?;
            check_energy_values(OP, &u, b)?;
            out.extend(u.to_f64_vec()?);
        }
        Ok(out)
    })?;
    if let Some(bad) = energies.iter().find(|u| !u.is_finite()) {
        return Err(Error::invalid(
            OP,
            format!("the energy is not finite at t_max ({bad})"),
        ));
    }
    let estimate = Estimate::of(&energies);
    let reference_entropy = match options.form {
        ConstantForm::Authors => 0.5 * d as f64 * (2.0 * PI * E * t_max).ln(),
        ConstantForm::CovarianceCorrected => {
            let log_det = log_det_covariance_plus_identity(data, t_max, options.batch_size)?;
            0.5 * (d as f64 * (2.0 * PI * E).ln() + log_det)
        }
    };
    Ok(NormalizationConstant {
        channels: c,
        height: h,
        width: w,
        t_max,
        form: options.form,
        samples: n,
        value: reference_entropy - estimate.mean,
        std_error: estimate.std_error,
        mean_energy: estimate.mean,
        reference_entropy,
    })
}

/// -log p(x) = U(x, 0) + c in nats for each image of `data` (`[n, C, H, W]`, the shape
/// `constant` was computed for): one energy evaluation at t = 0 per image, in batches of
/// `batch_size`, without recording.
pub fn neg_log_prob_nats<B, T, E>(
    energy: &E,
    data: &Tensor<B, T>,
    constant: &NormalizationConstant,
    batch_size: usize,
) -> Result<Vec<f64>>
where
    B: Backend,
    T: Float,
    E: Energy<B, T> + Sync + ?Sized,
{
    const OP: &str = "neg_log_prob_nats";
    check_batch(OP, batch_size)?;
    let (n, shape) = ImageShape::of_data(OP, data)?;
    if shape != constant.image_shape() {
        return Err(Error::invalid(
            OP,
            format!(
                "images of shape {:?} with a constant for {:?}",
                shape.dims(),
                constant.image_shape().dims()
            ),
        ));
    }
    no_grad(|| {
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(batch_size) {
            let b = batch_size.min(n - start);
            let x = data.slice(0, start, b)?;
            let t = Tensor::zeros(data.backend(), [b])?;
            let u = energy_in_parts(energy, &x, &t)?;
            check_energy_values(OP, &u, b)?;
            out.extend(
                u.to_f64_vec()?
                    .into_iter()
                    .map(|u| constant.neg_log_prob_nats(u)),
            );
        }
        Ok(out)
    })
}
