//! Whether ops are recorded on the graph: a per-thread switch with scoped guards.

use std::cell::Cell;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops on this thread are currently recorded for differentiation.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(Cell::get)
}

/// Restores the previous recording mode when dropped.
#[derive(Debug)]
pub struct GradModeGuard {
    previous: bool,
}

impl GradModeGuard {
    /// Sets the recording mode of this thread until the guard is dropped.
    pub fn new(enabled: bool) -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(enabled));
        GradModeGuard { previous }
    }
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Runs `f` with recording switched to `enabled`.
pub fn with_grad_mode<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
    let _guard = GradModeGuard::new(enabled);
    f()
}

/// Runs `f` without recording any op (inference, evaluation, optimizer updates).
///
/// ```
/// use dualscore_core::autograd::{is_grad_enabled, no_grad};
/// assert!(is_grad_enabled());
/// no_grad(|| assert!(!is_grad_enabled()));
/// assert!(is_grad_enabled());
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    with_grad_mode(false, f)
}

/// `f`, wrapped to run with this thread's present recording mode on whichever thread calls it:
/// for a backend that runs work on threads of its own ([`crate::Backend::run`]).
///
/// ```
/// use dualscore_core::autograd::{carry_grad_mode, is_grad_enabled, no_grad};
/// let f = no_grad(|| carry_grad_mode(is_grad_enabled));
/// assert!(!std::thread::spawn(f).join().unwrap());
/// ```
pub fn carry_grad_mode<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    let enabled = is_grad_enabled();
    move || with_grad_mode(enabled, f)
}
