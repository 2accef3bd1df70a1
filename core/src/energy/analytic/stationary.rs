//! Stationary Gaussian images on a periodic grid (docs/METHOD.md section 6): a Gaussian image model
//! with a power-law spectrum whose log-probability and entropy are exact.

use super::gaussian::Gaussian;
use super::{gaussian_entropy, sample_buffer};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::linalg::Matrix;
use crate::linalg::fourier::{dft2, real_fourier_basis, signed_frequency};
use crate::rng::{RngKey, normal_values};
use crate::scalar::Float;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The parameters of a stationary Gaussian image model of one channel on a periodic
/// `height x width` grid, with power spectrum
/// lam(k) = A / ((a kx)^2 + (ky / a)^2 + k0^2)^(alpha / 2) + floor,
/// frequencies k in cycles per pixel, and A set so that the pixel variance (the mean of the
/// spectrum) is `pixel_variance`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StationaryImageParams {
    /// Image height H.
    pub height: usize,
    /// Image width W.
    pub width: usize,
    /// The spectral exponent alpha (about 2 for natural images).
    pub alpha: f64,
    /// The anisotropy a (1 is isotropic; a > 1 puts more power at vertical frequencies).
    pub anisotropy: f64,
    /// The low-frequency cutoff k0, in cycles per pixel.
    pub k0: f64,
    /// The spectral floor (white noise variance added at every frequency), >= 0.
    pub floor: f64,
    /// The variance of each pixel, > floor.
    pub pixel_variance: f64,
    /// The mean of each pixel.
    pub mean: f64,
}

impl StationaryImageParams {
    /// Defaults for an `height x width` grid: alpha = 2, a = 1, k0 = 1 / max(H, W), no floor,
    /// pixel variance 0.05 and mean 0.5 (roughly natural images scaled to [0, 1]).
    pub fn new(height: usize, width: usize) -> Self {
        StationaryImageParams {
            height,
            width,
            alpha: 2.0,
            anisotropy: 1.0,
            k0: 1.0 / height.max(width).max(1) as f64,
            floor: 0.0,
            pixel_variance: 0.05,
            mean: 0.5,
        }
    }
}

/// Stationary Gaussian images: x = mean + real(ifft2(sqrt(lam) fft2(w))) with w white noise.
/// The covariance is circulant with eigenvalues lam(k), so the entropy is exactly
/// 1/2 sum_k ln(2 pi e lam_k) and [`StationaryGaussianImages::gaussian`] gives the exact
/// energy, whose eigenvectors are the real Fourier basis (no eigendecomposition needed).
///
/// ```
/// use dualscore_core::energy::analytic::{StationaryGaussianImages, StationaryImageParams};
/// # fn main() -> dualscore_core::Result<()> {
/// let model = StationaryGaussianImages::new(StationaryImageParams::new(8, 8))?;
/// let mean_lam = model.spectrum().iter().sum::<f64>() / 64.0;
/// assert!((mean_lam - 0.05).abs() < 1e-15);
/// let g = model.gaussian()?;
/// assert!((g.entropy(0.0) - model.entropy()).abs() < 1e-10);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StationaryGaussianImages {
    params: StationaryImageParams,
    amplitude: f64,
    spectrum: Vec<f64>,
}

impl StationaryGaussianImages {
    /// The model of `params` (its spectrum computed here).
    pub fn new(params: StationaryImageParams) -> Result<Self> {
        const OP: &str = "StationaryGaussianImages::new";
        let p = &params;
        if p.height == 0 || p.width == 0 {
            return Err(Error::invalid(OP, "the image must have at least one pixel"));
        }
        let finite = [
            p.alpha,
            p.anisotropy,
            p.k0,
            p.floor,
            p.pixel_variance,
            p.mean,
        ]
        .iter()
        .all(|v| v.is_finite());
        if !finite {
            return Err(Error::invalid(OP, "every parameter must be finite"));
        }
        // Finite, so no NaN: plain comparisons suffice.
        if p.anisotropy <= 0.0 || p.k0 <= 0.0 || p.floor < 0.0 {
            return Err(Error::invalid(
                OP,
                format!(
                    "need anisotropy > 0, k0 > 0 and floor >= 0, got anisotropy {}, k0 {}, floor {}",
                    p.anisotropy, p.k0, p.floor
                ),
            ));
        }
        if p.pixel_variance <= p.floor {
            return Err(Error::invalid(
                OP,
                format!(
                    "the pixel variance ({}) must exceed the spectral floor ({})",
                    p.pixel_variance, p.floor
                ),
            ));
        }
        let (h, w) = (p.height, p.width);
        let shape: Vec<f64> = (0..h * w)
            .map(|i| {
                let ky = signed_frequency(i / w, h);
                let kx = signed_frequency(i % w, w);
                let r2 = (p.anisotropy * kx).powi(2) + (ky / p.anisotropy).powi(2) + p.k0 * p.k0;
                r2.powf(-0.5 * p.alpha)
            })
            .collect();
        let mean_shape = shape.iter().sum::<f64>() / (h * w) as f64;
        let amplitude = (p.pixel_variance - p.floor) / mean_shape;
        let spectrum = shape.iter().map(|f| amplitude * f + p.floor).collect();
        Ok(StationaryGaussianImages {
            params,
            amplitude,
            spectrum,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &StationaryImageParams {
        &self.params
    }

    /// The amplitude A.
    pub fn amplitude(&self) -> f64 {
        self.amplitude
    }

    /// The dimension d = H W.
    pub fn dim(&self) -> usize {
        self.params.height * self.params.width
    }

    /// The sample shape `[1, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        [1, self.params.height, self.params.width]
    }

    /// The eigenvalues lam, indexed by frequency `ky * W + kx` (`ky`, `kx` the DFT indices).
    pub fn spectrum(&self) -> &[f64] {
        &self.spectrum
    }

    /// The exact entropy in nats at t = 0: 1/2 sum_k ln(2 pi e lam_k).
    pub fn entropy(&self) -> f64 {
        self.entropy_at(0.0)
    }

    /// The exact entropy of the noisy images at noise variance t: 1/2 sum_k ln(2 pi e (lam_k + t)).
    pub fn entropy_at(&self, t: f64) -> f64 {
        gaussian_entropy(&self.spectrum, t)
    }

    /// The circulant covariance (`d x d`, pixels row-major): entry (i, j) is the
    /// autocovariance at the periodic offset between pixels i and j, the inverse DFT of lam.
    pub fn covariance(&self) -> Result<Matrix> {
        let (h, w) = (self.params.height, self.params.width);
        let d = h * w;
        let (acov, _) = dft2(&self.spectrum, &vec![0.0; d], h, w, true)?;
        Ok(Matrix::from_fn(d, d, |i, j| {
            let dy = (i / w + h - j / w) % h;
            let dx = (i % w + w - j % w) % w;
            acov[dy * w + dx]
        }))
    }

    /// The exact energy: a [`Gaussian`] with mean `mean`, eigenvectors the real Fourier basis
    /// and eigenvalues lam, with sample shape `[1, H, W]`.
    pub fn gaussian(&self) -> Result<Gaussian> {
        let (h, w) = (self.params.height, self.params.width);
        let basis = real_fourier_basis(h, w);
        let eigenvalues = basis
            .frequencies
            .iter()
            .map(|&(ky, kx)| self.spectrum[ky * w + kx])
            .collect();
        Gaussian::from_eigen(vec![self.params.mean; h * w], eigenvalues, basis.vectors)?
            .with_shape(&self.shape())
    }

    /// `n` images, row-major (`n * d` values): image `i` is
    /// mean + real(ifft2(sqrt(lam) fft2(w))) with w the standard normal values at indices
    /// `i d .. (i + 1) d` of `key`'s sequence (white noise in pixel order).
    pub fn sample_rows(&self, n: usize, key: RngKey) -> Result<Vec<f64>> {
        let (h, w) = (self.params.height, self.params.width);
        let d = h * w;
        let sqrt_lam: Vec<f64> = self.spectrum.iter().map(|l| l.sqrt()).collect();
        let zeros = vec![0.0; d];
        let mut out = sample_buffer("StationaryGaussianImages::sample_rows", n, d, d)?;
        for i in 0..n {
            let white = normal_values(key, (i * d) as u64, d);
            let (mut re, mut im) = dft2(&white, &zeros, h, w, false)?;
            for k in 0..d {
                re[k] *= sqrt_lam[k];
                im[k] *= sqrt_lam[k];
            }
            let (x, _) = dft2(&re, &im, h, w, true)?;
            out.extend(x.into_iter().map(|v| v + self.params.mean));
        }
        Ok(out)
    }

    /// `n` images as a tensor `[n, 1, H, W]` on `backend` (see
    /// [`StationaryGaussianImages::sample_rows`]).
    pub fn sample<B: Backend, T: Float>(
        &self,
        backend: &B,
        n: usize,
        key: RngKey,
    ) -> Result<Tensor<B, T>> {
        let rows = self.sample_rows(n, key)?;
        let [c, h, w] = self.shape();
        Tensor::from_f64(backend, &rows, [n, c, h, w])
    }
}
