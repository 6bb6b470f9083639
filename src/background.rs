//! The background thread: gives back what waits for time to pass while
//! the program does not call the allocator (decayed hot caches and huge
//! blocks, delayed purges of thinned-out spans, idle threads' remote frees),
//! so an idle program drifts down to its live size.
//!
//! It is started only where no caller can be inside libc: when the program
//! creates a thread (`pthread_create`, which zslab wraps), when a thread
//! exits (its key destructor), and from the C API or `malloc_trim`; never
//! from inside malloc or free, which may run while libc holds its own locks.
//! A single-threaded program therefore stays single-threaded (glibc relaxes
//! stdio locking for those, and `unshare(CLONE_NEWUSER)` requires it) and
//! returns memory from its own allocation paths instead. The thread never
//! allocates, blocks every signal, sleeps on a futex while nothing is due,
//! and is started again in a fork child when needed. It never keeps a
//! process alive: it is not started by the last thread of a process, and it
//! ends when it finds itself alone (the program's last thread left with
//! `pthread_exit`, which ends a process only once no thread is left).

use crate::{glibc, heap, huge, os, pool};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering::*};

/// Work a higher layer adds to each pass (statistics dumps): called with the
/// time and the next time it asked for, returns the next time it wants.
pub type Hook = fn(u64, Option<u64>) -> Option<u64>;
static HOOK: AtomicUsize = AtomicUsize::new(0);

/// Set the pass hook (once, from the constructor, before the thread starts).
pub fn set_hook(f: Hook) {
    HOOK.store(f as usize, Release);
}

static STARTED: AtomicBool = AtomicBool::new(false);
/// Whether zslab serves allocations and ZSLAB_BACKGROUND allows the thread
/// (set once by initialisation).
static ALLOWED: AtomicBool = AtomicBool::new(false);

/// Allow the thread (zslab is up and ZSLAB_BACKGROUND is on).
pub fn allow(on: bool) {
    ALLOWED.store(on, Release);
}
/// The process in which the thread was created and runs (0: none). A pid,
/// not a flag: a fork child inherits the parent's value, and a signal can
/// reach the child before its fork handler clears it (see [`started`]).
static RUNNING: AtomicI32 = AtomicI32::new(0);
/// Sleep between passes while something is pending.
const TICK_MS: u64 = 25;
/// Sleep while nothing is (work queued meanwhile rings `pool::BELL`).
const IDLE_MS: u64 = 1000;

/// A thread of the program is exiting: the thread checks whether it is
/// left alone, several times in the next moments (the exiting thread is
/// still counted while its destructors run).
static EXITS: AtomicU32 = AtomicU32::new(0);
/// Checks of the thread count after an exit, and the pause between them.
const EXIT_CHECKS: u32 = 20;
const EXIT_CHECK_MS: u64 = 5;

/// A thread of the program is exiting (from its key destructor): start the
/// thread unless the exiting one is the last (the process is ending), and
/// have a running one look whether it is alone.
pub fn thread_exiting() {
    if started() {
        EXITS.store(EXIT_CHECKS, Relaxed);
        pool::BELL.wake();
        return;
    }
    if threads().is_some_and(|n| n > 1) {
        maybe_start();
    }
}

/// Start the thread if it is enabled and not running. Call only where no
/// caller can hold a libc lock (see the module comment).
pub fn maybe_start() {
    if STARTED.load(Relaxed) {
        return;
    }
    if !ALLOWED.load(Acquire) {
        return;
    }
    // The swap makes this the only starter. No allocator lock is held
    // across pthread_create: it allocates through zslab.
    if STARTED.swap(true, AcqRel) {
        return;
    }
    if os::should_fail(os::Fault::Thread) {
        return;
    }
    let mut t: libc::pthread_t = 0;
    let mut attr: libc::pthread_attr_t;
    // SAFETY: attr is initialised by pthread_attr_init before use; t is a
    // valid out-pointer and `run` has the signature pthread expects.
    let r = unsafe {
        attr = core::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstacksize(&mut attr, 256 << 10);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let r = crate::glibc::pthread_create(&mut t, &attr, run, core::ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        r
    };
    // On failure STARTED stays set (no retry storm) and RUNNING does not.
    if r == 0 {
        RUNNING.store(os::pid(), Relaxed);
    }
}

extern "C" fn run(_: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: a zeroed sigset is valid input to sigfillset; the mask calls
    // only affect this thread.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, core::ptr::null_mut());
        libc::prctl(libc::PR_SET_NAME, c"zslab-bg".as_ptr());
    }
    let mut next_hook: Option<u64> = None;
    let mut last_count_check = 0;
    loop {
        let now = os::now_coarse_ms();
        // Alone: the program's threads are gone (its main thread left with
        // pthread_exit). Ending here ends the process, as the last of its
        // threads would have (exit status 0). Checked after each thread
        // exit, and every few seconds for threads that exit unseen.
        let exits = EXITS.load(Relaxed);
        if exits > 0 || now.saturating_sub(last_count_check) >= 4 * IDLE_MS {
            last_count_check = now;
            if alone() {
                RUNNING.store(0, Relaxed);
                return core::ptr::null_mut();
            }
            if exits > 0 {
                EXITS.store(exits - 1, Relaxed);
            }
        }
        let h = HOOK.load(Acquire);
        if h != 0 {
            // SAFETY: HOOK only ever holds a `Hook` set by `set_hook`.
            let f: Hook = unsafe { core::mem::transmute::<usize, Hook>(h) };
            next_hook = f(now, next_hook);
        }
        pool::purge_due(now, false);
        pool::decay_tick(now);
        huge::decay_tick(now);
        heap::help_idle(now, false);
        let pending = pool::queued_purges() > 0
            || pool::cached_spans() > 0
            || huge::cached_bytes() > 0
            || heap::help_wanted();
        let until_hook = next_hook.map_or(u64::MAX, |t| t.saturating_sub(now).max(1));
        if EXITS.load(Relaxed) > 0 {
            pool::BELL.wait(EXIT_CHECK_MS, false);
        } else if pending {
            pool::BELL.wait(TICK_MS.min(until_hook), false);
        } else {
            pool::BELL.wait(IDLE_MS.min(until_hook), true);
        }
    }
}

/// Threads of the process: glibc's count where libc exports it, else
/// /proc's. The count is read without a descriptor where possible: a
/// file opened for a moment, in this thread or an exiting one, would take
/// the number a concurrent `dup` or `open` of the program expects.
fn threads() -> Option<u64> {
    glibc::running_threads()
        .map(u64::from)
        .or_else(os::thread_count)
}

/// Whether the calling thread is the only one left (glibc counts a main
/// thread that left with pthread_exit as gone).
fn alone() -> bool {
    match glibc::running_threads() {
        Some(n) => n == 1,
        None => os::alone(),
    }
}

/// In a fork child: the thread did not survive the fork.
pub fn after_fork_child() {
    STARTED.store(false, Relaxed);
    RUNNING.store(0, Relaxed);
    EXITS.store(0, Relaxed);
}

/// Whether the thread runs in this process. Compared with the pid: between
/// a fork and the child's fork handler the child still holds the parent's
/// value, and a termination signal handled there must not be left to a
/// thread the child does not have (the process would run on; CPython's
/// forkserver workers did, until their task ended). Async-signal-safe.
pub fn started() -> bool {
    let p = RUNNING.load(Relaxed);
    p != 0 && p == os::pid()
}
