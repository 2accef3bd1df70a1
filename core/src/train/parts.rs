//! The loss of a training step and its gradient with respect to every parameter, computed on
//! parts of the batch at once when the backend asks for it ([`Backend::training_parts`]).
//!
//! The loss is a mean over the images, each image's term independent of the others, so the
//! gradient of the whole batch is the sum over parts of each part's mean loss times its share
//! of the images. The parts' gradients are summed in part order.

use super::loss::{Objective, score_matching_loss};
use crate::autograd::{GradOptions, grad, no_grad};
use crate::backend::{Backend, Job};
use crate::energy::ScoreModel;
use crate::error::Result;
use crate::scalar::Float;
use crate::tensor::Tensor;

/// A step's loss terms (no graph) and its gradients.
pub(crate) struct StepGradients<B: Backend, T: Float> {
    /// The mean loss, `[]`.
    pub loss: Tensor<B, T>,
    /// Per-image denoising terms, `[N]` (weighted when the step has weights).
    pub dsm: Tensor<B, T>,
    /// Per-image time terms, `[N]` (weighted when the step has weights).
    pub tsm: Tensor<B, T>,
    /// Per-image `dsm + tsm` before weighting, when the step has weights.
    pub unweighted: Option<Tensor<B, T>>,
    /// The gradient of the loss with respect to each of `params`.
    pub grads: Vec<Tensor<B, T>>,
}

/// The images of one step: clean images `x`, noise variances `t`, the noise `z` and optional
/// per-image loss weights.
pub(crate) struct StepBatch<'a, B: Backend, T: Float> {
    pub x: &'a Tensor<B, T>,
    pub t: &'a Tensor<B, T>,
    pub z: &'a Tensor<B, T>,
    pub weights: Option<&'a Tensor<B, T>>,
}

/// The loss of `batch` under `model` and its gradient with respect to `params`, in as many
/// parts as the backend asks for.
pub(crate) fn step_gradients<B, T, M>(
    model: &M,
    params: &[&Tensor<B, T>],
    batch: &StepBatch<'_, B, T>,
    objective: Objective,
) -> Result<StepGradients<B, T>>
where
    B: Backend,
    T: Float,
    M: ScoreModel<B, T> + Sync + ?Sized,
{
    let backend = batch.x.backend();
    let n = batch.x.dims()[0];
    let parts = backend.training_parts(n).clamp(1, n.max(1));
    if parts == 1 {
        return part_gradients(model, params, batch, objective, None);
    }
    let ranges = part_ranges(n, parts);
    let jobs: Vec<Job<'_, Result<StepGradients<B, T>>>> = ranges
        .iter()
        .map(|&(start, len)| {
            let job = move || {
                let slice = |v: &Tensor<B, T>| v.slice(0, start, len);
                let (x, t, z) = (slice(batch.x)?, slice(batch.t)?, slice(batch.z)?);
                let weights = batch.weights.map(slice).transpose()?;
                let part = StepBatch {
                    x: &x,
                    t: &t,
                    z: &z,
                    weights: weights.as_ref(),
                };
                part_gradients(model, params, &part, objective, Some(len as f64 / n as f64))
            };
            Box::new(job) as Job<'_, _>
        })
        .collect();
    let results = backend
        .run_jobs(jobs)
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    no_grad(|| combine(results))
}

/// `(start, len)` of `parts` consecutive parts of `n` images, the first `n % parts` one longer.
pub(crate) fn part_ranges(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = n / parts + usize::from(i < n % parts);
            let range = (start, len);
            start += len;
            range
        })
        .collect()
}

/// The loss of one part (its mean times `share` when given) and its gradients.
fn part_gradients<B, T, M>(
    model: &M,
    params: &[&Tensor<B, T>],
    batch: &StepBatch<'_, B, T>,
    objective: Objective,
    share: Option<f64>,
) -> Result<StepGradients<B, T>>
where
    B: Backend,
    T: Float,
    M: ScoreModel<B, T> + ?Sized,
{
    let mut loss = score_matching_loss(model, batch.x, batch.t, batch.z, objective)?;
    let unweighted = match batch.weights {
        Some(w) => {
            // The sampler follows the unweighted per-image losses.
            let unweighted = no_grad(|| loss.dsm.add(&loss.tsm))?;
            loss.dsm = loss.dsm.mul(w)?;
            loss.tsm = loss.tsm.mul(w)?;
            loss.loss = loss.dsm.add(&loss.tsm)?.mean_all()?;
            Some(unweighted)
        }
        None => None,
    };
    if let Some(share) = share {
        loss.loss = loss.loss.scale(share)?;
    }
    let grads = grad(&[&loss.loss], params, GradOptions::default())?;
    Ok(StepGradients {
        loss: loss.loss.detach(),
        dsm: loss.dsm.detach(),
        tsm: loss.tsm.detach(),
        unweighted,
        grads,
    })
}

/// The whole batch from its parts, in order: losses and gradients summed, per-image terms
/// joined.
fn combine<B: Backend, T: Float>(parts: Vec<StepGradients<B, T>>) -> Result<StepGradients<B, T>> {
    let mut parts = parts.into_iter();
    let mut total = parts.next().expect("at least two parts");
    let mut dsm = vec![total.dsm.clone()];
    let mut tsm = vec![total.tsm.clone()];
    let mut unweighted: Vec<Tensor<B, T>> = total.unweighted.iter().cloned().collect();
    for part in parts {
        total.loss = total.loss.add(&part.loss)?;
        for (sum, g) in total.grads.iter_mut().zip(&part.grads) {
            *sum = sum.add(g)?;
        }
        dsm.push(part.dsm);
        tsm.push(part.tsm);
        unweighted.extend(part.unweighted);
    }
    let join = |v: &[Tensor<B, T>]| Tensor::concat(&v.iter().collect::<Vec<_>>(), 0);
    total.dsm = join(&dsm)?;
    total.tsm = join(&tsm)?;
    if total.unweighted.is_some() {
        total.unweighted = Some(join(&unweighted)?);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::part_ranges;

    #[test]
    fn parts_cover_the_batch_in_order() {
        assert_eq!(part_ranges(32, 2), vec![(0, 16), (16, 16)]);
        assert_eq!(part_ranges(10, 3), vec![(0, 4), (4, 3), (7, 3)]);
        assert_eq!(part_ranges(5, 1), vec![(0, 5)]);
    }
}
