//! The exported C ABI of the malloc family. Each function only converts
//! types, validates arguments and forwards to `alloc`; nothing here can
//! panic. In unit-test builds the symbols are not exported, so the test
//! binary keeps its own allocator.

use crate::{alloc, glibc, stats};
use core::ffi::{c_int, c_void};

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    alloc::malloc(size)
}

/// # Safety
/// `p` must be null or a live block from this allocator (or glibc's).
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: the C caller's contract.
    unsafe { alloc::free(p) }
}

/// # Safety
/// As `free`.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn cfree(p: *mut c_void) {
    // SAFETY: the C caller's contract.
    unsafe { alloc::free(p) }
}

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    alloc::calloc(n, size)
}

/// # Safety
/// `p` must be null or a live block from this allocator (or glibc's).
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the C caller's contract.
    unsafe { alloc::realloc(p, size) }
}

/// # Safety
/// As `realloc`.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: the C caller's contract.
        Some(total) => unsafe { alloc::realloc(p, total) },
        None => {
            crate::os::set_errno(libc::ENOMEM);
            core::ptr::null_mut()
        }
    }
}

/// # Safety
/// `out` must be valid for writing a pointer.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    let mut p = core::ptr::null_mut();
    let r = alloc::posix_memalign(&mut p, align, size);
    if r == 0 {
        // SAFETY: the caller passes a writable pointer slot.
        unsafe { *out = p };
    }
    r
}

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    alloc::memalign_glibc_rules(align, size)
}

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    alloc::memalign_glibc_rules(align, size)
}

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    alloc::valloc(size)
}

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    alloc::pvalloc(size)
}

/// # Safety
/// `p` must be null or a live block from this allocator (or glibc's).
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: the C caller's contract.
    unsafe { alloc::usable_size(p) }
}

/// zslab's own figures plus glibc's for the blocks it still holds (those
/// zslab did not allocate): `arena` and `uordblks`/`fordblks` count zslab's
/// committed, live and free bytes; `hblks`/`hblkhd` its huge blocks.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn mallinfo2() -> libc::mallinfo2 {
    let mut m = glibc::mallinfo2();
    if crate::init::enabled() {
        let g = stats::snapshot().global;
        let live = g.live_bytes + g.huge_live_bytes;
        m.arena += g.committed_bytes as usize;
        m.uordblks += live as usize;
        m.fordblks += g.committed_bytes.saturating_sub(live) as usize;
        m.hblks += (g.huge_allocs.saturating_sub(g.huge_frees)) as usize;
        m.hblkhd += g.huge_live_bytes as usize;
    }
    m
}

/// The old `int` version of mallinfo2, saturating like glibc's.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn mallinfo() -> libc::mallinfo {
    let m = mallinfo2();
    let c = |v: usize| v.min(c_int::MAX as usize) as c_int;
    libc::mallinfo {
        arena: c(m.arena),
        ordblks: c(m.ordblks),
        smblks: c(m.smblks),
        hblks: c(m.hblks),
        hblkhd: c(m.hblkhd),
        usmblks: c(m.usmblks),
        fsmblks: c(m.fsmblks),
        uordblks: c(m.uordblks),
        fordblks: c(m.fordblks),
        keepcost: c(m.keepcost),
    }
}

/// Give back everything zslab holds without a live object: the calling
/// thread's remote frees folded in and its spans' free pages, every cached
/// span and huge block, queued purges, idle threads' spans; then trim
/// glibc's heap. Returns 1 if any memory was released.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn malloc_trim(pad: usize) -> c_int {
    let released = if crate::init::enabled() {
        crate::capi::reclaim_all()
    } else {
        0
    };
    let r = glibc::malloc_trim(pad);
    (released > 0 || r != 0) as c_int
}

/// Tunables belong to glibc's allocator, which serves only the blocks
/// zslab does not: forwarded, so programs that set them keep working.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn mallopt(param: c_int, value: c_int) -> c_int {
    glibc::mallopt(param, value)
}

/// zslab's report on stderr, then glibc's (for the blocks it still holds).
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn malloc_stats() {
    if crate::init::enabled() {
        let mut w = stats::FdWriter::new(2);
        let _ = stats::write_text(&mut w, &stats::snapshot());
    }
    glibc::malloc_stats();
}

/// glibc's XML document with a `<zslab>` element added before its end.
///
/// # Safety
/// `fp` must be a valid, writable `FILE *`.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn malloc_info(options: c_int, fp: *mut libc::FILE) -> c_int {
    if options != 0 {
        crate::os::set_errno(libc::EINVAL);
        return -1;
    }
    // SAFETY: the C caller's contract.
    unsafe { crate::capi::malloc_info_xml(fp) }
}

/// sigaction, wrapped: the termination-signal handlers zslab installs for
/// its exit report read as the default action (see `report::sigaction`).
///
/// # Safety
/// As sigaction.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    oact: *mut libc::sigaction,
) -> c_int {
    // SAFETY: the C caller's contract.
    unsafe { crate::report::sigaction(sig, act, oact) }
}

/// pthread_create, wrapped: the program's own call is a place where no
/// caller can be inside libc, so zslab starts its background thread here
/// (once) when the program becomes multi-threaded. Otherwise forwarded
/// unchanged.
///
/// # Safety
/// As pthread_create.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn pthread_create(
    t: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: glibc::StartFn,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: the C caller's contract.
    let r = unsafe { glibc::pthread_create(t, attr, start, arg) };
    if r == 0 {
        crate::background::maybe_start();
    }
    r
}
