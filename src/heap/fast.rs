//! The fast paths: malloc and free of the calling thread's own objects.
//! Plain loads and stores only; everything else is a call to a slow path.

use super::{Heap, heap_at, remote};

/// Allocations of a class between two visits of the slow path, which
/// carries the heap's periodic work (epoch ticks, delayed purges, decay).
pub(super) const PERIOD: u64 = 256;
use crate::diag;
use crate::epoch;
use crate::sizeclass::{NSMALL, SHARED_PAIR};

/// Class index from the shared pair's first class to its second.
const SHARED_STEP: usize = SHARED_PAIR.1 - SHARED_PAIR.0;
use crate::slab::{FreeError, SlabMeta};
use crate::tls;
use core::sync::atomic::Ordering::Relaxed;

impl Heap {
    /// Allocate an object of `class`. Returns 0 when no span can be had
    /// (the region is exhausted); the caller then asks glibc.
    #[inline(always)]
    pub fn alloc(&self, class: usize) -> usize {
        let b = self.bin(class);
        let x = b.bits.load(Relaxed);
        let n = b.allocs.load(Relaxed).wrapping_add(1);
        if x == 0 || n % PERIOD == 0 || self.era.load(Relaxed) != epoch::era() {
            return self.alloc_slow(class);
        }
        b.allocs.store(n, Relaxed);
        b.bits.store(x & (x - 1), Relaxed);
        b.base.load(Relaxed) + x.trailing_zeros() as usize * b.size.load(Relaxed)
    }

    /// Free `p` from span `s`, owned by this heap. An object of the word
    /// its bin holds goes back into the bin; any other into the bitmap.
    #[inline(always)]
    pub(super) fn free_local(&self, s: &'static SlabMeta, p: usize) {
        match s.locate_own(p) {
            Ok((w, bit)) => self.free_object(s, p, w, bit, s.class.load(Relaxed) as usize, 1),
            // A shared span's (its objects' class is their chunk's), or
            // no object start at all.
            Err(i) => self.free_local_shared(s, p, i),
        }
    }

    #[inline(never)]
    fn free_local_shared(&self, s: &'static SlabMeta, p: usize, i: usize) {
        let Some((w, bit, kind)) = s.find_at(p, i) else {
            return diag::free_error(FreeError::Invalid, p, Some(s), "free");
        };
        let class = s.class.load(Relaxed) as usize + kind as usize * SHARED_STEP;
        self.free_object(s, p, w, bit, class, 1 + kind);
    }

    /// Free object (`w`, `bit`) at `p` of class `class`, worth `units` of
    /// the span's `used`.
    #[inline(always)]
    fn free_object(
        &self,
        s: &'static SlabMeta,
        p: usize,
        w: usize,
        bit: u64,
        class: usize,
        units: u32,
    ) {
        if s.is_pending(w, bit) {
            // Another thread freed it already.
            return diag::free_error(FreeError::DoubleFree, p, Some(s), "free");
        }
        let b = self.bin(class);
        // Small objects of the word the bin holds go back into the bin.
        // Medium objects always go to the bitmap (a medium span's objects
        // are all in one word, and its thinning must be seen), but one the
        // bin holds is free already: a double free.
        if b.tag.word.load(Relaxed) == w && core::ptr::eq(b.tag.slab.load(Relaxed), s) {
            let x = b.bits.load(Relaxed);
            if x & bit != 0 {
                return diag::free_error(FreeError::DoubleFree, p, Some(s), "free");
            }
            if class < NSMALL {
                b.bits.store(x | bit, Relaxed);
                return;
            }
        }
        match s.free_units(w, bit, units) {
            // Emptied, thinned out past a band, or left the full list.
            Ok(u) if u <= s.mark.load(Relaxed) => self.on_mark(s, u),
            Ok(_) => {}
            Err(e) => diag::free_error(e, p, Some(s), "free"),
        }
    }
}

/// Free `p`, which lies in slab `s` of the region, from whichever thread is
/// calling.
#[inline(always)]
pub fn free(s: &'static SlabMeta, p: usize) {
    let v = tls::get();
    // Owners are 0, NO_OWNER or heap addresses; TLS slots hold UNSET,
    // TORN_DOWN or heap addresses: one compare decides.
    if s.owner.load(Relaxed) == v {
        // SAFETY: the span's owner is a heap address equal to our slot.
        unsafe { heap_at(v) }.free_local(s, p);
    } else {
        remote::free_other(v, s, p);
    }
}
