//! Homogeneous networks: when is `s(a y) = a s(y)`, and why it matters for a density.
//!
//! The idea. The paper's energy is `U(y, t) = 1/2 <y, s(y, t)>` with s a UNet without additive
//! biases. If s were exactly homogeneous of degree 1 (`s(a y) = a s(y)` for a > 0), U would be
//! homogeneous of degree 2, and Euler's identity would give `<grad_y U, y> = 2 U`. With the
//! right scores, Stein's identity gives `E[<y, grad_y U>] = d`, so `E[U] = d/2` at every t: the
//! normalization at t_max then yields the same NLL for every data set, `8 + 1/2 log2(2 pi e
//! t_max)` = 15.03 bits/dim at t_max = 1e3 (docs/METHOD.md section 7). Two things break exact
//! homogeneity in the authors' network: GELU (`GELU(a x) != a GELU(x)`) and the eps of the
//! normalization (`v / (v + eps)` changes when the input's variance v is scaled by a^2).
//!
//! What it measures, on the UNet of the `fast` preset at initialization (16x16 gray, the same
//! weights for every variant) and patches of the built-in photographs:
//! - the relative deviation `||s(a y) - a s(y)|| / ||a s(y)||` for a from 1e-3 to 1e3;
//! - the Euler defect `|<grad_y U, y> - 2 U| / (||y|| ||grad_y U||)` of the energy.
//!
//! What to look at: ReLU with eps = 0 is homogeneous to rounding (1e-15) at every scale. With
//! eps = 1e-5, patches scaled by a <= 0.01 have channel variances below eps, so the
//! normalizations stop rescaling and the deviation reaches 1; for large a, eps vanishes beside
//! the variances and s(a y) tends to a times the network *without* eps, which differs from the
//! network with eps already at a = 1 (its deepest layers see small variances). GELU deviates
//! at every scale: for large inputs it acts like ReLU, so s(a y) tends to a times the ReLU
//! network's output, not the GELU network's, and the deviation saturates near 1. Those
//! deviations are what keep the authors' energy out of the 15.03 bits/dim trap. The figure
//! `homogeneity.png` draws the four curves; the last line printed is JSON.
//!
//! Run: `cargo run --release -p dualscore-examples --example 08_homogeneous_networks`
//! (`-- --help` for its flags).

use clap::Parser;
use dualscore::app::{demo_patches, spread};
use dualscore::model::Preset;
use dualscore::plot::{self, Axes, Scale, Series};
use dualscore_core::Tensor;
use dualscore_core::nn::Activation;
use dualscore_cpu::Cpu;
use dualscore_examples::homogeneity::{self, SCALES, homogeneous_trap_nll_bits};
use dualscore_examples::{ExampleResult, on_cpu};
use serde_json::json;
use std::path::PathBuf;

/// Measure how homogeneous the UNet is, with ReLU or GELU and with or without eps.
#[derive(Debug, Parser)]
struct Args {
    /// Patches of the built-in photographs to measure on.
    #[arg(long, default_value_t = 16)]
    images: usize,
    /// The noise variance t given to the network (it enters only through gains).
    #[arg(long, default_value_t = 0.1)]
    t: f64,
    /// The seed of the weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Where the figure goes.
    #[arg(long, default_value = "example-08")]
    out: PathBuf,
}

fn main() -> ExampleResult<()> {
    let args = Args::parse();
    on_cpu(args.threads, |cpu| run(&args, cpu))
}

fn run(args: &Args, cpu: &Cpu) -> ExampleResult<()> {
    if args.images == 0 {
        return Err("--images must be at least 1".into());
    }
    std::fs::create_dir_all(&args.out)?;
    let (train, _) = demo_patches(16)?;
    let images = spread(&train, args.images)?;
    let y = Tensor::<Cpu, f64>::from_f64(cpu, images.values(), images.shape())?;
    let mut config = Preset::Fast.unet();
    config.image_size = 16;
    let results = homogeneity::measure(cpu, &config, &y, args.t, &SCALES, args.seed)?;

    println!(
        "the fast preset's UNet at initialization, {} patches 16x16 of the built-in photographs, t = {}",
        images.len(),
        args.t
    );
    println!("relative deviation ||s(a y) - a s(y)|| / ||a s(y)||, and the energy's Euler defect:");
    print!("{:>14}", "variant");
    SCALES
        .iter()
        .for_each(|a| print!(" {:>9}", format!("a={a}")));
    println!(" {:>9}", "Euler");
    let mut summary = serde_json::Map::new();
    let mut series = Vec::new();
    for r in &results {
        let eps = if r.variant.eps == 0.0 {
            "0".to_string()
        } else {
            format!("{:e}", r.variant.eps)
        };
        let name = format!("{} eps={eps}", activation_name(r.variant.activation));
        print!("{name:>14}");
        r.deviations.iter().for_each(|(_, v)| print!(" {v:>9.2e}"));
        println!(" {:>9.2e}", r.euler_defect);
        let near_one = r
            .deviations
            .iter()
            .filter(|(a, _)| (0.5..=2.0).contains(a))
            .map(|(_, v)| *v)
            .fold(0.0, f64::max);
        let key = name.to_lowercase().replace(" eps=", "_eps_");
        summary.insert(format!("{key}_deviation_a_0.5_to_2"), json!(near_one));
        summary.insert(format!("{key}_deviation_a_1e-3"), json!(r.deviations[0].1));
        summary.insert(format!("{key}_euler_defect"), json!(r.euler_defect));
        series.push(Series::new(name, r.deviations.clone()));
    }
    let trap = homogeneous_trap_nll_bits(1e3);
    println!(
        "an exactly homogeneous energy with the right scores would measure {trap:.2} bits/dim on any data (docs/METHOD.md section 7)"
    );
    let figure = args.out.join("homogeneity.png");
    plot::line_chart(
        &figure,
        &Axes::new(
            "deviation from homogeneity of the UNet",
            "scale a",
            "||s(a y) - a s(y)|| / ||a s(y)||",
        )
        .with_scales(Scale::Log10, Scale::Log10),
        &series,
    )?;
    println!("figure: {}", figure.display());
    summary.insert("homogeneous_trap_nll_bits".into(), json!(trap));
    println!("{}", serde_json::Value::Object(summary));
    Ok(())
}

fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Relu => "ReLU",
        Activation::Gelu => "GELU",
        _ => "other",
    }
}
