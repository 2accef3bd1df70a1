//! Analytic models: Gaussian densities described by a small JSON file, with exact log p.

use super::open::ModelError;
use dualscore_core::energy::analytic::Gaussian;
use dualscore_core::linalg::Matrix;
use serde::{Deserialize, Serialize};
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

/// The contents of an analytic model file:
///
/// ```json
/// {"kind": "gaussian", "shape": [1, 8, 8], "mean": 0.5, "variance": 0.01}
/// ```
///
/// `mean` is one number or `C H W` numbers; the covariance is `variance` (one number:
/// isotropic; `C H W` numbers: diagonal) or `covariance` (a `d x d` matrix as rows).
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
}

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
    pub density: Gaussian,
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
                gaussian
                    .and_then(|g| g.with_shape(shape))
                    .map_err(|e| e.to_string())?
            }
        };
        Ok(AnalyticModel { spec, density })
    }

    /// Reads an analytic model file.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let bad = |why: String| ModelError::new(path, why);
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let spec: AnalyticSpec = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not an analytic model description: {e}")))?;
        Self::from_spec(spec).map_err(bad)
    }

    /// The image shape `[C, H, W]`.
    pub fn image_shape(&self) -> [usize; 3] {
        match &self.spec {
            AnalyticSpec::Gaussian { shape, .. } => *shape,
        }
    }
}
