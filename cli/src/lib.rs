//! The `dualscore` command-line program's library: reading real image data ([`data`]).

pub mod data;
pub mod plot;
