//! The paper's measurements against exact answers.
//!
//! Ground truth: the Gaussian N(mu, Sigma) with Sigma = V diag(lambda) V^T, whose noisy density
//! N(mu, Sigma + t I) is known at every t, so that
//! - the optimal denoiser's mean squared error per pixel, averaged over x, is
//!   (1/d) sum_k lambda_k t / (lambda_k + t);
//! - d_eff(x, t) = t ||(Sigma + t I)^{-1} (x - mu)||^2 + sum_k lambda_k^2 / (lambda_k + t)^2
//!   for one image, sum_k lambda_k / (lambda_k + t) averaged over x;
//! - E log p(y, t) over x ~ p and z is minus the entropy 1/2 sum_k ln(2 pi e (lambda_k + t)), so
//!   the slope identity's discretization error on a grid is known exactly, and so is the
//!   I-MMSE integral's (the trapezoid rule against 1/2 sum_k ln((lambda_k + b)/(lambda_k + a)));
//! - a reverse-diffusion sampler is linear on it: each eigen-direction's mean and variance
//!   follow a scalar recursion, so the sampler's own discretization error is known too.
//!
//! Tolerances: Monte Carlo quantities within 5 standard errors of the exact expectation
//! (including the discretization error computed in closed form); deterministic quantities
//! (Haar coefficients, contrast curves against the host energy) to 1e-12 relative or so.
//! The measured errors are printed (run with `--nocapture`).

use dualscore_core::analysis::{
    ContrastOptions, DenoisingOptions, LocalDimensionOptions, SamplerKind, SamplerOptions,
    TABLE1_PSNRS_DB, contrast_curves, denoising, fit_gumbel, haar_decomposition,
    haar_participation_ratios, local_dimensionality, log_grid, log_prob_statistics,
    participation_ratio, percentile, sample,
};
use dualscore_core::autograd::Graph;
use dualscore_core::backend::reference::Reference;
use dualscore_core::energy::analytic::{AnalyticDensity, Gaussian};
use dualscore_core::energy::{Energy, ScoreModel, ScoreTerms};
use dualscore_core::linalg::{Matrix, symmetric_eigen};
use dualscore_core::rng::{RngKey, normal_values, uniform_values};
use dualscore_core::{Result, Tensor};
use std::f64::consts::{E, LN_10, PI};

type T64 = Tensor<Reference, f64>;

/// N(mean, V diag(lambda) V^T) with a random orthonormal V and the given eigenvalues.
fn gaussian(lambda: &[f64], mean: f64, key: RngKey) -> Gaussian {
    let d = lambda.len();
    let g = Matrix::from_vec(d, d, normal_values(key, 0, d * d)).unwrap();
    let v = symmetric_eigen(&g.matmul(&g.transpose()).unwrap())
        .unwrap()
        .vectors;
    let mu: Vec<f64> = normal_values(key, (d * d) as u64, d)
        .iter()
        .map(|z| mean + 0.1 * z)
        .collect();
    Gaussian::from_eigen(mu, lambda.to_vec(), v).unwrap()
}

/// Eigenvalues log-spaced from `lo` to `hi`.
fn spectrum(d: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..d)
        .map(|k| lo * (hi / lo).powf(k as f64 / (d - 1) as f64))
        .collect()
}

fn db(log_p_nats: f64, d: usize) -> f64 {
    10.0 * log_p_nats / (d as f64 * LN_10)
}

/// The entropy of N(., Sigma + t I) in nats.
fn entropy(lambda: &[f64], t: f64) -> f64 {
    0.5 * lambda
        .iter()
        .map(|l| (2.0 * PI * E * (l + t)).ln())
        .sum::<f64>()
}

fn d_eff_mean(lambda: &[f64], t: f64) -> f64 {
    lambda.iter().map(|l| l / (l + t)).sum()
}

// ---- denoising -----------------------------------------------------------------------------

#[test]
fn denoising_reaches_the_optimal_mse_of_a_gaussian() -> Result<()> {
    let lambda = spectrum(8, 1e-3, 0.1);
    let g = gaussian(&lambda, 0.5, RngKey::new(1, 0));
    let data: T64 = g.sample(&Reference, 2000, 0.0, RngKey::new(2, 0))?;
    let options = DenoisingOptions {
        batch_size: 500,
        key: RngKey::new(3, 0),
        ..Default::default()
    };
    let report = denoising(&g, &data, &options)?;
    assert_eq!(report.levels.len(), TABLE1_PSNRS_DB.len());
    let mut worst = 0.0f64;
    for level in &report.levels {
        let t = level.noise_variance;
        let want = lambda.iter().map(|l| l * t / (l + t)).sum::<f64>() / 8.0;
        let z = (level.mse.mean - want) / level.mse.std_error;
        worst = worst.max(z.abs());
        eprintln!(
            "input {:6.1} dB: output {:8.3} dB (exact {:8.3}), mse error {z:+.2} s.e.",
            level.input_psnr_db,
            level.output_psnr_db,
            -10.0 * want.log10()
        );
        assert!(z.abs() < 5.0, "t = {t:e}: {} vs {want}", level.mse.mean);
        // The optimal denoiser gains in expectation; the measured gain is within its error.
        let exact_gain = -10.0 * want.log10() - level.input_psnr_db;
        assert!(exact_gain > 0.0);
        assert!((level.gain_db - exact_gain).abs() < 5.0 * level.output_psnr_std_error_db);
        assert!((level.input_psnr_db + 10.0 * t.log10()).abs() < 1e-9);
    }
    eprintln!("denoising: largest error {worst:.2} standard errors");
    // The noise is laid out by image, not by batch.
    let other = denoising(
        &g,
        &data,
        &DenoisingOptions {
            batch_size: 77,
            ..options
        },
    )?;
    for (a, b) in report.levels.iter().zip(&other.levels) {
        assert!((a.mse.mean - b.mse.mean).abs() <= 1e-12 * a.mse.mean);
    }
    Ok(())
}

#[test]
fn denoising_in_f32_keeps_its_digits_at_90_db() -> Result<()> {
    // The error is sqrt(t) z - t grad U, not y - t grad U - x: in f32 at t = 1e-9 the latter
    // would lose most of its digits (y - x is 3e-5 against pixels of 0.5).
    let lambda = spectrum(4, 1e-2, 0.1);
    let g = gaussian(&lambda, 0.5, RngKey::new(20, 0));
    let rows = g.sample_rows(200, 0.0, RngKey::new(21, 0))?;
    let options = DenoisingOptions {
        input_psnrs_db: vec![90.0, 30.0],
        ..Default::default()
    };
    let r64 = denoising(&g, &T64::from_f64(&Reference, &rows, [200, 4])?, &options)?;
    let x32 = Tensor::<Reference, f32>::from_f64(&Reference, &rows, [200, 4])?;
    let r32 = denoising(&g, &x32, &options)?;
    for (a, b) in r32.levels.iter().zip(&r64.levels) {
        eprintln!(
            "f32 {:.5} dB, f64 {:.5} dB at input {} dB",
            a.output_psnr_db, b.output_psnr_db, a.input_psnr_db
        );
        assert!((a.output_psnr_db - b.output_psnr_db).abs() < 1e-3);
    }
    Ok(())
}

// ---- local dimensionality ------------------------------------------------------------------

/// A model that gives only the energy gradient (like a score network).
struct ScoreOnly(Gaussian);

impl ScoreModel<Reference, f64> for ScoreOnly {
    fn score_terms(&self, y: &T64, t: &T64, graph: Graph) -> Result<ScoreTerms<Reference, f64>> {
        let g = self.0.energy_gradients(y, t, graph)?;
        Ok(ScoreTerms {
            grad_y: g.grad_y,
            grad_t: None,
            energy: None,
        })
    }
}

#[test]
fn local_dimensionality_and_its_checks_on_a_gaussian_data_set() -> Result<()> {
    let d = 8;
    let lambda = spectrum(d, 1e-3, 1.0);
    let g = gaussian(&lambda, 0.5, RngKey::new(4, 0));
    let data: T64 = g.sample(&Reference, 400, 0.0, RngKey::new(5, 0))?;
    let ts = log_grid(1e-6, 1e3, 46)?;
    let options = LocalDimensionOptions {
        noise_variances: ts.clone(),
        draws: 4,
        batch_size: 256,
        key: RngKey::new(6, 0),
        constant_nats: Some(0.0),
        per_image: false,
        control_variate: true,
    };
    let r = local_dimensionality(&g, &data, &options)?;
    assert_eq!((r.images, r.dim, r.draws), (400, d, 4));

    // d_eff against sum_k lambda_k / (lambda_k + t).
    let mut worst = 0.0f64;
    for (e, &t) in r.mean_d_eff.iter().zip(&ts) {
        let z = (e.mean - d_eff_mean(&lambda, t)) / e.std_error;
        worst = worst.max(z.abs());
        assert!(
            z.abs() < 5.0,
            "t = {t:e}: {} vs {}",
            e.mean,
            d_eff_mean(&lambda, t)
        );
    }
    eprintln!("d_eff: largest error {worst:.2} standard errors");

    // E log p(y, t) against minus the entropy of p(., t).
    let log_p = r.mean_log_p_db_per_dim.as_ref().expect("an energy model");
    for (e, &t) in log_p.iter().zip(&ts) {
        let want = db(-entropy(&lambda, t), d);
        assert!((e.mean - want).abs() < 5.0 * e.std_error, "t = {t:e}");
    }

    // The slope identity: errors against the trapezoid rule's exact discretization error.
    let slope = r.slope_check.as_ref().expect("an energy model");
    let mut worst = 0.0f64;
    let mut worst_disc = 0.0f64;
    for (k, iv) in slope.intervals.iter().enumerate() {
        let (a, b) = (ts[k], ts[k + 1]);
        let exact_slope =
            (db(-entropy(&lambda, b), d) - db(-entropy(&lambda, a), d)) / (b.log10() - a.log10());
        let trapezoid =
            5.0 * ((d_eff_mean(&lambda, a) + d_eff_mean(&lambda, b)) / (2.0 * d as f64) - 1.0);
        let discretization = exact_slope - trapezoid;
        worst_disc = worst_disc.max(discretization.abs());
        let z = (iv.error - discretization) / iv.error_std_error;
        worst = worst.max(z.abs());
        assert!(
            z.abs() < 5.0,
            "interval {k}: {iv:?}, discretization {discretization}"
        );
        assert!((iv.measured - iv.identity - iv.error).abs() < 1e-9);
    }
    eprintln!(
        "slope identity: max |error| {:.4} dB/dim/decade, rms {:.4}, relative {:.4}; \
         against discretization {worst:.2} s.e. (largest discretization error {worst_disc:.4})",
        slope.max_abs_error, slope.rms_error, slope.relative_rms_error
    );
    assert!(slope.relative_rms_error < 0.05, "{slope:?}");

    // The I-MMSE integral: expected difference = trapezoid - exact integral over [0, t_max].
    let immse = r.immse_check.as_ref().expect("an energy model");
    let (t_min, t_max) = (ts[0], ts[ts.len() - 1]);
    let trapezoid: f64 = ts
        .windows(2)
        .map(|w| {
            let f = |t: f64| (d as f64 - d_eff_mean(&lambda, t)) / 2.0;
            (w[1].ln() - w[0].ln()) * (f(w[0]) + f(w[1])) / 2.0
        })
        .sum();
    let exact_integral: f64 = 0.5 * lambda.iter().map(|l| ((l + t_max) / l).ln()).sum::<f64>();
    let below = 0.5 * lambda.iter().map(|l| ((l + t_min) / l).ln()).sum::<f64>();
    let bias = trapezoid - exact_integral;
    let z = (immse.difference_nats.mean - bias) / immse.difference_nats.std_error;
    eprintln!(
        "I-MMSE: direct {:.4} dB/dim (exact {:.4}), integral {:.4} dB/dim, difference {:.5} \
         +- {:.5} dB/dim, expected bias {:.5} dB/dim ({z:+.2} s.e.), below grid {:.2e} nats \
         (exact {below:.2e})",
        immse.direct_db_per_dim,
        db(-entropy(&lambda, 0.0), d),
        immse.immse_db_per_dim,
        immse.difference_db_per_dim,
        immse.difference_db_per_dim_std_error,
        db(bias, d),
        immse.below_grid_nats
    );
    assert!(z.abs() < 5.0);
    // With the control variate, 1600 draws of d = 8 pin the difference to about 0.1 dB/dim
    // (the paper's check, 0.04 dB/dim in d = 4096 over 50k images, has far more draws per
    // dimension).
    assert!(immse.difference_db_per_dim_std_error < 0.15);
    assert!(
        (immse.direct_nats.mean + entropy(&lambda, 0.0)).abs() < 5.0 * immse.direct_nats.std_error
    );
    assert!(immse.below_grid_nats.abs() < 5.0 * r.mean_d_eff[0].std_error / 2.0 + below);
    assert!(
        (immse.immse_nats.mean - immse.noisy_log_p_nats.mean - immse.integral_nats.mean).abs()
            < 1e-9
    );
    // At t_max = 1e3 >> lambda, p(., t_max) is nearly N(mu, t_max I).
    assert!((immse.noisy_log_p_db_per_dim - immse.gaussian_reference_db_per_dim).abs() < 0.01);

    // Without the control variate: the same expectations, with larger errors.
    let plain = local_dimensionality(
        &g,
        &data,
        &LocalDimensionOptions {
            control_variate: false,
            ..options.clone()
        },
    )?;
    let p = plain.immse_check.as_ref().unwrap();
    let zp = (p.difference_nats.mean - bias) / p.difference_nats.std_error;
    assert!(zp.abs() < 5.0);
    let ratio = p.difference_nats.std_error / immse.difference_nats.std_error;
    let d_ratio = plain.mean_d_eff[0].std_error / r.mean_d_eff[0].std_error;
    eprintln!(
        "plain estimator: I-MMSE difference {:.4} +- {:.4} dB/dim ({zp:+.2} s.e.); the control \
         variate divides its error by {ratio:.1} and that of d_eff(t_min) by {d_ratio:.1}",
        p.difference_db_per_dim, p.difference_db_per_dim_std_error
    );
    assert!(ratio > 3.0);
    for (k, (a, b)) in plain.mean_d_eff.iter().zip(&r.mean_d_eff).enumerate() {
        let se = a.std_error.hypot(b.std_error);
        assert!((a.mean - b.mean).abs() < 5.0 * se, "t index {k}");
    }

    // A model without an energy gives the same d_eff and no checks.
    let score_only = ScoreOnly(g.clone());
    let s = local_dimensionality(&score_only, &data, &options)?;
    assert!(s.slope_check.is_none() && s.immse_check.is_none());
    assert!(s.mean_log_p_db_per_dim.is_none());
    for (a, b) in s.mean_d_eff.iter().zip(&r.mean_d_eff) {
        assert!((a.mean - b.mean).abs() < 1e-10 * b.mean);
    }

    // The constant shifts every log p by -c and changes no check.
    let c = 3.7;
    let shifted = local_dimensionality(
        &g,
        &data,
        &LocalDimensionOptions {
            constant_nats: Some(c),
            batch_size: 100,
            ..options.clone()
        },
    )?;
    let shift = shifted.mean_log_p_db_per_dim.as_ref().unwrap()[3].mean - log_p[3].mean;
    assert!((shift - db(-c, d)).abs() < 1e-9);
    let other = shifted.immse_check.unwrap();
    assert!((other.difference_nats.mean - immse.difference_nats.mean).abs() < 1e-9);
    assert!((other.direct_nats.mean - immse.direct_nats.mean + c).abs() < 1e-9);
    Ok(())
}

#[test]
fn local_dimensionality_of_one_image_matches_its_conditional_expectation() -> Result<()> {
    let d = 6;
    let lambda = spectrum(d, 1e-2, 1.0);
    let g = gaussian(&lambda, 0.5, RngKey::new(7, 0));
    let x: Vec<f64> = g.sample_rows(1, 0.0, RngKey::new(8, 0))?;
    let data = T64::from_f64(&Reference, &x, [1, d])?;
    let ts = log_grid(1e-4, 1e3, 36)?;
    let options = LocalDimensionOptions {
        noise_variances: ts.clone(),
        draws: 300,
        batch_size: 128, // draws spread over several batches
        key: RngKey::new(9, 0),
        constant_nats: None,
        per_image: true,
        control_variate: true,
    };
    let r = local_dimensionality(&g, &data, &options)?;
    assert!(!r.normalized);
    let image = &r.per_image[0];
    // c = V^T (x - mu): d_eff(x, t) = t sum c_k^2 / (l_k + t)^2 + sum l_k^2 / (l_k + t)^2.
    let centered: Vec<f64> = x.iter().zip(g.mean()).map(|(a, b)| a - b).collect();
    let c = g.eigenvectors().transpose().matvec(&centered)?;
    let exact = |t: f64| -> f64 {
        c.iter()
            .zip(&lambda)
            .map(|(c, l)| (t * c * c + l * l) / ((l + t) * (l + t)))
            .sum()
    };
    let mut worst = 0.0f64;
    for (e, &t) in image.d_eff.iter().zip(&ts) {
        let z = (e.mean - exact(t)) / e.std_error;
        worst = worst.max(z.abs());
        assert!(z.abs() < 5.0, "t = {t:e}: {} vs {}", e.mean, exact(t));
    }
    // The data-set average of one image is that image, with errors over draws.
    assert_eq!(r.mean_d_eff, image.d_eff);
    eprintln!("one image: d_eff largest error {worst:.2} standard errors");

    // Per image: log p(x) = E_z log p(y, t_max) + int_0^t_max (d - d_eff(x, t)) / (2 t) dt.
    let t_max = ts[ts.len() - 1];
    let noisy = -0.5
        * c.iter()
            .zip(&lambda)
            .map(|(c, l)| (c * c + t_max) / (l + t_max) + (2.0 * PI * (l + t_max)).ln())
            .sum::<f64>();
    let trapezoid: f64 = ts
        .windows(2)
        .map(|w| (w[1].ln() - w[0].ln()) * (2.0 * d as f64 - exact(w[0]) - exact(w[1])) / 4.0)
        .sum();
    let direct = -g.energy_host(&x, 0.0)?;
    let expected = noisy + trapezoid - direct; // the discretization and below-grid errors
    let check = r.immse_check.as_ref().unwrap();
    assert!((check.direct_nats.mean - direct).abs() < 1e-10);
    let z = (check.difference_nats.mean - expected) / check.difference_nats.std_error;
    eprintln!(
        "one image: I-MMSE difference {:.5} dB/dim, expected {:.5} ({z:+.2} s.e.)",
        check.difference_db_per_dim,
        db(expected, d)
    );
    assert!(z.abs() < 5.0);
    assert!((image.direct_log_p_db_per_dim.unwrap() - db(direct, d)).abs() < 1e-10);
    let imm = image.immse_log_p_db_per_dim.unwrap();
    assert!((imm.mean - check.immse_db_per_dim).abs() < 1e-10);
    Ok(())
}

// ---- sampling ------------------------------------------------------------------------------

/// The expected mean offset factor and variance of one eigen-direction (variance `l`) after
/// the sampler, started from N(m0, t_max): the scheme is linear on a Gaussian.
fn sampler_recursion(l: f64, options: &SamplerOptions) -> (f64, f64) {
    let ts = options.schedule().unwrap();
    let (mut factor, mut v) = (1.0, options.t_max);
    for w in ts.windows(2) {
        let (t, tn) = (w[0], w[1]);
        let delta = t - tn;
        let f = (l + tn) / (l + t);
        let q = match options.kind {
            SamplerKind::EulerMaruyama => delta,
            SamplerKind::Ancestral => delta * tn / t,
            SamplerKind::Blended => 0.5 * delta * (1.0 + tn / t),
        };
        factor *= f;
        v = f * f * v + q;
    }
    if options.denoise_final {
        let s = l / (l + options.t_min);
        factor *= s;
        v *= s * s;
    }
    (factor, v)
}

/// Sample mean and covariance of rows.
fn moments(rows: &[f64], d: usize) -> (Vec<f64>, Matrix) {
    let n = rows.len() / d;
    let mut mean = vec![0.0; d];
    for r in rows.chunks(d) {
        mean.iter_mut().zip(r).for_each(|(m, v)| *m += v / n as f64);
    }
    let cov = Matrix::from_fn(d, d, |i, j| {
        rows.chunks(d)
            .map(|r| (r[i] - mean[i]) * (r[j] - mean[j]))
            .sum::<f64>()
            / (n - 1) as f64
    });
    (mean, cov)
}

#[test]
fn samples_of_a_gaussian_have_its_mean_and_covariance() -> Result<()> {
    let d = 8;
    let n = 4000;
    let lambda = spectrum(d, 0.05, 1.0);
    let g = gaussian(&lambda, 0.5, RngKey::new(10, 0));
    let options = SamplerOptions {
        steps: 100,
        batch_size: n,
        key: RngKey::new(11, 0),
        ..Default::default()
    };
    let x: T64 = sample(&g, &Reference, n, &[d], &options)?;
    assert_eq!(x.dims(), [n, d]);
    let rows = x.to_f64_vec()?;
    let (mean, cov) = moments(&rows, d);
    let sigma = g.covariance();
    let v = g.eigenvectors();
    // Mean: exact expectation mu + V diag(factor) V^T (m0 - mu).
    let offset: Vec<f64> = g.mean().iter().map(|m| options.initial_mean - m).collect();
    let co = v.transpose().matvec(&offset)?;
    let scaled: Vec<f64> = co
        .iter()
        .zip(&lambda)
        .map(|(c, &l)| c * sampler_recursion(l, &options).0)
        .collect();
    let expected_offset = v.matvec(&scaled)?;
    let mut worst_mean = 0.0f64;
    for i in 0..d {
        let se = (sigma[(i, i)] / n as f64).sqrt();
        let z_truth = (mean[i] - g.mean()[i]) / se;
        let z = (mean[i] - g.mean()[i] - expected_offset[i]) / se;
        worst_mean = worst_mean.max(z_truth.abs());
        assert!(
            z.abs() < 5.0 && z_truth.abs() < 5.0,
            "mean {i}: {z}, {z_truth}"
        );
    }
    // Covariance entries against the truth.
    let mut worst_cov = 0.0f64;
    for i in 0..d {
        for j in 0..d {
            let se = ((sigma[(i, i)] * sigma[(j, j)] + sigma[(i, j)].powi(2)) / n as f64).sqrt();
            let z = (cov[(i, j)] - sigma[(i, j)]) / se;
            worst_cov = worst_cov.max(z.abs());
            assert!(
                z.abs() < 5.0,
                "covariance ({i}, {j}): {} vs {}",
                cov[(i, j)],
                sigma[(i, j)]
            );
        }
    }
    // Variance along each eigenvector: truth lambda, standard error lambda sqrt(2 / n).
    let mut worst_var = 0.0f64;
    let mut largest_bias = 0.0f64;
    for (k, &l) in lambda.iter().enumerate() {
        let e = v.column(k);
        let ce = cov.matvec(&e)?;
        let var: f64 = e.iter().zip(&ce).map(|(a, b)| a * b).sum();
        let se = l * (2.0 / n as f64).sqrt();
        let expected = sampler_recursion(l, &options).1;
        largest_bias = largest_bias.max((expected / l - 1.0).abs());
        let z = (var - l) / se;
        worst_var = worst_var.max(z.abs());
        assert!(
            z.abs() < 5.0 && ((var - expected) / se).abs() < 5.0,
            "direction {k}: {var} vs {l}"
        );
    }
    eprintln!(
        "sampling: mean {worst_mean:.2} s.e., covariance {worst_cov:.2} s.e., eigen-variances \
         {worst_var:.2} s.e.; the scheme's own relative variance bias is at most {largest_bias:.1e}"
    );
    assert!(largest_bias < 5e-3);

    // The noise is laid out by sample index: the batch size does not change the samples.
    let run = |batch_size: usize| -> Result<Vec<f64>> {
        let o = SamplerOptions {
            batch_size,
            ..options.clone()
        };
        sample::<_, f64, _>(&g, &Reference, 300, &[d], &o)?.to_f64_vec()
    };
    let (one, three) = (run(300)?, run(128)?);
    let diff = one
        .iter()
        .zip(&three)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(diff < 1e-12, "{diff}");
    Ok(())
}

#[test]
fn each_sampler_kind_has_the_variance_its_recursion_predicts() -> Result<()> {
    // Few steps, so that the kinds differ by many standard errors.
    let (d, n) = (4, 3000);
    let g = Gaussian::isotropic(vec![0.0; d], 0.5)?;
    for kind in [
        SamplerKind::EulerMaruyama,
        SamplerKind::Ancestral,
        SamplerKind::Blended,
    ] {
        let options = SamplerOptions {
            steps: 12,
            kind,
            t_max: 100.0,
            batch_size: 1000,
            initial_mean: 0.0,
            key: RngKey::new(12, 0),
            ..Default::default()
        };
        let rows = sample::<_, f64, _>(&g, &Reference, n, &[d], &options)?.to_f64_vec()?;
        let var = rows.iter().map(|v| v * v).sum::<f64>() / rows.len() as f64;
        let expected = sampler_recursion(0.5, &options).1;
        let se = expected * (2.0 / rows.len() as f64).sqrt();
        eprintln!("{kind:?}, 12 steps: variance {var:.4}, predicted {expected:.4}, truth 0.5");
        assert!(
            ((var - expected) / se).abs() < 5.0,
            "{kind:?}: {var} vs {expected}"
        );
    }
    Ok(())
}

// ---- statistics ----------------------------------------------------------------------------

#[test]
fn gumbel_fit_recovers_synthetic_parameters() -> Result<()> {
    let (mu, beta) = (9.57, 3.17);
    let n = 20_000;
    let x: Vec<f64> = uniform_values(RngKey::new(13, 0), 0, n)
        .iter()
        .map(|u| mu - beta * (-(u.max(1e-300)).ln()).ln())
        .collect();
    let fit = fit_gumbel(&x)?;
    let (zl, zs) = (
        (fit.location - mu) / fit.location_std_error,
        (fit.scale - beta) / fit.scale_std_error,
    );
    eprintln!(
        "Gumbel: location {:.4} ({zl:+.2} s.e.), scale {:.4} ({zs:+.2} s.e.), {} iterations",
        fit.location, fit.scale, fit.iterations
    );
    assert!(zl.abs() < 5.0 && zs.abs() < 5.0);
    // The likelihood equations hold at the fit, and it beats the moment fit.
    let ll = |m: f64, b: f64| {
        x.iter()
            .map(|v| {
                let z = (v - m) / b;
                -b.ln() - z - (-z).exp()
            })
            .sum::<f64>()
    };
    let h = 1e-5;
    let d_mu = (ll(fit.location + h, fit.scale) - ll(fit.location - h, fit.scale)) / (2.0 * h);
    let d_beta = (ll(fit.location, fit.scale + h) - ll(fit.location, fit.scale - h)) / (2.0 * h);
    assert!(d_mu.abs() < 1e-3 && d_beta.abs() < 1e-3, "{d_mu} {d_beta}");
    assert!(fit.log_likelihood >= ll(fit.moment_location, fit.moment_scale));
    assert!((fit.log_likelihood - ll(fit.location, fit.scale)).abs() < 1e-6);
    assert!(fit.iterations < 20);

    // Affine equivariance: the fit of a x + b is (a mu + b, a beta).
    let y: Vec<f64> = x.iter().map(|v| 1e6 * v + 1e9).collect();
    let fy = fit_gumbel(&y)?;
    assert!((fy.location - (1e6 * fit.location + 1e9)).abs() < 1e-9 * 1e9);
    assert!((fy.scale / (1e6 * fit.scale) - 1.0).abs() < 1e-9);

    // The summary of the same values.
    let s = log_prob_statistics(&x)?;
    let sd = beta * PI / 6f64.sqrt();
    assert!((s.mean - fit.mean()).abs() < 5.0 * sd / (n as f64).sqrt());
    assert!((s.mean - (mu + 0.577_215_664_9 * beta)).abs() < 5.0 * sd / (n as f64).sqrt());
    assert!((s.skewness - 1.1395).abs() < 0.15, "{}", s.skewness);
    assert!((s.std - sd).abs() < 0.05 * sd);
    // Percentiles against the quantile function, with the order statistic's standard error.
    for (q, got) in [
        (5.0, s.percentiles.p5),
        (50.0, s.median),
        (95.0, s.percentiles.p95),
    ] {
        let p: f64 = q / 100.0;
        let want = mu - beta * (-p.ln()).ln();
        let density = (-(want - mu) / beta - (-(want - mu) / beta).exp()).exp() / beta;
        let se = (p * (1.0 - p) / n as f64).sqrt() / density;
        assert!((got - want).abs() < 5.0 * se, "{q}%: {got} vs {want}");
    }
    assert_eq!(
        s.gumbel.unwrap(),
        fit_gumbel(&{
            let mut sorted = x.clone();
            sorted.sort_by(f64::total_cmp);
            sorted
        })?
    );
    Ok(())
}

#[test]
fn summary_statistics_of_known_sets() -> Result<()> {
    let s = log_prob_statistics(&[5.0, 1.0, 4.0, 2.0, 3.0])?;
    assert_eq!(
        (s.count, s.mean, s.median, s.min, s.max),
        (5, 3.0, 3.0, 1.0, 5.0)
    );
    assert_eq!((s.percentiles.p25, s.percentiles.p75), (2.0, 4.0));
    assert!((s.percentiles.p1 - 1.04).abs() < 1e-12 && (s.percentiles.p99 - 4.96).abs() < 1e-12);
    assert!(s.skewness.abs() < 1e-15);
    // Right skew: one large value.
    let s = log_prob_statistics(&[0.0, 0.0, 0.0, 1.0])?;
    // m2 = 3/16, m3 = 3/32: the skewness of (0, 0, 0, 1) is 2/sqrt(3).
    assert!(
        (s.skewness - 2.0 / 3f64.sqrt()).abs() < 1e-12,
        "{}",
        s.skewness
    );
    // One value: no fit.
    let s = log_prob_statistics(&[7.0])?;
    assert!(s.gumbel.is_none() && s.std == 0.0);
    assert!(log_prob_statistics(&[]).is_err());
    assert!(log_prob_statistics(&[1.0, f64::NAN]).is_err());
    assert!(fit_gumbel(&[2.0, 2.0, 2.0]).is_err());
    assert_eq!(percentile(&[1.0, 3.0], 50.0), 2.0);
    // From -log p in nats: dB/dim = -10 nlp / (d ln 10).
    let s = dualscore_core::analysis::LogProbStatistics::from_neg_log_prob_nats(
        &[10.0 * LN_10, 20.0 * LN_10],
        10,
    )?;
    assert!((s.min + 20.0).abs() < 1e-12 && (s.max + 10.0).abs() < 1e-12);
    Ok(())
}

// ---- content -------------------------------------------------------------------------------

#[test]
fn contrast_curves_match_the_host_energy() -> Result<()> {
    let d = 6;
    let lambda = spectrum(d, 0.01, 0.2);
    let g = gaussian(&lambda, 0.5, RngKey::new(14, 0));
    let rows: Vec<f64> = g.sample_rows(5, 0.0, RngKey::new(15, 0))?;
    let data = T64::from_f64(&Reference, &rows, [5, d])?;
    let options = ContrastOptions {
        contrasts: vec![0.0, 0.1, 0.3, 1.0],
        offset: 0.4,
        constant_nats: Some(2.5),
        batch_size: 2,
    };
    let curves = contrast_curves(&g, &data, &options)?;
    assert!(curves.normalized);
    for (i, x) in rows.chunks(d).enumerate() {
        for (k, &a) in options.contrasts.iter().enumerate() {
            let y: Vec<f64> = x.iter().map(|v| a * v + 0.4).collect();
            let want = db(-g.energy_host(&y, 0.0)? - 2.5, d);
            assert!((curves.log_p_db_per_dim[i][k] - want).abs() < 1e-10);
        }
    }
    let mean0 = curves.log_p_db_per_dim.iter().map(|r| r[2]).sum::<f64>() / 5.0;
    assert!((curves.mean_log_p_db_per_dim[2] - mean0).abs() < 1e-12);
    // At a = 0 every image is the flat image b.
    let flat = curves.log_p_db_per_dim[0][0];
    assert!(
        curves
            .log_p_db_per_dim
            .iter()
            .all(|r| (r[0] - flat).abs() < 1e-12)
    );
    Ok(())
}

/// A `size x size` image holding one Haar atom of level `j` (0 finest) at block (r, c): the
/// 2^(j+1) block whose level-j coefficient in `band` (0 horizontal, 1 vertical, 2 diagonal)
/// is 1 after the 2^(j+1) normalization, every other coefficient 0.
fn atom(size: usize, j: usize, r: usize, c: usize, band: usize) -> Vec<f64> {
    let s = 1 << (j + 1);
    let mut img = vec![0.0; size * size];
    for a in 0..s {
        for b in 0..s {
            let top = a < s / 2;
            let left = b < s / 2;
            let sign = match band {
                0 => top,
                1 => left,
                _ => top == left,
            };
            img[(r * s + a) * size + c * s + b] = if sign { 1.0 } else { -1.0 };
        }
    }
    img
}

#[test]
fn haar_coefficients_of_known_images() -> Result<()> {
    // A constant image: no details, lowpass equal to the constant at every level.
    let h = haar_decomposition(&[0.7; 64], 8, 8, 3)?;
    assert_eq!(h.coefficients().len(), 64);
    assert!(h.levels.iter().all(|l| {
        l.horizontal
            .iter()
            .chain(&l.vertical)
            .chain(&l.diagonal)
            .all(|&c| c == 0.0)
    }));
    assert_eq!((h.lowpass_height, h.lowpass_width), (1, 1));
    assert!((h.lowpass[0] - 0.7).abs() < 1e-15);
    assert!((h.participation_ratio() - 1.0 / 64.0).abs() < 1e-15);

    // One atom: one coefficient equal to 1, PR = 1/n.
    for j in 0..3 {
        for band in 0..3 {
            let blocks = 8 >> (j + 1);
            let (r, c) = (blocks - 1, 0);
            let h = haar_decomposition(&atom(8, j, r, c, band), 8, 8, 3)?;
            let coeffs = h.coefficients();
            let nonzero: Vec<f64> = coeffs.iter().copied().filter(|v| v.abs() > 1e-14).collect();
            assert_eq!(nonzero.len(), 1, "level {j} band {band}: {nonzero:?}");
            assert!((nonzero[0].abs() - 1.0).abs() < 1e-14);
            let level = &h.levels[j];
            let bandv = [&level.horizontal, &level.vertical, &level.diagonal][band];
            assert!((bandv[r * level.width + c].abs() - 1.0).abs() < 1e-14);
            assert!((h.participation_ratio() - 1.0 / 64.0).abs() < 1e-15);
        }
    }
    // Two atoms of amplitudes 1 and 2: PR = (1 + 2)^2 / (64 (1 + 4)).
    let img: Vec<f64> = atom(8, 0, 1, 2, 2)
        .iter()
        .zip(atom(8, 2, 0, 0, 1))
        .map(|(a, b)| a + 2.0 * b)
        .collect();
    let pr = haar_decomposition(&img, 8, 8, 3)?.participation_ratio();
    assert!((pr - 9.0 / 320.0).abs() < 1e-15, "{pr}");

    // A 2 x 2 image by hand: [p q; r s].
    let (p, q, r, s) = (0.1, 0.9, 0.4, 0.3);
    let h = haar_decomposition(&[p, q, r, s], 2, 2, 1)?;
    let want = [
        (p + q - r - s) / 4.0,
        (p - q + r - s) / 4.0,
        (p - q - r + s) / 4.0,
        (p + q + r + s) / 4.0,
    ];
    for (a, b) in h.coefficients().iter().zip(want) {
        assert!((a - b).abs() < 1e-15);
    }
    assert!((participation_ratio(&want) - h.participation_ratio()).abs() < 1e-15);

    // The transform before normalization is orthonormal: energy is preserved.
    let x = normal_values(RngKey::new(16, 0), 0, 256);
    let h = haar_decomposition(&x, 16, 16, 4)?;
    let mut energy = 0.0;
    for (j, l) in h.levels.iter().enumerate() {
        let f = (1u64 << (j + 1)) as f64;
        energy += l
            .horizontal
            .iter()
            .chain(&l.vertical)
            .chain(&l.diagonal)
            .map(|c| (c * f).powi(2))
            .sum::<f64>();
    }
    energy += h.lowpass.iter().map(|c| (c * 16.0).powi(2)).sum::<f64>();
    let norm: f64 = x.iter().map(|v| v * v).sum();
    assert!((energy / norm - 1.0).abs() < 1e-13);
    // Scale invariance of the ratio.
    let scaled: Vec<f64> = x.iter().map(|v| 3.0 * v).collect();
    let pr = haar_decomposition(&scaled, 16, 16, 4)?.participation_ratio();
    assert!((pr - h.participation_ratio()).abs() < 1e-14);
    Ok(())
}

#[test]
fn haar_sides_that_are_not_powers_of_two_repeat_the_last_row_or_column() -> Result<()> {
    // 3 x 5 with one level equals 4 x 6 with the last row and column repeated.
    let x = normal_values(RngKey::new(17, 0), 0, 15);
    let mut padded = Vec::new();
    for r in 0..4 {
        let rr = r.min(2);
        for c in 0..6 {
            padded.push(x[rr * 5 + c.min(4)]);
        }
    }
    let a = haar_decomposition(&x, 3, 5, 1)?;
    let b = haar_decomposition(&padded, 4, 6, 1)?;
    assert_eq!((a.levels[0].height, a.levels[0].width), (2, 3));
    assert_eq!(a, b);
    // More levels than halvings: a side of 1 stays 1.
    let h = haar_decomposition(&x, 3, 5, 4)?;
    assert_eq!((h.lowpass_height, h.lowpass_width), (1, 1));
    assert!(h.coefficients().len() > 15);
    assert!(haar_decomposition(&x, 3, 4, 1).is_err());
    assert!(haar_decomposition(&x, 3, 5, 0).is_err());
    Ok(())
}

#[test]
fn participation_ratios_of_a_batch_pool_the_channels() -> Result<()> {
    let (n, c, side) = (3, 2, 8);
    let values = uniform_values(RngKey::new(18, 0), 0, n * c * side * side);
    let data = T64::from_f64(&Reference, &values, [n, c, side, side])?;
    let prs = haar_participation_ratios(&data, 3)?;
    for (i, image) in values.chunks(c * side * side).enumerate() {
        let mut all = Vec::new();
        for ch in image.chunks(side * side) {
            all.extend(haar_decomposition(ch, side, side, 3)?.coefficients());
        }
        assert!((prs[i] - participation_ratio(&all)).abs() < 1e-15);
    }
    let gray = T64::from_f64(&Reference, &values[..n * side * side], [n, side, side])?;
    assert_eq!(haar_participation_ratios(&gray, 3)?.len(), n);
    let zeros = T64::zeros(&Reference, [1, 1, 4, 4])?;
    assert!(haar_participation_ratios(&zeros, 2)?[0].is_nan());
    Ok(())
}

// ---- arguments -----------------------------------------------------------------------------

#[test]
fn invalid_arguments_are_errors() -> Result<()> {
    let g = Gaussian::isotropic(vec![0.0; 2], 1.0)?;
    let data = T64::zeros(&Reference, [3, 2])?;
    let bad_grid = LocalDimensionOptions {
        noise_variances: vec![1.0, 0.5],
        ..Default::default()
    };
    assert!(local_dimensionality(&g, &data, &bad_grid).is_err());
    let no_draws = LocalDimensionOptions {
        draws: 0,
        ..Default::default()
    };
    assert!(local_dimensionality(&g, &data, &no_draws).is_err());
    let no_batch = DenoisingOptions {
        batch_size: 0,
        ..Default::default()
    };
    assert!(denoising(&g, &data, &no_batch).is_err());
    assert!(
        denoising(
            &g,
            &T64::zeros(&Reference, [3])?,
            &DenoisingOptions::default()
        )
        .is_err()
    );
    let backwards = SamplerOptions {
        t_min: 10.0,
        t_max: 1.0,
        ..Default::default()
    };
    assert!(sample::<_, f64, _>(&g, &Reference, 4, &[2], &backwards).is_err());
    assert!(sample::<_, f64, _>(&g, &Reference, 0, &[2], &SamplerOptions::default()).is_err());
    assert!(log_grid(1.0, 1.0, 3).is_err() && log_grid(1e-3, 1.0, 1).is_err());
    // A wrong sample shape for the model is the model's error, passed on.
    assert!(sample::<_, f64, _>(&g, &Reference, 4, &[3], &SamplerOptions::default()).is_err());
    Ok(())
}
