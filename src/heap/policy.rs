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

use super::{BANDS, DRAIN_BASE, DRAIN_MAX, Heap};
use crate::counters::{COUNTERS, inc};
use crate::os;
use crate::pages;
use crate::pool;
use crate::slab::{List, SlabMeta};
use core::sync::atomic::Ordering::*;

/// Returned pages needed again within this many ms count as thrashing.
const THRASH_WINDOW_MS: u64 = 1000;
/// Calm (no thrashing) for this long halves the limit and delay.
const CALM_MS: u64 = 5000;
/// Ceiling of the adaptive purge delay.
const MAX_DELAY_MS: u64 = 10_000;

/// The occupancy band of a span with `used` of `cap` objects: more than
/// half, a quarter, an eighth used, or less.
fn band_of(cap: u32, used: u32) -> usize {
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

/// The `used` count at which a span in `band` moves to the next band.
fn mark_of(cap: u32, band: usize) -> u32 {
    match band {
        0 => cap / 2,
        1 => cap / 4,
        2 => cap / 8,
        _ => 0,
    }
}

impl Heap {
    /// The mark of span `s` as it is now.
    pub(super) fn band_mark(&self, s: &SlabMeta) -> u32 {
        let cap = s.cap.load(Relaxed);
        mark_of(cap, band_of(cap, s.used.load(Relaxed)))
    }

    /// Whether the heap is giving pages back as its frees happen.
    fn draining(&self) -> bool {
        self.drain.load(Relaxed) >= self.drain_limit.load(Relaxed)
    }

    /// A free brought span `s` (owned by this heap) to `used` objects, at
    /// or below its mark.
    #[cold]
    #[inline(never)]
    pub(super) fn on_mark(&self, s: &'static SlabMeta, used: u32) {
        let cap = s.cap.load(Relaxed);
        // A span counts toward phase-end detection once per fill: when it
        // first falls below half (the mark that fired was at least half).
        let first = s.mark.load(Relaxed) >= cap / 2;
        let class = s.class.load(Relaxed) as usize;
        let l = self.lists(class);
        match s.list.get() {
            List::Current => {
                // Kept: the next malloc reuses it; its free pages go back
                // now while draining, else if it stays unused for a while.
                if self.draining() {
                    self.purge_now(s);
                } else {
                    pool::queue_purge(s, os::now_coarse_ms() + self.purge_delay.load(Relaxed));
                }
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
                s.mark.store(mark_of(cap, band), Relaxed);
                if band == 0 {
                    return;
                }
            }
            List::Partial => {
                let band = band_of(cap, used);
                l.partial[s.band.load(Relaxed) as usize % BANDS].unlink(s);
                l.partial[band].push_front(s, List::Partial);
                s.band.store(band as u8, Relaxed);
                s.mark.store(mark_of(cap, band), Relaxed);
            }
            List::Retired => {
                s.mark.store(mark_of(cap, band_of(cap, used)), Relaxed);
            }
            List::Free | List::Adoptable => return,
        }
        self.thinned(Some(s), first);
    }

    /// Span `s` thinned out (`None`: a span emptied and was reclaimed);
    /// `count`: for the first time since it was filled.
    pub(super) fn thinned(&self, s: Option<&'static SlabMeta>, count: bool) {
        let limit = self.drain_limit.load(Relaxed);
        let was = self.draining();
        if count {
            let d = (self.drain.load(Relaxed) + 1).min(limit.saturating_mul(2));
            self.drain.store(d, Relaxed);
        }
        let now = os::now_coarse_ms();
        if !was && self.draining() {
            // A phase ended: caches grown for churn shrink back, and spans
            // already waiting to give pages back do it now.
            inc(&COUNTERS.drains);
            pool::trim_to_base();
            pool::purge_due(now, true);
        }
        let Some(s) = s else { return };
        s.stamp.store(now, Relaxed);
        if self.draining() {
            self.purge_now(s);
        } else {
            pool::queue_purge(s, now + self.purge_delay.load(Relaxed));
        }
    }

    /// Give back the free pages of span `s` now.
    fn purge_now(&self, s: &'static SlabMeta) {
        s.lock.lock();
        pages::purge_free(s);
        s.lock.unlock();
    }

    /// A span was taken for allocation.
    pub(super) fn note_refill(&self) {
        self.drain
            .store(self.drain.load(Relaxed).saturating_sub(1), Relaxed);
    }

    /// Pages of span `s` were needed again: if they went back recently,
    /// returning them was premature (a batch workload, not a phase end).
    pub(super) fn note_refault(&self, s: &SlabMeta) {
        let purged = s.purged_at.load(Relaxed);
        if purged == 0 {
            return;
        }
        let now = os::now_coarse_ms();
        if now.saturating_sub(purged) < THRASH_WINDOW_MS {
            inc(&COUNTERS.thrashes);
            self.last_thrash.store(now, Relaxed);
            let l = self.drain_limit.load(Relaxed);
            self.drain_limit
                .store(l.saturating_mul(2).min(DRAIN_MAX), Relaxed);
            let d = self.purge_delay.load(Relaxed);
            self.purge_delay
                .store(d.saturating_mul(2).min(MAX_DELAY_MS), Relaxed);
            // Count it once per purge.
            s.purged_at.store(0, Relaxed);
        }
    }

    /// After a calm period, bring the limit and delay back down.
    pub(super) fn relax(&self, now: u64) {
        if now.saturating_sub(self.last_thrash.load(Relaxed)) < CALM_MS {
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
        self.last_thrash.store(now, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_and_marks_agree() {
        for cap in [8u32, 12, 64, 1365, 4096] {
            for used in 0..=cap {
                let b = band_of(cap, used);
                // A span sits above its band's mark (or at 0 for the last).
                if b < 3 {
                    assert!(used > mark_of(cap, b), "cap {cap} used {used}");
                }
                if b > 0 {
                    assert!(used <= mark_of(cap, b - 1));
                }
            }
        }
    }
}
