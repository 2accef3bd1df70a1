//! `impl Backend for Cuda`: each method validates its call with the core's shared rules, then
//! hands the checked shapes to its kernel family.

use super::{Cuda, CudaStorage, conv, elementwise, host, layout, matmul, random, reduce};
use dualscore_core::backend::{
    BinaryOp, Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp, UnaryOp, validate,
};
use dualscore_core::rng::RngKey;
use dualscore_core::{Backend, Float, Result, Shape};
use std::sync::Arc;

impl Backend for Cuda {
    type Storage<T: Float> = CudaStorage<T>;

    fn name(&self) -> String {
        format!(
            "cuda:{} ({})",
            self.device.info.ordinal, self.device.info.name
        )
    }

    fn same_device(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.device, &other.device)
    }

    fn len<T: Float>(&self, storage: &CudaStorage<T>) -> usize {
        storage.len()
    }

    fn fill<T: Float>(&self, len: usize, value: T) -> Result<CudaStorage<T>> {
        elementwise::fill(&self.device, len, value)
    }

    fn upload<T: Float>(&self, data: &[T]) -> Result<CudaStorage<T>> {
        host::upload(&self.device, data)
    }

    fn download<T: Float>(&self, storage: &CudaStorage<T>) -> Result<Vec<T>> {
        host::download(&self.device, storage)
    }

    fn cast<T: Float, U: Float>(&self, storage: &CudaStorage<T>) -> Result<CudaStorage<U>> {
        elementwise::cast(&self.device, storage)
    }

    fn unary<T: Float>(&self, op: UnaryOp, x: &CudaStorage<T>) -> Result<CudaStorage<T>> {
        elementwise::unary(&self.device, op, x)
    }

    fn binary<T: Float>(
        &self,
        op: BinaryOp,
        lhs: &CudaStorage<T>,
        lhs_shape: &Shape,
        rhs: &CudaStorage<T>,
        rhs_shape: &Shape,
    ) -> Result<CudaStorage<T>> {
        let out = validate::binary(op, lhs.len(), lhs_shape, rhs.len(), rhs_shape)?;
        elementwise::binary(&self.device, op, lhs, lhs_shape, rhs, rhs_shape, &out)
    }

    fn reduce<T: Float>(
        &self,
        op: ReduceOp,
        x: &CudaStorage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<CudaStorage<T>> {
        let checked = validate::reduce(op, x.len(), shape, axes)?;
        reduce::reduce(&self.device, op, x, shape, &checked)
    }

    fn broadcast_to<T: Float>(
        &self,
        x: &CudaStorage<T>,
        shape: &Shape,
        target: &Shape,
    ) -> Result<CudaStorage<T>> {
        let out = validate::broadcast_to(x.len(), shape, target)?;
        layout::broadcast_to(&self.device, x, shape, &out)
    }

    fn matmul<T: Float>(
        &self,
        lhs: &CudaStorage<T>,
        rhs: &CudaStorage<T>,
        spec: &MatmulSpec,
    ) -> Result<CudaStorage<T>> {
        validate::matmul(lhs.len(), rhs.len(), spec)?;
        matmul::matmul(&self.device, lhs, rhs, spec)
    }

    fn conv2d<T: Float>(
        &self,
        input: &CudaStorage<T>,
        input_shape: &Shape,
        weight: &CudaStorage<T>,
        weight_shape: &Shape,
        params: &Conv2dParams,
    ) -> Result<CudaStorage<T>> {
        let out = validate::conv2d(input.len(), input_shape, weight.len(), weight_shape, params)?;
        conv::conv2d(
            &self.device,
            input,
            input_shape,
            weight,
            weight_shape,
            params,
            &out,
        )
    }

    fn conv_transpose2d<T: Float>(
        &self,
        input: &CudaStorage<T>,
        input_shape: &Shape,
        weight: &CudaStorage<T>,
        weight_shape: &Shape,
        params: &ConvTranspose2dParams,
    ) -> Result<CudaStorage<T>> {
        let out = validate::conv_transpose2d(
            input.len(),
            input_shape,
            weight.len(),
            weight_shape,
            params,
        )?;
        conv::conv_transpose2d(
            &self.device,
            input,
            input_shape,
            weight,
            weight_shape,
            params,
            &out,
        )
    }

    fn permute<T: Float>(
        &self,
        x: &CudaStorage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<CudaStorage<T>> {
        let out = validate::permute(x.len(), shape, axes)?;
        layout::permute(&self.device, x, shape, axes, &out)
    }

    fn concat<T: Float>(
        &self,
        parts: &[(&CudaStorage<T>, &Shape)],
        axis: usize,
    ) -> Result<CudaStorage<T>> {
        let lens: Vec<(usize, &Shape)> = parts.iter().map(|&(d, s)| (d.len(), s)).collect();
        let out = validate::concat(&lens, axis)?;
        layout::concat(&self.device, parts, axis, &out)
    }

    fn slice<T: Float>(
        &self,
        x: &CudaStorage<T>,
        shape: &Shape,
        axis: usize,
        start: usize,
        len: usize,
    ) -> Result<CudaStorage<T>> {
        let out = validate::slice(x.len(), shape, axis, start, len)?;
        layout::slice(&self.device, x, shape, axis, start, &out)
    }

    fn pad<T: Float>(
        &self,
        x: &CudaStorage<T>,
        shape: &Shape,
        pads: &[(usize, usize)],
    ) -> Result<CudaStorage<T>> {
        let out = validate::pad(x.len(), shape, pads)?;
        layout::pad(&self.device, x, shape, pads, &out)
    }

    fn flip<T: Float>(
        &self,
        x: &CudaStorage<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<CudaStorage<T>> {
        let axes = validate::flip(x.len(), shape, axes)?;
        layout::flip(&self.device, x, shape, &axes)
    }

    fn random_uniform<T: Float>(
        &self,
        key: RngKey,
        offset: u64,
        len: usize,
    ) -> Result<CudaStorage<T>> {
        random::uniform(&self.device, key, offset, len)
    }

    fn random_normal<T: Float>(
        &self,
        key: RngKey,
        offset: u64,
        len: usize,
    ) -> Result<CudaStorage<T>> {
        random::normal(&self.device, key, offset, len)
    }
}
