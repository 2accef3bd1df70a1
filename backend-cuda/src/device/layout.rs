//! Launchers of `layout.cu`: broadcast, permute, concat, slice, pad and flip.

use super::{CudaStorage, Device, host};
use dualscore_core::backend::validate::Output;
use dualscore_core::{Backend, Float, Result, Shape};

pub(crate) fn broadcast_to<T: Float>(
    device: &Device,
    x: &CudaStorage<T>,
    shape: &Shape,
    out: &Output,
) -> Result<CudaStorage<T>> {
    host::on_host(device, &[x], |r, h| {
        r.broadcast_to(&h[0], shape, &out.shape)
    })
}

pub(crate) fn permute<T: Float>(
    device: &Device,
    x: &CudaStorage<T>,
    shape: &Shape,
    axes: &[usize],
    _out: &Output,
) -> Result<CudaStorage<T>> {
    host::on_host(device, &[x], |r, h| r.permute(&h[0], shape, axes))
}

pub(crate) fn concat<T: Float>(
    device: &Device,
    parts: &[(&CudaStorage<T>, &Shape)],
    axis: usize,
    _out: &Output,
) -> Result<CudaStorage<T>> {
    let storages: Vec<&CudaStorage<T>> = parts.iter().map(|p| p.0).collect();
    host::on_host(device, &storages, |r, h| {
        let host_parts: Vec<(&Vec<T>, &Shape)> =
            h.iter().zip(parts).map(|(v, p)| (v, p.1)).collect();
        r.concat(&host_parts, axis)
    })
}

pub(crate) fn slice<T: Float>(
    device: &Device,
    x: &CudaStorage<T>,
    shape: &Shape,
    axis: usize,
    start: usize,
    out: &Output,
) -> Result<CudaStorage<T>> {
    let len = out.shape.dims()[axis];
    host::on_host(device, &[x], |r, h| r.slice(&h[0], shape, axis, start, len))
}

pub(crate) fn pad<T: Float>(
    device: &Device,
    x: &CudaStorage<T>,
    shape: &Shape,
    pads: &[(usize, usize)],
    _out: &Output,
) -> Result<CudaStorage<T>> {
    host::on_host(device, &[x], |r, h| r.pad(&h[0], shape, pads))
}

pub(crate) fn flip<T: Float>(
    device: &Device,
    x: &CudaStorage<T>,
    shape: &Shape,
    axes: &[usize],
) -> Result<CudaStorage<T>> {
    host::on_host(device, &[x], |r, h| r.flip(&h[0], shape, axes))
}
