//! Helpers shared by the unit tests, and the cross-kernel tests: bitwise reproducibility across
//! thread counts.

use crate::{Buffer, Cpu};
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams, MatmulSpec, ReduceOp};
use dualscore_core::{Backend, Float, Shape};

/// A backend with `threads` threads.
pub(crate) fn cpu(threads: usize) -> Cpu {
    Cpu::with_threads(threads).expect("thread pool")
}

/// Checks `got` against the reference's `want` elementwise: equal (NaN matching NaN), or
/// within `rel` of the larger magnitude of the row.
pub(crate) fn reference_close<T: Float>(what: &str, got: &[T], want: &[T], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want
        .iter()
        .map(|v| v.as_f64().abs())
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.as_f64(), w.as_f64());
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= rel * scale;
        assert!(ok, "{what}: element {i}: got {g}, want {w}");
    }
}

/// A CPU buffer holding a copy of `v`.
pub(crate) fn buf<T: Float>(v: &[T]) -> Buffer<T> {
    Buffer::from(v.to_vec())
}

/// Deterministic pseudo-random data in [-1, 1).
pub(crate) fn data<T: Float>(len: usize, seed: u64) -> Vec<T> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            T::of_f64((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
        })
        .collect()
}

fn bits<T: Float>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.as_f64().to_bits()).collect()
}

/// The same inputs give the same bits with 1, 2 and 3 threads: a convolution (and its
/// backward kernels), a matmul large enough to be split into blocks, full and partial sums.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let backends = [cpu(1), cpu(2), cpu(3)];
    let xs = Shape::new([4, 8, 20, 20]);
    let ws = Shape::new([16, 8, 3, 3]);
    let x = buf::<f32>(&data(xs.numel(), 1));
    let w = buf::<f32>(&data(ws.numel(), 2));
    let p = Conv2dParams::new(1, 1, 1);
    let dy = buf::<f32>(&data(4 * 16 * 20 * 20, 3));
    let dys = Shape::new([4, 16, 20, 20]);
    let xt_s = Shape::new([8, 4, 20, 20]);
    let dyt_s = Shape::new([16, 4, 20, 20]);
    let spec = MatmulSpec::batched(1, 300, 200, 700);
    let (a, b) = (
        buf::<f32>(&data(spec.lhs_len(), 4)),
        buf::<f32>(&data(spec.rhs_len(), 5)),
    );
    let long = buf::<f32>(&data(1_000_003, 6));
    let long_s = Shape::new([1_000_003]);
    let rows_s = Shape::new([1000, 1000]);
    let square = buf(&long[..1_000_000]);
    let runs: Vec<Vec<Vec<u64>>> = backends
        .iter()
        .map(|cpu| {
            let xt = cpu.permute(&x, &xs, &[1, 0, 2, 3]).unwrap();
            let dyt = cpu.permute(&dy, &dys, &[1, 0, 2, 3]).unwrap();
            vec![
                bits(&cpu.conv2d(&x, &xs, &w, &ws, &p).unwrap()),
                bits(
                    &cpu.conv_transpose2d(
                        &dy,
                        &dys,
                        &w,
                        &ws,
                        &ConvTranspose2dParams::new(1, 1, 0, 1),
                    )
                    .unwrap(),
                ),
                bits(&cpu.conv2d(&xt, &xt_s, &dyt, &dyt_s, &p).unwrap()),
                bits(
                    &cpu.conv_transpose2d(
                        &dy,
                        &dys,
                        &w,
                        &ws,
                        &ConvTranspose2dParams::new(2, 1, 1, 1),
                    )
                    .unwrap(),
                ),
                bits(&cpu.matmul(&a, &b, &spec).unwrap()),
                bits(&cpu.reduce(ReduceOp::Sum, &long, &long_s, &[0]).unwrap()),
                bits(&cpu.reduce(ReduceOp::Sum, &square, &rows_s, &[0]).unwrap()),
                bits(&cpu.reduce(ReduceOp::Mean, &square, &rows_s, &[1]).unwrap()),
            ]
        })
        .collect();
    for (t, run) in runs.iter().enumerate().skip(1) {
        for (i, (a, b)) in runs[0].iter().zip(run).enumerate() {
            assert!(a == b, "kernel {i} differs between 1 and {} threads", t + 1);
        }
    }
}

#[test]
fn constructors_and_name() {
    assert!(Cpu::with_threads(0).is_err());
    let c = cpu(2);
    assert_eq!(c.threads(), 2);
    assert_eq!(c.name(), "cpu (2 threads)");
    assert_eq!(cpu(1).name(), "cpu (1 thread)");
    assert!(Cpu::new().threads() >= 1);
    let z = c.zeros::<f64>(3).unwrap();
    assert_eq!(c.len(&z), 3);
    assert!(c.fill(usize::MAX, 0.0f32).is_err());
    assert_eq!(
        c.download(&c.upload(&[1.0f32, 2.0]).unwrap()).unwrap(),
        vec![1.0, 2.0]
    );
}
