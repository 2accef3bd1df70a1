//! The IDX format of MNIST and Fashion-MNIST (`train-images-idx3-ubyte`), plain or gzipped.
//!
//! A file is two zero bytes, a type code (`0x08` for unsigned bytes), the number of dimensions,
//! each dimension as a big-endian u32, then the data in row-major order. Image files have
//! three dimensions, N x H x W. A file that starts with the gzip magic bytes is decompressed
//! on the fly, whatever its name.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::error::{DataError, Result};
use super::set::ImageSet;

const FORMAT: &str = "IDX";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads the images of an IDX file (plain or gzip): unsigned bytes, N x H x W, read as
/// `[N, 1, H, W]` with values `value / 255`.
pub fn read_idx(path: impl AsRef<Path>) -> Result<ImageSet> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_idx(&bytes, path)
}

/// Parses the bytes of an IDX file, plain or gzip, as [`read_idx`] does; `path` names the
/// file in errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<ImageSet> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let mut reader = Stream {
            inner: MultiGzDecoder::new(bytes),
            path,
            what: "gzip-compressed IDX",
        };
        parse_stream(&mut reader)
    } else {
        let mut reader = Stream {
            inner: bytes,
            path,
            what: "IDX",
        };
        parse_stream(&mut reader)
    }
}

/// Whether `bytes` start like an IDX file, plain (two zero bytes, then a type code and a rank)
/// or gzip.
pub fn looks_like_idx(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
        || (bytes.len() >= 4 && bytes[0] == 0 && bytes[1] == 0 && type_name(bytes[2]).is_some())
}

/// The bytes of an IDX file: two zero bytes, the type `code` (0x08 for unsigned bytes), the
/// rank, the big-endian dimensions, then `data` as given. Nothing is checked, so tests can write
/// malformed files too.
pub fn idx_bytes(code: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// A reader that turns its errors into [`DataError`]s naming the file.
struct Stream<'a, R> {
    inner: R,
    path: &'a Path,
    what: &'static str,
}

impl<R: Read> Stream<'_, R> {
    fn error(&self, e: std::io::Error, during: &str) -> DataError {
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                DataError::truncated(self.path, FORMAT, format!("the file ends {during}"))
            }
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                DataError::corrupt(self.path, FORMAT, format!("{} stream: {e}", self.what))
            }
            _ => DataError::io(self.path, e),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8], during: &str) -> Result<()> {
        self.inner
            .read_exact(buf)
            .map_err(|e| self.error(e, during))
    }
}

fn type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "16-bit integer",
        0x0C => "32-bit integer",
        0x0D => "32-bit float",
        0x0E => "64-bit float",
        _ => return None,
    })
}

fn parse_stream<R: Read>(s: &mut Stream<'_, R>) -> Result<ImageSet> {
    let path = s.path;
    let mut magic = [0u8; 4];
    s.read_exact(&mut magic, "inside the magic number")?;
    let [z0, z1, code, rank] = magic;
    if z0 != 0 || z1 != 0 {
        return Err(DataError::corrupt(
            path,
            FORMAT,
            format!(
                "wrong magic number {z0:02x} {z1:02x} {code:02x} {rank:02x}: an IDX file starts \
                 with two zero bytes, a type code and a rank (00 00 08 03 for images)"
            ),
        ));
    }
    let Some(name) = type_name(code) else {
        return Err(DataError::corrupt(
            path,
            FORMAT,
            format!("unknown type code 0x{code:02x}"),
        ));
    };
    let mut dims_bytes = vec![0u8; 4 * rank as usize];
    s.read_exact(&mut dims_bytes, "inside the dimensions")?;
    let dims: Vec<u64> = dims_bytes
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    if code != 0x08 {
        return Err(DataError::Dtype {
            path: path.to_path_buf(),
            format: FORMAT,
            dtype: format!("0x{code:02x} ({name})"),
            expected: "expected unsigned bytes (0x08)",
        });
    }
    let [n, h, w] = match dims[..] {
        [n, h, w] => [n as usize, h as usize, w as usize],
        _ => {
            return Err(DataError::Rank {
                path: path.to_path_buf(),
                format: FORMAT,
                shape: dims,
                expected: "expected N x H x W images (an idx3 file; idx1 files hold labels)",
            });
        }
    };
    if let Some(axis) = [n, h, w].iter().position(|&d| d == 0) {
        return Err(DataError::empty(
            path,
            format!("the shape {dims:?} has {} = 0", ["N", "H", "W"][axis]),
        ));
    }
    let len = n
        .checked_mul(h)
        .and_then(|k| k.checked_mul(w))
        .ok_or_else(|| {
            DataError::corrupt(path, FORMAT, format!("the shape {dims:?} is too large"))
        })?;
    // Grows with the data actually present, so a header that lies costs nothing.
    let mut data = Vec::new();
    (&mut s.inner)
        .take(len as u64)
        .read_to_end(&mut data)
        .map_err(|e| s.error(e, "inside the images"))?;
    if data.len() < len {
        return Err(DataError::truncated(
            path,
            FORMAT,
            format!(
                "the header announces {n} images of {h} x {w} bytes ({len} bytes) but only {} \
                 follow",
                data.len()
            ),
        ));
    }
    let mut extra = [0u8; 1];
    match s.inner.read(&mut extra) {
        Ok(0) => {}
        Ok(_) => {
            return Err(DataError::corrupt(
                path,
                FORMAT,
                format!("bytes follow the {len} bytes of images that the header announces"),
            ));
        }
        Err(e) => return Err(s.error(e, "after the images")),
    }
    let values = data.iter().map(|&b| f64::from(b) / 255.0).collect();
    ImageSet::new(values, [n, 1, h, w], path)
}
