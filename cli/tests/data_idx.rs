//! The IDX reader (MNIST, Fashion-MNIST), plain and gzip, and its errors.

mod common;

use common::*;
use dualscore::data::{DataError, open_images, parse_idx, read_idx};
use std::path::Path;

fn images(n: u32, h: u32, w: u32) -> Vec<u8> {
    (0..n * h * w).map(|i| (i * 29 % 256) as u8).collect()
}

#[test]
fn plain_and_gzip_files_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let data = images(3, 4, 5);
    let plain = idx_bytes(0x08, &[3, 4, 5], &data);
    let a = write(dir.path(), "train-images-idx3-ubyte", &plain);
    let b = write(dir.path(), "train-images-idx3-ubyte.gz", &gzip(&plain));
    let sa = read_idx(&a).unwrap();
    let sb = read_idx(&b).unwrap();
    assert_eq!(sa.shape(), [3, 1, 4, 5]);
    let expected: Vec<f64> = data.iter().map(|&v| f64::from(v) / 255.0).collect();
    assert_eq!(sa.values(), &expected[..]);
    assert_eq!(sb.values(), sa.values());
    assert_eq!(sb.origin(), b);
    assert_eq!(open_images(&b).unwrap().values(), sa.values());
    assert_eq!(open_images(&a).unwrap().values(), sa.values());
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    let plain = idx_bytes(0x08, &[2, 2, 2], &images(2, 2, 2));
    let mut two = gzip(&plain[..7]);
    two.extend_from_slice(&gzip(&plain[7..]));
    let set = parse_idx(&two, Path::new("x.gz")).unwrap();
    assert_eq!(set.shape(), [2, 1, 2, 2]);
}

fn err(bytes: &[u8]) -> DataError {
    parse_idx(bytes, Path::new("/data/bad-idx3-ubyte")).unwrap_err()
}

const BAD: &str = "/data/bad-idx3-ubyte";

#[test]
fn wrong_magic_is_rejected() {
    let mut bytes = idx_bytes(0x08, &[1, 2, 2], &[0; 4]);
    bytes[0] = 1;
    let e = err(&bytes);
    assert!(matches!(e, DataError::Corrupt { .. }), "{e}");
    assert_message(&e, Path::new(BAD), &["wrong magic number 01 00 08 03"]);
    let e = err(&idx_bytes(0x07, &[1, 2, 2], &[0; 4]));
    assert_message(&e, Path::new(BAD), &["unknown type code 0x07"]);
}

#[test]
fn other_types_and_ranks_are_rejected() {
    for (code, name) in [
        (0x0D, "32-bit float"),
        (0x09, "signed byte"),
        (0x0C, "32-bit integer"),
    ] {
        let e = err(&idx_bytes(code, &[1, 2, 2], &[0; 16]));
        assert!(matches!(e, DataError::Dtype { .. }), "{e}");
        assert_message(&e, Path::new(BAD), &[name, "unsigned bytes"]);
    }
    let labels = idx_bytes(0x08, &[4], &[1, 2, 3, 4]);
    let e = err(&labels);
    assert!(matches!(e, DataError::Rank { .. }), "{e}");
    assert_message(&e, Path::new(BAD), &["rank 1", "labels"]);
    let e = err(&gzip(&labels));
    assert!(matches!(e, DataError::Rank { .. }), "{e}");
    let e = err(&idx_bytes(0x08, &[1, 1, 2, 2], &[0; 4]));
    assert!(matches!(e, DataError::Rank { .. }), "{e}");
}

#[test]
fn empty_sets_are_rejected() {
    for dims in [[0, 28, 28], [5, 0, 28], [5, 28, 0]] {
        let e = err(&idx_bytes(0x08, &dims, &[]));
        assert!(matches!(e, DataError::Empty { .. }), "{e}");
        assert_message(&e, Path::new(BAD), &["no images"]);
    }
}

#[test]
fn truncated_files_are_rejected() {
    let plain = idx_bytes(0x08, &[2, 3, 3], &images(2, 3, 3));
    let e = err(&plain[..plain.len() - 1]);
    assert!(matches!(e, DataError::Truncated { .. }), "{e}");
    assert_message(&e, Path::new(BAD), &["18 bytes", "only 17"]);
    let e = err(&plain[..9]);
    assert_message(&e, Path::new(BAD), &["truncated", "inside the dimensions"]);
    let e = err(&plain[..2]);
    assert_message(&e, Path::new(BAD), &["truncated", "magic number"]);
    for len in 0..plain.len() {
        assert!(parse_idx(&plain[..len], Path::new("p")).is_err(), "{len}");
    }
    let gz = gzip(&plain);
    for len in 0..gz.len() {
        let r = parse_idx(&gz[..len], Path::new("p.gz"));
        assert!(r.is_err(), "gzip prefix {len}");
    }
    let e = err(&gz[..gz.len() / 2]);
    assert!(
        matches!(e, DataError::Truncated { .. } | DataError::Corrupt { .. }),
        "{e}"
    );
}

#[test]
fn huge_headers_do_not_allocate() {
    let e = err(&idx_bytes(
        0x08,
        &[u32::MAX, u32::MAX, u32::MAX],
        &[1, 2, 3],
    ));
    assert!(
        matches!(e, DataError::Corrupt { .. } | DataError::Truncated { .. }),
        "{e}"
    );
    let e = err(&gzip(&idx_bytes(0x08, &[60000, 28, 28], &[1, 2, 3])));
    assert!(matches!(e, DataError::Truncated { .. }), "{e}");
    // 255 dimensions announced, 4 bytes present.
    let e = err(&[0, 0, 8, 255, 0, 0, 0, 1]);
    assert!(matches!(e, DataError::Truncated { .. }), "{e}");
}

#[test]
fn corrupt_gzip_and_trailing_bytes_are_rejected() {
    let plain = idx_bytes(0x08, &[2, 3, 3], &images(2, 3, 3));
    let mut gz = gzip(&plain);
    let crc = gz.len() - 8;
    gz[crc] ^= 0xff;
    let e = err(&gz);
    assert!(matches!(e, DataError::Corrupt { .. }), "{e}");
    assert_message(&e, Path::new(BAD), &["gzip"]);
    let mut gz = gzip(&plain);
    gz[12] ^= 0x55;
    let _ = err(&gz);
    let mut longer = plain.clone();
    longer.push(7);
    let e = err(&longer);
    assert!(matches!(e, DataError::Corrupt { .. }), "{e}");
    assert_message(&e, Path::new(BAD), &["bytes follow"]);
    let e = err(&gzip(&longer));
    assert!(matches!(e, DataError::Corrupt { .. }), "{e}");
}

#[test]
fn every_single_byte_corruption_is_handled() {
    let plain = idx_bytes(0x08, &[2, 3, 3], &images(2, 3, 3));
    let gz = gzip(&plain);
    for good in [&plain, &gz] {
        for i in 0..good.len() {
            for v in [0u8, 1, 0x08, 0x80, 0xff] {
                let mut bytes = good.clone();
                bytes[i] = v;
                let _ = parse_idx(&bytes, Path::new("x"));
            }
        }
    }
}

#[test]
fn missing_file_names_the_path() {
    let path = Path::new("/nonexistent/t10k-images-idx3-ubyte.gz");
    let e = read_idx(path).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    assert_message(&e, path, &["cannot read"]);
}

/// Reads Debian's Fashion-MNIST (`apt-get install dataset-fashion-mnist`); ignored by default
/// since the package is not part of the build.
#[test]
#[ignore = "needs the Debian package dataset-fashion-mnist"]
fn fashion_mnist_from_debian() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    let train = read_idx(dir.join("train-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(train.shape(), [60000, 1, 28, 28]);
    let test = read_idx(dir.join("t10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(test.shape(), [10000, 1, 28, 28]);
    println!("train: {}\ntest: {}", train.summary(), test.summary());
    let e = read_idx(dir.join("train-labels-idx1-ubyte.gz")).unwrap_err();
    println!("labels: {e}");
    assert!(matches!(e, DataError::Rank { .. }));
}
