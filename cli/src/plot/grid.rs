//! Grids of images, drawn pixel by pixel without plotters.

use super::{PlotError, output};
use image::ExtendedColorType;
use std::path::Path;

/// The colour of gaps and empty cells.
const BACKGROUND: u8 = 255;
/// The largest grid written, in bytes of pixel data (1 GiB).
const MAX_BYTES: usize = 1 << 30;

pub(super) fn image_grid(
    path: &Path,
    images: &[Vec<f64>],
    channels: usize,
    height: usize,
    width: usize,
    columns: usize,
    scale: usize,
) -> Result<(), PlotError> {
    let invalid = |message: String| PlotError::invalid(path, message);
    if channels != 1 && channels != 3 {
        return Err(invalid(format!(
            "images must have 1 (gray) or 3 (RGB) channels, not {channels}"
        )));
    }
    for (name, value) in [
        ("height", height),
        ("width", width),
        ("columns", columns),
        ("scale", scale),
    ] {
        if value == 0 {
            return Err(invalid(format!("{name} must be at least 1")));
        }
    }
    if images.is_empty() {
        return Err(invalid("there are no images to draw".to_string()));
    }
    let too_large = || invalid("the grid would be too large".to_string());
    let expected = channels
        .checked_mul(height)
        .and_then(|n| n.checked_mul(width))
        .ok_or_else(too_large)?;
    if let Some((i, image)) = images
        .iter()
        .enumerate()
        .find(|(_, im)| im.len() != expected)
    {
        return Err(invalid(format!(
            "image {i} has {} values, expected channels * height * width = {channels} * {height} \
             * {width} = {expected}",
            image.len()
        )));
    }

    let columns = columns.min(images.len());
    let rows = images.len().div_ceil(columns);
    // Each dimension: cells * pixels * scale + gaps between cells.
    let extent = |cells: usize, pixels: usize| {
        cells
            .checked_mul(pixels)
            .and_then(|n| n.checked_mul(scale))
            .and_then(|n| n.checked_add(cells - 1))
    };
    let grid_width = extent(columns, width).ok_or_else(too_large)?;
    let grid_height = extent(rows, height).ok_or_else(too_large)?;
    let bytes = grid_width
        .checked_mul(grid_height)
        .and_then(|n| n.checked_mul(channels))
        .filter(|&n| n <= MAX_BYTES)
        .ok_or_else(too_large)?;
    let (png_width, png_height) = match (u32::try_from(grid_width), u32::try_from(grid_height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(too_large()),
    };

    let mut pixels = vec![BACKGROUND; bytes];
    let row_stride = grid_width * channels;
    for (n, image) in images.iter().enumerate() {
        let left = (n % columns) * (width * scale + 1);
        let top = (n / columns) * (height * scale + 1);
        for y in 0..height * scale {
            for x in 0..width * scale {
                let at = (top + y) * row_stride + (left + x) * channels;
                for c in 0..channels {
                    let v = image[(c * height + y / scale) * width + x / scale];
                    pixels[at + c] = to_byte(v);
                }
            }
        }
    }
    let color = if channels == 1 {
        ExtendedColorType::L8
    } else {
        ExtendedColorType::Rgb8
    };
    output::write_png(path, &pixels, png_width, png_height, color)
}

/// `round(255 * v)` with `v` clamped to `[0, 1]`; NaN is 0.
fn to_byte(v: f64) -> u8 {
    if v.is_nan() {
        0
    } else {
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

#[cfg(test)]
mod tests {
    use super::to_byte;

    #[test]
    fn bytes() {
        assert_eq!(to_byte(0.0), 0);
        assert_eq!(to_byte(1.0), 255);
        assert_eq!(to_byte(0.5), 128);
        assert_eq!(to_byte(0.25), 64);
        assert_eq!(to_byte(-3.0), 0);
        assert_eq!(to_byte(7.0), 255);
        assert_eq!(to_byte(f64::NAN), 0);
        assert_eq!(to_byte(f64::INFINITY), 255);
    }
}
