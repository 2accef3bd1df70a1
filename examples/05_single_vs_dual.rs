//! Single vs dual score matching on a Gaussian scale mixture (the paper's Figure 1).
//!
//! The idea. Denoising (single) score matching fits grad_y U(y, t) at each noise level t, which
//! fixes U only up to a constant b(t) per level; the normalization, computed at t_max where
//! p(., t_max) is nearly Gaussian, reaches t = 0 only if the levels are tied together. Time
//! score matching fits dU/dt as well, which ties them: the dual objective's normalized log p
//! is right at every t, the single objective's is not.
//!
//! The math. Data x ~ sum_k w_k N(0, s_k^2 I) in dimension d (default 1/2 N(0, I) +
//! 1/2 N(0, 16 I), d = 1000). Model: the radial family
//!
//! `U(y, t) = -logsumexp_k(-(a_k(t) ||y||^2 + b_k(t)))`, with (a, b) from an MLP of log(t + 0.01),
//!
//! which contains the true noisy density: `a_k = 1 / (2 (s_k^2 + t))`,
//! `b_k = d/2 ln(2 pi (s_k^2 + t)) - ln w_k`. The scores see a_k(t) well (each mode's shape),
//! but the modes' relative mass b_1 - b_2 enters grad_y U only between the modes, where few
//! samples fall: single score matching leaves it, and the normalization across t, wrong.
//! Both models are normalized at t_max = 100 with the covariance-corrected constant and
//! compared with the true log p(y, t) on the radii ||y|| / sqrt(d) in [0.2, 5].
//!
//! What to look at. At t = 0.01 (the smallest trained level, where the paper compares) the
//! dual error stays within a fraction of a dB/dim and the modes switch at the true radius
//! (1.72 for the default mixture); the single error is several dB/dim, and the energy gap
//! U(4 sqrt(d)) - U(sqrt(d)), whose truth is close to d/2 ln 16 = 1386 nats for d = 1000, is
//! far off. `log_p.png` draws log p at t = 0.01 against the radius (the truth dashed),
//! `log_p_error.png` the error of both models at t = 0.01 and t = 1, and `log_p.csv` holds the
//! curves. The paper's numbers are in docs/METHOD.md section 5.1.
//!
//! The work is [`dualscore_examples::scale_mixture::run`], which the test
//! `examples/tests/central_claim.rs` also runs, at small settings, with bounds on both errors.
//!
//! Run: `cargo run --release -p dualscore-examples --example 05_single_vs_dual -- --help`
//! The last line printed is one JSON object, its keys in alphabetical order: for `dual`,
//! `single` and (where it has one) `true`, `*_max_err_db`, `*_mean_err_db`, `*_switch_radius`,
//! `*_energy_gap_nats` and `*_cross_entropy_nats`; then `entropy_nats` and `seconds`.

use clap::Parser;
use dualscore::plot::{self, Axes, Series};
use dualscore_examples::ExampleResult;
use dualscore_examples::scale_mixture::{self, ObjectiveResult, Outcome, Settings, T_MIN};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// Where the figures and the CSV go.
    #[arg(long, default_value = "example-05")]
    out: PathBuf,
}

fn main() -> ExampleResult<()> {
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
    std::fs::create_dir_all(&args.out)?;
    println!(
        "d = {}, sigmas {:?}, weights {:?}; {} steps of {} samples per objective, rate {:e} halved every {} steps (floor {:e}); MLP {} x {}; {} training and {} held-out samples; seed {}",
        settings.dim,
        settings.sigmas,
        settings.weights,
        settings.steps,
        settings.batch,
        settings.lr,
        settings.halve_every,
        settings.min_lr,
        settings.layers,
        settings.width,
        settings.data,
        settings.held_out,
        settings.seed
    );
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
    summarize(&outcome);
    figures(&outcome, &args.out)?;
    println!("{}", key_numbers(&outcome));
    Ok(())
}

fn radius(r: Option<f64>) -> String {
    r.map_or("never".into(), |s| format!("{s:.3}"))
}

/// Prints each objective's errors, switch radius, energy gap and cross-entropy, and log p at a
/// few radii.
fn summarize(outcome: &Outcome) {
    println!(
        "truth at t = {T_MIN}: modes switch at {}, U(4 sqrt(d)) - U(sqrt(d)) = {:.1} nats, held-out cross-entropy {:.1} nats (entropy at t = 0: {:.1} nats)",
        radius(outcome.true_switch_radius),
        outcome.true_energy_gap,
        outcome.true_cross_entropy,
        outcome.entropy
    );
    for r in [&outcome.dual, &outcome.single] {
        println!(
            "{:?}: |log p error| over radius/sqrt(d) in [0.2, 5] largest {:.3}, mean {:.3} dB/dim; modes switch at {}; U(4 sqrt(d)) - U(sqrt(d)) = {:.1} nats; held-out cross-entropy {:.1} nats ({:+.1} from the truth); {:.0} s",
            r.objective,
            r.max_err_db,
            r.mean_err_db,
            radius(r.switch_radius),
            r.energy_gap,
            r.cross_entropy,
            r.cross_entropy - outcome.true_cross_entropy,
            r.seconds
        );
    }
    let (dual, single) = (&outcome.dual.profiles[0], &outcome.single.profiles[0]);
    println!("log p at t = {T_MIN}, dB/dim:\n  radius/sqrt(d)     true     dual   single");
    for target in [0.2, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0] {
        if let Some(i) = dual.radii.iter().position(|r| (r - target).abs() < 1e-9) {
            println!(
                "  {:>14.2} {:>8.3} {:>8.3} {:>8.3}",
                target, dual.truth_db[i], dual.learned_db[i], single.learned_db[i]
            );
        }
    }
}

/// Writes `log_p.png`, `log_p_error.png` and `log_p.csv` into `out`.
fn figures(outcome: &Outcome, out: &Path) -> ExampleResult<()> {
    let name = |r: &ObjectiveResult| format!("{:?}", r.objective).to_lowercase();
    let curve = |radii: &[f64], values: &[f64]| -> Vec<(f64, f64)> {
        radii.iter().copied().zip(values.iter().copied()).collect()
    };
    let learned: Vec<Series> = [&outcome.dual, &outcome.single]
        .iter()
        .map(|r| {
            let p = &r.profiles[0];
            Series::new(name(r), curve(&p.radii, &p.learned_db))
        })
        .collect();
    let truth = &outcome.dual.profiles[0];
    // Reference i is drawn dashed in the colour of series i: two empty references first give
    // the truth a third colour, so that it shows over the dual curve it should match.
    let references = [
        Series::default(),
        Series::default(),
        Series::new("true", curve(&truth.radii, &truth.truth_db)),
    ];
    plot::line_chart_with_references(
        &out.join("log_p.png"),
        &Axes::new(
            format!("log p(y, t = {T_MIN}) of the Gaussian scale mixture"),
            "||y|| / sqrt(d)",
            "log p, dB/dim",
        ),
        &learned,
        &references,
    )?;
    let mut errors = Vec::new();
    for r in [&outcome.dual, &outcome.single] {
        for p in &r.profiles {
            let label = format!("{} at t = {}", name(r), p.t);
            errors.push(Series::new(label, curve(&p.radii, &p.error_db())));
        }
    }
    plot::line_chart(
        &out.join("log_p_error.png"),
        &Axes::new(
            "error of the normalized log p",
            "||y|| / sqrt(d)",
            "learned - true log p, dB/dim",
        ),
        &errors,
    )?;
    let mut csv = std::io::BufWriter::new(std::fs::File::create(out.join("log_p.csv"))?);
    writeln!(csv, "t,radius_over_sqrt_d,true_db,dual_db,single_db")?;
    for (dual, single) in outcome.dual.profiles.iter().zip(&outcome.single.profiles) {
        for i in 0..dual.radii.len() {
            writeln!(
                csv,
                "{},{:.4},{:.6},{:.6},{:.6}",
                dual.t, dual.radii[i], dual.truth_db[i], dual.learned_db[i], single.learned_db[i]
            )?;
        }
    }
    csv.flush()?;
    println!(
        "figures: {0}/log_p.png, {0}/log_p_error.png; curves: {0}/log_p.csv",
        out.display()
    );
    Ok(())
}

/// The key numbers as one JSON object.
fn key_numbers(outcome: &Outcome) -> serde_json::Value {
    let (dual, single) = (&outcome.dual, &outcome.single);
    json!({
        "dual_max_err_db": dual.max_err_db,
        "single_max_err_db": single.max_err_db,
        "dual_switch_radius": dual.switch_radius,
        "true_switch_radius": outcome.true_switch_radius,
        "single_switch_radius": single.switch_radius,
        "dual_mean_err_db": dual.mean_err_db,
        "single_mean_err_db": single.mean_err_db,
        "true_energy_gap_nats": outcome.true_energy_gap,
        "dual_energy_gap_nats": dual.energy_gap,
        "single_energy_gap_nats": single.energy_gap,
        "true_cross_entropy_nats": outcome.true_cross_entropy,
        "dual_cross_entropy_nats": dual.cross_entropy,
        "single_cross_entropy_nats": single.cross_entropy,
        "entropy_nats": outcome.entropy,
        "seconds": dual.seconds + single.seconds,
    })
}
