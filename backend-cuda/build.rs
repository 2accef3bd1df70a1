//! Puts the PTX of each kernel family into `OUT_DIR`, where `src/device/modules.rs` embeds it.
//!
//! With the `cuda` feature: when a CUDA compiler is found (`NVCC`, else `nvcc` on `PATH`), the
//! `.cu` sources are compiled with the flags of `tools/nvcc.flags`; otherwise the checked-in
//! `ptx/<family>.ptx` files are used, so building needs no CUDA toolkit. A compiled file that
//! differs from the checked-in one gives a warning (`tools/ptx.sh regenerate` updates them).

#[path = "emulator/build.rs"]
mod emulator;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

const FAMILIES: [&str; 6] = [
    "elementwise",
    "reduce",
    "matmul",
    "conv",
    "layout",
    "random",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=tools/nvcc.flags");
    println!("cargo:rerun-if-changed=src/device/common.cuh");
    println!("cargo:rerun-if-env-changed=NVCC");
    let cuda = env::var_os("CARGO_FEATURE_CUDA").is_some();
    let emulate = env::var_os("CARGO_FEATURE_EMULATE").is_some();
    if !cuda && !emulate {
        return;
    }
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    let nvcc = find_nvcc();
    for family in FAMILIES {
        let source = root.join("src/device").join(format!("{family}.cu"));
        let checked_in = root.join("ptx").join(format!("{family}.ptx"));
        let target = out.join(format!("{family}.ptx"));
        println!("cargo:rerun-if-changed={}", source.display());
        println!("cargo:rerun-if-changed={}", checked_in.display());
        match &nvcc {
            Some(nvcc) => {
                compile(nvcc, &root, &source, &target);
                if fs::read(&target).ok() != fs::read(&checked_in).ok() {
                    println!(
                        "cargo:warning=ptx/{family}.ptx differs from what {} makes of \
                         src/device/{family}.cu; run backend-cuda/tools/ptx.sh regenerate",
                        nvcc.display()
                    );
                }
            }
            None => {
                fs::copy(&checked_in, &target).unwrap_or_else(|e| {
                    panic!(
                        "no CUDA compiler found and no checked-in PTX at {}: {e}",
                        checked_in.display()
                    )
                });
            }
        }
    }
    if emulate && !cuda {
        emulator::build(&root, &out, &FAMILIES);
    }
}

/// `NVCC`, else `nvcc` when it runs.
fn find_nvcc() -> Option<PathBuf> {
    let candidate = env::var_os("NVCC").map_or_else(|| PathBuf::from("nvcc"), PathBuf::from);
    let runs = Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    runs.then_some(candidate)
}

fn compile(nvcc: &Path, root: &Path, source: &Path, target: &Path) {
    let flags = fs::read_to_string(root.join("tools/nvcc.flags")).expect("tools/nvcc.flags");
    let status = Command::new(nvcc)
        .args(flags.split_whitespace())
        .arg("-I")
        .arg(root.join("src/device"))
        .arg(source)
        .arg("-o")
        .arg(target)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", nvcc.display()));
    assert!(
        status.success(),
        "{} failed on {}",
        nvcc.display(),
        source.display()
    );
}
