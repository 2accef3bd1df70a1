//! Denoising with an energy against the same architecture used as a score network (the
//! paper's Table 1; example 14 and the test `examples_claims`).
//!
//! The score network is the energy model's network, centering, preconditioning and Gaussian
//! base, with the network's output used directly as the (preconditioned) energy gradient
//! instead of differentiating `1/2 <u, s(u, t)>`: `grad_y U = c_in(t) c_out(t) s(c_in(t) (y -
//! mu), t) + grad_y U_G(y, t)` with `c_in = 1 / sqrt(v + t)` and `c_out = sqrt(v / (t +
//! t_floor))`, the factors of [`Preconditioning`]. It is trained by the plain denoising loss
//! (single score matching) from the energy model's initialization, with its base, training
//! settings and number of steps.

use crate::ExampleResult;
use crate::natural::Trained;
use dualscore::data::ImageSet;
use dualscore::model::UNetEnergy;
use dualscore_core::Tensor;
use dualscore_core::analysis::{DenoisingOptions, DenoisingReport, TABLE1_PSNRS_DB, denoising};
use dualscore_core::autograd::{Graph, is_grad_enabled, with_grad_mode};
use dualscore_core::energy::{Energy, Preconditioning, ScoreModel, ScoreTerms};
use dualscore_core::nn::{Module, ScoreNetwork, visit_scoped, visit_scoped_mut};
use dualscore_core::rng::RngKey;
use dualscore_core::train::{Objective, Trainer};
use dualscore_cpu::Cpu;
use std::time::Instant;

type T32 = Tensor<Cpu, f32>;

/// An energy model's parts used as a score network (see the module documentation).
#[derive(Clone, Debug)]
pub struct ScoreNetworkOnBase {
    /// The network, centering, preconditioning and Gaussian base; its time offset is unused.
    pub parts: UNetEnergy<Cpu>,
}

impl ScoreModel<Cpu, f32> for ScoreNetworkOnBase {
    fn score_terms(
        &self,
        y: &T32,
        t: &T32,
        graph: Graph,
    ) -> dualscore_core::Result<ScoreTerms<Cpu, f32>> {
        let p = &self.parts;
        let grad_y = with_grad_mode(graph.is_keep() && is_grad_enabled(), || {
            let x = match &p.mean {
                Some(mean) if mean.numel() == 1 || mean.numel() == y.dims()[1] => {
                    y.sub(&mean.reshape([1, mean.numel(), 1, 1])?)?
                }
                Some(_) => {
                    return Err(dualscore_core::Error::invalid(
                        "ScoreNetworkOnBase",
                        "the centering mean must have one value or one per channel",
                    ));
                }
                None => y.clone(),
            };
            let per_sample = [y.dims()[0], 1, 1, 1];
            let (input, scale) = match &p.preconditioning {
                Some(Preconditioning {
                    data_variance,
                    t_floor,
                }) => {
                    let c_in = t.add_scalar(*data_variance)?.sqrt()?.recip()?;
                    let c_out = t
                        .add_scalar(*t_floor)?
                        .recip()?
                        .scale(*data_variance)?
                        .sqrt()?;
                    let c_in = c_in.reshape(per_sample)?;
                    (x.mul(&c_in)?, Some(c_in.mul(&c_out.reshape(per_sample)?)?))
                }
                None => (x, None),
            };
            let s = p.network.forward(&input, t)?;
            match scale {
                Some(scale) => s.mul(&scale),
                None => Ok(s),
            }
        })?;
        let grad_y = match &p.gaussian_base {
            // The base's gradient by autodiff of its energy, which needs recording on; it
            // holds no parameter, so it is a constant of the network's training.
            Some(base) => {
                let base_energy = |y: &T32, t: &T32| base.energy(y, t);
                let g = with_grad_mode(true, || base_energy.energy_gradients(y, t, Graph::Drop))?;
                grad_y.add(&g.grad_y)?
            }
            None => grad_y,
        };
        Ok(ScoreTerms {
            grad_y,
            grad_t: None,
            energy: None,
        })
    }
}

impl Module<Cpu, f32> for ScoreNetworkOnBase {
    fn visit(&self, f: &mut dyn FnMut(&str, &T32)) {
        visit_scoped("network", &self.parts.network, f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut T32)) {
        visit_scoped_mut("network", &mut self.parts.network, f);
    }
}

/// The score network trained as the energy model `energy` was (its training settings and
/// steps, the single objective), from the same initialization and with the same base.
pub fn train_score_network(
    energy: &Trained,
    train: &ImageSet,
    backend: &Cpu,
) -> ExampleResult<(ScoreNetworkOnBase, f64)> {
    let info = &energy.network.info;
    let mut parts = energy
        .network
        .config
        .build(backend, info.train_config.seed)?;
    parts.gaussian_base = energy.network.energy.gaussian_base.clone();
    let mut config = info.train_config.clone();
    config.objective = Objective::Single;
    config.steps = info.step;
    config.checkpoint_dir = None;
    config.checkpoint_every = None;
    config.metrics_path = None;
    let started = Instant::now();
    let mut trainer: Trainer<Cpu, f32, ScoreNetworkOnBase, ()> =
        Trainer::new(ScoreNetworkOnBase { parts }, (), config)?;
    let data = train.to_in_memory::<Cpu, f32>(backend)?;
    trainer.train(&data, |_| {})?;
    let model = match trainer.averaged_model()? {
        Some(averaged) => averaged,
        None => trainer.into_model(),
    };
    Ok((model, started.elapsed().as_secs_f64()))
}

/// Output PSNR against input PSNR at the levels of Table 1 for the energy and the score
/// network, on the same images and noise.
pub fn compare(
    energy: &Trained,
    score: &ScoreNetworkOnBase,
    images: &ImageSet,
    backend: &Cpu,
) -> ExampleResult<(DenoisingReport, DenoisingReport)> {
    let x = T32::from_f64(backend, images.values(), images.shape())?;
    let options = DenoisingOptions {
        input_psnrs_db: TABLE1_PSNRS_DB.to_vec(),
        batch_size: 64,
        key: RngKey::new(0, 12),
    };
    Ok((
        denoising(&energy.network.energy, &x, &options)?,
        denoising(score, &x, &options)?,
    ))
}
