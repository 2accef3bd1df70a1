//! Loading named parameters into a [`Module`] (checkpoints, oracle weights).

use super::Module;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::tensor::Tensor;
use std::collections::{BTreeMap, BTreeSet};

/// Replaces every parameter of `module` by the tensor named `prefix + name` in `state`.
///
/// Every parameter must be present with its shape, and every entry of `state` whose name starts
/// with `prefix` must name a parameter; entries outside `prefix` are ignored. So a checkpoint of
/// the authors' energy model (keys `network.<UNet name>`) loads into a bare
/// [`UNet`](super::UNet) with `prefix = "network."`, and into an
/// [`InnerProduct`](crate::energy::InnerProduct) of a UNet with `prefix = ""`. The loaded
/// tensors are detached (call [`Module::require_grad`] to train them). On error the module is
/// left unchanged.
pub fn load_parameters<B: Backend, T: Float>(
    module: &mut dyn Module<B, T>,
    state: &BTreeMap<String, Tensor<B, T>>,
    prefix: &str,
) -> Result<()> {
    const OP: &str = "load_parameters";
    let mut wanted = BTreeSet::new();
    let mut problems = Vec::new();
    module.visit(&mut |name, current| {
        let key = format!("{prefix}{name}");
        match state.get(&key) {
            None => problems.push(format!("missing '{key}'")),
            Some(t) if t.shape() != current.shape() => problems.push(format!(
                "'{key}' has shape {} but the parameter has shape {}",
                t.shape(),
                current.shape()
            )),
            Some(_) => {}
        }
        wanted.insert(key);
    });
    for key in state.keys() {
        if key.starts_with(prefix) && !wanted.contains(key) {
            problems.push(format!("'{key}' names no parameter"));
        }
    }
    if !problems.is_empty() {
        return Err(Error::invalid(OP, problems.join("; ")));
    }
    module.visit_mut(&mut |name, t| {
        *t = state[&format!("{prefix}{name}")].detach();
    });
    Ok(())
}
