//! Orders 1 and 2 of every differentiable op, and the dot-product test of the adjoint pairs.

use super::cases::{Domain, axes_of, broadcast_pair, nonscalar_shape, shape, tensor};
use super::grad_config;
use crate::harness::check;
use dualscore_core::backend::{BinaryOp, Conv2dParams, ConvTranspose2dParams, ReduceOp, UnaryOp};
use dualscore_core::testing::{GradFunction, check_adjoint, check_grads};
use dualscore_core::{Backend, Result, Shape, Tensor};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestCaseResult};

type T64<B> = Tensor<B, f64>;

/// Checks orders 1 and 2 of `f` at `inputs`.
pub(super) fn orders_1_and_2<B: Backend>(
    f: &GradFunction<'_, B>,
    inputs: &[T64<B>],
) -> TestCaseResult {
    check_grads(f, inputs, 2, &grad_config())
        .map(|_| ())
        .map_err(|e| TestCaseError::fail(e.to_string()))
}

fn setup<R>(r: Result<R>) -> std::result::Result<R, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("building the inputs failed: {e}")))
}

const UNARY_OPS: [UnaryOp; 19] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sqrt,
    UnaryOp::Recip,
    UnaryOp::Square,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Tanh,
    UnaryOp::Erf,
    UnaryOp::Sigmoid,
    UnaryOp::Relu,
    UnaryOp::Gelu,
    UnaryOp::GeluGrad,
    UnaryOp::Silu,
    UnaryOp::SiluGrad,
    UnaryOp::Affine {
        scale: -1.7,
        shift: 0.4,
    },
    UnaryOp::Powf(2.5),
];

fn unary_domain(op: UnaryOp) -> Domain {
    match op {
        UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Powf(_) => Domain::Positive,
        UnaryOp::Recip | UnaryOp::Abs | UnaryOp::Relu => Domain::AwayFromZero,
        _ => Domain::Any,
    }
}

/// Every differentiable unary op (and `Powf` with several exponents) at orders 1 and 2.
pub fn unary<B: Backend>(backend: &B) {
    let op = prop_oneof![
        4 => proptest::sample::select(UNARY_OPS.to_vec()),
        1 => prop_oneof![Just(-1.5), Just(0.5), Just(3.0), Just(1.3)].prop_map(UnaryOp::Powf),
    ];
    check(
        "gradient of unary ops",
        (op, shape(), any::<u64>()),
        |(op, dims, seed)| {
            let x = setup(tensor(backend, &dims, unary_domain(op), seed, 0))?;
            orders_1_and_2(&|v| v[0].unary(op), &[x])
        },
    );
}

/// Add, sub, mul, div, maximum and minimum with broadcasting, at orders 1 and 2.
pub fn binary<B: Backend>(backend: &B) {
    let ops = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
    ];
    check(
        "gradient of binary ops",
        (
            proptest::sample::select(ops.to_vec()),
            broadcast_pair(),
            any::<u64>(),
        ),
        |(op, (a_dims, b_dims), seed)| {
            let (da, db) = match op {
                BinaryOp::Div => (Domain::Any, Domain::AwayFromZero),
                BinaryOp::Max | BinaryOp::Min => (Domain::OddTenths, Domain::EvenTenths),
                _ => (Domain::Any, Domain::Any),
            };
            let a = setup(tensor(backend, &a_dims, da, seed, 0))?;
            let b = setup(tensor(backend, &b_dims, db, seed, 1))?;
            orders_1_and_2(&|v| v[0].binary(op, &v[1])?.square(), &[a, b])
        },
    );
}

/// Sum, mean, max and min over any set of axes, with and without keepdim; then squared so
/// that the second order is not trivially zero.
pub fn reduce<B: Backend>(backend: &B) {
    check(
        "gradient of reductions",
        (
            proptest::sample::select(ReduceOp::ALL.to_vec()),
            shape(),
            any::<u8>(),
            any::<bool>(),
            any::<u64>(),
        ),
        |(op, dims, mask, keepdim, seed)| {
            let axes = axes_of(dims.len(), mask);
            let x = setup(tensor(backend, &dims, Domain::Distinct, seed, 0))?;
            orders_1_and_2(&|v| v[0].reduce(op, &axes, keepdim)?.square(), &[x])
        },
    );
}

/// Centering over any set of axes (the normalization's `x - mean(x)` as one op), squared so
/// that the second order is not trivially zero.
pub fn center<B: Backend>(backend: &B) {
    check(
        "gradient of center",
        (shape(), any::<u8>(), any::<u64>()),
        |(dims, mask, seed)| {
            let axes = axes_of(dims.len(), mask);
            let x = setup(tensor(backend, &dims, Domain::Distinct, seed, 0))?;
            orders_1_and_2(&|v| v[0].center(&axes)?.square(), &[x])
        },
    );
}

/// Matrix products with every transpose flag and broadcast batch axes.
pub fn matmul<B: Backend>(backend: &B) {
    let batch = prop_oneof![Just(vec![]), Just(vec![2]), Just(vec![3, 1])];
    check(
        "gradient of matmul",
        (
            batch.clone(),
            batch,
            1usize..=4,
            1usize..=4,
            1usize..=4,
            any::<(bool, bool)>(),
            any::<u64>(),
        ),
        |(ba, bb, m, k, n, (ta, tb), seed)| {
            let a_mat = if ta { [k, m] } else { [m, k] };
            let b_mat = if tb { [n, k] } else { [k, n] };
            let a_dims = [ba.as_slice(), &a_mat].concat();
            let b_dims = [bb.as_slice(), &b_mat].concat();
            let a = setup(tensor(backend, &a_dims, Domain::Any, seed, 0))?;
            let b = setup(tensor(backend, &b_dims, Domain::Any, seed, 1))?;
            orders_1_and_2(&|v| v[0].matmul_t(&v[1], ta, tb)?.square(), &[a, b])
        },
    );
}

/// A convolution case: input and weight shapes and the parameters, valid by construction.
fn conv_case() -> impl Strategy<Value = ([usize; 4], [usize; 4], Conv2dParams)> {
    (
        (1usize..=2, 1usize..=3, 1usize..=3),
        (1usize..=3, 1usize..=3),
        (1usize..=3, 1usize..=3),
        (0usize..=2, 0usize..=1),
        (1usize..=2, 1usize..=2),
        (0usize..=4, 0usize..=4),
    )
        .prop_map(
            |((n, c, o), (kh, kw), (sh, sw), (ph, pw), (dh, dw), (eh, ew))| {
                let params = Conv2dParams {
                    stride: [sh, sw],
                    padding: [ph, pw],
                    dilation: [dh, dw],
                };
                // Smallest input the dilated kernel fits, plus extra rows the stride may not divide.
                let h = (dh * (kh - 1) + 1).saturating_sub(2 * ph).max(1) + eh;
                let w = (dw * (kw - 1) + 1).saturating_sub(2 * pw).max(1) + ew;
                ([n, c, h, w], [o, c, kh, kw], params)
            },
        )
}

/// conv2d with respect to input and weight, at every stride, padding and dilation.
pub fn conv2d<B: Backend>(backend: &B) {
    check(
        "gradient of conv2d",
        (conv_case(), any::<u64>()),
        |((x_dims, w_dims, params), seed)| {
            let x = setup(tensor(backend, &x_dims, Domain::Any, seed, 0))?;
            let w = setup(tensor(backend, &w_dims, Domain::Any, seed, 1))?;
            orders_1_and_2(&|v| v[0].conv2d(&v[1], &params)?.square(), &[x, w])
        },
    );
}

/// conv_transpose2d with respect to input and weight, with output padding.
pub fn conv_transpose2d<B: Backend>(backend: &B) {
    check(
        "gradient of conv_transpose2d",
        (conv_case(), 0usize..=2, any::<u64>()),
        |(([n, c, h, w], [o, _, kh, kw], p), extra, seed)| {
            let output_padding = [
                extra.min(p.stride[0].max(p.dilation[0]) - 1),
                extra.min(p.stride[1].max(p.dilation[1]) - 1),
            ];
            let params = ConvTranspose2dParams {
                stride: p.stride,
                padding: p.padding,
                output_padding,
                dilation: p.dilation,
            };
            let valid = params
                .output_shape(&Shape::new([n, c, h, w]), &Shape::new([c, o, kh, kw]))
                .is_ok();
            prop_assume!(valid);
            let x = setup(tensor(backend, &[n, c, h, w], Domain::Any, seed, 0))?;
            let wt = setup(tensor(backend, &[c, o, kh, kw], Domain::Any, seed, 1))?;
            orders_1_and_2(
                &|v| v[0].conv_transpose2d(&v[1], &params)?.square(),
                &[x, wt],
            )
        },
    );
}

/// Reshape, permute, broadcast, slice, concat, pad and flip, each followed by a nonlinearity
/// that mixes positions (so a misplaced gradient changes the result).
pub fn layout<B: Backend>(backend: &B) {
    check(
        "gradient of layout ops",
        (0usize..7, nonscalar_shape(), any::<u64>(), any::<u64>()),
        |(which, dims, choice, seed)| {
            let rank = dims.len();
            let axis = (choice % rank as u64) as usize;
            let x = setup(tensor(backend, &dims, Domain::Any, seed, 0))?;
            let weights = setup(tensor(backend, &dims, Domain::Any, seed, 1))?;
            let size = dims[axis];
            let f = move |v: &[T64<B>]| -> Result<T64<B>> {
                let x = v[0].mul(&weights)?;
                let y = match which {
                    0 => x.reshape([x.numel()])?,
                    1 => {
                        let mut axes: Vec<usize> = (0..rank).collect();
                        axes.rotate_left(axis);
                        x.permute(&axes)?
                    }
                    2 => x.broadcast_to([&[2usize][..], x.dims()].concat())?,
                    3 => {
                        let start = (choice as usize / 7) % size;
                        x.slice(axis, start, size - start)?
                    }
                    4 => Tensor::concat(&[&x, &x.sin()?], axis)?,
                    5 => {
                        let mut pads = vec![(0, 0); rank];
                        pads[axis] = (1, 2);
                        x.pad(&pads)?
                    }
                    _ => x.flip(&[axis])?,
                };
                y.sin()?.sum_all()
            };
            orders_1_and_2(&f, &[x])
        },
    );
}

/// The dot-product test <A x, y> = <x, A^T y> for conv2d / conv_transpose2d, matmul / its
/// transpose, broadcast / sum_to and pad / slice.
pub fn adjoints<B: Backend>(backend: &B) {
    check(
        "adjoint pairs",
        (conv_case(), (1usize..=5, 1usize..=5), any::<u64>()),
        |((x_dims, w_dims, params), (m, k), seed)| {
            let fail = |e: dualscore_core::Error| TestCaseError::fail(e.to_string());
            let rtol = 1e-12;
            // conv2d and conv_transpose2d.
            let out = setup(params.output_shape(&Shape::new(x_dims), &Shape::new(w_dims)))?;
            let w = setup(tensor(backend, &w_dims, Domain::Any, seed, 0))?;
            let x = setup(tensor(backend, &x_dims, Domain::Any, seed, 1))?;
            let y = setup(tensor(backend, out.dims(), Domain::Any, seed, 2))?;
            let mut output_padding = [0; 2];
            for (axis, op) in output_padding.iter_mut().enumerate() {
                *op = x_dims[2 + axis] + 2 * params.padding[axis]
                    - ((out.dims()[2 + axis] - 1) * params.stride[axis]
                        + params.dilation[axis] * (w_dims[2 + axis] - 1)
                        + 1);
            }
            let transposed = ConvTranspose2dParams {
                stride: params.stride,
                padding: params.padding,
                output_padding,
                dilation: params.dilation,
            };
            check_adjoint(
                &|x| x.conv2d(&w, &params),
                &|y| y.conv_transpose2d(&w, &transposed),
                &x,
                &y,
                rtol,
            )
            .map_err(fail)?;
            // matmul by A and by its transpose.
            let a = setup(tensor(backend, &[m, k], Domain::Any, seed, 3))?;
            let v = setup(tensor(backend, &[k, 2], Domain::Any, seed, 4))?;
            let u = setup(tensor(backend, &[m, 2], Domain::Any, seed, 5))?;
            check_adjoint(
                &|v| a.matmul(v),
                &|u| a.matmul_t(u, true, false),
                &v,
                &u,
                rtol,
            )
            .map_err(fail)?;
            // broadcast and its adjoint, the sum over the broadcast axes.
            let small = Shape::new([m, 1]);
            let big = Shape::new([3, m, k]);
            let s = setup(tensor(backend, small.dims(), Domain::Any, seed, 6))?;
            let b = setup(tensor(backend, big.dims(), Domain::Any, seed, 7))?;
            check_adjoint(
                &|s| s.broadcast_to(big.clone()),
                &|b| b.sum_to(&small),
                &s,
                &b,
                rtol,
            )
            .map_err(fail)?;
            // zero padding and its adjoint, the slice of the interior.
            let p = setup(tensor(backend, &[m + 3, k + 1], Domain::Any, seed, 8))?;
            let q = setup(tensor(backend, &[m, k], Domain::Any, seed, 9))?;
            check_adjoint(
                &|q| q.pad(&[(1, 2), (0, 1)]),
                &|p| p.slice(0, 1, m)?.slice(1, 0, k),
                &q,
                &p,
                rtol,
            )
            .map(|_| ())
            .map_err(fail)
        },
    );
}
