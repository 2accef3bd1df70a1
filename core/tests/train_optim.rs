//! The pieces of a training step: Adam (by hand and against PyTorch's update), learning-rate
//! schedules, noise-level samplers and the data order.

mod train_support;

use dualscore_core::backend::reference::Reference;
use dualscore_core::nn::Module;
use dualscore_core::rng::{CounterRng, RngKey};
use dualscore_core::train::{
    Adam, AdamConfig, EVAL_PSNRS_DB, EpochOrder, ImageSource, InMemoryImages, LogUniform,
    LrSchedule, evaluation_variances, psnr_grid, psnr_to_variance, variance_to_psnr,
};
use dualscore_core::{Error, Tensor};
use train_support::R;

type T64 = Tensor<R, f64>;

/// Two named parameters.
struct Pair {
    a: T64,
    b: T64,
}

impl Module<R, f64> for Pair {
    fn visit(&self, f: &mut dyn FnMut(&str, &T64)) {
        f("a", &self.a);
        f("b", &self.b);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut T64)) {
        f("a", &mut self.a);
        f("b", &mut self.b);
    }
}

fn tensor(values: &[f64]) -> T64 {
    Tensor::from_f64(&Reference, values, [values.len()]).unwrap()
}

fn named(name: &str, values: &[f64]) -> (String, T64) {
    (name.to_string(), tensor(values))
}

#[test]
fn adam_matches_a_hand_computed_three_step_sequence() {
    // One scalar parameter p = 1, lr 0.1, default betas, gradients 1, -2, 0.5.
    // step 1: m = 0.1, v = 0.001, bc1 = 0.1, bc2 = 0.001, m^ = 1, v^ = 1,
    //         p = 1 - 0.1 * 1 / (1 + 1e-8)
    // step 2: m = 0.9 * 0.1 + 0.1 * (-2) = -0.11, v = 0.999 * 0.001 + 0.001 * 4 = 0.004999,
    //         bc1 = 0.19, bc2 = 0.001999, m^ = -0.578947..., v^ = 2.500750..., sqrt 1.581376...
    // step 3: m = -0.099 + 0.05 = -0.049, v = 0.004994001 + 0.00025 = 0.005244001,
    //         bc1 = 0.271, bc2 = 0.002997001, m^ = -0.180811..., sqrt(v^) = 1.322780...
    // (50-digit decimal arithmetic gives the values below.)
    let expected = [
        0.900_000_001,
        0.936_610_353_472_075_1,
        0.950_279_419_673_821_7,
    ];
    let mut model = Pair {
        a: tensor(&[1.0]).requiring_grad(),
        b: tensor(&[0.0]).requiring_grad(),
    };
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    for (g, want) in [1.0, -2.0, 0.5].into_iter().zip(expected) {
        adam.step(&mut model, &[named("a", &[g])], 0.1).unwrap();
        let got = model.a.to_f64_vec().unwrap()[0];
        assert!((got - want).abs() < 1e-15, "got {got}, want {want}");
    }
    let state = &adam.state()["a"];
    assert_eq!(state.step, 3);
    assert!((state.exp_avg.to_f64_vec().unwrap()[0] + 0.049).abs() < 1e-16);
    assert!((state.exp_avg_sq.to_f64_vec().unwrap()[0] - 0.005_244_001).abs() < 1e-17);
    // "b" had no gradient: untouched, no state.
    assert_eq!(model.b.to_f64_vec().unwrap(), vec![0.0]);
    assert!(!adam.state().contains_key("b"));
    // Updated parameters are fresh leaves that require a gradient.
    assert!(model.a.requires_grad() && model.a.is_leaf());
}

/// PyTorch's `_single_tensor_adam` (torch/optim/adam.py, no weight decay, no amsgrad), one
/// element at a time, in the same order of operations:
/// `exp_avg.lerp_(grad, 1 - beta1)`, `exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)`,
/// `denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)`,
/// `param.addcdiv_(exp_avg, denom, value=-step_size)`.
fn torch_adam(
    p: &mut [f64],
    m: &mut [f64],
    v: &mut [f64],
    g: &[f64],
    step: u64,
    lr: f64,
    (beta1, beta2, eps): (f64, f64, f64),
) {
    let weight = 1.0 - beta1;
    let bias_correction1 = 1.0 - beta1.powf(step as f64);
    let bias_correction2 = 1.0 - beta2.powf(step as f64);
    let step_size = lr / bias_correction1;
    let bias_correction2_sqrt = bias_correction2.sqrt();
    for i in 0..p.len() {
        // at::lerp: self + weight * (end - self) if |weight| < 0.5, else end - (end - self) * (1 - weight)
        m[i] = if weight.abs() < 0.5 {
            m[i] + weight * (g[i] - m[i])
        } else {
            g[i] - (g[i] - m[i]) * (1.0 - weight)
        };
        // addcmul: self + value * t1 * t2
        v[i] = v[i] * beta2 + (1.0 - beta2) * g[i] * g[i];
        let denom = v[i].sqrt() / bias_correction2_sqrt + eps;
        // addcdiv: self + value * t1 / t2
        p[i] += -step_size * m[i] / denom;
    }
}

fn check_against_torch(betas: (f64, f64, f64), steps: u64) {
    let n = 7;
    let key = RngKey::new(42, 5);
    let p0: Vec<f64> = dualscore_core::rng::normal_values(key, 0, n);
    let mut p = p0.clone();
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    let mut model = Pair {
        a: tensor(&p0).requiring_grad(),
        b: tensor(&[0.0]).requiring_grad(),
    };
    let mut adam = Adam::new(AdamConfig {
        beta1: betas.0,
        beta2: betas.1,
        eps: betas.2,
    })
    .unwrap();
    for step in 1..=steps {
        // Gradients over several orders of magnitude, some zero.
        let g: Vec<f64> = dualscore_core::rng::normal_values(key, 1000 * step, n)
            .iter()
            .enumerate()
            .map(|(i, x)| {
                if i == 3 {
                    0.0
                } else {
                    x * 10f64.powi(i as i32 - 3)
                }
            })
            .collect();
        let lr = 1e-3 * (1.0 + step as f64);
        torch_adam(&mut p, &mut m, &mut v, &g, step, lr, betas);
        adam.step(&mut model, &[named("a", &g)], lr).unwrap();
        let got = model.a.to_f64_vec().unwrap();
        for i in 0..n {
            // Identical up to the last bit of pow (libm here, the C library's in PyTorch).
            let tol = 4.0 * f64::EPSILON * (p[i].abs() + lr);
            assert!(
                (got[i] - p[i]).abs() <= tol,
                "step {step}, element {i}: {} vs PyTorch's {}",
                got[i],
                p[i]
            );
        }
        let state = &adam.state()["a"];
        assert_eq!(
            state.exp_avg.to_f64_vec().unwrap(),
            m,
            "exp_avg, step {step}"
        );
        assert_eq!(
            state.exp_avg_sq.to_f64_vec().unwrap(),
            v,
            "exp_avg_sq, step {step}"
        );
    }
}

#[test]
fn adam_follows_pytorchs_update_operation_for_operation() {
    check_against_torch((0.9, 0.999, 1e-8), 25);
    // beta1 < 0.5 takes lerp's other branch.
    check_against_torch((0.3, 0.99, 1e-6), 10);
    check_against_torch((0.0, 0.0, 1e-12), 5);
}

#[test]
fn adam_in_f32_tracks_the_f64_update() {
    struct One(Tensor<R, f32>);
    impl Module<R, f32> for One {
        fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<R, f32>)) {
            f("w", &self.0)
        }
        fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<R, f32>)) {
            f("w", &mut self.0)
        }
    }
    let mut model = One(Tensor::from_f64(&Reference, &[1.0, -1.0], [2]).unwrap());
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    for _ in 0..3 {
        let g = Tensor::from_f64(&Reference, &[0.5, -0.25], [2]).unwrap();
        adam.step(&mut model, &[("w".to_string(), g)], 0.01)
            .unwrap();
    }
    // Constant gradients: every step moves by lr |g| / (|g| + eps), about lr.
    let w = model.0.to_f64_vec().unwrap();
    assert!(
        (w[0] - 0.97).abs() < 1e-6 && (w[1] + 0.97).abs() < 1e-6,
        "{w:?}"
    );
}

#[test]
fn adam_errors_leave_model_and_state_unchanged() {
    let mut model = Pair {
        a: tensor(&[1.0, 2.0]).requiring_grad(),
        b: tensor(&[3.0]).requiring_grad(),
    };
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    // A wrong shape for "b", after a good gradient for "a": nothing is applied.
    let err = adam
        .step(
            &mut model,
            &[named("a", &[1.0, 1.0]), named("b", &[1.0, 1.0])],
            0.1,
        )
        .unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
    assert!(err.to_string().contains("parameter 'b'"), "{err}");
    assert_eq!(model.a.to_f64_vec().unwrap(), vec![1.0, 2.0]);
    assert!(adam.state().is_empty());
    // A gradient for a parameter the model lacks.
    let err = adam
        .step(
            &mut model,
            &[named("a", &[1.0, 1.0]), named("c", &[1.0])],
            0.1,
        )
        .unwrap_err();
    assert!(err.to_string().contains("'c'"), "{err}");
    assert_eq!(model.a.to_f64_vec().unwrap(), vec![1.0, 2.0]);
    // Two gradients for one parameter, and a non-finite rate.
    assert!(
        adam.step(
            &mut model,
            &[named("a", &[1.0, 1.0]), named("a", &[1.0, 1.0])],
            0.1
        )
        .is_err()
    );
    assert!(
        adam.step(&mut model, &[named("a", &[1.0, 1.0])], f64::NAN)
            .is_err()
    );
    assert!(adam.state().is_empty());
    // Bad constants.
    for c in [
        AdamConfig {
            beta1: 1.0,
            ..AdamConfig::default()
        },
        AdamConfig {
            beta2: -0.1,
            ..AdamConfig::default()
        },
        AdamConfig {
            eps: f64::NAN,
            ..AdamConfig::default()
        },
    ] {
        assert!(Adam::<R, f64>::new(c).is_err());
    }
}

#[test]
fn step_decay_halves_with_an_optional_floor() {
    let s = LrSchedule::step_decay(5e-4, 0.5, 100_000);
    assert_eq!(s.lr_at(0), 5e-4);
    assert_eq!(s.lr_at(99_999), 5e-4);
    assert_eq!(s.lr_at(100_000), 2.5e-4);
    assert_eq!(s.lr_at(250_000), 1.25e-4);
    // Ten halvings over 1M steps: the last 100k steps run at 5e-4 / 2^9, about 9.8e-7.
    assert_eq!(s.lr_at(999_999), 5e-4 / 512.0);
    let floored = s.with_min_lr(3e-6);
    assert_eq!(floored.lr_at(0), 5e-4);
    assert_eq!(floored.lr_at(700_000), 5e-4 / 128.0); // 3.9e-6, above the floor
    assert_eq!(floored.lr_at(800_000), 3e-6); // 5e-4 / 256 = 1.95e-6 would be below it
    assert_eq!(floored.lr_at(10_000_000), 3e-6);
    let c = LrSchedule::constant(1e-3);
    assert_eq!(c.lr_at(0), 1e-3);
    assert_eq!(c.lr_at(u64::MAX), 1e-3);
    assert_eq!(c.with_min_lr(1.0), c);
    assert_eq!(LrSchedule::default(), s);
}

#[test]
fn schedules_validate_and_round_trip_through_json() {
    for s in [
        LrSchedule::constant(1e-3),
        LrSchedule::step_decay(5e-4, 0.5, 100_000),
        LrSchedule::step_decay(5e-4, 0.5, 100_000).with_min_lr(3e-6),
    ] {
        s.validate().unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            serde_json::from_str::<LrSchedule>(&json).unwrap(),
            s,
            "{json}"
        );
    }
    let parsed: LrSchedule = serde_json::from_str(
        r#"{"kind": "step_decay", "lr": 0.0005, "factor": 0.5, "every": 100000, "min_lr": 3e-6}"#,
    )
    .unwrap();
    assert_eq!(parsed.lr_at(10_000_000), 3e-6);
    assert!(serde_json::from_str::<LrSchedule>(r#"{"kind": "cosine", "lr": 1}"#).is_err());
    assert!(serde_json::from_str::<LrSchedule>(r#"{"kind": "constant", "rate": 1}"#).is_err());
    for bad in [
        LrSchedule::constant(0.0),
        LrSchedule::constant(f64::INFINITY),
        LrSchedule::step_decay(1e-3, 0.0, 10),
        LrSchedule::step_decay(1e-3, 1.5, 10),
        LrSchedule::step_decay(1e-3, 0.5, 0),
        LrSchedule::step_decay(1e-3, 0.5, 10).with_min_lr(1e-2),
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn log_uniform_noise_covers_the_range_uniformly_in_psnr() {
    let noise = LogUniform::default();
    assert_eq!((noise.t_min, noise.t_max), (1e-9, 1e3));
    let mut rng = CounterRng::new(RngKey::new(9, 3));
    let n = 20_000;
    let t = noise.sample(&mut rng, n);
    assert_eq!(rng.next, n as u64);
    assert!(t.iter().all(|&t| (1e-9..=1e3).contains(&t)));
    // PSNR uniform on [-30, 90]: mean 30, variance 120^2 / 12 = 1200.
    let psnr: Vec<f64> = t.iter().map(|&t| variance_to_psnr(t)).collect();
    let mean = psnr.iter().sum::<f64>() / n as f64;
    let var = psnr.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / n as f64;
    assert!((mean - 30.0).abs() < 1.0, "mean PSNR {mean}"); // standard error 0.25
    assert!((var - 1200.0).abs() < 40.0, "PSNR variance {var}"); // standard error ~9
    // Each twelfth of the PSNR range gets about a twelfth of the draws.
    for k in 0..12 {
        let lo = -30.0 + 10.0 * k as f64;
        let count = psnr.iter().filter(|&&p| p >= lo && p < lo + 10.0).count();
        assert!(
            (count as f64 - n as f64 / 12.0).abs() < 200.0,
            "bin {k}: {count}"
        );
    }
    // Reproducible from the generator's state.
    let mut again = CounterRng::new(RngKey::new(9, 3));
    assert_eq!(noise.sample(&mut again, n), t);
    // The quantile function's ends.
    assert_eq!(noise.quantile(0.0), 1e-9);
    assert!((noise.quantile(1.0) - 1e3).abs() < 1e-9);
    assert!((noise.quantile(0.5) - 1e-3).abs() < 1e-15);
}

#[test]
fn noise_ranges_validate_and_convert_from_psnr() {
    let r = LogUniform::from_psnr(90.0, -30.0).unwrap();
    assert!((r.t_min / 1e-9 - 1.0).abs() < 1e-12 && (r.t_max / 1e3 - 1.0).abs() < 1e-12);
    assert!(LogUniform::new(0.0, 1.0).is_err());
    assert!(LogUniform::new(1.0, 1.0).is_err());
    assert!(LogUniform::new(1e-3, f64::INFINITY).is_err());
    assert!(LogUniform::new(f64::NAN, 1.0).is_err());
    assert!((variance_to_psnr(1e-2) - 20.0).abs() < 1e-12);
    assert!((psnr_to_variance(20.0) - 1e-2).abs() < 1e-16);
}

#[test]
fn the_evaluation_grid_is_seventeen_psnrs_in_steps_of_seven_and_a_half() {
    assert_eq!(EVAL_PSNRS_DB.len(), 17);
    assert_eq!(psnr_grid(-30.0, 90.0, 7.5), EVAL_PSNRS_DB.to_vec());
    let t = evaluation_variances();
    assert_eq!(t.len(), 17);
    assert!((t[0] / 1e3 - 1.0).abs() < 1e-12);
    assert!((t[16] / 1e-9 - 1.0).abs() < 1e-12);
    assert!((t[4] - 1.0).abs() < 1e-15); // 0 dB
    assert!(t.windows(2).all(|w| w[1] < w[0]));
    assert!(psnr_grid(0.0, 10.0, 0.0).is_empty());
    assert!(psnr_grid(10.0, 0.0, 1.0).is_empty());
}

#[test]
fn the_data_order_visits_every_image_once_per_epoch() {
    let mut order = EpochOrder::new(RngKey::new(1, 1), 10).unwrap();
    let first = order.batch(0, 10);
    let second = order.batch(10, 10);
    for epoch in [&first, &second] {
        let mut sorted = epoch.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    }
    assert_ne!(first, second, "a new permutation each epoch");
    assert_ne!(first, (0..10).collect::<Vec<_>>(), "shuffled");
    // A pure function of the position: batches across an epoch boundary agree.
    let mut fresh = EpochOrder::new(RngKey::new(1, 1), 10).unwrap();
    let across = fresh.batch(7, 6);
    assert_eq!(across[..3], first[7..]);
    assert_eq!(across[3..], second[..3]);
    assert!(EpochOrder::new(RngKey::new(1, 1), 0).is_err());
}

#[test]
fn in_memory_images_fetch_by_index() {
    let values: Vec<f64> = (0..3 * 2 * 2).map(f64::from).collect();
    let images = InMemoryImages::<R, f64>::from_f64(&Reference, &values, [3, 1, 2, 2]).unwrap();
    assert_eq!(images.num_images(), 3);
    assert_eq!(images.image_shape(), [1, 2, 2]);
    let batch = images.fetch(&[2, 0, 2]).unwrap();
    assert_eq!(batch.dims(), &[3, 1, 2, 2]);
    assert_eq!(
        batch.to_f64_vec().unwrap(),
        vec![
            8.0, 9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0
        ]
    );
    assert!(images.fetch(&[3]).is_err());
    let from_tensor = InMemoryImages::from_tensor(&batch).unwrap();
    assert_eq!(from_tensor.num_images(), 3);
    assert!(InMemoryImages::<R, f64>::from_f64(&Reference, &values, [4, 1, 2, 2]).is_err());
    assert!(InMemoryImages::from_tensor(&tensor(&[1.0])).is_err());
}
