//! The public constructors, loaders and functions of the core given invalid arguments (zero
//! sizes, negative or NaN numbers, mismatched shapes, absurd sizes, missing, truncated or
//! misplaced files) return an error that says what is wrong: none panics or aborts.
//!
//! Each case checks a piece of the message, so that a case that fails for another reason (or
//! panics: the test then fails) is noticed. The walk is recorded in docs/ROBUSTNESS.md.

mod train_support;

use dualscore_core::analysis::{
    LocalDimensionOptions, SamplerOptions, local_dimensionality, log_grid, sample,
};
use dualscore_core::backend::Conv2dParams;
use dualscore_core::backend::reference::Reference;
use dualscore_core::density::{GaussianBaseline, NormalizationOptions, normalization_constant};
use dualscore_core::energy::analytic::{
    AnalyticDensity, Gaussian, GaussianMixture, GaussianScaleMixture,
};
use dualscore_core::energy::{
    BaseBasis, Energy, GaussianBase, InnerProduct, InnerProductConfig, Preconditioning,
    TimeOffsetConfig,
};
use dualscore_core::linalg::Matrix;
use dualscore_core::nn::{
    Conv2d, Init, Linear, Mlp, Normalization, TimeEmbedding, UNet, UNetConfig,
};
use dualscore_core::rng::RngKey;
use dualscore_core::train::{
    Adam, AdamConfig, EpochOrder, InMemoryImages, LogUniform, TrainConfig, TrainError, Trainer,
    read_checkpoint,
};
use dualscore_core::{Result, Tensor};
use std::fmt::Display;
use train_support::{Scratch, blobs, small_config};

type T64 = Tensor<Reference, f64>;

/// Asserts that `result` is an error whose message contains every one of `parts`.
#[track_caller]
fn refused<V, E: Display>(result: std::result::Result<V, E>, parts: &[&str]) {
    let message = match result {
        Ok(_) => panic!("accepted; expected an error containing {parts:?}"),
        Err(e) => e.to_string(),
    };
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} does not contain {part:?}"
        );
    }
}

fn tensor(values: &[f64], shape: &[usize]) -> T64 {
    Tensor::from_f64(&Reference, values, shape.to_vec()).unwrap()
}

#[test]
fn tensors_refuse_wrong_lengths_shapes_and_axes() {
    refused(
        Tensor::<Reference, f64>::from_f64(&Reference, &[1.0, 2.0, 3.0], [2, 2]),
        &["storage holds 3 elements but its shape needs 4"],
    );
    refused(
        Tensor::<Reference, f64>::zeros(&Reference, [usize::MAX / 2, 4]),
        &["elements"],
    );
    refused(
        Tensor::<Reference, f64>::randn(&Reference, [usize::MAX / 2, 4], RngKey::new(0, 0), 0),
        &["elements"],
    );
    let x = tensor(&[0.0; 6], &[2, 3]);
    refused(x.reshape([4, 2]), &["reshape"]);
    refused(x.sum(&[5], false), &["5"]);
    refused(x.permute(&[0, 0]), &["permut"]);
    refused(x.slice(1, 2, 5), &["slice"]);
    refused(x.matmul(&tensor(&[0.0; 6], &[2, 3])), &["matmul"]);
    refused(
        Tensor::concat(&[&x, &tensor(&[0.0; 4], &[2, 2])], 0),
        &["concat"],
    );
    let image = tensor(&[0.0; 2 * 9], &[1, 2, 3, 3]);
    let weight = tensor(&[0.0; 3 * 9], &[1, 3, 3, 3]);
    refused(
        image.conv2d(&weight, &Conv2dParams::new(1, 1, 1)),
        &["conv2d"],
    );
    refused(
        image.conv2d(
            &tensor(&[0.0; 18], &[1, 2, 3, 3]),
            &Conv2dParams::new(0, 1, 1),
        ),
        &["conv2d"],
    );
}

#[test]
fn layers_refuse_absurd_sizes_and_bad_numbers() {
    let mut init = Init::new(0);
    let r = &Reference;
    let params = Conv2dParams::new(1, 1, 1);
    refused(
        Conv2d::<Reference, f64>::new(r, &mut init, usize::MAX / 4, 4, 3, params),
        &["Init::uniform", "too many elements"],
    );
    refused(
        Linear::<Reference, f64>::new(r, &mut init, usize::MAX, usize::MAX, true),
        &["too many elements"],
    );
    refused(
        Mlp::<Reference, f64>::new(r, &mut init, 1, 64, usize::MAX / 2, 1, Default::default()),
        &["Mlp", "parameters"],
    );
    refused(
        Mlp::<Reference, f64>::new(r, &mut init, 0, 4, 1, 1, Default::default()),
        &["Mlp", "positive"],
    );
    refused(
        TimeEmbedding::<Reference, f64>::new(r, &mut init, 0, 8, 0.25, 64.0),
        &["TimeEmbedding", "positive"],
    );
    refused(
        TimeEmbedding::<Reference, f64>::new(r, &mut init, 4, 8, f64::NAN, 64.0),
        &["TimeEmbedding", "NaN"],
    );
    refused(
        TimeEmbedding::<Reference, f64>::new(r, &mut init, usize::MAX, 8, 0.25, 64.0),
        &["TimeEmbedding", "parameters"],
    );
    refused(
        Normalization::<Reference, f64>::new(r, &mut init, 4, 8, f64::NAN),
        &["Normalization", "eps"],
    );
    refused(
        Normalization::<Reference, f64>::new(r, &mut init, 4, 8, -1.0),
        &["Normalization", "eps"],
    );
}

#[test]
fn a_unet_refuses_zero_huge_and_inconsistent_configurations() {
    let small = UNetConfig {
        image_size: 8,
        scales: 1,
        base_width: 4,
        ..UNetConfig::small()
    };
    let cases: Vec<(UNetConfig, &str)> = vec![
        (
            UNetConfig {
                base_width: 0,
                ..small.clone()
            },
            "base_width must be positive",
        ),
        (
            UNetConfig {
                scales: 0,
                ..small.clone()
            },
            "scales must be positive",
        ),
        (
            UNetConfig {
                scales: 40,
                ..small.clone()
            },
            "at most 16 scales",
        ),
        (
            UNetConfig {
                layers_per_block: 0,
                ..small.clone()
            },
            "layers_per_block",
        ),
        (
            UNetConfig {
                image_size: 7,
                ..small.clone()
            },
            "multiple of 2^scales",
        ),
        (
            UNetConfig {
                norm_eps: f64::NAN,
                ..small.clone()
            },
            "norm_eps",
        ),
        (
            UNetConfig {
                embedding_t_min: -1.0,
                ..small.clone()
            },
            "embedding_t_min",
        ),
        (
            UNetConfig {
                base_width: 1 << 40,
                ..small.clone()
            },
            "parameters",
        ),
        (
            UNetConfig {
                base_width: usize::MAX,
                ..small.clone()
            },
            "parameters",
        ),
        (
            UNetConfig {
                layers_per_block: 1 << 40,
                ..small.clone()
            },
            "parameters",
        ),
        (
            UNetConfig {
                embedding_frequencies: 1 << 40,
                ..small.clone()
            },
            "parameters",
        ),
        (
            UNetConfig {
                embedding_width: usize::MAX,
                ..small.clone()
            },
            "parameters",
        ),
        (
            UNetConfig {
                image_channels: usize::MAX,
                ..small.clone()
            },
            "parameters",
        ),
    ];
    for (config, part) in cases {
        // Counting the parameters of a configuration that is refused does not panic either.
        let _ = config.num_parameters();
        refused(
            UNet::<Reference, f64>::new(&Reference, &mut Init::new(0), &config),
            &["UNetConfig", part],
        );
    }
}

#[test]
fn an_inner_product_energy_refuses_bad_options() {
    let config = UNetConfig {
        image_size: 8,
        scales: 1,
        base_width: 2,
        embedding_frequencies: 2,
        embedding_width: 4,
        ..UNetConfig::small()
    };
    let unet = || UNet::<Reference, f64>::new(&Reference, &mut Init::new(0), &config).unwrap();
    let with = |options: InnerProductConfig| {
        InnerProduct::with_config(&Reference, &mut Init::new(1), unet(), &options)
    };
    refused(
        with(InnerProductConfig {
            center: Some(vec![]),
            ..Default::default()
        }),
        &["centering mean"],
    );
    refused(
        with(InnerProductConfig {
            preconditioning: Some(Preconditioning {
                data_variance: -1.0,
                t_floor: 1e-5,
            }),
            ..Default::default()
        }),
        &["Preconditioning"],
    );
    refused(
        with(InnerProductConfig {
            time_offset: Some(TimeOffsetConfig {
                hidden_width: usize::MAX,
                ..Default::default()
            }),
            ..Default::default()
        }),
        &["parameters"],
    );
    // A working energy given inputs of the wrong shapes.
    let energy = with(InnerProductConfig::default()).unwrap();
    let y = tensor(&[0.5; 2 * 64], &[2, 1, 8, 8]);
    refused(energy.energy(&y, &tensor(&[1.0; 3], &[3])), &["t"]);
    refused(
        energy.energy(&tensor(&[0.5; 64], &[2, 2, 4, 4]), &tensor(&[1.0; 2], &[2])),
        &["UNet", "y must be [N, 1, H, W]"],
    );
}

#[test]
fn analytic_energies_refuse_bad_parameters_inputs_and_sample_counts() {
    refused(
        Gaussian::new(vec![0.0; 2], &Matrix::identity(3)),
        &["Gaussian::new"],
    );
    refused(Gaussian::isotropic(vec![0.0; 2], -1.0), &["variance"]);
    refused(Gaussian::isotropic(vec![0.0; 2], f64::NAN), &["non-finite"]);
    refused(GaussianMixture::new(&[], vec![]), &["GaussianMixture"]);
    let unit = || Gaussian::isotropic(vec![0.0; 2], 1.0).unwrap();
    refused(
        GaussianMixture::new(&[f64::NAN, 1.0], vec![unit(), unit()]),
        &["GaussianMixture"],
    );
    refused(
        GaussianMixture::new(&[1.0], vec![unit(), unit()]),
        &["GaussianMixture"],
    );
    refused(
        GaussianScaleMixture::new(&[1.0], &[-1.0], 3),
        &["GaussianScaleMixture"],
    );
    refused(
        GaussianScaleMixture::new(&[1.0], &[1.0], 0),
        &["GaussianScaleMixture"],
    );
    refused(
        unit().with_shape(&[1 << 40, 1 << 40]),
        &["Gaussian::with_shape", "does not hold 2 values"],
    );
    let g = unit();
    refused(
        g.sample_rows(usize::MAX, 0.0, RngKey::new(0, 0)),
        &["Gaussian::sample_rows", "too many"],
    );
    refused(
        g.sample_rows(usize::MAX / 16, 0.0, RngKey::new(0, 0)),
        &["Gaussian::sample_rows", "do not fit in memory"],
    );
    refused(
        g.sample_rows(2, f64::NAN, RngKey::new(0, 0)),
        &["noise variance"],
    );
    let gsm = GaussianScaleMixture::new(&[1.0, 1.0], &[0.5, 2.0], 2).unwrap();
    refused(
        gsm.sample_rows(usize::MAX / 2, 0.0, RngKey::new(0, 0)),
        &["GaussianScaleMixture::sample_rows"],
    );
    refused(
        Energy::<Reference, f64>::energy(&g, &tensor(&[0.0; 3], &[1, 3]), &tensor(&[1.0], &[1])),
        &["dimension 2"],
    );
    refused(
        Energy::<Reference, f64>::energy(&g, &tensor(&[0.0; 4], &[2, 2]), &tensor(&[1.0], &[1])),
        &["one noise variance per sample"],
    );
}

#[test]
fn analyses_refuse_absurd_grids_counts_and_batches() {
    refused(
        log_grid(1e-3, 1.0, usize::MAX),
        &["log_grid", "does not fit"],
    );
    refused(log_grid(0.0, 1.0, 8), &["log_grid"]);
    refused(log_grid(1e-3, f64::NAN, 8), &["log_grid"]);
    let options = SamplerOptions {
        steps: usize::MAX,
        ..Default::default()
    };
    refused(options.schedule(), &["sample", "does not fit"]);
    let g = Gaussian::isotropic(vec![0.0; 4], 1.0).unwrap();
    // (steps + 1) x count x d random numbers: more than one key's sequence.
    let options = SamplerOptions {
        steps: 1 << 20,
        ..Default::default()
    };
    refused(
        sample::<_, f64, _>(&g, &Reference, usize::MAX / 8, &[4], &options),
        &["sample", "more than one key's sequence"],
    );
    refused(
        sample::<_, f64, _>(&g, &Reference, 0, &[4], &SamplerOptions::default()),
        &["sample"],
    );
    refused(
        sample::<_, f64, _>(&g, &Reference, 1, &[1, 1 << 40, 1 << 40], &options),
        &["sample", "is too large"],
    );
    let data = tensor(&[0.5; 8], &[2, 4]);
    let options = LocalDimensionOptions {
        draws: usize::MAX / 2,
        ..Default::default()
    };
    refused(
        local_dimensionality(&g, &data, &options),
        &["local_dimensionality", "more than one key's sequence"],
    );
    let options = LocalDimensionOptions {
        draws: 0,
        ..Default::default()
    };
    refused(local_dimensionality(&g, &data, &options), &["draw"]);
    let options = NormalizationOptions {
        batch_size: 0,
        ..Default::default()
    };
    refused(normalization_constant(&g, &data, &options), &["batch"]);
    let options = NormalizationOptions {
        t_max: f64::NAN,
        ..Default::default()
    };
    refused(normalization_constant(&g, &data, &options), &["t_max"]);
}

#[test]
fn fits_schedules_and_optimizers_refuse_bad_numbers() {
    let data = tensor(&[0.5; 4 * 9], &[4, 1, 3, 3]);
    refused(
        GaussianBaseline::fit(&data, 0, 1e-6),
        &["GaussianBaseline::fit"],
    );
    refused(GaussianBaseline::fit(&data, 4, f64::NAN), &["ridge"]);
    refused(
        GaussianBaseline::fit(&tensor(&[0.5; 9], &[1, 1, 3, 3]), 4, 1e-6),
        &["n >= 2"],
    );
    refused(
        GaussianBase::fit(&data, BaseBasis::Full, 0, 1e-6),
        &["GaussianBase::fit"],
    );
    refused(
        GaussianBase::fit(&data, BaseBasis::Separable, 4, -1.0),
        &["ridge"],
    );
    refused(LogUniform::new(f64::NAN, 1.0), &["t_min"]);
    refused(LogUniform::new(1.0, 0.5), &["t_min"]);
    refused(
        Adam::<Reference, f64>::new(AdamConfig {
            beta1: 2.0,
            ..AdamConfig::default()
        }),
        &["betas must be in [0, 1)"],
    );
    refused(EpochOrder::new(RngKey::new(0, 0), 0), &["image"]);
    refused(
        InMemoryImages::<Reference, f64>::from_f64(&Reference, &[0.5; 10], [1, 1, 3, 3]),
        &["9"],
    );
}

/// A tiny energy for the trainer's cases.
fn tiny_energy() -> InnerProduct<Reference, f64, UNet<Reference, f64>> {
    let config = UNetConfig {
        image_size: 6,
        scales: 1,
        base_width: 2,
        embedding_frequencies: 2,
        embedding_width: 4,
        ..UNetConfig::small()
    };
    let unet = UNet::new(&Reference, &mut Init::new(0), &config).unwrap();
    InnerProduct::new(unet)
}

#[test]
fn training_refuses_bad_configurations_data_and_batches() -> Result<()> {
    let bad = [
        (
            TrainConfig {
                batch_size: 0,
                ..small_config(2)
            },
            "batch_size",
        ),
        (
            TrainConfig {
                average_decay: Some(f64::NAN),
                ..small_config(2)
            },
            "average_decay",
        ),
        (
            TrainConfig {
                sync_every: 0,
                ..small_config(2)
            },
            "sync_every",
        ),
    ];
    for (config, part) in bad {
        refused(Trainer::new(tiny_energy(), (), config), &[part]);
    }
    // NaN images are accepted by the in-memory source (the program's readers refuse them);
    // training on them stops at the first step, naming it.
    let nan =
        InMemoryImages::<Reference, f64>::from_f64(&Reference, &[f64::NAN; 72], [2, 1, 6, 6])?;
    let mut trainer = Trainer::new(tiny_energy(), (), small_config(2)).unwrap();
    refused(
        trainer.train(&nan, |_| {}),
        &["stopped at step 1", "not finite"],
    );
    refused(
        InMemoryImages::<Reference, f64>::from_f64(&Reference, &[], [0, 1, 6, 6]),
        &["image"],
    );
    // A batch far larger than memory is refused at the first step, not met as an abort.
    let config = TrainConfig {
        batch_size: usize::MAX / 64,
        ..small_config(2)
    };
    let mut trainer = Trainer::new(tiny_energy(), (), config).unwrap();
    refused(
        trainer.train(&blobs::<f64>(8, 1), |_| {}),
        &["a batch of", "does not fit in memory"],
    );
    Ok(())
}

#[test]
fn checkpoint_loading_refuses_missing_truncated_and_misplaced_files() {
    let scratch = Scratch::new("no-panic");
    let dir = scratch.path().join("run");
    let resume = |dir: &std::path::Path| {
        Trainer::<Reference, f64, _, ()>::resume(dir, tiny_energy()).map(|_| ())
    };
    // No folder; a file where the folder should be; a folder where checkpoint.json should be.
    refused(read_checkpoint::<()>(&dir), &["checkpoint.json"]);
    refused(resume(&dir), &["checkpoint.json"]);
    std::fs::write(&dir, b"not a folder").unwrap();
    refused(read_checkpoint::<()>(&dir), &["checkpoint.json"]);
    std::fs::remove_file(&dir).unwrap();
    std::fs::create_dir_all(dir.join("checkpoint.json")).unwrap();
    refused(read_checkpoint::<()>(&dir), &["checkpoint.json"]);
    std::fs::remove_dir_all(&dir).unwrap();

    // A real checkpoint, then each of its files truncated or removed in turn.
    let config = TrainConfig {
        checkpoint_dir: Some(dir.clone()),
        ..small_config(2)
    };
    let mut trainer = Trainer::new(tiny_energy(), (), config).unwrap();
    trainer.train(&blobs::<f64>(8, 1), |_| {}).unwrap();
    resume(&dir).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::write(file, &bytes[..bytes.len() / 2]).unwrap();
        let err = resume(&dir).expect_err(&format!("{name} truncated"));
        assert!(
            matches!(err, TrainError::Checkpoint { .. } | TrainError::Io { .. }),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(&name), "{name}: {err}");
        std::fs::remove_file(file).unwrap();
        refused(resume(&dir), &[&name]);
        std::fs::write(file, &bytes).unwrap();
    }
    resume(&dir).unwrap();
}
