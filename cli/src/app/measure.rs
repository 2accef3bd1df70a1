//! What the measurement commands share: the model argument, the data as tensors, and the
//! normalization constant.

use super::args::{DataArgs, Sets};
use super::error::{AppError, AppResult};
use super::output::Output;
use crate::data::ImageSet;
use crate::model::{Model, NetworkModel, constants};
use clap::{Args, ValueEnum};
use dualscore_core::density::{ConstantForm, NormalizationOptions, normalization_constant};
use dualscore_core::energy::energy_in_parts;
use dualscore_core::rng::RngKey;
use dualscore_core::scalar::Float;
use dualscore_core::{Backend, Tensor};
use serde::Serialize;
use std::path::PathBuf;

/// Calls `$body` with `$energy` bound to the model's energy and `$t` to its element type:
/// f32 for a trained network, f64 for an analytic density.
macro_rules! with_energy {
    ($model:expr, |$energy:ident, $t:ident| $body:expr) => {
        match $model {
            $crate::model::Model::Network(network) => {
                #[allow(dead_code)]
                type $t = f32;
                let $energy = &network.energy;
                $body
            }
            $crate::model::Model::Analytic(analytic) => {
                #[allow(dead_code)]
                type $t = f64;
                let $energy = &analytic.density;
                $body
            }
        }
    };
}
pub(crate) use with_energy;

/// Which form of the normalization constant (docs/METHOD.md section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConstantChoice {
    /// The Gaussian reference with the data's covariance plus t_max I (the default).
    Corrected,
    /// The authors' isotropic Gaussian reference N(0, t_max I).
    Authors,
}

/// The model and how its normalization constant is estimated.
#[derive(Clone, Debug, Args)]
pub struct ModelArgs {
    /// A checkpoint folder written by `dualscore train` or `dualscore import`, or an analytic
    /// model file (.json, e.g. {"kind": "gaussian", "shape": [1, 8, 8], "mean": 0.5,
    /// "variance": 0.01}).
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// The noise variance at which the constant is estimated.
    #[arg(long, default_value_t = 1e3)]
    pub t_max: f64,
    /// The form of the constant.
    #[arg(long, value_enum, default_value_t = ConstantChoice::Corrected)]
    pub constant: ConstantChoice,
    /// Estimate the constant again even if the checkpoint holds one for this image shape.
    #[arg(long)]
    pub recompute_constant: bool,
    /// At most this many images estimate the constant.
    #[arg(long, default_value_t = 4096)]
    pub constant_images: usize,
}

impl ModelArgs {
    /// Opens the model.
    pub fn open<B: Backend>(&self, backend: &B) -> AppResult<Model<B>> {
        Ok(Model::open(&self.model, backend)?)
    }

    fn form(&self) -> ConstantForm {
        match self.constant {
            ConstantChoice::Corrected => ConstantForm::CovarianceCorrected,
            ConstantChoice::Authors => ConstantForm::Authors,
        }
    }
}

/// The normalization constant c of a model for one image shape: -log p = U + c.
#[derive(Clone, Debug, Serialize)]
pub struct Constant {
    /// c in nats.
    pub value: f64,
    /// Its Monte Carlo standard error (0 for an analytic model).
    pub std_error: f64,
    /// "exact" (analytic), "stored" (read from the checkpoint) or "estimated".
    pub source: String,
    /// The images it was estimated on.
    pub data: Option<String>,
}

/// A set as a tensor of the model's precision.
pub fn tensor<T: Float, B: Backend>(set: &ImageSet, backend: &B) -> AppResult<Tensor<B, T>> {
    Ok(Tensor::from_f64(backend, set.values(), set.shape())?)
}

/// The constant of `model` for the images of `evaluated`: exact for an analytic model; for a
/// network, the one stored in its checkpoint for their shape, or else estimated and stored.
/// It is estimated on the training images when they are given and of the evaluated images'
/// shape, else on the evaluated images.
pub fn constant<B: Backend>(
    model: &Model<B>,
    args: &ModelArgs,
    train: Option<&ImageSet>,
    evaluated: &ImageSet,
    backend: &B,
    output: &mut Output<'_>,
) -> AppResult<Constant> {
    model.check_image_shape(evaluated.image_shape())?;
    match model {
        Model::Analytic(_) => Ok(Constant {
            value: 0.0,
            std_error: 0.0,
            source: "exact".into(),
            data: None,
        }),
        Model::Network(network) => {
            let data = train
                .filter(|t| t.image_shape() == evaluated.image_shape())
                .unwrap_or(evaluated);
            network_constant(network, args, data, backend, output)
        }
    }
}

/// Reads the images, opens the model and finds its constant (as [`constant`] does) for the
/// evaluation images, the test set or else the training set: what `dim` and `logp` start with.
/// The evaluation images are `sets.evaluation()`, which cannot fail once this has succeeded.
pub fn open_with_constant<B: Backend>(
    model_args: &ModelArgs,
    data_args: &DataArgs,
    backend: &B,
    output: &mut Output<'_>,
) -> AppResult<(Sets, Model<B>, Constant)> {
    let sets = data_args.read()?;
    let images = sets.evaluation()?;
    let model = model_args.open(backend)?;
    let c = constant(
        &model,
        model_args,
        sets.train.as_ref(),
        images,
        backend,
        output,
    )?;
    Ok((sets, model, c))
}

fn network_constant<B: Backend>(
    network: &NetworkModel<B>,
    args: &ModelArgs,
    data: &ImageSet,
    backend: &B,
    output: &mut Output<'_>,
) -> AppResult<Constant> {
    let shape = data.image_shape();
    let form = args.form();
    if !args.recompute_constant {
        if let Some(stored) = constants::lookup(network, shape, form, args.t_max) {
            return Ok(Constant {
                value: stored.constant.value,
                std_error: stored.constant.std_error,
                source: "stored".into(),
                data: Some(stored.data),
            });
        }
    }
    if args.constant_images < 2 {
        return Err(AppError::msg("--constant-images must be at least 2"));
    }
    let count = data.len().min(args.constant_images);
    let first: Vec<usize> = (0..count).collect();
    let set = data.select(&first)?;
    output.line(format!(
        "estimating the normalization constant for {shape:?} images at t_max = {} on {count} images of {}",
        args.t_max,
        data.origin().display()
    ))?;
    let x = tensor::<f32, _>(&set, backend)?;
    let options = NormalizationOptions {
        t_max: args.t_max,
        form,
        batch_size: 64,
        key: RngKey::new(0, 11),
    };
    let c = normalization_constant(&network.energy, &x, &options)?;
    let origin = data.origin().display().to_string();
    constants::store(network, &c, &origin)?;
    Ok(Constant {
        value: c.value,
        std_error: c.std_error,
        source: "estimated".into(),
        data: Some(origin),
    })
}

/// -log p in nats of every image of `x` (`[n, C, H, W]`): U(x, 0) + c, in batches of 64, each
/// in the backend's parts ([`energy_in_parts`]).
pub fn neg_log_probs<B, T, E>(
    energy: &E,
    x: &Tensor<B, T>,
    constant_nats: f64,
) -> AppResult<Vec<f64>>
where
    B: Backend,
    T: Float,
    E: dualscore_core::energy::Energy<B, T> + Sync + ?Sized,
{
    let n = x.dims()[0];
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(64) {
        let b = 64.min(n - start);
        let batch = x.slice(0, start, b)?;
        let t = Tensor::zeros(x.backend(), [b])?;
        let u = energy_in_parts(energy, &batch, &t)?.to_f64_vec()?;
        out.extend(u.into_iter().map(|u| u + constant_nats));
    }
    if let Some(i) = out.iter().position(|v| !v.is_finite()) {
        return Err(AppError::msg(format!(
            "the energy of image {i} is not finite ({})",
            out[i]
        )));
    }
    Ok(out)
}
