//! Where slabs go between owners: per size class, a bounded hot cache of
//! empty slabs and a list of orphaned slabs (from exited threads) offered for
//! adoption; and the reclamation path that hands empty slabs' pages back to
//! the OS with `madvise` once the hot cache is full or they outlive the decay
//! delay (the spec's "Option C": an empty slab is reclaimed at once, whatever
//! its epoch's state).
//!
//! Lock order: a slab's own lock, then its class lock, then the unused pool.
//! Nobody waits for a slab lock while holding a class lock.

use crate::config::Reclaim;
use crate::counters::{COUNTERS, add, inc, slab_emptied};
use crate::os;
use crate::region::{self, link, link_of};
use crate::sizeclass::NCLASS;
use crate::slab::{LIST_ADOPTABLE, LIST_NONE, NO_OWNER, STATE_ACTIVE, STATE_CACHED, SlabMeta};
use crate::sync::{RawLock, SpinLock};
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering::*};

/// Upper bound of ZSLAB_CACHE_SLABS.
pub const MAX_CACHE: usize = 64;

struct ClassPool {
    /// Empty slabs, oldest first (links).
    cache: [u32; MAX_CACHE],
    len: usize,
    /// Current cache bound: ZSLAB_CACHE_SLABS, doubled (up to MAX_CACHE)
    /// while the class thrashes, halved back once it calms down.
    limit: usize,
    /// When (coarse ms) the cache last pushed a slab out.
    last_overflow: u64,
    /// Orphans with free space, doubly linked through prev/next.
    adopt_head: u32,
}

#[allow(clippy::declare_interior_mutable_const)]
const CLASS_POOL: SpinLock<ClassPool> = SpinLock::new(ClassPool {
    cache: [0; MAX_CACHE],
    len: 0,
    limit: 0,
    last_overflow: 0,
    adopt_head: 0,
});

static CLASSES: [SpinLock<ClassPool>; NCLASS] = [CLASS_POOL; NCLASS];

static CACHE_LIMIT: AtomicU64 = AtomicU64::new(4);
static DECAY_MS: AtomicU64 = AtomicU64::new(1000);
static POLICY: AtomicU8 = AtomicU8::new(0);
/// Next time (coarse ms) a decay pass is due.
static NEXT_DECAY: AtomicU64 = AtomicU64::new(0);

/// Apply the configuration. Called once during initialisation.
pub fn configure(cache_limit: usize, decay_ms: u64, policy: Reclaim) {
    CACHE_LIMIT.store(cache_limit.min(MAX_CACHE) as u64, Relaxed);
    DECAY_MS.store(decay_ms, Relaxed);
    POLICY.store(
        match policy {
            Reclaim::DontNeed => 0,
            Reclaim::Free => 1,
            Reclaim::Off => 2,
        },
        Relaxed,
    );
}

fn policy() -> Reclaim {
    match POLICY.load(Relaxed) {
        0 => Reclaim::DontNeed,
        1 => Reclaim::Free,
        _ => Reclaim::Off,
    }
}

/// The decay delay in ms (0 = no decay).
pub fn decay_ms() -> u64 {
    DECAY_MS.load(Relaxed)
}

/// How long after pushing a slab out a miss counts as thrashing, and how
/// long a class must stay calm before its bound shrinks again.
fn thrash_window_ms() -> u64 {
    match DECAY_MS.load(Relaxed) {
        0 => 1000,
        d => d,
    }
}

/// Take an empty slab of `class` from the hot cache. It comes back in state
/// CACHED, all objects free; the caller activates it. A miss shortly after
/// the cache pushed a slab out means the class cycles through more empty
/// slabs than the cache holds (every slab would be returned and faulted in
/// again): the bound doubles, up to MAX_CACHE.
pub fn cache_pop(class: usize) -> Option<&'static SlabMeta> {
    let m = {
        let mut p = CLASSES[class].lock();
        if p.len == 0 {
            let base = CACHE_LIMIT.load(Relaxed) as usize;
            if base > 0 && os::now_coarse_ms().saturating_sub(p.last_overflow) <= thrash_window_ms()
            {
                p.limit = (p.limit.max(base) * 2).min(MAX_CACHE);
            }
            return None;
        }
        p.len -= 1;
        let l = p.cache[p.len];
        link(l)?
    };
    let c = &COUNTERS;
    let t = m.touched.load(Relaxed) as i64;
    add(&c.cached_bytes, -t);
    add(&c.classes[class].cached_slabs, -1);
    add(&c.epochs[m.epoch.load(Relaxed) as usize].cached_slabs, -1);
    inc(&c.classes[class].cache_hit);
    Some(m)
}

/// Reclaim an empty slab that just left its owner. The caller holds the
/// slab's lock, has set its owner to 0 and unlinked it from every list. The
/// slab enters the hot cache, or, when the cache is full, gives its pages
/// back.
pub fn reclaim(m: &'static SlabMeta) {
    let class = m.class.load(Relaxed) as usize;
    let epoch = m.epoch.load(Relaxed) as usize;
    let touched = m.touched.load(Relaxed) as usize;
    slab_emptied(class, epoch, touched);
    m.cursor.store(0, Relaxed);
    m.list.store(LIST_NONE, Relaxed);
    m.state.store(STATE_CACHED, Release);
    let now = os::now_coarse_ms();
    m.cached_at.store(now, Relaxed);
    let base = CACHE_LIMIT.load(Relaxed) as usize;
    let c = &COUNTERS;
    // The newest empty slab is the hottest: keep it, push the oldest out.
    let evicted = {
        let mut p = CLASSES[class].lock();
        let limit = p.limit.max(base);
        if limit == 0 {
            Some(m)
        } else {
            let out = if p.len >= limit {
                p.last_overflow = now;
                let oldest = p.cache[0];
                let n = p.len;
                p.cache.copy_within(1..n, 0);
                p.len -= 1;
                link(oldest)
            } else {
                None
            };
            let n = p.len;
            p.cache[n] = link_of(m);
            p.len += 1;
            out
        }
    };
    add(&c.cached_bytes, touched as i64);
    add(&c.classes[class].cached_slabs, 1);
    add(&c.epochs[epoch].cached_slabs, 1);
    if let Some(old) = evicted {
        inc(&c.classes[class].cache_overflow);
        add(&c.classes[class].cached_slabs, -1);
        add(&c.epochs[old.epoch.load(Relaxed) as usize].cached_slabs, -1);
        release_pages(old);
    }
}

/// Hand a CACHED slab's pages back per the reclamation policy and move it to
/// the unused pool. Returns the bytes advised away. Its bytes must be
/// counted in `cached_bytes` by the caller's bookkeeping (they leave it here).
fn release_pages(m: &'static SlabMeta) -> usize {
    let c = &COUNTERS;
    let touched = m.touched.load(Relaxed) as usize;
    add(&c.cached_bytes, -(touched as i64));
    let advice = match policy() {
        Reclaim::DontNeed => Some(libc::MADV_DONTNEED),
        Reclaim::Free => Some(libc::MADV_FREE),
        Reclaim::Off => None,
    };
    let mut returned = 0;
    match advice {
        Some(a) if touched > 0 => {
            let e = &c.epochs[m.epoch.load(Relaxed) as usize];
            inc(&c.madvise_calls);
            inc(&e.madvise_calls);
            if os::advise(m.base.load(Relaxed), touched, a) {
                add_u(&c.madvise_bytes, touched);
                add_u(&e.madvise_bytes, touched);
                m.touched.store(0, Relaxed);
                returned = touched;
            } else {
                inc(&c.madvise_failures);
                add(&c.unused_resident, touched as i64);
            }
        }
        _ => add(&c.unused_resident, touched as i64),
    }
    region::put_unused(m);
    returned
}

fn add_u(c: &AtomicU64, v: usize) {
    c.fetch_add(v as u64, Relaxed);
}

/// Account a slab taken from the unused pool for reuse: its kept pages are
/// no longer idle.
pub fn unused_taken(m: &SlabMeta) {
    let t = m.touched.load(Relaxed) as i64;
    if t > 0 {
        add(&COUNTERS.unused_resident, -t);
    }
}

/// Give back every cached slab matching `pick` (all of them, a given epoch,
/// or those older than the decay delay). Returns the bytes advised away.
fn purge_where(pick: &dyn Fn(&SlabMeta) -> bool) -> usize {
    let mut returned = 0;
    for (class, pool) in CLASSES.iter().enumerate() {
        // Take the chosen slabs out under the lock, release pages outside it.
        let mut taken = [0u32; MAX_CACHE];
        let mut n = 0;
        {
            let mut p = pool.lock();
            let mut keep = 0;
            for i in 0..p.len {
                let l = p.cache[i];
                match link(l) {
                    Some(m) if pick(m) => {
                        taken[n] = l;
                        n += 1;
                    }
                    _ => {
                        p.cache[keep] = l;
                        keep += 1;
                    }
                }
            }
            p.len = keep;
        }
        for &l in &taken[..n] {
            if let Some(m) = link(l) {
                add(&COUNTERS.classes[class].cached_slabs, -1);
                add(
                    &COUNTERS.epochs[m.epoch.load(Relaxed) as usize].cached_slabs,
                    -1,
                );
                returned += release_pages(m);
            }
        }
    }
    returned
}

/// Return every cached empty slab to the OS (malloc_trim, slab_reclaim).
pub fn purge_all() -> usize {
    purge_where(&|_| true)
}

/// Return the cached empty slabs that belonged to epoch slot `epoch`.
pub fn purge_epoch(epoch: usize) -> usize {
    purge_where(&|m| m.epoch.load(Relaxed) as usize == epoch)
}

/// Return cached slabs older than the decay delay. Cheap when nothing is
/// due: one clock read and one compare, at most once per few ms.
pub fn decay_tick() -> usize {
    let delay = DECAY_MS.load(Relaxed);
    let window = thrash_window_ms();
    let now = os::now_coarse_ms();
    let due = NEXT_DECAY.load(Relaxed);
    if now < due
        || NEXT_DECAY
            .compare_exchange(due, now + (window / 4).max(4), Relaxed, Relaxed)
            .is_err()
    {
        return 0;
    }
    // Classes that stopped thrashing get their cache bound back down.
    for pool in &CLASSES {
        let mut p = pool.lock();
        if p.limit > 0 && now.saturating_sub(p.last_overflow) > window {
            p.limit /= 2;
        }
    }
    if delay == 0 {
        return 0;
    }
    let before = COUNTERS.madvise_calls.load(Relaxed);
    let bytes = purge_where(&|m| now.saturating_sub(m.cached_at.load(Relaxed)) >= delay);
    let n = COUNTERS.madvise_calls.load(Relaxed) - before;
    COUNTERS.decayed_slabs.fetch_add(n, Relaxed);
    bytes
}

/// Bytes waiting in the hot caches.
pub fn cached_bytes() -> usize {
    COUNTERS.cached_bytes.load(Relaxed).max(0) as usize
}

// ---- orphans ----

/// Offer an orphan slab with free space for adoption. The caller holds the
/// slab's lock and the slab has no owner.
pub fn offer(m: &'static SlabMeta) {
    let class = m.class.load(Relaxed) as usize;
    let mut p = CLASSES[class].lock();
    if m.list.load(Relaxed) == LIST_ADOPTABLE {
        return;
    }
    m.prev.store(0, Relaxed);
    m.next.store(p.adopt_head, Relaxed);
    if let Some(h) = link(p.adopt_head) {
        h.prev.store(link_of(m), Relaxed);
    }
    p.adopt_head = link_of(m);
    m.list.store(LIST_ADOPTABLE, Relaxed);
}

/// Withdraw an orphan from the adoption list (it became empty). The caller
/// holds the slab's lock.
pub fn withdraw(m: &'static SlabMeta) {
    let class = m.class.load(Relaxed) as usize;
    let mut p = CLASSES[class].lock();
    if m.list.load(Relaxed) != LIST_ADOPTABLE {
        return;
    }
    unlink_adoptable(&mut p, m);
}

fn unlink_adoptable(p: &mut ClassPool, m: &'static SlabMeta) {
    let prev = m.prev.load(Relaxed);
    let next = m.next.load(Relaxed);
    match link(prev) {
        Some(pm) => pm.next.store(next, Relaxed),
        None => p.adopt_head = next,
    }
    if let Some(nm) = link(next) {
        nm.prev.store(prev, Relaxed);
    }
    m.prev.store(0, Relaxed);
    m.next.store(0, Relaxed);
    m.list.store(LIST_NONE, Relaxed);
}

/// Fold an orphan's pending frees in. The caller holds the slab's lock and
/// the slab has no owner. Reclaims the slab if that emptied it (returns
/// true); otherwise offers it for adoption if it has room in the current
/// epoch (slabs of past epochs are never allocated from again).
pub fn fold_orphan(m: &'static SlabMeta) -> bool {
    crate::diag::check_collected(m.collect(), m);
    if m.used.load(Relaxed) == 0 {
        withdraw(m);
        reclaim(m);
        return true;
    }
    if m.has_free() && m.era.load(Relaxed) == crate::epoch::era() {
        offer(m);
    }
    false
}

/// Collect an orphan's pending frees unless another thread holds its lock:
/// every holder of an orphan's lock re-checks the pending bits after
/// unlocking (this loop), so a free that finds the lock busy is never
/// stranded. Returns the owner if the slab was adopted meanwhile (its new
/// owner must be told).
pub fn collect_orphan(m: &'static SlabMeta) -> Option<usize> {
    loop {
        if !m.lock.try_lock() {
            return None;
        }
        let o = m.owner.load(SeqCst);
        if o != NO_OWNER {
            m.lock.unlock();
            return Some(o);
        }
        if m.state.load(Relaxed) != STATE_ACTIVE || fold_orphan(m) {
            m.lock.unlock();
            return None;
        }
        m.lock.unlock();
        if !m.has_pending() {
            return None;
        }
    }
}

/// Adopt an orphan slab of `class` from era `era` for the heap at `owner`.
/// Returns it locked-and-released with `owner` set and its pending frees
/// folded in; slabs from past eras are dropped from the list on the way
/// (they only come back once empty).
pub fn adopt(class: usize, owner: usize, era: u64) -> Option<&'static SlabMeta> {
    loop {
        let m = {
            let mut p = CLASSES[class].lock();
            let m = link(p.adopt_head)?;
            unlink_adoptable(&mut p, m);
            m
        };
        // No class lock is held here, and slab-lock holders only ever take
        // class locks after the slab lock, so waiting is safe (and skipping
        // would drop an orphan the holder has just re-offered).
        m.lock.lock();
        let orphan = m.owner.load(Relaxed) == NO_OWNER && m.state.load(Relaxed) == STATE_ACTIVE;
        if orphan && m.era.load(Relaxed) == era && m.list.load(Relaxed) == LIST_NONE {
            m.owner.store(owner, SeqCst);
            inc(&COUNTERS.classes[class].adopted);
            m.lock.unlock();
            // The new owner folds in every pending free right after this.
            return Some(m);
        }
        // Not adoptable (a past epoch's slab, or already taken): while we
        // hold its lock we are its collector, and like every holder we
        // re-check the pending bits after unlocking.
        let reclaimed = orphan && fold_orphan(m);
        // A slab newer than the caller's era (the caller has not noticed an
        // advance yet) was just offered again by the fold: stop here rather
        // than pop it again forever; the caller switches epochs next.
        let newer = m.era.load(Relaxed) > era;
        m.lock.unlock();
        if orphan && !reclaimed && m.has_pending() {
            let _ = collect_orphan(m);
        }
        if newer {
            return None;
        }
    }
}

/// Class locks, for fork handlers (taken in index order).
pub fn class_lock(class: usize) -> &'static RawLock {
    CLASSES[class].raw()
}
