//! The suite catches bugs: a backend that is the reference with one deliberate fault must fail
//! the property that covers it (each test expects the property's panic, and runs at least 256
//! cases whatever `PROPTEST_CASES` says).
//!
//! The faults are the kind a real backend gets wrong: a tie or NaN convention, a kernel in too
//! low a precision, an approximation, an axis mix-up, an ignored flag, a panic or the wrong
//! error variant on invalid input, an off-by-one in the random stream, a summation order that
//! depends on the thread count or changes between runs.

use dualscore_core::backend::reference::Reference;
use dualscore_core::backend::{
    BinaryOp, Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp, UnaryOp,
};
use dualscore_core::rng::RngKey;
use dualscore_core::{Backend, Error, Float, Result, Shape};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    ReluOfNanIsZero,
    StepOfZeroIsOne,
    SinInF32,
    GeluTanhApproximation,
    AddTooInexact,
    MaxIgnoresNan,
    ConvUsesRowDilationForColumns,
    ConvTransposeIgnoresColumnPadding,
    WeightGradDropsLastImage,
    MatmulIgnoresTransposeRhs,
    SumInF32,
    BinaryPanicsOnBadShapes,
    SliceWrongErrorVariant,
    RandomNormalOffByOne,
    PermuteByInverse,
    SumChangesBetweenRuns,
    SumOrderDependsOnThreads(usize),
    FlipIgnoresLastAxis,
    CastTruncates,
    LargeSumDropsLastElement,
    BinaryChunkBoundary,
}

/// The reference backend with one fault.
#[derive(Clone, Debug)]
struct Faulty {
    fault: Fault,
    calls: Arc<AtomicU64>,
}

fn faulty(fault: Fault) -> Faulty {
    Faulty {
        fault,
        calls: Arc::new(AtomicU64::new(0)),
    }
}

fn map<T: Float>(v: Vec<T>, f: impl Fn(f64) -> f64) -> Vec<T> {
    v.into_iter().map(|x| T::of_f64(f(x.as_f64()))).collect()
}

fn via_f32<T: Float>(v: &[T]) -> Vec<T> {
    v.iter()
        .map(|x| T::of_f64(f64::from(x.as_f64() as f32)))
        .collect()
}

impl Backend for Faulty {
    type Storage<T: Float> = Vec<T>;

    fn name(&self) -> String {
        format!("faulty ({:?})", self.fault)
    }

    fn len<T: Float>(&self, storage: &Vec<T>) -> usize {
        storage.len()
    }

    fn fill<T: Float>(&self, len: usize, value: T) -> Result<Vec<T>> {
        Reference.fill(len, value)
    }

    fn upload<T: Float>(&self, data: &[T]) -> Result<Vec<T>> {
        Reference.upload(data)
    }

    fn download<T: Float>(&self, storage: &Vec<T>) -> Result<Vec<T>> {
        Reference.download(storage)
    }

    fn cast<T: Float, U: Float>(&self, storage: &Vec<T>) -> Result<Vec<U>> {
        if self.fault == Fault::CastTruncates {
            return Ok(storage
                .iter()
                .map(|x| {
                    let v = x.as_f64();
                    let r = U::of_f64(v);
                    // Round toward zero instead of to nearest.
                    if r.as_f64().abs() > v.abs() {
                        U::of_f64(r.as_f64() - (r.as_f64() - v) * 2.0)
                    } else {
                        r
                    }
                })
                .collect());
        }
        Reference.cast(storage)
    }

    fn unary<T: Float>(&self, op: UnaryOp, x: &Vec<T>) -> Result<Vec<T>> {
        let out = Reference.unary(op, x)?;
        Ok(match (self.fault, op) {
            (Fault::ReluOfNanIsZero, UnaryOp::Relu) => {
                map(out, |v| if v.is_nan() { 0.0 } else { v })
            }
            (Fault::StepOfZeroIsOne, UnaryOp::Step) => x
                .iter()
                .zip(out)
                .map(|(xv, o)| if xv.as_f64() == 0.0 { T::one() } else { o })
                .collect(),
            (Fault::SinInF32, UnaryOp::Sin) => via_f32(&Reference.unary(op, &via_f32(x))?),
            (Fault::GeluTanhApproximation, UnaryOp::Gelu) => x
                .iter()
                .map(|v| {
                    let v = v.as_f64();
                    let c = (2.0 / std::f64::consts::PI).sqrt();
                    T::of_f64(0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh()))
                })
                .collect(),
            _ => out,
        })
    }

    fn binary<T: Float>(
        &self,
        op: BinaryOp,
        lhs: &Vec<T>,
        lhs_shape: &Shape,
        rhs: &Vec<T>,
        rhs_shape: &Shape,
    ) -> Result<Vec<T>> {
        if self.fault == Fault::BinaryPanicsOnBadShapes {
            Shape::broadcast("binary", lhs_shape, rhs_shape).unwrap();
        }
        if self.fault == Fault::MaxIgnoresNan && op == BinaryOp::Max {
            let clean = |v: &Vec<T>| map(v.clone(), |x| if x.is_nan() { f64::MIN } else { x });
            return Reference.binary(op, &clean(lhs), lhs_shape, &clean(rhs), rhs_shape);
        }
        let mut out = Reference.binary(op, lhs, lhs_shape, rhs, rhs_shape)?;
        if self.fault == Fault::BinaryChunkBoundary && out.len() > 1 << 14 {
            // A second piece that starts one element late.
            out[1 << 14] = out[(1 << 14) - 1];
        }
        Ok(match (self.fault, op) {
            (Fault::AddTooInexact, BinaryOp::Add) => {
                let e = T::epsilon().as_f64();
                map(out, |v| v * (1.0 + 8.0 * e))
            }
            _ => out,
        })
    }

    fn reduce<T: Float>(
        &self,
        op: ReduceOp,
        x: &Vec<T>,
        shape: &Shape,
        axes: &[usize],
    ) -> Result<Vec<T>> {
        if op != ReduceOp::Sum {
            return Reference.reduce(op, x, shape, axes);
        }
        if self.fault == Fault::LargeSumDropsLastElement
            && x.len() > 10_000
            && axes.len() == shape.rank()
        {
            let mut x = x.clone();
            if let Some(last) = x.last_mut() {
                *last = T::zero();
            }
            return Reference.reduce(op, &x, shape, axes);
        }
        match self.fault {
            Fault::SumInF32 => Ok(via_f32(&Reference.reduce(op, &via_f32(x), shape, axes)?)),
            Fault::SumChangesBetweenRuns => {
                let call = self.calls.fetch_add(1, Ordering::Relaxed);
                let e = T::epsilon().as_f64();
                let out = Reference.reduce(op, x, shape, axes)?;
                Ok(map(out, |v| v * (1.0 + e * (call % 2) as f64)))
            }
            Fault::SumOrderDependsOnThreads(n) if axes.len() == shape.rank() => {
                // Chunked partial sums, one per thread, in T.
                shape.check_len("reduce", x.len())?;
                let chunk = x.len().div_ceil(n).max(1);
                let total = x
                    .chunks(chunk)
                    .map(|c| c.iter().fold(T::zero(), |a, &b| a + b))
                    .fold(T::zero(), |a, b| a + b);
                Ok(vec![total])
            }
            _ => Reference.reduce(op, x, shape, axes),
        }
    }

    fn broadcast_to<T: Float>(&self, x: &Vec<T>, shape: &Shape, target: &Shape) -> Result<Vec<T>> {
        Reference.broadcast_to(x, shape, target)
    }

    fn matmul<T: Float>(&self, lhs: &Vec<T>, rhs: &Vec<T>, spec: &MatmulSpec) -> Result<Vec<T>> {
        let mut spec = *spec;
        if self.fault == Fault::MatmulIgnoresTransposeRhs {
            spec.transpose_rhs = false;
        }
        Reference.matmul(lhs, rhs, &spec)
    }

    fn conv2d<T: Float>(
        &self,
        input: &Vec<T>,
        input_shape: &Shape,
        weight: &Vec<T>,
        weight_shape: &Shape,
        params: &Conv2dParams,
    ) -> Result<Vec<T>> {
        let mut params = *params;
        if self.fault == Fault::ConvUsesRowDilationForColumns {
            params.dilation[1] = params.dilation[0];
        }
        Reference.conv2d(input, input_shape, weight, weight_shape, &params)
    }

    fn conv_transpose2d<T: Float>(
        &self,
        input: &Vec<T>,
        input_shape: &Shape,
        weight: &Vec<T>,
        weight_shape: &Shape,
        params: &ConvTranspose2dParams,
    ) -> Result<Vec<T>> {
        let mut params = *params;
        if self.fault == Fault::ConvTransposeIgnoresColumnPadding {
            params.padding[1] = 0;
        }
        Reference.conv_transpose2d(input, input_shape, weight, weight_shape, &params)
    }

    fn conv2d_weight_grad<T: Float>(
        &self,
        input: &Vec<T>,
        input_shape: &Shape,
        grad: &Vec<T>,
        grad_shape: &Shape,
        kernel: [usize; 2],
        params: &Conv2dParams,
    ) -> Result<Vec<T>> {
        let images = input_shape.dims().first().copied().unwrap_or(0);
        if self.fault == Fault::WeightGradDropsLastImage
            && images > 1
            && input_shape.rank() == 4
            && grad_shape.rank() == 4
            && grad_shape.dims()[0] == images
        {
            let (x, g) = (input_shape.dims(), grad_shape.dims());
            let xs = Shape::new([images - 1, x[1], x[2], x[3]]);
            let gs = Shape::new([images - 1, g[1], g[2], g[3]]);
            return Reference.conv2d_weight_grad(
                &input[..xs.numel()].to_vec(),
                &xs,
                &grad[..gs.numel()].to_vec(),
                &gs,
                kernel,
                params,
            );
        }
        Reference.conv2d_weight_grad(input, input_shape, grad, grad_shape, kernel, params)
    }

    fn permute<T: Float>(&self, x: &Vec<T>, shape: &Shape, axes: &[usize]) -> Result<Vec<T>> {
        if self.fault == Fault::PermuteByInverse {
            let mut inverse = axes.to_vec();
            if shape.permuted("permute", axes).is_ok() {
                for (i, &a) in axes.iter().enumerate() {
                    inverse[a] = i;
                }
            }
            let out = Reference.permute(x, shape, &inverse)?;
            return Ok(out);
        }
        Reference.permute(x, shape, axes)
    }

    fn concat<T: Float>(&self, parts: &[(&Vec<T>, &Shape)], axis: usize) -> Result<Vec<T>> {
        Reference.concat(parts, axis)
    }

    fn slice<T: Float>(
        &self,
        x: &Vec<T>,
        shape: &Shape,
        axis: usize,
        start: usize,
        len: usize,
    ) -> Result<Vec<T>> {
        let out = Reference.slice(x, shape, axis, start, len);
        match (self.fault, out) {
            (Fault::SliceWrongErrorVariant, Err(Error::InvalidArgument { op, message })) => {
                Err(Error::shapes(op, shape.dims(), &[start, len], message))
            }
            (_, out) => out,
        }
    }

    fn pad<T: Float>(&self, x: &Vec<T>, shape: &Shape, pads: &[(usize, usize)]) -> Result<Vec<T>> {
        Reference.pad(x, shape, pads)
    }

    fn flip<T: Float>(&self, x: &Vec<T>, shape: &Shape, axes: &[usize]) -> Result<Vec<T>> {
        if self.fault == Fault::FlipIgnoresLastAxis && shape.rank() > 0 {
            let last = shape.rank() - 1;
            let kept: Vec<usize> = axes.iter().copied().filter(|&a| a != last).collect();
            if shape.check_axes("flip", axes).is_ok() {
                return Reference.flip(x, shape, &kept);
            }
        }
        Reference.flip(x, shape, axes)
    }

    fn random_normal<T: Float>(&self, key: RngKey, offset: u64, len: usize) -> Result<Vec<T>> {
        let offset = if self.fault == Fault::RandomNormalOffByOne {
            offset + 1
        } else {
            offset
        };
        Reference.random_normal(key, offset, len)
    }
}

use dualscore_backend_tests as suite;
use dualscore_backend_tests::harness::with_min_cases;

#[test]
#[should_panic(expected = "unary relu")]
fn catches_relu_of_nan() {
    with_min_cases(256, || {
        suite::unary::<_, f32>(&faulty(Fault::ReluOfNanIsZero))
    });
}

#[test]
#[should_panic(expected = "unary step")]
fn catches_step_tie() {
    with_min_cases(256, || {
        suite::unary::<_, f64>(&faulty(Fault::StepOfZeroIsOne))
    });
}

#[test]
#[should_panic(expected = "unary sin (f64)")]
fn catches_sin_in_low_precision() {
    with_min_cases(256, || suite::unary::<_, f64>(&faulty(Fault::SinInF32)));
}

#[test]
#[should_panic(expected = "unary gelu (f32)")]
fn catches_gelu_approximation() {
    with_min_cases(256, || {
        suite::unary::<_, f32>(&faulty(Fault::GeluTanhApproximation))
    });
}

#[test]
#[should_panic(expected = "binary add (f32)")]
fn catches_inexact_add() {
    with_min_cases(256, || {
        suite::binary::<_, f32>(&faulty(Fault::AddTooInexact))
    });
}

#[test]
#[should_panic(expected = "binary maximum")]
fn catches_max_dropping_nan() {
    with_min_cases(256, || {
        suite::binary::<_, f64>(&faulty(Fault::MaxIgnoresNan))
    });
}

#[test]
#[should_panic(expected = "conv2d (f32)")]
fn catches_conv_axis_mixup() {
    with_min_cases(256, || {
        suite::conv2d::<_, f32>(&faulty(Fault::ConvUsesRowDilationForColumns))
    });
}

#[test]
#[should_panic(expected = "conv2d_weight_grad (f32)")]
fn catches_a_weight_gradient_missing_an_image() {
    with_min_cases(256, || {
        suite::conv2d_weight_grad::<_, f32>(&faulty(Fault::WeightGradDropsLastImage))
    });
}

#[test]
#[should_panic(expected = "conv_transpose2d (f64)")]
fn catches_conv_transpose_padding() {
    with_min_cases(256, || {
        suite::conv_transpose2d::<_, f64>(&faulty(Fault::ConvTransposeIgnoresColumnPadding))
    });
}

#[test]
#[should_panic(expected = "matmul (f32)")]
fn catches_ignored_transpose() {
    with_min_cases(256, || {
        suite::matmul::<_, f32>(&faulty(Fault::MatmulIgnoresTransposeRhs))
    });
}

#[test]
#[should_panic(expected = "reduce sum (f64)")]
fn catches_sum_in_low_precision() {
    with_min_cases(256, || suite::reduce::<_, f64>(&faulty(Fault::SumInF32)));
}

#[test]
#[should_panic(expected = "panicked instead of returning a result")]
fn catches_panic_on_invalid_shapes() {
    with_min_cases(256, || {
        suite::binary_errors::<_, f32>(&faulty(Fault::BinaryPanicsOnBadShapes))
    });
}

#[test]
#[should_panic(expected = "where the oracle gives InvalidArgument")]
fn catches_wrong_error_variant() {
    with_min_cases(256, || {
        suite::slice_errors::<_, f32>(&faulty(Fault::SliceWrongErrorVariant))
    });
}

#[test]
#[should_panic(expected = "random_normal (f32)")]
fn catches_random_offset() {
    with_min_cases(256, || {
        suite::random_normal::<_, f32>(&faulty(Fault::RandomNormalOffByOne))
    });
}

#[test]
#[should_panic(expected = "permute (f64)")]
fn catches_inverse_permutation() {
    with_min_cases(256, || {
        suite::permute::<_, f64>(&faulty(Fault::PermuteByInverse))
    });
}

#[test]
#[should_panic(expected = "not bitwise reproducible")]
fn catches_irreproducible_sum() {
    with_min_cases(256, || {
        suite::repeatable::<_, f32>(&faulty(Fault::SumChangesBetweenRuns))
    });
}

#[test]
#[should_panic(expected = "1 thread and 2 threads")]
fn catches_thread_dependent_sum() {
    with_min_cases(256, || {
        suite::threads_sum::<_, f32>(|n| faulty(Fault::SumOrderDependsOnThreads(n)))
    });
}

#[test]
#[should_panic(expected = "flip (f32)")]
fn catches_flip_axis() {
    with_min_cases(256, || {
        suite::flip::<_, f32>(&faulty(Fault::FlipIgnoresLastAxis))
    });
}

#[test]
#[should_panic(expected = "cast f64 -> f32")]
fn catches_cast_rounding() {
    with_min_cases(256, || suite::cast::<_, f64>(&faulty(Fault::CastTruncates)));
}

#[test]
#[should_panic(expected = "large reduce (f32)")]
fn catches_dropped_term_in_a_long_f32_sum() {
    with_min_cases(256, || {
        suite::large_reduce::<_, f32>(&faulty(Fault::LargeSumDropsLastElement))
    });
}

#[test]
#[should_panic(expected = "large elementwise (f64)")]
fn catches_chunk_boundary_bug() {
    with_min_cases(256, || {
        suite::large_elementwise::<_, f64>(&faulty(Fault::BinaryChunkBoundary))
    });
}
