//! Random small networks: conv and linear stacks with ReLU, GELU, SiLU or tanh, and the
//! scale-preserving channel normalization of the UNet. Orders 1 and 2, and Jacobian-vector
//! products by a double reverse pass.

use super::cases::{Domain, tensor};
use super::grad_config;
use super::ops::orders_1_and_2;
use crate::harness::check;
use dualscore_core::autograd::no_grad;
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams};
use dualscore_core::testing::check_jvp;
use dualscore_core::{Backend, Result, Tensor};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::cell::Cell;

type T64<B> = Tensor<B, f64>;

/// Distance from 0 that every ReLU input keeps, at the unperturbed inputs: a finite-difference
/// step moves a pre-activation by about 1e-4 at most here.
const RELU_MARGIN: f64 = 2e-3;

#[derive(Clone, Copy, Debug)]
enum Activation {
    Relu,
    Gelu,
    Silu,
    Tanh,
}

#[derive(Clone, Debug)]
struct Net {
    batch: usize,
    channels: usize,
    hidden: usize,
    size: usize,
    down: bool,
    normalize: bool,
    first: Activation,
    second: Activation,
    features: usize,
    seed: u64,
}

fn net() -> impl Strategy<Value = Net> {
    let activation = prop_oneof![
        Just(Activation::Relu),
        Just(Activation::Gelu),
        Just(Activation::Silu),
        Just(Activation::Tanh),
    ];
    (
        (1usize..=2, 1usize..=2, 1usize..=3, 2usize..=5),
        any::<(bool, bool)>(),
        (activation.clone(), activation),
        1usize..=3,
        any::<u64>(),
    )
        .prop_map(
            |(
                (batch, channels, hidden, size),
                (down, normalize),
                (first, second),
                features,
                seed,
            )| {
                Net {
                    batch,
                    channels,
                    hidden,
                    size,
                    down,
                    normalize,
                    first,
                    second,
                    features,
                    seed,
                }
            },
        )
}

/// The scale-preserving normalization: per sample and channel,
/// (x - mean) * sqrt(mean_c(var) / (var + eps) + eps).
fn normalize<B: Backend>(h: &T64<B>) -> Result<T64<B>> {
    let eps = 1e-5;
    let centered = h.sub(&h.mean(&[2, 3], true)?)?;
    let var = centered.square()?.mean(&[2, 3], true)?;
    let ratio = var.mean(&[1], true)?.div(&var.add_scalar(eps)?)?;
    centered.mul(&ratio.add_scalar(eps)?.sqrt()?)
}

fn activate<B: Backend>(a: Activation, h: &T64<B>, closest: &Cell<f64>) -> Result<T64<B>> {
    match a {
        Activation::Relu => {
            let nearest = h
                .detach()
                .to_f64_vec()?
                .iter()
                .fold(f64::INFINITY, |m, v| m.min(v.abs()));
            closest.set(closest.get().min(nearest));
            h.relu()
        }
        Activation::Gelu => h.gelu(),
        Activation::Silu => h.silu(),
        Activation::Tanh => h.tanh(),
    }
}

impl Net {
    fn inputs<B: Backend>(&self, backend: &B) -> Result<Vec<T64<B>>> {
        let (c, k) = (self.channels, self.hidden);
        let flat = k * self.size * self.size;
        Ok(vec![
            tensor(
                backend,
                &[self.batch, c, self.size, self.size],
                Domain::Any,
                self.seed,
                0,
            )?,
            tensor(backend, &[k, c, 3, 3], Domain::Weight(9 * c), self.seed, 1)?,
            tensor(backend, &[k, k, 2, 2], Domain::Weight(4 * k), self.seed, 2)?,
            tensor(
                backend,
                &[self.features, flat],
                Domain::Weight(flat),
                self.seed,
                3,
            )?,
        ])
    }

    /// x -> conv3x3 -> act -> [conv2x2 s2 -> conv_transpose2x2 s2] -> [normalize] -> linear
    /// -> act. `closest` records the smallest |ReLU input| seen.
    fn forward<B: Backend>(&self, v: &[T64<B>], closest: &Cell<f64>) -> Result<T64<B>> {
        let (x, w1, w2, wl) = (&v[0], &v[1], &v[2], &v[3]);
        let mut h = activate(
            self.first,
            &x.conv2d(w1, &Conv2dParams::new(1, 1, 1))?,
            closest,
        )?;
        if self.down && self.size % 2 == 0 {
            let down = h.conv2d(w2, &Conv2dParams::new(2, 0, 1))?;
            h = h.add(&down.conv_transpose2d(w2, &ConvTranspose2dParams::new(2, 0, 0, 1))?)?;
        }
        if self.normalize {
            h = normalize(&h)?;
        }
        let flat = h.reshape([self.batch, h.numel() / self.batch])?;
        activate(self.second, &flat.matmul_t(wl, false, true)?, closest)
    }

    fn clear_of_kinks<B: Backend>(&self, inputs: &[T64<B>]) -> Result<bool> {
        let closest = Cell::new(f64::INFINITY);
        no_grad(|| self.forward(inputs, &closest))?;
        Ok(closest.get() > RELU_MARGIN)
    }
}

fn setup<R>(r: Result<R>) -> std::result::Result<R, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("building the inputs failed: {e}")))
}

/// Random compositions at orders 1 and 2, with respect to the input and every weight.
pub fn composition<B: Backend>(backend: &B) {
    check("gradient of random compositions", net(), |net| {
        let inputs = setup(net.inputs(backend))?;
        prop_assume!(setup(net.clear_of_kinks(&inputs))?);
        let closest = Cell::new(f64::INFINITY);
        orders_1_and_2(&|v| net.forward(v, &closest), &inputs)
    });
}

/// Jacobian-vector products of random compositions by a double reverse pass.
pub fn jvp<B: Backend>(backend: &B) {
    check("jvp by double reverse", net(), |net| {
        let inputs = setup(net.inputs(backend))?;
        prop_assume!(setup(net.clear_of_kinks(&inputs))?);
        let closest = Cell::new(f64::INFINITY);
        check_jvp(&|v| net.forward(v, &closest), &inputs, &grad_config())
            .map(|_| ())
            .map_err(|e| TestCaseError::fail(e.to_string()))
    });
}
