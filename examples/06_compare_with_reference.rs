//! Training curves of the small UNet energy, to compare with an independent PyTorch
//! implementation (tools/reference/train_compare.py).
//!
//! The idea. The strongest check of a reimplementation is another one: the same model, loss,
//! optimizer and data in PyTorch. Their initializations and random streams differ, so single
//! runs cannot match step for step; the held-out loss of many seeds on a fixed evaluation set
//! can, within the seed-to-seed spread (docs/RESULTS.md, "2000 steps from each implementation's
//! own seeds", has both sides and the comparison).
//!
//! The math. The model is the paper's energy `U(y, t) = 1/2 <y, s(y, t)>` with s the small
//! UNet preset (GELU), trained by the dual loss (docs/METHOD.md section 3):
//! `L_DSM = ||sqrt(t) grad_y U - z||^2 / d` and
//! `L_TSM = ((1 - ||z||^2 / d) / 2 - (t / d) dU/dt)^2`, with `y = x + sqrt(t) z`. The
//! held-out loss is the mean of L_DSM + L_TSM over fixed (x, t, z) triples shared by both
//! implementations, so it is a deterministic function of the weights.
//!
//! What it does:
//! - Training data: the 32x32 uint8 patches of a `.npy` file (`natural_gray_p32_s16_train.npy`)
//!   cut into four 16x16 ones (patch `4 i + 2 r + c` is rows `16 r..`, columns `16 c..` of patch
//!   `i`), pixel / 255. [`Trainer`]: batches from a per-epoch permutation, random horizontal
//!   flips, t log-uniform in [1e-9, 1e3], Adam (0.9, 0.999, 1e-8) at a constant learning rate.
//! - Evaluation set: the safetensors file of `train_compare.py make-eval`, shared with the
//!   PyTorch run: x `[64, 1, 16, 16]`, the authors' 17 noise levels t `[17]` (PSNR -30 .. 90 dB)
//!   and fixed noise z `[64, 17, 1, 16, 16]`. The held-out loss is the mean of dsm + tsm over
//!   the 64 x 17 pairs, the derivatives computed in f32 and the terms summed in f64.
//! - Every `--eval-every` steps it appends (implementation, seed, step, held-out loss, dsm,
//!   tsm, seconds) to the CSV of `--out`, the format the PyTorch script writes.
//!
//! What to look at: on the natural patches the held-out loss starts between 20 and 80 (the
//! loss at initialization has a heavy tail) and falls to about 1.4 at step 2000 (1.24 to 1.67
//! over seeds 0 to 9, the PyTorch runs 1.15 to 2.29); its dsm part settles smoothly near 1.14,
//! its tsm part still jumps from one evaluation to the next at this constant rate. Compare
//! the CSV's curves, seed by seed and as a mean, with the PyTorch script's. The last line printed is
//! `{"final_heldout_loss":[..],"seconds":..,"seeds":[..],"steps":..}`, one final loss per seed.
//!
//! Run: `cargo run --release -p dualscore-examples --example 06_compare_with_reference -- \
//!   --train ../shared/data/natural_gray_p32_s16_train.npy --eval eval_set.safetensors \
//!   --out rust.csv`
//!
//! Without the data (a smoke run, as CI does): `--synthetic 64 --steps 2 --eval-every 1
//! --seeds 0 --out /tmp/rust.csv` trains on 64 uniform random patches and evaluates 4 of them
//! at the same 17 noise levels with seeded z; its numbers compare with nothing.

use clap::Parser;
use dualscore_core::autograd::Graph;
use dualscore_core::energy::{Energy, InnerProduct};
use dualscore_core::nn::{Activation, Init, UNet, UNetConfig};
use dualscore_core::rng::{RngKey, normal_values, uniform_at};
use dualscore_core::train::{
    ImageSource, LrSchedule, Objective, TrainConfig, Trainer, evaluation_variances,
};
use dualscore_core::{Error, Result, Tensor};
use dualscore_cpu::Cpu;
use safetensors::{Dtype, SafeTensors};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Train the small UNet energy on 16x16 natural patches and record held-out losses.
#[derive(Debug, Parser)]
struct Args {
    /// The 32x32 uint8 training patches (.npy).
    #[arg(
        long,
        required_unless_present = "synthetic",
        conflicts_with = "synthetic"
    )]
    train: Option<PathBuf>,
    /// The evaluation set (safetensors, from train_compare.py make-eval).
    #[arg(
        long,
        required_unless_present = "synthetic",
        conflicts_with = "synthetic"
    )]
    eval: Option<PathBuf>,
    /// Instead of `--train` and `--eval`: this many uniform random 16x16 training patches,
    /// and 4 of them at the 17 evaluation noise levels with seeded z (a smoke run).
    #[arg(long)]
    synthetic: Option<usize>,
    /// The seeds (initialization and training streams), comma-separated.
    #[arg(long, default_value = "0,1,2,3,4", value_delimiter = ',')]
    seeds: Vec<u64>,
    /// Training steps per seed.
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Constant learning rate.
    #[arg(long, default_value_t = 5e-4)]
    lr: f64,
    /// Steps between evaluations (also at step 0).
    #[arg(long, default_value_t = 200)]
    eval_every: u64,
    /// Evaluation pairs per forward and backward pass.
    #[arg(long, default_value_t = 136)]
    eval_chunk: usize,
    /// Threads of the CPU backend.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Train without random horizontal flips.
    #[arg(long)]
    no_flips: bool,
    /// The CSV to append to (a header is written when it is new).
    #[arg(long)]
    out: PathBuf,
}

/// 16x16 patches held as f32 values `[N, 1, 16, 16]`.
struct Patches {
    backend: Cpu,
    values: Vec<f32>,
}

const SIDE: usize = 16;
const D: usize = SIDE * SIDE;

impl ImageSource<Cpu, f32> for Patches {
    fn num_images(&self) -> usize {
        self.values.len() / D
    }

    fn image_shape(&self) -> [usize; 3] {
        [1, SIDE, SIDE]
    }

    fn fetch(&self, indices: &[usize]) -> Result<Tensor<Cpu, f32>> {
        let mut batch = Vec::with_capacity(indices.len() * D);
        for &i in indices {
            batch.extend_from_slice(&self.values[i * D..(i + 1) * D]);
        }
        Tensor::from_slice(&self.backend, &batch, [indices.len(), 1, SIDE, SIDE])
    }
}

/// The uint8 array `[N, 32, 32]` of a version-1 `.npy` file, cut into `4 N` 16x16 patches,
/// pixel / 255.
fn read_patches(path: &PathBuf, backend: &Cpu) -> Result<Patches> {
    let bad = |why: String| Error::invalid("npy", format!("{}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" || bytes[6] != 1 {
        return Err(bad("not a version 1 .npy file".into()));
    }
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len])
        .map_err(|_| bad("the header is not text".into()))?;
    if !header.contains("'descr': '|u1'") || !header.contains("'fortran_order': False") {
        return Err(bad(format!("expected C-ordered uint8, got {header}")));
    }
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .map(|s| {
            s.split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| p.trim().parse().unwrap_or(0))
                .collect()
        })
        .ok_or_else(|| bad("no shape".into()))?;
    if shape.len() != 3 || shape[1] != 2 * SIDE || shape[2] != 2 * SIDE {
        return Err(bad(format!("expected [N, 32, 32], got {shape:?}")));
    }
    let data = &bytes[10 + header_len..];
    let n = shape[0];
    if data.len() != n * 4 * D {
        return Err(bad("truncated data".into()));
    }
    let mut values = Vec::with_capacity(n * 4 * D);
    for patch in data.chunks_exact(4 * D) {
        for (r, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            for row in 0..SIDE {
                let start = (r * SIDE + row) * 2 * SIDE + c * SIDE;
                values.extend(patch[start..start + SIDE].iter().map(|&p| p as f32 / 255.0));
            }
        }
    }
    Ok(Patches {
        backend: backend.clone(),
        values,
    })
}

/// `count` patches of independent uniform pixels in [0, 1).
fn synthetic_patches(count: usize, backend: &Cpu) -> Patches {
    let key = RngKey::new(0, 600);
    Patches {
        backend: backend.clone(),
        values: (0..count * D)
            .map(|i| uniform_at(key, i as u64) as f32)
            .collect(),
    }
}

/// The first `images` of `data` at the 17 evaluation noise levels, with seeded z.
fn synthetic_eval(data: &Patches, images: usize) -> Result<EvalSet> {
    let levels = evaluation_variances();
    let images = images.min(data.num_images());
    if images == 0 {
        return Err(Error::invalid("--synthetic", "no patches to evaluate"));
    }
    let mut x = Vec::with_capacity(images * levels.len() * D);
    let mut t = Vec::with_capacity(images * levels.len());
    for image in data.values.chunks_exact(D).take(images) {
        for &level in &levels {
            x.extend_from_slice(image);
            t.push(level);
        }
    }
    let z = normal_values(RngKey::new(0, 601), 0, x.len())
        .into_iter()
        .map(|z| z as f32)
        .collect();
    Ok(EvalSet { x, z, t })
}

/// The evaluation pairs: x repeated per level, z and t (f64) per pair.
struct EvalSet {
    x: Vec<f32>,
    z: Vec<f32>,
    t: Vec<f64>,
}

fn read_eval(path: &PathBuf) -> Result<EvalSet> {
    let bad = |why: String| Error::invalid("eval set", format!("{}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let get = |name: &str, dtype: Dtype| -> Result<(Vec<usize>, Vec<u8>)> {
        let view = file.tensor(name).map_err(|e| bad(e.to_string()))?;
        if view.dtype() != dtype {
            return Err(bad(format!(
                "{name} is {:?}, expected {dtype:?}",
                view.dtype()
            )));
        }
        Ok((view.shape().to_vec(), view.data().to_vec()))
    };
    let f32s = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect()
    };
    let (x_shape, x) = get("x", Dtype::F32)?;
    let (z_shape, z) = get("z", Dtype::F32)?;
    let (t_shape, t) = get("t", Dtype::F64)?;
    let (n, levels) = (x_shape[0], t_shape[0]);
    if x_shape != [n, 1, SIDE, SIDE] || z_shape != [n, levels, 1, SIDE, SIDE] {
        return Err(bad(format!(
            "shapes x {x_shape:?}, z {z_shape:?}, t {t_shape:?}"
        )));
    }
    let x = f32s(&x);
    let t: Vec<f64> = t
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let mut xs = Vec::with_capacity(n * levels * D);
    let mut ts = Vec::with_capacity(n * levels);
    for image in x.chunks_exact(D) {
        for &level in &t {
            xs.extend_from_slice(image);
            ts.push(level);
        }
    }
    Ok(EvalSet {
        x: xs,
        z: f32s(&z),
        t: ts,
    })
}

/// Mean dsm + tsm (and the two means) of `energy` over the evaluation pairs.
fn held_out_loss<E: Energy<Cpu, f32>>(
    energy: &E,
    eval: &EvalSet,
    backend: &Cpu,
    chunk: usize,
) -> Result<(f64, f64, f64)> {
    let pairs = eval.t.len();
    let (mut dsm_sum, mut tsm_sum) = (0.0, 0.0);
    for start in (0..pairs).step_by(chunk) {
        let end = (start + chunk).min(pairs);
        let m = end - start;
        let x = &eval.x[start * D..end * D];
        let z = &eval.z[start * D..end * D];
        let t = &eval.t[start..end];
        // y = x + sqrt(t) z in f32, as PyTorch computes it.
        let y: Vec<f32> = x
            .iter()
            .zip(z)
            .enumerate()
            .map(|(k, (&x, &z))| x + (t[k / D] as f32).sqrt() * z)
            .collect();
        let t32: Vec<f32> = t.iter().map(|&t| t as f32).collect();
        let y = Tensor::from_slice(backend, &y, [m, 1, SIDE, SIDE])?;
        let tt = Tensor::from_slice(backend, &t32, [m])?;
        let g = energy.energy_gradients(&y, &tt, Graph::Drop)?;
        let grad_y = g.grad_y.to_f64_vec()?;
        let grad_t = g.grad_t.to_f64_vec()?;
        for k in 0..m {
            let (gy, zk) = (&grad_y[k * D..(k + 1) * D], &z[k * D..(k + 1) * D]);
            let sqrt_t = t[k].sqrt();
            let dsm: f64 = gy
                .iter()
                .zip(zk)
                .map(|(&g, &z)| (sqrt_t * g - f64::from(z)).powi(2))
                .sum::<f64>()
                / D as f64;
            let z_norm: f64 = zk.iter().map(|&z| f64::from(z).powi(2)).sum();
            let target = (1.0 - z_norm / D as f64) / 2.0;
            let tsm = (target - t[k] / D as f64 * grad_t[k]).powi(2);
            dsm_sum += dsm;
            tsm_sum += tsm;
        }
    }
    let (dsm, tsm) = (dsm_sum / pairs as f64, tsm_sum / pairs as f64);
    Ok((dsm + tsm, dsm, tsm))
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let cpu = Cpu::with_threads(args.threads)?;
    let (data, eval) = match (args.synthetic, &args.train, &args.eval) {
        (Some(count), _, _) => {
            let data = synthetic_patches(count, &cpu);
            let eval = synthetic_eval(&data, 4)?;
            (data, eval)
        }
        (None, Some(train), Some(eval)) => (read_patches(train, &cpu)?, read_eval(eval)?),
        _ => return Err("give --train and --eval, or --synthetic".into()),
    };
    println!(
        "{} training patches 16x16, {} evaluation pairs, {} threads",
        data.num_images(),
        eval.t.len(),
        cpu.threads()
    );
    let new_file = !args.out.exists();
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.out)?;
    if new_file {
        writeln!(
            out,
            "implementation,seed,step,heldout_loss,heldout_dsm,heldout_tsm,elapsed_s"
        )?;
    }
    let unet_config = UNetConfig::small().with_activation(Activation::Gelu);
    let all_started = Instant::now();
    let mut final_losses = Vec::with_capacity(args.seeds.len());
    for &seed in &args.seeds {
        let network = UNet::<Cpu, f32>::new(&cpu, &mut Init::new(seed), &unet_config)?;
        let config = TrainConfig {
            batch_size: args.batch,
            steps: args.steps,
            objective: Objective::Dual,
            schedule: LrSchedule::constant(args.lr),
            seed,
            flips: !args.no_flips,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(InnerProduct::new(network), (), config)?;
        let started = Instant::now();
        let mut record = |trainer: &Trainer<Cpu, f32, _>, step: u64| -> Result<f64> {
            let (loss, dsm, tsm) = held_out_loss(trainer.model(), &eval, &cpu, args.eval_chunk)?;
            let elapsed = started.elapsed().as_secs_f64();
            writeln!(
                out,
                "rust,{seed},{step},{loss:.10e},{dsm:.10e},{tsm:.10e},{elapsed:.2}"
            )
            .and_then(|()| out.flush())
            .map_err(|e| Error::invalid("csv", e.to_string()))?;
            println!(
                "seed {seed} step {step}: held-out loss {loss:.6} (dsm {dsm:.6}, tsm {tsm:.6}) {elapsed:.0} s"
            );
            Ok(loss)
        };
        let mut last = record(&trainer, 0)?;
        for step in 1..=args.steps {
            trainer.step(&data)?;
            if step % args.eval_every == 0 {
                last = record(&trainer, step)?;
            }
        }
        final_losses.push(last);
        println!(
            "seed {seed}: {} steps in {:.0} s",
            args.steps,
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "{}",
        serde_json::json!({
            "seeds": args.seeds,
            "steps": args.steps,
            "final_heldout_loss": final_losses,
            "seconds": all_started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
