//! The training loop: batches, flips, noise, the score matching loss, its gradient, Adam,
//! metrics and checkpoints.

use super::adam::Adam;
use super::average::ParameterAverage;
use super::checkpoint::{
    CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointInfo, TrainRngStates, load_checkpoint_average,
    load_checkpoint_state, read_checkpoint, write_atomic, write_checkpoint,
};
use super::config::TrainConfig;
use super::data::{EpochOrder, ImageSource};
use super::error::TrainError;
use super::importance::BandSampler;
use super::parts::{StepBatch, step_gradients};
use crate::autograd::no_grad;
use crate::backend::Backend;
use crate::energy::ScoreModel;
use crate::error::Error;
use crate::nn::Module;
use crate::rng::{CounterRng, RngKey};
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The stream of the training seed that orders the data.
pub const DATA_STREAM: u64 = 1;
/// The stream of the training seed that draws the horizontal flips.
pub const FLIP_STREAM: u64 = 2;
/// The stream of the training seed that draws the noise variances t.
pub const NOISE_LEVEL_STREAM: u64 = 3;
/// The stream of the training seed that draws the noise z.
pub const NOISE_STREAM: u64 = 4;

/// What one step measured; one JSON line of the metrics file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// The number of steps completed with this one (1 for the first update).
    pub step: u64,
    /// The batch loss, mean of dsm + tsm (weighted by the importance weights of t, when t is
    /// importance sampled, so that it estimates the same objective).
    pub loss: f64,
    /// The batch mean of the denoising term (weighted likewise).
    pub dsm: f64,
    /// The batch mean of the time term (weighted likewise; 0 for the single objective).
    pub tsm: f64,
    /// The learning rate of this step's update.
    pub lr: f64,
    /// Wall-clock seconds of training at the end of this step, counting earlier runs resumed
    /// from a checkpoint.
    pub time_s: f64,
    /// Wall-clock seconds of this step.
    pub step_time_s: f64,
}

/// What [`Trainer::train`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSummary {
    /// Steps run by this call.
    pub steps_run: u64,
    /// Steps completed in all (the trainer's [`Trainer::completed_steps`]).
    pub step: u64,
    /// The metrics of the last step run, if any.
    pub last: Option<StepMetrics>,
    /// The folder of the last checkpoint written, if any.
    pub checkpoint: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug)]
struct Streams {
    data: CounterRng,
    flips: CounterRng,
    noise_level: CounterRng,
    noise: CounterRng,
}

impl Streams {
    fn new(seed: u64) -> Self {
        let at = |stream| CounterRng::new(RngKey::new(seed, stream));
        Streams {
            data: at(DATA_STREAM),
            flips: at(FLIP_STREAM),
            noise_level: at(NOISE_LEVEL_STREAM),
            noise: at(NOISE_STREAM),
        }
    }

    fn states(&self) -> TrainRngStates {
        TrainRngStates {
            data: self.data.into(),
            flips: self.flips.into(),
            noise_level: self.noise_level.into(),
            noise: self.noise.into(),
        }
    }

    fn from_states(s: &TrainRngStates) -> Self {
        Streams {
            data: s.data.into(),
            flips: s.flips.into(),
            noise_level: s.noise_level.into(),
            noise: s.noise.into(),
        }
    }
}

/// Trains a model by (dual) score matching, reproducibly: a run is a pure function of the
/// initial model, the data, and the [`TrainConfig`] (its seed included), bit for bit on a
/// given backend, and a run resumed from a checkpoint continues exactly as if it had not
/// stopped.
///
/// Each step:
/// 1. takes the next `batch_size` images of the data order ([`EpochOrder`]: a fresh
///    permutation per epoch, drawn from the seed);
/// 2. flips each horizontally with probability 1/2 (if `flips`;
///    [`ImageSource::fetch_mirrored`]);
/// 3. draws one noise variance t per image (log-uniform, or by [`TrainConfig::importance`]
///    with loss weights that keep the objective) and the noise z;
/// 4. computes [`score_matching_loss`](super::score_matching_loss) and differentiates it with
///    respect to every parameter (they must require a gradient, which [`Trainer::new`]
///    arranges), in as many parts of the batch as the backend asks for
///    ([`Backend::training_parts`], computed as [`Backend::run_jobs`] jobs; the parts'
///    gradients are summed in order);
/// 5. leaves its values on the device: the loss, the batch means of its two terms and, per
///    parameter, the sum of |g| of its gradient (NaN or infinite when an entry is);
/// 6. applies Adam with the learning rate of [`TrainConfig::lr_at`] (schedule and warm-up);
/// 7. every [`TrainConfig::sync_every`] steps, reads the values of the steps since the last
///    read-back from the device in one download, stops with [`TrainError::NonFinite`] at the
///    first step whose loss or gradient is NaN or infinite, and appends a [`StepMetrics`] line
///    per step to the metrics file, if any.
///
/// So the host reads from the device once every `sync_every` steps, and uploads only the batch:
/// its images (one upload for [`InMemoryImages`](super::InMemoryImages), which mirrors them on
/// the host; a source that mirrors on the device uploads a mask too) and one vector of noise
/// variances (with the importance weights, if any). The noise z comes from the backend's
/// [`Backend::random_normal`].
///
/// # Read-backs and failures
///
/// A read-back happens before the update of the step that ends its group: the `sync_every`-th
/// step since the last read-back, a step of [`Trainer::step`], the last step of
/// [`Trainer::train`] and a step after which it writes a checkpoint. [`Trainer::sync`] and
/// [`Trainer::save_checkpoint`] read back the steps still pending. So a checkpoint only
/// records steps whose values were checked, and with `sync_every = 1` every step is checked
/// before its update.
///
/// A step that fails without having been applied changes nothing (model, optimizer, random
/// streams and step count are as before it), so the caller may inspect the trainer or save
/// it; the exception is a metrics file that cannot be written, reported after the step was
/// applied. With `sync_every` above 1, a non-finite value may belong to a step whose update,
/// and those of the steps after it, were applied before the read-back: there is no state to
/// return to, so the trainer stops for good ([`TrainError::NonFinite`] with `applied_through`
/// set, returned again by every later step, read-back and checkpoint) and the run goes on
/// from its last checkpoint, which is intact. The steps before the failed one are reported
/// and written to the metrics file as usual.
///
/// `C` is the model's configuration, written into every checkpoint so that the checkpoint
/// fully describes the architecture; use `()` when there is none.
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::backend::Conv2dParams;
/// use dualscore_core::energy::Energy;
/// use dualscore_core::nn::{Conv2d, Init, Module};
/// use dualscore_core::train::{InMemoryImages, LrSchedule, TrainConfig, Trainer};
/// use dualscore_core::{Result, Tensor};
///
/// type R = Reference;
/// type Tn = Tensor<R, f64>;
///
/// /// U(y, t) = 1/2 <y, conv(y)> / (1 + t): a tiny energy.
/// struct Tiny {
///     conv: Conv2d<R, f64>,
/// }
/// impl Module<R, f64> for Tiny {
///     fn visit(&self, f: &mut dyn FnMut(&str, &Tn)) {
///         f("conv.weight", &self.conv.weight)
///     }
///     fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tn)) {
///         f("conv.weight", &mut self.conv.weight)
///     }
/// }
/// impl Energy<R, f64> for Tiny {
///     fn energy(&self, y: &Tn, t: &Tn) -> Result<Tn> {
///         let n = y.dims()[0];
///         let s = self.conv.forward(y)?.div(&t.add_scalar(1.0)?.reshape([n, 1, 1, 1])?)?;
///         y.mul(&s)?.sum(&[1, 2, 3], false)?.scale(0.5)
///     }
/// }
/// dualscore_core::energy_score_model!(impl ScoreModel<R, f64> for Tiny);
///
/// # fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
/// let mut init = Init::new(0);
/// let model = Tiny {
///     conv: Conv2d::new(&Reference, &mut init, 1, 1, 3, Conv2dParams::new(1, 1, 1))?,
/// };
/// let images = Tn::rand(&Reference, [8, 1, 4, 4], init.key, 1_000)?;
/// let data = InMemoryImages::from_tensor(&images)?;
/// let config = TrainConfig {
///     batch_size: 4,
///     steps: 3,
///     schedule: LrSchedule::constant(1e-3),
///     ..TrainConfig::default()
/// };
/// let mut trainer = Trainer::new(model, (), config)?;
/// let mut losses = Vec::new();
/// let summary = trainer.train(&data, |m| losses.push(m.loss))?;
/// assert_eq!(summary.step, 3);
/// assert_eq!(losses.len(), 3);
/// assert!(losses.iter().all(|l| l.is_finite()));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Trainer<B: Backend, T: Float, M, C = ()> {
    model: M,
    model_config: C,
    config: TrainConfig,
    optimizer: Adam<B, T>,
    average: Option<ParameterAverage<B, T>>,
    sampler: Option<BandSampler>,
    step: u64,
    streams: Streams,
    order: Option<EpochOrder>,
    num_images: Option<u64>,
    elapsed_before_s: f64,
    started: Instant,
    last_checkpoint: Option<(PathBuf, u64)>,
    metrics: Option<fs::File>,
    /// Applied steps whose values are still on the device, oldest first.
    pending: Vec<PendingStep<B, T>>,
    /// Checked steps whose metrics lines are not written yet.
    checked: Vec<StepMetrics>,
    /// Checked steps not yet returned to the caller.
    ready: Vec<StepMetrics>,
    /// Why the trainer stopped for good, if it did.
    halted: Option<Halt>,
    _types: PhantomData<fn() -> (B, T)>,
}

/// An applied step whose values are still on the device.
#[derive(Debug)]
struct PendingStep<B: Backend, T: Float> {
    /// Its number (1 for the first update).
    step: u64,
    lr: f64,
    /// `[loss, dsm, tsm, sum |g| per parameter ..., unweighted loss per sample ...]`, the last
    /// part only when t is importance sampled.
    values: Tensor<B, T>,
    /// The number of parameters.
    parameters: usize,
    time_s: f64,
    step_time_s: f64,
}

/// A step's values, read back.
struct StepValues {
    loss: f64,
    dsm: f64,
    tsm: f64,
    /// The unweighted loss per sample, when t is importance sampled.
    per_sample: Vec<f64>,
}

/// A non-finite value found at read-back: the fields of [`TrainError::NonFinite`]. A trainer
/// halted by one that was applied keeps it to report again on every later call (the error
/// itself cannot be cloned: other variants hold an `io::Error`).
#[derive(Clone, Debug)]
struct Halt {
    step: u64,
    what: String,
    value: f64,
    dsm: f64,
    tsm: f64,
    last_checkpoint: Option<PathBuf>,
    applied_through: Option<u64>,
}

impl Halt {
    fn error(&self) -> TrainError {
        TrainError::NonFinite {
            step: self.step,
            what: self.what.clone(),
            value: self.value,
            dsm: self.dsm,
            tsm: self.tsm,
            last_checkpoint: self.last_checkpoint.clone(),
            applied_through: self.applied_through,
        }
    }
}

impl<B, T, M, C> Trainer<B, T, M, C>
where
    B: Backend,
    T: Float,
    M: Module<B, T> + ScoreModel<B, T> + Sync,
{
    /// A trainer at step 0. Checks the configuration and makes every parameter of `model` a
    /// leaf that requires a gradient.
    pub fn new(mut model: M, model_config: C, config: TrainConfig) -> Result<Self, TrainError> {
        config.validate()?;
        model.require_grad();
        let average = match config.average_decay {
            Some(decay) => Some(ParameterAverage::new(&model, decay)?),
            None => None,
        };
        let sampler = match config.importance {
            Some(settings) => Some(BandSampler::new(settings, config.noise)?),
            None => None,
        };
        Ok(Trainer {
            model,
            model_config,
            optimizer: Adam::new(config.optimizer)?,
            average,
            sampler,
            step: 0,
            streams: Streams::new(config.seed),
            order: None,
            num_images: None,
            elapsed_before_s: 0.0,
            started: Instant::now(),
            last_checkpoint: None,
            metrics: None,
            pending: Vec::new(),
            checked: Vec::new(),
            ready: Vec::new(),
            halted: None,
            config,
            _types: PhantomData,
        })
    }

    /// Resumes the run saved in the checkpoint folder `dir`: `model` must have the checkpoint's
    /// architecture (build it from [`read_checkpoint`]'s `model_config`); its parameters, the
    /// optimizer's state, the random streams, the step and the training configuration are
    /// loaded, so that training continues exactly as the saved run would have.
    ///
    /// Change the configuration afterwards with [`Trainer::config_mut`] only for `steps`,
    /// `checkpoint_every`, `checkpoint_dir`, `metrics_path` and `sync_every`: anything else
    /// makes the run differ from an uninterrupted one.
    pub fn resume(dir: &Path, mut model: M) -> Result<Self, TrainError>
    where
        C: DeserializeOwned,
    {
        let info: CheckpointInfo<C> = read_checkpoint(dir)?;
        info.train_config
            .validate()
            .map_err(|e| TrainError::checkpoint(dir.join(super::CHECKPOINT_FILE), e.to_string()))?;
        let mut optimizer = Adam::new(info.train_config.optimizer)?;
        load_checkpoint_state(dir, &info, &mut model, &mut optimizer)?;
        let average = match info.train_config.average_decay {
            Some(decay) => {
                let mut average = ParameterAverage::new(&model, decay)?;
                load_checkpoint_average(dir, &info, &mut average)?;
                Some(average)
            }
            None => None,
        };
        let sampler = match (info.train_config.importance, info.noise_band_mean_squares) {
            (Some(settings), Some(mean_squares)) => Some(
                BandSampler::with_mean_squares(settings, info.train_config.noise, mean_squares)
                    .map_err(|e| {
                        TrainError::checkpoint(dir.join(super::CHECKPOINT_FILE), e.to_string())
                    })?,
            ),
            (Some(_), None) => {
                return Err(TrainError::checkpoint(
                    dir.join(super::CHECKPOINT_FILE),
                    "the run draws t by importance sampling, but the checkpoint has no noise_band_mean_squares",
                ));
            }
            (None, _) => None,
        };
        model.require_grad();
        Ok(Trainer {
            model,
            model_config: info.model_config,
            optimizer,
            average,
            sampler,
            step: info.step,
            streams: Streams::from_states(&info.rng),
            order: None,
            num_images: info.num_images,
            elapsed_before_s: info.elapsed_s,
            started: Instant::now(),
            last_checkpoint: Some((dir.to_path_buf(), info.step)),
            metrics: None,
            pending: Vec::new(),
            checked: Vec::new(),
            ready: Vec::new(),
            halted: None,
            config: info.train_config,
            _types: PhantomData,
        })
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, mutably (changing its parameters changes the run).
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// The model with its averaged weights, when the run averages them
    /// ([`TrainConfig::average_decay`]), as constants: the model to measure.
    pub fn averaged_model(&self) -> Result<Option<M>, TrainError>
    where
        M: Clone,
    {
        let Some(average) = &self.average else {
            return Ok(None);
        };
        let mut model = self.model.clone();
        average.apply_to(&mut model)?;
        Ok(Some(model))
    }

    /// The model, ending the run.
    pub fn into_model(self) -> M {
        self.model
    }

    /// The model's configuration.
    pub fn model_config(&self) -> &C {
        &self.model_config
    }

    /// The training configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The training configuration, mutably (see [`Trainer::resume`] for what may change).
    pub fn config_mut(&mut self) -> &mut TrainConfig {
        &mut self.config
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &Adam<B, T> {
        &self.optimizer
    }

    /// The number of steps completed: updates applied, the last [`Trainer::pending_steps`] of
    /// them not yet checked.
    pub fn completed_steps(&self) -> u64 {
        self.step
    }

    /// The number of applied steps whose values are not read back yet (below
    /// [`TrainConfig::sync_every`]).
    pub fn pending_steps(&self) -> usize {
        self.pending.len()
    }

    /// The states of the random streams.
    pub fn rng_states(&self) -> TrainRngStates {
        self.streams.states()
    }

    /// The folder of the last checkpoint written or resumed from, if any.
    pub fn last_checkpoint(&self) -> Option<&Path> {
        self.last_checkpoint.as_ref().map(|(p, _)| p.as_path())
    }

    /// Wall-clock seconds of training so far, counting runs resumed from.
    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_before_s + self.started.elapsed().as_secs_f64()
    }

    /// Runs steps until [`TrainConfig::steps`] are completed, calling `on_step` with the
    /// metrics of each, in order, once its values are read back (every
    /// [`TrainConfig::sync_every`] steps), writing a checkpoint every `checkpoint_every` steps
    /// and at the end (when `checkpoint_dir` is set). On a non-finite value it stops with
    /// [`TrainError::NonFinite`], after calling `on_step` for the steps before it, leaving the
    /// last checkpoint as it was.
    pub fn train<S: ImageSource<B, T> + Sync + ?Sized>(
        &mut self,
        data: &S,
        mut on_step: impl FnMut(&StepMetrics),
    ) -> Result<TrainSummary, TrainError>
    where
        C: Serialize,
        Self: Send,
    {
        self.check_running()?;
        let start = self.step;
        let mut last = None;
        let mut deliver = |metrics: Vec<StepMetrics>, last: &mut Option<StepMetrics>| {
            for m in metrics {
                on_step(&m);
                *last = Some(m);
            }
        };
        while self.step < self.config.steps {
            let next = self.step + 1;
            let checkpoint_dir = match (self.config.checkpoint_every, &self.config.checkpoint_dir) {
                (Some(every), Some(dir)) if next % every == 0 => Some(dir.clone()),
                _ => None,
            };
            let read_back = next == self.config.steps || checkpoint_dir.is_some();
            match self.run_step(data, read_back) {
                Ok(metrics) => deliver(metrics, &mut last),
                Err(e) => {
                    deliver(std::mem::take(&mut self.ready), &mut last);
                    return Err(e);
                }
            }
            if let Some(dir) = checkpoint_dir {
                self.save_checkpoint(&dir)?;
            }
        }
        match self.sync() {
            Ok(metrics) => deliver(metrics, &mut last),
            Err(e) => {
                deliver(std::mem::take(&mut self.ready), &mut last);
                return Err(e);
            }
        }
        if let Some(dir) = self.config.checkpoint_dir.clone() {
            let saved = self
                .last_checkpoint
                .as_ref()
                .is_some_and(|(p, s)| *p == dir && *s == self.step);
            if !saved {
                self.save_checkpoint(&dir)?;
            }
        }
        Ok(TrainSummary {
            steps_run: self.step - start,
            step: self.step,
            last,
            checkpoint: self.last_checkpoint().map(Path::to_path_buf),
        })
    }

    /// Runs one step on `data` (see the type's documentation) and reads its values back at
    /// once, whatever [`TrainConfig::sync_every`] says, before its update: returns its metrics.
    /// Steps left pending by [`Trainer::advance`] are read back with it (their metrics lines
    /// are written; only this step's metrics are returned). A step that fails is not applied,
    /// except when only the metrics file could not be written (a [`TrainError::Io`] naming
    /// it): the update was made and the step counted; and except for the failure of a
    /// pending step, described in the type's documentation.
    pub fn step<S: ImageSource<B, T> + Sync + ?Sized>(
        &mut self,
        data: &S,
    ) -> Result<StepMetrics, TrainError>
    where
        Self: Send,
    {
        let metrics = self.run_step(data, true)?;
        Ok(metrics
            .into_iter()
            .last()
            .expect("a step read back reports its metrics"))
    }

    /// Runs one step on `data`, reading the values back every [`TrainConfig::sync_every`]
    /// steps: returns the metrics of the steps read back by this call, in order (none between
    /// read-backs; also those read back by [`Trainer::save_checkpoint`] since the last call).
    /// Errors as [`Trainer::step`].
    pub fn advance<S: ImageSource<B, T> + Sync + ?Sized>(
        &mut self,
        data: &S,
    ) -> Result<Vec<StepMetrics>, TrainError>
    where
        Self: Send,
    {
        self.run_step(data, false)
    }

    /// Reads back the values of the pending steps now, in one download, and returns the
    /// metrics not yet returned, in order. With a non-finite value, the trainer stops for good
    /// ([`TrainError::NonFinite`]; the steps before it are written to the metrics file).
    pub fn sync(&mut self) -> Result<Vec<StepMetrics>, TrainError> {
        self.check_running()?;
        let read = if self.pending.is_empty() {
            Ok(None)
        } else {
            self.read_back(false)
        };
        let written = self.write_checked_metrics();
        read?;
        written?;
        Ok(std::mem::take(&mut self.ready))
    }

    fn check_running(&self) -> Result<(), TrainError> {
        match &self.halted {
            Some(halt) => Err(halt.error()),
            None => Ok(()),
        }
    }

    /// One step, read back before its update when `read_back` or when `sync_every` steps are
    /// pending with it; then the checked metrics are written and returned.
    fn run_step<S: ImageSource<B, T> + Sync + ?Sized>(
        &mut self,
        data: &S,
        read_back: bool,
    ) -> Result<Vec<StepMetrics>, TrainError>
    where
        Self: Send,
    {
        let mut backend = None;
        self.model.visit(&mut |_, p| {
            backend.get_or_insert_with(|| p.backend().clone());
        });
        match backend {
            Some(backend) => backend.run(|| self.run_step_here(data, read_back)),
            None => self.run_step_here(data, read_back),
        }
    }

    /// [`Trainer::run_step`] on the calling thread.
    fn run_step_here<S: ImageSource<B, T> + ?Sized>(
        &mut self,
        data: &S,
        read_back: bool,
    ) -> Result<Vec<StepMetrics>, TrainError> {
        self.check_running()?;
        let saved_streams = self.streams;
        let stepped = self.try_step(data, read_back);
        if stepped.is_err() {
            self.streams = saved_streams;
        }
        // The step is applied when it succeeded; a metrics-file error does not undo it.
        let written = self.write_checked_metrics();
        stepped?;
        written?;
        Ok(std::mem::take(&mut self.ready))
    }

    fn try_step<S: ImageSource<B, T> + ?Sized>(
        &mut self,
        data: &S,
        read_back: bool,
    ) -> Result<(), TrainError> {
        let step_started = Instant::now();
        let x = self.next_batch(data)?;
        let n = self.config.batch_size;
        let backend = x.backend().clone();
        let (t_values, weights) = match &self.sampler {
            Some(sampler) => {
                let (t, w) = sampler.sample(&mut self.streams.noise_level, n);
                (t, Some(w))
            }
            None => (
                self.config.noise.sample(&mut self.streams.noise_level, n),
                None,
            ),
        };
        let (t, weights) = match &weights {
            None => (Tensor::from_f64(&backend, &t_values, [n])?, None),
            Some(w) => {
                // One upload for both.
                let both: Vec<f64> = t_values.iter().chain(w).copied().collect();
                let both = Tensor::from_f64(&backend, &both, [2 * n])?;
                (both.slice(0, 0, n)?, Some(both.slice(0, n, n)?))
            }
        };
        let z_offset = self.streams.noise.reserve(x.numel());
        let z = Tensor::randn(
            &backend,
            x.shape().clone(),
            self.streams.noise.key,
            z_offset,
        )?;

        let params = self.model.parameters();
        if let Some((name, _)) = params.iter().find(|(_, p)| !p.requires_grad()) {
            return Err(TrainError::Tensor(Error::invalid(
                "train",
                format!("parameter '{name}' does not require a gradient"),
            )));
        }
        let inputs: Vec<&Tensor<B, T>> = params.iter().map(|(_, p)| p).collect();
        let batch = StepBatch {
            x: &x,
            t: &t,
            z: &z,
            weights: weights.as_ref(),
        };
        let step = step_gradients(&self.model, &inputs, &batch, self.config.objective)?;
        let grads = step.grads;
        let values = no_grad(|| -> Result<_, Error> {
            let mut parts = vec![
                step.loss.reshape([1])?,
                step.dsm.mean_all()?.reshape([1])?,
                step.tsm.mean_all()?.reshape([1])?,
            ];
            for g in &grads {
                parts.push(g.abs()?.sum_all()?.reshape([1])?);
            }
            parts.extend(step.unweighted);
            let parts: Vec<&Tensor<B, T>> = parts.iter().collect();
            Tensor::concat(&parts, 0)
        })?;
        let parameters = grads.len();
        let named: Vec<(String, Tensor<B, T>)> = params
            .iter()
            .zip(grads)
            .map(|((name, _), g)| (name.clone(), g))
            .collect();
        drop(inputs);
        drop(params);

        let lr = self.config.lr_at(self.step);
        let mut pending = PendingStep {
            step: self.step + 1,
            lr,
            values,
            parameters,
            time_s: f64::NAN,
            step_time_s: f64::NAN,
        };
        // Importance sampling draws the next t from this step's losses: read them now.
        let read_back = read_back
            || self.sampler.is_some()
            || self.pending.len() + 1 >= self.config.sync_every.max(1);
        let checked = if read_back {
            self.pending.push(pending);
            let values = self.read_back(true)?.expect("the step being run");
            pending = self.pending.pop().expect("kept by read_back");
            Some(values)
        } else {
            None
        };

        self.optimizer.step(&mut self.model, &named, lr)?;
        self.step += 1;
        if let (Some(sampler), Some(values)) = (&mut self.sampler, &checked) {
            sampler.observe(&t_values, &values.per_sample);
        }
        if let Some(average) = &mut self.average {
            average.update(&self.model, self.step)?;
        }
        pending.time_s = self.elapsed_s();
        pending.step_time_s = step_started.elapsed().as_secs_f64();
        match checked {
            Some(values) => self.checked.push(step_metrics(&pending, &values)),
            None => self.pending.push(pending),
        }
        Ok(())
    }

    /// Reads the values of every pending step back in one download and checks them in order,
    /// moving the metrics of the good ones to `checked`. With `unapplied`, the last pending
    /// step is the one being run, not yet applied: when good, it stays pending and its values
    /// are returned (its metrics are complete after its update); when it is the first
    /// non-finite one, the error leaves the trainer running. A non-finite value of an applied
    /// step halts the trainer.
    fn read_back(&mut self, unapplied: bool) -> Result<Option<StepValues>, TrainError> {
        let tensors: Vec<&Tensor<B, T>> = self.pending.iter().map(|p| &p.values).collect();
        let host = match tensors.as_slice() {
            [] => return Ok(None),
            [one] => one.to_f64_vec()?,
            many => no_grad(|| Tensor::concat(many, 0))?.to_f64_vec()?,
        };
        let pending = std::mem::take(&mut self.pending);
        let count = pending.len();
        let mut offset = 0;
        for (k, step) in pending.into_iter().enumerate() {
            let len = step.values.numel();
            let v = &host[offset..offset + len];
            offset += len;
            let (head, rest) = v.split_at(3);
            let (sums, per_sample) = rest.split_at(step.parameters);
            let values = StepValues {
                loss: head[0],
                dsm: head[1],
                tsm: head[2],
                per_sample: per_sample.to_vec(),
            };
            let failure = if !values.loss.is_finite() {
                Some(("loss".to_string(), values.loss))
            } else {
                sums.iter().position(|s| !s.is_finite()).map(|i| {
                    let name = self.parameter_name(i);
                    (format!("gradient of '{name}'"), sums[i])
                })
            };
            let last_checkpoint = self.last_checkpoint.as_ref().map(|(p, _)| p.clone());
            let is_current = unapplied && k + 1 == count;
            if let Some((what, value)) = failure {
                let halt = Halt {
                    step: step.step,
                    what,
                    value,
                    dsm: values.dsm,
                    tsm: values.tsm,
                    last_checkpoint,
                    // The current step is not applied yet: the trainer may go on.
                    applied_through: (!is_current).then_some(self.step),
                };
                let error = halt.error();
                if !is_current {
                    self.halted = Some(halt);
                }
                return Err(error);
            }
            if is_current {
                self.pending.push(step);
                return Ok(Some(values));
            }
            self.checked.push(step_metrics(&step, &values));
        }
        Ok(None)
    }

    /// The name of parameter `index` in visit order.
    fn parameter_name(&self, index: usize) -> String {
        let mut name = String::new();
        let mut i = 0;
        self.model.visit(&mut |n, _| {
            if i == index {
                name = n.to_string();
            }
            i += 1;
        });
        name
    }

    /// The next batch of the data order, flipped where drawn.
    fn next_batch<S: ImageSource<B, T> + ?Sized>(
        &mut self,
        data: &S,
    ) -> Result<Tensor<B, T>, TrainError> {
        let count = data.num_images();
        if let Some(expected) = self.num_images {
            if expected != count as u64 {
                return Err(TrainError::Config(format!(
                    "the data set has {count} images, but this run's data order was drawn for {expected}"
                )));
            }
        }
        let n = self.config.batch_size;
        if self.order.is_none() {
            let [c, h, w] = data.image_shape();
            // A batch too large to hold is refused here, not met as an abort in an allocation.
            let values = n.checked_mul(c * h * w);
            if values.is_none_or(|v| crate::backend::alloc::reserved::<f64>("host", v).is_err()) {
                return Err(TrainError::Config(format!(
                    "a batch of {n} images of {c}x{h}x{w} does not fit in memory"
                )));
            }
            let key = self.streams.data.key;
            self.order = Some(EpochOrder::new(key, count)?);
            self.num_images = Some(count as u64);
        }
        let start = self.streams.data.reserve(n);
        let indices = self.order.as_mut().expect("just set").batch(start, n);
        let x = if self.config.flips {
            let mirror: Vec<bool> = self
                .streams
                .flips
                .uniform(n)
                .into_iter()
                .map(|u| u < 0.5)
                .collect();
            data.fetch_mirrored(&indices, &mirror)?
        } else {
            data.fetch(&indices)?
        };
        let [c, h, w] = data.image_shape();
        if x.dims() != [n, c, h, w] {
            return Err(TrainError::Tensor(Error::shapes(
                "train",
                &[n, c, h, w],
                x.dims(),
                "the data source returned a batch of another shape",
            )));
        }
        Ok(x)
    }

    /// Appends the lines of the checked steps to the metrics file, if any, in one write, and
    /// hands their metrics to the caller (also when the file cannot be written).
    fn write_checked_metrics(&mut self) -> Result<(), TrainError> {
        let Some(first) = self.checked.first().map(|m| m.step) else {
            return Ok(());
        };
        let checked = std::mem::take(&mut self.checked);
        let mut text = String::new();
        for metrics in &checked {
            text.push_str(&serde_json::to_string(metrics).expect("metrics serialize"));
            text.push('\n');
        }
        self.ready.extend(checked);
        let Some(path) = self.config.metrics_path.clone() else {
            return Ok(());
        };
        if self.metrics.is_none() {
            self.metrics = Some(open_metrics(&path, first - 1)?);
        }
        self.metrics
            .as_mut()
            .expect("just opened")
            .write_all(text.as_bytes())
            .map_err(|e| TrainError::io(&path, "append to", e))
    }

    /// Writes a checkpoint of the current state into the folder `dir` (see
    /// [`super::checkpoint`] for the layout and the atomicity), after reading back the pending
    /// steps (their metrics are returned by the next [`Trainer::advance`] or
    /// [`Trainer::sync`]). Nothing is written when one of them is not finite, or when the
    /// trainer has stopped for good.
    pub fn save_checkpoint(&mut self, dir: &Path) -> Result<(), TrainError>
    where
        C: Serialize,
    {
        self.check_running()?;
        if !self.pending.is_empty() {
            let read = self.read_back(false);
            let written = self.write_checked_metrics();
            read?;
            written?;
        }
        let mut info = CheckpointInfo {
            format: CHECKPOINT_FORMAT.to_string(),
            version: CHECKPOINT_VERSION,
            step: self.step,
            dtype: T::DTYPE.name().to_string(),
            model_config: &self.model_config,
            train_config: self.config.clone(),
            rng: self.streams.states(),
            num_images: self.num_images,
            elapsed_s: self.elapsed_s(),
            weights_file: String::new(),
            optimizer_file: String::new(),
            averaged_weights_file: None,
            noise_band_mean_squares: self.sampler.as_ref().map(|s| s.mean_squares().to_vec()),
        };
        write_checkpoint(
            dir,
            &mut info,
            &self.model,
            &self.optimizer,
            self.average.as_ref(),
        )?;
        self.last_checkpoint = Some((dir.to_path_buf(), self.step));
        Ok(())
    }
}

/// The metrics of a checked step.
fn step_metrics<B: Backend, T: Float>(
    step: &PendingStep<B, T>,
    values: &StepValues,
) -> StepMetrics {
    StepMetrics {
        step: step.step,
        loss: values.loss,
        dsm: values.dsm,
        tsm: values.tsm,
        lr: step.lr,
        time_s: step.time_s,
        step_time_s: step.step_time_s,
    }
}

/// Opens the metrics file for appending after keeping only its lines of steps up to `step`
/// (a resumed run rewrites the steps after its checkpoint; a fresh run starts it empty).
fn open_metrics(path: &Path, step: u64) -> Result<fs::File, TrainError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, "create the folder", e))?;
    }
    match fs::read_to_string(path) {
        Ok(text) => {
            let mut kept = String::new();
            for line in text.lines() {
                let keep = serde_json::from_str::<StepMetrics>(line).is_ok_and(|m| m.step <= step);
                if keep {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
            if kept.len() != text.len() {
                write_atomic(path, kept.as_bytes())?;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(TrainError::io(path, "read", e)),
    }
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| TrainError::io(path, "open", e))
}

/// Reads a metrics file written by a [`Trainer`], one [`StepMetrics`] per line.
pub fn read_metrics(path: &Path) -> Result<Vec<StepMetrics>, TrainError> {
    let text = fs::read_to_string(path).map_err(|e| TrainError::io(path, "read", e))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| {
                let message = format!("line {}: not a metrics record: {e}", i + 1);
                TrainError::io(
                    path,
                    "parse",
                    std::io::Error::new(std::io::ErrorKind::InvalidData, message),
                )
            })
        })
        .collect()
}
