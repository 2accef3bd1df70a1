//! The model files a user gives `--model`: an analytic model description (JSON) and a
//! checkpoint's `checkpoint.json`, on arbitrary bytes: an error or a valid model, never a panic.

use dualscore::model::{AnalyticModel, AnalyticSpec, ModelConfig};
use dualscore_core::energy::analytic::AnalyticDensity;
use dualscore_core::train::CheckpointInfo;

/// Parses `bytes` as both kinds of file and checks what parses.
pub fn run(bytes: &[u8]) {
    if let Ok(spec) = serde_json::from_slice::<AnalyticSpec>(bytes)
        && let Ok(model) = AnalyticModel::from_spec(spec)
    {
        let [c, h, w] = model.image_shape();
        assert_eq!(model.density.dim(), c * h * w);
        let y = vec![0.25; c * h * w];
        let u = model.density.energy_host(&y, 0.5);
        assert!(u.is_ok(), "{u:?}");
    }
    if let Ok(info) = serde_json::from_slice::<CheckpointInfo<ModelConfig>>(bytes) {
        // Validation must not panic whatever the sizes; nothing is allocated.
        let _ = info.model_config.validate();
        let _ = info.train_config.validate();
    }
}

/// Valid files to start from.
pub fn seeds() -> Vec<Vec<u8>> {
    [
        r#"{"kind": "gaussian", "shape": [1, 4, 4], "mean": 0.5, "variance": 0.01}"#,
        r#"{"kind": "gaussian", "shape": [1, 1, 2], "mean": [0, 1], "variance": [1, 2]}"#,
        r#"{"kind": "gaussian", "shape": [1, 1, 2], "mean": 0, "covariance": [[2, 1], [1, 2]]}"#,
        r#"{"kind": "field_mixture", "shape": [1, 4, 4], "components": [{"weight": 1, "alpha": 2, "pixel_variance": 0.02, "mean": 0.5}, {"weight": 2, "alpha": 3, "anisotropy": 2, "pixel_variance": 0.05, "mean": 0.4, "k0": 0.3, "floor": 0.001}]}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}
