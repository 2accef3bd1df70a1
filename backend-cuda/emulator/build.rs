//! The build of the `emulate` feature (a module of `build.rs`): each kernel family's `.cu`
//! compiled as C++ after `emulator.hpp`, with a registry of its `extern "C"` kernels, and the
//! fiber scheduler of `emulator.cpp`, into one static library.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

/// The marker that `__global__` becomes while the kernel names are read.
const MARK: &str = "DUALSCORE_GLOBAL_MARK";

pub fn build(root: &Path, out: &Path, families: &[&str]) {
    let device = root.join("src/device");
    let emulator = root.join("emulator");
    println!("cargo:rerun-if-changed={}", emulator.display());
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .opt_level(2)
        .flag_if_supported("-Wno-unknown-pragmas")
        .flag_if_supported("-Wno-unused-parameter")
        .include(&emulator)
        .include(&device)
        .file(emulator.join("emulator.cpp"));
    let mut seen = BTreeSet::new();
    let mut registry = String::from("#include \"emulator.hpp\"\nnamespace dualscore_emulator {\n");
    let mut lookup = String::new();
    for family in families {
        let source = device.join(format!("{family}.cu"));
        let kernels = kernel_names(&build, &device, &source);
        for name in &kernels {
            assert!(
                seen.insert(name.clone()),
                "kernel {name} is defined by two families: kernel names must be unique"
            );
        }
        let mut unit = format!(
            "#include \"emulator.hpp\"\n#include \"{}\"\nnamespace dualscore_emulator {{\n\
             extern const Kernel {family}_kernels[] = {{\n",
            source.display()
        );
        for name in &kernels {
            writeln!(unit, "    kernel(\"{name}\", &::{name}),").expect("a String");
        }
        writeln!(unit, "    Kernel{{nullptr, nullptr, nullptr}}\n}};\n}}").expect("a String");
        let path = out.join(format!("{family}_emulated.cpp"));
        fs::write(&path, unit).expect("OUT_DIR is writable");
        build.file(&path);
        writeln!(registry, "extern const Kernel {family}_kernels[];").expect("a String");
        writeln!(
            lookup,
            "    if (std::strcmp(family, \"{family}\") == 0) list = {family}_kernels;"
        )
        .expect("a String");
    }
    write!(
        registry,
        "}}\nusing namespace dualscore_emulator;\n\
         extern \"C\" const Kernel* dualscore_emulator_find(const char* family, const char* name) {{\n\
         \x20   const Kernel* list = nullptr;\n{lookup}\
         \x20   for (; list && list->name; ++list)\n\
         \x20       if (std::strcmp(list->name, name) == 0) return list;\n\
         \x20   return nullptr;\n}}\n"
    )
    .expect("a String");
    let path = out.join("registry.cpp");
    fs::write(&path, registry).expect("OUT_DIR is writable");
    build.file(&path);
    build.compile("dualscore_cuda_emulator");
}

/// The `extern "C" __global__` kernels a `.cu` file defines (after its macros expand).
fn kernel_names(build: &cc::Build, device: &Path, source: &Path) -> Vec<String> {
    let compiler = build.get_compiler();
    let output = Command::new(compiler.path())
        .args(["-E", "-P", "-x", "c++", "-std=c++17"])
        .arg(format!("-D__global__={MARK}"))
        .arg("-I")
        .arg(device)
        .arg(source)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C++ preprocessor: {e}"));
    assert!(
        output.status.success(),
        "preprocessing {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let mut names = Vec::new();
    for (at, _) in text.match_indices(MARK) {
        if !text[..at].trim_end().ends_with("extern \"C\"") {
            continue;
        }
        let rest = text[at + MARK.len()..].trim_start();
        let Some(rest) = rest.strip_prefix("void") else {
            continue;
        };
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}
