//! Host buffers whose allocation failure is an `Err` naming the backend, never an abort.
//!
//! Backends with host `Vec` storage (and any backend's download path) allocate through these,
//! so that an impossible size is reported the same way everywhere.

use crate::error::{Error, Result};

/// A buffer of `len` copies of `value`; an allocation failure is an [`Error::Backend`] naming
/// `backend`.
///
/// ```
/// use dualscore_core::backend::alloc::filled;
/// assert_eq!(filled("cpu", 3, 1.5f32).unwrap(), vec![1.5; 3]);
/// assert!(filled("cpu", usize::MAX, 0.0f64).is_err());
/// ```
pub fn filled<E: Clone>(backend: &str, len: usize, value: E) -> Result<Vec<E>> {
    let mut out = reserved(backend, len)?;
    out.resize(len, value);
    Ok(out)
}

/// A copy of `data`; an allocation failure is an [`Error::Backend`] naming `backend`.
pub fn copied<E: Clone>(backend: &str, data: &[E]) -> Result<Vec<E>> {
    let mut out = reserved(backend, data.len())?;
    out.extend_from_slice(data);
    Ok(out)
}

/// An empty buffer with room for exactly `len` elements; an allocation failure is an
/// [`Error::Backend`] naming `backend`. For a backend that writes every element itself.
///
/// ```
/// use dualscore_core::backend::alloc::reserved;
/// let buf = reserved::<f32>("cpu", 3).unwrap();
/// assert!(buf.is_empty() && buf.capacity() >= 3);
/// assert!(reserved::<f64>("cpu", usize::MAX).is_err());
/// ```
pub fn reserved<E>(backend: &str, len: usize) -> Result<Vec<E>> {
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|e| Error::Backend {
        backend: backend.into(),
        message: format!("cannot allocate {len} elements: {e}"),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_allocation_is_an_error_naming_the_backend() {
        assert_eq!(filled("reference", 3, 1.5f32).unwrap(), vec![1.5; 3]);
        assert!(filled::<f64>("reference", 0, 0.0).unwrap().is_empty());
        match filled("reference", usize::MAX, 0.0f64) {
            Err(Error::Backend { backend, message }) => {
                assert_eq!(backend, "reference");
                assert!(message.starts_with(&format!("cannot allocate {} elements", usize::MAX)));
            }
            other => panic!("expected a backend error, got {other:?}"),
        }
        assert_eq!(copied("cpu", &[1.0f32, -2.0]).unwrap(), vec![1.0, -2.0]);
        assert!(copied::<f64>("cpu", &[]).unwrap().is_empty());
    }
}
