//! Every error path of the checks, through the lengths and shapes alone (no buffer is ever
//! allocated, so sizes near `usize::MAX` are cheap to test).

use super::*;
use crate::backend::ops::{BinaryOp, Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp};

const MAX: usize = usize::MAX;

fn s(dims: &[usize]) -> Shape {
    Shape::new(dims)
}

/// Whether `r` is an [`Error::InvalidArgument`] of `op`.
fn invalid<R>(r: Result<R>, op: &str) -> bool {
    matches!(r, Err(Error::InvalidArgument { op: o, .. }) if o == op)
}

/// Whether `r` is an [`Error::ShapeMismatch`] of `op`.
fn mismatch<R>(r: Result<R>, op: &str) -> bool {
    matches!(r, Err(Error::ShapeMismatch { op: o, .. }) if o == op)
}

/// Whether `r` is an [`Error::StorageLength`] of `op`.
fn short<R>(r: Result<R>, op: &str) -> bool {
    matches!(r, Err(Error::StorageLength { op: o, .. }) if o == op)
}

#[test]
fn numel_reports_overflow() {
    assert_eq!(numel("t", &s(&[2, 3])).unwrap(), 6);
    assert_eq!(numel("t", &Shape::scalar()).unwrap(), 1);
    assert_eq!(numel("t", &s(&[MAX, MAX, 0])).unwrap(), 0);
    assert_eq!(
        numel("t", &s(&[MAX, 2])).unwrap_err().to_string(),
        format!("t: shape [{MAX}, 2] has more elements than fit in memory")
    );
}

#[test]
fn storage_checks_length() {
    assert!(storage("t", &s(&[2, 3]), 6).is_ok());
    assert_eq!(
        storage("t", &s(&[2, 3]), 5),
        Err(Error::StorageLength {
            op: "t",
            expected: 6,
            actual: 5,
        })
    );
    assert!(invalid(storage("t", &s(&[MAX, 3]), 6), "t"));
    // A zero-size shape whose left-to-right product overflows before reaching its zero.
    let empty = s(&[MAX, MAX, 0]);
    assert!(storage("t", &empty, 0).is_ok());
    assert_eq!(
        storage("t", &empty, 1),
        Err(Error::StorageLength {
            op: "t",
            expected: 0,
            actual: 1,
        })
    );
}

#[test]
fn output_counts_its_elements() {
    let out = Output::of("t", s(&[2, 3])).unwrap();
    assert_eq!((out.shape, out.len), (s(&[2, 3]), 6));
    assert_eq!(Output::of("t", s(&[MAX, MAX, 0])).unwrap().len, 0);
    assert!(invalid(Output::of("t", s(&[MAX, 2])), "t"));
}

#[test]
fn binary_checks() {
    let add = BinaryOp::Add;
    let out = binary(add, 3, &s(&[3, 1]), 4, &s(&[4])).unwrap();
    assert_eq!((out.shape, out.len), (s(&[3, 4]), 12));
    let empty = binary(add, 0, &s(&[MAX, MAX, 0]), 1, &Shape::scalar()).unwrap();
    assert_eq!(empty.len, 0);
    // The storage of each operand, in order, then the broadcast.
    assert!(short(binary(add, 2, &s(&[3]), 3, &s(&[3])), "add"));
    assert!(short(binary(add, 3, &s(&[3]), 2, &s(&[3])), "add"));
    assert!(invalid(binary(add, 3, &s(&[MAX, 2]), 3, &s(&[3])), "add"));
    assert!(mismatch(binary(add, 3, &s(&[3]), 4, &s(&[4])), "add"));
    assert!(mismatch(binary(add, 3, &s(&[3]), 2, &s(&[1, 2])), "add"));
    assert!(short(binary(add, 2, &s(&[3]), 4, &s(&[4])), "add"));
    // A broadcast with more elements than fit in memory.
    assert!(invalid(
        binary(add, MAX, &s(&[MAX, 1]), 2, &s(&[1, 2])),
        "add"
    ));
    assert!(mismatch(
        binary(BinaryOp::Max, 6, &s(&[2, 3]), 6, &s(&[3, 2])),
        "maximum"
    ));
}

#[test]
fn reduce_checks() {
    let cube = s(&[2, 3, 4]);
    let r = reduce(ReduceOp::Sum, 24, &cube, &[2, 0]).unwrap();
    assert_eq!(r.axes, vec![0, 2]);
    assert_eq!((r.output.shape, r.output.len), (s(&[1, 3, 1]), 3));
    let r = reduce(ReduceOp::Mean, 0, &s(&[0, MAX, MAX]), &[1, 2]).unwrap();
    assert_eq!(r.output.len, 0);
    assert!(reduce(ReduceOp::Max, 0, &s(&[2, 0]), &[0]).is_ok());
    assert!(invalid(reduce(ReduceOp::Sum, 24, &cube, &[1, 1]), "sum"));
    assert!(invalid(reduce(ReduceOp::Sum, 24, &cube, &[3]), "sum"));
    assert!(short(reduce(ReduceOp::Sum, 23, &cube, &[0]), "sum"));
    assert!(invalid(
        reduce(ReduceOp::Sum, 24, &s(&[MAX, 2]), &[0]),
        "sum"
    ));
    // The storage comes before the axes.
    assert!(short(reduce(ReduceOp::Min, 23, &cube, &[3]), "min"));
    // Max and Min refuse an empty reduced axis.
    assert_eq!(
        reduce(ReduceOp::Max, 0, &s(&[2, 0]), &[1]).unwrap_err(),
        Error::invalid("max", "cannot reduce an empty axis of shape [2, 0]")
    );
    assert!(invalid(
        reduce(ReduceOp::Min, 0, &s(&[2, 0]), &[0, 1]),
        "min"
    ));
}

#[test]
fn broadcast_to_checks() {
    let out = broadcast_to(3, &s(&[3, 1]), &s(&[2, 3, 2])).unwrap();
    assert_eq!((out.shape, out.len), (s(&[2, 3, 2]), 12));
    assert_eq!(broadcast_to(3, &s(&[1, 3]), &s(&[0, 3])).unwrap().len, 0);
    let target = s(&[2, 3, 4]);
    assert!(mismatch(
        broadcast_to(6, &s(&[3, 2]), &target),
        "broadcast_to"
    ));
    assert!(mismatch(
        broadcast_to(6, &s(&[1, 1, 2, 3]), &s(&[2, 3])),
        "broadcast_to"
    ));
    assert!(mismatch(
        broadcast_to(6, &s(&[6]), &s(&[2, 3])),
        "broadcast_to"
    ));
    assert!(mismatch(
        broadcast_to(0, &s(&[0]), &s(&[1])),
        "broadcast_to"
    ));
    assert!(short(broadcast_to(1, &s(&[0]), &s(&[1])), "broadcast_to"));
    assert!(short(broadcast_to(5, &s(&[6]), &s(&[6])), "broadcast_to"));
    assert!(invalid(
        broadcast_to(1, &s(&[1]), &s(&[MAX, 2])),
        "broadcast_to"
    ));
}

#[test]
fn matmul_checks() {
    assert!(matmul(6, 6, &MatmulSpec::batched(1, 2, 3, 2)).is_ok());
    assert!(matmul(0, 0, &MatmulSpec::batched(1, 2, 0, 2)).is_ok());
    assert_eq!(
        matmul(5, 6, &MatmulSpec::batched(1, 2, 3, 2)),
        Err(Error::StorageLength {
            op: "matmul (lhs)",
            expected: 6,
            actual: 5,
        })
    );
    assert!(short(
        matmul(6, 5, &MatmulSpec::batched(1, 2, 3, 2)),
        "matmul (rhs)"
    ));
    // Element counts of the operands or of the output that overflow.
    for huge in [
        MatmulSpec::batched(MAX, 2, 3, 2),
        MatmulSpec::batched(1, MAX, MAX, 0),
        MatmulSpec::batched(1, 0, MAX, MAX),
        MatmulSpec {
            lhs_batched: false,
            rhs_batched: false,
            ..MatmulSpec::batched(MAX, 2, 3, 2)
        },
    ] {
        let err = matmul(6, 6, &huge).unwrap_err();
        assert_eq!(
            err,
            Error::invalid(
                "matmul",
                format!("{huge:?} describes more elements than fit in memory")
            )
        );
    }
    // Every count fits, but the spec's own rule refuses batch * m * k of shared operands.
    let k = MAX / 2 + 1;
    let shared = MatmulSpec {
        lhs_batched: false,
        rhs_batched: false,
        ..MatmulSpec::batched(2, 1, k, 1)
    };
    assert_eq!(
        matmul(k, k, &shared),
        Err(Error::invalid("matmul", "sizes overflow the address space"))
    );
}

#[test]
fn conv2d_checks() {
    let (xs, ws) = (s(&[1, 1, 3, 3]), s(&[1, 1, 2, 2]));
    let ok = Conv2dParams::default();
    let out = conv2d(9, &xs, 4, &ws, &ok).unwrap();
    assert_eq!((out.shape, out.len), (s(&[1, 1, 2, 2]), 4));
    assert!(short(conv2d(8, &xs, 4, &ws, &ok), "conv2d"));
    assert!(short(conv2d(9, &xs, 3, &ws, &ok), "conv2d"));
    assert!(mismatch(conv2d(9, &s(&[3, 3]), 4, &ws, &ok), "conv2d"));
    assert!(mismatch(
        conv2d(9, &s(&[1, 9, 1, 1]), 4, &ws, &ok),
        "conv2d"
    ));
    assert!(invalid(
        conv2d(9, &xs, 4, &ws, &Conv2dParams::new(0, 0, 1)),
        "conv2d"
    ));
    assert!(invalid(
        conv2d(9, &xs, 4, &ws, &Conv2dParams::new(1, 0, 0)),
        "conv2d"
    ));
    // The dilated kernel is larger than the input; an empty kernel.
    assert!(mismatch(
        conv2d(9, &xs, 4, &ws, &Conv2dParams::new(1, 0, 3)),
        "conv2d"
    ));
    assert!(mismatch(
        conv2d(9, &xs, 0, &s(&[1, 1, 0, 2]), &ok),
        "conv2d"
    ));
    // Spatial sizes that overflow.
    for huge in [
        Conv2dParams::new(1, MAX, 1),
        Conv2dParams::new(1, 0, MAX),
        Conv2dParams::new(MAX, MAX / 2, 1),
    ] {
        assert!(invalid(conv2d(9, &xs, 4, &ws, &huge), "conv2d"), "{huge:?}");
    }
    let err = conv2d(9, &xs, 4, &ws, &Conv2dParams::new(1, MAX, 1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conv2d: sizes along axis 2 overflow: input 3, kernel 2, stride 1, padding {MAX}, dilation 1, output padding 0"
        )
    );
    // An output with more elements than fit in memory (no input channels, so nothing to hold).
    assert!(invalid(
        conv2d(0, &s(&[2, 0, 1, 1]), 0, &s(&[MAX, 0, 1, 1]), &ok),
        "conv2d"
    ));
}

#[test]
fn conv_transpose2d_checks() {
    let (xs, ws) = (s(&[1, 1, 3, 3]), s(&[1, 1, 2, 2]));
    let ok = ConvTranspose2dParams::default();
    let op = "conv_transpose2d";
    let out = conv_transpose2d(9, &xs, 4, &ws, &ok).unwrap();
    assert_eq!((out.shape, out.len), (s(&[1, 1, 4, 4]), 16));
    assert!(short(conv_transpose2d(8, &xs, 4, &ws, &ok), op));
    assert!(short(conv_transpose2d(9, &xs, 3, &ws, &ok), op));
    assert!(mismatch(
        conv_transpose2d(9, &xs, 4, &s(&[2, 1, 1, 2]), &ok),
        op
    ));
    assert!(mismatch(conv_transpose2d(9, &xs, 4, &s(&[2, 2]), &ok), op));
    assert!(invalid(
        conv_transpose2d(9, &xs, 4, &ws, &ConvTranspose2dParams::new(1, 0, 1, 1)),
        op
    ));
    assert!(invalid(
        conv_transpose2d(9, &xs, 4, &ws, &ConvTranspose2dParams::new(0, 0, 0, 1)),
        op
    ));
    assert!(invalid(
        conv_transpose2d(9, &xs, 4, &ws, &ConvTranspose2dParams::new(1, 0, 0, 0)),
        op
    ));
    // Padding that removes the whole output; an empty spatial axis; an empty kernel.
    assert!(mismatch(
        conv_transpose2d(9, &xs, 4, &ws, &ConvTranspose2dParams::new(1, 2, 0, 1)),
        op
    ));
    assert!(mismatch(
        conv_transpose2d(0, &s(&[1, 1, 0, 3]), 4, &ws, &ok),
        op
    ));
    assert!(mismatch(
        conv_transpose2d(9, &xs, 0, &s(&[1, 1, 2, 0]), &ok),
        op
    ));
    for huge in [
        ConvTranspose2dParams::new(MAX, 0, 0, 1),
        ConvTranspose2dParams::new(1, MAX, 0, 1),
        ConvTranspose2dParams::new(2, 0, MAX, MAX),
    ] {
        assert!(
            invalid(conv_transpose2d(9, &xs, 4, &ws, &huge), op),
            "{huge:?}"
        );
    }
    // Sizes far past `usize::MAX` (an empty batch holds a huge image in no elements): refused,
    // not wrapped around.
    let (big_x, big_w) = (s(&[0, 1, MAX, 1]), s(&[1, 1, MAX, 1]));
    let big = ConvTranspose2dParams {
        stride: [MAX, 1],
        dilation: [MAX, 1],
        ..ConvTranspose2dParams::default()
    };
    assert!(invalid(conv_transpose2d(0, &big_x, MAX, &big_w, &big), op));
    let big = Conv2dParams {
        stride: [MAX, 1],
        padding: [0, 0],
        dilation: [MAX, 1],
    };
    assert!(invalid(conv2d(0, &big_x, MAX, &big_w, &big), "conv2d"));
    // An output with more elements than fit in memory.
    assert!(invalid(
        conv_transpose2d(0, &s(&[2, 0, 1, 1]), 0, &s(&[0, MAX, 1, 1]), &ok),
        op
    ));
}

#[test]
fn permute_checks() {
    let cube = s(&[2, 3, 4]);
    let out = permute(24, &cube, &[2, 0, 1]).unwrap();
    assert_eq!((out.shape, out.len), (s(&[4, 2, 3]), 24));
    assert_eq!(permute(1, &Shape::scalar(), &[]).unwrap().len, 1);
    assert!(invalid(permute(24, &cube, &[0, 1]), "permute"));
    assert!(invalid(permute(24, &cube, &[0, 1, 1]), "permute"));
    assert!(invalid(permute(24, &cube, &[0, 1, 3]), "permute"));
    assert!(short(permute(23, &cube, &[0, 1, 2]), "permute"));
    assert!(short(permute(23, &cube, &[0, 0]), "permute"));
}

#[test]
fn concat_checks() {
    let (cube, half) = (s(&[2, 3, 4]), s(&[1, 3, 4]));
    let out = concat(&[(24, &cube), (12, &half)], 0).unwrap();
    assert_eq!((out.shape, out.len), (s(&[3, 3, 4]), 36));
    assert!(invalid(concat(&[], 0), "concat"));
    assert!(invalid(concat(&[(24, &cube)], 3), "concat"));
    assert!(mismatch(concat(&[(24, &cube), (12, &half)], 1), "concat"));
    assert!(mismatch(
        concat(&[(24, &cube), (12, &s(&[3, 4]))], 0),
        "concat"
    ));
    assert!(short(concat(&[(24, &cube), (11, &half)], 0), "concat"));
    // Sizes along the axis whose sum overflows.
    let huge = s(&[0, MAX]);
    assert_eq!(
        concat(&[(0, &huge), (0, &huge)], 1),
        Err(Error::invalid(
            "concat",
            "the parts' sizes along axis 1 overflow"
        ))
    );
    // An output with more elements than fit in memory.
    let half = MAX / 2 + 1;
    let big = s(&[1, half]);
    assert!(invalid(concat(&[(half, &big), (half, &big)], 0), "concat"));
}

#[test]
fn slice_checks() {
    let cube = s(&[2, 3, 4]);
    let out = slice(24, &cube, 1, 1, 2).unwrap();
    assert_eq!((out.shape, out.len), (s(&[2, 2, 4]), 16));
    assert_eq!(slice(24, &cube, 0, 2, 0).unwrap().len, 0);
    assert!(invalid(slice(24, &cube, 3, 0, 1), "slice"));
    assert!(invalid(slice(24, &cube, 1, 2, 2), "slice"));
    assert!(invalid(slice(24, &cube, 1, MAX, 2), "slice"));
    assert!(short(slice(3, &cube, 1, 0, 1), "slice"));
}

#[test]
fn pad_checks() {
    let cube = s(&[2, 3, 4]);
    let out = pad(24, &cube, &[(0, 1), (1, 0), (2, 1)]).unwrap();
    assert_eq!((out.shape, out.len), (s(&[3, 4, 7]), 84));
    assert!(invalid(pad(24, &cube, &[(0, 0); 2]), "pad"));
    assert!(invalid(pad(24, &cube, &[(0, 0); 4]), "pad"));
    let over = [(MAX, 1), (0, 0), (0, 0)];
    assert_eq!(
        pad(24, &cube, &over).unwrap_err().to_string(),
        format!("pad: padding {over:?} of shape [2, 3, 4] overflows")
    );
    assert!(invalid(
        pad(24, &cube, &[(MAX / 2, MAX / 2), (0, 0), (0, 0)]),
        "pad"
    ));
    assert!(short(pad(5, &cube, &[(0, 0); 3]), "pad"));
    // An output with more elements than fit in memory.
    assert!(invalid(pad(1, &s(&[1, 1]), &[(MAX - 1, 0), (1, 0)]), "pad"));
}

#[test]
fn flip_checks() {
    let cube = s(&[2, 3, 4]);
    assert_eq!(flip(24, &cube, &[2, 0]).unwrap(), vec![0, 2]);
    assert!(flip(0, &s(&[0, 3]), &[0, 1]).is_ok());
    assert!(invalid(flip(24, &cube, &[3]), "flip"));
    assert!(invalid(flip(24, &cube, &[1, 1]), "flip"));
    assert!(short(flip(5, &cube, &[0]), "flip"));
}
