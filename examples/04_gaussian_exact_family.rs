//! Where the truth is known: stationary Gaussian images (8x8, anisotropic spectrum, d = 64),
//! learned by a model whose family contains every noisy density N(m, Sigma + t I) of such
//! images, plus a free time offset b(t).
//!
//! Denoising score matching sees U only through grad_y U, which b(t) does not change: the
//! single objective leaves b free, so its normalization (fixed at t_max) is wrong at t = 0.
//! Time score matching fixes dU/dt, hence b, at every t: the dual objective's test NLL matches
//! the true entropy.
//!
//! The NLL is the cross-entropy in bits/dim (no 8-bit quantization here), scored as the mean
//! paired difference of the model's and the true -log p over the test samples.
//!
//! The work is [`dualscore_examples::gaussian_family::run`], which the test
//! `examples/tests/central_claim.rs` also runs, at small settings, with bounds on both errors.
//!
//! Run: `cargo run --release -p dualscore-examples --example 04_gaussian_exact_family`
//! (`-- --help` for its flags)
//! The last line printed is `{"true_nll_bits":..,"dual_nll_bits":..,"single_nll_bits":..}`.

use clap::Parser;
use dualscore_examples::gaussian_family::{self, SIZE, Settings};

/// Learn stationary Gaussian images with dual and single score matching.
#[derive(Debug, Parser)]
struct Args {
    /// Training steps per objective (the rate starts at 1e-2 and halves 12 times, so the
    /// time offset settles: its output is scaled by d, which scales the optimizer's noise).
    #[arg(long, default_value_t = Settings::default().steps)]
    steps: u64,
    /// Images per step.
    #[arg(long, default_value_t = Settings::default().batch)]
    batch: usize,
    /// Seed of the data, the initialization and the training noise.
    #[arg(long, default_value_t = Settings::default().seed)]
    seed: u64,
    /// Training images.
    #[arg(long, default_value_t = Settings::default().train)]
    train: usize,
    /// Test images (the NLL average) and images for the normalization constant, each.
    #[arg(long, default_value_t = Settings::default().test)]
    test: usize,
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let outcome = gaussian_family::run(&Settings {
        steps: args.steps,
        batch: args.batch,
        seed: args.seed,
        train: args.train,
        test: args.test,
    })?;
    let truth = outcome.true_nll_bits;
    println!(
        "stationary Gaussian images {SIZE}x{SIZE}: entropy {:.4} bits/dim, test cross-entropy {truth:.4} bits/dim",
        outcome.entropy_bits
    );
    for result in [outcome.dual, outcome.single] {
        println!(
            "{:?}: final loss {:.4}, test NLL {:.4} bits/dim ({:+.4} from the truth), {:.0} s",
            result.objective,
            result.final_loss,
            result.nll_bits,
            result.error_bits(truth),
            result.seconds
        );
    }
    println!(
        "{{\"true_nll_bits\":{truth:.6},\"dual_nll_bits\":{:.6},\"single_nll_bits\":{:.6}}}",
        outcome.dual.nll_bits, outcome.single.nll_bits
    );
    Ok(())
}
