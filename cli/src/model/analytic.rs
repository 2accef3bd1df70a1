//! Analytic models: Gaussian densities and mixtures of stationary Gaussian fields described by
//! a small JSON file, with exact log p.

use super::open::ModelError;
use dualscore_core::Backend;
use dualscore_core::autograd::Graph;
use dualscore_core::energy::analytic::{
    AnalyticDensity, Gaussian, GaussianMixture, StationaryGaussianImages, StationaryImageParams,
};
use dualscore_core::energy::{Energy, EnergyGradients};
use dualscore_core::linalg::Matrix;
use dualscore_core::rng::RngKey;
use dualscore_core::scalar::Float;
use dualscore_core::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::f64::consts::{E, PI};
use std::path::Path;

/// One value for every coordinate, or one value per coordinate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerCoordinate {
    /// The same value everywhere.
    Uniform(f64),
    /// `C H W` values, row-major.
    Each(Vec<f64>),
}

impl PerCoordinate {
    fn expand(&self, d: usize, what: &str) -> Result<Vec<f64>, String> {
        match self {
            PerCoordinate::Uniform(v) => Ok(vec![*v; d]),
            PerCoordinate::Each(values) if values.len() == d => Ok(values.clone()),
            PerCoordinate::Each(values) => Err(format!(
                "{what} has {} values, the shape needs 1 or {d}",
                values.len()
            )),
        }
    }
}

/// One stationary Gaussian field of a [`AnalyticSpec::FieldMixture`]: its weight and the
/// parameters of [`StationaryImageParams`] (power spectrum
/// lam(k) = A / ((a kx)^2 + (ky / a)^2 + k0^2)^(alpha / 2) + floor, A set by the pixel variance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldComponent {
    /// The mixture weight (> 0; the weights are normalized to sum to 1).
    pub weight: f64,
    /// The spectral exponent alpha.
    pub alpha: f64,
    /// The anisotropy a (1: isotropic).
    #[serde(default = "one")]
    pub anisotropy: f64,
    /// The variance of each pixel (> floor).
    pub pixel_variance: f64,
    /// The mean of each pixel.
    pub mean: f64,
    /// The low-frequency cutoff in cycles per pixel (default 1 / max(H, W)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k0: Option<f64>,
    /// The white-noise floor of the spectrum (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<f64>,
}

fn one() -> f64 {
    1.0
}

impl FieldComponent {
    /// The field's parameters on an `height x width` grid.
    pub fn params(&self, height: usize, width: usize) -> StationaryImageParams {
        let defaults = StationaryImageParams::new(height, width);
        StationaryImageParams {
            alpha: self.alpha,
            anisotropy: self.anisotropy,
            k0: self.k0.unwrap_or(defaults.k0),
            floor: self.floor.unwrap_or(0.0),
            pixel_variance: self.pixel_variance,
            mean: self.mean,
            ..defaults
        }
    }
}

/// The most components of a field mixture (each holds a `d x d` Fourier basis).
pub const MAX_FIELD_COMPONENTS: usize = 16;

/// The contents of an analytic model file:
///
/// ```json
/// {"kind": "gaussian", "shape": [1, 8, 8], "mean": 0.5, "variance": 0.01}
/// {"kind": "field_mixture", "shape": [1, 16, 16], "components": [
///   {"weight": 1, "alpha": 2, "anisotropy": 1, "pixel_variance": 0.02, "mean": 0.5}]}
/// ```
///
/// Gaussian: `mean` is one number or `C H W` numbers; the covariance is `variance` (one number:
/// isotropic; `C H W` numbers: diagonal) or `covariance` (a `d x d` matrix as rows).
/// Field mixture: one channel on a periodic grid, sum_k w_k N(mean_k, Sigma_k) with Sigma_k the
/// circulant covariance of a stationary field ([`FieldComponent`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AnalyticSpec {
    /// A Gaussian N(mean, covariance) over images of `shape` `[C, H, W]`.
    Gaussian {
        /// The image shape `[C, H, W]`.
        shape: [usize; 3],
        /// The mean.
        mean: PerCoordinate,
        /// The variance (isotropic or diagonal), if no covariance is given.
        #[serde(default)]
        variance: Option<PerCoordinate>,
        /// The full covariance, rows of `d` values.
        #[serde(default)]
        covariance: Option<Vec<Vec<f64>>>,
    },
    /// A mixture of stationary Gaussian fields over images of `shape` `[1, H, W]`.
    FieldMixture {
        /// The image shape `[1, H, W]`.
        shape: [usize; 3],
        /// The fields and their weights.
        components: Vec<FieldComponent>,
    },
}

/// The density of an analytic model: a Gaussian or a Gaussian mixture (a mixture of stationary
/// fields is a mixture of Gaussians with circulant covariances). Its energy is exactly -log p.
#[derive(Clone, Debug)]
pub enum AnalyticEnergy {
    /// N(mean, covariance).
    Gaussian(Gaussian),
    /// sum_k w_k N(mu_k, Sigma_k).
    Mixture(GaussianMixture),
}

impl AnalyticDensity for AnalyticEnergy {
    fn dim(&self) -> usize {
        match self {
            AnalyticEnergy::Gaussian(g) => g.dim(),
            AnalyticEnergy::Mixture(m) => m.dim(),
        }
    }

    fn sample_shape(&self) -> &[usize] {
        match self {
            AnalyticEnergy::Gaussian(g) => g.sample_shape(),
            AnalyticEnergy::Mixture(m) => m.sample_shape(),
        }
    }

    fn energy_host(&self, y: &[f64], t: f64) -> dualscore_core::Result<f64> {
        match self {
            AnalyticEnergy::Gaussian(g) => g.energy_host(y, t),
            AnalyticEnergy::Mixture(m) => m.energy_host(y, t),
        }
    }

    fn sample_rows(&self, n: usize, t: f64, key: RngKey) -> dualscore_core::Result<Vec<f64>> {
        match self {
            AnalyticEnergy::Gaussian(g) => g.sample_rows(n, t, key),
            AnalyticEnergy::Mixture(m) => m.sample_rows(n, t, key),
        }
    }
}

impl<B: Backend, T: Float> Energy<B, T> for AnalyticEnergy {
    fn energy(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> dualscore_core::Result<Tensor<B, T>> {
        match self {
            AnalyticEnergy::Gaussian(g) => g.energy(y, t),
            AnalyticEnergy::Mixture(m) => m.energy(y, t),
        }
    }

    fn energy_gradients(
        &self,
        y: &Tensor<B, T>,
        t: &Tensor<B, T>,
        graph: Graph,
    ) -> dualscore_core::Result<EnergyGradients<B, T>> {
        match self {
            AnalyticEnergy::Gaussian(g) => g.energy_gradients(y, t, graph),
            AnalyticEnergy::Mixture(m) => m.energy_gradients(y, t, graph),
        }
    }
}

dualscore_core::energy_score_model!(impl<B: Backend, T: Float> ScoreModel<B, T> for AnalyticEnergy);

/// The largest dimension `C H W` of an analytic model: its covariance is held as a `d x d`
/// matrix (128 MiB at this size).
pub const MAX_ANALYTIC_DIM: usize = 4096;

/// An analytic density the measurements accept in place of a trained network: its energy is
/// exactly -log p, so its normalization constant is exactly 0.
#[derive(Clone, Debug)]
pub struct AnalyticModel {
    /// What the file said.
    pub spec: AnalyticSpec,
    /// The density, shaped `[C, H, W]`.
    pub density: AnalyticEnergy,
}

/// The number of values of `shape`, checked against [`MAX_ANALYTIC_DIM`].
fn checked_dim(shape: &[usize; 3]) -> Result<usize, String> {
    let d = shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .unwrap_or(usize::MAX);
    if d == 0 {
        return Err(format!("the shape {shape:?} has no values"));
    }
    if d > MAX_ANALYTIC_DIM {
        return Err(format!(
            "the shape {shape:?} has {d} values; analytic models hold at most {MAX_ANALYTIC_DIM}"
        ));
    }
    Ok(d)
}

/// The stationary fields of a field mixture (checked) and their normalized weights.
fn fields(
    shape: &[usize; 3],
    components: &[FieldComponent],
) -> Result<(Vec<f64>, Vec<StationaryGaussianImages>), String> {
    checked_dim(shape)?;
    let [c, h, w] = *shape;
    if c != 1 {
        return Err(format!(
            "a field mixture has one channel: its shape must be [1, H, W], got {shape:?}"
        ));
    }
    if components.is_empty() {
        return Err("a field mixture needs at least one component".into());
    }
    if components.len() > MAX_FIELD_COMPONENTS {
        return Err(format!(
            "a field mixture holds at most {MAX_FIELD_COMPONENTS} components, got {}",
            components.len()
        ));
    }
    let mut models = Vec::with_capacity(components.len());
    for (i, f) in components.iter().enumerate() {
        let at = |why: String| format!("component {}: {why}", i + 1);
        if !(f.weight > 0.0 && f.weight.is_finite()) {
            return Err(at(format!(
                "the weight must be positive and finite, got {}",
                f.weight
            )));
        }
        let p = f.params(h, w);
        let model = StationaryGaussianImages::new(p).map_err(|e| at(e.to_string()))?;
        // A spectrum that underflows to 0 (a huge alpha) would make the energy infinite.
        if model
            .spectrum()
            .iter()
            .any(|l| !(*l > 0.0 && l.is_finite()))
        {
            return Err(at(
                "its spectrum has eigenvalues that are 0 or not finite (alpha too large?)".into(),
            ));
        }
        models.push(model);
    }
    let total: f64 = components.iter().map(|f| f.weight).sum();
    let weights = components.iter().map(|f| f.weight / total).collect();
    Ok((weights, models))
}

impl AnalyticModel {
    /// The model of a parsed specification.
    pub fn from_spec(spec: AnalyticSpec) -> Result<Self, String> {
        let density = match &spec {
            AnalyticSpec::Gaussian {
                shape,
                mean,
                variance,
                covariance,
            } => {
                let d = checked_dim(shape)?;
                let mean = mean.expand(d, "mean")?;
                let gaussian = match (variance, covariance) {
                    (Some(v), None) => {
                        let v = v.expand(d, "variance")?;
                        if let Some(bad) = v.iter().find(|v| !(**v >= 0.0 && v.is_finite())) {
                            return Err(format!("a variance must be finite and >= 0, got {bad}"));
                        }
                        Gaussian::from_eigen(mean, v, Matrix::identity(d))
                    }
                    (None, Some(rows)) => {
                        if rows.len() != d || rows.iter().any(|r| r.len() != d) {
                            return Err(format!("the covariance must be {d} rows of {d} values"));
                        }
                        let m = Matrix::from_vec(d, d, rows.concat()).map_err(|e| e.to_string())?;
                        Gaussian::new(mean, &m)
                    }
                    _ => return Err("give exactly one of 'variance' and 'covariance'".into()),
                };
                AnalyticEnergy::Gaussian(
                    gaussian
                        .and_then(|g| g.with_shape(shape))
                        .map_err(|e| e.to_string())?,
                )
            }
            AnalyticSpec::FieldMixture { shape, components } => {
                let (weights, models) = fields(shape, components)?;
                let gaussians = models
                    .iter()
                    .map(|m| m.gaussian())
                    .collect::<dualscore_core::Result<Vec<_>>>()
                    .map_err(|e| e.to_string())?;
                AnalyticEnergy::Mixture(
                    GaussianMixture::new(&weights, gaussians)
                        .and_then(|m| m.with_shape(shape))
                        .map_err(|e| e.to_string())?,
                )
            }
        };
        Ok(AnalyticModel { spec, density })
    }

    /// Reads an analytic model file.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let bad = |why: String| ModelError::new(path, why);
        let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            bad("not an analytic model description (.json): the file is not text".into())
        })?;
        let spec: AnalyticSpec = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not an analytic model description: {e}")))?;
        Self::from_spec(spec).map_err(bad)
    }

    /// The image shape `[C, H, W]`.
    pub fn image_shape(&self) -> [usize; 3] {
        match &self.spec {
            AnalyticSpec::Gaussian { shape, .. } | AnalyticSpec::FieldMixture { shape, .. } => {
                *shape
            }
        }
    }

    /// A one-line description.
    pub fn describe(&self) -> String {
        match &self.spec {
            AnalyticSpec::Gaussian { shape, .. } => {
                format!("analytic Gaussian on images {shape:?}")
            }
            AnalyticSpec::FieldMixture { shape, components } => format!(
                "analytic mixture of {} stationary Gaussian field(s) on images {shape:?}",
                components.len()
            ),
        }
    }

    /// The exact entropy in nats of the Gaussian with the model's mean and covariance (the best
    /// Gaussian fit, whose expected test -log p this is): 1/2 ln det(2 pi e Sigma). For a field
    /// mixture Sigma is circulant, sum_k w_k Sigma_k plus the spread of the means on the
    /// constant image, so its eigenvalues are the mixed spectra.
    pub fn gaussian_fit_entropy(&self) -> Result<f64, String> {
        match (&self.spec, &self.density) {
            (_, AnalyticEnergy::Gaussian(g)) => Ok(g.entropy(0.0)),
            (AnalyticSpec::FieldMixture { shape, components }, _) => {
                let (weights, models) = fields(shape, components)?;
                let d = shape.iter().product::<usize>();
                let mean: f64 = weights
                    .iter()
                    .zip(&models)
                    .map(|(w, m)| w * m.params().mean)
                    .sum();
                let mut spectrum = vec![0.0; d];
                for (w, m) in weights.iter().zip(&models) {
                    for (s, l) in spectrum.iter_mut().zip(m.spectrum()) {
                        *s += w * l;
                    }
                    // (mu_k - mu) 1 1^T has the eigenvalue d (mu_k - mu)^2 at frequency 0.
                    spectrum[0] += w * d as f64 * (m.params().mean - mean).powi(2);
                }
                Ok(0.5
                    * spectrum
                        .iter()
                        .map(|l| (2.0 * PI * E * l).ln())
                        .sum::<f64>())
            }
            (AnalyticSpec::Gaussian { .. }, AnalyticEnergy::Mixture(_)) => {
                Err("a Gaussian description with a mixture density".into())
            }
        }
    }
}
