//! The allocation slow path: taking the next objects out of the current
//! span's bitmap, moving a full span aside, finding the next span (partial
//! ones fullest first, a closed epoch's quiet span, an orphan, a cached or a
//! fresh one, in that order), switching epochs, and the periodic
//! housekeeping that rides on this path.

use super::{BANDS, Bin, EMPTY, Heap, NO_WORD, is_empty};
use crate::counters::{self, COUNTERS, inc};
use crate::diag;
use crate::epoch;
use crate::os;
use crate::pages;
use crate::pool;
use crate::region;
use crate::sizeclass::{NCLASS, SHARED_PAIR, home, partner, share_after, span_slabs};
use crate::slab::{List, SlabMeta, State};
use core::sync::atomic::Ordering::*;

impl Heap {
    #[cold]
    #[inline(never)]
    pub(super) fn alloc_slow(&self, class: usize) -> usize {
        let class = class % NCLASS;
        let n = self.slow_calls.load(Relaxed) + 1;
        self.slow_calls.store(n, Relaxed);
        let b = self.bin(class);
        let a = b.allocs.load(Relaxed).wrapping_add(1);
        b.allocs.store(a, Relaxed);
        if n & epoch::tick_mask() == 0 || a % super::fast::PERIOD == 0 {
            self.housekeeping();
        }
        if self.era.load(Relaxed) != epoch::era() {
            self.switch_epoch();
        }
        if (class == SHARED_PAIR.0 || class == SHARED_PAIR.1) && !self.shares.load(Relaxed) {
            self.note_pair_visit(class);
        }
        let home = self.home(class);
        loop {
            let x = b.bits.load(Relaxed);
            if x != 0 {
                b.bits.store(x & (x - 1), Relaxed);
                return b.base.load(Relaxed) + x.trailing_zeros() as usize * b.size.load(Relaxed);
            }
            let mut s = b.slab();
            if is_empty(s) && home != class {
                // The shared pair's second class takes its objects from
                // the current span of the first.
                s = self.bin(home).slab();
                if !is_empty(s) {
                    s.share();
                    b.begin_change();
                    b.tag.word.store(NO_WORD, Relaxed);
                    b.set_slab(s);
                    b.end_change();
                }
            }
            if !is_empty(s) {
                // A span with only a few scattered holes left would hand
                // the bin one or two objects per visit: it is set aside as
                // full until a sixteenth of it is free again, and a roomier
                // span serves meanwhile.
                let cap = s.cap.load(Relaxed);
                let low = (cap / 16).max(1);
                let roomy = cap.saturating_sub(s.used.load(Relaxed)) >= low;
                if roomy && self.take_from(b, s, class) {
                    continue;
                }
                if s.has_pending() {
                    // The other bins sharing the span give their words
                    // back first: folding remote frees needs the bitmap
                    // complete (see `flush_word_of`).
                    self.flush_word_of(s);
                    let c = s.collect();
                    diag::check_collected(c, s);
                    if c.freed > 0 {
                        continue;
                    }
                }
                // Full (for this class, in a shared span): aside until a
                // sixteenth of it is free.
                self.flush_word_of(s);
                self.lists(home).full.push_front(s, List::Full);
                s.mark.store(cap.saturating_sub(low), Relaxed);
                for c in self.sharers(home) {
                    let b = self.bin(c);
                    if core::ptr::eq(b.slab(), s) {
                        b.begin_change();
                        b.set_slab(&EMPTY);
                        b.end_change();
                    }
                }
                inc(&counters::class(class).refills);
            }
            // An advance that landed while we were busy: take the new span
            // in the new epoch, never a fresh one in a closing epoch.
            if self.era.load(Relaxed) != epoch::era() {
                self.switch_epoch();
                continue;
            }
            match self.refill(home) {
                Some(s) => self.make_current(home, s),
                None => {
                    b.allocs
                        .store(b.allocs.load(Relaxed).wrapping_sub(1), Relaxed);
                    return 0;
                }
            }
        }
    }

    /// Load the bin with the next free objects of its span. Returns false
    /// when the span has none left. The bitmap is only handed out from
    /// under the span lock, so a thread giving back pages of this span
    /// never races with us.
    pub(super) fn take_from(&self, b: &Bin, s: &'static SlabMeta, class: usize) -> bool {
        s.lock.lock();
        // The objects leave the bitmap and enter the bin inside one change:
        // a remote free checking both (`Bin::free_here`) never finds a free
        // object in neither place.
        b.begin_change();
        let t = s.take_for(class);
        let fresh = t.map_or(0, |t| pages::commit_taken(s, t));
        s.lock.unlock();
        // Filled up some more: it calls back when it thins out from here.
        s.mark.store(Self::band_mark(s), Relaxed);
        let Some(t) = t else {
            b.tag.word.store(NO_WORD, Relaxed);
            b.end_change();
            return false;
        };
        b.tag.word.store(t.word, Relaxed);
        b.base.store(
            s.base.load(Relaxed) + t.word * 64 * b.size.load(Relaxed),
            Relaxed,
        );
        b.bits.store(t.bits, Relaxed);
        b.end_change();
        if fresh > 0 {
            self.note_refault(s, fresh);
        }
        true
    }

    /// Make `s` the current span of `home` (a class whose spans serve its
    /// own objects): the bins of every class sharing it point at it.
    /// Those bins are all empty: they leave a span together.
    fn make_current(&self, home: usize, s: &'static SlabMeta) {
        s.list.set(List::Current);
        if self.partner(home).is_some() {
            s.share();
        }
        // A current span calls back as it thins out, like any other.
        s.mark.store(Self::band_mark(s), Relaxed);
        for c in self.sharers(home) {
            let b = self.bin(c);
            b.begin_change();
            b.tag.word.store(NO_WORD, Relaxed);
            b.bits.store(0, Relaxed);
            b.set_slab(s);
            b.end_change();
        }
        self.note_refill();
    }

    /// Give the objects of the bins of `class` (and of every class sharing
    /// its spans) back to its current span and detach them from it.
    /// Returns the span, or `None` for an empty bin (and for the shared
    /// pair's second class, whose bin is unbound with the first's).
    pub(super) fn unbind(&self, class: usize) -> Option<&'static SlabMeta> {
        if self.home(class) != class {
            return None;
        }
        let s = self.bin(class).slab();
        if is_empty(s) {
            return None;
        }
        for c in self.sharers(class) {
            let b = self.bin(c);
            if !core::ptr::eq(b.slab(), s) {
                continue;
            }
            let w = b.tag.word.load(Relaxed);
            // Back to the bitmap inside the change (see `take_from`).
            b.begin_change();
            if w != NO_WORD {
                s.give_back(w, b.bits.load(Relaxed));
            }
            b.bits.store(0, Relaxed);
            b.tag.word.store(NO_WORD, Relaxed);
            b.set_slab(&EMPTY);
            b.end_change();
        }
        s.list.set(List::Free);
        Some(s)
    }

    /// If a bin holds a word of `s`, give the word back (the bitmap must
    /// be complete before remote frees are folded in).
    pub(super) fn flush_word_of(&self, s: &SlabMeta) {
        for c in self.sharers(s.class.load(Relaxed) as usize) {
            let b = self.bin(c);
            if core::ptr::eq(b.slab(), s) && b.tag.word.load(Relaxed) != NO_WORD {
                // Back to the bitmap inside the change (see `take_from`).
                b.begin_change();
                s.give_back(b.tag.word.load(Relaxed), b.bits.load(Relaxed));
                b.bits.store(0, Relaxed);
                b.tag.word.store(NO_WORD, Relaxed);
                b.end_change();
            }
        }
    }

    /// A span for `class` with at least one free object.
    fn refill(&self, class: usize) -> Option<&'static SlabMeta> {
        if self.queue.0.load(Relaxed) != 0 {
            self.drain_queue();
        }
        let l = self.lists(class);
        for band in 0..BANDS - 1 {
            if let Some(s) = l.partial[band].pop_front() {
                return Some(s);
            }
        }
        if let Some(s) = self.recycle(class) {
            return Some(s);
        }
        let era = self.alloc_era.load(Relaxed);
        if let Some(s) = pool::adopt(class, self.addr(), era) {
            diag::check_collected(s.collect(), s);
            if s.has_free() {
                return Some(s);
            }
            // Fully used after all: keep it as a full span of ours.
            l.full.push_front(s, List::Full);
            s.mark.store(s.cap.load(Relaxed).saturating_sub(1), Relaxed);
        }
        let (s, from_cache) = match pool::cache_pop(class) {
            Some(s) => (s, true),
            None => {
                // The sparsest spans last: their pages went back, and the
                // few objects left in them are likely long-lived; new
                // objects packed together in a fresh span leave fewer
                // pages pinned when their phase ends.
                if let Some(s) = l.partial[BANDS - 1].pop_front() {
                    return Some(s);
                }
                let idx = region::take_run(span_slabs(class))?;
                let s = region::meta(idx)?;
                pages::unused_resident(s, span_slabs(class), -1);
                inc(&counters::class(class).cache_miss);
                (s, false)
            }
        };
        self.activate_span(s, class, from_cache);
        Some(s)
    }

    /// Set up span `s` (from the hot cache or the free runs) for `class` in
    /// the current epoch, owned by this heap.
    fn activate_span(&self, s: &'static SlabMeta, class: usize, from_cache: bool) {
        let idx = region::index_of(s);
        let slabs = span_slabs(class);
        let me = idx as u32 + 1;
        for k in 1..slabs {
            if let Some(m) = region::meta(idx + k) {
                m.owner.store(0, Relaxed);
                m.head.store(me, Relaxed);
                m.state.store(State::Interior, Release);
            }
        }
        s.format(region::slab_base(idx), class);
        let e = self.epoch.load(Relaxed);
        s.head.store(me, Relaxed);
        s.epoch.store(e as u8, Relaxed);
        s.era.store(self.alloc_era.load(Relaxed), Relaxed);
        s.stamp.store(0, Relaxed);
        s.list.set(List::Free);
        s.prev.store(0, Relaxed);
        s.next.store(0, Relaxed);
        counters::span_activated(class, e, pages::resident_pages(s, slabs), from_cache);
        self.count_pair_span(class);
        s.lock.lock();
        s.state.store(State::Active, Release);
        s.owner.store(self.addr(), SeqCst);
        s.lock.unlock();
    }

    /// With automatic epochs (ZSLAB_EPOCH_MS, ZSLAB_EPOCH_ALLOCS), a span
    /// of a long-closed epoch (two advances or more ago) with free space,
    /// reused for the current epoch: objects that outlived the epoch after
    /// it closed and the next one as well are long-lived, and the free
    /// space around them would otherwise stay stranded until the last of
    /// them dies, so that time-sliced epochs would cost memory in a program
    /// without phases. The epoch that just closed receives no new objects
    /// in the spans it took fresh; a span reused this way is *mixed* (its
    /// older objects outlived two advances, so it will not empty with the
    /// epoch it now serves) and may be reused again one advance after that
    /// epoch closes: holding it back would only strand its free space.
    /// Epochs a program advances itself mark its phases, and their
    /// spans are never reused for a later epoch (the spec's rule); the free
    /// pages of their sparse spans go back instead.
    fn recycle(&self, class: usize) -> Option<&'static SlabMeta> {
        if !epoch::automatic() {
            return None;
        }
        let l = &self.lists(class).retired;
        let era = self.alloc_era.load(Relaxed);
        // Of the eligible spans among the oldest 64, the fullest: new
        // objects concentrate, and the sparser spans get a chance to empty.
        // Full spans and the closing epoch's fresh ones sit among them;
        // looking at only 8 found none often enough to take fresh spans
        // (nophase.c's steady RSS with epochs: 1.07x the run without, 1.00x
        // looking at 64). Only with automatic epochs, on a span refill.
        let mut best: Option<&'static SlabMeta> = None;
        let mut cand = l.back();
        for _ in 0..64 {
            let Some(s) = cand else { break };
            cand = crate::list::SlabList::prev_of(s);
            if s.has_pending() {
                diag::check_collected(s.collect(), s);
            }
            if s.has_free()
                && s.era
                    .load(Relaxed)
                    .saturating_add(if s.mixed.load(Relaxed) { 1 } else { 2 })
                    <= era
                && best.is_none_or(|b| s.used.load(Relaxed) > b.used.load(Relaxed))
            {
                best = Some(s);
            }
        }
        {
            let s = best?;
            {
                l.unlink(s);
                let (from, to) = (s.epoch.load(Relaxed) as usize, self.epoch.load(Relaxed));
                counters::span_moved(from, to, pages::resident_pages(s, span_slabs(class)));
                s.epoch.store(to as u8, Relaxed);
                s.era.store(era, Relaxed);
                // A purge queued for it would now return pages about to be
                // filled: a new activation number makes that entry stale.
                s.renew();
                s.mixed.store(true, Relaxed);
                inc(&counters::class(class).recycled);
                Some(s)
            }
        }
    }

    /// The epoch moved on: retire every span of the old one, so no new
    /// object lands in a closing epoch.
    #[cold]
    pub(super) fn switch_epoch(&self) {
        let now = os::now_coarse_ms();
        for class in 0..NCLASS {
            if let Some(s) = self.unbind(class) {
                self.retire(s, now);
            }
            let l = self.lists(class);
            for list in l.partial.iter().chain([&l.full]) {
                while let Some(s) = list.pop_front() {
                    self.retire(s, now);
                }
            }
        }
        let era = epoch::era();
        self.era.store(era, Relaxed);
        // Inside an epoch domain, allocation stays in the domain's epoch.
        let d = self.depth.load(Relaxed);
        let alloc = match d.checked_sub(1) {
            Some(top) => self.domains[top % super::domain::DEPTH].load(Relaxed),
            None => era,
        };
        self.alloc_era.store(alloc, Relaxed);
        self.epoch.store(epoch::index(alloc), Relaxed);
        inc(&COUNTERS.epoch_switches);
        self.resume(alloc);
    }

    /// Allocation returns to era `era` (a domain was left for the
    /// enclosing one, or the global epoch): the spans of that very era that
    /// were retired when it was left take objects again, instead of fresh
    /// spans beside them. Retirement pushes to the front, so they are among
    /// the first few of each class's retired list. A span on its way back
    /// from a purge is stale in the queue (new activation number).
    fn resume(&self, era: u64) {
        const LOOK: usize = 16;
        for class in 0..NCLASS {
            let l = self.lists(class);
            let mut cur = l.retired.front();
            for _ in 0..LOOK {
                let Some(s) = cur else { break };
                cur = crate::list::SlabList::next_of(s);
                if s.era.load(Relaxed) != era {
                    continue;
                }
                if s.has_pending() {
                    diag::check_collected(s.collect(), s);
                }
                l.retired.unlink(s);
                let cap = s.cap.load(Relaxed);
                let used = s.used.load(Relaxed);
                let band = super::policy::band_of(cap, used) % BANDS;
                l.partial[band].push_front(s, List::Partial);
                s.band.store(band as u8, Relaxed);
                s.mark.store(Self::band_mark(s), Relaxed);
                s.renew();
            }
        }
    }

    fn retire(&self, s: &'static SlabMeta, now: u64) {
        if s.used.load(Relaxed) == 0 && !s.queued.load(SeqCst) {
            self.release_empty(s);
            return;
        }
        s.stamp.store(now, Relaxed);
        s.mark.store(Self::band_mark(s), Relaxed);
        self.lists(s.class.load(Relaxed) as usize)
            .retired
            .push_front(s, List::Retired);
        inc(&COUNTERS.retired_spans);
        // Its pages that hold no live object go back once it has been
        // quiet for a while (a span recycled first makes this a no-op).
        pool::queue_purge(s, now + self.purge_delay.load(Relaxed));
    }

    /// Periodic work, every few dozen slow-path calls: automatic epoch
    /// advance, pending notifications, delayed purges, cache decay, idle
    /// heaps' remote frees, and relaxing the phase-end thresholds.
    #[cold]
    fn housekeeping(&self) {
        let now = os::now_coarse_ms();
        self.last_active.store(now, Relaxed);
        epoch::tick(self.allocs_since_tick(), now);
        if self.queue.0.load(Relaxed) != 0 {
            self.drain_queue();
        }
        pool::purge_due(now, false);
        pool::decay_tick(now);
        crate::huge::decay_tick(now);
        let _ = super::remote::help_idle(now, false);
        self.relax(now);
        self.maybe_share();
    }

    /// Allocations since the last call (only counted when an automatic
    /// advance by allocations is configured).
    fn allocs_since_tick(&self) -> u64 {
        if !epoch::counts_allocs() {
            return 0;
        }
        let total: u64 = (0..NCLASS).map(|c| self.allocs(c)).sum();
        let last = self.allocs_at_tick.swap(total, Relaxed);
        total.wrapping_sub(last)
    }

    /// Give back the free pages of every span this heap keeps (explicit
    /// requests: malloc_trim, slab_reclaim). Returns the bytes.
    pub(super) fn purge_owned(&self) -> usize {
        let mut bytes = 0;
        for class in 0..NCLASS {
            let l = self.lists(class);
            // (A bin sharing its class's span is purged with the span.)
            let cur = if self.home(class) == class {
                self.bin(class).slab()
            } else {
                &EMPTY
            };
            let lists = l.partial.iter().chain([&l.full, &l.retired]);
            let mut each = |s: &'static SlabMeta| {
                s.lock.lock();
                bytes += pages::purge_free(s);
                // Asked for: pages needed again later are not a sign that
                // the policy returned them too early.
                s.purged_at.store(0, Relaxed);
                s.lock.unlock();
            };
            if !is_empty(cur) {
                each(cur);
            }
            for list in lists {
                let mut c = list.front();
                while let Some(s) = c {
                    c = crate::list::SlabList::next_of(s);
                    each(s);
                }
            }
        }
        bytes
    }
}

impl Heap {
    /// The class whose spans serve `class`'s objects in this heap.
    fn home(&self, class: usize) -> usize {
        home(class, self.shares.load(Relaxed))
    }

    /// The classes whose bins take objects from the spans of `home`:
    /// itself, and for the shared pair's first class (while this heap
    /// shares) the second as well.
    fn sharers(&self, home: usize) -> impl Iterator<Item = usize> {
        core::iter::once(home).chain(self.partner(home))
    }

    /// The class whose bins take objects from `home`'s spans besides its
    /// own, if any.
    fn partner(&self, home: usize) -> Option<usize> {
        partner(home, self.shares.load(Relaxed))
    }

    /// A span was set up afresh for `class` (from a hot cache or the free
    /// runs: memory taken, not a partly used span reused): once the pair's
    /// classes have taken enough, the heap has many small objects live at once (a phase being
    /// built, most likely) and the pair starts sharing chunks, so that
    /// the objects of both sizes that outlive the phase share pages.
    /// Before that, a program's few objects of the pair are not worth the
    /// slower path (a take every 8 objects of 64 bytes instead of every
    /// 64, and a free that finds its class through the chunk).
    /// (Counted here; the switch waits for the next housekeeping, when no
    /// allocation is half way through choosing its span.)
    fn count_pair_span(&self, class: usize) {
        if !self.shares.load(Relaxed)
            && (class == SHARED_PAIR.0 || class == SHARED_PAIR.1)
            && self.pair_mix.load(Relaxed) >= 0
        {
            self.pair_spans
                .store(self.pair_spans.load(Relaxed).saturating_add(1), Relaxed);
        }
    }

    /// A slow-path visit of one of the pair's classes in a heap that does
    /// not share yet: were the two allocated together since this class's
    /// last visit (the other class at least an eighth as often as this
    /// one)? Sharing places the objects of both sizes side by side in the
    /// order they are allocated, which pays when they are allocated
    /// interleaved (records of a few small fields, built together and
    /// dropped together); a program that allocates the two sizes in turn,
    /// each alone for a long stretch, gains nothing from it and would pay
    /// the shared spans' slower paths (a loop of 64-byte objects alone:
    /// 1.5x the time). Their spans count toward `ZSLAB_SHARE_AFTER` only
    /// while the score says together.
    #[cold]
    fn note_pair_visit(&self, class: usize) {
        let me = (class == SHARED_PAIR.1) as usize;
        let now = [self.allocs(SHARED_PAIR.0), self.allocs(SHARED_PAIR.1)];
        let seen = &self.pair_seen[me];
        let mine = now[me].wrapping_sub(seen[me].load(Relaxed));
        let other = now[1 - me].wrapping_sub(seen[1 - me].load(Relaxed));
        // Too few allocations since the last look to say (a heap's first
        // objects): wait for more.
        if mine + other < 16 {
            return;
        }
        seen[0].store(now[0], Relaxed);
        seen[1].store(now[1], Relaxed);
        let together = other > 0 && other.saturating_mul(8) >= mine;
        let m = self.pair_mix.load(Relaxed);
        let m = if together {
            (m + 1).min(16)
        } else {
            (m - 1).max(-16)
        };
        self.pair_mix.store(m, Relaxed);
    }

    /// Start sharing if the pair has taken enough spans (housekeeping).
    fn maybe_share(&self) {
        if !self.shares.load(Relaxed) && self.pair_spans.load(Relaxed) >= share_after() {
            self.start_sharing();
        }
    }

    /// From now on the pair's second class takes its objects from the
    /// first's spans. Its own current span goes back to its partial
    /// lists: no new object goes there, its live ones are freed as usual,
    /// and it is reclaimed once empty (its free pages go back meanwhile,
    /// like any thinned-out span's).
    #[cold]
    fn start_sharing(&self) {
        if let Some(s) = self.unbind(SHARED_PAIR.1) {
            let cap = s.cap.load(Relaxed);
            let used = s.used.load(Relaxed);
            if used == 0 && !s.queued.load(SeqCst) {
                self.release_empty(s);
            } else {
                let band = super::policy::band_of(cap, used) % BANDS;
                self.lists(SHARED_PAIR.1).partial[band].push_front(s, List::Partial);
                s.band.store(band as u8, Relaxed);
                s.mark.store(Self::band_mark(s), Relaxed);
            }
        }
        self.shares.store(true, Relaxed);
        inc(&COUNTERS.pair_shared);
    }
}
