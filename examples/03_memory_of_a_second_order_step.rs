//! How much memory a second-order step takes.
//!
//! The idea. The dual loss contains grad_y U and dU/dt, so their backward pass keeps its graph
//! (`create_graph`): every activation of the forward pass and every intermediate of that first
//! backward pass stays alive until the second backward pass, to the weights, has used it.
//! Memory, more than arithmetic, is what limits the batch of a dual score matching step.
//!
//! The math. For each image, with `y = x + sqrt(t) z` (docs/METHOD.md section 3):
//! `L_DSM = ||sqrt(t) grad_y U - z||^2 / d` and
//! `L_TSM = ((1 - ||z||^2 / d) / 2 - (t / d) dU/dt)^2`; the step is the batch mean of their
//! sum and its gradient with respect to every weight. The energy here is
//! `U(y, t) = 1/2 <y, h(y, t)>`, h four 3x3 convolutions (1, 32, 32, 32, 1 channels) with GELU
//! between them and each hidden layer scaled by `1 + ln(1 + t)`; a batch of 32 images of 32x32
//! in f32, so one 32-channel activation is 32 x 32 x 32 x 32 x 4 bytes = 4 MiB.
//!
//! What to look at: the peak of tensor memory (counted exactly, every live buffer) in units of
//! that 4 MiB activation, about 27 of them (BENCHMARKS.md, "Memory of a second-order step");
//! tensor memory after the step is back to the weights and inputs, so the graph was freed; the
//! process's resident set adds the allocator's and the program's own memory. The last line
//! printed is `{"activations_at_peak":..,"after_step_mib":..,"ms":..,"peak_resident_mib":..,
//! "peak_tensor_mib":..}` (`peak_resident_mib` is null where the kernel does not report it).
//!
//! Run: `cargo run --release -p dualscore-examples --example 03_memory_of_a_second_order_step`

use dualscore_core::autograd::{GradOptions, grad};
use dualscore_core::backend::Conv2dParams;
use dualscore_core::rng::RngKey;
use dualscore_core::tensor::{live_buffer_bytes, peak_buffer_bytes, reset_peak_buffer_bytes};
use dualscore_core::train::{Objective, score_matching_loss};
use dualscore_core::{Backend, Result, Tensor};
use dualscore_cpu::Cpu;
use std::time::Instant;

type T32 = Tensor<Cpu, f32>;

const BATCH: usize = 32;
const SIZE: usize = 32;
const WIDTH: usize = 32;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The peak resident set of this process in bytes (Linux), if the kernel reports it.
fn peak_resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn main() -> Result<()> {
    let cpu = Cpu::new();
    let key = RngKey::new(1, 0);
    let channels = [1, WIDTH, WIDTH, WIDTH, 1];
    let weights: Vec<T32> = channels
        .windows(2)
        .enumerate()
        .map(|(i, c)| {
            let fan_in = (c[0] * 9) as f64;
            Ok(T32::randn(&cpu, [c[1], c[0], 3, 3], key, (i as u64) << 32)?
                .scale(1.0 / fan_in.sqrt())?
                .requiring_grad())
        })
        .collect::<Result<_>>()?;
    let energy = |y: &T32, t: &T32| -> Result<T32> {
        let same = Conv2dParams::new(1, 1, 1);
        let gain = t.add_scalar(1.0)?.log()?.reshape([BATCH, 1, 1, 1])?;
        let mut h = y.clone();
        for (i, w) in weights.iter().enumerate() {
            h = h.conv2d(w, &same)?;
            if i + 1 < weights.len() {
                h = h.mul(&gain.add_scalar(1.0)?)?.gelu()?;
            }
        }
        y.mul(&h)?.sum(&[1, 2, 3], false)?.scale(0.5)
    };
    let x = T32::rand(&cpu, [BATCH, 1, SIZE, SIZE], key, 1 << 40)?;
    let z = T32::randn(&cpu, [BATCH, 1, SIZE, SIZE], key, 2 << 40)?;
    let t = T32::from_f64(
        &cpu,
        &(0..BATCH)
            .map(|i| 10f64.powf(-9.0 + 12.0 * i as f64 / BATCH as f64))
            .collect::<Vec<_>>(),
        [BATCH],
    )?;

    let before = live_buffer_bytes();
    reset_peak_buffer_bytes();
    let start = Instant::now();
    let loss = score_matching_loss(&energy, &x, &t, &z, Objective::Dual)?;
    let weight_refs: Vec<&T32> = weights.iter().collect();
    let grads = grad(&[&loss.loss], &weight_refs, GradOptions::default())?;
    let elapsed = start.elapsed();
    let peak = peak_buffer_bytes();
    drop(grads);
    drop(loss);

    println!(
        "second-order step: 4 conv layers of {WIDTH} channels, batch {BATCH}, {SIZE}x{SIZE}, f32, {}",
        cpu.name()
    );
    println!("tensor memory before the step: {:.1} MiB", mib(before));
    println!("peak tensor memory during the step: {:.1} MiB", mib(peak));
    println!(
        "tensor memory after the step: {:.1} MiB",
        mib(live_buffer_bytes())
    );
    let rss = peak_resident_bytes();
    if let Some(rss) = rss {
        println!("peak resident set of the process: {:.1} MiB", mib(rss));
    }
    let ms = elapsed.as_secs_f64() * 1e3;
    println!("time: {ms:.0} ms");
    let activation = (BATCH * WIDTH * SIZE * SIZE * std::mem::size_of::<f32>()) as f64;
    println!(
        "{}",
        serde_json::json!({
            "peak_tensor_mib": mib(peak),
            "activations_at_peak": peak as f64 / activation,
            "after_step_mib": mib(live_buffer_bytes()),
            "peak_resident_mib": rss.map(mib),
            "ms": ms,
        })
    );
    Ok(())
}
