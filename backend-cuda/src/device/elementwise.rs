//! Launchers of `elementwise.cu`: fill, cast, unary and binary ops.

use super::launch::{Args, typed};
use super::modules::Family;
use super::strided::{Strided, broadcast_strides, collapse};
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
        device.launch_1d(Family::Elementwise, name, len, &mut args)?;
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
        device.launch_1d(Family::Elementwise, name, x.len(), &mut args)?;
    }
    Ok(out)
}

/// `op` on every element of `x`: one kernel per element type, the op passed as its code in
/// `elementwise.cu` with its two parameters rounded to `T`.
pub(crate) fn unary<T: Float>(
    device: &Device,
    op: UnaryOp,
    x: &CudaStorage<T>,
) -> Result<CudaStorage<T>> {
    let out = device.alloc::<T>(x.len())?;
    if x.is_empty() {
        return Ok(out);
    }
    let (a, b) = unary_params(op);
    let mut args = Args::new();
    args.buffer(&out)
        .buffer(x)
        .size(x.len())
        .value(unary_code(op))
        .scalar::<T>(a)
        .scalar::<T>(b);
    device.launch_1d(
        Family::Elementwise,
        typed::<T>("unary_f32", "unary_f64"),
        x.len(),
        &mut args,
    )?;
    Ok(out)
}

/// `op` on the NumPy broadcast of `lhs` and `rhs` to `out.shape`: a flat loop when each operand
/// is either of the output's shape or a single element, else through a strided view of each
/// (the two collapsed together), on the host above [`MAX_RANK`](super::strided::MAX_RANK) axes.
pub(crate) fn binary<T: Float>(
    device: &Device,
    op: BinaryOp,
    lhs: &CudaStorage<T>,
    lhs_shape: &Shape,
    rhs: &CudaStorage<T>,
    rhs_shape: &Shape,
    out: &Output,
) -> Result<CudaStorage<T>> {
    if out.len == 0 {
        return device.alloc::<T>(0);
    }
    let mut args = Args::new();
    let (name, result) = match operands(lhs_shape, rhs_shape, &out.shape) {
        Operands::Flat { lhs_step, rhs_step } => {
            let result = device.alloc::<T>(out.len)?;
            args.buffer(&result)
                .buffer(lhs)
                .value(lhs_step)
                .buffer(rhs)
                .value(rhs_step);
            (typed::<T>("binary_flat_f32", "binary_flat_f64"), result)
        }
        Operands::Strided(views) => {
            let [lhs_view, rhs_view] = *views;
            let result = device.alloc::<T>(out.len)?;
            args.buffer(&result)
                .buffer(lhs)
                .value(lhs_view)
                .buffer(rhs)
                .value(rhs_view);
            (
                typed::<T>("binary_strided_f32", "binary_strided_f64"),
                result,
            )
        }
        Operands::Host => {
            return host::on_host(device, &[lhs, rhs], |r, h| {
                r.binary(op, &h[0], lhs_shape, &h[1], rhs_shape)
            });
        }
    };
    args.size(out.len).value(binary_code(op));
    device.launch_1d(Family::Elementwise, name, out.len, &mut args)?;
    Ok(result)
}

/// How a binary kernel reads its operands at row-major output index `i`.
#[derive(Clone, Debug, PartialEq)]
enum Operands {
    /// `lhs[i * lhs_step]` and `rhs[i * rhs_step]`, each step 1 (the output's shape) or 0 (a
    /// single element).
    Flat { lhs_step: i64, rhs_step: i64 },
    /// Through a view of each (lhs, rhs), both of the same (collapsed) dims.
    Strided(Box<[Strided; 2]>),
    /// The views have more axes than a kernel takes.
    Host,
}

/// The operands of a binary op of `lhs` and `rhs` broadcast to `out` (non-empty).
fn operands(lhs: &Shape, rhs: &Shape, out: &Shape) -> Operands {
    let views = [
        broadcast_strides(lhs.dims(), out.dims()),
        broadcast_strides(rhs.dims(), out.dims()),
    ];
    let (dims, strides) = collapse(out.dims(), &views);
    let (l, r) = (&strides[0], &strides[1]);
    let step = |s: i64| (0..=1).contains(&s);
    match dims.len() {
        0 => Operands::Flat {
            lhs_step: 0,
            rhs_step: 0,
        },
        1 if step(l[0]) && step(r[0]) => Operands::Flat {
            lhs_step: l[0],
            rhs_step: r[0],
        },
        _ => match (Strided::new(&dims, l, 0), Strided::new(&dims, r, 0)) {
            (Some(lv), Some(rv)) => Operands::Strided(Box::new([lv, rv])),
            _ => Operands::Host,
        },
    }
}

/// The code of `op` in `elementwise.cu` (`enum UnaryCode`).
fn unary_code(op: UnaryOp) -> i32 {
    match op {
        UnaryOp::Neg => 0,
        UnaryOp::Abs => 1,
        UnaryOp::Sign => 2,
        UnaryOp::Exp => 3,
        UnaryOp::Log => 4,
        UnaryOp::Sqrt => 5,
        UnaryOp::Recip => 6,
        UnaryOp::Square => 7,
        UnaryOp::Sin => 8,
        UnaryOp::Cos => 9,
        UnaryOp::Tanh => 10,
        UnaryOp::Erf => 11,
        UnaryOp::Sigmoid => 12,
        UnaryOp::Relu => 13,
        UnaryOp::Step => 14,
        UnaryOp::Gelu => 15,
        UnaryOp::GeluGrad => 16,
        UnaryOp::Silu => 17,
        UnaryOp::SiluGrad => 18,
        UnaryOp::Affine { .. } => 19,
        UnaryOp::Powf(_) => 20,
    }
}

/// The two scalar parameters of `op` (Affine: scale and shift; Powf: the exponent; else 0).
fn unary_params(op: UnaryOp) -> (f64, f64) {
    match op {
        UnaryOp::Affine { scale, shift } => (scale, shift),
        UnaryOp::Powf(p) => (p, 0.0),
        _ => (0.0, 0.0),
    }
}

/// The code of `op` in `elementwise.cu` (`enum BinaryCode`).
fn binary_code(op: BinaryOp) -> i32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Max => 4,
        BinaryOp::Min => 5,
        BinaryOp::Eq => 6,
        BinaryOp::Ne => 7,
        BinaryOp::Lt => 8,
        BinaryOp::Le => 9,
        BinaryOp::Gt => 10,
        BinaryOp::Ge => 11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dualscore_core::backend::reference::Reference;

    /// The value `NAME = code` of each `PREFIX_NAME = code,` line of `elementwise.cu`.
    fn cuda_code(prefix: &str, name: &str) -> i32 {
        let key = format!("{prefix}_{} = ", name.to_uppercase());
        let line = include_str!("elementwise.cu")
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&key))
            .unwrap_or_else(|| panic!("{key} is not in elementwise.cu"));
        line[key.len()..].trim_end_matches(',').parse().unwrap()
    }

    #[test]
    fn op_codes_are_those_of_the_kernels() {
        for op in UnaryOp::ALL {
            assert_eq!(unary_code(op), cuda_code("UNARY", op.name()), "{op:?}");
        }
        for op in BinaryOp::ALL {
            assert_eq!(binary_code(op), cuda_code("BINARY", op.name()), "{op:?}");
        }
    }

    #[test]
    fn parameters_are_passed_for_affine_and_powf_only() {
        let affine = UnaryOp::Affine {
            scale: 1.5,
            shift: -0.25,
        };
        assert_eq!(unary_params(affine), (1.5, -0.25));
        assert_eq!(unary_params(UnaryOp::Powf(3.0)), (3.0, 0.0));
        assert_eq!(unary_params(UnaryOp::Exp), (0.0, 0.0));
    }

    /// The elements of `lhs` and `rhs` that each output element of the reference's broadcast
    /// reads: lhs holds its own indices, rhs its indices times 2^20, and Add sums them.
    fn reference_pairs(lhs: &Shape, rhs: &Shape) -> Vec<(i64, i64)> {
        const SPLIT: f64 = (1 << 20) as f64;
        let l: Vec<f64> = (0..lhs.numel()).map(|i| i as f64).collect();
        let r: Vec<f64> = (0..rhs.numel()).map(|i| i as f64 * SPLIT).collect();
        Reference
            .binary(BinaryOp::Add, &l, lhs, &r, rhs)
            .unwrap()
            .into_iter()
            .map(|v| ((v % SPLIT) as i64, (v / SPLIT).floor() as i64))
            .collect()
    }

    /// The same pairs as the kernels read them through `operands`.
    fn kernel_pairs(lhs: &Shape, rhs: &Shape) -> (Operands, Vec<(i64, i64)>) {
        let out = Shape::broadcast("binary", lhs, rhs).unwrap();
        let operands = operands(lhs, rhs, &out);
        let pairs = (0..out.numel() as i64)
            .map(|i| match &operands {
                Operands::Flat { lhs_step, rhs_step } => (i * lhs_step, i * rhs_step),
                Operands::Strided(views) => (views[0].offset(i), views[1].offset(i)),
                Operands::Host => panic!("{lhs} with {rhs} goes to the host"),
            })
            .collect();
        (operands, pairs)
    }

    #[test]
    fn broadcast_views_read_what_the_reference_reads() {
        let cases: [(&[usize], &[usize]); 10] = [
            (&[3, 1], &[4]),
            (&[4], &[3, 1]),
            (&[], &[2, 3]),
            (&[2, 3], &[]),
            (&[2, 3, 4], &[2, 3, 4]),
            (&[2, 1, 4], &[3, 1]),
            (&[1, 3, 1, 5], &[2, 1, 4, 1]),
            (&[2, 3, 4, 5], &[3, 1, 5]),
            (&[1, 1], &[1]),
            (&[2, 2, 3, 1, 2, 2, 2, 2, 2], &[3, 2, 1, 1, 1, 1, 1]),
        ];
        for (a, b) in cases {
            let (a, b) = (Shape::new(a), Shape::new(b));
            let (_, got) = kernel_pairs(&a, &b);
            assert_eq!(got, reference_pairs(&a, &b), "{a} with {b}");
        }
    }

    #[test]
    fn same_shapes_and_scalars_take_the_flat_loop() {
        let flat = |a: &[usize], b: &[usize]| kernel_pairs(&Shape::new(a), &Shape::new(b)).0;
        let steps = |lhs_step, rhs_step| Operands::Flat { lhs_step, rhs_step };
        assert_eq!(flat(&[2, 3, 4], &[2, 3, 4]), steps(1, 1));
        assert_eq!(flat(&[3, 4], &[1, 3, 4]), steps(1, 1));
        assert_eq!(flat(&[], &[2, 3]), steps(0, 1));
        assert_eq!(flat(&[2, 3], &[1, 1]), steps(1, 0));
        assert_eq!(flat(&[1], &[]), steps(0, 0));
        assert!(matches!(flat(&[2, 3], &[3]), Operands::Strided(..)));
    }

    #[test]
    fn views_of_more_than_eight_axes_go_to_the_host() {
        // Alternating broadcast axes never merge: 10 axes remain.
        let a = Shape::new([2, 1, 2, 1, 2, 1, 2, 1, 2, 1]);
        let b = Shape::new([1, 2, 1, 2, 1, 2, 1, 2, 1, 2]);
        let out = Shape::broadcast("binary", &a, &b).unwrap();
        assert_eq!(operands(&a, &b, &out), Operands::Host);
        // Twelve axes that merge into few are fine.
        let (c, d) = (
            Shape::new([2; 12]),
            Shape::new([1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
        );
        let (_, got) = kernel_pairs(&c, &d);
        assert_eq!(got, reference_pairs(&c, &d));
    }
}
