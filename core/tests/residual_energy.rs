//! The options of the fast model: a Gaussian base that is exactly the fitted Gaussian's noisy
//! energy, a preconditioned network on a log-t embedding whose derivatives are exact to second
//! order, and a model that starts as its base.

use dualscore_core::backend::reference::Reference;
use dualscore_core::density::GaussianBaseline;
use dualscore_core::energy::analytic::Gaussian;
use dualscore_core::energy::{
    BaseBasis, Basis, Energy, GaussianBase, InnerProduct, InnerProductConfig, Preconditioning,
    TimeOffsetConfig,
};
use dualscore_core::linalg::Matrix;
use dualscore_core::nn::{Init, TimeInput, UNet, UNetConfig, UNetConv};
use dualscore_core::rng::RngKey;
use dualscore_core::testing::{GradCheckConfig, check_grads};
use dualscore_core::{Result, Tensor};

type T64 = Tensor<Reference, f64>;

/// Correlated, non-Gaussian 4x4 images: a smooth random field plus a per-image contrast.
fn images(n: usize, seed: u64) -> T64 {
    let white = dualscore_core::rng::normal_values(RngKey::new(seed, 1), 0, n * 16);
    let mut values = Vec::with_capacity(n * 16);
    for i in 0..n {
        let w = &white[i * 16..(i + 1) * 16];
        let contrast = 0.05 + 0.1 * (i % 3) as f64;
        for r in 0..4 {
            for c in 0..4 {
                let right = w[r * 4 + (c + 1) % 4];
                let below = w[((r + 1) % 4) * 4 + c];
                values.push(0.5 + contrast * (w[r * 4 + c] + 0.6 * right + 0.3 * below));
            }
        }
    }
    Tensor::from_f64(&Reference, &values, [n, 1, 4, 4]).unwrap()
}

fn sample_mean_covariance(x: &T64) -> (Vec<f64>, Matrix) {
    let n = x.dims()[0];
    let v = x.to_f64_vec().unwrap();
    let d = v.len() / n;
    let mean: Vec<f64> = (0..d)
        .map(|k| (0..n).map(|i| v[i * d + k]).sum::<f64>() / n as f64)
        .collect();
    let mut cov = vec![0.0; d * d];
    for i in 0..n {
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] +=
                    (v[i * d + a] - mean[a]) * (v[i * d + b] - mean[b]) / (n - 1) as f64;
            }
        }
    }
    (mean, Matrix::from_vec(d, d, cov).unwrap())
}

/// `base`'s energy equals the analytic Gaussian's on `test` (to 1e-9 relative) at noise levels
/// from 0 to 1e3.
fn assert_base_is_exact(
    base: &GaussianBase<Reference, f64>,
    exact: &Gaussian,
    test: &T64,
) -> Result<()> {
    let n = test.dims()[0];
    for t in [0.0, 1e-6, 1e-2, 1.0, 1e3] {
        let tt = Tensor::from_f64(&Reference, &vec![t; n], [n])?;
        let got = base.energy(test, &tt)?.to_f64_vec()?;
        let want = exact.energy(test, &tt)?.to_f64_vec()?;
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-9 * (1.0 + w.abs()),
                "t = {t}: {g} vs {w}"
            );
        }
    }
    Ok(())
}

/// The base is N(m, S + ridge I) of the training images at every t: the analytic Gaussian's
/// energy (computed independently, from the dense covariance) and, at t = 0, the baseline's
/// -log p, to rounding.
#[test]
fn the_base_is_the_fitted_gaussian_at_every_noise_level() -> Result<()> {
    let train = images(300, 3);
    let ridge = 1e-4;
    let base = GaussianBase::fit(&train, BaseBasis::Full, 64, ridge)?;
    let (mean, cov) = sample_mean_covariance(&train);
    let exact = Gaussian::new(mean, &cov.add_identity(ridge)?)?.with_shape(&[1, 4, 4])?;
    let test = images(7, 9);
    assert_base_is_exact(&base, &exact, &test)?;
    let baseline = GaussianBaseline::fit(&train, 64, ridge)?;
    let zero = Tensor::from_f64(&Reference, &[0.0; 7], [7])?;
    let got = base.energy(&test, &zero)?.to_f64_vec()?;
    for (g, w) in got.iter().zip(baseline.neg_log_prob_nats(&test, 64)?) {
        assert!((g - w).abs() <= 1e-9 * (1.0 + w.abs()), "{g} vs {w}");
    }
    // Images of another shape are refused with the fitted shape in the message.
    let other = Tensor::<Reference, f64>::zeros(&Reference, [2, 1, 8, 2])?;
    let t2 = Tensor::from_f64(&Reference, &[0.1, 0.1], [2])?;
    let err = base.energy(&other, &t2).unwrap_err().to_string();
    assert!(err.contains("1x4x4"), "{err}");
    Ok(())
}

/// Correlated two-channel 3x4 images with a per-image contrast (not separable, not Gaussian).
fn color_images(n: usize, seed: u64) -> T64 {
    let white = dualscore_core::rng::normal_values(RngKey::new(seed, 2), 0, n * 24);
    let mut values = vec![0.0; n * 24];
    for i in 0..n {
        let w = &white[i * 24..(i + 1) * 24];
        let contrast = 0.05 + 0.1 * (i % 3) as f64;
        for ch in 0..2 {
            for r in 0..3 {
                for c in 0..4 {
                    let at = |ch: usize, r: usize, c: usize| w[ch * 12 + (r % 3) * 4 + c % 4];
                    let v = at(ch, r, c) + 0.5 * at(1 - ch, r, c) + 0.4 * at(ch, r + 1, c + 1);
                    values[i * 24 + ch * 12 + r * 4 + c] = 0.4 + 0.1 * ch as f64 + contrast * v;
                }
            }
        }
    }
    Tensor::from_f64(&Reference, &values, [n, 2, 3, 4]).unwrap()
}

/// The columns of `a (x) b` for square `a` and `b` (row-major).
fn kronecker(a: &Matrix, b: &Matrix) -> Matrix {
    let (p, q) = (a.rows(), b.rows());
    Matrix::from_fn(p * q, p * q, |i, j| a[(i / q, j / q)] * b[(i % q, j % q)])
}

fn matrix_of(t: &T64) -> Matrix {
    let k = t.dims()[0];
    Matrix::from_vec(k, k, t.to_f64_vec().unwrap()).unwrap()
}

/// The separable base is exactly the Gaussian with eigenvectors V = V_C (x) V_H (x) V_W
/// (orthonormal) and, as eigenvalues, the data's unbiased variance along each of them plus the
/// ridge: checked against the analytic Gaussian of that dense covariance, built independently,
/// at every t; differentiable to second order.
#[test]
fn the_separable_base_is_the_gaussian_of_its_basis_and_the_data_variances() -> Result<()> {
    let train = color_images(400, 4);
    let ridge = 1e-5;
    let base = GaussianBase::fit(&train, BaseBasis::Separable, 64, ridge)?;
    assert_eq!(base.basis_kind(), BaseBasis::Separable);
    let Basis::Separable {
        channels,
        rows,
        columns,
    } = &base.basis
    else {
        panic!("a separable basis")
    };
    let v = kronecker(
        &kronecker(&matrix_of(channels), &matrix_of(rows)),
        &matrix_of(columns),
    );
    let d = 24;
    let identity = v.transpose().matmul(&v)?;
    for i in 0..d {
        for j in 0..d {
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((identity[(i, j)] - want).abs() < 1e-12, "V^T V at {i},{j}");
        }
    }
    let (mean, cov) = sample_mean_covariance(&train);
    let variances: Vec<f64> = (0..d)
        .map(|k| {
            let vk = v.column(k);
            let sv = cov.matvec(&vk).unwrap();
            vk.iter().zip(&sv).map(|(a, b)| a * b).sum::<f64>() + ridge
        })
        .collect();
    let stored = base.eigenvalues.to_f64_vec()?;
    for (got, want) in stored.iter().zip(&variances) {
        assert!((got - want).abs() <= 1e-10 * want, "{got} vs {want}");
    }
    let exact = Gaussian::from_eigen(mean, variances, v)?.with_shape(&[2, 3, 4])?;
    let test = color_images(5, 8);
    assert_base_is_exact(&base, &exact, &test)?;
    // The full fit is the most likely Gaussian of its training data (Hadamard's inequality):
    // the separable one, with the same variances along its own basis, is never better there.
    let full = GaussianBase::fit(&train, BaseBasis::Full, 64, ridge)?;
    let zero = Tensor::from_f64(&Reference, &[0.0; 400], [400])?;
    let mean_energy = |b: &GaussianBase<Reference, f64>| -> Result<f64> {
        Ok(b.energy(&train, &zero)?.to_f64_vec()?.iter().sum::<f64>() / 400.0)
    };
    let (separable_nll, full_nll) = (mean_energy(&base)?, mean_energy(&full)?);
    assert!(
        separable_nll >= full_nll - 1e-6 * full_nll.abs(),
        "separable {separable_nll} vs full {full_nll} nats"
    );
    let y = color_images(2, 12);
    for t in [1e-4, 0.5] {
        check_second_order(|y, t| base.energy(y, t), &y, &[t, 3.0 * t])?;
    }
    Ok(())
}

/// Checks the derivatives of the energy `energy(y, t)` in y and t to second order by finite differences at
/// noise variances `t` (one per sample), with steps scaled to the first.
fn check_second_order(
    energy: impl Fn(&T64, &T64) -> Result<T64>,
    y: &T64,
    t: &[f64],
) -> Result<()> {
    let tt = Tensor::from_f64(&Reference, t, [t.len()])?;
    let f = |inputs: &[T64]| energy(&inputs[0], &inputs[1]);
    let config = GradCheckConfig {
        step: 1e-5 * t[0].min(1.0),
        rtol: 1e-5,
        ..GradCheckConfig::default()
    };
    check_grads(&f, &[y.clone(), tt], 2, &config)?;
    Ok(())
}

fn tiny_unet() -> UNetConfig {
    UNetConfig {
        image_size: 4,
        scales: 1,
        base_width: 3,
        layers_per_block: 2,
        embedding_frequencies: 3,
        embedding_width: 5,
        embedding_t_min: 0.25,
        embedding_t_max: 64.0,
        time_input: TimeInput::LogVariance { t0: 1e-9 },
        ..UNetConfig::small()
    }
}

fn residual_energy(zero_last_layer: bool) -> InnerProduct<Reference, f64, UNet<Reference, f64>> {
    let mut init = Init::new(5);
    let mut unet = UNet::new(&Reference, &mut init, &tiny_unet()).unwrap();
    if zero_last_layer {
        let last = unet.decoder[0].layers.last_mut().unwrap();
        let UNetConv::Conv(conv) = &mut last.conv else {
            panic!("the UNet ends with a convolution")
        };
        conv.weight = Tensor::zeros(&Reference, conv.weight.dims().to_vec()).unwrap();
    }
    let config = InnerProductConfig {
        center: Some(vec![0.5]),
        time_offset: Some(TimeOffsetConfig {
            hidden_width: 4,
            ..TimeOffsetConfig::default()
        }),
        preconditioning: Some(Preconditioning {
            data_variance: 0.02,
            t_floor: 1e-5,
        }),
        gaussian_base: Some([1, 4, 4]),
        base_basis: BaseBasis::Full,
    };
    let mut energy = InnerProduct::with_config(&Reference, &mut init, unet, &config).unwrap();
    energy.gaussian_base =
        Some(GaussianBase::fit(&images(300, 3), BaseBasis::Full, 64, 1e-4).unwrap());
    energy
}

/// With its last layer and time offset at zero, the residual energy is its base exactly; its
/// derivatives in y and t are exact to second order (finite differences in f64), at noise levels
/// from the smallest trained to the largest.
#[test]
fn the_residual_energy_starts_at_its_base_and_differentiates_exactly() -> Result<()> {
    let y = images(3, 11);
    let energy = residual_energy(true);
    let base = energy.gaussian_base.clone().unwrap();
    for t in [0.0, 1e-7, 0.3, 500.0] {
        let tt = Tensor::from_f64(&Reference, &[t; 3], [3])?;
        let got = energy.energy(&y, &tt)?.to_f64_vec()?;
        let want = base.energy(&y, &tt)?.to_f64_vec()?;
        assert_eq!(got, want, "t = {t}");
    }
    let energy = residual_energy(false);
    for t in [1e-4, 0.05, 20.0] {
        check_second_order(|y, t| energy.energy(y, t), &y, &[t, 2.0 * t, 0.5 * t])?;
    }
    Ok(())
}
