//! The slab region: one large reservation of address space, cut into 64 KiB
//! slabs, plus a parallel array of [`SlabMeta`] in a separate mapping.
//! Whether a pointer is zslab's is one subtraction and compare; its slab's
//! metadata is found by shifting the offset. One reservation instead of one
//! mapping per slab keeps zslab far from `vm.max_map_count`.
//!
//! Also owns the pool of unused slabs (never touched, or handed back), from
//! which every size class draws.

use crate::os;
use crate::sizeclass::{SLAB_SHIFT, SLAB_SIZE};
use crate::slab::{STATE_FREE, SlabMeta};
use crate::sync::SpinLock;
use core::sync::atomic::{AtomicUsize, Ordering::*};

/// First byte of the slab area (64 KiB aligned), 0 before initialisation.
static BASE: AtomicUsize = AtomicUsize::new(0);
/// Bytes of the slab area; 0 before initialisation, so every pointer is
/// "not ours" until then.
static LEN: AtomicUsize = AtomicUsize::new(0);
/// Address of the metadata array.
static META: AtomicUsize = AtomicUsize::new(0);
/// Slabs below this index have been handed out at least once.
static FRONTIER: AtomicUsize = AtomicUsize::new(0);

/// Unused slabs that were handed out before (a LIFO stack through
/// `SlabMeta::next`, as index + 1).
static POOL: SpinLock<Pool> = SpinLock::new(Pool { head: 0, len: 0 });

struct Pool {
    head: u32,
    len: usize,
}

/// Reserve the region: try `want` bytes and halve on failure down to 4 MiB.
/// Returns the bytes reserved (0 if nothing could be). Called once, under
/// the initialisation lock.
pub fn init(want: usize, thp: bool) -> usize {
    let mut len = want.next_multiple_of(SLAB_SIZE);
    while len >= 64 * SLAB_SIZE {
        let nslabs = len >> SLAB_SHIFT;
        let meta_len = (nslabs * core::mem::size_of::<SlabMeta>()).next_multiple_of(os::PAGE);
        if let Some(raw) = os::reserve(len + SLAB_SIZE) {
            if let Some(meta) = os::reserve(meta_len) {
                // Align the slab area to the slab size and give back the ends.
                let base = raw.next_multiple_of(SLAB_SIZE);
                if base > raw {
                    os::release(raw, base - raw);
                }
                let tail = raw + len + SLAB_SIZE - (base + len);
                if tail > 0 {
                    os::release(base + len, tail);
                }
                if !thp {
                    // Huge pages would re-collapse ranges zslab handed back.
                    os::advise(base, len, libc::MADV_NOHUGEPAGE);
                }
                META.store(meta, Relaxed);
                BASE.store(base, Relaxed);
                LEN.store(len, Release);
                return len;
            }
            os::release(raw, len + SLAB_SIZE);
        }
        len /= 2;
    }
    0
}

/// Bytes reserved for slabs.
pub fn reserved() -> usize {
    LEN.load(Relaxed)
}

/// Bytes of the region ever handed out to a size class.
pub fn used_span() -> usize {
    FRONTIER.load(Relaxed) << SLAB_SHIFT
}

/// Number of slabs ever handed out (metadata below this index is
/// meaningful).
pub fn frontier() -> usize {
    FRONTIER.load(Relaxed)
}

/// The slab metadata of pointer `p`, or `None` if `p` is not in the region.
#[inline(always)]
pub fn slab_of(p: usize) -> Option<&'static SlabMeta> {
    let off = p.wrapping_sub(BASE.load(Relaxed));
    if off >= LEN.load(Relaxed) {
        return None;
    }
    Some(meta(off >> SLAB_SHIFT))
}

/// Whether `p` points into the slab region.
#[inline(always)]
pub fn contains(p: usize) -> bool {
    p.wrapping_sub(BASE.load(Relaxed)) < LEN.load(Relaxed)
}

/// Metadata of slab `idx`.
#[inline(always)]
pub fn meta(idx: usize) -> &'static SlabMeta {
    debug_assert!(idx < LEN.load(Relaxed) >> SLAB_SHIFT);
    let addr = META.load(Relaxed) + idx * core::mem::size_of::<SlabMeta>();
    // SAFETY: idx is below the slab count (callers derive it from a region
    // offset or from a stored index), so addr lies inside the metadata
    // mapping, which is never unmapped; zeroed memory is a valid SlabMeta
    // (all atomics), and SlabMeta is only accessed through atomics.
    unsafe { &*(addr as *const SlabMeta) }
}

/// Index of the slab described by `m`.
#[inline]
pub fn index_of(m: &SlabMeta) -> usize {
    (m as *const SlabMeta as usize - META.load(Relaxed)) / core::mem::size_of::<SlabMeta>()
}

/// Start address of slab `idx`.
#[inline]
pub fn slab_base(idx: usize) -> usize {
    BASE.load(Relaxed) + (idx << SLAB_SHIFT)
}

/// Metadata for a stored link (index + 1), or `None` for 0.
#[inline]
pub fn link(l: u32) -> Option<&'static SlabMeta> {
    if l == 0 {
        None
    } else {
        Some(meta(l as usize - 1))
    }
}

/// The link value (index + 1) naming `m`.
#[inline]
pub fn link_of(m: &SlabMeta) -> u32 {
    index_of(m) as u32 + 1
}

/// Take an unused slab: a recycled one if any, else the next never-used
/// one. `None` when the region is exhausted.
pub fn take_unused() -> Option<&'static SlabMeta> {
    {
        let mut pool = POOL.lock();
        if let Some(m) = link(pool.head) {
            pool.head = m.next.load(Relaxed);
            pool.len -= 1;
            m.next.store(0, Relaxed);
            return Some(m);
        }
    }
    let nslabs = LEN.load(Relaxed) >> SLAB_SHIFT;
    let mut cur = FRONTIER.load(Relaxed);
    loop {
        if cur >= nslabs {
            return None;
        }
        match FRONTIER.compare_exchange_weak(cur, cur + 1, Relaxed, Relaxed) {
            Ok(_) => return Some(meta(cur)),
            Err(now) => cur = now,
        }
    }
}

/// Return a slab whose pages have been handed back (or kept, with
/// reclamation off) to the unused pool.
pub fn put_unused(m: &'static SlabMeta) {
    m.state.store(STATE_FREE, Release);
    let mut pool = POOL.lock();
    m.next.store(pool.head, Relaxed);
    pool.head = link_of(m);
    pool.len += 1;
}

/// Slabs in the unused pool.
pub fn unused_count() -> usize {
    POOL.lock().len
}

/// The pool's lock, for fork handlers.
pub fn pool_lock() -> &'static crate::sync::RawLock {
    POOL.raw()
}
