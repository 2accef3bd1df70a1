//! What the training and checkpoint tests share: a tiny conv energy, Gaussian-blob images and
//! scratch folders.

#![allow(dead_code)]

use dualscore_core::backend::Conv2dParams;
use dualscore_core::backend::reference::Reference;
use dualscore_core::energy::Energy;
use dualscore_core::nn::{Conv2d, Init, Module};
use dualscore_core::rng::{CounterRng, RngKey};
use dualscore_core::train::{ImageSource, InMemoryImages, LrSchedule, TrainConfig};
use dualscore_core::{Float, Result, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub type R = Reference;

/// The architecture of [`Tiny`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TinyConfig {
    /// Channels of the hidden layer.
    pub hidden: usize,
    /// Whether the model has the learned variance `log_var`.
    pub with_log_var: bool,
    /// The seed of the initial weights.
    pub seed: u64,
}

impl Default for TinyConfig {
    fn default() -> Self {
        TinyConfig {
            hidden: 4,
            with_log_var: true,
            seed: 11,
        }
    }
}

/// U(y, t) = 1/2 <y, conv2(gelu(conv1(y)))> / (t + exp(log_var)): two bias-free 3x3 conv
/// layers on 1-channel images and a learned variance.
#[derive(Clone, Debug)]
pub struct Tiny<T: Float> {
    pub conv1: Conv2d<R, T>,
    pub conv2: Conv2d<R, T>,
    pub log_var: Option<Tensor<R, T>>,
}

impl<T: Float> Tiny<T> {
    pub fn new(config: &TinyConfig) -> Result<Self> {
        let mut init = Init::new(config.seed);
        let same = Conv2dParams::new(1, 1, 1);
        Ok(Tiny {
            conv1: Conv2d::new(&Reference, &mut init, 1, config.hidden, 3, same)?,
            conv2: Conv2d::new(&Reference, &mut init, config.hidden, 1, 3, same)?,
            log_var: if config.with_log_var {
                Some(Tensor::from_f64(&Reference, &[-2.0], [1])?)
            } else {
                None
            },
        })
    }
}

impl<T: Float> Module<R, T> for Tiny<T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<R, T>)) {
        f("conv1.weight", &self.conv1.weight);
        f("conv2.weight", &self.conv2.weight);
        if let Some(v) = &self.log_var {
            f("log_var", v);
        }
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<R, T>)) {
        f("conv1.weight", &mut self.conv1.weight);
        f("conv2.weight", &mut self.conv2.weight);
        if let Some(v) = &mut self.log_var {
            f("log_var", v);
        }
    }
}

impl<T: Float> Energy<R, T> for Tiny<T> {
    fn energy(&self, y: &Tensor<R, T>, t: &Tensor<R, T>) -> Result<Tensor<R, T>> {
        let n = y.dims()[0];
        let s = self.conv2.forward(&self.conv1.forward(y)?.gelu()?)?;
        let variance = match &self.log_var {
            Some(v) => t.add(&v.exp()?)?,
            None => t.add_scalar(0.1)?,
        };
        let s = s.div(&variance.reshape([n, 1, 1, 1])?)?;
        y.mul(&s)?.sum(&[1, 2, 3], false)?.scale(0.5)
    }
}

dualscore_core::energy_score_model!(impl<T: Float> ScoreModel<R, T> for Tiny<T>);

/// `n` images 1x6x6 of a Gaussian bump (amplitude in [0.5, 1], center in [1.5, 3.5]^2, width
/// 1), reproducible from `seed`.
pub fn blob_values(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = CounterRng::new(RngKey::new(seed, 77));
    let mut values = Vec::with_capacity(n * 36);
    for _ in 0..n {
        let u = rng.uniform(3);
        let (a, cy, cx) = (0.5 + 0.5 * u[0], 1.5 + 2.0 * u[1], 1.5 + 2.0 * u[2]);
        for i in 0..6 {
            for j in 0..6 {
                let r2 = (i as f64 - cy).powi(2) + (j as f64 - cx).powi(2);
                values.push(a * (-r2 / 2.0).exp());
            }
        }
    }
    values
}

pub fn blobs<T: Float>(n: usize, seed: u64) -> InMemoryImages<R, T> {
    InMemoryImages::from_f64(&Reference, &blob_values(n, seed), [n, 1, 6, 6]).unwrap()
}

/// Blobs, except that the images of the `poison_at`-th fetch (counting from 1) are NaN. It
/// mirrors on the device (the default of `fetch_mirrored`).
pub struct Poisoned {
    inner: InMemoryImages<R, f64>,
    fetches: AtomicUsize,
    poison_at: usize,
}

impl Poisoned {
    pub fn new(poison_at: usize) -> Self {
        Poisoned {
            inner: blobs(12, 5),
            fetches: AtomicUsize::new(0),
            poison_at,
        }
    }
}

impl ImageSource<R, f64> for Poisoned {
    fn num_images(&self) -> usize {
        self.inner.num_images()
    }
    fn image_shape(&self) -> [usize; 3] {
        self.inner.image_shape()
    }
    fn fetch(&self, indices: &[usize]) -> Result<Tensor<R, f64>> {
        let fetched = self.fetches.fetch_add(1, Ordering::Relaxed) + 1;
        let x = self.inner.fetch(indices)?;
        if fetched == self.poison_at {
            x.full_like(f64::NAN)
        } else {
            Ok(x)
        }
    }
}

/// A small, fast configuration: batch 4, constant rate 1e-2, no checkpoints or metrics.
pub fn small_config(steps: u64) -> TrainConfig {
    TrainConfig {
        batch_size: 4,
        steps,
        schedule: LrSchedule::constant(1e-2),
        seed: 3,
        ..TrainConfig::default()
    }
}

/// Every parameter's values, by name, in visit order.
pub fn parameter_values<T: Float, M: Module<R, T>>(model: &M) -> Vec<(String, Vec<f64>)> {
    model
        .parameters()
        .into_iter()
        .map(|(n, t)| (n, t.to_f64_vec().unwrap()))
        .collect()
}

/// Bitwise equality of two parameter lists.
pub fn assert_bitwise_equal(a: &[(String, Vec<f64>)], b: &[(String, Vec<f64>)]) {
    assert_eq!(a.len(), b.len());
    for ((na, va), (nb, vb)) in a.iter().zip(b) {
        assert_eq!(na, nb);
        let ba: Vec<u64> = va.iter().map(|v| v.to_bits()).collect();
        let bb: Vec<u64> = vb.iter().map(|v| v.to_bits()).collect();
        assert_eq!(ba, bb, "parameter {na} differs");
    }
}

/// A fresh, empty folder under the target's scratch space, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "dualscore-{name}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The sorted names of the entries of a folder.
pub fn folder_names(dir: &Path) -> Vec<String> {
    dualscore_core::testing::folder_names(dir).unwrap()
}
