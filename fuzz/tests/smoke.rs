//! Runs each harness on pseudo-random byte strings, so `cargo test` exercises them without a
//! fuzzer (the fuzzer explores far more; this keeps the harnesses compiling and honest).

use arbitrary::{Arbitrary, Unstructured};

fn byte_strings() -> impl Iterator<Item = Vec<u8>> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..2000).map(move |i| {
        let len = 16 + (i % 400);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    })
}

#[test]
fn shape_rules_never_panic() {
    for bytes in byte_strings() {
        if let Ok(q) = dualscore_fuzz::shape_rules::Query::arbitrary(&mut Unstructured::new(&bytes))
        {
            dualscore_fuzz::shape_rules::run(&q);
        }
    }
}

#[test]
fn tensor_programs_never_panic() {
    for bytes in byte_strings() {
        let mut u = Unstructured::new(&bytes);
        if let Ok(program) = Vec::<dualscore_fuzz::tensor_program::Step>::arbitrary(&mut u) {
            dualscore_fuzz::tensor_program::run(&program);
        }
    }
}

/// Each valid seed, every prefix of it, and each seed with one byte changed at every position.
fn image_file_cases(seeds: Vec<Vec<u8>>) -> impl Iterator<Item = Vec<u8>> {
    seeds.into_iter().flat_map(|seed| {
        let prefixes: Vec<Vec<u8>> = (0..=seed.len()).map(|n| seed[..n].to_vec()).collect();
        let mutations: Vec<Vec<u8>> = (0..seed.len())
            .flat_map(|i| {
                let seed = seed.clone();
                [0u8, 0x01, 0x7f, 0xff].into_iter().map(move |v| {
                    let mut bytes = seed.clone();
                    bytes[i] = v;
                    bytes
                })
            })
            .collect();
        prefixes.into_iter().chain(mutations)
    })
}

#[test]
fn seeds_are_valid_files() {
    let path = std::path::Path::new("seed");
    let npy = dualscore_fuzz::npy::seeds();
    for seed in &npy[..3] {
        dualscore::data::parse_npy(seed, path).unwrap();
    }
    let idx = dualscore_fuzz::idx::seeds();
    for i in [0, 1, 3] {
        dualscore::data::parse_idx(&idx[i], path).unwrap();
    }
    for seed in dualscore_fuzz::photo::seeds() {
        let channels = dualscore::data::Channels::Gray;
        dualscore::data::decode_photo(&seed[1..], path, channels).unwrap();
    }
}

#[test]
fn npy_reader_never_panics() {
    for bytes in image_file_cases(dualscore_fuzz::npy::seeds()).chain(byte_strings()) {
        dualscore_fuzz::npy::run(&bytes);
    }
}

#[test]
fn idx_reader_never_panics() {
    for bytes in image_file_cases(dualscore_fuzz::idx::seeds()).chain(byte_strings()) {
        dualscore_fuzz::idx::run(&bytes);
    }
}

#[test]
fn photo_decoder_never_panics() {
    for bytes in image_file_cases(dualscore_fuzz::photo::seeds()).chain(byte_strings()) {
        dualscore_fuzz::photo::run(&bytes);
    }
}

#[test]
fn model_files_never_panic() {
    for seed in dualscore_fuzz::model_file::seeds() {
        let spec = serde_json::from_slice(&seed).unwrap();
        dualscore::model::AnalyticModel::from_spec(spec).unwrap();
    }
    for bytes in image_file_cases(dualscore_fuzz::model_file::seeds()).chain(byte_strings()) {
        dualscore_fuzz::model_file::run(&bytes);
    }
    // A shape too large to hold is refused, not allocated.
    dualscore_fuzz::model_file::run(
        br#"{"kind": "gaussian", "shape": [4096, 4096, 4096], "mean": 0, "variance": 1}"#,
    );
}

#[test]
fn command_lines_never_panic() {
    use dualscore_fuzz::command_line;
    // Every seed runs its command (all but `demo`, which is only parsed) and succeeds: the
    // harness's inputs and bounds let the fuzzer reach the commands' work.
    let mut failed = Vec::new();
    for seed in command_line::seeds() {
        let (args, _) = command_line::split(&seed);
        match command_line::execute(&seed) {
            Some(Ok(_)) => {}
            None if args[1] == "demo" => {}
            other => failed.push(format!("{args:?}: {other:?}")),
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
    // A few mutated seeds run; every prefix and mutation is parsed.
    for bytes in image_file_cases(command_line::seeds()).step_by(97) {
        command_line::run(&bytes);
    }
    for bytes in image_file_cases(command_line::seeds()).chain(byte_strings()) {
        command_line::parse(&bytes);
    }
}

/// The committed corpus of a target: the inputs the cargo-fuzz runs kept (tools/fuzz.sh keep)
/// and the harness's seeds, in fuzz/seeds/TARGET.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// A fuzz target by name, run on bytes as cargo-fuzz runs it.
type Target = (&'static str, fn(&[u8]));

/// Every input of the committed corpus, through its target as cargo-fuzz runs it.
#[test]
fn the_committed_corpus_replays() {
    let targets: [Target; 7] = [
        ("npy", dualscore_fuzz::npy::run),
        ("idx", dualscore_fuzz::idx::run),
        ("photo", dualscore_fuzz::photo::run),
        ("model_file", dualscore_fuzz::model_file::run),
        ("command_line", dualscore_fuzz::command_line::run),
        ("shape_rules", |bytes| {
            let u = Unstructured::new(bytes);
            if let Ok(q) = dualscore_fuzz::shape_rules::Query::arbitrary_take_rest(u) {
                dualscore_fuzz::shape_rules::run(&q);
            }
        }),
        ("tensor_program", |bytes| {
            let u = Unstructured::new(bytes);
            if let Ok(p) = Vec::<dualscore_fuzz::tensor_program::Step>::arbitrary_take_rest(u) {
                dualscore_fuzz::tensor_program::run(&p);
            }
        }),
    ];
    for (target, run) in targets {
        let files = corpus(target);
        assert!(!files.is_empty(), "no corpus for {target}");
        for (name, bytes) in files {
            let result = std::panic::catch_unwind(|| run(&bytes));
            assert!(result.is_ok(), "fuzz/seeds/{target}/{name} fails");
        }
    }
}

/// Writes each harness's seeds into fuzz/seeds/TARGET/seed-N, where cargo-fuzz starts from them
/// (`cargo test --test smoke -- --ignored write_seed_files`).
#[test]
#[ignore = "writes the seed files of the committed corpus"]
fn write_seed_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let seeds = [
        ("npy", dualscore_fuzz::npy::seeds()),
        ("idx", dualscore_fuzz::idx::seeds()),
        ("photo", dualscore_fuzz::photo::seeds()),
        ("model_file", dualscore_fuzz::model_file::seeds()),
        ("command_line", dualscore_fuzz::command_line::seeds()),
    ];
    for (target, files) in seeds {
        std::fs::create_dir_all(root.join(target)).unwrap();
        for (i, bytes) in files.iter().enumerate() {
            std::fs::write(root.join(target).join(format!("seed-{i}")), bytes).unwrap();
        }
    }
}
