//! Statistics leaving the process: the exit report (text on stderr, a file
//! in JSON or Prometheus text exposition, the leak report), and the same
//! file written while the program runs, on `ZSLAB_STATS_SIGNAL` or every
//! `ZSLAB_STATS_INTERVAL` ms, by the background thread (a safe context: not
//! a signal handler, no allocator lock held). Files are written to a
//! temporary name in the same directory and renamed, so a reader (zslab
//! stats, node_exporter's textfile collector) never sees half a file.
//! A write that fails says the path and the reason, on stderr, or in the
//! log when stderr is closed.

use crate::epoch::EPOCHS;
use crate::glibc;
use crate::heap;
use crate::init::{config, enabled};
use crate::os::{self, StackBuf};
use crate::sizeclass::{NCLASS, class_size};
use crate::stats::{self, ClassStats, EpochStats, FdWriter, GlobalStats, Snapshot};
use core::fmt::{self, Write};
use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed, Ordering::SeqCst,
};

/// A duplicate of stderr taken at start-up when reports are asked for:
/// programs like `ls` close fd 2 in their own exit handlers, which run
/// before zslab's.
static STDERR_DUP: AtomicI32 = AtomicI32::new(-1);
/// A snapshot was asked for by signal.
static REQUESTED: AtomicBool = AtomicBool::new(false);
/// A termination signal to act on after writing the exit report (0: none).
static TERMINATING: AtomicI32 = AtomicI32::new(0);
/// Termination signals that get an exit report when the program leaves
/// them at their default action.
const TERM_SIGNALS: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// Keep a way to stderr for the exit report (called from the constructor).
pub fn keep_stderr() {
    let c = config();
    if c.stats || c.leaks || !c.stats_file.is_empty() {
        STDERR_DUP.store(os::dup_high(2, 64), Relaxed);
    }
}

/// stderr, or its duplicate once the program closed it.
fn stderr_fd() -> i32 {
    let dup = STDERR_DUP.load(Relaxed);
    if os::fd_is_open(2) || dup < 0 { 2 } else { dup }
}

extern "C" fn on_signal(sig: libc::c_int) {
    // Async-signal-safe: stores and a futex wake (errno is preserved). The
    // background thread does the rest, holding no lock the interrupted code
    // might hold.
    if sig == config().stats_signal.0 {
        REQUESTED.store(true, Relaxed);
    } else if !crate::background::started() {
        // No thread to write the report (ZSLAB_BACKGROUND=off, a fork
        // child, a thread that could not start): written here, from what
        // can be read safely in a handler (the calling thread's own
        // pending frees are not folded in), then the signal takes its
        // course.
        if enabled() {
            write_reports();
        }
        // SAFETY: sigaction and raise are async-signal-safe; the signal is
        // blocked in its handler, so it is delivered, with the default
        // action, as the handler returns.
        unsafe {
            TAKEN.fetch_and(!(1 << sig), Relaxed);
            let dfl: libc::sigaction = core::mem::zeroed();
            glibc::sigaction(sig, &dfl, core::ptr::null_mut());
            libc::raise(sig);
        }
        return;
    } else {
        TERMINATING.store(sig, Relaxed);
    }
    crate::pool::BELL.wake();
}

/// zslab's action for `sig`.
fn our_action() -> libc::sigaction {
    // SAFETY: a zeroed sigaction is valid.
    let mut sa: libc::sigaction = unsafe { core::mem::zeroed() };
    sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
    sa.sa_flags = libc::SA_RESTART;
    sa
}

fn handle(sig: libc::c_int) {
    let sa = our_action();
    // SAFETY: a valid action whose handler only does async-signal-safe work.
    unsafe { glibc::sigaction(sig, &sa, core::ptr::null_mut()) };
}

/// Whether `sig` is at its default action (the program has not taken it).
fn at_default(sig: libc::c_int) -> bool {
    // SAFETY: querying the current action into a zeroed struct.
    unsafe {
        let mut old: libc::sigaction = core::mem::zeroed();
        glibc::sigaction(sig, core::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_DFL
    }
}

/// Termination signals zslab handles for its exit report (bit `sig`).
static TAKEN: AtomicU64 = AtomicU64::new(0);

fn taken(sig: libc::c_int) -> bool {
    (0..64).contains(&sig) && TAKEN.load(Relaxed) & (1 << sig) != 0
}

/// The program's sigaction, with zslab's exit-report handlers invisible:
/// they stand for the default action. A query of a signal zslab handles
/// reads `SIG_DFL`, and setting `SIG_DFL` puts zslab's handler back (the
/// default action, after the report); any other action replaces it as it
/// would the default. So a program that checks whether a signal is at its
/// default (python3 installs its SIGINT handler only then) or saves and
/// restores handlers behaves as without zslab.
///
/// # Safety
/// As sigaction: `act` null or valid, `oact` null or writable.
pub unsafe fn sigaction(
    sig: libc::c_int,
    act: *const libc::sigaction,
    oact: *mut libc::sigaction,
) -> libc::c_int {
    if !taken(sig) {
        // SAFETY: forwarded from the caller's contract.
        return unsafe { glibc::sigaction(sig, act, oact) };
    }
    let ours = our_action();
    // SAFETY: act is null or valid (the caller's contract).
    let default = !act.is_null() && unsafe { (*act).sa_sigaction } == libc::SIG_DFL;
    let act = if default { &ours as *const _ } else { act };
    // SAFETY: forwarded from the caller's contract (or our own action).
    let r = unsafe { glibc::sigaction(sig, act, oact) };
    // SAFETY: oact is null or writable, and was just filled in.
    if r == 0 && !oact.is_null() && unsafe { (*oact).sa_sigaction } == ours.sa_sigaction {
        // SAFETY: as above; a zeroed sigaction is SIG_DFL with no flags.
        unsafe { *oact = core::mem::zeroed() };
    }
    r
}

/// Install the signal handlers (from the constructor): ZSLAB_STATS_SIGNAL,
/// and, when an exit report is configured, the termination signals the
/// program leaves at their default action (the report is written, then the
/// signal takes its course). Returns whether the background thread is
/// needed to act on them.
pub fn install_signals() -> bool {
    let c = config();
    let mut any = false;
    if c.stats_signal.0 != 0 {
        handle(c.stats_signal.0);
        any = true;
    }
    if c.stats || c.leaks || !c.stats_file.is_empty() {
        for sig in TERM_SIGNALS {
            if at_default(sig) {
                handle(sig);
                TAKEN.fetch_or(1 << sig, Relaxed);
                any = true;
            }
        }
    }
    any || c.stats_interval.0 > 0
}

/// Called by the background thread on each pass: write a snapshot if one
/// was asked for by signal, or the interval has passed. Returns the time
/// (coarse ms) of the next interval dump, if any.
pub fn tick(now: u64, next: Option<u64>) -> Option<u64> {
    let sig = TERMINATING.swap(0, Relaxed);
    if sig != 0 {
        exit_report();
        // SAFETY: back to the default action, then the signal again: the
        // process ends as it would have without zslab.
        unsafe {
            TAKEN.fetch_and(!(1 << sig), Relaxed);
            let dfl: libc::sigaction = core::mem::zeroed();
            glibc::sigaction(sig, &dfl, core::ptr::null_mut());
            libc::kill(os::pid(), sig);
        }
    }
    let c = config();
    let mut next = next;
    let due = match (c.stats_interval.0, next) {
        (0, _) => false,
        (_, None) => true,
        (_, Some(t)) => now >= t,
    };
    if REQUESTED.swap(false, Relaxed) || due {
        // Announce the write before looking at FINAL (the exit report
        // announces itself, then waits for WRITERS): one of the two sees
        // the other.
        WRITERS.fetch_add(1, SeqCst);
        if !FINAL.load(SeqCst) {
            heap::drain_current();
            write_file(&stats::snapshot());
        }
        WRITERS.fetch_sub(1, SeqCst);
    }
    if c.stats_interval.0 > 0 && (due || next.is_none()) {
        next = Some(now + c.stats_interval.0);
    }
    next
}

/// The snapshot file's path, NUL-terminated: ZSLAB_STATS_FILE with %p
/// replaced by the pid, or /tmp/zslab.<pid>.json for live snapshots.
fn path() -> StackBuf<512> {
    let c = config();
    let mut path = StackBuf::<512>::new();
    let pid = std::process::id() as u64;
    if c.stats_file.is_empty() {
        path.s("/tmp/zslab.").dec(pid).s(".json");
    } else {
        let raw = c.stats_file.as_bytes();
        let mut i = 0;
        while let Some(&b) = raw.get(i) {
            if b == b'%' && raw.get(i + 1) == Some(&b'p') {
                path.dec(pid);
                i += 2;
            } else {
                path.push_bytes(&[b]);
                i += 1;
            }
        }
    }
    path
}

/// Write the snapshot to the statistics file (format by extension),
/// atomically. Says so on failure.
///
/// The snapshot is written to an unnamed file in the target's directory
/// (`O_TMPFILE`), named (per process and thread) only once complete and at
/// once renamed over the target: a process that execs or is killed while
/// the background thread writes leaves nothing behind, unless it ends
/// between those two system calls. Where there are no unnamed files (the
/// filesystem, or no /proc to name one through), a named temporary is
/// written instead.
pub fn write_file(s: &Snapshot) {
    let path = path();
    let mut tmpz = StackBuf::<540>::new();
    tmpz.push_bytes(path.as_bytes());
    // One temporary name per writing thread: the interval writer (the
    // background thread) and the exit report can write at the same time.
    tmpz.s(".tmp.")
        .dec(std::process::id() as u64)
        .s(".")
        .dec(os::gettid() as u64);
    tmpz.push_bytes(b"\0");
    let mut pathz = StackBuf::<520>::new();
    pathz.push_bytes(path.as_bytes());
    pathz.push_bytes(b"\0");
    let mut dirz = StackBuf::<520>::new();
    match path.as_bytes().iter().rposition(|&b| b == b'/') {
        Some(0) => dirz.push_bytes(b"/"),
        Some(i) => dirz.push_bytes(&path.as_bytes()[..i]),
        None => dirz.push_bytes(b"."),
    }
    dirz.push_bytes(b"\0");
    let written = match write_unnamed(s, &path, &dirz, &tmpz) {
        Some(r) => r,
        None => write_named(s, &path, &tmpz),
    };
    if let Err(err) = written {
        return failed(path.as_bytes(), err);
    }
    // SAFETY: both paths are NUL-terminated.
    if unsafe {
        libc::rename(
            tmpz.as_bytes().as_ptr().cast(),
            pathz.as_bytes().as_ptr().cast(),
        )
    } != 0
    {
        let err = os::errno();
        // SAFETY: tmpz is NUL-terminated.
        unsafe { libc::unlink(tmpz.as_bytes().as_ptr().cast()) };
        failed(path.as_bytes(), err);
    }
}

/// Write the snapshot to `fd` (Prometheus text if `path` ends in .prom,
/// else JSON). Returns the errno of a failure.
fn write_to(fd: i32, s: &Snapshot, path: &StackBuf<512>) -> Result<(), i32> {
    let mut w = FdWriter::new(fd);
    let f = if path.as_bytes().ends_with(b".prom") {
        write_prometheus(&mut w, s)
    } else {
        stats::write_json(&mut w, s)
    };
    if f.is_ok() && w.flush() {
        Ok(())
    } else {
        Err(os::errno())
    }
}

/// Write the snapshot to an unnamed file in directory `dirz` and name it
/// `tmpz` once complete. `None` when unnamed files cannot be used here
/// (the caller writes a named temporary instead).
fn write_unnamed(
    s: &Snapshot,
    path: &StackBuf<512>,
    dirz: &StackBuf<520>,
    tmpz: &StackBuf<540>,
) -> Option<Result<(), i32>> {
    // SAFETY: dirz is NUL-terminated.
    let fd = unsafe {
        libc::open(
            dirz.as_bytes().as_ptr().cast(),
            libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd < 0 {
        return None;
    }
    let mut proc = StackBuf::<40>::new();
    proc.s("/proc/self/fd/").dec(fd as u64);
    proc.push_bytes(b"\0");
    let r = write_to(fd, s, path).map(|()| {
        // SAFETY: both paths are NUL-terminated.
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc.as_bytes().as_ptr().cast(),
                libc::AT_FDCWD,
                tmpz.as_bytes().as_ptr().cast(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        rc == 0
    });
    // SAFETY: fd was opened above.
    let closed = unsafe { libc::close(fd) } == 0;
    match r {
        Err(e) => Some(Err(e)),
        Ok(false) => None,
        Ok(true) if !closed => {
            let e = os::errno();
            // SAFETY: tmpz is NUL-terminated.
            unsafe { libc::unlink(tmpz.as_bytes().as_ptr().cast()) };
            Some(Err(e))
        }
        Ok(true) => Some(Ok(())),
    }
}

/// Write the snapshot to the named temporary `tmpz`.
fn write_named(s: &Snapshot, path: &StackBuf<512>, tmpz: &StackBuf<540>) -> Result<(), i32> {
    // SAFETY: tmpz is NUL-terminated.
    let fd = unsafe {
        libc::open(
            tmpz.as_bytes().as_ptr().cast(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd < 0 {
        return Err(os::errno());
    }
    let r = write_to(fd, s, path);
    // SAFETY: fd was opened above.
    let closed = unsafe { libc::close(fd) } == 0;
    let r = r.and_then(|()| if closed { Ok(()) } else { Err(os::errno()) });
    if r.is_err() {
        // SAFETY: tmpz is NUL-terminated.
        unsafe { libc::unlink(tmpz.as_bytes().as_ptr().cast()) };
    }
    r
}

/// Say that writing `path` failed, with the reason. Safe in a signal
/// handler (the report of a fatal signal is written from one when no
/// background thread runs): no `strerror` (its translation lookup may
/// allocate) and no `tracing` (it allocates, and writes to the same
/// stderr that just failed).
fn failed(path: &[u8], errno: i32) {
    let mut m = StackBuf::<768>::new();
    m.s("zslab: warning: cannot write the statistics file ");
    m.push_bytes(path);
    m.s(": ");
    match errno_name(errno) {
        Some(name) => m.s(name),
        None => m.s("errno ").dec(errno as u64),
    };
    m.s("\n");
    os::write_fd(stderr_fd(), m.as_bytes());
}

/// The usual reasons a file cannot be written, in glibc's words.
fn errno_name(e: i32) -> Option<&'static str> {
    Some(match e {
        libc::ENOENT => "No such file or directory",
        libc::EACCES => "Permission denied",
        libc::EPERM => "Operation not permitted",
        libc::ENOSPC => "No space left on device",
        libc::EDQUOT => "Disk quota exceeded",
        libc::EROFS => "Read-only file system",
        libc::EISDIR => "Is a directory",
        libc::ENOTDIR => "Not a directory",
        libc::ENAMETOOLONG => "File name too long",
        libc::EMFILE => "Too many open files",
        libc::ENFILE => "Too many open files in system",
        libc::EIO => "Input/output error",
        libc::EFBIG => "File too large",
        libc::ENXIO => "No such device or address",
        _ => return None,
    })
}

/// Snapshots the background thread is writing to the statistics file.
static WRITERS: AtomicU32 = AtomicU32::new(0);
/// The exit report has begun: the background thread writes no more.
static FINAL: AtomicBool = AtomicBool::new(false);

/// Called at exit: the text summary, the statistics file and the leak
/// report, as configured.
pub fn exit_report() {
    let c = config();
    if !enabled() || (!c.stats && !c.leaks && c.stats_file.is_empty()) {
        return;
    }
    heap::drain_current();
    write_reports();
}

/// The reports of the exit report, from a snapshot taken now. Reads
/// atomics only (labels with a bounded try-lock), writes with system
/// calls and allocates nothing: safe in a signal handler.
fn write_reports() {
    let c = config();
    // No snapshot from the background thread after this one, and none
    // half-written when the process ends: its temporary file would stay.
    FINAL.store(true, SeqCst);
    for _ in 0..500 {
        if WRITERS.load(SeqCst) == 0 {
            break;
        }
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        // SAFETY: a valid timespec; the remainder is not wanted.
        unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
    }
    let s = stats::snapshot();
    if c.stats {
        let mut w = FdWriter::new(stderr_fd());
        let _ = stats::write_text(&mut w, &s);
    }
    if !c.stats_file.is_empty() {
        write_file(&s);
    }
    if c.leaks {
        let mut w = FdWriter::new(stderr_fd());
        let _ = write_leaks(&mut w, &s);
    }
}

// ---- Prometheus ----

/// A label value, escaped for the exposition format.
struct PromStr<'a>(&'a str);

impl fmt::Display for PromStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ch in self.0.chars() {
            match ch {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The exposition name of field `name`: counters end in `_total`, and
/// nanosecond fields are given in seconds (the base unit).
fn metric(w: &mut dyn Write, prefix: &str, name: &str, counter: bool) -> fmt::Result {
    let (base, unit) = match name.strip_suffix("_ns") {
        Some(b) => (b, "_seconds"),
        None => (name, ""),
    };
    write!(
        w,
        "zslab_{prefix}{base}{unit}{}",
        if counter { "_total" } else { "" }
    )
}

/// A field's value in its exposition unit.
fn value(w: &mut dyn Write, name: &str, v: u64) -> fmt::Result {
    if name.ends_with("_ns") {
        writeln!(w, " {:.3}", v as f64 / 1e9)
    } else {
        writeln!(w, " {v}")
    }
}

fn header(w: &mut dyn Write, prefix: &str, name: &str, counter: bool, help: &str) -> fmt::Result {
    w.write_str("# HELP ")?;
    metric(w, prefix, name, counter)?;
    writeln!(w, " {help}")?;
    w.write_str("# TYPE ")?;
    metric(w, prefix, name, counter)?;
    writeln!(w, " {}", if counter { "counter" } else { "gauge" })
}

/// Render a snapshot in the Prometheus text exposition format: every
/// global field, and per class and per epoch their fields with labels.
pub fn write_prometheus(w: &mut dyn Write, s: &Snapshot) -> fmt::Result {
    writeln!(w, "# HELP zslab_info zslab's version (value 1).")?;
    writeln!(w, "# TYPE zslab_info gauge")?;
    writeln!(
        w,
        "zslab_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )?;
    let g = s.global.values();
    for (i, (name, counter, help)) in GlobalStats::FIELDS.iter().enumerate() {
        header(w, "", name, *counter, help)?;
        metric(w, "", name, *counter)?;
        value(w, name, g.get(i).copied().unwrap_or(0))?;
    }
    let classes: [[u64; ClassStats::FIELDS.len()]; NCLASS] =
        core::array::from_fn(|k| s.classes[k].values());
    for (i, (name, counter, help)) in ClassStats::FIELDS.iter().enumerate() {
        if matches!(*name, "class_index" | "object_size") {
            continue;
        }
        header(w, "class_", name, *counter, help)?;
        for (k, v) in classes.iter().enumerate() {
            if s.classes[k].allocs == 0 && s.classes[k].slabs == 0 {
                continue;
            }
            metric(w, "class_", name, *counter)?;
            write!(w, "{{class=\"{k}\",size=\"{}\"}}", class_size(k))?;
            value(w, name, v.get(i).copied().unwrap_or(0))?;
        }
    }
    for (i, (name, counter, help)) in EpochStats::FIELDS.iter().enumerate() {
        if matches!(*name, "epoch" | "era" | "state") {
            continue;
        }
        header(w, "epoch_", name, *counter, help)?;
        for e in s.epochs.iter().filter(|e| e.state != 0) {
            metric(w, "epoch_", name, *counter)?;
            write!(
                w,
                "{{epoch=\"{}\",era=\"{}\",state=\"{}\",label=\"{}\"}}",
                e.epoch,
                e.era,
                stats::state_name(e.state),
                PromStr(stats::label_str(&e.label)),
            )?;
            value(w, name, e.values().get(i).copied().unwrap_or(0))?;
        }
    }
    Ok(())
}

// ---- leaks ----

/// The exit leak report: epochs (with labels and ages), size classes and
/// huge blocks still holding live memory, largest first.
pub fn write_leaks(w: &mut dyn Write, s: &Snapshot) -> fmt::Result {
    let mb = |b: u64| b as f64 / 1048576.0;
    writeln!(w, "zslab: live memory at exit (pid {})", std::process::id())?;
    let mut ep: [usize; EPOCHS] = core::array::from_fn(|i| i);
    ep.sort_by_key(|&e| core::cmp::Reverse(s.epochs[e].live_bytes + s.epochs[e].huge_bytes));
    writeln!(w, "  by epoch (largest first):")?;
    let now = os::now_ns();
    let mut any = false;
    for &e in &ep {
        let x = &s.epochs[e];
        let bytes = x.live_bytes + x.huge_bytes;
        if bytes == 0 {
            continue;
        }
        any = true;
        let label = stats::label_str(&x.label);
        let age = if x.open_since_ns > 0 {
            now.saturating_sub(x.open_since_ns)
        } else {
            0
        };
        writeln!(
            w,
            "    epoch {:>2} era {:>6} {:>8} {:>10.2} MiB in {} objects + {} huge blocks, opened {:.1} s ago{}{}",
            x.epoch,
            x.era,
            stats::state_name(x.state),
            mb(bytes),
            x.live_objects,
            x.huge_blocks,
            age as f64 / 1e9,
            if label.is_empty() { "" } else { ", label " },
            label
        )?;
    }
    if !any {
        writeln!(w, "    (none)")?;
    }
    let mut cl: [usize; NCLASS] = core::array::from_fn(|i| i);
    cl.sort_by_key(|&k| core::cmp::Reverse(s.classes[k].live_bytes));
    writeln!(w, "  by size class (largest first):")?;
    for &k in cl.iter().take(10) {
        let c = &s.classes[k];
        if c.live_objects == 0 {
            break;
        }
        writeln!(
            w,
            "    {:>7} B: {:>10} objects, {:>10.2} MiB",
            c.object_size,
            c.live_objects,
            mb(c.live_bytes)
        )?;
    }
    writeln!(
        w,
        "  huge blocks: {:.2} MiB live",
        mb(s.global.huge_live_bytes)
    )?;
    Ok(())
}
