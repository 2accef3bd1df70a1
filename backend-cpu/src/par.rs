//! Parallel loops on the backend's own pool, with partitions that depend only on the sizes.
//!
//! Every helper splits its work into pieces whose boundaries are fixed by the problem size
//! (never by the number of threads), and each piece is computed by the same sequential code
//! whichever thread runs it, so results are bitwise identical for any thread count. A job
//! that fits in one piece runs on the calling thread without waking the pool.

use crate::Cpu;
use dualscore_core::Float;
use dualscore_core::autograd::carry_grad_mode;
use dualscore_core::backend::Job;
use rayon::prelude::*;
use std::sync::Mutex;

/// Elements per piece of the elementwise kernels (64 KiB of f32).
pub(crate) const CHUNK: usize = 1 << 14;

/// Calls `f(i, piece)` for the consecutive pieces of `chunk` elements of `out` (the last one
/// may be shorter); `i` is the index of the piece.
pub(crate) fn chunks_mut<T, F>(cpu: &Cpu, out: &mut [T], chunk: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    let chunk = chunk.max(1);
    if out.len() <= chunk {
        if !out.is_empty() {
            f(0, out);
        }
        return;
    }
    cpu.pool().install(|| {
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, piece)| f(i, piece))
    });
}

/// `f(0), .., f(n - 1)` in order, computed in parallel when `parallel` is set.
pub(crate) fn map_range<R, F>(cpu: &Cpu, n: usize, parallel: bool, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize) -> R + Sync + Send,
{
    if !parallel || n <= 1 {
        return (0..n).map(f).collect();
    }
    cpu.pool()
        .install(|| (0..n).into_par_iter().with_max_len(1).map(f).collect())
}

/// Runs `jobs` at the same time on the pool (each with the caller's autodiff recording mode)
/// and returns their results in order. A job's kernels split their work on the same pool, so
/// a thread whose job is done helps the others.
pub(crate) fn jobs<R: Send>(cpu: &Cpu, jobs: Vec<Job<'_, R>>) -> Vec<R> {
    if jobs.len() <= 1 || cpu.threads() == 1 {
        return jobs.into_iter().map(|job| job()).collect();
    }
    let jobs: Vec<_> = jobs.into_iter().map(carry_grad_mode).collect();
    cpu.pool().install(|| {
        jobs.into_par_iter()
            .with_max_len(1)
            .map(|job| job())
            .collect()
    })
}

/// Images per part of a training step's batch, at least (see [`training_parts`]).
pub(crate) const IMAGES_PER_PART: usize = 16;

/// The parts of a training step's batch: one per [`IMAGES_PER_PART`] images. Small images
/// (a 16x16 layer of 16 channels is 16 KiB per image) leave the kernels of a whole batch too
/// little work to split across threads without waiting; parts computed at once keep every
/// thread on work of its own. The count depends on the batch alone, so results are the same
/// for any thread count.
pub(crate) fn training_parts(batch: usize) -> usize {
    (batch / IMAGES_PER_PART).max(1)
}

/// Calls `f(i, piece)` for pieces of `out` whose lengths are given by `lens` (in order), in
/// parallel when `parallel` is set.
pub(crate) fn pieces_mut<T, F>(cpu: &Cpu, out: &mut [T], lens: &[usize], parallel: bool, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    let mut pieces = Vec::with_capacity(lens.len());
    let mut rest = out;
    for &len in lens {
        let (head, tail) = rest.split_at_mut(len.min(rest.len()));
        pieces.push(head);
        rest = tail;
    }
    if !parallel || pieces.len() <= 1 {
        for (i, piece) in pieces.into_iter().enumerate() {
            f(i, piece);
        }
        return;
    }
    cpu.pool().install(|| {
        pieces
            .into_par_iter()
            .with_max_len(1)
            .enumerate()
            .for_each(|(i, piece)| f(i, piece))
    });
}

/// One scratch buffer per pool thread (plus one for a caller outside the pool), taken lazily
/// from the backend's workspace, reused by every task that thread runs during one kernel
/// call, and returned to the workspace afterwards.
pub(crate) struct Scratch<'a, T: Float> {
    cpu: &'a Cpu,
    slots: Vec<Mutex<Slot<T>>>,
}

/// A thread's buffer, and whether [`Scratch::with_prepared`] has prepared it.
struct Slot<T> {
    buf: Vec<T>,
    prepared: bool,
}

impl<'a, T: Float> Scratch<'a, T> {
    /// Slots for `cpu`'s threads.
    pub(crate) fn new(cpu: &'a Cpu) -> Self {
        Scratch {
            cpu,
            slots: (0..=cpu.threads())
                .map(|_| {
                    Mutex::new(Slot {
                        buf: Vec::new(),
                        prepared: false,
                    })
                })
                .collect(),
        }
    }

    /// Runs `f` with this thread's buffer of `len` elements (contents unspecified). Should the
    /// slot be busy (a task re-entered on the same thread), a fresh buffer is used instead.
    pub(crate) fn with<R>(&self, len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
        self.with_prepared(len, |_| {}, f)
    }

    /// [`Scratch::with`], where `prepare` has run on the buffer once before the first task
    /// that gets it (for contents that every task keeps, such as zero borders): the buffer
    /// holds what `prepare` and the earlier tasks of this thread left. Every call of one
    /// scratch must pass the same `len` and `prepare`.
    pub(crate) fn with_prepared<R>(
        &self,
        len: usize,
        prepare: impl FnOnce(&mut [T]),
        f: impl FnOnce(&mut [T]) -> R,
    ) -> R {
        let slot = rayon::current_thread_index()
            .map_or(self.slots.len() - 1, |i| i.min(self.slots.len() - 1));
        match self.slots[slot].try_lock() {
            Ok(mut slot) => {
                if slot.buf.len() < len {
                    let old = std::mem::take(&mut slot.buf);
                    self.cpu.workspace().give(old);
                    slot.buf = self.cpu.workspace().take(len);
                    slot.prepared = false;
                }
                if !slot.prepared {
                    prepare(&mut slot.buf[..len]);
                    slot.prepared = true;
                }
                f(&mut slot.buf[..len])
            }
            Err(_) => {
                let mut buf = vec![T::zero(); len];
                prepare(&mut buf);
                f(&mut buf)
            }
        }
    }
}

impl<T: Float> Drop for Scratch<'_, T> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            if let Ok(slot) = slot.get_mut() {
                self.cpu.workspace().give(std::mem::take(&mut slot.buf));
            }
        }
    }
}
