//! What the AVX2 kernels share: the vector width, a zero vector for array initializers, and
//! the sum of a vector's lanes in a fixed order.

use std::arch::x86_64::{__m256, _mm256_storeu_ps};

/// f32 lanes of a 256-bit vector.
pub(crate) const LANES: usize = 8;

/// A vector of zeros, for array initializers (outside the functions compiled for AVX2).
// SAFETY: `__m256` is 8 f32 lanes, and all bits zero is 0.0 in each.
pub(crate) const ZERO: __m256 =
    unsafe { std::mem::transmute::<[f32; LANES], __m256>([0.0; LANES]) };

/// The sum of the 8 lanes, in a fixed order.
///
/// # Safety
///
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn lane_sum(v: __m256) -> f32 {
    let mut lanes = [0.0f32; LANES];
    // SAFETY: `lanes` holds 8 elements.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
    ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
}
