//! The paper's UNet inside the inner-product energy, against PyTorch in float64
//! (tools/reference/unet_oracle.py wrote the files from tools/reference/unet.py): U, grad_y U,
//! dU/dt, the dual score matching loss and the gradient of the loss with respect to every
//! parameter, for the small preset with GELU and with ReLU, and for a tiny UNet with centering
//! and the time offset. Parameter names are the authors', loaded by name.

use dualscore_core::autograd::{GradOptions, Graph, grad};
use dualscore_core::backend::reference::Reference;
use dualscore_core::energy::{InnerProduct, InnerProductConfig, TimeOffsetConfig};
use dualscore_core::nn::{Activation, Init, Module, UNet, UNetConfig, load_parameters};
use dualscore_core::testing::{normwise_relative_error, read_safetensors_f64};
use dualscore_core::train::{Objective, score_matching_loss};
use dualscore_core::{Result, Tensor};
use std::collections::BTreeMap;

type T64 = Tensor<Reference, f64>;

struct Oracle {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f64>)>,
}

impl Oracle {
    fn load(file: &str) -> Self {
        let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
        Oracle {
            tensors: read_safetensors_f64(path),
        }
    }

    fn tensor(&self, name: &str) -> T64 {
        let (shape, values) = &self.tensors[name];
        Tensor::from_f64(&Reference, values, shape.clone()).unwrap()
    }

    fn values(&self, name: &str) -> &[f64] {
        &self.tensors[name].1
    }

    /// Every `param.<name>` as `<name>`.
    fn parameters(&self) -> BTreeMap<String, T64> {
        self.tensors
            .keys()
            .filter_map(|k| k.strip_prefix("param."))
            .map(|n| (n.to_string(), self.tensor(&format!("param.{n}"))))
            .collect()
    }
}

/// Float64 on both sides; what remains is rounding in different summation orders (the test
/// prints every error; docs/RESULTS.md quotes the worst), so 1e-9 leaves a wide margin while
/// catching any wrong term.
const TOLERANCE: f64 = 1e-9;

/// Checks the energy, its derivatives, the loss and every parameter gradient against the
/// oracle entries `<prefix>energy`, ...; returns the worst error per quantity.
fn check<M>(model: &M, oracle: &Oracle, prefix: &str, label: &str) -> Result<BTreeMap<String, f64>>
where
    M: dualscore_core::energy::Energy<Reference, f64>
        + dualscore_core::energy::ScoreModel<Reference, f64>
        + Module<Reference, f64>,
{
    let (x, t, z) = (oracle.tensor("x"), oracle.tensor("t"), oracle.tensor("z"));
    let mut worst = BTreeMap::new();
    let mut record = |name: &str, err: f64| {
        println!("{label} {name}: normwise relative error {err:.3e}");
        assert!(err < TOLERANCE, "{label} {name}: relative error {err:e}");
        let entry = worst.entry(name.to_string()).or_insert(0.0f64);
        *entry = entry.max(err);
    };

    // U, grad_y U and dU/dt at y = x + sqrt(t) z.
    let n = x.dims()[0];
    let y = x.add(&t.sqrt()?.reshape([n, 1, 1, 1])?.mul(&z)?)?;
    let g = model.energy_gradients(&y, &t, Graph::Drop)?;
    for (name, got) in [
        ("energy", &g.energy),
        ("grad_y", &g.grad_y),
        ("grad_t", &g.grad_t),
    ] {
        let want = oracle.values(&format!("{prefix}{name}"));
        record(name, normwise_relative_error(&got.to_f64_vec()?, want));
    }

    // The loss, its parts, and every parameter gradient (second order).
    let loss = score_matching_loss(model, &x, &t, &z, Objective::Dual)?;
    for (name, got) in [("dsm", &loss.dsm), ("tsm", &loss.tsm), ("loss", &loss.loss)] {
        let want = oracle.values(&format!("{prefix}{name}"));
        record(name, normwise_relative_error(&got.to_f64_vec()?, want));
    }
    let params = model.parameters();
    let refs: Vec<&T64> = params.iter().map(|(_, p)| p).collect();
    let grads = grad(&[&loss.loss], &refs, GradOptions::default())?;
    let mut worst_param = (0.0f64, String::new());
    for ((name, _), g) in params.iter().zip(&grads) {
        let want = oracle.values(&format!("{prefix}grad.{name}"));
        let err = normwise_relative_error(&g.to_f64_vec()?, want);
        assert!(
            err < TOLERANCE,
            "{label} gradient of {name}: relative error {err:e}"
        );
        if err > worst_param.0 {
            worst_param = (err, name.clone());
        }
    }
    println!(
        "{label} parameter gradients ({} tensors): worst normwise relative error {:.3e} ({})",
        params.len(),
        worst_param.0,
        worst_param.1
    );
    worst.insert("parameter gradients".into(), worst_param.0);
    Ok(worst)
}

fn small_energy(
    oracle: &Oracle,
    activation: Activation,
) -> InnerProduct<Reference, f64, UNet<Reference, f64>> {
    let config = UNetConfig::small().with_activation(activation);
    let mut net = UNet::new(&Reference, &mut Init::new(0), &config).unwrap();
    // Every parameter of ours has a tensor in the file and every tensor names a parameter.
    load_parameters(&mut net, &oracle.parameters(), "").unwrap();
    let mut energy = InnerProduct::new(net);
    energy.require_grad();
    energy
}

#[test]
fn small_unet_energy_matches_pytorch_with_gelu_and_relu() -> Result<()> {
    let oracle = Oracle::load("unet_oracle_small.safetensors");
    assert_eq!(oracle.parameters().len(), 41);
    for (activation, prefix) in [(Activation::Gelu, "gelu."), (Activation::Relu, "relu.")] {
        let energy = small_energy(&oracle, activation);
        assert_eq!(energy.num_parameters(), 203_808);
        check(&energy, &oracle, prefix, activation.name())?;
    }
    Ok(())
}

#[test]
fn centered_energy_with_time_offset_matches_pytorch() -> Result<()> {
    let oracle = Oracle::load("unet_oracle_options.safetensors");
    let config = UNetConfig {
        image_channels: 2,
        image_size: 8,
        scales: 2,
        base_width: 4,
        layers_per_block: 2,
        activation: Activation::Relu,
        embedding_frequencies: 4,
        embedding_width: 16,
        ..UNetConfig::small()
    };
    let net = UNet::new(&Reference, &mut Init::new(0), &config)?;
    let options = InnerProductConfig {
        center: Some(oracle.values("mean").to_vec()),
        time_offset: Some(TimeOffsetConfig {
            hidden_width: 8,
            hidden_layers: 2,
            activation: Activation::Gelu,
            t0: 1e-9,
        }),
        ..InnerProductConfig::default()
    };
    let mut energy = InnerProduct::with_config(&Reference, &mut Init::new(1), net, &options)?;
    load_parameters(&mut energy, &oracle.parameters(), "")?;
    energy.require_grad();
    check(&energy, &oracle, "", "centered + offset")?;
    Ok(())
}
