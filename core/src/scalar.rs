//! Scalar element types: the [`Float`] trait, implemented for `f32` and `f64` only.

use std::fmt::{Debug, Display};
use std::iter::Sum;

/// The element type of a tensor, named so that a device backend can pick its f32 or f64 kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary64.
    F64,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }

    /// Short lower-case name, as in `"f32"`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }
}

impl Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point element type: `f32` or `f64`.
///
/// The trait is sealed: backends may rely on `T::DTYPE` to reinterpret `T` as the named
/// primitive type.
///
/// ```
/// use dualscore_core::{DType, Float};
/// assert_eq!(<f32 as Float>::DTYPE, DType::F32);
/// assert_eq!(f32::of_f64(0.5).as_f64(), 0.5);
/// ```
pub trait Float:
    num_traits::Float
    + num_traits::FloatConst
    + sealed::Sealed
    + Default
    + Debug
    + Display
    + Sum
    + Send
    + Sync
    + 'static
{
    /// The element type's tag.
    const DTYPE: DType;

    /// Converts from f64, rounding to nearest.
    fn of_f64(value: f64) -> Self;

    /// Converts to f64 exactly.
    fn as_f64(self) -> f64;

    /// The error function, accurate to about one unit in the last place.
    fn erf(self) -> Self;
}

impl Float for f32 {
    const DTYPE: DType = DType::F32;

    #[inline]
    fn of_f64(value: f64) -> Self {
        value as f32
    }

    #[inline]
    fn as_f64(self) -> f64 {
        self as f64
    }

    #[inline]
    fn erf(self) -> Self {
        libm::erff(self)
    }
}

impl Float for f64 {
    const DTYPE: DType = DType::F64;

    #[inline]
    fn of_f64(value: f64) -> Self {
        value
    }

    #[inline]
    fn as_f64(self) -> f64 {
        self
    }

    #[inline]
    fn erf(self) -> Self {
        libm::erf(self)
    }
}
