//! The sinusoidal embedding of the noise variance t (docs/METHOD.md section 2), of t itself (the
//! paper's) or of log t.

use super::{Init, Linear, Module, visit_scoped, visit_scoped_mut};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// What the sinusoids of a [`TimeEmbedding`] are functions of.
///
/// The paper's embedding takes the raw variance t with frequencies 1 to 0.01: below t = 0.01
/// every feature is within 1e-2 of its value at t = 0, so nine of the twelve decades of the
/// training range [1e-9, 1e3] look alike to the network. `LogVariance` spreads the decades
/// evenly: each feature is a sinusoid of `log(t + t0)`.
///
/// ```
/// use dualscore_core::nn::TimeInput;
/// let input: TimeInput = serde_json::from_str(r#"{"kind": "log_variance", "t0": 1e-9}"#).unwrap();
/// assert_eq!(input, TimeInput::LogVariance { t0: 1e-9 });
/// assert_eq!(TimeInput::default(), TimeInput::Variance);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TimeInput {
    /// The raw variance t (the paper's).
    #[default]
    Variance,
    /// `log(t + t0)`, defined at t = 0; `t0` at most the smallest trained t.
    LogVariance {
        /// The offset that makes t = 0 finite.
        t0: f64,
    },
}

impl TimeInput {
    /// Checks `t0`.
    pub fn validate(&self) -> Result<()> {
        match *self {
            TimeInput::Variance => Ok(()),
            TimeInput::LogVariance { t0 } if t0 > 0.0 && t0.is_finite() => Ok(()),
            TimeInput::LogVariance { t0 } => Err(Error::invalid(
                "TimeInput",
                format!("t0 must be positive and finite, not {t0}"),
            )),
        }
    }

    /// The embedding's input for each variance of `t`: `t` or `log(t + t0)`.
    pub fn apply<B: Backend, T: Float>(&self, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        match *self {
            TimeInput::Variance => Ok(t.clone()),
            TimeInput::LogVariance { t0 } => t.add_scalar(t0)?.log(),
        }
    }
}

/// `emb(t) = [cos(tau f_k), sin(tau f_k)]` for `k = 1..F`, `tau` = t or log(t + t0)
/// ([`TimeInput`]), with
/// `f_k = exp(-linspace(ln t_min, ln t_max, F))` (from `1 / t_min` down to `1 / t_max`), applied
/// to the raw variance `t`, then `Linear(2F, W)`, SiLU, `Linear(W, W)`, SiLU (with biases: they
/// act on t, not on the image).
///
/// The paper's network has `F = 32`, `W = 256`, `t_min = 1`, `t_max = 100` (frequencies 1 to
/// 0.01). Parameter names are the authors' (`NoiseVarEmbedding`): `time_embed.0.*` and
/// `time_embed.2.*`, the indices of the linear layers in their `nn.Sequential`. The authors
/// compute the frequencies in float32; here they are computed in f64 (a relative difference of
/// ~1e-7 in `f_k`, far below what a trained network resolves).
///
/// The frequencies are uploaded once, when the embedding is made, as a `[1, F]` table on its
/// backend: it is neither a parameter nor a buffer, so it is not trained, visited or saved in
/// checkpoints, and clones share it. [`TimeEmbedding::features`] uses it for `t` on the same
/// device when `frequencies` still holds the values it was made from, and otherwise uploads
/// `frequencies` for that call.
#[derive(Clone, Debug)]
pub struct TimeEmbedding<B: Backend, T: Float> {
    /// The frequencies `f_k` (not parameters), in f64.
    pub frequencies: Vec<f64>,
    /// `Linear(2F, W)` then `Linear(W, W)`, each followed by SiLU.
    pub time_embed: [Linear<B, T>; 2],
    /// What the sinusoids are functions of (the paper's: t).
    pub input: TimeInput,
    /// `frequencies` as a `[1, F]` tensor, with the values it was made from.
    table: FrequencyTable<B, T>,
}

/// The frequencies on a device, made once.
#[derive(Clone, Debug)]
struct FrequencyTable<B: Backend, T: Float> {
    values: Vec<f64>,
    tensor: Tensor<B, T>,
}

impl<B: Backend, T: Float> FrequencyTable<B, T> {
    fn new(backend: &B, values: &[f64]) -> Result<Self> {
        Ok(FrequencyTable {
            values: values.to_vec(),
            tensor: Tensor::from_f64(backend, values, [1, values.len()])?,
        })
    }

    /// The table, if it holds `values` on the device of `backend`.
    fn get(&self, backend: &B, values: &[f64]) -> Option<&Tensor<B, T>> {
        let same_values = self.values.len() == values.len()
            && self
                .values
                .iter()
                .zip(values)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        (same_values && self.tensor.backend().same_device(backend)).then_some(&self.tensor)
    }
}

/// `exp(-linspace(ln t_min, ln t_max, count))`: the embedding's frequencies.
pub fn embedding_frequencies(count: usize, t_min: f64, t_max: f64) -> Vec<f64> {
    let (a, b) = (t_min.ln(), t_max.ln());
    (0..count)
        .map(|k| {
            let s = if count > 1 {
                k as f64 / (count - 1) as f64
            } else {
                0.0
            };
            (-(a + (b - a) * s)).exp()
        })
        .collect()
}

impl<B: Backend, T: Float> TimeEmbedding<B, T> {
    /// An embedding with `frequencies` frequencies spanning `1 / t_min .. 1 / t_max` and output
    /// width `width`, PyTorch's default initialization.
    pub fn new(
        backend: &B,
        init: &mut Init,
        frequencies: usize,
        width: usize,
        t_min: f64,
        t_max: f64,
    ) -> Result<Self> {
        if frequencies == 0 || width == 0 {
            return Err(Error::invalid(
                "TimeEmbedding",
                "the number of frequencies and the width must be positive",
            ));
        }
        if !(t_min > 0.0 && t_max > 0.0 && t_min.is_finite() && t_max.is_finite()) {
            return Err(Error::invalid(
                "TimeEmbedding",
                format!("t_min and t_max must be positive and finite, not {t_min}, {t_max}"),
            ));
        }
        // The two layers' weights and biases: (2 f + 1) w + (w + 1) w.
        let parameters = frequencies
            .checked_mul(2)
            .and_then(|f2| f2.checked_add(1)?.checked_mul(width))
            .and_then(|first| first.checked_add(width.checked_add(1)?.checked_mul(width)?));
        if parameters.is_none_or(|n| n > super::MAX_PARAMETERS) {
            return Err(Error::invalid(
                "TimeEmbedding",
                format!(
                    "{frequencies} frequencies and width {width} are more than {} parameters",
                    super::MAX_PARAMETERS
                ),
            ));
        }
        let first = Linear::new(backend, init, 2 * frequencies, width, true)?;
        let second = Linear::new(backend, init, width, width, true)?;
        let frequencies = embedding_frequencies(frequencies, t_min, t_max);
        Ok(TimeEmbedding {
            table: FrequencyTable::new(backend, &frequencies)?,
            frequencies,
            time_embed: [first, second],
            input: TimeInput::Variance,
        })
    }

    /// The same embedding of another input (`t` by default).
    pub fn with_input(mut self, input: TimeInput) -> Result<Self> {
        input.validate()?;
        self.input = input;
        Ok(self)
    }

    /// The output width `W`.
    pub fn width(&self) -> usize {
        self.time_embed[1].weight.dims()[0]
    }

    /// The sinusoidal features `[cos(tau f_k), sin(tau f_k)]`, `[N, 2F]`, for `t` of shape `[N]`.
    pub fn features(&self, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        if t.rank() != 1 {
            return Err(Error::shapes(
                "TimeEmbedding",
                t.dims(),
                &[self.frequencies.len()],
                "t must be a vector of one noise variance per sample",
            ));
        }
        let n = t.dims()[0];
        let uploaded;
        let f = match self.table.get(t.backend(), &self.frequencies) {
            Some(table) => table,
            None => {
                let count = self.frequencies.len();
                uploaded = Tensor::from_f64(t.backend(), &self.frequencies, [1, count])?;
                &uploaded
            }
        };
        let angles = self.input.apply(t)?.reshape([n, 1])?.mul(f)?;
        Tensor::concat(&[&angles.cos()?, &angles.sin()?], 1)
    }

    /// The embedding `[N, W]` of `t` (`[N]`).
    pub fn forward(&self, t: &Tensor<B, T>) -> Result<Tensor<B, T>> {
        let h = self.time_embed[0].forward(&self.features(t)?)?.silu()?;
        self.time_embed[1].forward(&h)?.silu()
    }
}

impl<B: Backend, T: Float> Module<B, T> for TimeEmbedding<B, T> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B, T>)) {
        visit_scoped("time_embed.0", &self.time_embed[0], f);
        visit_scoped("time_embed.2", &self.time_embed[1], f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B, T>)) {
        let [first, second] = &mut self.time_embed;
        visit_scoped_mut("time_embed.0", first, f);
        visit_scoped_mut("time_embed.2", second, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::reference::Reference;

    /// The features computed from `frequencies` uploaded for the call.
    fn uploaded_features(t: &Tensor<Reference, f64>, frequencies: &[f64]) -> Vec<u64> {
        let f = Tensor::from_f64(&Reference, frequencies, [1, frequencies.len()]).unwrap();
        let angles = t.reshape([t.dims()[0], 1]).unwrap().mul(&f).unwrap();
        let features =
            Tensor::concat(&[&angles.cos().unwrap(), &angles.sin().unwrap()], 1).unwrap();
        features
            .to_vec()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    #[test]
    fn the_frequency_table_is_no_parameter_and_follows_the_frequencies() {
        let mut embedding =
            TimeEmbedding::<Reference, f64>::new(&Reference, &mut Init::new(0), 3, 4, 1.0, 100.0)
                .unwrap();
        let names: Vec<String> = embedding.parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 4);
        assert!(
            names.iter().all(|n| n.starts_with("time_embed.")),
            "{names:?}"
        );
        assert!(embedding.buffers().is_empty());
        let t = Tensor::from_f64(&Reference, &[0.5, 2.0], [2]).unwrap();
        let bits = |e: &TimeEmbedding<Reference, f64>| -> Vec<u64> {
            let features = e.features(&t).unwrap().to_vec().unwrap();
            features.iter().map(|v| v.to_bits()).collect()
        };
        assert_eq!(
            bits(&embedding),
            uploaded_features(&t, &embedding.frequencies)
        );
        embedding.frequencies[1] = 7.0;
        assert_eq!(
            bits(&embedding),
            uploaded_features(&t, &embedding.frequencies)
        );
        embedding.frequencies.push(0.25);
        let grown = embedding.features(&t).unwrap();
        assert_eq!(grown.dims(), [2, 8]);
    }
}
