//! The inner-product energy U(y, t) = 1/2 <y, s(y, t)> of a score network (docs/METHOD.md section
//! 2), with the two optional cures of section 7: centering and a free time offset b(t).

use super::{BaseBasis, Energy, GaussianBase};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::nn::{
    Activation, Init, Linear, Mlp, Module, ScoreNetwork, visit_scoped, visit_scoped_mut,
};
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The default `t0` of the time offset's input `log(t + t0)`: 1e-9, the smallest noise variance
/// of the paper's training schedule.
pub const DEFAULT_TIME_OFFSET_T0: f64 = 1e-9;

/// The options of an [`InnerProduct`] energy. The default (all `None`) is the paper's energy.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InnerProductConfig {
    /// Centering: a fixed data mean `mu` (not a parameter), so that
    /// `U = 1/2 <y - mu, s(y - mu, t)>`. One value (every pixel), one per channel, or one per
    /// pixel (`C H W` values, row-major).
    pub center: Option<Vec<f64>>,
    /// A free time offset `b(t)` added to `U`.
    pub time_offset: Option<TimeOffsetConfig>,
    /// Scale the network's input and output so that it sees and produces values of unit size
    /// at every t ([`Preconditioning`]).
    pub preconditioning: Option<Preconditioning>,
    /// A fixed Gaussian base `U_G` added to `U`, fitted on images of this shape `[C, H, W]`
    /// ([`GaussianBase`]; its values are buffers of the model, in its checkpoints).
    pub gaussian_base: Option<[usize; 3]>,
    /// How the Gaussian base factors its covariance (full when not given).
    #[serde(skip_serializing_if = "BaseBasis::is_full")]
    pub base_basis: BaseBasis,
}

/// Preconditioning of the network in the manner of Karras et al.'s EDM, kept an energy: with
/// `x = y - mu` and `v` the data's variance per value,
///
/// `U_net(y, t) = sqrt(v / (t + t_floor)) * 1/2 <u, s(u, t)>`, `u = x / sqrt(v + t)`.
///
/// `u` has unit size at every t (the data's scale below `v`, the noise's above), and for a
/// network output of unit size `sqrt(t) grad_y U_net` is of the size `sqrt(v / (v + t))` of
/// EDM's output scaling, so the small-t terms of the loss have gradients of order one. Below
/// `t_floor` the factor stops growing, so `U(x, 0)` stays finite. U remains a scalar energy:
/// `grad_y U` and `dU/dt` are its exact derivatives.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preconditioning {
    /// The data's variance per value, `v` (> 0).
    pub data_variance: f64,
    /// The variance below which the output scale stops growing (> 0).
    pub t_floor: f64,
}

impl Preconditioning {
    fn validate(&self) -> Result<()> {
        let ok = |v: f64| v > 0.0 && v.is_finite();
        if ok(self.data_variance) && ok(self.t_floor) {
            Ok(())
        } else {
            Err(Error::invalid(
                "Preconditioning",
                format!(
                    "data_variance and t_floor must be positive and finite, got {} and {}",
                    self.data_variance, self.t_floor
                ),
            ))
        }
    }
}

impl InnerProductConfig {
    /// The paper's energy: no centering, no time offset.
    pub fn faithful() -> Self {
        InnerProductConfig::default()
    }

    /// Both cures of docs/METHOD.md section 7: centering on `mean` and the default time offset.
    pub fn centered_with_offset(mean: Vec<f64>) -> Self {
        InnerProductConfig {
            center: Some(mean),
            time_offset: Some(TimeOffsetConfig::default()),
            ..InnerProductConfig::default()
        }
    }
}

/// The shape of the time offset `b(t) = d * MLP(log(t + t0))`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeOffsetConfig {
    /// Width of the hidden layers (64).
    pub hidden_width: usize,
    /// Number of hidden layers (2), each `Linear` + activation.
    pub hidden_layers: usize,
    /// The hidden layers' activation (GELU).
    pub activation: Activation,
    /// The input is `log(t + t0)`, defined at `t = 0`. Use `t0 <= t_min` of the training
    /// schedule: the default, 1e-9, is the paper's `t_min`, which maps `t = 0` to `log t_min`,
    /// 0.69 below the smallest trained input `log(2 t_min)`, so evaluating at `t = 0` (the NLL)
    /// extrapolates the trained function only slightly. A much smaller `t0` would put `t = 0`
    /// far outside the trained range.
    pub t0: f64,
}

impl Default for TimeOffsetConfig {
    fn default() -> Self {
        TimeOffsetConfig {
            hidden_width: 64,
            hidden_layers: 2,
            activation: Activation::Gelu,
            t0: DEFAULT_TIME_OFFSET_T0,
        }
    }
}

/// The free time offset `b(t) = d * MLP(log(t + t0))` (`d` the number of values per sample):
/// a small network of t alone, never of y.
///
/// The MLP is `Linear(1, h)`, activation, (`Linear(h, h)`, activation) x (layers - 1),
/// `Linear(h, 1)` without bias: a constant in U is invisible to score matching (the loss sees
/// only derivatives of U) and is fixed by the normalization constant instead. Parameter names
/// are the indices of a PyTorch `nn.Sequential` of those modules (`0.weight`, `0.bias`,
/// `2.weight`, ...). The output layer starts at zero, so a new model's energy equals the
/// faithful one; the factor `d` lets `b` reach the size of a log-density (order `d` nats)
/// with weights of order 1.
#[derive(Clone, Debug)]
pub struct TimeOffset<B: Backend, T: Float> {
    /// The MLP of log(t + t0); its output layer has no bias and starts at zero.
    pub mlp: Mlp<B, T>,
    /// The input is `log(t + t0)`.
    pub t0: f64,
}

impl<B: Backend, T: Float> TimeOffset<B, T> {
    /// A new offset: PyTorch's default initialization, the output layer zero.
    pub fn new(backend: &B, init: &mut Init, config: &TimeOffsetConfig) -> Result<Self> {
        if config.hidden_layers == 0 || config.hidden_width == 0 {
            return Err(Error::invalid(
                "TimeOffset",
                "hidden_layers and hidden_width must be positive",
            ));
        }
        if !(config.t0 > 0.0 && config.t0.is_finite()) {
            return Err(Error::invalid(
                "TimeOffset",
                format!("t0 must be positive and finite, not {}", config.t0),
            ));
        }
        let h = config.hidden_width;
        let mut mlp = Mlp::new(
            backend,
            init,
            1,
            h,
            config.hidden_layers,
            1,
            config.activation,
        )?;
        if let Some(last) = mlp.layers.last_mut() {
            *last = Linear {
                weight: Tensor::zeros(backend, [1, h])?,
                bias: None,
            };
        }
        Ok(TimeOffset { mlp, t0: config.t0 })
    }

    /// `b(t)` per sample (`[N]`) for samples of `d` values each.
    pub fn forward(&self, t: &Tensor<B, T>, d: usize) -> Result<Tensor<B, T>> {
        let n = t.numel();
        let input = t.add_scalar(self.t0)?.log()?.reshape([n, 1])?;
        self.mlp.forward(&input)?.reshape([n])?.scale(d as f64)
    }
}

impl<B: Backend, T: Float> Module<B, T> for TimeOffset<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        self.mlp.visit(f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        self.mlp.visit_mut(f);
    }
}

/// The energy `U(y, t) = 1/2 <y - mu, s(y - mu, t)> + b(t)` of a score network `s`, summed over
/// every value of a sample (docs/METHOD.md sections 2 and 7), optionally preconditioned
/// ([`Preconditioning`]) and on top of a fixed Gaussian base ([`GaussianBase`]):
/// `U = U_net + b(t) + U_G(y, t)`.
///
/// Faithful to the paper by default (`mu = 0`, `b = 0`): `U = 1/2 <y, s(y, t)>`, so
/// `grad_y U = 1/2 s + 1/2 J_s^T y`, equal to `s` when `s` is degree-1 homogeneous and
/// conservative, and `U(0, t) = 0`. With a homogeneous `s` (ReLU, eps = 0) `U` is degree-2
/// homogeneous, `<grad_y U, y> = 2 U`, which pins the normalized NLL to a data-independent
/// value; the options restore what the true energy has: centering on the data mean (a fixed
/// tensor, not a parameter) and a free offset `b(t)` ([`TimeOffset`], acting on t only).
///
/// Parameter names: the network's under `network.` (the authors' `Reparameterization` wrapper
/// uses the same prefix, so their checkpoints' `state_dict` loads unchanged into an
/// `InnerProduct` of a [`UNet`](crate::nn::UNet)), then the offset's under `time_offset.`.
#[derive(Clone, Debug)]
pub struct InnerProduct<B: Backend, T: Float, N> {
    /// The score network `s(y, t)`, output the shape of `y`.
    pub network: N,
    /// The data mean `mu` as given (1, `C` or `C H W` values), if centering.
    pub mean: Option<Tensor<B, T>>,
    /// The time offset `b(t)`, if any.
    pub time_offset: Option<TimeOffset<B, T>>,
    /// The network's input and output scaling, if any.
    pub preconditioning: Option<Preconditioning>,
    /// The fixed Gaussian base `U_G`, if any.
    pub gaussian_base: Option<GaussianBase<B, T>>,
}

impl<B: Backend, T: Float, N: ScoreNetwork<B, T>> InnerProduct<B, T, N> {
    /// The paper's energy `1/2 <y, s(y, t)>`.
    pub fn new(network: N) -> Self {
        InnerProduct {
            network,
            mean: None,
            time_offset: None,
            preconditioning: None,
            gaussian_base: None,
        }
    }

    /// An energy with the options of `config`; the offset's weights are drawn from `init`.
    pub fn with_config(
        backend: &B,
        init: &mut Init,
        network: N,
        config: &InnerProductConfig,
    ) -> Result<Self> {
        let mean = match &config.center {
            Some(values) if values.is_empty() => {
                return Err(Error::invalid(
                    "InnerProduct",
                    "the centering mean needs at least one value",
                ));
            }
            Some(values) => Some(Tensor::from_f64(backend, values, [values.len()])?),
            None => None,
        };
        let time_offset = match &config.time_offset {
            Some(c) => Some(TimeOffset::new(backend, init, c)?),
            None => None,
        };
        if let Some(p) = &config.preconditioning {
            p.validate()?;
        }
        let gaussian_base = match config.gaussian_base {
            Some(shape) => Some(GaussianBase::placeholder(
                backend,
                shape,
                config.base_basis,
            )?),
            None => None,
        };
        Ok(InnerProduct {
            network,
            mean,
            time_offset,
            preconditioning: config.preconditioning,
            gaussian_base,
        })
    }

    /// `y - mu`, with `mu` broadcast as one value, one per channel (axis 1) or one per sample
    /// value.
    fn centered(&self, y: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        let Some(mean) = &self.mean else {
            return Ok(y.clone());
        };
        let dims = y.dims();
        let rank = dims.len();
        let per_sample: usize = dims.iter().skip(1).product();
        let len = mean.numel();
        let shape = if len == 1 {
            vec![1; rank]
        } else if rank >= 2 && len == dims[1] {
            let mut shape = vec![1; rank];
            shape[1] = len;
            shape
        } else if rank >= 2 && len == per_sample {
            std::iter::once(1)
                .chain(dims[1..].iter().copied())
                .collect()
        } else {
            return Err(Error::shapes(
                "InnerProduct",
                dims,
                mean.dims(),
                "the mean must have 1 value, one per channel or one per value of a sample",
            ));
        };
        y.sub(&mean.reshape(shape)?)
    }
}

impl<B: Backend, T: Float, N: ScoreNetwork<B, T>> Energy<B, T> for InnerProduct<B, T, N> {
    fn energy(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        if y.rank() < 1 {
            return Err(Error::invalid("InnerProduct", "y needs a batch axis"));
        }
        let x = self.centered(y)?;
        let axes: Vec<usize> = (1..x.rank()).collect();
        let mut u = match &self.preconditioning {
            None => {
                let s = self.network.forward(&x, t)?;
                x.mul(&s)?.sum(&axes, false)?.scale(0.5)?
            }
            Some(p) => {
                let mut per_sample = vec![1; x.rank()];
                per_sample[0] = x.dims()[0];
                let input_scale = t.add_scalar(p.data_variance)?.sqrt()?.recip()?;
                let input = x.mul(&input_scale.reshape(per_sample)?)?;
                let s = self.network.forward(&input, t)?;
                let output_scale = t
                    .add_scalar(p.t_floor)?
                    .recip()?
                    .scale(p.data_variance)?
                    .sqrt()?;
                input
                    .mul(&s)?
                    .sum(&axes, false)?
                    .mul(&output_scale)?
                    .scale(0.5)?
            }
        };
        if let Some(b) = &self.time_offset {
            let d = x.numel() / x.dims()[0].max(1);
            u = u.add(&b.forward(t, d)?)?;
        }
        if let Some(base) = &self.gaussian_base {
            u = u.add(&base.energy(y, t)?)?;
        }
        Ok(u)
    }
}

crate::energy_score_model!(
    impl<B: Backend, T: Float, N: ScoreNetwork<B, T>> ScoreModel<B, T> for InnerProduct<B, T, N>
);

impl<B: Backend, T: Float, N: Module<B, T>> Module<B, T> for InnerProduct<B, T, N> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        visit_scoped("network", &self.network, f);
        if let Some(b) = &self.time_offset {
            visit_scoped("time_offset", b, f);
        }
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        visit_scoped_mut("network", &mut self.network, f);
        if let Some(b) = &mut self.time_offset {
            visit_scoped_mut("time_offset", b, f);
        }
    }

    fn visit_buffers(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        self.network
            .visit_buffers(&mut |name, t| f(&format!("network.{name}"), t));
        if let Some(base) = &self.gaussian_base {
            base.visit_buffers(&mut |name, t| f(&format!("gaussian_base.{name}"), t));
        }
    }

    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        self.network
            .visit_buffers_mut(&mut |name, t| f(&format!("network.{name}"), t));
        if let Some(base) = &mut self.gaussian_base {
            base.visit_buffers_mut(&mut |name, t| f(&format!("gaussian_base.{name}"), t));
        }
    }
}
