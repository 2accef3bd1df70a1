//! What a command prints: lines for people, and with `--json` one JSON object as the last line.

use super::error::{AppError, AppResult};
use serde_json::Value;
use std::io::Write;

/// Where a command writes its report.
pub struct Output<'a> {
    out: &'a mut (dyn Write + Send),
    /// Print the result as one JSON line at the end.
    pub json: bool,
    /// Show a progress bar (on a terminal, without `--json`).
    pub progress: bool,
}

impl std::fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("json", &self.json)
            .field("progress", &self.progress)
            .finish()
    }
}

impl<'a> Output<'a> {
    /// An output to `out`.
    pub fn new(out: &'a mut (dyn Write + Send), json: bool, progress: bool) -> Self {
        Output {
            out,
            json,
            progress,
        }
    }

    /// Prints one line.
    pub fn line(&mut self, text: impl AsRef<str>) -> AppResult<()> {
        writeln!(self.out, "{}", text.as_ref())
            .map_err(|e| AppError::io("standard output", "write to", e))
    }

    /// Prints the JSON result line, when `--json` was given.
    pub fn finish(&mut self, value: &Value) -> AppResult<()> {
        if self.json {
            let text = serde_json::to_string(value).expect("a JSON value serializes");
            self.line(text)?;
        }
        self.out
            .flush()
            .map_err(|e| AppError::io("standard output", "flush", e))
    }
}
