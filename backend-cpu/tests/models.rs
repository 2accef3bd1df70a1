//! The CPU backend against the reference backend on whole models: the dual loss of a small UNet
//! energy and the gradient of every parameter tensor, in f32 (the precision of training), and
//! Adam steps in f64.

use dualscore_backend_tests::faulty::ConvFault;
use dualscore_backend_tests::models::{
    LossAndGradients, assert_same_loss_and_gradients, disagreements, small_unet_config,
    unet_adam_steps, unet_dual_loss,
};
use dualscore_core::backend::reference::Reference;
use dualscore_cpu::Cpu;
use std::sync::OnceLock;

/// f32 on the CPU against the reference's f32 (every op rounded from f64): both round each op's
/// result to f32 but sum in different orders, and the second-order graph is deep. The worst
/// errors (printed by `unet_dual_loss_and_every_gradient_agree_in_f32`, quoted in
/// docs/RESULTS.md) stay more than ten times below 1e-5; a wrong element in one kernel call
/// shows up in its tensor far above it (`a_fault_in_one_convolution_call_is_caught`).
const F32_TOLERANCE: f64 = 1e-5;

/// Image size and batch of the f32 comparison: 32x32 images in batches of 4 make the weight
/// gradients of the 3x3 layers at 32x32 and 16x16 (contractions of 4096 and 1024) and of the
/// first 2x2 stride-2 downsampling (dilation 2, contraction 1024) take the CPU's long-kernel
/// path, while the 8x8 middle block's take the gathered-column path.
const IMAGE_SIZE: usize = 32;
const BATCH: usize = 4;
const SEED: u64 = 7;

fn f32_loss<B: dualscore_core::Backend>(backend: &B) -> LossAndGradients {
    unet_dual_loss::<_, f32>(backend, &small_unet_config(IMAGE_SIZE), BATCH, SEED).unwrap()
}

/// The reference's f32 loss and gradients (slow: computed once for the tests of this file).
fn reference_f32() -> &'static LossAndGradients {
    static REFERENCE: OnceLock<LossAndGradients> = OnceLock::new();
    REFERENCE.get_or_init(|| f32_loss(&Reference))
}

fn cpu_f32() -> &'static LossAndGradients {
    static CPU: OnceLock<LossAndGradients> = OnceLock::new();
    CPU.get_or_init(|| f32_loss(&Cpu::with_threads(2).unwrap()))
}

#[test]
fn unet_dual_loss_and_every_gradient_agree_in_f32() {
    let (cpu, reference) = (cpu_f32(), reference_f32());
    let loss_error = cpu
        .loss
        .iter()
        .zip(&reference.loss)
        .fold(0.0f64, |worst, (a, b)| worst.max(((a - b) / b).abs()));
    let mut errors = disagreements(&cpu.gradients, &reference.gradients, 0.0);
    errors.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!(
        "loss, dsm, tsm: worst relative error {loss_error:.1e}; {} gradients: worst normwise {:.1e} ({}), median {:.1e}",
        cpu.gradients.len(),
        errors[0].1,
        errors[0].0,
        errors[errors.len() / 2].1,
    );
    assert_same_loss_and_gradients(cpu, reference, F32_TOLERANCE);
}

#[test]
fn a_wrong_gradient_in_any_one_tensor_is_caught() {
    let (cpu, reference) = (cpu_f32(), reference_f32());
    assert!(disagreements(&cpu.gradients, &reference.gradients, F32_TOLERANCE).is_empty());
    for victim in 0..cpu.gradients.len() {
        let mut wrong = cpu.gradients.clone();
        // One entry of one tensor off by 3e-5 of the tensor's norm: three times the tolerance.
        let norm = wrong[victim].1.iter().map(|v| v * v).sum::<f64>().sqrt();
        wrong[victim].1[0] += 3.0 * F32_TOLERANCE * norm;
        let caught = disagreements(&wrong, &reference.gradients, F32_TOLERANCE);
        let names: Vec<&str> = caught.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec![wrong[victim].0.as_str()], "victim {victim}");
    }
}

/// The CPU backend with one element of one dilation-2 convolution dropped (set to zero): each
/// such call is a weight gradient of a stride-2 layer, and the element one tap of one input and
/// one output channel, one of 2,048 to 32,768 in its tensor. For every such call in turn, the
/// comparison names that layer's weight alone.
#[test]
fn a_fault_in_one_convolution_call_is_caught() {
    let reference = reference_f32();
    let mut calls = None;
    let mut nth = 0;
    while calls.is_none_or(|n| nth < n) {
        let fault = ConvFault {
            dilation: [2, 2],
            nth,
            element: 5,
            relative: -1.0,
        };
        let (faulty, counted) = fault.backend(Cpu::with_threads(2).unwrap());
        let got = f32_loss(&faulty);
        calls = Some(counted.load(std::sync::atomic::Ordering::SeqCst));
        let caught = disagreements(&got.gradients, &reference.gradients, F32_TOLERANCE);
        println!("dilation-2 call {nth}: {caught:?} (tolerance {F32_TOLERANCE:e})");
        assert_eq!(caught.len(), 1, "call {nth}: {caught:?}");
        let strided = [
            "encoder.1.0.",
            "middle_block.0.",
            "middle_block.3.",
            "decoder.1.3.",
        ];
        assert!(
            strided.iter().any(|s| caught[0].0.contains(s)),
            "call {nth}: {caught:?}"
        );
        nth += 1;
    }
    assert!(calls.unwrap_or(0) >= 4, "only {calls:?} dilation-2 calls");
}

#[test]
fn adam_steps_agree_in_f64() {
    let config = small_unet_config(8);
    let cpu = unet_adam_steps::<_, f64>(&Cpu::with_threads(2).unwrap(), &config, 2, 5, 3).unwrap();
    let reference = unet_adam_steps::<_, f64>(&Reference, &config, 2, 5, 3).unwrap();
    // Rounding differs in the last bits per op; Adam's normalization amplifies it for entries
    // with tiny gradients, still far below 1e-10 normwise after five steps.
    let bad = disagreements(&cpu, &reference, 1e-10);
    assert!(bad.is_empty(), "{bad:?}");
}

/// A training step of 32 images goes in two parts computed at once (16 images each): two
/// steps give the same bits with 1, 2 and 3 threads, and agree in f64 with the reference
/// backend, which computes the whole batch at once (the sum of the parts' gradients differs
/// from the whole batch's only by rounding).
#[test]
fn trainer_steps_in_parts_agree_across_threads_and_with_the_whole_batch() {
    use dualscore_backend_tests::models::unet_trainer_steps;
    use dualscore_core::Backend;
    let config = small_unet_config(8);
    let (batch, steps, seed) = (32, 2, 5);
    assert_eq!(Cpu::with_threads(2).unwrap().training_parts(batch), 2);
    assert_eq!(Reference.training_parts(batch), 1);
    let on = |threads: usize| {
        let cpu = Cpu::with_threads(threads).unwrap();
        unet_trainer_steps::<_, f64>(&cpu, &config, batch, steps, seed).unwrap()
    };
    let one = on(1);
    for threads in [2, 3] {
        let other = on(threads);
        for ((name, a), (_, b)) in one.iter().zip(&other) {
            let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{name} differs between 1 and {threads} threads");
        }
    }
    let reference = unet_trainer_steps::<_, f64>(&Reference, &config, batch, steps, seed).unwrap();
    let bad = disagreements(&one, &reference, 1e-10);
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn energies_in_parts_agree_across_threads_and_with_the_whole_batch() {
    use dualscore_backend_tests::models::unet_energies_in_parts;
    use dualscore_core::Backend;
    // 16x16 images: the 3x3 layers take the shifted-row kernels in f32.
    let config = small_unet_config(16);
    let (batch, seed) = (40, 3);
    assert_eq!(Cpu::with_threads(2).unwrap().training_parts(batch), 2);
    let on = |threads: usize| {
        let cpu = Cpu::with_threads(threads).unwrap();
        unet_energies_in_parts::<_, f32>(&cpu, &config, batch, seed).unwrap()
    };
    let (one, whole) = on(1);
    for threads in [2, 3] {
        let (other, _) = on(threads);
        let same = one
            .iter()
            .zip(&other)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(
            same,
            "energies in parts differ between 1 and {threads} threads"
        );
    }
    let (reference, _) =
        unet_energies_in_parts::<_, f64>(&Reference, &config, batch, seed).unwrap();
    let scale = reference.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, ((p, w), r)) in one.iter().zip(&whole).zip(&reference).enumerate() {
        assert!(
            (p - r).abs() <= F32_TOLERANCE * scale,
            "image {i}: {p} in parts, {r} reference"
        );
        assert!(
            (p - w).abs() <= F32_TOLERANCE * scale,
            "image {i}: {p} in parts, {w} whole"
        );
    }
}
