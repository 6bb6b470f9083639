//! Huge blocks: requests above 1 MiB (and alignments above 64 KiB), one
//! run of slabs each, cut from the same region as the spans, so "is this
//! pointer zslab's" stays one range check. The run's first slab is the
//! block's head (`Huge` while live, `HugeCached` once freed); the others
//! are `Interior` and name it, so a double free or an interior pointer is
//! caught exactly. A block's usable size is its request rounded up to whole
//! pages; the run's tail beyond it is never touched.
//!
//! Freed blocks wait in a cache (most recent first, best fit on reuse,
//! split when much larger) while the program keeps cycling them, so a
//! replaced block costs no page faults; the cache is bounded in bytes, the
//! bound doubles while blocks are evicted and wanted again soon after, and
//! blocks older than the decay delay, or beyond the bound, give their pages
//! back and return to the region. `realloc` grows a block in place when the
//! slabs after it are free, and otherwise moves its pages with `mremap`
//! instead of copying them.

use crate::counters::{self, COUNTERS, add, inc};
use crate::diag;
use crate::epoch;
use crate::list::SlabList;
use crate::os::{self, PAGE};
use crate::pages;
use crate::region;
use crate::sizeclass::{SLAB_SHIFT, SLAB_SIZE};
use crate::slab::{FreeError, List, NO_OWNER, SlabMeta, State};
use crate::sync::SpinLock;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

struct Cache {
    /// Freed blocks, most recently freed first.
    list: SlabList,
    /// Bytes (whole runs) the cache holds.
    bytes: usize,
    /// Current bound above the base (grows while the program thrashes).
    limit: usize,
    /// When (coarse ms) the cache last pushed a block out, and the length
    /// (slabs) of the longest block pushed out in that window.
    last_overflow: u64,
    evicted: usize,
    /// The most bytes live in huge blocks since the bound last shrank.
    peak_live: usize,
}

static CACHE: SpinLock<Cache> = SpinLock::new(Cache {
    list: SlabList::new(),
    bytes: 0,
    limit: 0,
    last_overflow: 0,
    evicted: 0,
    peak_live: 0,
});

/// Base bound of the cache in bytes (ZSLAB_HUGE_CACHE), and its ceiling.
static CACHE_BASE: AtomicUsize = AtomicUsize::new(64 << 20);
const CACHE_MAX: usize = 4 << 30;
static DECAY_MS: AtomicU64 = AtomicU64::new(1000);
static NEXT_DECAY: AtomicU64 = AtomicU64::new(0);
/// Blocks moved with mremap whose ranges are still separate mappings.
static MOVED: AtomicUsize = AtomicUsize::new(0);
/// At most this many moved ranges at a time (each can cost two kernel
/// mappings until the block is freed); beyond, growth copies.
const MAX_MOVED: usize = 1024;
/// Blocks at least this large move with mremap rather than copy.
const MOVE_MIN: usize = 4 << 20;
/// The kernel refused a move up front (no MREMAP_DONTUNMAP before Linux
/// 5.7), or failed one in a way that cost a run: growth copies from then on.
static MOVES_OFF: AtomicBool = AtomicBool::new(false);
/// The kernel cannot move a range that spans two of its mappings (EFAULT,
/// on older kernels): a block moved once (its first pages a mapping of
/// their own) copies when it grows again.
static SPLIT_MOVES_OFF: AtomicBool = AtomicBool::new(false);

/// Apply the configuration. Called once during initialisation.
pub fn configure(cache_bytes: usize, decay_ms: u64) {
    CACHE_BASE.store(cache_bytes, Relaxed);
    DECAY_MS.store(decay_ms, Relaxed);
}

fn lock() -> crate::sync::SpinGuard<'static, Cache> {
    inc(&COUNTERS.lock_huge);
    CACHE.lock()
}

fn slabs_for(bytes: usize) -> usize {
    bytes.div_ceil(SLAB_SIZE)
}

/// Usable bytes of live block `head`.
fn usable(head: &SlabMeta) -> usize {
    (head.cap.load(Relaxed) as usize) << os::PAGE_SHIFT
}

/// A huge block of at least `size` bytes aligned to `align` (a power of
/// two), or 0 when the region has no room.
pub fn alloc(size: usize, align: usize) -> usize {
    alloc_inner(size, align).0
}

/// A huge block of at least `size` bytes, and whether its memory is known
/// to be zero (every page fresh from the OS), so calloc can skip clearing.
pub fn alloc_zeroed(size: usize) -> (usize, bool) {
    alloc_inner(size, 16)
}

fn alloc_inner(size: usize, align: usize) -> (usize, bool) {
    let Some(bytes) = size.max(1).checked_next_multiple_of(PAGE) else {
        return (0, false);
    };
    let n = slabs_for(bytes);
    if n > u32::MAX as usize {
        return (0, false);
    }
    let run = if align <= SLAB_SIZE {
        // A cached run reused whole may be a little longer than asked for.
        from_cache(n).or_else(|| region::take_run(n).and_then(region::meta).map(|m| (m, n)))
    } else {
        take_aligned(n, align).map(|m| (m, n))
    };
    let Some((head, slabs)) = run else {
        return (0, false);
    };
    setup(head, slabs, bytes)
}

/// Set up run `head` of `n` slabs as a live block of `bytes` usable bytes.
/// Returns its address and whether its memory is known to be zero.
fn setup(head: &'static SlabMeta, n: usize, bytes: usize) -> (usize, bool) {
    let idx = region::index_of(head);
    let me = idx as u32 + 1;
    if head.state.get() != State::HugeCached {
        pages::unused_resident(head, n, -1);
        // A fresh run: whatever `band` its head slab kept from an earlier
        // use (a small span's occupancy band, a moved block's mark) would
        // read as "moved in with mremap" (never merged, mapped afresh and
        // uncounted from MOVED on release).
        head.band.store(0, Relaxed);
    }
    for k in 1..n {
        if let Some(m) = region::meta(idx + k) {
            m.owner.store(0, Relaxed);
            m.head.store(me, Relaxed);
            m.state.store(State::Interior, Release);
        }
    }
    let era = epoch::era();
    let e = epoch::index(era);
    let base = region::slab_base(idx);
    head.base.store(base, Relaxed);
    head.owner.store(NO_OWNER, Relaxed);
    head.head.store(me, Relaxed);
    head.span.store(n as u32, Relaxed);
    head.cap.store((bytes >> os::PAGE_SHIFT) as u32, Relaxed);
    head.size.store(0, Relaxed);
    head.epoch.store(e as u8, Relaxed);
    head.era.store(era, Relaxed);
    let pages = bytes >> os::PAGE_SHIFT;
    let zero = pages::commit_block(head, bytes) == pages && pages::zero_on_return();
    head.state.store(State::Huge, Release);
    inc(&COUNTERS.huge_allocs);
    add(&COUNTERS.huge_live_bytes, bytes as i64);
    add(&counters::epoch(e).huge_blocks, 1);
    add(&counters::epoch(e).huge_bytes, bytes as i64);
    (base, zero)
}

/// A run of `n` slabs whose first slab is aligned to `align`: a longer
/// run, trimmed at both ends.
fn take_aligned(n: usize, align: usize) -> Option<&'static SlabMeta> {
    let extra = (align >> SLAB_SHIFT).saturating_sub(1);
    let total = n.checked_add(extra)?;
    let idx = region::take_run(total)?;
    let base = region::slab_base(idx);
    let skip = (base.next_multiple_of(align) - base) >> SLAB_SHIFT;
    // The kept part's ends must not look free to the trimmed parts.
    region::claim(idx + skip, n);
    if skip > 0 {
        region::free_run(idx, skip);
    }
    let tail = total - skip - n;
    if tail > 0 {
        region::free_run(idx + skip + n, tail);
    }
    region::meta(idx + skip)
}

/// The best-fitting cached run for `n` slabs (split when much larger), and
/// its length in slabs.
fn from_cache(n: usize) -> Option<(&'static SlabMeta, usize)> {
    let mut c = lock();
    let mut best: Option<&'static SlabMeta> = None;
    let mut cur = c.list.front();
    while let Some(m) = cur {
        let len = m.span.load(Relaxed) as usize;
        if len >= n && best.is_none_or(|b| len < b.span.load(Relaxed) as usize) {
            best = Some(m);
            if len == n {
                break;
            }
        }
        cur = SlabList::next_of(m);
    }
    let Some(m) = best.or_else(|| lengthen_cached(&mut c, n)) else {
        // A miss soon after the cache pushed out a block that would have
        // served it: the cache is too small for what the program cycles
        // through.
        if c.evicted >= n
            && os::now_coarse_ms().saturating_sub(c.last_overflow)
                <= DECAY_MS.load(Relaxed).max(100)
        {
            let base = CACHE_BASE.load(Relaxed);
            c.limit = (c.limit.max(base) * 2).min(CACHE_MAX);
        }
        return None;
    };
    c.list.unlink(m);
    let len = m.span.load(Relaxed) as usize;
    c.bytes -= len << SLAB_SHIFT;
    add(&COUNTERS.huge_cached_bytes, -((len << SLAB_SHIFT) as i64));
    // Much larger than needed: the rest stays cached as its own block.
    if len > n + n / 4 {
        let idx = region::index_of(m);
        if let Some(rest) = region::meta(idx + n) {
            // Part of a range moved in with mremap is too: it is mapped
            // afresh on release, and counted until then.
            let moved_in = m.band.load(Relaxed);
            rest.band.store(moved_in, Relaxed);
            if moved_in != 0 {
                MOVED.fetch_add(1, Relaxed);
            }
            rest.span.store((len - n) as u32, Relaxed);
            rest.head.store((idx + n) as u32 + 1, Relaxed);
            rest.base.store(region::slab_base(idx + n), Relaxed);
            rest.stamp.store(m.stamp.load(Relaxed), Relaxed);
            rest.epoch.store(m.epoch.load(Relaxed), Relaxed);
            rest.owner.store(NO_OWNER, Relaxed);
            rest.state.store(State::HugeCached, Release);
            name_head_at_end(rest, len - n);
            c.list.push_back(rest, List::HugeCache);
            c.bytes += (len - n) << SLAB_SHIFT;
            add(
                &COUNTERS.huge_cached_bytes,
                ((len - n) << SLAB_SHIFT) as i64,
            );
        }
        m.span.store(n as u32, Relaxed);
    }
    inc(&COUNTERS.huge_cache_hits);
    Some((m, m.span.load(Relaxed) as usize))
}

/// No cached block is long enough for `n` slabs: lengthen one in place
/// with the unused slabs right after it, so its resident pages are reused
/// and only the extension is new. Without this, a program cycling through
/// blocks of varied sizes takes a fresh run at every such miss while the
/// cache fills with blocks slightly too short, and the cache's bound then
/// pushes them back to the OS to be faulted in again (`malloc_large`: 195
/// MiB returned and re-faulted over 20 000 blocks). Tries the few longest
/// blocks (each try takes the region's lock);
/// blocks moved in with mremap stay as they are. The block stays on the
/// list; the caller unlinks it.
fn lengthen_cached(c: &mut Cache, n: usize) -> Option<&'static SlabMeta> {
    const TRIES: usize = 4;
    let mut tried: [usize; TRIES] = [usize::MAX; TRIES];
    for t in 0..TRIES {
        // The longest block not tried yet.
        let mut pick: Option<&'static SlabMeta> = None;
        let mut cur = c.list.front();
        while let Some(m) = cur {
            let len = m.span.load(Relaxed) as usize;
            if m.band.load(Relaxed) == 0
                && !tried[..t].contains(&region::index_of(m))
                && pick.is_none_or(|p| len > p.span.load(Relaxed) as usize)
            {
                pick = Some(m);
            }
            cur = SlabList::next_of(m);
        }
        let m = pick?;
        let idx = region::index_of(m);
        let len = m.span.load(Relaxed) as usize;
        if grow_run(idx, len, n - len) {
            // Counted as cached for the moment: the caller takes the
            // whole block out of the cache.
            m.span.store(n as u32, Relaxed);
            c.bytes += (n - len) << SLAB_SHIFT;
            add(
                &COUNTERS.huge_cached_bytes,
                ((n - len) << SLAB_SHIFT) as i64,
            );
            return Some(m);
        }
        tried[t] = idx;
    }
    None
}

/// Lengthen the run `[idx, idx+n)` by the `extra` unused slabs right after
/// it, if they are unused; they are named by the run's head. The caller
/// sets the run's length.
fn grow_run(idx: usize, n: usize, extra: usize) -> bool {
    if !region::extend_run(idx, n, extra) {
        return false;
    }
    if let Some(t) = region::meta(idx + n) {
        pages::unused_resident(t, extra, -1);
    }
    let me = idx as u32 + 1;
    for k in n..n + extra {
        if let Some(m) = region::meta(idx + k) {
            m.owner.store(0, Relaxed);
            m.head.store(me, Relaxed);
            m.state.store(State::Interior, Release);
        }
    }
    true
}

/// Check that `p` is live block `head`'s address.
fn check(head: &SlabMeta, p: usize) -> Result<(), FreeError> {
    if p != head.base.load(Relaxed) {
        // A slab boundary inside a cached block: where a block merged into
        // it began (or, rarely, a stray pointer into freed memory).
        let base = head.base.load(Relaxed);
        let end = base + ((head.span.load(Relaxed) as usize) << SLAB_SHIFT);
        if head.state.get() == State::HugeCached && p > base && p < end && p % SLAB_SIZE == 0 {
            return Err(FreeError::DoubleFree);
        }
        return Err(FreeError::Invalid);
    }
    match head.state.load(Acquire) {
        State::Huge => Ok(()),
        _ => Err(head.refusal(p)),
    }
}

/// Usable size of huge block `p` (head `head`), or why `p` is not one.
pub fn usable_size(head: &SlabMeta, p: usize) -> Result<usize, FreeError> {
    check(head, p).map(|()| usable(head))
}

/// Free huge block `p` (head `head`) from any thread; `what` names the
/// call for a diagnosis.
pub fn free(head: &'static SlabMeta, p: usize, what: &str) {
    // The state change is the one atomic step: two racing frees of the
    // same block cannot both succeed.
    if let Err(e) = check(head, p).and_then(|()| {
        head.state
            .compare_exchange(State::Huge, State::HugeCached, AcqRel, Acquire)
            .map(|_| ())
            .map_err(|_| FreeError::DoubleFree)
    }) {
        return diag::free_error(e, p, Some(head), what);
    }
    let bytes = usable(head);
    let e = head.epoch.load(Relaxed) as usize;
    inc(&COUNTERS.huge_frees);
    add(&COUNTERS.huge_live_bytes, -(bytes as i64));
    add(&counters::epoch(e).huge_blocks, -1);
    add(&counters::epoch(e).huge_bytes, -(bytes as i64));
    cache_push(head);
}

/// Put a freed block in the cache, pushing the oldest out beyond the bound.
/// While a phase is ending (a heap found its frees outrunning its
/// allocations), a freed block is that phase's garbage: its pages go back
/// at once instead.
fn cache_push(head: &'static SlabMeta) {
    let len = head.span.load(Relaxed) as usize;
    let now = os::now_coarse_ms();
    if crate::pool::drained_within(now, 1000) {
        add(&COUNTERS.huge_cached_bytes, (len << SLAB_SHIFT) as i64);
        release(head);
        return;
    }
    let mut out: [Option<&'static SlabMeta>; 8] = [None; 8];
    {
        let mut c = lock();
        c.bytes += len << SLAB_SHIFT;
        add(&COUNTERS.huge_cached_bytes, (len << SLAB_SHIFT) as i64);
        let head = coalesce(&mut c, head);
        head.stamp.store(now, Relaxed);
        c.list.push_front(head, List::HugeCache);
        // Grown for a program that cycles through more than the base, but
        // never beyond twice the most it has had live in huge blocks
        // lately: best fit needs a cached block at least as long as each
        // request, so blocks of varied lengths need more cache than the
        // working set itself, and the live bytes of the moment swing
        // with the sizes that happen to be live.
        let live = COUNTERS.huge_live_bytes.load(Relaxed).max(0) as usize;
        c.peak_live = c.peak_live.max(live + (len << SLAB_SHIFT));
        let bound = c
            .limit
            .min(c.peak_live.saturating_mul(2))
            .max(CACHE_BASE.load(Relaxed));
        let mut i = 0;
        while c.bytes > bound && i < out.len() {
            let Some(old) = c.list.pop_back() else { break };
            let len = old.span.load(Relaxed) as usize;
            c.bytes -= len << SLAB_SHIFT;
            if now.saturating_sub(c.last_overflow) > DECAY_MS.load(Relaxed).max(100) {
                c.evicted = 0;
            }
            c.evicted = c.evicted.max(len);
            c.last_overflow = now;
            out[i] = Some(old);
            i += 1;
        }
    }
    for m in out.into_iter().flatten() {
        release(m);
    }
}

/// Merge freed block `head` (not on the list yet) with the cached blocks
/// right after and right before it, so blocks split from one run become
/// that run again once all are freed, and a later large request finds it.
/// Returns the merged block's head. A block is merged only while it is on
/// the cache list (`List::HugeCache`, under the cache lock): one freed but
/// not yet pushed, or popped for reuse or release, is left alone. Blocks
/// moved in with mremap (`band` set) stay separate: their range must be
/// mapped afresh on release. The absorbed heads become interior slabs of
/// the merged block; `setup` names the head again in every slab when the
/// block is reused.
fn coalesce(c: &mut Cache, mut head: &'static SlabMeta) -> &'static SlabMeta {
    let mergeable = |m: &SlabMeta| {
        m.state.get() == State::HugeCached
            && m.list.get() == List::HugeCache
            && m.band.load(Relaxed) == 0
    };
    if head.band.load(Relaxed) != 0 {
        return head;
    }
    let idx = region::index_of(head);
    let mut len = head.span.load(Relaxed) as usize;
    // Following blocks.
    while let Some(r) = region::meta(idx + len) {
        if !mergeable(r) {
            break;
        }
        c.list.unlink(r);
        len += r.span.load(Relaxed) as usize;
        r.head.store(idx as u32 + 1, Relaxed);
        r.state.store(State::Interior, Release);
    }
    head.span.store(len as u32, Relaxed);
    // The block before: its last slab names its head (or is it).
    if let Some(prev) = idx.checked_sub(1).and_then(region::meta) {
        let l = region::head_of(prev);
        let lidx = region::index_of(l);
        let llen = l.span.load(Relaxed) as usize;
        if mergeable(l) && lidx + llen == idx {
            c.list.unlink(l);
            l.span.store((llen + len) as u32, Relaxed);
            head.head.store(lidx as u32 + 1, Relaxed);
            head.state.store(State::Interior, Release);
            head = l;
            len += llen;
        }
    }
    name_head_at_end(head, len);
    head
}

/// Make the last slab of cached block `head` (`len` slabs) name it, so the
/// block after it finds it (see [`coalesce`]). Its other interior slabs may
/// still name heads absorbed into it.
fn name_head_at_end(head: &'static SlabMeta, len: usize) {
    if len > 1
        && let Some(last) = region::nth(head, len - 1)
    {
        last.head.store(region::link_of(head), Relaxed);
        last.state.store(State::Interior, Release);
    }
}

/// Give a cached block's pages back and return its run to the region.
/// It is no longer in the cache.
fn release(m: &'static SlabMeta) -> usize {
    let len = m.span.load(Relaxed) as usize;
    add(&COUNTERS.huge_cached_bytes, -((len << SLAB_SHIFT) as i64));
    let e = m.epoch.load(Relaxed) as usize;
    let returned = pages::purge_all(m, len, e);
    if m.band.load(Relaxed) != 0 {
        // Its range was moved in with mremap: map it afresh so it merges
        // back into the region's mapping.
        m.band.store(0, Relaxed);
        let base = region::slab_base(region::index_of(m));
        if region::map_afresh(base, len << SLAB_SHIFT) {
            for k in 0..len {
                if let Some(s) = region::nth(m, k) {
                    s.resident.store(0, Relaxed);
                }
            }
        }
        MOVED.fetch_sub(1, Relaxed);
    }
    pages::unused_resident(m, len, 1);
    region::free_run(region::index_of(m), len);
    returned
}

/// Give back every cached block matching `pick`. Returns the bytes.
fn purge_where(pick: &dyn Fn(&SlabMeta) -> bool) -> usize {
    let mut returned = 0;
    loop {
        let m = {
            let mut c = lock();
            let mut cur = c.list.back();
            let mut found = None;
            while let Some(m) = cur {
                if pick(m) {
                    found = Some(m);
                    break;
                }
                cur = SlabList::prev_of(m);
            }
            let Some(m) = found else { break };
            c.list.unlink(m);
            c.bytes -= (m.span.load(Relaxed) as usize) << SLAB_SHIFT;
            m
        };
        returned += release(m);
    }
    returned
}

/// Return every cached block to the OS (malloc_trim, slab_reclaim).
pub fn purge_cache() -> usize {
    purge_where(&|_| true)
}

/// Return cached blocks older than the decay delay; shrink a grown bound
/// once the program has stopped thrashing.
pub fn decay_tick(now: u64) -> usize {
    let delay = DECAY_MS.load(Relaxed);
    let due = NEXT_DECAY.load(Relaxed);
    if now < due
        || NEXT_DECAY
            .compare_exchange(due, now + (delay / 4).max(4), Relaxed, Relaxed)
            .is_err()
        || COUNTERS.huge_cached_bytes.load(Relaxed) <= 0
    {
        return 0;
    }
    {
        let mut c = lock();
        if c.limit > 0 && now.saturating_sub(c.last_overflow) > delay.max(100) {
            c.limit /= 2;
            c.peak_live = COUNTERS.huge_live_bytes.load(Relaxed).max(0) as usize;
        }
    }
    if delay == 0 {
        return 0;
    }
    purge_where(&|m| now.saturating_sub(m.stamp.load(Relaxed)) >= delay)
}

/// Blocks moved in with mremap whose ranges are still mappings of their
/// own.
pub fn moved_ranges() -> usize {
    MOVED.load(Relaxed)
}

/// Bytes the cache holds.
pub fn cached_bytes() -> usize {
    COUNTERS.huge_cached_bytes.load(Relaxed).max(0) as usize
}

/// Resize live huge block `p` (head `head`) to `size` bytes in place or by
/// moving its pages. Returns the block's (possibly new) address, or `None`
/// when the caller must allocate, copy and free instead.
pub fn realloc(head: &'static SlabMeta, p: usize, size: usize) -> Option<usize> {
    let bytes = size.checked_next_multiple_of(PAGE)?;
    let n = head.span.load(Relaxed) as usize;
    let want = slabs_for(bytes);
    let old = usable(head);
    let idx = region::index_of(head);
    let e = head.epoch.load(Relaxed) as usize;
    if want <= n {
        // Shrinking to less than half: hand the unused tail slabs back.
        if want < n / 2 {
            let tail = n - want;
            if let Some(t) = region::meta(idx + want) {
                pages::purge_all(t, tail, e);
                pages::unused_resident(t, tail, 1);
            }
            region::free_run(idx + want, tail);
            head.span.store(want as u32, Relaxed);
        }
    } else if grow_run(idx, n, want - n) {
        head.span.store(want as u32, Relaxed);
        inc(&COUNTERS.huge_grown_in_place);
    } else {
        return moved(head, p, old, bytes);
    }
    head.cap.store((bytes >> os::PAGE_SHIFT) as u32, Relaxed);
    pages::commit_block(head, bytes);
    let delta = bytes as i64 - old as i64;
    add(&COUNTERS.huge_live_bytes, delta);
    add(&counters::epoch(e).huge_bytes, delta);
    Some(p)
}

/// Grow a block by moving its pages to a new, larger run with mremap.
fn moved(head: &'static SlabMeta, p: usize, old: usize, bytes: usize) -> Option<usize> {
    let was_moved = head.band.load(Relaxed) != 0;
    if old < MOVE_MIN
        || MOVED.load(Relaxed) >= MAX_MOVED
        || MOVES_OFF.load(Relaxed)
        || (was_moved && SPLIT_MOVES_OFF.load(Relaxed))
    {
        return None;
    }
    let n = head.span.load(Relaxed) as usize;
    let want = slabs_for(bytes);
    let idx = region::take_run(want)?;
    let new = region::slab_base(idx);
    if let Err(e) = os::move_pages(p, old, new, old) {
        move_failed(e, idx, want, was_moved);
        return None;
    }
    MOVED.fetch_add(1, Relaxed);
    inc(&COUNTERS.huge_remapped);
    // The old range is still mapped, with no pages: map it afresh so it
    // merges again with the region's mapping (if that fails, it stays a
    // mapping of its own, which is harmless), then free its run.
    region::map_afresh(p, n << SLAB_SHIFT);
    if was_moved {
        // It was a moved-in range itself: that mapping is gone now.
        head.band.store(0, Relaxed);
        MOVED.fetch_sub(1, Relaxed);
    }
    let nh = region::meta(idx)?;
    // The pages moved with the block: so do their resident bits.
    for k in 0..n {
        if let (Some(from), Some(to)) = (
            region::meta(region::index_of(head) + k),
            region::meta(idx + k),
        ) {
            to.resident.store(from.resident.load(Relaxed), Relaxed);
            from.resident.store(0, Relaxed);
        }
    }
    let old_bytes = usable(head);
    let e = head.epoch.load(Relaxed) as usize;
    add(&COUNTERS.huge_live_bytes, -(old_bytes as i64));
    add(&counters::epoch(e).huge_blocks, -1);
    add(&counters::epoch(e).huge_bytes, -(old_bytes as i64));
    inc(&COUNTERS.huge_frees);
    region::free_run(region::index_of(head), n);
    let (out, _) = setup(nh, want, bytes);
    nh.band.store(1, Relaxed);
    Some(out)
}

/// A page move into run `[idx, idx+want)` failed with errno `e` (0: an
/// injected failure) and the block stays where it was (the caller copies
/// it). The kernel may have unmapped the run before failing: restore it
/// without replacing anything, and if something is mapped there (the
/// kernel kept the run, or another thread's mapping took the hole) set the
/// run aside for good: zslab must never hand out, advise or map over a
/// range that may not be its own. Then growth copies from now on, so at
/// most one run is lost.
fn move_failed(e: i32, idx: usize, want: usize, was_moved: bool) {
    match e {
        0 => {}
        // Refused up front (flags or arguments): nothing was touched.
        libc::EINVAL => MOVES_OFF.store(true, Relaxed),
        _ => {
            if e == libc::EFAULT && was_moved {
                SPLIT_MOVES_OFF.store(true, Relaxed);
            }
            if !region::map_back(region::slab_base(idx), want << SLAB_SHIFT) {
                MOVES_OFF.store(true, Relaxed);
                for k in 0..want {
                    if let Some(m) = region::meta(idx + k) {
                        // An interior slab naming no head: a stale pointer
                        // into it is refused as invalid.
                        m.head.store(0, Relaxed);
                        m.state.store(State::Interior, Release);
                    }
                }
                os::Msg::new()
                    .s("zslab: warning: a failed mremap (errno ")
                    .dec(e as u64)
                    .s(") left ")
                    .dec((want << SLAB_SHIFT >> 20) as u64)
                    .s(" MiB of zslab's region in doubt; it is set aside and large blocks are copied from now on\n")
                    .emit();
                return;
            }
        }
    }
    region::free_run(idx, want);
}

/// The huge cache's lock, for fork handlers.
pub fn cache_lock() -> &'static crate::sync::RawLock {
    CACHE.raw()
}
