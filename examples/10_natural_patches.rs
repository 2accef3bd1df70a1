//! Learning a normalized density of natural image patches, in minutes, with the `fast` model.
//!
//! The idea. Dual score matching trains one energy U(y, t) on noisy images y = x + sqrt(t) z
//! at every noise level at once: the denoising term matches grad_y U to z / sqrt(t), the time
//! term matches dU/dt to its own target (docs/METHOD.md section 3):
//!
//! `L = ||sqrt(t) grad_y U - z||^2 / d + ((1 - ||z||^2 / d) / 2 - (t / d) dU/dt)^2`.
//!
//! Once trained, one constant c computed at a large t normalizes every t, and
//! `-log p(x) = U(x, 0) + c` costs one network evaluation. The `fast` model (the program's
//! default preset, docs/CONVERGENCE.md) is the small UNet on log t, preconditioned, as the
//! residual of a full-covariance Gaussian fitted to the training patches: it starts as that
//! Gaussian, so its NLL starts at the Gaussian baseline's and everything it learns shows as
//! bits/dim below it.
//!
//! What it does: trains as `dualscore train` does (the program's own code) on 16x16 patches,
//! then measures the test NLL beside the Gaussian baseline as `dualscore nll` does, and draws
//! the training loss and the held-out loss per noise band against the step as
//! `dualscore curves` does (`training_loss.png`, `held_out_loss.png` in the output folder).
//!
//! What to look at: the NLL falls below the Gaussian's (lower is better) within a few hundred
//! steps; the held-out loss falls first in the middle band (1e-3 <= t < 1), where a Gaussian is
//! furthest from natural images; the small-t band stays near 1, the loss of the noise itself.
//! The last line printed is JSON.
//!
//! Data: by default the program's seven built-in photographs (two held out); on the
//! project's natural patches add `--train natural_gray_p32_s16_train.npy --test
//! natural_gray_p32_s16_test.npy`. Longer: `--steps 6000 --eval-every 500` (about 10 minutes on
//! 2 quiet cores).
//!
//! Run: `cargo run --release -p dualscore-examples --example 10_natural_patches`.

use clap::Parser;
use dualscore_cpu::Cpu;
use dualscore_examples::natural::{self, PatchArgs, Trained};
use dualscore_examples::{ExampleResult, on_cpu};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Train the fast model on natural patches and compare its NLL with the Gaussian's.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    data: PatchArgs,
    /// Training steps of 32 patches.
    #[arg(long, default_value_t = 600)]
    steps: u64,
    /// Measure the held-out loss every this many steps.
    #[arg(long, default_value_t = 100)]
    eval_every: u64,
    /// The seed of the weights, the data order and the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The output folder; the model goes into its `model` subfolder, which must not exist.
    #[arg(long, default_value = "example-10")]
    out: PathBuf,
}

fn main() -> ExampleResult<()> {
    let args = Args::parse();
    on_cpu(args.threads, |cpu| run(&args, cpu))
}

fn run(args: &Args, cpu: &Cpu) -> ExampleResult<()> {
    if args.steps == 0 || args.eval_every == 0 {
        return Err("--steps and --eval-every must be at least 1".into());
    }
    let (train, test) = args.data.read()?;
    println!(
        "{} training and {} test patches of 16x16 ({} and {})",
        train.len(),
        test.len(),
        train.origin().display(),
        test.origin().display()
    );
    let dir = args.out.join("model");
    let flags: Vec<String> = [
        "--steps",
        &args.steps.to_string(),
        "--eval-every",
        &args.eval_every.to_string(),
        "--checkpoint-every",
        &args.steps.to_string(),
        "--seed",
        &args.seed.to_string(),
    ]
    .map(String::from)
    .to_vec();
    let outcome = natural::train(&train, Some(&test), &dir, &flags, cpu)?;
    println!(
        "trained {} steps of the fast preset in {:.0} s into {}",
        outcome.step,
        outcome.seconds,
        dir.display()
    );

    let model = Trained::open(&dir, &train, cpu)?;
    let nll = model.nll(&train, &test, cpu)?;
    let ours = nll.summary.nll_bits_per_dim;
    let gaussian = natural::baseline_bits(&nll);
    println!(
        "test NLL {ours:.4} +- {:.4} bits/dim; the full-covariance Gaussian {gaussian:.4}: {:+.4} bits/dim ({} test patches, constant {:.2} nats)",
        nll.summary.nll_bits_per_dim_std_error,
        ours - gaussian,
        nll.summary.images,
        nll.constant.value
    );

    let evaluations = read_evaluations(&dir)?;
    println!("held-out loss (dsm + tsm) per noise band:");
    let first = evaluations.first().cloned().unwrap_or(Value::Null);
    let names: Vec<String> = bands(&first).iter().map(|(n, _)| n.clone()).collect();
    println!("{:>7} {}", "step", names.join(" | "));
    for e in &evaluations {
        let row: Vec<String> = bands(e).iter().map(|(_, l)| format!("{l:.4}")).collect();
        println!("{:>7} {}", e["step"], row.join(" | "));
    }
    let mut sink = std::io::sink();
    let figures = args.out.to_str().ok_or("--out must be a UTF-8 path")?;
    let run_dir = dir.to_str().ok_or("--out must be a UTF-8 path")?;
    dualscore::app::run(
        ["dualscore", "curves", "--run", run_dir, "--out", figures],
        &mut sink,
        false,
    )?;
    println!(
        "figures: {0}/training_loss.png, {0}/held_out_loss.png",
        args.out.display()
    );
    let last = evaluations.last().cloned().unwrap_or(Value::Null);
    let band_json: serde_json::Map<String, Value> = bands(&last)
        .into_iter()
        .map(|(n, l)| (n, json!(l)))
        .collect();
    println!(
        "{}",
        json!({
            "steps": outcome.step,
            "seconds": outcome.seconds,
            "nll_bits": ours,
            "nll_bits_std_error": nll.summary.nll_bits_per_dim_std_error,
            "gaussian_nll_bits": gaussian,
            "held_out_loss_by_band": band_json,
        })
    );
    Ok(())
}

/// The lines of the run's `eval.jsonl`.
fn read_evaluations(dir: &std::path::Path) -> ExampleResult<Vec<Value>> {
    let path = dir.join("eval.jsonl");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

/// (name, loss) of each band of one evaluation.
fn bands(evaluation: &Value) -> Vec<(String, f64)> {
    evaluation["bands"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or("?").to_string(),
                b["loss"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}
