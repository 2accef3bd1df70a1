//! Runnable examples of dualscore: the numbered files beside this one, run with
//! `cargo run --release -p dualscore-examples --example NAME`.
//!
//! The README's code is compiled and run as a test of this crate:
#![doc = include_str!("../README.md")]
