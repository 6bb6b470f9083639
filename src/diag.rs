//! Diagnosis of invalid and double frees (and of freed or foreign pointers
//! passed to realloc or malloc_usable_size): counted, reported on stderr
//! with write(2) and no `core::fmt` (this runs inside free, and must be
//! neither allocating nor panicking), then abort as glibc does, or, with
//! `ZSLAB_ON_ERROR=warn`, ignore the call and continue.

use crate::counters::{COUNTERS, inc};
use crate::os::Msg;
use crate::slab::{Collected, FreeError, SlabMeta, State};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

static WARN_ONLY: AtomicBool = AtomicBool::new(false);

/// Choose between abort (default) and warn-and-continue.
pub fn set_warn_only(warn: bool) {
    WARN_ONLY.store(warn, Relaxed);
}

/// Whether refused calls are ignored rather than fatal.
pub fn warn_only() -> bool {
    WARN_ONLY.load(Relaxed)
}

/// Size of the blocks `s` describes, for the message.
fn block_size(s: &SlabMeta, p: usize) -> usize {
    match s.state.get() {
        State::Huge | State::HugeCached => (s.cap.load(Relaxed) as usize) << crate::os::PAGE_SHIFT,
        // A huge block's head gone back to the region keeps its pages.
        State::Free if s.size.load(Relaxed) == 0 => {
            (s.cap.load(Relaxed) as usize) << crate::os::PAGE_SHIFT
        }
        _ => s
            .locate(p)
            .map_or(s.object_size(), |(w, b)| s.object_size_at(w, b)),
    }
}

/// Report a refused call `what` (free, realloc, malloc_usable_size) on
/// pointer `p` of span or block `s` (None: no span).
#[cold]
#[inline(never)]
pub fn free_error(e: FreeError, p: usize, s: Option<&SlabMeta>, what: &str) {
    let size = s.map_or(0, |s| block_size(s, p)) as u64;
    let is_free = what == "free";
    let mut m = Msg::new();
    match e {
        FreeError::DoubleFree => {
            inc(&COUNTERS.double_frees);
            m.s(if is_free {
                "zslab: double free"
            } else {
                "zslab: use after free"
            });
            m.s(" detected in ").s(what).s("(): ").hex(p).s(" (");
            m.dec(size).s("-byte block is already free)\n");
        }
        FreeError::Invalid => {
            inc(&COUNTERS.invalid_frees);
            m.s(if is_free {
                "zslab: invalid free"
            } else {
                "zslab: invalid pointer"
            });
            m.s(" detected in ")
                .s(what)
                .s("(): ")
                .hex(p)
                .s(" is not a live ");
            if size == 0 {
                // Slabs no span or block uses (their metadata may be
                // zeroed): no size to name.
                m.s("block (no block of zslab's is there)\n");
            } else {
                m.dec(size).s("-byte block\n");
            }
        }
    }
    m.emit();
    if !warn_only() {
        Msg::new()
            .s("zslab: aborting (set ZSLAB_ON_ERROR=warn to continue instead)\n")
            .emit();
        crate::os::abort();
    }
}

/// Report double frees found while folding remote frees of span `s` in.
#[inline]
pub fn check_collected(c: Collected, s: &SlabMeta) {
    if c.doubles > 0 {
        for _ in 1..c.doubles {
            inc(&COUNTERS.double_frees);
        }
        free_error(FreeError::DoubleFree, c.double_addr, Some(s), "free");
    }
}
