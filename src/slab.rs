//! A slab: 64 KiB of the reserved region holding objects of one size class
//! and one epoch, described by a [`SlabMeta`] that lives in a separate
//! metadata array, never on the user pages (a buffer overflow cannot reach
//! it and `madvise` cannot erase it).
//!
//! Allocation state is a bitmap, one bit per object (1 = free), so every
//! double or invalid free is detected exactly. The bitmap belongs to the
//! slab's *collector*: its owning thread heap, or whoever holds the slab lock
//! while the slab has no owner. Other threads never write it: a free from a
//! foreign thread sets the object's bit in a second, atomic `pend` bitmap (and
//! a summary bit naming the word); the collector later folds those bits in.
//! All owner-side accesses are relaxed loads and stores (plain moves), so the
//! same-thread paths take no lock and no atomic read-modify-write.

use crate::os::PAGE;
use crate::sizeclass::{BITMAP_WORDS, SLAB_SIZE, class_capacity, class_magic, class_size};
use crate::sync::RawLock;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

/// The slab is unused: never touched, or its pages were handed back.
pub const STATE_FREE: u8 = 0;
/// The slab serves a size class (owned by a heap, or orphaned).
pub const STATE_ACTIVE: u8 = 1;
/// The slab is empty and waits in its class's hot cache.
pub const STATE_CACHED: u8 = 2;

/// `owner` of a slab that no heap owns (orphaned, cached or unused). Never
/// a heap address and never a TLS slot value, so the free fast path needs
/// only one compare to know it is not the owner.
pub const NO_OWNER: usize = 2;

/// Which list a slab is on (meaning depends on its state and owner).
pub const LIST_NONE: u8 = 0;
/// A heap's current allocation slab for its class.
pub const LIST_CURRENT: u8 = 1;
/// A heap's partially used slabs of the current epoch.
pub const LIST_PARTIAL: u8 = 2;
/// A heap's full slabs of the current epoch.
pub const LIST_FULL: u8 = 3;
/// A heap's slabs of past epochs: never allocated from again.
pub const LIST_RETIRED: u8 = 4;
/// An orphan slab offered for adoption in its class's pool.
pub const LIST_ADOPTABLE: u8 = 5;

/// Off-page metadata of one slab. Fields in the first cache line are touched
/// by the collector on the fast paths; the second line holds what other
/// threads write; then the two bitmaps.
#[repr(C, align(128))]
pub struct SlabMeta {
    // ---- line 0: collector-owned, hot ----
    /// Address of object 0.
    pub base: AtomicUsize,
    /// The owning heap's address, or [`NO_OWNER`] (0 if never used).
    /// Changes only under `lock`.
    pub owner: AtomicUsize,
    /// First bitmap word that may hold a free bit.
    pub cursor: AtomicU32,
    /// Objects allocated and not yet folded back as free.
    pub used: AtomicU32,
    pub size: AtomicU32,
    pub magic: AtomicU32,
    pub cap: AtomicU32,
    /// Bytes from the slab start whose pages have been touched (page
    /// rounded): the slab's committed memory.
    pub touched: AtomicU32,
    /// Objects made available so far: the bitmap is filled in steps of
    /// [`CARVE_BYTES`], so committed memory follows actual use.
    pub carved: AtomicU32,
    /// Intrusive list links, as slab index + 1 (0 = none).
    pub prev: AtomicU32,
    pub next: AtomicU32,
    pub class: AtomicU8,
    pub epoch: AtomicU8,
    pub list: AtomicU8,
    pub state: AtomicU8,
    /// Era the slab's objects were allocated in (see `epoch`).
    pub era: AtomicU64,
    // ---- line 1: written by other threads ----
    /// Bit w set: `pend[w]` may hold remote frees.
    pub summary: AtomicU64,
    /// Time (coarse ms) the slab entered its class cache.
    pub cached_at: AtomicU64,
    /// Link in a heap's remote-free notification stack (index + 1).
    pub qnext: AtomicU32,
    /// The slab sits in some heap's notification stack.
    pub queued: AtomicBool,
    /// Collector lock for orphans and for ownership changes.
    pub lock: RawLock,
    _pad: [u8; 38],
    /// 1 = free, per object.
    pub bm: [AtomicU64; BITMAP_WORDS],
    /// 1 = freed by another thread, not yet folded into `bm`.
    pub pend: [AtomicU64; BITMAP_WORDS],
}

const _: () = assert!(core::mem::size_of::<SlabMeta>() % 128 == 0);

/// Bytes of objects carved at a time.
pub const CARVE_BYTES: usize = 16 << 10;
const _: () = assert!(core::mem::offset_of!(SlabMeta, summary) == 64);

/// Why a free was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The object is already free.
    DoubleFree,
    /// The pointer is not the start of an object of a live slab.
    Invalid,
}

/// What folding remote frees into the bitmap found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Objects that became free.
    pub freed: u32,
    /// Remote frees of objects that were already free (double frees).
    pub doubles: u32,
    /// Address of one double-freed object, for the diagnosis.
    pub double_addr: usize,
}

impl SlabMeta {
    /// An all-zero slab: no free bits, so allocation from it always falls to
    /// the slow path. Heaps point their empty bins at one of these.
    pub const fn empty() -> Self {
        SlabMeta {
            base: AtomicUsize::new(0),
            owner: AtomicUsize::new(0),
            cursor: AtomicU32::new(0),
            used: AtomicU32::new(0),
            size: AtomicU32::new(0),
            magic: AtomicU32::new(0),
            cap: AtomicU32::new(0),
            touched: AtomicU32::new(0),
            carved: AtomicU32::new(0),
            prev: AtomicU32::new(0),
            next: AtomicU32::new(0),
            class: AtomicU8::new(0),
            epoch: AtomicU8::new(0),
            list: AtomicU8::new(0),
            state: AtomicU8::new(STATE_FREE),
            era: AtomicU64::new(0),
            summary: AtomicU64::new(0),
            cached_at: AtomicU64::new(0),
            qnext: AtomicU32::new(0),
            queued: AtomicBool::new(false),
            lock: RawLock::new(),
            _pad: [0; 38],
            bm: [const { AtomicU64::new(0) }; BITMAP_WORDS],
            pend: [const { AtomicU64::new(0) }; BITMAP_WORDS],
        }
    }

    /// Prepare the slab at `base` to serve class `class`: no object carved
    /// yet except the first step. Its committed bytes (`touched`) are kept:
    /// pages not handed back are still resident. Returns the bytes newly
    /// committed. The caller is the slab's only user at this point.
    pub fn format(&self, base: usize, class: usize) -> usize {
        let cap = class_capacity(class);
        self.base.store(base, Relaxed);
        self.size.store(class_size(class) as u32, Relaxed);
        self.magic.store(class_magic(class), Relaxed);
        self.cap.store(cap as u32, Relaxed);
        self.class.store(class as u8, Relaxed);
        self.cursor.store(0, Relaxed);
        self.used.store(0, Relaxed);
        self.carved.store(0, Relaxed);
        self.summary.store(0, Relaxed);
        for w in 0..BITMAP_WORDS {
            self.bm[w].store(0, Relaxed);
            self.pend[w].store(0, Relaxed);
        }
        self.carve()
    }

    /// Make the next [`CARVE_BYTES`] worth of objects available (at least
    /// one). Returns the bytes newly committed, or `None` when every object
    /// is carved already. Collector only.
    fn carve(&self) -> usize {
        let cap = self.cap.load(Relaxed) as usize;
        let size = self.size.load(Relaxed) as usize;
        let from = self.carved.load(Relaxed) as usize;
        let to = (from + (CARVE_BYTES / size).max(1)).min(cap);
        let mut i = from;
        while i < to {
            let w = i / 64;
            let hi = to.min((w + 1) * 64);
            let n = hi - i;
            let bits = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << (i % 64)
            };
            self.bm[w].store(self.bm[w].load(Relaxed) | bits, Relaxed);
            i = hi;
        }
        self.carved.store(to as u32, Relaxed);
        if ((from / 64) as u32) < self.cursor.load(Relaxed) {
            self.cursor.store((from / 64) as u32, Relaxed);
        }
        let end = (to * size).next_multiple_of(PAGE).min(SLAB_SIZE);
        let old = self.touched.load(Relaxed) as usize;
        if end > old {
            self.touched.store(end as u32, Relaxed);
            end - old
        } else {
            0
        }
    }

    /// Bitmap word `w` (masked: no bounds check on the fast paths).
    #[inline(always)]
    fn word(&self, w: usize) -> &AtomicU64 {
        &self.bm[w & (BITMAP_WORDS - 1)]
    }

    /// Take the free objects of the next bitmap word that has any, carving
    /// more objects when the carved ones are all in use: returns (word
    /// index, its free bits, bytes newly committed), or `None` when the slab
    /// is full. The bits leave the bitmap (the caller's bin holds them) and
    /// count as used until given back with [`SlabMeta::return_word`].
    /// Collector only.
    pub fn take_word(&self) -> Option<(usize, u64, usize)> {
        let mut committed = 0;
        loop {
            let words = (self.carved.load(Relaxed) as usize).div_ceil(64);
            let start = self.cursor.load(Relaxed) as usize;
            for w in start..words {
                let x = self.word(w).load(Relaxed);
                if x != 0 {
                    self.word(w).store(0, Relaxed);
                    self.cursor.store(w as u32, Relaxed);
                    self.used
                        .store(self.used.load(Relaxed) + x.count_ones(), Relaxed);
                    return Some((w, x, committed));
                }
            }
            self.cursor.store(words as u32, Relaxed);
            if self.carved.load(Relaxed) >= self.cap.load(Relaxed) {
                return None;
            }
            committed += self.carve();
        }
    }

    /// Give back free objects of word `w` taken with [`SlabMeta::take_word`].
    /// Returns the objects still in use. Collector only.
    pub fn return_word(&self, w: usize, bits: u64) -> u32 {
        let x = self.word(w).load(Relaxed);
        self.word(w).store(x | bits, Relaxed);
        if (w as u32) < self.cursor.load(Relaxed) {
            self.cursor.store(w as u32, Relaxed);
        }
        let u = self.used.load(Relaxed) - bits.count_ones();
        self.used.store(u, Relaxed);
        u
    }

    /// Locate the object at `p`: (bitmap word, bit mask), or `None` if `p`
    /// is not the start of an object of this slab.
    #[inline(always)]
    pub fn locate(&self, p: usize) -> Option<(usize, u64)> {
        // Slabs are SLAB_SIZE-aligned and `p` lies in this slab's range.
        let off = p & (SLAB_SIZE - 1);
        let i = ((off as u64 * self.magic.load(Relaxed) as u64) >> 32) as usize;
        if i * self.size.load(Relaxed) as usize != off || i >= self.carved.load(Relaxed) as usize {
            return None;
        }
        Some((i >> 6, 1u64 << (i & 63)))
    }

    /// Free object (`w`, `b`) (from [`SlabMeta::locate`]) as the slab's
    /// collector. Returns the objects still in use afterwards.
    #[inline(always)]
    pub fn free_bit(&self, w: usize, b: u64) -> Result<u32, FreeError> {
        let x = self.word(w).load(Relaxed);
        if x & b != 0 {
            return Err(FreeError::DoubleFree);
        }
        self.word(w).store(x | b, Relaxed);
        if (w as u32) < self.cursor.load(Relaxed) {
            self.cursor.store(w as u32, Relaxed);
        }
        let u = self.used.load(Relaxed) - 1;
        self.used.store(u, Relaxed);
        Ok(u)
    }

    /// Free the object at `p` as the slab's collector (when no bin holds
    /// its word). Returns the objects still in use afterwards.
    pub fn free_local(&self, p: usize) -> Result<u32, FreeError> {
        let (w, b) = self.locate(p).ok_or(FreeError::Invalid)?;
        if self.is_pending(w, b) {
            return Err(FreeError::DoubleFree);
        }
        self.free_bit(w, b)
    }

    /// Record a free of `p` by a thread that is not the collector (see
    /// [`SlabMeta::free_remote_bit`]).
    pub fn free_remote(&self, p: usize) -> Result<(), FreeError> {
        self.check_live_slab()?;
        let (w, b) = self.locate(p).ok_or(FreeError::Invalid)?;
        self.free_remote_bit(w, b)
    }

    /// Refuse frees into a slab that has no live object.
    pub fn check_live_slab(&self) -> Result<(), FreeError> {
        match self.state.load(Acquire) {
            STATE_ACTIVE => Ok(()),
            // An empty cached slab: every object is already free.
            STATE_CACHED => Err(FreeError::DoubleFree),
            _ => Err(FreeError::Invalid),
        }
    }

    /// Record a free of object (`w`, `b`) by a thread that is not the
    /// collector. Only the atomic `pend` bitmap and summary are written. A
    /// double free is caught here when the object is visibly free or already
    /// pending (the caller also checks the owner's bin), and otherwise when
    /// the collector folds the bits in.
    pub fn free_remote_bit(&self, w: usize, b: u64) -> Result<(), FreeError> {
        let w = w & (BITMAP_WORDS - 1);
        // Read the bitmap before publishing the pending bit: once published,
        // the collector may fold it in and the bit would look free.
        if self.bm[w].load(Acquire) & b != 0 {
            return Err(FreeError::DoubleFree);
        }
        if self.pend[w].fetch_or(b, SeqCst) & b != 0 {
            return Err(FreeError::DoubleFree);
        }
        // Skip the read-modify-write when the word is already flagged: the
        // collector swaps the summary before the words, so a flag we see set
        // is one it has not consumed yet, and it will fold our bit in.
        if self.summary.load(SeqCst) & (1u64 << w) == 0 {
            self.summary.fetch_or(1u64 << w, SeqCst);
        }
        Ok(())
    }

    /// Whether object (`w`, `b`) was freed by another thread and not folded
    /// in yet (a free of it now is a double free). Cheap when no remote
    /// free is pending in that word: one load of the summary.
    #[inline(always)]
    pub fn is_pending(&self, w: usize, b: u64) -> bool {
        let w = w & (BITMAP_WORDS - 1);
        self.summary.load(Relaxed) & (1u64 << w) != 0 && self.pend[w].load(Relaxed) & b != 0
    }

    /// Whether remote frees are waiting to be folded in.
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.summary.load(SeqCst) != 0
    }

    /// Fold pending remote frees into the bitmap. Collector only.
    pub fn collect(&self) -> Collected {
        let mut out = Collected::default();
        let mut sum = self.summary.swap(0, SeqCst);
        let mut low = u32::MAX;
        while sum != 0 {
            let w = sum.trailing_zeros() as usize;
            sum &= sum - 1;
            let bits = self.pend[w].swap(0, SeqCst);
            if bits == 0 {
                continue;
            }
            let x = self.bm[w].load(Relaxed);
            let dup = bits & x;
            if dup != 0 {
                out.doubles += dup.count_ones();
                let i = w * 64 + dup.trailing_zeros() as usize;
                out.double_addr = self.base.load(Relaxed) + i * self.size.load(Relaxed) as usize;
            }
            let fresh = bits & !x;
            self.bm[w].store(x | fresh, Relaxed);
            out.freed += fresh.count_ones();
            low = low.min(w as u32);
        }
        if out.freed > 0 {
            self.used
                .store(self.used.load(Relaxed) - out.freed, Relaxed);
            if low < self.cursor.load(Relaxed) {
                self.cursor.store(low, Relaxed);
            }
        }
        out
    }

    /// Objects in use as seen from any thread: allocated and not freed,
    /// counting remote frees not yet folded in as freed. Approximate while
    /// threads run (for statistics).
    pub fn live_estimate(&self) -> u32 {
        let mut pending = 0;
        let mut sum = self.summary.load(Relaxed);
        while sum != 0 {
            let w = sum.trailing_zeros() as usize;
            sum &= sum - 1;
            pending += self.pend[w].load(Relaxed).count_ones();
        }
        self.used.load(Relaxed).saturating_sub(pending)
    }

    /// Whether the slab can still hand out an object. Collector only.
    pub fn has_free(&self) -> bool {
        self.used.load(Relaxed) < self.cap.load(Relaxed)
    }

    /// Usable size of the objects of this slab.
    #[inline(always)]
    pub fn object_size(&self) -> usize {
        self.size.load(Relaxed) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizeclass::{NCLASS, class_of};

    fn slab(class: usize) -> (Box<SlabMeta>, usize) {
        let m = Box::new(SlabMeta::empty());
        let base = 0x7000_0000_0000usize;
        assert!(m.format(base, class) > 0);
        m.state.store(STATE_ACTIVE, Relaxed);
        (m, base)
    }

    /// Allocate one object: take a word, keep its lowest bit, give the rest
    /// back (what a heap's bin does over many allocations).
    fn alloc(m: &SlabMeta) -> usize {
        match m.take_word() {
            Some((w, bits, _)) => {
                let i = bits.trailing_zeros() as usize;
                m.return_word(w, bits & (bits - 1));
                m.base.load(Relaxed) + (w * 64 + i) * m.object_size()
            }
            None => 0,
        }
    }

    #[test]
    fn empty_sentinel_never_allocates() {
        let m = SlabMeta::empty();
        assert_eq!(m.take_word(), None);
    }

    #[test]
    fn words_taken_count_as_used_until_returned() {
        let (m, base) = slab(class_of(16));
        let (w, bits, committed) = m.take_word().unwrap();
        assert_eq!((w, bits, committed), (0, u64::MAX, 0));
        assert_eq!(m.used.load(Relaxed), 64);
        // A free of an object whose word a bin holds is the bin's business;
        // through the bitmap it looks like a double free of an allocated one.
        assert_eq!(m.return_word(0, bits & !1), 1);
        assert_eq!(m.free_local(base), Ok(0));
        assert_eq!(m.free_local(base), Err(FreeError::DoubleFree));
    }

    #[test]
    fn fills_every_object_once_lowest_first() {
        for c in 0..NCLASS {
            let (m, base) = slab(c);
            let cap = class_capacity(c);
            let size = class_size(c);
            for i in 0..cap {
                assert_eq!(alloc(&m), base + i * size, "class {c} object {i}");
            }
            assert_eq!(alloc(&m), 0);
            assert_eq!(m.used.load(Relaxed) as usize, cap);
            assert!(!m.has_free());
            assert!(m.touched.load(Relaxed) as usize <= SLAB_SIZE);
            assert!(m.touched.load(Relaxed) as usize >= cap * size);
        }
    }

    #[test]
    fn local_free_detects_double_and_invalid() {
        let (m, base) = slab(class_of(48));
        let a = alloc(&m);
        let b = alloc(&m);
        assert_eq!(b, a + 48);
        assert_eq!(m.free_local(a + 8), Err(FreeError::Invalid));
        assert_eq!(
            m.free_local(base + SLAB_SIZE - 16),
            Err(FreeError::Invalid),
            "tail waste"
        );
        assert_eq!(m.free_local(a), Ok(1));
        assert_eq!(m.free_local(a), Err(FreeError::DoubleFree));
        // Carved, never-allocated objects are free: freeing one is a double
        // free; objects not carved yet are not objects at all.
        assert_eq!(m.free_local(base + 48 * 10), Err(FreeError::DoubleFree));
        assert_eq!(m.free_local(base + 48 * 1300), Err(FreeError::Invalid));
        assert_eq!(m.free_local(b), Ok(0));
        // Freed objects are reused, lowest first.
        assert_eq!(alloc(&m), a);
    }

    #[test]
    fn remote_frees_are_folded_by_collect() {
        let (m, _) = slab(class_of(16));
        let ps: Vec<usize> = (0..200).map(|_| alloc(&m)).collect();
        for &p in &ps[..150] {
            m.free_remote(p).unwrap();
        }
        assert_eq!(
            m.free_remote(ps[3]),
            Err(FreeError::DoubleFree),
            "pending twice"
        );
        assert!(m.has_pending());
        assert_eq!(m.used.load(Relaxed), 200);
        let c = m.collect();
        assert_eq!(c.freed, 150);
        assert_eq!(c.doubles, 0);
        assert!(!m.has_pending());
        assert_eq!(m.used.load(Relaxed), 50);
        assert_eq!(
            m.free_remote(ps[3]),
            Err(FreeError::DoubleFree),
            "already free"
        );
        // The cursor went back: the next allocation reuses object 0.
        assert_eq!(alloc(&m), ps[0]);
    }

    #[test]
    fn a_local_free_after_a_remote_free_is_a_double_free() {
        let (m, _) = slab(class_of(32));
        let p = alloc(&m);
        m.free_remote(p).unwrap();
        assert_eq!(m.free_local(p), Err(FreeError::DoubleFree));
        assert_eq!(m.collect().freed, 1);
        assert_eq!(m.free_local(p), Err(FreeError::DoubleFree));
    }

    #[test]
    fn collect_reports_a_double_free_that_raced_past_the_checks() {
        let (m, _) = slab(class_of(64));
        let p = alloc(&m);
        m.free_remote(p).unwrap();
        // The owner frees it too, racing past its pending check, before
        // folding the remote free in.
        let (w, b) = m.locate(p).unwrap();
        assert_eq!(m.free_bit(w, b), Ok(0));
        let c = m.collect();
        assert_eq!((c.freed, c.doubles, c.double_addr), (0, 1, p));
        assert_eq!(m.used.load(Relaxed), 0);
    }

    #[test]
    fn remote_free_of_a_cached_slab_is_a_double_free() {
        let (m, base) = slab(class_of(32));
        m.state.store(STATE_CACHED, Relaxed);
        assert_eq!(m.free_remote(base), Err(FreeError::DoubleFree));
        m.state.store(STATE_FREE, Relaxed);
        assert_eq!(m.free_remote(base), Err(FreeError::Invalid));
    }
}
