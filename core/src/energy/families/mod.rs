//! Learnable energies whose family contains the true noisy density of a known data model:
//! where the truth is known, they show what dual score matching learns and what single score
//! matching misses (docs/METHOD.md sections 5.1 and 6).
//!
//! - [`RadialMixtureEnergy`]: the paper's Gaussian-scale-mixture model,
//!   U = -logsumexp_k(-(a_k(t) ||y||^2 + b_k(t))) with (a, b) from an MLP of log(t + t0).
//! - [`DiagonalGaussianEnergy`]: U = 1/2 sum_k c_k^2 / (lambda_k + t) + b(t) with
//!   c = Q^T (y - m) in a fixed orthonormal basis Q, learned lambda, m and a free time offset
//!   b(t): every N(m, Sigma + t I) with Sigma diagonal in Q (all stationary Gaussian images for
//!   the Fourier basis) is in the family once b(t) = 1/2 ln det(2 pi (Sigma + t I)).

mod diagonal_gaussian;
mod radial;

pub use diagonal_gaussian::DiagonalGaussianEnergy;
pub use radial::RadialMixtureEnergy;
