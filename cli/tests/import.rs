//! `dualscore::import`: the authors' checkpoint layout, converted by
//! tools/reference/import_authors.py, imported as a checkpoint folder whose energies are
//! PyTorch's; and every way a file can be wrong.
//!
//! The fixtures in cli/tests/data were written by
//!
//! ```text
//! /usr/bin/python3 tools/reference/import_authors.py --make-fixture cli/tests/data
//! ```
//!
//! - `authors_tiny.pth.tar` (81 kB): a seeded random UNet of tools/reference/unet.py (1 channel,
//!   2 scales, base width 8, 2 layers per block, GELU, time embedding of 8 frequencies and width
//!   16, embedding range [0.01, 10]) saved with `torch.save` in the layout of the authors'
//!   `main.py` checkpoints (`step`, `args`, `state_dict` with keys `network.` + UNet key,
//!   `train_perf`, `test_perf`), the run arguments saying `--embed-noise-level-in-range` with
//!   noise PSNRs 20 to -10 dB;
//! - `authors_tiny.safetensors` (72 kB): its conversion by the script, as a user would run it
//!   (`import_authors.py authors_tiny.pth.tar authors_tiny.safetensors` gives the same bytes;
//!   cli/tests/import_pth.rs checks, without PyTorch, that it holds exactly the `.pth.tar`'s
//!   tensors under their names);
//! - `authors_tiny_oracle.safetensors` (33 kB): four 16x16 images `x` (a ramp, a blob, a
//!   checkerboard, noise), `t` = [0.01, 0.25, 4], noisy images `y[k] = x + sqrt(t[k]) z`, and
//!   PyTorch's float64 energies `energy_x` = U(x, 0) and `energy_y[k]` = U(y[k], t[k]),
//!   computed by tools/reference/authors_oracle.py from the `.pth.tar` itself: its tensors
//!   loaded by name, strictly and in the checkpoint's order, into an independent module laid
//!   out like the authors' code. The oracle never sees the converted file, so a conversion
//!   that swapped or altered tensors is caught
//!   (`swapped_tensors_of_the_same_shape_give_energies_the_oracle_refuses`).

use dualscore::data::{f32_le_bytes, f64_le_bytes};
use dualscore::import::{
    ImportError, ImportOptions, NOTES_KEY, SOURCE_KEY, TensorProblem, UNET_CONFIG_KEY,
    UNSUPPORTED_KEY, import_weights,
};
use dualscore::model::NetworkModel;
use dualscore_core::Tensor;
use dualscore_core::energy::Energy;
use dualscore_core::nn::Activation;
use dualscore_core::testing::read_safetensors_f64;
use dualscore_cpu::Cpu;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name)
}

/// The oracle's tensors as f64 values with their shapes.
fn oracle() -> BTreeMap<String, (Vec<usize>, Vec<f64>)> {
    read_safetensors_f64(data("authors_tiny_oracle.safetensors"))
}

/// U(images, t) of a loaded checkpoint in f32 on the CPU, as f64.
fn energies(model: &NetworkModel<Cpu>, images: &[f64], shape: &[usize], t: f64) -> Vec<f64> {
    let cpu = Cpu::new();
    let y = Tensor::<Cpu, f32>::from_f64(&cpu, images, shape.to_vec()).unwrap();
    let t = Tensor::<Cpu, f32>::full(&cpu, [shape[0]], t).unwrap();
    model.energy.energy(&y, &t).unwrap().to_f64_vec().unwrap()
}

/// The tolerance of f32 evaluation against PyTorch's float64 values of the same (float32)
/// weights: relative to the largest |U| of the batch, 1e-4. The network evaluates in f32 (unit
/// roundoff 6e-8) through 9 convolution and normalization layers and a sum over 256 pixels of
/// terms of mixed sign, so errors of order 1e-6 of the energies' scale are expected (PyTorch's
/// own float32 evaluation differs from its float64 one by 1.2e-5 relative on U(x, 0)); an
/// image-independent scale keeps the bound meaningful for an energy that happens to be near 0
/// (U of the noise image at t = 0 is 0.01, the others ~0.5 to 1). A wrong weight, a transposed
/// kernel, another eps or embedding range moves the energies by far more (see
/// `without_metadata_the_paper_defaults_give_other_energies`).
const TOLERANCE: f64 = 1e-4;

/// Largest |got - want| over the largest |want|.
fn scaled_error(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs()));
    got.iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()))
        / scale
}

/// The energy differences U_i - U_j (log p_j - log p_i) of every pair, got against want,
/// relative to the largest |U| of the batch.
fn pairwise_error(got: &[f64], want: &[f64]) -> f64 {
    let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs()));
    let mut worst = 0.0f64;
    for i in 0..got.len() {
        for j in 0..got.len() {
            let d = (got[i] - got[j]) - (want[i] - want[j]);
            worst = worst.max(d.abs() / scale);
        }
    }
    worst
}

fn order(values: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    idx
}

/// Checks a loaded checkpoint's energies against every oracle batch; returns the largest
/// scaled errors (values, pairwise differences).
fn compare_with_pytorch(model: &NetworkModel<Cpu>) -> (f64, f64) {
    let o = oracle();
    let (x_shape, x) = &o["x"];
    let (_, ts) = &o["t"];
    let (y_shape, y) = &o["y"];
    let (_, energy_x) = &o["energy_x"];
    let (_, energy_y) = &o["energy_y"];
    let n = x_shape[0];
    let per_batch = x.len();
    let mut batches = vec![(0.0, x.as_slice(), energy_x.as_slice())];
    for (k, &t) in ts.iter().enumerate() {
        batches.push((
            t,
            &y[k * per_batch..(k + 1) * per_batch],
            &energy_y[k * n..(k + 1) * n],
        ));
    }
    assert_eq!(y_shape[1..], x_shape[..]);
    let (mut worst_value, mut worst_pair) = (0.0f64, 0.0f64);
    for (t, images, want) in batches {
        let got = energies(model, images, x_shape, t);
        let value = scaled_error(&got, want);
        let pair = pairwise_error(&got, want);
        println!(
            "t = {t}: U ours {got:?}\n        PyTorch {want:?}\n        value error {value:.3e}, log p difference error {pair:.3e}"
        );
        worst_value = worst_value.max(value);
        worst_pair = worst_pair.max(pair);
        // Images ranked by probability as PyTorch ranks them (the energies here are apart by
        // far more than the tolerance).
        if value < TOLERANCE {
            assert_eq!(order(&got), order(want), "t = {t}");
        }
    }
    (worst_value, worst_pair)
}

#[test]
fn the_imported_fixture_has_pytorchs_energies_and_log_p_differences() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("imported");
    let summary = import_weights(
        &data("authors_tiny.safetensors"),
        &out,
        &ImportOptions::default(),
    )
    .unwrap();

    let unet = &summary.config.unet;
    assert_eq!(
        (
            unet.image_channels,
            unet.scales,
            unet.base_width,
            unet.layers_per_block
        ),
        (1, 2, 8, 2)
    );
    assert_eq!((unet.embedding_frequencies, unet.embedding_width), (8, 16));
    assert_eq!(unet.activation, Activation::Gelu);
    assert_eq!(unet.norm_eps, 1e-5);
    assert!((unet.embedding_t_min - 0.01).abs() < 1e-15);
    assert!((unet.embedding_t_max - 10.0).abs() < 1e-12);
    assert_eq!(unet.image_size, 16);
    assert_eq!(summary.num_parameters, 16_752);
    assert_eq!(summary.num_parameters, unet.num_parameters());
    assert_eq!(summary.num_tensors, 41);
    assert_eq!(summary.config_sources["scales"], "tensor shapes");
    assert_eq!(summary.config_sources["embedding_t_min"], "metadata");
    assert_eq!(summary.config_sources["image_size"], "metadata");
    let source = summary.source.as_ref().unwrap();
    assert_eq!(source["step"], 1000);
    assert_eq!(source["file"], "authors_tiny.pth.tar");
    assert!(
        summary.notes.iter().all(|n| !n.contains("paper")),
        "nothing defaulted: {:?}",
        summary.notes
    );

    // The summary prints as JSON and is kept next to the checkpoint.
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["config"]["unet"]["base_width"], 8);
    assert_eq!(json["num_parameters"], 16_752);
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("import.json")).unwrap()).unwrap();
    assert_eq!(kept, json);

    // The folder opens as every command opens it: step 0, f32.
    let model = NetworkModel::load(&out, &Cpu::new()).unwrap();
    assert_eq!(model.info.step, 0);
    assert_eq!(model.config, summary.config);
    model.check_image_shape([1, 16, 16]).unwrap();

    let (value, pair) = compare_with_pytorch(&model);
    println!(
        "largest scaled errors: U {value:.3e}, U_i - U_j {pair:.3e} (tolerance {TOLERANCE:e})"
    );
    assert!(
        value < TOLERANCE,
        "energies differ from PyTorch's: {value:e}"
    );
    assert!(
        pair < TOLERANCE,
        "log p differences differ from PyTorch's: {pair:e}"
    );
}

/// The oracle is computed from the `.pth.tar`, not from the converted file: a conversion that
/// swapped two tensors of the same shape imports without complaint, and its energies are
/// caught.
#[test]
fn swapped_tensors_of_the_same_shape_give_energies_the_oracle_refuses() {
    for (a, b) in [
        // The gains of encoder 0's two normalizations, [8].
        ("network.encoder.0.1.weight", "network.encoder.0.4.weight"),
        // Their time-conditioning layers, [8, 16].
        (
            "network.encoder.0.1.conditioning_embedding.weight",
            "network.encoder.0.4.conditioning_embedding.weight",
        ),
    ] {
        let mut parts = Parts::fixture();
        let find = |parts: &Parts, name: &str| parts.tensors.iter().position(|t| t.0 == name);
        let (i, j) = (find(&parts, a).unwrap(), find(&parts, b).unwrap());
        assert_eq!(parts.tensors[i].2, parts.tensors[j].2, "same shapes");
        let (da, db) = (parts.tensors[i].3.clone(), parts.tensors[j].3.clone());
        (parts.tensors[i].3, parts.tensors[j].3) = (db, da);
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("swapped.safetensors");
        parts.write(&input);
        let out = dir.path().join("out");
        import_weights(&input, &out, &ImportOptions::default()).unwrap();
        let (value, _) = compare_with_pytorch(&NetworkModel::load(&out, &Cpu::new()).unwrap());
        println!("{a} <-> {b}: largest scaled error {value:.3e}");
        assert!(value > 100.0 * TOLERANCE, "{a} <-> {b}: {value:e}");
    }
}

/// The tensors and metadata of the fixture, for writing altered copies.
struct Parts {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    metadata: HashMap<String, String>,
}

impl Parts {
    fn fixture() -> Self {
        let bytes = std::fs::read(data("authors_tiny.safetensors")).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let mut tensors: Vec<_> = file
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        Parts {
            tensors,
            metadata: header.metadata().clone().unwrap_or_default(),
        }
    }

    fn remove(mut self, name: &str) -> Self {
        let before = self.tensors.len();
        self.tensors.retain(|t| t.0 != name);
        assert_eq!(self.tensors.len() + 1, before, "{name}");
        self
    }

    fn add(mut self, name: &str, dtype: Dtype, shape: Vec<usize>, data: Vec<u8>) -> Self {
        self.tensors.push((name.to_string(), dtype, shape, data));
        self
    }

    fn replace(self, name: &str, dtype: Dtype, shape: Vec<usize>, data: Vec<u8>) -> Self {
        self.remove(name).add(name, dtype, shape, data)
    }

    fn write(&self, path: &Path) {
        let views: Vec<(String, TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        let metadata = (!self.metadata.is_empty()).then(|| self.metadata.clone());
        std::fs::write(path, safetensors::serialize(views, metadata).unwrap()).unwrap();
    }
}

/// Imports `parts` written to a temporary file; the error (with the file's path).
fn import_error(parts: &Parts) -> (ImportError, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("altered.safetensors");
    parts.write(&input);
    let err = import_weights(&input, &dir.path().join("out"), &ImportOptions::default())
        .expect_err("the import must fail");
    assert!(
        err.to_string().contains(&input.display().to_string()),
        "the message names the file: {err}"
    );
    assert!(
        !dir.path().join("out").join("checkpoint.json").exists(),
        "nothing written"
    );
    (err, input, dir)
}

const GAIN: &str = "network.encoder.1.1.weight"; // the gain of encoder 1's first normalization, [16]
const BIAS: &str = "network.decoder.0.1.conditioning_embedding.bias"; // [8]

#[test]
fn a_missing_tensor_is_named_with_its_shape() {
    let (err, _, _dir) = import_error(&Parts::fixture().remove(BIAS));
    let ImportError::Tensors { problems, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        problems,
        &[TensorProblem::Missing {
            name: BIAS.into(),
            expected: vec![8]
        }]
    );
    assert!(err.to_string().contains("missing tensor"), "{err}");
}

#[test]
fn wrong_shapes_dtypes_values_and_extra_tensors_are_all_listed() {
    let parts = Parts::fixture()
        .replace(GAIN, Dtype::F32, vec![17], f32_le_bytes(&[1.0; 17]))
        .replace(BIAS, Dtype::F64, vec![8], f64_le_bytes(&[0.5; 8]))
        .replace(
            "network.encoder.0.1.weight",
            Dtype::F32,
            vec![8],
            f32_le_bytes(&[1.0, f32::NAN, 1.0, 1.0, f32::INFINITY, 1.0, 1.0, 1.0]),
        )
        .add(
            "network.log_normalization_constant",
            Dtype::F32,
            vec![1],
            f32_le_bytes(&[5845.43]),
        );
    let (err, _, _dir) = import_error(&parts);
    let ImportError::Tensors { problems, .. } = &err else {
        panic!("{err}");
    };
    println!("{err}");
    assert!(problems.contains(&TensorProblem::WrongShape {
        name: GAIN.into(),
        expected: vec![16],
        found: vec![17]
    }));
    assert!(problems.contains(&TensorProblem::WrongDtype {
        name: BIAS.into(),
        found: "F64".into()
    }));
    assert!(problems.contains(&TensorProblem::NonFinite {
        name: "network.encoder.0.1.weight".into(),
        count: 2
    }));
    assert!(problems.contains(&TensorProblem::Unexpected {
        name: "network.log_normalization_constant".into(),
        shape: vec![1]
    }));
    assert_eq!(problems.len(), 4);
}

#[test]
fn garbage_empty_and_pytorch_files_are_not_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(
        &garbage,
        b"\xff\xff\xff\xff\xff\xff\xff\x7fnot a safetensors file",
    )
    .unwrap();
    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    let mut truncated = std::fs::read(data("authors_tiny.safetensors")).unwrap();
    truncated.truncate(truncated.len() - 100);
    let cut = dir.path().join("truncated.safetensors");
    std::fs::write(&cut, truncated).unwrap();
    for input in [garbage, empty, cut, data("authors_tiny.pth.tar")] {
        let err = import_weights(&input, &dir.path().join("out"), &ImportOptions::default())
            .expect_err("not safetensors");
        assert!(
            matches!(err, ImportError::NotSafetensors { ref path, .. } if *path == input),
            "{err}"
        );
        assert!(err.to_string().contains("import_authors.py"), "{err}");
    }
    let err = import_weights(
        &dir.path().join("absent.safetensors"),
        &dir.path().join("out"),
        &ImportOptions::default(),
    )
    .expect_err("no file");
    assert!(matches!(err, ImportError::Read { .. }), "{err}");
    assert!(err.to_string().contains("absent.safetensors"), "{err}");
}

#[test]
fn unsupported_options_and_contradicting_metadata_are_refused() {
    let mut parts = Parts::fixture();
    parts.metadata.insert(
        UNSUPPORTED_KEY.into(),
        r#"["normalization group_size=8: dualscore implements group_size 1"]"#.into(),
    );
    let (err, _, _dir) = import_error(&parts);
    assert!(
        matches!(&err, ImportError::Unsupported { reasons, .. } if reasons.len() == 1),
        "{err}"
    );
    assert!(err.to_string().contains("group_size=8"), "{err}");

    let mut parts = Parts::fixture();
    parts.metadata.insert(
        UNET_CONFIG_KEY.into(),
        r#"{"scales": 3, "base_width": 8, "activation": "gelu"}"#.into(),
    );
    let (err, _, _dir) = import_error(&parts);
    assert!(matches!(err, ImportError::Architecture { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("scales: the metadata says 3, the tensors give 2"),
        "{err}"
    );

    let mut parts = Parts::fixture();
    parts
        .metadata
        .insert(UNET_CONFIG_KEY.into(), r#"{"activation": "tanh"}"#.into());
    let (err, _, _dir) = import_error(&parts);
    assert!(matches!(err, ImportError::Metadata { .. }), "{err}");

    let mut parts = Parts::fixture();
    parts
        .metadata
        .insert(UNET_CONFIG_KEY.into(), "{not json".into());
    let (err, _, _dir) = import_error(&parts);
    assert!(
        matches!(err, ImportError::Metadata { ref key, .. } if key == UNET_CONFIG_KEY),
        "{err}"
    );
}

#[test]
fn an_architecture_that_cannot_be_inferred_is_explained() {
    let (err, _, _dir) =
        import_error(&Parts::fixture().remove("network.noise_var_embedding.time_embed.0.weight"));
    assert!(matches!(err, ImportError::Architecture { .. }), "{err}");
    assert!(err.to_string().contains("time_embed.0.weight"), "{err}");

    // Shapes that would make a huge network are refused before anything is allocated.
    let parts = Parts::fixture().replace(
        "network.noise_var_embedding.time_embed.0.weight",
        Dtype::F32,
        vec![5000, 16],
        f32_le_bytes(&vec![0.0; 5000 * 16]),
    );
    let (err, _, _dir) = import_error(&parts);
    assert!(matches!(err, ImportError::Architecture { .. }), "{err}");
    assert!(err.to_string().contains("embedding width 5000"), "{err}");

    // A middle block one layer deeper than the others.
    let parts = Parts::fixture().add(
        "network.middle_block.6.weight",
        Dtype::F32,
        vec![16, 16, 2, 2],
        f32_le_bytes(&[0.0; 16 * 16 * 4]),
    );
    let (err, _, _dir) = import_error(&parts);
    assert!(matches!(err, ImportError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("middle: 3"), "{err}");
}

#[test]
fn without_metadata_the_paper_defaults_give_other_energies_and_options_restore_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bare.safetensors");
    let mut parts = Parts::fixture();
    for key in [UNET_CONFIG_KEY, SOURCE_KEY, NOTES_KEY] {
        parts.metadata.remove(key);
    }
    parts.write(&input);

    let summary = import_weights(
        &input,
        &dir.path().join("defaults"),
        &ImportOptions::default(),
    )
    .unwrap();
    let unet = &summary.config.unet;
    assert_eq!((unet.embedding_t_min, unet.embedding_t_max), (1.0, 100.0));
    assert_eq!(unet.image_size, 64);
    assert_eq!(
        summary.config_sources["embedding_t_min"],
        "default (UNetConfig::paper)"
    );
    assert!(summary.source.is_none());
    for field in [
        "activation",
        "norm_eps",
        "embedding_t_min",
        "embedding_t_max",
        "image_size",
    ] {
        assert!(
            summary
                .notes
                .iter()
                .any(|n| n.starts_with(field) && n.contains("paper")),
            "a note for {field}: {:?}",
            summary.notes
        );
    }
    let model = NetworkModel::load(&dir.path().join("defaults"), &Cpu::new()).unwrap();
    let (value, _) = compare_with_pytorch(&model);
    assert!(
        value > 100.0 * TOLERANCE,
        "the embedding range matters: {value:e}"
    );

    let options = ImportOptions {
        image_size: Some(16),
        embedding_t_min: Some(0.01),
        embedding_t_max: Some(10.0),
        ..ImportOptions::default()
    };
    let summary = import_weights(&input, &dir.path().join("given"), &options).unwrap();
    assert_eq!(summary.config_sources["embedding_t_max"], "command line");
    assert_eq!(summary.config.unet.image_size, 16);
    let model = NetworkModel::load(&dir.path().join("given"), &Cpu::new()).unwrap();
    let (value, pair) = compare_with_pytorch(&model);
    assert!(value < TOLERANCE && pair < TOLERANCE, "{value:e} {pair:e}");
}

#[test]
fn bare_unet_names_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bare_names.safetensors");
    let mut parts = Parts::fixture();
    for t in &mut parts.tensors {
        t.0 = t.0.strip_prefix("network.").unwrap().to_string();
    }
    parts.write(&input);
    let summary =
        import_weights(&input, &dir.path().join("out"), &ImportOptions::default()).unwrap();
    assert_eq!(summary.num_tensors, 41);
    assert!(summary.notes.iter().any(|n| n.contains("bare UNet names")));
}

#[test]
fn an_existing_checkpoint_is_kept_unless_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let input = data("authors_tiny.safetensors");
    import_weights(&input, &out, &ImportOptions::default()).unwrap();
    let err = import_weights(&input, &out, &ImportOptions::default()).expect_err("exists");
    assert!(
        matches!(err, ImportError::OutputExists { ref dir } if *dir == out),
        "{err}"
    );
    let options = ImportOptions {
        overwrite: true,
        ..ImportOptions::default()
    };
    import_weights(&input, &out, &options).unwrap();
    NetworkModel::load(&out, &Cpu::new()).unwrap();
}

/// Imports the file named by `DUALSCORE_IMPORT_FILE` (for instance one of the authors' released
/// models after `import_authors.py`) and prints the summary and U(x, 0) of a few images
/// `x[n, c, i, j] = 0.5 + 0.4 sin(0.3 (n + 1) i + 0.2 c) cos(0.17 j)`, for comparison with
/// PyTorch's values; with `DUALSCORE_IMPORT_PARAMETERS` it also checks the parameter count:
///
/// ```text
/// DUALSCORE_IMPORT_FILE=gray.safetensors DUALSCORE_IMPORT_PARAMETERS=8647552 \
///     cargo test -p dualscore --release --test import -- --ignored --nocapture
/// ```
#[test]
#[ignore = "needs DUALSCORE_IMPORT_FILE"]
fn import_the_file_in_dualscore_import_file() {
    let Ok(input) = std::env::var("DUALSCORE_IMPORT_FILE") else {
        println!("DUALSCORE_IMPORT_FILE is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("imported");
    let summary = import_weights(Path::new(&input), &out, &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
    if let Ok(n) = std::env::var("DUALSCORE_IMPORT_PARAMETERS") {
        assert_eq!(summary.num_parameters, n.parse::<usize>().unwrap());
    }
    let model = NetworkModel::load(&out, &Cpu::new()).unwrap();
    let unet = &model.config.unet;
    let (c, s) = (unet.image_channels, unet.image_size);
    let n = 2;
    let mut x = Vec::with_capacity(n * c * s * s);
    for b in 0..n {
        for ch in 0..c {
            for i in 0..s {
                for j in 0..s {
                    let v = 0.5
                        + 0.4
                            * (0.3 * (b + 1) as f64 * i as f64 + 0.2 * ch as f64).sin()
                            * (0.17 * j as f64).cos();
                    x.push(v);
                }
            }
        }
    }
    let u = energies(&model, &x, &[n, c, s, s], 0.0);
    println!("U(x, 0) = {u:?}");
    assert!(u.iter().all(|v| v.is_finite()));
}
