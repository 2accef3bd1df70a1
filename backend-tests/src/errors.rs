//! Invalid inputs give errors, never panics, and the same error variant as the oracle.
//!
//! Each property draws one kind of invalid call per case (a mismatched or malformed shape, a bad
//! parameter, a buffer whose length does not match its shape, ...) and checks that the backend
//! and the oracle both return `Err` without panicking, with the same [`Error`] variant; where the
//! shared rules of [`dualscore_core::backend::ops`] decide the variant, it must be theirs. Unary
//! ops, fills, uploads, casts and random numbers take no shape and have no invalid input.

use crate::harness::{OracleBuf, check, no_panic, oracle, same_variant, variant_name};
use crate::strategies::{
    broadcast_pair, conv_case, conv_transpose_case, matmul_case, nonempty_shape, shape,
};
use dualscore_core::backend::{
    BinaryOp, Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp, concat_shape, pad_shape,
    slice_shape,
};
use dualscore_core::{Backend, Error, Float, Result, Shape};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestCaseResult};
use std::fmt::Debug;

/// Checks that both the backend (`dev`) and the oracle (`ora`) refuse a call, without
/// panicking, with the same error variant, and with the variant of `expected` where the shared
/// rules give one.
pub fn refused<R1, R2>(
    what: &str,
    expected: Option<Error>,
    dev: impl FnOnce() -> Result<R1>,
    ora: impl FnOnce() -> Result<R2>,
) -> TestCaseResult {
    let ours = no_panic(&format!("oracle {what} (invalid input)"), ora)?;
    let theirs = no_panic(&format!("{what} (invalid input)"), dev)?;
    let ours = match ours {
        Err(e) => e,
        Ok(_) => {
            return Err(TestCaseError::fail(format!(
                "oracle {what}: accepted an invalid input (expected {})",
                expected.as_ref().map_or("an error", variant_name)
            )));
        }
    };
    if let Some(rule) = &expected {
        if !same_variant(&ours, rule) {
            return Err(TestCaseError::fail(format!(
                "oracle {what}: gave {} ({ours}) where the shared rule gives {} ({rule})",
                variant_name(&ours),
                variant_name(rule)
            )));
        }
    }
    match theirs {
        Ok(_) => Err(TestCaseError::fail(format!(
            "{what}: accepted an invalid input; the oracle says {} ({ours})",
            variant_name(&ours)
        ))),
        Err(e) if same_variant(&e, &ours) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!(
            "{what}: gave {} ({e}) where the oracle gives {} ({ours})",
            variant_name(&e),
            variant_name(&ours)
        ))),
    }
}

/// The error the shared rule `rule` returns; a failure if it accepts (the case generator is
/// wrong).
fn rule_error<R: Debug>(what: &str, rule: Result<R>) -> std::result::Result<Error, TestCaseError> {
    match rule {
        Err(e) => Ok(e),
        Ok(r) => Err(TestCaseError::fail(format!(
            "bad case for {what}: the shared rule accepts it ({r:?})"
        ))),
    }
}

/// A length that differs from `len`: one less (when possible), one or a few more.
fn wrong_len(len: usize) -> impl Strategy<Value = usize> {
    let smaller = if len > 0 { vec![len - 1] } else { vec![] };
    let mut options = smaller;
    options.extend([len + 1, len + 3]);
    if len > 1 {
        options.push(0);
    }
    prop::sample::select(options)
}

fn storage_error(op: &'static str, expected: usize, actual: usize) -> Error {
    Error::StorageLength {
        op,
        expected,
        actual,
    }
}

/// Uploads `len` zeros to the backend and to the oracle.
fn buffers<B: Backend, T: Float>(
    backend: &B,
    len: usize,
) -> std::result::Result<(B::Storage<T>, OracleBuf), TestCaseError> {
    let dev = no_panic("upload", || backend.upload(&vec![T::zero(); len]))?
        .map_err(|e| TestCaseError::fail(format!("upload: {e}")))?;
    let ora = vec![0.0; len];
    let ora = oracle()
        .upload(&ora)
        .map_err(|e| TestCaseError::fail(format!("oracle upload: {e}")))?;
    Ok((dev, ora))
}

// ---- binary -------------------------------------------------------------------------------

/// Two shapes that do not broadcast: aligned from the right, one axis has sizes `a >= 2` and
/// `a + k`.
fn mismatched_pair() -> impl Strategy<Value = (Shape, Shape)> {
    (
        vec(1..=4usize, 1..=4),
        0..4usize,
        1..=2usize,
        0..=2usize,
        any::<bool>(),
    )
        .prop_map(|(dims, axis, k, extra, swap)| {
            let mut a = dims.clone();
            let axis = axis % a.len();
            a[axis] = a[axis].max(2);
            let mut b = a.clone();
            b[axis] = a[axis] + k;
            // Leading axes only `b` has.
            let mut lead: Vec<usize> = (0..extra).map(|i| i + 1).collect();
            lead.extend(b);
            let (a, b) = (Shape::new(a), Shape::new(lead));
            if swap { (b, a) } else { (a, b) }
        })
}

#[derive(Clone, Debug)]
enum BinaryCase {
    Shapes(Shape, Shape),
    LhsLen(Shape, Shape, usize),
    RhsLen(Shape, Shape, usize),
}

fn binary_error_case() -> impl Strategy<Value = (BinaryOp, BinaryCase)> {
    let op = prop::sample::select(BinaryOp::ALL.to_vec());
    let case = prop_oneof![
        mismatched_pair().prop_map(|(a, b)| BinaryCase::Shapes(a, b)),
        broadcast_pair().prop_flat_map(|(a, b)| {
            let n = a.numel();
            (Just(a), Just(b), wrong_len(n)).prop_map(|(a, b, l)| BinaryCase::LhsLen(a, b, l))
        }),
        broadcast_pair().prop_flat_map(|(a, b)| {
            let n = b.numel();
            (Just(a), Just(b), wrong_len(n)).prop_map(|(a, b, l)| BinaryCase::RhsLen(a, b, l))
        }),
    ];
    (op, case)
}

/// `binary` refuses shapes that do not broadcast and buffers that do not match their shapes.
pub fn binary_errors<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("binary errors ({})", T::DTYPE),
        binary_error_case(),
        |(op, case)| {
            let (sa, sb, la, lb, expected) = match case {
                BinaryCase::Shapes(a, b) => {
                    let e = rule_error("binary", Shape::broadcast("binary", &a, &b))?;
                    let (na, nb) = (a.numel(), b.numel());
                    (a, b, na, nb, e)
                }
                BinaryCase::LhsLen(a, b, l) => {
                    let (na, nb) = (a.numel(), b.numel());
                    (a, b, l, nb, storage_error("binary", na, l))
                }
                BinaryCase::RhsLen(a, b, l) => {
                    let (na, nb) = (a.numel(), b.numel());
                    (a, b, na, l, storage_error("binary", nb, l))
                }
            };
            let what = format!(
                "binary {} of {sa} ({la} elements) and {sb} ({lb} elements) ({})",
                op.name(),
                T::DTYPE
            );
            let (da, oa) = buffers::<B, T>(backend, la)?;
            let (db, ob) = buffers::<B, T>(backend, lb)?;
            refused(
                &what,
                Some(expected),
                || backend.binary(op, &da, &sa, &db, &sb),
                || oracle().binary(op, &oa, &sa, &ob, &sb),
            )
        },
    );
}

// ---- reduce and broadcast_to ------------------------------------------------------------------

fn reduce_error_case() -> impl Strategy<Value = (ReduceOp, Shape, Vec<usize>, Option<usize>)> {
    let op = prop::sample::select(ReduceOp::ALL.to_vec());
    // An axis out of range.
    let out_of_range = shape(4, 4).prop_flat_map(|s| {
        let r = s.rank();
        (Just(s), vec(0..r.max(1), 0..=r.min(2)), r..r + 3).prop_map(move |(s, mut axes, bad)| {
            axes.retain(|&a| a < r);
            axes.dedup();
            axes.push(bad);
            (s, axes, None)
        })
    });
    // An axis named twice.
    let repeated = nonempty_shape(1, 4, 4).prop_flat_map(|s| {
        let r = s.rank();
        (Just(s), 0..r).prop_map(|(s, a)| (s, vec![a, a], None))
    });
    // A buffer whose length does not match.
    let length = shape(4, 4).prop_flat_map(|s| {
        let (n, r) = (s.numel(), s.rank());
        (Just(s), wrong_len(n), 0..=r).prop_map(|(s, l, k)| {
            let axes = (0..k).collect();
            (s, axes, Some(l))
        })
    });
    let case = prop_oneof![out_of_range, repeated, length];
    (op, case).prop_map(|(op, (s, axes, len))| (op, s, axes, len))
}

fn empty_max_case() -> impl Strategy<Value = (ReduceOp, Shape, Vec<usize>, Option<usize>)> {
    (
        prop::sample::select(vec![ReduceOp::Max, ReduceOp::Min]),
        vec(0..=3usize, 1..=4),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(op, mut dims, i)| {
            let axis = i.index(dims.len());
            dims[axis] = 0;
            (op, Shape::new(dims), vec![axis], None)
        })
}

/// `reduce` refuses axes out of range, axes named twice, Max / Min of an empty axis and buffers
/// that do not match their shapes.
pub fn reduce_errors<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("reduce errors ({})", T::DTYPE),
        prop_oneof![3 => reduce_error_case(), 1 => empty_max_case()],
        |(op, s, axes, len)| {
            let n = s.numel();
            let expected = match len {
                Some(l) => storage_error("reduce", n, l),
                None => rule_error("reduce", op.output_shape(&s, &axes))?,
            };
            let len = len.unwrap_or(n);
            let what = format!(
                "reduce {} of {s} ({len} elements) over {axes:?} ({})",
                op.name(),
                T::DTYPE
            );
            let (d, o) = buffers::<B, T>(backend, len)?;
            refused(
                &what,
                Some(expected),
                || backend.reduce(op, &d, &s, &axes),
                || oracle().reduce(op, &o, &s, &axes),
            )
        },
    );
}

/// `center_with_variance` refuses axes out of range, axes named twice and buffers that do not
/// match their shapes (the cases of [`reduce_errors`] that do not depend on the op).
pub fn center_with_variance_errors<B: Backend, T: Float>(backend: &B) {
    const OP: &str = "center_with_variance";
    check(
        &format!("center_with_variance errors ({})", T::DTYPE),
        reduce_error_case(),
        |(_, s, axes, len)| {
            let n = s.numel();
            let expected = match len {
                Some(l) => storage_error(OP, n, l),
                None => rule_error(OP, s.reduced(OP, &axes))?,
            };
            let len = len.unwrap_or(n);
            let what = format!("{OP} of {s} ({len} elements) over {axes:?} ({})", T::DTYPE);
            let (d, o) = buffers::<B, T>(backend, len)?;
            refused(
                &what,
                Some(expected),
                || backend.center_with_variance(&d, &s, &axes),
                || oracle().center_with_variance(&o, &s, &axes),
            )
        },
    );
}

/// `broadcast_to` refuses targets the shape does not broadcast to (a mismatched axis, or a
/// target of lower rank) and buffers that do not match their shapes.
pub fn broadcast_to_errors<B: Backend, T: Float>(backend: &B) {
    let mismatched = mismatched_pair().prop_map(|(a, b)| (a, b, None));
    let lower_rank = (nonempty_shape(0, 3, 4), 2..=4usize).prop_map(|(t, lead)| {
        let mut dims = vec![lead];
        dims.extend(t.dims());
        (Shape::new(dims), t, None)
    });
    let length = crate::strategies::broadcast_target().prop_flat_map(|(s, t)| {
        let n = s.numel();
        (Just(s), Just(t), wrong_len(n).prop_map(Some))
    });
    check(
        &format!("broadcast_to errors ({})", T::DTYPE),
        prop_oneof![mismatched, lower_rank, length],
        |(s, t, len)| {
            if len.is_none() && s.broadcasts_to(&t) {
                // `mismatched_pair` may put the larger axis in the source: still invalid, but
                // check the generator's claim.
                return Err(TestCaseError::fail(format!(
                    "bad case: {s} broadcasts to {t}"
                )));
            }
            let n = s.numel();
            let expected = len.map(|l| storage_error("broadcast_to", n, l));
            let len = len.unwrap_or(n);
            let what = format!("broadcast_to {s} ({len} elements) -> {t} ({})", T::DTYPE);
            let (d, o) = buffers::<B, T>(backend, len)?;
            refused(
                &what,
                expected,
                || backend.broadcast_to(&d, &s, &t),
                || oracle().broadcast_to(&o, &s, &t),
            )
        },
    );
}

// ---- matmul -------------------------------------------------------------------------------

/// `matmul` refuses operands whose lengths do not match the spec.
pub fn matmul_errors<B: Backend, T: Float>(backend: &B) {
    let case = (matmul_case(), any::<bool>()).prop_flat_map(|(c, lhs)| {
        let spec = c.spec;
        let n = if lhs { spec.lhs_len() } else { spec.rhs_len() };
        (Just(spec), Just(lhs), wrong_len(n))
    });
    check(
        &format!("matmul errors ({})", T::DTYPE),
        case,
        |(spec, lhs, len): (MatmulSpec, bool, usize)| {
            let (ll, rl) = if lhs {
                (len, spec.rhs_len())
            } else {
                (spec.lhs_len(), len)
            };
            let expected = rule_error("matmul", spec.check(ll, rl))?;
            let what = format!("matmul {spec:?} with {ll} and {rl} elements ({})", T::DTYPE);
            let (dl, ol) = buffers::<B, T>(backend, ll)?;
            let (dr, or) = buffers::<B, T>(backend, rl)?;
            refused(
                &what,
                Some(expected),
                || backend.matmul(&dl, &dr, &spec),
                || oracle().matmul(&ol, &or, &spec),
            )
        },
    );
}

// ---- convolutions -------------------------------------------------------------------------

/// One way to spoil a valid convolution case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvFault {
    /// The input is not of rank 4 (an axis dropped or added).
    InputRank,
    /// The weight is not of rank 4.
    WeightRank,
    /// The weight's input channels differ from the input's channels.
    Channels,
    /// A stride of 0.
    ZeroStride,
    /// A dilation of 0.
    ZeroDilation,
    /// An empty kernel axis.
    EmptyKernel,
    /// conv2d: an input smaller than the dilated kernel; conv_transpose2d: padding that removes
    /// the whole output.
    TooSmall,
    /// conv_transpose2d: an output padding not below the stride nor the dilation (conv2d: a
    /// stride of 0 along the other axis).
    OutputPadding,
    /// An empty spatial input axis (for conv2d, without padding).
    EmptyInput,
    /// Absurd parameters (conv2d: a padding, conv_transpose2d: a stride near `usize::MAX / 2`)
    /// whose output size overflows: an error, not an overflow panic.
    Huge,
    /// The input buffer does not match its shape.
    InputLen,
    /// The weight buffer does not match its shape.
    WeightLen,
}

fn conv_fault() -> impl Strategy<Value = ConvFault> {
    prop::sample::select(vec![
        ConvFault::InputRank,
        ConvFault::WeightRank,
        ConvFault::Channels,
        ConvFault::ZeroStride,
        ConvFault::ZeroDilation,
        ConvFault::EmptyKernel,
        ConvFault::TooSmall,
        ConvFault::OutputPadding,
        ConvFault::EmptyInput,
        ConvFault::Huge,
        ConvFault::InputLen,
        ConvFault::WeightLen,
    ])
}

/// Changes the rank of a 4-D shape: drops its first axis or adds a leading one.
fn rerank(s: &Shape, grow: bool) -> Shape {
    let d = s.dims();
    if grow {
        let mut v = vec![2];
        v.extend(d);
        Shape::new(v)
    } else {
        Shape::new(d[1..].to_vec())
    }
}

/// A spoiled conv2d call: input shape, weight shape, params, buffer lengths.
#[derive(Clone, Debug)]
struct BadConv {
    fault: ConvFault,
    input: Shape,
    weight: Shape,
    params: Conv2dParams,
    input_len: usize,
    weight_len: usize,
}

fn bad_conv() -> impl Strategy<Value = BadConv> {
    (conv_case(), conv_fault(), 0..2usize, 1..=3usize, 0..=2usize).prop_map(
        |(c, fault, axis, k, delta)| {
            let (mut x, mut w, mut p) =
                (c.input.dims().to_vec(), c.weight.dims().to_vec(), c.params);
            let (mut xr, mut wr) = (None, None);
            let (mut xl, mut wl) = (None, None);
            match fault {
                ConvFault::InputRank => xr = Some(rerank(&c.input, delta % 2 == 0)),
                ConvFault::WeightRank => wr = Some(rerank(&c.weight, delta % 2 == 0)),
                ConvFault::Channels => w[1] = x[1] + k,
                ConvFault::ZeroStride => p.stride[axis] = 0,
                ConvFault::OutputPadding => p.stride[1 - axis] = 0,
                ConvFault::ZeroDilation => p.dilation[axis] = 0,
                ConvFault::EmptyKernel => w[2 + axis] = 0,
                ConvFault::TooSmall => {
                    w[2 + axis] = w[2 + axis].max(2);
                    p.padding[axis] = 0;
                    let span = p.dilation[axis] * (w[2 + axis] - 1) + 1;
                    x[2 + axis] = span - 1 - (delta % span);
                }
                ConvFault::EmptyInput => {
                    x[2 + axis] = 0;
                    p.padding[axis] = 0;
                }
                ConvFault::Huge => {
                    // A padding so large that H + 2 p overflows.
                    p.padding[axis] = usize::MAX / 2 - delta;
                    x[2 + axis] = x[2 + axis].max(2 + 2 * delta);
                }
                ConvFault::InputLen => xl = Some(delta),
                ConvFault::WeightLen => wl = Some(delta),
            }
            let input = xr.unwrap_or_else(|| Shape::new(x));
            let weight = wr.unwrap_or_else(|| Shape::new(w));
            let (xn, wn) = (input.numel(), weight.numel());
            // A wrong length: one more, or fewer (delta picks which).
            let off = |n: usize, d: usize| if d == 0 || n == 0 { n + 1 + d } else { n - 1 };
            BadConv {
                fault,
                input_len: xl.map_or(xn, |d| off(xn, d)),
                weight_len: wl.map_or(wn, |d| off(wn, d)),
                input,
                weight,
                params: p,
            }
        },
    )
}

/// `conv2d` refuses inputs or weights of the wrong rank, mismatched channels, zero strides and
/// dilations, empty kernels, inputs smaller than the dilated kernel, absurd (overflowing)
/// padding and dilation, and buffers that do not match their shapes.
pub fn conv2d_errors<B: Backend, T: Float>(backend: &B) {
    check(&format!("conv2d errors ({})", T::DTYPE), bad_conv(), |c| {
        let expected = match c.fault {
            ConvFault::InputLen => storage_error("conv2d", c.input.numel(), c.input_len),
            ConvFault::WeightLen => storage_error("conv2d", c.weight.numel(), c.weight_len),
            _ => rule_error("conv2d", c.params.output_shape(&c.input, &c.weight))?,
        };
        let what = format!(
            "conv2d ({:?}) {} ({} elements) * {} ({} elements) {:?} ({})",
            c.fault,
            c.input,
            c.input_len,
            c.weight,
            c.weight_len,
            c.params,
            T::DTYPE
        );
        let (dx, ox) = buffers::<B, T>(backend, c.input_len)?;
        let (dw, ow) = buffers::<B, T>(backend, c.weight_len)?;
        refused(
            &what,
            Some(expected),
            || backend.conv2d(&dx, &c.input, &dw, &c.weight, &c.params),
            || oracle().conv2d(&ox, &c.input, &ow, &c.weight, &c.params),
        )
    });
}

/// A spoiled conv_transpose2d call.
#[derive(Clone, Debug)]
struct BadConvTranspose {
    fault: ConvFault,
    input: Shape,
    weight: Shape,
    params: ConvTranspose2dParams,
    input_len: usize,
    weight_len: usize,
}

fn bad_conv_transpose() -> impl Strategy<Value = BadConvTranspose> {
    (
        conv_transpose_case(),
        conv_fault(),
        0..2usize,
        1..=3usize,
        0..=2usize,
    )
        .prop_map(|(c, fault, axis, k, delta)| {
            let (mut x, mut w, mut p) =
                (c.input.dims().to_vec(), c.weight.dims().to_vec(), c.params);
            let (mut xr, mut wr) = (None, None);
            let (mut xl, mut wl) = (None, None);
            match fault {
                ConvFault::InputRank => xr = Some(rerank(&c.input, delta % 2 == 0)),
                ConvFault::WeightRank => wr = Some(rerank(&c.weight, delta % 2 == 0)),
                ConvFault::Channels => w[0] = x[1] + k,
                ConvFault::ZeroStride => p.stride[axis] = 0,
                ConvFault::ZeroDilation => p.dilation[axis] = 0,
                ConvFault::EmptyKernel => w[2 + axis] = 0,
                ConvFault::TooSmall => {
                    let full = (x[2 + axis] - 1) * p.stride[axis]
                        + p.dilation[axis] * (w[2 + axis] - 1)
                        + p.output_padding[axis]
                        + 1;
                    p.padding[axis] = full.div_ceil(2) + delta;
                }
                ConvFault::OutputPadding => {
                    p.output_padding[axis] = p.stride[axis].max(p.dilation[axis]) + delta;
                }
                ConvFault::EmptyInput => x[2 + axis] = 0,
                ConvFault::Huge => {
                    // A stride so large that (H - 1) * stride overflows.
                    x[2 + axis] = x[2 + axis].max(4);
                    p.stride[axis] = usize::MAX / 2 - delta;
                    p.output_padding[axis] = 0;
                }
                ConvFault::InputLen => xl = Some(delta),
                ConvFault::WeightLen => wl = Some(delta),
            }
            let input = xr.unwrap_or_else(|| Shape::new(x));
            let weight = wr.unwrap_or_else(|| Shape::new(w));
            let (xn, wn) = (input.numel(), weight.numel());
            let off = |n: usize, d: usize| if d == 0 || n == 0 { n + 1 + d } else { n - 1 };
            BadConvTranspose {
                fault,
                input_len: xl.map_or(xn, |d| off(xn, d)),
                weight_len: wl.map_or(wn, |d| off(wn, d)),
                input,
                weight,
                params: p,
            }
        })
}

/// `conv_transpose2d` refuses inputs or weights of the wrong rank, mismatched channels, zero
/// strides and dilations, empty kernels, output padding not below the stride nor the dilation,
/// padding that removes the whole output, empty spatial inputs, absurd (overflowing) strides, and
/// buffers that do not match their shapes.
pub fn conv_transpose2d_errors<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("conv_transpose2d errors ({})", T::DTYPE),
        bad_conv_transpose(),
        |c| {
            let expected = match c.fault {
                ConvFault::InputLen => {
                    storage_error("conv_transpose2d", c.input.numel(), c.input_len)
                }
                ConvFault::WeightLen => {
                    storage_error("conv_transpose2d", c.weight.numel(), c.weight_len)
                }
                _ => rule_error(
                    "conv_transpose2d",
                    c.params.output_shape(&c.input, &c.weight),
                )?,
            };
            let what = format!(
                "conv_transpose2d ({:?}) {} ({} elements) * {} ({} elements) {:?} ({})",
                c.fault,
                c.input,
                c.input_len,
                c.weight,
                c.weight_len,
                c.params,
                T::DTYPE
            );
            let (dx, ox) = buffers::<B, T>(backend, c.input_len)?;
            let (dw, ow) = buffers::<B, T>(backend, c.weight_len)?;
            refused(
                &what,
                Some(expected),
                || backend.conv_transpose2d(&dx, &c.input, &dw, &c.weight, &c.params),
                || oracle().conv_transpose2d(&ox, &c.input, &ow, &c.weight, &c.params),
            )
        },
    );
}

// ---- layout -------------------------------------------------------------------------------

/// `permute` refuses axis lists of the wrong length, with a repeated or out-of-range axis, and
/// buffers that do not match their shapes.
pub fn permute_errors<B: Backend, T: Float>(backend: &B) {
    let bad_axes = shape(4, 3).prop_flat_map(|s| {
        let r = s.rank();
        (Just(s), vec(0..r + 2, 0..=r + 1)).prop_map(|(s, axes)| (s, axes, None))
    });
    let length = shape(4, 3).prop_flat_map(|s| {
        let (n, r) = (s.numel(), s.rank());
        (
            Just(s),
            crate::strategies::permutation(r),
            wrong_len(n).prop_map(Some),
        )
    });
    let case = prop_oneof![bad_axes, length].prop_filter(
        "a valid permutation with a matching buffer",
        |(s, axes, len)| len.is_some() || s.permuted("permute", axes).is_err(),
    );
    check(
        &format!("permute errors ({})", T::DTYPE),
        case,
        |(s, axes, len)| {
            let n = s.numel();
            let expected = match len {
                Some(l) => storage_error("permute", n, l),
                None => rule_error("permute", s.permuted("permute", &axes))?,
            };
            let len = len.unwrap_or(n);
            let what = format!("permute {s} ({len} elements) by {axes:?} ({})", T::DTYPE);
            let (d, o) = buffers::<B, T>(backend, len)?;
            refused(
                &what,
                Some(expected),
                || backend.permute(&d, &s, &axes),
                || oracle().permute(&o, &s, &axes),
            )
        },
    );
}

/// One way to spoil a concatenation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConcatFault {
    NoParts,
    AxisOutOfRange,
    RankMismatch,
    DimMismatch,
    PartLen,
}

/// `concat` refuses an empty list of parts, an axis out of range, parts of different ranks or
/// that differ off the axis, and buffers that do not match their shapes.
pub fn concat_errors<B: Backend, T: Float>(backend: &B) {
    let case = (
        vec(1..=3usize, 1..=4),
        vec(0..=3usize, 1..=3),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        prop::sample::select(vec![
            ConcatFault::NoParts,
            ConcatFault::AxisOutOfRange,
            ConcatFault::RankMismatch,
            ConcatFault::DimMismatch,
            ConcatFault::PartLen,
        ]),
        0..=2usize,
    )
        .prop_map(|(base, sizes, axis, victim, fault, delta)| {
            let axis = axis.index(base.len());
            let mut shapes: Vec<Shape> = sizes
                .iter()
                .map(|&n| {
                    let mut d = base.clone();
                    d[axis] = n;
                    Shape::new(d)
                })
                .collect();
            let mut lens: Vec<usize> = shapes.iter().map(Shape::numel).collect();
            let v = victim.index(shapes.len());
            let mut axis_used = axis;
            match fault {
                ConcatFault::NoParts => {
                    shapes.clear();
                    lens.clear();
                }
                ConcatFault::AxisOutOfRange => axis_used = base.len() + delta,
                ConcatFault::RankMismatch => {
                    let mut d = shapes[v].dims().to_vec();
                    d.push(1 + delta);
                    shapes[v] = Shape::new(d);
                    lens[v] = shapes[v].numel();
                    if shapes.len() == 1 {
                        shapes.push(Shape::new(base.clone()));
                        lens.push(shapes[1].numel());
                    }
                }
                ConcatFault::DimMismatch => {
                    // Grow an axis other than `axis` in one part (adding a second part when
                    // there is only one). Rank-1 parts have no other axis: use an axis out of
                    // range instead.
                    if base.len() > 1 {
                        let other = (axis + 1) % base.len();
                        let mut d = shapes[v].dims().to_vec();
                        d[other] += 1 + delta;
                        shapes[v] = Shape::new(d);
                        lens[v] = shapes[v].numel();
                        if shapes.len() == 1 {
                            shapes.push(Shape::new(base.clone()));
                            lens.push(shapes[1].numel());
                        }
                    } else {
                        axis_used = 1 + delta;
                    }
                }
                ConcatFault::PartLen => {
                    lens[v] = if lens[v] > 0 && delta == 0 {
                        lens[v] - 1
                    } else {
                        lens[v] + 1 + delta
                    };
                }
            }
            (fault, shapes, lens, axis_used)
        });
    check(
        &format!("concat errors ({})", T::DTYPE),
        case,
        |(fault, shapes, lens, axis)| {
            let refs: Vec<&Shape> = shapes.iter().collect();
            let expected = match shapes.iter().zip(&lens).find(|(s, l)| s.numel() != **l) {
                Some((s, &l)) if fault == ConcatFault::PartLen => {
                    storage_error("concat", s.numel(), l)
                }
                _ => rule_error("concat", concat_shape(&refs, axis))?,
            };
            let what = format!(
                "concat ({fault:?}) of {shapes:?} with {lens:?} elements along {axis} ({})",
                T::DTYPE
            );
            let bufs = lens
                .iter()
                .map(|&l| buffers::<B, T>(backend, l))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let dev: Vec<_> = bufs.iter().zip(&shapes).map(|((d, _), s)| (d, s)).collect();
            let ora: Vec<_> = bufs.iter().zip(&shapes).map(|((_, o), s)| (o, s)).collect();
            refused(
                &what,
                Some(expected),
                || backend.concat(&dev, axis),
                || oracle().concat(&ora, axis),
            )
        },
    );
}

/// `slice` refuses an axis out of range, a range past the end of the axis (including one whose
/// end overflows) and buffers that do not match their shapes.
pub fn slice_errors<B: Backend, T: Float>(backend: &B) {
    let case = (
        shape(4, 4),
        0..6usize,
        0..=6usize,
        1..=3usize,
        prop_oneof![
            Just(0u8), // axis out of range
            Just(1u8), // range past the end
            Just(2u8), // overflowing end
            Just(3u8), // buffer length
        ],
        0..=2usize,
    )
        .prop_map(|(s, axis, start, over, fault, delta)| {
            let r = s.rank();
            let n = s.numel();
            match fault {
                0 => (s, r + axis % 3, 0, 0, None),
                1 if r > 0 => {
                    let a = axis % r;
                    let size = s.dims()[a];
                    let start = start.min(size);
                    (s, a, start, size - start + over, None)
                }
                2 if r > 0 => (s, axis % r, usize::MAX - delta, 1 + over, None),
                _ => {
                    let l = if n > 0 && delta == 0 {
                        n - 1
                    } else {
                        n + 1 + delta
                    };
                    (s, 0, 0, 0, Some(l))
                }
            }
        })
        .prop_filter(
            "a valid slice with a matching buffer",
            |(s, axis, start, len, l)| l.is_some() || slice_shape(s, *axis, *start, *len).is_err(),
        );
    check(
        &format!("slice errors ({})", T::DTYPE),
        case,
        |(s, axis, start, len, l)| {
            let n = s.numel();
            let expected = match l {
                Some(l) => storage_error("slice", n, l),
                None => rule_error("slice", slice_shape(&s, axis, start, len))?,
            };
            let buf_len = l.unwrap_or(n);
            let what = format!(
                "slice {s} ({buf_len} elements) axis {axis} from {start} for {len} ({})",
                T::DTYPE
            );
            let (d, o) = buffers::<B, T>(backend, buf_len)?;
            refused(
                &what,
                Some(expected),
                || backend.slice(&d, &s, axis, start, len),
                || oracle().slice(&o, &s, axis, start, len),
            )
        },
    );
}

/// `pad` refuses a number of `(before, after)` pairs that differs from the rank, padding whose
/// sizes overflow, and buffers that do not match their shapes.
pub fn pad_errors<B: Backend, T: Float>(backend: &B) {
    let case = (
        shape(4, 4),
        0..=2usize,
        vec((0..=2usize, 0..=2usize), 0..=6),
        any::<bool>(),
        0..3u8,
    )
        .prop_map(|(s, delta, mut pads, before, fault)| {
            let r = s.rank();
            let n = s.numel();
            match fault {
                0 => {
                    // A wrong number of pairs.
                    if pads.len() == r {
                        pads.push((0, 0));
                    }
                    (s, pads, None)
                }
                1 if r > 0 => {
                    // Sizes that overflow usize.
                    pads.resize(r, (0, 0));
                    pads[delta % r] = if before {
                        (usize::MAX - delta, 3 + delta)
                    } else {
                        (1, usize::MAX)
                    };
                    (s, pads, None)
                }
                _ => {
                    pads.resize(r, (1, 0));
                    let l = if n > 0 && delta == 0 {
                        n - 1
                    } else {
                        n + 1 + delta
                    };
                    (s, pads, Some(l))
                }
            }
        });
    check(
        &format!("pad errors ({})", T::DTYPE),
        case,
        |(s, pads, l)| {
            let n = s.numel();
            let expected = match l {
                Some(l) => storage_error("pad", n, l),
                None => rule_error("pad", pad_shape(&s, &pads))?,
            };
            let buf_len = l.unwrap_or(n);
            let what = format!("pad {s} ({buf_len} elements) by {pads:?} ({})", T::DTYPE);
            let (d, o) = buffers::<B, T>(backend, buf_len)?;
            refused(
                &what,
                Some(expected),
                || backend.pad(&d, &s, &pads),
                || oracle().pad(&o, &s, &pads),
            )
        },
    );
}

/// `flip` refuses an axis out of range, an axis named twice and buffers that do not match their
/// shapes.
pub fn flip_errors<B: Backend, T: Float>(backend: &B) {
    let case = (shape(4, 4), vec(0..6usize, 0..=3), 0..3u8, 0..=2usize).prop_map(
        |(s, mut axes, fault, delta)| {
            let r = s.rank();
            let n = s.numel();
            axes.retain(|&a| a < r);
            axes.sort_unstable();
            axes.dedup();
            match fault {
                0 => {
                    axes.push(r + delta);
                    (s, axes, None)
                }
                1 if r > 0 => {
                    axes.push(delta % r);
                    axes.push(delta % r);
                    (s, axes, None)
                }
                _ => {
                    let l = if n > 0 && delta == 0 {
                        n - 1
                    } else {
                        n + 1 + delta
                    };
                    (s, axes, Some(l))
                }
            }
        },
    );
    check(
        &format!("flip errors ({})", T::DTYPE),
        case,
        |(s, axes, l)| {
            let n = s.numel();
            let expected = match l {
                Some(l) => storage_error("flip", n, l),
                None => rule_error("flip", s.check_axes("flip", &axes))?,
            };
            let buf_len = l.unwrap_or(n);
            let what = format!(
                "flip {s} ({buf_len} elements) along {axes:?} ({})",
                T::DTYPE
            );
            let (d, o) = buffers::<B, T>(backend, buf_len)?;
            refused(
                &what,
                Some(expected),
                || backend.flip(&d, &s, &axes),
                || oracle().flip(&o, &s, &axes),
            )
        },
    );
}

/// `conv2d_weight_grad` refuses an output gradient of the wrong rank, with another number of
/// images, larger than the convolution's output or without pixels, an empty kernel, a zero
/// stride, and buffers that do not match their shapes.
pub fn conv2d_weight_grad_errors<B: Backend, T: Float>(backend: &B) {
    const OP: &str = "conv2d weight gradient";
    check(
        &format!("conv2d_weight_grad errors ({})", T::DTYPE),
        (conv_case(), 0..8usize, 0..2usize),
        |(c, fault, axis)| {
            let out = c
                .params
                .output_shape(&c.input, &c.weight)
                .map_err(|e| TestCaseError::fail(format!("bad case: {e}")))?;
            let (mut g, mut kernel, mut p) = (
                out.dims().to_vec(),
                [c.weight.dims()[2], c.weight.dims()[3]],
                c.params,
            );
            let (mut input_len, mut grad_len) = (c.input.numel(), None);
            match fault {
                0 => g.push(1),
                1 => g[0] += 1,
                2 => g[2 + axis] += 1,
                3 => g[2 + axis] = 0,
                4 => kernel[axis] = 0,
                5 => p.stride[axis] = 0,
                6 => input_len += 1,
                _ => grad_len = Some(Shape::new(g.clone()).numel() + 1),
            }
            let gs = Shape::new(g);
            let grad_len = grad_len.unwrap_or(gs.numel());
            let expected = match fault {
                6 => storage_error(OP, c.input.numel(), input_len),
                7 => storage_error(OP, gs.numel(), grad_len),
                _ => rule_error(OP, p.weight_grad_shape(&c.input, &gs, kernel))?,
            };
            let what = format!(
                "conv2d_weight_grad (fault {fault}) {} ({input_len} elements), {gs} ({grad_len} elements), kernel {kernel:?} {p:?} ({})",
                c.input,
                T::DTYPE
            );
            let (dx, ox) = buffers::<B, T>(backend, input_len)?;
            let (dg, og) = buffers::<B, T>(backend, grad_len)?;
            refused(
                &what,
                Some(expected),
                || backend.conv2d_weight_grad(&dx, &c.input, &dg, &gs, kernel, &p),
                || oracle().conv2d_weight_grad(&ox, &c.input, &og, &gs, kernel, &p),
            )
        },
    );
}
