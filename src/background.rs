//! The optional background thread that returns cached empty slabs once they
//! outlive ZSLAB_DECAY_MS, so a program that went idle drifts down to its
//! live size without calling into the allocator. It is started lazily, from
//! a heap's housekeeping, only once the hot caches hold enough memory to be
//! worth it (short-lived programs never get one), and only in programs that
//! already run several threads: a single-threaded program stays
//! single-threaded (glibc relaxes locking and makes fork async-signal-safe
//! for those), and decays its caches from its own allocation slow paths. It
//! never allocates, blocks every signal, and is started again in a fork
//! child when needed.

use crate::pool;
use core::sync::atomic::{AtomicBool, Ordering::*};

/// Cached bytes that justify starting the thread.
const START_THRESHOLD: usize = 256 << 10;

static STARTED: AtomicBool = AtomicBool::new(false);

/// Start the thread if it is enabled, not running, and there is something
/// for it to do. Called outside every allocator lock.
pub fn maybe_start() {
    if STARTED.load(Relaxed) || pool::cached_bytes() < START_THRESHOLD {
        return;
    }
    let c = crate::global::config();
    if !c.background || c.decay_ms.0 == 0 || crate::global::single_threaded() {
        return;
    }
    // The swap makes this the only starter. No lock is held across
    // pthread_create: it allocates (through zslab, possibly taking a class
    // lock), and a fork's prepare handler takes those locks.
    if STARTED.swap(true, AcqRel) {
        return;
    }
    let mut t: libc::pthread_t = 0;
    // SAFETY: t is a valid out-pointer and `run` has the signature pthread
    // expects. pthread_create allocates through zslab's malloc, which is
    // re-entrant here: the caller holds no lock and no half-updated state.
    let r = unsafe { libc::pthread_create(&mut t, core::ptr::null(), run, core::ptr::null_mut()) };
    if r == 0 {
        // SAFETY: t is the thread just created.
        unsafe { libc::pthread_detach(t) };
    }
    // On failure STARTED stays set: no retry storm from every housekeeping.
}

extern "C" fn run(_: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: a zeroed sigset is valid input to sigfillset; the mask calls
    // only affect this thread.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, core::ptr::null_mut());
        libc::prctl(libc::PR_SET_NAME, c"zslab-decay".as_ptr());
    }
    let delay = pool::decay_ms().max(10);
    let nap = (delay / 2).clamp(10, 1000);
    loop {
        let ts = libc::timespec {
            tv_sec: (nap / 1000) as libc::time_t,
            tv_nsec: ((nap % 1000) * 1_000_000) as libc::c_long,
        };
        // SAFETY: ts is valid; a null remainder is allowed.
        unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
        pool::decay_tick();
    }
}

/// In a fork child: the thread did not survive the fork.
pub fn after_fork_child() {
    STARTED.store(false, Relaxed);
}

/// Whether the thread has been started in this process.
pub fn started() -> bool {
    STARTED.load(Relaxed)
}
