//! The normalization constants of a checkpoint, one per image shape, kept beside its weights in
//! `normalization.json` so that `nll`, `logp` and `report` estimate each only once.
//!
//! A constant belongs to the weights it was estimated with: the file records the checkpoint's
//! step and weights file, and is ignored once the folder holds a later checkpoint.

use super::open::{ModelError, NetworkModel};
use dualscore_core::Backend;
use dualscore_core::density::{ConstantForm, NormalizationConstant};
use dualscore_core::train::checkpoint::write_atomic;
use serde::{Deserialize, Serialize};

/// The file name, in the checkpoint folder.
pub const CONSTANTS_FILE: &str = "normalization.json";

/// One stored constant and the data it was estimated on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredConstant {
    /// The constant.
    pub constant: NormalizationConstant,
    /// Where the images came from.
    pub data: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct ConstantsFile {
    step: u64,
    weights_file: String,
    constants: Vec<StoredConstant>,
}

fn read_file<B: Backend>(model: &NetworkModel<B>) -> ConstantsFile {
    let path = model.dir.join(CONSTANTS_FILE);
    let fresh = ConstantsFile {
        step: model.info.step,
        weights_file: model.info.weights_file.clone(),
        constants: Vec::new(),
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return fresh;
    };
    match serde_json::from_str::<ConstantsFile>(&text) {
        Ok(file) if file.step == fresh.step && file.weights_file == fresh.weights_file => file,
        _ => fresh,
    }
}

fn matches(c: &NormalizationConstant, shape: [usize; 3], form: ConstantForm, t_max: f64) -> bool {
    [c.channels, c.height, c.width] == shape && c.form == form && c.t_max == t_max
}

/// The stored constant of the checkpoint's weights for images of `shape`, if any.
pub fn lookup<B: Backend>(
    model: &NetworkModel<B>,
    shape: [usize; 3],
    form: ConstantForm,
    t_max: f64,
) -> Option<StoredConstant> {
    read_file(model)
        .constants
        .into_iter()
        .find(|s| matches(&s.constant, shape, form, t_max))
}

/// Stores `constant` (replacing one of the same shape, form and t_max), atomically.
pub fn store<B: Backend>(
    model: &NetworkModel<B>,
    constant: &NormalizationConstant,
    data: &str,
) -> Result<(), ModelError> {
    let mut file = read_file(model);
    let shape = [constant.channels, constant.height, constant.width];
    file.constants
        .retain(|s| !matches(&s.constant, shape, constant.form, constant.t_max));
    file.constants.push(StoredConstant {
        constant: constant.clone(),
        data: data.to_string(),
    });
    let text = serde_json::to_string_pretty(&file).expect("constants serialize");
    let path = model.dir.join(CONSTANTS_FILE);
    write_atomic(&path, text.as_bytes()).map_err(|e| ModelError::new(&path, e.to_string()))
}
