//! An energy evaluated on a batch in the parts that the backend computes at the same time.

use super::Energy;
use crate::autograd::no_grad;
use crate::backend::{Backend, Job};
use crate::error::Result;
use crate::scalar::Float;
use crate::tensor::Tensor;
use crate::train::parts::part_ranges;

/// U(y, t) for every image of `y` (`[N, ...]`, with `t` of shape `[N]`), without recording:
/// the batch is split into the parts that the backend computes at the same time
/// ([`Backend::training_parts`], [`Backend::run_jobs`]; on the CPU backend, one part per 16
/// images), and the parts' energies are joined in order. They agree with one call on the
/// whole batch up to the backend's rounding; the split depends only on `N`, so results are the
/// same for any number of threads.
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::energy::energy_in_parts;
/// use dualscore_core::Tensor;
///
/// # fn main() -> dualscore_core::Result<()> {
/// let half_norm = |y: &Tensor<Reference, f64>, _t: &Tensor<Reference, f64>| {
///     y.mul(y)?.sum(&[1], false)?.scale(0.5)
/// };
/// let y = Tensor::from_f64(&Reference, &[1.0, 2.0, 3.0, 4.0], [2, 2])?;
/// let t = Tensor::zeros(&Reference, [2])?;
/// assert_eq!(energy_in_parts(&half_norm, &y, &t)?.to_f64_vec()?, vec![2.5, 12.5]);
/// # Ok(()) }
/// ```
pub fn energy_in_parts<B, T, E>(
    energy: &E,
    y: &Tensor<B, T>,
    t: &Tensor<B, T>,
) -> Result<Tensor<B, T>>
where
    B: Backend,
    T: Float,
    E: Energy<B, T> + Sync + ?Sized,
{
    let n = y.dims().first().copied().unwrap_or(0);
    let parts = y.backend().training_parts(n).clamp(1, n.max(1));
    // Shapes the energy refuses get its own error from one call.
    if parts == 1 || t.dims() != [n] {
        return no_grad(|| energy.energy(y, t));
    }
    let jobs: Vec<Job<'_, Result<Tensor<B, T>>>> = part_ranges(n, parts)
        .into_iter()
        .map(|(start, len)| {
            let job = move || {
                no_grad(|| energy.energy(&y.slice(0, start, len)?, &t.slice(0, start, len)?))
            };
            Box::new(job) as Job<'_, _>
        })
        .collect();
    let energies = y
        .backend()
        .run_jobs(jobs)
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Tensor::concat(&energies.iter().collect::<Vec<_>>(), 0)
}
