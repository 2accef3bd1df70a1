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
        if let Ok(q) = dualscore_fuzz::shape_rules::Query::arbitrary(&mut Unstructured::new(&bytes)) {
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
