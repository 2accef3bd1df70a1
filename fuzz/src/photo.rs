//! Decoding PNG and JPEG photographs into gray or color images, then cutting patches: an error
//! or a valid set, never a panic.

use crate::images::check_set;
use dualscore::data::{Channels, decode_photo, photo_dimensions};
use std::io::Cursor;
use std::path::Path;

/// The largest photograph decoded (in pixels): a few bytes of PNG or JPEG can declare a huge
/// one, which is not a bug but would exhaust the fuzzer's memory.
pub const MAX_PIXELS: usize = 1 << 22;

/// Decodes `bytes` (the first byte chooses gray or color and the patches) and checks any set
/// it returns.
pub fn run(bytes: &[u8]) {
    let Some((&choice, file)) = bytes.split_first() else {
        return;
    };
    let path = Path::new("fuzz-photo");
    match photo_dimensions(file, path) {
        Ok((h, w)) if h.saturating_mul(w) <= MAX_PIXELS => {}
        _ => return,
    }
    let channels = if choice & 0x80 != 0 {
        Channels::Color
    } else {
        Channels::Gray
    };
    if let Ok(set) = decode_photo(file, path, channels) {
        assert_eq!(set.len(), 1);
        assert_eq!(set.image_shape()[0], channels.count());
        check_set(&set, choice, true);
    }
}

/// Small valid photographs (PNG gray, PNG color with alpha, 16-bit PNG, JPEG gray and color),
/// each after a choice byte, to start fuzzing from.
pub fn seeds() -> Vec<Vec<u8>> {
    let gray = image::GrayImage::from_fn(9, 7, |x, y| image::Luma([(x * 29 + y * 7) as u8]));
    let rgba = image::RgbaImage::from_fn(6, 5, |x, y| {
        image::Rgba([(x * 40) as u8, (y * 50) as u8, 200, (x * y) as u8])
    });
    let deep = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(4, 4, |x, y| {
        image::Luma([(x * 9000 + y) as u16])
    });
    let rgb = image::RgbImage::from_fn(8, 8, |x, y| {
        image::Rgb([(x * 30) as u8, (y * 30) as u8, 90])
    });
    let encode = |image: image::DynamicImage, format: image::ImageFormat| {
        let mut out = Cursor::new(Vec::new());
        image
            .write_to(&mut out, format)
            .expect("encoding to memory");
        out.into_inner()
    };
    let files = [
        encode(gray.clone().into(), image::ImageFormat::Png),
        encode(rgba.into(), image::ImageFormat::Png),
        encode(deep.into(), image::ImageFormat::Png),
        encode(gray.into(), image::ImageFormat::Jpeg),
        encode(rgb.into(), image::ImageFormat::Jpeg),
    ];
    files
        .into_iter()
        .enumerate()
        .map(|(i, file)| {
            let mut bytes = vec![(i as u8).wrapping_mul(0x53)];
            bytes.extend_from_slice(&file);
            bytes
        })
        .collect()
}
