//! A training step that stays on the device: values read back every `sync_every` steps in one
//! download, the same run for every `sync_every`, non-finite values reported with their step,
//! exact resumes, no upload in the forward pass, and flips in one computation.

mod train_support;

use dualscore_core::autograd::{GradOptions, grad};
use dualscore_core::backend::reference::Reference;
use dualscore_core::energy::{Energy, InnerProduct};
use dualscore_core::nn::{Init, Module, UNet, UNetConfig};
use dualscore_core::rng::RngKey;
use dualscore_core::testing::Counting;
use dualscore_core::train::{
    ImageSource, ImportanceSampling, InMemoryImages, Objective, StepMetrics, TrainConfig,
    TrainError, Trainer, mirror_images, read_checkpoint, read_metrics, score_matching_loss,
};
use dualscore_core::{Result, Tensor};
use train_support::{
    Poisoned, R, Scratch, Tiny, TinyConfig, assert_bitwise_equal, blob_values, blobs, folder_names,
    parameter_values, small_config,
};

type Run = Trainer<R, f64, Tiny<f64>, TinyConfig>;

fn run(config: TrainConfig) -> Run {
    let tiny = TinyConfig::default();
    Trainer::new(Tiny::new(&tiny).unwrap(), tiny, config).unwrap()
}

fn with_sync(mut config: TrainConfig, sync_every: usize) -> TrainConfig {
    config.sync_every = sync_every;
    config
}

/// What a metrics line holds besides times, as bits.
fn metric_bits(m: &StepMetrics) -> (u64, u64, u64, u64, u64) {
    (
        m.step,
        m.loss.to_bits(),
        m.dsm.to_bits(),
        m.tsm.to_bits(),
        m.lr.to_bits(),
    )
}

fn adam_bits(run: &Run) -> Vec<(String, u64, Vec<u64>, Vec<u64>)> {
    let bits = |t: &Tensor<R, f64>| {
        t.to_f64_vec()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    run.optimizer()
        .state()
        .iter()
        .map(|(n, m)| (n.clone(), m.step, bits(&m.exp_avg), bits(&m.exp_avg_sq)))
        .collect()
}

/// 8 steps with the given `sync_every`: the trainer, the metrics handed to `on_step` and those
/// of the metrics file.
fn eight_steps(sync_every: usize, scratch: &Scratch) -> (Run, Vec<StepMetrics>, Vec<StepMetrics>) {
    let path = scratch.path().join(format!("metrics-{sync_every}.jsonl"));
    let mut config = with_sync(small_config(8), sync_every);
    config.metrics_path = Some(path.clone());
    let mut trainer = run(config);
    let mut seen = Vec::new();
    let summary = trainer
        .train(&blobs(10, 8), |m| seen.push(m.clone()))
        .unwrap();
    assert_eq!(summary.step, 8);
    assert_eq!(summary.last.as_ref().map(|m| m.step), Some(8));
    assert_eq!(trainer.pending_steps(), 0);
    (trainer, seen, read_metrics(&path).unwrap())
}

#[test]
fn sync_every_changes_neither_the_parameters_nor_the_metrics() {
    let scratch = Scratch::new("sync-same");
    let (one, seen_one, file_one) = eight_steps(1, &scratch);
    for k in [4, 3] {
        let (other, seen, file) = eight_steps(k, &scratch);
        assert_bitwise_equal(
            &parameter_values(one.model()),
            &parameter_values(other.model()),
        );
        assert_eq!(adam_bits(&one), adam_bits(&other));
        assert_eq!(one.rng_states(), other.rng_states());
        let bits = |ms: &[StepMetrics]| ms.iter().map(metric_bits).collect::<Vec<_>>();
        assert_eq!(bits(&seen), bits(&seen_one), "sync_every {k}");
        assert_eq!(bits(&file), bits(&file_one), "sync_every {k}");
        assert_eq!(file.len(), 8);
    }
}

#[test]
fn advance_reads_back_every_sync_every_steps() {
    let data = blobs::<f64>(10, 8);
    let mut trainer = run(with_sync(small_config(20), 4));
    let mut reported = Vec::new();
    for expected_pending in [1, 2, 3, 0, 1, 2] {
        let metrics = trainer.advance(&data).unwrap();
        assert_eq!(trainer.pending_steps(), expected_pending);
        reported.push(metrics.iter().map(|m| m.step).collect::<Vec<_>>());
    }
    assert_eq!(
        reported,
        [vec![], vec![], vec![], vec![1, 2, 3, 4], vec![], vec![]]
    );
    // sync reads the partial group; step reads back at once.
    assert_eq!(
        trainer
            .sync()
            .unwrap()
            .iter()
            .map(|m| m.step)
            .collect::<Vec<_>>(),
        [5, 6]
    );
    assert!(trainer.sync().unwrap().is_empty());
    trainer.advance(&data).unwrap();
    assert_eq!(trainer.step(&data).unwrap().step, 8);
    assert_eq!(trainer.pending_steps(), 0);

    // The same 8 steps with sync_every 1.
    let mut reference = run(small_config(8));
    reference.train(&data, |_| {}).unwrap();
    assert_bitwise_equal(
        &parameter_values(trainer.model()),
        &parameter_values(reference.model()),
    );
}

/// The fields of a `NonFinite` error.
fn non_finite(err: &TrainError) -> (u64, String, Option<u64>, Option<std::path::PathBuf>) {
    match err {
        TrainError::NonFinite {
            step,
            what,
            applied_through,
            last_checkpoint,
            ..
        } => (
            *step,
            what.clone(),
            *applied_through,
            last_checkpoint.clone(),
        ),
        other => panic!("expected NonFinite, got {other:?}"),
    }
}

#[test]
fn a_late_nan_names_its_step_and_stops_the_trainer_for_good() {
    let scratch = Scratch::new("late-nan");
    let dir = scratch.path().join("ckpt");
    let metrics = scratch.path().join("metrics.jsonl");
    let mut config = with_sync(small_config(12), 4);
    config.checkpoint_every = Some(4);
    config.checkpoint_dir = Some(dir.clone());
    config.metrics_path = Some(metrics.clone());
    let mut trainer = run(config);
    let data = Poisoned::new(6);
    let mut steps = Vec::new();
    let err = trainer.train(&data, |m| steps.push(m.step)).unwrap_err();
    // Steps 5 to 8 are read back before the update of step 8: step 6 is the first with a NaN
    // loss, and steps 6 and 7 were applied.
    assert_eq!(
        non_finite(&err),
        (6, "loss".to_string(), Some(7), Some(dir.clone()))
    );
    let message = err.to_string();
    for part in [
        "step 6",
        "steps 6 to 7",
        "not finite",
        &dir.display().to_string(),
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert_eq!(steps, [1, 2, 3, 4, 5]);
    assert_eq!(trainer.completed_steps(), 7);
    assert_eq!(
        read_metrics(&metrics)
            .unwrap()
            .iter()
            .map(|m| m.step)
            .collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    // The checkpoint of step 4 is the last good one, untouched.
    assert_eq!(read_checkpoint::<TinyConfig>(&dir).unwrap().step, 4);
    let files = folder_names(&dir);
    // Every later call reports the same failure and changes nothing.
    assert_eq!(non_finite(&trainer.step(&data).unwrap_err()).0, 6);
    assert_eq!(non_finite(&trainer.advance(&data).unwrap_err()).0, 6);
    assert_eq!(non_finite(&trainer.sync().unwrap_err()).0, 6);
    assert_eq!(non_finite(&trainer.save_checkpoint(&dir).unwrap_err()).0, 6);
    let elsewhere = scratch.path().join("elsewhere");
    assert!(trainer.save_checkpoint(&elsewhere).is_err());
    assert!(!elsewhere.exists());
    assert_eq!(folder_names(&dir), files);
    assert_eq!(trainer.completed_steps(), 7);

    // Resuming from the checkpoint of step 4 and running steps 5 to 8 on clean data equals an
    // uninterrupted run of 8 steps (the poisoned source fetched the same images).
    let mut resumed: Run =
        Trainer::resume(&dir, Tiny::new(&TinyConfig::default()).unwrap()).unwrap();
    resumed.config_mut().steps = 8;
    resumed.config_mut().checkpoint_every = None;
    resumed.config_mut().checkpoint_dir = None;
    resumed.train(&blobs(12, 5), |_| {}).unwrap();
    let mut straight = run(small_config(8));
    straight.train(&blobs(12, 5), |_| {}).unwrap();
    assert_bitwise_equal(
        &parameter_values(resumed.model()),
        &parameter_values(straight.model()),
    );
}

#[test]
fn a_nan_at_the_end_of_a_group_is_not_applied_and_the_trainer_goes_on() {
    let mut trainer = run(with_sync(small_config(12), 4));
    let data = Poisoned::new(8);
    let mut steps = Vec::new();
    let err = trainer.train(&data, |m| steps.push(m.step)).unwrap_err();
    assert_eq!(non_finite(&err), (8, "loss".to_string(), None, None));
    assert!(
        err.to_string().contains("the step was not applied"),
        "{err}"
    );
    assert_eq!(steps, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(trainer.completed_steps(), 7);
    assert_eq!(trainer.rng_states().data.next, 28);
    // The next fetch is clean, and the trainer redoes step 8.
    assert_eq!(trainer.step(&data).unwrap().step, 8);
}

#[test]
fn a_nan_found_by_sync_or_a_checkpoint_stops_the_trainer() {
    let scratch = Scratch::new("sync-nan");
    for by_checkpoint in [false, true] {
        let mut trainer = run(with_sync(small_config(12), 4));
        let data = Poisoned::new(2);
        for _ in 0..3 {
            assert!(trainer.advance(&data).unwrap().is_empty());
        }
        let err = if by_checkpoint {
            let dir = scratch.path().join("never");
            let err = trainer.save_checkpoint(&dir).unwrap_err();
            assert!(!dir.join("checkpoint.json").exists());
            err
        } else {
            trainer.sync().unwrap_err()
        };
        assert_eq!(non_finite(&err), (2, "loss".to_string(), Some(3), None));
        assert!(
            err.to_string().contains("No checkpoint was written"),
            "{err}"
        );
        // Step 1 was checked: the next successful call would report it, but none succeeds.
        assert!(trainer.sync().is_err());
    }
}

/// U(y, t) = 1/2 |y|^2 (a + sqrt(b^2)) / (1 + t): finite, with a NaN gradient at b = 0.
#[derive(Clone, Debug)]
struct Kinked {
    a: Tensor<R, f64>,
    b: Tensor<R, f64>,
}

impl Module<R, f64> for Kinked {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<R, f64>)) {
        f("a", &self.a);
        f("b", &self.b);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<R, f64>)) {
        f("a", &mut self.a);
        f("b", &mut self.b);
    }
}

impl Energy<R, f64> for Kinked {
    fn energy(&self, y: &Tensor<R, f64>, t: &Tensor<R, f64>) -> Result<Tensor<R, f64>> {
        let scale = self.a.add(&self.b.square()?.sqrt()?)?;
        y.square()?
            .sum(&[1, 2, 3], false)?
            .mul(&scale)?
            .div(&t.add_scalar(1.0)?)?
            .scale(0.5)
    }
}

dualscore_core::energy_score_model!(impl ScoreModel<R, f64> for Kinked);

#[test]
fn a_non_finite_gradient_names_its_parameter_for_every_sync_every() {
    let kinked = Kinked {
        a: Tensor::from_f64(&Reference, &[1.0], [1]).unwrap(),
        b: Tensor::from_f64(&Reference, &[0.0], [1]).unwrap(),
    };
    for (k, applied) in [(1, None), (4, Some(3))] {
        let mut trainer =
            Trainer::<R, f64, Kinked>::new(kinked.clone(), (), with_sync(small_config(8), k))
                .unwrap();
        let err = trainer.train(&blobs(8, 2), |_| {}).unwrap_err();
        let (step, what, applied_through, _) = non_finite(&err);
        assert_eq!((step, what.as_str()), (1, "gradient of 'b'"), "{err}");
        assert_eq!(applied_through, applied);
        let TrainError::NonFinite { value, .. } = err else {
            unreachable!()
        };
        assert!(value.is_nan());
        assert_eq!(trainer.completed_steps(), applied.unwrap_or(0));
    }
}

/// Trains `2 k` steps straight and `k + k` steps with a checkpoint and a resume between, all
/// with `sync_every`, and checks that both end bit for bit as a straight run with 1.
fn check_resume(name: &str, sync_every: usize, k: u64) {
    let scratch = Scratch::new(name);
    let dir = scratch.path().join("ckpt");
    let metrics = scratch.path().join("metrics.jsonl");
    let data = blobs::<f64>(10, 8);
    let base = with_sync(small_config(2 * k), sync_every);

    let mut straight = run(with_sync(base.clone(), 1));
    let mut straight_metrics = Vec::new();
    straight
        .train(&data, |m| straight_metrics.push(metric_bits(m)))
        .unwrap();

    let mut first = base.clone();
    first.steps = k;
    first.checkpoint_dir = Some(dir.clone());
    first.metrics_path = Some(metrics.clone());
    run(first).train(&data, |_| {}).unwrap();
    let info = read_checkpoint::<TinyConfig>(&dir).unwrap();
    assert_eq!(info.step, k);
    assert_eq!(info.train_config.sync_every, sync_every);

    let mut resumed: Run =
        Trainer::resume(&dir, Tiny::new(&TinyConfig::default()).unwrap()).unwrap();
    assert_eq!(resumed.config().sync_every, sync_every);
    resumed.config_mut().steps = 2 * k;
    resumed.train(&data, |_| {}).unwrap();
    assert_bitwise_equal(
        &parameter_values(straight.model()),
        &parameter_values(resumed.model()),
    );
    assert_eq!(adam_bits(&straight), adam_bits(&resumed));
    assert_eq!(straight.rng_states(), resumed.rng_states());
    let logged: Vec<_> = read_metrics(&metrics)
        .unwrap()
        .iter()
        .map(metric_bits)
        .collect();
    assert_eq!(logged, straight_metrics);
}

#[test]
fn a_run_with_sync_every_resumes_exactly() {
    check_resume("resume-sync-3", 3, 5);
    check_resume("resume-sync-4", 4, 4);
}

#[test]
fn a_checkpoint_in_the_middle_of_a_group_reads_it_back_first() {
    let scratch = Scratch::new("mid-group");
    let dir = scratch.path().join("ckpt");
    let data = blobs::<f64>(10, 8);
    let mut trainer = run(with_sync(small_config(6), 4));
    for _ in 0..3 {
        assert!(trainer.advance(&data).unwrap().is_empty());
    }
    trainer.save_checkpoint(&dir).unwrap();
    assert_eq!(trainer.pending_steps(), 0);
    assert_eq!(read_checkpoint::<TinyConfig>(&dir).unwrap().step, 3);
    // The metrics read back by the checkpoint come with the next call.
    let next = trainer.advance(&data).unwrap();
    assert_eq!(next.iter().map(|m| m.step).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(trainer.pending_steps(), 1);
    trainer.train(&data, |_| {}).unwrap();

    let mut resumed: Run =
        Trainer::resume(&dir, Tiny::new(&TinyConfig::default()).unwrap()).unwrap();
    resumed.train(&data, |_| {}).unwrap();
    assert_bitwise_equal(
        &parameter_values(trainer.model()),
        &parameter_values(resumed.model()),
    );
}

#[test]
fn sync_every_is_validated_and_serialized_only_when_not_one() {
    let err = |config: TrainConfig| {
        let tiny = TinyConfig::default();
        Trainer::<R, f64, Tiny<f64>, TinyConfig>::new(Tiny::new(&tiny).unwrap(), tiny, config)
            .unwrap_err()
            .to_string()
    };
    assert!(err(with_sync(small_config(1), 0)).contains("sync_every must be at least 1"));
    let mut importance = with_sync(small_config(1), 2);
    importance.importance = Some(ImportanceSampling::default());
    assert!(err(importance.clone()).contains("importance sampling needs sync_every = 1"));
    importance.sync_every = 1;
    importance.validate().unwrap();

    let json = serde_json::to_string(&small_config(1)).unwrap();
    assert!(!json.contains("sync_every"), "{json}");
    let old: TrainConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(old.sync_every, 1);
    let four = with_sync(small_config(1), 4);
    let json = serde_json::to_string(&four).unwrap();
    assert!(json.contains("\"sync_every\":4"), "{json}");
    assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), four);
}

// ---- transfers ------------------------------------------------------------------------------

type C = Counting<Reference>;

fn counting_unet(backend: &C) -> InnerProduct<C, f64, UNet<C, f64>> {
    let config = UNetConfig {
        image_size: 6,
        scales: 1,
        base_width: 2,
        layers_per_block: 2,
        embedding_frequencies: 3,
        embedding_width: 4,
        ..UNetConfig::small()
    };
    let mut init = Init::new(5);
    InnerProduct::new(UNet::new(backend, &mut init, &config).unwrap())
}

fn counting_images(backend: &C) -> InMemoryImages<C, f64> {
    InMemoryImages::from_f64(backend, &blob_values(10, 3), [10, 1, 6, 6]).unwrap()
}

#[test]
fn a_step_uploads_its_batch_and_reads_back_once_every_sync_every_steps() {
    for (k, importance) in [(1, false), (4, false), (1, true)] {
        let backend = Counting::new(Reference);
        let data = counting_images(&backend);
        let mut config = with_sync(small_config(8), k);
        config.average_decay = Some(0.9);
        // The per-sample losses come with the step's values, the weights with its t.
        config.importance = importance.then(ImportanceSampling::default);
        let mut trainer = Trainer::new(counting_unet(&backend), (), config).unwrap();
        let mut per_step = Vec::new();
        for _ in 0..8 {
            backend.counts.reset();
            trainer.advance(&data).unwrap();
            per_step.push(backend.counts.transfers());
        }
        // Uploads: the images (mirrored on the host) and their noise variances (and weights).
        assert!(per_step.iter().all(|&(up, _)| up == 2), "{per_step:?}");
        let downloads: Vec<usize> = per_step.iter().map(|&(_, down)| down).collect();
        let expected: Vec<usize> = (1..=8).map(|s| usize::from(s % k == 0)).collect();
        assert_eq!(downloads, expected, "sync_every {k}");
    }
}

#[test]
fn the_forward_and_backward_passes_upload_and_download_nothing() {
    let backend = Counting::new(Reference);
    let mut model = counting_unet(&backend);
    model.require_grad();
    let x = counting_images(&backend).fetch(&[0, 1, 2]).unwrap();
    let t = Tensor::from_f64(&backend, &[1e-3, 0.5, 20.0], [3]).unwrap();
    let z = Tensor::randn(&backend, x.shape().clone(), RngKey::new(1, 2), 0).unwrap();
    backend.counts.reset();
    let loss = score_matching_loss(&model, &x, &t, &z, Objective::Dual).unwrap();
    let params = model.parameters();
    let inputs: Vec<_> = params.iter().map(|(_, p)| p).collect();
    let grads = grad(&[&loss.loss], &inputs, GradOptions::default()).unwrap();
    assert_eq!(grads.len(), params.len());
    assert_eq!(backend.counts.transfers(), (0, 0));
    // A clone shares the frequency table.
    let clone = model.clone();
    clone.network.noise_var_embedding.features(&t).unwrap();
    assert_eq!(backend.counts.transfers(), (0, 0));
}

// ---- flips ----------------------------------------------------------------------------------

/// The images of an in-memory source, mirrored on the device (the trait's default).
struct OnDevice(InMemoryImages<R, f64>);

impl ImageSource<R, f64> for OnDevice {
    fn num_images(&self) -> usize {
        self.0.num_images()
    }
    fn image_shape(&self) -> [usize; 3] {
        self.0.image_shape()
    }
    fn fetch(&self, indices: &[usize]) -> Result<Tensor<R, f64>> {
        self.0.fetch(indices)
    }
}

fn bits(t: &Tensor<R, f64>) -> Vec<u64> {
    t.to_f64_vec()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn mirroring_on_the_host_and_on_the_device_equal_flipping_image_by_image() {
    let data = blobs::<f64>(6, 9);
    let indices = [4, 0, 5, 5, 2];
    let x = data.fetch(&indices).unwrap();
    for mirror in [
        [false; 5],
        [true; 5],
        [true, false, false, true, false],
        [false, true, true, false, true],
    ] {
        let parts: Vec<Tensor<R, f64>> = (0..5)
            .map(|i| {
                let image = x.slice(0, i, 1).unwrap();
                if mirror[i] {
                    image.flip(&[3]).unwrap()
                } else {
                    image
                }
            })
            .collect();
        let refs: Vec<&Tensor<R, f64>> = parts.iter().collect();
        let expected = bits(&Tensor::concat(&refs, 0).unwrap());
        assert_eq!(
            bits(&data.fetch_mirrored(&indices, &mirror).unwrap()),
            expected
        );
        assert_eq!(bits(&mirror_images(&x, &mirror).unwrap()), expected);
        assert_eq!(
            bits(
                &OnDevice(data.clone())
                    .fetch_mirrored(&indices, &mirror)
                    .unwrap()
            ),
            expected
        );
    }
    assert!(data.fetch_mirrored(&indices, &[true]).is_err());
    assert!(mirror_images(&x, &[true]).is_err());
}

#[test]
fn a_run_is_the_same_whether_the_source_or_the_device_mirrors() {
    let data = blobs::<f64>(10, 8);
    let mut host = run(small_config(6));
    host.train(&data, |_| {}).unwrap();
    let mut device = run(small_config(6));
    device.train(&OnDevice(data), |_| {}).unwrap();
    assert_bitwise_equal(
        &parameter_values(host.model()),
        &parameter_values(device.model()),
    );
}
