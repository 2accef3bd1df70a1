//! The cache of tensor buffers: large buffers freed by one kernel are handed to the next
//! kernel that asks for the same size class, instead of going back to the allocator.
//!
//! A training step allocates and frees its activations hundreds of times, with the same sizes
//! on every step. Returned to the allocator, a large block is usually returned to the operating
//! system, and the next kernel pays a page fault and a page clearing for every 4 KiB it touches.
//! Kept here, it is reused at once. Buffers below [`MIN_BYTES`] are left to the allocator,
//! which keeps small blocks itself.
//!
//! Sizes are rounded up to one of four classes per power of two (at most 25% more than asked
//! for), so that a buffer serves every later request of its class. The cache is shared by every
//! [`Cpu`](crate::Cpu) of the process and holds at most [`limit`] bytes (by default 4 GiB, or
//! `DUALSCORE_CPU_CACHE_MIB` mebibytes); a buffer returned to a full cache is freed.
//!
//! ```
//! use dualscore_core::Backend;
//! use dualscore_cpu::{Cpu, cache};
//!
//! let cpu = Cpu::with_threads(1).unwrap();
//! drop(cpu.zeros::<f32>(1 << 20).unwrap());
//! assert!(cache::cached_bytes() >= 4 << 20);
//! cache::release();
//! ```

use dualscore_core::Float;
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Buffers smaller than this many bytes are not cached.
pub const MIN_BYTES: usize = 64 << 10;

/// The environment variable that sets the cache's limit in MiB when the process starts.
pub const LIMIT_ENV: &str = "DUALSCORE_CPU_CACHE_MIB";

const DEFAULT_LIMIT: usize = 4 << 30;
const UNSET: usize = usize::MAX;

static LIMIT: AtomicUsize = AtomicUsize::new(UNSET);

/// Free buffers by element type and class capacity (in elements), most recently freed last.
#[derive(Default)]
struct Shelves {
    f32: HashMap<usize, Vec<Vec<f32>>>,
    f64: HashMap<usize, Vec<Vec<f64>>>,
    bytes: usize,
}

fn shelves() -> MutexGuard<'static, Shelves> {
    static SHELVES: OnceLock<Mutex<Shelves>> = OnceLock::new();
    let lock = SHELVES.get_or_init(Mutex::default).lock();
    // The shelves stay consistent even if a holder panicked: every update is one push or pop.
    lock.unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The most bytes the cache holds.
pub fn limit() -> usize {
    match LIMIT.load(Ordering::Relaxed) {
        UNSET => {
            let from_env = std::env::var(LIMIT_ENV)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .map_or(DEFAULT_LIMIT, |mib| mib.saturating_mul(1 << 20));
            LIMIT.store(from_env, Ordering::Relaxed);
            from_env
        }
        bytes => bytes,
    }
}

/// Sets the most bytes the cache holds (0 turns it off), freeing buffers beyond it.
pub fn set_limit(bytes: usize) {
    LIMIT.store(bytes.min(UNSET - 1), Ordering::Relaxed);
    let mut shelves = shelves();
    while shelves.bytes > bytes && evict_one(&mut shelves) {}
}

/// The bytes held by the cache now.
pub fn cached_bytes() -> usize {
    shelves().bytes
}

/// Frees every cached buffer (the cache fills again as kernels free buffers).
pub fn release() {
    let mut shelves = shelves();
    shelves.f32.clear();
    shelves.f64.clear();
    shelves.bytes = 0;
}

/// The capacity, in elements, of the class that serves a request for `len` elements: `len`
/// rounded up to four steps per power of two.
pub(crate) fn class_for_request(len: usize) -> usize {
    let step = class_step(len);
    len.div_ceil(step).saturating_mul(step)
}

/// The largest class capacity a buffer of `capacity` elements can serve.
fn class_for_capacity(capacity: usize) -> usize {
    let step = class_step(capacity);
    capacity / step * step
}

fn class_step(len: usize) -> usize {
    let octave = usize::BITS - 1 - len.max(4).leading_zeros();
    1 << (octave - 2)
}

fn pooled<T: Float>(len: usize) -> bool {
    len.saturating_mul(std::mem::size_of::<T>()) >= MIN_BYTES
}

/// An empty buffer with room for at least `len` elements from the cache, if it holds one.
pub(crate) fn take<T: Float>(len: usize) -> Option<Vec<T>> {
    if !pooled::<T>(len) {
        return None;
    }
    let class = class_for_request(len);
    let mut shelves = shelves();
    let mut found: Vec<T> = Vec::new();
    let slot: &mut dyn Any = &mut found;
    let capacity = if let Some(out) = slot.downcast_mut::<Vec<f32>>() {
        *out = shelves.f32.get_mut(&class)?.pop()?;
        out.capacity() * 4
    } else if let Some(out) = slot.downcast_mut::<Vec<f64>>() {
        *out = shelves.f64.get_mut(&class)?.pop()?;
        out.capacity() * 8
    } else {
        return None;
    };
    shelves.bytes -= capacity;
    Some(found)
}

/// Whether a buffer of `len` elements would be cached when freed: its allocation should then
/// have a class capacity.
pub(crate) fn rounds_up<T: Float>(len: usize) -> bool {
    pooled::<T>(len) && limit() > 0
}

/// Keeps `buf` for a later [`take`], or frees it when it is small or the cache is full.
pub(crate) fn give<T: Float>(mut buf: Vec<T>) {
    let capacity = buf.capacity();
    if !pooled::<T>(capacity) {
        return;
    }
    let bytes = capacity * std::mem::size_of::<T>();
    let limit = limit();
    if bytes > limit {
        return;
    }
    buf.clear();
    let class = class_for_capacity(capacity);
    let mut shelves = shelves();
    while shelves.bytes + bytes > limit {
        if !evict_one(&mut shelves) {
            return;
        }
    }
    let slot: &mut dyn Any = &mut buf;
    if let Some(buf) = slot.downcast_mut::<Vec<f32>>() {
        let buf = std::mem::take(buf);
        shelves.f32.entry(class).or_default().push(buf);
    } else if let Some(buf) = slot.downcast_mut::<Vec<f64>>() {
        let buf = std::mem::take(buf);
        shelves.f64.entry(class).or_default().push(buf);
    } else {
        return;
    }
    shelves.bytes += bytes;
}

/// Frees one buffer of the largest class held; false when the cache is empty.
fn evict_one(shelves: &mut Shelves) -> bool {
    fn largest<E>(map: &HashMap<usize, Vec<Vec<E>>>) -> Option<usize> {
        map.iter()
            .filter(|(_, bufs)| !bufs.is_empty())
            .map(|(&class, _)| class * std::mem::size_of::<E>())
            .max()
    }
    fn pop<E>(map: &mut HashMap<usize, Vec<Vec<E>>>, class: usize) -> usize {
        let buf = map.get_mut(&class).and_then(Vec::pop).unwrap_or_default();
        buf.capacity() * std::mem::size_of::<E>()
    }
    let freed = match (largest(&shelves.f32), largest(&shelves.f64)) {
        (None, None) => return false,
        (Some(a), Some(b)) if b > a => pop(&mut shelves.f64, b / 8),
        (Some(a), _) => pop(&mut shelves.f32, a / 4),
        (None, Some(b)) => pop(&mut shelves.f64, b / 8),
    };
    shelves.bytes -= freed;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_four_per_octave_and_cover_the_request() {
        assert_eq!(class_for_request(1 << 20), 1 << 20);
        assert_eq!(class_for_request((1 << 20) + 1), (1 << 20) + (1 << 18));
        assert_eq!(class_for_request(3 << 19), 3 << 19);
        for len in [5usize, 100, 1000, 65_537, 1 << 22, 12_345_678] {
            let class = class_for_request(len);
            assert!(
                class >= len && class * 4 <= len * 5 + 4 * class_step(len),
                "{len}"
            );
            assert_eq!(class_for_capacity(class), class);
            assert_eq!(class_for_request(class), class);
            assert!(class_for_capacity(len) <= len);
        }
    }

    #[test]
    fn a_freed_buffer_serves_the_next_request_of_its_class() {
        let len = (1 << 20) + 3;
        let first = crate::reserved::<f32>(len).unwrap();
        assert_eq!(first.capacity(), class_for_request(len));
        let address = first.as_ptr() as usize;
        give(first);
        // Other tests share the cache: the buffer may have been taken by one of them, but
        // nothing else frees a buffer of this class.
        let again = crate::reserved::<f32>(len - 2).unwrap();
        assert_eq!(again.as_ptr() as usize, address);
        assert!(again.capacity() >= len);
        // Small buffers are the allocator's: exact capacity, never cached.
        assert_eq!(crate::reserved::<f64>(8).unwrap().capacity(), 8);
    }
}
