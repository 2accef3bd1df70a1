//! The `dualscore` program.

use clap::{Parser, Subcommand};
use dualscore_core::Backend;
use dualscore_cpu::Cpu;
use std::process::ExitCode;

/// Learn normalized probability densities of images by dual score matching.
#[derive(Debug, Parser)]
#[command(name = "dualscore", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the version, the compute backends and their settings.
    Info,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Info => {
            println!("dualscore {}", env!("CARGO_PKG_VERSION"));
            println!("backends:");
            println!("  {} (set DUALSCORE_THREADS to change)", Cpu::new().name());
            println!("  reference (naive f64 loops, the test oracle)");
            ExitCode::SUCCESS
        }
    }
}
