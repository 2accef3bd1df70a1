//! Local dimensionality and its two consistency checks (the paper's Fig. 5; example 13 and the
//! test `examples_claims`), measured by the program's `dim` code on a trained model.

use crate::ExampleResult;
use crate::natural::Trained;
use dualscore::app::{DimSettings, correlation, measure_dimensionality};
use dualscore::data::ImageSet;
use dualscore_core::analysis::{LocalDimensionality, log_grid};
use dualscore_cpu::Cpu;

/// d_eff of every image of `images` on `points` noise variances from `t_min` to 1e3, with
/// `draws` noise draws per image, per image and with absolute log p.
pub fn measure(
    model: &Trained,
    images: &ImageSet,
    t_min: f64,
    points: usize,
    draws: usize,
    backend: &Cpu,
) -> ExampleResult<LocalDimensionality> {
    let settings = DimSettings {
        grid: log_grid(t_min, 1e3, points)?,
        draws,
        seed: 0,
        per_image: true,
    };
    Ok(measure_dimensionality(
        &model.model,
        images,
        &settings,
        Some(model.constant_nats),
        backend,
    )?)
}

/// The index of the grid point nearest to `t` (in log t).
pub fn nearest(report: &LocalDimensionality, t: f64) -> usize {
    let distance = |s: f64| (s.ln() - t.ln()).abs();
    (0..report.noise_variances.len())
        .min_by(|&a, &b| {
            distance(report.noise_variances[a]).total_cmp(&distance(report.noise_variances[b]))
        })
        .unwrap_or(0)
}

/// The correlation over images of log p(x) and d_eff(x, t) at the grid point nearest `t`:
/// negative when probable images have fewer dimensions.
pub fn log_p_dimension_correlation(report: &LocalDimensionality, t: f64) -> f64 {
    let k = nearest(report, t);
    let (log_p, d_eff): (Vec<f64>, Vec<f64>) = report
        .per_image
        .iter()
        .filter_map(|i| Some((i.direct_log_p_db_per_dim?, i.d_eff.get(k)?.mean)))
        .unzip();
    correlation(&log_p, &d_eff)
}
