//! 50 training steps of the small UNet energy against PyTorch, in float64 on the CPU backend.
//!
//! tools/reference/adam_steps_oracle.py wrote data/adam_steps_oracle.safetensors: PyTorch's
//! seeded initial weights of the small preset (GELU) inside the paper's inner-product energy, a
//! fixed stream of 50 batches (4 smooth images 1x16x16, one log-uniform t in [1e-9, 1e3] per
//! image, standard normal z), the dual loss of each batch, and the weights after 50 steps of
//! `torch.optim.Adam` (lr 5e-4, betas (0.9, 0.999), eps 1e-8) in float64.
//!
//! Here the same 50 steps run through our [`score_matching_loss`], [`grad`] (second order) and
//! [`Adam`], and the losses and final weights must agree with PyTorch's. Both sides compute in
//! float64, so what remains is rounding in different summation orders, carried through 50
//! steps.

use dualscore_core::autograd::{GradOptions, grad};
use dualscore_core::energy::InnerProduct;
use dualscore_core::nn::{Activation, Init, Module, UNet, UNetConfig, load_parameters};
use dualscore_core::testing::{normwise_relative_error, read_safetensors_f64};
use dualscore_core::train::{Adam, AdamConfig, Objective, score_matching_loss};
use dualscore_core::{Result, Tensor};
use dualscore_cpu::Cpu;
use std::collections::BTreeMap;

type T64 = Tensor<Cpu, f64>;

const STEPS: usize = 50;
const LR: f64 = 5e-4;

/// Final parameters: normwise relative error per tensor and over all parameters.
const PARAMETER_TOLERANCE: f64 = 1e-8;
/// Per-step losses: relative error.
const LOSS_TOLERANCE: f64 = 1e-10;

/// Every tensor of the oracle file as (shape, float64 values).
fn load_oracle() -> BTreeMap<String, (Vec<usize>, Vec<f64>)> {
    read_safetensors_f64(format!(
        "{}/tests/data/adam_steps_oracle.safetensors",
        env!("CARGO_MANIFEST_DIR")
    ))
}

#[test]
fn fifty_adam_steps_match_pytorch() -> Result<()> {
    let cpu = Cpu::with_threads(2)?;
    let oracle = load_oracle();
    let entry = |name: &str| -> &(Vec<usize>, Vec<f64>) {
        oracle
            .get(name)
            .unwrap_or_else(|| panic!("the oracle has no '{name}'"))
    };
    let with_prefix = |prefix: &str| -> BTreeMap<String, (Vec<usize>, Vec<f64>)> {
        oracle
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_string(), v.clone())))
            .collect()
    };

    // The small preset with PyTorch's initial weights, loaded by the authors' names.
    let config = UNetConfig::small().with_activation(Activation::Gelu);
    let network = UNet::<Cpu, f64>::new(&cpu, &mut Init::new(0), &config)?;
    let mut energy = InnerProduct::new(network);
    let init: BTreeMap<String, T64> = with_prefix("init.")
        .into_iter()
        .map(|(n, (shape, values))| Ok((n, Tensor::from_f64(&cpu, &values, shape)?)))
        .collect::<Result<_>>()?;
    assert_eq!(init.len(), 41);
    load_parameters(&mut energy, &init, "")?;
    energy.require_grad();
    assert_eq!(energy.num_parameters(), 203_808);

    // The stream: x and z [50, 4, 1, 16, 16], t [50, 4].
    let (x_shape, x_all) = entry("x");
    let (_, z_all) = entry("z");
    let (t_shape, t_all) = entry("t");
    let (_, want_losses) = entry("loss");
    assert_eq!(x_shape, &[STEPS, 4, 1, 16, 16]);
    assert_eq!(t_shape, &[STEPS, 4]);
    let batch = x_shape[1..].to_vec();
    let per_step = batch.iter().product::<usize>();

    let mut adam = Adam::new(AdamConfig {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    })?;
    let mut worst_loss = 0.0f64;
    for step in 0..STEPS {
        let slice = |all: &[f64]| all[step * per_step..(step + 1) * per_step].to_vec();
        let x = T64::from_f64(&cpu, &slice(x_all), batch.clone())?;
        let z = T64::from_f64(&cpu, &slice(z_all), batch.clone())?;
        let t = T64::from_f64(&cpu, &t_all[step * 4..(step + 1) * 4], [4])?;
        let loss = score_matching_loss(&energy, &x, &t, &z, Objective::Dual)?;
        let value = loss.loss.to_scalar()?;
        let err = (value - want_losses[step]).abs() / want_losses[step].abs();
        worst_loss = worst_loss.max(err);
        assert!(
            err < LOSS_TOLERANCE,
            "step {}: loss {value:.17e}, PyTorch {:.17e} (relative error {err:.3e})",
            step + 1,
            want_losses[step]
        );
        let params = energy.parameters();
        let inputs: Vec<&T64> = params.iter().map(|(_, p)| p).collect();
        let grads = grad(&[&loss.loss], &inputs, GradOptions::default())?;
        let named: Vec<(String, T64)> = params.iter().map(|(n, _)| n.clone()).zip(grads).collect();
        drop(inputs);
        adam.step(&mut energy, &named, LR)?;
    }
    println!("losses of {STEPS} steps: worst relative error {worst_loss:.3e}");

    // Final parameters, per tensor and overall; also relative to how far training moved them.
    let want = with_prefix("final.");
    assert_eq!(want.len(), 41);
    let (mut diff2, mut norm2, mut moved2) = (0.0, 0.0, 0.0);
    let mut worst = (0.0f64, String::new());
    for (name, param) in energy.parameters() {
        let got = param.to_f64_vec()?;
        let (_, target) = &want[&name];
        let (_, start) = &oracle[&format!("init.{name}")];
        let err = normwise_relative_error(&got, target);
        assert!(
            err < PARAMETER_TOLERANCE,
            "parameter {name}: normwise relative error {err:.3e}"
        );
        if err > worst.0 {
            worst = (err, name.clone());
        }
        diff2 += got
            .iter()
            .zip(target)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>();
        norm2 += target.iter().map(|b| b * b).sum::<f64>();
        moved2 += target
            .iter()
            .zip(start)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>();
    }
    let overall = (diff2 / norm2).sqrt();
    let of_update = (diff2 / moved2).sqrt();
    println!(
        "final parameters: overall normwise relative error {overall:.3e} \
         ({of_update:.3e} of the change made by training); worst tensor {:.3e} ({})",
        worst.0, worst.1
    );
    assert!(overall < PARAMETER_TOLERANCE, "overall error {overall:.3e}");
    Ok(())
}
