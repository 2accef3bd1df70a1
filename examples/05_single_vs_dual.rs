//! Single vs dual score matching on a Gaussian scale mixture (the paper's Figure 1).
//!
//! Data: x ~ sum_k w_k N(0, s_k^2 I) in dimension d (default 1/2 N(0, I) + 1/2 N(0, 16 I),
//! d = 1000). Model: the radial mixture energy U = -logsumexp_k(-(a_k(t) ||y||^2 + b_k(t)))
//! with (a, b) from an MLP of log(t + 0.01), a family that contains the true noisy density.
//!
//! Denoising score matching alone learns each mode's shape but not the modes' relative mass
//! (the score between modes is learned from few samples) nor the normalization across t: its
//! normalized log p is off by several dB/dim and its modes switch at the wrong radius. Dual
//! score matching gets both.
//!
//! Both models are normalized at t_max = 100 with the covariance-corrected constant and
//! compared with the true density at the smallest trained noise level t = 0.01, over radii
//! ||x|| / sqrt(d) in [0.2, 5].
//!
//! The work is [`dualscore_examples::scale_mixture::run`], which the test
//! `examples/tests/central_claim.rs` also runs, at small settings, with bounds on both errors.
//!
//! Run: `cargo run --release -p dualscore-examples --example 05_single_vs_dual -- --help`
//! The last line printed is
//! `{"dual_max_err_db":..,"single_max_err_db":..,"dual_switch_radius":..,"true_switch_radius":..}`.

use clap::Parser;
use dualscore_examples::scale_mixture::{self, Settings};

/// Compare single and dual score matching on a Gaussian scale mixture.
#[derive(Debug, Parser)]
struct Args {
    /// Dimension d.
    #[arg(long, default_value_t = Settings::default().dim)]
    dim: usize,
    /// Standard deviations of the components, comma-separated.
    #[arg(long, default_value = "1,4", value_delimiter = ',')]
    sigmas: Vec<f64>,
    /// Weights of the components, comma-separated (normalized to sum to 1).
    #[arg(long, default_value = "0.5,0.5", value_delimiter = ',')]
    weights: Vec<f64>,
    /// Training steps per objective.
    #[arg(long, default_value_t = Settings::default().steps)]
    steps: u64,
    /// Samples per step.
    #[arg(long, default_value_t = Settings::default().batch)]
    batch: usize,
    /// Initial learning rate, halved every `--halve-every` steps down to `--min-lr`.
    #[arg(long, default_value_t = Settings::default().lr)]
    lr: f64,
    /// Steps between halvings of the learning rate.
    #[arg(long, default_value_t = Settings::default().halve_every)]
    halve_every: u64,
    /// The smallest learning rate: without a floor the halvings drive it to ~1e-7 before the
    /// modes' relative offset settles.
    #[arg(long, default_value_t = Settings::default().min_lr)]
    min_lr: f64,
    /// Width of the MLP's hidden layers.
    #[arg(long, default_value_t = Settings::default().width)]
    width: usize,
    /// Number of hidden layers of the MLP.
    #[arg(long, default_value_t = Settings::default().layers)]
    layers: usize,
    /// Seed of the data, the initialization and the training noise.
    #[arg(long, default_value_t = Settings::default().seed)]
    seed: u64,
    /// Training samples, drawn once.
    #[arg(long, default_value_t = Settings::default().data)]
    data: usize,
    /// Held-out samples for the normalization constant.
    #[arg(long, default_value_t = Settings::default().held_out)]
    held_out: usize,
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let settings = Settings {
        dim: args.dim,
        sigmas: args.sigmas,
        weights: args.weights,
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        halve_every: args.halve_every,
        min_lr: args.min_lr,
        width: args.width,
        layers: args.layers,
        seed: args.seed,
        data: args.data,
        held_out: args.held_out,
    };
    let report_every = (settings.steps / 10).max(1);
    let start = std::time::Instant::now();
    let outcome = scale_mixture::run(&settings, |objective, m| {
        if m.step % report_every == 0 {
            println!(
                "  {objective:?} step {:>6}: loss {:.5} (dsm {:.5}, tsm {:.2e}), lr {:.1e}, {:.0} s",
                m.step,
                m.loss,
                m.dsm,
                m.tsm,
                m.lr,
                start.elapsed().as_secs_f64()
            );
        }
    })?;
    let radius = |r: Option<f64>| r.map_or("never".into(), |s| format!("{s:.3}"));
    for result in [outcome.dual, outcome.single] {
        println!(
            "{:?}: largest error {:.3} dB/dim over radius/sqrt(d) in [0.2, 5]; modes switch at {} (true {}); {:.0} s",
            result.objective,
            result.max_err_db,
            radius(result.switch_radius),
            radius(outcome.true_switch_radius),
            result.seconds
        );
    }
    let json_radius = |r: Option<f64>| r.map_or("null".into(), |r| format!("{r:.4}"));
    println!(
        "{{\"dual_max_err_db\":{:.4},\"single_max_err_db\":{:.4},\"dual_switch_radius\":{},\"true_switch_radius\":{}}}",
        outcome.dual.max_err_db,
        outcome.single.max_err_db,
        json_radius(outcome.dual.switch_radius),
        json_radius(outcome.true_switch_radius)
    );
    Ok(())
}
