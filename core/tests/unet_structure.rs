//! The UNet's structure: parameter counts of the presets, the authors' parameter names and
//! their order, initialization, configuration files, input checks and checkpoint loading.

use dualscore_core::backend::reference::Reference;
use dualscore_core::energy::{Energy, InnerProduct, InnerProductConfig, TimeOffsetConfig};
use dualscore_core::nn::{
    Activation, Init, Module, ScoreNetwork, UNet, UNetConfig, load_parameters, uniform_fan_in,
};
use dualscore_core::rng::RngKey;
use dualscore_core::{Result, Tensor};
use std::collections::BTreeMap;

type T64 = Tensor<Reference, f64>;

#[test]
fn preset_parameter_counts_are_the_papers() -> Result<()> {
    for (config, count) in [
        (UNetConfig::small(), 203_808),
        (UNetConfig::mid(), 1_304_896),
        (UNetConfig::paper(), 8_647_552),
    ] {
        assert_eq!(config.num_parameters(), count);
        // f32 halves the memory of the paper preset; the count is the same.
        let net = UNet::<Reference, f32>::new(&Reference, &mut Init::new(1), &config)?;
        assert_eq!(net.num_parameters(), count);
        // The count does not depend on the image size, nor on the activation.
        let other = UNetConfig {
            image_size: 8 * config.image_size,
            activation: Activation::Relu,
            ..config
        };
        assert_eq!(other.num_parameters(), count);
    }
    // Color: the paper's 8,649,856.
    let color = UNetConfig {
        image_channels: 3,
        ..UNetConfig::paper()
    };
    assert_eq!(color.num_parameters(), 8_649_856);
    Ok(())
}

/// The keys of the authors' `UNet(num_scales=2, base_width=16, 2 layers per block).state_dict()`,
/// in order (printed by PyTorch from tools/reference/unet.py, which reproduces their module
/// structure).
const SMALL_STATE_DICT: [(&str, &[usize]); 41] = [
    ("noise_var_embedding.time_embed.0.weight", &[256, 64]),
    ("noise_var_embedding.time_embed.0.bias", &[256]),
    ("noise_var_embedding.time_embed.2.weight", &[256, 256]),
    ("noise_var_embedding.time_embed.2.bias", &[256]),
    ("encoder.0.0.weight", &[16, 1, 3, 3]),
    ("encoder.0.1.weight", &[16]),
    ("encoder.0.1.conditioning_embedding.weight", &[16, 256]),
    ("encoder.0.1.conditioning_embedding.bias", &[16]),
    ("encoder.0.3.weight", &[16, 16, 3, 3]),
    ("encoder.0.4.weight", &[16]),
    ("encoder.0.4.conditioning_embedding.weight", &[16, 256]),
    ("encoder.0.4.conditioning_embedding.bias", &[16]),
    ("encoder.1.0.weight", &[32, 16, 2, 2]),
    ("encoder.1.1.weight", &[32]),
    ("encoder.1.1.conditioning_embedding.weight", &[32, 256]),
    ("encoder.1.1.conditioning_embedding.bias", &[32]),
    ("encoder.1.3.weight", &[32, 32, 3, 3]),
    ("encoder.1.4.weight", &[32]),
    ("encoder.1.4.conditioning_embedding.weight", &[32, 256]),
    ("encoder.1.4.conditioning_embedding.bias", &[32]),
    ("middle_block.0.weight", &[64, 32, 2, 2]),
    ("middle_block.1.weight", &[64]),
    ("middle_block.1.conditioning_embedding.weight", &[64, 256]),
    ("middle_block.1.conditioning_embedding.bias", &[64]),
    ("middle_block.3.weight", &[64, 32, 2, 2]),
    ("middle_block.4.weight", &[32]),
    ("middle_block.4.conditioning_embedding.weight", &[32, 256]),
    ("middle_block.4.conditioning_embedding.bias", &[32]),
    ("decoder.0.0.weight", &[16, 32, 3, 3]),
    ("decoder.0.1.weight", &[16]),
    ("decoder.0.1.conditioning_embedding.weight", &[16, 256]),
    ("decoder.0.1.conditioning_embedding.bias", &[16]),
    ("decoder.0.3.weight", &[1, 16, 3, 3]),
    ("decoder.1.0.weight", &[32, 64, 3, 3]),
    ("decoder.1.1.weight", &[32]),
    ("decoder.1.1.conditioning_embedding.weight", &[32, 256]),
    ("decoder.1.1.conditioning_embedding.bias", &[32]),
    ("decoder.1.3.weight", &[32, 16, 2, 2]),
    ("decoder.1.4.weight", &[16]),
    ("decoder.1.4.conditioning_embedding.weight", &[16, 256]),
    ("decoder.1.4.conditioning_embedding.bias", &[16]),
];

#[test]
fn parameter_names_and_order_are_the_authors_state_dict() -> Result<()> {
    let net = UNet::<Reference, f64>::new(&Reference, &mut Init::new(0), &UNetConfig::small())?;
    let params = net.parameters();
    assert_eq!(params.len(), SMALL_STATE_DICT.len());
    for ((name, t), (want, shape)) in params.iter().zip(SMALL_STATE_DICT) {
        assert_eq!(name, want);
        assert_eq!(t.dims(), shape, "{name}");
    }
    // The paper preset: the middle block has a conv3x3 between its down and up layers, the
    // decoder's last conv is at index 6.
    let paper = UNetConfig::paper();
    let net = UNet::<Reference, f32>::new(&Reference, &mut Init::new(0), &paper)?;
    let shapes: BTreeMap<String, Vec<usize>> = net
        .parameters()
        .into_iter()
        .map(|(n, t)| (n, t.dims().to_vec()))
        .collect();
    assert_eq!(shapes["middle_block.0.weight"], [512, 256, 2, 2]);
    assert_eq!(shapes["middle_block.3.weight"], [512, 512, 3, 3]);
    assert_eq!(shapes["middle_block.6.weight"], [512, 256, 2, 2]);
    assert_eq!(shapes["middle_block.7.weight"], [256]);
    assert_eq!(shapes["decoder.2.0.weight"], [256, 512, 3, 3]);
    assert_eq!(shapes["decoder.0.6.weight"], [1, 64, 3, 3]);
    assert!(!shapes.contains_key("decoder.0.7.weight"));
    // An energy names its network's parameters as the authors' checkpoints do.
    let energy = InnerProduct::new(net);
    assert!(
        energy
            .parameters()
            .iter()
            .all(|(n, _)| n.starts_with("network."))
    );
    Ok(())
}

#[test]
fn initialization_is_seeded_and_uses_pytorch_bounds() -> Result<()> {
    let config = UNetConfig::small();
    let a = UNet::<Reference, f64>::new(&Reference, &mut Init::new(3), &config)?;
    let b = UNet::<Reference, f64>::new(&Reference, &mut Init::new(3), &config)?;
    let c = UNet::<Reference, f64>::new(&Reference, &mut Init::new(4), &config)?;
    let (pa, pb, pc) = (a.parameters(), b.parameters(), c.parameters());
    for (((name, ta), (_, tb)), (_, tc)) in pa.iter().zip(&pb).zip(&pc) {
        let (va, vb, vc) = (ta.to_f64_vec()?, tb.to_f64_vec()?, tc.to_f64_vec()?);
        assert_eq!(va, vb, "{name}: same seed, same values");
        let dims = ta.dims();
        let gain = dims.len() == 1 && !name.ends_with(".bias");
        if gain {
            assert!(va.iter().all(|&v| v == 1.0), "{name}: gains start at 1");
            continue;
        }
        assert_ne!(va, vc, "{name}: another seed, other values");
        // Conv2d and Linear: fan-in = weight.size(1) * kernel; ConvTranspose2d (the weight is
        // [in, out, k, k]) also uses weight.size(1), as PyTorch does. Biases: the layer's.
        let fan_in = if name.ends_with(".bias") {
            let weight = name.replace(".bias", ".weight");
            let w = pa.iter().find(|(n, _)| *n == weight).unwrap();
            w.1.dims()[1]
        } else {
            dims[1..].iter().product()
        };
        let bound = uniform_fan_in(fan_in);
        let max = va.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(max <= bound, "{name}: {max} > {bound}");
        assert!(max > 0.5 * bound, "{name}: {max} fills the range");
    }
    Ok(())
}

#[test]
fn configuration_files_round_trip_and_fill_defaults() {
    let config = UNetConfig::mid().with_activation(Activation::Relu);
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(serde_json::from_str::<UNetConfig>(&json).unwrap(), config);
    let partial: UNetConfig = serde_json::from_str(
        r#"{"scales": 2, "base_width": 16, "layers_per_block": 2, "image_size": 16}"#,
    )
    .unwrap();
    assert_eq!(partial, UNetConfig::small());
    let relu: UNetConfig = serde_json::from_str(r#"{"activation": "relu"}"#).unwrap();
    assert_eq!(relu.activation, Activation::Relu);

    let energy = InnerProductConfig::centered_with_offset(vec![0.46]);
    let json = serde_json::to_string(&energy).unwrap();
    assert_eq!(
        serde_json::from_str::<InnerProductConfig>(&json).unwrap(),
        energy
    );
    assert_eq!(
        serde_json::from_str::<InnerProductConfig>("{}").unwrap(),
        InnerProductConfig::faithful()
    );
}

#[test]
fn invalid_configurations_and_inputs_are_errors() -> Result<()> {
    for bad in [
        UNetConfig {
            layers_per_block: 1,
            ..UNetConfig::small()
        },
        UNetConfig {
            scales: 0,
            ..UNetConfig::small()
        },
        UNetConfig {
            image_size: 10,
            ..UNetConfig::small()
        },
        UNetConfig {
            norm_eps: -1.0,
            ..UNetConfig::small()
        },
        UNetConfig {
            embedding_t_min: 0.0,
            ..UNetConfig::small()
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
        assert!(UNet::<Reference, f64>::new(&Reference, &mut Init::new(0), &bad).is_err());
    }
    let config = UNetConfig {
        base_width: 2,
        embedding_width: 4,
        embedding_frequencies: 2,
        ..UNetConfig::small()
    };
    let net = UNet::<Reference, f64>::new(&Reference, &mut Init::new(0), &config)?;
    let t = T64::from_f64(&Reference, &[0.1, 0.2], [2])?;
    assert!(
        net.forward(&T64::zeros(&Reference, [2, 1, 8, 8])?, &t)
            .is_ok()
    );
    // Any size divisible by 4 works; others, other channel counts, or a wrong t do not.
    assert!(
        net.forward(&T64::zeros(&Reference, [2, 1, 4, 12])?, &t)
            .is_ok()
    );
    assert!(
        net.forward(&T64::zeros(&Reference, [2, 1, 6, 8])?, &t)
            .is_err()
    );
    assert!(
        net.forward(&T64::zeros(&Reference, [2, 2, 8, 8])?, &t)
            .is_err()
    );
    assert!(net.forward(&T64::zeros(&Reference, [2, 64])?, &t).is_err());
    assert!(
        net.forward(&T64::zeros(&Reference, [3, 1, 8, 8])?, &t)
            .is_err()
    );
    Ok(())
}

#[test]
fn checkpoints_load_by_name_with_or_without_the_network_prefix() -> Result<()> {
    let config = UNetConfig {
        base_width: 2,
        embedding_width: 4,
        embedding_frequencies: 2,
        ..UNetConfig::small()
    };
    let source = UNet::<Reference, f64>::new(&Reference, &mut Init::new(1), &config)?;
    // A checkpoint of the authors' energy model: keys "network.<UNet key>".
    let checkpoint: BTreeMap<String, T64> = InnerProduct::new(source.clone())
        .parameters()
        .into_iter()
        .collect();
    let mut bare = UNet::<Reference, f64>::new(&Reference, &mut Init::new(2), &config)?;
    load_parameters(&mut bare, &checkpoint, "network.")?;
    let mut energy = InnerProduct::new(UNet::new(&Reference, &mut Init::new(3), &config)?);
    load_parameters(&mut energy, &checkpoint, "")?;
    for ((n, a), ((_, b), (_, c))) in source
        .parameters()
        .iter()
        .zip(bare.parameters().iter().zip(&energy.parameters()))
    {
        assert_eq!(a.to_f64_vec()?, b.to_f64_vec()?, "{n}");
        assert_eq!(a.to_f64_vec()?, c.to_f64_vec()?, "{n}");
    }

    // Missing, extra and mis-shaped entries are errors, and leave the module unchanged.
    let before: Vec<Vec<f64>> = bare
        .parameters()
        .iter()
        .map(|(_, t)| t.to_f64_vec().unwrap())
        .collect();
    let mut missing = checkpoint.clone();
    missing.remove("network.encoder.0.0.weight");
    let mut extra = checkpoint.clone();
    extra.insert(
        "network.encoder.0.2.weight".into(),
        T64::zeros(&Reference, [1])?,
    );
    let mut wrong = checkpoint.clone();
    wrong.insert(
        "network.encoder.0.1.weight".into(),
        T64::zeros(&Reference, [3])?,
    );
    let fresh = UNet::<Reference, f64>::new(&Reference, &mut Init::new(9), &config)?;
    let mut target = fresh.clone();
    for (state, what) in [
        (&missing, "missing 'network.encoder.0.0.weight'"),
        (&extra, "'network.encoder.0.2.weight' names no parameter"),
        (&wrong, "'network.encoder.0.1.weight' has shape"),
    ] {
        let err = load_parameters(&mut target, state, "network.").unwrap_err();
        assert!(err.to_string().contains(what), "{err}");
    }
    for ((_, a), (_, b)) in target.parameters().iter().zip(&fresh.parameters()) {
        assert_eq!(a.to_f64_vec()?, b.to_f64_vec()?);
    }
    assert_eq!(before.len(), target.parameters().len());
    Ok(())
}

#[test]
fn inner_product_energy_basics() -> Result<()> {
    let config = UNetConfig {
        image_channels: 2,
        base_width: 2,
        embedding_width: 4,
        embedding_frequencies: 2,
        ..UNetConfig::small()
    };
    let net = UNet::<Reference, f64>::new(&Reference, &mut Init::new(1), &config)?;
    let t = T64::from_f64(&Reference, &[1e-3, 10.0], [2])?;
    let y = T64::randn(&Reference, [2, 2, 8, 8], RngKey::new(5, 1), 0)?;

    // Faithful: U(0, t) = 0 and U = 1/2 <y, s(y, t)>.
    let faithful = InnerProduct::new(net.clone());
    assert_eq!(faithful.num_parameters(), config.num_parameters());
    let zero = faithful.energy(&T64::zeros(&Reference, [2, 2, 8, 8])?, &t)?;
    assert_eq!(zero.to_f64_vec()?, vec![0.0, 0.0]);
    let u = faithful.energy(&y, &t)?.to_f64_vec()?;
    let direct = y
        .mul(&net.forward(&y, &t)?)?
        .sum(&[1, 2, 3], false)?
        .scale(0.5)?
        .to_f64_vec()?;
    assert_eq!(u, direct);

    // Centering: one value, one per channel or one per pixel; U(mu, t) = b(t).
    for mean in [
        vec![0.4],
        vec![0.4, 0.6],
        (0..128).map(|i| i as f64 / 128.0).collect(),
    ] {
        let options = InnerProductConfig {
            center: Some(mean.clone()),
            time_offset: Some(TimeOffsetConfig::default()),
            ..InnerProductConfig::default()
        };
        let energy =
            InnerProduct::with_config(&Reference, &mut Init::new(2), net.clone(), &options)?;
        // The offset starts at zero: the energy starts as the centered faithful one.
        assert_eq!(
            energy.num_parameters(),
            config.num_parameters() + (64 + 64) + (64 * 64 + 64) + 64
        );
        let mu_image: Vec<f64> = (0..2 * 128)
            .map(|i| match mean.len() {
                1 => mean[0],
                2 => mean[(i / 64) % 2],
                _ => mean[i % 128],
            })
            .collect();
        let mu = T64::from_f64(&Reference, &mu_image, [2, 2, 8, 8])?;
        assert_eq!(energy.energy(&mu, &t)?.to_f64_vec()?, vec![0.0, 0.0]);
        let shifted = energy.energy(&y.add(&mu)?, &t)?.to_f64_vec()?;
        for (a, b) in shifted.iter().zip(&u) {
            assert!((a - b).abs() <= 1e-12 * b.abs(), "{a} vs {b}");
        }
    }
    let bad = InnerProductConfig {
        center: Some(vec![0.1, 0.2, 0.3]),
        ..InnerProductConfig::default()
    };
    let energy = InnerProduct::with_config(&Reference, &mut Init::new(2), net.clone(), &bad)?;
    assert!(energy.energy(&y, &t).is_err());
    let empty = InnerProductConfig {
        center: Some(vec![]),
        ..InnerProductConfig::default()
    };
    assert!(InnerProduct::with_config(&Reference, &mut Init::new(2), net, &empty).is_err());
    Ok(())
}
