//! Process lifecycle: lazy initialisation (the first malloc comes before any
//! constructor), the library constructor (logging, fork handlers, exit
//! report), thread-exit registration and the fork handlers.

use crate::config::{self, Config, LogLevel, OnError};
use crate::sync::InitCell;
use crate::{epoch, heap, os, pool, region};
use core::ffi::c_char;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU32, Ordering::*};

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;
const DISABLED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static INIT_TID: AtomicI64 = AtomicI64::new(0);
static CONFIG: InitCell<Config> = InitCell::new();
static DEFAULTS: Config = Config::defaults();
static KEY: AtomicU32 = AtomicU32::new(0);
static KEY_OK: AtomicBool = AtomicBool::new(false);

/// Make sure zslab is initialised. Returns whether it serves allocations
/// (false when disabled, when the region could not be reserved, or when
/// called re-entrantly from inside initialisation, which then uses glibc).
#[inline]
pub fn ensure() -> bool {
    match STATE.load(Acquire) {
        READY => true,
        DISABLED => false,
        _ => init_slow(),
    }
}

#[cold]
fn init_slow() -> bool {
    loop {
        match STATE.compare_exchange(UNINIT, BUSY, AcqRel, Acquire) {
            Ok(_) => {
                INIT_TID.store(os::gettid(), Relaxed);
                let ok = init();
                STATE.store(if ok { READY } else { DISABLED }, Release);
                return ok;
            }
            Err(READY) => return true,
            Err(DISABLED) => return false,
            Err(_) => {
                if INIT_TID.load(Relaxed) == os::gettid() {
                    return false;
                }
                os::yield_now();
            }
        }
    }
}

/// The work of initialisation. Allocates nothing.
fn init() -> bool {
    let c = config::from_env();
    CONFIG.set(c);
    crate::diag::set_warn_only(c.on_error == OnError::Warn);
    crate::alloc::set_max_small(c.max_small.0 as usize);
    if c.disable {
        return false;
    }
    if region::init(c.region.0 as usize, c.thp) == 0 {
        crate::eprint_raw!(
            "zslab: warning: could not reserve address space for slabs; forwarding to glibc\n"
        );
        return false;
    }
    epoch::init();
    epoch::set_auto(c.epoch_ms.0, c.epoch_allocs.0);
    pool::configure(c.cache_slabs.0 as usize, c.decay_ms.0, c.reclaim);
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: key is a valid out-pointer; the destructor is an extern "C"
    // function with the signature pthread expects.
    if unsafe { libc::pthread_key_create(&mut key, Some(heap::thread_exit)) } == 0 {
        KEY.store(key, Relaxed);
        KEY_OK.store(true, Release);
    }
    true
}

/// The resolved configuration (defaults before initialisation).
pub fn config() -> &'static Config {
    CONFIG.get().unwrap_or(&DEFAULTS)
}

/// Whether zslab is initialised and serving allocations.
pub fn enabled() -> bool {
    STATE.load(Acquire) == READY
}

/// Arrange for the heap at `h` to be handed back when the thread exits.
pub fn register_thread_exit(h: usize) {
    if KEY_OK.load(Acquire) {
        // SAFETY: the key was created by us; for the low key numbers a
        // process gets first this stores into the thread descriptor without
        // allocating (and if it did allocate, the TLS slot is already set,
        // so the nested malloc finds the heap).
        unsafe { libc::pthread_setspecific(KEY.load(Relaxed), h as *const libc::c_void) };
    }
}

#[ctor::ctor(unsafe)]
fn on_load() {
    ensure();
    crate::glibc::resolve_all();
    let c = config();
    crate::log::init(c.log);
    crate::stats::keep_stderr();
    if c.verbose {
        crate::eprint_raw!(
            "zslab: {} (region {} MiB at start-up)\n",
            if enabled() {
                "active"
            } else {
                "disabled: forwarding to glibc"
            },
            region::reserved() >> 20
        );
        c.print(2);
    }
    if enabled() {
        // SAFETY: the handlers are extern "C" functions that never unwind.
        unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
    }
    // SAFETY: on_exit is an extern "C" function that never unwinds.
    unsafe { libc::atexit(on_exit) };
    if c.log >= LogLevel::Info {
        tracing::info!(
            enabled = enabled(),
            region_mib = region::reserved() >> 20,
            "zslab loaded"
        );
    }
}

extern "C" fn on_exit() {
    crate::stats::exit_report();
}

// ---- fork ----
// prepare takes every allocator lock (in the documented order) so the child
// inherits consistent shared structures; the parent releases them; the child
// releases them and resets the per-slab locks that threads which no longer
// exist may have held.

fn for_each_lock(f: &mut dyn FnMut(&crate::sync::RawLock)) {
    f(epoch::advance_lock());
    for i in 0..epoch::EPOCHS {
        f(epoch::slot(i).label.raw());
    }
    f(heap::free_list_lock());
    for c in 0..crate::sizeclass::NCLASS {
        f(pool::class_lock(c));
    }
    f(region::pool_lock());
}

unsafe extern "C" {
    /// glibc's "no thread was ever created" flag (glibc 2.32+).
    static __libc_single_threaded: c_char;
}

/// Whether prepare took the locks (it does not in a single-threaded
/// process, where fork may run from a signal handler that interrupted
/// malloc: as in glibc, that fork must not wait for the interrupted call).
static FORK_LOCKED: AtomicBool = AtomicBool::new(false);

/// Whether the process has never created a thread.
pub fn single_threaded() -> bool {
    // SAFETY: a byte glibc maintains; reading it races only with the first
    // pthread_create, which cannot run concurrently with a fork of a
    // process that is still single-threaded.
    unsafe { core::ptr::read_volatile(&raw const __libc_single_threaded) != 0 }
}

extern "C" fn fork_prepare() {
    if single_threaded() {
        FORK_LOCKED.store(false, Relaxed);
        return;
    }
    for_each_lock(&mut |l| l.lock());
    FORK_LOCKED.store(true, Relaxed);
}

extern "C" fn fork_parent() {
    if FORK_LOCKED.load(Relaxed) {
        for_each_lock(&mut |l| l.unlock());
    }
}

extern "C" fn fork_child() {
    if !FORK_LOCKED.load(Relaxed) {
        return;
    }
    for_each_lock(&mut |l| l.unlock());
    for i in 0..region::frontier() {
        region::meta(i).lock.unlock();
    }
    crate::background::after_fork_child();
    heap::repair_after_fork();
    // The other threads' heaps are left as they are: a thread may have been
    // halfway through updating its own lists when the fork happened, so
    // walking them is not safe. Their slabs stay allocated in the child
    // (blocks the child frees from them are not reused); everything the
    // child itself allocates works normally.
}
