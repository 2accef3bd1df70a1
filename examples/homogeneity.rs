//! How far the UNet is from being homogeneous, and what that does to its energy (example 08
//! and the test `examples_claims`).
//!
//! For each of four variants of one UNet (ReLU or GELU, normalization eps 0 or 1e-5), from the
//! same seed, on the same images y: the relative deviation `||s(a y, t) - a s(y, t)|| /
//! ||a s(y, t)||` for scales a from 1e-3 to 1e3, and the Euler defect of the energy
//! `U = 1/2 <y, s(y, t)>`, `|<grad_y U, y> - 2 U| / (||y|| ||grad_y U||)`, zero exactly when U is
//! homogeneous of degree 2.

use dualscore_core::autograd::{Graph, no_grad};
use dualscore_core::energy::{Energy, InnerProduct};
use dualscore_core::nn::{Activation, Init, ScoreNetwork, UNet, UNetConfig};
use dualscore_core::{Result, Tensor};
use dualscore_cpu::Cpu;
use serde::Serialize;

type T64 = Tensor<Cpu, f64>;

/// One variant of the network.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Variant {
    /// The nonlinearity.
    pub activation: Activation,
    /// The normalization's eps.
    pub eps: f64,
}

/// The four variants: ReLU and GELU, each with eps = 0 and the default 1e-5.
pub const VARIANTS: [Variant; 4] = [
    Variant {
        activation: Activation::Relu,
        eps: 0.0,
    },
    Variant {
        activation: Activation::Relu,
        eps: 1e-5,
    },
    Variant {
        activation: Activation::Gelu,
        eps: 0.0,
    },
    Variant {
        activation: Activation::Gelu,
        eps: 1e-5,
    },
];

/// What was measured for one variant.
#[derive(Clone, Debug, Serialize)]
pub struct VariantResult {
    /// The variant.
    pub variant: Variant,
    /// `(a, ||s(a y) - a s(y)|| / ||a s(y)||)` for each scale a.
    pub deviations: Vec<(f64, f64)>,
    /// The largest Euler defect over the images.
    pub euler_defect: f64,
}

/// The scales a measured: three decades each way, and the factors 1/2 and 2.
pub const SCALES: [f64; 10] = [1e-3, 1e-2, 0.1, 0.5, 0.9, 1.1, 2.0, 10.0, 100.0, 1e3];

/// Measures every variant of `config` (its activation and eps replaced) on the images `y`
/// (`[n, C, H, W]`, f64) at noise variance `t`, at the given scales.
pub fn measure(
    backend: &Cpu,
    config: &UNetConfig,
    y: &T64,
    t: f64,
    scales: &[f64],
    seed: u64,
) -> Result<Vec<VariantResult>> {
    let n = y.dims()[0];
    let t = Tensor::full(backend, [n], t)?;
    VARIANTS
        .iter()
        .map(|&variant| {
            let config = UNetConfig {
                activation: variant.activation,
                norm_eps: variant.eps,
                ..config.clone()
            };
            let network = UNet::<Cpu, f64>::new(backend, &mut Init::new(seed), &config)?;
            let s = no_grad(|| network.forward(y, &t))?;
            let deviations = scales
                .iter()
                .map(|&a| {
                    let scaled = no_grad(|| network.forward(&y.scale(a)?, &t))?;
                    Ok((a, relative_deviation(&scaled, &s, a)?))
                })
                .collect::<Result<Vec<_>>>()?;
            let energy = InnerProduct::new(network);
            Ok(VariantResult {
                variant,
                deviations,
                euler_defect: euler_defect(&energy, y, &t)?,
            })
        })
        .collect()
}

/// `||got - a want|| / ||a want||`.
fn relative_deviation(got: &T64, want: &T64, a: f64) -> Result<f64> {
    let expected = want.scale(a)?;
    let diff = got.sub(&expected)?.square()?.sum_all()?.to_scalar()?;
    let norm = expected.square()?.sum_all()?.to_scalar()?;
    Ok((diff / norm).sqrt())
}

/// The largest `|<grad_y U, y> - 2 U| / (||y|| ||grad_y U||)` over the images.
fn euler_defect<E: Energy<Cpu, f64>>(energy: &E, y: &T64, t: &T64) -> Result<f64> {
    let n = y.dims()[0];
    let d = y.numel() / n;
    let g = energy.energy_gradients(y, t, Graph::Drop)?;
    let (u, grad, y) = (
        g.energy.to_f64_vec()?,
        g.grad_y.to_f64_vec()?,
        y.to_f64_vec()?,
    );
    Ok((0..n)
        .map(|i| {
            let (gi, yi) = (&grad[i * d..(i + 1) * d], &y[i * d..(i + 1) * d]);
            let dot: f64 = gi.iter().zip(yi).map(|(a, b)| a * b).sum();
            let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
            (dot - 2.0 * u[i]).abs() / (norm(yi) * norm(gi))
        })
        .fold(0.0, f64::max))
}

/// The NLL in bits/dim of 8-bit images that the authors' normalization gives any model whose
/// energy is exactly homogeneous of degree 2 and whose scores are right (docs/METHOD.md section
/// 7): `8 + 1/2 log2(2 pi e t_max)`, whatever the data.
pub fn homogeneous_trap_nll_bits(t_max: f64) -> f64 {
    8.0 + 0.5 * (2.0 * std::f64::consts::PI * std::f64::consts::E * t_max).log2()
}
