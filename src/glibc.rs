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
//! order is the right one there (another wrapper, or libc); and glibc's
//! count of running threads, which zslab reads instead of /proc (a file
//! opened for a moment would take a descriptor number the program expects).
//!
//! When zslab must step aside ([`step_aside`]: under valgrind, next to a
//! sanitizer runtime, or when another allocator's malloc comes first), the
//! allocator underneath is the one the program really uses, and every
//! request goes to it.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

unsafe extern "C" {
    fn __sigaction(
        sig: libc::c_int,
        act: *const libc::sigaction,
        oact: *mut libc::sigaction,
    ) -> libc::c_int;
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_free(p: *mut c_void);
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
}

type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type MemalignFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;

/// Whether requests go to another allocator (set once, during zslab's
/// initialisation, before zslab has handed out anything).
static FOREIGN: AtomicBool = AtomicBool::new(false);
/// Whether zslab stepped aside (for any reason).
static ASIDE: AtomicBool = AtomicBool::new(false);
/// That allocator's malloc, free, realloc, memalign (or aligned_alloc, see
/// `F_ALIGNED_ALLOC`) and malloc_usable_size; 0 where it has none.
static F_MALLOC: AtomicUsize = AtomicUsize::new(0);
static F_FREE: AtomicUsize = AtomicUsize::new(0);
static F_REALLOC: AtomicUsize = AtomicUsize::new(0);
static F_MEMALIGN: AtomicUsize = AtomicUsize::new(0);
static F_ALIGNED_ALLOC: AtomicBool = AtomicBool::new(false);
static F_USABLE: AtomicUsize = AtomicUsize::new(0);

/// The other allocator's function in `slot`, if zslab stepped aside.
#[inline]
fn foreign(slot: &AtomicUsize) -> Option<usize> {
    if FOREIGN.load(Acquire) {
        Some(slot.load(Relaxed))
    } else {
        None
    }
}

pub fn malloc(size: usize) -> *mut c_void {
    if let Some(f) = foreign(&F_MALLOC) {
        // SAFETY: f is the other allocator's malloc (always found: it is
        // how that allocator was recognised).
        let f: MallocFn = unsafe { core::mem::transmute(f) };
        // SAFETY: malloc accepts any size.
        return unsafe { f(size) };
    }
    // SAFETY: glibc's malloc accepts any size.
    unsafe { __libc_malloc(size) }
}

/// Make glibc initialise its malloc now, from the thread initialising zslab
/// (at start-up: the first malloc, or zslab's constructor), allocating
/// nothing: an impossible request fails with ENOMEM after glibc's lazy
/// initialisation (`ptmalloc_init`) has run.
///
/// Without this, zslab serves every request and glibc's malloc is first
/// used by whichever threads fall back to it, typically several threads at
/// once in destructors that run after zslab's thread-exit hook. glibc's
/// lazy initialisation is not thread-safe: it makes `main_arena` (whose
/// `attached_threads` starts at 1, for the initialising thread) the arena
/// of every thread that runs it, so two threads running it together share
/// main_arena at a count of 1; the second of them to exit aborts in
/// `__malloc_arena_thread_freeres` (assertion `a->attached_threads > 0`).
/// Under plain glibc, start-up code initialises it in the main thread.
///
/// glibc (2.26 on, built with its per-thread cache, as every distribution
/// ships it) runs `ptmalloc_init` first in `__libc_malloc`, before it
/// rejects the size, and that takes no lock and allocates nothing. zslab's
/// initialisation runs at start-up, single-threaded, where a failed request
/// could not create an arena even on a build without the cache.
pub fn init_underneath() {
    let saved = crate::os::errno();
    // SAFETY: glibc's malloc accepts any size; this one fails (above
    // PTRDIFF_MAX) and returns null, allocating nothing.
    let p = unsafe { __libc_malloc(usize::MAX) };
    if !p.is_null() {
        // SAFETY: a block glibc just returned (it never does for this size).
        unsafe { __libc_free(p) };
    }
    crate::os::set_errno(saved);
}

/// # Safety
/// `p` must be null or a live block from the allocator underneath.
pub unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if let Some(f) = foreign(&F_REALLOC) {
        if f == 0 {
            return core::ptr::null_mut();
        }
        // SAFETY: f is the other allocator's realloc.
        let f: ReallocFn = unsafe { core::mem::transmute(f) };
        // SAFETY: forwarded from the caller's contract.
        return unsafe { f(p, size) };
    }
    // SAFETY: forwarded from the caller's contract.
    unsafe { __libc_realloc(p, size) }
}

/// # Safety
/// `p` must be null or a block from the allocator underneath (which
/// diagnoses anything else itself, as it would without zslab).
pub unsafe fn free(p: *mut c_void) {
    if let Some(f) = foreign(&F_FREE) {
        if f != 0 {
            // SAFETY: f is the other allocator's free.
            let f: FreeFn = unsafe { core::mem::transmute(f) };
            // SAFETY: forwarded from the caller's contract.
            unsafe { f(p) };
        }
        return;
    }
    // SAFETY: forwarded from the caller's contract.
    unsafe { __libc_free(p) }
}

pub fn memalign(align: usize, size: usize) -> *mut c_void {
    if let Some(f) = foreign(&F_MEMALIGN) {
        if f == 0 {
            return core::ptr::null_mut();
        }
        // SAFETY: f is the other allocator's memalign or aligned_alloc,
        // both (align, size).
        let f: MemalignFn = unsafe { core::mem::transmute(f) };
        // aligned_alloc wants a multiple of the alignment.
        let size = if F_ALIGNED_ALLOC.load(Relaxed) {
            match size.checked_next_multiple_of(align.max(1)) {
                Some(s) => s,
                None => return core::ptr::null_mut(),
            }
        } else {
            size
        };
        // SAFETY: the allocator validates both arguments.
        return unsafe { f(align, size) };
    }
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
        // Once zslab has stepped aside, the next definitions: the ones the
        // program would reach without zslab (a sanitizer's, or libc's), and
        // no dlopen, whose allocations a leak checker would charge to zslab.
        let handle = if self.next || ASIDE.load(Acquire) {
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
static SIGACTION: Sym = Sym::next(c"sigaction");
/// glibc's count of running threads (an `unsigned int`, GLIBC_PRIVATE,
/// exported for libthread_db): incremented by pthread_create, decremented
/// when a thread ends (after its destructors) and when main leaves with
/// pthread_exit; at 0 glibc ends the process.
static NTHREADS: Sym = Sym::libc(c"__nptl_nthreads");

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
        &SIGACTION,
        &NTHREADS,
    ] {
        s.get();
    }
}

/// glibc's malloc_usable_size of one of its own blocks.
///
/// # Safety
/// `p` must be a live block from glibc's allocator.
pub unsafe fn usable_size(p: *mut c_void) -> usize {
    let f = foreign(&F_USABLE).unwrap_or_else(|| USABLE.get());
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

/// The threads glibc counts as running (the calling one included, while
/// its destructors run), or `None` where libc does not export its count.
/// Reads memory only: no system call, no descriptor.
pub fn running_threads() -> Option<u32> {
    let a = NTHREADS.get();
    if a == 0 {
        return None;
    }
    // SAFETY: a is the address of glibc's `__nptl_nthreads`, an aligned
    // `unsigned int` that lives as long as libc and that glibc updates
    // with atomic instructions.
    let n = unsafe { (*(a as *const core::sync::atomic::AtomicU32)).load(Relaxed) };
    Some(n)
}

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

// ---- stepping aside ----

/// Why zslab does not serve the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aside {
    /// A valgrind tool that replaces glibc's malloc (memcheck and the
    /// like) is loaded: it checks every block, which it cannot do for
    /// zslab's.
    Valgrind,
    /// A sanitizer runtime is loaded: it intercepts the malloc family and
    /// must see every block (zslab forwards to its entry points).
    Sanitizer,
    /// Another allocator's malloc comes first in the program's lookup
    /// order: that allocator serves the program, so it must serve what
    /// reaches zslab too.
    Allocator,
    /// glibc's malloc comes first (zslab was loaded with dlopen, not
    /// preloaded): glibc serves the program and would be handed zslab's
    /// blocks.
    NotPreloaded,
}

/// The object (its load address) that defines the code at `addr`, and
/// its file name (empty when unknown).
fn object_of(addr: usize) -> (usize, &'static [u8]) {
    // SAFETY: Dl_info is plain data; all-zero is a valid value.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: dladdr reads the loader's tables and fills `info`; it does
    // not allocate.
    if unsafe { libc::dladdr(addr as *const c_void, &mut info) } == 0 {
        return (0, b"");
    }
    let name = if info.dli_fname.is_null() {
        &b""[..]
    } else {
        // SAFETY: dli_fname is the loader's NUL-terminated file name,
        // alive as long as the object stays loaded.
        unsafe { core::ffi::CStr::from_ptr(info.dli_fname) }.to_bytes()
    };
    (info.dli_fbase as usize, name)
}

/// This library's own load address.
fn own_object() -> usize {
    object_of(own_object as fn() -> usize as usize).0
}

/// `name` looked up with `handle`, unless the definition found is zslab's
/// own (the other allocator has none).
fn lookup(handle: *mut c_void, name: &core::ffi::CStr, own: usize) -> usize {
    // SAFETY: dlsym with a pseudo-handle and a NUL-terminated name.
    let a = unsafe { libc::dlsym(handle, name.as_ptr()) } as usize;
    if a == 0 || object_of(a).0 == own {
        0
    } else {
        a
    }
}

/// Route every request to the allocator found with `handle`.
fn forward_to(handle: *mut c_void, own: usize) {
    F_MALLOC.store(lookup(handle, c"malloc", own), Relaxed);
    F_FREE.store(lookup(handle, c"free", own), Relaxed);
    F_REALLOC.store(lookup(handle, c"realloc", own), Relaxed);
    let mut m = lookup(handle, c"memalign", own);
    if m == 0 {
        m = lookup(handle, c"aligned_alloc", own);
        F_ALIGNED_ALLOC.store(m != 0, Relaxed);
    }
    F_MEMALIGN.store(m, Relaxed);
    F_USABLE.store(lookup(handle, c"malloc_usable_size", own), Relaxed);
    FOREIGN.store(F_MALLOC.load(Relaxed) != 0, Release);
}

/// Whether a sanitizer runtime is among the loaded objects.
fn sanitizer_loaded() -> bool {
    extern "C" fn visit(info: *mut libc::dl_phdr_info, _: usize, _: *mut c_void) -> libc::c_int {
        // SAFETY: the loader passes a valid dl_phdr_info for the call.
        let name = unsafe { (*info).dlpi_name };
        if name.is_null() {
            return 0;
        }
        // SAFETY: dlpi_name is a NUL-terminated string owned by the loader.
        let name = unsafe { core::ffi::CStr::from_ptr(name) }.to_bytes();
        let base = name.rsplit(|&c| c == b'/').next().unwrap_or(name);
        const RUNTIMES: [&[u8]; 6] = [
            b"libasan.so",
            b"libtsan.so",
            b"libmsan.so",
            b"libhwasan.so",
            b"liblsan.so",
            b"libclang_rt.",
        ];
        RUNTIMES.iter().any(|r| base.starts_with(r)) as libc::c_int
    }
    // SAFETY: dl_iterate_phdr calls `visit` for each loaded object, under
    // the loader's lock, without allocating.
    unsafe { libc::dl_iterate_phdr(Some(visit), core::ptr::null_mut()) != 0 }
}

/// Whether `LD_PRELOAD` holds the preload of a valgrind tool that replaces
/// malloc (memcheck, helgrind, drd, massif, dhat: `vgpreload_<tool>-…`).
/// Tools that only watch (cachegrind, callgrind) load `vgpreload_core`
/// alone, and zslab keeps serving, so it can be profiled with them.
fn replacing_valgrind_tool(preload: &[u8]) -> bool {
    preload
        .split(|&c| c == b':' || c == b' ')
        .map(|e| e.rsplit(|&c| c == b'/').next().unwrap_or(e))
        .any(|name| name.starts_with(b"vgpreload_") && !name.starts_with(b"vgpreload_core"))
}

/// Decide whether zslab must step aside, and if so make every function in
/// this module go to the allocator the program really uses. `preload` is
/// the value of LD_PRELOAD. Called once, at the start of initialisation,
/// before zslab has handed out any block.
pub fn step_aside(preload: Option<&[u8]>) -> Option<Aside> {
    let why = detect(preload);
    ASIDE.store(why.is_some(), Release);
    why
}

fn detect(preload: Option<&[u8]>) -> Option<Aside> {
    if preload.is_some_and(replacing_valgrind_tool) {
        // valgrind replaces glibc's malloc: forwarding to glibc reaches it.
        return Some(Aside::Valgrind);
    }
    let own = own_object();
    if own == 0 {
        return None;
    }
    // The first object in lookup order that defines malloc serves the
    // program (see `elf`: dlsym would return an executable's canonical PLT
    // stub, which only jumps on to that definition).
    if let Some((winner, file)) = crate::elf::first_definer(c"malloc")
        && winner != own
    {
        // By name: another allocator may define __libc_malloc too.
        let base = file.rsplit(|&c| c == b'/').next().unwrap_or(file);
        if base.starts_with(b"libc.so") {
            return Some(Aside::NotPreloaded);
        }
        // Its entry points, through RTLD_DEFAULT (a canonical PLT stub
        // among them jumps to the winner too).
        forward_to(libc::RTLD_DEFAULT, own);
        return Some(Aside::Allocator);
    }
    if sanitizer_loaded() {
        // zslab comes first, so the sanitizer's entry points are the next
        // definitions.
        forward_to(libc::RTLD_NEXT, own);
        return Some(Aside::Sanitizer);
    }
    None
}

/// The sigaction zslab wraps: the next definition in lookup order (another
/// wrapper, or libc's), glibc's own before the constructor resolved it.
///
/// # Safety
/// As sigaction: `act` null or valid, `oact` null or writable.
pub unsafe fn sigaction(
    sig: libc::c_int,
    act: *const libc::sigaction,
    oact: *mut libc::sigaction,
) -> libc::c_int {
    // Not Sym::get: this may run in a signal handler, where dlsym may not.
    let f = SIGACTION.addr.load(Acquire);
    if f == 0 {
        // SAFETY: forwarded from the caller's contract.
        return unsafe { __sigaction(sig, act, oact) };
    }
    // SAFETY: f is sigaction, whose signature this is.
    let f: unsafe extern "C" fn(
        libc::c_int,
        *const libc::sigaction,
        *mut libc::sigaction,
    ) -> libc::c_int = unsafe { core::mem::transmute(f) };
    // SAFETY: forwarded from the caller's contract.
    unsafe { f(sig, act, oact) }
}

#[cfg(test)]
mod tests {
    use super::replacing_valgrind_tool;

    #[test]
    fn only_valgrind_tools_that_replace_malloc_count() {
        let lib = "/usr/libexec/valgrind";
        let memcheck =
            format!("{lib}/vgpreload_core-amd64-linux.so:{lib}/vgpreload_memcheck-amd64-linux.so");
        assert!(replacing_valgrind_tool(memcheck.as_bytes()));
        let massif = format!("{lib}/vgpreload_massif-amd64-linux.so /x/libzslab.so");
        assert!(replacing_valgrind_tool(massif.as_bytes()));
        let callgrind = format!("{lib}/vgpreload_core-amd64-linux.so:/x/libzslab.so");
        assert!(!replacing_valgrind_tool(callgrind.as_bytes()));
        assert!(!replacing_valgrind_tool(b"/x/libzslab.so"));
        assert!(!replacing_valgrind_tool(b""));
    }
}
