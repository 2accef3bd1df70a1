//! Decoding one PNG or JPEG photograph into an image: grayscale by ITU-R BT.601 luma, or color.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageReader};

use super::error::{DataError, Result};
use super::set::ImageSet;

/// The ITU-R BT.601 luma weights of red, green and blue.
pub const LUMA_601: [f64; 3] = [0.299, 0.587, 0.114];

/// Whether a photograph becomes one gray channel or three color channels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Channels {
    /// One channel, `0.299 R + 0.587 G + 0.114 B` (ITU-R BT.601 luma); gray photographs keep
    /// their values.
    #[default]
    Gray,
    /// Three channels, R, G and B; gray photographs repeat their values.
    Color,
}

impl Channels {
    /// The number of channels, 1 or 3.
    pub fn count(self) -> usize {
        match self {
            Channels::Gray => 1,
            Channels::Color => 3,
        }
    }
}

/// Reads one PNG or JPEG photograph as a set of one image `[1, C, H, W]` with values in
/// 0..1 (8-bit values / 255, 16-bit values / 65535). Transparency is ignored.
pub fn read_photo(path: impl AsRef<Path>, channels: Channels) -> Result<ImageSet> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_photo(&bytes, path, channels)
}

/// Decodes the bytes of a PNG or JPEG file as [`read_photo`] does (the format is told by the
/// content, not the name); `path` names the file in errors.
pub fn decode_photo(bytes: &[u8], path: &Path, channels: Channels) -> Result<ImageSet> {
    let image_error = |source| DataError::Image {
        path: path.to_path_buf(),
        source,
    };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let image = reader.decode().map_err(image_error)?;
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w == 0 || h == 0 {
        return Err(DataError::empty(
            path,
            format!("the image is {w} x {h} pixels"),
        ));
    }
    let values = match channels {
        Channels::Gray => gray(&image),
        Channels::Color => color(&image),
    };
    ImageSet::new(values, [1, channels.count(), h, w], path)
}

/// The size `(height, width)` that the header of a PNG or JPEG file declares, read without
/// decoding the pixels (to refuse a huge photograph before allocating it); `path` names the
/// file in errors.
pub fn photo_dimensions(bytes: &[u8], path: &Path) -> Result<(usize, usize)> {
    let (w, h) = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?
        .into_dimensions()
        .map_err(|source| DataError::Image {
            path: path.to_path_buf(),
            source,
        })?;
    Ok((h as usize, w as usize))
}

/// Bytes per channel of the decoded image: 1, 2 or 4 (float).
fn depth(image: &DynamicImage) -> u16 {
    let color = image.color();
    color.bytes_per_pixel() as u16 / u16::from(color.channel_count()).max(1)
}

/// One plane of luma values, row-major.
fn gray(image: &DynamicImage) -> Vec<f64> {
    if !image.color().has_color() {
        return match depth(image) {
            1 => scaled(image.to_luma8().as_raw(), 255.0),
            2 => scaled(image.to_luma16().as_raw(), 65535.0),
            _ => image
                .to_luma32f()
                .as_raw()
                .iter()
                .map(|&v| f64::from(v))
                .collect(),
        };
    }
    let rgb = color(image);
    let plane = rgb.len() / 3;
    let (r, rest) = rgb.split_at(plane);
    let (g, b) = rest.split_at(plane);
    r.iter()
        .zip(g)
        .zip(b)
        .map(|((&r, &g), &b)| LUMA_601[0] * r + LUMA_601[1] * g + LUMA_601[2] * b)
        .collect()
}

/// Three planes R, G, B, each row-major.
fn color(image: &DynamicImage) -> Vec<f64> {
    let interleaved: Vec<f64> = match depth(image) {
        1 => scaled(image.to_rgb8().as_raw(), 255.0),
        2 => scaled(image.to_rgb16().as_raw(), 65535.0),
        _ => image
            .to_rgb32f()
            .as_raw()
            .iter()
            .map(|&v| f64::from(v))
            .collect(),
    };
    let plane = interleaved.len() / 3;
    let mut planes = vec![0.0; interleaved.len()];
    for (i, px) in interleaved.chunks_exact(3).enumerate() {
        for (k, &v) in px.iter().enumerate() {
            planes[k * plane + i] = v;
        }
    }
    planes
}

fn scaled<V: Copy + Into<f64>>(values: &[V], max: f64) -> Vec<f64> {
    values.iter().map(|&v| v.into() / max).collect()
}
