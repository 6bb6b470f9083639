//! Thread heaps: each thread allocates from its own heap, which owns spans
//! outright, so the same-thread malloc and free paths are a few plain loads
//! and stores (no lock, no atomic read-modify-write).
//!
//! A heap keeps, per size class, a bin (its current span and the free
//! objects of one bitmap word of it), lists of partial spans by occupancy
//! band and of full spans of the current epoch, and a list of retired spans
//! of past epochs. The code is split by path:
//!
//! - `fast`: malloc and free of the calling thread's own objects;
//! - `refill`: the allocation slow path (taking objects out of a span,
//!   finding the next span, switching epochs);
//! - `policy`: what happens when a span thins out (list moves, giving pages
//!   back now or later, detecting a phase end);
//! - `remote`: frees from other threads, the notification stacks, helping
//!   idle owners;
//! - this file: the heap's layout, thread attachment and exit, orphans.
//!
//! Every field is an atomic: those only the owning thread writes are read
//! and written with relaxed loads and stores (plain moves), so another
//! thread reading them for statistics is racy but never undefined. Heaps
//! are never unmapped (freed heaps are reused by new threads), so a heap
//! address read from a span is always safe to dereference.

mod domain;
mod fast;
mod policy;
mod refill;
mod remote;

pub use domain::DomainError;
pub use fast::free;
pub use remote::{help_idle, help_wanted, route_for_fork};

use crate::counters::{COUNTERS, inc};
use crate::epoch;
use crate::list::SlabList;
use crate::os;
use crate::region;
use crate::sizeclass::{BINS, NCLASS, SHARED_PAIR};
use crate::slab::{List, SlabMeta};
use crate::sync::SpinLock;
use crate::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering::*, fence,
};
use crate::tls;

/// The span every empty bin points at: it has no free object, so a bin
/// pointing at it always takes the slow path. Never written.
static EMPTY: SlabMeta = SlabMeta::empty();

/// `BinTag::word` when the bin holds no word.
const NO_WORD: usize = usize::MAX;
/// Occupancy bands of partial spans: more than 1/2, 1/4, 1/8 used, less.
pub const BANDS: usize = 4;

/// A heap's allocation state for one size class: its current span and the
/// free objects of one bitmap word of it, taken out of the span's bitmap
/// (malloc pops a bit here without touching the span). Owner-only, except
/// what other threads read: statistics (`bits`, the tag) and remote frees
/// checking for a double free (the tag, then `bits` when the word
/// matches). The fields the owner writes on every malloc and the ones it
/// writes only when it changes words live on two cache lines, so remote
/// frees of older objects do not pull the hot line away from the owner.
#[repr(C, align(64))]
pub struct Bin {
    /// Free objects of word `word` of `slab` (1 = free).
    bits: AtomicU64,
    /// Address of the word's object 0.
    base: AtomicUsize,
    /// Object size of the class.
    size: AtomicUsize,
    /// Allocations of this class by this heap; every 256th takes the slow
    /// path, which carries the heap's periodic work.
    pub allocs: AtomicU64,
    tag: BinTag,
}

#[repr(C, align(64))]
struct BinTag {
    slab: AtomicPtr<SlabMeta>,
    /// Index of the word held (NO_WORD if none).
    word: AtomicUsize,
    /// Sequence count of changes of `slab`/`word` (odd while changing), so
    /// a remote reader can tell a consistent view from a torn one.
    seq: AtomicU64,
}

impl Bin {
    const fn new() -> Self {
        Bin {
            bits: AtomicU64::new(0),
            base: AtomicUsize::new(0),
            size: AtomicUsize::new(0),
            allocs: AtomicU64::new(0),
            tag: BinTag {
                slab: AtomicPtr::new(&EMPTY as *const SlabMeta as *mut SlabMeta),
                word: AtomicUsize::new(NO_WORD),
                seq: AtomicU64::new(0),
            },
        }
    }

    /// Start changing which span or word the bin holds (owner only).
    fn begin_change(&self) {
        self.tag.seq.store(self.tag.seq.load(Relaxed) + 1, Relaxed);
        fence(Release);
    }

    /// Finish a change started with `begin_change`.
    fn end_change(&self) {
        self.tag.seq.store(self.tag.seq.load(Relaxed) + 1, Release);
    }

    /// In a fork child, for the bin of a thread that does not exist there:
    /// a change the thread had begun will never end, and readers would wait
    /// for it. The bin is emptied and the change closed; the objects it
    /// held stay taken (the child never reuses that heap's spans), so a
    /// free of one is accepted as the free of a live object. Writes only a
    /// bin caught mid-change, so the child copies no other heap page.
    fn abandon(&self) {
        if self.tag.seq.load(Relaxed) & 1 == 0 {
            return;
        }
        self.tag
            .slab
            .store(&EMPTY as *const SlabMeta as *mut SlabMeta, Relaxed);
        self.tag.word.store(NO_WORD, Relaxed);
        self.bits.store(0, Relaxed);
        self.end_change();
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

    /// Whether object (`w`, `bit`) of `s` is free in this bin or in `s`'s
    /// bitmap, read from another thread as one consistent view. The owner
    /// moves objects between the two only inside a change (a refill takes
    /// them out of the bitmap into the bin, a flush gives the bin's back),
    /// so a view caught mid-move, which could find an object in neither
    /// place, is read again. Exact when the program ordered the read after
    /// the owner's free. Gives up (false) after many tries, a bound that
    /// only a broken owner could reach (a fork child closes the changes
    /// its parent's threads left open: [`Bin::abandon`]).
    fn free_here(&self, s: &SlabMeta, w: usize, bit: u64) -> bool {
        for spins in 0..1u32 << 16 {
            let before = self.tag.seq.load(Acquire);
            if before & 1 == 0 {
                let free = (core::ptr::eq(self.tag.slab.load(Relaxed), s)
                    && self.tag.word.load(Relaxed) == w
                    && self.bits.load(Relaxed) & bit != 0)
                    || s.in_bitmap(w, bit);
                fence(Acquire);
                if self.tag.seq.load(Relaxed) == before {
                    return free;
                }
            }
            crate::sync::backoff(spins);
        }
        false
    }

    #[inline(always)]
    fn slab(&self) -> &'static SlabMeta {
        // SAFETY: `slab` only ever holds &EMPTY or a metadata reference
        // from the region array, which is never unmapped: both 'static.
        unsafe { &*self.tag.slab.load(Relaxed) }
    }

    fn set_slab(&self, s: &'static SlabMeta) {
        self.tag
            .slab
            .store(s as *const SlabMeta as *mut SlabMeta, Relaxed);
        self.size.store(s.object_size(), Relaxed);
    }

    /// The epoch of the bin's span and the free objects the bin holds of
    /// it, if it has a span (for statistics; racy but never unsafe).
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

/// Spans of one class a heap keeps besides its current one.
struct ClassLists {
    partial: [SlabList; BANDS],
    full: SlabList,
    retired: SlabList,
    /// Link of the span whose pages went back last while the heap was
    /// draining (see `policy`), 0 if none.
    drained: core::sync::atomic::AtomicU32,
}

impl ClassLists {
    const fn new() -> Self {
        ClassLists {
            partial: [const { SlabList::new() }; BANDS],
            full: SlabList::new(),
            retired: SlabList::new(),
            drained: core::sync::atomic::AtomicU32::new(0),
        }
    }
}

/// One thread's heap.
#[repr(C, align(64))]
pub struct Heap {
    // ---- owner state ----
    pub bins: [Bin; BINS],
    lists: [ClassLists; NCLASS],
    /// The global era this heap last saw (the fast path compares it).
    era: AtomicU64,
    /// The era new spans are stamped with: the global one, or the
    /// innermost epoch domain's.
    alloc_era: AtomicU64,
    epoch: AtomicUsize,
    /// This thread's epoch domains, innermost last: their eras and how
    /// many times each was entered.
    domains: [AtomicU64; domain::DEPTH],
    domain_refs: [AtomicU32; domain::DEPTH],
    depth: AtomicUsize,
    /// Allocation slow-path calls (housekeeping rides on them).
    slow_calls: AtomicU64,
    /// Whether the shared pair's second class takes its objects from the
    /// first's spans (docs/design.md, "Shared chunks"), and the spans this
    /// heap took for the pair's classes while it did not.
    shares: AtomicBool,
    pair_spans: AtomicUsize,
    /// Whether the pair's two classes are allocated together (see
    /// `note_pair_visit`): the allocations of both counted at each class's
    /// last slow-path visit, and a score, up while they interleave, down
    /// while one allocates alone (within -16..16). Spans count toward the
    /// switch only while it is not negative.
    pair_seen: [[AtomicU64; 2]; 2],
    pair_mix: AtomicI32,
    /// Allocations counted at the last automatic-epoch tick.
    allocs_at_tick: AtomicU64,
    /// Phase-end detection: spans thinned out minus twice the spans taken
    /// for allocation, floored at 0; at `drain_limit` the heap is draining.
    drain: AtomicU32,
    drain_limit: AtomicU32,
    /// When (coarse ms) the heap last found that a phase ended.
    drained_at: AtomicU64,
    /// The highest drain count since the last thrash (the size of the
    /// batches the program frees at once).
    drain_peak: AtomicU32,
    /// Delay before a thinned-out span's free pages go back (ms).
    purge_delay: AtomicU64,
    /// When (coarse ms) returned pages were last needed again.
    last_thrash: AtomicU64,
    /// The current thrash window: when it began, the pages this heap gave
    /// back at a phase end in it, and the pages needed again in it.
    window_at: AtomicU64,
    purged_pages: AtomicU64,
    refaulted_pages: AtomicU64,
    // ---- read by other threads ----
    /// Coarse ms of the owner's last slow-path call (idle detection).
    last_active: AtomicU64,
    /// Whether a thread owns this heap.
    live: AtomicBool,
    pub remote_frees: AtomicU64,
    next_all: AtomicUsize,
    next_free: AtomicUsize,
    /// Notification stack of spans with remote frees (link of the top).
    queue: Queue,
}

#[repr(C, align(64))]
struct Queue(AtomicU32);

/// Every heap ever created (linked through `next_all`; never shrinks).
static ALL: AtomicUsize = AtomicUsize::new(0);
/// Heaps whose thread has exited, ready for reuse (linked through `next_free`).
static FREE: SpinLock<usize> = SpinLock::new(0);
/// Heaps mapped per chunk.
const CHUNK: usize = 4;
/// Default phase-end threshold (spans) and its adaptive ceiling.
const DRAIN_BASE: u32 = 8;
const DRAIN_MAX: u32 = 4096;

/// The heap at address `a`.
///
/// # Safety
/// `a` must be a heap address: read from a TLS slot holding a heap, a
/// span's `owner` above `NO_OWNER`, or a heap list.
#[inline(always)]
unsafe fn heap_at(a: usize) -> &'static Heap {
    // SAFETY: per the contract, `a` came from `acquire`, which carves
    // heaps out of mappings that are never unmapped, each initialised there.
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
            lists: [const { ClassLists::new() }; NCLASS],
            era: AtomicU64::new(0),
            alloc_era: AtomicU64::new(0),
            epoch: AtomicUsize::new(0),
            domains: [const { AtomicU64::new(0) }; domain::DEPTH],
            domain_refs: [const { AtomicU32::new(0) }; domain::DEPTH],
            depth: AtomicUsize::new(0),
            slow_calls: AtomicU64::new(0),
            shares: AtomicBool::new(false),
            pair_spans: AtomicUsize::new(0),
            pair_seen: [const { [const { AtomicU64::new(0) }; 2] }; 2],
            pair_mix: AtomicI32::new(0),
            allocs_at_tick: AtomicU64::new(0),
            drain: AtomicU32::new(0),
            drain_limit: AtomicU32::new(0),
            drained_at: AtomicU64::new(0),
            drain_peak: AtomicU32::new(0),
            purge_delay: AtomicU64::new(0),
            last_thrash: AtomicU64::new(0),
            window_at: AtomicU64::new(0),
            purged_pages: AtomicU64::new(0),
            refaulted_pages: AtomicU64::new(0),
            last_active: AtomicU64::new(0),
            live: AtomicBool::new(false),
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

    fn lists(&self, class: usize) -> &ClassLists {
        &self.lists[class % NCLASS]
    }

    fn bin(&self, class: usize) -> &Bin {
        &self.bins[class & (BINS - 1)]
    }

    /// Objects of `class` allocated through this heap so far.
    pub fn allocs(&self, class: usize) -> u64 {
        self.bin(class).allocs.load(Relaxed)
    }

    /// Whether a thread owns this heap.
    pub fn is_live(&self) -> bool {
        self.live.load(Relaxed)
    }

    /// Take `s` off whatever heap list it is on.
    fn unlink(&self, s: &'static SlabMeta) {
        let l = self.lists(s.class.load(Relaxed) as usize);
        match s.list.get() {
            List::Partial => l.partial[s.band.load(Relaxed) as usize % BANDS].unlink(s),
            List::Full => l.full.unlink(s),
            List::Retired => l.retired.unlink(s),
            List::Current | List::Free | List::Adoptable | List::HugeCache => {
                s.list.set(List::Free)
            }
        }
    }

    /// Give an empty span this heap owns back to the pool.
    fn release_empty(&self, s: &'static SlabMeta) {
        s.lock.lock();
        s.owner.store(crate::slab::NO_OWNER, SeqCst);
        crate::pool::reclaim(s);
        s.lock.unlock();
    }

    fn activate(&self) {
        let era = epoch::era();
        self.era.store(era, Relaxed);
        self.alloc_era.store(era, Relaxed);
        self.epoch.store(epoch::index(era), Relaxed);
        self.depth.store(0, Relaxed);
        self.last_active.store(os::now_coarse_ms(), Relaxed);
        self.drain.store(0, Relaxed);
        self.drained_at.store(0, Relaxed);
        // What the policy learned (a raised drain limit, a longer purge
        // delay after thrashing) stays with a reused heap: a program whose
        // short-lived threads each end in a burst of frees would otherwise
        // give pages back and fault them in again in every thread. It
        // relaxes after a calm period as usual.
        if self.drain_limit.load(Relaxed) == 0 {
            self.drain_limit.store(DRAIN_BASE, Relaxed);
        }
        if self.purge_delay.load(Relaxed) == 0 {
            self.purge_delay
                .store(crate::pool::purge_delay_default().max(1), Relaxed);
        }
        let total: u64 = (0..NCLASS).map(|c| self.allocs(c)).sum();
        self.allocs_at_tick.store(total, Relaxed);
        // A reused heap holds no span (its last thread orphaned them all).
        self.shares
            .store(crate::sizeclass::share_after() == 0, Relaxed);
        self.pair_spans.store(0, Relaxed);
        for seen in &self.pair_seen {
            seen[0].store(self.allocs(SHARED_PAIR.0), Relaxed);
            seen[1].store(self.allocs(SHARED_PAIR.1), Relaxed);
        }
        self.pair_mix.store(0, Relaxed);
        self.live.store(true, SeqCst);
        inc(&COUNTERS.threads);
    }

    /// Hand every span back: the thread is exiting. Empty spans are
    /// reclaimed, the others become orphans.
    fn abandon(&self) {
        // Domains the thread left open close with it.
        domain::close_all(self);
        self.drain_queue();
        for class in 0..NCLASS {
            if let Some(s) = self.unbind(class) {
                remote::orphan(s);
            }
            let l = self.lists(class);
            for list in l.partial.iter().chain([&l.full, &l.retired]) {
                while let Some(s) = list.pop_front() {
                    remote::orphan(s);
                }
            }
        }
        // Notifications that raced with the orphaning.
        self.drain_queue();
        self.live.store(false, SeqCst);
        inc(&COUNTERS.lock_heap_list);
        let mut f = FREE.lock();
        self.next_free.store(*f, Relaxed);
        *f = self.addr();
    }
}

// ================= thread attachment =================

/// The calling thread's heap, if it has one.
#[inline(always)]
pub fn current() -> Option<&'static Heap> {
    let v = tls::get();
    if tls::is_heap(v) {
        // SAFETY: the slot holds a heap address (is_heap).
        Some(unsafe { heap_at(v) })
    } else {
        None
    }
}

/// Give the calling thread a heap (zslab is initialised; the thread has
/// none and has not been torn down). `register` arranges for
/// [`thread_exit`] to run with the heap's address when the thread exits.
pub fn attach(register: fn(usize)) -> Option<&'static Heap> {
    if tls::get() != tls::UNSET {
        return current();
    }
    let h = acquire()?;
    h.activate();
    tls::set(h.addr());
    register(h.addr());
    Some(h)
}

/// The thread-exit hook: hand the heap at `a` back. Later frees on this
/// thread (other destructors, glibc's own teardown) take the remote path;
/// later mallocs go to glibc.
pub fn thread_exit(a: usize) {
    if !tls::is_heap(a) || tls::get() != a {
        return;
    }
    tls::set(tls::TORN_DOWN);
    // SAFETY: `a` is the heap this thread's slot held.
    unsafe { heap_at(a) }.abandon();
}

fn acquire() -> Option<&'static Heap> {
    {
        inc(&COUNTERS.lock_heap_list);
        let mut f = FREE.lock();
        if *f != 0 {
            // SAFETY: the free list holds heap addresses only.
            let h = unsafe { heap_at(*f) };
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
        // SAFETY: initialised just above.
        let h = unsafe { heap_at(a) };
        let mut head = ALL.load(Relaxed);
        loop {
            h.next_all.store(head, Relaxed);
            match ALL.compare_exchange_weak(head, a, Release, Relaxed) {
                Ok(_) => break,
                Err(x) => head = x,
            }
        }
    }
    inc(&COUNTERS.lock_heap_list);
    let mut f = FREE.lock();
    for i in 1..CHUNK {
        // SAFETY: initialised in the loop above.
        let h = unsafe { heap_at(base + i * size) };
        h.next_free.store(*f, Relaxed);
        *f = h.addr();
    }
    // SAFETY: initialised in the loop above.
    Some(unsafe { heap_at(base) })
}

/// Visit every heap ever created (live or waiting for reuse). Only the
/// shared view is useful from here: owner state may change meanwhile.
pub fn for_each_heap(mut f: impl FnMut(&'static Heap)) {
    let mut a = ALL.load(Acquire);
    while a != 0 {
        // SAFETY: the ALL list holds heap addresses only.
        let h = unsafe { heap_at(a) };
        f(h);
        a = h.next_all.load(Relaxed);
    }
}

/// Check that `p` is a live object of active span `h`, from any thread
/// (the owner's view is exact; another thread's is exact when the program
/// ordered its call after the owner's free): the same allocated-state
/// checks as free. Returns the object's usable size.
pub fn check_allocated(h: &'static SlabMeta, p: usize) -> Result<usize, crate::slab::FreeError> {
    use crate::slab::{FreeError, NO_OWNER};
    h.check_live().map_err(|_| h.refusal(p))?;
    let (w, bit, kind) = h.find(p).ok_or(FreeError::Invalid)?;
    if h.is_free_here(w, bit) {
        return Err(FreeError::DoubleFree);
    }
    let o = h.owner.load(SeqCst);
    if o > NO_OWNER {
        // SAFETY: owners above NO_OWNER are heap addresses.
        let owner = unsafe { heap_at(o) };
        if owner.bin(h.class_of_kind(kind)).holds_free(h, w, bit) {
            return Err(FreeError::DoubleFree);
        }
    }
    // Its chunk went to the other class of a shared pair: it was free.
    fence(Acquire);
    if h.kind_changed(w, bit, kind) {
        return Err(FreeError::DoubleFree);
    }
    Ok(h.object_size_at(w, bit))
}

/// Fold in the calling thread's remote frees (before statistics snapshots).
pub fn drain_current() {
    if let Some(h) = current() {
        h.drain_queue();
    }
}

/// Fold in the calling thread's remote frees and give back the free pages
/// of its partly used spans (before statistics snapshots and explicit
/// reclamation requests).
pub fn tidy_current() -> usize {
    current().map_or(0, |h| {
        h.drain_queue();
        h.purge_owned()
    })
}

/// The heap free list's lock, for fork handlers.
pub fn free_list_lock() -> &'static crate::sync::RawLock {
    FREE.raw()
}

/// In a fork child: other threads' bins may be mid-change (closed here,
/// see [`Bin::abandon`]); a parent thread may have been between marking
/// one of our spans queued and pushing it on our stack, leaving it marked queued
/// on no stack (its remote frees would never be folded in again). Drain our
/// stack, then fold in every span we own that still claims to be queued.
/// Single-threaded, so the scan over the spans is safe; it only reads
/// metadata of spans that are not ours.
pub fn repair_after_fork() {
    // Bins that other threads were changing at the fork (before this,
    // every free from the child into such a span waited out the bound of
    // `Bin::free_here`: a child that freed inherited blocks seemed hung).
    // The calling thread's own bins are left alone: a fork from a signal
    // handler may have interrupted one of its changes, which it finishes
    // once the handler returns.
    let me = current();
    for_each_heap(|o| {
        if !me.is_some_and(|h| core::ptr::eq(h, o)) {
            o.bins.iter().for_each(Bin::abandon);
        }
    });
    let Some(h) = me else { return };
    h.drain_queue();
    for i in 0..region::frontier() {
        let Some(s) = region::meta(i) else { break };
        if s.owner.load(Relaxed) == h.addr() && s.queued.load(Relaxed) {
            s.queued.store(false, SeqCst);
            remote::route_for_fork(s, h);
        }
    }
}

/// What the models (`src/tests/models/`) need of a heap: one of their own,
/// and the owner's steps on its bins, run as the allocator runs them.
#[cfg(all(test, feature = "model"))]
pub(crate) mod model {
    use super::{Heap, remote};
    use crate::slab::SlabMeta;
    use core::sync::atomic::Ordering::Relaxed;

    pub(crate) use remote::{Spans, drain, help_with, mark_remote, notify, orphan_with};

    impl Heap {
        /// A heap of the model's own (never attached to a thread).
        pub(crate) fn boxed() -> Box<Heap> {
            Box::new(Heap::new())
        }

        /// The heap's address, as spans name their owner.
        pub(crate) fn owner(&self) -> usize {
            self.addr()
        }

        /// Make `s` the current span of its class's bin, with no objects
        /// taken yet ([`Heap::make_current`] without its list and policy
        /// bookkeeping).
        pub(crate) fn bind(&self, s: &'static SlabMeta) {
            self.bind_class(s.class.load(Relaxed) as usize, s);
        }

        /// [`Heap::bind`] for the bin of `class` (in a shared span: either
        /// class of the pair).
        pub(crate) fn bind_class(&self, class: usize, s: &'static SlabMeta) {
            let b = self.bin(class);
            b.begin_change();
            b.tag.word.store(super::NO_WORD, Relaxed);
            b.bits.store(0, Relaxed);
            b.set_slab(s);
            b.end_change();
        }

        /// The allocation slow path's refill of the bin of `class` from its
        /// span, under the span lock. Whether it got objects.
        pub(crate) fn refill_bin(&self, class: usize) -> bool {
            let b = self.bin(class);
            self.take_from(b, b.slab(), class)
        }

        /// malloc's fast path for `class`, while the bin holds objects (0
        /// when it is empty: the slow path is not modelled).
        pub(crate) fn malloc_fast(&self, class: usize) -> usize {
            if self.bin(class).bits.load(Relaxed) == 0 {
                return 0;
            }
            self.alloc(class)
        }

        /// free() of `p` from `s`, owned by this heap: the fast path.
        pub(crate) fn free_own(&self, s: &'static SlabMeta, p: usize) {
            self.free_local(s, p)
        }

        /// [`Heap::collect_owned`] without acting on what it freed (the
        /// policy's list moves and page returns are not modelled): give the
        /// bin's objects of `s` back to its bitmap, fold in its remote frees.
        pub(crate) fn collect_own(&self, s: &SlabMeta) -> crate::slab::Collected {
            self.flush_word_of(s);
            s.collect()
        }

        /// The heap's notification stack.
        pub(crate) fn stack(&self) -> &crate::sync::atomic::AtomicU32 {
            &self.queue.0
        }

        /// The free objects the bin of `class` holds: (word, bits).
        pub(crate) fn bin_free(&self, class: usize) -> (usize, u64) {
            let b = self.bin(class);
            (b.tag.word.load(Relaxed), b.bits.load(Relaxed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fork_child_closes_bin_changes_left_open() {
        let h = Heap::new();
        let b = h.bin(3);
        let s = SlabMeta::empty();
        // An owner that stopped between begin_change and end_change.
        b.begin_change();
        b.tag.word.store(0, Relaxed);
        b.bits.store(!0, Relaxed);
        b.abandon();
        assert_eq!(b.tag.seq.load(Relaxed) & 1, 0, "the change is closed");
        assert!(core::ptr::eq(b.slab(), &EMPTY));
        // Readers answer at once, from the bitmap alone.
        let t = std::time::Instant::now();
        assert!(!b.free_here(&s, 0, 1));
        assert!(t.elapsed() < std::time::Duration::from_millis(50));
        // A bin at rest is left untouched.
        let seq = b.tag.seq.load(Relaxed);
        b.abandon();
        assert_eq!(b.tag.seq.load(Relaxed), seq);
    }
}
