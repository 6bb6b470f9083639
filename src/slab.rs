//! Slab metadata. The region is cut into 64 KiB slabs, each described by a
//! [`SlabMeta`] that lives in a separate metadata array, never on the user
//! pages (a buffer overflow cannot reach it and `madvise` cannot erase it).
//! A *span* is one or more consecutive slabs serving one size class and one
//! epoch (small classes: one slab; medium classes: 2 to 128); its first
//! slab's metadata, the *head*, holds the span's allocation state, and every
//! other slab of it is `Interior` and names its head.
//!
//! Allocation state is a bitmap, one bit per object (1 = free), so every
//! double or invalid free is detected exactly. The bitmap belongs to the
//! span's *collector*: its owning thread heap, or whoever holds the span lock
//! while the span has no owner. Other threads never write it: a free from a
//! foreign thread sets the object's bit in a second, atomic `pend` bitmap
//! (and a summary bit naming the word); the collector later folds those bits
//! in. Owner-side accesses are relaxed loads and stores (plain moves), so the
//! same-thread paths take no lock and no atomic read-modify-write.
//!
//! Handing objects out of the bitmap ([`SlabMeta::take`]) happens under the
//! span lock, so any thread holding the lock may compute which pages hold
//! no live object ([`SlabMeta::free_pages`]) and give them back to the OS:
//! the bitmaps only ever gain free bits while the lock is held.

use crate::os::{PAGE, PAGE_SHIFT};
use crate::sizeclass::{
    BITMAP_WORDS, CHUNK_GRANULES, SHARED_PAIR, SLAB_PAGES, class_capacity, class_magic,
    class_shift, class_size, span_slabs,
};

/// Chunks per bitmap word.
const CPW: usize = 64 / CHUNK_GRANULES;
/// The bits of a word's lowest chunk.
const CHUNK_BITS: u64 = (1 << CHUNK_GRANULES) - 1;
/// Words of `kinds`: a bit per chunk of the largest span bitmap.
const KIND_WORDS: usize = BITMAP_WORDS * CPW / 64;
/// Object starts of a shared chunk by kind: every granule for the pair's
/// first class, every other one for its second.
const START: [u64; 2] = [CHUNK_BITS, 0x5555_5555_5555_5555 & CHUNK_BITS];
/// A table by a word's chunk kinds (bit `q` of the index: chunk `q` of
/// the word): each chunk's bits taken from `of` by its kind.
const fn by_kinds(of: [u64; 2]) -> [u64; 1 << CPW] {
    let mut t = [0u64; 1 << CPW];
    let mut k = 0;
    while k < 1 << CPW {
        let mut q = 0;
        while q < CPW {
            t[k] |= of[(k >> q) & 1] << (q * CHUNK_GRANULES);
            q += 1;
        }
        k += 1;
    }
    t
}
/// Object starts of a whole word of a shared span, by its chunks' kinds.
const STARTS: [u64; 1 << CPW] = by_kinds(START);
/// The bits of a word in chunks of the pair's second class, by its
/// chunks' kinds.
const SECOND: [u64; 1 << CPW] = by_kinds([0, CHUNK_BITS]);
/// Bit 0 of every chunk of a word.
const LANES: u64 = u64::MAX / CHUNK_BITS;

/// The chunks of word `v` whose bits are all set, as a mask of their bits
/// (bitwise in every chunk at once: bit 15 of a chunk of `!v` + 0x7FFF
/// carries out of its low bits only if one is set, and never into the
/// next chunk).
#[inline(always)]
fn full_chunks(v: u64) -> u64 {
    let y = !v;
    let low = LANES * (CHUNK_BITS >> 1);
    let high = LANES << (CHUNK_GRANULES - 1);
    let nonzero = (((y & low) + low) | y) & high;
    ((!nonzero & high) >> (CHUNK_GRANULES - 1)) * CHUNK_BITS
}

use crate::sync::RawLock;
use crate::sync::atomic::Ordering::*;
use crate::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, fence,
};

/// `owner` of a span no heap owns (orphaned, cached, free, huge). Never a
/// heap address and never a TLS slot value, so the free fast path needs
/// only one compare to know it is not the owner. Interior slabs keep 0.
pub const NO_OWNER: usize = 2;

/// Bytes of objects a heap's bin takes out of a bitmap at a time (at least
/// one object): pages are marked resident when their objects are taken, so
/// this bounds how far the accounting runs ahead of real use.
pub const TAKE_BYTES: usize = 64 << 10;

macro_rules! atomic_enum {
    ($(#[$m:meta])* $name:ident, $atomic:ident { $($(#[$vm:meta])* $v:ident = $n:literal,)* }) => {
        $(#[$m])*
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $v = $n,)* }

        /// An atomic cell holding a
        #[doc = concat!("[`", stringify!($name), "`]")]
        /// : only whole values are ever stored, so every load is one of them.
        pub struct $atomic(AtomicU8);

        impl $atomic {
            pub const fn new(v: $name) -> Self {
                $atomic(AtomicU8::new(v as u8))
            }
            #[inline(always)]
            pub fn get(&self) -> $name {
                self.load(Relaxed)
            }
            #[inline(always)]
            pub fn load(&self, o: core::sync::atomic::Ordering) -> $name {
                match self.0.load(o) {
                    $($n => $name::$v,)*
                    // Unreachable: stores take a $name.
                    _ => $name::Free,
                }
            }
            #[inline(always)]
            pub fn set(&self, v: $name) {
                self.0.store(v as u8, Relaxed)
            }
            #[inline(always)]
            pub fn store(&self, v: $name, o: core::sync::atomic::Ordering) {
                self.0.store(v as u8, o)
            }
            /// Replace `current` by `new` atomically; the value found on failure.
            pub fn compare_exchange(
                &self,
                current: $name,
                new: $name,
                success: core::sync::atomic::Ordering,
                failure: core::sync::atomic::Ordering,
            ) -> Result<$name, $name> {
                let conv = |x: u8| match x {
                    $($n => $name::$v,)*
                    _ => $name::Free,
                };
                self.0
                    .compare_exchange(current as u8, new as u8, success, failure)
                    .map(conv)
                    .map_err(conv)
            }
        }
    };
}

atomic_enum! {
    /// What a slab is used for.
    State, AtomicState {
        /// Unused: in the region's free runs, or never touched.
        Free = 0,
        /// Head of a span serving a size class (owned by a heap, or orphaned).
        Active = 1,
        /// Head of an empty span waiting in its class's hot cache.
        Cached = 2,
        /// A non-head slab of a span or huge block; `head` names the head.
        Interior = 3,
        /// Head of a live huge block.
        Huge = 4,
        /// Head of a freed huge block waiting in the huge cache.
        HugeCached = 5,
    }
}

atomic_enum! {
    /// Which list an active span is on. Owner heaps keep the first five;
    /// the pool keeps adoptable orphans.
    List, AtomicList {
        /// On no list (orphan not offered, or in transit).
        Free = 0,
        /// A heap's current allocation span for its class.
        Current = 1,
        /// A heap's partially used spans of the current epoch.
        Partial = 2,
        /// A heap's full spans of the current epoch.
        Full = 3,
        /// A heap's spans of past epochs.
        Retired = 4,
        /// An orphan offered for adoption.
        Adoptable = 5,
        /// A freed huge block in the huge cache.
        HugeCache = 6,
    }
}

/// Off-page metadata of one slab. Line 0 is touched by the collector on the
/// fast paths; line 1 holds what other threads write and what changes only
/// at activation; then the two bitmaps.
#[repr(C, align(128))]
pub struct SlabMeta {
    // ---- line 0: collector-owned, hot ----
    /// Address of object 0 (the span's first byte).
    pub base: AtomicUsize,
    /// The owning heap's address, or [`NO_OWNER`] (0 for interior slabs
    /// and slabs never used). Changes only under `lock`.
    pub owner: AtomicUsize,
    /// Objects handed out of the bitmap and not yet folded back as free.
    pub used: AtomicU32,
    /// The owner's free path takes its slow path when `used` falls to or
    /// below this (emptying, thinning out, leaving the full list).
    pub mark: AtomicU32,
    pub size: AtomicU32,
    pub magic: AtomicU32,
    pub cap: AtomicU32,
    /// First bitmap word that may hold a free bit.
    pub cursor: AtomicU32,
    pub shift: AtomicU8,
    pub class: AtomicU8,
    pub epoch: AtomicU8,
    pub state: AtomicState,
    pub list: AtomicList,
    /// Occupancy band of a partial span (0 = fullest).
    pub band: AtomicU8,
    /// Pages of this slab that may be resident (bit per page).
    pub resident: AtomicU16,
    /// Slabs in the span, huge block or free run (valid in heads, and in
    /// the last slab of a free run).
    pub span: AtomicU32,
    /// `cap` for the owner's free fast path, 0 while `kinds` is not: the
    /// frees of a span holding chunks of the pair's second class find their
    /// class through the chunk, on a path of their own that costs every
    /// other free nothing. The owner changes both, under `lock`.
    pub fcap: AtomicU32,
    /// Intrusive list links, as slab index + 1 (0 = none).
    pub prev: AtomicU32,
    pub next: AtomicU32,
    // ---- line 1: written by other threads, or at activation ----
    /// Bit w set: `pend[w]` may hold remote frees.
    pub summary: AtomicU32,
    /// Activations of the span (delayed purges name the one they meant).
    pub generation: AtomicU32,
    /// Era the span's objects were allocated in (see `epoch`).
    pub era: AtomicU64,
    /// Coarse ms of the last lifecycle event: cached, retired, or a mark
    /// event (the span thinned out).
    pub stamp: AtomicU64,
    /// Coarse ms of the last time pages of the span went back to the OS.
    pub purged_at: AtomicU64,
    /// Link in a heap's remote-free notification stack (index + 1).
    pub qnext: AtomicU32,
    /// Link (index + 1) of the head slab; a head names itself.
    pub head: AtomicU32,
    /// In a span of the shared pair's first class, bit `k` (of the
    /// words taken together) set: chunk `k` serves the pair's second
    /// class. All 0 in every other span.
    pub kinds: [AtomicU64; KIND_WORDS],
    /// The span sits in some heap's notification stack, or in a helper's
    /// hands on its way back there.
    pub queued: AtomicBool,
    /// The span has an entry in the delayed purge queue.
    pub purge_queued: AtomicBool,
    /// The span was reused for a later epoch (automatic epochs): it holds
    /// objects of more than one epoch.
    pub mixed: AtomicBool,
    /// A span of the shared pair's first class whose chunks serve the
    /// second class too (set when it becomes current in a heap whose pair
    /// shares, or by a take for the second class): its takes go by chunk.
    /// Owner only.
    pub pair: AtomicBool,
    /// Collector lock: orphans, ownership changes, taking objects out of
    /// the bitmap, and giving pages back.
    pub lock: RawLock,
    _pad: [u8; 3],
    /// 1 = free, per object.
    pub bm: [AtomicU64; BITMAP_WORDS],
    /// 1 = freed by another thread, not yet folded into `bm`.
    pub pend: [AtomicU64; BITMAP_WORDS],
}

const _: () = assert!(core::mem::size_of::<SlabMeta>() % 128 == 0);
// The hot line holds what the owner's fast paths touch; what other
// threads write starts on the next one; the bitmaps after both (the model
// checker's atomics are larger).
#[cfg(not(feature = "model"))]
const _: () = assert!(core::mem::offset_of!(SlabMeta, summary) == 64);
#[cfg(not(feature = "model"))]
const _: () = assert!(core::mem::offset_of!(SlabMeta, bm) == 128);
// `summary` has a bit per bitmap word; `kinds` is indexed by masking.
const _: () = assert!(BITMAP_WORDS <= 32 && KIND_WORDS.is_power_of_two());

/// Why a free (or another call taking a pointer) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The block is already free.
    DoubleFree,
    /// The pointer is not the start of a block zslab handed out.
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

/// Objects taken out of a bitmap by [`SlabMeta::take`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Bitmap word.
    pub word: usize,
    /// The free objects taken (bits of that word).
    pub bits: u64,
}

impl SlabMeta {
    /// An all-zero slab: no free bits, so allocation from it always falls to
    /// the slow path. Heaps point their empty bins at one of these.
    pub const fn empty() -> Self {
        SlabMeta {
            base: AtomicUsize::new(0),
            owner: AtomicUsize::new(0),
            used: AtomicU32::new(0),
            mark: AtomicU32::new(0),
            size: AtomicU32::new(0),
            magic: AtomicU32::new(0),
            cap: AtomicU32::new(0),
            cursor: AtomicU32::new(0),
            shift: AtomicU8::new(0),
            class: AtomicU8::new(0),
            epoch: AtomicU8::new(0),
            state: AtomicState::new(State::Free),
            list: AtomicList::new(List::Free),
            band: AtomicU8::new(0),
            resident: AtomicU16::new(0),
            span: AtomicU32::new(0),
            head: AtomicU32::new(0),
            fcap: AtomicU32::new(0),
            kinds: [const { AtomicU64::new(0) }; KIND_WORDS],
            summary: AtomicU32::new(0),
            era: AtomicU64::new(0),
            stamp: AtomicU64::new(0),
            purged_at: AtomicU64::new(0),
            generation: AtomicU32::new(0),
            qnext: AtomicU32::new(0),
            queued: AtomicBool::new(false),
            purge_queued: AtomicBool::new(false),
            mixed: AtomicBool::new(false),
            pair: AtomicBool::new(false),
            lock: RawLock::new(),
            prev: AtomicU32::new(0),
            next: AtomicU32::new(0),
            _pad: [0; 3],
            bm: [const { AtomicU64::new(0) }; BITMAP_WORDS],
            pend: [const { AtomicU64::new(0) }; BITMAP_WORDS],
        }
    }

    /// Give the span a new activation number, so that a delayed purge
    /// queued for an earlier activation finds it stale. The numbers come
    /// from one counter and never repeat (before 2^32 activations), and 0
    /// is never issued: the metadata of a slab in a free run may be given
    /// back and read as zeroes (`region::free_run`), and a slab reused
    /// after that must not take an old number again.
    pub fn renew(&self) {
        static NEXT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(1);
        let mut g = NEXT.fetch_add(1, Relaxed);
        if g == 0 {
            g = NEXT.fetch_add(1, Relaxed);
        }
        self.generation.store(g, Relaxed);
    }

    /// Prepare this head slab to serve class `class` from a span starting at
    /// `base`: every object free, no remote free pending. Resident pages are
    /// kept (a span reused from a hot cache keeps its pages). The caller is
    /// the span's only user and has set up its interior slabs.
    pub fn format(&self, base: usize, class: usize) {
        let cap = class_capacity(class);
        self.base.store(base, Relaxed);
        self.size.store(class_size(class) as u32, Relaxed);
        self.magic.store(class_magic(class), Relaxed);
        self.shift.store(class_shift(class) as u8, Relaxed);
        self.cap.store(cap as u32, Relaxed);
        self.fcap.store(cap as u32, Relaxed);
        self.class.store(class as u8, Relaxed);
        self.span.store(span_slabs(class) as u32, Relaxed);
        self.cursor.store(0, Relaxed);
        self.used.store(0, Relaxed);
        self.mark.store(0, Relaxed);
        self.summary.store(0, Relaxed);
        self.renew();
        self.mixed.store(false, Relaxed);
        self.pair.store(false, Relaxed);
        for k in &self.kinds {
            k.store(0, Relaxed);
        }
        for w in 0..BITMAP_WORDS {
            let lo = w * 64;
            let bits = if lo >= cap {
                0
            } else if cap - lo >= 64 {
                u64::MAX
            } else {
                (1u64 << (cap - lo)) - 1
            };
            self.bm[w].store(bits, Relaxed);
            self.pend[w].store(0, Relaxed);
        }
    }

    /// Bitmap word `w` (masked: no bounds check on the fast paths).
    #[inline(always)]
    fn word(&self, w: usize) -> &AtomicU64 {
        &self.bm[w & (BITMAP_WORDS - 1)]
    }

    #[inline(always)]
    fn pend_word(&self, w: usize) -> &AtomicU64 {
        &self.pend[w & (BITMAP_WORDS - 1)]
    }

    /// Objects of word `w` whose pages are covered by `bits`, as an object
    /// index range (first, last inclusive).
    fn object_range(w: usize, bits: u64) -> (usize, usize) {
        let first = w * 64 + bits.trailing_zeros() as usize;
        let last = w * 64 + 63 - bits.leading_zeros() as usize;
        (first, last)
    }

    /// Take free objects out of the bitmap: the lowest free bits of the
    /// lowest word that has a useful number of them (a quarter of what a
    /// take may hand out), else of the word with the most, at most
    /// [`TAKE_BYTES`] worth (at least one object). Lowest first keeps live
    /// objects packed toward the start of the span, so whole pages empty;
    /// skipping words with only a few scattered holes keeps the bin from
    /// coming back to this lock after every other allocation. The objects
    /// leave the bitmap (the caller's bin holds them) and count as used
    /// until given back with [`SlabMeta::give_back`]. `None` when the span
    /// is full. Collector only, with `lock` held.
    pub fn take(&self) -> Option<Taken> {
        self.take_for(self.class.load(Relaxed) as usize)
    }

    /// Free objects of word `w` of a shared span that class `class` may
    /// take: the object starts of the chunks serving `class` and of the
    /// chunks wholly free (which can be given to it). Bitwise over the
    /// word's chunks at once: it runs for every word a take looks at.
    #[inline]
    fn avail(&self, w: usize, class: usize) -> u64 {
        let x = self.word(w).load(Relaxed);
        let second = SECOND[self.word_kinds(w)];
        let (mine, starts) = if class == SHARED_PAIR.1 {
            (second, STARTS[(1 << CPW) - 1])
        } else {
            (!second, u64::MAX)
        };
        // The other class's chunks that are wholly free, with no double
        // free waiting to be folded in against their old kind.
        let mut other = full_chunks(x) & !mine;
        if other != 0 {
            other &= full_chunks(!self.pend_word(w).load(Relaxed));
        }
        (x & mine | other) & starts
    }

    /// [`SlabMeta::take`] for the objects of `class`: the span's own, or in
    /// a span of the shared pair's first class, either of the pair. A
    /// chunk wholly free serves whichever class takes it.
    pub fn take_for(&self, class: usize) -> Option<Taken> {
        let cap = self.cap.load(Relaxed) as usize;
        let words = cap.div_ceil(64).min(BITMAP_WORDS);
        let size = (self.size.load(Relaxed) as usize).max(1);
        let second = class == SHARED_PAIR.1 && self.class.load(Relaxed) as usize == SHARED_PAIR.0;
        if second {
            self.share();
        }
        if !self.shared() {
            return self.take_whole(words, size);
        }
        let k = second as u32;
        let most = take_most(size);
        let want = ((most as u32 >> k) / 4).max(1);
        let start = self.cursor.load(Relaxed) as usize;
        let w = self.pick_word(start..words, size, want, |w| self.avail(w, class));
        let Some(w) = w else {
            // In a shared span the other class may still have room.
            self.advance_cursor(start, words);
            return None;
        };
        let mut a = self.avail(w, class);
        // A wholly free chunk is taken alone: the pair's classes then take
        // turns on the span's free chunks in chunk steps, and a phase's
        // objects of both lie close together. The holes of the word's
        // chunks already serving the class go together (fewer visits here
        // under random frees).
        let x = self.word(w).load(Relaxed);
        let first = CHUNK_BITS << (a.trailing_zeros() as usize / CHUNK_GRANULES * CHUNK_GRANULES);
        if x & first == first {
            a &= first;
        } else {
            a &= !full_chunks(x);
        }
        let bits = lowest_bits(a, most);
        // Chunks handed to the other class of the pair change kind, and
        // the change is visible before their objects leave the bitmap: a
        // remote free that finds an object of such a chunk neither in its
        // class's bin nor in the bitmap sees the kind changed
        // ([`SlabMeta::kind_changed`]) and knows it was free.
        let mut changed = false;
        for q in 0..CPW {
            let part = bits & (CHUNK_BITS << (q * CHUNK_GRANULES));
            if part != 0 && self.kind(w, part) != k as u64 {
                let c = w * CPW + q;
                let word = &self.kinds[(c / 64) & (KIND_WORDS - 1)];
                word.store(word.load(Relaxed) ^ (1u64 << (c & 63)), Relaxed);
                changed = true;
            }
        }
        if changed {
            let cap = if self.any_kinds() {
                0
            } else {
                self.cap.load(Relaxed)
            };
            self.fcap.store(cap, Relaxed);
            fence(Release);
        }
        let x = self.word(w).load(Relaxed);
        self.word(w).store(x & !bits, Relaxed);
        self.advance_cursor(start, words);
        self.used
            .store(self.used.load(Relaxed) + self.weight(w, bits), Relaxed);
        Some(Taken { word: w, bits })
    }

    /// [`SlabMeta::take_for`] in a span whose objects are all of its own
    /// class (every span but a shared one): whole words, no chunk kinds.
    fn take_whole(&self, words: usize, size: usize) -> Option<Taken> {
        let most = take_most(size);
        let want = (most as u32 / 4).max(1);
        let start = self.cursor.load(Relaxed) as usize;
        let w = self.pick_word(start..words, size, want, |w| self.word(w).load(Relaxed));
        let Some(w) = w else {
            self.cursor.store(words as u32, Relaxed);
            return None;
        };
        let x = self.word(w).load(Relaxed);
        let bits = lowest_bits(x, most);
        self.word(w).store(x & !bits, Relaxed);
        // The cursor only moves past words known to be empty.
        let first = (start..words)
            .find(|&v| self.word(v).load(Relaxed) != 0)
            .unwrap_or(words);
        self.cursor.store(first as u32, Relaxed);
        self.used
            .store(self.used.load(Relaxed) + bits.count_ones(), Relaxed);
        Some(Taken { word: w, bits })
    }

    /// Move the cursor from `start` to the first word holding a free
    /// object, past words known to hold none (in a shared span, a 64-byte
    /// chunk's odd granules are always set: they are no objects).
    fn advance_cursor(&self, start: usize, words: usize) {
        let free = |v: usize| self.word(v).load(Relaxed) & STARTS[self.word_kinds(v)] != 0;
        let first = (start..words).find(|&v| free(v)).unwrap_or(words);
        self.cursor.store(first as u32, Relaxed);
    }

    /// The word a take hands out (objects of `size` bytes, `avail` the
    /// free objects of a word for the taking class): see [`SlabMeta::pick`].
    /// In a one-slab span with pages not resident (given back, or not yet
    /// touched), room on pages that are resident comes before faulting
    /// others in. Only a word with room counts there: handing the bin the
    /// one or two holes that short-lived objects left in a word would
    /// scatter the next objects, and whatever of them outlives its
    /// neighbours pins a page of its own (phase_py: 2 pages per kept run of
    /// 2 KB instead of 1.5, 1.66x its twin's RSS instead of 1.33x). That
    /// holds for pages kept for their live objects too: filling their holes
    /// first scattered the next phase's survivors further.
    #[inline(always)]
    fn pick_word(
        &self,
        range: core::ops::Range<usize>,
        size: usize,
        want: u32,
        avail: impl Fn(usize) -> u64,
    ) -> Option<usize> {
        let resident = self.resident.load(Relaxed);
        let partial = self.span.load(Relaxed) == 1 && resident != 0 && resident != u16::MAX;
        self.pick(
            range,
            want,
            avail,
            partial.then_some(|w: usize| {
                resident & (1 << (((w * 64 * size) >> PAGE_SHIFT) & 15)) != 0
            }),
        )
    }

    /// The first word of `range` with at least `want` free objects that
    /// `prefer` accepts (`None`: every word), else the first with at least
    /// `want`, else the one with the most (the lowest among equals); `None`
    /// when every word is full. Two passes, the first counting only the
    /// words `prefer` accepts: a span being filled for the first time has its untouched
    /// pages ahead of the cursor, and a single pass looking for a
    /// preferred word counted every word to the end of the span on every
    /// take (a quarter of the slow path's instructions in a loop of
    /// 64-byte objects); the second pass stops at the first word with room.
    fn pick(
        &self,
        range: core::ops::Range<usize>,
        want: u32,
        avail: impl Fn(usize) -> u64,
        prefer: Option<impl Fn(usize) -> bool>,
    ) -> Option<usize> {
        // A word with no room is common (a span filling up, pages kept
        // for their survivors): it costs no count (`count_ones` is a
        // dozen instructions without a popcount instruction).
        let count = |w: usize| match avail(w) {
            0 => 0,
            a => a.count_ones(),
        };
        if let Some(prefer) = prefer
            && let Some(w) = range.clone().find(|&w| prefer(w) && count(w) >= want)
        {
            return Some(w);
        }
        let mut best = None;
        let mut best_n = 0;
        for w in range {
            let n = count(w);
            if n >= want {
                return Some(w);
            }
            if n > best_n {
                best = Some(w);
                best_n = n;
            }
        }
        best
    }

    /// Pages (span-relative indices, first and last inclusive) that the
    /// objects `t` occupy.
    pub fn pages_of(&self, t: Taken) -> (usize, usize) {
        let size = self.size.load(Relaxed) as usize;
        let (first, last) = Self::object_range(t.word, t.bits);
        (
            (first * size) >> PAGE_SHIFT,
            ((last + 1) * size - 1) >> PAGE_SHIFT,
        )
    }

    /// Give back free objects `bits` of word `w` taken with
    /// [`SlabMeta::take`]. Returns the objects still in use. Collector only.
    pub fn give_back(&self, w: usize, bits: u64) -> u32 {
        let x = self.word(w).load(Relaxed);
        self.word(w).store(x | bits, Relaxed);
        if (w as u32) < self.cursor.load(Relaxed) {
            self.cursor.store(w as u32, Relaxed);
        }
        let u = self.used.load(Relaxed).wrapping_sub(self.weight(w, bits));
        self.used.store(u, Relaxed);
        u
    }

    /// Locate the object at `p`: (bitmap word, bit mask), or `None` if `p`
    /// is not the start of an object of this span.
    #[inline(always)]
    pub fn locate(&self, p: usize) -> Option<(usize, u64)> {
        self.find(p).map(|(w, b, _)| (w, b))
    }

    /// The index of the object at or below `p` (which may be beyond the
    /// capacity), and whether `p` is its start.
    #[inline(always)]
    fn index_raw(&self, p: usize) -> (usize, bool) {
        let off = p.wrapping_sub(self.base.load(Relaxed));
        let q = (off >> (self.shift.load(Relaxed) & 31)) as u64;
        let i = ((q * self.magic.load(Relaxed) as u64) >> 32) as usize;
        (i, i.wrapping_mul(self.size.load(Relaxed) as usize) == off)
    }

    /// [`SlabMeta::locate`] for the owner's free fast path. Any pointer
    /// into a span with chunks of the pair's second class too (see
    /// `fcap`), and any that is no object start, is an `Err` carrying the
    /// index [`SlabMeta::find_at`] takes (the division is not done twice).
    #[inline(always)]
    pub fn locate_own(&self, p: usize) -> Result<(usize, u64), usize> {
        let (i, start) = self.index_raw(p);
        if !start || i >= self.fcap.load(Relaxed) as usize {
            return Err(i);
        }
        Ok((i >> 6, 1u64 << (i & 63)))
    }

    /// [`SlabMeta::locate`], with the kind of the object's chunk (1: the
    /// shared pair's second class, 0 otherwise).
    #[inline(always)]
    pub fn find(&self, p: usize) -> Option<(usize, u64, u32)> {
        self.find_at(p, self.index_raw(p).0)
    }

    /// [`SlabMeta::find`] of `p`, whose index [`SlabMeta::locate_own`]
    /// computed (`i`, not yet known to be `p`'s start).
    #[inline(always)]
    pub fn find_at(&self, p: usize, i: usize) -> Option<(usize, u64, u32)> {
        let off = p.wrapping_sub(self.base.load(Relaxed));
        if i.wrapping_mul(self.size.load(Relaxed) as usize) != off {
            return None;
        }
        self.find_index(i)
    }

    /// [`SlabMeta::find`] of the object with index `i`.
    #[inline(always)]
    fn find_index(&self, i: usize) -> Option<(usize, u64, u32)> {
        if i >= self.cap.load(Relaxed) as usize {
            return None;
        }
        let kind = self.chunk_kind(i / CHUNK_GRANULES);
        // The odd granule of a 64-byte object's chunk is not an object
        // (`kinds` is 0 in every other span).
        if kind as usize & i != 0 {
            return None;
        }
        Some((i >> 6, 1u64 << (i & 63), kind as u32))
    }

    /// Let the shared pair's second class take chunks of this span (of
    /// the pair's first class): from now on its takes go by chunk. The
    /// owner only, as it makes the span its current one.
    #[inline]
    pub fn share(&self) {
        if self.class.load(Relaxed) as usize == SHARED_PAIR.0 {
            self.pair.store(true, Relaxed);
        }
    }

    /// Whether this span is shared by the pair's two classes (a heap took
    /// objects of the second class from it since it was formatted; until
    /// then `kinds` is 0 and its takes go by whole words).
    #[inline]
    fn shared(&self) -> bool {
        self.pair.load(Relaxed)
    }

    /// 1 if chunk `c` of the span serves the shared pair's second class,
    /// else 0 (always 0 outside shared spans).
    #[inline(always)]
    fn chunk_kind(&self, c: usize) -> u64 {
        (self.kinds[(c / 64) & (KIND_WORDS - 1)].load(Relaxed) >> (c & 63)) & 1
    }

    /// The kinds of word `w`'s chunks, bit `q` for its chunk `q`.
    #[inline(always)]
    fn word_kinds(&self, w: usize) -> usize {
        let c = w * CPW;
        let k = self.kinds[(c / 64) & (KIND_WORDS - 1)].load(Relaxed) >> (c & 63);
        (k & ((1 << CPW) - 1)) as usize
    }

    /// Whether any chunk of the span serves the pair's second class.
    #[inline]
    fn any_kinds(&self) -> bool {
        self.kinds.iter().any(|k| k.load(Relaxed) != 0)
    }

    /// 1 if the chunk holding bit `b` (the lowest, if several) of word `w`
    /// serves the shared pair's second class, else 0 (always 0 outside
    /// shared spans).
    #[inline(always)]
    fn kind(&self, w: usize, b: u64) -> u64 {
        self.chunk_kind(w * CPW + b.trailing_zeros() as usize / CHUNK_GRANULES)
    }

    /// Whether the chunk of object (`w`, `b`) no longer has kind `kind`
    /// (read by [`SlabMeta::find`]): it changed class, which it does only
    /// while wholly free. For another thread's check after it found the
    /// object neither in its class's bin nor in the bitmap (with an
    /// acquire since): the change is published before the chunk's objects
    /// leave the bitmap.
    #[inline]
    pub fn kind_changed(&self, w: usize, b: u64, kind: u32) -> bool {
        self.kind(w, b) != kind as u64
    }

    /// Class of an object whose chunk has kind `kind` (from
    /// [`SlabMeta::find`]).
    #[inline(always)]
    pub fn class_of_kind(&self, kind: u32) -> usize {
        self.class.load(Relaxed) as usize + kind as usize * (SHARED_PAIR.1 - SHARED_PAIR.0)
    }

    /// Class of object (`w`, `b`) (from [`SlabMeta::locate`]).
    #[inline(always)]
    pub fn class_at(&self, w: usize, b: u64) -> usize {
        let c = self.class.load(Relaxed) as usize;
        c + self.kind(w, b) as usize * (SHARED_PAIR.1 - SHARED_PAIR.0)
    }

    /// Usable size of object (`w`, `b`).
    #[inline(always)]
    pub fn object_size_at(&self, w: usize, b: u64) -> usize {
        self.object_size() << self.kind(w, b)
    }

    /// The units `used` counts for objects `bits` of word `w`: one per
    /// object, two per 64-byte object of a shared span (its granules).
    #[inline(always)]
    pub fn weight(&self, w: usize, bits: u64) -> u32 {
        bits.count_ones() + (bits & SECOND[self.word_kinds(w)]).count_ones()
    }

    /// Live objects of a shared span by class (the pair's first, second),
    /// counting remote frees not yet folded in as freed and the free
    /// objects a bin holds as live (as `used` does). For statistics; racy.
    pub fn live_by_kind(&self) -> [u32; 2] {
        let mut out = [0u32; 2];
        for w in 0..BITMAP_WORDS {
            let free = self.bm[w].load(Relaxed) | self.pend[w].load(Relaxed);
            let k = self.word_kinds(w);
            let live = STARTS[k] & !free;
            let second = live & SECOND[k];
            out[0] += (live ^ second).count_ones();
            out[1] += second.count_ones();
        }
        out
    }

    /// Free object (`w`, `b`) (from [`SlabMeta::locate`]) as the span's
    /// collector. Returns the objects still in use afterwards.
    #[inline(always)]
    pub fn free_bit(&self, w: usize, b: u64) -> Result<u32, FreeError> {
        self.free_units(w, b, 1 + self.kind(w, b) as u32)
    }

    /// [`SlabMeta::free_bit`] of an object worth `units` of `used` (1 +
    /// its kind, from [`SlabMeta::find`]).
    #[inline(always)]
    pub fn free_units(&self, w: usize, b: u64, units: u32) -> Result<u32, FreeError> {
        let x = self.word(w).load(Relaxed);
        if x & b != 0 {
            return Err(FreeError::DoubleFree);
        }
        self.word(w).store(x | b, Relaxed);
        if (w as u32) < self.cursor.load(Relaxed) {
            self.cursor.store(w as u32, Relaxed);
        }
        let u = self.used.load(Relaxed).wrapping_sub(units);
        self.used.store(u, Relaxed);
        Ok(u)
    }

    /// Free the object at `p` as the span's collector (when no bin holds
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
        self.check_live()?;
        let (w, b, kind) = self.find(p).ok_or(FreeError::Invalid)?;
        self.free_remote_bit(w, b, kind)
    }

    /// Refuse pointers into a span that holds no allocated object.
    pub fn check_live(&self) -> Result<(), FreeError> {
        match self.state.load(Acquire) {
            State::Active => Ok(()),
            // An empty cached span: every object is already free.
            State::Cached => Err(FreeError::DoubleFree),
            _ => Err(FreeError::Invalid),
        }
    }

    /// Why a pointer `p` into this span or block is refused when it is not
    /// live: a span or block released to the region keeps its old shape in
    /// its metadata, so a pointer that was a block of it is a double free
    /// (or a use after free); anything else is invalid.
    pub fn refusal(&self, p: usize) -> FreeError {
        match self.state.load(Acquire) {
            State::Cached | State::HugeCached => FreeError::DoubleFree,
            State::Free if p == self.base.load(Relaxed) && p != 0 => FreeError::DoubleFree,
            State::Free if self.size.load(Relaxed) != 0 && self.locate(p).is_some() => {
                FreeError::DoubleFree
            }
            _ => FreeError::Invalid,
        }
    }

    /// Whether object (`w`, `b`) is free in the bitmap or pending as a
    /// remote free (as seen by any thread; exact for the collector).
    pub fn is_free_here(&self, w: usize, b: u64) -> bool {
        // Pending first, then the bitmap, and `pend` itself rather than the
        // summary (swapped out at the start of a collection): see
        // `free_remote_bit`.
        self.pend_word(w).load(Acquire) & b != 0 || self.word(w).load(Acquire) & b != 0
    }

    /// Record a free of object (`w`, `b`) by a thread that is not the
    /// collector. Only the atomic `pend` bitmap and summary are written. A
    /// double free is caught here when the object is visibly free or already
    /// pending (the caller also checks the owner's bin), and otherwise when
    /// the collector folds the bits in. `kind`: the kind of the object's
    /// chunk when it was located ([`SlabMeta::find`]).
    pub fn free_remote_bit(&self, w: usize, b: u64, kind: u32) -> Result<(), FreeError> {
        let w = w & (BITMAP_WORDS - 1);
        // Pending first, then the bitmap: the collector folds a pending bit
        // into the bitmap before it clears it (see `collect`), so a bit
        // that has left `pend` by the time we look is in `bm` when we look
        // there. In the other order an earlier free being folded in
        // meanwhile would be in neither place when we look.
        if self.pend[w].load(SeqCst) & b != 0 {
            return Err(FreeError::DoubleFree);
        }
        // Read the bitmap before publishing the pending bit: once published,
        // the collector may fold it in and the bit would look free.
        if self.bm[w].load(Acquire) & b != 0 {
            return Err(FreeError::DoubleFree);
        }
        // In a shared span the object may have left the bitmap with its
        // chunk, wholly free, for the other class's bin: the chunk's new
        // kind is visible once its bits are (see `take_for`).
        if self.kind_changed(w, b, kind) {
            return Err(FreeError::DoubleFree);
        }
        if self.pend[w].fetch_or(b, SeqCst) & b != 0 {
            return Err(FreeError::DoubleFree);
        }
        // Skip the read-modify-write when the word is already flagged: the
        // collector swaps the summary before the words, so a flag we see set
        // is one it has not consumed yet, and it will fold our bit in.
        if self.summary.load(SeqCst) & (1u32 << w) == 0 {
            self.summary.fetch_or(1u32 << w, SeqCst);
        }
        Ok(())
    }

    /// Whether object (`w`, `b`) was freed by another thread and not folded
    /// in yet (a free of it now is a double free). Cheap when no remote
    /// free is pending in that word: one load of the summary.
    #[inline(always)]
    pub fn is_pending(&self, w: usize, b: u64) -> bool {
        let w = w & (BITMAP_WORDS - 1);
        self.summary.load(Relaxed) & (1u32 << w) != 0 && self.pend[w].load(Relaxed) & b != 0
    }

    /// Whether object (`w`, `b`) is free in the bitmap (a relaxed read,
    /// for checks that bracket it themselves).
    #[inline]
    pub fn in_bitmap(&self, w: usize, b: u64) -> bool {
        self.word(w).load(Relaxed) & b != 0
    }

    /// Whether object (`w`, `b`) is pending as a remote free now: `pend`
    /// itself, not the summary (which a collection swaps out first).
    #[inline]
    pub fn pending_now(&self, w: usize, b: u64) -> bool {
        self.pend_word(w).load(SeqCst) & b != 0
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
        let mut units = 0;
        while sum != 0 {
            let w = sum.trailing_zeros() as usize;
            sum &= sum - 1;
            let bits = self.pend_word(w).load(SeqCst);
            if bits == 0 {
                continue;
            }
            let x = self.word(w).load(Relaxed);
            let dup = bits & x;
            if dup != 0 {
                out.doubles += dup.count_ones();
                let i = w * 64 + dup.trailing_zeros() as usize;
                out.double_addr = self.base.load(Relaxed) + i * self.size.load(Relaxed) as usize;
            }
            let fresh = bits & !x;
            // Into the bitmap first, out of `pend` after (a release): an
            // object freed remotely is always visible as free in one of
            // them, so a later free of it (checking `pend`, then `bm`) is
            // caught as the double free it is. Bits set meanwhile stay
            // pending, their summary bit set again by their freer.
            self.word(w).store(x | fresh, Relaxed);
            self.pend_word(w).fetch_and(!bits, SeqCst);
            out.freed += fresh.count_ones();
            units += self.weight(w, fresh);
            low = low.min(w as u32);
        }
        if out.freed > 0 {
            self.used
                .store(self.used.load(Relaxed).wrapping_sub(units), Relaxed);
            if low < self.cursor.load(Relaxed) {
                self.cursor.store(low, Relaxed);
            }
        }
        out
    }

    /// Fold an orphan's pending remote frees in (its lock held) and say
    /// whether it may be reclaimed: empty, and on no notification stack (a
    /// queued span is reclaimed by whoever pops it).
    pub fn fold_orphan(&self) -> (Collected, bool) {
        let c = self.collect();
        (c, self.used.load(Relaxed) == 0 && !self.queued.load(SeqCst))
    }

    /// Units of `used` pending as remote frees (for statistics; racy).
    pub fn pending_count(&self) -> u32 {
        let mut pending = 0;
        let mut sum = self.summary.load(Relaxed);
        while sum != 0 {
            let w = sum.trailing_zeros() as usize;
            sum &= sum - 1;
            pending += self.weight(w, self.pend_word(w).load(Relaxed));
        }
        pending
    }

    /// Objects in use as seen from any thread: handed out and not freed,
    /// counting remote frees not yet folded in as freed. Approximate while
    /// threads run (for statistics).
    pub fn live_estimate(&self) -> u32 {
        self.used.load(Relaxed).saturating_sub(self.pending_count())
    }

    /// Whether the span can still hand out an object. Collector only.
    pub fn has_free(&self) -> bool {
        self.used.load(Relaxed) < self.cap.load(Relaxed)
    }

    /// Usable size of the objects of this span.
    #[inline(always)]
    pub fn object_size(&self) -> usize {
        self.size.load(Relaxed) as usize
    }

    /// Whether objects `first..=last` are all free (in the bitmap or
    /// pending as remote frees).
    fn all_free(&self, first: usize, last: usize) -> bool {
        let mut i = first;
        while i <= last {
            let w = i >> 6;
            let lo = i & 63;
            let hi = if last >> 6 == w { last & 63 } else { 63 };
            let want = (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
            let have = self.word(w).load(Relaxed) | self.pend_word(w).load(Relaxed);
            if have & want != want {
                return false;
            }
            i = (w + 1) << 6;
        }
        true
    }

    /// Of the pages of slab `k` of this span (span-relative slab index),
    /// those that hold no live object: every object overlapping the page is
    /// free (objects straddling a page boundary count for both pages).
    /// Pages past the last object are free. Call with `lock` held (so no
    /// object can be handed out meanwhile); other threads may only add free
    /// bits, which makes the answer conservative, never wrong.
    pub fn free_pages(&self, k: usize) -> u16 {
        let size = self.size.load(Relaxed) as usize;
        let cap = self.cap.load(Relaxed) as usize;
        if size == 0 {
            return 0;
        }
        let sh = self.shift.load(Relaxed) & 31;
        let magic = self.magic.load(Relaxed) as u64;
        let index = |off: usize| (((off >> sh) as u64 * magic) >> 32) as usize;
        let mut out = 0u16;
        for j in 0..SLAB_PAGES {
            let start = (k * SLAB_PAGES + j) * PAGE;
            let first = index(start);
            if first >= cap {
                out |= 1 << j;
                continue;
            }
            let last = index(start + PAGE - 1).min(cap - 1);
            if self.all_free(first, last) {
                out |= 1 << j;
            }
        }
        out
    }
}

/// Most objects of `size` bytes one take hands out: [`TAKE_BYTES`] worth,
/// one word at most, at least one (no division for the small classes).
#[inline]
fn take_most(size: usize) -> usize {
    if size <= TAKE_BYTES / 64 {
        64
    } else {
        (TAKE_BYTES / size).max(1)
    }
}

/// The lowest `n` set bits of `x` (all of them if it has fewer).
pub(crate) fn lowest_bits(x: u64, n: usize) -> u64 {
    if x.count_ones() as usize <= n {
        return x;
    }
    let mut out = 0;
    let mut rest = x;
    for _ in 0..n {
        let b = rest & rest.wrapping_neg();
        out |= b;
        rest &= !b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizeclass::{NCLASS, NSMALL, SHARED_PAIR, class_of, span_bytes};

    fn span(class: usize) -> (Box<SlabMeta>, usize) {
        let m = Box::new(SlabMeta::empty());
        let base = 0x7000_0000_0000usize;
        m.format(base, class);
        m.state.set(State::Active);
        (m, base)
    }

    /// Allocate one object: take some bits, keep the lowest, give the rest
    /// back (what a heap's bin does over many allocations).
    fn alloc(m: &SlabMeta) -> usize {
        match m.take() {
            Some(t) => {
                let i = t.bits.trailing_zeros() as usize;
                m.give_back(t.word, t.bits & (t.bits - 1));
                m.base.load(Relaxed) + (t.word * 64 + i) * m.object_size()
            }
            None => 0,
        }
    }

    #[test]
    fn empty_sentinel_never_allocates() {
        let m = SlabMeta::empty();
        assert_eq!(m.take(), None);
        assert_eq!(m.locate(0x1000), None);
    }

    #[test]
    fn takes_are_bounded_by_bytes_and_count_as_used() {
        let (m, base) = span(class_of(16));
        let t = m.take().unwrap();
        assert_eq!((t.word, t.bits), (0, u64::MAX));
        assert_eq!(m.used.load(Relaxed), 64);
        assert_eq!(m.give_back(0, t.bits & !1), 1);
        assert_eq!(m.free_local(base), Ok(0));
        assert_eq!(m.free_local(base), Err(FreeError::DoubleFree));
        // A 64 KiB medium class hands out one object per take.
        let (m, _) = span(class_of(64 << 10));
        let t = m.take().unwrap();
        assert_eq!(t.bits, 1);
        assert_eq!(m.pages_of(t), (0, 15));
        let t = m.take().unwrap();
        assert_eq!(t.bits, 2);
        assert_eq!(m.pages_of(t), (16, 31));
    }

    #[test]
    fn fills_every_object_once() {
        for c in 0..NCLASS {
            let (m, base) = span(c);
            let cap = class_capacity(c);
            let size = class_size(c);
            let mut seen = vec![false; cap];
            for _ in 0..cap {
                let p = alloc(&m);
                assert!(p >= base && (p - base) % size == 0, "class {c}: {p:#x}");
                let i = (p - base) / size;
                assert!(!seen[i], "class {c} object {i} twice");
                seen[i] = true;
            }
            assert_eq!(alloc(&m), 0);
            assert_eq!(m.used.load(Relaxed) as usize, cap);
            assert!(!m.has_free());
        }
    }

    #[test]
    fn takes_skip_words_with_only_a_few_holes() {
        // 16-byte objects: a take hands out up to 64, so a word with fewer
        // than 16 free is passed over while a later word has more.
        let (m, base) = span(class_of(16));
        let size = class_size(class_of(16));
        let t = m.take().unwrap();
        assert_eq!((t.word, t.bits), (0, !0));
        let t = m.take().unwrap();
        assert_eq!((t.word, t.bits), (1, !0));
        // Three holes in word 0: the next take uses word 2.
        for i in [3usize, 17, 40] {
            m.free_local(base + i * size).unwrap();
        }
        assert_eq!(m.take().unwrap().word, 2);
        // Sixteen holes in word 1: lowest word with enough comes first.
        for i in 64..80usize {
            m.free_local(base + i * size).unwrap();
        }
        let t = m.take().unwrap();
        assert_eq!((t.word, t.bits.count_ones()), (1, 16));
        // Only scattered holes left anywhere: the word with the most.
        while m.take().is_some_and(|t| t.word != 0) {}
        for i in [5 * 64 + 1, 5 * 64 + 9, 7 * 64 + 2] {
            m.free_local(base + i * size).unwrap();
        }
        let t = m.take().unwrap();
        assert_eq!((t.word, t.bits.count_ones()), (5, 2));
    }

    #[test]
    fn a_few_holes_on_resident_pages_do_not_come_before_room_elsewhere() {
        // 32-byte objects, two words per page, taken a chunk (a quarter
        // of a word) at a time (the span is shared with 64-byte objects);
        // page 0 resident (as taking its objects marks it), the rest not
        // yet touched.
        let (m, base) = span(class_of(32));
        m.share();
        let size = class_size(class_of(32));
        for w in [0, 1] {
            for _ in 0..CPW {
                assert_eq!(m.take().unwrap().word, w);
            }
        }
        m.resident.store(1, Relaxed);
        // Two short-lived objects freed on page 0: the next objects go on
        // in order (word 2), not into those holes, where whatever of them
        // lives on would pin page 0 apart from its neighbours.
        for i in [5usize, 70] {
            m.free_local(base + i * size).unwrap();
        }
        assert_eq!(m.take().unwrap().word, 2);
        // Room on a resident page (a sixteenth of a take) is used first.
        m.resident.store(0b11, Relaxed);
        for i in 0..16usize {
            m.free_local(base + (64 + 8 + i) * size).unwrap();
        }
        let t = m.take().unwrap();
        assert_eq!((t.word, t.bits.count_ones()), (1, 17));
    }

    /// Chunk `q` of a word: its bits, and its objects of the pair's second
    /// class.
    fn chunk(q: usize) -> u64 {
        CHUNK_BITS << (q * CHUNK_GRANULES)
    }
    fn halves(q: usize) -> u64 {
        START[1] << (q * CHUNK_GRANULES)
    }
    /// Bytes of a chunk.
    const CHUNK: usize = CHUNK_GRANULES * 32;

    fn no_kinds(m: &SlabMeta) -> bool {
        !m.any_kinds()
    }

    #[test]
    fn pick_answers_as_its_two_pass_definition() {
        // The definition: the first preferred word with `want`, else the
        // first with `want`, else the first with the most.
        let reference = |a: &[u64], want: u32, pref: Option<&[bool]>| {
            let n = |w: usize| a[w].count_ones();
            if let Some(p) = pref
                && let Some(w) = (0..a.len()).find(|&w| p[w] && n(w) >= want)
            {
                return Some(w);
            }
            if let Some(w) = (0..a.len()).find(|&w| n(w) >= want) {
                return Some(w);
            }
            let most = (0..a.len()).map(n).max().unwrap_or(0);
            (most > 0).then(|| (0..a.len()).find(|&w| n(w) == most).unwrap())
        };
        let m = SlabMeta::empty();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..5_000 {
            let len = (next() % 33) as usize;
            let a: Vec<u64> = (0..len)
                .map(|_| match next() % 4 {
                    0 => 0,
                    1 => next() & next() & next(),
                    2 => next() & next(),
                    _ => next(),
                })
                .collect();
            let p: Vec<bool> = (0..len).map(|_| next() % 3 == 0).collect();
            let want = (next() % 40) as u32 + 1;
            let got = m.pick(0..len, want, |w| a[w], Some(|w: usize| p[w]));
            assert_eq!(got, reference(&a, want, Some(&p)), "{a:x?} {p:?} {want}");
            let got = m.pick(0..len, want, |w| a[w], None::<fn(usize) -> bool>);
            assert_eq!(got, reference(&a, want, None), "{a:x?} {want}");
        }
    }

    #[test]
    fn full_chunks_finds_the_chunks_with_every_bit_set() {
        let naive = |v: u64| {
            (0..CPW)
                .map(|q| CHUNK_BITS << (q * CHUNK_GRANULES))
                .filter(|&c| v & c == c)
                .fold(0, |a, c| a | c)
        };
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly-set words, so that whole chunks are common.
            let v = match i % 4 {
                0 => x,
                1 => x | x.rotate_left(7) | x.rotate_left(21),
                2 => !(1u64 << (x % 64)),
                _ => u64::MAX ^ (x & (x >> 5) & (x >> 11) & (x >> 17)),
            };
            assert_eq!(full_chunks(v), naive(v), "{v:#x}");
        }
        assert_eq!(full_chunks(u64::MAX), u64::MAX);
        assert_eq!(full_chunks(0), 0);
        assert_eq!(
            full_chunks(CHUNK_BITS << CHUNK_GRANULES),
            CHUNK_BITS << CHUNK_GRANULES
        );
    }

    #[test]
    fn shared_chunks_serve_both_classes_of_the_pair_in_turn() {
        let (m, base) = span(SHARED_PAIR.0);
        // 64-byte objects take chunk 0: its even granules.
        let t = m.take_for(SHARED_PAIR.1).unwrap();
        assert_eq!((t.word, t.bits), (0, halves(0)));
        // 32-byte objects take the next chunk, not chunk 0's odd granules.
        let t = m.take_for(SHARED_PAIR.0).unwrap();
        assert_eq!((t.word, t.bits), (0, chunk(1)));
        // Then 64-byte objects the one after.
        let t = m.take_for(SHARED_PAIR.1).unwrap();
        assert_eq!((t.word, t.bits), (0, halves(2)));
        assert_eq!(m.kinds[0].load(Relaxed), 0b101);
        assert_eq!(m.word_kinds(0), 0b101);
        // `used` counts granules: two chunks of 64-byte objects, one of
        // 32-byte objects.
        assert_eq!(m.used.load(Relaxed), 3 * CHUNK_GRANULES as u32);
        // A 64-byte object: located, its class and size; its odd granule
        // is no object.
        assert_eq!(m.locate(base + 64), Some((0, 1 << 2)));
        assert_eq!(m.class_at(0, 1 << 2), SHARED_PAIR.1);
        assert_eq!(m.object_size_at(0, 1 << 2), 64);
        assert_eq!(m.locate(base + 96), None);
        assert_eq!(m.free_local(base + 96), Err(FreeError::Invalid));
        // A 32-byte object in chunk 1.
        let b = 1 << (CHUNK_GRANULES + 1);
        assert_eq!(m.locate(base + CHUNK + 32), Some((0, b)));
        assert_eq!(m.class_at(0, b), SHARED_PAIR.0);
        assert_eq!(m.object_size_at(0, b), 32);
        let n = CHUNK_GRANULES as u32;
        assert_eq!(m.live_by_kind(), [n, n]);
        // Frees give back their granules; a second free is refused.
        assert_eq!(m.free_local(base + 64), Ok(3 * n - 2));
        assert_eq!(m.free_local(base + 64), Err(FreeError::DoubleFree));
        assert_eq!(m.free_local(base + CHUNK + 32), Ok(3 * n - 3));
        assert_eq!(m.live_by_kind(), [n - 1, n - 1]);
    }

    #[test]
    fn a_span_has_a_kind_for_every_chunk() {
        let (m, base) = span(SHARED_PAIR.0);
        m.share();
        // Take every chunk, alternating classes: chunk c goes to the
        // second class when c is odd, in every kinds word.
        let chunks = class_capacity(SHARED_PAIR.0) / CHUNK_GRANULES;
        for c in 0..chunks {
            let t = m
                .take_for(if c % 2 == 1 {
                    SHARED_PAIR.1
                } else {
                    SHARED_PAIR.0
                })
                .unwrap();
            assert_eq!(
                t.word * CPW + t.bits.trailing_zeros() as usize / CHUNK_GRANULES,
                c
            );
        }
        assert!(m.take_for(SHARED_PAIR.0).is_none());
        for k in &m.kinds {
            assert_eq!(k.load(Relaxed), 0xAAAA_AAAA_AAAA_AAAA);
        }
        let last = base + (chunks - 1) * CHUNK;
        assert_eq!(m.find(last).map(|f| f.2), Some(1));
        assert_eq!(m.find(last - CHUNK + 32).map(|f| f.2), Some(0));
        assert_eq!(
            m.live_by_kind(),
            [
                (chunks / 2 * CHUNK_GRANULES) as u32,
                (chunks / 2 * CHUNK_GRANULES / 2) as u32
            ]
        );
    }

    #[test]
    fn the_owners_free_fast_path_leaves_spans_with_64_byte_chunks_to_find() {
        let (m, base) = span(SHARED_PAIR.0);
        // Shared but every chunk still of 32-byte objects: the fast path.
        m.share();
        let t = m.take_for(SHARED_PAIR.0).unwrap();
        assert_eq!((t.word, t.bits), (0, chunk(0)));
        assert_eq!(m.locate_own(base + 32), Ok((0, 1 << 1)));
        // Chunk 1 goes to 64-byte objects: every pointer takes `find`.
        let t = m.take_for(SHARED_PAIR.1).unwrap();
        assert_eq!((t.word, t.bits), (0, halves(1)));
        let b1 = 1u64 << CHUNK_GRANULES;
        assert!(m.locate_own(base + 32).is_err());
        assert!(m.locate_own(base + CHUNK).is_err());
        assert_eq!(m.find(base + CHUNK), Some((0, b1, 1)));
        assert_eq!(m.find(base + 32), Some((0, 1 << 1, 0)));
        // What the fast path computed is all `find_index` needs.
        let i = m.locate_own(base + CHUNK).unwrap_err();
        assert_eq!(m.find_at(base + CHUNK, i), Some((0, b1, 1)));
        let i = m.locate_own(base + CHUNK + 16).unwrap_err();
        assert_eq!(m.find_at(base + CHUNK + 16, i), None);
        // Its objects back, 32-byte takes of the wholly free chunks (one
        // at a time, chunk 0 first) turn chunk 1 back: the fast path again.
        m.give_back(0, halves(1));
        m.give_back(0, chunk(0));
        assert_eq!(m.take_for(SHARED_PAIR.0).unwrap().bits, chunk(0));
        assert!(m.locate_own(base + 32).is_err());
        assert_eq!(m.take_for(SHARED_PAIR.0).unwrap().bits, chunk(1));
        assert!(no_kinds(&m));
        assert_eq!(m.locate_own(base + 32), Ok((0, 1 << 1)));
        assert_eq!(m.locate_own(base + CHUNK), Ok((0, b1)));
        assert!(m.locate_own(base + CHUNK + 16).is_err());
    }

    #[test]
    fn a_shared_chunk_changes_class_only_when_wholly_free() {
        let (m, base) = span(SHARED_PAIR.0);
        let t = m.take_for(SHARED_PAIR.1).unwrap();
        assert_eq!((t.word, t.bits), (0, halves(0)));
        // Every 64-byte object of chunk 0 back but one, which stays live.
        m.give_back(0, t.bits & !1);
        assert_eq!(m.used.load(Relaxed), 2);
        // 32-byte objects cannot use the chunk's holes: the next chunk.
        let t = m.take_for(SHARED_PAIR.0).unwrap();
        assert_eq!((t.word, t.bits), (0, chunk(1)));
        m.give_back(0, t.bits);
        // Chunk 0 wholly free: the 32-byte class takes it over.
        assert_eq!(m.free_local(base), Ok(0));
        let t = m.take_for(SHARED_PAIR.0).unwrap();
        assert_eq!((t.word, t.bits), (0, chunk(0)));
        assert!(no_kinds(&m));
        assert_eq!(m.locate(base + 32), Some((0, 2)));
        // A double free of a 64-byte object of the chunk's old class that
        // is still pending keeps the chunk from changing class again.
        m.give_back(0, t.bits);
        m.pend[0].store(1, Relaxed);
        m.summary.store(1, Relaxed);
        let t = m.take_for(SHARED_PAIR.1).unwrap();
        assert_eq!(t.word, 0);
        assert_eq!(t.bits, halves(1), "chunk 1, not chunk 0");
    }

    #[test]
    fn a_remote_free_of_an_object_whose_chunk_changed_class_is_a_double_free() {
        let (m, base) = span(SHARED_PAIR.0);
        let t = m.take_for(SHARED_PAIR.1).unwrap();
        m.give_back(0, t.bits & !1);
        // Another thread locates the 64-byte object at `base`...
        let (w, b, kind) = m.find(base).unwrap();
        assert_eq!(kind, 1);
        // ...which its owner frees meanwhile: chunk 0 is wholly free, and
        // the owner's next 32-byte take gives it to the 32-byte class (its
        // bits leave the bitmap for that class's bin).
        assert_eq!(m.free_local(base), Ok(0));
        let t = m.take_for(SHARED_PAIR.0).unwrap();
        assert_eq!((t.word, t.bits), (0, chunk(0)));
        // The object is neither pending nor in the bitmap (nor in the
        // 64-byte bin): the chunk's new kind says it was free.
        assert_eq!(m.free_remote_bit(w, b, kind), Err(FreeError::DoubleFree));
        assert!(!m.has_pending());
    }

    #[test]
    fn pages_of_a_shared_span_are_free_when_their_chunks_are() {
        let (m, base) = span(SHARED_PAIR.0);
        // The chunks of pages 0 and 1 alternate between the classes.
        let per_page = PAGE / CHUNK;
        let mut taken = Vec::new();
        for i in 0..2 * per_page {
            let class = if i % 2 == 0 {
                SHARED_PAIR.1
            } else {
                SHARED_PAIR.0
            };
            taken.push(m.take_for(class).unwrap());
        }
        assert_eq!(m.free_pages(0) & 0b11, 0);
        // Page 0's chunks given back: page 0 is free, page 1 is not.
        for t in &taken[..per_page] {
            m.give_back(t.word, t.bits);
        }
        assert_eq!(m.free_pages(0) & 0b11, 0b01);
        // One live 64-byte object on page 1 keeps it.
        for t in &taken[per_page..] {
            m.give_back(t.word, t.bits);
        }
        let t = m.take_for(SHARED_PAIR.1).unwrap();
        m.give_back(t.word, t.bits & (t.bits - 1));
        let p = base + (t.word * 64 + t.bits.trailing_zeros() as usize) * 32;
        assert_eq!(
            m.free_pages(0) & 0b11,
            if p < base + 4096 { 0b10 } else { 0b01 }
        );
        assert_eq!(m.free_local(p), Ok(0));
        assert_eq!(m.free_pages(0), u16::MAX);
    }

    #[test]
    fn locate_is_exact_for_every_class() {
        for c in 0..NCLASS {
            let (m, base) = span(c);
            let size = class_size(c);
            let cap = class_capacity(c);
            for i in [0, 1, cap / 2, cap - 1] {
                let p = base + i * size;
                assert_eq!(m.locate(p), Some((i / 64, 1 << (i % 64))), "class {c}");
                assert_eq!(m.locate(p + 8), None);
            }
            assert_eq!(m.locate(base + cap * size), None, "class {c} tail");
            assert_eq!(m.locate(base.wrapping_sub(size)), None);
            assert_eq!(m.locate(base + span_bytes(c)), None);
        }
    }

    #[test]
    fn local_free_detects_double_and_invalid() {
        let (m, base) = span(class_of(48));
        let a = alloc(&m);
        let b = alloc(&m);
        assert_eq!(b, a + 48);
        assert_eq!(m.free_local(a + 8), Err(FreeError::Invalid));
        assert_eq!(
            m.free_local(base + 65536 - 16),
            Err(FreeError::Invalid),
            "tail waste"
        );
        assert_eq!(m.free_local(a), Ok(1));
        assert_eq!(m.free_local(a), Err(FreeError::DoubleFree));
        // Objects never handed out are free: freeing one is a double free.
        assert_eq!(m.free_local(base + 48 * 10), Err(FreeError::DoubleFree));
        assert_eq!(m.free_local(b), Ok(0));
        // Freed objects are reused, lowest first.
        assert_eq!(alloc(&m), a);
    }

    #[test]
    fn remote_frees_are_folded_by_collect() {
        let (m, _) = span(class_of(16));
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
        assert_eq!(m.pending_count(), 150);
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
        assert_eq!(alloc(&m), ps[0]);
    }

    #[test]
    fn a_local_free_after_a_remote_free_is_a_double_free() {
        let (m, _) = span(class_of(32));
        let p = alloc(&m);
        m.free_remote(p).unwrap();
        assert_eq!(m.free_local(p), Err(FreeError::DoubleFree));
        assert_eq!(m.collect().freed, 1);
        assert_eq!(m.free_local(p), Err(FreeError::DoubleFree));
    }

    #[test]
    fn collect_reports_a_double_free_that_raced_past_the_checks() {
        let (m, _) = span(class_of(64));
        let p = alloc(&m);
        m.free_remote(p).unwrap();
        let (w, b) = m.locate(p).unwrap();
        assert_eq!(m.free_bit(w, b), Ok(0));
        let c = m.collect();
        assert_eq!((c.freed, c.doubles, c.double_addr), (0, 1, p));
        assert_eq!(m.used.load(Relaxed), 0);
    }

    #[test]
    fn pointers_into_spans_without_live_objects_are_refused() {
        let (m, base) = span(class_of(32));
        m.state.set(State::Cached);
        assert_eq!(m.free_remote(base), Err(FreeError::DoubleFree));
        m.state.set(State::Free);
        assert_eq!(m.free_remote(base), Err(FreeError::Invalid));
    }

    #[test]
    fn free_pages_follow_live_objects_across_page_boundaries() {
        // 48-byte objects straddle page boundaries (4096 is not a multiple):
        // object 85 covers bytes 4080..4128, on pages 0 and 1.
        let (m, base) = span(class_of(48));
        let cap = class_capacity(class_of(48));
        assert_eq!(m.free_pages(0), u16::MAX, "a fresh span is all free");
        let ps: Vec<usize> = (0..cap).map(|_| alloc(&m)).collect();
        assert_eq!(m.free_pages(0), 0);
        for &p in &ps {
            if p != base + 85 * 48 {
                assert!(m.free_local(p).is_ok());
            }
        }
        assert_eq!(m.free_pages(0), !0b11);
        // A pending remote free counts as free.
        let (w, b, kind) = m.find(base + 85 * 48).unwrap();
        m.free_remote_bit(w, b, kind).unwrap();
        assert_eq!(m.free_pages(0), u16::MAX);
        // The tail of a 4 KiB-class... a 3072-byte class leaves no tail page,
        // but the 640-byte class's last page (bytes 65280..65536) still
        // holds object 101: tail bytes alone never free a page with objects.
        let (m, _) = span(class_of(640));
        let all: Vec<usize> = (0..class_capacity(class_of(640)))
            .map(|_| alloc(&m))
            .collect();
        assert_eq!(all.len(), 102);
        assert_eq!(m.free_pages(0), 0);
    }

    #[test]
    fn free_pages_of_a_multi_slab_span() {
        let c = class_of(40 << 10);
        assert!(c >= NSMALL);
        let (m, base) = span(c);
        let a = alloc(&m); // object 0: pages 0..=9
        let b = alloc(&m); // object 1: bytes 40K..80K: pages 10..=19
        assert_eq!((a, b), (base, base + (40 << 10)));
        // Slab 0 holds pages 0..=15: all used by objects 0 and 1.
        assert_eq!(m.free_pages(0), 0);
        // Slab 1 (pages 16..=31): 16..=19 hold object 1, the rest free.
        assert_eq!(m.free_pages(1), !0b1111);
        assert_eq!(m.free_local(a), Ok(1));
        assert_eq!(m.free_pages(0), 0b11_1111_1111);
    }

    #[test]
    fn lowest_bits_takes_the_lowest() {
        assert_eq!(lowest_bits(0b1011_0110, 2), 0b0000_0110);
        assert_eq!(lowest_bits(0b1011_0110, 9), 0b1011_0110);
        assert_eq!(lowest_bits(u64::MAX, 64), u64::MAX);
        assert_eq!(lowest_bits(u64::MAX, 1), 1);
    }
}
