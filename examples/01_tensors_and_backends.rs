//! Tensors on two backends: the fast CPU backend and the naive f64 reference.
//!
//! The idea. Every computation of the library goes through one `Backend` trait. The reference
//! backend computes each op by its definition, in f64, with plain loops: it is the oracle that
//! every kernel of the CPU backend (rayon threads, blocked matrix products) is tested against.
//! A `Tensor<B, T>` holds a buffer of backend B and element type T; random tensors are drawn
//! on the host from a counter-based generator, so one key gives the same values on any backend.
//!
//! The math. A convolution A of stride 2, padding 1 and dilation 2 (3x3 kernels, 3 to 4
//! channels) maps x of shape [2, 3, 9, 9] to A x of shape [2, 4, 4, 4]: each output is
//! `(A x)[n, o, i, j] = sum_{c, k, l} w[o, c, k, l] x[n, c, 2i - 1 + 2k, 2j - 1 + 2l]` (zero
//! outside the image). The transposed convolution with the same parameters is its adjoint A^T,
//! which the autodiff uses as the convolution's backward rule; adjointness reads
//! `<A x, A x> = <x, A^T (A x)>`.
//!
//! What to look at: the two backends' outputs differ by rounding only (about 1e-15, both in
//! f64), and the adjoint identity holds on each to about 1e-16 relative. The last line printed
//! is `{"adjoint_error_cpu":..,"adjoint_error_reference":..,"max_backend_difference":..}`.
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
    println!(
        "{}",
        serde_json::json!({
            "max_backend_difference": max_diff,
            "adjoint_error_cpu": adjoint_fast,
            "adjoint_error_reference": adjoint_ref,
        })
    );
    Ok(())
}
