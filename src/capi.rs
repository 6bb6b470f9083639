//! The C API for instrumented programs (declared in include/zslab.h), found
//! with `dlsym(RTLD_DEFAULT, "slab_epoch_advance")` and friends so that the
//! same program runs unchanged without zslab: epochs (advance, current,
//! close, label), explicit reclamation and statistics snapshots.

use crate::epoch::{self, EPOCHS};
use crate::os::StackBuf;
use crate::sizeclass::NCLASS;
use crate::stats::{self, SliceWriter};
use crate::{background, glibc, heap, huge, init, os, pool};
use core::ffi::{c_char, c_int, c_uint, c_void};
use core::fmt::Write;

/// zslab is up. Every C API call is also a safe place to start the
/// background thread (the caller is the program, not libc).
fn ready() -> bool {
    let ok = init::ensure();
    if ok {
        background::maybe_start();
    }
    ok
}

/// Give back everything zslab holds without a live object (malloc_trim,
/// slab_reclaim). Returns the bytes given back.
pub fn reclaim_all() -> usize {
    background::maybe_start();
    let now = os::now_coarse_ms();
    let mut n = heap::tidy_current();
    n += pool::purge_due(now, true);
    n += heap::help_idle(now, true);
    n += pool::purge_all();
    n += huge::purge_cache();
    n
}

/// zslab's version (from Cargo.toml), a NUL-terminated string.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn zslab_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Close the current epoch and open the next. Returns the new epoch (0-15).
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn slab_epoch_advance() -> c_uint {
    if !ready() {
        return 0;
    }
    let e = epoch::advance();
    tracing::debug!(epoch = e, era = epoch::era(), "epoch advanced");
    e as c_uint
}

/// The current epoch (0-15).
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn slab_epoch_current() -> c_uint {
    if !ready() {
        return 0;
    }
    epoch::current() as c_uint
}

/// The era (monotonic incarnation number) of epoch slot `epoch`, or
/// `u64::MAX` for an invalid slot.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn slab_epoch_era(epoch: c_uint) -> u64 {
    if !ready() || epoch as usize >= EPOCHS {
        return u64::MAX;
    }
    epoch::slot(epoch as usize)
        .era
        .load(core::sync::atomic::Ordering::Relaxed)
}

/// Close epoch `epoch`: no new object lands in it (closing the current
/// epoch advances first), and its cached empty slabs go back to the OS now.
/// Returns 0, or -1 for an invalid epoch.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn slab_epoch_close(epoch: c_uint) -> c_int {
    let e = epoch as usize;
    if !ready() || e >= EPOCHS {
        os::set_errno(libc::EINVAL);
        return -1;
    }
    if e == epoch::current() {
        epoch::advance();
    }
    epoch::mark_closing(e);
    let slot = epoch::slot(e);
    let before = os::rss_bytes();
    heap::tidy_current();
    let bytes = pool::purge_epoch(e);
    let after = os::rss_bytes();
    slot.rss_before_close
        .store(before, core::sync::atomic::Ordering::Relaxed);
    slot.rss_after_close
        .store(after, core::sync::atomic::Ordering::Relaxed);
    tracing::debug!(
        epoch = e,
        released = bytes,
        rss_before = before,
        rss_after = after,
        "epoch closed"
    );
    0
}

/// Attach a label (up to 31 bytes; NULL clears it) to epoch `epoch`.
///
/// # Safety
/// `label` must be null or a NUL-terminated string.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn slab_epoch_set_label(epoch: c_uint, label: *const c_char) -> c_int {
    if !ready() || epoch as usize >= EPOCHS {
        os::set_errno(libc::EINVAL);
        return -1;
    }
    let bytes: &[u8] = if label.is_null() {
        b""
    } else {
        // SAFETY: the caller passes a NUL-terminated string.
        unsafe { core::ffi::CStr::from_ptr(label) }.to_bytes()
    };
    epoch::set_label(epoch as usize, bytes);
    0
}

/// Report a refused domain call on stderr (and errno), returning `fail`.
fn domain_error<T>(what: &str, e: heap::DomainError, fail: T) -> T {
    let (why, errno) = match e {
        heap::DomainError::NotEntered => {
            ("no epoch domain is entered on this thread", libc::EINVAL)
        }
        heap::DomainError::TooDeep => ("epoch domains nest at most 32 deep", libc::EOVERFLOW),
        heap::DomainError::NotInnermost => (
            "that domain is not this thread's innermost (domains belong to the thread that entered them)",
            libc::EPERM,
        ),
    };
    os::Msg::new()
        .s("zslab: ")
        .s(what)
        .s(" refused: ")
        .s(why)
        .s("\n")
        .emit();
    os::set_errno(errno);
    fail
}

/// Enter an epoch domain labelled `label` on the calling thread: the
/// innermost one again if it has this label (counted), else a new one with
/// an epoch of its own, nested in it. Allocations of this thread land in
/// the domain's epoch until it is left. Returns the domain's id (its era),
/// or 0 (errno set, message on stderr) when refused.
///
/// # Safety
/// `label` must be null or a NUL-terminated string.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn slab_domain_enter(label: *const c_char) -> u64 {
    if !ready() {
        return 0;
    }
    let bytes: &[u8] = if label.is_null() {
        b""
    } else {
        // SAFETY: the caller passes a NUL-terminated string.
        unsafe { core::ffi::CStr::from_ptr(label) }.to_bytes()
    };
    let Some(h) = init::thread_heap() else {
        return 0;
    };
    match h.domain_enter(bytes) {
        Ok(id) => {
            tracing::debug!(id, "domain entered");
            id
        }
        Err(e) => domain_error("slab_domain_enter", e, 0),
    }
}

/// Leave the calling thread's innermost epoch domain; when this was its
/// outermost entry, the domain closes: its epoch receives no new objects,
/// and its cached empty spans go back to the OS. Returns 0, or -1 (errno
/// set, message on stderr) when no domain is entered on this thread.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn slab_domain_exit() -> c_int {
    if !ready() {
        return -1;
    }
    let Some(h) = heap::current() else {
        return domain_error("slab_domain_exit", heap::DomainError::NotEntered, -1);
    };
    match h.domain_exit() {
        Ok(0) => 0,
        Ok(era) => {
            close_domain(era);
            0
        }
        Err(e) => domain_error("slab_domain_exit", e, -1),
    }
}

/// Close the calling thread's innermost domain `id` whatever its count.
/// Returns 0, or -1 (errno set, message on stderr).
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn slab_domain_force_close(id: u64) -> c_int {
    if !ready() {
        return -1;
    }
    let Some(h) = heap::current() else {
        return domain_error("slab_domain_force_close", heap::DomainError::NotEntered, -1);
    };
    match h.domain_force_close(id) {
        Ok(era) => {
            close_domain(era);
            0
        }
        Err(e) => domain_error("slab_domain_force_close", e, -1),
    }
}

/// The calling thread's innermost domain id, or 0 outside any.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn slab_domain_current() -> u64 {
    heap::current().map_or(0, |h| h.domain_current())
}

/// A domain closed: its epoch is CLOSING (marked by the heap), its spans
/// empty as its objects die and are reclaimed like any others, so the
/// next domain reuses them from the hot caches; pages go back under the
/// usual policy, not at every close (a request-scoped domain closes
/// thousands of times a second). RSS at the close is recorded for its
/// epoch slot.
fn close_domain(era: u64) {
    let e = epoch::index(era);
    let before = os::rss_bytes();
    let slot = epoch::slot(e);
    if slot.era.load(core::sync::atomic::Ordering::Relaxed) == era {
        slot.rss_before_close
            .store(before, core::sync::atomic::Ordering::Relaxed);
        slot.rss_after_close
            .store(os::rss_bytes(), core::sync::atomic::Ordering::Relaxed);
    }
    tracing::debug!(id = era, "domain closed");
}

/// Return every cached empty slab to the OS now. Returns the bytes given
/// back.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn slab_reclaim() -> usize {
    if !ready() {
        return 0;
    }
    let n = reclaim_all();
    tracing::debug!(released = n, "slab_reclaim");
    n
}

/// Copy `v` into the caller's struct of `size` bytes (older, smaller
/// structs get the prefix they know).
fn copy_out<T>(v: &T, out: *mut c_void, size: usize) -> c_int {
    if out.is_null() {
        os::set_errno(libc::EINVAL);
        return -1;
    }
    let n = size.min(core::mem::size_of::<T>());
    // SAFETY: the caller passes a writable buffer of `size` bytes; we copy
    // at most that many bytes out of a plain-data #[repr(C)] struct.
    unsafe { core::ptr::copy_nonoverlapping(v as *const T as *const u8, out as *mut u8, n) };
    0
}

/// Fill `struct zslab_global_stats` (`size` = sizeof the caller's struct).
///
/// # Safety
/// `out` must be writable for `size` bytes.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn slab_stats_global(out: *mut c_void, size: usize) -> c_int {
    if !ready() {
        return -1;
    }
    heap::drain_current();
    copy_out(&stats::snapshot().global, out, size)
}

/// Number of size classes.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn slab_stats_class_count() -> c_uint {
    NCLASS as c_uint
}

/// Fill `struct zslab_class_stats` of class `cls`.
///
/// # Safety
/// `out` must be writable for `size` bytes.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn slab_stats_class(cls: c_uint, out: *mut c_void, size: usize) -> c_int {
    if !ready() || cls as usize >= NCLASS {
        os::set_errno(libc::EINVAL);
        return -1;
    }
    copy_out(&stats::snapshot().classes[cls as usize], out, size)
}

/// Fill `struct zslab_epoch_stats` of epoch slot `epoch`.
///
/// # Safety
/// `out` must be writable for `size` bytes.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn slab_stats_epoch(epoch: c_uint, out: *mut c_void, size: usize) -> c_int {
    if !ready() || epoch as usize >= EPOCHS {
        os::set_errno(libc::EINVAL);
        return -1;
    }
    heap::drain_current();
    copy_out(&stats::snapshot().epochs[epoch as usize], out, size)
}

/// Write the statistics as JSON into `buf` (NUL-terminated, truncated to
/// `len`). Returns the full length, so a caller can retry with a larger
/// buffer.
///
/// # Safety
/// `buf` must be writable for `len` bytes (or null with `len` 0).
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn slab_stats_json(buf: *mut c_char, len: usize) -> usize {
    if !ready() {
        return 0;
    }
    heap::drain_current();
    let slice: &mut [u8] = if buf.is_null() || len == 0 {
        &mut []
    } else {
        // SAFETY: the caller passes a writable buffer of len bytes.
        unsafe { core::slice::from_raw_parts_mut(buf as *mut u8, len) }
    };
    let mut w = SliceWriter {
        buf: slice,
        total: 0,
    };
    let _ = stats::write_json(&mut w, &stats::snapshot());
    let end = w.total.min(w.buf.len().saturating_sub(1));
    if !w.buf.is_empty() {
        w.buf[end] = 0;
    }
    w.total
}

/// Print the human-readable statistics to file descriptor `fd`.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn slab_stats_print(fd: c_int) -> c_int {
    if !ready() {
        return -1;
    }
    heap::drain_current();
    let mut w = stats::FdWriter::new(fd);
    let formatted = stats::write_text(&mut w, &stats::snapshot()).is_ok();
    if formatted && w.flush() { 0 } else { -1 }
}

/// malloc_info: glibc's XML for its part of the heap, with a `<zslab>`
/// element describing the slabs inserted before the closing tag.
///
/// # Safety
/// `fp` must be a valid, writable `FILE *`.
pub unsafe fn malloc_info_xml(fp: *mut libc::FILE) -> c_int {
    let mut buf: *mut c_char = core::ptr::null_mut();
    let mut len: usize = 0;
    // SAFETY: buf and len are valid out-pointers for open_memstream.
    let mem = unsafe { libc::open_memstream(&mut buf, &mut len) };
    if mem.is_null() {
        // SAFETY: forwarded contract.
        return unsafe { glibc::malloc_info(0, fp) };
    }
    // SAFETY: mem is a valid stream, closed right after.
    unsafe {
        glibc::malloc_info(0, mem);
        libc::fclose(mem);
    }
    let doc: &[u8] = if buf.is_null() {
        b""
    } else {
        // SAFETY: open_memstream left `len` valid bytes at `buf`.
        unsafe { core::slice::from_raw_parts(buf as *const u8, len) }
    };
    let close = b"</malloc>";
    let cut = doc
        .windows(close.len())
        .rposition(|w| w == close)
        .unwrap_or(doc.len());
    let mut z = StackBuf::<1024>::new();
    if init::enabled() {
        let g = stats::snapshot().global;
        let _ = writeln!(
            z,
            "<zslab version=\"{}\" release=\"{}\"><small allocs=\"{}\" frees=\"{}\"/><medium allocs=\"{}\" frees=\"{}\"/><huge allocs=\"{}\" frees=\"{}\" live_bytes=\"{}\" cached_bytes=\"{}\"/><live objects=\"{}\" bytes=\"{}\"/><spans in_use=\"{}\" cached=\"{}\" committed=\"{}\" cached_bytes=\"{}\"/><madvise calls=\"{}\" bytes=\"{}\" failures=\"{}\"/><epoch current=\"{}\" era=\"{}\"/></zslab>",
            g.version,
            env!("CARGO_PKG_VERSION"),
            g.small_allocs,
            g.small_frees,
            g.medium_allocs,
            g.medium_frees,
            g.huge_allocs,
            g.huge_frees,
            g.huge_live_bytes,
            g.huge_cached_bytes,
            g.live_objects,
            g.live_bytes,
            g.slabs_in_use,
            g.cached_slabs,
            g.committed_bytes,
            g.cached_bytes,
            g.madvise_calls,
            g.madvise_bytes,
            g.madvise_failures,
            g.current_epoch,
            g.current_era
        );
    }
    // SAFETY: fp is the caller's writable stream; the slices are valid.
    unsafe {
        libc::fwrite(doc.as_ptr().cast(), 1, cut, fp);
        libc::fwrite(z.as_bytes().as_ptr().cast(), 1, z.len(), fp);
        if cut < doc.len() {
            libc::fwrite(doc[cut..].as_ptr().cast(), 1, doc.len() - cut, fp);
        }
        crate::alloc::free(buf.cast());
    }
    0
}
