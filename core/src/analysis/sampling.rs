//! Sampling from a learned density by a stochastic reverse diffusion.

use super::{batch_shape, check_batch, evaluate, grid_buffer, noise_len};
use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::energy::ScoreModel;
use crate::error::{Error, Result};
use crate::rng::RngKey;
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The noise of one reverse step from t to t' < t (Delta = t - t'). Every kind takes the same
/// drift, y <- y + Delta score(y, t) = y - Delta grad_y U(y, t), and adds Gaussian noise of
/// variance q (below).
///
/// On Gaussian data every kind's error in the final variance falls like 1 / steps; the
/// first two err in opposite directions (for N(0, s I) with t from 1e3 to 1e-4: about
/// +8 / steps and -8 / steps relative), and their average, [`SamplerKind::Blended`], cancels
/// most of it (below 1e-3 relative with 200 steps for s >= 0.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SamplerKind {
    /// q = Delta: the Euler-Maruyama step of the reverse "variance exploding" SDE
    /// dy = -grad_y log p(y, t) dt + dW (t running backwards).
    EulerMaruyama,
    /// q = Delta t' / t: ancestral sampling, the exact posterior step p(y_t' | y_t, x) with x
    /// replaced by the denoiser's estimate (exact when the data is a single point).
    Ancestral,
    /// q = Delta (1 + t' / t) / 2, the mean of the two above.
    #[default]
    Blended,
}

/// How to [`sample`].
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerOptions {
    /// The starting noise variance; samples start from N(initial_mean, t_max I). It should be
    /// large against the data's variance (the mismatch with p(., t_max) shrinks by about
    /// lambda / t_max along a direction of data variance lambda).
    pub t_max: f64,
    /// The last noise variance; it should be small against the data's smallest variance
    /// (the final denoising step shrinks the variance along a direction of variance lambda by
    /// the factor lambda / (lambda + t_min)).
    pub t_min: f64,
    /// Reverse steps, on a geometric grid of t from t_max down to t_min.
    pub steps: usize,
    /// The noise of each step.
    pub kind: SamplerKind,
    /// The mean of the starting noise, the same for every pixel (0.5 for images in [0, 1]).
    pub initial_mean: f64,
    /// End with xhat = y - t_min grad_y U(y, t_min) (one more evaluation) instead of y.
    pub denoise_final: bool,
    /// Samples per model evaluation.
    pub batch_size: usize,
    /// The noise: with `count` samples of d values, the starting noise of sample i is the
    /// standard normal values at indices `i d .. (i + 1) d` of this key's sequence and that of
    /// step k (1-based) at `(k count + i) d ..`, so the same key and count give the same
    /// samples whatever the batch size.
    pub key: RngKey,
}

impl Default for SamplerOptions {
    /// t from 1e3 down to 1e-4 in 500 [`SamplerKind::Blended`] steps, starting around 0.5, a
    /// final denoising step, batches of 64, key (0, 0).
    fn default() -> Self {
        SamplerOptions {
            t_max: 1e3,
            t_min: 1e-4,
            steps: 500,
            kind: SamplerKind::Blended,
            initial_mean: 0.5,
            denoise_final: true,
            batch_size: 64,
            key: RngKey::new(0, 0),
        }
    }
}

impl SamplerOptions {
    /// The noise variances t_0 = t_max > t_1 > ... > t_steps = t_min, geometric.
    pub fn schedule(&self) -> Result<Vec<f64>> {
        const OP: &str = "sample";
        if !(self.t_min > 0.0 && self.t_min < self.t_max && self.t_max.is_finite()) {
            return Err(Error::invalid(
                OP,
                format!(
                    "need 0 < t_min < t_max < infinity, got t_min = {}, t_max = {}",
                    self.t_min, self.t_max
                ),
            ));
        }
        if self.steps == 0 {
            return Err(Error::invalid(OP, "at least one step"));
        }
        let (a, b) = (self.t_max.ln(), self.t_min.ln());
        let mut ts = grid_buffer(OP, self.steps.saturating_add(1))?;
        ts.extend((0..=self.steps).map(|k| match k {
            0 => self.t_max,
            k if k == self.steps => self.t_min,
            k => (a + (b - a) * k as f64 / self.steps as f64).exp(),
        }));
        Ok(ts)
    }
}

/// `count` samples of shape `sample_shape` from the density learned by `model`, as a tensor
/// `[count, sample_shape...]` on `backend`: a stochastic reverse diffusion with the learned
/// score -grad_y U, from N(initial_mean, t_max I) down a geometric grid of t to t_min
/// ([`SamplerKind`] sets the step's noise), then, by default, one denoising step
/// xhat = y - t_min grad_y U(y, t_min). Any [`ScoreModel`] works (only grad_y U is used).
/// Cost: steps + 1 evaluations per sample. Nothing is recorded.
///
/// ```
/// use dualscore_core::analysis::{SamplerOptions, sample};
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::energy::analytic::Gaussian;
/// use dualscore_core::tensor::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// let g = Gaussian::isotropic(vec![1.0, -1.0], 0.5)?;
/// let options = SamplerOptions { steps: 100, batch_size: 500, ..Default::default() };
/// let x: Tensor<_, f64> = sample(&g, &Reference, 1000, &[2], &options)?;
/// let mean = x.mean(&[0], false)?.to_f64_vec()?;
/// // Standard error sqrt(0.5 / 1000) = 0.022.
/// assert!((mean[0] - 1.0).abs() < 0.11 && (mean[1] + 1.0).abs() < 0.11);
/// # Ok(()) }
/// ```
pub fn sample<B, T, M>(
    model: &M,
    backend: &B,
    count: usize,
    sample_shape: &[usize],
    options: &SamplerOptions,
) -> Result<Tensor<B, T>>
where
    B: Backend,
    T: Float,
    M: ScoreModel<B, T> + ?Sized,
{
    const OP: &str = "sample";
    check_batch(OP, options.batch_size)?;
    let d = sample_shape
        .iter()
        .try_fold(1usize, |n, &side| n.checked_mul(side))
        .ok_or_else(|| {
            Error::invalid(
                OP,
                format!("a sample of shape {sample_shape:?} is too large"),
            )
        })?;
    if count == 0 || sample_shape.is_empty() || d == 0 {
        return Err(Error::invalid(
            OP,
            format!(
                "need at least one sample of a non-empty shape, got {count} of {sample_shape:?}"
            ),
        ));
    }
    if !options.initial_mean.is_finite() {
        return Err(Error::invalid(OP, "the initial mean must be finite"));
    }
    let ts = options.schedule()?;
    // The noise of steps 0 ..= steps for every sample, indexed by (k count + i) d.
    noise_len(OP, &[options.steps + 1, count, d])?;
    let mut batches = Vec::new();
    no_grad(|| -> Result<()> {
        for start in (0..count).step_by(options.batch_size) {
            let b = options.batch_size.min(count - start);
            let shape = batch_shape(b, sample_shape);
            let noise = |k: usize| {
                Tensor::<B, T>::randn(
                    backend,
                    shape.clone(),
                    options.key,
                    ((k * count + start) * d) as u64,
                )
            };
            let mut y = noise(0)?.affine(options.t_max.sqrt(), options.initial_mean)?;
            for k in 0..options.steps {
                let (t, t_next) = (ts[k], ts[k + 1]);
                let delta = t - t_next;
                let q = match options.kind {
                    SamplerKind::EulerMaruyama => delta,
                    SamplerKind::Ancestral => delta * t_next / t,
                    SamplerKind::Blended => 0.5 * delta * (1.0 + t_next / t),
                };
                let tt = Tensor::full(backend, [b], t)?;
                let g = evaluate(OP, model, &y, &tt)?.grad_y;
                y = y
                    .sub(&g.scale(delta)?)?
                    .add(&noise(k + 1)?.scale(q.sqrt())?)?;
            }
            if options.denoise_final {
                let tt = Tensor::full(backend, [b], options.t_min)?;
                let g = evaluate(OP, model, &y, &tt)?.grad_y;
                y = y.sub(&g.scale(options.t_min)?)?;
            }
            batches.push(y);
        }
        Ok(())
    })?;
    if batches.len() == 1 {
        return Ok(batches.pop().expect("one batch"));
    }
    let parts: Vec<&Tensor<B, T>> = batches.iter().collect();
    no_grad(|| Tensor::concat(&parts, 0))
}
