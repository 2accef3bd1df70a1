//! A short program of tensor ops (with gradients) on the reference backend, built from
//! arbitrary bytes: shapes and arguments are whatever the fuzzer chooses, so most ops fail;
//! every failure must be an `Err`.

use arbitrary::Arbitrary;
use dualscore_core::autograd::{GradOptions, grad};
use dualscore_core::backend::reference::Reference;
use dualscore_core::backend::{BinaryOp, Conv2dParams, ConvTranspose2dParams, ReduceOp, UnaryOp};
use dualscore_core::{Result, Tensor};

type T = Tensor<Reference, f64>;

/// Largest tensor the program builds, so that a run stays fast.
const MAX_ELEMENTS: usize = 4096;

/// One step of the program; operands are indices into the tensors made so far.
#[derive(Arbitrary, Debug)]
pub enum Step {
    New(Vec<u8>, u8),
    Unary(u8, usize),
    Binary(u8, usize, usize),
    Reduce(u8, usize, Vec<usize>, bool),
    Reshape(usize, Vec<u8>),
    Permute(usize, Vec<usize>),
    Slice(usize, usize, usize, usize),
    Concat(usize, usize, usize),
    Pad(usize, Vec<(u8, u8)>),
    Flip(usize, Vec<usize>),
    BroadcastTo(usize, Vec<u8>),
    Matmul(usize, usize, bool, bool),
    Conv2d(usize, usize, [u8; 2], [u8; 2], [u8; 2]),
    ConvTranspose2d(usize, usize, [u8; 2], [u8; 2], [u8; 2], [u8; 2]),
    Grad(usize, usize, bool),
}

fn dims(bytes: &[u8]) -> Vec<usize> {
    bytes.iter().take(4).map(|&b| usize::from(b % 6)).collect()
}

fn small(v: [u8; 2]) -> [usize; 2] {
    [usize::from(v[0] % 4), usize::from(v[1] % 4)]
}

fn step(tensors: &[T], s: &Step) -> Result<T> {
    let get = |i: &usize| -> Result<&T> {
        tensors
            .get(*i % tensors.len().max(1))
            .ok_or_else(|| dualscore_core::Error::invalid("fuzz", "no tensor yet"))
    };
    match s {
        Step::New(shape, seed) => {
            let shape = dims(shape);
            let n: usize = shape.iter().product();
            let values: Vec<f64> = (0..n)
                .map(|i| (i as f64 + f64::from(*seed)).sin())
                .collect();
            Ok(T::from_f64(&Reference, &values, shape)?.requiring_grad())
        }
        Step::Unary(op, a) => get(a)?.unary(UnaryOp::ALL[usize::from(*op) % UnaryOp::ALL.len()]),
        Step::Binary(op, a, b) => get(a)?.binary(
            BinaryOp::ALL[usize::from(*op) % BinaryOp::ALL.len()],
            get(b)?,
        ),
        Step::Reduce(op, a, axes, keep) => {
            get(a)?.reduce(ReduceOp::ALL[usize::from(*op) % 4], axes, *keep)
        }
        Step::Reshape(a, shape) => get(a)?.reshape(dims(shape)),
        Step::Permute(a, axes) => get(a)?.permute(axes),
        Step::Slice(a, axis, start, len) => get(a)?.slice(*axis, *start, *len),
        Step::Concat(a, b, axis) => T::concat(&[get(a)?, get(b)?], *axis),
        Step::Pad(a, pads) => {
            let pads: Vec<(usize, usize)> = pads
                .iter()
                .map(|&(x, y)| (usize::from(x % 3), usize::from(y % 3)))
                .collect();
            get(a)?.pad(&pads)
        }
        Step::Flip(a, axes) => get(a)?.flip(axes),
        Step::BroadcastTo(a, shape) => get(a)?.broadcast_to(dims(shape)),
        Step::Matmul(a, b, ta, tb) => get(a)?.matmul_t(get(b)?, *ta, *tb),
        Step::Conv2d(a, b, s, p, d) => get(a)?.conv2d(
            get(b)?,
            &Conv2dParams {
                stride: small(*s),
                padding: small(*p),
                dilation: small(*d),
            },
        ),
        Step::ConvTranspose2d(a, b, s, p, op, d) => get(a)?.conv_transpose2d(
            get(b)?,
            &ConvTranspose2dParams {
                stride: small(*s),
                padding: small(*p),
                output_padding: small(*op),
                dilation: small(*d),
            },
        ),
        Step::Grad(a, b, create_graph) => {
            let options = GradOptions {
                create_graph: *create_graph,
                retain_graph: Some(true),
            };
            Ok(grad(&[get(a)?], &[get(b)?], options)?.remove(0))
        }
    }
}

/// Runs the program; every op either succeeds or returns an error.
pub fn run(program: &[Step]) {
    let mut tensors: Vec<T> = Vec::new();
    for s in program.iter().take(32) {
        if let Ok(t) = step(&tensors, s)
            && t.numel() <= MAX_ELEMENTS
        {
            tensors.push(t);
        }
    }
}
