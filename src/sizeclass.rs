//! Size classes: which block size serves a request. Classes start at 16 bytes
//! (the x86-64 `max_align_t`) with 16-byte steps to 128, then four classes per
//! doubling up to 2 KiB and eight per doubling up to 8 KiB, so a request of
//! more than 64 bytes never wastes more than 20% of its block (below that the
//! 16-byte alignment sets the waste), and the common "page plus a header"
//! sizes just above 4 KiB waste about 11% at most. Lookup is a single table load
//! for every small size.

/// log2 of the slab size: every slab spans 64 KiB of the reserved region.
pub const SLAB_SHIFT: u32 = 16;
/// Bytes in one slab.
pub const SLAB_SIZE: usize = 1 << SLAB_SHIFT;
/// The most objects one slab holds (16-byte class).
pub const MAX_OBJECTS: usize = SLAB_SIZE / 16;
/// 64-bit words in a slab's bitmap at the most.
pub const BITMAP_WORDS: usize = MAX_OBJECTS / 64;

/// Block sizes of the classes, smallest first.
pub const CLASS_SIZES: [u32; NCLASS] = [
    16, 32, 48, 64, 80, 96, 112, 128, // 16-byte steps
    160, 192, 224, 256, // then four per doubling
    320, 384, 448, 512, //
    640, 768, 896, 1024, //
    1280, 1536, 1792, 2048, //
    2304, 2560, 2816, 3072, 3328, 3584, 3840, 4096, // eight per doubling
    4608, 5120, 5632, 6144, 6656, 7168, 7680, 8192,
];
/// Number of size classes.
pub const NCLASS: usize = 40;
/// Per-class arrays on the fast paths have this many entries (a power of
/// two), so a class index can be masked instead of bounds-checked.
pub const BINS: usize = NCLASS.next_power_of_two();
/// Largest size a slab class can serve.
pub const MAX_CLASS_SIZE: usize = 8192;

/// `CLASS_OF[(size + 15) / 16]` is the class serving `size`.
static CLASS_OF: [u8; MAX_CLASS_SIZE / 16 + 1] = build_class_table();

const fn build_class_table() -> [u8; MAX_CLASS_SIZE / 16 + 1] {
    let mut t = [0u8; MAX_CLASS_SIZE / 16 + 1];
    let mut i = 0;
    let mut c = 0;
    while i < t.len() {
        let size = (i * 16) as u32;
        while CLASS_SIZES[c] < size {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
}

/// The class for a request of `size` bytes; `size` must be at most
/// [`MAX_CLASS_SIZE`].
#[inline(always)]
pub fn class_of(size: usize) -> usize {
    CLASS_OF[(size + 15) >> 4] as usize
}

/// Block size of class `c`.
#[inline(always)]
pub fn class_size(c: usize) -> usize {
    CLASS_SIZES[c] as usize
}

/// Objects a slab of class `c` holds.
pub const fn class_capacity(c: usize) -> usize {
    SLAB_SIZE / CLASS_SIZES[c] as usize
}

/// Multiplier turning a byte offset inside a slab into an object index:
/// `index = (offset * magic) >> 32`, exact for every offset below
/// `SLAB_SIZE` because `SLAB_SIZE * size < 2^32`.
pub const fn class_magic(c: usize) -> u32 {
    let s = CLASS_SIZES[c] as u64;
    (1u64 << 32).div_ceil(s) as u32
}

/// The smallest class at or above `size` whose block size is a multiple of
/// `align` (so that every block of a 64 KiB-aligned slab is aligned), or
/// `None` if no class qualifies.
pub fn class_for_aligned(size: usize, align: usize) -> Option<usize> {
    if size > MAX_CLASS_SIZE || align > MAX_CLASS_SIZE {
        return None;
    }
    let first = class_of(size);
    (first..NCLASS).find(|&c| CLASS_SIZES[c] as usize % align == 0)
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
        assert_eq!(CLASS_SIZES[NCLASS - 1] as usize, MAX_CLASS_SIZE);
    }

    #[test]
    fn every_size_maps_to_the_smallest_fitting_class() {
        for size in 0..=MAX_CLASS_SIZE {
            let c = class_of(size);
            assert!(class_size(c) >= size.max(1));
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
        // waste: at most 25% of the block.
        for size in 65..=MAX_CLASS_SIZE {
            let b = class_size(class_of(size));
            assert!((b - size) * 4 <= b, "size {size} -> {b}");
        }
        // At and below 64 bytes, the waste is below one 16-byte step.
        for size in 1..=64 {
            assert!(class_size(class_of(size)) - size < 16);
        }
    }

    #[test]
    fn magic_division_is_exact() {
        for c in 0..NCLASS {
            let s = class_size(c);
            let m = class_magic(c) as u64;
            for off in 0..SLAB_SIZE {
                let idx = ((off as u64 * m) >> 32) as usize;
                assert_eq!(idx, off / s, "class {c} offset {off}");
            }
        }
    }

    #[test]
    fn capacity_fits_the_bitmap() {
        for c in 0..NCLASS {
            assert!(class_capacity(c) <= MAX_OBJECTS);
            assert!(class_capacity(c) >= 8);
        }
    }

    #[test]
    fn aligned_classes() {
        assert_eq!(class_for_aligned(100, 64).map(class_size), Some(128));
        assert_eq!(class_for_aligned(10, 4096).map(class_size), Some(4096));
        assert_eq!(class_for_aligned(5000, 4096).map(class_size), Some(8192));
        assert_eq!(class_for_aligned(1, 16).map(class_size), Some(16));
        assert_eq!(class_for_aligned(48, 32).map(class_size), Some(64));
        assert_eq!(class_for_aligned(10, 16384), None);
        assert_eq!(class_for_aligned(9000, 16), None);
    }
}
