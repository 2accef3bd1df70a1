//! Finite-difference checks of reverse-mode gradients, in f64.

use crate::autograd::{GradOptions, grad, grad_with_seeds, no_grad};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::rng::{RngKey, normal_values};
use crate::tensor::Tensor;

/// Step and tolerances of the finite-difference checks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradCheckConfig {
    /// Central-difference step along a unit-variance random direction. Its truncation error is
    /// O(step^2) times the next derivative, its rounding error O(eps / step).
    pub step: f64,
    /// Allowed error relative to the scale of the compared quantity (see [`GradCheckReport`]).
    pub rtol: f64,
    /// Allowed absolute error.
    pub atol: f64,
    /// Seed of the random directions and cotangents.
    pub seed: u64,
}

impl Default for GradCheckConfig {
    /// step 1e-5, so truncation (~1e-10) and rounding (~1e-11) errors are far below rtol 1e-6.
    fn default() -> Self {
        GradCheckConfig {
            step: 1e-5,
            rtol: 1e-6,
            atol: 1e-12,
            seed: 0,
        }
    }
}

/// The outcome of one check: the two values compared and the scale the error is judged against.
#[derive(Clone, Debug, PartialEq)]
pub struct GradCheckReport {
    /// What was checked, as in "order 2".
    pub what: String,
    /// From automatic differentiation.
    pub analytic: f64,
    /// From central differences.
    pub numeric: f64,
    /// The size of the quantity: for a directional derivative <g, v>, the bound ||g|| ||v||
    /// (so a derivative that cancels to 0 is judged against the size of its terms).
    pub scale: f64,
}

impl GradCheckReport {
    /// |analytic - numeric| / scale.
    pub fn relative_error(&self) -> f64 {
        (self.analytic - self.numeric).abs() / self.scale.max(f64::MIN_POSITIVE)
    }

    fn verify(self, config: &GradCheckConfig) -> Result<Self> {
        let err = (self.analytic - self.numeric).abs();
        if err <= config.atol + config.rtol * self.scale && err.is_finite() {
            Ok(self)
        } else {
            Err(Error::invalid(
                "check_grads",
                format!(
                    "{}: autodiff gives {:e}, finite differences {:e} (error {:e}, scale {:e}, rtol {:e})",
                    self.what, self.analytic, self.numeric, err, self.scale, config.rtol
                ),
            ))
        }
    }
}

/// A function of several f64 tensors, as [`check_grads`] and [`check_jvp`] take it.
pub type GradFunction<'a, B> = dyn Fn(&[Tensor<B, f64>]) -> Result<Tensor<B, f64>> + 'a;
/// A linear map of one f64 tensor, as [`check_adjoint`] takes it.
pub type LinearMap<'a, B> = dyn Fn(&Tensor<B, f64>) -> Result<Tensor<B, f64>> + 'a;

/// Checks the derivatives of `f` at `inputs` up to `order`, JAX-style.
///
/// With `S(x) = <f(x), w>` for a random cotangent `w`, order 1 compares `<grad S, v>` with the
/// central difference of `S` along a random direction `v`. Order `k` does the same for
/// `S_k(x) = <grad S_{k-1}(x), u_k>`, computed with `create_graph`, so order 2 checks
/// reverse-over-reverse differentiation. Inputs must stay `config.step` away from kinks (ReLU,
/// abs, max at 0): see [`keep_away_from_zero`].
pub fn check_grads<B: Backend>(
    f: &GradFunction<'_, B>,
    inputs: &[Tensor<B, f64>],
    order: usize,
    config: &GradCheckConfig,
) -> Result<Vec<GradCheckReport>> {
    let mut reports = Vec::new();
    for k in 1..=order {
        let key = RngKey::new(config.seed, 1000 + k as u64);
        reports.push(check_order(f, inputs, k, key, config)?.verify(config)?);
    }
    Ok(reports)
}

fn random_like<B: Backend>(
    t: &Tensor<B, f64>,
    key: RngKey,
    offset: &mut u64,
) -> Result<Tensor<B, f64>> {
    let values = normal_values(key, *offset, t.numel());
    *offset += t.numel() as u64;
    Tensor::from_f64(t.backend(), &values, t.shape().clone())
}

fn dot<B: Backend>(a: &Tensor<B, f64>, b: &Tensor<B, f64>) -> Result<Tensor<B, f64>> {
    a.mul(b)?.sum_all()
}

fn norm<B: Backend>(t: &Tensor<B, f64>) -> Result<f64> {
    Ok(t.to_f64_vec()?.iter().map(|v| v * v).sum::<f64>().sqrt())
}

/// S_k(x) of [`check_grads`], recorded on the graph so it can be differentiated once more.
fn nested_scalar<B: Backend>(
    f: &GradFunction<'_, B>,
    leaves: &[Tensor<B, f64>],
    order: usize,
    cotangent: &Tensor<B, f64>,
    directions: &[Vec<Tensor<B, f64>>],
) -> Result<Tensor<B, f64>> {
    let mut s = dot(&f(leaves)?, cotangent)?;
    for u in directions.iter().take(order - 1) {
        let refs: Vec<&Tensor<B, f64>> = leaves.iter().collect();
        let grads = grad(&[&s], &refs, GradOptions::create_graph())?;
        let mut total: Option<Tensor<B, f64>> = None;
        for (g, ui) in grads.iter().zip(u) {
            let term = dot(g, ui)?;
            total = Some(match total {
                Some(t) => t.add(&term)?,
                None => term,
            });
        }
        s = total.ok_or_else(|| Error::invalid("check_grads", "no inputs"))?;
    }
    Ok(s)
}

fn check_order<B: Backend>(
    f: &GradFunction<'_, B>,
    inputs: &[Tensor<B, f64>],
    order: usize,
    key: RngKey,
    config: &GradCheckConfig,
) -> Result<GradCheckReport> {
    let mut offset = 0;
    let base: Vec<Tensor<B, f64>> = inputs.iter().map(|t| t.detach()).collect();
    let probe = no_grad(|| f(&base))?;
    let cotangent = random_like(&probe, key, &mut offset)?;
    let mut directions = Vec::new();
    for _ in 0..order {
        directions.push(
            base.iter()
                .map(|t| random_like(t, key, &mut offset))
                .collect::<Result<Vec<_>>>()?,
        );
    }
    let (v, nested) = directions.split_last().expect("order is at least 1");

    let leaves: Vec<Tensor<B, f64>> = base.iter().map(|t| t.requiring_grad()).collect();
    let s = nested_scalar(f, &leaves, order, &cotangent, nested)?;
    let refs: Vec<&Tensor<B, f64>> = leaves.iter().collect();
    let grads = grad(&[&s], &refs, GradOptions::default())?;
    let mut analytic = 0.0;
    let mut scale = 0.0;
    for (g, vi) in grads.iter().zip(v) {
        analytic += dot(g, vi)?.to_scalar()?;
        scale += norm(g)? * norm(vi)?;
    }

    let shifted = |sign: f64| -> Result<f64> {
        let moved: Vec<Tensor<B, f64>> = base
            .iter()
            .zip(v)
            .map(|(x, vi)| Ok(x.add(&vi.scale(sign * config.step)?)?.requiring_grad()))
            .collect::<Result<_>>()?;
        nested_scalar(f, &moved, order, &cotangent, nested)?.to_scalar()
    };
    let numeric = (shifted(1.0)? - shifted(-1.0)?) / (2.0 * config.step);
    Ok(GradCheckReport {
        what: format!("order {order}"),
        analytic,
        numeric,
        scale,
    })
}

/// Checks a Jacobian-vector product computed by two reverse passes against central differences.
///
/// `u = J^T w` is computed with `w` a fresh leaf and `create_graph`; then `J v = d<u, v>/dw`.
/// The error is judged normwise: `||Jv - fd|| <= atol + rtol * ||J|| ||v||`, with
/// `||J|| ||v||` estimated by `||fd|| + ||Jv||`.
pub fn check_jvp<B: Backend>(
    f: &GradFunction<'_, B>,
    inputs: &[Tensor<B, f64>],
    config: &GradCheckConfig,
) -> Result<GradCheckReport> {
    let key = RngKey::new(config.seed, 2000);
    let mut offset = 0;
    let base: Vec<Tensor<B, f64>> = inputs.iter().map(|t| t.detach()).collect();
    let v: Vec<Tensor<B, f64>> = base
        .iter()
        .map(|t| random_like(t, key, &mut offset))
        .collect::<Result<_>>()?;
    let leaves: Vec<Tensor<B, f64>> = base.iter().map(|t| t.requiring_grad()).collect();
    let out = f(&leaves)?;
    let w = out.detach().zeros_like()?.requiring_grad();
    let refs: Vec<&Tensor<B, f64>> = leaves.iter().collect();
    let u = grad_with_seeds(&[&out], &[&w], &refs, GradOptions::create_graph())?;
    let mut pairing: Option<Tensor<B, f64>> = None;
    for (ui, vi) in u.iter().zip(&v) {
        let term = dot(ui, vi)?;
        pairing = Some(match pairing {
            Some(p) => p.add(&term)?,
            None => term,
        });
    }
    let pairing = pairing.ok_or_else(|| Error::invalid("check_jvp", "no inputs"))?;
    let jv = grad(&[&pairing], &[&w], GradOptions::default())?.remove(0);

    let eval = |sign: f64| -> Result<Tensor<B, f64>> {
        let moved: Vec<Tensor<B, f64>> = base
            .iter()
            .zip(&v)
            .map(|(x, vi)| x.add(&vi.scale(sign * config.step)?))
            .collect::<Result<_>>()?;
        no_grad(|| f(&moved))
    };
    let fd = eval(1.0)?
        .sub(&eval(-1.0)?)?
        .scale(1.0 / (2.0 * config.step))?;
    let err = norm(&jv.sub(&fd)?)?;
    let report = GradCheckReport {
        what: "jvp by double reverse".into(),
        analytic: err,
        numeric: 0.0,
        scale: norm(&fd)? + norm(&jv)?,
    };
    report.verify(config)
}

/// The dot-product test of an adjoint pair: `<A x, y> = <x, A^T y>`, judged against
/// `||A x|| ||y|| + ||x|| ||A^T y||` with tolerance `rtol`.
pub fn check_adjoint<B: Backend>(
    forward: &LinearMap<'_, B>,
    adjoint: &LinearMap<'_, B>,
    x: &Tensor<B, f64>,
    y: &Tensor<B, f64>,
    rtol: f64,
) -> Result<GradCheckReport> {
    let ax = forward(x)?;
    let aty = adjoint(y)?;
    if ax.shape() != y.shape() || aty.shape() != x.shape() {
        return Err(Error::shapes(
            "check_adjoint",
            ax.dims(),
            aty.dims(),
            format!(
                "expected A x of shape {} and A^T y of shape {}",
                y.shape(),
                x.shape()
            ),
        ));
    }
    let report = GradCheckReport {
        what: "adjoint pair".into(),
        analytic: dot(&ax, y)?.to_scalar()?,
        numeric: dot(x, &aty)?.to_scalar()?,
        scale: norm(&ax)? * norm(y)? + norm(x)? * norm(&aty)?,
    };
    report.verify(&GradCheckConfig {
        rtol,
        atol: 0.0,
        ..GradCheckConfig::default()
    })
}

/// Moves values closer to 0 than `margin` out to `±margin` (sign kept, 0 goes to +margin), so
/// that a finite-difference step smaller than `margin` never crosses a kink at 0.
pub fn keep_away_from_zero(values: &mut [f64], margin: f64) {
    for v in values {
        if v.abs() < margin {
            *v = if *v < 0.0 { -margin } else { margin };
        }
    }
}
