//! Cutting images into square patches on a regular grid.

use std::path::Path;

use super::error::{DataError, Result};

/// The number of patch positions along one axis of length `len`: patches of `patch` pixels whose
/// first pixel is at 0, `stride`, 2 `stride`, ... and whose last pixel is inside the axis.
/// `None` when the axis is shorter than one patch.
pub fn positions(len: usize, patch: usize, stride: usize) -> Option<usize> {
    if patch == 0 || stride == 0 || len < patch {
        return None;
    }
    Some((len - patch) / stride + 1)
}

/// Checks a patch size and stride.
pub(crate) fn check_params(origin: &Path, patch: usize, stride: usize) -> Result<()> {
    if patch == 0 {
        return Err(DataError::invalid(
            origin,
            "the patch size must be at least 1",
        ));
    }
    if stride == 0 {
        return Err(DataError::invalid(
            origin,
            "the patch stride must be at least 1",
        ));
    }
    Ok(())
}

/// Appends to `out` the `patch` x `patch` patches at stride `stride` of each image of a
/// row-major batch `[n, c, h, w]`, image by image, then row by row, then column by column; each
/// patch keeps the `c` channels. Returns the number of patches appended. `origin` names the
/// images in errors.
pub(crate) fn cut_into(
    out: &mut Vec<f64>,
    values: &[f64],
    shape: [usize; 4],
    patch: usize,
    stride: usize,
    origin: &Path,
) -> Result<usize> {
    check_params(origin, patch, stride)?;
    let [n, c, h, w] = shape;
    let too_small = || DataError::TooSmall {
        path: origin.to_path_buf(),
        height: h,
        width: w,
        patch,
    };
    let rows = positions(h, patch, stride).ok_or_else(too_small)?;
    let cols = positions(w, patch, stride).ok_or_else(too_small)?;
    let count = n
        .checked_mul(rows)
        .and_then(|k| k.checked_mul(cols))
        .ok_or_else(|| DataError::invalid(origin, "the number of patches overflows"))?;
    let needed = count
        .checked_mul(c)
        .and_then(|k| k.checked_mul(patch))
        .and_then(|k| k.checked_mul(patch))
        .ok_or_else(|| DataError::invalid(origin, "the patches' size overflows"))?;
    out.try_reserve(needed).map_err(|_| {
        DataError::invalid(
            origin,
            format!("cannot allocate {count} patches of {c} x {patch} x {patch} values"),
        )
    })?;
    let image_len = c * h * w;
    for image in values.chunks_exact(image_len).take(n) {
        for i in 0..rows {
            for j in 0..cols {
                for channel in image.chunks_exact(h * w) {
                    for y in i * stride..i * stride + patch {
                        let row = &channel[y * w..(y + 1) * w];
                        out.extend_from_slice(&row[j * stride..j * stride + patch]);
                    }
                }
            }
        }
    }
    Ok(count)
}
