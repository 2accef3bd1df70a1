//! The paper's bias-free UNet (the architecture of the authors' code, described below): the
//! score network s(y, t) inside the inner-product energy U = 1/2 <y, s(y, t)>.
//!
//! # Architecture
//!
//! Every layer but the last is a *unit*: convolution (no bias) -> [`Normalization`] ->
//! activation. With `S` scales, base width `w` and `L` layers per block (`L >= 2`):
//!
//! - encoder block `s` (`0 <= s < S`): for `s = 0` a conv3x3 `C -> w`, for `s > 0` a conv2x2
//!   stride 2 to `w 2^s` channels; then `L - 1` conv3x3 layers at `w 2^s` channels. Its output is
//!   the skip connection of scale `s`;
//! - middle block: a conv2x2 stride 2 to `w 2^S`, `L - 2` conv3x3 layers, a ConvTranspose2x2
//!   stride 2 back to `w 2^(S-1)`;
//! - decoder block `s` (from `S - 1` down to 0) on the concatenation `[x, skip_s]` (channels):
//!   `L - 1` conv3x3 layers at `w 2^s` channels, then for `s > 0` a ConvTranspose2x2 stride 2 to
//!   `w 2^(s-1)`, for `s = 0` a conv3x3 to `C` with no normalization and no activation.
//!
//! 3x3 convolutions have zero padding 1. The noise variance t enters only through the
//! normalizations' time gains `1 + e_c(t)`, computed from one shared [`TimeEmbedding`].
//! Images must have a height and width divisible by `2^S`; parameter counts do not depend on
//! the image size.
//!
//! # Parameter names: the authors' state_dict
//!
//! Names are exactly the keys of the `state_dict` of the authors' `UNet`
//! (FlorentinGuth/DualScoreMatching, networks/unet.py), so their released weights map 1:1:
//!
//! | name | tensor |
//! |---|---|
//! | `noise_var_embedding.time_embed.0.weight` / `.bias` | `Linear(2F, W)` |
//! | `noise_var_embedding.time_embed.2.weight` / `.bias` | `Linear(W, W)` |
//! | `encoder.<s>.<3l>.weight` | the convolution of layer `l` of encoder block `s` |
//! | `encoder.<s>.<3l+1>.weight` | its normalization gain `g_c` |
//! | `encoder.<s>.<3l+1>.conditioning_embedding.weight` / `.bias` | its `Linear(W, C)` for `e_c(t)` |
//! | `middle_block.<3l>...`, `decoder.<s>.<3l>...` | the same pattern |
//!
//! (index `3l + 2` is the parameter-free activation). The authors' checkpoints store the
//! `state_dict` of their `Reparameterization` wrapper, so every key there carries the prefix
//! `network.`: the same prefix as in [`crate::energy::InnerProduct`], which therefore loads a
//! checkpoint's `state_dict` unchanged (or strip `network.` to load a bare [`UNet`], see
//! [`super::load_parameters`]). Their released models use `group_size = 1` (the only
//! normalization implemented here) and the default embedding range `t_min = 1`, `t_max = 100`.
//!
//! # Homogeneity
//!
//! With [`Activation::Relu`] and `norm_eps = 0`, every layer is positively homogeneous of
//! degree 1 in its image input (convolutions are linear and bias-free, the normalization keeps
//! the global scale, ReLU commutes with positive scaling, t enters only through gains), so
//! `s(a y, t) = a s(y, t)` for every `a > 0`, and the inner-product energy satisfies
//! `<grad_y U, y> = 2 U`. The tests of core/tests/homogeneity.rs check both to rounding (1e-12
//! relative) for `a` from e^-7 to e^7 (`relu_unet_with_zero_eps_is_homogeneous`,
//! `relu_inner_product_energy_satisfies_euler`).
//!
//! With the default `eps = 1e-5`, a normalization whose input is scaled by `a` computes channel
//! `c`'s factor as `sqrt(V / (v_c + eps / a^2) + eps)` (`V` the mean and `v_c` the channel's
//! variance at `a = 1`): the ratio inside moves by a relative
//! `eps |1 - 1/a^2| / (v_c + eps / a^2)` at most, the factor by half that. Summing the worst
//! channel of every normalization layer gives the first-order bound
//!
//! `||s(a y) - a s(y)|| / ||a s(y)|| <~ sum_layers max_c eps |1 - 1/a^2| / (2 (v_c + eps min(1, 1/a^2)))`,
//!
//! meaningful when every `v_c >> eps`. `relu_unet_with_default_eps_is_within_the_first_order_bound`
//! checks the deviation against 4x this sum whenever the sum is below 0.1. The bound is loose:
//! the next normalization re-equalizes the channel variances and so undoes most of a
//! per-channel change. Beware: the normalization keeps the *global* scale, so nothing restores
//! it, and at PyTorch's initialization each conv + ReLU shrinks the activations' variance. For
//! unit-variance inputs the small preset's deepest normalizations see channel variances below
//! eps, where the bound is vacuous; inputs of a large standard deviation keep every activation
//! far above eps. A trained network's scales differ.
//!
//! With [`Activation::Gelu`] (the paper's choice) the network is not homogeneous:
//! `GELU(a x) - a GELU(x) = a x (Phi(a x) - Phi(x))`, of the order of `x^2 log a` for small
//! pre-activations and vanishing for large ones (so large inputs bring GELU close to ReLU).
//! `deviation_from_homogeneity_of_the_small_preset` prints the small preset's deviations and
//! the energy's Euler defect `|<grad_y U, y> - 2U| / (||y|| ||grad_y U||)` for both activations
//! with and without eps, and checks that GELU's deviation is clearly above rounding yet below
//! one; docs/RESULTS.md ("Homogeneity of the small UNet") lists them with the command. GELU and
//! eps are what keep the authors' model out of the exact homogeneity trap of docs/METHOD.md
//! section 7; the ReLU network needs the options of [`crate::energy::InnerProductConfig`]
//! instead.

use super::embedding::{TimeEmbedding, TimeInput};
use super::normalization::{DEFAULT_NORM_EPS, Normalization};
use super::{
    Activation, Conv2d, ConvTranspose2d, Init, Module, ScoreNetwork, visit_scoped, visit_scoped_mut,
};
use crate::backend::{Backend, Conv2dParams, ConvTranspose2dParams};
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The configuration of a [`UNet`]: everything that fixes its architecture.
///
/// Missing fields in a serialized configuration take the values of [`UNetConfig::paper`].
///
/// ```
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::nn::{Activation, Init, Module, ScoreNetwork, UNet, UNetConfig};
/// use dualscore_core::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// assert_eq!(UNetConfig::small().num_parameters(), 203_808);
/// assert_eq!(UNetConfig::paper().num_parameters(), 8_647_552);
///
/// // A tiny ReLU variant, exactly homogeneous with eps = 0.
/// let config = UNetConfig {
///     image_size: 8,
///     base_width: 4,
///     embedding_width: 8,
///     embedding_frequencies: 4,
///     activation: Activation::Relu,
///     norm_eps: 0.0,
///     ..UNetConfig::small()
/// };
/// let net = UNet::<_, f64>::new(&Reference, &mut Init::new(7), &config)?;
/// assert_eq!(net.num_parameters(), config.num_parameters());
/// let y = Tensor::from_f64(&Reference, &(0..64).map(|i| (i as f64 * 0.37).sin()).collect::<Vec<_>>(), [1, 1, 8, 8])?;
/// let t = Tensor::from_f64(&Reference, &[0.1], [1])?;
/// let s = net.forward(&y, &t)?;
/// let s2 = net.forward(&y.scale(3.0)?, &t)?;
/// for (a, b) in s.to_f64_vec()?.iter().zip(s2.to_f64_vec()?) {
///     assert!((3.0 * a - b).abs() <= 1e-12 * (1.0 + b.abs()));
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UNetConfig {
    /// Channels of the images, `C` (1 for grayscale).
    pub image_channels: usize,
    /// The nominal image height and width (a multiple of `2^scales`). The network is fully
    /// convolutional: it accepts any size divisible by `2^scales`, and its parameter count does
    /// not depend on the size; this field records what the model is meant for.
    pub image_size: usize,
    /// Number of scales `S` (>= 1): encoder blocks, then the middle block at `S` downsamplings.
    pub scales: usize,
    /// Channels `w` at scale 0; scale `s` has `w 2^s`.
    pub base_width: usize,
    /// Convolution layers per encoder, middle and decoder block (>= 2).
    pub layers_per_block: usize,
    /// The nonlinearity after every normalization.
    pub activation: Activation,
    /// The normalization's eps (1e-5 in the paper; 0 makes a ReLU network exactly homogeneous).
    pub norm_eps: f64,
    /// Frequencies `F` of the sinusoidal time embedding (32).
    pub embedding_frequencies: usize,
    /// Width `W` of the time embedding (256).
    pub embedding_width: usize,
    /// The time embedding's frequencies run from `1 / embedding_t_min` (1)...
    pub embedding_t_min: f64,
    /// ... down to `1 / embedding_t_max` (100).
    pub embedding_t_max: f64,
    /// What the embedding's sinusoids are functions of: the variance t (the paper's) or
    /// log(t + t0).
    pub time_input: TimeInput,
}

impl Default for UNetConfig {
    fn default() -> Self {
        UNetConfig::paper()
    }
}

impl UNetConfig {
    /// The paper's network for 64x64 grayscale images: 3 scales, base width 64, 3 layers per
    /// block, GELU; 8,647,552 parameters.
    pub fn paper() -> Self {
        UNetConfig {
            image_channels: 1,
            image_size: 64,
            scales: 3,
            base_width: 64,
            layers_per_block: 3,
            activation: Activation::Gelu,
            norm_eps: DEFAULT_NORM_EPS,
            embedding_frequencies: 32,
            embedding_width: 256,
            embedding_t_min: 1.0,
            embedding_t_max: 100.0,
            time_input: TimeInput::Variance,
        }
    }

    /// A mid-size network for 32x32 grayscale images: 3 scales, base width 32, 2 layers per
    /// block, GELU; 1,304,896 parameters.
    pub fn mid() -> Self {
        UNetConfig {
            image_size: 32,
            scales: 3,
            base_width: 32,
            layers_per_block: 2,
            ..UNetConfig::paper()
        }
    }

    /// A small network for 16x16 grayscale images: 2 scales, base width 16, 2 layers per block,
    /// GELU; 203,808 parameters.
    pub fn small() -> Self {
        UNetConfig {
            image_size: 16,
            scales: 2,
            base_width: 16,
            layers_per_block: 2,
            ..UNetConfig::paper()
        }
    }

    /// This configuration with another activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Checks that the configuration describes a network.
    pub fn validate(&self) -> Result<()> {
        const OP: &str = "UNetConfig";
        let positive = [
            ("image_channels", self.image_channels),
            ("scales", self.scales),
            ("base_width", self.base_width),
            ("embedding_frequencies", self.embedding_frequencies),
            ("embedding_width", self.embedding_width),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::invalid(OP, format!("{name} must be positive")));
            }
        }
        if self.scales > 16 {
            return Err(Error::invalid(OP, "at most 16 scales"));
        }
        if self.layers_per_block < 2 {
            return Err(Error::invalid(
                OP,
                "layers_per_block must be at least 2 (the middle block downsamples and upsamples)",
            ));
        }
        if self
            .checked_num_parameters()
            .is_none_or(|n| n > super::MAX_PARAMETERS)
        {
            return Err(Error::invalid(
                OP,
                format!(
                    "the network would have more than {} parameters (base_width {}, \
                     layers_per_block {}, embedding {} x {})",
                    super::MAX_PARAMETERS,
                    self.base_width,
                    self.layers_per_block,
                    self.embedding_frequencies,
                    self.embedding_width
                ),
            ));
        }
        if self.image_size == 0 || self.image_size % self.size_multiple() != 0 {
            return Err(Error::invalid(
                OP,
                format!(
                    "image_size {} must be a positive multiple of 2^scales = {}",
                    self.image_size,
                    self.size_multiple()
                ),
            ));
        }
        if !(self.norm_eps >= 0.0 && self.norm_eps.is_finite()) {
            return Err(Error::invalid(OP, "norm_eps must be finite and >= 0"));
        }
        if !(self.embedding_t_min > 0.0
            && self.embedding_t_max > 0.0
            && self.embedding_t_min.is_finite()
            && self.embedding_t_max.is_finite())
        {
            return Err(Error::invalid(
                OP,
                "embedding_t_min and embedding_t_max must be positive and finite",
            ));
        }
        self.time_input.validate()
    }

    /// Image heights and widths must be multiples of this, `2^scales`.
    pub fn size_multiple(&self) -> usize {
        1usize << self.scales.min(usize::BITS as usize - 1)
    }

    /// Channels at scale `s`: `base_width 2^s`.
    pub fn width_at(&self, scale: usize) -> usize {
        self.base_width << scale
    }

    /// The number of scalar parameters of the network, computed from the architecture
    /// (`usize::MAX` for one too large to count, which [`UNetConfig::validate`] refuses).
    pub fn num_parameters(&self) -> usize {
        self.checked_num_parameters().unwrap_or(usize::MAX)
    }

    /// The number of parameters, or `None` when the sizes are out of the range this type can
    /// count (more than 16 scales, no scale, widths above 2^32, more than 1,024 layers per
    /// block) or the count overflows.
    fn checked_num_parameters(&self) -> Option<usize> {
        let widths = [
            self.image_channels,
            self.base_width,
            self.embedding_frequencies,
            self.embedding_width,
        ];
        if !(1..=16).contains(&self.scales)
            || self.layers_per_block > MAX_LAYERS_PER_BLOCK
            || widths.iter().any(|&n| n > MAX_WIDTH)
        {
            return None;
        }
        let (f, w) = (self.embedding_frequencies, self.embedding_width);
        // The time embedding's two layers: (2 f w + w) + (w w + w).
        let first = f.checked_mul(w)?.checked_mul(2)?.checked_add(w)?;
        let mut total = first.checked_add(w.checked_mul(w)?.checked_add(w)?)?;
        for spec in self.layer_specs() {
            let kernel = spec.kind.kernel() * spec.kind.kernel();
            let conv = spec.inputs.checked_mul(spec.outputs)?.checked_mul(kernel)?;
            total = total.checked_add(conv)?;
            if spec.normalized {
                let norm = (w + 2).checked_mul(spec.outputs)?;
                total = total.checked_add(norm)?;
            }
        }
        Some(total)
    }

    /// Every layer, block by block in the order of the parameter names (encoder, middle,
    /// decoder 0, 1, ...).
    fn layer_specs(&self) -> Vec<LayerSpec> {
        let mut specs = Vec::new();
        for block in self.blocks() {
            specs.extend(self.block_specs(block));
        }
        specs
    }

    fn blocks(&self) -> Vec<BlockKind> {
        let mut blocks: Vec<BlockKind> = (0..self.scales).map(BlockKind::Encoder).collect();
        blocks.push(BlockKind::Middle);
        blocks.extend((0..self.scales).map(BlockKind::Decoder));
        blocks
    }

    /// The layers of one block, following the authors' `build_block`.
    fn block_specs(&self, block: BlockKind) -> Vec<LayerSpec> {
        let (scale, down, up, mut channels) = match block {
            BlockKind::Encoder(s) => (
                s,
                true,
                false,
                if s == 0 {
                    self.image_channels
                } else {
                    self.width_at(s - 1)
                },
            ),
            BlockKind::Middle => (self.scales, true, true, self.width_at(self.scales - 1)),
            BlockKind::Decoder(s) => (s, false, true, 2 * self.width_at(s)),
        };
        let n = self.layers_per_block;
        let mut specs = Vec::with_capacity(n);
        for layer in 0..n {
            let last = layer + 1 == n;
            let (kind, outputs, normalized) = if up && scale == 0 && last {
                (ConvKind::Conv3, self.image_channels, false)
            } else if down && scale > 0 && layer == 0 {
                (ConvKind::Down2, self.width_at(scale), true)
            } else if up && scale > 0 && last {
                (ConvKind::Up2, self.width_at(scale - 1), true)
            } else {
                (ConvKind::Conv3, self.width_at(scale), true)
            };
            specs.push(LayerSpec {
                kind,
                inputs: channels,
                outputs,
                normalized,
            });
            channels = outputs;
        }
        specs
    }
}

/// The largest channel count or embedding size [`UNetConfig::num_parameters`] counts.
const MAX_WIDTH: usize = 1 << 32;

/// The most layers per block [`UNetConfig::num_parameters`] counts.
const MAX_LAYERS_PER_BLOCK: usize = 1024;

#[derive(Clone, Copy, Debug)]
enum BlockKind {
    Encoder(usize),
    Middle,
    Decoder(usize),
}

#[derive(Clone, Copy, Debug)]
enum ConvKind {
    /// 3x3, stride 1, zero padding 1.
    Conv3,
    /// 2x2, stride 2.
    Down2,
    /// Transposed 2x2, stride 2.
    Up2,
}

impl ConvKind {
    fn kernel(self) -> usize {
        match self {
            ConvKind::Conv3 => 3,
            ConvKind::Down2 | ConvKind::Up2 => 2,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct LayerSpec {
    kind: ConvKind,
    inputs: usize,
    outputs: usize,
    normalized: bool,
}

/// The convolution of a UNet layer.
#[derive(Clone, Debug)]
pub enum UNetConv<B: Backend, T: Float> {
    /// A convolution (3x3 with padding 1, or 2x2 with stride 2).
    Conv(Conv2d<B, T>),
    /// A transposed 2x2 convolution with stride 2 (upsampling).
    Transpose(ConvTranspose2d<B, T>),
}

impl<B: Backend, T: Float> UNetConv<B, T> {
    /// The convolution that `spec` names, its weight drawn from `init`.
    fn new(backend: &B, init: &mut Init, spec: &LayerSpec) -> Result<Self> {
        let (inputs, outputs, kernel) = (spec.inputs, spec.outputs, spec.kind.kernel());
        let conv = |init: &mut Init, params| {
            Conv2d::new(backend, init, inputs, outputs, kernel, params).map(UNetConv::Conv)
        };
        match spec.kind {
            ConvKind::Conv3 => conv(init, Conv2dParams::new(1, 1, 1)),
            ConvKind::Down2 => conv(init, Conv2dParams::new(2, 0, 1)),
            ConvKind::Up2 => {
                let params = ConvTranspose2dParams::new(2, 0, 0, 1);
                ConvTranspose2d::new(backend, init, inputs, outputs, kernel, params)
                    .map(UNetConv::Transpose)
            }
        }
    }

    /// Applies the convolution to `[N, in, H, W]`.
    pub fn forward(&self, x: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        match self {
            UNetConv::Conv(c) => c.forward(x),
            UNetConv::Transpose(c) => c.forward(x),
        }
    }

    /// The weight tensor.
    pub fn weight(&self) -> &Tensor<B, T> {
        match self {
            UNetConv::Conv(c) => &c.weight,
            UNetConv::Transpose(c) => &c.weight,
        }
    }

    fn weight_mut(&mut self) -> &mut Tensor<B, T> {
        match self {
            UNetConv::Conv(c) => &mut c.weight,
            UNetConv::Transpose(c) => &mut c.weight,
        }
    }
}

/// One layer: convolution, then (except for the network's last layer) normalization and
/// activation.
#[derive(Clone, Debug)]
pub struct UNetLayer<B: Backend, T: Float> {
    /// The convolution (no bias).
    pub conv: UNetConv<B, T>,
    /// The normalization; `None` only for the final conv3x3 to the image channels, which also
    /// has no activation.
    pub norm: Option<Normalization<B, T>>,
}

impl<B: Backend, T: Float> UNetLayer<B, T> {
    /// Applies the layer to `x` with the time embedding `embedding`.
    pub fn forward(
        &self,
        x: &Tensor<B, T>,
        embedding: &Tensor<B, T>,
        activation: Activation,
    ) -> Result<Tensor<B, T>> {
        let h = self.conv.forward(x)?;
        match &self.norm {
            Some(norm) => activation.apply(&norm.forward(&h, embedding)?),
            None => Ok(h),
        }
    }
}

/// A sequence of layers at one scale. Parameter names follow the authors'
/// `ConditionalSequential`: layer `l`'s convolution is `<3l>.weight`, its normalization
/// `<3l+1>.*`.
#[derive(Clone, Debug)]
pub struct UNetBlock<B: Backend, T: Float> {
    /// The layers, in order.
    pub layers: Vec<UNetLayer<B, T>>,
}

impl<B: Backend, T: Float> UNetBlock<B, T> {
    /// Applies the layers in order.
    pub fn forward(
        &self,
        x: &Tensor<B, T>,
        embedding: &Tensor<B, T>,
        activation: Activation,
    ) -> Result<Tensor<B, T>> {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward(&h, embedding, activation)?;
        }
        Ok(h)
    }
}

impl<B: Backend, T: Float> Module<B, T> for UNetBlock<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        for (l, layer) in self.layers.iter().enumerate() {
            f(&format!("{}.weight", 3 * l), layer.conv.weight());
            if let Some(norm) = &layer.norm {
                visit_scoped(&(3 * l + 1).to_string(), norm, f);
            }
        }
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        for (l, layer) in self.layers.iter_mut().enumerate() {
            f(&format!("{}.weight", 3 * l), layer.conv.weight_mut());
            if let Some(norm) = &mut layer.norm {
                visit_scoped_mut(&(3 * l + 1).to_string(), norm, f);
            }
        }
    }
}

/// The paper's UNet, a [`ScoreNetwork`]: `forward(y [N, C, H, W], t [N]) -> [N, C, H, W]`.
/// See the [module documentation](self) for the architecture, the parameter names and the
/// homogeneity properties.
#[derive(Clone, Debug)]
pub struct UNet<B: Backend, T: Float> {
    /// The configuration it was built from.
    pub config: UNetConfig,
    /// The time embedding shared by every normalization.
    pub noise_var_embedding: TimeEmbedding<B, T>,
    /// Encoder blocks, scale 0 first.
    pub encoder: Vec<UNetBlock<B, T>>,
    /// The block at the coarsest scale.
    pub middle_block: UNetBlock<B, T>,
    /// Decoder blocks, indexed by scale (applied from the coarsest, `decoder[S - 1]`, to
    /// `decoder[0]`).
    pub decoder: Vec<UNetBlock<B, T>>,
}

impl<B: Backend, T: Float> UNet<B, T> {
    /// A network with PyTorch's default initialization (convolution and linear weights and
    /// biases uniform in `[-1/sqrt(fan_in), 1/sqrt(fan_in)]`, gains 1), drawn from `init` in
    /// the order of the parameter names, so a seed fixes every weight on every backend.
    pub fn new(backend: &B, init: &mut Init, config: &UNetConfig) -> Result<Self> {
        config.validate()?;
        let noise_var_embedding = TimeEmbedding::new(
            backend,
            init,
            config.embedding_frequencies,
            config.embedding_width,
            config.embedding_t_min,
            config.embedding_t_max,
        )?
        .with_input(config.time_input)?;
        let mut blocks = Vec::new();
        for kind in config.blocks() {
            let mut layers = Vec::new();
            for spec in config.block_specs(kind) {
                let conv = UNetConv::new(backend, init, &spec)?;
                let norm = if spec.normalized {
                    Some(Normalization::new(
                        backend,
                        init,
                        spec.outputs,
                        config.embedding_width,
                        config.norm_eps,
                    )?)
                } else {
                    None
                };
                layers.push(UNetLayer { conv, norm });
            }
            blocks.push(UNetBlock { layers });
        }
        let decoder = blocks.split_off(config.scales + 1);
        let middle_block = blocks.pop().expect("the middle block");
        Ok(UNet {
            config: config.clone(),
            noise_var_embedding,
            encoder: blocks,
            middle_block,
            decoder,
        })
    }

    /// Checks that `y` is `[N, C, H, W]` with the configured channels and `H`, `W` multiples of
    /// `2^scales`, and `t` is `[N]`.
    fn check_inputs(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<()> {
        let dims = y.dims();
        let m = self.config.size_multiple();
        if dims.len() != 4
            || dims[1] != self.config.image_channels
            || dims[2] % m != 0
            || dims[3] % m != 0
            || dims[2] == 0
            || dims[3] == 0
        {
            return Err(Error::shapes(
                "UNet",
                dims,
                &[self.config.image_channels, m, m],
                format!(
                    "y must be [N, {}, H, W] with H and W positive multiples of {m}",
                    self.config.image_channels
                ),
            ));
        }
        if t.dims() != [dims[0]] {
            return Err(Error::shapes(
                "UNet",
                dims,
                t.dims(),
                "t must hold one noise variance per image",
            ));
        }
        Ok(())
    }
}

impl<B: Backend, T: Float> Module<B, T> for UNet<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        visit_scoped("noise_var_embedding", &self.noise_var_embedding, f);
        for (s, block) in self.encoder.iter().enumerate() {
            visit_scoped(&format!("encoder.{s}"), block, f);
        }
        visit_scoped("middle_block", &self.middle_block, f);
        for (s, block) in self.decoder.iter().enumerate() {
            visit_scoped(&format!("decoder.{s}"), block, f);
        }
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        visit_scoped_mut("noise_var_embedding", &mut self.noise_var_embedding, f);
        for (s, block) in self.encoder.iter_mut().enumerate() {
            visit_scoped_mut(&format!("encoder.{s}"), block, f);
        }
        visit_scoped_mut("middle_block", &mut self.middle_block, f);
        for (s, block) in self.decoder.iter_mut().enumerate() {
            visit_scoped_mut(&format!("decoder.{s}"), block, f);
        }
    }
}

impl<B: Backend, T: Float> ScoreNetwork<B, T> for UNet<B, T> {
    fn forward(&self, y: &Tensor<B, T>, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        self.check_inputs(y, t)?;
        let activation = self.config.activation;
        let embedding = self.noise_var_embedding.forward(t)?;
        let mut x = y.clone();
        let mut skips = Vec::with_capacity(self.encoder.len());
        for block in &self.encoder {
            x = block.forward(&x, &embedding, activation)?;
            skips.push(x.clone());
        }
        x = self.middle_block.forward(&x, &embedding, activation)?;
        for (block, skip) in self.decoder.iter().zip(&skips).rev() {
            x = block.forward(&Tensor::concat(&[&x, skip], 1)?, &embedding, activation)?;
        }
        Ok(x)
    }
}
