//! Lazy initialisation (the first malloc comes before any constructor):
//! read the configuration straight from `environ`, reserve the region,
//! configure every layer and create the thread-exit key. Allocates nothing.
//! Also the thread-exit hook, which hands the heap back and is one of the
//! places the background thread may start (no caller there can be inside
//! libc).

use crate::config::{self, Config, OnError};
use crate::glibc::Aside;
use crate::os::{self, Fault};
use crate::sync::InitCell;
use crate::{background, epoch, heap, huge, pages, pool, region};
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
    os::inject_failure(Fault::Mmap, c.fail_mmap.0);
    os::inject_failure(Fault::Madvise, c.fail_madvise.0);
    os::inject_failure(Fault::Thread, c.fail_thread as u64);
    if c.disable {
        return false;
    }
    // (The unit tests drive zslab directly, with glibc as the program's
    // malloc: nothing to step aside for.)
    let aside = if cfg!(test) {
        None
    } else {
        crate::glibc::step_aside(config::getenv(b"LD_PRELOAD"))
    };
    if let Some(why) = aside {
        if c.log != config::LogLevel::Off {
            os::Msg::new()
                .s(match why {
                    Aside::Valgrind => "zslab: running under valgrind: stepping aside, valgrind's allocator serves the program\n",
                    Aside::Sanitizer => "zslab: a sanitizer runtime is loaded: stepping aside, its allocator serves the program\n",
                    Aside::Allocator => "zslab: another allocator's malloc comes first: stepping aside, it serves the program\n",
                    Aside::NotPreloaded => "zslab: loaded after glibc's malloc was bound (not preloaded): stepping aside, glibc serves the program\n",
                })
                .emit();
        }
        return false;
    }
    // From here on glibc's malloc is the fallback (torn-down threads, a
    // full region, zslab disabled below): have glibc initialise it now,
    // single-threaded, not lazily in several exiting threads at once.
    if !cfg!(test) {
        crate::glibc::init_underneath();
    }
    // Page return, the metadata's own return and the resident bits all
    // count in 4 KiB pages: under a kernel with larger pages (16 or 64 KiB
    // on some aarch64 systems) an madvise of one such page would take
    // live objects next to it. Step aside rather than corrupt.
    let page = os::kernel_page_size();
    if page != os::PAGE {
        os::Msg::new()
            .s("zslab: warning: the kernel's pages are ")
            .dec(page as u64)
            .s(" bytes, zslab is built for 4096: forwarding to glibc\n")
            .emit();
        return false;
    }
    crate::sizeclass::set_sharing(c.shared_chunks, c.share_after.0 as usize);
    if region::init(c.region.0 as usize, c.thp) == 0 {
        os::Msg::new()
            .s("zslab: warning: could not reserve address space; forwarding to glibc\n")
            .emit();
        return false;
    }
    epoch::init();
    epoch::set_auto(c.epoch_ms.0, c.epoch_allocs.0);
    pages::configure(c.reclaim);
    pool::configure(c.cache_slabs.0 as usize, c.decay_ms.0);
    pool::set_purge_delay(c.purge_ms.0);
    huge::configure(c.huge_cache.0 as usize, c.decay_ms.0);
    background::allow(c.background);
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: key is a valid out-pointer; the destructor is an extern "C"
    // function with the signature pthread expects.
    if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } == 0 {
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

/// The pthread key destructor: the thread is exiting. A safe place to start
/// the background thread: the program is multi-threaded, and glibc runs key
/// destructors holding none of its locks.
extern "C" fn thread_exit(arg: *mut libc::c_void) {
    heap::thread_exit(arg as usize);
    background::thread_exiting();
}

/// The calling thread's heap, creating it on first use. `None` when zslab
/// is not (or no longer) serving this thread: before initialisation could
/// finish, after the thread's teardown, or when disabled.
#[inline(always)]
pub fn thread_heap() -> Option<&'static heap::Heap> {
    match heap::current() {
        Some(h) => Some(h),
        None => attach(),
    }
}

#[cold]
#[inline(never)]
fn attach() -> Option<&'static heap::Heap> {
    if crate::tls::get() == crate::tls::TORN_DOWN || !ensure() {
        return None;
    }
    heap::attach(register_thread_exit)
}
