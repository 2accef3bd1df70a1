//! Learning-rate schedules.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The learning rate as a function of the step index (0 for the first update).
///
/// In configuration files: `{"kind": "constant", "lr": 1e-3}` or
/// `{"kind": "step_decay", "lr": 5e-4, "factor": 0.5, "every": 100000, "min_lr": 3e-6}`.
///
/// ```
/// use dualscore_core::train::LrSchedule;
/// // The authors' schedule: 5e-4 halved every 100k steps.
/// let s = LrSchedule::step_decay(5e-4, 0.5, 100_000);
/// assert_eq!(s.lr_at(99_999), 5e-4);
/// assert_eq!(s.lr_at(100_000), 2.5e-4);
/// // Halving for 1M steps ends near 9.8e-7; a floor keeps the rate from vanishing.
/// let floored = s.with_min_lr(3e-6);
/// assert_eq!(floored.lr_at(900_000), 3e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// The same rate at every step.
    Constant {
        /// The rate.
        lr: f64,
    },
    /// lr * factor^floor(step / every), but never below `min_lr`.
    StepDecay {
        /// The initial rate.
        lr: f64,
        /// The multiplier applied every `every` steps (0.5 halves).
        factor: f64,
        /// The number of steps between decays.
        every: u64,
        /// The floor, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_lr: Option<f64>,
    },
}

impl Default for LrSchedule {
    /// The authors' schedule: 5e-4 halved every 100k steps, no floor.
    fn default() -> Self {
        LrSchedule::step_decay(5e-4, 0.5, 100_000)
    }
}

impl LrSchedule {
    /// A constant rate.
    pub fn constant(lr: f64) -> Self {
        LrSchedule::Constant { lr }
    }

    /// Step decay without a floor.
    pub fn step_decay(lr: f64, factor: f64, every: u64) -> Self {
        LrSchedule::StepDecay {
            lr,
            factor,
            every,
            min_lr: None,
        }
    }

    /// The same schedule with a floor (a constant schedule is unchanged).
    pub fn with_min_lr(self, min_lr: f64) -> Self {
        match self {
            LrSchedule::StepDecay {
                lr, factor, every, ..
            } => LrSchedule::StepDecay {
                lr,
                factor,
                every,
                min_lr: Some(min_lr),
            },
            c @ LrSchedule::Constant { .. } => c,
        }
    }

    /// The rate of the update with index `step` (0 for the first).
    pub fn lr_at(&self, step: u64) -> f64 {
        match *self {
            LrSchedule::Constant { lr } => lr,
            LrSchedule::StepDecay {
                lr,
                factor,
                every,
                min_lr,
            } => {
                let decays = step / every.max(1);
                let rate = lr * libm::pow(factor, decays as f64);
                match min_lr {
                    Some(floor) => rate.max(floor),
                    None => rate,
                }
            }
        }
    }

    /// Checks that rates are positive and finite, `0 < factor <= 1`, `every > 0` and
    /// `0 < min_lr <= lr`.
    pub fn validate(&self) -> Result<()> {
        let bad = |message: String| Err(Error::invalid("learning-rate schedule", message));
        let rate_ok = |r: f64| r > 0.0 && r.is_finite();
        match *self {
            LrSchedule::Constant { lr } if !rate_ok(lr) => {
                bad(format!("lr must be positive and finite, got {lr}"))
            }
            LrSchedule::Constant { .. } => Ok(()),
            LrSchedule::StepDecay {
                lr,
                factor,
                every,
                min_lr,
            } => {
                if !rate_ok(lr) {
                    return bad(format!("lr must be positive and finite, got {lr}"));
                }
                if !(factor > 0.0 && factor <= 1.0) {
                    return bad(format!("factor must be in (0, 1], got {factor}"));
                }
                if every == 0 {
                    return bad("every must be at least 1".into());
                }
                if let Some(floor) = min_lr {
                    if !(rate_ok(floor) && floor <= lr) {
                        return bad(format!("min_lr must be in (0, lr = {lr}], got {floor}"));
                    }
                }
                Ok(())
            }
        }
    }
}
