//! The system allocator underneath: glibc's own entry points. Large requests
//! and pointers zslab did not allocate go here. The `__libc_*` aliases are
//! linked directly (no dlsym, so they work before anything is initialised);
//! the functions without such an alias are looked up once with
//! `dlsym(RTLD_NEXT)`, which may itself call calloc: callers never hold an
//! allocator lock when they get here.

use core::ffi::c_void;
use core::sync::atomic::{AtomicUsize, Ordering::*};

unsafe extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_calloc(n: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_free(p: *mut c_void);
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
}

pub fn malloc(size: usize) -> *mut c_void {
    // SAFETY: glibc's malloc accepts any size.
    unsafe { __libc_malloc(size) }
}

pub fn calloc(n: usize, size: usize) -> *mut c_void {
    // SAFETY: glibc's calloc checks the product for overflow itself.
    unsafe { __libc_calloc(n, size) }
}

/// # Safety
/// `p` must be null or a live block from glibc's allocator.
pub unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded from the caller's contract.
    unsafe { __libc_realloc(p, size) }
}

/// # Safety
/// `p` must be null or a block from glibc's allocator (glibc diagnoses
/// anything else itself, as it would without zslab).
pub unsafe fn free(p: *mut c_void) {
    // SAFETY: forwarded from the caller's contract.
    unsafe { __libc_free(p) }
}

pub fn memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: glibc's memalign validates both arguments.
    unsafe { __libc_memalign(align, size) }
}

/// A symbol of the next object in lookup order (glibc), resolved once.
struct Next {
    name: &'static core::ffi::CStr,
    addr: AtomicUsize,
}

impl Next {
    const fn new(name: &'static core::ffi::CStr) -> Self {
        Next {
            name,
            addr: AtomicUsize::new(0),
        }
    }
    fn get(&self) -> usize {
        let a = self.addr.load(Acquire);
        if a != 0 {
            return a;
        }
        // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name.
        let a = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        self.addr.store(a, Release);
        a
    }
}

static USABLE: Next = Next::new(c"malloc_usable_size");
static MALLINFO2: Next = Next::new(c"mallinfo2");
static TRIM: Next = Next::new(c"malloc_trim");
static MALLOPT: Next = Next::new(c"mallopt");
static STATS: Next = Next::new(c"malloc_stats");
static INFO: Next = Next::new(c"malloc_info");

/// Resolve every symbol now (from the constructor, outside any allocation).
pub fn resolve_all() {
    for n in [&USABLE, &MALLINFO2, &TRIM, &MALLOPT, &STATS, &INFO] {
        n.get();
    }
}

/// glibc's malloc_usable_size of one of its own blocks.
///
/// # Safety
/// `p` must be a live block from glibc's allocator.
pub unsafe fn usable_size(p: *mut c_void) -> usize {
    let f = USABLE.get();
    if f == 0 {
        return 0;
    }
    // SAFETY: f is glibc's malloc_usable_size, whose signature this is.
    let f: unsafe extern "C" fn(*mut c_void) -> usize = unsafe { core::mem::transmute(f) };
    // SAFETY: the caller passes one of glibc's blocks.
    unsafe { f(p) }
}

/// glibc's mallinfo2 (all zero if unavailable).
pub fn mallinfo2() -> libc::mallinfo2 {
    let f = MALLINFO2.get();
    if f == 0 {
        // SAFETY: mallinfo2 is plain integers; all-zero is valid.
        return unsafe { core::mem::zeroed() };
    }
    // SAFETY: f is glibc's mallinfo2.
    let f: unsafe extern "C" fn() -> libc::mallinfo2 = unsafe { core::mem::transmute(f) };
    // SAFETY: mallinfo2 takes no arguments.
    unsafe { f() }
}

pub fn malloc_trim(pad: usize) -> i32 {
    let f = TRIM.get();
    if f == 0 {
        return 0;
    }
    // SAFETY: f is glibc's malloc_trim.
    let f: unsafe extern "C" fn(usize) -> i32 = unsafe { core::mem::transmute(f) };
    // SAFETY: any pad value is accepted.
    unsafe { f(pad) }
}

pub fn mallopt(param: i32, value: i32) -> i32 {
    let f = MALLOPT.get();
    if f == 0 {
        return 0;
    }
    // SAFETY: f is glibc's mallopt.
    let f: unsafe extern "C" fn(i32, i32) -> i32 = unsafe { core::mem::transmute(f) };
    // SAFETY: glibc validates the parameters.
    unsafe { f(param, value) }
}

pub fn malloc_stats() {
    let f = STATS.get();
    if f != 0 {
        // SAFETY: f is glibc's malloc_stats.
        let f: unsafe extern "C" fn() = unsafe { core::mem::transmute(f) };
        // SAFETY: no arguments.
        unsafe { f() }
    }
}

/// glibc's malloc_info.
///
/// # Safety
/// `fp` must be a valid, writable `FILE *`.
pub unsafe fn malloc_info(options: i32, fp: *mut libc::FILE) -> i32 {
    let f = INFO.get();
    if f == 0 {
        return -1;
    }
    // SAFETY: f is glibc's malloc_info.
    let f: unsafe extern "C" fn(i32, *mut libc::FILE) -> i32 = unsafe { core::mem::transmute(f) };
    // SAFETY: forwarded from the caller's contract.
    unsafe { f(options, fp) }
}
