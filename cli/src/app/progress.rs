//! The training progress bar: step, loss and time left, on standard error.

use dualscore_core::train::StepMetrics;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

/// A progress bar over steps, or over the wall-clock budget when training for a time.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    by_time: bool,
}

impl Progress {
    /// A bar to `target` steps from `first_step`, or over `budget_s` seconds when there is no
    /// step target; hidden unless `visible`.
    pub fn new(visible: bool, target: u64, budget_s: Option<f64>, first_step: u64) -> Self {
        if !visible {
            return Progress {
                bar: None,
                by_time: false,
            };
        }
        let by_time = target == u64::MAX;
        let (length, template) = if by_time {
            (
                (budget_s.unwrap_or(0.0) * 1000.0) as u64,
                "{elapsed_precise} [{bar:30}] {msg} (left ~{eta})",
            )
        } else {
            (
                target,
                "{elapsed_precise} [{bar:30}] {pos}/{len} {msg} (ETA {eta})",
            )
        };
        let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("a valid template")
                .progress_chars("=> "),
        );
        if !by_time {
            bar.set_position(first_step);
        }
        bar.enable_steady_tick(Duration::from_millis(500));
        Progress {
            bar: Some(bar),
            by_time,
        }
    }

    /// Shows a finished step.
    pub fn update(&mut self, metrics: &StepMetrics, elapsed_s: f64) {
        let Some(bar) = &self.bar else { return };
        if self.by_time {
            bar.set_position((elapsed_s * 1000.0) as u64);
            bar.set_message(format!("step {} loss {:.4}", metrics.step, metrics.loss));
        } else {
            bar.set_position(metrics.step);
            bar.set_message(format!("loss {:.4}", metrics.loss));
        }
    }

    /// Prints a line above the bar.
    pub fn note(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.println(text);
        }
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
