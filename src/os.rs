//! Thin, allocation-free wrappers over the system calls zslab needs: address
//! space reservation and page release (`mmap`, `madvise`, `mremap`), futex
//! sleep and wake, clocks, stderr output, RSS readings and abort; plus the
//! failure-injection switches (`ZSLAB_FAIL_*`) that make zslab's own `mmap`,
//! `madvise` and thread creation fail on purpose in tests. Nothing here calls
//! malloc, so every function is safe to use from inside the allocator,
//! before initialisation and after a fork, and nothing here can panic
//! (messages on allocation paths are built with [`Msg`], not `core::fmt`).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// The page size zslab assumes for accounting and page-granular return
/// (x86-64 and aarch64 Linux default). Slab sizes are multiples of it.
pub const PAGE: usize = 4096;
/// log2 of [`PAGE`].
pub const PAGE_SHIFT: u32 = 12;

// ---- failure injection ----

/// Which system call a failure-injection switch applies to.
#[derive(Clone, Copy)]
pub enum Fault {
    Mmap = 0,
    Madvise = 1,
    Thread = 2,
}

/// Per fault kind: the call number (1-based) from which calls fail, 0 = never.
static FAIL_FROM: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
/// Per fault kind: calls made so far.
static CALLS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// Make the `from`-th call of kind `f` and every later one fail (0: never).
pub fn inject_failure(f: Fault, from: u64) {
    FAIL_FROM[f as usize].store(from, Relaxed);
}

/// Count a call of kind `f`; whether it must fail.
pub fn should_fail(f: Fault) -> bool {
    let from = FAIL_FROM[f as usize].load(Relaxed);
    let n = CALLS[f as usize].fetch_add(1, Relaxed) + 1;
    from != 0 && n >= from
}

/// The kernel's page size (the auxiliary vector's AT_PAGESZ).
pub fn kernel_page_size() -> usize {
    // SAFETY: getauxval reads the process's auxiliary vector; no
    // preconditions.
    match unsafe { libc::getauxval(libc::AT_PAGESZ) } {
        0 => PAGE,
        n => n as usize,
    }
}

// ---- address space ----

/// Reserve `len` bytes of address space, readable and writable, backed by
/// nothing until touched. Returns the base address or `None`.
pub fn reserve(len: usize) -> Option<usize> {
    map(0, len, 0)
}

/// Map fresh zero pages over `[addr, addr+len)`, which must lie inside a
/// reservation of zslab's own and be mapped (never a hole: MAP_FIXED
/// replaces whatever is there, so the range must be zslab's at that
/// moment). Used to merge a range pages were moved out of or into back
/// into one kernel mapping with its neighbours.
pub fn remap_fixed(addr: usize, len: usize) -> bool {
    map(addr, len, libc::MAP_FIXED).is_some()
}

fn map(addr: usize, len: usize, extra: libc::c_int) -> Option<usize> {
    if should_fail(Fault::Mmap) {
        return None;
    }
    let saved = errno();
    // SAFETY: an anonymous private mapping; with MAP_FIXED the caller
    // guarantees the range is zslab's own reservation and holds no live
    // data. The result is checked for MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | extra,
            -1,
            0,
        )
    };
    set_errno(saved);
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

/// Move the pages of `[from, from+len)` to `to` (both inside zslab's
/// reservation, not overlapping), keeping their contents: `mremap` with
/// MREMAP_FIXED and MREMAP_DONTUNMAP. The source range stays mapped (with
/// no pages: it reads as zeroes), so at no moment is there a hole in the
/// reservation: a hole would be free address space to the kernel, another
/// thread's `mmap` could be placed in it, and zslab taking the range back
/// would replace that mapping. Without MREMAP_DONTUNMAP (kernels before
/// 5.7) this fails and the caller copies.
///
/// On failure, returns the errno: the kernel may have unmapped the
/// destination before failing (it does so first, then checks the source:
/// a source spanning two kernel mappings gives EFAULT on older kernels,
/// an address-space limit ENOMEM), so the caller must restore it
/// with [`map_back`] before using the range again. An injected failure
/// (`ZSLAB_FAIL_MMAP`) returns 0: nothing was touched.
pub fn move_pages(from: usize, len: usize, to: usize, new_len: usize) -> Result<(), i32> {
    if should_fail(Fault::Mmap) {
        return Err(0);
    }
    let saved = errno();
    // SAFETY: both ranges belong to zslab's reservation; the source holds
    // exactly the block being moved and the destination holds nothing live.
    let p = unsafe {
        libc::mremap(
            from as *mut libc::c_void,
            len,
            new_len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED | libc::MREMAP_DONTUNMAP,
            to as *mut libc::c_void,
        )
    };
    let e = errno();
    set_errno(saved);
    if p as usize == to { Ok(()) } else { Err(e) }
}

/// Map `[addr, addr+len)` again after a failed [`move_pages`] whose
/// destination it was, without replacing anything (MAP_FIXED_NOREPLACE,
/// Linux 4.17). Returns whether the range is known to be zslab's again:
/// it was unmapped and is mapped now. `false` means something is mapped
/// there: the kernel kept the range (it failed before unmapping it), or
/// another thread's mapping took the hole in the meantime; the caller
/// cannot tell which and must never touch the range again.
pub fn map_back(addr: usize, len: usize) -> bool {
    match map(addr, len, libc::MAP_FIXED_NOREPLACE) {
        Some(p) if p == addr => true,
        Some(p) => {
            // A kernel without MAP_FIXED_NOREPLACE took it as a hint and
            // mapped elsewhere: not ours to keep.
            release(p, len);
            false
        }
        None => false,
    }
}

/// `madvise` on a range zslab owns. Returns whether the kernel accepted it.
/// errno is preserved (this runs inside free).
pub fn advise(addr: usize, len: usize, advice: libc::c_int) -> bool {
    if advice != libc::MADV_NOHUGEPAGE && should_fail(Fault::Madvise) {
        return false;
    }
    let saved = errno();
    // SAFETY: madvise on a range inside zslab's own reservation; the advice
    // values used (DONTNEED, FREE, NOHUGEPAGE) never invalidate the mapping.
    let ok = unsafe { libc::madvise(addr as *mut libc::c_void, len, advice) == 0 };
    set_errno(saved);
    ok
}

// ---- futex ----

/// Sleep while `*word == expect`, at most `timeout_ms` (`None`: no limit).
pub fn futex_wait(word: &AtomicU32, expect: u32, timeout_ms: Option<u64>) {
    let ts = timeout_ms.map(|ms| libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
    });
    let tp = match &ts {
        Some(t) => t as *const libc::timespec,
        None => core::ptr::null(),
    };
    let saved = errno();
    // SAFETY: FUTEX_WAIT on a live, aligned 32-bit atomic; a relative
    // timeout or null. The word is never unmapped.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expect,
            tp,
        );
    }
    set_errno(saved);
}

/// Wake one thread sleeping on `word`.
pub fn futex_wake(word: &AtomicU32) {
    let saved = errno();
    // SAFETY: FUTEX_WAKE on a live, aligned 32-bit atomic.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
    set_errno(saved);
}

// ---- clocks ----

/// Monotonic time in nanoseconds.
pub fn now_ns() -> u64 {
    clock(libc::CLOCK_MONOTONIC)
}

/// This process's id (a system call: glibc keeps no cached copy, so it is
/// right in a fork child before any handler ran). Async-signal-safe.
pub fn pid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
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
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

// ---- output ----

/// Write all of `buf` to file descriptor `fd`, retrying on EINTR and short
/// writes. Returns whether everything was written. errno is preserved:
/// diagnostics run inside free, which must not change it.
pub fn write_fd(fd: i32, buf: &[u8]) -> bool {
    let saved = errno();
    let mut off = 0;
    let mut ok = true;
    while off < buf.len() {
        let rest = buf.get(off..).unwrap_or(&[]);
        // The raw system call, not libc's write: a sanitizer runtime that
        // intercepts write may not have resolved the real one yet when
        // zslab first speaks (during the runtime's own start-up).
        // SAFETY: rest is a valid slice for its length.
        let n = unsafe { libc::syscall(libc::SYS_write, fd, rest.as_ptr(), rest.len()) } as isize;
        if n > 0 {
            off += n as usize;
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

/// A fixed-size stack buffer for messages, built without `core::fmt` (which
/// is not panic-free) so it can be used on allocation paths. Output past the
/// capacity is dropped. Also implements `fmt::Write` for the cold paths
/// (statistics, start-up) that format richer text.
pub struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

/// The message buffer used on allocation paths.
pub type Msg = StackBuf<256>;

impl<const N: usize> StackBuf<N> {
    pub const fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
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
        for &c in b {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = c;
                self.len += 1;
            }
        }
    }
    /// Append a string; returns self for chaining.
    pub fn s(&mut self, t: &str) -> &mut Self {
        self.push_bytes(t.as_bytes());
        self
    }
    /// Append a decimal number.
    pub fn dec(&mut self, mut v: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 || i == 0 {
                break;
            }
        }
        self.push_bytes(tmp.get(i..).unwrap_or(&[]));
        self
    }
    /// Append `0x` and a hexadecimal number.
    pub fn hex(&mut self, v: usize) -> &mut Self {
        self.push_bytes(b"0x");
        let mut started = false;
        for shift in (0..16).rev() {
            let d = (v >> (shift * 4)) & 0xf;
            if d != 0 || started || shift == 0 {
                started = true;
                self.push_bytes(&[b"0123456789abcdef"[d]]);
            }
        }
        self
    }
    /// Write the message to stderr.
    pub fn emit(&self) {
        let _ = write_fd(2, self.as_bytes());
    }
}

impl<const N: usize> Default for StackBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.push_bytes(s.as_bytes());
        Ok(())
    }
}

/// Print a formatted line to stderr without allocating (cold paths only:
/// it uses `core::fmt`).
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
    statm_field(1)
}

/// Virtual memory size of this process in bytes (statm's first field).
pub fn vm_bytes() -> u64 {
    statm_field(0)
}

/// The start of file `path` (NUL-terminated), read with one `read` into
/// `buf`: enough for the small /proc files read here. `None` if it cannot
/// be opened or read, or `path` lacks its NUL. Allocates nothing.
fn read_start<'b>(path: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    if path.last() != Some(&0) {
        return None;
    }
    // SAFETY: path is NUL-terminated (checked above).
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: buf is writable for its length; fd is ours and closed below.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: fd was opened above.
    unsafe { libc::close(fd) };
    buf.get(..usize::try_from(n).ok()?)
}

/// Field `k` of /proc/self/statm, in bytes.
fn statm_field(k: usize) -> u64 {
    let mut buf = [0u8; 128];
    // statm: size resident shared text lib data dt (in pages)
    let text = read_start(c"/proc/self/statm".to_bytes_with_nul(), &mut buf).unwrap_or(&[]);
    let pages = text
        .split(|&c| c == b' ')
        .nth(k)
        .map(parse_u64)
        .unwrap_or(0);
    pages * PAGE as u64
}

/// Threads in this process, from /proc/self/stat (`None` if it cannot be
/// read). Allocates nothing.
pub fn thread_count() -> Option<u64> {
    let mut buf = [0u8; 1024];
    let text = read_start(c"/proc/self/stat".to_bytes_with_nul(), &mut buf)?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses,
    // so count from the last ')'; num_threads is field 20, the 18th after.
    let close = text.iter().rposition(|&c| c == b')')?;
    let field = text.get(close + 2..)?.split(|&c| c == b' ').nth(17)?;
    let v = parse_u64(field);
    (v > 0).then_some(v)
}

/// Whether the calling thread is the only live one in the process. A main
/// thread that left with `pthread_exit` stays as a zombie (still counted in
/// /proc/self/stat) until the process ends, so with two threads counted the
/// states are read. `false` when /proc cannot be read.
pub fn alone() -> bool {
    match thread_count() {
        Some(1) => true,
        Some(2) => live_tasks() == Some(1),
        _ => false,
    }
}

/// Threads of this process that are not zombies (/proc/self/task).
fn live_tasks() -> Option<u64> {
    // SAFETY: the path is a NUL-terminated literal.
    let dir = unsafe {
        libc::open(
            c"/proc/self/task".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dir < 0 {
        return None;
    }
    let mut live = 0;
    let mut buf = [0u8; 2048];
    let ok = loop {
        // SAFETY: buf is writable for its length; dir is ours.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, dir, buf.as_mut_ptr(), buf.len()) };
        if n <= 0 {
            break n == 0;
        }
        let mut off = 0usize;
        while off + 19 < n as usize {
            // linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = buf.get(off + 19..off + reclen).unwrap_or(&[]);
            let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
            if !name.is_empty() && name.iter().all(u8::is_ascii_digit) {
                let mut path = StackBuf::<64>::new();
                path.s("/proc/self/task/");
                path.push_bytes(name);
                path.s("/stat\0");
                if task_state(path.as_bytes()).is_some_and(|c| c != b'Z' && c != b'X') {
                    live += 1;
                }
            }
            off += reclen;
        }
    };
    // SAFETY: dir was opened above.
    unsafe { libc::close(dir) };
    ok.then_some(live)
}

/// The state letter in a task's stat file (`path` NUL-terminated).
fn task_state(path: &[u8]) -> Option<u8> {
    let mut buf = [0u8; 512];
    let text = read_start(path, &mut buf)?;
    let close = text.iter().rposition(|&c| c == b')')?;
    text.get(close + 2).copied()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_format_numbers_without_fmt() {
        let mut m = Msg::new();
        m.s("a ")
            .dec(0)
            .s(" ")
            .dec(1234567890123)
            .s(" ")
            .hex(0)
            .s(" ");
        m.hex(0x7f00_dead_beef);
        assert_eq!(m.as_bytes(), b"a 0 1234567890123 0x0 0x7f00deadbeef");
        let mut small = StackBuf::<4>::new();
        small.s("abcdef");
        assert_eq!(small.as_bytes(), b"abcd");
        m.clear();
        m.dec(u64::MAX);
        assert_eq!(m.as_bytes(), b"18446744073709551615");
    }

    #[test]
    fn injected_failures_start_at_the_chosen_call() {
        // Thread kind is not used by anything else in the unit tests.
        let before = CALLS[Fault::Thread as usize].load(Relaxed);
        inject_failure(Fault::Thread, before + 3);
        assert!(!should_fail(Fault::Thread));
        assert!(!should_fail(Fault::Thread));
        assert!(should_fail(Fault::Thread));
        assert!(should_fail(Fault::Thread));
        inject_failure(Fault::Thread, 0);
        assert!(!should_fail(Fault::Thread));
    }
}
