//! The one lock zslab uses: a small spin-then-yield lock that never allocates,
//! can be taken in fork's prepare handler and reset in the child, and guards
//! only cold paths (slab pools, epoch labels, the heap list). The allocation
//! fast paths take no lock at all.

use self::atomic::{AtomicBool, Ordering};
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

/// The atomics of the cross-thread protocols (slab metadata, span locks,
/// heaps, lists, pools, epochs): `core`'s own in every build that ships,
/// the `shuttle` model checker's under `--features model`, so the models
/// in `src/tests/models/` run the same code that ships (see
/// docs/design.md, "Model checking"). Layer 1 (`os`, `glibc`, `tls`) and
/// the statistics and reporting layers use `core`'s directly.
pub mod atomic {
    #[cfg(not(feature = "model"))]
    pub use core::sync::atomic::*;
    #[cfg(feature = "model")]
    pub use shuttle::sync::atomic::*;
}

/// One step of waiting for another thread (`spins`: steps so far): spin
/// briefly, then yield the CPU.
#[inline]
pub fn backoff(spins: u32) {
    if spins < SPINS {
        core::hint::spin_loop();
    } else {
        yield_now();
    }
}

/// Spins before a waiter starts yielding the CPU. Under the model checker
/// every wait yields (a spinning task would only burn schedule steps, and
/// a yield tells the scheduler to run someone else).
const SPINS: u32 = if cfg!(feature = "model") { 1 } else { 64 };

#[cfg(not(feature = "model"))]
use crate::os::yield_now;
#[cfg(feature = "model")]
use shuttle::thread::yield_now;

/// A raw spin lock: acquire with [`RawLock::lock`] or [`RawLock::try_lock`],
/// release with [`RawLock::unlock`].
pub struct RawLock {
    locked: AtomicBool,
}

impl RawLock {
    pub const fn new() -> Self {
        RawLock {
            locked: AtomicBool::new(false),
        }
    }

    /// Take the lock, spinning briefly and then yielding the CPU.
    pub fn lock(&self) {
        let mut spins = 0u32;
        loop {
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins < SPINS {
                    core::hint::spin_loop();
                } else {
                    yield_now();
                }
            }
        }
    }

    /// Take the lock if it is free. Returns whether it was taken. Always a
    /// sequentially consistent read-modify-write: a failed attempt is one
    /// side of the Dekker pattern described at [`RawLock::unlock`].
    pub fn try_lock(&self) -> bool {
        !self.locked.swap(true, Ordering::SeqCst)
    }

    /// Release the lock. Only the holder calls this (or a fork child resetting
    /// locks its parent held: the child has a single thread).
    ///
    /// Sequentially consistent (a full barrier, not a plain release store):
    /// orphan collection relies on "unlock, then re-check the pending bits"
    /// against "set a pending bit, then try the lock", which is a Dekker
    /// pattern; with a release store the re-check could be satisfied before
    /// the unlock is visible and a free could be stranded. Locks guard cold
    /// paths only, so the cost does not show.
    pub fn unlock(&self) {
        self.locked.swap(false, Ordering::SeqCst);
    }

    /// Whether the lock is held (a read: never writes the lock word).
    pub fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

impl Default for RawLock {
    fn default() -> Self {
        Self::new()
    }
}

/// A value guarded by a [`RawLock`].
pub struct SpinLock<T> {
    raw: RawLock,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` only happens through a guard, which exists only
// while `raw` is held, so at most one thread touches the value at a time.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the value; T: Send makes that sound.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub const fn new(value: T) -> Self {
        SpinLock {
            raw: RawLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> SpinGuard<'_, T> {
        self.raw.lock();
        SpinGuard { lock: self }
    }

    /// Take the lock if it is free.
    pub fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        if self.raw.try_lock() {
            Some(SpinGuard { lock: self })
        } else {
            None
        }
    }

    /// The underlying lock, for fork handlers that must hold it across the
    /// fork without a guard.
    pub fn raw(&self) -> &RawLock {
        &self.raw
    }
}

/// Proof that the lock is held; releases it on drop.
pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the lock is held.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while the lock is held, and the
        // guard itself is borrowed mutably, so this is the only reference.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.unlock();
    }
}

/// A doorbell for a sleeping thread: the sleeper announces it is idle and
/// waits on the bell's futex word; whoever has new work for it rings, which
/// costs one load when the sleeper is not idle.
pub struct Doorbell {
    word: core::sync::atomic::AtomicU32,
    idle: core::sync::atomic::AtomicBool,
}

impl Doorbell {
    pub const fn new() -> Self {
        Doorbell {
            word: core::sync::atomic::AtomicU32::new(0),
            idle: core::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Wake the sleeper if it sleeps without a time limit.
    pub fn ring(&self) {
        if self.idle.load(Ordering::Relaxed) && self.idle.swap(false, Ordering::AcqRel) {
            self.word.fetch_add(1, Ordering::Release);
            crate::os::futex_wake(&self.word);
        }
    }

    /// Wake the sleeper whatever it waits for (async-signal-safe).
    pub fn wake(&self) {
        self.word.fetch_add(1, Ordering::Release);
        crate::os::futex_wake(&self.word);
    }

    /// Sleep up to `ms` (`idle`: announce that nothing is pending, so the
    /// next ring wakes us early).
    pub fn wait(&self, ms: u64, idle: bool) {
        let w = self.word.load(Ordering::Acquire);
        if idle {
            self.idle.store(true, Ordering::SeqCst);
        }
        crate::os::futex_wait(&self.word, w, Some(ms));
        self.idle.store(false, Ordering::Relaxed);
    }
}

impl Default for Doorbell {
    fn default() -> Self {
        Self::new()
    }
}

/// A value written once during initialisation and read freely afterwards.
pub struct InitCell<T> {
    ready: core::sync::atomic::AtomicBool,
    value: UnsafeCell<core::mem::MaybeUninit<T>>,
}

// SAFETY: the value is written once before `ready` is published with Release
// and read only after observing `ready` with Acquire; it is never mutated
// afterwards, so shared access is read-only.
unsafe impl<T: Send + Sync> Sync for InitCell<T> {}

impl<T> InitCell<T> {
    pub const fn new() -> Self {
        InitCell {
            ready: core::sync::atomic::AtomicBool::new(false),
            value: UnsafeCell::new(core::mem::MaybeUninit::uninit()),
        }
    }

    /// Store the value. The caller guarantees a single writer (zslab calls
    /// this under its initialisation lock); a second call is ignored.
    pub fn set(&self, v: T) {
        if self.ready.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: single writer (see above) and no reader can look at the
        // value before `ready` is set below.
        unsafe { (*self.value.get()).write(v) };
        self.ready.store(true, Ordering::Release);
    }

    pub fn get(&self) -> Option<&T> {
        if self.ready.load(Ordering::Acquire) {
            // SAFETY: `ready` was published after the value was written and
            // the value is never written again.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }
}

impl<T> Default for InitCell<T> {
    fn default() -> Self {
        Self::new()
    }
}
