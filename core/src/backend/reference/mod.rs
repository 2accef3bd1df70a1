//! Placeholder replaced by the reference backend.
