//! The malloc family's logic with glibc's semantics, over raw addresses.
//! Every size is zslab's: small and medium requests go to the calling
//! thread's heap (size classes), huge ones to `huge`. glibc serves only
//! pointers zslab did not allocate, and requests zslab cannot serve (its
//! region is full, it is disabled, or the thread has been torn down), so
//! "is this pointer zslab's" is one range check. The C ABI layer (`api`)
//! only converts types and validates arguments.

use crate::counters::{COUNTERS, inc};
use crate::diag;
use crate::glibc;
use crate::heap;
use crate::huge;
use crate::init::{self, thread_heap};
use crate::os::{self, PAGE};
use crate::region;
use crate::sizeclass::{
    MAX_MEDIUM, MAX_SMALL, class_for_aligned, class_of, class_of_small, class_size,
};
use crate::slab::{FreeError, SlabMeta, State};
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Requests above this fail: glibc's limit (PTRDIFF_MAX).
const MAX_REQUEST: usize = isize::MAX as usize;

fn enomem() -> *mut c_void {
    os::set_errno(libc::ENOMEM);
    core::ptr::null_mut()
}

/// malloc: a block of at least `size` bytes, 16-byte aligned, or null with
/// errno = ENOMEM.
#[inline(always)]
pub fn malloc(size: usize) -> *mut c_void {
    if size <= MAX_SMALL {
        if let Some(h) = thread_heap() {
            let p = h.alloc(class_of_small(size));
            if p != 0 {
                return p as *mut c_void;
            }
        }
    }
    malloc_slow(size, 16)
}

/// Everything but a small request served by the thread's heap: medium and
/// huge sizes, alignments, and the fallbacks.
#[cold]
#[inline(never)]
fn malloc_slow(size: usize, align: usize) -> *mut c_void {
    if size > MAX_REQUEST {
        return enomem();
    }
    if let Some(c) = class_for(size, align) {
        if let Some(h) = thread_heap() {
            let p = h.alloc(c);
            if p != 0 {
                return p as *mut c_void;
            }
        }
    } else if init::ensure() {
        let p = huge::alloc(size, align.max(16));
        if p != 0 {
            return p as *mut c_void;
        }
    }
    fallback(size, align)
}

/// The class serving `size` bytes at alignment `align` (a power of two):
/// one whose blocks fit and are aligned when one exists (any alignment up
/// to a slab), else `None` (a huge block).
#[inline]
pub(crate) fn class_for(size: usize, align: usize) -> Option<usize> {
    if size > MAX_MEDIUM || align > crate::sizeclass::SLAB_SIZE {
        None
    } else if align <= 16 {
        Some(class_of(size))
    } else {
        class_for_aligned(size, align)
    }
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// zslab cannot serve this request: glibc does. Either the region is full,
/// or the request is larger than the whole region, or this thread could not
/// get a heap (its mapping failed), or the thread has been torn down. A
/// block glibc hands out is counted and said once (not for a torn-down
/// thread: that is the normal end of a thread's life); a request glibc
/// fails too (more than the address space or the memory limits allow) is
/// only an ENOMEM, as it would be without zslab, and says nothing about
/// zslab's region.
#[cold]
fn fallback(size: usize, align: usize) -> *mut c_void {
    let p = if align <= 16 {
        glibc::malloc(size)
    } else {
        glibc::memalign(align, size)
    };
    if !p.is_null() && init::enabled() && crate::tls::get() != crate::tls::TORN_DOWN {
        inc(&COUNTERS.region_full);
        if !WARNED.swap(true, Relaxed) {
            let region_mib = (region::reserved() >> 20) as u64;
            let mut m = os::Msg::new();
            m.s("zslab: warning: cannot serve a request of ")
                .dec(size as u64);
            if size.saturating_add(align) > region::reserved() {
                m.s(" bytes: larger than zslab's region of ")
                    .dec(region_mib)
                    .s(" MiB");
            } else {
                m.s(" bytes from zslab's memory (region of ")
                    .dec(region_mib)
                    .s(" MiB full, or no memory for a thread heap)");
            }
            m.s("; it and any like it go to glibc\n").emit();
        }
    }
    p
}

/// free: release a block from any of the allocation functions.
///
/// # Safety
/// `p` must be null or a pointer returned by this allocator (or glibc's)
/// and not freed since; zslab diagnoses violations inside its region.
#[inline(always)]
pub unsafe fn free(p: *mut c_void) {
    let a = p as usize;
    match region::slab_of(a) {
        Some(s) => heap::free(s, a),
        None => {
            if !p.is_null() {
                // SAFETY: not zslab's: per the contract, glibc's.
                unsafe { glibc::free(p) }
            }
        }
    }
}

/// calloc: zeroed memory for `n` objects of `size` bytes.
pub fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        return enomem();
    };
    if total <= MAX_MEDIUM {
        if let Some(h) = thread_heap() {
            let class = class_of(total);
            let p = h.alloc(class);
            if p != 0 {
                // SAFETY: p is a fresh block of class_size(class) bytes.
                unsafe { core::ptr::write_bytes(p as *mut u8, 0, class_size(class)) };
                return p as *mut c_void;
            }
        }
    }
    if total > MAX_REQUEST {
        return enomem();
    }
    if total > MAX_MEDIUM && init::ensure() {
        let (p, zero) = huge::alloc_zeroed(total);
        if p != 0 {
            if !zero {
                // SAFETY: p is a fresh huge block of at least `total` bytes.
                unsafe { core::ptr::write_bytes(p as *mut u8, 0, total) };
            }
            return p as *mut c_void;
        }
    }
    let p = fallback(total, 16);
    if !p.is_null() {
        // SAFETY: p is a fresh glibc block of at least `total` bytes.
        unsafe { core::ptr::write_bytes(p as *mut u8, 0, total) };
    }
    p
}

/// The live block `p` of zslab's (slab `s`), or why it is not one: its
/// usable size and head.
fn live_block(s: &'static SlabMeta, p: usize) -> Result<(usize, &'static SlabMeta), FreeError> {
    let h = region::head_of(s);
    match h.state.load(core::sync::atomic::Ordering::Acquire) {
        State::Huge | State::HugeCached => huge::usable_size(h, p).map(|n| (n, h)),
        _ => heap::check_allocated(h, p).map(|n| (n, h)),
    }
}

/// Usable size of a live block (0 for null).
///
/// # Safety
/// `p` must be null or a live block of this allocator (or glibc's).
pub unsafe fn usable_size(p: *mut c_void) -> usize {
    let a = p as usize;
    if a == 0 {
        return 0;
    }
    match region::slab_of(a) {
        Some(s) => match live_block(s, a) {
            Ok((n, _)) => n,
            Err(e) => {
                diag::free_error(e, a, Some(region::head_of(s)), "malloc_usable_size");
                0
            }
        },
        // SAFETY: not zslab's: per the contract, glibc's.
        None => unsafe { glibc::usable_size(p) },
    }
}

/// realloc with glibc's semantics: realloc(NULL, n) = malloc(n);
/// realloc(p, 0) frees p and returns NULL; on failure p is untouched.
///
/// # Safety
/// As for `free`.
pub unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // SAFETY: forwarded contract.
        unsafe { free(p) };
        return core::ptr::null_mut();
    }
    if size > MAX_REQUEST {
        return enomem();
    }
    let a = p as usize;
    let Some(s) = region::slab_of(a) else {
        // SAFETY: p is glibc's.
        return unsafe { realloc_foreign(p, size) };
    };
    let (old, head) = match live_block(s, a) {
        Ok(v) => v,
        Err(e) => {
            diag::free_error(e, a, Some(region::head_of(s)), "realloc");
            return core::ptr::null_mut();
        }
    };
    if head.state.get() == State::Huge {
        if size > MAX_MEDIUM {
            if let Some(q) = huge::realloc(head, a, size) {
                return q as *mut c_void;
            }
        }
    } else if size <= old && (size * 2 >= old || old <= 64) {
        // Stay in place while the block fits and is not mostly wasted.
        return p;
    }
    let q = malloc(size);
    if q.is_null() {
        return q;
    }
    // SAFETY: both blocks are live and distinct; old and size bound them.
    unsafe { core::ptr::copy_nonoverlapping(p as *const u8, q as *mut u8, old.min(size)) };
    // SAFETY: p is a live zslab block (checked above).
    unsafe { free(p) };
    q
}

/// realloc of a block glibc allocated: move it into zslab's memory (so
/// glibc's share shrinks over time), or let glibc resize it when zslab
/// cannot serve the new size.
///
/// # Safety
/// `p` is a live glibc block.
unsafe fn realloc_foreign(p: *mut c_void, size: usize) -> *mut c_void {
    if init::ensure() {
        let q = malloc(size);
        if !q.is_null() && region::contains(q as usize) {
            // SAFETY: p is glibc's (not in the region); usable size bounds it.
            let old = unsafe { glibc::usable_size(p) };
            // SAFETY: both blocks are live and distinct.
            unsafe { core::ptr::copy_nonoverlapping(p as *const u8, q as *mut u8, old.min(size)) };
            // SAFETY: p is glibc's.
            unsafe { glibc::free(p) };
            return q;
        }
        if !q.is_null() {
            // SAFETY: q came from malloc just now.
            unsafe { free(q) };
        }
    }
    // SAFETY: p is glibc's (not in the region), per the contract live.
    unsafe { glibc::realloc(p, size) }
}

/// memalign: `align` is a power of two. Served from a class whose block
/// size is a multiple of `align` when one fits, else as a huge block
/// aligned by trimming its run.
pub fn memalign(align: usize, size: usize) -> *mut c_void {
    if align <= 16 {
        return malloc(size);
    }
    malloc_slow(size, align)
}

/// glibc 2.36's memalign/aligned_alloc argument rules: an alignment above
/// SIZE_MAX/2+1 fails with EINVAL; others round up to a power of two.
pub fn memalign_glibc_rules(align: usize, size: usize) -> *mut c_void {
    if align > usize::MAX / 2 + 1 {
        os::set_errno(libc::EINVAL);
        return core::ptr::null_mut();
    }
    memalign(align.max(1).next_power_of_two(), size)
}

/// posix_memalign: 0, EINVAL or ENOMEM; `*out` written only on success.
pub fn posix_memalign(out: &mut *mut c_void, align: usize, size: usize) -> i32 {
    if !align.is_power_of_two() || align % core::mem::size_of::<*mut c_void>() != 0 {
        return libc::EINVAL;
    }
    let saved = os::errno();
    let p = memalign(align, size);
    os::set_errno(saved);
    if p.is_null() {
        return libc::ENOMEM;
    }
    *out = p;
    0
}

/// valloc: page-aligned.
pub fn valloc(size: usize) -> *mut c_void {
    memalign(PAGE, size)
}

/// pvalloc: page-aligned, size rounded up to whole pages (at least one).
pub fn pvalloc(size: usize) -> *mut c_void {
    let Some(rounded) = size.max(1).checked_next_multiple_of(PAGE) else {
        return enomem();
    };
    memalign(PAGE, rounded)
}
