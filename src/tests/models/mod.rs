//! Model checks of zslab's cross-thread protocols under the `shuttle`
//! model checker: the same code that ships, built over shuttle's atomics
//! (`crate::sync::atomic` under `--features model`), run under many
//! schedules: PCT (depth 3: finds, with high probability, the bugs that
//! need up to two preemptions at precise points) and uniformly random.
//!
//! Run with `make models`, or:
//!
//! ```text
//! cargo test --release -p zslab --features model --lib tests::models
//! ```
//!
//! `ZSLAB_MODEL_ITERS=N` sets the schedules per scheduler and model
//! (default 5000). A failing model prints the schedule that broke it, as
//! a string `shuttle::replay` takes to run that schedule again. Only the
//! models run in a `--features model` build: everything else would touch
//! shuttle's atomics outside a model.
//!
//! The models and their invariants (each test's name states it):
//!
//! - `slab`: a span's allocation state. Remote frees (`mark_remote`: the
//!   checks and the pending bit of `free_other`) racing the owner's
//!   collection, its own mallocs (the fast path), frees and bin refills
//!   lose no object and hand none out twice; ordered double frees are
//!   detected whichever thread makes each call, while the object moves
//!   between `pend`, the bitmap and the owner's bin (and, in a span shared
//!   by the 32- and 64-byte classes, while the object's chunk goes to the
//!   other class); racing double frees
//!   never corrupt; pages computed free under the span lock never hold an
//!   object out of the bitmap.
//! - `notify`: the notification stack. Pushes racing drains lose no span;
//!   a heap's exit (the steps of `Heap::abandon`: drain, orphan, drain)
//!   racing remote frees strands none; adoption racing a free loses
//!   nothing, is exclusive and takes only orphans of its era; helping an
//!   idle owner racing its exit strands no free and returns no page under
//!   an object.
//!
//! Not modelled, and why:
//!
//! - Weak memory. Shuttle runs every atomic as sequentially consistent,
//!   so the models check the protocols' logic under every interleaving
//!   they reach, not whether an `Acquire` could be `Relaxed`; the orderings
//!   are argued in the code's comments. (`loom` models weaker orderings
//!   but treats `SeqCst` operations as `AcqRel`, which would report false
//!   alarms on the Dekker patterns the protocols rely on.)
//! - The pools (hot caches, adoption lists, delayed purges) and the
//!   region's free runs: statics. The models stand in for what the
//!   protocol asks of them (`Env`: reclaiming marks a span `Cached`),
//!   keeping the decision itself shared (`SlabMeta::fold_orphan`,
//!   `pool::adopt_one`, `pool::collect_orphan_with`).
//! - What the owner does once frees are folded in (`Heap::on_mark`: list
//!   moves, page-return policy): heap-local, no other thread involved.
//! - Epoch advances racing allocation and retirement: an advance runs
//!   under one lock, and retiring is heap-local; the only shared word is
//!   the era, which the fast path reads relaxed, so an allocation racing
//!   an advance may land in the closing epoch's span (it is ordered
//!   before the advance; the design allows it). The cross-thread part,
//!   adoption checking the orphan's era, is modelled.
//! - Thread attachment and exit hooks (TLS, the key destructor): the
//!   models run the exit's steps in `Heap::abandon`'s order.
//!
//! Each model builds its own spans and heaps: statics and the region are
//! never touched (shuttle's atomics exist only inside an execution, and
//! executions must not share state).

mod notify;
mod slab;

use crate::heap::Heap;
use crate::heap::model::Spans;
use crate::slab::{NO_OWNER, SlabMeta, State, Taken};
use crate::sync::atomic::AtomicU32;
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::{Config, Runner};
use std::sync::atomic::{AtomicBool, AtomicU32 as Count, Ordering::SeqCst};

/// Schedules per scheduler for each model.
fn iterations() -> usize {
    std::env::var("ZSLAB_MODEL_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000)
}

fn config() -> Config {
    let mut c = Config::new();
    c.silence_warnings = true;
    // Heaps and slab metadata are built on a task's stack first.
    c.stack_size = 4 << 20;
    c
}

/// Run model `f` under PCT (depth 3) and under the random scheduler.
pub(super) fn check<F>(f: F)
where
    F: Fn() + Send + Sync + 'static,
{
    check_times(1, f)
}

/// [`check`] with `times` times the schedules, for a model whose losing
/// schedule is rare.
pub(super) fn check_times<F>(times: usize, f: F)
where
    F: Fn() + Send + Sync + 'static,
{
    let f = std::sync::Arc::new(f);
    let n = iterations() * times;
    let g = f.clone();
    Runner::new(PctScheduler::new(3, n), config()).run(move || g());
    Runner::new(RandomScheduler::new(n), config()).run(move || f());
}

/// Address of a model span's first object (never dereferenced).
const BASE: usize = 0x7000_0000_0000;

/// The spans and heaps of one execution of a model. Its threads share it
/// as `&'static` (the heaps' bins keep `'static` span references, as in
/// the allocator); [`World::end`] frees it once they have all joined.
pub(super) struct World {
    pub(super) spans: Vec<SlabMeta>,
    pub(super) heaps: Vec<Box<Heap>>,
    /// Objects a model thread holds (handed out and not freed), per span.
    live: Vec<Vec<AtomicBool>>,
    /// Objects an owner's bin holds (out of the bitmap), per span, as far
    /// as the model knows (it learns of them after the fact: the checks
    /// that use this can only be weaker for it, never wrong).
    binned: Vec<Vec<AtomicBool>>,
    /// Double frees the collectors reported (folding remote frees in).
    pub(super) doubles: Count,
}

impl World {
    /// `spans` spans of `class`, each active, every object free, owned by
    /// heap `owner[i]` (an index into the `heaps` new heaps, or `None`: an
    /// orphan).
    fn new(class: usize, owners: &[Option<usize>], heaps: usize) -> &'static World {
        let heaps: Vec<Box<Heap>> = (0..heaps).map(|_| Heap::boxed()).collect();
        let spans: Vec<SlabMeta> = owners.iter().map(|_| SlabMeta::empty()).collect();
        let cap = crate::sizeclass::class_capacity(class);
        let w = Box::leak(Box::new(World {
            spans,
            heaps,
            live: owners
                .iter()
                .map(|_| (0..cap).map(|_| AtomicBool::new(false)).collect())
                .collect(),
            binned: owners
                .iter()
                .map(|_| (0..cap).map(|_| AtomicBool::new(false)).collect())
                .collect(),
            doubles: Count::new(0),
        }));
        for (i, o) in owners.iter().enumerate() {
            let s = &w.spans[i];
            s.format(BASE + (i << 24), class);
            s.state.set(State::Active);
            s.owner
                .store(o.map_or(NO_OWNER, |h| w.heaps[h].owner()), SeqCst);
        }
        w
    }

    /// Free the world. Call after every thread of the execution joined.
    fn end(&'static self) {
        // SAFETY: `self` came from Box::leak in `new`, every thread that
        // used it has joined, and nothing keeps a reference past this.
        drop(unsafe { Box::from_raw(self as *const World as *mut World) });
    }

    fn span(&'static self, i: usize) -> &'static SlabMeta {
        &self.spans[i]
    }

    fn heap(&'static self, i: usize) -> &'static Heap {
        &self.heaps[i]
    }

    fn env(&'static self) -> Env {
        Env(self)
    }

    /// Address of object `i` of span `s`.
    fn addr(&self, s: &SlabMeta, i: usize) -> usize {
        s.base.load(SeqCst) + i * s.object_size()
    }

    fn index_of(&self, s: &SlabMeta) -> usize {
        (s as *const SlabMeta as usize - self.spans.as_ptr() as usize)
            / core::mem::size_of::<SlabMeta>()
    }

    /// Object index of address `p` in span `s`.
    fn object(&self, s: &SlabMeta, p: usize) -> usize {
        let (w, b) = s.locate(p).expect("an object of the span");
        w * 64 + b.trailing_zeros() as usize
    }

    /// The program got object `p` of `s` from malloc: it must not hold it
    /// already (no object is handed out twice).
    fn got(&self, s: &SlabMeta, p: usize) {
        let i = self.object(s, p);
        let was = self.live[self.index_of(s)][i].swap(true, SeqCst);
        assert!(!was, "object {i} handed out twice");
    }

    /// The program is about to free object `p` of `s`.
    fn gone(&self, s: &SlabMeta, p: usize) {
        let i = self.object(s, p);
        self.live[self.index_of(s)][i].store(false, SeqCst);
    }

    fn is_live(&self, s: &SlabMeta, i: usize) -> bool {
        self.live[self.index_of(s)][i].load(SeqCst)
    }

    /// Record that the bin holds objects `bits` of word `w` of `s` (after
    /// it took them) or no longer does (before it gives them back).
    fn binned(&self, s: &SlabMeta, (w, bits): (usize, u64), held: bool) {
        let mut b = if w == usize::MAX { 0 } else { bits };
        while b != 0 {
            let i = w * 64 + b.trailing_zeros() as usize;
            self.binned[self.index_of(s)][i].store(held, SeqCst);
            b &= b - 1;
        }
    }

    /// Whether object `i` of `s` is out of the bitmap: the program or a
    /// bin holds it.
    fn is_out(&self, s: &SlabMeta, i: usize) -> bool {
        self.is_live(s, i) || self.binned[self.index_of(s)][i].load(SeqCst)
    }

    fn note(&self, c: crate::slab::Collected) {
        self.doubles.fetch_add(c.doubles, SeqCst);
    }

    /// Take objects out of span `s`'s bitmap under its lock (what a bin
    /// refill does) and hand them to the program at once.
    fn take_live(&self, s: &SlabMeta) -> Option<Taken> {
        s.lock.lock();
        let t = s.take();
        s.lock.unlock();
        if let Some(t) = t {
            let mut bits = t.bits;
            while bits != 0 {
                let i = t.word * 64 + bits.trailing_zeros() as usize;
                self.got(s, self.addr(s, i));
                bits &= bits - 1;
            }
        }
        t
    }

    /// The allocation state of span `s` is exact once every thread has
    /// joined and its collector folded everything in: nothing pending or
    /// queued, an object is free in the bitmap exactly when the program
    /// does not hold it (`held`: the objects a bin holds as free, which
    /// are out of the bitmap), and `used` counts the objects out.
    fn assert_exact(&self, s: &SlabMeta, held: (usize, u64)) {
        assert!(!s.has_pending(), "remote frees left pending");
        assert!(!s.queued.load(SeqCst), "span left marked queued");
        let cap = s.cap.load(SeqCst) as usize;
        let mut out = 0;
        for i in 0..cap {
            let (w, b) = (i / 64, 1u64 << (i % 64));
            assert_eq!(s.pend[w].load(SeqCst) & b, 0, "object {i} pending");
            let in_bin = held.0 == w && held.1 & b != 0;
            let free = s.bm[w].load(SeqCst) & b != 0;
            let live = self.is_live(s, i);
            assert!(!(free && in_bin), "object {i} free twice (bitmap and bin)");
            assert_eq!(
                free || in_bin,
                !live,
                "object {i}: free {free}, bin {in_bin}, live {live}"
            );
            out += usize::from(!free);
        }
        assert_eq!(s.used.load(SeqCst) as usize, out, "used count");
    }
}

/// The notification protocol over a [`World`]'s spans and heaps.
#[derive(Clone, Copy)]
pub(super) struct Env(&'static World);

impl Spans<'static> for Env {
    fn link(self, l: u32) -> Option<&'static SlabMeta> {
        self.0.spans.get((l as usize).wrapping_sub(1))
    }
    fn link_of(self, s: &SlabMeta) -> u32 {
        self.0.index_of(s) as u32 + 1
    }
    fn stack(self, owner: usize) -> &'static AtomicU32 {
        let h = self.0.heaps.iter().find(|h| h.owner() == owner);
        h.expect("a model heap").stack()
    }
    fn collect_owned(self, owner: usize, s: &'static SlabMeta) {
        let h = self.0.heaps.iter().find(|h| h.owner() == owner);
        self.0.note(h.expect("a model heap").collect_own(s));
    }
    fn fold_orphan(self, s: &'static SlabMeta) -> bool {
        Env::fold_orphan_of(self, s)
    }
    /// Pages the helper may give back must hold no object out of the
    /// bitmap ([`World::assert_pages_free`]).
    fn purge(self, s: &'static SlabMeta) -> usize {
        self.0.assert_pages_free(s);
        0
    }
    fn ring(self) {}
}

impl Env {
    /// `pool::fold_orphan`'s decision ([`SlabMeta::fold_orphan`]); a
    /// reclaimed span becomes `Cached` (the pools are not modelled).
    pub(super) fn fold_orphan_of(self, s: &'static SlabMeta) -> bool {
        let (c, empty) = s.fold_orphan();
        self.0.note(c);
        if empty {
            s.state.set(State::Cached);
        }
        empty
    }
}

impl World {
    /// With `s`'s lock held: the pages `SlabMeta::free_pages` would give
    /// back hold no object the program holds.
    fn assert_pages_free(&self, s: &SlabMeta) {
        let size = s.object_size();
        let cap = s.cap.load(SeqCst) as usize;
        for k in 0..s.span.load(SeqCst) as usize {
            let free = s.free_pages(k);
            for j in 0..crate::sizeclass::SLAB_PAGES {
                if free & (1 << j) == 0 {
                    continue;
                }
                let (lo, hi) = (
                    (k * crate::sizeclass::SLAB_PAGES + j) * crate::os::PAGE,
                    (k * crate::sizeclass::SLAB_PAGES + j + 1) * crate::os::PAGE,
                );
                for i in 0..cap {
                    if i * size < hi && (i + 1) * size > lo {
                        assert!(
                            !self.is_out(s, i),
                            "page {j} of slab {k} given back under object {i}, which is out"
                        );
                    }
                }
            }
        }
    }
}

/// Silences file descriptor 2 while alive: zslab's own double-free reports
/// (write(2), not the test harness's captured output) would print once per
/// schedule in a model where the owner's free detects one.
pub(super) struct Quiet(libc::c_int);

impl Quiet {
    pub(super) fn new() -> Quiet {
        // SAFETY: plain descriptor calls on descriptors this owns; the
        // saved copy is restored on drop.
        unsafe {
            let saved = libc::dup(2);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            libc::dup2(null, 2);
            libc::close(null);
            Quiet(saved)
        }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        // SAFETY: restores the descriptor saved in `new`.
        unsafe {
            libc::dup2(self.0, 2);
            libc::close(self.0);
        }
    }
}
