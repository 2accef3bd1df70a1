//! A caching allocator of device memory, bucketed by size.
//!
//! Freeing device memory makes the driver wait for the device, and a training step creates
//! thousands of short-lived buffers. Released blocks therefore go back to a free list of their
//! size class instead of to the driver, and the next request of that class reuses one. All
//! work runs on one stream, in order, so a block reused by later work is never still in use by
//! earlier work. When the driver runs out of memory, the cached blocks are freed and the
//! allocation retried once.

use super::driver::{self, Context, DriverError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// A block of device memory of one size class (`bytes`); address 0 for an empty buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub address: u64,
    pub bytes: usize,
}

/// The size class of a request: powers of two up to 1 MiB (at least 512 bytes), then
/// multiples of 2 MiB, so that a class wastes at most half of a small block and 2 MiB of a
/// large one.
pub(crate) fn size_class(bytes: usize) -> usize {
    const SMALL: usize = 1 << 20;
    const LARGE_STEP: usize = 2 << 20;
    if bytes <= SMALL {
        bytes.next_power_of_two().max(512)
    } else {
        bytes.div_ceil(LARGE_STEP).saturating_mul(LARGE_STEP)
    }
}

/// The free lists of one device.
#[derive(Debug)]
pub(crate) struct Pool {
    context: Arc<Context>,
    free: Mutex<HashMap<usize, Vec<u64>>>,
}

impl Pool {
    pub fn new(context: Arc<Context>) -> Pool {
        Pool {
            context,
            free: Mutex::new(HashMap::new()),
        }
    }

    /// A block of at least `bytes` bytes, from the cache when one of its class is free.
    pub fn allocate(&self, bytes: usize) -> Result<Block, DriverError> {
        if bytes == 0 {
            return Ok(Block {
                address: 0,
                bytes: 0,
            });
        }
        let class = size_class(bytes);
        if let Some(address) = self.lock().get_mut(&class).and_then(Vec::pop) {
            return Ok(Block {
                address,
                bytes: class,
            });
        }
        self.context.make_current()?;
        let address = match driver::allocate(class) {
            Err(e) if e.is_out_of_memory() => {
                self.trim()?;
                driver::allocate(class)?
            }
            other => other?,
        };
        Ok(Block {
            address,
            bytes: class,
        })
    }

    /// Returns a block to its free list.
    pub fn release(&self, block: Block) {
        if block.bytes > 0 {
            self.lock()
                .entry(block.bytes)
                .or_default()
                .push(block.address);
        }
    }

    /// Bytes held in free lists.
    pub fn cached_bytes(&self) -> usize {
        self.lock()
            .iter()
            .map(|(class, blocks)| class * blocks.len())
            .sum()
    }

    /// Gives every cached block back to the driver.
    pub fn trim(&self) -> Result<(), DriverError> {
        self.context.make_current()?;
        let blocks: Vec<u64> = self.lock().drain().flat_map(|(_, b)| b).collect();
        for address in blocks {
            // SAFETY: the address came from `driver::allocate` in this context and was
            // released by its owner, so nothing uses it any more.
            unsafe { driver::free(address)? };
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Vec<u64>>> {
        // A panic while the lock was held cannot leave the map inconsistent.
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Errors cannot be reported from a drop; the context's release frees the rest.
        let _ = self.trim();
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_round_up_without_much_waste() {
        assert_eq!(size_class(1), 512);
        assert_eq!(size_class(513), 1024);
        assert_eq!(size_class(1 << 20), 1 << 20);
        assert_eq!(size_class((1 << 20) + 1), 2 << 20);
        assert_eq!(size_class((4 << 20) + 1), 6 << 20);
        for bytes in [1usize, 700, 5000, 3 << 20, 100 << 20] {
            let class = size_class(bytes);
            assert!(class >= bytes && (class <= 2 * bytes.max(256) || class - bytes < 2 << 20));
        }
    }
}
