//! Host linear algebra: the symmetric eigendecomposition, Cholesky, sample covariance and the
//! small Fourier transform, against matrices with known answers.

use dualscore_core::linalg::fourier::{dft2, real_fourier_basis, signed_frequency};
use dualscore_core::linalg::{Matrix, cholesky, mean_covariance, symmetric_eigen};
use dualscore_core::rng::{RngKey, normal_values, uniform_values};
use std::time::Instant;

/// A random orthogonal matrix: the Q of a Gram-Schmidt pass over Gaussian columns.
fn random_orthogonal(n: usize, key: RngKey) -> Matrix {
    let g = normal_values(key, 0, n * n);
    let mut q = Matrix::from_vec(n, n, g).unwrap().transpose(); // rows are the vectors
    for i in 0..n {
        for j in 0..i {
            let (head, tail) = q.as_mut_slice().split_at_mut(i * n);
            let qj = &head[j * n..(j + 1) * n];
            let qi = &mut tail[..n];
            let p: f64 = qi.iter().zip(qj).map(|(a, b)| a * b).sum();
            qi.iter_mut().zip(qj).for_each(|(a, b)| *a -= p * b);
        }
        let norm = q.row(i).iter().map(|v| v * v).sum::<f64>().sqrt();
        q.row_mut(i).iter_mut().for_each(|v| *v /= norm);
    }
    q.transpose()
}

/// `Q diag(l) Q^T` with a random orthogonal `Q`.
fn with_spectrum(values: &[f64], key: RngKey) -> Matrix {
    let n = values.len();
    let q = random_orthogonal(n, key);
    let ql = Matrix::from_fn(n, n, |i, j| q[(i, j)] * values[j]);
    ql.matmul(&q.transpose()).unwrap()
}

fn orthogonality_error(v: &Matrix) -> f64 {
    v.transpose()
        .matmul(v)
        .unwrap()
        .max_abs_diff(&Matrix::identity(v.cols()))
}

#[test]
fn eigen_of_a_diagonal_matrix_is_sorted_and_exact() {
    let a = Matrix::from_diagonal(&[3.0, -1.0, 2.0, 0.0]);
    let eig = symmetric_eigen(&a).unwrap();
    assert_eq!(eig.values, vec![-1.0, 0.0, 2.0, 3.0]);
    assert!(orthogonality_error(&eig.vectors) == 0.0);
    assert_eq!(eig.reconstruct(), a);
}

#[test]
fn eigen_of_2x2_matrices_matches_the_closed_form() {
    for &(a, b, c) in &[
        (2.0, 1.0, 2.0),
        (1.0, 1e-3, 1.0),
        (5.0, -2.0, 1.0),
        (0.0, 1.0, 0.0),
        (1e6, 3.0, -1e-6),
    ] {
        let m = Matrix::from_vec(2, 2, vec![a, b, b, c]).unwrap();
        let eig = symmetric_eigen(&m).unwrap();
        let mean = 0.5 * (a + c);
        let radius = (0.25 * (a - c) * (a - c) + b * b).sqrt();
        let scale = mean.abs() + radius;
        assert!((eig.values[0] - (mean - radius)).abs() <= 1e-14 * scale);
        assert!((eig.values[1] - (mean + radius)).abs() <= 1e-14 * scale);
        assert!(eig.reconstruct().max_abs_diff(&m) <= 1e-14 * scale);
        assert!(orthogonality_error(&eig.vectors) < 1e-15);
    }
}

#[test]
fn eigen_recovers_random_spectra_with_repeated_and_clustered_values() {
    let cases: Vec<Vec<f64>> = vec![
        vec![1.0],
        vec![4.0, 4.0, 4.0, 1.0, 1.0],
        (0..40).map(|i| 1.0 + 1e-9 * i as f64).collect(),
        (0..60).map(|i| 10f64.powf(-6.0 + 0.2 * i as f64)).collect(),
        (0..97).map(|i| (i as f64 * 0.37).sin() * 3.0).collect(),
    ];
    for (c, values) in cases.iter().enumerate() {
        let a = with_spectrum(values, RngKey::new(11, c as u64));
        let eig = symmetric_eigen(&a).unwrap();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let scale = a.max_abs().max(1e-300);
        let value_err = eig
            .values
            .iter()
            .zip(&sorted)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
        let recon = eig.reconstruct().max_abs_diff(&a) / scale;
        let orth = orthogonality_error(&eig.vectors);
        println!(
            "n = {}: eigenvalue error {value_err:.1e}, reconstruction {recon:.1e}, orthogonality {orth:.1e}",
            values.len()
        );
        assert!(value_err < 1e-12 * scale, "case {c}: {value_err}");
        assert!(recon < 1e-12, "case {c}: {recon}");
        assert!(orth < 1e-12, "case {c}: {orth}");
    }
}

#[test]
fn eigen_of_a_random_spd_matrix_reconstructs_to_1e_12() {
    let n = 150;
    let g = Matrix::from_vec(n, n, normal_values(RngKey::new(5, 0), 0, n * n)).unwrap();
    let a = g.matmul(&g.transpose()).unwrap().add_identity(0.1).unwrap();
    let eig = symmetric_eigen(&a).unwrap();
    let recon = eig.reconstruct().max_abs_diff(&a) / a.max_abs();
    let orth = orthogonality_error(&eig.vectors);
    println!("n = {n}: reconstruction {recon:.1e}, orthogonality {orth:.1e}");
    assert!(recon < 1e-12 && orth < 1e-12);
    assert!(eig.values.windows(2).all(|w| w[0] <= w[1]));
    assert!(eig.values[0] > 0.0);
    // The log-determinant agrees with Cholesky's.
    let from_eig: f64 = eig.values.iter().map(|v| v.ln()).sum();
    let from_chol = cholesky(&a).unwrap().log_det();
    assert!((from_eig - from_chol).abs() < 1e-10 * from_chol.abs());
}

#[test]
fn eigen_rejects_bad_input() {
    assert!(symmetric_eigen(&Matrix::zeros(2, 3)).is_err());
    let asym = Matrix::from_vec(2, 2, vec![1.0, 2.0, 3.0, 1.0]).unwrap();
    assert!(symmetric_eigen(&asym).is_err());
    let nan = Matrix::from_vec(1, 1, vec![f64::NAN]).unwrap();
    assert!(symmetric_eigen(&nan).is_err());
    assert_eq!(
        symmetric_eigen(&Matrix::zeros(0, 0)).unwrap().values.len(),
        0
    );
}

/// d = 1024, as a stationary 32 x 32 image covariance needs. Run with `--ignored` to time it.
#[test]
#[ignore = "timing: about a few seconds"]
fn eigen_of_order_1024_takes_seconds() {
    let n = 1024;
    let g = Matrix::from_vec(n, n, normal_values(RngKey::new(9, 0), 0, n * n)).unwrap();
    let a = Matrix::from_fn(n, n, |i, j| g[(i, j)] + g[(j, i)]);
    let start = Instant::now();
    let eig = symmetric_eigen(&a).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let recon = eig.reconstruct().max_abs_diff(&a) / a.max_abs();
    let orth = orthogonality_error(&eig.vectors);
    println!("n = {n}: {seconds:.2} s, reconstruction {recon:.1e}, orthogonality {orth:.1e}");
    assert!(recon < 1e-11 && orth < 1e-11);
}

#[test]
fn cholesky_solves_and_its_log_det_is_exact() {
    let n = 30;
    let values: Vec<f64> = (0..n).map(|i| 0.5 + i as f64).collect();
    let a = with_spectrum(&values, RngKey::new(2, 1));
    let c = cholesky(&a).unwrap();
    let l = c.factor();
    assert!(l.matmul(&l.transpose()).unwrap().max_abs_diff(&a) < 1e-12 * a.max_abs());
    let want: f64 = values.iter().map(|v| v.ln()).sum();
    assert!((c.log_det() - want).abs() < 1e-12 * want.abs());
    let b = normal_values(RngKey::new(2, 2), 0, n);
    let x = c.solve(&b).unwrap();
    let ax = a.matvec(&x).unwrap();
    let err = ax
        .iter()
        .zip(&b)
        .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
    assert!(err < 1e-12, "{err}");
    // The whitening factor: rows of (L^{-1})^T.
    let lit = c.inverse_factor_transpose();
    let prod = lit.transpose().matmul(l).unwrap();
    assert!(prod.max_abs_diff(&Matrix::identity(n)) < 1e-12);
    let q = c.quadratic_form(&b).unwrap();
    let direct: f64 = b.iter().zip(&x).map(|(p, q)| p * q).sum();
    assert!((q - direct).abs() < 1e-12 * direct.abs());
    // 2 x 2 by hand: [[4, 2], [2, 5]] = L L^T with L = [[2, 0], [1, 2]].
    let c2 = cholesky(&Matrix::from_vec(2, 2, vec![4.0, 2.0, 2.0, 5.0]).unwrap()).unwrap();
    assert_eq!(c2.factor().as_slice(), &[2.0, 0.0, 1.0, 2.0]);
    assert!(cholesky(&Matrix::from_vec(2, 2, vec![1.0, 2.0, 2.0, 1.0]).unwrap()).is_err());
}

#[test]
fn mean_covariance_matches_the_two_pass_definition() {
    let (n, d) = (203, 7); // more than one block of 64 rows, and a partial last block
    let rows: Vec<f64> = uniform_values(RngKey::new(4, 0), 0, n * d)
        .iter()
        .enumerate()
        .map(|(i, u)| u * (1 + i % d) as f64 + 0.3)
        .collect();
    let mc = mean_covariance(&rows, d).unwrap();
    assert_eq!(mc.count, n);
    for j in 0..d {
        let m: f64 = (0..n).map(|i| rows[i * d + j]).sum::<f64>() / n as f64;
        assert!((m - mc.mean[j]).abs() < 1e-14);
        for k in 0..d {
            let mk: f64 = (0..n).map(|i| rows[i * d + k]).sum::<f64>() / n as f64;
            let c: f64 = (0..n)
                .map(|i| (rows[i * d + j] - m) * (rows[i * d + k] - mk))
                .sum::<f64>()
                / (n - 1) as f64;
            assert!((c - mc.covariance[(j, k)]).abs() < 1e-13, "({j}, {k})");
        }
    }
    assert!(mean_covariance(&rows[..d], d).is_err());
    assert!(mean_covariance(&rows[..d + 1], d).is_err());
}

#[test]
fn dft2_matches_the_definition_and_inverts() {
    let (h, w) = (3, 4);
    let re = normal_values(RngKey::new(8, 0), 0, h * w);
    let im = normal_values(RngKey::new(8, 1), 0, h * w);
    let (fr, fi) = dft2(&re, &im, h, w, false).unwrap();
    for ky in 0..h {
        for kx in 0..w {
            let (mut sr, mut si) = (0.0, 0.0);
            for y in 0..h {
                for x in 0..w {
                    let a = -2.0
                        * std::f64::consts::PI
                        * (ky as f64 * y as f64 / h as f64 + kx as f64 * x as f64 / w as f64);
                    let (c, s) = (a.cos(), a.sin());
                    sr += re[y * w + x] * c - im[y * w + x] * s;
                    si += re[y * w + x] * s + im[y * w + x] * c;
                }
            }
            assert!((sr - fr[ky * w + kx]).abs() < 1e-13);
            assert!((si - fi[ky * w + kx]).abs() < 1e-13);
        }
    }
    let (br, bi) = dft2(&fr, &fi, h, w, true).unwrap();
    for i in 0..h * w {
        assert!((br[i] - re[i]).abs() < 1e-14 && (bi[i] - im[i]).abs() < 1e-14);
    }
    assert!(dft2(&re, &im[..5], h, w, false).is_err());
}

#[test]
fn the_real_fourier_basis_is_orthonormal_and_diagonalizes_circulants() {
    for &(h, w) in &[(1, 1), (4, 4), (5, 3), (6, 8)] {
        let d = h * w;
        let b = real_fourier_basis(h, w);
        assert!(orthogonality_error(&b.vectors) < 1e-13, "{h} x {w}");
        // A circulant covariance: c(dy, dx) = 1 / (1 + dist^2) on the torus, symmetric.
        let kernel = |dy: usize, dx: usize| {
            let fy = signed_frequency(dy, h) * h as f64;
            let fx = signed_frequency(dx, w) * w as f64;
            1.0 / (1.0 + fy * fy + fx * fx)
        };
        let c = Matrix::from_fn(d, d, |i, j| {
            let (yi, xi, yj, xj) = (i / w, i % w, j / w, j % w);
            kernel((yi + h - yj) % h, (xi + w - xj) % w)
        });
        let diag = b
            .vectors
            .transpose()
            .matmul(&c)
            .unwrap()
            .matmul(&b.vectors)
            .unwrap();
        let off: f64 =
            Matrix::from_fn(d, d, |i, j| if i == j { 0.0 } else { diag[(i, j)] }).max_abs();
        assert!(off < 1e-13, "{h} x {w}: {off}");
        // Eigenvalues: the DFT of the kernel at each column's frequency.
        let kernel_img: Vec<f64> = (0..d).map(|i| kernel(i / w, i % w)).collect();
        let (lam, lam_im) = dft2(&kernel_img, &vec![0.0; d], h, w, false).unwrap();
        assert!(lam_im.iter().all(|v| v.abs() < 1e-13));
        for (col, &(ky, kx)) in b.frequencies.iter().enumerate() {
            assert!((diag[(col, col)] - lam[ky * w + kx]).abs() < 1e-13);
        }
    }
}
