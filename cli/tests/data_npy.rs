//! The `.npy` reader: every accepted form and every rejected one.

mod common;

use common::*;
use dualscore::data::{DataError, NpyDtype, open_images, parse_npy, parse_npy_header, read_npy};
use std::path::Path;

#[test]
fn uint8_rank3_version1_is_scaled_to_unit_range() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..2 * 3 * 4).map(|i| (i * 11) as u8).collect();
    let path = write(
        dir.path(),
        "a.npy",
        &npy_bytes(1, &npy_dict("|u1", "(2, 3, 4)"), &data),
    );
    let set = read_npy(&path).unwrap();
    assert_eq!(set.shape(), [2, 1, 3, 4]);
    assert_eq!(set.origin(), path);
    let expected: Vec<f64> = data.iter().map(|&b| f64::from(b) / 255.0).collect();
    assert_eq!(set.values(), &expected[..]);
    assert_eq!(set.image(1).unwrap(), &expected[12..]);
}

#[test]
fn float32_rank4_version2_is_taken_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f32> = (0..2 * 3 * 2 * 2).map(|i| i as f32 * 0.25 - 1.5).collect();
    let path = write(
        dir.path(),
        "b.npy",
        &npy_bytes(2, &npy_dict("<f4", "(2, 3, 2, 2)"), &f32_le_bytes(&values)),
    );
    let set = read_npy(&path).unwrap();
    assert_eq!(set.shape(), [2, 3, 2, 2]);
    let expected: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
    assert_eq!(set.values(), &expected[..]);
}

#[test]
fn float64_rank3_with_keys_in_any_order() {
    let values = [0.1, -2.5, 1e-300, 7.0, 0.0, 3.25];
    let dict = "{'shape': (3L, 1L, 2L), 'fortran_order': False, 'descr': '<f8'}";
    let set = parse_npy(
        &npy_bytes(3, dict, &f64_le_bytes(&values)),
        Path::new("c.npy"),
    )
    .unwrap();
    assert_eq!(set.shape(), [3, 1, 1, 2]);
    assert_eq!(set.values(), &values[..]);
}

#[test]
fn header_is_parsed() {
    let bytes = npy_bytes(1, &npy_dict("<u1", "[5, 6, 7]"), &[]);
    let header = parse_npy_header(&bytes, Path::new("h.npy")).unwrap();
    assert_eq!(header.version, (1, 0));
    assert_eq!(header.dtype, NpyDtype::U8);
    assert_eq!(header.shape, vec![5, 6, 7]);
    assert_eq!(header.data_offset, bytes.len());
    assert_eq!(header.data_offset % 64, 0);
}

#[test]
fn open_images_reads_npy() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "any-name.bin",
        &npy_bytes(1, &npy_dict("|u1", "(1, 2, 2)"), &[0, 255, 51, 102]),
    );
    let set = open_images(&path).unwrap();
    assert_eq!(set.values(), &[0.0, 1.0, 0.2, 0.4]);
}

fn err(bytes: &[u8]) -> DataError {
    parse_npy(bytes, Path::new("/data/bad.npy")).unwrap_err()
}

#[test]
fn fortran_order_is_rejected() {
    let dict = "{'descr': '<f8', 'fortran_order': True, 'shape': (1, 2, 2), }";
    let e = err(&npy_bytes(1, dict, &f64_le_bytes(&[0.0; 4])));
    assert!(matches!(e, DataError::FortranOrder { .. }), "{e}");
    assert_message(&e, Path::new("/data/bad.npy"), &["Fortran order"]);
}

#[test]
fn other_dtypes_are_rejected_by_name() {
    for (descr, name) in [
        ("<i4", "'<i4' (int32)"),
        ("<i8", "'<i8' (int64)"),
        ("|i1", "'|i1' (int8)"),
        ("<u2", "'<u2' (uint16)"),
        ("<f2", "'<f2' (float16)"),
        (">f4", "'>f4' (float32, big-endian)"),
        (">f8", "'>f8' (float64, big-endian)"),
        ("|b1", "'|b1' (bool)"),
        ("<c16", "'<c16' (complex128)"),
        ("|O", "'|O' (Python objects)"),
        ("<U3", "'<U3' (unicode text)"),
    ] {
        let e = err(&npy_bytes(1, &npy_dict(descr, "(1, 2, 2)"), &[0; 64]));
        assert!(matches!(e, DataError::Dtype { .. }), "{descr}: {e}");
        assert_message(&e, Path::new("/data/bad.npy"), &[name, "uint8"]);
    }
    let dict = "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1, 2, 2), }";
    let e = err(&npy_bytes(1, dict, &[]));
    assert_message(&e, Path::new("/data/bad.npy"), &["structured dtypes"]);
}

#[test]
fn wrong_ranks_are_rejected() {
    for (shape, len) in [
        ("()", 1),
        ("(4,)", 4),
        ("(2, 2)", 4),
        ("(1, 1, 1, 2, 2)", 4),
    ] {
        let e = err(&npy_bytes(1, &npy_dict("|u1", shape), &vec![0; len]));
        assert!(matches!(e, DataError::Rank { .. }), "{shape}: {e}");
        assert_message(&e, Path::new("/data/bad.npy"), &["rank", "N x H x W"]);
    }
}

#[test]
fn empty_arrays_are_rejected() {
    for shape in ["(0, 4, 4)", "(3, 0, 4)", "(3, 4, 0)", "(2, 0, 4, 4)"] {
        let e = err(&npy_bytes(1, &npy_dict("|u1", shape), &[]));
        assert!(matches!(e, DataError::Empty { .. }), "{shape}: {e}");
        assert_message(&e, Path::new("/data/bad.npy"), &["no images", "= 0"]);
    }
}

#[test]
fn truncated_files_are_rejected() {
    let full = npy_bytes(1, &npy_dict("<f4", "(2, 2, 2)"), &f32_le_bytes(&[1.0; 8]));
    let e = err(&full[..full.len() - 1]);
    assert!(matches!(e, DataError::Truncated { .. }), "{e}");
    assert_message(
        &e,
        Path::new("/data/bad.npy"),
        &["truncated", "32 bytes", "31"],
    );
    let e = err(&full[..40]);
    assert!(matches!(e, DataError::Truncated { .. }), "{e}");
    let header_len = format!("header is {} bytes", full.len() - 32 - 10);
    assert_message(
        &e,
        Path::new("/data/bad.npy"),
        &[&header_len, "only 30 follow"],
    );
    let e = err(&full[..9]);
    assert!(matches!(e, DataError::Truncated { .. }), "{e}");
    // Every prefix of a valid file is an error, never a panic.
    for len in 0..full.len() {
        assert!(
            parse_npy(&full[..len], Path::new("p.npy")).is_err(),
            "{len}"
        );
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = npy_bytes(1, &npy_dict("|u1", "(1, 2, 2)"), &[1, 2, 3, 4]);
    bytes.push(0);
    let e = err(&bytes);
    assert!(matches!(e, DataError::Corrupt { .. }), "{e}");
    assert_message(&e, Path::new("/data/bad.npy"), &["1 bytes follow"]);
}

#[test]
fn wrong_magic_and_version_are_rejected() {
    let good = npy_bytes(1, &npy_dict("|u1", "(1, 2, 2)"), &[1, 2, 3, 4]);
    let mut bad = good.clone();
    bad[1] = b'M';
    let e = err(&bad);
    assert!(matches!(e, DataError::Corrupt { .. }), "{e}");
    assert_message(&e, Path::new("/data/bad.npy"), &["wrong magic"]);
    let e = err(b"P5\n2 2\n255\n\x00\x01\x02\x03");
    assert_message(&e, Path::new("/data/bad.npy"), &["wrong magic"]);
    let e = err(&gzip(&good));
    assert_message(
        &e,
        Path::new("/data/bad.npy"),
        &["wrong magic bytes 1f 8b", "gzip"],
    );
    let mut bad = good.clone();
    bad[6] = 4;
    let e = err(&bad);
    assert_message(&e, Path::new("/data/bad.npy"), &["version 4.0"]);
}

#[test]
fn bad_headers_are_rejected() {
    for dict in [
        "not a dict",
        "{'descr': '|u1', 'fortran_order': False}",
        "{'descr': '|u1', 'fortran_order': 'no', 'shape': (1, 2, 2)}",
        "{'descr': '|u1', 'fortran_order': False, 'shape': (1, -2, 2)}",
        "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), 'extra': 1}",
        "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2)",
        "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2)} {",
        "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2 2)}",
        "{'descr': '|u1\\n', 'fortran_order': False, 'shape': (1, 2, 2)}",
        "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), 'shape': (1, 2, 2)}",
    ] {
        let e = err(&npy_bytes(1, dict, &[0; 4]));
        assert!(matches!(e, DataError::Corrupt { .. }), "{dict}: {e}");
        assert_message(&e, Path::new("/data/bad.npy"), &["header"]);
    }
    let mut bytes = npy_bytes(1, &npy_dict("|u1", "(1, 2, 2)"), &[0; 4]);
    bytes[20] = 0xff;
    assert_message(&err(&bytes), Path::new("/data/bad.npy"), &["not text"]);
}

#[test]
fn huge_shapes_are_errors_without_allocation() {
    for shape in [
        "(18446744073709551615, 2, 2)",
        "(4294967296, 4294967296, 4294967296)",
        "(1, 1, 4611686018427387904)",
        "(99999999999999999999999, 1, 1)",
    ] {
        for descr in ["|u1", "<f8"] {
            let e = err(&npy_bytes(2, &npy_dict(descr, shape), &[0; 16]));
            assert!(
                matches!(e, DataError::Corrupt { .. } | DataError::Truncated { .. }),
                "{shape}: {e}"
            );
        }
    }
    // A header length of 4 GiB in a 16-byte file.
    let mut bytes = b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec();
    bytes.extend_from_slice(b"{}\n\n");
    let e = err(&bytes);
    assert!(matches!(e, DataError::Truncated { .. }), "{e}");
}

#[test]
fn non_finite_floats_are_rejected() {
    let e = err(&npy_bytes(
        1,
        &npy_dict("<f4", "(2, 1, 2)"),
        &f32_le_bytes(&[0.0, 1.0, f32::NAN, 2.0]),
    ));
    assert_message(&e, Path::new("/data/bad.npy"), &["non-finite", "image 1"]);
    let e = err(&npy_bytes(
        1,
        &npy_dict("<f8", "(1, 1, 2)"),
        &f64_le_bytes(&[f64::INFINITY, 2.0]),
    ));
    assert_message(&e, Path::new("/data/bad.npy"), &["non-finite", "image 0"]);
}

#[test]
fn missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.npy");
    let e = read_npy(&path).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    assert_message(&e, &path, &["cannot read"]);
}

#[test]
fn every_single_byte_corruption_is_handled() {
    let good = npy_bytes(1, &npy_dict("<f4", "(2, 1, 2)"), &f32_le_bytes(&[0.5; 4]));
    for i in 0..good.len() {
        for v in [0u8, b'(', b'\'', b'9', 0xff] {
            let mut bytes = good.clone();
            bytes[i] = v;
            let _ = parse_npy(&bytes, Path::new("x.npy"));
        }
    }
}
