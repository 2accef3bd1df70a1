//! Runnable examples of dualscore; see the numbered files beside this one and run them with
//! `cargo run --release -p dualscore-examples --example NAME`.
