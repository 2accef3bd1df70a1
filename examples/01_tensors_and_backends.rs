//! Tensors on two backends: the fast CPU backend and the naive f64 reference, which every
//! kernel is tested against. A strided, dilated convolution and its adjoint, on both.
//!
//! Run: `cargo run --release -p dualscore-examples --example 01_tensors_and_backends`

use dualscore_core::backend::reference::Reference;
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams};
use dualscore_core::rng::RngKey;
use dualscore_core::{Backend, Result, Tensor};
use dualscore_cpu::Cpu;

/// Draws the same inputs on any backend (the random numbers are drawn on the host from a
/// counter-based generator) and runs a convolution and its transpose.
fn convolve<B: Backend>(backend: &B) -> Result<(Vec<f64>, f64)> {
    let key = RngKey::new(42, 0);
    let x = Tensor::<B, f64>::randn(backend, [2, 3, 9, 9], key, 0)?;
    let w = Tensor::<B, f64>::randn(backend, [4, 3, 3, 3], key, 10_000)?;
    let params = Conv2dParams {
        stride: [2, 2],
        padding: [1, 1],
        dilation: [2, 2],
    };
    let y = x.conv2d(&w, &params)?;
    // The transposed convolution is the adjoint: <conv(x), y> = <x, conv_t(y)>.
    let back = y.conv_transpose2d(&w, &ConvTranspose2dParams::new(2, 1, 0, 2))?;
    let lhs = y.mul(&y)?.sum_all()?.to_scalar()?;
    let rhs = x.mul(&back)?.sum_all()?.to_scalar()?;
    println!(
        "{:>24}: output {:?}, <Ax, Ax> = {lhs:.6}, <x, A^T A x> = {rhs:.6}",
        backend.name(),
        y.dims()
    );
    Ok((y.to_f64_vec()?, (lhs - rhs).abs() / lhs.abs()))
}

fn main() -> Result<()> {
    let (fast, adjoint_fast) = convolve(&Cpu::new())?;
    let (oracle, adjoint_ref) = convolve(&Reference)?;
    let max_diff = fast
        .iter()
        .zip(&oracle)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("largest difference between the backends: {max_diff:.2e}");
    println!(
        "adjoint identity, relative error: cpu {adjoint_fast:.2e}, reference {adjoint_ref:.2e}"
    );
    Ok(())
}
