//! The shared shape rules (broadcasting, reductions, permutations, convolutions, matmul,
//! concat, slice, pad) on arbitrary sizes, including ones that overflow.

use arbitrary::Arbitrary;
use dualscore_core::Shape;
use dualscore_core::backend::{
    Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp, concat_shape, pad_shape, slice_shape,
};

/// One arbitrary query of the rules.
#[derive(Arbitrary, Debug)]
pub struct Query {
    a: Vec<usize>,
    b: Vec<usize>,
    axes: Vec<usize>,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    output_padding: [usize; 2],
    matmul: (usize, usize, usize, usize, bool, bool, bool, bool),
    lens: (usize, usize),
    slice: (usize, usize, usize),
    pads: Vec<(usize, usize)>,
}

/// Runs every rule on the query; each must return, not panic.
pub fn run(q: &Query) {
    let a = Shape::new(q.a.clone());
    let b = Shape::new(q.b.clone());
    let _ = Shape::broadcast("fuzz", &a, &b);
    let _ = a.broadcasts_to(&b);
    let _ = a.checked_numel();
    let _ = a.check_len("fuzz", q.lens.0);
    let _ = a.permuted("fuzz", &q.axes);
    for op in ReduceOp::ALL {
        let _ = op.output_shape(&a, &q.axes);
    }
    let conv = Conv2dParams {
        stride: q.stride,
        padding: q.padding,
        dilation: q.dilation,
    };
    let _ = conv.output_shape(&a, &b);
    let transposed = ConvTranspose2dParams {
        stride: q.stride,
        padding: q.padding,
        output_padding: q.output_padding,
        dilation: q.dilation,
    };
    let _ = transposed.output_shape(&a, &b);
    let (batch, m, k, n, ta, tb, la, lb) = q.matmul;
    let spec = MatmulSpec {
        batch,
        m,
        k,
        n,
        transpose_lhs: ta,
        transpose_rhs: tb,
        lhs_batched: la,
        rhs_batched: lb,
    };
    let _ = spec.check(q.lens.0, q.lens.1);
    let _ = concat_shape(&[&a, &b], q.slice.0);
    let _ = slice_shape(&a, q.slice.0, q.slice.1, q.slice.2);
    let _ = pad_shape(&a, &q.pads);
}
