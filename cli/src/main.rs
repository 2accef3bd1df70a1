//! The `dualscore` program.

use clap::Parser;
use dualscore::app::{AppError, Cli, Command, INTERRUPTED, run_cli};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // During training, Ctrl-C asks for a checkpoint and a clean stop; a second one ends the
    // program. Other commands keep the default (Ctrl-C ends them at once).
    if matches!(cli.command, Command::Train(_) | Command::Demo(_)) {
        let handler = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!(
                "\ninterrupted: finishing the step and writing a checkpoint (Ctrl-C again to quit now)"
            );
        });
        if let Err(e) = handler {
            eprintln!("warning: Ctrl-C will not write a checkpoint: {e}");
        }
    }
    let progress = std::io::stderr().is_terminal();
    let mut stdout = std::io::stdout();
    match run_cli(&cli, &mut stdout, progress) {
        Ok(_) if INTERRUPTED.load(Ordering::SeqCst) => ExitCode::from(130),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = stdout.flush();
            match e {
                AppError::Usage(message) => eprintln!("{message}"),
                other => eprintln!("error: {other}"),
            }
            ExitCode::FAILURE
        }
    }
}
