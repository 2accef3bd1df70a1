//! The distribution of log p over a data set and its Gumbel fit (docs/METHOD.md section 5.5).

use crate::density::log_p_db_per_dim;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// The Euler-Mascheroni constant: the mean of the standard Gumbel distribution.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// The percentile `percent` (0 to 100) of `sorted` (ascending, non-empty) by linear
/// interpolation between the two nearest ranks (NumPy's default): position
/// percent / 100 (n - 1).
///
/// ```
/// use dualscore_core::analysis::percentile;
/// let v = [1.0, 2.0, 3.0, 4.0, 5.0];
/// assert_eq!(percentile(&v, 50.0), 3.0);
/// assert_eq!(percentile(&v, 25.0), 2.0);
/// assert!((percentile(&v, 99.0) - 4.96).abs() < 1e-12);
/// ```
pub fn percentile(sorted: &[f64], percent: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let pos = (percent / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = pos - lo as f64;
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

/// The percentiles reported by the paper (Fig. 3).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// 1 %.
    pub p1: f64,
    /// 5 %.
    pub p5: f64,
    /// 25 %.
    pub p25: f64,
    /// 50 % (the median).
    pub p50: f64,
    /// 75 %.
    pub p75: f64,
    /// 95 %.
    pub p95: f64,
    /// 99 %.
    pub p99: f64,
}

/// A Gumbel (maximum) distribution fitted by maximum likelihood: density
/// f(x) = exp(-(z + e^-z)) / scale with z = (x - location) / scale (skewed to the right,
/// skewness 1.1395).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GumbelFit {
    /// The location mu (the mode).
    pub location: f64,
    /// The scale beta > 0.
    pub scale: f64,
    /// The asymptotic standard error of the location, from the Fisher information:
    /// beta sqrt((1 + 6 (1 - gamma)^2 / pi^2) / n) = 1.0529 beta / sqrt(n).
    pub location_std_error: f64,
    /// The asymptotic standard error of the scale, beta sqrt(6 / (pi^2 n)) = 0.7797 beta / sqrt(n).
    pub scale_std_error: f64,
    /// The log-likelihood of the values at the fit.
    pub log_likelihood: f64,
    /// The moment-matching location, mean - gamma beta_0 (the starting point).
    pub moment_location: f64,
    /// The moment-matching scale, beta_0 = std sqrt(6) / pi (the starting point).
    pub moment_scale: f64,
    /// Iterations of the one-dimensional solve for the scale.
    pub iterations: usize,
    /// The number of values fitted.
    pub samples: usize,
}

impl GumbelFit {
    /// The log-likelihood of `values` under Gumbel(location, scale).
    pub fn log_likelihood_of(location: f64, scale: f64, values: &[f64]) -> f64 {
        values
            .iter()
            .map(|x| {
                let z = (x - location) / scale;
                -scale.ln() - z - (-z).exp()
            })
            .sum()
    }

    /// The cumulative distribution function exp(-exp(-(x - location) / scale)).
    pub fn cdf(&self, x: f64) -> f64 {
        (-(-(x - self.location) / self.scale).exp()).exp()
    }

    /// The mean, location + gamma scale.
    pub fn mean(&self) -> f64 {
        self.location + EULER_GAMMA * self.scale
    }
}

/// Fits a Gumbel (maximum) distribution to `values` by maximum likelihood.
///
/// The scale solves beta = mean(x) - sum x_i e^(-x_i / beta) / sum e^(-x_i / beta), whose
/// left minus right side is increasing in beta (its derivative is 1 + a weighted variance /
/// beta^2), so the root is unique; it is found by Newton's method from the moment-matching
/// value, safeguarded by bisection inside a bracket that always holds it. Then
/// location = -beta ln mean(e^(-x_i / beta)). The values are shifted by their minimum and
/// divided by their standard deviation first, so the exponentials neither overflow nor lose
/// digits. Needs at least two distinct finite values.
///
/// ```
/// use dualscore_core::analysis::fit_gumbel;
/// // Gumbel(10, 3) quantiles at evenly spaced probabilities.
/// let x: Vec<f64> = (1..2000)
///     .map(|i| 10.0 - 3.0 * (-(i as f64 / 2000.0).ln()).ln())
///     .collect();
/// let fit = fit_gumbel(&x).unwrap();
/// assert!((fit.location - 10.0).abs() < 0.05 && (fit.scale - 3.0).abs() < 0.05);
/// ```
pub fn fit_gumbel(values: &[f64]) -> Result<GumbelFit> {
    const OP: &str = "fit_gumbel";
    let n = values.len();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(OP, "the values must be finite"));
    }
    let nf = n as f64;
    let mean = values.iter().sum::<f64>() / nf.max(1.0);
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / nf.max(1.0)).sqrt();
    if n < 2 || std <= 0.0 || !std.is_finite() {
        return Err(Error::invalid(
            OP,
            format!("a fit needs at least two distinct values of finite spread, got {n} values"),
        ));
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let u: Vec<f64> = values.iter().map(|v| (v - min) / std).collect();
    let u_mean = u.iter().sum::<f64>() / nf;
    // g(beta) = beta - mean(u) + E_w[u], g'(beta) = 1 + Var_w[u] / beta^2, w = e^(-u / beta).
    let g = |beta: f64| {
        let (mut sw, mut swu, mut swu2) = (0.0, 0.0, 0.0);
        for &x in &u {
            let w = (-x / beta).exp();
            sw += w;
            swu += w * x;
            swu2 += w * x * x;
        }
        let m = swu / sw;
        let var = (swu2 / sw - m * m).max(0.0);
        (beta - u_mean + m, 1.0 + var / (beta * beta))
    };
    // g < 0 as beta -> 0 (E_w[u] -> min u = 0) and g > 0 for beta > mean(u) (E_w[u] >= 0).
    let (mut lo, mut hi) = (0.0, u_mean + 1.0);
    let moment_scale_u = 6f64.sqrt() / PI;
    let mut beta = moment_scale_u.clamp(1e-3 * u_mean, u_mean);
    let mut iterations = 0;
    for _ in 0..200 {
        iterations += 1;
        let (value, slope) = g(beta);
        if value == 0.0 {
            break;
        }
        if value < 0.0 {
            lo = beta;
        } else {
            hi = beta;
        }
        let newton = beta - value / slope;
        let next = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        let step = (next - beta).abs();
        beta = next;
        if step <= 1e-15 * beta || hi - lo <= 1e-15 * hi {
            break;
        }
    }
    let mean_w = u.iter().map(|x| (-x / beta).exp()).sum::<f64>() / nf;
    let location = min + std * (-beta * mean_w.ln());
    let scale = std * beta;
    let moment_scale = std * moment_scale_u;
    Ok(GumbelFit {
        location,
        scale,
        location_std_error: scale
            * ((1.0 + 6.0 * (1.0 - EULER_GAMMA).powi(2) / (PI * PI)) / nf).sqrt(),
        scale_std_error: scale * (6.0 / (PI * PI * nf)).sqrt(),
        log_likelihood: GumbelFit::log_likelihood_of(location, scale, values),
        moment_location: mean - EULER_GAMMA * moment_scale,
        moment_scale,
        iterations,
        samples: n,
    })
}

/// A summary of log p in dB/dim over a data set (Fig. 3 of the paper).
///
/// Moments are population moments (divided by n): std = sqrt(m2), skewness = m3 / m2^(3/2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogProbStatistics {
    /// The number of values.
    pub count: usize,
    /// The mean.
    pub mean: f64,
    /// The median (the 50 % percentile).
    pub median: f64,
    /// The standard deviation.
    pub std: f64,
    /// The skewness (0 for fewer than two distinct values).
    pub skewness: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The 1, 5, 25, 50, 75, 95 and 99 % percentiles ([`percentile`]).
    pub percentiles: Percentiles,
    /// The maximum-likelihood Gumbel fit ([`fit_gumbel`]); `None` with fewer than two
    /// distinct values.
    pub gumbel: Option<GumbelFit>,
}

/// The summary of `log_p_db_per_dim` (log p in dB/dim, one value per image; at least one,
/// all finite) with its Gumbel fit.
///
/// ```
/// use dualscore_core::analysis::log_prob_statistics;
/// let s = log_prob_statistics(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
/// assert_eq!((s.mean, s.median, s.min, s.max), (3.0, 3.0, 1.0, 5.0));
/// assert!((s.std - 2f64.sqrt()).abs() < 1e-15 && s.skewness.abs() < 1e-15);
/// ```
pub fn log_prob_statistics(log_p_db_per_dim: &[f64]) -> Result<LogProbStatistics> {
    const OP: &str = "log_prob_statistics";
    let n = log_p_db_per_dim.len();
    if n == 0 || log_p_db_per_dim.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(OP, "need at least one value, all finite"));
    }
    let mut sorted = log_p_db_per_dim.to_vec();
    sorted.sort_by(f64::total_cmp);
    let nf = n as f64;
    let mean = sorted.iter().sum::<f64>() / nf;
    let m2 = sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / nf;
    let m3 = sorted.iter().map(|v| (v - mean).powi(3)).sum::<f64>() / nf;
    let skewness = if m2 > 0.0 { m3 / m2.powf(1.5) } else { 0.0 };
    let p = |q: f64| percentile(&sorted, q);
    Ok(LogProbStatistics {
        count: n,
        mean,
        median: p(50.0),
        std: m2.sqrt(),
        skewness,
        min: sorted[0],
        max: sorted[n - 1],
        percentiles: Percentiles {
            p1: p(1.0),
            p5: p(5.0),
            p25: p(25.0),
            p50: p(50.0),
            p75: p(75.0),
            p95: p(95.0),
            p99: p(99.0),
        },
        gumbel: if m2 > 0.0 {
            Some(fit_gumbel(&sorted)?)
        } else {
            None
        },
    })
}

impl LogProbStatistics {
    /// The summary of per-image -log p in nats ([`crate::density::neg_log_prob_nats`]) for
    /// images of dimension `dim`, converted to log p in dB/dim.
    pub fn from_neg_log_prob_nats(neg_log_prob_nats: &[f64], dim: usize) -> Result<Self> {
        let db: Vec<f64> = neg_log_prob_nats
            .iter()
            .map(|&v| log_p_db_per_dim(v, dim))
            .collect();
        log_prob_statistics(&db)
    }
}
