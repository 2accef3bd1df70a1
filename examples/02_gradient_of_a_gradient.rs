//! The gradient of a gradient: what dual score matching needs.
//!
//! The idea. The dual loss contains grad_y U(y, t), the gradient of the network with respect to
//! its input, and is then differentiated with respect to the weights: reverse-mode autodiff
//! applied to the result of reverse-mode autodiff. The first backward pass must therefore
//! record its own operations (`GradOptions::create_graph`), so that grad_y U is itself a
//! tensor on the graph, a function of the weights, that a second backward pass can
//! differentiate.
//!
//! The math. A tiny bias-free conv energy `U(y) = 1/2 <y, conv2(gelu(conv1(y)))>` with
//! weights w1, w2 on two 6x6 images, and the objective `g(w1) = ||grad_y U(y)||^2`, the shape
//! of the denoising term `||sqrt(t) grad_y U - z||^2`. Reverse over reverse gives the whole
//! gradient dg/dw1; along a random direction v it must equal the central difference
//! `(g(w1 + h v) - g(w1 - h v)) / (2 h)`, whose error is O(h^2) plus rounding (h = 1e-5, f64).
//!
//! What to look at: the two directional derivatives agree to about 1e-9 relative (5.6e-10 here,
//! the finite difference's own error); a missing or wrong second-order rule would show up as
//! an error of order 1. The last line printed is
//! `{"finite_difference":..,"objective":..,"relative_error":..,"reverse_over_reverse":..}`.
//!
//! Run: `cargo run --release -p dualscore-examples --example 02_gradient_of_a_gradient`

use dualscore_core::autograd::{GradOptions, grad};
use dualscore_core::backend::Conv2dParams;
use dualscore_core::rng::RngKey;
use dualscore_core::{Result, Tensor};
use dualscore_cpu::Cpu;

type T64 = Tensor<Cpu, f64>;

/// U(y) = 1/2 <y, conv2(gelu(conv1(y)))>, a bias-free energy.
fn energy(y: &T64, w1: &T64, w2: &T64) -> Result<T64> {
    let same = Conv2dParams::new(1, 1, 1);
    let s = y.conv2d(w1, &same)?.gelu()?.conv2d(w2, &same)?;
    y.mul(&s)?.sum_all()?.scale(0.5)
}

/// ||grad_y U||^2, itself a function of the weights through the energy gradient.
fn squared_energy_gradient(y: &T64, w1: &T64, w2: &T64) -> Result<T64> {
    let y = y.detach().requiring_grad();
    let u = energy(&y, w1, w2)?;
    let grad_y = grad(&[&u], &[&y], GradOptions::create_graph())?.remove(0);
    grad_y.square()?.sum_all()
}

fn main() -> Result<()> {
    let cpu = Cpu::new();
    let key = RngKey::new(7, 0);
    let y = T64::randn(&cpu, [2, 1, 6, 6], key, 0)?;
    let w1 = T64::randn(&cpu, [4, 1, 3, 3], key, 1_000)?
        .scale(0.3)?
        .requiring_grad();
    let w2 = T64::randn(&cpu, [1, 4, 3, 3], key, 2_000)?.scale(0.3)?;

    // Reverse over reverse: d/dw1 ||grad_y U||^2.
    let objective = squared_energy_gradient(&y, &w1, &w2)?;
    let analytic = grad(&[&objective], &[&w1], GradOptions::default())?.remove(0);

    // The same derivative along a random direction, by central differences.
    let direction = T64::randn(&cpu, w1.dims().to_vec(), key, 3_000)?;
    let h = 1e-5;
    let shifted = |sign: f64| -> Result<f64> {
        let w = w1.detach().add(&direction.scale(sign * h)?)?;
        squared_energy_gradient(&y, &w, &w2)?.to_scalar()
    };
    let numeric = (shifted(1.0)? - shifted(-1.0)?) / (2.0 * h);
    let along = analytic.mul(&direction)?.sum_all()?.to_scalar()?;
    let error = (along - numeric).abs() / numeric.abs();

    println!("||grad_y U||^2 = {:.6}", objective.to_scalar()?);
    println!("directional derivative, reverse over reverse: {along:.10}");
    println!("directional derivative, finite differences:   {numeric:.10}");
    println!("relative error: {error:.2e}");
    println!(
        "{}",
        serde_json::json!({
            "objective": objective.to_scalar()?,
            "reverse_over_reverse": along,
            "finite_difference": numeric,
            "relative_error": error,
        })
    );
    Ok(())
}
