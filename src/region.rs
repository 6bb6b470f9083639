//! The region: one large reservation of address space, cut into 64 KiB
//! slabs, plus a parallel array of [`SlabMeta`] in a separate mapping.
//! Whether a pointer is zslab's is one subtraction and compare; its slab's
//! metadata is found by shifting the offset. One reservation instead of one
//! mapping per slab keeps zslab far from `vm.max_map_count`.
//!
//! Also owns the free runs: unused slabs, kept as runs of consecutive slabs
//! (boundary tags in the first and last slab's metadata, size-segregated
//! lists, neighbours coalesced on release) from which spans and huge blocks
//! are cut. Slabs beyond the *frontier* have never been used.

use crate::os;
use crate::sizeclass::{SLAB_SHIFT, SLAB_SIZE};
use crate::slab::{SlabMeta, State};
use crate::sync::SpinLock;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

/// First byte of the slab area (64 KiB aligned), 0 before initialisation.
static BASE: AtomicUsize = AtomicUsize::new(0);
/// Bytes of the slab area; 0 before initialisation, so every pointer is
/// "not ours" until then.
static LEN: AtomicUsize = AtomicUsize::new(0);
/// Address and length of the metadata array.
static META: AtomicUsize = AtomicUsize::new(0);
static META_LEN: AtomicUsize = AtomicUsize::new(0);
/// Whether transparent huge pages may back the region (`ZSLAB_THP`).
static THP: AtomicBool = AtomicBool::new(false);
/// Slabs below this index have been handed out at least once.
static FRONTIER: AtomicUsize = AtomicUsize::new(0);
/// Acquisitions of the free-run lock (shared by every thread).
pub static LOCKS: AtomicU64 = AtomicU64::new(0);

/// Exact lists for runs of 1..=16 slabs, then one list per power of two.
const EXACT: usize = 16;
const BUCKETS: usize = EXACT + 40;

struct Runs {
    /// Heads (links) of the size-segregated lists of free runs.
    heads: [u32; BUCKETS],
}

static RUNS: SpinLock<Runs> = SpinLock::new(Runs {
    heads: [0; BUCKETS],
});
/// Slabs in free runs (below the frontier), and the runs: changed under
/// the `RUNS` lock, read without it (statistics are taken in signal
/// handlers, maybe in a fork child whose locks the parent held).
static FREE_SLABS: AtomicUsize = AtomicUsize::new(0);
static FREE_RUNS: AtomicUsize = AtomicUsize::new(0);

fn bucket(n: usize) -> usize {
    if n <= EXACT {
        n.saturating_sub(1)
    } else {
        (EXACT + (usize::BITS - n.leading_zeros()) as usize - 5).min(BUCKETS - 1)
    }
}

/// Reserve the region: try `want` bytes and halve on failure down to 4 MiB.
/// Returns the bytes reserved (0 if nothing could be). Called once, under
/// the initialisation lock.
pub fn init(want: usize, thp: bool) -> usize {
    let mut len = want.next_multiple_of(SLAB_SIZE);
    // Under an address-space limit, take at most half of the room left,
    // so the program keeps room for its own mappings (stacks, files).
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut rl) } == 0
        && rl.rlim_cur != libc::RLIM_INFINITY
    {
        INIT_LIMIT.store(rl.rlim_cur, Relaxed);
        let room = rl.rlim_cur.saturating_sub(os::vm_bytes()) as usize / 2;
        // Metadata takes about 1/57 of the slab area on top.
        len = len.min((room / 58 * 57) & !(SLAB_SIZE - 1));
    }
    while len >= 64 * SLAB_SIZE {
        let nslabs = len >> SLAB_SHIFT;
        let meta_len = (nslabs * core::mem::size_of::<SlabMeta>()).next_multiple_of(os::PAGE);
        if let Some(raw) = os::reserve(len + SLAB_SIZE) {
            if let Some(meta) = os::reserve(meta_len) {
                // Align the slab area to the slab size and give back the ends.
                let base = raw.next_multiple_of(SLAB_SIZE);
                if base > raw {
                    os::release(raw, base - raw);
                }
                let tail = raw + len + SLAB_SIZE - (base + len);
                if tail > 0 {
                    os::release(base + len, tail);
                }
                THP.store(thp, Relaxed);
                advised(true, base, len);
                META.store(meta, Relaxed);
                META_LEN.store(meta_len, Relaxed);
                BASE.store(base, Relaxed);
                LEN.store(len, Release);
                return len;
            }
            os::release(raw, len + SLAB_SIZE);
        }
        len /= 2;
    }
    0
}

/// Give a range of the region just mapped (`mapped`) the region's own
/// advice: no huge pages unless `ZSLAB_THP` allows them (they would
/// re-collapse ranges zslab handed back), which also lets a range mapped
/// again merge with the region's kernel mapping. Returns `mapped`.
fn advised(mapped: bool, base: usize, len: usize) -> bool {
    if mapped && !THP.load(Relaxed) {
        os::advise(base, len, libc::MADV_NOHUGEPAGE);
    }
    mapped
}

/// Map fresh zero pages over `[base, base+len)`, a range of the region
/// that is mapped and holds nothing live (pages were moved out of it or
/// into it), so it merges again with the region's kernel mapping. Returns
/// whether the kernel did it.
pub fn map_afresh(base: usize, len: usize) -> bool {
    advised(os::remap_fixed(base, len), base, len)
}

/// Restore `[base, base+len)`, the destination of a failed page move, as
/// [`os::map_back`] does. Returns whether the range is the region's again.
pub fn map_back(base: usize, len: usize) -> bool {
    advised(os::map_back(base, len), base, len)
}

/// Bytes reserved for slabs.
pub fn reserved() -> usize {
    LEN.load(Relaxed)
}

/// Slabs in the region.
pub fn slab_count() -> usize {
    LEN.load(Relaxed) >> SLAB_SHIFT
}

/// Bytes of the region ever handed out.
pub fn used_span() -> usize {
    FRONTIER.load(Relaxed) << SLAB_SHIFT
}

/// Number of slabs ever handed out (metadata below this index is
/// meaningful).
pub fn frontier() -> usize {
    FRONTIER.load(Relaxed)
}

/// The metadata of slab `idx`, which the caller has checked is below the
/// slab count.
#[inline(always)]
fn meta_unchecked(idx: usize) -> &'static SlabMeta {
    let addr = META.load(Relaxed) + idx * core::mem::size_of::<SlabMeta>();
    // SAFETY: every caller passes idx < slab_count() (from a bounds-checked
    // region offset or an explicit check), so addr lies inside the metadata
    // mapping, which is never unmapped; zeroed memory is a valid SlabMeta
    // (all atomics), and SlabMeta is only accessed through atomics.
    unsafe { &*(addr as *const SlabMeta) }
}

/// The slab metadata of pointer `p`, or `None` if `p` is not in the region.
#[inline(always)]
pub fn slab_of(p: usize) -> Option<&'static SlabMeta> {
    let off = p.wrapping_sub(BASE.load(Relaxed));
    if off >= LEN.load(Relaxed) {
        return None;
    }
    Some(meta_unchecked(off >> SLAB_SHIFT))
}

/// Whether `p` points into the region.
#[inline(always)]
pub fn contains(p: usize) -> bool {
    p.wrapping_sub(BASE.load(Relaxed)) < LEN.load(Relaxed)
}

/// Metadata of slab `idx`, if it exists.
#[inline]
pub fn meta(idx: usize) -> Option<&'static SlabMeta> {
    if idx < slab_count() {
        Some(meta_unchecked(idx))
    } else {
        None
    }
}

/// Index of the slab described by `m` (any `SlabMeta` of the array).
#[inline]
pub fn index_of(m: &SlabMeta) -> usize {
    (m as *const SlabMeta as usize).wrapping_sub(META.load(Relaxed))
        / core::mem::size_of::<SlabMeta>()
}

/// Start address of slab `idx`.
#[inline]
pub fn slab_base(idx: usize) -> usize {
    BASE.load(Relaxed) + (idx << SLAB_SHIFT)
}

/// Metadata for a stored link (index + 1), or `None` for 0 or a link out
/// of range.
#[inline]
pub fn link(l: u32) -> Option<&'static SlabMeta> {
    meta((l as usize).wrapping_sub(1))
}

/// The link value (index + 1) naming `m`.
#[inline]
pub fn link_of(m: &SlabMeta) -> u32 {
    index_of(m) as u32 + 1
}

/// The head of the span or huge block slab `m` belongs to (`m` itself for
/// a head or a free slab).
#[inline]
pub fn head_of(m: &'static SlabMeta) -> &'static SlabMeta {
    // Live spans and blocks name their head directly. In a cached huge
    // block merged from several, a slab may name a head that was absorbed
    // in turn (an interior slab itself): follow a bounded chain.
    let mut h = m;
    for _ in 0..64 {
        if h.state.get() != State::Interior {
            return h;
        }
        match link(h.head.load(Acquire)) {
            Some(n) if !core::ptr::eq(n, h) => h = n,
            _ => return h,
        }
    }
    h
}

/// Metadata of the `k`-th slab of the span headed by `head`.
#[inline]
pub fn nth(head: &SlabMeta, k: usize) -> Option<&'static SlabMeta> {
    meta(index_of(head) + k)
}

/// Take a run of `n` consecutive unused slabs: from the free runs (best
/// bucket first, splitting a longer run), else past the frontier. Returns
/// the first slab's index; the caller sets up every slab of the run (its
/// ends are marked in use, the rest are stale or `Free`). `None` when the region has no such run.
pub fn take_run(n: usize) -> Option<usize> {
    if n == 0 {
        return None;
    }
    LOCKS.fetch_add(1, Relaxed);
    let mut r = RUNS.lock();
    for b in bucket(n)..BUCKETS {
        let mut l = r.heads[b % BUCKETS];
        // Only the bucket holding `n` itself can hold runs that are too short.
        let mut scan = 0;
        while let Some(m) = link(l) {
            let len = m.span.load(Relaxed) as usize;
            if len >= n {
                let idx = index_of(m);
                unlink_run(&mut r, m, b);
                if len > n {
                    put_run(&mut r, idx + n, len - n);
                }
                FREE_SLABS.fetch_sub(n, Relaxed);
                claim(idx, n);
                return Some(idx);
            }
            scan += 1;
            if scan > 64 {
                break;
            }
            l = m.next.load(Relaxed);
        }
    }
    drop(r);
    let nslabs = slab_count();
    let mut cur = FRONTIER.load(Relaxed);
    loop {
        if cur + n > nslabs || !within_address_limit(n) {
            return None;
        }
        match FRONTIER.compare_exchange_weak(cur, cur + n, Relaxed, Relaxed) {
            Ok(_) => return Some(cur),
            Err(now) => cur = now,
        }
    }
}

/// The address-space limit (RLIMIT_AS) last seen, and the slab bytes zslab
/// may hand out under it (`u64::MAX`: no limit, or the region was reserved
/// under this limit and fits in it).
static LIMIT_SEEN: AtomicU64 = AtomicU64::new(u64::MAX);
static BUDGET: AtomicU64 = AtomicU64::new(u64::MAX);

/// Whether `n` more slabs past the frontier keep the process within its
/// address-space limit (RLIMIT_AS, `ulimit -v`). The region is reserved up
/// front, so once it is, the kernel never refuses zslab: when the program
/// sets a limit later, zslab hands out no more than the room the kernel
/// would have left (the limit minus the address space in use when zslab
/// first sees it), so allocation fails with ENOMEM where it would without
/// zslab. Costs one system call, and a /proc read when the limit changes.
fn within_address_limit(n: usize) -> bool {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut rl) } != 0 {
        return true;
    }
    let lim = rl.rlim_cur;
    let front = (FRONTIER.load(Relaxed) << SLAB_SHIFT) as u64;
    if lim != LIMIT_SEEN.load(Relaxed) {
        LIMIT_SEEN.store(lim, Relaxed);
        let budget = if rl.rlim_cur == libc::RLIM_INFINITY || lim == INIT_LIMIT.load(Relaxed) {
            u64::MAX
        } else {
            front + lim.saturating_sub(os::vm_bytes())
        };
        BUDGET.store(budget, Relaxed);
    }
    front + ((n as u64) << SLAB_SHIFT) <= BUDGET.load(Relaxed)
}

/// The address-space limit in force when the region was reserved (the
/// reservation was sized to fit it).
static INIT_LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Grow the run `[idx, idx+n)` in place by `extra` slabs, if the slabs
/// right after it are unused. Returns whether it did (the new slabs are
/// `Free`; the caller sets them up).
pub fn extend_run(idx: usize, n: usize, extra: usize) -> bool {
    let next = idx + n;
    LOCKS.fetch_add(1, Relaxed);
    let mut r = RUNS.lock();
    if let Some(m) = meta(next) {
        if next < FRONTIER.load(Relaxed) && m.state.get() == State::Free {
            let len = m.span.load(Relaxed) as usize;
            if link(m.head.load(Relaxed)).map(index_of) != Some(next) || len < extra {
                return false;
            }
            unlink_run(&mut r, m, bucket(len));
            if len > extra {
                put_run(&mut r, next + extra, len - extra);
            }
            FREE_SLABS.fetch_sub(extra, Relaxed);
            claim(next, extra);
            return true;
        }
    }
    drop(r);
    // At the frontier: claim fresh slabs.
    next + extra <= slab_count()
        && within_address_limit(extra)
        && FRONTIER
            .compare_exchange(next, next + extra, Relaxed, Relaxed)
            .is_ok()
}

/// Return the run `[idx, idx+n)` to the free runs, merging it with free
/// neighbours. Its pages have been handed back (or kept, per the
/// reclamation policy: resident bits say which).
pub fn free_run(idx: usize, n: usize) {
    if n == 0 {
        return;
    }
    LOCKS.fetch_add(1, Relaxed);
    let mut r = RUNS.lock();
    // Under the lock: a neighbour released at the same time must not see
    // our slabs Free before their run is tagged.
    for i in idx..idx + n {
        if let Some(m) = meta(i) {
            m.state.store(State::Free, Release);
            m.owner.store(0, Relaxed);
        }
    }
    FREE_SLABS.fetch_add(n, Relaxed);
    let (mut start, mut len) = (idx, n);
    // The slab before us, if free, is the last slab of a free run.
    if let Some(prev) = start.checked_sub(1).and_then(meta) {
        if prev.state.get() == State::Free {
            if let Some(h) = link(prev.head.load(Relaxed)) {
                let hl = h.span.load(Relaxed) as usize;
                if h.state.get() == State::Free && index_of(h) + hl == start {
                    unlink_run(&mut r, h, bucket(hl));
                    start = index_of(h);
                    len += hl;
                }
            }
        }
    }
    // The slab after us, if free, is the first slab of a free run.
    if start + len < FRONTIER.load(Relaxed) {
        if let Some(nx) = meta(start + len) {
            let nl = nx.span.load(Relaxed) as usize;
            if nx.state.get() == State::Free
                && link(nx.head.load(Relaxed)).map(index_of) == Some(start + len)
            {
                unlink_run(&mut r, nx, bucket(nl));
                len += nl;
            }
        }
    }
    put_run(&mut r, start, len);
    drop_meta(start, len, idx, n);
}

/// Metadata bytes given back to the OS by [`drop_meta`].
static META_RETURNED: AtomicU64 = AtomicU64::new(0);

/// Metadata bytes of free runs given back to the OS so far.
pub fn meta_returned() -> u64 {
    META_RETURNED.load(Relaxed)
}

/// Give back the metadata pages that now lie wholly inside the free run
/// `[start, start+len)`, around the slabs `[idx, idx+n)` just released.
/// Called under the free-run lock, so no slab of the run can be taken
/// meanwhile.
///
/// Without this every slab ever used keeps its metadata resident (1% of
/// the memory it describes: 3 MB after a 300 MB phase is dropped, an
/// eighth of what a program keeping 5% of it needs). A page is given back
/// only when every slab it describes is inside the run but not one of its
/// ends (the boundary tags stay) and keeps no resident page (the resident
/// bits stay true). Its slabs then read as zeroed metadata: `Free`, no owner, no
/// links, unlocked, which is what an unused slab is. Other threads that
/// still look at such a slab (a stale pointer freed, a purge-queue entry
/// from its last activation) see either the old or the zeroed fields, and
/// both refuse: a stale pointer is reported as an invalid free (the
/// block's own address, freed again, as a double free), and a
/// purge entry names an activation number that is never issued again
/// (`SlabMeta::renew`).
fn drop_meta(start: usize, len: usize, idx: usize, n: usize) {
    const SZ: usize = core::mem::size_of::<SlabMeta>();
    // A page describes at most PAGE / SZ + 2 slabs; only pages that touch
    // the slabs just released (or the ends of the runs they joined) can
    // have become droppable.
    let margin = os::PAGE / SZ + 2;
    let lo = (start + 1).max(idx.saturating_sub(margin));
    let hi = (start + len).saturating_sub(1).min(idx + n + margin);
    let base = META.load(Relaxed);
    // The first slab just released keeps its metadata for now: it names
    // the block that was there, so freeing it again right away is still
    // reported as a double free.
    let candidate = |i: usize| i != idx && meta(i).is_some_and(|m| m.resident.load(Relaxed) == 0);
    let mut i = lo;
    while i < hi {
        // A stretch of slabs with no resident page, each with its span
        // lock taken: a thread still holding the lock of a slab of the
        // run (a purge-queue entry from its last activation, looking at
        // it) must not have it released under it by the zeroing, and
        // whoever waits for it gets it zeroed afterwards, when the slab
        // reads as unused.
        while i < hi && !candidate(i) {
            i += 1;
        }
        let from = i;
        while i < hi && candidate(i) && meta(i).is_some_and(|m| m.lock.try_lock()) {
            i += 1;
        }
        let a = (base + from * SZ).next_multiple_of(os::PAGE);
        let b = (base + i * SZ) & !(os::PAGE - 1);
        let dropped = b > a && os::advise(a, b - a, libc::MADV_DONTNEED);
        if dropped {
            META_RETURNED.fetch_add((b - a) as u64, Relaxed);
        }
        for k in from..i {
            if let Some(m) = meta(k) {
                let w = &m.lock as *const _ as usize;
                // A lock word on a dropped page is zero now: released.
                if !(dropped && (a..b).contains(&w)) {
                    m.lock.unlock();
                }
            }
        }
        // The slab that stopped the stretch on a held lock: past it.
        if i < hi && candidate(i) {
            i += 1;
        }
    }
}

/// Mark the ends of a run just taken as in use (interior of a block headed
/// by its first slab) before the free-run lock is dropped, so that a
/// neighbour released meanwhile does not take it for a free run. A caller
/// that gives back part of a run it took claims the part it keeps first.
pub fn claim(idx: usize, n: usize) {
    let me = idx as u32 + 1;
    for i in [idx, idx + n - 1] {
        if let Some(m) = meta(i) {
            m.head.store(me, Relaxed);
            m.state.store(State::Interior, Release);
        }
    }
}

/// Tag `[idx, idx+len)` as a free run and list it.
fn put_run(r: &mut Runs, idx: usize, len: usize) {
    let (Some(first), Some(last)) = (meta(idx), meta(idx + len - 1)) else {
        return;
    };
    let me = idx as u32 + 1;
    for m in [first, last] {
        m.span.store(len as u32, Relaxed);
        m.head.store(me, Relaxed);
        m.state.store(State::Free, Release);
    }
    let b = bucket(len) % BUCKETS;
    first.prev.store(0, Relaxed);
    first.next.store(r.heads[b], Relaxed);
    if let Some(h) = link(r.heads[b]) {
        h.prev.store(me, Relaxed);
    }
    r.heads[b] = me;
    FREE_RUNS.fetch_add(1, Relaxed);
}

fn unlink_run(r: &mut Runs, m: &SlabMeta, b: usize) {
    let b = b % BUCKETS;
    let prev = m.prev.load(Relaxed);
    let next = m.next.load(Relaxed);
    match link(prev) {
        Some(p) => p.next.store(next, Relaxed),
        None => r.heads[b] = next,
    }
    if let Some(n) = link(next) {
        n.prev.store(prev, Relaxed);
    }
    m.prev.store(0, Relaxed);
    m.next.store(0, Relaxed);
    // No longer a tagged run head (a later neighbour check must not see
    // a stale tag naming a slab that is now in use).
    m.head.store(0, Relaxed);
    FREE_RUNS.fetch_sub(1, Relaxed);
}

/// Slabs in free runs, and the number of runs. Takes no lock.
pub fn free_stats() -> (usize, usize) {
    (FREE_SLABS.load(Relaxed), FREE_RUNS.load(Relaxed))
}

/// The free-run lock, for fork handlers.
pub fn runs_lock() -> &'static crate::sync::RawLock {
    RUNS.raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic() {
        assert_eq!(bucket(1), 0);
        assert_eq!(bucket(16), 15);
        assert_eq!(bucket(17), 16);
        assert_eq!(bucket(31), 16);
        assert_eq!(bucket(32), 17);
        assert_eq!(bucket(1 << 20), 32);
        for n in 1..5000 {
            assert!(bucket(n) <= bucket(n + 1));
        }
    }
}
