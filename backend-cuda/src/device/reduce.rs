//! Launchers of `reduce.cu`: sums, means, maxima and minima over axes.

use super::{CudaStorage, Device, host};
use dualscore_core::backend::ReduceOp;
use dualscore_core::backend::validate::Reduction;
use dualscore_core::{Backend, Float, Result, Shape};

pub(crate) fn reduce<T: Float>(
    device: &Device,
    op: ReduceOp,
    x: &CudaStorage<T>,
    shape: &Shape,
    checked: &Reduction,
) -> Result<CudaStorage<T>> {
    host::on_host(device, &[x], |r, h| {
        r.reduce(op, &h[0], shape, &checked.axes)
    })
}
