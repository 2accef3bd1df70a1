//! Numbers at the edges: at both ends of the training range of the noise variance (t = 1e-9 and
//! t = 1e3) the dual score matching loss of a small UNet energy, its two terms and the gradient
//! of every parameter are finite, in f32 and in f64, for the paper's energy and for the fast
//! model's options (a log-t input, centering, a time offset, preconditioning and a Gaussian
//! base). And the energy at t = 0 (the log p of clean images, up to the constant) and its
//! derivatives are finite for constant, all-zero and saturated images.

use dualscore_core::autograd::{GradOptions, Graph, grad};
use dualscore_core::backend::reference::Reference;
use dualscore_core::energy::{
    BaseBasis, DEFAULT_TIME_OFFSET_T0, Energy, GaussianBase, InnerProduct, InnerProductConfig,
    Preconditioning, TimeOffsetConfig,
};
use dualscore_core::nn::{Init, Module, TimeInput, UNet, UNetConfig};
use dualscore_core::rng::{self, RngKey};
use dualscore_core::train::{LogUniform, Objective, score_matching_loss};
use dualscore_core::{Float, Tensor};

type Model<T> = InnerProduct<Reference, T, UNet<Reference, T>>;

const SIZE: usize = 8;
const D: usize = SIZE * SIZE;

/// A small UNet of two scales for 8x8 gray images.
fn unet_config(fast: bool) -> UNetConfig {
    let config = UNetConfig {
        image_size: SIZE,
        scales: 2,
        base_width: 4,
        layers_per_block: 2,
        embedding_frequencies: 4,
        embedding_width: 8,
        ..UNetConfig::small()
    };
    if fast {
        UNetConfig {
            time_input: TimeInput::LogVariance {
                t0: DEFAULT_TIME_OFFSET_T0,
            },
            embedding_t_min: 0.25,
            embedding_t_max: 64.0,
            ..config
        }
    } else {
        config
    }
}

/// `n` images of uniform values in [0, 1).
fn uniform_images(n: usize, seed: u64) -> Vec<f64> {
    rng::uniform_values(RngKey::new(seed, 1), 0, n * D)
}

/// The paper's energy (`fast` false) or one with every option of the fast model, its Gaussian
/// base fitted on 64 uniform images; weights from a fixed seed, every parameter requiring a
/// gradient.
fn model<T: Float>(fast: bool) -> Model<T> {
    let mut init = Init::new(3);
    let mut network = UNet::new(&Reference, &mut init, &unet_config(fast)).unwrap();
    network.require_grad();
    if !fast {
        return InnerProduct::new(network);
    }
    let config = InnerProductConfig {
        center: Some(vec![0.5]),
        time_offset: Some(TimeOffsetConfig {
            hidden_width: 8,
            ..TimeOffsetConfig::default()
        }),
        preconditioning: Some(Preconditioning {
            data_variance: 1.0 / 12.0,
            t_floor: 1e-5,
        }),
        gaussian_base: Some([1, SIZE, SIZE]),
        base_basis: BaseBasis::Full,
    };
    let mut energy = InnerProduct::with_config(&Reference, &mut init, network, &config).unwrap();
    energy.require_grad();
    let data =
        Tensor::<Reference, f64>::from_f64(&Reference, &uniform_images(64, 9), [64, 1, 8, 8])
            .unwrap();
    let base = GaussianBase::fit(&data, BaseBasis::Full, 256, 1e-6).unwrap();
    energy.gaussian_base = Some(base.cast().unwrap());
    energy
}

fn name(fast: bool) -> &'static str {
    if fast { "fast" } else { "paper" }
}

/// Asserts that every value is finite, naming what it is.
fn assert_finite(values: &[f64], what: &str) {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        panic!("{what}: value {i} of {} is {}", values.len(), values[i]);
    }
}

/// The loss, its terms and every parameter gradient at noise variance `t` for every image.
fn check_loss_at<T: Float>(fast: bool, t: f64) {
    let model = model::<T>(fast);
    let n = 4;
    let x =
        Tensor::<Reference, T>::from_f64(&Reference, &uniform_images(n, 5), [n, 1, 8, 8]).unwrap();
    let z = rng::normal_values(RngKey::new(5, 2), 0, n * D);
    let z = Tensor::<Reference, T>::from_f64(&Reference, &z, [n, 1, 8, 8]).unwrap();
    let t_tensor = Tensor::<Reference, T>::from_f64(&Reference, &[t; 4], [n]).unwrap();
    let what = format!("{} energy in {:?} at t = {t:e}", name(fast), T::DTYPE);
    let loss = score_matching_loss(&model, &x, &t_tensor, &z, Objective::Dual).unwrap();
    assert_finite(&loss.loss.to_f64_vec().unwrap(), &format!("{what}: loss"));
    assert_finite(&loss.dsm.to_f64_vec().unwrap(), &format!("{what}: dsm"));
    assert_finite(&loss.tsm.to_f64_vec().unwrap(), &format!("{what}: tsm"));
    let params = model.parameters();
    assert!(params.len() > 10, "{what}: {} parameters", params.len());
    let inputs: Vec<&Tensor<Reference, T>> = params.iter().map(|(_, p)| p).collect();
    let grads = grad(&[&loss.loss], &inputs, GradOptions::default()).unwrap();
    for ((param, _), g) in params.iter().zip(&grads) {
        assert_finite(
            &g.to_f64_vec().unwrap(),
            &format!("{what}: gradient of '{param}'"),
        );
    }
}

#[test]
fn the_training_range_is_what_the_trainer_draws_from() {
    let range = LogUniform::default();
    assert_eq!((range.t_min, range.t_max), (1e-9, 1e3));
}

#[test]
fn the_loss_and_its_gradients_are_finite_at_both_ends_of_t() {
    for fast in [false, true] {
        for t in [1e-9, 1e3] {
            check_loss_at::<f32>(fast, t);
            check_loss_at::<f64>(fast, t);
        }
    }
}

/// U(x, 0), grad_x U and dU/dt at t = 0 of images that are constant (0.37), all zero, all one
/// (saturated) and a checkerboard of 0 and 1 (saturated with the largest contrast).
fn check_clean_energy<T: Float>(fast: bool) {
    let model = model::<T>(fast);
    let checker: Vec<f64> = (0..D).map(|i| ((i / SIZE + i % SIZE) % 2) as f64).collect();
    let images = [vec![0.37; D], vec![0.0; D], vec![1.0; D], checker].concat();
    let x = Tensor::<Reference, T>::from_f64(&Reference, &images, [4, 1, 8, 8]).unwrap();
    let t = Tensor::<Reference, T>::from_f64(&Reference, &[0.0; 4], [4]).unwrap();
    let what = format!("{} energy in {:?} at t = 0", name(fast), T::DTYPE);
    assert_finite(
        &model.energy(&x, &t).unwrap().to_f64_vec().unwrap(),
        &format!("{what}: U"),
    );
    let g = model.energy_gradients(&x, &t, Graph::Drop).unwrap();
    assert_finite(&g.energy.to_f64_vec().unwrap(), &format!("{what}: U"));
    assert_finite(&g.grad_y.to_f64_vec().unwrap(), &format!("{what}: grad U"));
    assert_finite(&g.grad_t.to_f64_vec().unwrap(), &format!("{what}: dU/dt"));
}

#[test]
fn constant_zero_and_saturated_images_have_a_finite_energy_at_t_0() {
    for fast in [false, true] {
        check_clean_energy::<f32>(fast);
        check_clean_energy::<f64>(fast);
    }
}
