//! Large inputs: sizes that cross the partition boundaries of a parallel backend (blocks,
//! chunks, tiles, thread pieces), with the same checks as the small properties.
//!
//! The small properties keep shapes tiny so that thousands of cases run quickly and shrink to
//! readable counterexamples; a backend that splits work only above some size (a CPU backend's
//! chunks of 2^14 elements, a GPU's blocks) is exercised here, on tensors of up to
//! [`LARGE_NUMEL`](crate::strategies::LARGE_NUMEL) elements, matmuls of a few million products
//! and convolutions with many output pixels or long contractions. The data is drawn from a
//! printed seed.

use crate::conv::{conv_transpose2d_one, conv2d_one, conv2d_weight_grad_one};
use crate::elementwise::{binary_one, unary_one};
use crate::harness::check;
use crate::layout::{
    broadcast_to_one, concat_one, flip_one, pad_one, permute_one, slice_one, slice_range,
};
use crate::linalg::matmul_one;
use crate::reduce::reduce_one;
use crate::strategies::{
    Seeded, axis_subset, broadcast_pair_from, broadcast_target_from, large_conv_case,
    large_conv_transpose_case, large_dims, large_matmul_case, permutation, seeded_data,
};
use dualscore_core::backend::{BinaryOp, ReduceOp, UnaryOp};
use dualscore_core::{Backend, Float, Shape};
use proptest::collection::vec;
use proptest::prelude::*;

/// Every unary and binary op (with broadcasting) on large tensors.
pub fn large_elementwise<B: Backend, T: Float>(backend: &B) {
    let unary = (
        prop::sample::select(UnaryOp::ALL.to_vec()),
        large_dims(),
        seeded_data(),
    )
        .prop_map(|(op, dims, data)| (Some(op), None, Shape::new(dims), Shape::scalar(), data));
    let binary = (
        prop::sample::select(BinaryOp::ALL.to_vec()),
        broadcast_pair_from(large_dims()),
        seeded_data(),
    )
        .prop_map(|(op, (a, b), data)| (None, Some(op), a, b, data));
    check(
        &format!("large elementwise ({})", T::DTYPE),
        prop_oneof![unary, binary],
        |(unary, binary, a, b, data): (Option<UnaryOp>, Option<BinaryOp>, Shape, Shape, Seeded)| {
            let mut va = data.values(0, a.numel());
            match (unary, binary) {
                (Some(op), _) => {
                    if matches!(
                        op,
                        UnaryOp::Gelu | UnaryOp::GeluGrad | UnaryOp::Silu | UnaryOp::SiluGrad
                    ) {
                        // At -inf (and +inf for the derivatives) the contract's formulas give
                        // inf * 0; the value there is not part of the contract.
                        va.retain(|v| v.is_finite() || v.is_nan());
                    }
                    unary_one::<B, T>(backend, op, &va)
                }
                (_, Some(op)) => {
                    let vb = data.values(1, b.numel());
                    binary_one::<B, T>(backend, op, (a, va, b, vb))
                }
                _ => Ok(()),
            }
        },
    );
}

/// Every reduction over random axis subsets of large tensors: long reduced rows (split into
/// blocks and across threads), many short rows, reduced outer axes.
pub fn large_reduce<B: Backend, T: Float>(backend: &B) {
    let case = (
        prop::sample::select(ReduceOp::ALL.to_vec()),
        large_dims().prop_flat_map(|d| {
            let r = d.len();
            (Just(d), axis_subset(r))
        }),
        seeded_data(),
    );
    check(
        &format!("large reduce ({})", T::DTYPE),
        case,
        |(op, (dims, axes), data)| {
            let s = Shape::new(dims);
            let v = data.values(0, s.numel());
            reduce_one::<B, T>(backend, op, (s, v, axes))
        },
    );
}

/// A layout op on a large tensor.
#[derive(Clone, Debug)]
pub enum LargeLayout {
    /// `permute` by these axes.
    Permute(Vec<usize>),
    /// `concat` of parts with these sizes along the axis.
    Concat(usize, Vec<usize>),
    /// `slice` (axis, start, len).
    Slice(usize, usize, usize),
    /// `pad` by these pairs.
    Pad(Vec<(usize, usize)>),
    /// `flip` along these axes.
    Flip(Vec<usize>),
    /// `broadcast_to` from a source shape.
    BroadcastFrom(Shape),
}

fn large_layout_case() -> impl Strategy<Value = (Vec<usize>, LargeLayout)> {
    let permute = large_dims().prop_flat_map(|d| {
        let r = d.len();
        (Just(d), permutation(r).prop_map(LargeLayout::Permute))
    });
    let concat = large_dims().prop_flat_map(|d| {
        let r = d.len();
        (Just(d), 0..r).prop_flat_map(|(d, axis)| {
            let size = d[axis];
            (
                Just(d),
                vec(0..=size, 1..=2).prop_map(move |extra| LargeLayout::Concat(axis, extra)),
            )
        })
    });
    let slice = large_dims().prop_flat_map(|d| {
        let range = slice_range(&Shape::new(d.clone()));
        (
            Just(d),
            range.prop_map(|(a, s, l)| LargeLayout::Slice(a, s, l)),
        )
    });
    let pad = large_dims().prop_flat_map(|d| {
        let r = d.len();
        (
            Just(d),
            vec((0..=3usize, 0..=3usize), r).prop_map(LargeLayout::Pad),
        )
    });
    let flip = large_dims().prop_flat_map(|d| {
        let r = d.len();
        (Just(d), axis_subset(r).prop_map(LargeLayout::Flip))
    });
    let broadcast = broadcast_target_from(large_dims())
        .prop_map(|(s, t)| (t.dims().to_vec(), LargeLayout::BroadcastFrom(s)));
    prop_oneof![permute, concat, slice, pad, flip, broadcast]
}

/// Every layout op on large tensors, exactly.
pub fn large_layout<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("large layout ({})", T::DTYPE),
        (large_layout_case(), seeded_data()),
        |((dims, op), data)| {
            let s = Shape::new(dims);
            match op {
                LargeLayout::Permute(axes) => {
                    permute_one::<B, T>(backend, &s, &data.values(0, s.numel()), &axes)
                }
                LargeLayout::Concat(axis, extra) => {
                    let mut parts = vec![(s.clone(), data.values(0, s.numel()))];
                    for (i, n) in extra.into_iter().enumerate() {
                        let mut d = s.dims().to_vec();
                        d[axis] = n;
                        let p = Shape::new(d);
                        let v = data.values(1 + i as u64, p.numel());
                        parts.push((p, v));
                    }
                    concat_one::<B, T>(backend, &parts, axis)
                }
                LargeLayout::Slice(axis, start, len) => {
                    let v = data.values(0, s.numel());
                    slice_one::<B, T>(backend, &s, &v, axis, start, len)
                }
                LargeLayout::Pad(pads) => {
                    pad_one::<B, T>(backend, &s, &data.values(0, s.numel()), &pads)
                }
                LargeLayout::Flip(axes) => {
                    flip_one::<B, T>(backend, &s, &data.values(0, s.numel()), &axes)
                }
                LargeLayout::BroadcastFrom(source) => {
                    let v = data.values(0, source.numel());
                    broadcast_to_one::<B, T>(backend, &source, &s, &v)
                }
            }
        },
    );
}

/// Matmuls of up to a few million products (row-block and column-block splits, batches).
pub fn large_matmul<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("large matmul ({})", T::DTYPE),
        large_matmul_case(),
        |case| matmul_one::<B, T>(backend, &case),
    );
}

/// conv2d and its weight gradient with many output pixels or a long contraction (a weight
/// gradient's shape), and conv_transpose2d on larger inputs, strides 1 to 3.
pub fn large_conv<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("large conv ({})", T::DTYPE),
        prop_oneof![
            large_conv_case().prop_map(|c| (Some(c), None)),
            large_conv_transpose_case().prop_map(|c| (None, Some(c))),
        ],
        |(conv, convt)| {
            if let Some(c) = conv {
                conv2d_one::<B, T>(backend, &c)?;
                conv2d_weight_grad_one::<B, T>(backend, &c)?;
            }
            if let Some(c) = convt {
                conv_transpose2d_one::<B, T>(backend, &c)?;
            }
            Ok(())
        },
    );
}
