//! The CUDA backend against the CPU backend on whole models: the dual loss of a small UNet
//! energy and every parameter's gradient (second order) in f32 and f64, and 20 Adam steps in
//! f64. Without a device each test says why it skipped and passes (see
//! `dualscore_cuda::testing`).

use dualscore_backend_tests::models::{
    assert_same_loss_and_gradients, disagreements, small_unet_config, unet_adam_steps,
    unet_dual_loss,
};
use dualscore_cpu::Cpu;
use dualscore_cuda::testing::device;

fn cpu() -> Cpu {
    Cpu::with_threads(2).unwrap()
}

/// f32: both backends round every op to f32 but sum in different orders (tiles, trees, fused
/// multiply-adds) and the GPU's transcendental functions differ from the host's by an ulp or
/// two; the CPU against the exact-per-op reference measures 7e-7 at most (backend-cpu's
/// models test). 1e-4 allows a wider spread of summation orders while still catching an error
/// confined to one tensor.
const F32_TOLERANCE: f64 = 1e-4;

/// f64: the same argument with 2^-53 in place of 2^-24.
const F64_TOLERANCE: f64 = 1e-10;

#[test]
fn unet_dual_loss_and_gradients_agree_in_f32() {
    let Some(gpu) = device() else { return };
    // 16x16: the strided downsamplings' weight gradients take the CPU's long-kernel path.
    let config = small_unet_config(16);
    let on_gpu = unet_dual_loss::<_, f32>(&gpu, &config, 4, 11).unwrap();
    let on_cpu = unet_dual_loss::<_, f32>(&cpu(), &config, 4, 11).unwrap();
    assert_same_loss_and_gradients(&on_gpu, &on_cpu, F32_TOLERANCE);
}

#[test]
fn unet_dual_loss_and_gradients_agree_in_f64() {
    let Some(gpu) = device() else { return };
    let config = small_unet_config(16);
    let on_gpu = unet_dual_loss::<_, f64>(&gpu, &config, 4, 12).unwrap();
    let on_cpu = unet_dual_loss::<_, f64>(&cpu(), &config, 4, 12).unwrap();
    assert_same_loss_and_gradients(&on_gpu, &on_cpu, F64_TOLERANCE);
}

#[test]
fn twenty_adam_steps_agree_in_f64() {
    let Some(gpu) = device() else { return };
    let config = small_unet_config(8);
    let on_gpu = unet_adam_steps::<_, f64>(&gpu, &config, 4, 20, 13).unwrap();
    let on_cpu = unet_adam_steps::<_, f64>(&cpu(), &config, 4, 20, 13).unwrap();
    let bad = disagreements(&on_gpu, &on_cpu, F64_TOLERANCE);
    assert!(
        bad.is_empty(),
        "parameters that disagree after 20 steps: {bad:?}"
    );
}
