//! Bitwise reproducibility: the same kernel on the same input gives the same bits, run after
//! run and whatever the number of threads.

use crate::harness::{Input, check, dev_run};
use crate::strategies::{
    ConvCase, ConvTransposeCase, DataKind, MatmulCase, conv_case, conv_transpose_case, matmul_case,
    seeded, shape, shaped, value_or_special,
};
use crate::tolerance::assert_same_bits;
use crate::{conv, linalg, reduce};
use dualscore_core::backend::{
    BinaryOp, Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp, UnaryOp,
};
use dualscore_core::rng::RngKey;
use dualscore_core::{Backend, Float, Shape};
use proptest::test_runner::{TestCaseError, TestCaseResult};

/// Runs `f` twice and checks that both outputs have the same bits.
fn twice<B: Backend, T: Float>(
    backend: &B,
    what: &str,
    len: usize,
    f: impl Fn(&B) -> dualscore_core::Result<B::Storage<T>>,
) -> TestCaseResult {
    let a = dev_run(backend, what, len, &f)?;
    let b = dev_run(backend, what, len, &f)?;
    assert_same_bits(what, &a, &b)
}

fn bad(e: dualscore_core::Error) -> TestCaseError {
    TestCaseError::fail(format!("bad case: {e}"))
}

type RepeatCase = (MatmulCase, ConvCase, ConvTransposeCase, (Shape, Vec<f64>));

fn repeat_one<B: Backend, T: Float>(backend: &B, case: RepeatCase) -> TestCaseResult {
    let (mm, cv, ct, (shape, values)) = case;
    let s = mm.spec;
    let l = Input::<T>::new(&seeded(mm.kind, mm.seed, 0, s.lhs_len())).upload(backend)?;
    let r = Input::<T>::new(&seeded(mm.kind, mm.seed, 1, s.rhs_len())).upload(backend)?;
    twice(backend, &format!("matmul {s:?}"), s.out_len(), |b| {
        b.matmul(&l, &r, &s)
    })?;

    let out = cv.params.output_shape(&cv.input, &cv.weight).map_err(bad)?;
    let x = Input::<T>::new(&seeded(cv.kind, cv.seed, 0, cv.input.numel())).upload(backend)?;
    let w = Input::<T>::new(&seeded(cv.kind, cv.seed, 1, cv.weight.numel())).upload(backend)?;
    twice(backend, &format!("conv2d {cv:?}"), out.numel(), |b| {
        b.conv2d(&x, &cv.input, &w, &cv.weight, &cv.params)
    })?;

    let out = ct.params.output_shape(&ct.input, &ct.weight).map_err(bad)?;
    let x = Input::<T>::new(&seeded(ct.kind, ct.seed, 0, ct.input.numel())).upload(backend)?;
    let w = Input::<T>::new(&seeded(ct.kind, ct.seed, 1, ct.weight.numel())).upload(backend)?;
    twice(
        backend,
        &format!("conv_transpose2d {ct:?}"),
        out.numel(),
        |b| b.conv_transpose2d(&x, &ct.input, &w, &ct.weight, &ct.params),
    )?;

    let x = Input::<T>::new(&values).upload(backend)?;
    let all: Vec<usize> = (0..shape.rank()).collect();
    for op in ReduceOp::ALL {
        if op.output_shape(&shape, &all).is_err() {
            continue;
        }
        twice(
            backend,
            &format!("reduce {} of {shape}", op.name()),
            1,
            |b| b.reduce(op, &x, &shape, &all),
        )?;
    }
    twice(backend, &format!("exp of {shape}"), shape.numel(), |b| {
        b.unary(UnaryOp::Exp, &x)
    })?;
    twice(backend, &format!("add of {shape}"), shape.numel(), |b| {
        b.binary(BinaryOp::Add, &x, &shape, &x, &shape)
    })?;
    let key = RngKey::new(mm.seed, cv.seed);
    twice(backend, "random_normal", 77, |b| {
        b.random_normal::<T>(key, ct.seed, 77)
    })
}

/// The same kernel on the same input, run twice, gives identical bits: matmul, conv2d,
/// conv_transpose2d, every full reduction, an elementwise op, random numbers.
pub fn repeatable<B: Backend, T: Float>(backend: &B) {
    let case = (
        matmul_case(),
        conv_case(),
        conv_transpose_case(),
        shaped(shape(4, 5), value_or_special()),
    );
    check(&format!("repeatable ({})", T::DTYPE), case, |case| {
        repeat_one::<B, T>(backend, case)
    });
}

/// Thread counts compared by the thread-determinism checks.
pub const THREADS: [usize; 3] = [1, 2, 3];

/// Runs `run` on a backend of each of [`THREADS`] and checks that all outputs have the same
/// bits; panics with a message naming `what` otherwise.
fn across_threads<B: Backend, T: Float>(
    what: &str,
    make: &impl Fn(usize) -> B,
    run: impl Fn(&B) -> Result<Vec<T>, TestCaseError>,
) -> Vec<T> {
    let mut first: Option<Vec<T>> = None;
    for n in THREADS {
        let backend = make(n);
        let out = run(&backend)
            .unwrap_or_else(|e| panic!("{what} with {n} threads ({}): {e}", backend.name()));
        match &first {
            None => first = Some(out),
            Some(one) => {
                if let Err(e) = assert_same_bits(what, one, &out) {
                    panic!(
                        "{what}: 1 thread and {n} threads ({}) differ: {e}",
                        backend.name()
                    );
                }
            }
        }
    }
    first.unwrap_or_default()
}

/// Matmuls large enough to be split across threads (300 x 300 x 300, and a batched one with
/// transposes) give the same bits with 1, 2 and 3 threads, and stay within the bound.
pub fn threads_matmul<B: Backend, T: Float>(make: impl Fn(usize) -> B) {
    let specs = [
        MatmulSpec::batched(1, 300, 300, 300),
        MatmulSpec {
            transpose_lhs: true,
            transpose_rhs: true,
            rhs_batched: false,
            ..MatmulSpec::batched(3, 64, 200, 96)
        },
    ];
    for (i, spec) in specs.into_iter().enumerate() {
        let case = MatmulCase {
            spec,
            seed: 11 + i as u64,
            kind: DataKind::Normal,
        };
        let what = format!("matmul {spec:?} ({})", T::DTYPE);
        let l = seeded(case.kind, case.seed, 0, spec.lhs_len());
        let r = seeded(case.kind, case.seed, 1, spec.rhs_len());
        across_threads::<B, T>(&what, &make, |b| {
            let (l, r) = (
                Input::<T>::new(&l).upload(b)?,
                Input::<T>::new(&r).upload(b)?,
            );
            dev_run(b, &what, spec.out_len(), |b| b.matmul(&l, &r, &spec))
        });
        if let Err(e) = linalg::matmul_one::<B, T>(&make(2), &case) {
            panic!("{what}: {e}");
        }
    }
}

/// conv2d and conv_transpose2d of a few hundred thousand products give the same bits with 1, 2
/// and 3 threads, and stay within the bound.
pub fn threads_conv2d<B: Backend, T: Float>(make: impl Fn(usize) -> B) {
    // A UNet-like 3x3 convolution, and a weight gradient's shape (a kernel nearly the size of
    // the image, a long contraction, 9 output pixels).
    let convs = [
        ConvCase {
            input: Shape::new([3, 6, 24, 24]),
            weight: Shape::new([8, 6, 3, 3]),
            params: Conv2dParams::new(1, 1, 1),
            seed: 5,
            kind: DataKind::Normal,
        },
        ConvCase {
            input: Shape::new([4, 8, 16, 16]),
            weight: Shape::new([6, 8, 14, 14]),
            params: Conv2dParams::default(),
            seed: 7,
            kind: DataKind::Normal,
        },
    ];
    for conv in convs {
        let what = format!("conv2d {conv:?} ({})", T::DTYPE);
        let out = conv.params.output_shape(&conv.input, &conv.weight).unwrap();
        let x = seeded(conv.kind, conv.seed, 0, conv.input.numel());
        let w = seeded(conv.kind, conv.seed, 1, conv.weight.numel());
        across_threads::<B, T>(&what, &make, |b| {
            let (x, w) = (
                Input::<T>::new(&x).upload(b)?,
                Input::<T>::new(&w).upload(b)?,
            );
            dev_run(b, &what, out.numel(), |b| {
                b.conv2d(&x, &conv.input, &w, &conv.weight, &conv.params)
            })
        });
        if let Err(e) = conv::conv2d_one::<B, T>(&make(3), &conv) {
            panic!("{what}: {e}");
        }
    }

    // A weight gradient whose pixels span several tiles and tasks.
    let wg = ConvCase {
        input: Shape::new([8, 8, 32, 32]),
        weight: Shape::new([6, 8, 3, 3]),
        params: Conv2dParams::new(1, 1, 1),
        seed: 9,
        kind: DataKind::Normal,
    };
    let what = format!("conv2d_weight_grad {wg:?} ({})", T::DTYPE);
    let gs = wg.params.output_shape(&wg.input, &wg.weight).unwrap();
    let x = seeded(wg.kind, wg.seed, 0, wg.input.numel());
    let g = seeded(wg.kind, wg.seed, 2, gs.numel());
    across_threads::<B, T>(&what, &make, |b| {
        let (x, g) = (
            Input::<T>::new(&x).upload(b)?,
            Input::<T>::new(&g).upload(b)?,
        );
        dev_run(b, &what, wg.weight.numel(), |b| {
            b.conv2d_weight_grad(&x, &wg.input, &g, &gs, [3, 3], &wg.params)
        })
    });
    if let Err(e) = conv::conv2d_weight_grad_one::<B, T>(&make(3), &wg) {
        panic!("{what}: {e}");
    }

    let convt = ConvTransposeCase {
        input: Shape::new([3, 8, 12, 12]),
        weight: Shape::new([8, 6, 2, 2]),
        params: ConvTranspose2dParams::new(2, 0, 0, 1),
        seed: 6,
        kind: DataKind::Normal,
    };
    let what = format!("conv_transpose2d {convt:?} ({})", T::DTYPE);
    let out = convt
        .params
        .output_shape(&convt.input, &convt.weight)
        .unwrap();
    let x = seeded(convt.kind, convt.seed, 0, convt.input.numel());
    let w = seeded(convt.kind, convt.seed, 1, convt.weight.numel());
    across_threads::<B, T>(&what, &make, |b| {
        let (x, w) = (
            Input::<T>::new(&x).upload(b)?,
            Input::<T>::new(&w).upload(b)?,
        );
        dev_run(b, &what, out.numel(), |b| {
            b.conv_transpose2d(&x, &convt.input, &w, &convt.weight, &convt.params)
        })
    });
    if let Err(e) = conv::conv_transpose2d_one::<B, T>(&make(3), &convt) {
        panic!("{what}: {e}");
    }
}

/// Sum and Mean of about a million elements (all axes, one axis) give the same bits with 1, 2
/// and 3 threads, and stay within the bound.
pub fn threads_sum<B: Backend, T: Float>(make: impl Fn(usize) -> B) {
    let n = 1_000_000;
    let data = seeded(DataKind::Normal, 21, 0, n);
    let cases: [(Shape, Vec<usize>, ReduceOp); 4] = [
        (Shape::new([n]), vec![0], ReduceOp::Sum),
        (Shape::new([1000, 1000]), vec![0, 1], ReduceOp::Sum),
        (Shape::new([1000, 1000]), vec![1], ReduceOp::Sum),
        (Shape::new([100, 100, 100]), vec![2, 0], ReduceOp::Mean),
    ];
    for (shape, axes, op) in cases {
        let what = format!(
            "reduce {} of {shape} over {axes:?} ({})",
            op.name(),
            T::DTYPE
        );
        let out = op.output_shape(&shape, &axes).unwrap();
        across_threads::<B, T>(&what, &make, |b| {
            let x = Input::<T>::new(&data).upload(b)?;
            dev_run(b, &what, out.numel(), |b| b.reduce(op, &x, &shape, &axes))
        });
        if let Err(e) = reduce::reduce_one::<B, T>(&make(3), op, (shape, data.clone(), axes)) {
            panic!("{what}: {e}");
        }
    }
}
