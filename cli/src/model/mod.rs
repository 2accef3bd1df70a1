//! The program's models: a UNet energy stored in a checkpoint folder, or an analytic density
//! described by a small JSON file, behind one [`Model`] that every measurement accepts.
//!
//! - [`ModelConfig`]: the architecture written into every checkpoint (`model_config` of
//!   `checkpoint.json`), so a checkpoint folder alone rebuilds its network;
//! - [`UNetEnergy`]: the paper's energy `U = 1/2 <y, s(y, t)>` of a UNet, in f32 on any backend;
//! - [`AnalyticModel`]: Gaussian densities and mixtures of stationary Gaussian fields with
//!   exact log p, for checks, baselines and synthetic data (`dualscore synth`);
//! - [`Model::open`]: a checkpoint folder or an analytic `.json` file, told apart by what the
//!   path is;
//! - [`constants`]: the normalization constants of a checkpoint, one per image shape.

mod analytic;
mod config;
pub mod constants;
mod open;

pub use analytic::{
    AnalyticEnergy, AnalyticSpec, FieldComponent, MAX_FIELD_COMPONENTS, PerCoordinate,
};
pub use analytic::{AnalyticModel, MAX_ANALYTIC_DIM};
pub use config::{ModelConfig, Preset, UNetEnergy};
pub use open::{Model, ModelError, NetworkModel};
