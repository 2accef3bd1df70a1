//! Launchers of `elementwise.cu`: fill, cast, unary and binary ops.

use super::launch::{Args, BLOCK, grid_1d, typed};
use super::modules::Family;
use super::{CudaStorage, Device, host};
use dualscore_core::backend::validate::Output;
use dualscore_core::backend::{BinaryOp, UnaryOp};
use dualscore_core::{Backend, DType, Float, Result, Shape};

pub(crate) fn fill<T: Float>(device: &Device, len: usize, value: T) -> Result<CudaStorage<T>> {
    let out = device.alloc::<T>(len)?;
    if len > 0 {
        let mut args = Args::new();
        args.buffer(&out).size(len).scalar::<T>(value.as_f64());
        let name = typed::<T>("fill_f32", "fill_f64");
        device.launch(
            Family::Elementwise,
            name,
            grid_1d(len),
            [BLOCK, 1, 1],
            0,
            &mut args,
        )?;
    }
    Ok(out)
}

pub(crate) fn cast<T: Float, U: Float>(
    device: &Device,
    x: &CudaStorage<T>,
) -> Result<CudaStorage<U>> {
    let out = device.alloc::<U>(x.len())?;
    if !x.is_empty() {
        let name = match (T::DTYPE, U::DTYPE) {
            (DType::F32, DType::F32) => "cast_f32_f32",
            (DType::F32, DType::F64) => "cast_f32_f64",
            (DType::F64, DType::F32) => "cast_f64_f32",
            (DType::F64, DType::F64) => "cast_f64_f64",
        };
        let mut args = Args::new();
        args.buffer(&out).buffer(x).size(x.len());
        device.launch(
            Family::Elementwise,
            name,
            grid_1d(x.len()),
            [BLOCK, 1, 1],
            0,
            &mut args,
        )?;
    }
    Ok(out)
}

pub(crate) fn unary<T: Float>(
    device: &Device,
    op: UnaryOp,
    x: &CudaStorage<T>,
) -> Result<CudaStorage<T>> {
    host::on_host(device, &[x], |r, h| r.unary(op, &h[0]))
}

pub(crate) fn binary<T: Float>(
    device: &Device,
    op: BinaryOp,
    lhs: &CudaStorage<T>,
    lhs_shape: &Shape,
    rhs: &CudaStorage<T>,
    rhs_shape: &Shape,
    _out: &Output,
) -> Result<CudaStorage<T>> {
    host::on_host(device, &[lhs, rhs], |r, h| {
        r.binary(op, &h[0], lhs_shape, &h[1], rhs_shape)
    })
}
