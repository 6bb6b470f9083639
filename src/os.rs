//! Thin, allocation-free wrappers over the system calls zslab needs: address
//! space reservation, page release (`madvise`), clocks, stderr output, RSS
//! readings and abort. Nothing here calls malloc, so every function is safe to
//! use from inside the allocator, before initialisation and after a fork.

use core::fmt;

/// The page size zslab assumes for accounting (x86-64 and aarch64 Linux
/// default). Slab sizes are multiples of it whatever the real page size is.
pub const PAGE: usize = 4096;

/// Reserve `len` bytes of address space, readable and writable, backed by
/// nothing until touched. Returns the base address or `None`.
pub fn reserve(len: usize) -> Option<usize> {
    // SAFETY: an anonymous private mapping at a kernel-chosen address touches
    // no existing memory; the result is checked for MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        Some(p as usize)
    }
}

/// Give back a reservation (or part of one) made by [`reserve`].
pub fn release(addr: usize, len: usize) {
    // SAFETY: callers pass ranges they reserved themselves and no longer use.
    unsafe {
        libc::munmap(addr as *mut libc::c_void, len);
    }
}

/// `madvise` on a range zslab owns. Returns whether the kernel accepted it.
/// errno is preserved (this runs inside free).
pub fn advise(addr: usize, len: usize, advice: libc::c_int) -> bool {
    let saved = errno();
    // SAFETY: madvise on a range inside zslab's own reservation; the advice
    // values used (DONTNEED, FREE, NOHUGEPAGE) never invalidate the mapping.
    let ok = unsafe { libc::madvise(addr as *mut libc::c_void, len, advice) == 0 };
    set_errno(saved);
    ok
}

/// Monotonic time in nanoseconds.
pub fn now_ns() -> u64 {
    clock(libc::CLOCK_MONOTONIC)
}

/// Coarse monotonic time in milliseconds (vDSO, a few ns; good to ~4 ms).
pub fn now_coarse_ms() -> u64 {
    clock(libc::CLOCK_MONOTONIC_COARSE) / 1_000_000
}

fn clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec on our stack.
    unsafe {
        libc::clock_gettime(id, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Write all of `buf` to file descriptor `fd`, retrying on EINTR and short
/// writes. Returns whether everything was written. errno is preserved:
/// diagnostics run inside free, which must not change it.
pub fn write_fd(fd: i32, mut buf: &[u8]) -> bool {
    let saved = errno();
    let mut ok = true;
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice for its length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n > 0 {
            buf = &buf[n as usize..];
        } else if n < 0 && errno() == libc::EINTR {
            continue;
        } else {
            ok = false;
            break;
        }
    }
    set_errno(saved);
    ok
}

/// Whether file descriptor `fd` is open.
pub fn fd_is_open(fd: i32) -> bool {
    let saved = errno();
    // SAFETY: F_GETFD only queries the descriptor table.
    let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1;
    set_errno(saved);
    open
}

/// A close-on-exec duplicate of `fd` at or above `min`, or -1.
pub fn dup_high(fd: i32, min: i32) -> i32 {
    let saved = errno();
    // SAFETY: F_DUPFD_CLOEXEC creates a new descriptor; no memory involved.
    let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    set_errno(saved);
    d
}

/// The calling thread's errno.
pub fn errno() -> i32 {
    // SAFETY: __errno_location always returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Set the calling thread's errno.
pub fn set_errno(v: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = v }
}

/// Terminate the process the way glibc does on heap corruption.
pub fn abort() -> ! {
    // SAFETY: abort never returns and needs no preconditions.
    unsafe { libc::abort() }
}

/// A fixed-size stack buffer implementing `fmt::Write`, so messages can be
/// formatted without touching the heap. Output past the capacity is dropped.
pub struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    pub const fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }
    pub fn push_bytes(&mut self, b: &[u8]) {
        let n = b.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }
}

impl<const N: usize> Default for StackBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_bytes(s.as_bytes());
        Ok(())
    }
}

/// Print a formatted line to stderr without allocating.
#[macro_export]
macro_rules! eprint_raw {
    ($($arg:tt)*) => {{
        let mut b = $crate::os::StackBuf::<512>::new();
        let _ = core::fmt::Write::write_fmt(&mut b, format_args!($($arg)*));
        let _ = $crate::os::write_fd(2, b.as_bytes());
    }};
}

/// Resident set size of this process in bytes, from /proc/self/statm
/// (0 if it cannot be read).
pub fn rss_bytes() -> u64 {
    let mut buf = [0u8; 128];
    // SAFETY: the path is a NUL-terminated literal.
    let fd = unsafe {
        libc::open(
            c"/proc/self/statm".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return 0;
    }
    // SAFETY: buf is writable for its length; fd is ours and closed below.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: fd was opened above.
    unsafe { libc::close(fd) };
    if n <= 0 {
        return 0;
    }
    // statm: size resident shared text lib data dt (in pages)
    let text = &buf[..n as usize];
    let mut fields = text.split(|&c| c == b' ');
    fields.next();
    let resident = fields.next().map(parse_u64).unwrap_or(0);
    resident * PAGE as u64
}

fn parse_u64(s: &[u8]) -> u64 {
    let mut v = 0u64;
    for &c in s {
        if !c.is_ascii_digit() {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add((c - b'0') as u64);
    }
    v
}

/// The calling thread's kernel thread id.
pub fn gettid() -> i64 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Yield the CPU to another runnable thread.
pub fn yield_now() {
    // SAFETY: sched_yield has no preconditions.
    unsafe {
        libc::sched_yield();
    }
}
