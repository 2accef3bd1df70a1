//! Launchers of `conv.cu`: convolutions and transposed convolutions.

use super::{CudaStorage, Device, host};
use dualscore_core::backend::validate::Output;
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams};
use dualscore_core::{Backend, Float, Result, Shape};

pub(crate) fn conv2d<T: Float>(
    device: &Device,
    input: &CudaStorage<T>,
    input_shape: &Shape,
    weight: &CudaStorage<T>,
    weight_shape: &Shape,
    params: &Conv2dParams,
    _out: &Output,
) -> Result<CudaStorage<T>> {
    host::on_host(device, &[input, weight], |r, h| {
        r.conv2d(&h[0], input_shape, &h[1], weight_shape, params)
    })
}

pub(crate) fn conv_transpose2d<T: Float>(
    device: &Device,
    input: &CudaStorage<T>,
    input_shape: &Shape,
    weight: &CudaStorage<T>,
    weight_shape: &Shape,
    params: &ConvTranspose2dParams,
    _out: &Output,
) -> Result<CudaStorage<T>> {
    host::on_host(device, &[input, weight], |r, h| {
        r.conv_transpose2d(&h[0], input_shape, &h[1], weight_shape, params)
    })
}
