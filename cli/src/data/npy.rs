//! The NumPy `.npy` format (versions 1.0, 2.0 and 3.0), for arrays of images.
//!
//! A file is the magic string `\x93NUMPY`, a version, a little-endian header length (2 bytes
//! in version 1.0, 4 in 2.0 and 3.0), a header that is a Python dict literal such as
//! `{'descr': '|u1', 'fortran_order': False, 'shape': (5760, 32, 32), }`, then the raw data.
//! The header is parsed by a small, non-recursive reader of that literal: every length is
//! checked against the file before anything is allocated.
//!
//! The writer ([`npy_bytes`], [`npy_f64_bytes`]) makes the files the program writes and the
//! files of the tests and fuzz seeds.

use std::path::Path;

use super::error::{DataError, Result};
use super::finite::first_non_finite;
use super::set::ImageSet;

const FORMAT: &str = "npy";
const MAGIC: &[u8] = b"\x93NUMPY";

/// An element type the reader accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyDtype {
    /// `u1`: bytes 0..255, read as value / 255.
    U8,
    /// `<f4`: little-endian float32, read as is.
    F32,
    /// `<f8`: little-endian float64, read as is.
    F64,
}

impl NpyDtype {
    /// The size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            NpyDtype::U8 => 1,
            NpyDtype::F32 => 4,
            NpyDtype::F64 => 8,
        }
    }
}

/// The parsed header of an `.npy` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// The format version, (major, minor).
    pub version: (u8, u8),
    /// The element type.
    pub dtype: NpyDtype,
    /// The array's shape, as written.
    pub shape: Vec<u64>,
    /// The byte offset of the data in the file.
    pub data_offset: usize,
}

/// Reads the images of an `.npy` file: `[N, H, W]` (one channel) or `[N, C, H, W]`, of type
/// uint8 (scaled to `value / 255`), float32 or float64 (taken as is), in C order.
pub fn read_npy(path: impl AsRef<Path>) -> Result<ImageSet> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_npy(&bytes, path)
}

/// Parses the bytes of an `.npy` file as [`read_npy`] does; `path` names the file in errors.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<ImageSet> {
    let header = parse_header(bytes, path)?;
    let shape = image_shape(&header.shape, path)?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n.checked_mul(header.dtype.size()).is_some())
        .ok_or_else(|| {
            DataError::corrupt(
                path,
                FORMAT,
                format!("the shape {:?} is too large to address", header.shape),
            )
        })?;
    let data = &bytes[header.data_offset..];
    let expected = count * header.dtype.size();
    if data.len() < expected {
        return Err(DataError::truncated(
            path,
            FORMAT,
            format!(
                "the header announces {expected} bytes of data (shape {:?}, {} bytes each) \
                 but only {} follow",
                header.shape,
                header.dtype.size(),
                data.len()
            ),
        ));
    }
    if data.len() > expected {
        return Err(DataError::corrupt(
            path,
            FORMAT,
            format!(
                "{} bytes follow the {expected} bytes of data that the header announces",
                data.len() - expected
            ),
        ));
    }
    let values = decode(data, header.dtype);
    if let Some(found) = first_non_finite(&values, shape) {
        return Err(DataError::corrupt(path, FORMAT, found.to_string()));
    }
    ImageSet::new(values, shape, path)
}

/// Parses the magic string, version and header of an `.npy` file. Fails on a wrong magic, an
/// unknown version, a header that is not the expected dict literal, Fortran order or an
/// element type other than uint8, float32 or float64.
pub fn parse_header(bytes: &[u8], path: &Path) -> Result<NpyHeader> {
    if bytes.len() < MAGIC.len() + 2 || !bytes.starts_with(MAGIC) {
        let shown = &bytes[..bytes.len().min(MAGIC.len())];
        return Err(
            if MAGIC.starts_with(shown) && bytes.len() < MAGIC.len() + 2 {
                DataError::truncated(path, FORMAT, format!("{} bytes, no header", bytes.len()))
            } else {
                let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
                let hint = if shown.starts_with(&[0x1f, 0x8b]) {
                    " (a gzip file)"
                } else {
                    ""
                };
                DataError::corrupt(
                    path,
                    FORMAT,
                    format!(
                        "wrong magic bytes {}{hint}: an npy file starts with 93 4e 55 4d 50 59 \
                         (\"\\x93NUMPY\")",
                        hex.join(" ")
                    ),
                )
            },
        );
    }
    let version = (bytes[6], bytes[7]);
    let len_size = match version {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        (major, minor) => {
            return Err(DataError::corrupt(
                path,
                FORMAT,
                format!("unsupported format version {major}.{minor} (1.0, 2.0 and 3.0 are known)"),
            ));
        }
    };
    let prefix = 8 + len_size;
    if bytes.len() < prefix {
        return Err(DataError::truncated(
            path,
            FORMAT,
            "the file ends inside the header length",
        ));
    }
    let header_len = if len_size == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    let data_offset = prefix
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len());
    let Some(data_offset) = data_offset else {
        return Err(DataError::truncated(
            path,
            FORMAT,
            format!(
                "the header is {header_len} bytes long but only {} follow",
                bytes.len() - prefix
            ),
        ));
    };
    let text = std::str::from_utf8(&bytes[prefix..data_offset])
        .map_err(|_| DataError::corrupt(path, FORMAT, "the header is not text"))?;
    let dict = parse_dict(text).map_err(|message| {
        DataError::corrupt(path, FORMAT, format!("header {text:?}: {message}"))
    })?;
    if dict.fortran_order {
        return Err(DataError::FortranOrder {
            path: path.to_path_buf(),
        });
    }
    let dtype = dtype(&dict.descr, path)?;
    Ok(NpyHeader {
        version,
        dtype,
        shape: dict.shape,
        data_offset,
    })
}

fn dtype(descr: &str, path: &Path) -> Result<NpyDtype> {
    // '=' is the byte order of the machine that wrote the file, which numpy never writes
    // itself; it is taken as little-endian on a little-endian machine.
    let little = cfg!(target_endian = "little");
    let (order, code) = match descr.as_bytes().first() {
        Some(&c @ (b'<' | b'>' | b'|' | b'=')) => (c, &descr[1..]),
        _ => (b'=', descr),
    };
    let little_endian = order == b'<' || (order == b'=' && little);
    let big_endian = order == b'>' || (order == b'=' && !little);
    let dtype = match code {
        "u1" | "B" => Some(NpyDtype::U8),
        "f4" | "f" if little_endian => Some(NpyDtype::F32),
        "f8" | "d" if little_endian => Some(NpyDtype::F64),
        _ => None,
    };
    dtype.ok_or_else(|| DataError::Dtype {
        path: path.to_path_buf(),
        format: FORMAT,
        dtype: format!("'{descr}'{}", dtype_name(code, big_endian)),
        expected: "expected uint8 ('|u1'), little-endian float32 ('<f4') or float64 ('<f8')",
    })
}

/// A readable name for a numpy type code, as in `" (int32)"`.
fn dtype_name(code: &str, big_endian: bool) -> String {
    let kind = match code.as_bytes().first() {
        Some(b'i') => "int",
        Some(b'u') => "uint",
        Some(b'f') => "float",
        Some(b'c') => "complex",
        Some(b'b') => return " (bool)".into(),
        Some(b'O') => return " (Python objects)".into(),
        Some(b'S' | b'a') => return " (bytes)".into(),
        Some(b'U') => return " (unicode text)".into(),
        _ => return String::new(),
    };
    let bits = code[1..].parse::<u32>().ok().and_then(|b| b.checked_mul(8));
    let end = if big_endian { ", big-endian" } else { "" };
    match bits {
        Some(bits) => format!(" ({kind}{bits}{end})"),
        None => String::new(),
    }
}

/// Interprets the shape written in the file as `[N, C, H, W]`.
fn image_shape(shape: &[u64], path: &Path) -> Result<[usize; 4]> {
    let dims: Option<Vec<usize>> = shape.iter().map(|&d| usize::try_from(d).ok()).collect();
    let dims = dims.ok_or_else(|| {
        DataError::corrupt(path, FORMAT, format!("the shape {shape:?} is too large"))
    })?;
    let nchw = match dims[..] {
        [n, h, w] => [n, 1, h, w],
        [n, c, h, w] => [n, c, h, w],
        _ => {
            return Err(DataError::Rank {
                path: path.to_path_buf(),
                format: FORMAT,
                shape: shape.to_vec(),
                expected: "expected N x H x W (one channel) or N x C x H x W",
            });
        }
    };
    if let Some(axis) = nchw.iter().position(|&d| d == 0) {
        return Err(DataError::empty(
            path,
            format!(
                "the array's shape {shape:?} has {} = 0",
                ["N", "C", "H", "W"][axis]
            ),
        ));
    }
    Ok(nchw)
}

fn decode(data: &[u8], dtype: NpyDtype) -> Vec<f64> {
    match dtype {
        NpyDtype::U8 => data.iter().map(|&b| f64::from(b) / 255.0).collect(),
        NpyDtype::F32 => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        NpyDtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    }
}

/// The three entries of an npy header dict.
#[derive(Debug)]
struct HeaderDict {
    descr: String,
    fortran_order: bool,
    shape: Vec<u64>,
}

/// One token of the header literal.
#[derive(Debug, PartialEq)]
enum Token {
    Punct(u8),
    Str(String),
    Int(u64),
    Name(String),
}

/// Splits the header text into tokens, iteratively.
fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'{' | b'}' | b'(' | b')' | b'[' | b']' | b':' | b',' => {
                out.push(Token::Punct(c));
                i += 1;
            }
            b'\'' | b'"' => {
                let rest = &text[i + 1..];
                let end = rest
                    .find(c as char)
                    .ok_or_else(|| "a string is not closed".to_string())?;
                let s = &rest[..end];
                if s.contains('\\') {
                    return Err(format!("escape sequences are not supported in {s:?}"));
                }
                out.push(Token::Str(s.to_string()));
                i += end + 2;
            }
            b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let digits = &text[start..i];
                let value = digits
                    .parse::<u64>()
                    .map_err(|_| format!("the integer {digits} is too large"))?;
                // Python 2 wrote long integers with a suffix: (3L, 4L).
                if i < bytes.len() && (bytes[i] == b'L' || bytes[i] == b'l') {
                    i += 1;
                }
                out.push(Token::Int(value));
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                out.push(Token::Name(text[start..i].to_string()));
            }
            b'-' => return Err("negative numbers are not valid here".into()),
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected character {ch:?}"));
            }
        }
    }
    Ok(out)
}

/// Parses `{'descr': ..., 'fortran_order': ..., 'shape': (...), }` with the three keys in any
/// order, each exactly once.
fn parse_dict(text: &str) -> Result<HeaderDict, String> {
    let toks = tokens(text)?;
    let mut it = toks.into_iter();
    let mut next = |what: &str| {
        it.next()
            .ok_or_else(|| format!("ends where {what} is expected"))
    };
    if next("'{'")? != Token::Punct(b'{') {
        return Err("is not a dict literal (it must start with '{')".into());
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        let key = match next("a key or '}'")? {
            Token::Punct(b'}') => break,
            Token::Str(key) => key,
            other => return Err(format!("expected a key, found {}", show(&other))),
        };
        if next("':'")? != Token::Punct(b':') {
            return Err(format!("expected ':' after the key '{key}'"));
        }
        match key.as_str() {
            "descr" => match next("the value of 'descr'")? {
                Token::Str(s) if descr.is_none() => descr = Some(s),
                Token::Str(_) => return Err("the key 'descr' appears twice".into()),
                Token::Punct(b'[') => {
                    return Err("structured dtypes (a list of fields in 'descr') are not \
                                supported"
                        .into());
                }
                other => return Err(format!("'descr' is {}, not a string", show(&other))),
            },
            "fortran_order" => {
                let value = match next("the value of 'fortran_order'")? {
                    Token::Name(n) if n == "True" => true,
                    Token::Name(n) if n == "False" => false,
                    other => {
                        return Err(format!(
                            "'fortran_order' is {}, not True or False",
                            show(&other)
                        ));
                    }
                };
                if fortran.replace(value).is_some() {
                    return Err("the key 'fortran_order' appears twice".into());
                }
            }
            "shape" => {
                let close = match next("the value of 'shape'")? {
                    Token::Punct(b'(') => b')',
                    Token::Punct(b'[') => b']',
                    other => return Err(format!("'shape' is {}, not a tuple", show(&other))),
                };
                let mut dims = Vec::new();
                loop {
                    match next("a dimension or the end of 'shape'")? {
                        Token::Punct(c) if c == close => break,
                        Token::Int(d) => dims.push(d),
                        other => {
                            return Err(format!("'shape' holds {}, not an integer", show(&other)));
                        }
                    }
                    match next("',' or the end of 'shape'")? {
                        Token::Punct(b',') => {}
                        Token::Punct(c) if c == close => break,
                        other => {
                            return Err(format!("expected ',' in 'shape', found {}", show(&other)));
                        }
                    }
                }
                if shape.replace(dims).is_some() {
                    return Err("the key 'shape' appears twice".into());
                }
            }
            other => return Err(format!("unknown key '{other}'")),
        }
        match next("',' or '}'")? {
            Token::Punct(b',') => {}
            Token::Punct(b'}') => break,
            other => return Err(format!("expected ',' or '}}', found {}", show(&other))),
        }
    }
    if let Some(extra) = it.next() {
        return Err(format!("{} follows the dict", show(&extra)));
    }
    Ok(HeaderDict {
        descr: descr.ok_or("the key 'descr' is missing")?,
        fortran_order: fortran.ok_or("the key 'fortran_order' is missing")?,
        shape: shape.ok_or("the key 'shape' is missing")?,
    })
}

fn show(token: &Token) -> String {
    match token {
        Token::Punct(c) => format!("'{}'", *c as char),
        Token::Str(s) => format!("the string {s:?}"),
        Token::Int(n) => format!("the integer {n}"),
        Token::Name(n) => format!("the name {n}"),
    }
}

/// The header dict of a C-order array of element type `descr` (such as `<f8`) and shape text
/// `shape` (such as `(2, 3, 4)`), as numpy writes it.
pub fn npy_dict(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

/// The bytes of an `.npy` file of version `major`.0: the magic string, the version, the header
/// length (2 bytes in version 1, 4 otherwise), the header dict `dict` padded with spaces so that
/// the data starts at a multiple of 64 bytes and ended by a newline, as numpy writes it, then
/// `data` as given. Nothing is checked, so tests can write malformed files too.
pub fn npy_bytes(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let prefix = if major == 1 { 10 } else { 12 };
    let mut header = dict.to_string();
    while (prefix + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// The bytes of a version 1.0 `.npy` file of little-endian f64 values of `shape` (C order).
///
/// ```
/// let bytes = dualscore::data::npy_f64_bytes(&[1.0, 2.0], &[1, 1, 2]);
/// let set = dualscore::data::parse_npy(&bytes, std::path::Path::new("x.npy")).unwrap();
/// assert_eq!(set.values(), &[1.0, 2.0]);
/// ```
pub fn npy_f64_bytes(values: &[f64], shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    npy_bytes(1, &npy_dict("<f8", &shape_text), &f64_le_bytes(values))
}

/// Little-endian bytes of f32 values, the data of an `<f4` array.
pub fn f32_le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian bytes of f64 values, the data of an `<f8` array.
pub fn f64_le_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_in_any_order_with_python2_longs() {
        let d = parse_dict("{'shape': (3L, 4L), 'fortran_order': False, 'descr': '<f8'}").unwrap();
        assert_eq!(d.shape, vec![3, 4]);
        assert_eq!(d.descr, "<f8");
        assert!(!d.fortran_order);
    }

    #[test]
    fn dict_errors() {
        for bad in [
            "",
            "{",
            "{'descr': '<f8', 'fortran_order': False}",
            "{'descr': '<f8', 'fortran_order': 0, 'shape': ()}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}",
            "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
            "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1 2)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} x",
            "{'descr: '<f8'",
        ] {
            assert!(parse_dict(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn dtype_names() {
        let p = Path::new("x.npy");
        let msg = dtype("<i4", p).unwrap_err().to_string();
        assert!(msg.contains("'<i4' (int32)"), "{msg}");
        let msg = dtype(">f8", p).unwrap_err().to_string();
        assert!(msg.contains("float64, big-endian"), "{msg}");
        assert_eq!(dtype("|u1", p).unwrap(), NpyDtype::U8);
        assert_eq!(dtype("<f4", p).unwrap(), NpyDtype::F32);
    }
}
