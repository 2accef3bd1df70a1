//! Learning-rate schedules.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The learning rate as a function of the step index (0 for the first update).
///
/// In configuration files: `{"kind": "constant", "lr": 1e-3}` or
/// `{"kind": "step_decay", "lr": 5e-4, "factor": 0.5, "every": 100000, "min_lr": 3e-6}` or
/// `{"kind": "cosine", "lr": 1e-3, "steps": 20000}`.
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
/// // Half a cosine from 1e-3 to 0 over 20k steps.
/// let c = LrSchedule::cosine(1e-3, 20_000);
/// assert!((c.lr_at(10_000) - 5e-4).abs() < 1e-15);
/// assert_eq!(c.lr_at(20_000), 0.0);
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
    /// Half a cosine from `lr` at step 0 down to `min_lr` (0 if none) at step `steps`, then
    /// `min_lr`: the decay for a run whose length is known in steps.
    Cosine {
        /// The initial rate.
        lr: f64,
        /// The step at which the rate reaches its floor.
        steps: u64,
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

    /// Half a cosine from `lr` to 0 over `steps` steps.
    pub fn cosine(lr: f64, steps: u64) -> Self {
        LrSchedule::Cosine {
            lr,
            steps,
            min_lr: None,
        }
    }

    /// The same schedule with a floor (a constant schedule is unchanged).
    pub fn with_min_lr(self, min_lr: f64) -> Self {
        match self {
            LrSchedule::Cosine { lr, steps, .. } => LrSchedule::Cosine {
                lr,
                steps,
                min_lr: Some(min_lr),
            },
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
            LrSchedule::Cosine { lr, steps, min_lr } => {
                let floor = min_lr.unwrap_or(0.0);
                let progress = (step as f64 / steps.max(1) as f64).min(1.0);
                floor + (lr - floor) * 0.5 * (1.0 + libm::cos(std::f64::consts::PI * progress))
            }
        }
    }

    /// Checks that rates are positive and finite, `0 < factor <= 1`, `every > 0`,
    /// `steps > 0` and `0 < min_lr <= lr`.
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
                check_floor(lr, min_lr)
            }
            LrSchedule::Cosine { lr, steps, min_lr } => {
                if !rate_ok(lr) {
                    return bad(format!("lr must be positive and finite, got {lr}"));
                }
                if steps == 0 {
                    return bad("steps must be at least 1".into());
                }
                check_floor(lr, min_lr)
            }
        }
    }
}

/// Checks `0 < min_lr <= lr` when there is a floor.
fn check_floor(lr: f64, min_lr: Option<f64>) -> Result<()> {
    match min_lr {
        Some(floor) if !(floor > 0.0 && floor.is_finite() && floor <= lr) => Err(Error::invalid(
            "learning-rate schedule",
            format!("min_lr must be in (0, lr = {lr}], got {floor}"),
        )),
        _ => Ok(()),
    }
}
