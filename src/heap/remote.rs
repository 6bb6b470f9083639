//! Frees from other threads, and the protocol that brings them to the
//! span's collector.
//!
//! A thread freeing an object of a span it does not own sets the object's
//! bit in the span's `pend` bitmap, then makes sure the collector will see
//! it: an orphan is collected by the freeing thread itself under the span's
//! try-lock; an owned span is pushed on the owner heap's notification stack
//! (once: `queued` stays set until the owner pops it). The owner folds the
//! pending bits in on its slow paths.
//!
//! Invariant (checked by the model tests): a span with `queued` set is on
//! exactly one heap's stack, or in the hands of a thread that will push it
//! back or route it; and a heap whose thread exited has an empty stack once
//! every pusher has finished. A pusher that finds the span's owner changed
//! after its push takes that heap's whole stack and routes every span on it
//! to its current collector; routing is a loop over a work list, never a
//! recursion, so no notification is ever left behind a depth limit.
//!
//! Owners that sit idle are helped: another thread (a busy heap's
//! housekeeping, or the background thread) takes an idle heap's stack, gives
//! back the pages its spans no longer use (remote frees count as free), and
//! pushes the spans back for the owner to fold in when it wakes.

use super::{Heap, heap_at};
use crate::counters::{COUNTERS, inc};
use crate::diag;
use crate::epoch;
use crate::huge;
use crate::pages;
use crate::pool;
use crate::region::{self, link, link_of};
use crate::slab::{FreeError, List, NO_OWNER, SlabMeta, State};
use crate::sync::atomic::AtomicU32;
use crate::tls;
use core::sync::atomic::{AtomicU64, Ordering::*};

/// An owner whose last slow path is this old counts as idle.
const IDLE_MS: u64 = 50;
/// Helping idle heaps runs at most this often (process-wide).
const HELP_EVERY_MS: u64 = 25;
static NEXT_HELP: AtomicU64 = AtomicU64::new(0);
/// Remote frees counted (over all heaps) when every waiting heap was last
/// helped: while the count stands still there is nothing new to give back.
static HELPED_AT: AtomicU64 = AtomicU64::new(0);

/// Remote frees made so far by all threads.
fn remote_total() -> u64 {
    let mut n = COUNTERS.heapless_frees.load(Relaxed);
    super::for_each_heap(|h| n += h.remote_frees.load(Relaxed));
    n
}

/// Whether some heap has remote frees waiting that nobody helped with yet
/// (the background thread keeps ticking while so).
pub fn help_wanted() -> bool {
    if remote_total() == HELPED_AT.load(Relaxed) {
        return false;
    }
    let mut any = false;
    super::for_each_heap(|h| any |= h.is_live() && h.queue.0.load(Relaxed) != 0);
    any
}

impl Heap {
    /// Whether this heap's bin or `s`'s bitmap holds object (`w`, `bit`)
    /// of `s` as free ([`super::Bin::free_here`]). Read by other threads:
    /// exact when the two frees of a double free are ordered by the
    /// program's own synchronisation. `kind`: the object's chunk kind
    /// as [`SlabMeta::find`] read it (a chunk that changed class since is
    /// caught after, by [`SlabMeta::kind_changed`]).
    fn bin_free_here(&self, s: &SlabMeta, w: usize, bit: u64, kind: u32) -> bool {
        self.bin(s.class_of_kind(kind)).free_here(s, w, bit)
    }

    /// Handle every span on this heap's notification stack.
    pub(super) fn drain_queue(&self) {
        drain(Live, self.addr());
    }

    /// Fold remote frees into an owned span and act on what they freed.
    pub(super) fn collect_owned(&self, s: &'static SlabMeta) {
        self.flush_word_of(s);
        let c = s.collect();
        diag::check_collected(c, s);
        let used = s.used.load(Relaxed);
        if c.freed > 0 && used <= s.mark.load(Relaxed) {
            self.on_mark(s, used);
        }
    }
}

/// What the notification protocol needs from the rest of the allocator.
/// zslab's own is [`Live`] (the region's metadata, the heaps, the pools);
/// the models (`src/tests/models/`) bring their own spans and heaps and run
/// the same protocol functions over them.
pub(crate) trait Spans<'a>: Copy {
    /// The span of link `l` (slab index + 1; 0 = none).
    fn link(self, l: u32) -> Option<&'a SlabMeta>;
    /// The link of span `s`.
    fn link_of(self, s: &SlabMeta) -> u32;
    /// The notification stack of the heap at `owner` (above NO_OWNER).
    fn stack(self, owner: usize) -> &'a AtomicU32;
    /// Fold the remote frees of `s` in as its owner `owner` (the caller).
    fn collect_owned(self, owner: usize, s: &'a SlabMeta);
    /// Fold the remote frees of orphan `s` in (its lock held); whether
    /// that reclaimed it ([`pool::fold_orphan`]).
    fn fold_orphan(self, s: &'a SlabMeta) -> bool;
    /// Give back the free pages of `s` (its lock held) for an idle owner.
    fn purge(self, s: &'a SlabMeta) -> usize;
    /// Someone may want to help an idle owner.
    fn ring(self);
}

/// The allocator's own spans and heaps.
#[derive(Clone, Copy)]
pub(crate) struct Live;

impl Spans<'static> for Live {
    #[inline(always)]
    fn link(self, l: u32) -> Option<&'static SlabMeta> {
        link(l)
    }
    #[inline(always)]
    fn link_of(self, s: &SlabMeta) -> u32 {
        link_of(s)
    }
    #[inline(always)]
    fn stack(self, owner: usize) -> &'static AtomicU32 {
        // SAFETY: owners above NO_OWNER are heap addresses.
        &unsafe { heap_at(owner) }.queue.0
    }
    #[inline(always)]
    fn collect_owned(self, owner: usize, s: &'static SlabMeta) {
        // SAFETY: owners above NO_OWNER are heap addresses.
        unsafe { heap_at(owner) }.collect_owned(s)
    }
    #[inline(always)]
    fn fold_orphan(self, s: &'static SlabMeta) -> bool {
        pool::fold_orphan(s, epoch::era())
    }
    #[inline(always)]
    fn purge(self, s: &'static SlabMeta) -> usize {
        let n = pages::purge_free(s);
        // The owner was idle: if it needs them again, that is no sign
        // its own policy returned them too early.
        s.purged_at.store(0, Relaxed);
        if n > 0 {
            inc(&COUNTERS.helped_spans);
        }
        n
    }
    #[inline(always)]
    fn ring(self) {
        pool::BELL.ring();
    }
}

/// Push the chain `first..=last` (linked through `qnext`) on `stack`.
pub(crate) fn push_chain<'a, E: Spans<'a>>(
    env: E,
    stack: &AtomicU32,
    first: &'a SlabMeta,
    last: &'a SlabMeta,
) {
    let me = env.link_of(first);
    let mut head = stack.load(SeqCst);
    loop {
        last.qnext.store(head, Relaxed);
        match stack.compare_exchange_weak(head, me, SeqCst, SeqCst) {
            Ok(_) => return,
            Err(x) => head = x,
        }
    }
}

/// Handle every span on the notification stack of the heap at `me`, as
/// that heap (its owner thread, or the thread tearing it down).
pub(crate) fn drain<'a, E: Spans<'a>>(env: E, me: usize) {
    loop {
        let l = env.stack(me).swap(0, SeqCst);
        if l == 0 {
            return;
        }
        route_chain(env, l, Some(me));
    }
}

/// Check and record a free of `p` from active span `h` by a thread that is
/// not its collector: refused if not live, not an object, free in the
/// owner's bin, free in the bitmap or pending already; else its pending
/// bit is set (the caller then routes the span, [`route_one`]).
#[inline(always)]
pub(crate) fn mark_remote(h: &SlabMeta, p: usize) -> Result<(), FreeError> {
    h.check_live().map_err(|_| h.refusal(p))?;
    let (w, bit, kind) = h.find(p).ok_or(FreeError::Invalid)?;
    // A free object moves from `pend` (another thread's free) to the
    // bitmap (folded in) to the owner's bin (taken out for malloc) and
    // back to the bitmap (the bin given back); each move puts it in its
    // new place before it leaves the old, or happens inside a bin change.
    // Looking in that order (pending, then the bin and the bitmap in one
    // consistent view), an object freed before this call began is found
    // wherever it moved meanwhile: an ordered double free is caught here.
    if h.pending_now(w, bit) {
        return Err(FreeError::DoubleFree);
    }
    let o = h.owner.load(SeqCst);
    // SAFETY: owners above NO_OWNER are heap addresses.
    if o > NO_OWNER && unsafe { heap_at(o) }.bin_free_here(h, w, bit, kind) {
        return Err(FreeError::DoubleFree);
    }
    // (A chunk of a shared span that changed class meanwhile is caught
    // there too: the object was free.)
    h.free_remote_bit(w, bit, kind)
}

/// Free `p` from slab `s` of the region when the calling thread (slot
/// value `v`) does not own `s`: an interior slab of a span or huge block,
/// a huge block, or another thread's span.
#[cold]
#[inline(never)]
pub fn free_other(v: usize, s: &'static SlabMeta, p: usize) {
    let h = region::head_of(s);
    match h.state.load(Acquire) {
        State::Huge | State::HugeCached => return huge::free(h, p, "free"),
        State::Active if h.owner.load(Relaxed) == v && tls::is_heap(v) => {
            // A medium object outside its span's first slab: ours after all.
            // SAFETY: the owner is a heap address equal to our slot.
            return unsafe { heap_at(v) }.free_local(h, p);
        }
        _ => {}
    }
    if let Err(e) = mark_remote(h, p) {
        return diag::free_error(e, p, Some(h), "free");
    }
    // A thread that only ever frees gets its counts kept thread-locally
    // once it has a heap; before that, one shared counter.
    let me = if tls::is_heap(v) {
        // SAFETY: the slot holds a heap address.
        Some(unsafe { heap_at(v) })
    } else {
        None
    };
    match me {
        Some(m) => m
            .remote_frees
            .store(m.remote_frees.load(Relaxed) + 1, Relaxed),
        None => inc(&COUNTERS.heapless_frees),
    }
    notify(Live, h, me.map(|m| m.addr()));
}

/// After a remote free set a pending bit of `h`: make sure its collector
/// will fold it in (`me`: the freeing thread's heap, if it has one).
#[inline(always)]
pub(crate) fn notify<'a, E: Spans<'a>>(env: E, h: &'a SlabMeta, me: Option<usize>) {
    // A stack taken over from an owner that let go (`h` itself among its
    // spans, still marked queued) is ours to route: dropped, its spans
    // would stay marked queued on no stack, their frees never folded in.
    let work = route_one(env, h, me, 0);
    route_chain(env, work, me);
}

/// Route the chain starting at link `l` (spans popped off a stack, each
/// still marked queued) to their collectors; `me`: the calling thread's
/// heap, if it has one.
pub(crate) fn route_chain<'a, E: Spans<'a>>(env: E, l: u32, me: Option<usize>) {
    let mut work = l;
    while let Some(s) = env.link(work) {
        work = s.qnext.load(Relaxed);
        s.queued.store(false, SeqCst);
        work = route_one(env, s, me, work);
    }
}

/// Make sure the pending frees of `s` reach its collector: its owner (via
/// the owner's stack), the caller itself if it owns `s` (`me`: the calling
/// thread's heap), or, for an orphan, the caller under the span's
/// try-lock. Returns the work list `work` with any stack this had to take
/// over prepended.
pub(crate) fn route_one<'a, E: Spans<'a>>(
    env: E,
    s: &'a SlabMeta,
    me: Option<usize>,
    mut work: u32,
) -> u32 {
    loop {
        let o = s.owner.load(SeqCst);
        if o == NO_OWNER {
            match pool::collect_orphan_with(s, || env.fold_orphan(s)) {
                // Adopted meanwhile: tell the new owner.
                Some(_) => continue,
                None => return work,
            }
        }
        if o <= NO_OWNER {
            // Not in use by anyone (reclaimed meanwhile): nothing to do.
            return work;
        }
        if me == Some(o) {
            env.collect_owned(o, s);
            return work;
        }
        // Already queued (the common case while frees stream in): the
        // drainer clears the flag before folding, so it will see our bit.
        if s.queued.load(SeqCst) || s.queued.swap(true, SeqCst) {
            return work;
        }
        push_chain(env, env.stack(o), s, s);
        // An idle owner may need help giving these pages back.
        env.ring();
        // The owner may have let go of the span before our push landed;
        // then nobody would look at its stack for this span: take it over.
        if s.owner.load(SeqCst) != o {
            let taken = env.stack(o).swap(0, SeqCst);
            work = prepend(env, taken, work);
        }
        return work;
    }
}

/// Put chain `a` in front of chain `b`.
fn prepend<'a, E: Spans<'a>>(env: E, a: u32, b: u32) -> u32 {
    let Some(mut t) = env.link(a) else { return b };
    while let Some(n) = env.link(t.qnext.load(Relaxed)) {
        t = n;
    }
    t.qnext.store(b, Relaxed);
    a
}

/// Make `s` an orphan: no owner; reclaimed if empty, offered for adoption
/// if it has room in the current epoch, its free pages queued to go back.
pub(super) fn orphan(s: &'static SlabMeta) {
    orphan_with(Live, s);
}

/// [`orphan`] over `env`'s spans.
pub(crate) fn orphan_with<'a, E: Spans<'a>>(env: E, s: &'a SlabMeta) {
    s.lock.lock();
    s.owner.store(NO_OWNER, SeqCst);
    s.list.set(List::Free);
    let reclaimed = env.fold_orphan(s);
    s.lock.unlock();
    if !reclaimed {
        inc(&COUNTERS.orphaned_spans);
        if s.has_pending() {
            let _ = pool::collect_orphan_with(s, || env.fold_orphan(s));
        }
    }
}

/// In a fork child: fold in span `s` of heap `h`, which was left marked
/// queued by a parent thread caught mid-push.
pub fn route_for_fork(s: &'static SlabMeta, h: &Heap) {
    let work = route_one(Live, s, Some(h.addr()), 0);
    route_chain(Live, work, Some(h.addr()));
}

/// Give back, on behalf of heaps whose thread has been idle for a while,
/// the pages that remote frees emptied in their spans (`force`: whatever
/// their idle time, and however recently this last ran). Returns the bytes.
pub fn help_idle(now: u64, force: bool) -> usize {
    if !force {
        let due = NEXT_HELP.load(Relaxed);
        if now < due
            || NEXT_HELP
                .compare_exchange(due, now + HELP_EVERY_MS, Relaxed, Relaxed)
                .is_err()
        {
            return 0;
        }
    }
    let total = remote_total();
    if !force && total == HELPED_AT.load(Relaxed) {
        return 0;
    }
    let me = super::current();
    let mut bytes = 0;
    let mut skipped = false;
    super::for_each_heap(|h| {
        if !h.is_live() || h.queue.0.load(Relaxed) == 0 || me.is_some_and(|m| core::ptr::eq(m, h)) {
            return;
        }
        if !force && now.saturating_sub(h.last_active.load(Relaxed)) < IDLE_MS {
            skipped = true;
            return;
        }
        bytes += help(h);
    });
    if !skipped {
        HELPED_AT.store(total, Relaxed);
    }
    bytes
}

/// Take `h`'s stack, give back its spans' free pages, push them back one
/// by one (each push followed by the pusher's owner check).
fn help(h: &'static Heap) -> usize {
    help_with(Live, h.addr())
}

/// [`help`] the heap at `owner` over `env`'s spans.
pub(crate) fn help_with<'a, E: Spans<'a>>(env: E, owner: usize) -> usize {
    let mut bytes = 0;
    let mut l = env.stack(owner).swap(0, SeqCst);
    while let Some(s) = env.link(l) {
        l = s.qnext.load(Relaxed);
        s.lock.lock();
        if s.owner.load(SeqCst) == owner && s.state.get() == State::Active {
            bytes += env.purge(s);
        }
        s.lock.unlock();
        // Still marked queued: back on its owner's stack it goes. If the
        // owner let go of it meanwhile (exiting, or reclaiming), the owner's
        // last drain may have missed it: take the stack over and route it.
        push_chain(env, env.stack(owner), s, s);
        if s.owner.load(SeqCst) != owner {
            route_chain(env, env.stack(owner).swap(0, SeqCst), None);
        }
    }
    bytes
}
