//! The program on arbitrary command lines, run on tiny generated inputs: every command line
//! parses to a command or a usage error, and a command that runs ends with a result or an
//! error, never a panic, within a time limit.
//!
//! The input is the arguments separated by NUL bytes, then optionally a 0xFF byte and the bytes
//! of a file that the arguments may name (`f.npy`, `f.idx`, `f.json`, `f.safetensors`,
//! `f.png`: the same bytes under each name). Every command runs in a fresh folder holding
//! tiny inputs made once per process:
//!
//! | name | what |
//! |---|---|
//! | `x.npy`, `t.npy` | 16 and 8 float32 images of 1 x 4 x 4 in [0, 1] |
//! | `x.idx`, `x.idx.gz` | 8 unsigned-byte images of 4 x 4 (IDX, plain and gzip) |
//! | `photos/` | three 12 x 12 PNG photographs |
//! | `g.json`, `m.json` | a Gaussian and a mixture of Gaussian fields on 1 x 4 x 4 |
//! | `run/` | a checkpoint folder of a UNet (base width 2, one scale) trained 2 steps on `x.npy` |
//! | `a.safetensors` | the import test's converted authors' checkpoint (cli/tests/data) |
//!
//! Every path of the parsed command is taken inside that folder (a path that is absolute or
//! climbs out with `..` is not run). A command runs only when its sizes are small (steps,
//! counts, points, images, widths: [`affordable`]); so a run takes milliseconds to a second, and
//! one that takes more than [`CPU_SECONDS_LIMIT`] seconds of processor time fails the harness,
//! as a panic does. `demo` and `bench` are parsed but not run (they train on the built-in
//! photographs and time fixed large kernels).

use clap::Parser;
use dualscore::app::{Cli, Command, run_cli};
use dualscore::model::Preset;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The processor time one command may take, in seconds.
pub const CPU_SECONDS_LIMIT: f64 = 10.0;

/// Splits `bytes` into arguments (at NUL bytes, before the first 0xFF) and a file (after it).
pub fn split(bytes: &[u8]) -> (Vec<String>, Option<&[u8]>) {
    let (args, file) = match bytes.iter().position(|&b| b == 0xFF) {
        Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
        None => (bytes, None),
    };
    let args = std::iter::once("dualscore".to_string())
        .chain(
            args.split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned()),
        )
        .collect();
    (args, file)
}

/// Parses the arguments and, when the command is affordable, runs it in a fresh folder of tiny
/// inputs.
pub fn run(bytes: &[u8]) {
    let _ = execute(bytes);
}

/// [`run`], returning what the command returned (its error as text), or `None` when it did not
/// run (a usage error, sizes too large, a path outside the folder).
pub fn execute(bytes: &[u8]) -> Option<Result<serde_json::Value, String>> {
    let (args, file) = split(bytes);
    let mut cli = Cli::try_parse_from(&args).ok()?;
    if !affordable(&cli) {
        return None;
    }
    let folder = Folder::new(file);
    if !within(&mut cli, &folder.path) {
        return None;
    }
    cli.threads = Some(cli.threads.unwrap_or(1));
    let start = cpu_seconds();
    let result = run_cli(&cli, &mut std::io::sink(), false);
    let used = cpu_seconds() - start;
    assert!(
        used <= CPU_SECONDS_LIMIT,
        "{args:?} took {used:.1} s of processor time (limit {CPU_SECONDS_LIMIT} s)"
    );
    Some(result.map_err(|e| e.to_string()))
}

/// Only parses the arguments (the harness before commands ran).
pub fn parse(bytes: &[u8]) {
    let (args, _) = split(bytes);
    let _ = Cli::try_parse_from(&args);
}

/// Whether every size of the command is small enough for it to run in about a second.
pub fn affordable(cli: &Cli) -> bool {
    let small = |v: usize, max: usize| v <= max;
    let small_opt = |v: Option<usize>, max: usize| v.is_none_or(|v| v <= max);
    if cli.threads.is_some_and(|t| t > 4) {
        return false;
    }
    match &cli.command {
        Command::Demo(_) | Command::Bench(_) => false,
        Command::Info | Command::Import(_) | Command::Curves(_) => true,
        Command::Train(a) => {
            let width = a.arch.base_width.unwrap_or(match a.arch.preset {
                Preset::Fast | Preset::Small => 16,
                Preset::Mid | Preset::Paper => 64,
            });
            a.steps.is_some_and(|s| s <= 4)
                && small(width, 16)
                && small_opt(a.arch.scales, 3)
                && small_opt(a.arch.layers_per_block, 4)
                && small_opt(a.batch, 16)
                && small_opt(a.data.patch, 32)
                && small(a.data.test_photos, 4)
        }
        Command::Nll(a) => small_opt(a.data.patch, 32),
        Command::Logp(a) => small_opt(a.data.patch, 32),
        Command::Denoise(a) => {
            small_opt(a.data.patch, 32) && a.psnrs.as_ref().is_none_or(|p| p.len() <= 8)
        }
        Command::Dim(a) => small_opt(a.data.patch, 32) && small(a.points, 8) && small(a.draws, 8),
        Command::Sample(a) => small(a.count, 4) && small(a.steps, 20) && small_opt(a.size, 16),
        Command::Report(a) => {
            let s = &a.sizes;
            small_opt(a.data.patch, 32)
                && small(s.images, 16)
                && small(s.denoise_images, 16)
                && small(s.dim_images, 8)
                && small(s.dim_points, 5)
                && small(s.samples, 4)
                && small(s.sample_steps, 20)
        }
        Command::Synth(a) => {
            small(a.train_count, 64) && small(a.test_count, 64) && small(a.entropy_samples, 64)
        }
    }
}

/// Whether `path` stays inside the folder it is taken from (no root, no `..`).
fn local(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Takes every path of the command inside `folder`; false if one would leave it.
fn within(cli: &mut Cli, folder: &Path) -> bool {
    let mut paths: Vec<&mut PathBuf> = Vec::new();
    let mut optional: Vec<&mut Option<PathBuf>> = Vec::new();
    match &mut cli.command {
        Command::Demo(a) => paths.push(&mut a.out),
        Command::Info | Command::Bench(_) => {}
        Command::Train(a) => {
            paths.push(&mut a.out);
            optional.extend([&mut a.data.train, &mut a.data.test, &mut a.data.photos]);
        }
        Command::Nll(a) => {
            paths.push(&mut a.model.model);
            optional.extend([&mut a.data.train, &mut a.data.test, &mut a.data.photos]);
        }
        Command::Logp(a) => {
            paths.extend([&mut a.model.model, &mut a.out]);
            optional.extend([&mut a.data.train, &mut a.data.test, &mut a.data.photos]);
        }
        Command::Denoise(a) => {
            paths.push(&mut a.model.model);
            optional.extend([&mut a.data.train, &mut a.data.test, &mut a.data.photos]);
        }
        Command::Dim(a) => {
            paths.push(&mut a.model.model);
            optional.extend([
                &mut a.data.train,
                &mut a.data.test,
                &mut a.data.photos,
                &mut a.per_image,
            ]);
        }
        Command::Sample(a) => {
            paths.extend([&mut a.model, &mut a.out]);
            optional.push(&mut a.npy);
        }
        Command::Report(a) => {
            paths.extend([&mut a.model.model, &mut a.out]);
            optional.extend([&mut a.data.train, &mut a.data.test, &mut a.data.photos]);
        }
        Command::Import(a) => paths.extend([&mut a.input, &mut a.out]),
        Command::Curves(a) => {
            paths.push(&mut a.run);
            optional.extend([&mut a.out, &mut a.truth, &mut a.test]);
        }
        Command::Synth(a) => optional.extend([&mut a.model, &mut a.out, &mut a.write_model]),
    }
    let all = paths.into_iter().chain(optional.into_iter().flatten());
    for path in all {
        if !local(path) {
            return false;
        }
        *path = folder.join(&*path);
    }
    true
}

/// The processor time of the process so far, in seconds (Linux: /proc/self/stat; elsewhere the
/// time since the first call).
pub fn cpu_seconds() -> f64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let wall = || {
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs_f64()
    };
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return wall();
    };
    // Fields after the command name (which is in parentheses and may hold spaces): utime and
    // stime are the 12th and 13th, in clock ticks (100 per second on Linux).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return wall();
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    match (fields.get(11), fields.get(12)) {
        (Some(u), Some(s)) => match (u.parse::<f64>(), s.parse::<f64>()) {
            (Ok(u), Ok(s)) => (u + s) / 100.0,
            _ => wall(),
        },
        _ => wall(),
    }
}

// ---- the inputs ------------------------------------------------------------------------------

/// A fresh folder holding the tiny inputs (and the input's file); removed when dropped.
struct Folder {
    path: PathBuf,
}

impl Folder {
    fn new(file: Option<&[u8]>) -> Folder {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let template = template();
        let path = template.with_file_name(format!("run-{}", COUNT.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&path);
        copy_tree(template, &path);
        if let Some(bytes) = file {
            for name in ["f.npy", "f.idx", "f.json", "f.safetensors", "f.png"] {
                std::fs::write(path.join(name), bytes).expect("writing the input's file");
            }
        }
        Folder { path }
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a folder for the inputs");
    for entry in std::fs::read_dir(from).expect("reading the inputs' template") {
        let entry = entry.expect("reading the inputs' template");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copying an input");
        }
    }
}

/// The template folder of the tiny inputs, made once per process in the temporary folder.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("dualscore-fuzz-{}", std::process::id()));
        let dir = base.join("template");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("photos")).expect("creating the inputs' template");
        write_inputs(&dir);
        dir
    })
}

fn write_inputs(dir: &Path) {
    use dualscore::data::{f32_le_bytes, idx_bytes, npy_bytes, npy_dict};
    let pixels = |n: usize, seed: u32| -> Vec<f32> {
        (0..n * 16)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 999.0)
            .collect()
    };
    let npy = |n: usize, seed: u32| {
        let dict = npy_dict("<f4", &format!("({n}, 1, 4, 4)"));
        npy_bytes(1, &dict, &f32_le_bytes(&pixels(n, seed)))
    };
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).expect("writing an input");
    };
    write("x.npy", &npy(16, 1));
    write("t.npy", &npy(8, 2));
    let bytes: Vec<u8> = pixels(8, 3).iter().map(|v| (v * 255.0) as u8).collect();
    let idx = idx_bytes(0x08, &[8, 4, 4], &bytes);
    write("x.idx", &idx);
    write("x.idx.gz", &crate::images::gzip(&idx));
    for (i, name) in ["photos/a.png", "photos/b.png", "photos/c.png"]
        .into_iter()
        .enumerate()
    {
        let photo = image::GrayImage::from_fn(12, 12, |x, y| {
            image::Luma([(x * 19 + y * 7 + 50 * i as u32) as u8])
        });
        photo.save(dir.join(name)).expect("writing a photograph");
    }
    write(
        "g.json",
        br#"{"kind": "gaussian", "shape": [1, 4, 4], "mean": 0.5, "variance": 0.02}"#,
    );
    write(
        "m.json",
        br#"{"kind": "field_mixture", "shape": [1, 4, 4], "components": [{"weight": 1, "alpha": 2, "pixel_variance": 0.02, "mean": 0.5}, {"weight": 1, "alpha": 3, "pixel_variance": 0.05, "mean": 0.4}]}"#,
    );
    write(
        "a.safetensors",
        include_bytes!("../../cli/tests/data/authors_tiny.safetensors"),
    );
    let d = dir.display();
    let train = format!(
        "train\0--train\0{d}/x.npy\0--test\0{d}/t.npy\0--out\0{d}/run\0--steps\x002\0--base-width\x002\0--scales\x001\0--batch\x004\0--eval-images\x004\0--threads\x001"
    );
    let (args, _) = split(train.as_bytes());
    let cli = Cli::try_parse_from(&args).expect("the template's train command parses");
    run_cli(&cli, &mut std::io::sink(), false).expect("training the template's model");
}

/// Command lines to start from: each command on the tiny inputs, with small sizes.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        "info",
        "train\0--train\0x.npy\0--test\0t.npy\0--out\0new\0--steps\x002\0--base-width\x002\0--scales\x001\0--batch\x004",
        "train\0--train\0x.npy\0--test\0t.npy\0--out\0run\0--resume\0--steps\x004\0--base-width\x002\0--scales\x001\0--batch\x004\0--eval-images\x004",
        "train\0--train\0x.idx\0--out\0i\0--steps\x002\0--base-width\x002\0--scales\x002\0--batch\x004\0--checkpoint-every\x001\0--eval-every\x001",
        "train\0--photos\0photos\0--patch\x004\0--out\0p\0--steps\x001\0--preset\0small\0--base-width\x002\0--batch\x002",
        "train\0--train\0x.idx.gz\0--out\0s\0--steps\x002\0--single\0--base\0gaussian\0--base-width\x002\0--scales\x001",
        "nll\0--model\0run\0--test\0t.npy\0--json",
        "nll\0--model\0g.json\0--test\0t.npy\0--train\0x.npy",
        "logp\0--model\0m.json\0--test\0x.idx\0--out\0lp.csv",
        "logp\0--model\0run\0--test\0t.npy\0--out\0lp.npy\0--constant\0authors",
        "denoise\0--model\0run\0--test\0t.npy\0--psnrs\x0010,20",
        "dim\0--model\0g.json\0--test\0t.npy\0--points\x003\0--draws\x002",
        "sample\0--model\0run\0--count\x002\0--steps\x005\0--out\0s.png\0--npy\0s.npy",
        "sample\0--model\0m.json\0--count\x002\0--steps\x003",
        "report\0--model\0run\0--test\0t.npy\0--out\0rep\0--images\x004\0--denoise-images\x004\0--dim-images\x002\0--dim-points\x003\0--samples\x002\0--sample-steps\x003",
        "import\0a.safetensors\0--out\0imported",
        "curves\0--run\0run",
        "synth\0--model\0m.json\0--train-count\x008\0--test-count\x008\0--out\0syn\0--entropy-samples\x008",
        "demo\0--quick",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    // A file of the input's own: an .npy of 2 images given as the test set.
    let mut with_file = b"logp\0--model\0g.json\0--test\0f.npy\0--out\0o.npy\xff".to_vec();
    let dict = dualscore::data::npy_dict("<f8", "(2, 1, 4, 4)");
    let values: Vec<f64> = (0..32).map(|i| f64::from(i) / 31.0).collect();
    with_file.extend(dualscore::data::npy_bytes(
        1,
        &dict,
        &dualscore::data::f64_le_bytes(&values),
    ));
    seeds.push(with_file);
    seeds
}
