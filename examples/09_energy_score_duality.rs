//! The energy/score duality, checked where everything is known in closed form.
//!
//! The idea. One scalar energy U(y, t) = -log p(y, t) + const gives both scores by
//! differentiation: the energy gradient grad_y U (the score is its negative; Tweedie's
//! identity turns it into the denoiser `xhat = y - t grad_y U`) and the time score dU/dt, taken
//! at fixed y. Because p(., t) is p(., 0) convolved with N(0, t I), the true energy solves the
//! heat equation in the form
//!
//! `dU/dt = 1/2 Lap U - 1/2 ||grad_y U||^2`,
//!
//! which ties the noise levels together: that is why matching dU/dt (the dual objective) fixes
//! the one constant that denoising alone leaves free at each t (docs/METHOD.md section 1).
//!
//! What it checks, for a Gaussian with a full covariance, the scale mixture 1/2 N(0, I) +
//! 1/2 N(0, 16 I) and a mixture of three Gaussians (`dualscore_core::energy::analytic`), in
//! d = 8 at t from 1e-3 to 100 on exact samples of p(., t):
//! - grad_y U and dU/dt by autodiff of U alone against the closed forms (relative error);
//! - dU/dt against a finite difference of U in t at fixed y;
//! - the heat equation, with Lap U by finite differences of the closed-form gradient.
//!
//! What to look at: autodiff agrees with the closed forms to rounding (about 1e-16); the
//! finite difference in t agrees to its truncation error (1e-7 or better); the heat-equation
//! residual is below 1e-9 at every t and for every family. `heat_equation.png` plots dU/dt against
//! the right-hand side for every sample (all on the diagonal). The last line printed is JSON.
//!
//! Run: `cargo run --release -p dualscore-examples --example 09_energy_score_duality`.

use clap::Parser;
use dualscore::plot::{self, Axes, Scale, Series};
use dualscore_cpu::Cpu;
use dualscore_examples::duality::{self, Check};
use dualscore_examples::{ExampleResult, on_cpu};
use serde_json::json;
use std::path::PathBuf;

/// Check the energy/score duality and the heat equation on analytic energies.
#[derive(Debug, Parser)]
struct Args {
    /// The dimension of the samples.
    #[arg(long, default_value_t = 8)]
    dim: usize,
    /// Exact samples per family and noise level.
    #[arg(long, default_value_t = 32)]
    samples: usize,
    /// The seed of the samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where the figures go.
    #[arg(long, default_value = "example-09")]
    out: PathBuf,
}

fn main() -> ExampleResult<()> {
    let args = Args::parse();
    on_cpu(2, |cpu| run(&args, cpu))
}

fn run(args: &Args, cpu: &Cpu) -> ExampleResult<()> {
    if args.dim == 0 || args.samples == 0 {
        return Err("--dim and --samples must be at least 1".into());
    }
    std::fs::create_dir_all(&args.out)?;
    let mut checks: Vec<Check> = Vec::new();
    for (name, family) in duality::families(args.dim)? {
        checks.extend(duality::check_family(
            cpu,
            &name,
            &family,
            args.samples,
            args.seed,
        )?);
    }
    println!(
        "d = {}, {} exact samples per noise level; largest relative errors over the samples:",
        args.dim, args.samples
    );
    println!(
        "{:>24} {:>8} {:>12} {:>12} {:>14} {:>12}",
        "family", "t", "grad_y", "dU/dt", "dU/dt by FD", "heat eq."
    );
    for c in &checks {
        println!(
            "{:>24} {:>8.0e} {:>12.2e} {:>12.2e} {:>14.2e} {:>12.2e}",
            c.family,
            c.t,
            c.grad_y_error,
            c.grad_t_error,
            c.finite_difference_t_error,
            c.heat_equation_residual
        );
    }
    let worst = |f: fn(&Check) -> f64| checks.iter().map(f).fold(0.0, f64::max);
    let series: Vec<Series> = checks
        .iter()
        .map(|c| Series::new(format!("{} t={:.0e}", c.family, c.t), c.heat_pairs.clone()))
        .collect();
    let figure = args.out.join("heat_equation.png");
    plot::scatter_chart(
        &figure,
        &Axes::new(
            "the heat equation of analytic energies",
            "dU/dt (closed form)",
            "1/2 Lap U - 1/2 ||grad U||^2",
        ),
        &series,
    )?;
    let by_t: Vec<Series> = duality::families(args.dim)?
        .iter()
        .map(|(name, _)| {
            Series::new(
                name.clone(),
                checks
                    .iter()
                    .filter(|c| &c.family == name)
                    .map(|c| (c.t, c.heat_equation_residual))
                    .collect(),
            )
        })
        .collect();
    let residuals = args.out.join("heat_equation_residual.png");
    plot::line_chart(
        &residuals,
        &Axes::new(
            "heat-equation residual (Laplacian by finite differences)",
            "noise variance t",
            "largest relative residual",
        )
        .with_scales(Scale::Log10, Scale::Log10),
        &by_t,
    )?;
    println!("figures: {}, {}", figure.display(), residuals.display());
    println!(
        "{}",
        json!({
            "max_grad_y_autodiff_error": worst(|c| c.grad_y_error),
            "max_grad_t_autodiff_error": worst(|c| c.grad_t_error),
            "max_grad_t_finite_difference_error": worst(|c| c.finite_difference_t_error),
            "max_heat_equation_residual": worst(|c| c.heat_equation_residual),
        })
    );
    Ok(())
}
