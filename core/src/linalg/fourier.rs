//! The two-dimensional discrete Fourier transform of small images by direct (separable)
//! summation, and the real orthonormal Fourier basis of a periodic grid: the eigenvectors of
//! every circulant covariance (stationary images). Meant for sizes up to a few dozen pixels a
//! side: the transform costs H W (H + W) complex multiply-adds.

use super::matrix::Matrix;
use crate::error::{Error, Result};
use std::f64::consts::PI;

/// The frequency of index `k` on a periodic axis of `n` samples, in cycles per sample, in
/// `(-1/2, 1/2]`: `k / n` for `k <= n / 2`, `(k - n) / n` above.
///
/// ```
/// use dualscore_core::linalg::fourier::signed_frequency;
/// assert_eq!(signed_frequency(1, 8), 0.125);
/// assert_eq!(signed_frequency(4, 8), 0.5);
/// assert_eq!(signed_frequency(7, 8), -0.125);
/// ```
pub fn signed_frequency(k: usize, n: usize) -> f64 {
    if 2 * k <= n {
        k as f64 / n as f64
    } else {
        (k as f64 - n as f64) / n as f64
    }
}

/// cos and sin of 2 pi m / n for m in 0..n, with the angle reduced exactly.
fn twiddles(n: usize) -> (Vec<f64>, Vec<f64>) {
    (0..n)
        .map(|m| {
            let a = 2.0 * PI * m as f64 / n as f64;
            (a.cos(), a.sin())
        })
        .unzip()
}

/// One-dimensional DFTs along a strided axis, in place.
#[allow(clippy::too_many_arguments)]
fn dft_axis(
    re: &mut [f64],
    im: &mut [f64],
    n: usize,
    count: usize,
    stride: usize,
    outer_stride: usize,
    sign: f64,
) {
    let (cos, sin) = twiddles(n);
    let mut out_re = vec![0.0; n];
    let mut out_im = vec![0.0; n];
    for c in 0..count {
        let base = c * outer_stride;
        for k in 0..n {
            let (mut sr, mut si) = (0.0, 0.0);
            for m in 0..n {
                let idx = (k * m) % n;
                let (wr, wi) = (cos[idx], sign * sin[idx]);
                let (xr, xi) = (re[base + m * stride], im[base + m * stride]);
                sr += xr * wr - xi * wi;
                si += xr * wi + xi * wr;
            }
            out_re[k] = sr;
            out_im[k] = si;
        }
        for k in 0..n {
            re[base + k * stride] = out_re[k];
            im[base + k * stride] = out_im[k];
        }
    }
}

/// The 2-D DFT of a complex `height x width` image (row-major real and imaginary parts).
/// Forward: `X[ky, kx] = sum x[y, x] exp(-2 pi i (ky y / H + kx x / W))`; inverse: the
/// conjugate kernel divided by `H W`, so that `dft2(dft2(x), inverse) = x`.
///
/// ```
/// use dualscore_core::linalg::fourier::dft2;
/// # fn main() -> dualscore_core::Result<()> {
/// let (re, im) = dft2(&[1.0, 0.0, 0.0, 0.0], &[0.0; 4], 2, 2, false)?;
/// assert_eq!(re, vec![1.0; 4]); // a delta has a flat spectrum
/// let (back, _) = dft2(&re, &im, 2, 2, true)?;
/// assert!((back[0] - 1.0).abs() < 1e-15 && back[3].abs() < 1e-15);
/// # Ok(()) }
/// ```
pub fn dft2(
    re: &[f64],
    im: &[f64],
    height: usize,
    width: usize,
    inverse: bool,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let len = height * width;
    if re.len() != len || im.len() != len {
        return Err(Error::invalid(
            "dft2",
            format!(
                "parts of {} and {} values for a {height} x {width} image",
                re.len(),
                im.len()
            ),
        ));
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut r = re.to_vec();
    let mut i = im.to_vec();
    // Along rows (x), then along columns (y).
    dft_axis(&mut r, &mut i, width, height, 1, width, sign);
    dft_axis(&mut r, &mut i, height, width, width, 1, sign);
    if inverse && len > 0 {
        let s = 1.0 / len as f64;
        r.iter_mut().for_each(|v| *v *= s);
        i.iter_mut().for_each(|v| *v *= s);
    }
    Ok((r, i))
}

/// The real orthonormal Fourier basis of a periodic `height x width` grid.
#[derive(Clone, Debug, PartialEq)]
pub struct RealFourierBasis {
    /// `d x d` with `d = height * width`: column `c` is a basis image (row-major pixels).
    pub vectors: Matrix,
    /// The frequency indices `(ky, kx)` of each column (a cosine or a sine of that frequency).
    pub frequencies: Vec<(usize, usize)>,
}

/// The real orthonormal Fourier basis of a periodic grid: for each pair of conjugate
/// frequencies `k` and `-k`, the cosine and the sine `sqrt(2 / d) cos(2 pi k.x)`,
/// `sqrt(2 / d) sin(2 pi k.x)`; for a self-conjugate frequency (each component 0 or Nyquist),
/// the cosine alone, `sqrt(1 / d) cos(2 pi k.x)`. Every circulant matrix whose eigenvalues
/// are symmetric (`lam(k) = lam(-k)`) is diagonal in this basis, with eigenvalue `lam(k)` on
/// both columns of frequency `k`.
///
/// ```
/// use dualscore_core::linalg::fourier::real_fourier_basis;
/// let b = real_fourier_basis(2, 3);
/// let vtv = b.vectors.transpose().matmul(&b.vectors).unwrap();
/// assert!(vtv.max_abs_diff(&dualscore_core::linalg::Matrix::identity(6)) < 1e-14);
/// ```
pub fn real_fourier_basis(height: usize, width: usize) -> RealFourierBasis {
    let d = height * width;
    let mut vectors = Matrix::zeros(d, d);
    let mut frequencies = Vec::with_capacity(d);
    let mut col = 0;
    for ky in 0..height {
        for kx in 0..width {
            let conj = ((height - ky) % height, (width - kx) % width);
            if conj < (ky, kx) {
                continue; // written with its partner
            }
            let self_conjugate = conj == (ky, kx);
            let scale = if self_conjugate {
                (1.0 / d as f64).sqrt()
            } else {
                (2.0 / d as f64).sqrt()
            };
            let phase = |y: usize, x: usize| {
                // Reduce the angle exactly before converting, for accuracy at any size.
                let num = (ky * y % height) * width + (kx * x % width) * height;
                2.0 * PI * (num % d) as f64 / d as f64
            };
            for y in 0..height {
                for x in 0..width {
                    vectors[(y * width + x, col)] = scale * phase(y, x).cos();
                }
            }
            frequencies.push((ky, kx));
            col += 1;
            if !self_conjugate {
                for y in 0..height {
                    for x in 0..width {
                        vectors[(y * width + x, col)] = scale * phase(y, x).sin();
                    }
                }
                frequencies.push((ky, kx));
                col += 1;
            }
        }
    }
    debug_assert_eq!(col, d);
    RealFourierBasis {
        vectors,
        frequencies,
    }
}
