//! The CPU backend against the reference backend on whole models: the dual loss of a small UNet
//! energy and the gradient of every parameter tensor, in f32 (the precision of training), and
//! Adam steps in f64.

use dualscore_backend_tests::models::{
    LossAndGradients, assert_same_loss_and_gradients, disagreements, small_unet_config,
    unet_adam_steps, unet_dual_loss,
};
use dualscore_core::backend::reference::Reference;
use dualscore_cpu::Cpu;

/// f32 on the CPU against the reference's f32 (every op rounded from f64): both round each op's
/// result to f32 but sum in different orders, and the second-order graph is deep. The worst
/// errors (printed by `unet_dual_loss_and_every_gradient_agree_in_f32`, quoted in
/// docs/RESULTS.md) stay more than ten times below 1e-5, while an error in one tensor's kernel
/// path (a wrong tap, a missing term) shows up at 1e-3 and beyond.
const F32_TOLERANCE: f64 = 1e-5;

fn f32_on_both(image_size: usize, batch: usize) -> (LossAndGradients, LossAndGradients) {
    let config = small_unet_config(image_size);
    let cpu = unet_dual_loss::<_, f32>(&Cpu::with_threads(2).unwrap(), &config, batch, 7).unwrap();
    let reference = unet_dual_loss::<_, f32>(&Reference, &config, batch, 7).unwrap();
    (cpu, reference)
}

#[test]
fn unet_dual_loss_and_every_gradient_agree_in_f32() {
    // 16x16 images: the 2x2 stride-2 downsamplings' weight gradients are long-kernel
    // convolutions (kernel = the 8x8 and 4x4 output gradients, dilation 2).
    let (cpu, reference) = f32_on_both(16, 3);
    let loss_error = cpu
        .loss
        .iter()
        .zip(&reference.loss)
        .fold(0.0f64, |worst, (a, b)| worst.max(((a - b) / b).abs()));
    let worst_gradient = disagreements(&cpu.gradients, &reference.gradients, 0.0)
        .iter()
        .fold(0.0f64, |worst, (_, err)| worst.max(*err));
    println!(
        "loss, dsm, tsm: worst relative error {loss_error:.1e}; {} gradients: worst normwise {worst_gradient:.1e}",
        cpu.gradients.len()
    );
    assert_same_loss_and_gradients(&cpu, &reference, F32_TOLERANCE);
}

#[test]
fn a_wrong_gradient_in_any_one_tensor_is_caught() {
    let (cpu, reference) = f32_on_both(8, 2);
    assert!(disagreements(&cpu.gradients, &reference.gradients, F32_TOLERANCE).is_empty());
    for victim in 0..cpu.gradients.len() {
        let mut wrong = cpu.gradients.clone();
        // One entry of one tensor off by 1% of the tensor's norm.
        let norm = wrong[victim].1.iter().map(|v| v * v).sum::<f64>().sqrt();
        wrong[victim].1[0] += 1e-2 * norm;
        let caught = disagreements(&wrong, &reference.gradients, F32_TOLERANCE);
        let names: Vec<&str> = caught.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec![wrong[victim].0.as_str()], "victim {victim}");
    }
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
