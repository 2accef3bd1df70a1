//! Times the kernels that dominate training on a GPU: a square f32 GEMM (4096^3 by default) and
//! the three convolutions of a 3x3 layer (forward, input gradient, weight gradient) at the
//! paper's widest full-resolution shape (batch 128, 64 channels, 64x64). Prints a table and a
//! last JSON line.
//!
//! ```text
//! cargo run --release -p dualscore-cuda --features cuda --example kernel_bench -- [cpu|cuda] [gemm-size] [batch]
//! ```

use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams, MatmulSpec};
use dualscore_core::rng::RngKey;
use dualscore_core::{Backend, Result, Shape};
use dualscore_cpu::Cpu;
use dualscore_cuda::Cuda;
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let device = args.first().map_or("cuda", String::as_str);
    let gemm = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(4096);
    let batch = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(128);
    match device {
        "cpu" => run(&Cpu::new(), gemm, batch, || Ok(())),
        "cuda" => {
            let gpu = Cuda::new(0)?;
            let sync = gpu.clone();
            run(&gpu, gemm, batch, move || sync.synchronize())
        }
        other => {
            eprintln!("unknown device {other:?}: use cpu or cuda");
            std::process::exit(2);
        }
    }
}

/// The median wall time of `f` in seconds over `reps` runs after one warm-up, waiting for the
/// device after each.
fn time(
    reps: usize,
    sync: &impl Fn() -> Result<()>,
    mut f: impl FnMut() -> Result<()>,
) -> Result<f64> {
    f()?;
    sync()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        f()?;
        sync()?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[reps / 2])
}

fn run<B: Backend>(
    backend: &B,
    n: usize,
    batch: usize,
    sync: impl Fn() -> Result<()>,
) -> Result<()> {
    let key = RngKey::new(1, 0);
    let a = backend.random_uniform::<f32>(key, 0, n * n)?;
    let b = backend.random_uniform::<f32>(key, (n * n) as u64, n * n)?;
    let spec = MatmulSpec::batched(1, n, n, n);
    let gemm_s = time(5, &sync, || backend.matmul(&a, &b, &spec).map(drop))?;
    let gemm_tflops = 2.0 * (n as f64).powi(3) / gemm_s / 1e12;

    let (c, hw) = (64, 64);
    let x_shape = Shape::new([batch, c, hw, hw]);
    let w_shape = Shape::new([c, c, 3, 3]);
    let x = backend.random_normal::<f32>(key, 0, batch * c * hw * hw)?;
    let w = backend.random_normal::<f32>(key, 1 << 40, c * c * 9)?;
    let g = backend.random_normal::<f32>(key, 1 << 41, batch * c * hw * hw)?;
    let params = Conv2dParams::new(1, 1, 1);
    let forward_s = time(5, &sync, || {
        backend
            .conv2d(&x, &x_shape, &w, &w_shape, &params)
            .map(drop)
    })?;
    let transpose = ConvTranspose2dParams::new(1, 1, 0, 1);
    let input_grad_s = time(5, &sync, || {
        backend
            .conv_transpose2d(&g, &x_shape, &w, &w_shape, &transpose)
            .map(drop)
    })?;
    // The weight gradient as the autodiff computes it: images and output gradients with batch
    // and channels exchanged, the output gradient as the kernel.
    let swapped = Shape::new([c, batch, hw, hw]);
    let xt = backend.permute(&x, &x_shape, &[1, 0, 2, 3])?;
    let gt = backend.permute(&g, &x_shape, &[1, 0, 2, 3])?;
    let weight_grad_s = time(5, &sync, || {
        backend
            .conv2d(&xt, &swapped, &gt, &swapped, &params)
            .map(drop)
    })?;
    let conv_flop = 2.0 * (batch * c * c * 9 * hw * hw) as f64;
    let tflops = |s: f64| conv_flop / s / 1e12;
    println!("{}", backend.name());
    println!("| kernel | ms | TFLOP/s |");
    println!("|---|---|---|");
    println!(
        "| GEMM {n}^3 f32 | {:.2} | {:.2} |",
        gemm_s * 1e3,
        gemm_tflops
    );
    for (name, s) in [
        ("conv 3x3 forward", forward_s),
        ("conv 3x3 input gradient", input_grad_s),
        ("conv 3x3 weight gradient", weight_grad_s),
    ] {
        println!(
            "| {name} (batch {batch}, 64 ch, 64x64) | {:.2} | {:.2} |",
            s * 1e3,
            tflops(s)
        );
    }
    println!(
        "{{\"device\": \"{}\", \"gemm_n\": {n}, \"gemm_tflops\": {gemm_tflops:.3}, \
         \"conv_forward_tflops\": {:.3}, \"conv_input_grad_tflops\": {:.3}, \
         \"conv_weight_grad_tflops\": {:.3}}}",
        backend.name(),
        tflops(forward_s),
        tflops(input_grad_s),
        tflops(weight_grad_s)
    );
    Ok(())
}
