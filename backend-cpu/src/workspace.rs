//! Temporary buffers kept across kernel calls.
//!
//! Large temporaries (the transposed input and spread weight of a long convolution, the
//! per-thread column tiles) would otherwise be fresh allocations on every call, paid for in page
//! faults as the kernel first touches them. The workspace keeps a few of them, of either
//! element type, and hands them out again zeroed.

use dualscore_core::Float;
use std::any::Any;
use std::sync::Mutex;

/// At most this many bytes stay cached; larger or surplus buffers are freed.
const MAX_BYTES: usize = 256 << 20;
/// At most this many buffers stay cached.
const MAX_BUFFERS: usize = 16;

/// A small cache of buffers, shared by the clones of one backend.
#[derive(Default)]
pub(crate) struct Workspace {
    free: Mutex<Vec<(usize, Box<dyn Any + Send>)>>,
}

impl Workspace {
    /// A buffer of `len` zeros, reused when one of the right type and capacity is cached.
    pub(crate) fn take<T: Float>(&self, len: usize) -> Vec<T> {
        let cached = self.free.lock().ok().and_then(|mut free| {
            let pos = free
                .iter()
                .enumerate()
                .filter(|(_, (bytes, b))| {
                    b.as_ref().is::<Vec<T>>() && *bytes >= len * std::mem::size_of::<T>()
                })
                .min_by_key(|(_, (bytes, _))| *bytes)
                .map(|(i, _)| i)?;
            Some(free.swap_remove(pos).1)
        });
        let mut buf = match cached.map(|b| b.downcast::<Vec<T>>()) {
            Some(Ok(b)) => *b,
            _ => Vec::new(),
        };
        match crate::zeroed_into(&mut buf, len) {
            Ok(()) => buf,
            Err(_) => vec![T::zero(); len],
        }
    }

    /// Returns a buffer to the cache (or frees it when the cache is full).
    pub(crate) fn give<T: Float>(&self, buf: Vec<T>) {
        let bytes = buf.capacity() * std::mem::size_of::<T>();
        if bytes == 0 || bytes > MAX_BYTES {
            return;
        }
        if let Ok(mut free) = self.free.lock() {
            free.push((bytes, Box::new(buf)));
            // Drop the smallest buffers first while over the limits.
            while free.len() > MAX_BUFFERS || free.iter().map(|f| f.0).sum::<usize>() > MAX_BYTES {
                let smallest = free
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, (b, _))| *b)
                    .map(|(i, _)| i);
                match smallest {
                    Some(i) => drop(free.swap_remove(i)),
                    None => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_zeroed_and_typed() {
        let ws = Workspace::default();
        let mut a: Vec<f32> = ws.take(100);
        a.iter_mut().for_each(|v| *v = 1.0);
        let ptr = a.as_ptr();
        ws.give(a);
        // Another type does not get it.
        let b: Vec<f64> = ws.take(10);
        assert_eq!(b, vec![0.0; 10]);
        let c: Vec<f32> = ws.take(50);
        assert_eq!(c.as_ptr(), ptr);
        assert_eq!(c, vec![0.0; 50]);
        ws.give(b);
        ws.give(c);
    }
}
