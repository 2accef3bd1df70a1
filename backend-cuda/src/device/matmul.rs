//! Launchers of `matmul.cu`: batched matrix products.

use super::{CudaStorage, Device, host};
use dualscore_core::backend::MatmulSpec;
use dualscore_core::{Backend, Float, Result};

pub(crate) fn matmul<T: Float>(
    device: &Device,
    lhs: &CudaStorage<T>,
    rhs: &CudaStorage<T>,
    spec: &MatmulSpec,
) -> Result<CudaStorage<T>> {
    host::on_host(device, &[lhs, rhs], |r, h| r.matmul(&h[0], &h[1], spec))
}
