//! The `dualscore` command-line program's library: reading real image data ([`data`]) and the
//! models the commands train and measure ([`model`]).

pub mod app;
pub mod data;
pub mod import;
pub mod model;
pub mod plot;
