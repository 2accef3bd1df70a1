//! Where the truth is known: stationary Gaussian images, learned by single and dual score
//! matching with a model family that contains the true density at every noise level.
//!
//! The idea. Denoising score matching sees U only through grad_y U, so it fixes U(., t) up to
//! one constant per noise level. The normalization constant is computed once, at t_max, and
//! carries to t = 0 only if those constants are right; time score matching fits dU/dt and so
//! fixes them. Here the family contains the truth, so every error left is the objective's.
//!
//! The math. Images: 8x8 (d = 64) stationary Gaussian images N(m, Sigma) with an anisotropic
//! spectrum, Sigma = Q diag(lambda) Q^T in the real Fourier basis Q. Model:
//!
//! `U(y, t) = 1/2 sum_k c_k^2 / (exp(theta_k) + t) + b(t)`, with `c = Q^T (y - m)`,
//!
//! learned theta, m and a free time offset b(t) (an MLP of log(t + t0)). The truth is
//! `theta = ln lambda`, `b(t) = 1/2 sum_k ln(2 pi (lambda_k + t))`. b does not change
//! grad_y U: the single objective leaves it where its initialization put it, and its
//! normalized log p at t = 0 is off by b's error; the dual objective fits b'(t) at every t.
//!
//! The NLL is the cross-entropy in bits/dim (no 8-bit quantization here), scored as the mean
//! paired difference of the model's and the true -log p over the test samples.
//!
//! What to look at: the dual test NLL within a few hundredths of a bit/dim of the truth; the
//! single one several bits/dim away (about +6 at the settings of docs/RESULTS.md, "The central
//! claim at CI sizes"): the single objective's loss does not depend on b, so that error does
//! not shrink with training.
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
