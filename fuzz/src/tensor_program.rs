//! A short program of tensor ops (with gradients), built from arbitrary bytes, run step by step
//! on the reference backend and on the CPU backend and compared. Shapes and arguments are
//! whatever the fuzzer chooses, so most ops fail: every failure must be an `Err`, on both
//! backends alike.
//!
//! After each step the two backends must agree on success or failure and on the shape. When
//! the step's inputs hold the same bits on both, the values must agree too, within the shared
//! suite's bounds (`dualscore_backend_tests::tolerance`, against the reference as the oracle):
//! exactly for layout ops, comparisons, Max / Min and the sign-like functions; within
//! `FUNC_C eps scale(x)` for the other elementwise functions; within `SUM_C n eps S` for sums
//! and products (`S` the same op on the absolute values, `n` the terms per output). A result
//! that differs in its bits (allowed by the bounds) makes the steps that read it checked for
//! success, failure and shape only, as are gradients (whose rounding depends on the graph).

use arbitrary::Arbitrary;
use dualscore_backend_tests::tolerance::{assert_close, sum_bounds, unary_bound};
use dualscore_core::autograd::{GradOptions, grad};
use dualscore_core::backend::reference::Reference;
use dualscore_core::backend::{BinaryOp, Conv2dParams, ConvTranspose2dParams, ReduceOp, UnaryOp};
use dualscore_core::{Backend, Result, Tensor};
use dualscore_cpu::Cpu;
use std::sync::OnceLock;

/// Largest tensor the program keeps, so that a run stays fast.
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

fn unary_op(op: u8) -> UnaryOp {
    UnaryOp::ALL[usize::from(op) % UnaryOp::ALL.len()]
}

fn binary_op(op: u8) -> BinaryOp {
    BinaryOp::ALL[usize::from(op) % BinaryOp::ALL.len()]
}

fn reduce_op(op: u8) -> ReduceOp {
    ReduceOp::ALL[usize::from(op) % ReduceOp::ALL.len()]
}

/// The index of operand `i` among `len` tensors.
fn pick(i: usize, len: usize) -> Option<usize> {
    (len > 0).then(|| i % len)
}

/// The operands of a step (indices into the tensors so far).
fn operands(s: &Step, len: usize) -> Vec<usize> {
    let ids: Vec<usize> = match s {
        Step::New(..) => vec![],
        Step::Unary(_, a)
        | Step::Reduce(_, a, ..)
        | Step::Reshape(a, _)
        | Step::Permute(a, _)
        | Step::Slice(a, ..)
        | Step::Pad(a, _)
        | Step::Flip(a, _)
        | Step::BroadcastTo(a, _) => vec![*a],
        Step::Binary(_, a, b)
        | Step::Concat(a, b, _)
        | Step::Matmul(a, b, ..)
        | Step::Conv2d(a, b, ..)
        | Step::ConvTranspose2d(a, b, ..)
        | Step::Grad(a, b, _) => vec![*a, *b],
    };
    ids.into_iter().filter_map(|i| pick(i, len)).collect()
}

fn step<B: Backend>(tensors: &[Tensor<B, f64>], backend: &B, s: &Step) -> Result<Tensor<B, f64>> {
    let get = |i: &usize| -> Result<&Tensor<B, f64>> {
        pick(*i, tensors.len())
            .map(|i| &tensors[i])
            .ok_or_else(|| dualscore_core::Error::invalid("fuzz", "no tensor yet"))
    };
    match s {
        Step::New(shape, seed) => {
            let shape = dims(shape);
            let n: usize = shape.iter().product();
            let values: Vec<f64> = (0..n)
                .map(|i| (i as f64 + f64::from(*seed)).sin())
                .collect();
            Ok(Tensor::from_f64(backend, &values, shape)?.requiring_grad())
        }
        Step::Unary(op, a) => get(a)?.unary(unary_op(*op)),
        Step::Binary(op, a, b) => get(a)?.binary(binary_op(*op), get(b)?),
        Step::Reduce(op, a, axes, keep) => get(a)?.reduce(reduce_op(*op), axes, *keep),
        Step::Reshape(a, shape) => get(a)?.reshape(dims(shape)),
        Step::Permute(a, axes) => get(a)?.permute(axes),
        Step::Slice(a, axis, start, len) => get(a)?.slice(*axis, *start, *len),
        Step::Concat(a, b, axis) => Tensor::concat(&[get(a)?, get(b)?], *axis),
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
        Step::Conv2d(a, b, s, p, d) => get(a)?.conv2d(get(b)?, &conv_params(*s, *p, *d)),
        Step::ConvTranspose2d(a, b, s, p, op, d) => {
            get(a)?.conv_transpose2d(get(b)?, &conv_transpose_params(*s, *p, *op, *d))
        }
        Step::Grad(a, b, create_graph) => {
            let options = GradOptions {
                create_graph: *create_graph,
                retain_graph: Some(true),
            };
            Ok(grad(&[get(a)?], &[get(b)?], options)?.remove(0))
        }
    }
}

fn conv_params(s: [u8; 2], p: [u8; 2], d: [u8; 2]) -> Conv2dParams {
    Conv2dParams {
        stride: small(s),
        padding: small(p),
        dilation: small(d),
    }
}

fn conv_transpose_params(s: [u8; 2], p: [u8; 2], op: [u8; 2], d: [u8; 2]) -> ConvTranspose2dParams {
    ConvTranspose2dParams {
        stride: small(s),
        padding: small(p),
        output_padding: small(op),
        dilation: small(d),
    }
}

/// The CPU backend of the harness (two threads, made once).
fn cpu() -> &'static Cpu {
    static CPU: OnceLock<Cpu> = OnceLock::new();
    CPU.get_or_init(|| Cpu::with_threads(2).expect("a CPU backend"))
}

/// Runs the program on both backends; panics where they disagree.
pub fn run(program: &[Step]) {
    let cpu = cpu();
    let mut reference: Vec<Tensor<Reference, f64>> = Vec::new();
    let mut on_cpu: Vec<Tensor<Cpu, f64>> = Vec::new();
    // Whether each CPU tensor holds the reference's bits.
    let mut same: Vec<bool> = Vec::new();
    for (k, s) in program.iter().take(32).enumerate() {
        let want = step(&reference, &Reference, s);
        let got = step(&on_cpu, cpu, s);
        let (want, got) = match (want, got) {
            (Err(_), Err(_)) => continue,
            (Ok(w), Ok(g)) => (w, g),
            (w, g) => panic!(
                "step {k} {s:?}: the reference gives {:?}, the CPU {:?}\nprogram: {program:?}",
                w.map(|t| t.dims().to_vec()),
                g.map(|t| t.dims().to_vec())
            ),
        };
        assert_eq!(
            want.dims(),
            got.dims(),
            "step {k} {s:?}: shapes differ\nprogram: {program:?}"
        );
        if want.numel() > MAX_ELEMENTS {
            continue;
        }
        let w = want.to_f64_vec().expect("reading the reference's result");
        let g = got.to_f64_vec().expect("reading the CPU's result");
        let inputs = operands(s, reference.len());
        if inputs.iter().all(|&i| same[i])
            && let Err(e) = check(s, &reference, &inputs, &w, &g)
        {
            panic!("step {k} {s:?}: {e}\nprogram: {program:?}");
        }
        same.push(w.iter().zip(&g).all(|(a, b)| a.to_bits() == b.to_bits()));
        reference.push(want);
        on_cpu.push(got);
    }
}

/// An op on reference tensors.
type OnReference<'a> = dyn Fn(&[Tensor<Reference, f64>]) -> Result<Tensor<Reference, f64>> + 'a;

/// Checks the CPU's result `got` of step `s` against the reference's `want`, both computed from
/// the same input bits.
fn check(
    s: &Step,
    tensors: &[Tensor<Reference, f64>],
    inputs: &[usize],
    want: &[f64],
    got: &[f64],
) -> std::result::Result<(), String> {
    let exact = vec![0.0; want.len()];
    let what = format!("{s:?}");
    let values = |i: usize| tensors[inputs[i]].to_f64_vec().expect("reading an input");
    // `op` of the absolute values of the inputs: the magnitude of the terms of a sum.
    let magnitude = |op: &OnReference<'_>| {
        let abs: Vec<Tensor<Reference, f64>> = inputs
            .iter()
            .map(|&i| tensors[i].abs().expect("abs of an input"))
            .collect();
        op(&abs)
            .and_then(|t| t.to_f64_vec())
            .expect("the same op on absolute values")
    };
    let bound = match s {
        Step::Unary(op, _) => {
            let x = values(0);
            x.iter()
                .zip(want)
                .map(|(&x, &fx)| unary_bound::<f64>(unary_op(*op), x, fx).unwrap_or(0.0))
                .collect()
        }
        Step::Binary(op, ..) => match binary_op(*op) {
            op @ (BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul) => {
                let magnitude = magnitude(&|t| {
                    let op = if op == BinaryOp::Sub {
                        BinaryOp::Add
                    } else {
                        op
                    };
                    t[0].binary(op, t.get(1).unwrap_or(&t[0]))
                });
                sum_bounds::<f64>(&magnitude, 1)
            }
            BinaryOp::Div => {
                sum_bounds::<f64>(&want.iter().map(|v| v.abs()).collect::<Vec<_>>(), 1)
            }
            _ => exact,
        },
        Step::Reduce(op, a, axes, keep) => match reduce_op(*op) {
            op @ (ReduceOp::Sum | ReduceOp::Mean) => {
                let n = tensors[pick(*a, tensors.len()).unwrap_or(0)].numel() / want.len().max(1);
                sum_bounds::<f64>(&magnitude(&|t| t[0].reduce(op, axes, *keep)), n)
            }
            _ => exact,
        },
        Step::Matmul(_, _, ta, tb) => {
            let a = tensors[inputs[0]].dims();
            let k = match a.len() {
                0 => 1,
                1 => a[0],
                r if *ta => a[r - 2],
                r => a[r - 1],
            };
            let m = magnitude(&|t| t[0].matmul_t(t.get(1).unwrap_or(&t[0]), *ta, *tb));
            sum_bounds::<f64>(&m, k)
        }
        Step::Conv2d(_, _, st, p, d) => {
            let w = tensors[*inputs.get(1).unwrap_or(&inputs[0])].dims();
            let n = w[1..].iter().product();
            let params = conv_params(*st, *p, *d);
            let m = magnitude(&|t| t[0].conv2d(t.get(1).unwrap_or(&t[0]), &params));
            sum_bounds::<f64>(&m, n)
        }
        Step::ConvTranspose2d(_, _, st, p, op, d) => {
            let w = tensors[*inputs.get(1).unwrap_or(&inputs[0])].dims();
            let n = w[0] * w[2] * w[3];
            let params = conv_transpose_params(*st, *p, *op, *d);
            let m = magnitude(&|t| t[0].conv_transpose2d(t.get(1).unwrap_or(&t[0]), &params));
            sum_bounds::<f64>(&m, n)
        }
        // Gradients: success, failure and shape only.
        Step::Grad(..) => return Ok(()),
        // New tensors and layout ops: exact.
        _ => exact,
    };
    // At an infinite argument GELU, SiLU and their derivatives are inf * 0 in the contract's
    // formulas: the value there is not part of the contract (as in the shared suite).
    let mut got = got.to_vec();
    if let Step::Unary(op, _) = s
        && matches!(
            unary_op(*op),
            UnaryOp::Gelu | UnaryOp::GeluGrad | UnaryOp::Silu | UnaryOp::SiluGrad
        )
    {
        for (i, x) in values(0).iter().enumerate() {
            if x.is_infinite() {
                got[i] = want[i];
            }
        }
    }
    assert_close::<f64>(&what, &got, want, &bound).map_err(|e| e.to_string())
}
