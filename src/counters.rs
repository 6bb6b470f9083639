//! Process-wide counters of span-level events: spans entering and leaving
//! epochs and classes, committed (resident) pages, the hot caches, page
//! returns, huge blocks, slow-path attribution, shared-lock acquisitions and
//! error counts. They change on slow paths only (at most once per page
//! touched or returned, or per span transition), so they are plain atomic
//! read-modify-writes. Per-object counts live in each thread heap.
//!
//! Committed bytes are counted in pages: a page is committed from the moment
//! objects on it are handed out of a bitmap (or a huge block is allocated)
//! until it is given back with `madvise`.

use crate::epoch::EPOCHS;
use crate::os::PAGE;
use crate::sizeclass::NCLASS;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Counters of one epoch slot of the ring.
pub struct EpochCounters {
    /// Spans of this epoch in use (owned or orphaned).
    pub spans: AtomicI64,
    /// Committed bytes of those spans.
    pub committed: AtomicI64,
    /// Empty spans of this epoch waiting in a hot cache (reclaimable).
    pub cached_spans: AtomicI64,
    /// `madvise` calls and bytes for memory of this epoch.
    pub madvise_calls: AtomicU64,
    pub madvise_bytes: AtomicU64,
    /// Spans of this epoch that became empty and were reclaimed.
    pub reclaimed_spans: AtomicU64,
    /// Live huge blocks allocated in this epoch, and their bytes.
    pub huge_blocks: AtomicI64,
    pub huge_bytes: AtomicI64,
}

/// Counters of one size class.
pub struct ClassCounters {
    pub spans: AtomicI64,
    pub committed: AtomicI64,
    pub cached_spans: AtomicI64,
    /// New span taken because no partial, orphan or cached one was there.
    pub cache_miss: AtomicU64,
    /// Span reused from the hot cache.
    pub cache_hit: AtomicU64,
    /// Span adopted from an exited thread.
    pub adopted: AtomicU64,
    /// Span of a closed epoch reused for the current one.
    pub recycled: AtomicU64,
    /// Span switched to because the current one was full.
    pub refills: AtomicU64,
    /// Empty span pushed out of a full cache (its pages went back).
    pub cache_overflow: AtomicU64,
    /// Bytes of partly used spans given back page by page.
    pub purged_bytes: AtomicU64,
}

/// Every process-wide counter.
pub struct Counters {
    pub epochs: [EpochCounters; EPOCHS],
    pub classes: [ClassCounters; NCLASS],
    /// Bytes held by empty spans in the hot caches.
    pub cached_bytes: AtomicI64,
    /// Bytes of unused slabs whose pages were kept (reclamation off or
    /// madvise failed).
    pub unused_resident: AtomicI64,
    pub madvise_calls: AtomicU64,
    pub madvise_bytes: AtomicU64,
    pub madvise_failures: AtomicU64,
    /// Cached spans returned because they outlived ZSLAB_DECAY_MS.
    pub decayed_spans: AtomicU64,
    /// Page-granular returns from spans in use, and their bytes.
    pub purges: AtomicU64,
    pub purged_bytes: AtomicU64,
    /// Phase ends detected (a heap whose frees outran its allocations).
    pub drains: AtomicU64,
    /// Heaps whose shared pair started sharing chunks (ZSLAB_SHARE_AFTER).
    pub pair_shared: AtomicU64,
    /// Returned pages that were needed again soon after (the heap then
    /// waits longer before returning pages).
    pub thrashes: AtomicU64,
    /// Spans whose pages another thread returned for an idle owner.
    pub helped_spans: AtomicU64,
    /// Heaps noticed an epoch change and retired their spans.
    pub epoch_switches: AtomicU64,
    /// Spans moved to a heap's retired list by an epoch change.
    pub retired_spans: AtomicU64,
    /// Spans handed back by exiting threads.
    pub orphaned_spans: AtomicU64,
    /// Requests served by glibc because the region was exhausted.
    pub region_full: AtomicU64,
    pub double_frees: AtomicU64,
    pub invalid_frees: AtomicU64,
    /// Threads that got a heap.
    pub threads: AtomicU64,
    /// Frees by threads without a heap (after their teardown).
    pub heapless_frees: AtomicU64,
    /// Huge blocks: allocations and frees, cache hits, in-place growth,
    /// moves with mremap; live and cached bytes.
    pub huge_allocs: AtomicU64,
    pub huge_frees: AtomicU64,
    pub huge_cache_hits: AtomicU64,
    pub huge_grown_in_place: AtomicU64,
    pub huge_remapped: AtomicU64,
    pub huge_live_bytes: AtomicI64,
    pub huge_cached_bytes: AtomicI64,
    /// Acquisitions of locks shared by all threads, per lock.
    pub lock_class_pool: AtomicU64,
    pub lock_huge: AtomicU64,
    pub lock_purge_queue: AtomicU64,
    pub lock_heap_list: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO_EPOCH: EpochCounters = EpochCounters {
    spans: AtomicI64::new(0),
    committed: AtomicI64::new(0),
    cached_spans: AtomicI64::new(0),
    madvise_calls: AtomicU64::new(0),
    madvise_bytes: AtomicU64::new(0),
    reclaimed_spans: AtomicU64::new(0),
    huge_blocks: AtomicI64::new(0),
    huge_bytes: AtomicI64::new(0),
};

#[allow(clippy::declare_interior_mutable_const)]
const ZERO_CLASS: ClassCounters = ClassCounters {
    spans: AtomicI64::new(0),
    committed: AtomicI64::new(0),
    cached_spans: AtomicI64::new(0),
    cache_miss: AtomicU64::new(0),
    cache_hit: AtomicU64::new(0),
    adopted: AtomicU64::new(0),
    recycled: AtomicU64::new(0),
    refills: AtomicU64::new(0),
    cache_overflow: AtomicU64::new(0),
    purged_bytes: AtomicU64::new(0),
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
    decayed_spans: AtomicU64::new(0),
    purges: AtomicU64::new(0),
    purged_bytes: AtomicU64::new(0),
    drains: AtomicU64::new(0),
    pair_shared: AtomicU64::new(0),
    thrashes: AtomicU64::new(0),
    helped_spans: AtomicU64::new(0),
    epoch_switches: AtomicU64::new(0),
    retired_spans: AtomicU64::new(0),
    orphaned_spans: AtomicU64::new(0),
    region_full: AtomicU64::new(0),
    double_frees: AtomicU64::new(0),
    invalid_frees: AtomicU64::new(0),
    threads: AtomicU64::new(0),
    heapless_frees: AtomicU64::new(0),
    huge_allocs: AtomicU64::new(0),
    huge_frees: AtomicU64::new(0),
    huge_cache_hits: AtomicU64::new(0),
    huge_grown_in_place: AtomicU64::new(0),
    huge_remapped: AtomicU64::new(0),
    huge_live_bytes: AtomicI64::new(0),
    huge_cached_bytes: AtomicI64::new(0),
    lock_class_pool: AtomicU64::new(0),
    lock_huge: AtomicU64::new(0),
    lock_purge_queue: AtomicU64::new(0),
    lock_heap_list: AtomicU64::new(0),
};

/// Counters of class `c` (masked: any index is in bounds).
#[inline]
pub fn class(c: usize) -> &'static ClassCounters {
    &COUNTERS.classes[c % NCLASS]
}

/// Counters of epoch slot `e` (masked).
#[inline]
pub fn epoch(e: usize) -> &'static EpochCounters {
    &COUNTERS.epochs[e % EPOCHS]
}

/// Add `v` to a counter.
#[inline]
pub fn add(c: &AtomicI64, v: i64) {
    c.fetch_add(v, Relaxed);
}

/// Add `v` to an event counter.
#[inline]
pub fn add_u(c: &AtomicU64, v: u64) {
    c.fetch_add(v, Relaxed);
}

/// Count one event.
#[inline]
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// Bytes of `pages` pages.
#[inline]
pub fn page_bytes(pages: usize) -> i64 {
    (pages * PAGE) as i64
}

/// A span of `class` in `epoch` with `resident` committed pages went into
/// use (from a hot cache: its pages leave the cache's count).
pub fn span_activated(class: usize, epoch: usize, resident: usize, from_cache: bool) {
    let b = page_bytes(resident);
    add(&self::epoch(epoch).spans, 1);
    add(&self::epoch(epoch).committed, b);
    add(&self::class(class).spans, 1);
    add(&self::class(class).committed, b);
    if from_cache {
        add(&COUNTERS.cached_bytes, -b);
    } else if b > 0 {
        add(&COUNTERS.unused_resident, -b);
    }
}

/// An in-use span had `pages` more pages committed (positive) or given
/// back (negative).
pub fn span_pages(class: usize, epoch: usize, pages: i64) {
    if pages != 0 {
        let b = pages * PAGE as i64;
        add(&self::epoch(epoch).committed, b);
        add(&self::class(class).committed, b);
    }
}

/// An in-use span with `resident` committed pages became empty and left
/// use (into a hot cache when `to_cache`).
pub fn span_emptied(class: usize, epoch: usize, resident: usize, to_cache: bool) {
    let b = page_bytes(resident);
    let e = self::epoch(epoch);
    let c = self::class(class);
    add(&e.spans, -1);
    add(&e.committed, -b);
    inc(&e.reclaimed_spans);
    add(&c.spans, -1);
    add(&c.committed, -b);
    if to_cache {
        add(&COUNTERS.cached_bytes, b);
        add(&c.cached_spans, 1);
        add(&e.cached_spans, 1);
    }
}

/// An in-use span with `resident` committed pages moved from epoch `from`
/// to epoch `to` (reused for the current epoch).
pub fn span_moved(from: usize, to: usize, resident: usize) {
    let b = page_bytes(resident);
    add(&epoch(from).spans, -1);
    add(&epoch(from).committed, -b);
    add(&epoch(to).spans, 1);
    add(&epoch(to).committed, b);
}
