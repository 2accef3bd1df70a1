//! The exact-family models contain the truth: set to the true parameters, they give the true
//! energy gradient (and energy up to the free offset).

use dualscore_core::Tensor;
use dualscore_core::autograd::Graph;
use dualscore_core::backend::reference::Reference;
use dualscore_core::energy::analytic::{StationaryGaussianImages, StationaryImageParams};
use dualscore_core::energy::families::{DiagonalGaussianEnergy, RadialMixtureEnergy};
use dualscore_core::energy::{Energy, TimeOffsetConfig};
use dualscore_core::linalg::fourier::real_fourier_basis;
use dualscore_core::nn::{Activation, Init};
use dualscore_core::rng::RngKey;

type T64 = Tensor<Reference, f64>;

fn max_relative(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().map(|v| v.abs()).fold(0.0, f64::max).max(1e-300);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

#[test]
fn the_diagonal_gaussian_family_contains_stationary_gaussian_images() {
    let images = StationaryGaussianImages::new(StationaryImageParams::new(4, 4)).unwrap();
    let truth = images.gaussian().unwrap();
    let basis = real_fourier_basis(4, 4);
    let mut model = DiagonalGaussianEnergy::<Reference, f64>::new(
        &Reference,
        &mut Init::new(1),
        &basis.vectors,
        &TimeOffsetConfig::default(),
    )
    .unwrap();
    // The stationary spectrum in the order of the basis columns.
    let lam: Vec<f64> = basis
        .frequencies
        .iter()
        .map(|&(ky, kx)| images.spectrum()[ky * 4 + kx])
        .collect();
    model.log_variance = T64::from_f64(
        &Reference,
        &lam.iter().map(|v| v.ln()).collect::<Vec<_>>(),
        [16],
    )
    .unwrap();
    model.mean = T64::full(&Reference, [16], images.params().mean).unwrap();
    let y = T64::randn(&Reference, [3, 1, 4, 4], RngKey::new(2, 0), 0).unwrap();
    let t = T64::from_f64(&Reference, &[1e-3, 0.5, 20.0], [3]).unwrap();
    let got = model.energy_gradients(&y, &t, Graph::Drop).unwrap();
    let want = truth.energy_gradients(&y, &t, Graph::Drop).unwrap();
    let err = max_relative(
        &got.grad_y.to_f64_vec().unwrap(),
        &want.grad_y.to_f64_vec().unwrap(),
    );
    assert!(err < 1e-12, "grad_y relative error {err:e}");
    // Energies differ only by the offset, a function of t alone: equal differences across y.
    let y2 = T64::randn(&Reference, [3, 1, 4, 4], RngKey::new(2, 1), 0).unwrap();
    let (u1, u2) = (
        model.energy(&y, &t).unwrap(),
        model.energy(&y2, &t).unwrap(),
    );
    let (v1, v2) = (
        truth.energy(&y, &t).unwrap(),
        truth.energy(&y2, &t).unwrap(),
    );
    let dm = u1.sub(&u2).unwrap().to_f64_vec().unwrap();
    let dt = v1.sub(&v2).unwrap().to_f64_vec().unwrap();
    assert!(max_relative(&dm, &dt) < 1e-12);
}

#[test]
fn the_radial_mixture_energy_is_a_stable_logsumexp_of_its_coefficients() {
    let model = RadialMixtureEnergy::<Reference, f64>::new(
        &Reference,
        &mut Init::new(3),
        2,
        16,
        2,
        Activation::Gelu,
        0.01,
    )
    .unwrap();
    let d = 50;
    let y = T64::randn(&Reference, [4, d], RngKey::new(4, 0), 0)
        .unwrap()
        .scale(3.0)
        .unwrap();
    let t = T64::from_f64(&Reference, &[0.01, 0.1, 1.0, 100.0], [4]).unwrap();
    let u = model.energy(&y, &t).unwrap().to_f64_vec().unwrap();
    let (a, b) = model.coefficients(&t, d).unwrap();
    let (a, b) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    let y = y.to_f64_vec().unwrap();
    for i in 0..4 {
        let r2: f64 = y[i * d..(i + 1) * d].iter().map(|v| v * v).sum();
        let e: Vec<f64> = (0..2)
            .map(|k| -(a[2 * i + k] * r2 + b[2 * i + k]))
            .collect();
        let m = e.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let want = -(m + e.iter().map(|v| (v - m).exp()).sum::<f64>().ln());
        assert!(
            (u[i] - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{} vs {want}",
            u[i]
        );
        assert!(a[2 * i] > 0.0 && a[2 * i + 1] > 0.0);
    }
}
