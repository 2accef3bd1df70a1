//! Whole-model checks between two backends: the dual score matching loss of a small UNet energy
//! and the gradient of every parameter tensor (second order: the loss holds the energy's
//! gradient in the image), and Adam training steps, computed on both and compared tensor by
//! tensor.
//!
//! The inputs are the same on both sides: weights drawn on the host by [`Init`], images, noise
//! levels and noise drawn on the host and uploaded. Each tensor is compared on its own, by the
//! normwise relative error `|a - b| / |b|`, so an error confined to one parameter tensor (one
//! convolution path, one layer's weight gradient) cannot hide among the others.

use dualscore_core::autograd::{GradOptions, grad, no_grad};
use dualscore_core::energy::{Energy, InnerProduct, energy_in_parts};
use dualscore_core::nn::{Init, Module, UNet, UNetConfig};
use dualscore_core::rng::{self, RngKey};
use dualscore_core::train::{
    Adam, AdamConfig, InMemoryImages, Objective, TrainConfig, TrainError, Trainer,
    score_matching_loss,
};
use dualscore_core::{Backend, Float, Result, Tensor};

pub use dualscore_core::testing::normwise_relative_error;

/// A small UNet with two strided downsamplings, at a size where the weight gradients of every
/// convolution (3x3 at dilation 1, the 2x2 stride-2 downsampling, the transposed upsampling)
/// are large enough to take each CPU convolution path.
pub fn small_unet_config(image_size: usize) -> UNetConfig {
    UNetConfig {
        image_size,
        ..UNetConfig::small()
    }
}

/// The loss terms and every parameter's gradient of one dual score matching loss.
#[derive(Clone, Debug)]
pub struct LossAndGradients {
    /// `[loss, mean dsm, mean tsm]`.
    pub loss: Vec<f64>,
    /// Each parameter's name and gradient, in the model's order.
    pub gradients: Vec<(String, Vec<f64>)>,
}

/// Host-drawn inputs of one loss evaluation: images in [0, 1), noise levels spread over
/// [1e-3, 10] on a log scale, and standard normal noise.
fn inputs(batch: usize, config: &UNetConfig, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let d = config.image_channels * config.image_size * config.image_size;
    let x = rng::uniform_values(RngKey::new(seed, 1), 0, batch * d);
    let t = rng::uniform_values(RngKey::new(seed, 2), 0, batch)
        .into_iter()
        .map(|u| 10f64.powf(-3.0 + 4.0 * u))
        .collect();
    let z = rng::normal_values(RngKey::new(seed, 3), 0, batch * d);
    (x, t, z)
}

/// The energy `U = 1/2 <y, UNet(y, t)>` with weights from `seed`, on `backend`.
fn energy<B: Backend, T: Float>(
    backend: &B,
    config: &UNetConfig,
    seed: u64,
) -> Result<InnerProduct<B, T, UNet<B, T>>> {
    let mut network = UNet::new(backend, &mut Init::new(seed), config)?;
    network.require_grad();
    Ok(InnerProduct::new(network))
}

/// The dual loss of a UNet energy (weights from `seed`) on `batch` images, and the gradient of
/// every parameter, computed on `backend` in `T`.
pub fn unet_dual_loss<B: Backend, T: Float>(
    backend: &B,
    config: &UNetConfig,
    batch: usize,
    seed: u64,
) -> Result<LossAndGradients> {
    let model = energy::<B, T>(backend, config, seed)?;
    let shape = [
        batch,
        config.image_channels,
        config.image_size,
        config.image_size,
    ];
    let (x, t, z) = inputs(batch, config, seed);
    let x = Tensor::<B, T>::from_f64(backend, &x, shape)?;
    let t = Tensor::<B, T>::from_f64(backend, &t, [batch])?;
    let z = Tensor::<B, T>::from_f64(backend, &z, shape)?;
    let loss = score_matching_loss(&model, &x, &t, &z, Objective::Dual)?;
    let terms = vec![
        loss.loss.to_scalar()?,
        loss.dsm.mean_all()?.to_scalar()?,
        loss.tsm.mean_all()?.to_scalar()?,
    ];
    let params = model.parameters();
    let inputs: Vec<&Tensor<B, T>> = params.iter().map(|(_, p)| p).collect();
    let grads = grad(&[&loss.loss], &inputs, GradOptions::default())?;
    let gradients = params
        .iter()
        .zip(grads)
        .map(|((name, _), g)| Ok((name.clone(), g.to_f64_vec()?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(LossAndGradients {
        loss: terms,
        gradients,
    })
}

/// The parameters of a UNet energy (weights from `seed`) after `steps` Adam steps of the dual
/// loss on `backend` in `T`, each step on a new host-drawn batch.
pub fn unet_adam_steps<B: Backend, T: Float>(
    backend: &B,
    config: &UNetConfig,
    batch: usize,
    steps: usize,
    seed: u64,
) -> Result<Vec<(String, Vec<f64>)>> {
    let mut model = energy::<B, T>(backend, config, seed)?;
    let mut adam = Adam::new(AdamConfig::default())?;
    let shape = [
        batch,
        config.image_channels,
        config.image_size,
        config.image_size,
    ];
    for step in 0..steps {
        let (x, t, z) = inputs(batch, config, seed.wrapping_add(1 + step as u64));
        let x = Tensor::<B, T>::from_f64(backend, &x, shape)?;
        let t = Tensor::<B, T>::from_f64(backend, &t, [batch])?;
        let z = Tensor::<B, T>::from_f64(backend, &z, shape)?;
        let loss = score_matching_loss(&model, &x, &t, &z, Objective::Dual)?;
        let params = model.parameters();
        let inputs: Vec<&Tensor<B, T>> = params.iter().map(|(_, p)| p).collect();
        let grads = grad(&[&loss.loss], &inputs, GradOptions::default())?;
        let named: Vec<(String, Tensor<B, T>)> =
            params.iter().map(|(n, _)| n.clone()).zip(grads).collect();
        drop(inputs);
        drop(params);
        adam.step(&mut model, &named, 1e-3)?;
    }
    model
        .parameters()
        .into_iter()
        .map(|(name, p)| Ok((name, p.to_f64_vec()?)))
        .collect()
}

/// The tensors of `got` whose normwise relative error against `want` (same names, same order)
/// exceeds `tolerance`, with their errors; empty when all agree.
pub fn disagreements(
    got: &[(String, Vec<f64>)],
    want: &[(String, Vec<f64>)],
    tolerance: f64,
) -> Vec<(String, f64)> {
    assert_eq!(got.len(), want.len(), "different numbers of tensors");
    got.iter()
        .zip(want)
        .filter_map(|((name, a), (other, b))| {
            assert_eq!(name, other, "tensors in a different order");
            let err = normwise_relative_error(a, b);
            // NaN compares false: count it as a disagreement.
            (err.is_nan() || err > tolerance).then(|| (name.clone(), err))
        })
        .collect()
}

/// Asserts that two loss evaluations agree: each loss term within `tolerance` relative, and
/// every parameter's gradient within `tolerance` normwise.
pub fn assert_same_loss_and_gradients(
    got: &LossAndGradients,
    want: &LossAndGradients,
    tolerance: f64,
) {
    for (i, name) in ["loss", "dsm", "tsm"].iter().enumerate() {
        let err = ((got.loss[i] - want.loss[i]) / want.loss[i]).abs();
        assert!(
            err <= tolerance,
            "{name}: {} against {} (relative error {err:e}, tolerance {tolerance:e})",
            got.loss[i],
            want.loss[i]
        );
    }
    let bad = disagreements(&got.gradients, &want.gradients, tolerance);
    assert!(
        bad.is_empty(),
        "gradients that disagree beyond {tolerance:e} (normwise relative): {bad:?}"
    );
}

/// The parameters of a UNet energy (weights from `seed`) after `steps` steps of
/// [`Trainer`] (dual loss, Adam, batch `batch`, no flips) on 64 host-drawn images, on `backend`
/// in `T`: the training step as users run it, with the batch in as many parts as `backend`
/// asks for ([`Backend::training_parts`]).
pub fn unet_trainer_steps<B: Backend, T: Float>(
    backend: &B,
    config: &UNetConfig,
    batch: usize,
    steps: usize,
    seed: u64,
) -> std::result::Result<Vec<(String, Vec<f64>)>, TrainError> {
    let model = energy::<B, T>(backend, config, seed)?;
    let (x, _, _) = inputs(64, config, seed);
    let shape = [
        64,
        config.image_channels,
        config.image_size,
        config.image_size,
    ];
    let images = InMemoryImages::<B, T>::from_f64(backend, &x, shape)?;
    let train = TrainConfig {
        batch_size: batch,
        flips: false,
        seed,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(model, (), train)?;
    for _ in 0..steps {
        trainer.step(&images)?;
    }
    Ok(trainer
        .into_model()
        .parameters()
        .into_iter()
        .map(|(name, p)| Ok((name, p.to_f64_vec()?)))
        .collect::<Result<Vec<_>>>()?)
}

/// The energies at t = 0 of `batch` images under a UNet energy (weights from `seed`) on
/// `backend` in `T`: from [`energy_in_parts`] and from one call on the whole batch.
pub fn unet_energies_in_parts<B: Backend, T: Float>(
    backend: &B,
    config: &UNetConfig,
    batch: usize,
    seed: u64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let model = energy::<B, T>(backend, config, seed)?;
    let (x, _, _) = inputs(batch, config, seed);
    let shape = [
        batch,
        config.image_channels,
        config.image_size,
        config.image_size,
    ];
    let y = Tensor::<B, T>::from_f64(backend, &x, shape)?;
    let t = Tensor::<B, T>::zeros(backend, [batch])?;
    let in_parts = energy_in_parts(&model, &y, &t)?;
    let whole = no_grad(|| model.energy(&y, &t))?;
    Ok((in_parts.to_f64_vec()?, whole.to_f64_vec()?))
}
