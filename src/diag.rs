//! Diagnosis of invalid and double frees: counted, reported on stderr with
//! write(2) (no allocation: this runs inside free), then abort as glibc does,
//! or, with `ZSLAB_ON_ERROR=warn`, ignore the call and continue.

use crate::counters::{COUNTERS, inc};
use crate::slab::{Collected, FreeError, SlabMeta};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

static WARN_ONLY: AtomicBool = AtomicBool::new(false);

/// Choose between abort (default) and warn-and-continue.
pub fn set_warn_only(warn: bool) {
    WARN_ONLY.store(warn, Relaxed);
}

/// Report a refused free of `p` from slab `s` (None: no slab).
#[cold]
#[inline(never)]
pub fn free_error(e: FreeError, p: usize, s: Option<&SlabMeta>, what: &str) {
    let size = s.map_or(0, |s| s.object_size());
    match e {
        FreeError::DoubleFree => {
            inc(&COUNTERS.double_frees);
            crate::eprint_raw!(
                "zslab: double free detected in {what}(): {p:#x} ({size}-byte object is already free)\n"
            );
        }
        FreeError::Invalid => {
            inc(&COUNTERS.invalid_frees);
            crate::eprint_raw!(
                "zslab: invalid free detected in {what}(): {p:#x} is not a live {size}-byte block\n"
            );
        }
    }
    if !WARN_ONLY.load(Relaxed) {
        crate::eprint_raw!("zslab: aborting (set ZSLAB_ON_ERROR=warn to continue instead)\n");
        crate::os::abort();
    }
}

/// Report double frees found while folding remote frees of slab `s` in.
#[inline]
pub fn check_collected(c: Collected, s: &SlabMeta) {
    if c.doubles > 0 {
        for _ in 1..c.doubles {
            inc(&COUNTERS.double_frees);
        }
        free_error(FreeError::DoubleFree, c.double_addr, Some(s), "free");
    }
}
