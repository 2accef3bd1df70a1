//! Normalized log-probabilities from an energy (docs/METHOD.md section 4).
//!
//! An energy U(y, t) learned by dual score matching is -log p(y, t) up to one constant c shared
//! by every t. The constant is fixed once per model and image shape at a large noise variance
//! t_max, where p(., t_max) is nearly Gaussian ([`normalization_constant`]); then
//! -log p(x) = U(x, 0) + c takes one evaluation at t = 0 ([`neg_log_prob_nats`]).
//!
//! Two forms of the constant ([`ConstantForm`]):
//! - covariance-corrected (the default): c = 1/2 ln det(2 pi e (S + t_max I)) - mean_i U(y_i, t_max),
//!   with S the sample covariance of the same data. It is exact for Gaussian data.
//! - the authors' form: c = d/2 ln(2 pi e t_max) - mean_i U(y_i, t_max). It ignores S and
//!   overestimates log p by about tr(S) / (2 t_max) nats.
//!
//! with y_i = x_i + sqrt(t_max) z_i, one z_i per image.
//!
//! Units: NLL in bits per dimension of 8-bit images,
//! 8 + mean(-log p) / (d ln 2) ([`nll_bits_per_dim`]); log p in dB per dimension,
//! -10 (-log p) / (d ln 10) ([`log_p_db_per_dim`]). Every name keeps its sign: `neg_log_prob`
//! and `nll` are -log p (lower is better), `log_p` is log p (higher is more probable).
//!
//! Every image model must beat the full-covariance Gaussian fitted on the training data:
//! [`GaussianBaseline`].

mod baseline;
mod constant;
mod separable;
mod stats;
mod units;

pub use baseline::GaussianBaseline;
pub use constant::{
    ConstantForm, NormalizationConstant, NormalizationOptions, neg_log_prob_nats,
    normalization_constant,
};
pub(crate) use separable::fit_axis_eigenbases;
pub use stats::{ImageShape, data_mean_covariance, log_det_covariance_plus_identity};
pub(crate) use stats::{check_batch, check_energy_values, fit_gaussian_statistics};
pub use units::{LogProbSummary, log_p_db_per_dim, neg_log_prob_bits_per_dim, nll_bits_per_dim};
