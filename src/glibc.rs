//! The system allocator underneath, for pointers zslab did not allocate and
//! for requests zslab cannot serve (its region is full or it is disabled):
//! glibc's own entry points. The `__libc_*` aliases are linked directly (no
//! lookup, so they work before anything is initialised); the functions
//! without such an alias are looked up in libc's own handle
//! (`dlopen("libc.so.6", RTLD_NOLOAD)` then `dlsym` on it), never with
//! `RTLD_NEXT`, whose "next definition" is another allocator's in a program
//! linked against one (Debian's redis-server links jemalloc). The lookups
//! may call calloc: callers never hold an allocator lock when they get here.
//!
//! Also `pthread_create`, which zslab wraps: the next definition in lookup
//! order is the right one there (another wrapper, or libc).

use core::ffi::c_void;
use core::sync::atomic::{AtomicUsize, Ordering::*};

unsafe extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_free(p: *mut c_void);
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
}

pub fn malloc(size: usize) -> *mut c_void {
    // SAFETY: glibc's malloc accepts any size.
    unsafe { __libc_malloc(size) }
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

/// libc's own handle (0: not found yet).
static LIBC: AtomicUsize = AtomicUsize::new(0);

fn libc_handle() -> usize {
    let h = LIBC.load(Acquire);
    if h != 0 {
        return h;
    }
    // SAFETY: dlopen of an already loaded library by its soname, without
    // loading anything (RTLD_NOLOAD); the result is checked.
    let h = unsafe { libc::dlopen(c"libc.so.6".as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) }
        as usize;
    LIBC.store(h, Release);
    h
}

/// A function resolved once, from libc itself or from the next object.
struct Sym {
    name: &'static core::ffi::CStr,
    next: bool,
    addr: AtomicUsize,
}

impl Sym {
    const fn libc(name: &'static core::ffi::CStr) -> Self {
        Sym {
            name,
            next: false,
            addr: AtomicUsize::new(0),
        }
    }
    const fn next(name: &'static core::ffi::CStr) -> Self {
        Sym {
            name,
            next: true,
            addr: AtomicUsize::new(0),
        }
    }
    fn get(&self) -> usize {
        let a = self.addr.load(Acquire);
        if a != 0 {
            return a;
        }
        let handle = if self.next {
            libc::RTLD_NEXT
        } else {
            libc_handle() as *mut c_void
        };
        if handle.is_null() {
            return 0;
        }
        // SAFETY: dlsym with a valid handle (or RTLD_NEXT) and a
        // NUL-terminated name.
        let a = unsafe { libc::dlsym(handle, self.name.as_ptr()) } as usize;
        self.addr.store(a, Release);
        a
    }
}

static USABLE: Sym = Sym::libc(c"malloc_usable_size");
static MALLINFO2: Sym = Sym::libc(c"mallinfo2");
static TRIM: Sym = Sym::libc(c"malloc_trim");
static MALLOPT: Sym = Sym::libc(c"mallopt");
static STATS: Sym = Sym::libc(c"malloc_stats");
static INFO: Sym = Sym::libc(c"malloc_info");
static PTHREAD_CREATE: Sym = Sym::next(c"pthread_create");

/// Resolve every symbol now (from the constructor, outside any allocation).
pub fn resolve_all() {
    for s in [
        &USABLE,
        &MALLINFO2,
        &TRIM,
        &MALLOPT,
        &STATS,
        &INFO,
        &PTHREAD_CREATE,
    ] {
        s.get();
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

/// The pthread_create zslab wraps (the next definition in lookup order).
pub type StartFn = extern "C" fn(*mut c_void) -> *mut c_void;

/// Create a thread with the wrapped pthread_create.
///
/// # Safety
/// As pthread_create: `t` writable, `attr` null or initialised.
pub unsafe fn pthread_create(
    t: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: StartFn,
    arg: *mut c_void,
) -> i32 {
    let f = PTHREAD_CREATE.get();
    if f == 0 {
        return libc::EAGAIN;
    }
    // SAFETY: f is pthread_create, whose signature this is.
    let f: unsafe extern "C" fn(
        *mut libc::pthread_t,
        *const libc::pthread_attr_t,
        StartFn,
        *mut c_void,
    ) -> i32 = unsafe { core::mem::transmute(f) };
    // SAFETY: forwarded from the caller's contract.
    unsafe { f(t, attr, start, arg) }
}
