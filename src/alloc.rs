//! The malloc family's logic with glibc's semantics, over raw addresses:
//! small requests go to the calling thread's heap, everything else (and any
//! pointer outside the slab region) to glibc. The C ABI layer (`api`) only
//! converts types and validates arguments.

use crate::glibc;
use crate::heap::{self, Heap};
use crate::os::{self, PAGE};
use crate::region;
use crate::sizeclass::{MAX_CLASS_SIZE, class_for_aligned, class_of, class_size};
use crate::slab::{FreeError, STATE_ACTIVE};
use core::ffi::c_void;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Largest request served from slabs (ZSLAB_MAX_SMALL), set at init.
static MAX_SMALL: AtomicUsize = AtomicUsize::new(MAX_CLASS_SIZE);

/// Configure the small/large boundary.
pub fn set_max_small(n: usize) {
    MAX_SMALL.store(n.min(MAX_CLASS_SIZE), Relaxed);
}

/// Requests above this fail: glibc's limit (PTRDIFF_MAX).
const MAX_REQUEST: usize = isize::MAX as usize;

#[inline(always)]
fn max_small() -> usize {
    MAX_SMALL.load(Relaxed)
}

fn count(h: Option<&Heap>, c: impl Fn(&Heap) -> &AtomicU64) {
    if let Some(h) = h {
        let a = c(h);
        a.store(a.load(Relaxed) + 1, Relaxed);
    }
}

fn current_heap() -> Option<&'static Heap> {
    if crate::tls::is_heap(crate::tls::get()) {
        heap::thread_heap()
    } else {
        None
    }
}

fn enomem() -> *mut c_void {
    os::set_errno(libc::ENOMEM);
    core::ptr::null_mut()
}

/// malloc: a block of at least `size` bytes, 16-byte aligned, or null with
/// errno = ENOMEM.
#[inline(always)]
pub fn malloc(size: usize) -> *mut c_void {
    if size <= MAX_CLASS_SIZE {
        if let Some(h) = heap::thread_heap() {
            if size <= max_small() {
                let p = h.alloc(class_of(size));
                if p != 0 {
                    return p as *mut c_void;
                }
            }
        }
    }
    malloc_large(size)
}

#[cold]
#[inline(never)]
fn malloc_large(size: usize) -> *mut c_void {
    if size > MAX_REQUEST {
        return enomem();
    }
    let p = glibc::malloc(size);
    if !p.is_null() {
        count(current_heap(), |h| &h.large_allocs);
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
                unsafe { free_large(p) }
            }
        }
    }
}

#[cold]
#[inline(never)]
unsafe fn free_large(p: *mut c_void) {
    count(current_heap(), |h| &h.large_frees);
    // SAFETY: forwarded from `free`'s contract.
    unsafe { glibc::free(p) }
}

/// calloc: zeroed memory for `n` objects of `size` bytes.
pub fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        return enomem();
    };
    if total <= MAX_CLASS_SIZE {
        if let Some(h) = heap::thread_heap() {
            if total <= max_small() {
                let class = class_of(total);
                let p = h.alloc(class);
                if p != 0 {
                    // SAFETY: p is a fresh block of class_size(class) bytes.
                    unsafe { core::ptr::write_bytes(p as *mut u8, 0, class_size(class)) };
                    return p as *mut c_void;
                }
            }
        }
    }
    if total > MAX_REQUEST {
        return enomem();
    }
    let p = glibc::calloc(n, size);
    if !p.is_null() {
        count(current_heap(), |h| &h.large_allocs);
    }
    p
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
        Some(s) => {
            if s.state.load(Relaxed) == STATE_ACTIVE && s.locate(a).is_some() {
                s.object_size()
            } else {
                0
            }
        }
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
    if let Some(s) = region::slab_of(a) {
        if s.state.load(Relaxed) != STATE_ACTIVE || s.locate(a).is_none() {
            crate::diag::free_error(FreeError::Invalid, a, Some(s), "realloc");
            return core::ptr::null_mut();
        }
        let old = s.object_size();
        // Stay in place while the block fits and is not mostly wasted.
        if size <= old && (size * 2 >= old || old <= 64) {
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
        return q;
    }
    // A glibc block: move it into a slab when it became small, else let
    // glibc resize it (in place, or with mremap for huge blocks).
    if size <= max_small() && current_heap().is_some() {
        let q = malloc(size);
        if !q.is_null() && region::contains(q as usize) {
            // SAFETY: p is glibc's (not in the region); usable size bounds it.
            let old = unsafe { glibc::usable_size(p) };
            // SAFETY: both blocks are live and distinct.
            unsafe { core::ptr::copy_nonoverlapping(p as *const u8, q as *mut u8, old.min(size)) };
            // SAFETY: p is glibc's.
            unsafe { free_large(p) };
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

/// memalign: `align` is a power of two. Served from a slab class whose
/// block size is a multiple of `align` when one fits, else by glibc.
pub fn memalign(align: usize, size: usize) -> *mut c_void {
    if align <= 16 {
        return malloc(size);
    }
    if size <= MAX_CLASS_SIZE {
        if let Some(h) = heap::thread_heap() {
            if let Some(c) = class_for_aligned(size, align) {
                if class_size(c) <= max_small() {
                    let p = h.alloc(c);
                    if p != 0 {
                        return p as *mut c_void;
                    }
                }
            }
        }
    }
    if size > MAX_REQUEST {
        return enomem();
    }
    let p = glibc::memalign(align, size);
    if !p.is_null() {
        count(current_heap(), |h| &h.large_allocs);
    }
    p
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
