//! Reading the reference files that the Python tools under tools/reference write.

use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;

/// Every tensor of a safetensors file as `name -> (shape, values widened to f64)`.
///
/// Float64 tensors are read as they are and float32 tensors are widened exactly; any other
/// dtype panics, naming the tensor. Panics too, naming the path, when the file cannot be read
/// or is not a safetensors file: this is for tests, whose reference files must be there.
pub fn read_safetensors_f64(
    path: impl AsRef<std::path::Path>,
) -> BTreeMap<String, (Vec<usize>, Vec<f64>)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = SafeTensors::deserialize(&bytes)
        .unwrap_or_else(|e| panic!("{}: not a safetensors file: {e}", path.display()));
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = match view.dtype() {
                Dtype::F64 => view
                    .data()
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
                Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
                    .collect(),
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            (name, (view.shape().to_vec(), values))
        })
        .collect()
}

/// The normwise relative error `||got - want|| / ||want||` (Euclidean norms), or `||got||`
/// when `want` is zero. Panics when the lengths differ.
pub fn normwise_relative_error(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "lengths differ");
    let diff: f64 = got.iter().zip(want).map(|(a, b)| (a - b) * (a - b)).sum();
    let norm: f64 = want.iter().map(|b| b * b).sum();
    if norm == 0.0 {
        diff.sqrt()
    } else {
        (diff / norm).sqrt()
    }
}
