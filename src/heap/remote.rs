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
    /// Whether this heap's bin holds object (`w`, `bit`) of `s` as free.
    /// Read by other threads: exact when the two frees of a double free
    /// are ordered by the program's own synchronisation.
    fn bin_holds_free(&self, s: &SlabMeta, w: usize, bit: u64) -> bool {
        self.bin(s.class.load(Relaxed) as usize)
            .holds_free(s, w, bit)
    }

    fn push_queue(&self, s: &'static SlabMeta) {
        push_chain(self, s, s);
    }

    /// Handle every span on this heap's notification stack.
    pub(super) fn drain_queue(&self) {
        loop {
            let l = self.queue.0.swap(0, SeqCst);
            if l == 0 {
                return;
            }
            route_chain(l, Some(self));
        }
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

/// Push the chain `first..=last` (linked through `qnext`) on `h`'s stack.
fn push_chain(h: &Heap, first: &'static SlabMeta, last: &'static SlabMeta) {
    let me = link_of(first);
    let mut head = h.queue.0.load(SeqCst);
    loop {
        last.qnext.store(head, Relaxed);
        match h.queue.0.compare_exchange_weak(head, me, SeqCst, SeqCst) {
            Ok(_) => return,
            Err(x) => head = x,
        }
    }
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
    let checked = h.check_live().map_err(|_| h.refusal(p)).and_then(|()| {
        let (w, bit) = h.locate(p).ok_or(FreeError::Invalid)?;
        // An object free in its owner's bin looks allocated in the bitmap.
        let o = h.owner.load(SeqCst);
        // SAFETY: owners above NO_OWNER are heap addresses.
        if o > NO_OWNER && unsafe { heap_at(o) }.bin_holds_free(h, w, bit) {
            return Err(FreeError::DoubleFree);
        }
        h.free_remote_bit(w, bit)
    });
    if let Err(e) = checked {
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
    route_one(h, me, 0);
}

/// Route the chain starting at link `l` (spans popped off a stack, each
/// still marked queued) to their collectors.
fn route_chain(l: u32, me: Option<&Heap>) {
    let mut work = l;
    while let Some(s) = link(work) {
        work = s.qnext.load(Relaxed);
        s.queued.store(false, SeqCst);
        work = route_one(s, me, work);
    }
}

/// Make sure the pending frees of `s` reach its collector: its owner (via
/// the owner's stack), the caller itself if it owns `s`, or, for an orphan,
/// the caller under the span's try-lock. Returns the work list `work` with
/// any stack this had to take over prepended.
fn route_one(s: &'static SlabMeta, me: Option<&Heap>, mut work: u32) -> u32 {
    loop {
        let o = s.owner.load(SeqCst);
        if o == NO_OWNER {
            match pool::collect_orphan(s, epoch::era()) {
                // Adopted meanwhile: tell the new owner.
                Some(_) => continue,
                None => return work,
            }
        }
        if o <= NO_OWNER {
            // Not in use by anyone (reclaimed meanwhile): nothing to do.
            return work;
        }
        if let Some(h) = me {
            if h.addr() == o {
                h.collect_owned(s);
                return work;
            }
        }
        // Already queued (the common case while frees stream in): the
        // drainer clears the flag before folding, so it will see our bit.
        if s.queued.load(SeqCst) || s.queued.swap(true, SeqCst) {
            return work;
        }
        // SAFETY: owners above NO_OWNER are heap addresses.
        let owner = unsafe { heap_at(o) };
        owner.push_queue(s);
        // An idle owner may need help giving these pages back.
        pool::BELL.ring();
        // The owner may have let go of the span before our push landed;
        // then nobody would look at its stack for this span: take it over.
        if s.owner.load(SeqCst) != o {
            let taken = owner.queue.0.swap(0, SeqCst);
            work = prepend(taken, work);
        }
        return work;
    }
}

/// Put chain `a` in front of chain `b`.
fn prepend(a: u32, b: u32) -> u32 {
    let Some(mut t) = link(a) else { return b };
    while let Some(n) = link(t.qnext.load(Relaxed)) {
        t = n;
    }
    t.qnext.store(b, Relaxed);
    a
}

/// Make `s` an orphan: no owner; reclaimed if empty, offered for adoption
/// if it has room in the current epoch, its free pages queued to go back.
pub(super) fn orphan(s: &'static SlabMeta) {
    s.lock.lock();
    s.owner.store(NO_OWNER, SeqCst);
    s.list.set(List::Free);
    let reclaimed = pool::fold_orphan(s, epoch::era());
    s.lock.unlock();
    if !reclaimed {
        inc(&COUNTERS.orphaned_spans);
        if s.has_pending() {
            let _ = pool::collect_orphan(s, epoch::era());
        }
    }
}

/// In a fork child: fold in span `s` of heap `h`, which was left marked
/// queued by a parent thread caught mid-push.
pub fn route_for_fork(s: &'static SlabMeta, h: &Heap) {
    let _ = route_one(s, Some(h), 0);
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
    let mut bytes = 0;
    let mut l = h.queue.0.swap(0, SeqCst);
    while let Some(s) = link(l) {
        l = s.qnext.load(Relaxed);
        s.lock.lock();
        if s.owner.load(SeqCst) == h.addr() && s.state.get() == State::Active {
            let n = pages::purge_free(s);
            // The owner was idle: if it needs them again, that is no sign
            // its own policy returned them too early.
            s.purged_at.store(0, Relaxed);
            if n > 0 {
                bytes += n;
                inc(&COUNTERS.helped_spans);
            }
        }
        s.lock.unlock();
        // Still marked queued: back on its owner's stack it goes. If the
        // owner let go of it meanwhile (exiting, or reclaiming), the owner's
        // last drain may have missed it: take the stack over and route it.
        h.push_queue(s);
        if s.owner.load(SeqCst) != h.addr() {
            route_chain(h.queue.0.swap(0, SeqCst), None);
        }
    }
    bytes
}
