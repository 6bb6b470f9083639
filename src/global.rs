//! Process lifecycle around the allocator: the library constructor
//! (logging, fork handlers, exit report, symbol lookups), the fork handlers,
//! and the exit report. Lazy initialisation lives in `init` (the first
//! malloc comes before any constructor).

use crate::config::LogLevel;
use crate::init::{config, enabled, ensure};
use crate::{background, epoch, heap, huge, pool, region};
use core::ffi::c_char;
use core::sync::atomic::{AtomicBool, Ordering::*};

// Not under the model checker (`--features model`): its atomics exist only
// inside a model's executions, and the models never load the allocator.
#[cfg_attr(not(feature = "model"), ctor::ctor(unsafe))]
#[cfg_attr(feature = "model", allow(dead_code))]
fn on_load() {
    ensure();
    crate::glibc::resolve_all();
    let c = config();
    crate::log::init(c.log);
    crate::report::keep_stderr();
    if c.verbose {
        crate::eprint_raw!(
            "zslab {}: {} (region {} MiB at start-up)\n",
            env!("CARGO_PKG_VERSION"),
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
        background::set_hook(crate::report::tick);
        // A constructor is a safe place to start the background thread: in
        // a library loaded into a program that already runs threads, and
        // when the statistics must be written while the program runs.
        if crate::report::install_signals() || !single_threaded() {
            background::maybe_start();
        }
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
    crate::report::exit_report();
}

// ---- fork ----
// prepare takes every allocator lock (in the documented order) so the child
// inherits consistent shared structures; the parent releases them; the child
// releases them and resets the per-span locks that threads which no longer
// exist may have held.

pub(crate) fn for_each_lock(f: &mut dyn FnMut(&crate::sync::RawLock)) {
    f(epoch::advance_lock());
    for i in 0..epoch::EPOCHS {
        f(epoch::slot(i).label.raw());
    }
    f(heap::free_list_lock());
    pool::for_each_lock(f);
    f(huge::cache_lock());
    f(region::runs_lock());
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
    // Span locks other threads held at the fork: read each (reading shares
    // the parent's pages) and write only those that are set, so a child of
    // a process with a large heap does not copy the whole metadata array.
    for i in 0..region::frontier() {
        if let Some(m) = region::meta(i) {
            if m.lock.is_locked() {
                m.lock.unlock();
            }
        }
    }
    background::after_fork_child();
    heap::repair_after_fork();
    // The other threads' heaps are left as they are: a thread may have been
    // halfway through updating its own lists when the fork happened, so
    // walking them is not safe. Their spans stay allocated in the child
    // (blocks the child frees from them are not reused); everything the
    // child itself allocates works normally.
}
