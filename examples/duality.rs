//! The energy/score duality on energies known in closed form (example 09 and the test
//! `examples_claims`).
//!
//! For each analytic family, at noise variances t from 1e-3 to 1e2, on exact samples
//! y ~ p(., t):
//! - the energy gradient grad_y U and the time score dU/dt by automatic differentiation of U
//!   alone, against their closed forms;
//! - dU/dt at fixed y against a central finite difference of U in t;
//! - the heat equation `dU/dt = 1/2 Lap U - 1/2 ||grad_y U||^2`, with the Laplacian by central
//!   finite differences of the closed-form gradient.

use crate::ExampleResult;
use dualscore_core::autograd::Graph;
use dualscore_core::energy::Energy;
use dualscore_core::energy::analytic::{
    AnalyticDensity, Gaussian, GaussianMixture, GaussianScaleMixture,
};
use dualscore_core::linalg::Matrix;
use dualscore_core::rng::RngKey;
use dualscore_core::{Result, Tensor};
use dualscore_cpu::Cpu;
use serde::Serialize;

type T64 = Tensor<Cpu, f64>;

/// The noise variances checked.
pub const NOISE_VARIANCES: [f64; 6] = [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0];

/// The errors of one family at one t, each the largest over the samples.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// The family.
    pub family: String,
    /// The noise variance.
    pub t: f64,
    /// `||autodiff - closed||` / `||closed||` of grad_y U, over the samples.
    pub grad_y_error: f64,
    /// The same for dU/dt.
    pub grad_t_error: f64,
    /// `||finite difference in t - dU/dt||` / `||dU/dt||`, over the samples.
    pub finite_difference_t_error: f64,
    /// `|dU/dt - (1/2 Lap U - 1/2 ||grad U||^2)|` / `(|dU/dt| + |Lap U| / 2 + ||grad U||^2 / 2)`.
    pub heat_equation_residual: f64,
    /// `(dU/dt, 1/2 Lap U - 1/2 ||grad U||^2)` of each sample, for the figure.
    pub heat_pairs: Vec<(f64, f64)>,
}

/// The three families in dimension `d`: a Gaussian with a full covariance, the scale mixture
/// 1/2 N(0, I) + 1/2 N(0, 16 I) of docs/METHOD.md section 5.1, and a mixture of three
/// Gaussians.
pub fn families(d: usize) -> Result<Vec<(String, Family)>> {
    let covariance = |scale: f64, shift: f64| -> Result<Matrix> {
        let a = Matrix::from_fn(d, d, |i, j| scale * ((i * 7 + j * 3) as f64 * 0.37).sin());
        a.matmul(&a.transpose())?.add_identity(shift)
    };
    let mean = |offset: f64| (0..d).map(|i| offset * ((i as f64) * 0.9).cos()).collect();
    let gaussian = Gaussian::new(mean(0.5), &covariance(0.4, 0.1)?)?;
    let components = vec![
        Gaussian::new(mean(-2.0), &covariance(0.3, 0.05)?)?,
        Gaussian::new(mean(0.0), &covariance(0.2, 0.5)?)?,
        Gaussian::new(mean(2.0), &covariance(0.5, 0.02)?)?,
    ];
    Ok(vec![
        ("Gaussian".into(), Family::Gaussian(gaussian)),
        (
            "scale mixture".into(),
            Family::ScaleMixture(GaussianScaleMixture::new(&[0.5, 0.5], &[1.0, 16.0], d)?),
        ),
        (
            "mixture of 3 Gaussians".into(),
            Family::Mixture(GaussianMixture::new(&[0.2, 0.5, 0.3], components)?),
        ),
    ])
}

/// One of the analytic families.
#[derive(Clone, Debug)]
pub enum Family {
    /// N(mu, Sigma).
    Gaussian(Gaussian),
    /// A radial scale mixture.
    ScaleMixture(GaussianScaleMixture),
    /// A mixture of Gaussians.
    Mixture(GaussianMixture),
}

/// Checks `family` at every t of [`NOISE_VARIANCES`] on `samples` exact samples each.
pub fn check_family(
    backend: &Cpu,
    name: &str,
    family: &Family,
    samples: usize,
    seed: u64,
) -> ExampleResult<Vec<Check>> {
    match family {
        Family::Gaussian(e) => check_all(backend, name, e, samples, seed),
        Family::ScaleMixture(e) => check_all(backend, name, e, samples, seed),
        Family::Mixture(e) => check_all(backend, name, e, samples, seed),
    }
}

fn check_all<E>(
    backend: &Cpu,
    name: &str,
    energy: &E,
    samples: usize,
    seed: u64,
) -> ExampleResult<Vec<Check>>
where
    E: Energy<Cpu, f64> + AnalyticDensity,
{
    NOISE_VARIANCES
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            let y: T64 = energy.sample(backend, samples, t, RngKey::new(seed, k as u64))?;
            Ok(check_at(backend, name, energy, &y, t)?)
        })
        .collect()
}

fn check_at<E: Energy<Cpu, f64>>(
    backend: &Cpu,
    name: &str,
    energy: &E,
    y: &T64,
    t: f64,
) -> Result<Check> {
    let n = y.dims()[0];
    let d = y.numel() / n;
    let ts = Tensor::full(backend, [n], t)?;
    let closed = energy.energy_gradients(y, &ts, Graph::Drop)?;
    let by_autodiff = |y: &T64, t: &T64| energy.energy(y, t);
    let auto = by_autodiff.energy_gradients(y, &ts, Graph::Drop)?;
    let g = closed.grad_y.to_f64_vec()?;
    let dt = closed.grad_t.to_f64_vec()?;

    let dt_step = 1e-4 * t;
    let u_at = |s: f64| -> Result<Vec<f64>> {
        energy
            .energy(y, &Tensor::full(backend, [n], t + s)?)?
            .to_f64_vec()
    };
    let (up, down) = (u_at(dt_step)?, u_at(-dt_step)?);
    let by_difference: Vec<f64> = (0..n)
        .map(|i| (up[i] - down[i]) / (2.0 * dt_step))
        .collect();
    let finite_difference_t_error = relative_error(&by_difference, &dt);

    let laplacian = finite_difference_laplacian(energy, y, &ts, 1e-4 * (t + 0.1).sqrt())?;
    let mut heat_pairs = Vec::with_capacity(n);
    let mut heat_equation_residual: f64 = 0.0;
    for i in 0..n {
        let g2: f64 = g[i * d..(i + 1) * d].iter().map(|v| v * v).sum();
        let rhs = 0.5 * laplacian[i] - 0.5 * g2;
        let scale = dt[i].abs() + 0.5 * laplacian[i].abs() + 0.5 * g2;
        heat_equation_residual = heat_equation_residual.max((dt[i] - rhs).abs() / scale);
        heat_pairs.push((dt[i], rhs));
    }
    Ok(Check {
        family: name.to_string(),
        t,
        grad_y_error: relative_error(&auto.grad_y.to_f64_vec()?, &g),
        grad_t_error: relative_error(&auto.grad_t.to_f64_vec()?, &dt),
        finite_difference_t_error,
        heat_equation_residual,
        heat_pairs,
    })
}

/// `||a - b|| / ||b||`.
fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(a, b)| (a - b).powi(2)).sum();
    let norm: f64 = b.iter().map(|b| b * b).sum();
    (diff / norm.max(f64::MIN_POSITIVE)).sqrt()
}

/// `sum_j (g_j(y + h e_j) - g_j(y - h e_j)) / (2 h)` per sample, with g the closed-form
/// energy gradient (y is `[n, d]`).
fn finite_difference_laplacian<E: Energy<Cpu, f64>>(
    energy: &E,
    y: &T64,
    t: &T64,
    h: f64,
) -> Result<Vec<f64>> {
    let n = y.dims()[0];
    let d = y.numel() / n;
    let values = y.to_f64_vec()?;
    let mut laplacian = vec![0.0; n];
    for j in 0..d {
        let shifted = |sign: f64| -> Result<Vec<f64>> {
            let mut v = values.clone();
            v.iter_mut().skip(j).step_by(d).for_each(|x| *x += sign * h);
            let y = Tensor::from_f64(y.backend(), &v, y.dims().to_vec())?;
            energy
                .energy_gradients(&y, t, Graph::Drop)?
                .grad_y
                .to_f64_vec()
        };
        let (plus, minus) = (shifted(1.0)?, shifted(-1.0)?);
        for (i, l) in laplacian.iter_mut().enumerate() {
            *l += (plus[i * d + j] - minus[i * d + j]) / (2.0 * h);
        }
    }
    Ok(laplacian)
}
