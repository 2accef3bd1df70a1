//! The training loop on a tiny conv energy: the loss decreases, runs are reproducible bit for
//! bit, metrics are written as JSON lines, and a non-finite loss stops training cleanly.

mod train_support;

use dualscore_core::Tensor;
use dualscore_core::backend::reference::Reference;
use dualscore_core::rng::RngKey;
use dualscore_core::train::{
    ImageSource, InMemoryImages, LrSchedule, Objective, StepMetrics, TrainConfig, TrainError,
    Trainer, evaluation_variances, read_checkpoint, read_metrics, score_matching_loss,
};
use train_support::{
    Poisoned, R, Scratch, Tiny, TinyConfig, assert_bitwise_equal, blobs, folder_names,
    parameter_values, small_config,
};

fn trainer(config: TrainConfig) -> Trainer<R, f64, Tiny<f64>, TinyConfig> {
    let tiny = TinyConfig::default();
    Trainer::new(Tiny::new(&tiny).unwrap(), tiny, config).unwrap()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The loss of `model` on every image of `data` at each of the 17 evaluation noise levels, with
/// fixed noise: a deterministic measure of fit.
fn evaluation_loss(model: &Tiny<f64>, data: &InMemoryImages<R, f64>) -> f64 {
    let n = data.num_images();
    let x = data.fetch(&(0..n).collect::<Vec<_>>()).unwrap();
    let mut total = 0.0;
    for (k, &t) in evaluation_variances().iter().enumerate() {
        let t = Tensor::full(&Reference, [n], t).unwrap();
        let z = Tensor::randn(
            &Reference,
            x.shape().clone(),
            RngKey::new(99, 0),
            10_000 * k as u64,
        )
        .unwrap();
        let loss = score_matching_loss(model, &x, &t, &z, Objective::Dual).unwrap();
        total += loss.loss.to_scalar().unwrap();
    }
    total / 17.0
}

#[test]
fn the_loss_decreases_on_gaussian_blobs() {
    let data = blobs::<f64>(32, 1);
    let mut config = small_config(300);
    config.batch_size = 8;
    config.schedule = LrSchedule::constant(2e-2);
    let mut t = trainer(config);
    let before = evaluation_loss(t.model(), &data);
    let mut losses = Vec::new();
    let summary = t.train(&data, |m| losses.push(m.loss)).unwrap();
    let after = evaluation_loss(t.model(), &data);
    assert_eq!(summary.steps_run, 300);
    assert_eq!(summary.step, 300);
    assert_eq!(losses.len(), 300);
    println!("evaluation loss {before} -> {after}");
    assert!(
        after < 0.8 * before,
        "evaluation loss did not decrease enough: {before} before, {after} after"
    );
    // The training losses (noisy: a random t per image) go down too.
    let (early, late) = (mean(&losses[..30]), mean(&losses[270..]));
    assert!(
        late < early,
        "training loss: first 30 steps {early}, last 30 {late}"
    );
    let last = summary.last.unwrap();
    assert_eq!(last.step, 300);
    assert!((last.loss - (last.dsm + last.tsm)).abs() < 1e-12 * last.loss.max(1.0));
}

#[test]
fn a_run_is_reproducible_bit_for_bit() {
    let data = blobs::<f64>(10, 2);
    let run = |seed: u64| {
        let mut config = small_config(7);
        config.seed = seed;
        let mut t = trainer(config);
        let mut metrics = Vec::new();
        t.train(&data, |m| metrics.push(m.clone())).unwrap();
        let losses: Vec<u64> = metrics.iter().map(|m| m.loss.to_bits()).collect();
        (parameter_values(t.model()), losses, t.rng_states())
    };
    let (p1, l1, r1) = run(5);
    let (p2, l2, r2) = run(5);
    assert_bitwise_equal(&p1, &p2);
    assert_eq!(l1, l2);
    assert_eq!(r1, r2);
    // 7 steps of 4 images: 28 images drawn, 28 flips and noise levels, 28 * 36 noise values.
    assert_eq!(r1.data.next, 28);
    assert_eq!(r1.flips.next, 28);
    assert_eq!(r1.noise_level.next, 28);
    assert_eq!(r1.noise.next, 28 * 36);
    let (p3, l3, _) = run(6);
    assert_ne!(l1, l3, "another seed gives another run");
    assert_ne!(p1, p3);
}

#[test]
fn step_by_step_equals_train() {
    let data = blobs::<f64>(10, 2);
    let mut a = trainer(small_config(5));
    a.train(&data, |_| {}).unwrap();
    let mut b = trainer(small_config(100));
    for k in 1..=5 {
        assert_eq!(b.step(&data).unwrap().step, k);
    }
    assert_bitwise_equal(&parameter_values(a.model()), &parameter_values(b.model()));
    assert_eq!(b.completed_steps(), 5);
}

#[test]
fn objectives_flips_and_element_types() {
    let data = blobs::<f64>(8, 3);
    // Single: no time term.
    let mut config = small_config(3);
    config.objective = Objective::Single;
    let mut t = trainer(config);
    let mut tsm = Vec::new();
    t.train(&data, |m| tsm.push(m.tsm)).unwrap();
    assert_eq!(tsm, vec![0.0; 3]);
    // Flips change the run (the data differ), and without flips no flip is drawn.
    let run = |flips: bool| {
        let mut config = small_config(3);
        config.flips = flips;
        let mut t = trainer(config);
        t.train(&data, |_| {}).unwrap();
        (parameter_values(t.model()), t.rng_states())
    };
    let (with, rng_with) = run(true);
    let (without, rng_without) = run(false);
    assert_ne!(with, without);
    assert_eq!(rng_with.flips.next, 12);
    assert_eq!(rng_without.flips.next, 0);
    // f32 models train too.
    let data32 = blobs::<f32>(8, 3);
    let tiny = TinyConfig::default();
    let mut t32: Trainer<R, f32, Tiny<f32>, TinyConfig> =
        Trainer::new(Tiny::new(&tiny).unwrap(), tiny, small_config(3)).unwrap();
    let summary = t32.train(&data32, |_| {}).unwrap();
    assert!(summary.last.unwrap().loss.is_finite());
}

#[test]
fn flips_mirror_images_horizontally() {
    // A data set of one asymmetric image, single objective, tiny lr: compare the first
    // batch's loss with flips on against the loss on explicitly mirrored data.
    let image: Vec<f64> = (0..36).map(|k| (k % 6) as f64 / 6.0).collect();
    let mirrored: Vec<f64> = (0..36).map(|k| (5 - k % 6) as f64 / 6.0).collect();
    let loss_of = |values: &[f64], flips: bool| {
        let data = InMemoryImages::<R, f64>::from_f64(&Reference, values, [1, 1, 6, 6]).unwrap();
        let mut config = small_config(1);
        config.batch_size = 1;
        config.flips = flips;
        let mut t = trainer(config);
        t.step(&data).unwrap().loss
    };
    // With seed 3 the first flip draw decides; find out which and check both ways.
    let flipped = loss_of(&image, true);
    let plain = loss_of(&image, false);
    let mirror = loss_of(&mirrored, false);
    assert!(
        flipped.to_bits() == plain.to_bits() || flipped.to_bits() == mirror.to_bits(),
        "{flipped} is neither {plain} nor {mirror}"
    );
    assert_ne!(plain, mirror);
    // Over many seeds both cases occur.
    let mut seen = (false, false);
    for seed in 0..16 {
        let data = InMemoryImages::<R, f64>::from_f64(&Reference, &image, [1, 1, 6, 6]).unwrap();
        let mut config = small_config(1);
        config.batch_size = 1;
        config.seed = seed;
        let mut with = trainer(config.clone());
        let a = with.step(&data).unwrap().loss;
        let mirrored_data =
            InMemoryImages::<R, f64>::from_f64(&Reference, &mirrored, [1, 1, 6, 6]).unwrap();
        config.flips = false;
        let b = trainer(config.clone()).step(&data).unwrap().loss;
        let c = trainer(config).step(&mirrored_data).unwrap().loss;
        if a.to_bits() == b.to_bits() {
            seen.0 = true;
        } else {
            assert_eq!(a.to_bits(), c.to_bits());
            seen.1 = true;
        }
    }
    assert!(seen.0 && seen.1, "flips never or always happened: {seen:?}");
}

#[test]
fn metrics_are_json_lines() {
    let scratch = Scratch::new("metrics");
    let path = scratch.path().join("logs/metrics.jsonl");
    let data = blobs::<f64>(8, 4);
    let mut config = small_config(6);
    config.schedule = LrSchedule::step_decay(1e-2, 0.5, 2);
    config.metrics_path = Some(path.clone());
    let mut t = trainer(config);
    let mut seen = Vec::new();
    t.train(&data, |m| seen.push(m.clone())).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    for (k, line) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            ["dsm", "loss", "lr", "step", "step_time_s", "time_s", "tsm"]
        );
        assert_eq!(obj["step"].as_u64(), Some(k as u64 + 1));
        assert_eq!(obj["lr"].as_f64(), Some(1e-2 * 0.5f64.powi(k as i32 / 2)));
        let m: StepMetrics = serde_json::from_str(line).unwrap();
        assert_eq!(m.loss.to_bits(), seen[k].loss.to_bits());
        assert!(m.time_s >= m.step_time_s && m.step_time_s >= 0.0);
    }
    assert_eq!(read_metrics(&path).unwrap(), seen);
    // A fresh run to the same path starts the file anew.
    let mut config = small_config(2);
    config.metrics_path = Some(path.clone());
    trainer(config).train(&data, |_| {}).unwrap();
    assert_eq!(read_metrics(&path).unwrap().len(), 2);
}

#[test]
fn a_metrics_file_error_is_reported_after_the_step_is_applied() {
    let scratch = Scratch::new("metrics-error");
    let data = blobs::<f64>(8, 4);
    let mut config = small_config(3);
    config.metrics_path = Some(scratch.path().to_path_buf()); // a folder: cannot be a file
    let mut t = trainer(config);
    let err = t.step(&data).unwrap_err();
    assert!(matches!(err, TrainError::Io { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&scratch.path().display().to_string()),
        "{err}"
    );
    assert_eq!(t.completed_steps(), 1);
    // The run goes on consistently: it equals one that never had a metrics file.
    t.config_mut().metrics_path = None;
    t.train(&data, |_| {}).unwrap();
    let mut clean = trainer(small_config(3));
    clean.train(&data, |_| {}).unwrap();
    assert_bitwise_equal(
        &parameter_values(t.model()),
        &parameter_values(clean.model()),
    );
    assert_eq!(t.rng_states(), clean.rng_states());
}

#[test]
fn a_nan_loss_stops_training_and_keeps_the_last_checkpoint() {
    let scratch = Scratch::new("nan");
    let dir = scratch.path().join("ckpt");
    let metrics = scratch.path().join("metrics.jsonl");
    let data = Poisoned::new(5);
    let mut config = small_config(10);
    config.checkpoint_every = Some(2);
    config.checkpoint_dir = Some(dir.clone());
    config.metrics_path = Some(metrics.clone());
    let mut t = trainer(config);
    let mut steps = Vec::new();
    let err = t.train(&data, |m| steps.push(m.step)).unwrap_err();
    let message = err.to_string();
    match &err {
        TrainError::NonFinite {
            step,
            what,
            value,
            last_checkpoint,
            ..
        } => {
            assert_eq!(*step, 5);
            assert_eq!(what, "loss");
            assert!(value.is_nan());
            assert_eq!(last_checkpoint.as_deref(), Some(dir.as_path()));
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    assert!(message.contains("step 5"), "{message}");
    assert!(message.contains("not finite"), "{message}");
    assert!(message.contains(&dir.display().to_string()), "{message}");
    assert_eq!(steps, [1, 2, 3, 4]);
    // Nothing of the failed step was applied.
    assert_eq!(t.completed_steps(), 4);
    assert_eq!(t.rng_states().data.next, 16);
    // The checkpoint of step 4 is intact, complete and equal to the model.
    let info = read_checkpoint::<TinyConfig>(&dir).unwrap();
    assert_eq!(info.step, 4);
    assert_eq!(
        folder_names(&dir),
        [
            "checkpoint.json",
            "model-0000000004.safetensors",
            "optimizer-0000000004.safetensors"
        ]
    );
    let resumed: Trainer<R, f64, Tiny<f64>, TinyConfig> =
        Trainer::resume(&dir, Tiny::new(&TinyConfig::default()).unwrap()).unwrap();
    assert_bitwise_equal(
        &parameter_values(resumed.model()),
        &parameter_values(t.model()),
    );
    assert_eq!(read_metrics(&metrics).unwrap().len(), 4);
    // The trainer can go on: the next fetch is clean, and it redoes step 5.
    assert_eq!(t.step(&data).unwrap().step, 5);
}

#[test]
fn a_nan_in_the_data_stops_at_the_first_batch_that_holds_it() {
    let mut values = train_support::blob_values(8, 6);
    values[3 * 36 + 10] = f64::NAN; // one pixel of image 3
    let data = InMemoryImages::<R, f64>::from_f64(&Reference, &values, [8, 1, 6, 6]).unwrap();
    let mut t = trainer(small_config(10));
    let err = t.train(&data, |_| {}).unwrap_err();
    let TrainError::NonFinite {
        step,
        last_checkpoint,
        ..
    } = err
    else {
        panic!("expected NonFinite, got {err:?}");
    };
    // 8 images, batches of 4: image 3 is in step 1 or 2.
    assert!(step == 1 || step == 2, "step {step}");
    assert_eq!(t.completed_steps(), step - 1);
    assert!(last_checkpoint.is_none());
}

#[test]
fn a_huge_learning_rate_ends_in_a_non_finite_error_not_in_nan_weights() {
    let data = blobs::<f64>(8, 7);
    let mut config = small_config(200);
    config.schedule = LrSchedule::constant(1e12);
    let mut t = trainer(config);
    match t.train(&data, |_| {}) {
        Err(TrainError::NonFinite { step, .. }) => {
            assert!(step >= 1);
            for (name, values) in parameter_values(t.model()) {
                assert!(
                    values.iter().all(|v| v.is_finite()),
                    "{name} holds non-finite values"
                );
            }
        }
        // Finite throughout is acceptable only if the weights are finite too.
        Ok(_) => {
            for (_, values) in parameter_values(t.model()) {
                assert!(values.iter().all(|v| v.is_finite()));
            }
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[test]
fn bad_configurations_and_data_are_errors() {
    let tiny = TinyConfig::default();
    let make = |config: TrainConfig| {
        Trainer::<R, f64, Tiny<f64>, TinyConfig>::new(
            Tiny::new(&tiny).unwrap(),
            tiny.clone(),
            config,
        )
    };
    for config in [
        TrainConfig {
            batch_size: 0,
            ..small_config(1)
        },
        TrainConfig {
            checkpoint_every: Some(5),
            ..small_config(1)
        },
        TrainConfig {
            checkpoint_every: Some(0),
            checkpoint_dir: Some("x".into()),
            ..small_config(1)
        },
        TrainConfig {
            schedule: LrSchedule::constant(-1.0),
            ..small_config(1)
        },
    ] {
        let err = make(config).unwrap_err();
        assert!(matches!(err, TrainError::Config(_)), "{err}");
    }
    let mut noise = small_config(1);
    noise.noise.t_min = 0.0;
    assert!(make(noise).is_err());
    // The data set may not change size within a run.
    let mut t = make(small_config(5)).unwrap();
    t.step(&blobs::<f64>(8, 1)).unwrap();
    let err = t.step(&blobs::<f64>(9, 1)).unwrap_err();
    assert!(err.to_string().contains("9 images"), "{err}");
    assert_eq!(t.completed_steps(), 1);
}

#[test]
fn the_config_round_trips_through_json_with_the_authors_defaults() {
    let config = TrainConfig::default();
    assert_eq!(config.batch_size, 128);
    assert_eq!(config.steps, 1_000_000);
    assert_eq!(config.objective, Objective::Dual);
    assert_eq!((config.noise.t_min, config.noise.t_max), (1e-9, 1e3));
    assert_eq!(config.schedule.lr_at(100_000), 2.5e-4);
    assert!(config.flips);
    let mut custom = small_config(10);
    custom.objective = Objective::Single;
    custom.checkpoint_every = Some(5);
    custom.checkpoint_dir = Some("runs/a".into());
    custom.schedule = LrSchedule::step_decay(0.1 + 0.2, 1.0 / 3.0, 7).with_min_lr(1e-7 / 3.0);
    let json = serde_json::to_string_pretty(&custom).unwrap();
    assert!(json.contains("\"single\""), "{json}");
    let back: TrainConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, custom); // f64 fields exactly
    assert!(serde_json::from_str::<TrainConfig>(r#"{"objective": "triple"}"#).is_err());
}
