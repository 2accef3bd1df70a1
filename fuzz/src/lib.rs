//! Fuzz harnesses for every input a user controls. Each harness is a plain function, so it can
//! also run under `cargo test` on fixed and random inputs; `fuzz_targets/` wraps them for
//! cargo-fuzz (`cargo fuzz run NAME`).
//!
//! The property is always the same: bad input gives an `Err`, never a panic.

pub mod command_line;
pub mod idx;
mod images;
pub mod model_file;
pub mod npy;
pub mod photo;
pub mod shape_rules;
pub mod tensor_program;
