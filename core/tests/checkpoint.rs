//! Checkpoints: a resumed run continues exactly, loading is strict with clear errors, values
//! convert between f32 and f64, and writes are atomic.

mod train_support;

use dualscore_core::nn::Module;
use dualscore_core::train::checkpoint::{
    load_optimizer, optimizer_file_name, save_optimizer, weights_file_name,
};
use dualscore_core::train::{
    Adam, AdamConfig, CHECKPOINT_FILE, CheckpointInfo, ImportanceSampling, LrSchedule, TrainConfig,
    TrainError, Trainer, load_checkpoint_weights, load_weights, read_checkpoint, read_metrics,
    save_weights,
};
use std::fs;
use std::path::Path;
use train_support::{
    R, Scratch, Tiny, TinyConfig, assert_bitwise_equal, blobs, folder_names, parameter_values,
    small_config,
};

type Run = Trainer<R, f64, Tiny<f64>, TinyConfig>;

fn new_run(config: TrainConfig) -> Run {
    let tiny = TinyConfig::default();
    Trainer::new(Tiny::new(&tiny).unwrap(), tiny, config).unwrap()
}

/// A model of the default architecture but other initial weights (so loading must overwrite).
fn other_weights() -> Tiny<f64> {
    Tiny::new(&TinyConfig {
        seed: 1234,
        ..TinyConfig::default()
    })
    .unwrap()
}

fn adam_state_bits(run: &Run) -> Vec<(String, u64, Vec<u64>, Vec<u64>)> {
    run.optimizer()
        .state()
        .iter()
        .map(|(n, m)| {
            let bits = |t: &dualscore_core::Tensor<R, f64>| {
                t.to_f64_vec()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect()
            };
            (n.clone(), m.step, bits(&m.exp_avg), bits(&m.exp_avg_sq))
        })
        .collect()
}

#[test]
fn a_resumed_run_continues_exactly_as_an_uninterrupted_one() {
    // 10 images in batches of 4: the run crosses epoch boundaries, with flips, a decaying rate
    // and metrics.
    let k = 5;
    let mut base = small_config(2 * k);
    base.schedule = LrSchedule::step_decay(2e-2, 0.5, 3);
    check_resume_is_exact("resume", base, k);
}

#[test]
fn a_run_with_importance_sampled_t_and_warm_up_resumes_exactly() {
    let k = 5;
    let mut base = small_config(2 * k);
    base.schedule = LrSchedule::cosine(2e-2, 2 * k);
    base.warmup_steps = 3;
    base.importance = Some(ImportanceSampling {
        bands: 4,
        uniform_share: 0.5,
        decay: 0.5,
    });
    let info = check_resume_is_exact("resume-importance", base, k);
    // The band estimates are in the checkpoint and have moved away from their start.
    let squares = info.noise_band_mean_squares.expect("saved band estimates");
    assert_eq!(squares.len(), 4);
    assert!(squares.iter().any(|&m| m != 1.0), "{squares:?}");
}

/// Trains `2 k` steps straight and `k + k` steps with a checkpoint and a resume between, and
/// checks that both end bit for bit the same. Returns the checkpoint of step `k`.
fn check_resume_is_exact(name: &str, base: TrainConfig, k: u64) -> CheckpointInfo<TinyConfig> {
    let scratch = Scratch::new(name);
    let dir = scratch.path().join("ckpt");
    let data = blobs::<f64>(10, 8);

    let mut straight = new_run(base.clone());
    let mut straight_losses = Vec::new();
    straight
        .train(&data, |m| straight_losses.push(m.loss.to_bits()))
        .unwrap();

    let mut first = base.clone();
    first.steps = k;
    first.checkpoint_dir = Some(dir.clone());
    first.metrics_path = Some(scratch.path().join("metrics.jsonl"));
    let mut part = new_run(first);
    let summary = part.train(&data, |_| {}).unwrap();
    assert_eq!(summary.checkpoint.as_deref(), Some(dir.as_path()));
    drop(part);

    let info = read_checkpoint::<TinyConfig>(&dir).unwrap();
    assert_eq!(info.step, k);
    assert_eq!(info.model_config, TinyConfig::default());
    assert_eq!(info.dtype, "f64");
    assert_eq!(info.num_images, Some(10));
    let mut resumed: Run = Trainer::resume(&dir, other_weights()).unwrap();
    assert_eq!(resumed.completed_steps(), k);
    assert_eq!(resumed.model_config(), &TinyConfig::default());
    assert!(
        resumed
            .model()
            .parameters()
            .iter()
            .all(|(_, p)| p.requires_grad())
    );
    resumed.config_mut().steps = 2 * k;
    resumed.train(&data, |_| {}).unwrap();

    assert_bitwise_equal(
        &parameter_values(straight.model()),
        &parameter_values(resumed.model()),
    );
    assert_eq!(adam_state_bits(&straight), adam_state_bits(&resumed));
    assert_eq!(straight.rng_states(), resumed.rng_states());
    // The metrics file holds both halves, and the losses are the uninterrupted run's.
    let logged = read_metrics(&scratch.path().join("metrics.jsonl")).unwrap();
    let logged_bits: Vec<u64> = logged.iter().map(|m| m.loss.to_bits()).collect();
    assert_eq!(logged_bits, straight_losses);
    assert_eq!(logged.last().unwrap().step, 2 * k);
    assert!(logged.last().unwrap().time_s >= info.elapsed_s);
    info
}

#[test]
fn resuming_rewrites_metrics_after_the_checkpoint() {
    let scratch = Scratch::new("metrics-resume");
    let dir = scratch.path().join("ckpt");
    let metrics = scratch.path().join("m.jsonl");
    let data = blobs::<f64>(8, 9);
    // Checkpoint at step 3, then steps 4 to 6 logged but never checkpointed (as if the run
    // had died), and a torn last line.
    let mut config = small_config(3);
    config.checkpoint_dir = Some(dir.clone());
    config.metrics_path = Some(metrics.clone());
    let mut run = new_run(config);
    run.train(&data, |_| {}).unwrap();
    run.config_mut().checkpoint_dir = None;
    run.config_mut().steps = 6;
    run.train(&data, |_| {}).unwrap();
    let original = read_metrics(&metrics).unwrap();
    assert_eq!(original.len(), 6);
    let mut text = fs::read_to_string(&metrics).unwrap();
    text.push_str("{\"step\": 7, \"loss\": 1");
    fs::write(&metrics, text).unwrap();

    let mut resumed: Run = Trainer::resume(&dir, other_weights()).unwrap();
    resumed.config_mut().steps = 5;
    resumed.train(&data, |_| {}).unwrap();
    let rewritten = read_metrics(&metrics).unwrap();
    let steps: Vec<u64> = rewritten.iter().map(|m| m.step).collect();
    assert_eq!(steps, [1, 2, 3, 4, 5]);
    for (a, b) in rewritten.iter().zip(&original) {
        assert_eq!(a.loss.to_bits(), b.loss.to_bits(), "step {}", a.step);
    }
}

fn trained_checkpoint(scratch: &Scratch) -> std::path::PathBuf {
    let dir = scratch.path().join("ckpt");
    let mut config = small_config(2);
    config.checkpoint_dir = Some(dir.clone());
    new_run(config).train(&blobs::<f64>(8, 10), |_| {}).unwrap();
    dir
}

fn checkpoint_error(dir: &Path, model: Tiny<f64>) -> (TrainError, String) {
    let err = Trainer::<R, f64, Tiny<f64>, TinyConfig>::resume(dir, model).unwrap_err();
    let message = err.to_string();
    (err, message)
}

#[test]
fn loading_another_architecture_names_every_mismatch() {
    let scratch = Scratch::new("arch");
    let dir = trained_checkpoint(&scratch);
    let weights = weights_file_name(2);

    // Wrong shapes: 8 hidden channels instead of 4.
    let wide = Tiny::new(&TinyConfig {
        hidden: 8,
        ..TinyConfig::default()
    })
    .unwrap();
    let mut probe = wide.clone();
    let err = load_checkpoint_weights(&dir, &mut probe).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, TrainError::Checkpoint { .. }), "{message}");
    assert!(message.contains(&weights), "{message}");
    assert!(
        message.contains("parameter 'conv1.weight': expected shape [8, 1, 3, 3] (the model), found [4, 1, 3, 3] (the file)"),
        "{message}"
    );
    assert!(
        message.contains("parameter 'conv2.weight': expected shape [1, 8, 3, 3] (the model), found [1, 4, 3, 3] (the file)"),
        "{message}"
    );
    // The model is unchanged by a failed load.
    assert_bitwise_equal(&parameter_values(&probe), &parameter_values(&wide));
    let (_, message) = checkpoint_error(&dir, wide);
    assert!(message.contains("conv1.weight"), "{message}");

    // An extra tensor in the file: the model has no log_var.
    let (_, message) = checkpoint_error(
        &dir,
        Tiny::new(&TinyConfig {
            with_log_var: false,
            ..TinyConfig::default()
        })
        .unwrap(),
    );
    assert!(message.contains("unexpected tensor"), "{message}");
    assert!(message.contains("log_var"), "{message}");

    // A missing parameter: weights saved without log_var, loaded into a model with it.
    let plain = Tiny::<f64>::new(&TinyConfig {
        with_log_var: false,
        ..TinyConfig::default()
    })
    .unwrap();
    let file = scratch.path().join("plain.safetensors");
    save_weights(&file, &plain, 0).unwrap();
    let mut full = Tiny::<f64>::new(&TinyConfig::default()).unwrap();
    let message = load_weights(&file, &mut full).unwrap_err().to_string();
    assert!(message.contains("plain.safetensors"), "{message}");
    assert!(
        message.contains("missing parameter 'log_var' (the model's shape [1])"),
        "{message}"
    );
}

#[test]
fn corrupt_or_missing_files_are_errors_that_name_the_file() {
    let scratch = Scratch::new("corrupt");
    let dir = trained_checkpoint(&scratch);
    let weights = dir.join(weights_file_name(2));
    let optimizer = dir.join(optimizer_file_name(2));
    let json = dir.join(CHECKPOINT_FILE);
    let good_weights = fs::read(&weights).unwrap();
    let good_optimizer = fs::read(&optimizer).unwrap();
    let good_json = fs::read(&json).unwrap();
    let fresh = || Tiny::<f64>::new(&TinyConfig::default()).unwrap();

    // Truncated weights.
    fs::write(&weights, &good_weights[..good_weights.len() / 2]).unwrap();
    let (err, message) = checkpoint_error(&dir, fresh());
    assert!(matches!(err, TrainError::Checkpoint { .. }), "{message}");
    assert!(
        message.contains(&weights.display().to_string()),
        "{message}"
    );
    assert!(message.contains("truncated or corrupt"), "{message}");
    // Garbage.
    fs::write(&weights, b"not a safetensors file at all").unwrap();
    let (_, message) = checkpoint_error(&dir, fresh());
    assert!(
        message.contains("not a valid safetensors file"),
        "{message}"
    );
    // Missing.
    fs::remove_file(&weights).unwrap();
    let (err, message) = checkpoint_error(&dir, fresh());
    assert!(matches!(err, TrainError::Io { .. }), "{message}");
    assert!(
        message.contains(&weights.display().to_string()),
        "{message}"
    );
    fs::write(&weights, &good_weights).unwrap();

    // Truncated optimizer state.
    fs::write(&optimizer, &good_optimizer[..good_optimizer.len() - 3]).unwrap();
    let (_, message) = checkpoint_error(&dir, fresh());
    assert!(
        message.contains(&optimizer.display().to_string()),
        "{message}"
    );
    // Weights given as the optimizer file: another kind of file.
    fs::write(&optimizer, &good_weights).unwrap();
    let (_, message) = checkpoint_error(&dir, fresh());
    assert!(
        message.contains("'weights' data, expected 'adam'"),
        "{message}"
    );
    fs::write(&optimizer, &good_optimizer).unwrap();

    // Truncated, corrupt or foreign checkpoint.json.
    fs::write(&json, &good_json[..good_json.len() / 2]).unwrap();
    let (_, message) = checkpoint_error(&dir, fresh());
    assert!(message.contains(&json.display().to_string()), "{message}");
    assert!(message.contains("cannot parse"), "{message}");
    let text = String::from_utf8(good_json.clone()).unwrap();
    fs::write(
        &json,
        text.replace("dualscore-checkpoint", "something-else"),
    )
    .unwrap();
    let (_, message) = checkpoint_error(&dir, fresh());
    assert!(message.contains("format 'something-else'"), "{message}");
    fs::write(
        &json,
        text.replace(&weights_file_name(2), "../elsewhere.safetensors"),
    )
    .unwrap();
    let (_, message) = checkpoint_error(&dir, fresh());
    assert!(message.contains("not a plain file name"), "{message}");
    // A model config of another type.
    fs::write(&json, &good_json).unwrap();
    assert!(read_checkpoint::<Vec<u32>>(&dir).is_err());
    // Files from another step than checkpoint.json says.
    fs::write(&json, text.replace("\"step\": 2", "\"step\": 3")).unwrap();
    let (_, message) = checkpoint_error(&dir, fresh());
    assert!(
        message.contains("belongs to step 2 but checkpoint.json is at step 3"),
        "{message}"
    );
    // No checkpoint at all.
    let (err, _) = checkpoint_error(&scratch.path().join("nothing"), fresh());
    assert!(matches!(err, TrainError::Io { .. }));

    // Restored, it loads again.
    fs::write(&json, &good_json).unwrap();
    Trainer::<R, f64, Tiny<f64>, TinyConfig>::resume(&dir, fresh()).unwrap();
}

#[test]
fn weights_convert_between_f32_and_f64() {
    let scratch = Scratch::new("dtype");
    let config = TinyConfig::default();
    let m64 = Tiny::<f64>::new(&config).unwrap();
    let f64_file = scratch.path().join("w64.safetensors");
    save_weights(&f64_file, &m64, 0).unwrap();
    let mut m32 = Tiny::<f32>::new(&TinyConfig {
        seed: 5,
        ..config.clone()
    })
    .unwrap();
    load_weights(&f64_file, &mut m32).unwrap();
    for ((n64, v64), (n32, v32)) in parameter_values(&m64)
        .into_iter()
        .zip(parameter_values(&m32))
    {
        assert_eq!(n64, n32);
        let rounded: Vec<f64> = v64.iter().map(|&v| f64::from(v as f32)).collect();
        assert_eq!(rounded, v32, "{n64}");
    }
    // f32 files hold 4 bytes per value and load exactly into f64.
    let f32_file = scratch.path().join("w32.safetensors");
    save_weights(&f32_file, &m32, 0).unwrap();
    assert!(fs::metadata(&f32_file).unwrap().len() < fs::metadata(&f64_file).unwrap().len());
    let mut back = Tiny::<f64>::new(&TinyConfig { seed: 6, ..config }).unwrap();
    load_weights(&f32_file, &mut back).unwrap();
    assert_bitwise_equal(&parameter_values(&back), &parameter_values(&m32));
    // Constants stay constants, parameters that required a gradient still do.
    assert!(back.parameters().iter().all(|(_, p)| !p.requires_grad()));
    back.require_grad();
    load_weights(&f64_file, &mut back).unwrap();
    assert!(back.parameters().iter().all(|(_, p)| p.requires_grad()));
    // The file is plain safetensors: names are parameter names, dtype the model's.
    let bytes = fs::read(&f32_file).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(names, ["conv1.weight", "conv2.weight", "log_var"]);
    assert_eq!(
        file.tensor("conv1.weight").unwrap().dtype(),
        safetensors::Dtype::F32
    );
}

#[test]
fn an_f64_run_resumes_in_f32() {
    let scratch = Scratch::new("resume32");
    let dir = trained_checkpoint(&scratch);
    let model = Tiny::<f32>::new(&TinyConfig::default()).unwrap();
    let mut run: Trainer<R, f32, Tiny<f32>, TinyConfig> = Trainer::resume(&dir, model).unwrap();
    run.config_mut().steps = 4;
    let summary = run.train(&blobs::<f32>(8, 10), |_| {}).unwrap();
    assert_eq!(summary.steps_run, 2);
    assert_eq!(read_checkpoint::<TinyConfig>(&dir).unwrap().dtype, "f32");
}

#[test]
fn optimizer_state_round_trips() {
    let scratch = Scratch::new("adam");
    let file = scratch.path().join("adam.safetensors");
    let mut run = new_run(small_config(3));
    run.train(&blobs::<f64>(8, 11), |_| {}).unwrap();
    save_optimizer(&file, run.optimizer(), 3).unwrap();
    let mut adam = Adam::<R, f64>::new(AdamConfig::default()).unwrap();
    load_optimizer(&file, &mut adam, run.model()).unwrap();
    assert_eq!(adam.state().len(), 3);
    for (name, m) in adam.state() {
        let original = &run.optimizer().state()[name];
        assert_eq!(m.step, 3);
        assert_eq!(
            m.exp_avg.to_f64_vec().unwrap(),
            original.exp_avg.to_f64_vec().unwrap()
        );
        assert_eq!(
            m.exp_avg_sq.to_f64_vec().unwrap(),
            original.exp_avg_sq.to_f64_vec().unwrap()
        );
    }
    // Into a model of another shape: an error naming the tensor and both shapes.
    let wide = Tiny::<f64>::new(&TinyConfig {
        hidden: 2,
        ..TinyConfig::default()
    })
    .unwrap();
    let message = load_optimizer(&file, &mut adam, &wide)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("tensor 'exp_avg.conv1.weight': expected shape [2, 1, 3, 3] (parameter 'conv1.weight'), found [4, 1, 3, 3]"),
        "{message}"
    );
    assert_eq!(adam.state().len(), 3, "unchanged after the error");
}

#[test]
fn a_checkpoint_folder_holds_only_complete_files() {
    let scratch = Scratch::new("atomic");
    let dir = scratch.path().join("ckpt");
    let data = blobs::<f64>(8, 12);
    let mut config = small_config(4);
    config.checkpoint_every = Some(2);
    config.checkpoint_dir = Some(dir.clone());
    let mut run = new_run(config);
    run.train(&data, |_| {}).unwrap();
    // Step 2's files were replaced by step 4's; no temporary file is left.
    assert_eq!(
        folder_names(&dir),
        [
            "checkpoint.json",
            "model-0000000004.safetensors",
            "optimizer-0000000004.safetensors"
        ]
    );
    let saved_json = fs::read(dir.join(CHECKPOINT_FILE)).unwrap();
    let saved_values = parameter_values(run.model());

    // A failure while writing step 6: its weights file cannot be renamed into place (a
    // folder stands there). The error names it; the step-4 checkpoint is untouched.
    run.config_mut().steps = 6;
    run.config_mut().checkpoint_every = None;
    run.config_mut().checkpoint_dir = None;
    run.train(&data, |_| {}).unwrap();
    let obstacle = dir.join(weights_file_name(6));
    fs::create_dir(&obstacle).unwrap();
    fs::write(obstacle.join("x"), b"x").unwrap();
    let err = run.save_checkpoint(&dir).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, TrainError::Io { .. }), "{message}");
    assert!(
        message.contains(&obstacle.display().to_string()),
        "{message}"
    );
    assert_eq!(fs::read(dir.join(CHECKPOINT_FILE)).unwrap(), saved_json);
    assert_eq!(
        folder_names(&dir),
        [
            "checkpoint.json",
            "model-0000000004.safetensors",
            "model-0000000006.safetensors", // the obstacle
            "optimizer-0000000004.safetensors"
        ]
    );
    let mut probe = other_weights();
    assert_eq!(load_checkpoint_weights(&dir, &mut probe).unwrap(), 4);
    assert_bitwise_equal(&parameter_values(&probe), &saved_values);

    // The same when the optimizer file fails after the weights were written: checkpoint.json
    // still names step 4 (the finished step-6 weights file is unreferenced until a commit).
    fs::remove_dir_all(&obstacle).unwrap();
    let obstacle = dir.join(optimizer_file_name(6));
    fs::create_dir(&obstacle).unwrap();
    fs::write(obstacle.join("x"), b"x").unwrap();
    assert!(run.save_checkpoint(&dir).is_err());
    assert_eq!(fs::read(dir.join(CHECKPOINT_FILE)).unwrap(), saved_json);
    assert_eq!(load_checkpoint_weights(&dir, &mut probe).unwrap(), 4);
    assert!(!folder_names(&dir).iter().any(|n| n.ends_with(".tmp")));

    // A crash mid-write leaves a temporary file; it is ignored, then cleaned at the next save.
    fs::remove_dir_all(&obstacle).unwrap();
    fs::write(dir.join(".model-0000000008.safetensors.tmp"), b"half a fi").unwrap();
    fs::write(dir.join(".checkpoint.json.tmp"), b"{\"format\":").unwrap();
    assert_eq!(load_checkpoint_weights(&dir, &mut probe).unwrap(), 4);
    fs::write(dir.join("notes.txt"), b"kept").unwrap();
    run.save_checkpoint(&dir).unwrap();
    assert_eq!(
        folder_names(&dir),
        [
            "checkpoint.json",
            "model-0000000006.safetensors",
            "notes.txt",
            "optimizer-0000000006.safetensors"
        ]
    );
    assert_eq!(load_checkpoint_weights(&dir, &mut probe).unwrap(), 6);
    assert_eq!(run.last_checkpoint(), Some(dir.as_path()));
}

#[test]
fn checkpoint_json_describes_the_run() {
    let scratch = Scratch::new("json");
    let dir = trained_checkpoint(&scratch);
    let text = fs::read_to_string(dir.join(CHECKPOINT_FILE)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["format"], "dualscore-checkpoint");
    assert_eq!(v["version"], 2);
    assert_eq!(v["step"], 2);
    assert_eq!(v["dtype"], "f64");
    assert_eq!(v["model_config"]["hidden"], 4);
    assert_eq!(v["train_config"]["batch_size"], 4);
    assert_eq!(v["train_config"]["objective"], "dual");
    assert_eq!(v["rng"]["data"]["seed"], 3);
    assert_eq!(v["rng"]["data"]["stream"], 1);
    assert_eq!(v["rng"]["data"]["next"], 8);
    assert_eq!(v["rng"]["noise"]["next"], 8 * 36);
    assert_eq!(v["weights_file"], "model-0000000002.safetensors");
    assert_eq!(v["optimizer_file"], "optimizer-0000000002.safetensors");
    // Version 1 (before buffers) still reads; a version from the future does not.
    for (version, readable) in [(1, true), (3, false)] {
        let mut old = v.clone();
        old["version"] = version.into();
        let copy = scratch.path().join(format!("version{version}"));
        fs::create_dir_all(&copy).unwrap();
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
        fs::write(copy.join(CHECKPOINT_FILE), old.to_string()).unwrap();
        let read = read_checkpoint::<serde_json::Value>(&copy);
        assert_eq!(read.is_ok(), readable, "version {version}: {read:?}");
    }
    // Any config type can be read back untyped.
    let info = read_checkpoint::<serde_json::Value>(&dir).unwrap();
    assert_eq!(info.model_config["seed"], 11);
    // Writing the same state twice gives the same bytes.
    let weights = fs::read(dir.join(weights_file_name(2))).unwrap();
    let mut run: Run = Trainer::resume(&dir, other_weights()).unwrap();
    let again = scratch.path().join("again");
    run.save_checkpoint(&again).unwrap();
    assert_eq!(fs::read(again.join(weights_file_name(2))).unwrap(), weights);
    assert_eq!(
        fs::read(again.join(optimizer_file_name(2))).unwrap(),
        fs::read(dir.join(optimizer_file_name(2))).unwrap()
    );
}

/// The architecture of a tiny UNet energy, as a caller would store it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct UNetEnergyConfig {
    unet: dualscore_core::nn::UNetConfig,
    energy: dualscore_core::energy::InnerProductConfig,
    seed: u64,
}

type UNetEnergy = dualscore_core::energy::InnerProduct<R, f64, dualscore_core::nn::UNet<R, f64>>;

fn unet_energy(config: &UNetEnergyConfig) -> UNetEnergy {
    use dualscore_core::backend::reference::Reference;
    let mut init = dualscore_core::nn::Init::new(config.seed);
    let unet = dualscore_core::nn::UNet::new(&Reference, &mut init, &config.unet).unwrap();
    dualscore_core::energy::InnerProduct::with_config(&Reference, &mut init, unet, &config.energy)
        .unwrap()
}

/// A UNet energy of one scale and two channels on 6x6 images, centered, with a time offset.
fn tiny_unet_energy_config() -> UNetEnergyConfig {
    UNetEnergyConfig {
        unet: dualscore_core::nn::UNetConfig {
            image_size: 6,
            scales: 1,
            base_width: 2,
            layers_per_block: 2,
            embedding_frequencies: 2,
            embedding_width: 4,
            ..dualscore_core::nn::UNetConfig::small()
        },
        energy: dualscore_core::energy::InnerProductConfig {
            center: Some(vec![0.2]),
            time_offset: Some(dualscore_core::energy::TimeOffsetConfig {
                hidden_width: 4,
                ..Default::default()
            }),
            ..Default::default()
        },
        seed: 21,
    }
}

#[test]
fn a_unet_energy_trains_checkpoints_and_resumes_exactly() {
    let scratch = Scratch::new("unet");
    let dir = scratch.path().join("ckpt");
    let arch = tiny_unet_energy_config();
    let data = blobs::<f64>(6, 14);
    let mut config = small_config(4);
    config.batch_size = 2;
    config.schedule = dualscore_core::train::LrSchedule::constant(1e-3);

    let mut straight = Trainer::new(unet_energy(&arch), arch.clone(), config.clone()).unwrap();
    straight.train(&data, |_| {}).unwrap();

    let mut first = config.clone();
    first.steps = 2;
    first.checkpoint_dir = Some(dir.clone());
    Trainer::new(unet_energy(&arch), arch.clone(), first)
        .unwrap()
        .train(&data, |_| {})
        .unwrap();
    let info = read_checkpoint::<UNetEnergyConfig>(&dir).unwrap();
    assert_eq!(info.model_config, arch);
    let fresh = unet_energy(&UNetEnergyConfig {
        seed: 99,
        ..info.model_config.clone()
    });
    let mut resumed: Trainer<R, f64, UNetEnergy, UNetEnergyConfig> =
        Trainer::resume(&dir, fresh).unwrap();
    resumed.config_mut().steps = 4;
    resumed.train(&data, |_| {}).unwrap();
    assert_bitwise_equal(
        &parameter_values(straight.model()),
        &parameter_values(resumed.model()),
    );
    // Every parameter is in the weights file under its module name.
    let bytes = fs::read(dir.join(weights_file_name(4))).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.len(), straight.model().parameters().len());
    assert!(file.names().iter().any(|n| n.starts_with("network.")));
    assert!(file.names().iter().any(|n| n.starts_with("time_offset.")));
}

/// The fast model's options: log-t embedding, preconditioning, and a Gaussian base whose
/// buffers are saved with the weights, untouched by training, and restored on resume.
#[test]
fn a_residual_energy_keeps_its_gaussian_base_through_training_and_resume() {
    check_base_survives_training_and_resume(dualscore_core::energy::BaseBasis::Full);
}

/// The same with a separable base, whose three factors are the buffers.
#[test]
fn a_residual_energy_keeps_its_separable_base_through_training_and_resume() {
    check_base_survives_training_and_resume(dualscore_core::energy::BaseBasis::Separable);
}

fn check_base_survives_training_and_resume(basis: dualscore_core::energy::BaseBasis) {
    use dualscore_core::backend::reference::Reference;
    use dualscore_core::energy::{BaseBasis, GaussianBase, Preconditioning};
    let scratch = Scratch::new("residual");
    let dir = scratch.path().join("ckpt");
    let mut arch = tiny_unet_energy_config();
    arch.unet.time_input = dualscore_core::nn::TimeInput::LogVariance { t0: 1e-9 };
    arch.energy.preconditioning = Some(Preconditioning {
        data_variance: 0.05,
        t_floor: 1e-5,
    });
    arch.energy.gaussian_base = Some([1, 6, 6]);
    arch.energy.base_basis = basis;
    let values = train_support::blob_values(40, 14);
    let data = dualscore_core::train::InMemoryImages::<R, f64>::from_f64(
        &Reference,
        &values,
        [40, 1, 6, 6],
    )
    .unwrap();
    let images =
        dualscore_core::Tensor::<R, f64>::from_f64(&Reference, &values, [40, 1, 6, 6]).unwrap();
    let fitted = GaussianBase::fit(&images, basis, 16, 1e-6).unwrap();
    let with_base = |seed: u64| {
        let mut model = unet_energy(&UNetEnergyConfig {
            seed,
            ..arch.clone()
        });
        model.gaussian_base = Some(fitted.clone());
        model
    };
    let mut config = small_config(4);
    config.batch_size = 2;
    config.schedule = dualscore_core::train::LrSchedule::constant(1e-3);
    config.average_decay = Some(0.9);

    let mut straight = Trainer::new(with_base(21), arch.clone(), config.clone()).unwrap();
    straight.train(&data, |_| {}).unwrap();
    let base_after = straight.model().gaussian_base.as_ref().unwrap();
    for (a, b) in base_after.buffers().iter().zip(fitted.buffers()) {
        assert_eq!(
            a.1.to_f64_vec().unwrap(),
            b.1.to_f64_vec().unwrap(),
            "{}",
            a.0
        );
    }

    let mut first = config.clone();
    first.steps = 2;
    first.checkpoint_dir = Some(dir.clone());
    Trainer::new(with_base(21), arch.clone(), first)
        .unwrap()
        .train(&data, |_| {})
        .unwrap();
    // A model built from the stored configuration has a zero placeholder base; loading the
    // checkpoint restores the fitted one, and training continues exactly.
    let info = read_checkpoint::<UNetEnergyConfig>(&dir).unwrap();
    assert_eq!(info.model_config, arch);
    let fresh = unet_energy(&UNetEnergyConfig {
        seed: 99,
        ..info.model_config.clone()
    });
    let placeholder = fresh.gaussian_base.as_ref().unwrap();
    assert!(
        placeholder
            .eigenvalues
            .to_f64_vec()
            .unwrap()
            .iter()
            .all(|v| *v == 0.0)
    );
    let mut resumed: Trainer<R, f64, UNetEnergy, UNetEnergyConfig> =
        Trainer::resume(&dir, fresh).unwrap();
    let loaded = resumed.model().gaussian_base.as_ref().unwrap();
    for (a, b) in loaded.buffers().iter().zip(fitted.buffers()) {
        assert_eq!(
            a.1.to_f64_vec().unwrap(),
            b.1.to_f64_vec().unwrap(),
            "{}",
            a.0
        );
    }
    resumed.config_mut().steps = 4;
    resumed.train(&data, |_| {}).unwrap();
    assert_bitwise_equal(
        &parameter_values(straight.model()),
        &parameter_values(resumed.model()),
    );
    let bytes = fs::read(dir.join(weights_file_name(4))).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let model = straight.model();
    assert_eq!(file.len(), model.parameters().len() + model.buffers().len());
    let names: &[&str] = match basis {
        BaseBasis::Full => &["mean", "eigenvalues", "eigenvectors"],
        BaseBasis::Separable => &[
            "mean",
            "eigenvalues",
            "channel_eigenvectors",
            "row_eigenvectors",
            "column_eigenvectors",
        ],
    };
    for name in names {
        assert!(
            file.names()
                .contains(&format!("gaussian_base.{name}").as_str())
        );
    }
    // The optimizer holds moments for parameters only.
    assert_eq!(resumed.optimizer().state().len(), model.parameters().len());
    // The weight average continues exactly too, differs from the raw weights, is saved beside
    // them and is what measurements load.
    let averaged = straight.averaged_model().unwrap().unwrap();
    assert_bitwise_equal(
        &parameter_values(&averaged),
        &parameter_values(&resumed.averaged_model().unwrap().unwrap()),
    );
    assert_ne!(parameter_values(&averaged), parameter_values(model));
    let info = read_checkpoint::<UNetEnergyConfig>(&dir).unwrap();
    assert_eq!(
        info.averaged_weights_file.as_deref(),
        Some("averaged-0000000004.safetensors")
    );
    let mut measured = unet_energy(&arch);
    let (step, is_average) =
        dualscore_core::train::load_checkpoint_averaged_weights(&dir, &mut measured).unwrap();
    assert_eq!((step, is_average), (4, true));
    assert_bitwise_equal(&parameter_values(&measured), &parameter_values(&averaged));
    assert_eq!(
        measured
            .gaussian_base
            .unwrap()
            .eigenvalues
            .to_f64_vec()
            .unwrap(),
        fitted.eigenvalues.to_f64_vec().unwrap()
    );
}
