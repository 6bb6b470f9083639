//! Size classes: which block size serves a request, and how big a span of
//! slabs one class's objects are carved from.
//!
//! - **Small** classes (16 B to 8 KiB, 40 classes) start at 16 bytes (the
//!   x86-64 `max_align_t`) with 16-byte steps to 128, then four classes per
//!   doubling up to 2 KiB and eight per doubling up to 8 KiB, so a request of
//!   more than 64 bytes never wastes more than 20% of its block, and the
//!   common "page plus a header" sizes just above 4 KiB waste about 11% at
//!   most. Each small span is one 64 KiB slab. Lookup is one table load.
//! - **Medium** classes (above 8 KiB to 1 MiB, 28 classes) have four classes
//!   per doubling (at most 20% waste) and are carved from spans of 128 KiB to
//!   8 MiB holding 8 to 12 objects, so a thread reuses a freed medium block
//!   of its class without any lock, exactly like a small one. Every medium
//!   size is a multiple of 2 KiB.
//! - Larger requests are **huge** blocks: one run of slabs each (`huge`).

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// log2 of the slab size: the region is cut into 64 KiB slabs.
pub const SLAB_SHIFT: u32 = 16;
/// Bytes in one slab.
pub const SLAB_SIZE: usize = 1 << SLAB_SHIFT;
/// Pages in one slab.
pub const SLAB_PAGES: usize = SLAB_SIZE / crate::os::PAGE;
/// The most objects one span holds. A 16-byte span uses the first half of
/// its slab: every other class holds at most 2048 objects, and a bitmap of
/// 32 words instead of 64 takes a slab's metadata from 1152 to 640 bytes
/// (1% of the memory it describes instead of 1.8%: the metadata of a
/// slab in use stays resident).
pub const MAX_OBJECTS: usize = SLAB_SIZE / 32;
/// 64-bit words in a span's bitmap at the most.
pub const BITMAP_WORDS: usize = MAX_OBJECTS / 64;

/// Number of small classes.
pub const NSMALL: usize = 40;
/// Number of size classes (small and medium).
pub const NCLASS: usize = NSMALL + 28;
/// Per-class arrays on the fast paths have this many entries (a power of
/// two), so a class index can be masked instead of bounds-checked.
pub const BINS: usize = NCLASS.next_power_of_two();
/// Largest small class.
pub const MAX_SMALL: usize = 8192;
/// Largest medium class: larger requests are huge blocks.
pub const MAX_MEDIUM: usize = 1 << 20;

/// Classes that share spans in 512-byte chunks: objects of [`SHARED_PAIR`]'s
/// second class (64 bytes) are carved from the spans of its first (32
/// bytes), each 512-byte chunk of such a span serving one of the two. A
/// phase's objects of both sizes then sit side by side in the order they
/// were allocated, so the few that survive the phase pin fewer pages than
/// when each size keeps pages of its own (docs/design.md, "Shared
/// chunks"). The span's bitmap counts 32-byte granules: a 64-byte object
/// is the even granule of a pair, its odd granule's bit always set.
pub const SHARED_PAIR: (usize, usize) = (1, 3);
/// Granules of one shared chunk (512 bytes): a quarter of a bitmap word.
pub const CHUNK_GRANULES: usize = 16;
const _: () = assert!(SMALL_SIZES[SHARED_PAIR.0] == 32 && SMALL_SIZES[SHARED_PAIR.1] == 64);

/// Spans of the pair's two classes a heap takes before it starts sharing
/// (`ZSLAB_SHARE_AFTER` in spans; `usize::MAX` with
/// `ZSLAB_SHARED_CHUNKS=off`): set once at start-up.
static SHARE_AFTER: AtomicUsize = AtomicUsize::new(64);

/// Configure shared chunks (start-up only): off, or on once a heap has
/// taken `after_bytes` of spans for the pair's classes.
pub fn set_sharing(on: bool, after_bytes: usize) {
    let spans = if on {
        after_bytes.div_ceil(span_bytes(SHARED_PAIR.0))
    } else {
        usize::MAX
    };
    set_share_after(spans);
}

/// Set the spans of the pair's classes a heap takes before it starts
/// sharing (`usize::MAX`: never); heaps set up from then on follow it.
pub fn set_share_after(spans: usize) {
    SHARE_AFTER.store(spans, Relaxed);
}

/// Spans of the pair's classes a heap takes before it starts sharing
/// (`usize::MAX`: never).
#[inline]
pub fn share_after() -> usize {
    SHARE_AFTER.load(Relaxed)
}

/// The class whose spans serve `c`'s objects (and whose lists hold them)
/// in a heap that shares (`shares`) or not.
#[inline(always)]
pub fn home(c: usize, shares: bool) -> usize {
    if c == SHARED_PAIR.1 && shares {
        SHARED_PAIR.0
    } else {
        c
    }
}

/// The other class whose bins take objects from the spans of `home`, if
/// any (the pair's second class, for its first in a heap that shares).
#[inline]
pub fn partner(home: usize, shares: bool) -> Option<usize> {
    (home == SHARED_PAIR.0 && shares).then_some(SHARED_PAIR.1)
}

/// Block sizes of the classes, smallest first.
pub const CLASS_SIZES: [u32; NCLASS] = build_sizes();

const SMALL_SIZES: [u32; NSMALL] = [
    16, 32, 48, 64, 80, 96, 112, 128, // 16-byte steps
    160, 192, 224, 256, // then four per doubling
    320, 384, 448, 512, //
    640, 768, 896, 1024, //
    1280, 1536, 1792, 2048, //
    2304, 2560, 2816, 3072, 3328, 3584, 3840, 4096, // eight per doubling
    4608, 5120, 5632, 6144, 6656, 7168, 7680, 8192,
];

const fn build_sizes() -> [u32; NCLASS] {
    let mut t = [0u32; NCLASS];
    let mut i = 0;
    while i < NSMALL {
        t[i] = SMALL_SIZES[i];
        i += 1;
    }
    // Four per doubling: 2^k * (1 + j/4) for k = 13.., j = 1..4.
    let mut k = 13;
    while i < NCLASS {
        let mut j = 1;
        while j <= 4 && i < NCLASS {
            t[i] = ((1u32 << k) / 4) * (4 + j);
            i += 1;
            j += 1;
        }
        k += 1;
    }
    t
}

/// Slabs in one span of each class.
const SPAN_SLABS: [u16; NCLASS] = build_spans();

const fn build_spans() -> [u16; NCLASS] {
    let mut t = [1u16; NCLASS];
    let mut i = NSMALL;
    while i < NCLASS {
        // About eight objects, 128 KiB to 8 MiB, a power of two.
        let mut bytes = (CLASS_SIZES[i] as usize * 8).next_power_of_two();
        if bytes < 2 * SLAB_SIZE {
            bytes = 2 * SLAB_SIZE;
        }
        t[i] = (bytes / SLAB_SIZE) as u16;
        i += 1;
    }
    t
}

/// Entries of the small-size table: a power of two above `MAX_SMALL / 16`,
/// so the index can be masked.
const TABLE: usize = (MAX_SMALL / 16 + 1).next_power_of_two();

/// `CLASS_OF[(size + 15) / 16]` is the class serving a small `size`.
static CLASS_OF: [u8; TABLE] = build_class_table();

const fn build_class_table() -> [u8; TABLE] {
    let mut t = [0u8; TABLE];
    let mut i = 0;
    let mut c = 0;
    while i < t.len() {
        let size = (i * 16) as u32;
        while c < NSMALL - 1 && CLASS_SIZES[c] < size {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
}

/// The class for a small request (`size` at most [`MAX_SMALL`]). Larger
/// sizes give a class index the caller's mask keeps in bounds, never a
/// panic; callers check the size first.
#[inline(always)]
pub fn class_of_small(size: usize) -> usize {
    CLASS_OF[((size + 15) >> 4) & (TABLE - 1)] as usize
}

/// The class for any request up to [`MAX_MEDIUM`].
#[inline]
pub fn class_of(size: usize) -> usize {
    if size <= MAX_SMALL {
        return class_of_small(size);
    }
    let t = size - 1;
    let k = (usize::BITS - 1 - t.leading_zeros()) as usize; // 13..=19
    NSMALL + (k - 13) * 4 + ((t >> (k - 2)) & 3)
}

/// Block size of class `c` (masked: any index is in bounds).
#[inline(always)]
pub fn class_size(c: usize) -> usize {
    CLASS_SIZES[c % NCLASS] as usize
}

/// Slabs in a span of class `c`.
#[inline]
pub fn span_slabs(c: usize) -> usize {
    SPAN_SLABS[c % NCLASS] as usize
}

/// Bytes in a span of class `c`.
#[inline]
pub fn span_bytes(c: usize) -> usize {
    span_slabs(c) << SLAB_SHIFT
}

/// Objects a span of class `c` holds.
pub fn class_capacity(c: usize) -> usize {
    (span_bytes(c) / class_size(c)).min(MAX_OBJECTS)
}

/// Shift applied to an object offset before the magic multiply (see
/// [`class_magic`]): 0 for small classes, 11 for medium ones (their sizes
/// are multiples of 2 KiB).
pub fn class_shift(c: usize) -> u32 {
    if c % NCLASS < NSMALL { 0 } else { 11 }
}

/// Multiplier turning a byte offset inside a span into an object index:
/// `index = ((offset >> shift) * magic) >> 32`, exact for every offset in
/// the span because `(span_bytes >> shift) * (size >> shift) < 2^32`.
pub fn class_magic(c: usize) -> u32 {
    let s = (class_size(c) >> class_shift(c)) as u64;
    (1u64 << 32).div_ceil(s) as u32
}

/// The smallest class at or above `size` whose block size is a multiple of
/// `align` (so that every block of a slab-aligned span is aligned), or
/// `None` if no class qualifies.
pub fn class_for_aligned(size: usize, align: usize) -> Option<usize> {
    if size > MAX_MEDIUM || align > SLAB_SIZE {
        return None;
    }
    let first = class_of(size);
    (first..NCLASS).find(|&c| class_size(c) % align == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_sorted_and_aligned() {
        for w in CLASS_SIZES.windows(2) {
            assert!(w[0] < w[1]);
        }
        for &s in &CLASS_SIZES {
            assert_eq!(s % 16, 0, "class {s} is not 16-byte aligned");
        }
        for &s in &CLASS_SIZES[NSMALL..] {
            assert_eq!(s % 2048, 0, "medium class {s}");
        }
        assert_eq!(CLASS_SIZES[NSMALL - 1] as usize, MAX_SMALL);
        assert_eq!(CLASS_SIZES[NCLASS - 1] as usize, MAX_MEDIUM);
        assert_eq!(CLASS_SIZES[NSMALL], 10240);
    }

    #[test]
    fn every_size_maps_to_the_smallest_fitting_class() {
        let mut sizes: Vec<usize> = (0..=MAX_SMALL).collect();
        for &s in &CLASS_SIZES {
            let s = s as usize;
            sizes.extend([s - 1, s, s + 1]);
        }
        for size in sizes.into_iter().filter(|&s| s <= MAX_MEDIUM) {
            let c = class_of(size);
            assert!(class_size(c) >= size.max(1), "size {size}");
            if c > 0 {
                assert!(
                    class_size(c - 1) < size,
                    "size {size} could use class {}",
                    c - 1
                );
            }
        }
    }

    #[test]
    fn page_plus_header_sizes_waste_little() {
        for size in [4097, 4128, 4352, 4384] {
            let b = class_size(class_of(size));
            assert!((b - size) * 100 <= b * 12, "size {size} -> {b}");
        }
    }

    #[test]
    fn waste_is_bounded() {
        // Above 64 bytes the spacing, not the 16-byte granularity, sets the
        // waste: at most 20% of the block.
        for size in (65..=MAX_MEDIUM).step_by(7) {
            let b = class_size(class_of(size));
            assert!((b - size) * 5 <= b, "size {size} -> {b}");
        }
        for size in 1..=64 {
            assert!(class_size(class_of(size)) - size < 16);
        }
    }

    #[test]
    fn magic_division_is_exact() {
        for c in 0..NCLASS {
            let s = class_size(c);
            let m = class_magic(c) as u64;
            let sh = class_shift(c);
            let span = span_bytes(c);
            let step = if c < NSMALL { 1 } else { 2048 };
            for off in (0..span).step_by(step) {
                let idx = (((off >> sh) as u64 * m) >> 32) as usize;
                assert_eq!(idx, off / s, "class {c} offset {off}");
            }
        }
    }

    #[test]
    fn spans_fit_the_bitmap() {
        for c in 0..NCLASS {
            assert!(class_capacity(c) <= MAX_OBJECTS);
            assert!(class_capacity(c) >= 8, "class {c}");
            assert!(span_slabs(c).is_power_of_two());
        }
        assert!(span_slabs(NCLASS - 1) <= 128);
    }

    #[test]
    fn aligned_classes() {
        assert_eq!(class_for_aligned(100, 64).map(class_size), Some(128));
        assert_eq!(class_for_aligned(10, 4096).map(class_size), Some(4096));
        assert_eq!(class_for_aligned(5000, 4096).map(class_size), Some(8192));
        assert_eq!(class_for_aligned(1, 16).map(class_size), Some(16));
        assert_eq!(class_for_aligned(48, 32).map(class_size), Some(64));
        assert_eq!(class_for_aligned(10, 16384).map(class_size), Some(16384));
        assert_eq!(class_for_aligned(9000, 16).map(class_size), Some(10240));
        assert_eq!(class_for_aligned(9000, 4096).map(class_size), Some(12288));
        assert_eq!(class_for_aligned(10, 1 << 17), None);
        assert_eq!(class_for_aligned(MAX_MEDIUM + 1, 16), None);
    }
}
