//! The epoch ring: 16 epoch slots and a monotonic era. The current epoch is
//! `era % 16`; every advance bumps the era, marks the previous epoch CLOSING
//! and opens the next slot under the new era, so a wrapped ring never
//! confuses two incarnations of one slot (slabs carry the era they were
//! allocated in). Heaps compare their cached era with [`era`] (one relaxed
//! load) on each small allocation and retire their slabs when it moved.
//!
//! Also the automatic advance (`ZSLAB_EPOCH_MS`, `ZSLAB_EPOCH_ALLOCS`),
//! driven by allocating threads in batches.

use crate::os;
use crate::sync::SpinLock;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering::*};

/// Slots in the ring.
pub const EPOCHS: usize = 16;
/// Bytes of an epoch label, including the terminating NUL.
pub const LABEL_LEN: usize = 32;

/// The slot has never been opened.
pub const UNUSED: u8 = 0;
/// The current epoch: new small objects land here.
pub const ACTIVE: u8 = 1;
/// A past epoch: its slabs never receive new objects.
pub const CLOSING: u8 = 2;

static ERA: AtomicU64 = AtomicU64::new(0);
/// The highest era handed out (by an advance or to an epoch domain).
static LAST: AtomicU64 = AtomicU64::new(0);

/// State of one slot.
pub struct Slot {
    pub state: AtomicU8,
    /// Era of the slot's current incarnation.
    pub era: AtomicU64,
    /// When the incarnation opened (monotonic ns; 0 if never).
    pub open_since_ns: AtomicU64,
    /// RSS around the last explicit close (0 if never closed).
    pub rss_before_close: AtomicU64,
    pub rss_after_close: AtomicU64,
    pub label: SpinLock<[u8; LABEL_LEN]>,
}

#[allow(clippy::declare_interior_mutable_const)]
const SLOT: Slot = Slot {
    state: AtomicU8::new(UNUSED),
    era: AtomicU64::new(0),
    open_since_ns: AtomicU64::new(0),
    rss_before_close: AtomicU64::new(0),
    rss_after_close: AtomicU64::new(0),
    label: SpinLock::new([0; LABEL_LEN]),
};

static SLOTS: [Slot; EPOCHS] = [SLOT; EPOCHS];
/// Serialises advances, so each one opens exactly one slot.
static ADVANCE: SpinLock<()> = SpinLock::new(());
/// Acquisitions of the advance lock (shared by every thread).
pub static LOCKS: AtomicU64 = AtomicU64::new(0);
/// Advances made since start.
static ADVANCES: AtomicU64 = AtomicU64::new(0);

/// Open epoch 0. Called once during initialisation.
pub fn init() {
    let s = &SLOTS[0];
    s.open_since_ns.store(os::now_ns(), Relaxed);
    s.era.store(0, Relaxed);
    s.state.store(ACTIVE, Release);
}

/// The current era (monotonic, never wraps).
#[inline(always)]
pub fn era() -> u64 {
    ERA.load(Relaxed)
}

/// Ring index of an era.
#[inline(always)]
pub fn index(era: u64) -> usize {
    (era % EPOCHS as u64) as usize
}

/// The current epoch's ring index.
pub fn current() -> usize {
    index(ERA.load(Acquire))
}

/// Slot `i` of the ring.
pub fn slot(i: usize) -> &'static Slot {
    &SLOTS[i]
}

/// Close the current epoch and open the next one. Returns the new epoch's
/// ring index. Never allocates; safe from inside the allocator.
pub fn advance() -> usize {
    LOCKS.fetch_add(1, Relaxed);
    let _g = ADVANCE.lock();
    let old = ERA.load(Relaxed);
    let o = &SLOTS[index(old)];
    if o.era.load(Relaxed) == old {
        o.state.store(CLOSING, Release);
    }
    let new = next_era();
    open_slot(new, b"");
    ADVANCES.fetch_add(1, Relaxed);
    ERA.store(new, SeqCst);
    index(new)
}

/// Open the ring slot of era `new` with `label`. Under the advance lock.
fn open_slot(new: u64, label: &[u8]) {
    let s = &SLOTS[index(new)];
    s.era.store(new, Relaxed);
    s.open_since_ns.store(os::now_ns(), Relaxed);
    s.rss_before_close.store(0, Relaxed);
    s.rss_after_close.store(0, Relaxed);
    *s.label.lock() = [0; LABEL_LEN];
    s.state.store(ACTIVE, Release);
    set_label(index(new), label);
}

/// Open an epoch for an epoch domain: a new era of its own (the global
/// current epoch does not change), labelled. Returns the era.
pub fn open_domain(label: &[u8]) -> u64 {
    LOCKS.fetch_add(1, Relaxed);
    let _g = ADVANCE.lock();
    let new = next_era();
    open_slot(new, label);
    new
}

/// The next era to open, under the advance lock: the first after the last
/// one handed out whose ring slot is not in use (ACTIVE: the global
/// current epoch, or an open domain's), so a new incarnation never takes
/// over one that still receives objects. With every slot in use (fifteen
/// domains open at once) the next slot is shared after all.
fn next_era() -> u64 {
    let last = LAST.load(Relaxed);
    let new = (1..=EPOCHS as u64)
        .map(|k| last + k)
        .find(|&e| SLOTS[index(e)].state.load(Acquire) != ACTIVE)
        .unwrap_or(last + 1);
    LAST.store(new, Relaxed);
    new
}

/// Close the epoch of era `era` (a domain's), if its slot still holds it.
/// Returns whether it did.
pub fn close_era(era: u64) -> bool {
    let s = &SLOTS[index(era)];
    s.era.load(Relaxed) == era
        && s.state
            .compare_exchange(ACTIVE, CLOSING, AcqRel, Relaxed)
            .is_ok()
}

/// Mark slot `i` CLOSING (a no-op for a closing or unused slot). The caller
/// advances first when `i` is current.
pub fn mark_closing(i: usize) {
    let s = &SLOTS[i];
    let _ = s.state.compare_exchange(ACTIVE, CLOSING, AcqRel, Relaxed);
}

/// Set slot `i`'s label (truncated to 31 bytes).
pub fn set_label(i: usize, label: &[u8]) {
    let mut l = SLOTS[i].label.lock();
    *l = [0; LABEL_LEN];
    let mut n = label.len().min(LABEL_LEN - 1);
    // Never cut a UTF-8 character in half.
    while n > 0 && n < label.len() && (label[n] & 0xc0) == 0x80 {
        n -= 1;
    }
    l[..n].copy_from_slice(&label[..n]);
}

/// Copy of slot `i`'s label.
pub fn label(i: usize) -> [u8; LABEL_LEN] {
    // Bounded: the exit report may read labels from a signal handler that
    // interrupted a label update on its own thread. Empty after that.
    for _ in 0..1000 {
        if let Some(l) = SLOTS[i].label.try_lock() {
            return *l;
        }
        core::hint::spin_loop();
    }
    [0; LABEL_LEN]
}

/// Advances since start.
pub fn advances() -> u64 {
    ADVANCES.load(Relaxed)
}

/// Lock serialising advances, for fork handlers.
pub fn advance_lock() -> &'static crate::sync::RawLock {
    ADVANCE.raw()
}

// ---- automatic advance ----

static AUTO_ALLOCS: AtomicU64 = AtomicU64::new(0);
static AUTO_MS: AtomicU64 = AtomicU64::new(0);
static ALLOC_COUNT: AtomicU64 = AtomicU64::new(0);
static NEXT_TICK_MS: AtomicU64 = AtomicU64::new(0);

/// Configure automatic advance (0 disables either trigger).
pub fn set_auto(every_ms: u64, every_allocs: u64) {
    AUTO_MS.store(every_ms, Relaxed);
    AUTO_ALLOCS.store(every_allocs, Relaxed);
    NEXT_TICK_MS.store(os::now_coarse_ms() + every_ms, Relaxed);
}

/// Whether automatic advances are configured (time or allocation count).
pub fn automatic() -> bool {
    AUTO_ALLOCS.load(Relaxed) > 0 || AUTO_MS.load(Relaxed) > 0
}

/// Whether an automatic advance by allocation count is configured.
pub fn counts_allocs() -> bool {
    AUTO_ALLOCS.load(Relaxed) > 0
}

/// A heap calls [`tick`] on the allocation slow-path calls whose count
/// has these bits clear: every one when an automatic advance is
/// configured (a slow path comes at least every 64 allocations), one in 32
/// otherwise. (A mask, not a count to divide by: the slow path runs
/// every few dozen allocations, and a division costs as much as the rest
/// of its bookkeeping.)
pub fn tick_mask() -> u64 {
    if AUTO_ALLOCS.load(Relaxed) > 0 || AUTO_MS.load(Relaxed) > 0 {
        0
    } else {
        31
    }
}

/// A heap took `n` objects out of spans since its last tick (`now`:
/// coarse ms): advance the epoch if a trigger fired. Returns whether this
/// call advanced.
pub fn tick(n: u64, now: u64) -> bool {
    let mut advanced = false;
    let every = AUTO_ALLOCS.load(Relaxed);
    if every > 0 {
        let mut cur = ALLOC_COUNT.load(Relaxed);
        loop {
            let next = cur + n;
            let (store, fire) = if next >= every {
                (next - every, true)
            } else {
                (next, false)
            };
            match ALLOC_COUNT.compare_exchange_weak(cur, store.min(every - 1), Relaxed, Relaxed) {
                Ok(_) => {
                    if fire {
                        advance();
                        advanced = true;
                    }
                    break;
                }
                Err(x) => cur = x,
            }
        }
    }
    let ms = AUTO_MS.load(Relaxed);
    if ms > 0 {
        let next = NEXT_TICK_MS.load(Relaxed);
        if now >= next
            && NEXT_TICK_MS
                .compare_exchange(next, now + ms, Relaxed, Relaxed)
                .is_ok()
        {
            advance();
            advanced = true;
        }
    }
    advanced
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_wraps_but_era_does_not() {
        assert_eq!(index(0), 0);
        assert_eq!(index(15), 15);
        assert_eq!(index(16), 0);
        assert_eq!(index(33), 1);
    }
}
