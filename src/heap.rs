//! Thread heaps: each thread allocates from its own heap, which owns slabs
//! outright, so the same-thread malloc and free paths are a few plain loads
//! and stores (no lock, no atomic read-modify-write).
//!
//! A heap keeps, per size class, a current slab of the current epoch plus
//! lists of partial and full slabs of that epoch, and one list of retired
//! slabs from past epochs (never allocated from again; they go back the
//! moment they empty). Frees from other threads set bits in the slab's
//! `pend` bitmap and, once per batch, push the slab on the owner's
//! notification stack; the owner folds them in on its slow path. When a
//! thread exits its slabs become orphans: other threads adopt the ones with
//! room, and whoever frees the last object of an orphan reclaims it.
//!
//! Heaps are never unmapped (freed heaps are reused by new threads), so a
//! heap address read from a slab is always safe to dereference.

use crate::counters::{COUNTERS, inc, slab_activated, slab_committed};
use crate::diag;
use crate::epoch;
use crate::os;
use crate::pool;
use crate::region::{self, link, link_of};
use crate::sizeclass::{BINS, NCLASS};
use crate::slab::FreeError;
use crate::slab::*;
use crate::sync::SpinLock;
use crate::tls;
use core::cell::Cell;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering::*, fence};

/// The slab every empty bin points at: it has no free object, so a bin
/// pointing at it always takes the slow path. Never written.
static EMPTY: SlabMeta = SlabMeta::empty();

/// How many ownership changes in a row one notification follows before it
/// leaves the slab on the stack it reached (only possible if the slab keeps
/// changing hands while the notification is routed).
const MAX_ROUTING_DEPTH: u32 = 16;
/// `Bin::word` when the bin holds no word.
const NO_WORD: usize = usize::MAX;

/// A heap's allocation state for one size class: its current slab and the
/// free objects of one bitmap word of it, taken out of the slab's bitmap
/// (malloc pops a bit here without touching the slab). Owner-only, except
/// what other threads read: statistics (`slab`, `bits`, `allocs`) and
/// remote frees checking for a double free (`slab`, `word`, `seq`, then
/// `bits` only when the word matches). The fields the owner writes on every
/// malloc and the ones it writes only when it changes words live on two
/// cache lines, so remote frees of older objects do not pull the hot line
/// away from the owner.
#[repr(C, align(64))]
pub struct Bin {
    /// Free objects of word `word` of `slab` (1 = free).
    bits: AtomicU64,
    /// Address of the word's object 0.
    base: Cell<usize>,
    /// Object size of the class.
    size: Cell<usize>,
    /// Small allocations of this class by this heap.
    pub allocs: AtomicU64,
    /// Which word of which slab the bin holds.
    tag: BinTag,
}

#[repr(C, align(64))]
struct BinTag {
    slab: AtomicPtr<SlabMeta>,
    /// Index of the word held (NO_WORD if none). Atomic because a thread
    /// freeing one of these objects remotely checks it: an object free in
    /// the bin looks allocated in the slab's bitmap.
    word: AtomicUsize,
    /// Sequence count of changes of `slab`/`word` (odd while changing), so
    /// such a reader can tell a consistent view from a torn one.
    seq: AtomicU64,
}

impl Bin {
    const fn new() -> Self {
        Bin {
            bits: AtomicU64::new(0),
            base: Cell::new(0),
            size: Cell::new(0),
            allocs: AtomicU64::new(0),
            tag: BinTag {
                slab: AtomicPtr::new(&EMPTY as *const SlabMeta as *mut SlabMeta),
                word: AtomicUsize::new(NO_WORD),
                seq: AtomicU64::new(0),
            },
        }
    }

    /// Start changing which slab or word the bin holds (owner only).
    fn begin_change(&self) {
        self.tag.seq.store(self.tag.seq.load(Relaxed) + 1, Relaxed);
        fence(Release);
    }

    /// Finish a change started with `begin_change`.
    fn end_change(&self) {
        self.tag.seq.store(self.tag.seq.load(Relaxed) + 1, Release);
    }

    /// Whether object (`w`, `bit`) of `s` is free in this bin, read from
    /// another thread. Exact when the program ordered that read after the
    /// owner's free; a view torn by a concurrent word change answers false.
    fn holds_free(&self, s: &SlabMeta, w: usize, bit: u64) -> bool {
        let before = self.tag.seq.load(Acquire);
        if before & 1 != 0 {
            return false;
        }
        let free = core::ptr::eq(self.tag.slab.load(Relaxed), s)
            && self.tag.word.load(Relaxed) == w
            && self.bits.load(Relaxed) & bit != 0;
        fence(Acquire);
        free && self.tag.seq.load(Relaxed) == before
    }

    #[inline(always)]
    fn slab(&self) -> &'static SlabMeta {
        // SAFETY: `slab` only ever holds &EMPTY or a metadata reference
        // from the region, both 'static.
        unsafe { &*self.tag.slab.load(Relaxed) }
    }

    fn set_slab(&self, s: &'static SlabMeta) {
        self.tag
            .slab
            .store(s as *const SlabMeta as *mut SlabMeta, Relaxed);
        self.size.set(s.object_size());
    }

    /// The epoch of the bin's slab and the free objects the bin holds of
    /// it, if it has a slab (for statistics; racy but never unsafe).
    pub fn held(&self) -> Option<(usize, u32)> {
        let s = self.slab();
        if is_empty(s) {
            return None;
        }
        Some((
            s.epoch.load(Relaxed) as usize,
            self.bits.load(Relaxed).count_ones(),
        ))
    }
}

/// One thread's heap.
#[repr(C, align(64))]
pub struct Heap {
    // ---- owner-only state (Cells: touched by the owning thread alone) ----
    pub bins: [Bin; BINS],
    era: Cell<u64>,
    /// Small allocations left before the next housekeeping call.
    countdown: Cell<i64>,
    /// The batch the countdown started from.
    batch: Cell<u64>,
    epoch: Cell<usize>,
    partial: [Cell<u32>; NCLASS],
    full: [Cell<u32>; NCLASS],
    retired: Cell<u32>,
    // ---- statistics: written by the owner with plain stores ----
    pub large_allocs: AtomicU64,
    pub large_frees: AtomicU64,
    pub remote_frees: AtomicU64,
    // ---- shared ----
    next_all: AtomicUsize,
    next_free: AtomicUsize,
    /// Notification stack of slabs with remote frees (link of the top).
    queue: Queue,
}

#[repr(C, align(64))]
struct Queue(AtomicU32);

// SAFETY: the Cell fields are only accessed by the thread that owns the heap
// (its address is in that thread's TLS slot), or by a fork child while it is
// single-threaded; every field other threads touch is atomic.
unsafe impl Sync for Heap {}

/// Every heap ever created (linked through `next_all`; never shrinks).
static ALL: AtomicUsize = AtomicUsize::new(0);
/// Heaps whose thread has exited, ready for reuse (linked through `next_free`).
static FREE: SpinLock<usize> = SpinLock::new(0);
/// Heaps mapped per chunk.
const CHUNK: usize = 16;

/// The heap at address `a` (from a TLS slot, a slab owner or a heap list).
#[inline(always)]
fn heap(a: usize) -> &'static Heap {
    // SAFETY: heap addresses only come from `acquire`, which carves them out
    // of mappings that are never unmapped, and each was initialised there.
    unsafe { &*(a as *const Heap) }
}

#[inline(always)]
fn is_empty(s: &SlabMeta) -> bool {
    core::ptr::eq(s, &EMPTY)
}

impl Heap {
    const fn new() -> Self {
        Heap {
            bins: [const { Bin::new() }; BINS],
            era: Cell::new(0),
            countdown: Cell::new(0),
            batch: Cell::new(0),
            epoch: Cell::new(0),
            partial: [const { Cell::new(0) }; NCLASS],
            full: [const { Cell::new(0) }; NCLASS],
            retired: Cell::new(0),
            large_allocs: AtomicU64::new(0),
            large_frees: AtomicU64::new(0),
            remote_frees: AtomicU64::new(0),
            next_all: AtomicUsize::new(0),
            next_free: AtomicUsize::new(0),
            queue: Queue(AtomicU32::new(0)),
        }
    }

    #[inline(always)]
    fn addr(&self) -> usize {
        self as *const Heap as usize
    }

    /// Whether this heap's bin holds object (`w`, `bit`) of `s` as free.
    /// Read by other threads: relaxed, so exact when the two frees of a
    /// double free are ordered by the program's own synchronisation.
    fn bin_holds_free(&self, s: &SlabMeta, w: usize, bit: u64) -> bool {
        self.bins[s.class.load(Relaxed) as usize & (BINS - 1)].holds_free(s, w, bit)
    }

    // ================= allocation =================

    /// Allocate an object of `class`. Returns 0 when no slab can be had (the
    /// region is exhausted); the caller then asks glibc.
    #[inline(always)]
    pub fn alloc(&self, class: usize) -> usize {
        let cd = self.countdown.get() - 1;
        self.countdown.set(cd);
        let b = &self.bins[class & (BINS - 1)];
        let x = b.bits.load(Relaxed);
        if cd < 0 || x == 0 || self.era.get() != epoch::era() {
            return self.alloc_slow(class);
        }
        b.bits.store(x & (x - 1), Relaxed);
        bump(&b.allocs, 1);
        b.base.get() + x.trailing_zeros() as usize * b.size.get()
    }

    #[cold]
    #[inline(never)]
    fn alloc_slow(&self, class: usize) -> usize {
        if self.countdown.get() < 0 {
            self.housekeeping();
        }
        if self.era.get() != epoch::era() {
            self.switch_epoch();
        }
        let b = &self.bins[class];
        loop {
            let x = b.bits.load(Relaxed);
            if x != 0 {
                b.bits.store(x & (x - 1), Relaxed);
                bump(&b.allocs, 1);
                return b.base.get() + x.trailing_zeros() as usize * b.size.get();
            }
            let s = b.slab();
            if !is_empty(s) {
                // The bin's word is used up: its objects are all allocated,
                // so there is nothing to give back; take the next one.
                b.begin_change();
                b.tag.word.store(NO_WORD, Relaxed);
                let took = s.take_word();
                if let Some((w, bits, committed)) = took {
                    slab_committed(class, s.epoch.load(Relaxed) as usize, committed);
                    b.tag.word.store(w, Relaxed);
                    b.base.set(s.base.load(Relaxed) + w * 64 * b.size.get());
                    b.bits.store(bits, Relaxed);
                }
                b.end_change();
                if took.is_some() {
                    continue;
                }
                if s.has_pending() {
                    let c = s.collect();
                    diag::check_collected(c, s);
                    if c.freed > 0 {
                        continue;
                    }
                }
                self.list_push(LIST_FULL, s);
                b.begin_change();
                b.set_slab(&EMPTY);
                b.end_change();
                inc(&COUNTERS.classes[class].refills);
            }
            // An advance that landed while we were busy: take the new slab
            // in the new epoch, never a fresh one in a closing epoch.
            if self.era.get() != epoch::era() {
                self.switch_epoch();
                continue;
            }
            match self.refill(class) {
                Some(s) => {
                    s.list.store(LIST_CURRENT, Relaxed);
                    b.begin_change();
                    b.set_slab(s);
                    b.end_change();
                }
                None => {
                    inc(&COUNTERS.region_full);
                    return 0;
                }
            }
        }
    }

    /// Give the bin's word back to its slab and detach the bin from it.
    /// Returns the slab (with its objects in use afterwards), or `None` for
    /// an empty bin.
    fn unbind(&self, class: usize) -> Option<(&'static SlabMeta, u32)> {
        let b = &self.bins[class];
        let s = b.slab();
        if is_empty(s) {
            return None;
        }
        let w = b.tag.word.load(Relaxed);
        let used = if w != NO_WORD {
            s.return_word(w, b.bits.load(Relaxed))
        } else {
            s.used.load(Relaxed)
        };
        b.begin_change();
        b.bits.store(0, Relaxed);
        b.tag.word.store(NO_WORD, Relaxed);
        b.set_slab(&EMPTY);
        b.end_change();
        Some((s, used))
    }

    /// If a bin holds a word of `s`, give the word back (the slab's bitmap
    /// must be complete before remote frees are folded in).
    fn flush_word_of(&self, s: &SlabMeta) {
        let b = &self.bins[s.class.load(Relaxed) as usize & (BINS - 1)];
        if core::ptr::eq(b.slab(), s) && b.tag.word.load(Relaxed) != NO_WORD {
            s.return_word(b.tag.word.load(Relaxed), b.bits.load(Relaxed));
            b.begin_change();
            b.bits.store(0, Relaxed);
            b.tag.word.store(NO_WORD, Relaxed);
            b.end_change();
        }
    }

    /// Periodic work, every few thousand allocations (fewer with automatic
    /// epochs): automatic advance, pending notifications, cache decay.
    #[cold]
    fn housekeeping(&self) {
        epoch::tick(self.batch.get());
        let b = epoch::batch();
        self.batch.set(b);
        self.countdown.set(b as i64 - 1);
        if self.queue.0.load(Relaxed) != 0 {
            self.drain();
        }
        pool::decay_tick();
        crate::background::maybe_start();
    }

    /// A slab for `class` with at least one free object: a partial one, an
    /// orphan, a cached empty one or an unused one.
    fn refill(&self, class: usize) -> Option<&'static SlabMeta> {
        if self.queue.0.load(Relaxed) != 0 {
            self.drain();
        }
        if let Some(s) = self.list_pop(LIST_PARTIAL, class) {
            return Some(s);
        }
        let era = self.era.get();
        if let Some(s) = pool::adopt(class, self.addr(), era) {
            diag::check_collected(s.collect(), s);
            return Some(s);
        }
        let s = match pool::cache_pop(class) {
            Some(s) => s,
            None => {
                let s = region::take_unused()?;
                pool::unused_taken(s);
                inc(&COUNTERS.classes[class].cache_miss);
                s
            }
        };
        let e = self.epoch.get();
        s.format(region::slab_base(region::index_of(s)), class);
        s.epoch.store(e as u8, Relaxed);
        s.era.store(era, Relaxed);
        s.list.store(LIST_NONE, Relaxed);
        s.prev.store(0, Relaxed);
        s.next.store(0, Relaxed);
        slab_activated(class, e, s.touched.load(Relaxed) as usize);
        s.lock.lock();
        s.state.store(STATE_ACTIVE, Release);
        s.owner.store(self.addr(), SeqCst);
        s.lock.unlock();
        Some(s)
    }

    /// The epoch moved on: retire every slab of the old one, so no new
    /// object lands in a closing epoch.
    #[cold]
    fn switch_epoch(&self) {
        for class in 0..NCLASS {
            if let Some((s, _)) = self.unbind(class) {
                self.retire(s);
            }
            while let Some(s) = self.list_pop(LIST_PARTIAL, class) {
                self.retire(s);
            }
            while let Some(s) = self.list_pop(LIST_FULL, class) {
                self.retire(s);
            }
        }
        let era = epoch::era();
        self.era.set(era);
        self.epoch.set(epoch::index(era));
        inc(&COUNTERS.epoch_switches);
    }

    fn retire(&self, s: &'static SlabMeta) {
        if s.used.load(Relaxed) == 0 && !s.queued.load(SeqCst) {
            self.release_empty(s);
        } else {
            self.list_push(LIST_RETIRED, s);
            inc(&COUNTERS.retired_slabs);
        }
    }

    // ================= free =================

    /// Free `p` from slab `s`, owned by this heap. An object of the word
    /// its bin holds goes back into the bin; any other into the bitmap.
    #[inline(always)]
    fn free_local(&self, s: &'static SlabMeta, p: usize) {
        let Some((w, bit)) = s.locate(p) else {
            return diag::free_error(FreeError::Invalid, p, Some(s), "free");
        };
        if s.is_pending(w, bit) {
            // Another thread freed it already.
            return diag::free_error(FreeError::DoubleFree, p, Some(s), "free");
        }
        let b = &self.bins[s.class.load(Relaxed) as usize & (BINS - 1)];
        if b.tag.word.load(Relaxed) == w && core::ptr::eq(b.tag.slab.load(Relaxed), s) {
            let x = b.bits.load(Relaxed);
            if x & bit != 0 {
                return diag::free_error(FreeError::DoubleFree, p, Some(s), "free");
            }
            b.bits.store(x | bit, Relaxed);
            return;
        }
        match s.free_bit(w, bit) {
            Ok(u) => {
                if u == 0 || s.list.load(Relaxed) == LIST_FULL {
                    self.after_local_free(s, u);
                }
            }
            Err(e) => diag::free_error(e, p, Some(s), "free"),
        }
    }

    #[cold]
    #[inline(never)]
    fn after_local_free(&self, s: &'static SlabMeta, used: u32) {
        let list = s.list.load(Relaxed);
        if used == 0 {
            // Keep an empty current slab: the next malloc reuses it. Any
            // other empty slab goes back now, unless a notification for it
            // is still queued (the drain will reclaim it).
            if list != LIST_CURRENT && !s.queued.load(SeqCst) {
                self.list_unlink(s);
                self.release_empty(s);
            }
        } else if list == LIST_FULL {
            self.list_unlink(s);
            self.list_push(LIST_PARTIAL, s);
        }
    }

    /// Give an empty slab this heap owns back to the pool.
    fn release_empty(&self, s: &'static SlabMeta) {
        s.lock.lock();
        s.owner.store(NO_OWNER, SeqCst);
        pool::reclaim(s);
        s.lock.unlock();
    }

    /// Fold remote frees into an owned slab and move it between lists.
    fn collect_owned(&self, s: &'static SlabMeta) {
        self.flush_word_of(s);
        let c = s.collect();
        diag::check_collected(c, s);
        let list = s.list.load(Relaxed);
        if s.used.load(Relaxed) == 0 && list != LIST_CURRENT && list != LIST_NONE {
            if !s.queued.load(SeqCst) {
                self.list_unlink(s);
                self.release_empty(s);
            }
        } else if c.freed > 0 && list == LIST_FULL {
            self.list_unlink(s);
            self.list_push(LIST_PARTIAL, s);
        }
    }

    fn push_queue(&self, s: &'static SlabMeta) {
        let me = link_of(s);
        let mut head = self.queue.0.load(SeqCst);
        loop {
            s.qnext.store(head, Relaxed);
            match self.queue.0.compare_exchange_weak(head, me, SeqCst, SeqCst) {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    /// Handle every slab on this heap's notification stack.
    fn drain(&self) {
        self.drain_as(Some(self), 0);
    }

    /// Take the whole notification stack and route each slab to its current
    /// collector. `me` is the calling thread's heap (it may collect the
    /// slabs it owns).
    fn drain_as(&self, me: Option<&Heap>, depth: u32) {
        let mut l = self.queue.0.swap(0, SeqCst);
        while let Some(s) = link(l) {
            l = s.qnext.load(Relaxed);
            s.queued.store(false, SeqCst);
            notify(s, me, depth);
        }
    }

    // ================= teardown =================

    /// Hand every slab back: the thread is exiting (or gone, in a fork
    /// child). Empty slabs are reclaimed, the others become orphans.
    fn abandon(&self) {
        self.drain();
        for class in 0..NCLASS {
            if let Some((s, _)) = self.unbind(class) {
                orphan(s);
            }
            while let Some(s) = self.list_pop(LIST_PARTIAL, class) {
                orphan(s);
            }
            while let Some(s) = self.list_pop(LIST_FULL, class) {
                orphan(s);
            }
        }
        while let Some(s) = self.list_pop(LIST_RETIRED, 0) {
            orphan(s);
        }
        // Notifications that raced with the orphaning.
        self.drain_as(None, 0);
        let mut f = FREE.lock();
        self.next_free.store(*f, Relaxed);
        *f = self.addr();
    }

    fn activate(&self) {
        let era = epoch::era();
        self.era.set(era);
        self.epoch.set(epoch::index(era));
        let b = epoch::batch();
        self.batch.set(b);
        self.countdown.set(b as i64 - 1);
        inc(&COUNTERS.threads);
    }

    // ================= lists =================

    fn head(&self, list: u8, class: usize) -> &Cell<u32> {
        match list {
            LIST_PARTIAL => &self.partial[class],
            LIST_FULL => &self.full[class],
            _ => &self.retired,
        }
    }

    fn list_push(&self, list: u8, s: &'static SlabMeta) {
        let h = self.head(list, s.class.load(Relaxed) as usize);
        let me = link_of(s);
        s.prev.store(0, Relaxed);
        s.next.store(h.get(), Relaxed);
        if let Some(n) = link(h.get()) {
            n.prev.store(me, Relaxed);
        }
        h.set(me);
        s.list.store(list, Relaxed);
    }

    fn list_unlink(&self, s: &'static SlabMeta) {
        let list = s.list.load(Relaxed);
        s.list.store(LIST_NONE, Relaxed);
        if list == LIST_NONE || list == LIST_CURRENT {
            return;
        }
        let h = self.head(list, s.class.load(Relaxed) as usize);
        let prev = s.prev.load(Relaxed);
        let next = s.next.load(Relaxed);
        match link(prev) {
            Some(p) => p.next.store(next, Relaxed),
            None => h.set(next),
        }
        if let Some(n) = link(next) {
            n.prev.store(prev, Relaxed);
        }
        s.prev.store(0, Relaxed);
        s.next.store(0, Relaxed);
    }

    fn list_pop(&self, list: u8, class: usize) -> Option<&'static SlabMeta> {
        let s = link(self.head(list, class).get())?;
        self.list_unlink(s);
        Some(s)
    }
}

/// Plain increment of a counter only one thread writes.
#[inline(always)]
fn bump(c: &AtomicU64, v: u64) {
    c.store(c.load(Relaxed).wrapping_add(v), Relaxed);
}

// ================= free paths without a known owner =================

/// Free `p`, which lies in slab `s`, from whichever thread is calling.
#[inline(always)]
pub fn free(s: &'static SlabMeta, p: usize) {
    let v = tls::get();
    // Owners are 0, NO_OWNER or heap addresses; TLS slots hold UNSET,
    // TORN_DOWN or heap addresses: one compare decides.
    if s.owner.load(Relaxed) == v {
        heap(v).free_local(s, p);
    } else {
        free_remote(v, s, p);
    }
}

#[cold]
#[inline(never)]
fn free_remote(v: usize, s: &'static SlabMeta, p: usize) {
    let checked = s.check_live_slab().and_then(|()| {
        let (w, bit) = s.locate(p).ok_or(FreeError::Invalid)?;
        // An object free in its owner's bin looks allocated in the bitmap.
        let o = s.owner.load(SeqCst);
        if o > NO_OWNER && heap(o).bin_holds_free(s, w, bit) {
            return Err(FreeError::DoubleFree);
        }
        s.free_remote_bit(w, bit)
    });
    if let Err(e) = checked {
        diag::free_error(e, p, Some(s), "free");
        return;
    }
    // A thread that only ever frees gets a heap too, so its counts stay
    // thread-local instead of hitting a shared counter on every free.
    let me = if tls::is_heap(v) {
        Some(heap(v))
    } else if v == tls::UNSET {
        thread_heap()
    } else {
        None
    };
    match me {
        Some(h) => bump(&h.remote_frees, 1),
        None => inc(&COUNTERS.heapless_frees),
    }
    notify(s, me, 0);
}

/// Make sure the pending frees of `s` reach its collector: its owner (via
/// the owner's notification stack), or, for an orphan, the caller itself.
fn notify(s: &'static SlabMeta, me: Option<&Heap>, depth: u32) {
    let o = s.owner.load(SeqCst);
    if o == NO_OWNER {
        orphan_collect(s, me, depth);
        return;
    }
    if let Some(h) = me {
        if h.addr() == o {
            h.collect_owned(s);
            return;
        }
    }
    // Already queued (the common case while frees stream in): the drainer
    // clears the flag before folding, so it will see our bit; skip the
    // read-modify-write on a line the owner also writes.
    if !s.queued.load(SeqCst) && !s.queued.swap(true, SeqCst) {
        let owner = heap(o);
        owner.push_queue(s);
        // The owner may have let go of the slab before our push landed;
        // then nobody would look at its stack for this slab: route it now.
        if s.owner.load(SeqCst) != o && depth < MAX_ROUTING_DEPTH {
            owner.drain_as(me, depth + 1);
        }
    }
}

/// Collect an orphan's pending frees (see `pool::collect_orphan`); if it
/// was adopted meanwhile, tell its new owner instead.
fn orphan_collect(s: &'static SlabMeta, me: Option<&Heap>, depth: u32) {
    if pool::collect_orphan(s).is_some() && depth < MAX_ROUTING_DEPTH {
        notify(s, me, depth + 1);
    }
}

/// Make `s` an orphan: no owner; reclaimed if empty, offered for adoption
/// if it has room in the current epoch.
fn orphan(s: &'static SlabMeta) {
    s.lock.lock();
    s.owner.store(NO_OWNER, SeqCst);
    s.list.store(LIST_NONE, Relaxed);
    let reclaimed = pool::fold_orphan(s);
    s.lock.unlock();
    if !reclaimed {
        inc(&COUNTERS.orphaned_slabs);
        if s.has_pending() {
            orphan_collect(s, None, 0);
        }
    }
}

// ================= thread attachment =================

/// The calling thread's heap, creating it on first use. `None` when zslab
/// is not (or no longer) serving this thread: before initialisation could
/// finish, after the thread's teardown, or when disabled.
#[inline(always)]
pub fn thread_heap() -> Option<&'static Heap> {
    let v = tls::get();
    if tls::is_heap(v) {
        Some(heap(v))
    } else {
        attach(v)
    }
}

#[cold]
#[inline(never)]
fn attach(v: usize) -> Option<&'static Heap> {
    if v == tls::TORN_DOWN || !crate::global::ensure() {
        return None;
    }
    let h = acquire()?;
    h.activate();
    tls::set(h.addr());
    crate::global::register_thread_exit(h.addr());
    Some(h)
}

/// The pthread key destructor: the thread is exiting.
pub extern "C" fn thread_exit(arg: *mut libc::c_void) {
    let a = arg as usize;
    if !tls::is_heap(a) {
        return;
    }
    // Later frees on this thread (other destructors, glibc's own teardown)
    // take the remote path; later mallocs go to glibc.
    tls::set(tls::TORN_DOWN);
    heap(a).abandon();
}

fn acquire() -> Option<&'static Heap> {
    {
        let mut f = FREE.lock();
        if *f != 0 {
            let h = heap(*f);
            *f = h.next_free.load(Relaxed);
            return Some(h);
        }
    }
    let size = core::mem::size_of::<Heap>();
    let base = os::reserve(size * CHUNK)?;
    for i in 0..CHUNK {
        let a = base + i * size;
        // SAFETY: `a` lies in a fresh, page-aligned private mapping of
        // CHUNK heaps; Heap's size is a multiple of its 64-byte alignment,
        // so every slot is aligned, and nothing else refers to it yet.
        unsafe { core::ptr::write(a as *mut Heap, Heap::new()) };
        let h = heap(a);
        let mut head = ALL.load(Relaxed);
        loop {
            h.next_all.store(head, Relaxed);
            match ALL.compare_exchange_weak(head, a, Release, Relaxed) {
                Ok(_) => break,
                Err(x) => head = x,
            }
        }
    }
    let mut f = FREE.lock();
    for i in 1..CHUNK {
        let h = heap(base + i * size);
        h.next_free.store(*f, Relaxed);
        *f = h.addr();
    }
    Some(heap(base))
}

/// Visit every heap ever created (active or waiting for reuse).
pub fn for_each_heap(mut f: impl FnMut(&'static Heap)) {
    let mut a = ALL.load(Acquire);
    while a != 0 {
        let h = heap(a);
        f(h);
        a = h.next_all.load(Relaxed);
    }
}

/// Drain the calling thread's notification stack (used before stats
/// snapshots and reclamation requests, so they see its remote frees).
pub fn drain_current() {
    let v = tls::get();
    if tls::is_heap(v) {
        heap(v).drain();
    }
}

/// In a fork child: a parent thread may have been between marking one of
/// our slabs queued and pushing it on our stack, leaving it marked queued
/// on no stack (its remote frees would never be folded in again). Drain our
/// stack, then fold in every slab we own that still claims to be queued.
/// Single-threaded, so the scan over the slabs is safe.
pub fn repair_after_fork() {
    let v = tls::get();
    if !tls::is_heap(v) {
        return;
    }
    let h = heap(v);
    h.drain();
    for i in 0..region::frontier() {
        let s = region::meta(i);
        if s.owner.load(Relaxed) == v && s.queued.load(Relaxed) {
            s.queued.store(false, SeqCst);
            h.collect_owned(s);
        }
    }
}

/// The heap free list's lock, for fork handlers.
pub fn free_list_lock() -> &'static crate::sync::RawLock {
    FREE.raw()
}

#[cfg(test)]
mod tests {
    //! The allocator driven in-process (the unit-test binary does not export
    //! malloc, so these calls reach zslab only through `crate::alloc`).
    use super::*;
    use crate::alloc;
    use crate::sizeclass::{class_of, class_size};
    use std::sync::Mutex;

    /// Tests that move epochs or count global events run one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn setup() -> std::sync::MutexGuard<'static, ()> {
        let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        assert!(crate::global::ensure());
        crate::diag::set_warn_only(true);
        g
    }

    fn malloc(n: usize) -> usize {
        alloc::malloc(n) as usize
    }

    fn free(p: usize) {
        // SAFETY: every pointer freed here came from `malloc` above (or is
        // deliberately bad, in which case zslab must refuse it).
        unsafe { alloc::free(p as *mut libc::c_void) }
    }

    #[test]
    fn small_blocks_come_from_slabs_of_their_class() {
        let _g = setup();
        for size in [0, 1, 16, 17, 100, 1000, 4096, 8192] {
            let p = malloc(size);
            assert_ne!(p, 0);
            assert_eq!(p % 16, 0);
            let s = region::slab_of(p).expect("small block outside the region");
            assert_eq!(s.object_size(), class_size(class_of(size)));
            assert_eq!(
                s.owner.load(Relaxed),
                tls::get(),
                "owned by this thread's heap"
            );
            // SAFETY: p is a live block of at least `size` bytes.
            unsafe { core::ptr::write_bytes(p as *mut u8, 0xab, size) };
            free(p);
        }
        let big = malloc(100_000);
        assert!(region::slab_of(big).is_none(), "large blocks are glibc's");
        free(big);
    }

    #[test]
    fn bad_frees_are_refused_and_counted() {
        let _g = setup();
        let doubles = COUNTERS.double_frees.load(Relaxed);
        let invalid = COUNTERS.invalid_frees.load(Relaxed);
        let p = malloc(48);
        let q = malloc(48);
        free(p + 8);
        free(p);
        free(p);
        assert_eq!(COUNTERS.invalid_frees.load(Relaxed), invalid + 1);
        assert_eq!(COUNTERS.double_frees.load(Relaxed), doubles + 1);
        // The refused calls changed nothing: p is reused once, q is intact.
        let r = malloc(48);
        let t = malloc(48);
        assert_ne!(r, t);
        assert!(r != q && t != q);
        free(q);
        free(r);
        free(t);
    }

    #[test]
    fn frees_from_another_thread_come_back_to_the_owner() {
        let _g = setup();
        let ps: Vec<usize> = (0..5000).map(|_| malloc(64)).collect();
        let set: std::collections::HashSet<usize> = ps.iter().copied().collect();
        assert_eq!(set.len(), ps.len());
        let moved = ps.clone();
        std::thread::spawn(move || moved.into_iter().for_each(free))
            .join()
            .unwrap();
        // A double free from here is still caught (the bits are pending or
        // folded in by now).
        let doubles = COUNTERS.double_frees.load(Relaxed);
        free(ps[10]);
        drain_current();
        assert_eq!(COUNTERS.double_frees.load(Relaxed), doubles + 1);
        // The owner reuses the remotely freed objects.
        let again: Vec<usize> = (0..5000).map(|_| malloc(64)).collect();
        let reused = again.iter().filter(|p| set.contains(p)).count();
        assert!(reused > 4000, "only {reused} of 5000 reused");
        again.into_iter().for_each(free);
    }

    #[test]
    fn an_exited_threads_slabs_are_adopted_or_reclaimed() {
        let _g = setup();
        let class = class_of(200);
        let adopted = COUNTERS.classes[class].adopted.load(Relaxed);
        let orphaned = COUNTERS.orphaned_slabs.load(Relaxed);
        // A thread leaves a few long-lived objects behind, then exits.
        let kept: Vec<usize> = std::thread::spawn(|| {
            let all: Vec<usize> = (0..100).map(|_| malloc(200)).collect();
            let keep: Vec<usize> = all.iter().copied().step_by(10).collect();
            let drop: Vec<usize> = all.iter().copied().filter(|p| !keep.contains(p)).collect();
            drop.into_iter().for_each(free);
            for &p in &keep {
                // SAFETY: p is a live 200-byte block.
                unsafe { core::ptr::write_bytes(p as *mut u8, 0x5a, 200) };
            }
            keep
        })
        .join()
        .unwrap();
        assert!(
            COUNTERS.orphaned_slabs.load(Relaxed) > orphaned,
            "the exiting thread orphaned its slab"
        );
        // Another new thread allocating that class adopts the orphan.
        std::thread::spawn(move || {
            let p = malloc(200);
            free(p);
        })
        .join()
        .unwrap();
        assert!(COUNTERS.classes[class].adopted.load(Relaxed) > adopted);
        for &p in &kept {
            // SAFETY: p is still a live 200-byte block.
            assert_eq!(unsafe { *(p as *const u8).add(199) }, 0x5a);
            free(p);
        }
    }

    #[test]
    fn an_epoch_advance_moves_new_objects_to_new_slabs() {
        let _g = setup();
        let old: Vec<usize> = (0..1000).map(|_| malloc(32)).collect();
        let old_era = region::slab_of(old[0]).unwrap().era.load(Relaxed);
        let e = epoch::advance();
        let new: Vec<usize> = (0..1000).map(|_| malloc(32)).collect();
        for &p in &new {
            let s = region::slab_of(p).unwrap();
            assert_eq!(s.epoch.load(Relaxed) as usize, e);
            assert!(s.era.load(Relaxed) > old_era);
            assert!(
                !old.iter()
                    .any(|&q| std::ptr::eq(region::slab_of(q).unwrap(), s))
            );
        }
        let reclaimed = COUNTERS.epochs[epoch::index(old_era)]
            .reclaimed_slabs
            .load(Relaxed);
        old.into_iter().for_each(free);
        assert!(
            COUNTERS.epochs[epoch::index(old_era)]
                .reclaimed_slabs
                .load(Relaxed)
                > reclaimed,
            "the old epoch's slab went back once empty"
        );
        new.into_iter().for_each(free);
    }
}
