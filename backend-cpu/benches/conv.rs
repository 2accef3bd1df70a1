//! Convolution and GEMM throughput of the CPU backend on two threads, in f32.
//!
//! Run with `cargo bench -p dualscore-cpu`. Criterion reports elements/s, where one element is
//! one floating-point operation (a multiply-add counts two), so its figures are FLOP/s. A
//! one-line summary (best of several interleaved runs, in GFLOP/s) follows, with the ratio of
//! the forward convolution to the best square sgemm.

use criterion::{BenchmarkId, Criterion, Throughput};
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams, MatmulSpec};
use dualscore_core::{Backend, Shape};
use dualscore_cpu::{Buffer, Cpu};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The layer: N = 32 images of 32 channels, 32 x 32, a 3 x 3 kernel to 32 channels, padding 1.
const N: usize = 32;
const C: usize = 32;
const O: usize = 32;
const HW: usize = 32;
const K: usize = 3;

fn data(len: usize, seed: u32) -> Buffer<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect::<Vec<f32>>()
        .into()
}

/// One benchmarked kernel: a name, its floating-point operations, and a closure running it.
struct Kernel {
    name: String,
    flops: u64,
    run: Box<dyn Fn()>,
}

fn kernels(cpu: &Cpu) -> Vec<Kernel> {
    let conv_flops = (2 * N * O * HW * HW * C * K * K) as u64;
    let xs = Shape::new([N, C, HW, HW]);
    let ws = Shape::new([O, C, K, K]);
    let ys = Shape::new([N, O, HW, HW]);
    let x = data(xs.numel(), 1);
    let w = data(ws.numel(), 2);
    let dy = data(ys.numel(), 3);
    let p = Conv2dParams::new(1, 1, 1);
    let pt = ConvTranspose2dParams::new(1, 1, 0, 1);
    // The weight gradient by the composed route (the default of `Backend::conv2d_weight_grad`):
    // x as [C, N, H, W], dy as [O, N, HO, WO] for the kernel, stride = dilation = 1, padding 1;
    // the output is [C, O, 3, 3].
    let xt = cpu.permute(&x, &xs, &[1, 0, 2, 3]).expect("permute");
    let dyt = cpu.permute(&dy, &ys, &[1, 0, 2, 3]).expect("permute");
    let xts = Shape::new([C, N, HW, HW]);
    let dyts = Shape::new([O, N, HW, HW]);
    let mut out = Vec::new();
    {
        let (cpu, x, w, xs, ws) = (cpu.clone(), x.clone(), w.clone(), xs.clone(), ws.clone());
        out.push(Kernel {
            name: "conv2d forward".into(),
            flops: conv_flops,
            run: Box::new(move || {
                black_box(cpu.conv2d(&x, &xs, &w, &ws, &p).expect("conv2d"));
            }),
        });
    }
    {
        let (cpu, dy, w, ys, ws) = (cpu.clone(), dy.clone(), w.clone(), ys.clone(), ws.clone());
        out.push(Kernel {
            name: "conv input grad (conv_transpose2d)".into(),
            flops: conv_flops,
            run: Box::new(move || {
                black_box(cpu.conv_transpose2d(&dy, &ys, &w, &ws, &pt).expect("convt"));
            }),
        });
    }
    {
        let (cpu, x, dy, xs, ys) = (cpu.clone(), x.clone(), dy.clone(), xs.clone(), ys.clone());
        out.push(Kernel {
            name: "conv weight grad (conv2d_weight_grad)".into(),
            flops: conv_flops,
            run: Box::new(move || {
                let gw = cpu.conv2d_weight_grad(&x, &xs, &dy, &ys, [K, K], &p);
                black_box(gw.expect("conv2d_weight_grad"));
            }),
        });
    }
    {
        let (cpu, x, dy, xs, ys) = (cpu.clone(), x.clone(), dy.clone(), xs.clone(), ys.clone());
        out.push(Kernel {
            name: "conv weight grad (composed, with its permutes)".into(),
            flops: conv_flops,
            run: Box::new(move || {
                let gw = dualscore_core::backend::composed::conv2d_weight_grad(
                    &cpu,
                    &x,
                    &xs,
                    &dy,
                    &ys,
                    [K, K],
                    &p,
                );
                black_box(gw.expect("composed"));
            }),
        });
    }
    {
        let cpu = cpu.clone();
        out.push(Kernel {
            name: "conv weight grad (composed, conv2d of permuted copies)".into(),
            flops: conv_flops,
            run: Box::new(move || {
                black_box(cpu.conv2d(&xt, &xts, &dyt, &dyts, &p).expect("conv2d"));
            }),
        });
    }
    for n in [1024usize, 2048] {
        let spec = MatmulSpec::batched(1, n, n, n);
        let (a, b) = (data(n * n, 4), data(n * n, 5));
        let cpu = cpu.clone();
        out.push(Kernel {
            name: format!("sgemm n={n}"),
            flops: 2 * (n as u64).pow(3),
            run: Box::new(move || {
                black_box(cpu.matmul(&a, &b, &spec).expect("matmul"));
            }),
        });
    }
    out
}

/// The best timing of each kernel over `rounds` rounds, the kernels interleaved within a
/// round so that all of them see the same machine conditions (the shared machines are busy).
fn best_interleaved(kernels: &[Kernel], rounds: usize) -> Vec<Duration> {
    let mut best = vec![Duration::MAX; kernels.len()];
    for k in kernels {
        (k.run)();
    }
    for _ in 0..rounds {
        for (k, b) in kernels.iter().zip(&mut best) {
            let t = Instant::now();
            (k.run)();
            *b = (*b).min(t.elapsed());
        }
    }
    best
}

fn main() {
    let cpu = Cpu::with_threads(2).expect("a pool of two threads");
    let kernels = kernels(&cpu);
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    {
        let mut group = c.benchmark_group("cpu (2 threads) f32");
        for k in &kernels {
            group.throughput(Throughput::Elements(k.flops));
            group.bench_function(BenchmarkId::from_parameter(&k.name), |b| {
                b.iter(|| (k.run)())
            });
        }
        group.finish();
    }
    c.final_summary();

    // Best-of-15 figures, interleaved, for the summary line.
    const ROUNDS: usize = 15;
    let figures: Vec<(String, f64, f64)> = kernels
        .iter()
        .zip(best_interleaved(&kernels, ROUNDS))
        .map(|(k, t)| {
            let t = t.as_secs_f64();
            (k.name.clone(), k.flops as f64 / t / 1e9, t * 1e3)
        })
        .collect();
    let gemm_best = figures
        .iter()
        .filter(|f| f.0.starts_with("sgemm"))
        .map(|f| f.1)
        .fold(0.0, f64::max);
    let line: Vec<String> = figures
        .iter()
        .map(|(name, gflops, ms)| format!("{name}: {gflops:.1} GFLOP/s ({ms:.2} ms)"))
        .collect();
    println!(
        "summary (best of {ROUNDS} interleaved runs, 2 threads, f32): {}; conv forward / best sgemm = {:.2}",
        line.join("; "),
        figures[0].1 / gemm_best
    );
}
