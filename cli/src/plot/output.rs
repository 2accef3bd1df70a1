//! Atomic PNG output: encode into `.<name>.tmp` beside the target, then rename.

use super::PlotError;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Checks that `path` names a file in an existing folder; gives the temporary file's path.
pub(super) fn temporary_path(path: &Path) -> Result<PathBuf, PlotError> {
    let name = path.file_name().ok_or_else(|| PlotError::NotAFile {
        path: path.to_path_buf(),
    })?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(PlotError::MissingFolder {
            path: path.to_path_buf(),
            folder: folder.to_path_buf(),
        });
    }
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(".tmp");
    Ok(folder.join(tmp))
}

/// Writes `pixels` (rows top to bottom, 8 bits per sample) as a PNG at `path`, atomically.
pub(super) fn write_png(
    path: &Path,
    pixels: &[u8],
    width: u32,
    height: u32,
    color: ExtendedColorType,
) -> Result<(), PlotError> {
    let tmp = temporary_path(path)?;
    let result = encode(path, &tmp, pixels, width, height, color).and_then(|()| {
        fs::rename(&tmp, path).map_err(|source| PlotError::Io {
            path: path.to_path_buf(),
            source,
        })
    });
    if result.is_err() {
        // Best effort: a failed write leaves no temporary file behind.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn encode(
    path: &Path,
    tmp: &Path,
    pixels: &[u8],
    width: u32,
    height: u32,
    color: ExtendedColorType,
) -> Result<(), PlotError> {
    let io = |source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(tmp).map_err(io)?;
    let mut writer = BufWriter::new(file);
    PngEncoder::new(&mut writer)
        .write_image(pixels, width, height, color)
        .map_err(|source| PlotError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
    writer.flush().map_err(io)?;
    let file = writer.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}
