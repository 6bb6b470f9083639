//! Property tests (proptest) of zslab's pure parts: size classes and their
//! exact division, a span's bitmaps driven against a model (takes, bins,
//! local and remote frees, collection, free pages, page ranges), and the
//! parsing of every kind of `ZSLAB_*` value. Each test states its property
//! above it. Failures print the smallest case proptest found; set
//! `PROPTEST_CASES` to run more cases than the defaults chosen here (which
//! keep the whole file at a few seconds in release mode).

use crate::alloc::class_for;
use crate::config::{
    Bytes, Config, Count, LogLevel, OnError, Problem, Reclaim, Signal, Text, VARS, Value, range,
};
use crate::os::{PAGE, StackBuf};
use crate::pages::slab_masks;
use crate::sizeclass::{
    BITMAP_WORDS, CLASS_SIZES, MAX_MEDIUM, MAX_SMALL, NCLASS, NSMALL, SLAB_PAGES, SLAB_SIZE,
    class_capacity, class_for_aligned, class_magic, class_of, class_of_small, class_shift,
    class_size, span_bytes, span_slabs,
};
use crate::slab::{FreeError, SlabMeta, State, TAKE_BYTES, Taken};
use core::sync::atomic::Ordering::Relaxed;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use std::cell::RefCell;

/// `cases` cases, no regression files written into the source tree (a
/// failure prints its minimal case instead).
fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

// ---------------------------------------------------------------------
// 1. Size classes
// ---------------------------------------------------------------------

/// Every size 1..=MAX_MEDIUM (all of them, not a sample) maps to a class
/// whose blocks fit it, the smallest such class, with the documented waste:
/// under 16 bytes up to 64 B, at most 20% of the block above 64 B, under
/// 1/9 (about 11%) for "page plus a header" sizes in 4 KiB..8 KiB; the
/// one-load small lookup agrees with the general one, and 0 gets the
/// smallest class.
#[test]
fn every_size_maps_to_the_smallest_fitting_class_within_the_waste_bound() {
    assert_eq!(class_of(0), 0);
    assert_eq!(class_of_small(0), 0);
    for size in 1..=MAX_MEDIUM {
        let c = class_of(size);
        assert!(c < NCLASS, "size {size}: class {c}");
        let b = class_size(c);
        assert!(b >= size, "size {size} -> block {b}");
        assert!(
            c == 0 || class_size(c - 1) < size,
            "size {size} fits class {}",
            c - 1
        );
        if size <= MAX_SMALL {
            assert_eq!(class_of_small(size), c, "size {size}");
        }
        if size <= 64 {
            assert!(b - size < 16, "size {size} -> {b}");
        } else {
            assert!((b - size) * 5 <= b, "size {size} -> {b}: over 20%");
        }
        if size > 4096 && size <= MAX_SMALL {
            assert!((b - size) * 9 < b, "size {size} -> {b}: over 11%");
        }
    }
}

/// The aligned classes the malloc family uses (`alloc::class_for`, behind
/// malloc, memalign, posix_memalign, aligned_alloc, valloc, pvalloc) for a
/// size and a power-of-two alignment: requests above MAX_MEDIUM or aligned
/// above a slab are huge blocks (`None`); every other one gets a class
/// (never a needless huge block) whose block fits the size and is a
/// multiple of the alignment, so every object of a slab-aligned span is
/// aligned, and no smaller class would do. Alignments of at most 16 take
/// `class_of`, so every class is 16-byte aligned.
fn check_aligned(size: usize, align: usize) {
    let c = class_for(size, align);
    if size > MAX_MEDIUM || align > SLAB_SIZE {
        assert_eq!(c, None, "size {size} align {align} must be huge");
        assert_eq!(class_for_aligned(size, align), None);
        return;
    }
    let c = c.unwrap_or_else(|| panic!("size {size} align {align}: no class"));
    let b = class_size(c);
    assert!(b >= size, "size {size} align {align} -> {b}");
    assert_eq!(b % align, 0, "size {size} align {align} -> {b}");
    assert_eq!(b % 16, 0, "size {size} align {align} -> {b}");
    assert_eq!(span_bytes(c) % SLAB_SIZE, 0);
    for i in [0, 1, class_capacity(c) - 1] {
        assert_eq!((i * b) % align, 0, "object {i} of class {c}");
    }
    let smallest = (0..NCLASS).find(|&d| class_size(d) >= size && class_size(d) % align == 0);
    assert_eq!(Some(c), smallest, "size {size} align {align}");
    if align > 16 {
        assert_eq!(class_for_aligned(size, align), Some(c));
    }
}

/// [`check_aligned`] for every class size and one byte either side, with
/// every alignment from 1 byte to 1 MiB.
#[test]
fn aligned_requests_at_every_class_boundary() {
    let mut sizes = vec![0, 1, MAX_MEDIUM, MAX_MEDIUM + 1, usize::MAX / 2];
    for &s in &CLASS_SIZES {
        sizes.extend([s as usize - 1, s as usize, s as usize + 1]);
    }
    for size in sizes {
        for k in 0..=20 {
            check_aligned(size, 1 << k);
        }
    }
}

proptest! {
    #![proptest_config(cfg(5000))]

    /// [`check_aligned`] for random sizes (up to the largest `usize`) and
    /// power-of-two alignments up to 8 MiB.
    #[test]
    fn aligned_requests_get_an_aligned_class_or_a_huge_block(
        size in prop_oneof![0..=MAX_MEDIUM + 4096, any::<usize>()],
        k in 0u32..24,
    ) {
        check_aligned(size, 1 << k);
    }
}

/// Object index of byte offset `off` of a span of class `c` by the magic
/// multiply (as `SlabMeta::locate` and `free_pages` compute it).
fn magic_index(c: usize, off: usize) -> usize {
    (((off >> class_shift(c)) as u64 * class_magic(c) as u64) >> 32) as usize
}

/// The magic multiply of every class is exact for every offset of its
/// span: the documented condition `(span_bytes >> shift) * (size >> shift)
/// < 2^32` holds, and `((off >> shift) * magic) >> 32 == off / size` at
/// every object boundary and one byte either side (where an inexact
/// reciprocal shows first) and at the span's last byte.
#[test]
fn magic_division_is_exact_at_every_object_boundary() {
    for c in 0..NCLASS {
        let (s, sh, span) = (class_size(c), class_shift(c), span_bytes(c));
        assert!(
            ((span >> sh) as u64) * ((s >> sh) as u64) < 1 << 32,
            "class {c}"
        );
        for i in 0..=span / s {
            for off in [i * s, i * s + 1, (i * s).wrapping_sub(1)] {
                if off < span {
                    assert_eq!(magic_index(c, off), off / s, "class {c} offset {off}");
                }
            }
        }
        assert_eq!(magic_index(c, span - 1), (span - 1) / s, "class {c}");
    }
}

const SPAN_BASE: usize = 0x7000_0000_0000;

/// A span of `class` at [`SPAN_BASE`], every object free (as the slab
/// unit tests make one).
fn span_of(class: usize) -> Box<SlabMeta> {
    let m = Box::new(SlabMeta::empty());
    m.format(SPAN_BASE, class);
    m.state.set(State::Active);
    m
}

proptest! {
    #![proptest_config(cfg(5000))]

    /// The magic multiply agrees with `/` at random offsets of random
    /// classes' spans, including medium offsets that are not multiples of
    /// 2 KiB (the shift drops their low bits).
    #[test]
    fn magic_division_agrees_with_division(c in 0..NCLASS, off in any::<usize>()) {
        let off = off % span_bytes(c);
        prop_assert_eq!(magic_index(c, off), off / class_size(c));
    }

    /// A formatted span's `locate` (the same multiply, then the exactness
    /// and capacity checks) accepts exactly the starts of its objects: for
    /// an address up to two spans past the base, `Some((i / 64, 1 << i % 64))`
    /// iff it is `base + i * size` with `i < cap`, else `None` (interior
    /// pointers, the tail after the last object, the next span).
    #[test]
    fn locate_finds_exactly_the_object_starts(
        c in 0..NCLASS,
        near in any::<bool>(),
        i in any::<usize>(),
        delta in 0usize..64,
        off in any::<usize>(),
    ) {
        let m = span_of(c);
        let (size, cap) = (class_size(c), class_capacity(c));
        // Half the cases near an object start, half anywhere up to two spans.
        let off = if near {
            (i % (cap + 2)) * size + delta
        } else {
            off % (2 * span_bytes(c))
        };
        let want = (off % size == 0 && off / size < cap)
            .then(|| (off / size / 64, 1u64 << (off / size % 64)));
        prop_assert_eq!(m.locate(SPAN_BASE + off), want, "class {} offset {}", c, off);
    }
}

// ---------------------------------------------------------------------
// 2. A span's bitmaps against a model
// ---------------------------------------------------------------------

/// Where one object of the span is, in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Obj {
    /// Free in the bitmap.
    Free,
    /// Taken out of the bitmap into the owner's bin, not handed out.
    Held,
    /// Handed out to the program.
    Live,
    /// Freed by another thread, not folded in yet.
    Pending,
}

#[derive(Clone, Debug)]
enum Op {
    /// `take`, then hand the lowest `keep` of the objects taken to the
    /// program (the bin keeps the rest).
    Take { keep: u8 },
    /// Give back what the bin holds of one word (the `pick`-th such word).
    GiveBack { pick: usize },
    /// Hand `n` objects the bin holds to the program.
    Hand { n: u8 },
    /// `free_local` of a live object (`live`) or of any object.
    FreeLocal { pick: usize, live: bool },
    /// `free_remote` of a live object (`live`) or of any object.
    FreeRemote { pick: usize, live: bool },
    /// Free every `stride`-th live object of a run, locally or remotely.
    FreeRun {
        start: usize,
        len: usize,
        stride: usize,
        remote: bool,
    },
    /// Free every live object that starts on span pages
    /// `page..page + pages` (objects straddling in from before stay).
    FreePages {
        page: usize,
        pages: usize,
        remote: bool,
    },
    /// Free every live object but one (and its `near` neighbours on either
    /// side): a lone survivor, one straddling a page boundary if `straddle`
    /// and there is one.
    FreeAllBut {
        pick: usize,
        near: usize,
        straddle: bool,
        remote: bool,
    },
    /// `collect`.
    Collect,
    /// A local free of a pending object that raced past the pending check
    /// (`free_bit` directly), then `collect`, which must report it.
    RacedFree { pick: usize },
    /// Frees of an address that is not an object start of the span.
    Invalid { pick: usize, delta: usize, kind: u8 },
    /// Take until the span is full, handing everything out.
    Fill,
    /// Give back the resident pages `free_pages` names (as
    /// `pages::purge_free` does).
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    let pick = any::<usize>();
    prop_oneof![
        6 => (0u8..=64).prop_map(|keep| Op::Take { keep }),
        2 => pick.prop_map(|pick| Op::GiveBack { pick }),
        2 => (0u8..=64).prop_map(|n| Op::Hand { n }),
        5 => (pick, prop::bool::weighted(0.8))
            .prop_map(|(pick, live)| Op::FreeLocal { pick, live }),
        5 => (pick, prop::bool::weighted(0.8))
            .prop_map(|(pick, live)| Op::FreeRemote { pick, live }),
        3 => (pick, 1usize..2048, 1usize..4, any::<bool>()).prop_map(
            |(start, len, stride, remote)| Op::FreeRun { start, len, stride, remote }
        ),
        2 => (pick, 1usize..24, any::<bool>())
            .prop_map(|(page, pages, remote)| Op::FreePages { page, pages, remote }),
        2 => (pick, 0usize..3, any::<bool>(), any::<bool>()).prop_map(
            |(pick, near, straddle, remote)| Op::FreeAllBut { pick, near, straddle, remote }
        ),
        2 => Just(Op::Collect),
        1 => pick.prop_map(|pick| Op::RacedFree { pick }),
        1 => (pick, any::<usize>(), 0u8..4)
            .prop_map(|(pick, delta, kind)| Op::Invalid { pick, delta, kind }),
        1 => Just(Op::Fill),
        2 => Just(Op::Purge),
    ]
}

/// The model of one span: each object's state and each slab's resident
/// pages.
struct Model {
    class: usize,
    size: usize,
    cap: usize,
    objs: Vec<Obj>,
    resident: Vec<u16>,
}

impl Model {
    fn new(class: usize) -> Self {
        Model {
            class,
            size: class_size(class),
            cap: class_capacity(class),
            objs: vec![Obj::Free; class_capacity(class)],
            resident: vec![0; span_slabs(class)],
        }
    }
    fn addr(&self, i: usize) -> usize {
        SPAN_BASE + i * self.size
    }
    fn count(&self, s: Obj) -> usize {
        self.objs.iter().filter(|&&o| o == s).count()
    }
    fn with(&self, s: Obj) -> Vec<usize> {
        (0..self.cap).filter(|&i| self.objs[i] == s).collect()
    }
    /// Objects counted as used: everything not free in the bitmap.
    fn used(&self) -> usize {
        self.cap - self.count(Obj::Free)
    }
    /// Bits of word `w` of objects in state `s`.
    fn word(&self, w: usize, s: Obj) -> u64 {
        (0..64)
            .filter(|&b| self.objs.get(w * 64 + b) == Some(&s))
            .fold(0, |x, b| x | 1 << b)
    }
    /// The target of a free: a live object when asked and there is one,
    /// else any object.
    fn target(&self, pick: usize, live: bool) -> usize {
        let l = self.with(Obj::Live);
        if live && !l.is_empty() {
            l[pick % l.len()]
        } else {
            pick % self.cap
        }
    }
    /// Span pages (first, last) that object `i`'s bytes lie on.
    fn pages(&self, i: usize) -> (usize, usize) {
        (i * self.size / PAGE, ((i + 1) * self.size - 1) / PAGE)
    }
    /// Per slab, the pages no held or live object lies on (brute force).
    fn free_pages(&self) -> Vec<u16> {
        let mut busy = vec![false; span_slabs(self.class) * SLAB_PAGES];
        for i in 0..self.cap {
            if matches!(self.objs[i], Obj::Held | Obj::Live) {
                let (a, b) = self.pages(i);
                busy[a..=b].iter_mut().for_each(|x| *x = true);
            }
        }
        busy.chunks(SLAB_PAGES)
            .map(|c| {
                (0..SLAB_PAGES)
                    .filter(|&j| !c[j])
                    .fold(0, |x, j| x | 1 << j)
            })
            .collect()
    }
    fn set_resident(&mut self, m: &SlabMeta, first: usize, end: usize, on: bool) {
        for (k, mask) in slab_masks(first, end) {
            if on {
                self.resident[k] |= mask;
            } else {
                self.resident[k] &= !mask;
            }
        }
        // The head's own mask steers `take` in one-slab spans.
        m.resident.store(self.resident[0], Relaxed);
    }
}

/// Checks after every step: the bitmaps equal the model bit for bit (so no
/// object is lost, duplicated or freed twice), `used` counts everything
/// not free in the bitmap (free + used == cap), the derived counts agree,
/// `free_pages` names exactly the pages without a held or live object, and
/// every page a held or live object lies on is resident.
fn check(m: &SlabMeta, md: &Model) -> Result<(), TestCaseError> {
    for w in 0..BITMAP_WORDS {
        prop_assert_eq!(
            m.bm[w].load(Relaxed),
            md.word(w, Obj::Free),
            "bm word {}",
            w
        );
        prop_assert_eq!(
            m.pend[w].load(Relaxed),
            md.word(w, Obj::Pending),
            "pend word {}",
            w
        );
    }
    let used = md.used();
    let free: u32 = (0..BITMAP_WORDS)
        .map(|w| m.bm[w].load(Relaxed).count_ones())
        .sum();
    prop_assert_eq!(m.used.load(Relaxed) as usize, used);
    prop_assert_eq!(free as usize + used, md.cap);
    prop_assert_eq!(m.pending_count() as usize, md.count(Obj::Pending));
    prop_assert_eq!(
        m.live_estimate() as usize,
        md.count(Obj::Held) + md.count(Obj::Live)
    );
    prop_assert_eq!(m.has_pending(), md.count(Obj::Pending) > 0);
    prop_assert_eq!(m.has_free(), used < md.cap);
    let want = md.free_pages();
    for (k, &f) in want.iter().enumerate() {
        prop_assert_eq!(m.free_pages(k), f, "slab {} of class {}", k, md.class);
    }
    for i in 0..md.cap {
        if matches!(md.objs[i], Obj::Held | Obj::Live) {
            let (a, b) = md.pages(i);
            for p in a..=b {
                prop_assert!(
                    md.resident[p / SLAB_PAGES] & 1 << (p % SLAB_PAGES) != 0,
                    "object {} lies on page {}, which is not resident",
                    i,
                    p
                );
            }
        }
    }
    Ok(())
}

/// One `take`: the objects come out of one word, were all free (never
/// handed out twice), are the lowest free ones of that word, number at
/// most what [`TAKE_BYTES`] allows (at least one), and `pages_of` names
/// exactly the pages from the first one's first byte to the last one's
/// last byte. `None` only when no object is free in the bitmap. The pages
/// are marked resident as `pages::commit_taken` does.
fn take(m: &SlabMeta, md: &mut Model) -> Result<Option<Taken>, TestCaseError> {
    let free_before: Vec<u64> = (0..BITMAP_WORDS).map(|w| md.word(w, Obj::Free)).collect();
    let Some(t) = m.take() else {
        prop_assert_eq!(
            md.count(Obj::Free),
            0,
            "take found nothing in a span with free objects"
        );
        return Ok(None);
    };
    prop_assert!(t.bits != 0 && t.word < BITMAP_WORDS);
    let most = (TAKE_BYTES / md.size).clamp(1, 64);
    prop_assert!(t.bits.count_ones() as usize <= most);
    let x = free_before[t.word];
    prop_assert_eq!(t.bits & !x, 0, "taken objects that were not free");
    // The lowest: no free bit of the word below the highest taken one was
    // left behind.
    prop_assert_eq!(x & (u64::MAX >> t.bits.leading_zeros()), t.bits);
    let first = t.word * 64 + t.bits.trailing_zeros() as usize;
    let last = t.word * 64 + 63 - t.bits.leading_zeros() as usize;
    prop_assert!(last < md.cap);
    prop_assert_eq!(m.pages_of(t), (md.pages(first).0, md.pages(last).1));
    for b in 0..64 {
        if t.bits & 1 << b != 0 {
            md.objs[t.word * 64 + b] = Obj::Held;
        }
    }
    let (a, z) = m.pages_of(t);
    md.set_resident(m, a, z + 1, true);
    Ok(Some(t))
}

fn hand(md: &mut Model, n: usize) {
    for i in md.with(Obj::Held).into_iter().take(n) {
        md.objs[i] = Obj::Live;
    }
}

fn step(m: &SlabMeta, md: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    match *op {
        Op::Take { keep } => {
            if let Some(t) = take(m, md)? {
                let mut bits = t.bits;
                for _ in 0..keep {
                    if bits == 0 {
                        break;
                    }
                    md.objs[t.word * 64 + bits.trailing_zeros() as usize] = Obj::Live;
                    bits &= bits - 1;
                }
            }
        }
        Op::Hand { n } => hand(md, n as usize),
        Op::GiveBack { pick } => {
            let mut words: Vec<usize> = md.with(Obj::Held).iter().map(|i| i / 64).collect();
            words.dedup();
            if !words.is_empty() {
                let w = words[pick % words.len()];
                let bits = md.word(w, Obj::Held);
                for b in 0..64 {
                    if bits & 1 << b != 0 {
                        md.objs[w * 64 + b] = Obj::Free;
                    }
                }
                prop_assert_eq!(m.give_back(w, bits) as usize, md.used());
            }
        }
        Op::FreeLocal { pick, live } => free_local(m, md, md.target(pick, live))?,
        Op::FreeRemote { pick, live } => free_remote(m, md, md.target(pick, live))?,
        Op::FreeRun {
            start,
            len,
            stride,
            remote,
        } => {
            let start = start % md.cap;
            for i in (start..md.cap.min(start + len)).step_by(stride) {
                if md.objs[i] == Obj::Live {
                    free(m, md, i, remote)?;
                }
            }
        }
        Op::FreePages {
            page,
            pages,
            remote,
        } => {
            let total = span_bytes(md.class) / PAGE;
            let page = page % total;
            for i in 0..md.cap {
                let p = i * md.size / PAGE;
                if md.objs[i] == Obj::Live && p >= page && p < page + pages {
                    free(m, md, i, remote)?;
                }
            }
        }
        Op::FreeAllBut {
            pick,
            near,
            straddle,
            remote,
        } => {
            let live = md.with(Obj::Live);
            let across: Vec<usize> = live
                .iter()
                .copied()
                .filter(|&i| md.pages(i).0 != md.pages(i).1)
                .collect();
            let from = if straddle && !across.is_empty() {
                &across
            } else {
                &live
            };
            if !from.is_empty() {
                let keep = from[pick % from.len()];
                for i in live {
                    if i.abs_diff(keep) > near {
                        free(m, md, i, remote)?;
                    }
                }
            }
        }
        Op::Collect => {
            let pending = md.with(Obj::Pending);
            let c = m.collect();
            prop_assert_eq!((c.freed as usize, c.doubles), (pending.len(), 0));
            for i in pending {
                md.objs[i] = Obj::Free;
            }
        }
        Op::RacedFree { pick } => {
            let pending = md.with(Obj::Pending);
            if !pending.is_empty() {
                let i = pending[pick % pending.len()];
                let (w, b) = m.locate(md.addr(i)).expect("an object start");
                // The bitmap still has it allocated: the collector's free
                // goes through, and the remote one is the double free.
                prop_assert_eq!(m.free_bit(w, b).map(|u| u as usize), Ok(md.used() - 1));
                let c = m.collect();
                prop_assert_eq!(
                    (c.freed as usize, c.doubles, c.double_addr),
                    (pending.len() - 1, 1, md.addr(i))
                );
                for i in pending {
                    md.objs[i] = Obj::Free;
                }
            }
        }
        Op::Invalid { pick, delta, kind } => {
            let (size, cap, span) = (md.size, md.cap, span_bytes(md.class));
            let tail = span - cap * size;
            let off = match kind {
                // Inside an object, past its first byte.
                0 => (pick % cap) * size + 1 + delta % (size - 1),
                // In the tail after the last object, when there is one.
                1 if tail > 0 => cap * size + delta % tail,
                // Past the span.
                2 => span + delta % (4 * span),
                // Misaligned by a little.
                _ => (pick % cap) * size + 1 + delta % 15,
            };
            let p = SPAN_BASE + off;
            prop_assert_eq!(m.free_local(p), Err(FreeError::Invalid), "offset {}", off);
            prop_assert_eq!(m.free_remote(p), Err(FreeError::Invalid), "offset {}", off);
        }
        Op::Fill => {
            for _ in 0..=md.cap {
                if take(m, md)?.is_none() {
                    break;
                }
                hand(md, usize::MAX);
            }
            prop_assert!(m.take().is_none());
        }
        Op::Purge => {
            for k in 0..md.resident.len() {
                let cand = md.resident[k] & m.free_pages(k);
                for j in 0..SLAB_PAGES {
                    if cand & 1 << j != 0 {
                        let p = k * SLAB_PAGES + j;
                        md.set_resident(m, p, p + 1, false);
                    }
                }
            }
        }
    }
    Ok(())
}

fn free(m: &SlabMeta, md: &mut Model, i: usize, remote: bool) -> Result<(), TestCaseError> {
    if remote {
        free_remote(m, md, i)
    } else {
        free_local(m, md, i)
    }
}

/// `free_local` of object `i`: a live object is freed and the result is
/// the objects still used; a free or pending one is a double free. (An
/// object the bin holds is the heap's to catch, never reaching here.)
fn free_local(m: &SlabMeta, md: &mut Model, i: usize) -> Result<(), TestCaseError> {
    if md.objs[i] == Obj::Held {
        return Ok(());
    }
    let r = m.free_local(md.addr(i));
    match md.objs[i] {
        Obj::Live => {
            md.objs[i] = Obj::Free;
            prop_assert_eq!(r.map(|u| u as usize), Ok(md.used()), "object {}", i);
        }
        Obj::Free | Obj::Pending => {
            prop_assert_eq!(r, Err(FreeError::DoubleFree), "object {}", i)
        }
        Obj::Held => unreachable!("filtered above"),
    }
    Ok(())
}

/// `free_remote` of object `i`: a live object becomes pending (still
/// counted as used until collected); a free or pending one is a double
/// free.
fn free_remote(m: &SlabMeta, md: &mut Model, i: usize) -> Result<(), TestCaseError> {
    if md.objs[i] == Obj::Held {
        return Ok(()); // the owner's bin check refuses it before the bitmaps
    }
    let r = m.free_remote(md.addr(i));
    match md.objs[i] {
        Obj::Live => {
            md.objs[i] = Obj::Pending;
            prop_assert_eq!(r, Ok(()), "object {}", i);
        }
        _ => prop_assert_eq!(r, Err(FreeError::DoubleFree), "object {}", i),
    }
    Ok(())
}

fn any_class() -> impl Strategy<Value = usize> {
    // Small classes with several objects per page, objects straddling
    // pages, tails, and medium classes spanning many slabs.
    prop_oneof![
        0..NSMALL,
        NSMALL..NCLASS,
        select(vec![0, 2, 4, 12, 16, 27, 39])
    ]
}

proptest! {
    #![proptest_config(cfg(1000))]

    /// Any sequence of takes (by a bin), hand-outs, gives-back, local and
    /// remote frees, collections, raced double frees, invalid frees, fills
    /// and purges keeps the span's bitmaps equal to the model: see
    /// [`check`] (after every step) and [`take`].
    #[test]
    fn span_bitmaps_follow_the_model(class in any_class(), ops in vec(op(), 1..80)) {
        let m = span_of(class);
        let mut md = Model::new(class);
        check(&m, &md)?;
        for op in &ops {
            step(&m, &mut md, op)?;
            check(&m, &md)?;
        }
    }
}

// `slab_masks(first, end)` (the page ranges `pages::commit_taken`,
// `clear_resident` and `commit_block` mark) cuts exactly the pages
// `first..end` at slab boundaries: increasing slabs, no empty mask, and
// the union of the masks is the range, nothing more.
proptest! {
    #![proptest_config(cfg(3000))]

    #[test]
    fn slab_masks_cover_exactly_the_page_range(
        first in 0usize..128 * SLAB_PAGES,
        n in prop_oneof![0usize..40, 0usize..128 * SLAB_PAGES],
    ) {
        let end = first + n;
        let mut pages = Vec::new();
        let mut last_k = None;
        for (k, mask) in slab_masks(first, end) {
            prop_assert!(mask != 0);
            prop_assert!(last_k.is_none_or(|l| l < k));
            last_k = Some(k);
            pages.extend((0..SLAB_PAGES).filter(|j| mask & 1 << j != 0).map(|j| k * SLAB_PAGES + j));
        }
        prop_assert_eq!(pages, (first..end).collect::<Vec<_>>());
    }
}

// ---------------------------------------------------------------------
// 3. Configuration values
// ---------------------------------------------------------------------

/// A byte string that prints as one (`b"..."`) in a failure report.
#[derive(Clone, PartialEq, Eq)]
struct B(Vec<u8>);

impl core::fmt::Debug for B {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

impl core::ops::Deref for B {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

fn shown<T: Value>(v: &T) -> Vec<u8> {
    let mut b = StackBuf::<512>::new();
    v.show(&mut b);
    b.as_bytes().to_vec()
}

/// The documented forms, written independently of `config`: a number is
/// one or more decimal digits whose value fits in 64 bits; a size may
/// end in one K, M, G or T (either case, powers of 1024) and its value
/// must fit too; nothing else (no sign, space or other suffix).
fn oracle_number(s: &[u8], suffixes: bool) -> Option<u64> {
    let text = std::str::from_utf8(s).ok()?;
    let (digits, shift) = match text.chars().last() {
        Some(c) if suffixes && "kmgt".contains(c.to_ascii_lowercase()) => (
            &text[..text.len() - 1],
            10 * (1 + "kmgt".find(c.to_ascii_lowercase())?),
        ),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    if digits.len() > 20 {
        return None;
    }
    let v: u128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    u64::try_from(v << shift).ok()
}

/// One of `words`, any case.
fn oracle_word<'a>(s: &[u8], words: &[&'a str]) -> Option<&'a str> {
    let l = s.to_ascii_lowercase();
    words.iter().copied().find(|w| w.as_bytes() == l.as_slice())
}

const BOOLS: &[&str] = &["1", "0", "true", "false", "yes", "no", "on", "off"];
const RECLAIMS: &[&str] = &["dontneed", "free", "off"];
const ON_ERRORS: &[&str] = &["abort", "warn"];
const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
const SIGNAL_NAMES: &[&str] = &["usr1", "usr2", "hup", "winch"];

fn oracle_bool(s: &[u8]) -> Option<bool> {
    oracle_word(s, BOOLS).map(|w| matches!(w, "1" | "true" | "yes" | "on"))
}

/// `off`, a name with or without `SIG`, or a number 1-64 but for KILL,
/// STOP and glibc's 32 and 33.
fn oracle_signal(s: &[u8]) -> Option<i32> {
    if oracle_word(s, &["off"]).is_some() {
        return Some(0);
    }
    let l = s.to_ascii_lowercase();
    let name = l.strip_prefix(b"sig").unwrap_or(&l);
    if let Some(w) = oracle_word(name, SIGNAL_NAMES) {
        return Some(match w {
            "usr1" => libc::SIGUSR1,
            "usr2" => libc::SIGUSR2,
            "hup" => libc::SIGHUP,
            _ => libc::SIGWINCH,
        });
    }
    let n = oracle_number(s, false)?;
    let refused = [libc::SIGKILL, libc::SIGSTOP, 32, 33];
    ((1..=64).contains(&n) && !refused.contains(&(n as i32))).then_some(n as i32)
}

/// `word`, each letter in either case.
fn any_case(word: &str) -> impl Strategy<Value = Vec<u8>> + use<> {
    let word = word.as_bytes().to_vec();
    vec(any::<bool>(), word.len()).prop_map(move |up| {
        word.iter()
            .zip(up)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { *c })
            .collect()
    })
}

fn any_case_of(words: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    select(words).prop_flat_map(any_case)
}

/// Decimal digits (with leading zeros sometimes), any length to past
/// what 64 bits hold.
fn digits() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<u64>().prop_map(|v| v.to_string().into_bytes()),
        (0u64..100).prop_map(|v| v.to_string().into_bytes()),
        "[0-9]{1,24}".prop_map(String::into_bytes),
        (u64::MAX - 3..=u64::MAX).prop_map(|v| format!("{}", v as u128 + 2).into_bytes()),
    ]
}

/// A size: digits and an optional suffix in either case.
fn size_form() -> impl Strategy<Value = Vec<u8>> {
    (
        digits(),
        select(vec!["", "k", "K", "m", "M", "g", "G", "t", "T"]),
    )
        .prop_map(|(mut d, s)| {
            d.extend(s.bytes());
            d
        })
}

/// Strings near the accepted forms and far from them: `valid` with
/// something added before or after, or cut; random bytes, short and long
/// (past Text's 255 bytes and the 512-byte lowercase buffer); strings over
/// the alphabet the forms use.
fn near_and_far(valid: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = B> {
    let junk = select(vec![
        "", " ", "\t", "\n", "+", "-", "x", "0", "1", "k", "K", "B", "iB", "b", "sig", "SIG", "\0",
        "0x", ".", "e3", "\u{e9}",
    ]);
    prop_oneof![
        3 => (junk.clone(), valid.clone(), junk).prop_map(|(a, v, b)| {
            let mut s = a.as_bytes().to_vec();
            s.extend(v);
            s.extend(b.as_bytes());
            s
        }),
        1 => (valid, any::<usize>()).prop_map(|(v, cut)| v[..cut % (v.len() + 1)].to_vec()),
        2 => vec(any::<u8>(), 0..12),
        1 => vec(any::<u8>(), 200..700),
        2 => vec(
            select(b"0123456789kKmMgGtTsSiIgGuUrRhHoOfFnNeEaAwWlLyY +-x\n".to_vec()),
            0..12
        ),
    ]
    .prop_map(B)
}

proptest! {
    #![proptest_config(cfg(6000))]

    /// Booleans: every documented word in any case is accepted with its
    /// meaning; anything else is refused; both values show as a form that
    /// parses back.
    #[test]
    fn booleans_parse_exactly_the_documented_forms(
        good in any_case_of(BOOLS).prop_map(B),
        other in near_and_far(any_case_of(BOOLS).boxed()),
    ) {
        prop_assert_eq!(bool::parse(&good), oracle_bool(&good));
        prop_assert!(bool::parse(&good).is_some());
        prop_assert_eq!(bool::parse(&other), oracle_bool(&other), "{:?}", other);
        for b in [true, false] {
            prop_assert_eq!(bool::parse(&shown(&b)), Some(b));
        }
    }

    /// Counts: decimal digits whose value fits in 64 bits are accepted as
    /// that value, anything else (suffixes, signs, spaces, overflow) is
    /// refused, and every count shows as digits that parse back.
    #[test]
    fn counts_parse_exactly_decimal_digits(
        good in digits().prop_map(B),
        other in near_and_far(digits().boxed()),
        v in any::<u64>(),
    ) {
        prop_assert_eq!(Count::parse(&good).map(|c| c.0), oracle_number(&good, false));
        prop_assert_eq!(
            Count::parse(&other).map(|c| c.0),
            oracle_number(&other, false),
            "{:?}",
            other
        );
        prop_assert_eq!(Count::parse(&shown(&Count(v))), Some(Count(v)));
    }

    /// Sizes: digits with an optional K/M/G/T suffix in either case are
    /// accepted as that many bytes (powers of 1024) when it fits in 64
    /// bits; everything else (KB, KiB, two suffixes, spaces, overflow) is
    /// refused; every size, including exact multiples that show with a
    /// suffix, shows as a form that parses back to it.
    #[test]
    fn sizes_parse_exactly_digits_with_an_optional_suffix(
        good in size_form().prop_map(B),
        other in near_and_far(size_form().boxed()),
        v in prop_oneof![
            any::<u64>(),
            (any::<u32>(), 0u32..5).prop_map(|(n, k)| (n as u64) << (10 * k)),
            // Near the suffixes' multiples: n << 10k plus a power of two.
            (0u64..4096, 0u32..5, 0u32..64)
                .prop_map(|(n, k, h)| (n << (10 * k)).wrapping_add(1 << h)),
        ],
    ) {
        prop_assert_eq!(Bytes::parse(&good).map(|b| b.0), oracle_number(&good, true));
        prop_assert_eq!(
            Bytes::parse(&other).map(|b| b.0),
            oracle_number(&other, true),
            "{:?}",
            other
        );
        prop_assert_eq!(Bytes::parse(&shown(&Bytes(v))), Some(Bytes(v)));
    }

    /// Names (ZSLAB_RECLAIM, ZSLAB_ON_ERROR, ZSLAB_LOG): the listed names in
    /// any case are accepted, anything else refused; every value shows as
    /// its name, which parses back.
    #[test]
    fn names_parse_exactly_the_listed_names(
        r in any_case_of(RECLAIMS).prop_map(B),
        e in any_case_of(ON_ERRORS).prop_map(B),
        l in any_case_of(LOG_LEVELS).prop_map(B),
        other in near_and_far(any_case_of(LOG_LEVELS).boxed()),
    ) {
        let reclaim = |s: &[u8]| Reclaim::parse(s).map(|v| shown(&v));
        let on_error = |s: &[u8]| OnError::parse(s).map(|v| shown(&v));
        let log = |s: &[u8]| LogLevel::parse(s).map(|v| shown(&v));
        let lower = |s: &[u8]| Some(s.to_ascii_lowercase());
        prop_assert_eq!(reclaim(&r), lower(&r));
        prop_assert_eq!(on_error(&e), lower(&e));
        prop_assert_eq!(log(&l), lower(&l));
        for s in [&r, &e, &l, &other] {
            let o = |w: &[&str]| oracle_word(s, w).map(|w| w.as_bytes().to_vec());
            prop_assert_eq!(reclaim(s), o(RECLAIMS), "{:?}", s);
            prop_assert_eq!(on_error(s), o(ON_ERRORS), "{:?}", s);
            prop_assert_eq!(log(s), o(LOG_LEVELS), "{:?}", s);
        }
        for v in [Reclaim::DontNeed, Reclaim::Free, Reclaim::Off] {
            prop_assert_eq!(Reclaim::parse(&shown(&v)), Some(v));
        }
        for v in [OnError::Abort, OnError::Warn] {
            prop_assert_eq!(OnError::parse(&shown(&v)), Some(v));
        }
        for v in [
            LogLevel::Off,
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ] {
            prop_assert_eq!(LogLevel::parse(&shown(&v)), Some(v));
        }
    }

    /// Signals: off, USR1, USR2, HUP, WINCH in any case with or without a
    /// SIG prefix, and the numbers 1-64 but KILL, STOP, 32 and 33 are
    /// accepted; everything else (other numbers, SIG before a number,
    /// other names) refused; every accepted signal shows as a form that
    /// parses back to it.
    #[test]
    fn signals_parse_exactly_the_documented_forms(
        name in (prop_oneof![Just(""), Just("sig")], select(SIGNAL_NAMES))
            .prop_flat_map(|(p, n)| any_case(&format!("{p}{n}")))
            .prop_map(B),
        n in 0u64..80,
        other in near_and_far(
            prop_oneof![
                any_case_of(&["off", "usr1", "sigusr2", "hup", "sigwinch", "sigint", "term"]),
                digits(),
            ]
            .boxed()
        ),
    ) {
        prop_assert_eq!(Signal::parse(&name).map(|s| s.0), oracle_signal(&name));
        prop_assert!(Signal::parse(&name).is_some());
        let num = n.to_string().into_bytes();
        prop_assert_eq!(Signal::parse(&num).map(|s| s.0), oracle_signal(&num), "{}", n);
        prop_assert_eq!(
            Signal::parse(&other).map(|s| s.0),
            oracle_signal(&other),
            "{:?}",
            other
        );
        if let Some(s) = Signal::parse(&num) {
            prop_assert_eq!(Signal::parse(&shown(&s)), Some(s));
        }
        prop_assert_eq!(Signal::parse(&shown(&Signal(0))), Some(Signal(0)));
    }

    /// Paths: any bytes up to 255 are kept as they are (the empty string
    /// is "unset"), longer ones refused; a set path shows as itself and
    /// parses back.
    #[test]
    fn paths_are_kept_up_to_255_bytes(
        s in prop_oneof![vec(any::<u8>(), 0..300), vec(any::<u8>(), 250..260)].prop_map(B),
    ) {
        let t = Text::parse(&s);
        if s.len() <= 255 {
            let t = t.expect("a path of at most 255 bytes");
            prop_assert_eq!(t.as_bytes(), &s[..]);
            prop_assert_eq!(t.is_empty(), s.is_empty());
            if !s.is_empty() {
                prop_assert_eq!(shown(&t), s.0.clone());
                prop_assert_eq!(Text::parse(&shown(&t)).map(|t| t.as_bytes().to_vec()), Some(s.0));
            }
        } else {
            prop_assert!(t.is_none());
        }
    }
}

/// The numeric variables and their fields.
fn numeric_field(c: &Config, name: &str) -> Option<u64> {
    Some(match name {
        "ZSLAB_PURGE_MS" => c.purge_ms.0,
        "ZSLAB_CACHE_SLABS" => c.cache_slabs.0,
        "ZSLAB_HUGE_CACHE" => c.huge_cache.0,
        "ZSLAB_DECAY_MS" => c.decay_ms.0,
        "ZSLAB_EPOCH_MS" => c.epoch_ms.0,
        "ZSLAB_EPOCH_ALLOCS" => c.epoch_allocs.0,
        "ZSLAB_REGION" => c.region.0,
        "ZSLAB_STATS_INTERVAL" => c.stats_interval.0,
        "ZSLAB_FAIL_MMAP" => c.fail_mmap.0,
        "ZSLAB_FAIL_MADVISE" => c.fail_madvise.0,
        _ => return None,
    })
}

fn numeric_vars() -> Vec<&'static str> {
    let d = Config::defaults();
    VARS.iter()
        .map(|v| v.name)
        .filter(|n| numeric_field(&d, n).is_some())
        .collect()
}

#[test]
fn every_ranged_variable_is_covered_here() {
    let d = Config::defaults();
    for v in VARS {
        if range(v.name).is_some() {
            assert!(
                numeric_field(&d, v.name).is_some(),
                "{}: add it to numeric_field in src/proptests.rs",
                v.name
            );
        }
    }
}

proptest! {
    #![proptest_config(cfg(4000))]

    /// Resolving a numeric variable: a value that parses and lies in the
    /// variable's range (inclusive) takes effect with no warning; one out
    /// of range keeps the default with one warning naming the range; one
    /// that does not parse keeps the default with one warning naming the
    /// form. Sizes are written as they show (with a suffix when exact).
    #[test]
    fn numeric_variables_take_values_exactly_in_range(
        name in select(numeric_vars()),
        pick in 0usize..6,
        r in any::<u64>(),
        d in -3i64..=3,
        junk in near_and_far(digits().boxed()),
    ) {
        let (lo, hi) = range(name).unwrap_or((0, u64::MAX));
        let sized = VARS.iter().any(|v| v.name == name && v.unit.starts_with("bytes"));
        let n = match pick {
            0 => lo.saturating_add_signed(d),
            1 => hi.saturating_add_signed(d),
            2 => lo + r % (hi - lo).saturating_add(1).max(1),
            3 => r,
            _ => u64::MAX,
        };
        let value: Vec<u8> = if pick == 5 {
            junk.0
        } else if sized {
            shown(&Bytes(n))
        } else {
            n.to_string().into_bytes()
        };
        let parsed = oracle_number(&value, sized);
        let value: &'static [u8] = Box::leak(value.into_boxed_slice());
        let warnings = RefCell::new(Vec::new());
        let c = Config::resolve(
            &|v| (v == name.as_bytes()).then_some(value),
            &|v, _, p, _| warnings.borrow_mut().push((v.to_string(), p)),
        );
        let warnings = warnings.into_inner();
        let default = numeric_field(&Config::defaults(), name);
        match parsed {
            Some(n) if (lo..=hi).contains(&n) => {
                prop_assert!(warnings.is_empty(), "{:?}", warnings);
                prop_assert_eq!(numeric_field(&c, name), Some(n));
            }
            Some(_) => {
                prop_assert_eq!(warnings, vec![(name.to_string(), Problem::Range(lo, hi))]);
                prop_assert_eq!(numeric_field(&c, name), default);
            }
            None => {
                prop_assert_eq!(warnings.len(), 1);
                prop_assert!(matches!(warnings[0].1, Problem::Form(_)));
                prop_assert_eq!(numeric_field(&c, name), default);
            }
        }
    }
}

/// One step on a span shared by the 32- and 64-byte classes.
#[derive(Clone, Debug)]
enum SharedOp {
    /// A bin of `second` (64-byte) or the first class takes objects, hands
    /// `keep` of them out and gives the rest back.
    Take { second: bool, keep: u8 },
    /// A local free of a live object.
    FreeLocal { pick: usize },
    /// A remote free of a live object.
    FreeRemote { pick: usize },
    /// `collect`.
    Collect,
    /// A second free of an object freed last (local or remote).
    DoubleFree { remote: bool },
    /// A free of the second half of a live 64-byte object.
    SecondHalf { pick: usize },
}

fn shared_op() -> impl Strategy<Value = SharedOp> {
    prop_oneof![
        6 => (any::<bool>(), 0u8..=64).prop_map(|(second, keep)| SharedOp::Take { second, keep }),
        5 => any::<usize>().prop_map(|pick| SharedOp::FreeLocal { pick }),
        3 => any::<usize>().prop_map(|pick| SharedOp::FreeRemote { pick }),
        2 => Just(SharedOp::Collect),
        1 => any::<bool>().prop_map(|remote| SharedOp::DoubleFree { remote }),
        1 => any::<usize>().prop_map(|pick| SharedOp::SecondHalf { pick }),
    ]
}

/// Objects of a shared span by their first granule: (granules, pending as
/// a remote free).
#[derive(Default)]
struct SharedModel {
    objs: std::collections::BTreeMap<usize, (usize, bool)>,
    last_freed: Option<usize>,
}

impl SharedModel {
    fn pick_live(&self, pick: usize) -> Option<(usize, usize)> {
        let live: Vec<_> = self.objs.iter().filter(|(_, o)| !o.1).collect();
        (!live.is_empty()).then(|| {
            let (&g, &(n, _)) = live[pick % live.len()];
            (g, n)
        })
    }
    fn occupied(&self, g: usize) -> bool {
        self.objs
            .range(..=g)
            .next_back()
            .is_some_and(|(&s, &(n, _))| g < s + n)
    }
}

proptest! {
    #![proptest_config(cfg(1000))]

    /// A span shared by the 32- and 64-byte classes, driven by both
    /// classes' takes and by local and remote frees, never hands out a
    /// granule that belongs to a live or pending object; every 64-byte
    /// object starts on an even granule; `used` counts each object's
    /// granules; `locate` accepts the live objects and refuses the second
    /// half of a 64-byte one; second frees are refused; `live_by_kind`
    /// counts each class's objects; and `free_pages` never names a page
    /// holding a live object.
    #[test]
    fn shared_spans_follow_the_model(ops in vec(shared_op(), 1..120)) {
        use crate::sizeclass::SHARED_PAIR;
        let m = span_of(SHARED_PAIR.0);
        let mut md = SharedModel::default();
        let addr = |g: usize| SPAN_BASE + g * 32;
        for op in &ops {
            match *op {
                SharedOp::Take { second, keep } => {
                    let (class, n) = if second { (SHARED_PAIR.1, 2) } else { (SHARED_PAIR.0, 1) };
                    let Some(t) = m.take_for(class) else { continue };
                    let mut rest = t.bits;
                    let mut kept = 0u64;
                    while rest != 0 {
                        let b = rest & rest.wrapping_neg();
                        rest &= !b;
                        let g = t.word * 64 + b.trailing_zeros() as usize;
                        prop_assert!(n == 1 || g % 2 == 0, "64-byte object on odd granule {}", g);
                        for x in g..g + n {
                            prop_assert!(!md.occupied(x), "granule {} handed out twice", x);
                        }
                        prop_assert_eq!(m.locate(addr(g)), Some((t.word, b)));
                        if kept.count_ones() < u32::from(keep) {
                            kept |= b;
                            md.objs.insert(g, (n, false));
                        }
                    }
                    m.give_back(t.word, t.bits & !kept);
                }
                SharedOp::FreeLocal { pick } => {
                    let Some((g, _)) = md.pick_live(pick) else { continue };
                    prop_assert!(m.free_local(addr(g)).is_ok());
                    md.objs.remove(&g);
                    md.last_freed = Some(g);
                }
                SharedOp::FreeRemote { pick } => {
                    let Some((g, _)) = md.pick_live(pick) else { continue };
                    prop_assert!(m.free_remote(addr(g)).is_ok());
                    md.objs.get_mut(&g).unwrap().1 = true;
                    md.last_freed = Some(g);
                }
                SharedOp::Collect => {
                    let c = m.collect();
                    prop_assert_eq!(c.doubles, 0);
                    md.objs.retain(|_, o| !o.1);
                }
                SharedOp::DoubleFree { remote } => {
                    // Only while its granules are not another object's.
                    let Some(g) = md.last_freed else { continue };
                    if md.occupied(g) && !md.objs.get(&g).is_some_and(|o| o.1) {
                        continue;
                    }
                    let r = if remote { m.free_remote(addr(g)) } else { m.free_local(addr(g)).map(|_| ()) };
                    // A double free, or (its chunk given to the other class
                    // since) not an object start: refused either way.
                    prop_assert!(r.is_err(), "second free of granule {} accepted", g);
                }
                SharedOp::SecondHalf { pick } => {
                    let Some((g, n)) = md.pick_live(pick) else { continue };
                    if n == 2 {
                        prop_assert_eq!(m.locate(addr(g + 1)), None);
                        prop_assert_eq!(m.free_local(addr(g + 1)), Err(FreeError::Invalid));
                    }
                }
            }
            let units: usize = md.objs.values().map(|o| o.0).sum();
            prop_assert_eq!(m.used.load(Relaxed) as usize, units);
            let live = |n| md.objs.values().filter(|o| o.0 == n && !o.1).count() as u32;
            prop_assert_eq!(m.live_by_kind(), [live(1), live(2)]);
            // A pending remote free is a free: it pins no page.
            let free = m.free_pages(0);
            for (&g, &(n, _)) in md.objs.iter().filter(|(_, o)| !o.1) {
                for x in g..g + n {
                    prop_assert!(free & (1 << (x * 32 / PAGE)) == 0, "page of granule {} named free", x);
                }
            }
        }
    }
}
