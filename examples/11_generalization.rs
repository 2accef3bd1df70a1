//! Memorization and generalization: do two models trained on different images learn the
//! same density? (the paper's Fig. 2)
//!
//! The idea. A density model trained on N images can memorize them (put its mass on them) or
//! generalize (learn the density they were drawn from). Train two models, A and B, on disjoint
//! subsets of N patches each. If they memorize, each gives its own training patches a much
//! higher log p than the other model does; if they generalize, they assign the same log p to
//! new patches, whatever their training images were. The paper (64x64 gray images) finds
//! tens of dB/dim of memorization for N <= 100 and, at N = 1e5, test log p that agree to
//! 0.11 dB/dim on average (RMS 0.19, correlation 0.9987) (docs/METHOD.md section 5.4).
//!
//! What it measures, for each N: the mean "own advantage" (log p under the model trained on a
//! patch minus log p under the other model, over each model's training patches), and on test
//! patches the mean |log p_A - log p_B|, its RMS and the correlation. The same numbers for the
//! two models' Gaussian bases alone (the `fast` model starts as the full-covariance Gaussian
//! of its training patches) show what the network added. At small N the bases memorize too:
//! a Gaussian fitted to N < d patches is nearly singular, all of its mass near their span.
//!
//! What to look at: the own advantage falls by orders of magnitude as N grows; the test
//! disagreement falls with it. Small-N models are not expected to beat the Gaussian on test
//! patches. Figures: `agreement.png` (log p_A against log p_B on test patches, one colour per
//! N) and `memorization.png` (own advantage and test disagreement against N); the numbers per N
//! are in `generalization.csv`; the last line printed is JSON.
//!
//! Run: `cargo run --release -p dualscore-examples --example 11_generalization` (N = 10, 100,
//! 1000; a few minutes). Longer: `--sizes 10,100,1000,10000 --steps 2000` on the natural
//! patches (`--train ... --test ...`, see example 10).

use clap::Parser;
use dualscore::app::write_csv;
use dualscore::plot::{self, Axes, Scale, Series};
use dualscore_cpu::Cpu;
use dualscore_examples::generalization::{self, Settings, SizeResult};
use dualscore_examples::natural::PatchArgs;
use dualscore_examples::{ExampleResult, on_cpu};
use serde_json::json;
use std::path::PathBuf;

/// Train pairs of models on disjoint subsets of N patches and compare them.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    data: PatchArgs,
    /// The subset sizes N.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    sizes: Vec<usize>,
    /// Training steps of each model (batch 32).
    #[arg(long, default_value_t = 300)]
    steps: u64,
    /// Test patches on which the models are compared.
    #[arg(long, default_value_t = 1024)]
    test_images: usize,
    /// Training patches of each subset on which memorization is measured (at most N).
    #[arg(long, default_value_t = 1024)]
    train_images: usize,
    /// The seed of the subsets and the models.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The output folder; models go into its subfolders N-a and N-b, which must not exist.
    #[arg(long, default_value = "example-11")]
    out: PathBuf,
}

fn main() -> ExampleResult<()> {
    let args = Args::parse();
    on_cpu(args.threads, |cpu| run(&args, cpu))
}

fn run(args: &Args, cpu: &Cpu) -> ExampleResult<()> {
    if args.test_images < 2 || args.train_images == 0 {
        return Err("--test-images must be at least 2 and --train-images at least 1".into());
    }
    let (train, test) = args.data.read()?;
    println!(
        "{} training and {} test patches; {} steps of the fast preset per model",
        train.len(),
        test.len(),
        args.steps
    );
    println!(
        "{:>7} | {:>25} | {:>33} | {:>25}",
        "N", "own advantage A / B", "test: mean |diff|, RMS, corr.", "bases alone: own adv. A"
    );
    let settings = Settings {
        sizes: args.sizes.clone(),
        steps: args.steps,
        test_images: args.test_images,
        train_images: args.train_images,
        seed: args.seed,
    };
    let results = generalization::run(&settings, &train, &test, &args.out, cpu, |r| {
        let m = &r.models;
        println!(
            "{:>7} | {:>11.3} / {:>11.3} | {:>9.3} {:>9.3} {:>11.5} | {:>25.3}   ({:.0} s)",
            r.size,
            m.own_advantage_a,
            m.own_advantage_b,
            m.test_mean_abs_difference,
            m.test_rms_difference,
            m.test_correlation,
            r.bases.own_advantage_a,
            r.train_seconds
        );
    })?;
    println!(
        "(dB/dim; own advantage: log p under the model trained on the patch minus under the other)"
    );
    write_outputs(args, &results)?;
    let per_size: Vec<_> = results
        .iter()
        .map(|r| {
            json!({
                "n": r.size,
                "own_advantage_db": (r.models.own_advantage_a + r.models.own_advantage_b) / 2.0,
                "test_mean_abs_difference_db": r.models.test_mean_abs_difference,
                "test_rms_difference_db": r.models.test_rms_difference,
                "test_correlation": r.models.test_correlation,
                "test_mean_log_p_db": (r.models.test_mean_log_p_a + r.models.test_mean_log_p_b) / 2.0,
                "bases_own_advantage_db": (r.bases.own_advantage_a + r.bases.own_advantage_b) / 2.0,
                "bases_test_mean_abs_difference_db": r.bases.test_mean_abs_difference,
            })
        })
        .collect();
    println!("{}", json!({ "steps": args.steps, "sizes": per_size }));
    Ok(())
}

fn write_outputs(args: &Args, results: &[SizeResult]) -> ExampleResult<()> {
    let rows: Vec<Vec<f64>> = results
        .iter()
        .map(|r| {
            let (m, b) = (&r.models, &r.bases);
            vec![
                r.size as f64,
                m.own_advantage_a,
                m.own_advantage_b,
                m.test_mean_abs_difference,
                m.test_rms_difference,
                m.test_correlation,
                m.test_mean_log_p_a,
                m.test_mean_log_p_b,
                b.own_advantage_a,
                b.own_advantage_b,
                b.test_mean_abs_difference,
                b.test_rms_difference,
                b.test_correlation,
                r.train_seconds,
            ]
        })
        .collect();
    let csv = args.out.join("generalization.csv");
    write_csv(
        &csv,
        &[
            "n",
            "own_advantage_a_db",
            "own_advantage_b_db",
            "test_mean_abs_difference_db",
            "test_rms_difference_db",
            "test_correlation",
            "test_mean_log_p_a_db",
            "test_mean_log_p_b_db",
            "bases_own_advantage_a_db",
            "bases_own_advantage_b_db",
            "bases_test_mean_abs_difference_db",
            "bases_test_rms_difference_db",
            "bases_test_correlation",
            "train_seconds",
        ],
        &rows,
    )?;
    let scatter: Vec<Series> = results
        .iter()
        .map(|r| Series::new(format!("N = {}", r.size), r.test_pairs.clone()))
        .collect();
    let agreement = args.out.join("agreement.png");
    plot::scatter_chart(
        &agreement,
        &Axes::new(
            "test patches: log p under the two models",
            "log p_A (dB/dim)",
            "log p_B (dB/dim)",
        ),
        &scatter,
    )?;
    let curve = |f: fn(&SizeResult) -> f64| -> Vec<(f64, f64)> {
        results.iter().map(|r| (r.size as f64, f(r))).collect()
    };
    let memorization = args.out.join("memorization.png");
    plot::line_chart(
        &memorization,
        &Axes::new(
            "memorization against the number of training patches",
            "N (patches per model)",
            "dB/dim",
        )
        .with_scales(Scale::Log10, Scale::Log10),
        &[
            Series::new(
                "own advantage (models)",
                curve(|r| (r.models.own_advantage_a + r.models.own_advantage_b) / 2.0),
            ),
            Series::new(
                "test mean |log p_A - log p_B| (models)",
                curve(|r| r.models.test_mean_abs_difference),
            ),
            Series::new(
                "own advantage (Gaussian bases)",
                curve(|r| (r.bases.own_advantage_a + r.bases.own_advantage_b) / 2.0),
            ),
        ],
    )?;
    println!(
        "figures: {}, {}; numbers: {}",
        agreement.display(),
        memorization.display(),
        csv.display()
    );
    Ok(())
}
