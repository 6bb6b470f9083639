//! Where spans go between owners, and when their pages go back.
//!
//! - Per size class, a bounded **hot cache** of empty spans (the spec's
//!   "Option C": an empty span is reclaimed at once, whatever its epoch's
//!   state) and the **orphans** (spans of exited threads) offered for
//!   adoption. A span pushed out of a full cache, or older than the decay
//!   delay, gives its pages back and returns to the region's free runs.
//! - The **delayed purge queue**: spans that thinned out, were retired by an
//!   epoch change or orphaned, queued with a due time; when it comes, any
//!   thread (its owner's slow path, another heap's housekeeping, the
//!   background thread) gives back the pages that still hold no live object.
//!
//! Lock order: a span's own lock, then its class lock (or a purge-queue
//! shard), then the region's free runs. Nobody waits for a span lock while
//! holding a class lock or a shard lock.

use crate::counters::{self, COUNTERS, add, inc};
use crate::list::SlabList;
use crate::os;
use crate::pages;
use crate::region::{self, link, link_of};
use crate::sizeclass::{NCLASS, SLAB_SIZE, span_bytes, span_slabs};
use crate::slab::{List, NO_OWNER, SlabMeta, State};
use crate::sync::{Doorbell, RawLock, SpinLock};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};

/// Rung when work that waits for time to pass is queued (the background
/// thread, if any, sleeps on it).
pub static BELL: Doorbell = Doorbell::new();

/// Upper bound of a class's cache (in spans).
pub const MAX_CACHE: usize = 1024;

struct ClassPool {
    /// Empty spans, oldest first (links).
    cache: [u32; MAX_CACHE],
    len: usize,
    /// Current cache bound above the base: doubled (up to MAX_CACHE) while
    /// the class thrashes, halved back once it calms down.
    limit: usize,
    /// When (coarse ms) the cache last pushed a span out.
    last_overflow: u64,
}

#[allow(clippy::declare_interior_mutable_const)]
const CLASS_POOL: SpinLock<ClassPool> = SpinLock::new(ClassPool {
    cache: [0; MAX_CACHE],
    len: 0,
    limit: 0,
    last_overflow: 0,
});

static CLASSES: [SpinLock<ClassPool>; NCLASS] = [CLASS_POOL; NCLASS];
/// Orphans with free space, per class (under the class lock).
#[allow(clippy::declare_interior_mutable_const)]
const NO_LIST: SlabList = SlabList::new();
static ADOPTABLE: [SlabList; NCLASS] = [NO_LIST; NCLASS];

static CACHE_SLABS: AtomicU64 = AtomicU64::new(4);
static DECAY_MS: AtomicU64 = AtomicU64::new(1000);
/// Next time (coarse ms) a decay pass is due.
static NEXT_DECAY: AtomicU64 = AtomicU64::new(0);

/// Apply the configuration. Called once during initialisation.
pub fn configure(cache_slabs: usize, decay_ms: u64) {
    CACHE_SLABS.store(cache_slabs.min(MAX_CACHE) as u64, Relaxed);
    DECAY_MS.store(decay_ms, Relaxed);
}

/// The decay delay in ms (0 = no decay).
pub fn decay_ms() -> u64 {
    DECAY_MS.load(Relaxed)
}

/// How long after pushing a span out a miss counts as thrashing, and how
/// long a class must stay calm before its bound shrinks again.
fn thrash_window_ms() -> u64 {
    match DECAY_MS.load(Relaxed) {
        0 => 1000,
        d => d,
    }
}

/// Per class: whether its cache bound is raised above the base (written
/// under the class lock). With the class's cached-span count, it lets the
/// periodic passes (decay, phase-end trims) skip, without locking, the
/// classes with nothing cached and nothing to shrink: most of them.
static RAISED: [AtomicBool; NCLASS] = [const { AtomicBool::new(false) }; NCLASS];

/// Whether `class` has spans in its cache (a hint: read without the lock).
fn has_cached(class: usize) -> bool {
    counters::class(class).cached_spans.load(Relaxed) > 0
}

fn class_pool(class: usize) -> crate::sync::SpinGuard<'static, ClassPool> {
    inc(&COUNTERS.lock_class_pool);
    CLASSES[class % NCLASS].lock()
}

/// The configured cache size of `class`, in spans: ZSLAB_CACHE_SLABS slabs'
/// worth (0 for a class whose spans are larger: they are cached only once
/// the class is seen to need it).
fn base_limit(class: usize) -> usize {
    CACHE_SLABS.load(Relaxed) as usize * SLAB_SIZE / span_bytes(class)
}

/// Take an empty span of `class` from the hot cache. It comes back in
/// state `Cached`, all objects free; the caller activates it. A miss
/// shortly after the cache pushed a span out means the class cycles through
/// more empty spans than the cache holds (every span would be returned and
/// faulted in again): the bound doubles, up to MAX_CACHE.
pub fn cache_pop(class: usize) -> Option<&'static SlabMeta> {
    let m = {
        let mut p = class_pool(class);
        if p.len == 0 {
            if CACHE_SLABS.load(Relaxed) > 0
                && os::now_coarse_ms().saturating_sub(p.last_overflow) <= thrash_window_ms()
            {
                p.limit = (p.limit.max(base_limit(class)).max(1) * 2).min(MAX_CACHE);
                RAISED[class % NCLASS].store(true, Relaxed);
            }
            return None;
        }
        p.len -= 1;
        let l = p.cache[p.len % MAX_CACHE];
        link(l)?
    };
    let c = counters::class(class);
    add(&c.cached_spans, -1);
    add(
        &counters::epoch(m.epoch.load(Relaxed) as usize).cached_spans,
        -1,
    );
    inc(&c.cache_hit);
    Some(m)
}

/// Reclaim an empty span that just left its owner. The caller holds the
/// span's lock, has set its owner to NO_OWNER and unlinked it from every
/// list; the span is not on any notification stack. The span enters the
/// hot cache, or, when the cache is full, gives its pages back. (When a
/// phase ends the caches are trimmed to their base size first, so the
/// phase's empty spans go back beyond a few per class.)
pub fn reclaim(m: &'static SlabMeta) {
    let class = m.class.load(Relaxed) as usize;
    let epoch = m.epoch.load(Relaxed) as usize;
    let slabs = span_slabs(class);
    let resident = pages::resident_pages(m, slabs);
    counters::span_emptied(class, epoch, resident, true);
    m.cursor.store(0, Relaxed);
    m.list.set(List::Free);
    m.state.store(State::Cached, Release);
    let now = os::now_coarse_ms();
    m.stamp.store(now, Relaxed);
    let base = base_limit(class);
    // The newest empty span is the hottest: keep it, push the oldest out.
    let evicted = {
        let mut p = class_pool(class);
        let limit = p.limit.max(base).min(MAX_CACHE);
        if limit == 0 {
            p.last_overflow = now;
            Some(m)
        } else {
            let out = if p.len >= limit {
                p.last_overflow = now;
                let oldest = p.cache[0];
                let n = p.len.min(MAX_CACHE);
                p.cache.copy_within(1..n, 0);
                p.len = n - 1;
                link(oldest)
            } else {
                None
            };
            let n = p.len % MAX_CACHE;
            p.cache[n] = link_of(m);
            p.len += 1;
            out
        }
    };
    if let Some(old) = evicted {
        inc(&counters::class(class).cache_overflow);
        release(old);
    }
    BELL.ring();
}

/// Give a `Cached` span's pages back (per the reclamation policy) and
/// return its slabs to the region. Returns the bytes given back. The span
/// is no longer in any cache.
fn release(m: &'static SlabMeta) -> usize {
    let class = m.class.load(Relaxed) as usize;
    let epoch = m.epoch.load(Relaxed) as usize;
    let slabs = span_slabs(class);
    let resident = pages::resident_pages(m, slabs);
    add(&COUNTERS.cached_bytes, -counters::page_bytes(resident));
    add(&counters::class(class).cached_spans, -1);
    add(&counters::epoch(epoch).cached_spans, -1);
    let returned = pages::purge_all(m, slabs, epoch);
    pages::unused_resident(m, slabs, 1);
    region::free_run(region::index_of(m), slabs);
    returned
}

/// Give back every cached span matching `pick`. Returns the bytes given
/// back.
fn purge_where(pick: &dyn Fn(&SlabMeta) -> bool) -> usize {
    let mut returned = 0;
    for class in 0..NCLASS {
        if !has_cached(class) {
            continue;
        }
        // Take the chosen spans out under the lock, release them outside it.
        let mut taken = [0u32; MAX_CACHE];
        let mut n = 0;
        {
            let mut p = class_pool(class);
            let mut keep = 0;
            for i in 0..p.len.min(MAX_CACHE) {
                let l = p.cache[i];
                match link(l) {
                    Some(m) if pick(m) => {
                        if let Some(t) = taken.get_mut(n) {
                            *t = l;
                            n += 1;
                        }
                    }
                    _ => {
                        if let Some(c) = p.cache.get_mut(keep) {
                            *c = l;
                            keep += 1;
                        }
                    }
                }
            }
            p.len = keep;
        }
        for &l in taken.iter().take(n) {
            if let Some(m) = link(l) {
                returned += release(m);
            }
        }
    }
    returned
}

/// Return every cached empty span to the OS (malloc_trim, slab_reclaim).
pub fn purge_all() -> usize {
    purge_where(&|_| true)
}

/// Return the cached empty spans that belonged to epoch slot `epoch`.
pub fn purge_epoch(epoch: usize) -> usize {
    purge_where(&|m| m.epoch.load(Relaxed) as usize == epoch)
}

/// A phase ended: caches grown for a thrashing class go back to their base
/// size, and what they held beyond it goes back to the OS.
pub fn trim_to_base() -> usize {
    let mut returned = 0;
    for (class, raised) in RAISED.iter().enumerate() {
        let base = base_limit(class);
        let cached = counters::class(class).cached_spans.load(Relaxed).max(0) as usize;
        if cached <= base && !raised.load(Relaxed) {
            continue;
        }
        let mut taken = [0u32; MAX_CACHE];
        let mut n = 0;
        {
            let mut p = class_pool(class);
            p.limit = 0;
            raised.store(false, Relaxed);
            let len = p.len.min(MAX_CACHE);
            if len > base {
                // The oldest go.
                n = len - base;
                for (t, &c) in taken.iter_mut().zip(&p.cache).take(n) {
                    *t = c;
                }
                p.cache.copy_within(n..len, 0);
                p.len = base;
            }
        }
        for &l in taken.iter().take(n) {
            if let Some(m) = link(l) {
                returned += release(m);
            }
        }
    }
    returned
}

/// Return cached spans older than the decay delay, and shrink the bounds
/// of classes that stopped thrashing. Cheap when nothing is due: one clock
/// read and one compare, at most once per few ms.
pub fn decay_tick(now: u64) -> usize {
    let delay = DECAY_MS.load(Relaxed);
    let window = thrash_window_ms();
    let due = NEXT_DECAY.load(Relaxed);
    if now < due
        || NEXT_DECAY
            .compare_exchange(due, now + (window / 4).max(4), Relaxed, Relaxed)
            .is_err()
    {
        return 0;
    }
    for (class, raised) in RAISED.iter().enumerate() {
        if !raised.load(Relaxed) {
            continue;
        }
        let mut p = class_pool(class);
        if p.limit > 0 && now.saturating_sub(p.last_overflow) > window {
            p.limit /= 2;
        }
        if p.limit == 0 {
            raised.store(false, Relaxed);
        }
    }
    if delay == 0 {
        return 0;
    }
    let before = COUNTERS.madvise_calls.load(Relaxed);
    let bytes = purge_where(&|m| now.saturating_sub(m.stamp.load(Relaxed)) >= delay);
    let n = COUNTERS.madvise_calls.load(Relaxed) - before;
    COUNTERS.decayed_spans.fetch_add(n, Relaxed);
    bytes
}

/// Bytes waiting in the hot caches.
pub fn cached_bytes() -> usize {
    COUNTERS.cached_bytes.load(Relaxed).max(0) as usize
}

/// Spans waiting in the hot caches.
pub fn cached_spans() -> usize {
    (0..NCLASS)
        .map(|c| counters::class(c).cached_spans.load(Relaxed).max(0) as usize)
        .sum()
}

// ---- orphans ----

/// Offer an orphan span with free space for adoption. The caller holds the
/// span's lock and the span has no owner.
fn offer(m: &'static SlabMeta) {
    let class = m.class.load(Relaxed) as usize;
    let _p = class_pool(class);
    if m.list.get() == List::Adoptable {
        return;
    }
    ADOPTABLE[class % NCLASS].push_front(m, List::Adoptable);
}

/// Withdraw an orphan from the adoption list (it became empty). The caller
/// holds the span's lock.
fn withdraw(m: &'static SlabMeta) {
    let class = m.class.load(Relaxed) as usize;
    let _p = class_pool(class);
    if m.list.get() == List::Adoptable {
        ADOPTABLE[class % NCLASS].unlink(m);
    }
}

/// Fold an orphan's pending frees in. The caller holds the span's lock and
/// the span has no owner. Reclaims the span if that emptied it (returns
/// true); otherwise offers it for adoption if it has room in the current
/// epoch (spans of past epochs are never allocated from again), and queues
/// its free pages to go back.
pub fn fold_orphan(m: &'static SlabMeta, era: u64) -> bool {
    let (c, empty) = m.fold_orphan();
    crate::diag::check_collected(c, m);
    if empty {
        withdraw(m);
        reclaim(m);
        return true;
    }
    if m.has_free() && m.era.load(Relaxed) == era {
        offer(m);
    }
    queue_purge(m, os::now_coarse_ms() + purge_delay_default());
    false
}

/// Collect an orphan's pending frees unless another thread holds its lock:
/// every holder of an orphan's lock re-checks the pending bits after
/// unlocking (this loop), so a free that finds the lock busy is never
/// stranded. Returns the owner if the span was adopted meanwhile (its new
/// owner must be told).
pub fn collect_orphan(m: &'static SlabMeta, era: u64) -> Option<usize> {
    collect_orphan_with(m, || fold_orphan(m, era))
}

/// [`collect_orphan`] with `fold` as the fold (the models pass their own
/// pools' [`fold_orphan`]).
#[inline(always)]
pub fn collect_orphan_with(m: &SlabMeta, fold: impl Fn() -> bool) -> Option<usize> {
    loop {
        if !m.lock.try_lock() {
            return None;
        }
        let o = m.owner.load(SeqCst);
        if o != NO_OWNER {
            m.lock.unlock();
            return Some(o);
        }
        if m.state.get() != State::Active || fold() {
            m.lock.unlock();
            return None;
        }
        m.lock.unlock();
        if !m.has_pending() {
            return None;
        }
    }
}

/// Adopt an orphan span of `class` from era `era` for the heap at `owner`.
/// Returns it with `owner` set (its pending frees are the new owner's to
/// fold in); spans from past eras are dropped from the list on the way
/// (they come back once empty, and their free pages go back meanwhile).
pub fn adopt(class: usize, owner: usize, era: u64) -> Option<&'static SlabMeta> {
    loop {
        // Most refills find no orphan: look before taking the lock (an
        // orphan offered meanwhile waits for the next refill).
        if ADOPTABLE[class % NCLASS].is_empty() {
            return None;
        }
        let m = {
            let _p = class_pool(class);
            ADOPTABLE[class % NCLASS].pop_front()?
        };
        match adopt_one(m, owner, era, || fold_orphan(m, era)) {
            Adopt::Taken => {
                inc(&counters::class(class).adopted);
                return Some(m);
            }
            // A span newer than the caller's era (the caller has not noticed
            // an advance yet) was just offered again by the fold: stop here
            // rather than pop it again forever; the caller switches epochs
            // next.
            Adopt::Newer => return None,
            Adopt::Passed => {}
        }
    }
}

/// What [`adopt_one`] did with a span taken off an adoption list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adopt {
    /// The caller owns it now (its pending frees are the caller's to fold).
    Taken,
    /// Not adoptable (a past epoch's span, or already taken); folded in.
    Passed,
    /// Not adoptable: it belongs to an era after the caller's.
    Newer,
}

/// Adopt orphan `m` (just taken off an adoption list, no class lock held)
/// for the heap at `owner` if it still is an orphan of era `era`; `fold`
/// folds its frees in otherwise ([`fold_orphan`]; the models pass their
/// own).
#[inline(always)]
pub fn adopt_one(m: &SlabMeta, owner: usize, era: u64, fold: impl Fn() -> bool) -> Adopt {
    // No class lock is held here, and span-lock holders only ever take
    // class locks after the span lock, so waiting is safe (and skipping
    // would drop an orphan the holder has just re-offered).
    m.lock.lock();
    let orphan = m.owner.load(Relaxed) == NO_OWNER && m.state.get() == State::Active;
    if orphan && m.era.load(Relaxed) == era && m.list.get() == List::Free {
        m.owner.store(owner, SeqCst);
        m.lock.unlock();
        return Adopt::Taken;
    }
    // Not adoptable (a past epoch's span, or already taken): while we
    // hold its lock we are its collector, and like every holder we
    // re-check the pending bits after unlocking.
    let reclaimed = orphan && fold();
    let newer = m.era.load(Relaxed) > era;
    m.lock.unlock();
    if orphan && !reclaimed && m.has_pending() {
        let _ = collect_orphan_with(m, &fold);
    }
    if newer { Adopt::Newer } else { Adopt::Passed }
}

// ---- delayed purges ----

/// Shards of the purge queue (by span index), each a ring of entries.
const SHARDS: usize = 8;
const RING: usize = 1024;

#[derive(Clone, Copy)]
struct Entry {
    link: u32,
    generation: u32,
    due: u64,
}

struct Ring {
    e: [Entry; RING],
    head: usize,
    len: usize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_RING: SpinLock<Ring> = SpinLock::new(Ring {
    e: [Entry {
        link: 0,
        generation: 0,
        due: 0,
    }; RING],
    head: 0,
    len: 0,
});
static QUEUE: [SpinLock<Ring>; SHARDS] = [EMPTY_RING; SHARDS];
/// Entries waiting, over all shards.
static QUEUED: AtomicU64 = AtomicU64::new(0);
/// When each shard's oldest entry is due (u64::MAX: empty), written under
/// the shard's lock: purge_due looks here first, so the heaps' periodic
/// calls take no lock until something is due.
static HEAD_DUE: [AtomicU64; SHARDS] = [const { AtomicU64::new(u64::MAX) }; SHARDS];

/// Publish shard `i`'s head (its lock held).
fn publish_head(i: usize, r: &Ring) {
    let due = if r.len == 0 {
        u64::MAX
    } else {
        r.e[r.head % RING].due
    };
    HEAD_DUE[i % SHARDS].store(due, Relaxed);
}
/// Default delay before a thinned-out span's free pages go back.
static PURGE_MS: AtomicU64 = AtomicU64::new(100);

/// When (coarse ms) a heap last found that a phase ended.
static DRAINED_AT: AtomicU64 = AtomicU64::new(0);

/// A heap found that a phase ended at `now`.
pub fn note_drain(now: u64) {
    DRAINED_AT.store(now, Relaxed);
}

/// Whether a phase ended in the last `ms` milliseconds (memory freed now is
/// most likely that phase's, not about to be reused).
pub fn drained_within(now: u64, ms: u64) -> bool {
    now.saturating_sub(DRAINED_AT.load(Relaxed)) < ms && DRAINED_AT.load(Relaxed) != 0
}

/// Set the default purge delay (ZSLAB_PURGE_MS).
pub fn set_purge_delay(ms: u64) {
    PURGE_MS.store(ms, Relaxed);
}

/// The default purge delay in ms.
pub fn purge_delay_default() -> u64 {
    PURGE_MS.load(Relaxed)
}

/// Entries waiting in the purge queue.
pub fn queued_purges() -> u64 {
    QUEUED.load(Relaxed)
}

/// Queue span `m` to have its free pages given back at `due` (coarse ms),
/// unless it is queued already (one entry per span at a time: the entry
/// looks at the span as it is when due). When the queue is full, the
/// oldest entry is handled at once.
pub fn queue_purge(m: &'static SlabMeta, due: u64) {
    if !pages::returning() || m.purge_queued.load(Relaxed) || m.purge_queued.swap(true, AcqRel) {
        return;
    }
    let l = link_of(m);
    let si = l as usize % SHARDS;
    let shard = &QUEUE[si];
    let mut overflow = None;
    {
        inc(&COUNTERS.lock_purge_queue);
        let mut r = shard.lock();
        if r.len >= RING {
            overflow = Some(r.e[r.head % RING]);
            r.head = (r.head + 1) % RING;
            r.len -= 1;
            QUEUED.fetch_sub(1, Relaxed);
        }
        let i = (r.head + r.len) % RING;
        r.e[i] = Entry {
            link: l,
            generation: m.generation.load(Relaxed),
            due,
        };
        r.len += 1;
        publish_head(si, &r);
    }
    QUEUED.fetch_add(1, Relaxed);
    BELL.ring();
    if let Some(e) = overflow {
        handle(e);
    }
}

/// Handle due entries of the purge queue (all entries when `all`). Returns
/// the bytes given back. Shards another thread is working on are skipped.
pub fn purge_due(now: u64, all: bool) -> usize {
    if QUEUED.load(Relaxed) == 0 {
        return 0;
    }
    let mut returned = 0;
    for (i, shard) in QUEUE.iter().enumerate() {
        loop {
            if !all && HEAD_DUE[i].load(Relaxed) > now {
                break;
            }
            let e = {
                let Some(mut r) = shard.try_lock() else { break };
                inc(&COUNTERS.lock_purge_queue);
                if r.len == 0 || (!all && r.e[r.head % RING].due > now) {
                    break;
                }
                let e = r.e[r.head % RING];
                r.head = (r.head + 1) % RING;
                r.len -= 1;
                publish_head(i, &r);
                e
            };
            QUEUED.fetch_sub(1, Relaxed);
            returned += handle(e);
        }
    }
    returned
}

/// The time the oldest entry of the purge queue is due, if any.
pub fn next_purge_due() -> Option<u64> {
    if QUEUED.load(Relaxed) == 0 {
        return None;
    }
    let mut best: Option<u64> = None;
    for shard in &QUEUE {
        let r = shard.lock();
        if r.len > 0 {
            let d = r.e[r.head % RING].due;
            best = Some(best.map_or(d, |b: u64| b.min(d)));
        }
    }
    best
}

/// Give back the free pages of the span an entry names, if it is still the
/// same activation of that span and still in use.
fn handle(e: Entry) -> usize {
    let Some(m) = link(e.link) else { return 0 };
    m.purge_queued.store(false, Release);
    if m.generation.load(Relaxed) != e.generation {
        return 0;
    }
    m.lock.lock();
    let out = if m.state.get() == State::Active && m.generation.load(Relaxed) == e.generation {
        pages::purge_free(m)
    } else {
        0
    };
    m.lock.unlock();
    out
}

/// Class locks and purge-queue shards, for fork handlers (taken in order).
pub fn for_each_lock(f: &mut dyn FnMut(&RawLock)) {
    for c in &CLASSES {
        f(c.raw());
    }
    for s in &QUEUE {
        f(s.raw());
    }
}
