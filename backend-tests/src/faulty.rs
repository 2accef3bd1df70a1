//! A backend with one deliberate fault in its convolutions, to show that a whole-model check
//! ([`crate::models`]) catches an error confined to one kernel call: another backend, unchanged
//! except that one chosen `conv2d` call has one output element scaled (through
//! [`Counting::with_conv2d_hook`]).

use dualscore_core::Backend;
use dualscore_core::testing::Counting;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which `conv2d` call is wrong, and how.
#[derive(Clone, Copy, Debug)]
pub struct ConvFault {
    /// Only calls with this dilation count.
    pub dilation: [usize; 2],
    /// The wrong call: the `nth` counted one (from 0).
    pub nth: usize,
    /// Its output element `element` (taken modulo the output's length) is multiplied by
    /// `1 + relative`.
    pub element: usize,
    /// The relative error of that element.
    pub relative: f64,
}

impl ConvFault {
    /// `inner` with this fault, and the number of calls with the fault's dilation so far.
    pub fn backend<B: Backend>(self, inner: B) -> (Counting<B>, Arc<AtomicUsize>) {
        let counted = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&counted);
        let backend = Counting::with_conv2d_hook(inner, move |params, out| {
            if params.dilation == self.dilation
                && seen.fetch_add(1, Ordering::SeqCst) == self.nth
                && !out.is_empty()
            {
                let at = self.element % out.len();
                out[at] *= 1.0 + self.relative;
            }
        });
        (backend, counted)
    }
}
