//! Process-wide counters of slab-level events: slabs entering and leaving
//! epochs and classes, committed bytes, the hot cache, `madvise`, slow-path
//! attribution and error counts. They change on slow paths only (at most
//! once per newly touched page or per slab transition), so they are plain
//! atomic read-modify-writes. Per-object counts live in each thread heap.

use crate::epoch::EPOCHS;
use crate::sizeclass::NCLASS;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Counters of one epoch slot of the ring.
pub struct EpochCounters {
    /// Slabs of this epoch in use (owned or orphaned).
    pub slabs: AtomicI64,
    /// Committed bytes of those slabs.
    pub committed: AtomicI64,
    /// Empty slabs of this epoch waiting in the hot cache (reclaimable).
    pub cached_slabs: AtomicI64,
    /// `madvise` calls and bytes for slabs of this epoch.
    pub madvise_calls: AtomicU64,
    pub madvise_bytes: AtomicU64,
    /// Slabs of this epoch that became empty and were reclaimed.
    pub reclaimed_slabs: AtomicU64,
}

/// Counters of one size class.
pub struct ClassCounters {
    pub slabs: AtomicI64,
    pub committed: AtomicI64,
    pub cached_slabs: AtomicI64,
    /// New slab taken because no partial, orphan or cached one was there.
    pub cache_miss: AtomicU64,
    /// Slab reused from the hot cache.
    pub cache_hit: AtomicU64,
    /// Slab adopted from an exited thread.
    pub adopted: AtomicU64,
    /// Slab switched to because the current one was full.
    pub refills: AtomicU64,
    /// Empty slab pushed out of a full cache (its pages went back).
    pub cache_overflow: AtomicU64,
}

/// Every process-wide counter.
pub struct Counters {
    pub epochs: [EpochCounters; EPOCHS],
    pub classes: [ClassCounters; NCLASS],
    /// Bytes held by empty slabs in the hot caches.
    pub cached_bytes: AtomicI64,
    /// Bytes of unused slabs whose pages were kept (reclamation off or
    /// madvise failed).
    pub unused_resident: AtomicI64,
    pub madvise_calls: AtomicU64,
    pub madvise_bytes: AtomicU64,
    pub madvise_failures: AtomicU64,
    /// Cached slabs returned because they outlived ZSLAB_DECAY_MS.
    pub decayed_slabs: AtomicU64,
    /// Heaps noticed an epoch change and retired their slabs.
    pub epoch_switches: AtomicU64,
    /// Slabs moved to a heap's retired list by an epoch change.
    pub retired_slabs: AtomicU64,
    /// Slabs handed back by exiting threads.
    pub orphaned_slabs: AtomicU64,
    /// Small requests served by glibc because the region was exhausted.
    pub region_full: AtomicU64,
    pub double_frees: AtomicU64,
    pub invalid_frees: AtomicU64,
    /// Threads that got a heap.
    pub threads: AtomicU64,
    /// Frees by threads without a heap (after their teardown).
    pub heapless_frees: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO_EPOCH: EpochCounters = EpochCounters {
    slabs: AtomicI64::new(0),
    committed: AtomicI64::new(0),
    cached_slabs: AtomicI64::new(0),
    madvise_calls: AtomicU64::new(0),
    madvise_bytes: AtomicU64::new(0),
    reclaimed_slabs: AtomicU64::new(0),
};

#[allow(clippy::declare_interior_mutable_const)]
const ZERO_CLASS: ClassCounters = ClassCounters {
    slabs: AtomicI64::new(0),
    committed: AtomicI64::new(0),
    cached_slabs: AtomicI64::new(0),
    cache_miss: AtomicU64::new(0),
    cache_hit: AtomicU64::new(0),
    adopted: AtomicU64::new(0),
    refills: AtomicU64::new(0),
    cache_overflow: AtomicU64::new(0),
};

/// The counters.
pub static COUNTERS: Counters = Counters {
    epochs: [ZERO_EPOCH; EPOCHS],
    classes: [ZERO_CLASS; NCLASS],
    cached_bytes: AtomicI64::new(0),
    unused_resident: AtomicI64::new(0),
    madvise_calls: AtomicU64::new(0),
    madvise_bytes: AtomicU64::new(0),
    madvise_failures: AtomicU64::new(0),
    decayed_slabs: AtomicU64::new(0),
    epoch_switches: AtomicU64::new(0),
    retired_slabs: AtomicU64::new(0),
    orphaned_slabs: AtomicU64::new(0),
    region_full: AtomicU64::new(0),
    double_frees: AtomicU64::new(0),
    invalid_frees: AtomicU64::new(0),
    threads: AtomicU64::new(0),
    heapless_frees: AtomicU64::new(0),
};

/// Add `v` to a counter.
#[inline]
pub fn add(c: &AtomicI64, v: i64) {
    c.fetch_add(v, Relaxed);
}

/// Count one event.
#[inline]
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// A slab of `class` in `epoch` with `committed` bytes went into use.
pub fn slab_activated(class: usize, epoch: usize, committed: usize) {
    let e = &COUNTERS.epochs[epoch];
    let c = &COUNTERS.classes[class];
    add(&e.slabs, 1);
    add(&e.committed, committed as i64);
    add(&c.slabs, 1);
    add(&c.committed, committed as i64);
}

/// An in-use slab touched `bytes` more of its pages.
pub fn slab_committed(class: usize, epoch: usize, bytes: usize) {
    if bytes > 0 {
        add(&COUNTERS.epochs[epoch].committed, bytes as i64);
        add(&COUNTERS.classes[class].committed, bytes as i64);
    }
}

/// An in-use slab with `committed` bytes became empty and left use.
pub fn slab_emptied(class: usize, epoch: usize, committed: usize) {
    let e = &COUNTERS.epochs[epoch];
    let c = &COUNTERS.classes[class];
    add(&e.slabs, -1);
    add(&e.committed, -(committed as i64));
    inc(&e.reclaimed_slabs);
    add(&c.slabs, -1);
    add(&c.committed, -(committed as i64));
}
