//! Units of log-probability per dimension.

use crate::energy::analytic::Estimate;
use serde::{Deserialize, Serialize};
use std::f64::consts::{LN_2, LN_10};

/// The NLL in bits per dimension of 8-bit images with pixels scaled to [0, 1]:
/// 8 + mean(-log p) / (d ln 2). (The 8 bits are the log2 of the 1/255 scaling, with no
/// dequantization.) Lower is better.
///
/// ```
/// use dualscore_core::density::nll_bits_per_dim;
/// let d = 4;
/// let two_bits_per_dim = 2.0 * d as f64 * 2f64.ln();
/// assert!((nll_bits_per_dim(&[two_bits_per_dim], d) - 10.0).abs() < 1e-15);
/// ```
pub fn nll_bits_per_dim(neg_log_prob_nats: &[f64], dim: usize) -> f64 {
    let mean = neg_log_prob_nats.iter().sum::<f64>() / neg_log_prob_nats.len().max(1) as f64;
    8.0 + neg_log_prob_bits_per_dim(mean, dim)
}

/// -log2 p / d for one value of -log p in nats (the continuous density, without the 8 bits of
/// 8-bit images).
pub fn neg_log_prob_bits_per_dim(neg_log_prob_nats: f64, dim: usize) -> f64 {
    neg_log_prob_nats / (dim as f64 * LN_2)
}

/// log p in dB per dimension, 10 log10(p) / d = -10 (-log p) / (d ln 10), for one value of
/// -log p in nats. Higher is more probable.
///
/// ```
/// use dualscore_core::density::log_p_db_per_dim;
/// let d = 10;
/// // p = 10^-d: log10 p / d = -1, so -10 dB per dimension.
/// assert!((log_p_db_per_dim(d as f64 * 10f64.ln(), d) + 10.0).abs() < 1e-14);
/// ```
pub fn log_p_db_per_dim(neg_log_prob_nats: f64, dim: usize) -> f64 {
    -10.0 * neg_log_prob_nats / (dim as f64 * LN_10)
}

/// A summary of -log p over a set of images.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogProbSummary {
    /// The number of images.
    pub images: usize,
    /// The dimension d.
    pub dim: usize,
    /// The mean of -log p in nats and its standard error.
    pub neg_log_prob_nats: Estimate,
    /// The NLL in bits per dimension of 8-bit images ([`nll_bits_per_dim`]).
    pub nll_bits_per_dim: f64,
    /// The standard error of `nll_bits_per_dim`.
    pub nll_bits_per_dim_std_error: f64,
    /// The mean of log p in dB per dimension ([`log_p_db_per_dim`]).
    pub mean_log_p_db_per_dim: f64,
    /// The standard error of `mean_log_p_db_per_dim`.
    pub log_p_db_per_dim_std_error: f64,
}

impl LogProbSummary {
    /// The summary of per-image -log p values in nats.
    pub fn from_neg_log_prob_nats(neg_log_prob_nats: &[f64], dim: usize) -> Self {
        let e = Estimate::of(neg_log_prob_nats);
        LogProbSummary {
            images: neg_log_prob_nats.len(),
            dim,
            neg_log_prob_nats: e,
            nll_bits_per_dim: 8.0 + neg_log_prob_bits_per_dim(e.mean, dim),
            nll_bits_per_dim_std_error: neg_log_prob_bits_per_dim(e.std_error, dim),
            mean_log_p_db_per_dim: log_p_db_per_dim(e.mean, dim),
            log_p_db_per_dim_std_error: -log_p_db_per_dim(e.std_error, dim),
        }
    }
}
