//! What a heap does when one of its spans thins out (a free brought its
//! `used` count to its `mark`): move it between the full list and the
//! partial bands, reclaim it when empty, and decide when the pages it no
//! longer uses go back to the OS.
//!
//! The policy (docs/design.md, "Memory return"): an unmodified program
//! never says that a phase ended, but its heap sees it: spans thin out one
//! after another while none is taken for allocation. A span falling below
//! half full adds one to the heap's drain count (once per fill) and each
//! span taken for allocation takes one off, so balanced churn stays near
//! zero; at `drain_limit` the heap is *draining* and gives free pages back
//! at once, as its frees happen. Otherwise a thinned-out span is queued and its
//! free pages go back after the purge delay, unless it filled up again.
//! Pages needed again soon after they went back (a batch workload, not a
//! phase end) double both the limit and the delay; calm halves them back.
//! What one heap learns is also a floor for every heap ([`SHARED`]): when
//! short-lived threads each end in a burst of frees, one thread's heap
//! gives pages back and the next thread's faults them in, and neither
//! heap sees both halves.

use super::{BANDS, DRAIN_BASE, DRAIN_MAX, Heap};
use crate::counters::{COUNTERS, inc};
use crate::os;
use crate::pages;
use crate::pool;
use crate::slab::{List, SlabMeta};
use core::sync::atomic::Ordering::*;
use core::sync::atomic::{AtomicU32, AtomicU64};

/// Returned pages needed again within this many ms count as thrashing: a
/// program that reuses memory that quickly is churning, not between phases
/// (a page fault costs about as much as keeping the page for this long is
/// worth).
const THRASH_WINDOW_MS: u64 = 100;
/// Refaults below this many pages in a window say nothing about batches.
const MIN_BATCH_PAGES: u64 = 64;
/// Calm (no thrashing) for this long halves the limit and delay.
const CALM_MS: u64 = 5000;
/// Ceiling of the adaptive purge delay.
const MAX_DELAY_MS: u64 = 10_000;

/// The process-wide half of the policy: pages given back and faulted in
/// again by any heap in the current window, and floors under every heap's
/// drain limit and purge delay (0: none). Updated with plain loads and
/// stores: a lost update only delays the learning by a window.
struct Shared {
    window_at: AtomicU64,
    purged: AtomicU64,
    refaulted: AtomicU64,
    limit: AtomicU32,
    delay: AtomicU64,
    last_thrash: AtomicU64,
}

static SHARED: Shared = Shared {
    window_at: AtomicU64::new(0),
    purged: AtomicU64::new(0),
    refaulted: AtomicU64::new(0),
    limit: AtomicU32::new(0),
    delay: AtomicU64::new(0),
    last_thrash: AtomicU64::new(0),
};

impl Shared {
    fn window(&self, now: u64) {
        if now.saturating_sub(self.window_at.load(Relaxed)) >= THRASH_WINDOW_MS {
            self.window_at.store(now, Relaxed);
            self.purged.store(0, Relaxed);
            self.refaulted.store(0, Relaxed);
        }
    }

    fn raise(&self, limit: u32, delay: u64, now: u64) {
        self.last_thrash.store(now, Relaxed);
        if limit > self.limit.load(Relaxed) {
            self.limit.store(limit, Relaxed);
        }
        if delay > self.delay.load(Relaxed) {
            self.delay.store(delay, Relaxed);
        }
    }

    fn relax(&self, now: u64) {
        if now.saturating_sub(self.last_thrash.load(Relaxed)) < CALM_MS {
            return;
        }
        let l = self.limit.load(Relaxed);
        let d = self.delay.load(Relaxed);
        if l == 0 && d == 0 {
            return;
        }
        self.limit
            .store(if l / 2 > DRAIN_BASE { l / 2 } else { 0 }, Relaxed);
        let base = pool::purge_delay_default().max(1);
        self.delay
            .store(if d / 2 > base { d / 2 } else { 0 }, Relaxed);
        self.last_thrash.store(
            now.saturating_sub(CALM_MS - THRASH_WINDOW_MS.min(CALM_MS)),
            Relaxed,
        );
    }
}

/// The occupancy band of a span with `used` of `cap` objects: more than
/// half, a quarter, an eighth used, or less.
pub(super) fn band_of(cap: u32, used: u32) -> usize {
    if used > cap / 2 {
        0
    } else if used > cap / 4 {
        1
    } else if used > cap / 8 {
        2
    } else {
        3
    }
}

/// The `used` count at which a span with `used` of `cap` objects calls
/// back next: where it enters the next band, and in the last band each
/// time a quarter of what is left has gone (each call gives back the pages
/// freed since, so a span that ends a phase with a few survivors has given
/// back nearly every page they do not sit on).
fn next_mark(cap: u32, used: u32) -> u32 {
    // Spans of a few large objects (the medium classes): every free frees
    // pages, so every free calls back.
    if cap <= 16 {
        return used.saturating_sub(1);
    }
    match band_of(cap, used) {
        0 => cap / 2,
        1 => cap / 4,
        2 => cap / 8,
        _ => used.saturating_sub(used / 4 + 1),
    }
}

impl Heap {
    /// The mark of span `s` as it is now.
    pub(super) fn band_mark(s: &SlabMeta) -> u32 {
        next_mark(s.cap.load(Relaxed), s.used.load(Relaxed))
    }

    /// The drain count at which this heap is draining: its own limit, or
    /// what the heaps learned together if that is higher.
    fn limit(&self) -> u32 {
        self.drain_limit
            .load(Relaxed)
            .max(SHARED.limit.load(Relaxed))
    }

    /// How long a thinned-out span waits before its free pages go back.
    fn delay(&self) -> u64 {
        self.purge_delay
            .load(Relaxed)
            .max(SHARED.delay.load(Relaxed))
    }

    /// Whether the heap is giving pages back as its frees happen.
    fn draining(&self) -> bool {
        self.drain.load(Relaxed) >= self.limit()
    }

    /// A free brought span `s` (owned by this heap) to `used` objects, at
    /// or below its mark.
    #[cold]
    #[inline(never)]
    pub(super) fn on_mark(&self, s: &'static SlabMeta, used: u32) {
        let cap = s.cap.load(Relaxed);
        // A span counts toward phase-end detection once per fill: when it
        // first falls below half (the mark that fired was at least half).
        let first = s.mark.load(Relaxed) >= cap / 2 && used <= cap / 2;
        let class = s.class.load(Relaxed) as usize;
        let l = self.lists(class);
        match s.list.get() {
            List::Current => {
                // Kept: the next malloc reuses it; its free pages go back
                // now while draining, else if it stays unused for a while.
                // (Not counted toward a phase end: allocation refills it.)
                s.mark.store(next_mark(cap, used), Relaxed);
                self.purge_or_queue(s, os::now_coarse_ms());
                return;
            }
            List::Partial | List::Full | List::Retired if used == 0 => {
                if s.queued.load(SeqCst) {
                    // A remote free is on its way to us: the drain folds it
                    // in and reclaims the span then.
                    s.mark.store(0, Relaxed);
                    return;
                }
                self.unlink(s);
                self.release_empty(s);
                self.thinned(None, first);
                return;
            }
            List::Full => {
                l.full.unlink(s);
                let band = band_of(cap, used);
                l.partial[band].push_front(s, List::Partial);
                s.band.store(band as u8, Relaxed);
                s.mark.store(next_mark(cap, used), Relaxed);
                if band == 0 {
                    return;
                }
            }
            List::Partial => {
                let band = band_of(cap, used);
                let old = s.band.load(Relaxed) as usize % BANDS;
                if band != old {
                    l.partial[old].unlink(s);
                    l.partial[band].push_front(s, List::Partial);
                    s.band.store(band as u8, Relaxed);
                }
                s.mark.store(next_mark(cap, used), Relaxed);
            }
            List::Retired => {
                s.mark.store(next_mark(cap, used), Relaxed);
                // Spans that thin out go to the oldest end, where reuse
                // for a later epoch looks first.
                l.retired.unlink(s);
                l.retired.push_back(s, List::Retired);
            }
            List::Free | List::Adoptable | List::HugeCache => return,
        }
        self.thinned(Some(s), first);
    }

    /// Span `s` thinned out (`None`: a span emptied and was reclaimed);
    /// `count`: for the first time since it was filled.
    pub(super) fn thinned(&self, s: Option<&'static SlabMeta>, count: bool) {
        let now = os::now_coarse_ms();
        if count {
            let d = (self.drain.load(Relaxed) + 1).min(DRAIN_MAX * 2);
            self.drain.store(d, Relaxed);
            if d > self.drain_peak.load(Relaxed) {
                self.drain_peak.store(d, Relaxed);
            }
            let l = self.limit();
            // A phase ended (once per episode: a count hovering at the
            // limit does not repeat this): caches grown for churn shrink
            // back, and spans already waiting to give pages back do it now.
            if d == l && now.saturating_sub(self.drained_at.load(Relaxed)) >= THRASH_WINDOW_MS {
                self.drained_at.store(now, Relaxed);
                inc(&COUNTERS.drains);
                pool::trim_to_base();
                pool::purge_due(now, true);
                pool::note_drain(now);
                crate::huge::purge_cache();
            }
        }
        let Some(s) = s else { return };
        s.stamp.store(now, Relaxed);
        self.purge_or_queue(s, now);
    }

    /// Give back the free pages of thinned-out span `s` now if the heap is
    /// draining, and look at it again later either way.
    fn purge_or_queue(&self, s: &'static SlabMeta, now: u64) {
        if self.draining() {
            self.purge_now(s);
            // The frees after this one may not reach the span's next mark
            // (the last quarter of a thinning span, or the few garbage
            // objects left around its survivors), and their pages would
            // stay until the span is touched again: a program that drops
            // a phase and then sleeps may never touch it (and a
            // single-threaded one has no background thread to run the
            // queue). A drop frees a class's spans one after another, so
            // when the drain moves on to another span of the class, the
            // one before has had its last frees: look at it once more.
            let me = crate::region::link_of(s);
            let prev = self
                .lists(s.class.load(Relaxed) as usize)
                .drained
                .swap(me, Relaxed);
            if prev != me {
                if let Some(p) = crate::region::link(prev) {
                    self.purge_if_mine(p);
                }
            }
            // And once more when due, for the drain's last spans. A phase
            // has ended: the base delay, not one lengthened by thrashing
            // during the phase (the drain limit is what keeps batches from
            // draining).
            pool::queue_purge(s, now + pool::purge_delay_default());
        } else {
            pool::queue_purge(s, now + self.delay());
        }
    }

    /// Give back the free pages of span `s` if it is still an active span
    /// of this heap (it may have been reclaimed since it was noted).
    fn purge_if_mine(&self, s: &'static SlabMeta) {
        if s.owner.load(Relaxed) == self.addr() && s.state.get() == crate::slab::State::Active {
            self.purge_now(s);
        }
    }

    /// Give back the free pages of span `s` now.
    fn purge_now(&self, s: &'static SlabMeta) {
        s.lock.lock();
        let bytes = pages::purge_free(s);
        s.lock.unlock();
        let now = os::now_coarse_ms();
        let pages = (bytes >> os::PAGE_SHIFT) as u64;
        self.window(now);
        self.purged_pages
            .store(self.purged_pages.load(Relaxed) + pages, Relaxed);
        SHARED.window(now);
        SHARED
            .purged
            .store(SHARED.purged.load(Relaxed) + pages, Relaxed);
    }

    /// Start a new thrash window when the last one is over.
    fn window(&self, now: u64) {
        if now.saturating_sub(self.window_at.load(Relaxed)) >= THRASH_WINDOW_MS {
            self.window_at.store(now, Relaxed);
            self.purged_pages.store(0, Relaxed);
            self.refaulted_pages.store(0, Relaxed);
        }
    }

    /// A span was taken for allocation. While draining, that means the
    /// program allocates again (a new phase, or temporaries of the drop):
    /// the count falls to half the limit, so the next phase's drop is
    /// measured from there rather than from the top of the last one.
    pub(super) fn note_refill(&self) {
        let d = self.drain.load(Relaxed);
        let l = self.limit();
        let d = if d >= l { l / 2 } else { d.saturating_sub(1) };
        self.drain.store(d, Relaxed);
        if d == 0 {
            self.drain_peak.store(0, Relaxed);
        }
    }

    /// Pages of span `s` were needed again: if they went back recently,
    /// returning them was premature (a batch workload, not a phase end).
    pub(super) fn note_refault(&self, s: &SlabMeta, fresh: usize) {
        let purged = s.purged_at.load(Relaxed);
        if purged == 0 {
            return;
        }
        let now = os::now_coarse_ms();
        if now.saturating_sub(purged) >= THRASH_WINDOW_MS {
            return;
        }
        inc(&COUNTERS.thrashes);
        self.window(now);
        let refaulted = self.refaulted_pages.load(Relaxed) + fresh as u64;
        self.refaulted_pages.store(refaulted, Relaxed);
        // Pages given back at the end of a phase come back a few at a time
        // (the program's own temporaries); pages a batch workload frees and
        // refills come back wholesale: only then is the phase-end limit too
        // low. The batches are at least as large as the last one: wait for
        // more than that next time. Once per window each.
        let purged_here = self.purged_pages.load(Relaxed);
        if purged_here >= MIN_BATCH_PAGES && refaulted * 2 >= purged_here {
            self.purged_pages.store(0, Relaxed);
            self.refaulted_pages.store(0, Relaxed);
            let l = self.drain_limit.load(Relaxed);
            let peak = self.drain_peak.swap(0, Relaxed);
            self.drain_limit.store(
                l.saturating_mul(2)
                    .max(peak.saturating_mul(2))
                    .min(DRAIN_MAX),
                Relaxed,
            );
        }
        // The same judgement over every heap's purges: pages this heap
        // faults in may have been given back by another (a thread that
        // ended).
        SHARED.window(now);
        let shared_refaulted = SHARED.refaulted.load(Relaxed) + fresh as u64;
        SHARED.refaulted.store(shared_refaulted, Relaxed);
        let shared_purged = SHARED.purged.load(Relaxed);
        let mut raise = 0;
        if shared_purged >= MIN_BATCH_PAGES && shared_refaulted * 2 >= shared_purged {
            SHARED.purged.store(0, Relaxed);
            SHARED.refaulted.store(0, Relaxed);
            raise = self
                .limit()
                .saturating_mul(2)
                .max(self.drain_peak.load(Relaxed).saturating_mul(2))
                .min(DRAIN_MAX);
        }
        // A purge delay this short returns pages the program still uses.
        if now.saturating_sub(self.last_thrash.load(Relaxed)) >= THRASH_WINDOW_MS {
            self.last_thrash.store(now, Relaxed);
            let d = self.delay();
            self.purge_delay
                .store(d.saturating_mul(2).min(MAX_DELAY_MS), Relaxed);
        }
        SHARED.raise(
            raise.max(self.drain_limit.load(Relaxed)),
            self.purge_delay.load(Relaxed),
            now,
        );
    }

    /// After a calm period, bring the limit and delay back down.
    pub(super) fn relax(&self, now: u64) {
        SHARED.relax(now);
        if now.saturating_sub(self.last_thrash.load(Relaxed)) < CALM_MS
            || (self.drain_limit.load(Relaxed) <= DRAIN_BASE
                && self.purge_delay.load(Relaxed) <= pool::purge_delay_default().max(1))
        {
            return;
        }
        let l = self.drain_limit.load(Relaxed);
        if l > DRAIN_BASE {
            self.drain_limit.store((l / 2).max(DRAIN_BASE), Relaxed);
        }
        let base = pool::purge_delay_default().max(1);
        let d = self.purge_delay.load(Relaxed);
        if d > base {
            self.purge_delay.store((d / 2).max(base), Relaxed);
        }
        // The next halving after another calm period.
        self.last_thrash
            .store(now.saturating_sub(THRASH_WINDOW_MS), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_halve_down_to_empty() {
        for cap in [8u32, 12, 64, 1365, 4096] {
            for used in 1..=cap {
                let m = next_mark(cap, used);
                // The mark is below the current count, and the span calls
                // back when it crosses into the next band.
                assert!(m < used, "cap {cap} used {used} mark {m}");
                let b = band_of(cap, used);
                if b < 3 && cap > 16 {
                    assert_eq!(band_of(cap, m), b + 1, "cap {cap} used {used}");
                }
            }
            // From full to empty, a span calls back a logarithmic number of
            // times.
            let (mut used, mut calls) = (cap, 0);
            while used > 0 {
                used = next_mark(cap, used);
                calls += 1;
            }
            assert!(
                calls <= 3 + 4 * (32 - cap.leading_zeros()),
                "cap {cap}: {calls}"
            );
        }
    }
}
