//! The checks of the matrix product: `matmul`.

use crate::backend::ops::MatmulSpec;
use crate::error::{Error, Result};

/// The checks of [`Backend::matmul`](crate::Backend::matmul): every element count the spec
/// describes fits in `usize` (so that [`MatmulSpec`]'s own arithmetic, left to right as in
/// [`MatmulSpec::lhs_len`], cannot overflow), then [`MatmulSpec::check`] of the operand lengths.
/// The output holds [`MatmulSpec::out_len`] elements.
pub fn matmul(lhs_len: usize, rhs_len: usize, spec: &MatmulSpec) -> Result<()> {
    let fits = |factors: [usize; 3]| {
        factors
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .is_some()
    };
    let batches = |batched: bool| if batched { spec.batch } else { 1 };
    if !(fits([spec.m, spec.k, batches(spec.lhs_batched)])
        && fits([spec.k, spec.n, batches(spec.rhs_batched)])
        && fits([spec.batch, spec.m, spec.n]))
    {
        return Err(Error::invalid(
            "matmul",
            format!("{spec:?} describes more elements than fit in memory"),
        ));
    }
    spec.check(lhs_len, rhs_len)
}
