//! Launchers of `random.cu`: the counter-based uniform and normal numbers.

use super::{CudaStorage, Device, host};
use dualscore_core::rng::{self, RngKey};
use dualscore_core::{Float, Result};

pub(crate) fn uniform<T: Float>(
    device: &Device,
    key: RngKey,
    offset: u64,
    len: usize,
) -> Result<CudaStorage<T>> {
    let below_one = T::one() - T::epsilon() / (T::one() + T::one());
    let values: Vec<T> = rng::uniform_values(key, offset, len)
        .into_iter()
        .map(|u| T::of_f64(u).min(below_one))
        .collect();
    host::upload(device, &values)
}

pub(crate) fn normal<T: Float>(
    device: &Device,
    key: RngKey,
    offset: u64,
    len: usize,
) -> Result<CudaStorage<T>> {
    let values: Vec<T> = rng::normal_values(key, offset, len)
        .into_iter()
        .map(T::of_f64)
        .collect();
    host::upload(device, &values)
}
