//! Noise levels: the log-uniform training distribution of the variance t and the fixed
//! evaluation grid of PSNRs, both the authors' (docs/PROGRAM.md, `train`).
//!
//! For images in [0, 1] the noise PSNR is -10 log10 t dB: t = 1e-9 is 90 dB and t = 1e3 is
//! -30 dB.

use crate::error::{Error, Result};
use crate::rng::CounterRng;
use serde::{Deserialize, Serialize};

/// The noise PSNR in dB of the variance `t` (images in [0, 1]): -10 log10 t.
pub fn variance_to_psnr(t: f64) -> f64 {
    -10.0 * libm::log10(t)
}

/// The noise variance of a PSNR in dB (images in [0, 1]): 10^(-psnr / 10).
pub fn psnr_to_variance(psnr_db: f64) -> f64 {
    libm::pow(10.0, -psnr_db / 10.0)
}

/// The authors' evaluation grid: 17 PSNRs from -30 to 90 dB in steps of 7.5 dB.
pub const EVAL_PSNRS_DB: [f64; 17] = [
    -30.0, -22.5, -15.0, -7.5, 0.0, 7.5, 15.0, 22.5, 30.0, 37.5, 45.0, 52.5, 60.0, 67.5, 75.0,
    82.5, 90.0,
];

/// The noise variances of [`EVAL_PSNRS_DB`], from 1e3 down to 1e-9.
pub fn evaluation_variances() -> Vec<f64> {
    EVAL_PSNRS_DB.iter().map(|&p| psnr_to_variance(p)).collect()
}

/// PSNRs from `from_db` to `to_db` (inclusive, when it falls on the grid) in steps of
/// `step_db`; empty if `step_db` is not positive or `to_db < from_db`.
pub fn psnr_grid(from_db: f64, to_db: f64, step_db: f64) -> Vec<f64> {
    let usable = step_db > 0.0 && to_db >= from_db && from_db.is_finite() && to_db.is_finite();
    if !usable {
        return Vec::new();
    }
    // A half-step tolerance keeps the end point despite rounding of (to - from) / step.
    let count = ((to_db - from_db) / step_db + 1e-9).floor() as usize + 1;
    (0..count).map(|k| from_db + k as f64 * step_db).collect()
}

/// The log-uniform distribution of the noise variance t over [t_min, t_max] (uniform PSNR):
/// the training distribution of the paper, one t per image.
///
/// ```
/// use dualscore_core::rng::{CounterRng, RngKey};
/// use dualscore_core::train::LogUniform;
/// let noise = LogUniform::default(); // 1e-9 .. 1e3, PSNR 90 .. -30 dB
/// let mut rng = CounterRng::new(RngKey::new(0, 3));
/// let t = noise.sample(&mut rng, 4);
/// assert!(t.iter().all(|&t| (1e-9..=1e3).contains(&t)));
/// assert_eq!(rng.next, 4); // one uniform number per image
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogUniform {
    /// The smallest variance (the highest PSNR), > 0.
    pub t_min: f64,
    /// The largest variance (the lowest PSNR), > t_min.
    pub t_max: f64,
}

impl Default for LogUniform {
    /// The paper's range: t in [1e-9, 1e3], PSNR 90 .. -30 dB.
    fn default() -> Self {
        LogUniform {
            t_min: 1e-9,
            t_max: 1e3,
        }
    }
}

impl LogUniform {
    /// The range [t_min, t_max], checked.
    pub fn new(t_min: f64, t_max: f64) -> Result<Self> {
        let range = LogUniform { t_min, t_max };
        range.validate()?;
        Ok(range)
    }

    /// The range between two PSNRs in dB: `max_psnr_db` gives t_min, `min_psnr_db` t_max.
    pub fn from_psnr(max_psnr_db: f64, min_psnr_db: f64) -> Result<Self> {
        Self::new(psnr_to_variance(max_psnr_db), psnr_to_variance(min_psnr_db))
    }

    /// Checks 0 < t_min < t_max < infinity.
    pub fn validate(&self) -> Result<()> {
        if !(self.t_min > 0.0 && self.t_min < self.t_max && self.t_max.is_finite()) {
            return Err(Error::invalid(
                "noise range",
                format!(
                    "need 0 < t_min < t_max < infinity, got t_min = {}, t_max = {}",
                    self.t_min, self.t_max
                ),
            ));
        }
        Ok(())
    }

    /// The variance at quantile `u` in [0, 1]: t_min (t_max / t_min)^u, computed as
    /// t_min exp(u ln(t_max / t_min)) (exactly t_min at u = 0).
    pub fn quantile(&self, u: f64) -> f64 {
        let log_ratio = libm::log(self.t_max / self.t_min);
        (self.t_min * libm::exp(u * log_ratio)).clamp(self.t_min, self.t_max)
    }

    /// `n` variances, one uniform number of `rng` each (so `rng` advances by `n`).
    pub fn sample(&self, rng: &mut CounterRng, n: usize) -> Vec<f64> {
        rng.uniform(n)
            .into_iter()
            .map(|u| self.quantile(u))
            .collect()
    }
}
