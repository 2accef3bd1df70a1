//! Analytic energies: the closed forms against autodiff of `energy`, the closed forms against
//! what does not share their algebra (the heat equation with an autodiff Laplacian, the
//! normalization integral by quadrature), exact sampling, and entropies.
//!
//! Tolerances, and why:
//! - closed form vs autodiff, 1e-10 relative normwise: the two compute the same f64 quantities
//!   along different paths (a few dozen roundings each, condition numbers below 1e4 here), so
//!   they differ by rounding, orders of magnitude below the tolerance.
//! - heat equation, 1e-10 relative to |dU/dt| + |Lap U| / 2 + ||grad U||^2 / 2: the same
//!   reasoning, with second-order autodiff for the Laplacian.
//! - quadrature, 1e-9 absolute on an integral of 1: the trapezoid rule on a grid of step
//!   h <= sigma_min / 2.5 over +- 10 sigma_max has an aliasing error below
//!   exp(-2 pi^2 sigma_min^2 / h^2) < 1e-50 and a truncation error below 1e-20 (the integrand
//!   is smooth and decays like a Gaussian), so what is left is rounding.
//! - sampling and Monte Carlo: 5 standard errors.

use dualscore_core::autograd::{GradOptions, Graph, grad};
use dualscore_core::backend::reference::Reference;
use dualscore_core::energy::analytic::{
    AnalyticDensity, Gaussian, GaussianMixture, GaussianScaleMixture, StationaryGaussianImages,
    StationaryImageParams, monte_carlo_entropy,
};
use dualscore_core::energy::{Energy, ScoreModel};
use dualscore_core::linalg::{Matrix, mean_covariance};
use dualscore_core::rng::{RngKey, normal_values, uniform_values};
use dualscore_core::{Result, Tensor};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::Cell;

type T64 = Tensor<Reference, f64>;

fn tensor(values: &[f64], shape: &[usize]) -> T64 {
    Tensor::from_f64(&Reference, values, shape.to_vec()).unwrap()
}

fn norm(a: &[f64]) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// ||a - b|| / ||b|| (with ||b|| floored at 1e-8).
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    norm(&diff) / norm(b).max(1e-8)
}

/// A random SPD matrix with eigenvalues spread over about two decades.
fn random_covariance(d: usize, key: RngKey) -> Matrix {
    let g = Matrix::from_vec(d, d, normal_values(key, 0, d * d)).unwrap();
    let scale = 0.2 + 3.0 * uniform_values(key, (d * d) as u64, 1)[0];
    let mut c = g.matmul(&g.transpose()).unwrap();
    c.as_mut_slice()
        .iter_mut()
        .for_each(|v| *v *= scale / d as f64);
    c.add_identity(0.05 * scale).unwrap()
}

fn random_gaussian(d: usize, key: RngKey) -> Gaussian {
    let mean = normal_values(RngKey::new(key.seed, key.stream + 1), 0, d);
    Gaussian::new(mean, &random_covariance(d, key)).unwrap()
}

fn random_gsm(d: usize, k: usize, key: RngKey) -> GaussianScaleMixture {
    let u = uniform_values(key, 0, 2 * k);
    let weights: Vec<f64> = u[..k].iter().map(|v| 0.1 + v).collect();
    let variances: Vec<f64> = u[k..].iter().map(|v| 10f64.powf(-1.3 + 2.6 * v)).collect();
    GaussianScaleMixture::new(&weights, &variances, d).unwrap()
}

fn random_gmm(d: usize, k: usize, key: RngKey) -> GaussianMixture {
    let weights: Vec<f64> = uniform_values(key, 0, k).iter().map(|v| 0.1 + v).collect();
    let components = (0..k)
        .map(|c| {
            let g = random_gaussian(
                d,
                RngKey::new(key.seed ^ 0x5eed, key.stream + 10 * c as u64),
            );
            // Spread the means so that the responsibilities are not all 0 or 1.
            let mean: Vec<f64> = g.mean().iter().map(|m| 1.5 * m).collect();
            Gaussian::new(mean, &g.covariance()).unwrap()
        })
        .collect();
    GaussianMixture::new(&weights, components).unwrap()
}

/// Random inputs: y near the density's bulk (scaled by `spread`), t log-uniform in
/// [1e-3, 1e2].
fn random_inputs(n: usize, d: usize, spread: f64, key: RngKey) -> (T64, T64) {
    let y: Vec<f64> = normal_values(key, 0, n * d)
        .iter()
        .map(|v| spread * v)
        .collect();
    let t: Vec<f64> = uniform_values(key, (n * d) as u64, n)
        .iter()
        .map(|u| 10f64.powf(-3.0 + 5.0 * u))
        .collect();
    (tensor(&y, &[n, d]), tensor(&t, &[n]))
}

/// The largest relative error between the closed forms and autodiff of `energy`, over U,
/// grad_y U and dU/dt.
fn closed_form_vs_autodiff<E: Energy<Reference, f64>>(e: &E, y: &T64, t: &T64) -> [f64; 3] {
    let closed = e.energy_gradients(y, t, Graph::Drop).unwrap();
    let auto_energy = |y: &T64, t: &T64| e.energy(y, t);
    let auto = auto_energy.energy_gradients(y, t, Graph::Drop).unwrap();
    assert_eq!(closed.grad_y.dims(), y.dims());
    assert_eq!(closed.grad_t.dims(), t.dims());
    [
        rel_err(
            &closed.energy.to_f64_vec().unwrap(),
            &auto.energy.to_f64_vec().unwrap(),
        ),
        rel_err(
            &closed.grad_y.to_f64_vec().unwrap(),
            &auto.grad_y.to_f64_vec().unwrap(),
        ),
        rel_err(
            &closed.grad_t.to_f64_vec().unwrap(),
            &auto.grad_t.to_f64_vec().unwrap(),
        ),
    ]
}

/// The Laplacian of U in y per sample, by differentiating the autodiff gradient once per
/// coordinate (y is `[N, d]`).
fn autodiff_laplacian<E: Energy<Reference, f64>>(e: &E, y: &T64, t: &T64) -> Vec<f64> {
    let (n, d) = (y.dims()[0], y.dims()[1]);
    let y = y.detach().requiring_grad();
    let u = e.energy(&y, t).unwrap();
    let g = grad(&[&u], &[&y], GradOptions::create_graph())
        .unwrap()
        .remove(0);
    let mut lap = vec![0.0; n];
    for j in 0..d {
        let gj = g.slice(1, j, 1).unwrap();
        let h = grad(&[&gj], &[&y], GradOptions::retain_graph())
            .unwrap()
            .remove(0);
        let h = h.to_f64_vec().unwrap();
        for (i, l) in lap.iter_mut().enumerate() {
            *l += h[i * d + j];
        }
    }
    lap
}

/// The largest heat-equation residual |dU/dt - (Lap U / 2 - ||grad U||^2 / 2)| relative to
/// |dU/dt| + |Lap U| / 2 + ||grad U||^2 / 2 over the samples, with dU/dt and grad U from the
/// closed forms and Lap U from autodiff; and the largest relative difference between that
/// Laplacian and the one from differentiating the closed-form gradient (recorded on y).
fn heat_equation_residual<E: Energy<Reference, f64>>(e: &E, y: &T64, t: &T64) -> (f64, f64) {
    let (n, d) = (y.dims()[0], y.dims()[1]);
    let closed = e.energy_gradients(y, t, Graph::Drop).unwrap();
    let dt = closed.grad_t.to_f64_vec().unwrap();
    let g = closed.grad_y.to_f64_vec().unwrap();
    let lap = autodiff_laplacian(e, y, t);
    // The closed-form gradient, recorded on a leaf y, differentiated once more.
    let yl = y.detach().requiring_grad();
    let recorded = e.energy_gradients(&yl, t, Graph::Keep).unwrap();
    assert!(recorded.grad_y.requires_grad());
    let mut lap_closed = vec![0.0; n];
    for j in 0..d {
        let gj = recorded.grad_y.slice(1, j, 1).unwrap();
        let h = grad(&[&gj], &[&yl], GradOptions::retain_graph())
            .unwrap()
            .remove(0);
        let h = h.to_f64_vec().unwrap();
        for (i, l) in lap_closed.iter_mut().enumerate() {
            *l += h[i * d + j];
        }
    }
    let mut worst: f64 = 0.0;
    let mut worst_lap: f64 = 0.0;
    for i in 0..n {
        let g2: f64 = g[i * d..(i + 1) * d].iter().map(|v| v * v).sum();
        let rhs = 0.5 * lap[i] - 0.5 * g2;
        let scale = dt[i].abs() + 0.5 * lap[i].abs() + 0.5 * g2;
        worst = worst.max((dt[i] - rhs).abs() / scale);
        worst_lap = worst_lap.max((lap[i] - lap_closed[i]).abs() / lap[i].abs().max(1e-8));
    }
    (worst, worst_lap)
}

/// Runs `cases` random cases of `check`, which returns the errors of one case; asserts each
/// error is below `tolerance` and prints the largest of each kind.
fn run_cases<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    tolerance: f64,
    labels: &[&str],
    check: impl Fn(S::Value) -> Vec<f64>,
) {
    let worst: Vec<Cell<f64>> = labels.iter().map(|_| Cell::new(0.0)).collect();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |value| {
            let errors = check(value);
            for (w, &e) in worst.iter().zip(&errors) {
                w.set(w.get().max(e));
            }
            if errors.iter().all(|&e| e <= tolerance) {
                Ok(())
            } else {
                Err(TestCaseError::fail(format!(
                    "errors {errors:?} above {tolerance:e}"
                )))
            }
        })
        .unwrap();
    let report: Vec<String> = labels
        .iter()
        .zip(&worst)
        .map(|(l, w)| format!("{l} {:.1e}", w.get()))
        .collect();
    println!("{name}: largest over {cases} cases: {}", report.join(", "));
}

const CASES: u32 = 48;
const TOL: f64 = 1e-10;

#[test]
fn gaussian_closed_forms_equal_autodiff() {
    run_cases(
        "Gaussian, closed form vs autodiff",
        CASES,
        (1usize..=6, 1usize..=3, any::<u64>()),
        TOL,
        &["U", "grad_y U", "dU/dt"],
        |(d, n, seed)| {
            let e = random_gaussian(d, RngKey::new(seed, 0));
            let (y, t) = random_inputs(n, d, 2.0, RngKey::new(seed, 1));
            closed_form_vs_autodiff(&e, &y, &t).to_vec()
        },
    );
}

#[test]
fn scale_mixture_closed_forms_equal_autodiff() {
    run_cases(
        "GSM, closed form vs autodiff",
        CASES,
        (
            prop_oneof![1usize..=6, 50usize..=200],
            1usize..=3,
            1usize..=3,
            any::<u64>(),
        ),
        TOL,
        &["U", "grad_y U", "dU/dt"],
        |(d, n, k, seed)| {
            let e = random_gsm(d, k, RngKey::new(seed, 0));
            let (y, t) = random_inputs(n, d, 1.5, RngKey::new(seed, 1));
            closed_form_vs_autodiff(&e, &y, &t).to_vec()
        },
    );
}

#[test]
fn mixture_closed_forms_equal_autodiff() {
    run_cases(
        "GMM, closed form vs autodiff",
        CASES,
        (1usize..=5, 1usize..=3, 1usize..=3, any::<u64>()),
        TOL,
        &["U", "grad_y U", "dU/dt"],
        |(d, n, k, seed)| {
            let e = random_gmm(d, k, RngKey::new(seed, 0));
            let (y, t) = random_inputs(n, d, 2.0, RngKey::new(seed, 1));
            closed_form_vs_autodiff(&e, &y, &t).to_vec()
        },
    );
}

#[test]
fn gaussian_satisfies_the_heat_equation() {
    run_cases(
        "Gaussian, heat equation",
        CASES,
        (1usize..=4, 1usize..=3, any::<u64>()),
        TOL,
        &["residual", "Laplacian (closed vs autodiff)"],
        |(d, n, seed)| {
            let e = random_gaussian(d, RngKey::new(seed, 0));
            let (y, t) = random_inputs(n, d, 2.0, RngKey::new(seed, 1));
            let (r, l) = heat_equation_residual(&e, &y, &t);
            vec![r, l]
        },
    );
}

#[test]
fn scale_mixture_satisfies_the_heat_equation() {
    run_cases(
        "GSM, heat equation",
        CASES,
        (1usize..=4, 1usize..=3, 1usize..=3, any::<u64>()),
        TOL,
        &["residual", "Laplacian (closed vs autodiff)"],
        |(d, n, k, seed)| {
            let e = random_gsm(d, k, RngKey::new(seed, 0));
            let (y, t) = random_inputs(n, d, 1.5, RngKey::new(seed, 1));
            let (r, l) = heat_equation_residual(&e, &y, &t);
            vec![r, l]
        },
    );
}

#[test]
fn mixture_satisfies_the_heat_equation() {
    run_cases(
        "GMM, heat equation",
        CASES,
        (1usize..=4, 1usize..=3, 1usize..=3, any::<u64>()),
        TOL,
        &["residual", "Laplacian (closed vs autodiff)"],
        |(d, n, k, seed)| {
            let e = random_gmm(d, k, RngKey::new(seed, 0));
            let (y, t) = random_inputs(n, d, 2.0, RngKey::new(seed, 1));
            let (r, l) = heat_equation_residual(&e, &y, &t);
            vec![r, l]
        },
    );
}

/// The trapezoid rule for the integral of exp(-U(y, t)) over a square grid in d = 1 or 2
/// centered at `center`, of half-width `half` and step `h`; also the integral of
/// U exp(-U) (the entropy).
fn quadrature<E: Energy<Reference, f64>>(
    e: &E,
    center: &[f64],
    half: f64,
    h: f64,
    t: f64,
) -> (f64, f64) {
    let d = center.len();
    let m = (2.0 * half / h).ceil() as usize + 1;
    let axis: Vec<f64> = (0..m).map(|i| -half + i as f64 * h).collect();
    let points: Vec<f64> = if d == 1 {
        axis.iter().map(|x| center[0] + x).collect()
    } else {
        let mut p = Vec::with_capacity(2 * m * m);
        for a in &axis {
            for b in &axis {
                p.push(center[0] + a);
                p.push(center[1] + b);
            }
        }
        p
    };
    let n = points.len() / d;
    let (mut mass, mut entropy) = (0.0, 0.0);
    let chunk = 20_000;
    for start in (0..n).step_by(chunk) {
        let b = chunk.min(n - start);
        let y = tensor(&points[start * d..(start + b) * d], &[b, d]);
        let u = e.energy(&y, &tensor(&vec![t; b], &[b])).unwrap();
        for v in u.to_f64_vec().unwrap() {
            let p = (-v).exp();
            mass += p;
            entropy += v * p;
        }
    }
    let cell = h.powi(d as i32);
    (mass * cell, entropy * cell)
}

/// The normalization integral of each family at several t, in d = 1 and 2; the entropy by the
/// same quadrature against the family's own entropy.
#[test]
fn every_energy_integrates_to_one_by_quadrature() {
    let ts = [0.0, 0.01, 1.0, 10.0];
    let mut worst_mass: f64 = 0.0;
    let mut worst_entropy: f64 = 0.0;
    for d in 1..=2 {
        let gaussian = random_gaussian(d, RngKey::new(31, d as u64));
        let gsm = GaussianScaleMixture::new(&[0.3, 0.7], &[0.25, 4.0], d).unwrap();
        let gmm = random_gmm(d, 3, RngKey::new(37, d as u64));
        for &t in &ts {
            // sigma_min and sigma_max of each density at t, and the box it lives in.
            let g_eig = gaussian.eigenvalues();
            let gl = g_eig.iter().fold(f64::INFINITY, |m, &v| m.min(v)) + t;
            let gh = g_eig.iter().fold(0.0f64, |m, &v| m.max(v)) + t;
            let cases: Vec<(&str, f64, f64, Vec<f64>, f64)> = {
                let mut c = vec![(
                    "Gaussian",
                    gl.sqrt(),
                    gh.sqrt(),
                    gaussian.mean().to_vec(),
                    0.0,
                )];
                c.push((
                    "GSM",
                    (0.25 + t).sqrt(),
                    (4.0 + t).sqrt(),
                    vec![0.0; d],
                    0.0,
                ));
                let (mut lo, mut hi, mut reach) = (f64::INFINITY, 0.0f64, 0.0f64);
                for comp in gmm.components() {
                    for &l in comp.eigenvalues() {
                        lo = lo.min(l + t);
                        hi = hi.max(l + t);
                    }
                    reach = reach.max(norm(comp.mean()));
                }
                c.push(("GMM", lo.sqrt(), hi.sqrt(), vec![0.0; d], reach));
                c
            };
            for (name, s_lo, s_hi, center, reach) in cases {
                let h = s_lo / 2.5;
                let half = 10.0 * s_hi + reach;
                let (mass, ent) = match name {
                    "Gaussian" => quadrature(&gaussian, &center, half, h, t),
                    "GSM" => quadrature(&gsm, &center, half, h, t),
                    _ => quadrature(&gmm, &center, half, h, t),
                };
                let want_entropy = match name {
                    "Gaussian" => Some(gaussian.entropy(t)),
                    "GSM" => Some(gsm.entropy(t)),
                    _ => None,
                };
                worst_mass = worst_mass.max((mass - 1.0).abs());
                assert!(
                    (mass - 1.0).abs() < 1e-9,
                    "{name}, d = {d}, t = {t}: {mass}"
                );
                if let Some(w) = want_entropy {
                    worst_entropy = worst_entropy.max((ent - w).abs());
                    assert!(
                        (ent - w).abs() < 1e-9,
                        "{name} entropy, d = {d}, t = {t}: {ent} vs {w}"
                    );
                }
            }
        }
    }
    println!(
        "quadrature: largest |integral - 1| {worst_mass:.1e}, largest entropy error {worst_entropy:.1e}"
    );
}

#[test]
fn gaussian_sampling_has_the_right_moments_and_entropy() {
    let d = 3;
    let g = random_gaussian(d, RngKey::new(3, 3));
    let t = 0.5;
    let n = 20_000;
    let rows = g.sample_rows(n, t, RngKey::new(4, 0)).unwrap();
    let mc = mean_covariance(&rows, d).unwrap();
    let cov = g.covariance().add_identity(t).unwrap();
    for i in 0..d {
        let se = (cov[(i, i)] / n as f64).sqrt();
        assert!((mc.mean[i] - g.mean()[i]).abs() < 5.0 * se);
        for j in 0..d {
            // Var of a sample covariance entry: (S_ii S_jj + S_ij^2) / n.
            let se = ((cov[(i, i)] * cov[(j, j)] + cov[(i, j)].powi(2)) / n as f64).sqrt();
            assert!(
                (mc.covariance[(i, j)] - cov[(i, j)]).abs() < 5.0 * se,
                "({i}, {j})"
            );
        }
    }
    // Sample i depends only on (key, i).
    let first = g.sample_rows(3, t, RngKey::new(4, 0)).unwrap();
    assert_eq!(first[..], rows[..3 * d]);
    let h =
        monte_carlo_entropy::<_, f64, _>(&g, &Reference, t, 8000, 2000, RngKey::new(5, 0)).unwrap();
    assert!(
        (h.mean - g.entropy(t)).abs() < 5.0 * h.std_error,
        "{h:?} vs {}",
        g.entropy(t)
    );
    // The shaped sampler.
    let g4 = random_gaussian(4, RngKey::new(1, 1))
        .with_shape(&[1, 2, 2])
        .unwrap();
    let x: T64 = g4.sample(&Reference, 5, 0.0, RngKey::new(1, 2)).unwrap();
    assert_eq!(x.dims(), &[5, 1, 2, 2]);
    assert!(
        random_gaussian(4, RngKey::new(1, 1))
            .with_shape(&[3])
            .is_err()
    );
}

#[test]
fn scale_mixture_sampling_entropy_and_the_papers_numbers() {
    let gsm = GaussianScaleMixture::new(&[0.5, 0.5], &[1.0, 16.0], 1000).unwrap();
    let d = 1000.0f64;
    // The energy difference between radius 4 sqrt(d) and sqrt(d): each radius is deep in one
    // component, so it is d/2 ln 16 = 1386.29 nats up to e^-1000 (docs/METHOD.md 5.1 quotes the
    // paper's "true 1384", read off its figure).
    let diff = gsm.energy_at_radius(4.0 * d.sqrt(), 0.0) - gsm.energy_at_radius(d.sqrt(), 0.0);
    println!("GSM d = 1000: U(4 sqrt d) - U(sqrt d) = {diff:.2} nats");
    assert!((diff - 500.0 * 16f64.ln()).abs() < 1e-9, "{diff}");
    assert!((diff - 1384.0).abs() < 3.0, "{diff}");
    // The modes switch where the two logits are equal: r^2 / d = ln 16 / (1 - 1/16). There
    // the responsibilities are 1/2 each, so grad_y U = y (1 + 1/16) / 2.
    let switch = (16f64.ln() / (1.0 - 1.0 / 16.0)).sqrt();
    println!("GSM d = 1000: switch radius {switch:.4} sqrt(d)");
    assert!((switch - 1.72).abs() < 0.005);
    let mut y = vec![0.0; 1000];
    y[0] = switch * d.sqrt();
    let g = gsm
        .energy_gradients(&tensor(&y, &[1, 1000]), &tensor(&[0.0], &[1]), Graph::Drop)
        .unwrap()
        .grad_y
        .to_f64_vec()
        .unwrap();
    assert!((g[0] / y[0] - 0.5 * (1.0 + 1.0 / 16.0)).abs() < 1e-12);
    // Samples: E ||x||^2 / d = sum_k w_k (s_k^2 + t), and the entropy by quadrature against
    // Monte Carlo.
    for &t in &[0.0, 1.0, 100.0] {
        let n = 4000;
        let rows = gsm.sample_rows(n, t, RngKey::new(6, 0)).unwrap();
        let r2: Vec<f64> = rows
            .chunks(1000)
            .map(|x| x.iter().map(|v| v * v).sum::<f64>() / d)
            .collect();
        let m = r2.iter().sum::<f64>() / n as f64;
        let want = 0.5 * (1.0 + t) + 0.5 * (16.0 + t);
        // Each sample's ||x||^2/d is (s^2 + t) up to 1/sqrt(500): the spread is the mixture's.
        let se = (r2.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n * (n - 1)) as f64).sqrt();
        assert!((m - want).abs() < 5.0 * se, "t = {t}: {m} vs {want}");
        let h = monte_carlo_entropy::<_, f64, _>(&gsm, &Reference, t, n, 1000, RngKey::new(6, 0))
            .unwrap();
        let exact = gsm.entropy(t);
        println!(
            "GSM d = 1000, t = {t}: entropy {exact:.4} nats, Monte Carlo {:.4} +- {:.4}",
            h.mean, h.std_error
        );
        assert!((h.mean - exact).abs() < 5.0 * h.std_error);
    }
}

#[test]
fn mixture_sampling_matches_its_moments() {
    let gmm = GaussianMixture::from_moments(
        &[0.2, 0.8],
        &[vec![-3.0, 1.0], vec![2.0, 0.0]],
        &[
            Matrix::from_vec(2, 2, vec![1.0, 0.5, 0.5, 2.0]).unwrap(),
            Matrix::from_diagonal(&[0.5, 0.1]),
        ],
    )
    .unwrap();
    let n = 20_000;
    let t = 0.3;
    let rows = gmm.sample_rows(n, t, RngKey::new(8, 0)).unwrap();
    let mc = mean_covariance(&rows, 2).unwrap();
    let mean = [0.2 * -3.0 + 0.8 * 2.0, 0.2 * 1.0];
    // Total covariance: sum w (Sigma_k + t I + mu_k mu_k^T) - mean mean^T.
    let var0 = 0.2 * (1.0 + t + 9.0) + 0.8 * (0.5 + t + 4.0) - mean[0] * mean[0];
    let var1 = 0.2 * (2.0 + t + 1.0) + 0.8 * (0.1 + t) - mean[1] * mean[1];
    for (i, var) in [var0, var1].iter().enumerate() {
        assert!((mc.mean[i] - mean[i]).abs() < 5.0 * (var / n as f64).sqrt());
        assert!((mc.covariance[(i, i)] - var).abs() < 0.05 * var, "{i}");
    }
    // Monte Carlo entropy against quadrature.
    let (mass, exact) = quadrature(&gmm, &[0.0, 0.0], 12.0, 0.05, t);
    assert!((mass - 1.0).abs() < 1e-9);
    let h = monte_carlo_entropy::<_, f64, _>(&gmm, &Reference, t, 8000, 2000, RngKey::new(9, 0))
        .unwrap();
    assert!(
        (h.mean - exact).abs() < 5.0 * h.std_error,
        "{h:?} vs {exact}"
    );
}

#[test]
fn stationary_images_have_a_circulant_covariance_and_an_exact_entropy() {
    let mut params = StationaryImageParams::new(6, 8);
    params.anisotropy = 1.5;
    params.floor = 1e-3;
    params.alpha = 1.7;
    let model = StationaryGaussianImages::new(params).unwrap();
    let d = model.dim();
    let lam = model.spectrum();
    assert!((lam.iter().sum::<f64>() / d as f64 - 0.05).abs() < 1e-15);
    // The Gaussian built on the real Fourier basis has the circulant covariance.
    let g = model.gaussian().unwrap();
    assert_eq!(g.sample_shape(), &[1, 6, 8]);
    let circulant = model.covariance().unwrap();
    assert!(g.covariance().max_abs_diff(&circulant) < 1e-15);
    assert!((circulant[(0, 0)] - 0.05).abs() < 1e-15);
    // Entropy: 1/2 sum ln(2 pi e lam) against 1/2 ln det(2 pi e Sigma) by Cholesky.
    let ld = dualscore_core::linalg::cholesky(&circulant)
        .unwrap()
        .log_det();
    let direct = 0.5 * (d as f64 * (2.0 * std::f64::consts::PI * std::f64::consts::E).ln() + ld);
    assert!((model.entropy() - direct).abs() < 1e-10 * direct.abs());
    assert!((g.entropy(0.0) - model.entropy()).abs() < 1e-12 * direct.abs());
    assert!((g.entropy(2.0) - model.entropy_at(2.0)).abs() < 1e-12 * direct.abs());
    // The FFT sampler is mean + Sigma^{1/2} w with the symmetric square root.
    let n = 3;
    let key = RngKey::new(12, 0);
    let fft = model.sample_rows(n, key).unwrap();
    let eig = dualscore_core::linalg::symmetric_eigen(&circulant).unwrap();
    let sqrt = eig.map_values(|l| l.max(0.0).sqrt());
    for i in 0..n {
        let w = normal_values(key, (i * d) as u64, d);
        let dense: Vec<f64> = sqrt.matvec(&w).unwrap().iter().map(|v| v + 0.5).collect();
        let err = rel_err(&fft[i * d..(i + 1) * d], &dense);
        assert!(err < 1e-12, "image {i}: {err}");
    }
    let x: T64 = model.sample(&Reference, 2, key).unwrap();
    assert_eq!(x.dims(), &[2, 1, 6, 8]);
    // Its energy at the images equals the host energy.
    let u = g
        .energy(&x, &tensor(&[0.0, 0.0], &[2]))
        .unwrap()
        .to_f64_vec()
        .unwrap();
    let xs = x.to_f64_vec().unwrap();
    for i in 0..2 {
        let want = g.energy_host(&xs[i * d..(i + 1) * d], 0.0).unwrap();
        assert!((u[i] - want).abs() < 1e-10 * want.abs());
    }
}

#[test]
fn stationary_images_32x32_are_practical() {
    let model = StationaryGaussianImages::new(StationaryImageParams::new(32, 32)).unwrap();
    let g = model.gaussian().unwrap();
    let x: T64 = model.sample(&Reference, 2, RngKey::new(1, 0)).unwrap();
    let t = tensor(&[0.0, 0.1], &[2]);
    let closed = g.energy_gradients(&x, &t, Graph::Drop).unwrap();
    assert_eq!(closed.grad_y.dims(), &[2, 1, 32, 32]);
    let errs = closed_form_vs_autodiff(&g, &x, &t);
    assert!(errs.iter().all(|&e| e < 1e-10), "{errs:?}");
    // U at a sample is about d / 2 + the entropy's normalizer: E[U] = entropy.
    let u = closed.energy.to_f64_vec().unwrap()[0];
    let h = model.entropy();
    assert!((u - h).abs() < 6.0 * (1024.0f64 / 2.0).sqrt(), "{u} vs {h}");
}

#[test]
fn closed_forms_are_recorded_only_with_create_graph() {
    let e = random_gsm(3, 2, RngKey::new(2, 0));
    let (y, t) = random_inputs(2, 3, 1.0, RngKey::new(2, 1));
    let y = y.requiring_grad();
    let plain = e.energy_gradients(&y, &t, Graph::Drop).unwrap();
    assert!(!plain.grad_y.requires_grad() && !plain.energy.requires_grad());
    let recorded = e.energy_gradients(&y, &t, Graph::Keep).unwrap();
    assert!(recorded.grad_y.requires_grad() && recorded.grad_t.requires_grad());
    // A ScoreModel gives the same terms.
    let terms = e.score_terms(&y, &t, Graph::Drop).unwrap();
    assert_eq!(
        terms.grad_y.to_f64_vec().unwrap(),
        plain.grad_y.to_f64_vec().unwrap()
    );
    assert_eq!(
        terms.grad_t.unwrap().to_f64_vec().unwrap(),
        plain.grad_t.to_f64_vec().unwrap()
    );
    // The time derivative of the recorded closed-form dU/dt with respect to t agrees with
    // autodiff's second derivative in t.
    let tl = t.detach().requiring_grad();
    let rec = e.energy_gradients(&y.detach(), &tl, Graph::Keep).unwrap();
    let d2_closed = grad(&[&rec.grad_t], &[&tl], GradOptions::default())
        .unwrap()
        .remove(0);
    let u = e.energy(&y.detach(), &tl).unwrap();
    let du = grad(&[&u], &[&tl], GradOptions::create_graph())
        .unwrap()
        .remove(0);
    let d2_auto = grad(&[&du], &[&tl], GradOptions::default())
        .unwrap()
        .remove(0);
    let err = rel_err(
        &d2_closed.to_f64_vec().unwrap(),
        &d2_auto.to_f64_vec().unwrap(),
    );
    assert!(err < 1e-10, "{err}");
}

#[test]
fn bad_inputs_are_errors() {
    let g = random_gaussian(3, RngKey::new(1, 0));
    let y = tensor(&[0.0; 6], &[2, 3]);
    assert!(g.energy(&y, &tensor(&[1.0], &[1])).is_err());
    assert!(
        g.energy(&tensor(&[0.0; 8], &[2, 4]), &tensor(&[1.0, 1.0], &[2]))
            .is_err()
    );
    assert!(
        g.energy_gradients(&y, &tensor(&[1.0; 3], &[3]), Graph::Drop)
            .is_err()
    );
    assert!(GaussianScaleMixture::new(&[1.0], &[-1.0], 2).is_err());
    assert!(GaussianScaleMixture::new(&[1.0, 2.0], &[1.0], 2).is_err());
    assert!(GaussianScaleMixture::new(&[0.0], &[1.0], 2).is_err());
    assert!(Gaussian::new(vec![0.0; 2], &Matrix::from_diagonal(&[1.0, -1.0])).is_err());
    assert!(Gaussian::new(vec![0.0; 3], &Matrix::identity(2)).is_err());
    let not_orthonormal = Matrix::from_vec(2, 2, vec![1.0, 1.0, 0.0, 1.0]).unwrap();
    assert!(Gaussian::from_eigen(vec![0.0; 2], vec![1.0; 2], not_orthonormal).is_err());
    assert!(
        GaussianMixture::new(
            &[1.0, 1.0],
            vec![Gaussian::isotropic(vec![0.0], 1.0).unwrap()]
        )
        .is_err()
    );
    assert!(g.sample_rows(2, -1.0, RngKey::new(0, 0)).is_err());
    assert!(
        StationaryGaussianImages::new(StationaryImageParams {
            floor: 1.0,
            ..StationaryImageParams::new(4, 4)
        })
        .is_err()
    );
}

#[test]
fn f32_energies_agree_with_f64() -> Result<()> {
    let gmm = random_gmm(3, 2, RngKey::new(4, 4));
    let (y, t) = random_inputs(3, 3, 1.0, RngKey::new(4, 5));
    let y32 = Tensor::<Reference, f32>::from_f64(&Reference, &y.to_f64_vec()?, [3, 3])?;
    let t32 = Tensor::<Reference, f32>::from_f64(&Reference, &t.to_f64_vec()?, [3])?;
    let a = gmm.energy_gradients(&y, &t, Graph::Drop)?;
    let b = gmm.energy_gradients(&y32, &t32, Graph::Drop)?;
    assert!(rel_err(&b.energy.to_f64_vec()?, &a.energy.to_f64_vec()?) < 1e-5);
    assert!(rel_err(&b.grad_y.to_f64_vec()?, &a.grad_y.to_f64_vec()?) < 1e-4);
    Ok(())
}
