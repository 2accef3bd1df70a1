//! Importance sampling of the noise variance t: more samples where the loss varies most,
//! each weighted so that the objective stays the log-uniform one.
//!
//! The range of log t is cut into equal bands. Band k is drawn with probability
//! `q_k = s / K + (1 - s) r_k / sum_j r_j`, where `r_k` is a running estimate of the root mean
//! square of the per-sample loss in the band and `s` the uniform share; t is then log-uniform
//! within the band, and the sample's loss is weighted by `(1 / K) / q_k`, the ratio of the
//! log-uniform density to the sampling density. The weighted batch mean is an unbiased
//! estimate of the log-uniform objective, whose gradient variance this choice of q lowers
//! (Nichol and Dhariwal's importance sampling of the diffusion loss, by band).

use super::noise::LogUniform;
use crate::error::{Error, Result};
use crate::rng::CounterRng;
use serde::{Deserialize, Serialize};

/// The settings of importance sampling of t (see the module documentation).
///
/// ```
/// use dualscore_core::train::ImportanceSampling;
/// let settings: ImportanceSampling = serde_json::from_str(r#"{"bands": 12}"#).unwrap();
/// assert_eq!(settings.uniform_share, ImportanceSampling::default().uniform_share);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportanceSampling {
    /// The number of equal bands of log t (12: one per decade of the paper's range).
    pub bands: usize,
    /// The share of samples drawn log-uniformly whatever the losses, in (0, 1] (0.25): it
    /// keeps every band sampled and bounds every weight by 1 / uniform_share.
    pub uniform_share: f64,
    /// The decay of the running mean square of the loss per band, in [0, 1) (0.99).
    pub decay: f64,
}

impl Default for ImportanceSampling {
    fn default() -> Self {
        ImportanceSampling {
            bands: 12,
            uniform_share: 0.25,
            decay: 0.99,
        }
    }
}

impl ImportanceSampling {
    /// Checks `bands >= 1`, `0 < uniform_share <= 1` and `0 <= decay < 1`.
    pub fn validate(&self) -> Result<()> {
        let bad = |message: String| Err(Error::invalid("importance sampling", message));
        if self.bands == 0 {
            return bad("bands must be at least 1".into());
        }
        if !(self.uniform_share > 0.0 && self.uniform_share <= 1.0) {
            return bad(format!(
                "uniform_share must be in (0, 1], got {}",
                self.uniform_share
            ));
        }
        if !(0.0..1.0).contains(&self.decay) {
            return bad(format!("decay must be in [0, 1), got {}", self.decay));
        }
        Ok(())
    }
}

/// The state of importance sampling over a range of t: the running mean square of the
/// per-sample loss in each band (1 in every band at the start, so that the first draws are
/// log-uniform). Saved in checkpoints so that a resumed run draws the same t.
///
/// ```
/// use dualscore_core::rng::{CounterRng, RngKey};
/// use dualscore_core::train::{BandSampler, ImportanceSampling, LogUniform};
/// let mut sampler = BandSampler::new(ImportanceSampling::default(), LogUniform::default()).unwrap();
/// let mut rng = CounterRng::new(RngKey::new(0, 3));
/// let (t, weights) = sampler.sample(&mut rng, 64);
/// assert!(weights.iter().all(|&w| (w - 1.0).abs() < 1e-12)); // uniform at the start
/// // Large losses at small t draw more samples there, with weights below 1.
/// let losses: Vec<f64> = t.iter().map(|&t| if t < 1e-3 { 10.0 } else { 0.1 }).collect();
/// sampler.observe(&t, &losses);
/// let q = sampler.band_probabilities();
/// assert!(q[0] > q[11]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BandSampler {
    settings: ImportanceSampling,
    range: LogUniform,
    mean_squares: Vec<f64>,
}

impl BandSampler {
    /// A sampler with every band's mean square at 1 (log-uniform draws).
    pub fn new(settings: ImportanceSampling, range: LogUniform) -> Result<Self> {
        Self::with_mean_squares(settings, range, vec![1.0; settings.bands])
    }

    /// A sampler in a saved state (see [`BandSampler::mean_squares`]).
    pub fn with_mean_squares(
        settings: ImportanceSampling,
        range: LogUniform,
        mean_squares: Vec<f64>,
    ) -> Result<Self> {
        settings.validate()?;
        range.validate()?;
        if mean_squares.len() != settings.bands {
            return Err(Error::invalid(
                "importance sampling",
                format!(
                    "{} band mean squares for {} bands",
                    mean_squares.len(),
                    settings.bands
                ),
            ));
        }
        if let Some(m) = mean_squares.iter().find(|m| !(m.is_finite() && **m >= 0.0)) {
            return Err(Error::invalid(
                "importance sampling",
                format!("a band mean square must be finite and >= 0, got {m}"),
            ));
        }
        Ok(BandSampler {
            settings,
            range,
            mean_squares,
        })
    }

    /// The running mean square of the per-sample loss in each band, from the smallest t.
    pub fn mean_squares(&self) -> &[f64] {
        &self.mean_squares
    }

    /// The probability of drawing each band, from the smallest t.
    pub fn band_probabilities(&self) -> Vec<f64> {
        let k = self.settings.bands as f64;
        let share = self.settings.uniform_share;
        let roots: Vec<f64> = self.mean_squares.iter().map(|m| m.sqrt()).collect();
        let total: f64 = roots.iter().sum();
        roots
            .iter()
            .map(|r| {
                let adaptive = if total > 0.0 { r / total } else { 1.0 / k };
                share / k + (1.0 - share) * adaptive
            })
            .collect()
    }

    /// `n` variances and their loss weights, one uniform number of `rng` each (as
    /// [`LogUniform::sample`]): the band by the inverse of the cumulative band probabilities,
    /// the position in the band by what is left of the same number.
    pub fn sample(&self, rng: &mut CounterRng, n: usize) -> (Vec<f64>, Vec<f64>) {
        let q = self.band_probabilities();
        let k = q.len();
        rng.uniform(n)
            .into_iter()
            .map(|u| {
                let mut below = 0.0;
                let mut band = k - 1;
                for (j, &p) in q.iter().enumerate() {
                    if u < below + p || j == k - 1 {
                        band = j;
                        break;
                    }
                    below += p;
                }
                let within = ((u - below) / q[band]).clamp(0.0, 1.0);
                let t = self.range.quantile((band as f64 + within) / k as f64);
                (t, 1.0 / (k as f64 * q[band]))
            })
            .unzip()
    }

    /// The band of the variance `t` (the nearest band outside the range).
    pub fn band_of(&self, t: f64) -> usize {
        let k = self.settings.bands;
        let position =
            libm::log(t / self.range.t_min) / libm::log(self.range.t_max / self.range.t_min);
        ((position * k as f64).floor().max(0.0) as usize).min(k - 1)
    }

    /// Updates each band's running mean square with the batch mean of the squared losses of
    /// its samples (bands with no sample keep theirs). Non-finite losses are ignored.
    pub fn observe(&mut self, t: &[f64], losses: &[f64]) {
        let k = self.settings.bands;
        let mut sums = vec![0.0; k];
        let mut counts = vec![0usize; k];
        for (&t, &loss) in t.iter().zip(losses) {
            if loss.is_finite() {
                let band = self.band_of(t);
                sums[band] += loss * loss;
                counts[band] += 1;
            }
        }
        let decay = self.settings.decay;
        for ((m, s), c) in self.mean_squares.iter_mut().zip(sums).zip(counts) {
            if c > 0 {
                *m = decay * *m + (1.0 - decay) * s / c as f64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::RngKey;

    fn sampler() -> BandSampler {
        BandSampler::new(ImportanceSampling::default(), LogUniform::default()).unwrap()
    }

    #[test]
    fn starts_log_uniform() {
        let s = sampler();
        let mut a = CounterRng::new(RngKey::new(5, 3));
        let mut b = a;
        let (t, w) = s.sample(&mut a, 100);
        let expected = LogUniform::default().sample(&mut b, 100);
        for (x, y) in t.iter().zip(&expected) {
            assert!((x / y - 1.0).abs() < 1e-9, "{x} vs {y}");
        }
        assert!(w.iter().all(|&w| (w - 1.0).abs() < 1e-12));
        assert_eq!(a.next, b.next);
    }

    #[test]
    fn weights_make_band_sums_unbiased() {
        // The expectation of w * f(band) under q equals the log-uniform mean of f.
        let mut s = sampler();
        let squares: Vec<f64> = (0..12).map(|k| (k as f64 + 1.0).powi(4)).collect();
        s = BandSampler::with_mean_squares(s.settings, s.range, squares).unwrap();
        let q = s.band_probabilities();
        assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let f = |k: usize| (k * k) as f64;
        let weighted: f64 = (0..12).map(|k| q[k] * f(k) / (12.0 * q[k])).sum();
        let uniform: f64 = (0..12).map(|k| f(k) / 12.0).sum();
        assert!((weighted - uniform).abs() < 1e-9);
        // Sampled: each band's share of draws matches q within sampling error.
        let mut rng = CounterRng::new(RngKey::new(1, 3));
        let (t, w) = s.sample(&mut rng, 120_000);
        let mut counts = [0usize; 12];
        for (&t, &w) in t.iter().zip(&w) {
            let band = s.band_of(t);
            counts[band] += 1;
            assert!((w - 1.0 / (12.0 * q[band])).abs() < 1e-9);
        }
        for k in 0..12 {
            let share = counts[k] as f64 / 120_000.0;
            let sd = (q[k] * (1.0 - q[k]) / 120_000.0).sqrt();
            assert!(
                (share - q[k]).abs() < 5.0 * sd,
                "band {k}: {share} vs {}",
                q[k]
            );
        }
    }

    #[test]
    fn observe_moves_only_the_bands_seen() {
        let mut s = sampler();
        s.observe(&[1e-9, 2e-9, 999.0], &[2.0, 4.0, f64::NAN]);
        let m = s.mean_squares();
        assert!((m[0] - (0.99 + 0.01 * 10.0)).abs() < 1e-12);
        assert!(m[1..].iter().all(|&m| m == 1.0));
    }

    #[test]
    fn rejects_bad_settings_and_states() {
        let bad = |s: ImportanceSampling| BandSampler::new(s, LogUniform::default()).is_err();
        let d = ImportanceSampling::default();
        assert!(bad(ImportanceSampling { bands: 0, ..d }));
        assert!(bad(ImportanceSampling {
            uniform_share: 0.0,
            ..d
        }));
        assert!(bad(ImportanceSampling {
            uniform_share: 1.5,
            ..d
        }));
        assert!(bad(ImportanceSampling { decay: 1.0, ..d }));
        assert!(BandSampler::with_mean_squares(d, LogUniform::default(), vec![1.0; 3]).is_err());
        assert!(
            BandSampler::with_mean_squares(d, LogUniform::default(), vec![f64::NAN; 12]).is_err()
        );
    }
}
