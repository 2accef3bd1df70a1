//! The embedded font, registered once with plotters.

use plotters::style::{FontStyle, register_font};
use std::sync::OnceLock;

/// DejaVu Sans (see `cli/assets/fonts/LICENSE-DejaVu.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family name every figure asks for.
pub(super) const FAMILY: &str = "sans-serif";

/// Registers the embedded font under the generic family names plotters uses, once per
/// process; false when the font could not be parsed.
pub(super) fn ensure_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        ["sans-serif", "serif", "monospace"]
            .iter()
            .all(|family| register_font(family, FontStyle::Normal, DEJAVU_SANS).is_ok())
    })
}
