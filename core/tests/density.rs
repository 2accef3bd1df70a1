//! The normalization constant, -log p and its units, against exactly known answers: Gaussian
//! data with its exact energy (constant 0, NLL = entropy), the known bias of the authors' form
//! on the Gaussian scale mixture of docs/METHOD.md 5.1, and hand-computed unit conversions.

use dualscore_core::autograd::is_grad_enabled;
use dualscore_core::backend::reference::Reference;
use dualscore_core::density::{
    ConstantForm, GaussianBaseline, LogProbSummary, NormalizationConstant, NormalizationOptions,
    data_mean_covariance, log_det_covariance_plus_identity, log_p_db_per_dim,
    neg_log_prob_bits_per_dim, neg_log_prob_nats, nll_bits_per_dim, normalization_constant,
};
use dualscore_core::energy::Energy;
use dualscore_core::energy::analytic::{AnalyticDensity, Gaussian, GaussianScaleMixture};
use dualscore_core::linalg::{Matrix, cholesky, mean_covariance};
use dualscore_core::rng::{RngKey, normal_values};
use dualscore_core::{Result, Tensor};
use std::f64::consts::{E, LN_2, LN_10, PI};

type T64 = Tensor<Reference, f64>;

/// A 16-dimensional Gaussian image model (4 x 4, one channel) with a correlated covariance of
/// pixel-like scale.
fn gaussian_images() -> Gaussian {
    let d = 16;
    let g = Matrix::from_vec(d, d, normal_values(RngKey::new(77, 0), 0, d * d)).unwrap();
    let mut cov = g.matmul(&g.transpose()).unwrap();
    cov.as_mut_slice()
        .iter_mut()
        .for_each(|v| *v *= 0.3 / d as f64);
    let cov = cov.add_identity(0.02).unwrap();
    let mean: Vec<f64> = (0..d).map(|i| 0.5 + 0.01 * i as f64).collect();
    Gaussian::new(mean, &cov)
        .unwrap()
        .with_shape(&[1, 4, 4])
        .unwrap()
}

fn options(t_max: f64, form: ConstantForm, batch_size: usize) -> NormalizationOptions {
    NormalizationOptions {
        t_max,
        form,
        batch_size,
        key: RngKey::new(5, 1),
    }
}

#[test]
fn the_covariance_corrected_constant_is_exact_for_gaussian_data() {
    let g = gaussian_images();
    let d = 16;
    let data: T64 = g.sample(&Reference, 4000, 0.0, RngKey::new(1, 0)).unwrap();
    // A t_max of the order of the covariance's eigenvalues, so that the authors' bias is large
    // against the Monte Carlo error (the covariance-corrected form is exact at any t_max).
    let t_max = 1.0;
    let c =
        normalization_constant(&g, &data, &options(t_max, ConstantForm::default(), 500)).unwrap();
    println!(
        "Gaussian d = 16, t_max = {t_max}: covariance-corrected c = {:.4} +- {:.4} nats (exact 0)",
        c.value, c.std_error
    );
    assert_eq!((c.channels, c.height, c.width, c.samples), (1, 4, 4, 4000));
    assert_eq!(c.form, ConstantForm::CovarianceCorrected);
    assert!(c.value.abs() < 4.0 * c.std_error, "{c:?}");
    // The authors' form: c_A = d/2 ln(2 pi e t) - E U = -1/2 sum ln(1 + l_k / t) in
    // expectation, the bias the covariance corrects.
    let a = normalization_constant(&g, &data, &options(t_max, ConstantForm::Authors, 500)).unwrap();
    let expected: f64 = -0.5
        * g.eigenvalues()
            .iter()
            .map(|l| (1.0 + l / t_max).ln())
            .sum::<f64>();
    println!(
        "Gaussian d = 16, t_max = {t_max}: authors' c = {:.4} +- {:.4} nats, expected {expected:.4}",
        a.value, a.std_error
    );
    assert!((a.value - expected).abs() < 4.0 * a.std_error);
    assert!(
        expected.abs() > 10.0 * a.std_error,
        "the bias must be visible"
    );
    // Same noise, same mean energy; the forms differ only in the reference entropy.
    assert_eq!(a.mean_energy, c.mean_energy);
    assert!((a.reference_entropy - 0.5 * d as f64 * (2.0 * PI * E * t_max).ln()).abs() < 1e-12);
}

#[test]
fn the_nll_of_the_exact_model_is_the_entropy_and_the_baseline_matches_it() {
    let g = gaussian_images();
    let d = 16;
    let train: T64 = g.sample(&Reference, 4000, 0.0, RngKey::new(2, 0)).unwrap();
    let test: T64 = g.sample(&Reference, 4000, 0.0, RngKey::new(3, 0)).unwrap();
    let c =
        normalization_constant(&g, &train, &options(100.0, ConstantForm::default(), 1000)).unwrap();
    let nlp = neg_log_prob_nats(&g, &test, &c, 333).unwrap();
    assert_eq!(nlp.len(), 4000);
    // Per image: exactly U(x, 0) + c.
    let xs = test.to_f64_vec().unwrap();
    for (i, v) in nlp.iter().enumerate().step_by(97) {
        let u = g.energy_host(&xs[i * d..(i + 1) * d], 0.0).unwrap();
        assert!((v - (u + c.value)).abs() < 1e-10 * u.abs().max(1.0));
    }
    let summary = LogProbSummary::from_neg_log_prob_nats(&nlp, d);
    let entropy = g.entropy(0.0);
    let se = (summary.neg_log_prob_nats.std_error.powi(2) + c.std_error.powi(2)).sqrt();
    println!(
        "Gaussian d = 16: mean -log p {:.4} +- {se:.4} nats, entropy {entropy:.4}; {:.4} bits/dim, {:.3} dB/dim",
        summary.neg_log_prob_nats.mean, summary.nll_bits_per_dim, summary.mean_log_p_db_per_dim
    );
    assert!((summary.neg_log_prob_nats.mean - entropy).abs() < 4.0 * se);
    assert!((summary.nll_bits_per_dim - nll_bits_per_dim(&nlp, d)).abs() < 1e-14);
    let exact_bits = 8.0 + entropy / (d as f64 * LN_2);
    assert!((summary.nll_bits_per_dim - exact_bits).abs() < 4.0 * se / (d as f64 * LN_2));
    // The full-covariance baseline fitted on the training images: its test NLL is the entropy
    // up to sampling error and an estimation bias of about d (d + 1) / (4 n) nats.
    let baseline = GaussianBaseline::fit(&train, 700, 0.0).unwrap();
    let base_nlp = baseline.neg_log_prob_nats(&test, 512).unwrap();
    let base_bits = baseline.nll_bits_per_dim(&test, 512).unwrap();
    assert!((base_bits - nll_bits_per_dim(&base_nlp, d)).abs() < 1e-14);
    let diff: Vec<f64> = base_nlp.iter().zip(&nlp).map(|(b, m)| b - m).collect();
    let diff_mean = diff.iter().sum::<f64>() / diff.len() as f64;
    println!(
        "Gaussian d = 16: baseline {base_bits:.4} bits/dim, exact model {:.4}, mean difference {diff_mean:.4} nats",
        summary.nll_bits_per_dim
    );
    assert!((base_bits - exact_bits).abs() < 4.0 * se / (d as f64 * LN_2) + 0.005);
    // The baseline's own density: its entropy is 1/2 ln det(2 pi e S).
    let s = mean_covariance(&train.to_f64_vec().unwrap(), d).unwrap();
    let want = 0.5 * (d as f64 * (2.0 * PI * E).ln() + cholesky(&s.covariance).unwrap().log_det());
    assert!((baseline.entropy() - want).abs() < 1e-10 * want.abs());
    assert_eq!(baseline.mean().len(), d);
}

/// docs/METHOD.md section 4: for the GSM of 5.1 at t_max = 100 the authors' form is off by about
/// 0.17 dB/dim; the covariance-corrected form by much less (it is exact only for Gaussian data).
#[test]
fn the_authors_form_shows_its_known_bias_on_the_scale_mixture() {
    let d = 1000;
    let gsm = GaussianScaleMixture::new(&[0.5, 0.5], &[1.0, 16.0], d)
        .unwrap()
        .with_shape(&[1, 10, 100])
        .unwrap();
    let t_max = 100.0;
    let data: T64 = gsm
        .sample(&Reference, 2000, 0.0, RngKey::new(4, 0))
        .unwrap();
    let to_db = |c_nats: f64| -10.0 * c_nats / (d as f64 * LN_10);
    // The exact energy is normalized, so c = 0 is the truth and the log p error in dB/dim is
    // -10 c / (d ln 10). Expected values: E[U(y, t_max)] is the entropy of p(., t_max).
    let entropy = gsm.entropy(t_max);
    let expected_authors = 0.5 * d as f64 * (2.0 * PI * E * t_max).ln() - entropy;
    let second_moment = 0.5 * 1.0 + 0.5 * 16.0;
    let expected_cov = 0.5 * d as f64 * (2.0 * PI * E * (second_moment + t_max)).ln() - entropy;
    let a =
        normalization_constant(&gsm, &data, &options(t_max, ConstantForm::Authors, 500)).unwrap();
    println!(
        "GSM d = 1000, t_max = 100: authors' log p error {:.4} +- {:.4} dB/dim (expected {:.4}); covariance-corrected expected {:.4}",
        to_db(a.value),
        to_db(-a.std_error),
        to_db(expected_authors),
        to_db(expected_cov)
    );
    assert!((to_db(expected_authors) - 0.17).abs() < 0.01);
    assert!((a.value - expected_authors).abs() < 4.0 * a.std_error);
    // The covariance-corrected form on 500 of the images (n < d: through the Gram matrix).
    let subset = data.slice(0, 0, 500).unwrap();
    let c = normalization_constant(&gsm, &subset, &options(t_max, ConstantForm::default(), 500))
        .unwrap();
    println!(
        "GSM d = 1000, t_max = 100, 500 images: covariance-corrected log p error {:.4} +- {:.4} dB/dim",
        to_db(c.value),
        to_db(-c.std_error)
    );
    assert!(to_db(expected_cov).abs() < 0.01);
    // Its standard error (0.008 dB/dim here) leaves out the sampling error of S's log-det
    // (about 0.007 dB/dim with 500 images): 0.03 is three combined standard deviations.
    assert!(to_db(c.value).abs() < 0.03);
}

#[test]
fn the_log_det_through_the_gram_matrix_equals_the_direct_one() {
    // n <= d takes the Gram route, n > d the covariance route: compare both with the host.
    for &(n, d) in &[(5usize, 12usize), (12, 12), (30, 6)] {
        let values: Vec<f64> = normal_values(RngKey::new(n as u64, d as u64), 0, n * d)
            .iter()
            .enumerate()
            .map(|(i, v)| v * (1.0 + (i % d) as f64) + 0.3)
            .collect();
        let data: T64 = Tensor::from_f64(&Reference, &values, [n, 1, 1, d]).unwrap();
        let shift = 0.7;
        let got = log_det_covariance_plus_identity(&data, shift, 4).unwrap();
        let mc = mean_covariance(&values, d).unwrap();
        let want = cholesky(&mc.covariance.add_identity(shift).unwrap())
            .unwrap()
            .log_det();
        assert!(
            (got - want).abs() < 1e-11 * want.abs().max(1.0),
            "n = {n}, d = {d}: {got} vs {want}"
        );
        let backend_mc = data_mean_covariance(&data, 7).unwrap();
        assert!(
            backend_mc.covariance.max_abs_diff(&mc.covariance) < 1e-12 * mc.covariance.max_abs()
        );
    }
}

#[test]
fn units_match_hand_computed_values() {
    let d = 3;
    // -log p = 1.5 d ln 2 nats: 1.5 bits/dim of the continuous density, 9.5 for 8-bit images.
    let nlp = 1.5 * d as f64 * LN_2;
    assert!((neg_log_prob_bits_per_dim(nlp, d) - 1.5).abs() < 1e-15);
    assert!((nll_bits_per_dim(&[nlp, nlp], d) - 9.5).abs() < 1e-14);
    assert!((nll_bits_per_dim(&[0.0, 2.0 * nlp], d) - 9.5).abs() < 1e-14);
    // log p = -nlp; in dB/dim: 10 log10(2^-1.5) = -4.5154...
    assert!((log_p_db_per_dim(nlp, d) - (-15.0 * 2f64.log10())).abs() < 1e-13);
    assert!((log_p_db_per_dim(-2.0 * d as f64 * LN_10, d) - 20.0).abs() < 1e-13);
    assert_eq!(log_p_db_per_dim(0.0, d), 0.0);
    // docs/METHOD.md 7: d/2 ln(2 pi e 1000) nats per image is 15.03 bits/dim for 8-bit images.
    let d = 4096;
    let trap = 0.5 * d as f64 * (2.0 * PI * E * 1000.0).ln();
    assert!((nll_bits_per_dim(&[trap], d) - 15.03).abs() < 0.005);
    // docs/METHOD.md 5.5: 4.20 bits/dim is -log p = (4.20 - 8) d ln 2; its dB/dim is 11.44.
    let nlp = (4.20 - 8.0) * d as f64 * LN_2;
    assert!((log_p_db_per_dim(nlp, d) - 11.44).abs() < 0.005);
    let s = LogProbSummary::from_neg_log_prob_nats(&[nlp, nlp], d);
    assert!((s.nll_bits_per_dim - 4.20).abs() < 1e-12);
    assert_eq!(s.nll_bits_per_dim_std_error, 0.0);
}

#[test]
fn the_constant_does_not_depend_on_the_batch_size_and_checks_its_inputs() -> Result<()> {
    let g = gaussian_images();
    let data: T64 = g.sample(&Reference, 50, 0.0, RngKey::new(9, 0))?;
    let a = normalization_constant(&g, &data, &options(10.0, ConstantForm::default(), 7))?;
    let b = normalization_constant(&g, &data, &options(10.0, ConstantForm::default(), 50))?;
    assert!((a.value - b.value).abs() < 1e-12 && (a.std_error - b.std_error).abs() < 1e-12);
    let nlp7 = neg_log_prob_nats(&g, &data, &a, 7)?;
    let nlp50 = neg_log_prob_nats(&g, &data, &a, 50)?;
    assert_eq!(nlp7, nlp50);
    // Shapes and options.
    let flat = data.reshape([50, 16])?;
    assert!(normalization_constant(&g, &flat, &options(10.0, ConstantForm::default(), 7)).is_err());
    assert!(normalization_constant(&g, &data, &options(0.0, ConstantForm::default(), 7)).is_err());
    assert!(normalization_constant(&g, &data, &options(10.0, ConstantForm::default(), 0)).is_err());
    let other = NormalizationConstant {
        height: 2,
        width: 8,
        ..a.clone()
    };
    assert!(neg_log_prob_nats(&g, &data, &other, 7).is_err());
    assert!(GaussianBaseline::fit(&data.slice(0, 0, 1)?, 8, 0.0).is_err());
    // Fewer images than dimensions: singular without a ridge, fine with one.
    assert!(GaussianBaseline::fit(&data.slice(0, 0, 10)?, 8, 0.0).is_err());
    assert!(GaussianBaseline::fit(&data.slice(0, 0, 10)?, 8, 1e-3).is_ok());
    // The constant is serializable.
    fn serde_roundtrip<S: serde::Serialize + serde::de::DeserializeOwned>(_: &S) {}
    serde_roundtrip(&a);
    Ok(())
}

#[test]
fn energies_are_evaluated_without_recording() -> Result<()> {
    let g = gaussian_images();
    let data: T64 = g.sample(&Reference, 20, 0.0, RngKey::new(9, 1))?;
    let weight = Tensor::<Reference, f64>::scalar(&Reference, 1.0)?.requiring_grad();
    let model = |y: &T64, t: &T64| -> Result<T64> {
        assert!(!is_grad_enabled(), "the energy must run without recording");
        let u = g.energy(y, t)?;
        u.mul(&weight)
    };
    let c = normalization_constant(&model, &data, &options(10.0, ConstantForm::Authors, 8))?;
    let nlp = neg_log_prob_nats(&model, &data, &c, 8)?;
    assert!(nlp.iter().all(|v| v.is_finite()));
    Ok(())
}

#[test]
fn an_f32_backend_gives_the_f64_constant_to_single_precision() -> Result<()> {
    let g = gaussian_images();
    let rows = g.sample_rows(400, 0.0, RngKey::new(10, 0))?;
    let d64: T64 = Tensor::from_f64(&Reference, &rows, [400, 1, 4, 4])?;
    let d32 = Tensor::<Reference, f32>::from_f64(&Reference, &rows, [400, 1, 4, 4])?;
    let o = options(10.0, ConstantForm::default(), 100);
    let c64 = normalization_constant(&g, &d64, &o)?;
    let c32 = normalization_constant(&g, &d32, &o)?;
    assert!(
        (c64.value - c32.value).abs() < 1e-3,
        "{} vs {}",
        c64.value,
        c32.value
    );
    Ok(())
}
