//! Local dimensionality d_eff(x, t) and the consistency checks of a normalized model
//! (docs/METHOD.md section 5.7, Fig. 5).

use super::{
    Estimate, Evaluated, PairMoments, batch_shape, check_batch, data_shape, evaluate, grid_buffer,
    nats_to_db_per_dim, noise_len, row_sum_squares,
};
use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::energy::ScoreModel;
use crate::error::{Error, Result};
use crate::rng::RngKey;
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::f64::consts::{E, PI};

/// `points` noise variances spaced evenly in log t from `t_min` to `t_max` (both included,
/// exactly).
///
/// ```
/// use dualscore_core::analysis::log_grid;
/// let t = log_grid(1e-12, 1e3, 76).unwrap(); // 5 points per decade
/// assert_eq!((t[0], t[75]), (1e-12, 1e3));
/// assert!((t[5] / 1e-11 - 1.0).abs() < 1e-12);
/// ```
pub fn log_grid(t_min: f64, t_max: f64, points: usize) -> Result<Vec<f64>> {
    if !(t_min > 0.0 && t_min < t_max && t_max.is_finite()) || points < 2 {
        return Err(Error::invalid(
            "log_grid",
            format!(
                "need 0 < t_min < t_max < infinity and at least 2 points, got t_min = {t_min}, \
                 t_max = {t_max}, {points} points"
            ),
        ));
    }
    let (a, b) = (t_min.ln(), t_max.ln());
    let last = points - 1;
    let mut grid = grid_buffer("log_grid", points)?;
    grid.extend((0..points).map(|k| match k {
        0 => t_min,
        k if k == last => t_max,
        k => (a + (b - a) * k as f64 / last as f64).exp(),
    }));
    Ok(grid)
}

/// How to measure [`local_dimensionality`].
#[derive(Clone, Debug, PartialEq)]
pub struct LocalDimensionOptions {
    /// The grid of noise variances t, strictly increasing, positive, at least two (see
    /// [`log_grid`]). Its ends bound the I-MMSE integral.
    pub noise_variances: Vec<f64>,
    /// Noise draws z per image (the same draws at every t).
    pub draws: usize,
    /// Noisy images per model evaluation.
    pub batch_size: usize,
    /// The noise: draw j of image i is the standard normal values at indices
    /// `(i draws + j) d .. (i draws + j + 1) d` of this key's sequence, used at every t.
    pub key: RngKey,
    /// The normalization constant c in nats (-log p = U + c; see
    /// [`crate::density::normalization_constant`]), for absolute values of log p. `None`
    /// reports log p up to c (c = 0); the checks do not depend on it.
    pub constant_nats: Option<f64>,
    /// Keep the curves of every image ([`LocalDimensionality::per_image`]); this holds about
    /// 20 numbers per grid point per image until the end.
    pub per_image: bool,
    /// Reduce the Monte Carlo noise with ||z||^2 - d as a control variate (see
    /// [`local_dimensionality`]); without it every quantity is the plain mean over draws.
    pub control_variate: bool,
}

impl Default for LocalDimensionOptions {
    /// 76 variances from 1e-12 to 1e3 (5 per decade, the paper's range), one draw per image,
    /// batches of 64, key (0, 0), no constant, no per-image curves, the control variate.
    fn default() -> Self {
        LocalDimensionOptions {
            noise_variances: log_grid(1e-12, 1e3, 76).expect("a valid grid"),
            draws: 1,
            batch_size: 64,
            key: RngKey::new(0, 0),
            constant_nats: None,
            per_image: false,
            control_variate: true,
        }
    }
}

/// The curves of one image. Standard errors are over its noise draws (0 with one draw).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageDimensionality {
    /// The image's index in the data set.
    pub index: usize,
    /// d_eff(x, t) at each noise variance of the grid.
    pub d_eff: Vec<Estimate>,
    /// E_z[log p(x + sqrt(t) z, t)] in dB/dim at each noise variance, for energy models.
    pub log_p_db_per_dim: Option<Vec<Estimate>>,
    /// log p(x) = -U(x, 0) - c in dB/dim, for energy models.
    pub direct_log_p_db_per_dim: Option<f64>,
    /// The I-MMSE estimate of log p(x), E_z log p(y, t_max) + the integral of
    /// (d - d_eff(x, t)) / (2 t) over the grid, in dB/dim, for energy models.
    pub immse_log_p_db_per_dim: Option<Estimate>,
}

/// The slope identity on one interval [t_k, t_k+1] of the grid, in dB/dim per decade of t,
/// averaged over the data set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlopeInterval {
    /// t_k.
    pub t_lower: f64,
    /// t_k+1.
    pub t_upper: f64,
    /// The numerical slope of E_z[log p(y, t)] in log10 t:
    /// (L(t_k+1) - L(t_k)) / (log10 t_k+1 - log10 t_k), L in dB/dim.
    pub measured: f64,
    /// What the identity predicts, 5 (d_eff / d - 1), averaged over the two ends (the
    /// trapezoid rule for the mean slope over the interval).
    pub identity: f64,
    /// measured - identity.
    pub error: f64,
    /// The Monte Carlo standard error of `error` (over images, or over draws for one image).
    pub error_std_error: f64,
}

/// The slope identity d_eff = d + 2 t d/dt E_z[log p(x + sqrt(t) z, t)], i.e. a slope of
/// 5 (d_eff / d - 1) dB/dim per decade of t, on every interval of the grid.
///
/// Both sides use the same noise draws at every t (common random numbers), so the numerical
/// slope is smooth in t. The error is the sum of the model's inconsistency, the Monte Carlo
/// error (`error_std_error`) and the trapezoid rule's discretization error, O(h^2) in the
/// grid step h (in decades) times the curvature of d_eff in log t.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlopeCheck {
    /// One entry per interval of the grid.
    pub intervals: Vec<SlopeInterval>,
    /// The largest |error| over the intervals, dB/dim per decade.
    pub max_abs_error: f64,
    /// The root mean square error over the intervals, dB/dim per decade.
    pub rms_error: f64,
    /// `rms_error` divided by the root mean square of the identity's slopes.
    pub relative_rms_error: f64,
    /// The largest |error| / error_std_error over the intervals with a positive standard
    /// error (0 if none).
    pub max_abs_error_in_std_errors: f64,
}

/// The I-MMSE integral against the direct estimate of E log p(x):
/// E log p(x) = E log p(y, t_max) + int_0^t_max (d - d_eff) / (2 t) dt.
///
/// The integral is taken over the grid by the trapezoid rule in ln t (dt / t = d ln t); the
/// part below the grid's smallest t is taken as negligible. `below_grid_nats` estimates it as
/// (d - d_eff(t_min)) / 2, its value when d - d_eff is proportional to t below the grid (a
/// full-dimensional density); it is not added. Both estimates contain -c, so their difference
/// does not depend on the normalization constant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImmseCheck {
    /// The smallest noise variance of the grid (the lower end of the integral).
    pub t_min: f64,
    /// The largest noise variance of the grid (the upper end).
    pub t_max: f64,
    /// The direct estimate E_x[-U(x, 0)] - c, in nats.
    pub direct_nats: Estimate,
    /// The I-MMSE estimate, `noisy_log_p_nats` + `integral_nats`, in nats.
    pub immse_nats: Estimate,
    /// E log p(y, t_max) = E[-U(x + sqrt(t_max) z, t_max)] - c, in nats.
    pub noisy_log_p_nats: Estimate,
    /// `noisy_log_p_nats` in dB/dim.
    pub noisy_log_p_db_per_dim: f64,
    /// What p(., t_max) tends to when t_max dominates the data's variance, N(mean, t_max I):
    /// -1/2 ln(2 pi e t_max) nats per dimension, in dB/dim (-21.16 at t = 1e3, where the paper
    /// reports -21.11 for its model).
    pub gaussian_reference_db_per_dim: f64,
    /// The integral of (d - d_eff) / (2 t) over the grid, in nats.
    pub integral_nats: Estimate,
    /// The I-MMSE estimate minus the direct one, image by image, in nats.
    pub difference_nats: Estimate,
    /// The direct estimate in dB/dim.
    pub direct_db_per_dim: f64,
    /// The I-MMSE estimate in dB/dim.
    pub immse_db_per_dim: f64,
    /// The difference in dB/dim.
    pub difference_db_per_dim: f64,
    /// Its standard error in dB/dim.
    pub difference_db_per_dim_std_error: f64,
    /// The part of the integral below t_min if d - d_eff is proportional to t there,
    /// (d - d_eff(t_min)) / 2 nats: not included, reported to show it is negligible.
    pub below_grid_nats: f64,
}

/// Local dimensionality over a data set, with the consistency checks.
///
/// Data-set averages have standard errors over images (each image's draws averaged first);
/// with a single image, over its draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalDimensionality {
    /// The number of images.
    pub images: usize,
    /// The dimension d.
    pub dim: usize,
    /// Noise draws per image.
    pub draws: usize,
    /// The grid of noise variances.
    pub noise_variances: Vec<f64>,
    /// The data-set average of d_eff(x, t) at each noise variance.
    pub mean_d_eff: Vec<Estimate>,
    /// The data-set average of E_z[log p(x + sqrt(t) z, t)] in dB/dim at each noise
    /// variance, for energy models (up to c unless `normalized`).
    pub mean_log_p_db_per_dim: Option<Vec<Estimate>>,
    /// Whether a normalization constant was given.
    pub normalized: bool,
    /// Each image's curves, when asked for (empty otherwise).
    pub per_image: Vec<ImageDimensionality>,
    /// The slope identity, for energy models.
    pub slope_check: Option<SlopeCheck>,
    /// The I-MMSE integral against the direct estimate, for energy models.
    pub immse_check: Option<ImmseCheck>,
}

/// Where each per-draw quantity sits in a row of `3K + 4` values (K grid points).
struct Layout {
    k: usize,
}

impl Layout {
    fn len(&self) -> usize {
        3 * self.k + 4
    }
    fn d_eff(&self, i: usize) -> usize {
        i
    }
    fn log_p_db(&self, i: usize) -> usize {
        self.k + i
    }
    fn slope_error(&self, i: usize) -> usize {
        2 * self.k + i
    }
    fn noisy(&self) -> usize {
        3 * self.k - 1
    }
    fn integral(&self) -> usize {
        3 * self.k
    }
    fn immse(&self) -> usize {
        3 * self.k + 1
    }
    fn direct(&self) -> usize {
        3 * self.k + 2
    }
    fn difference(&self) -> usize {
        3 * self.k + 3
    }
}

/// The local dimensionality d_eff(x, t) = E_z ||xhat(x + sqrt(t) z, t) - x||^2 / t of `model`
/// around each image of `data` (`[n, ...]`), on a grid of noise variances, with `draws` noise
/// draws per image, and, when the model gives its energy U, the curves
/// E_z[log p(x + sqrt(t) z, t)] = E_z[-U] - c and the two consistency checks ([`SlopeCheck`],
/// [`ImmseCheck`]).
///
/// xhat - x = sqrt(t) z - t grad_y U, so d_eff is computed as ||z - sqrt(t) grad_y U||^2: no
/// division by a small t and no difference of y and x. The same draws z serve every t (common
/// random numbers). Cost: draws x (grid points) evaluations per image, plus one at t = 0.
/// For a Gaussian N(mu, Sigma) the exact value, averaged over x, is
/// sum_k lambda_k / (lambda_k + t) (the MMSE of the optimal denoiser divided by t).
///
/// With [`LocalDimensionOptions::control_variate`] (the default) every per-draw quantity Q is
/// replaced by Q - g_Q (||z||^2 - d), whose mean is the same since E ||z||^2 = d exactly, with
/// g_Q the least-squares coefficient of Q on ||z||^2 - d over all draws of the data set. It
/// removes most of the noise where Q follows ||z||^2: d_eff at small t (where the residual is
/// about z) and U at large t (about ||z||^2 / 2), and so most of the noise of the I-MMSE
/// integral, whose per-draw error otherwise grows with the number of e-folds of t where
/// d_eff is near d. Estimating g_Q biases the means by O(1 / draws over the data set),
/// far below their standard errors.
///
/// ```
/// use dualscore_core::analysis::{LocalDimensionOptions, local_dimensionality, log_grid};
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::energy::analytic::{AnalyticDensity, Gaussian};
/// use dualscore_core::rng::RngKey;
/// use dualscore_core::tensor::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// let g = Gaussian::isotropic(vec![0.0; 4], 1.0)?;
/// let data: Tensor<_, f64> = g.sample(&Reference, 50, 0.0, RngKey::new(1, 0))?;
/// let options = LocalDimensionOptions {
///     noise_variances: log_grid(1e-3, 1e3, 13)?,
///     draws: 8,
///     ..Default::default()
/// };
/// let r = local_dimensionality(&g, &data, &options)?;
/// // At t = 1: d_eff = 4 * 1 / (1 + 1) = 2.
/// assert!((r.mean_d_eff[6].mean - 2.0).abs() < 5.0 * r.mean_d_eff[6].std_error);
/// # Ok(()) }
/// ```
pub fn local_dimensionality<B, T, M>(
    model: &M,
    data: &Tensor<B, T>,
    options: &LocalDimensionOptions,
) -> Result<LocalDimensionality>
where
    B: Backend,
    T: Float,
    M: ScoreModel<B, T> + ?Sized,
{
    const OP: &str = "local_dimensionality";
    check_batch(OP, options.batch_size)?;
    let ts = &options.noise_variances;
    let valid_grid = ts.len() >= 2
        && ts.iter().all(|t| *t > 0.0 && t.is_finite())
        && ts.windows(2).all(|w| w[0] < w[1]);
    if !valid_grid {
        return Err(Error::invalid(
            OP,
            "the noise variances must be positive, finite, strictly increasing and at least two",
        ));
    }
    if options.draws == 0 {
        return Err(Error::invalid(OP, "at least one noise draw per image"));
    }
    if options.constant_nats.is_some_and(|c| !c.is_finite()) {
        return Err(Error::invalid(
            OP,
            "the normalization constant must be finite",
        ));
    }
    let (n, sample_shape) = data_shape(OP, data)?;
    let d: usize = sample_shape.iter().product();
    let df = d as f64;
    let k_len = ts.len();
    let layout = Layout { k: k_len };
    let q_len = layout.len();
    let c = options.constant_nats.unwrap_or(0.0);
    let draws = options.draws;
    // The draws of image i are indexed by (i draws + j) d.
    noise_len(OP, &[n, draws, d])?;
    let backend = data.backend();
    let grid = Grid {
        log10_t: ts.iter().map(|t| t.log10()).collect(),
        ln_t: ts.iter().map(|t| t.ln()).collect(),
    };

    // Images per chunk and draws per chunk: either whole images (all their draws) or one image.
    let (images_per_chunk, draws_per_chunk) = if draws >= options.batch_size {
        (1, options.batch_size)
    } else {
        (options.batch_size / draws, draws)
    };

    let mut has_energy: Option<bool> = None;
    // Over all draws (for the control variate's coefficients), over images (of each image's
    // means), and each image's own, kept when asked for or when there is one image.
    let mut over_rows = vec![PairMoments::default(); q_len];
    let mut over_images = vec![PairMoments::default(); q_len];
    let mut kept: Vec<Vec<PairMoments>> = Vec::new();

    no_grad(|| -> Result<()> {
        for i0 in (0..n).step_by(images_per_chunk) {
            let bi = images_per_chunk.min(n - i0);
            let x = data.slice(0, i0, bi)?.detach();
            // log p(x) = -U(x, 0) - c, image by image.
            let zeros = Tensor::zeros(backend, [bi])?;
            let u0 = evaluate(OP, model, &x, &zeros)?.energy;
            let direct: Option<Vec<f64>> = match u0 {
                Some(u) => Some(u.to_f64_vec()?.into_iter().map(|u| -u - c).collect()),
                None => None,
            };
            let energy_model = *has_energy.get_or_insert(direct.is_some());
            if energy_model != direct.is_some() {
                return Err(Error::invalid(
                    OP,
                    "the model gave its energy for some batches and not for others",
                ));
            }
            let xb = x.reshape([bi, 1, d])?;
            let mut per_image = vec![PairMoments::default(); bi * q_len];
            for j0 in (0..draws).step_by(draws_per_chunk) {
                let bj = draws_per_chunk.min(draws - j0);
                let rows = bi * bj;
                // Contiguous: either bj == draws (j0 = 0) or bi == 1.
                let z = Tensor::<B, T>::randn(
                    backend,
                    [bi, bj, d],
                    options.key,
                    ((i0 * draws + j0) * d) as u64,
                )?;
                let z_rows = z.reshape(batch_shape(rows, &sample_shape))?;
                let control: Vec<f64> = row_sum_squares(&z_rows, rows)?
                    .into_iter()
                    .map(|s| s - df)
                    .collect();
                let mut d_eff = vec![0.0; rows * k_len];
                let mut energy = vec![0.0; rows * k_len];
                for (k, &t) in ts.iter().enumerate() {
                    let sqrt_t = t.sqrt();
                    let y = xb
                        .add(&z.scale(sqrt_t)?)?
                        .reshape(batch_shape(rows, &sample_shape))?;
                    let tt = Tensor::full(backend, [rows], t)?;
                    let Evaluated {
                        grad_y: g,
                        energy: u,
                    } = evaluate(OP, model, &y, &tt)?;
                    let sq = row_sum_squares(&z_rows.sub(&g.scale(sqrt_t)?)?, rows)?;
                    for (r, v) in sq.into_iter().enumerate() {
                        d_eff[r * k_len + k] = v;
                    }
                    match (u, energy_model) {
                        (Some(u), true) => {
                            for (r, v) in u.to_f64_vec()?.into_iter().enumerate() {
                                energy[r * k_len + k] = v;
                            }
                        }
                        (None, false) => {}
                        _ => {
                            return Err(Error::invalid(
                                OP,
                                "the model gave its energy at some noise levels and not at others",
                            ));
                        }
                    }
                }
                let mut row = vec![0.0; q_len];
                for r in 0..rows {
                    let image = r / bj;
                    let values = PerDraw {
                        d_eff: &d_eff[r * k_len..(r + 1) * k_len],
                        energy: energy_model.then(|| &energy[r * k_len..(r + 1) * k_len]),
                        direct: direct.as_ref().map_or(0.0, |v| v[image]),
                    };
                    values.fill(&layout, &grid, c, d, &mut row);
                    if row.iter().any(|v| !v.is_finite()) {
                        return Err(Error::invalid(
                            OP,
                            "the model's energy or gradient is not finite on the grid",
                        ));
                    }
                    let b = control[r];
                    let m = &mut per_image[image * q_len..(image + 1) * q_len];
                    for ((m, o), &v) in m.iter_mut().zip(over_rows.iter_mut()).zip(&row) {
                        m.add(v, b);
                        o.add(v, b);
                    }
                }
            }
            // The chunk's images are complete: fold their means into the data-set averages.
            for m in per_image.chunks(q_len) {
                for (o, m) in over_images.iter_mut().zip(m) {
                    o.add(m.mean_q(), m.mean_b());
                }
                if options.per_image || n == 1 {
                    kept.push(m.to_vec());
                }
            }
        }
        Ok(())
    })?;

    let energy_model = has_energy == Some(true);
    // The control variate's coefficient of each quantity; log p(x) does not depend on z, and
    // the difference's coefficient is that of the I-MMSE estimate.
    let mut gamma: Vec<f64> = over_rows
        .iter()
        .map(|m| {
            if options.control_variate {
                m.regression()
            } else {
                0.0
            }
        })
        .collect();
    gamma[layout.direct()] = 0.0;
    gamma[layout.difference()] = gamma[layout.immse()];
    let estimates_of = |m: &[PairMoments]| -> Vec<Estimate> {
        m.iter().zip(&gamma).map(|(m, &g)| m.estimate(g)).collect()
    };
    // With one image, data-set errors are over its draws.
    let estimates = if n == 1 {
        estimates_of(&kept[0])
    } else {
        estimates_of(&over_images)
    };

    let mean_d_eff: Vec<Estimate> = (0..k_len).map(|k| estimates[layout.d_eff(k)]).collect();
    let (mean_log_p, slope_check, immse_check) = if energy_model {
        let log_p: Vec<Estimate> = (0..k_len).map(|k| estimates[layout.log_p_db(k)]).collect();
        let slope = slope_check(&layout, ts, &grid, &log_p, &mean_d_eff, &estimates, df);
        let at = |q: usize| estimates[q];
        let difference = at(layout.difference());
        let immse = ImmseCheck {
            t_min: ts[0],
            t_max: ts[k_len - 1],
            direct_nats: at(layout.direct()),
            immse_nats: at(layout.immse()),
            noisy_log_p_nats: at(layout.noisy()),
            noisy_log_p_db_per_dim: nats_to_db_per_dim(at(layout.noisy()).mean, d),
            gaussian_reference_db_per_dim: nats_to_db_per_dim(
                -0.5 * (2.0 * PI * E * ts[k_len - 1]).ln(),
                1,
            ),
            integral_nats: at(layout.integral()),
            difference_nats: difference,
            direct_db_per_dim: nats_to_db_per_dim(at(layout.direct()).mean, d),
            immse_db_per_dim: nats_to_db_per_dim(at(layout.immse()).mean, d),
            difference_db_per_dim: nats_to_db_per_dim(difference.mean, d),
            difference_db_per_dim_std_error: nats_to_db_per_dim(difference.std_error, d),
            below_grid_nats: (df - mean_d_eff[0].mean) / 2.0,
        };
        (Some(log_p), Some(slope), Some(immse))
    } else {
        (None, None, None)
    };
    let per_image = if options.per_image {
        kept.iter()
            .enumerate()
            .map(|(i, m)| image_result(&layout, i, &estimates_of(m), energy_model, d))
            .collect()
    } else {
        Vec::new()
    };
    Ok(LocalDimensionality {
        images: n,
        dim: d,
        draws,
        noise_variances: ts.clone(),
        mean_d_eff,
        mean_log_p_db_per_dim: mean_log_p,
        normalized: options.constant_nats.is_some(),
        per_image,
        slope_check,
        immse_check,
    })
}

/// log10 t and ln t on the grid.
struct Grid {
    log10_t: Vec<f64>,
    ln_t: Vec<f64>,
}

/// What one noisy copy gave on the grid.
struct PerDraw<'a> {
    /// ||z - sqrt(t) grad_y U||^2 at each t.
    d_eff: &'a [f64],
    /// U at each t, for energy models.
    energy: Option<&'a [f64]>,
    /// log p(x) = -U(x, 0) - c of its image (energy models).
    direct: f64,
}

impl PerDraw<'_> {
    /// The per-draw quantities, in `layout`'s places (0 where they do not apply).
    fn fill(&self, layout: &Layout, grid: &Grid, c: f64, d: usize, row: &mut [f64]) {
        let k_len = layout.k;
        let df = d as f64;
        let d_eff = self.d_eff;
        row.iter_mut().for_each(|v| *v = 0.0);
        for k in 0..k_len {
            row[layout.d_eff(k)] = d_eff[k];
        }
        let Some(energy) = self.energy else {
            return;
        };
        for k in 0..k_len {
            row[layout.log_p_db(k)] = nats_to_db_per_dim(-energy[k] - c, d);
        }
        let mut integral = 0.0;
        for k in 0..k_len - 1 {
            let measured = (row[layout.log_p_db(k + 1)] - row[layout.log_p_db(k)])
                / (grid.log10_t[k + 1] - grid.log10_t[k]);
            let identity = 5.0 * (0.5 * (d_eff[k] + d_eff[k + 1]) / df - 1.0);
            row[layout.slope_error(k)] = measured - identity;
            integral +=
                (grid.ln_t[k + 1] - grid.ln_t[k]) * (2.0 * df - d_eff[k] - d_eff[k + 1]) / 4.0;
        }
        let noisy = -energy[k_len - 1] - c;
        row[layout.noisy()] = noisy;
        row[layout.integral()] = integral;
        row[layout.immse()] = noisy + integral;
        row[layout.direct()] = self.direct;
        row[layout.difference()] = noisy + integral - self.direct;
    }
}

/// One image's curves from its estimates over draws.
fn image_result(
    layout: &Layout,
    index: usize,
    est: &[Estimate],
    energy_model: bool,
    d: usize,
) -> ImageDimensionality {
    let k_len = layout.k;
    let scale_db = |e: Estimate| Estimate {
        mean: nats_to_db_per_dim(e.mean, d),
        std_error: nats_to_db_per_dim(e.std_error, d),
        samples: e.samples,
    };
    ImageDimensionality {
        index,
        d_eff: (0..k_len).map(|k| est[layout.d_eff(k)]).collect(),
        log_p_db_per_dim: energy_model
            .then(|| (0..k_len).map(|k| est[layout.log_p_db(k)]).collect()),
        direct_log_p_db_per_dim: energy_model
            .then(|| nats_to_db_per_dim(est[layout.direct()].mean, d)),
        immse_log_p_db_per_dim: energy_model.then(|| scale_db(est[layout.immse()])),
    }
}

/// The slope identity from the data-set estimates.
fn slope_check(
    layout: &Layout,
    ts: &[f64],
    grid: &Grid,
    log_p: &[Estimate],
    d_eff: &[Estimate],
    estimates: &[Estimate],
    df: f64,
) -> SlopeCheck {
    let intervals: Vec<SlopeInterval> = (0..ts.len() - 1)
        .map(|k| {
            let measured =
                (log_p[k + 1].mean - log_p[k].mean) / (grid.log10_t[k + 1] - grid.log10_t[k]);
            let identity = 5.0 * (0.5 * (d_eff[k].mean + d_eff[k + 1].mean) / df - 1.0);
            let error = estimates[layout.slope_error(k)];
            SlopeInterval {
                t_lower: ts[k],
                t_upper: ts[k + 1],
                measured,
                identity,
                error: error.mean,
                error_std_error: error.std_error,
            }
        })
        .collect();
    let m = intervals.len() as f64;
    let rms = |f: &dyn Fn(&SlopeInterval) -> f64| {
        (intervals.iter().map(|i| f(i).powi(2)).sum::<f64>() / m).sqrt()
    };
    let rms_error = rms(&|i| i.error);
    let rms_identity = rms(&|i| i.identity);
    SlopeCheck {
        max_abs_error: intervals.iter().map(|i| i.error.abs()).fold(0.0, f64::max),
        rms_error,
        relative_rms_error: rms_error / rms_identity,
        max_abs_error_in_std_errors: intervals
            .iter()
            .filter(|i| i.error_std_error > 0.0)
            .map(|i| (i.error / i.error_std_error).abs())
            .fold(0.0, f64::max),
        intervals,
    }
}
