//! Configuration: every `ZSLAB_*` environment variable in one table, parsed
//! once at initialisation straight from `environ` (no allocation: this runs
//! inside the first malloc). The accepted forms are exactly the documented
//! ones (no surrounding spaces, no other suffixes): booleans
//! 1/0/true/false/yes/no/on/off, counts in decimal digits, sizes in decimal
//! digits with an optional K, M, G or T suffix (either case, powers of
//! 1024), names as listed (either case). A bad value prints one warning
//! naming the variable, the value, the accepted form or range, and the
//! default it keeps.

use crate::os::StackBuf;
use core::fmt::Write;

/// How empty slabs beyond the hot cache go back to the OS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reclaim {
    /// `madvise(MADV_DONTNEED)`: RSS drops at once; reuse faults in zero pages.
    DontNeed,
    /// `madvise(MADV_FREE)`: the kernel takes the pages when it needs them.
    Free,
    /// Keep the pages; the slab is still reused by any class.
    Off,
}

/// What to do on a double or invalid free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Print the diagnosis and abort, as glibc does.
    Abort,
    /// Print the diagnosis, ignore the call and continue.
    Warn,
}

/// Verbosity of zslab's `tracing` log on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// A signal number (0: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal(pub i32);

impl Value for Signal {
    fn parse(s: &[u8]) -> Option<Self> {
        let l = lower(s);
        // SIG goes before signal names only ("SIGOFF" is no form).
        if l.as_bytes() == b"off" {
            return Some(Signal(0));
        }
        let name = l.as_bytes();
        let name = name.strip_prefix(b"sig").unwrap_or(name);
        Some(Signal(match name {
            b"usr1" => libc::SIGUSR1,
            b"usr2" => libc::SIGUSR2,
            b"hup" => libc::SIGHUP,
            b"winch" => libc::SIGWINCH,
            _ => {
                let n = parse_number(s, false)?;
                // KILL and STOP cannot be caught; 32 and 33 are glibc's
                // own (its sigaction refuses them).
                if n == 0
                    || n > 64
                    || n == libc::SIGKILL as u64
                    || n == libc::SIGSTOP as u64
                    || n == 32
                    || n == 33
                {
                    return None;
                }
                n as i32
            }
        }))
    }
    fn form() -> &'static str {
        "off, USR1, USR2, HUP, WINCH (with or without SIG) or a signal number 1-64 (not KILL, STOP, 32, 33)"
    }
    fn show(&self, out: &mut StackBuf<512>) {
        let _ = match self.0 {
            0 => write!(out, "off"),
            libc::SIGUSR1 => write!(out, "USR1"),
            libc::SIGUSR2 => write!(out, "USR2"),
            libc::SIGHUP => write!(out, "HUP"),
            libc::SIGWINCH => write!(out, "WINCH"),
            n => write!(out, "{n}"),
        };
    }
}

/// A path-like string stored inline.
#[derive(Clone, Copy)]
pub struct Text {
    buf: [u8; 256],
    len: usize,
}

impl Text {
    pub const fn empty() -> Self {
        Text {
            buf: [0; 256],
            len: 0,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// How a value is read from its environment string and shown back.
pub trait Value: Sized + Copy {
    fn parse(s: &[u8]) -> Option<Self>;
    /// The accepted forms, for a warning.
    fn form() -> &'static str;
    fn show(&self, out: &mut StackBuf<512>);
    /// The value as a number, for range checks (numeric kinds only).
    fn number(&self) -> Option<u64> {
        None
    }
}

impl Value for bool {
    fn parse(s: &[u8]) -> Option<Self> {
        match lower(s).as_bytes() {
            b"1" | b"true" | b"yes" | b"on" => Some(true),
            b"0" | b"false" | b"no" | b"off" => Some(false),
            _ => None,
        }
    }
    fn form() -> &'static str {
        "a boolean (1/0/true/false/yes/no/on/off)"
    }
    fn show(&self, out: &mut StackBuf<512>) {
        let _ = write!(out, "{}", if *self { "on" } else { "off" });
    }
}

/// A plain count (no suffix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count(pub u64);

impl Value for Count {
    fn parse(s: &[u8]) -> Option<Self> {
        parse_number(s, false).map(Count)
    }
    fn form() -> &'static str {
        "a number (decimal digits)"
    }
    fn show(&self, out: &mut StackBuf<512>) {
        let _ = write!(out, "{}", self.0);
    }
    fn number(&self) -> Option<u64> {
        Some(self.0)
    }
}

/// A byte size, accepting K/M/G (powers of 1024) suffixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl Value for Bytes {
    fn parse(s: &[u8]) -> Option<Self> {
        parse_number(s, true).map(Bytes)
    }
    fn form() -> &'static str {
        "a size (decimal digits, optionally followed by K, M, G or T)"
    }
    fn show(&self, out: &mut StackBuf<512>) {
        let v = self.0;
        let _ = if v >= 1 << 40 && v % (1 << 40) == 0 {
            write!(out, "{}T", v >> 40)
        } else if v >= 1 << 30 && v % (1 << 30) == 0 {
            write!(out, "{}G", v >> 30)
        } else if v >= 1 << 20 && v % (1 << 20) == 0 {
            write!(out, "{}M", v >> 20)
        } else if v >= 1 << 10 && v % (1 << 10) == 0 {
            write!(out, "{}K", v >> 10)
        } else {
            write!(out, "{v}")
        };
    }
    fn number(&self) -> Option<u64> {
        Some(self.0)
    }
}

impl Value for Reclaim {
    fn parse(s: &[u8]) -> Option<Self> {
        match lower(s).as_bytes() {
            b"dontneed" => Some(Reclaim::DontNeed),
            b"free" => Some(Reclaim::Free),
            b"off" => Some(Reclaim::Off),
            _ => None,
        }
    }
    fn form() -> &'static str {
        "one of dontneed, free, off"
    }
    fn show(&self, out: &mut StackBuf<512>) {
        let _ = out.write_str(match self {
            Reclaim::DontNeed => "dontneed",
            Reclaim::Free => "free",
            Reclaim::Off => "off",
        });
    }
}

impl Value for OnError {
    fn parse(s: &[u8]) -> Option<Self> {
        match lower(s).as_bytes() {
            b"abort" => Some(OnError::Abort),
            b"warn" => Some(OnError::Warn),
            _ => None,
        }
    }
    fn form() -> &'static str {
        "one of abort, warn"
    }
    fn show(&self, out: &mut StackBuf<512>) {
        let _ = out.write_str(match self {
            OnError::Abort => "abort",
            OnError::Warn => "warn",
        });
    }
}

impl Value for LogLevel {
    fn parse(s: &[u8]) -> Option<Self> {
        Some(match lower(s).as_bytes() {
            b"off" => LogLevel::Off,
            b"error" => LogLevel::Error,
            b"warn" => LogLevel::Warn,
            b"info" => LogLevel::Info,
            b"debug" => LogLevel::Debug,
            b"trace" => LogLevel::Trace,
            _ => return None,
        })
    }
    fn form() -> &'static str {
        "one of off, error, warn, info, debug, trace"
    }
    fn show(&self, out: &mut StackBuf<512>) {
        let _ = out.write_str(match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        });
    }
}

impl Value for Text {
    fn parse(s: &[u8]) -> Option<Self> {
        if s.len() > 255 {
            return None;
        }
        let mut t = Text::empty();
        for (d, &c) in t.buf.iter_mut().zip(s) {
            *d = c;
        }
        t.len = s.len();
        Some(t)
    }
    fn form() -> &'static str {
        "a path of at most 255 bytes"
    }
    fn show(&self, out: &mut StackBuf<512>) {
        if self.is_empty() {
            let _ = out.write_str("(unset)");
        } else {
            out.push_bytes(self.as_bytes());
        }
    }
}

/// Documentation row of one variable, for `ZSLAB_VERBOSE` and the README.
pub struct VarDoc {
    pub name: &'static str,
    pub default: &'static str,
    pub unit: &'static str,
    pub meaning: &'static str,
}

macro_rules! config_table {
    ($( $field:ident : $ty:ty = $default:expr, $name:literal, $shown:literal, $unit:literal, $meaning:literal; )*) => {
        /// The resolved configuration.
        #[derive(Clone, Copy)]
        pub struct Config { $( pub $field: $ty, )* }

        impl Config {
            /// Every variable at its default.
            pub const fn defaults() -> Self {
                Config { $( $field: $default, )* }
            }

            /// Resolve every variable with `lookup(name)`, warning through
            /// `warn(name, value, problem, default)` about values that do
            /// not parse (problem: the accepted form) or are out of range
            /// (problem: the range).
            pub fn resolve(
                lookup: &dyn Fn(&[u8]) -> Option<&'static [u8]>,
                warn: &dyn Fn(&str, &[u8], Problem, &str),
            ) -> Self {
                let mut c = Self::defaults();
                $(
                    if let Some(v) = lookup($name.as_bytes()) {
                        match <$ty as Value>::parse(v) {
                            Some(x) => match range($name) {
                                Some((lo, hi)) if x.number().is_some_and(|n| n < lo || n > hi) => {
                                    warn($name, v, Problem::Range(lo, hi), $shown)
                                }
                                _ => c.$field = x,
                            },
                            None => warn($name, v, Problem::Form(<$ty as Value>::form()), $shown),
                        }
                    }
                )*
                c
            }

            /// Print `NAME=value` for every variable, one per line, to `fd`.
            pub fn print(&self, fd: i32) {
                $(
                    let mut b = StackBuf::<512>::new();
                    let _ = write!(b, "zslab: {}=", $name);
                    self.$field.show(&mut b);
                    b.push_bytes(b"\n");
                    let _ = crate::os::write_fd(fd, b.as_bytes());
                )*
            }
        }

        /// One row per variable: name, default, unit, meaning.
        pub const VARS: &[VarDoc] = &[
            $( VarDoc { name: $name, default: $shown, unit: $unit, meaning: $meaning }, )*
        ];
    };
}

config_table! {
    reclaim: Reclaim = Reclaim::DontNeed, "ZSLAB_RECLAIM", "dontneed", "dontneed|free|off",
        "How pages go back to the OS: MADV_DONTNEED (RSS drops at once), MADV_FREE (the kernel takes them when it needs memory), or kept.";
    purge_ms: Count = Count(100), "ZSLAB_PURGE_MS", "100", "milliseconds",
        "How long a span that thinned out waits before its pages without live objects go back (unless it fills up again). A heap whose frees outrun its allocations (a phase ended) gives them back at once instead; a heap whose returned pages are needed again soon after doubles this for itself (up to 10 s).";
    cache_slabs: Count = Count(4), "ZSLAB_CACHE_SLABS", "4", "slabs per size class",
        "Empty spans kept per size class for quick reuse before their pages are returned, in 64 KiB slabs' worth (0-64; 0 disables the cache). While a class cycles through more empty spans than that, its bound doubles up to 64 spans, and halves back once the class is calm for ZSLAB_DECAY_MS.";
    huge_cache: Bytes = Bytes(64 << 20), "ZSLAB_HUGE_CACHE", "64M", "bytes (K/M/G/T)",
        "Freed huge blocks (above 1 MiB) kept for reuse before their pages are returned; doubles while the program keeps needing more.";
    decay_ms: Count = Count(1000), "ZSLAB_DECAY_MS", "1000", "milliseconds",
        "Cached empty spans and huge blocks older than this are returned to the OS too; 0 keeps them until malloc_trim/slab_reclaim.";
    epoch_ms: Count = Count(0), "ZSLAB_EPOCH_MS", "0 (off)", "milliseconds",
        "Advance the epoch automatically every N ms (checked as threads allocate).";
    epoch_allocs: Count = Count(0), "ZSLAB_EPOCH_ALLOCS", "0 (off)", "allocations",
        "Advance the epoch automatically after every N allocations (process-wide, counted as threads take objects out of spans).";
    region: Bytes = Bytes(2 << 40), "ZSLAB_REGION", "2T", "bytes (K/M/G/T)",
        "Virtual address space reserved for zslab's memory (not memory: pages are committed as used). Halved until the reservation succeeds; when it is full, requests fall back to glibc (counted, with a warning).";
    thp: bool = false, "ZSLAB_THP", "off", "boolean",
        "Allow transparent huge pages in the region (off: MADV_NOHUGEPAGE, so returned pages stay returned).";
    shared_chunks: bool = true, "ZSLAB_SHARED_CHUNKS", "on", "boolean",
        "Serve 64-byte objects from the 32-byte class's spans in 512-byte chunks (from the start, or once a thread has taken ZSLAB_SHARE_AFTER for objects of those two sizes), so that a phase's small objects of both sizes share pages and the few that outlive it pin fewer (off: each size keeps pages of its own).";
    share_after: Bytes = Bytes(4 << 20), "ZSLAB_SHARE_AFTER", "4M", "bytes (K/M/G/T)",
        "With ZSLAB_SHARED_CHUNKS on: memory a thread's heap sets up for 32- and 64-byte objects (in 64 KiB spans) while it allocates the two sizes together, before they start sharing chunks; 0 shares from the start. Below it a program's objects of these sizes are few, and sharing would only cost time (a loop of 64-byte objects alone takes about 1.5x the time shared); a program building phases of small objects passes it early in its first phase. Spans set up while one of the two sizes is allocated alone (the other less than an eighth as often) do not count: such a program gains nothing from sharing.";
    on_error: OnError = OnError::Abort, "ZSLAB_ON_ERROR", "abort", "abort|warn",
        "On a double or invalid free (or a freed pointer passed to realloc or malloc_usable_size): print the diagnosis and abort, or print it and ignore the call.";
    stats: bool = false, "ZSLAB_STATS", "off", "boolean",
        "Print a human-readable statistics summary to stderr at exit.";
    stats_file: Text = Text::empty(), "ZSLAB_STATS_FILE", "(unset)", "path",
        "Write the statistics to this file at exit (and on ZSLAB_STATS_SIGNAL, every ZSLAB_STATS_INTERVAL); %p in the path becomes the process id; the format follows the extension: .prom is Prometheus text exposition, anything else JSON. Written to a temporary file and renamed.";
    stats_signal: Signal = Signal(0), "ZSLAB_STATS_SIGNAL", "off", "signal",
        "On this signal, write a statistics snapshot to ZSLAB_STATS_FILE (default /tmp/zslab.<pid>.json) from zslab's background thread, while the program runs (zslab stats PID sends it).";
    stats_interval: Count = Count(0), "ZSLAB_STATS_INTERVAL", "0 (off)", "milliseconds",
        "Rewrite ZSLAB_STATS_FILE (default /tmp/zslab.<pid>.json) every N ms while the program runs.";
    leaks: bool = false, "ZSLAB_LEAKS", "off", "boolean",
        "At exit, report the epochs, size classes and huge blocks still holding live objects (with labels, ages and bytes, largest first) on stderr.";
    log: LogLevel = LogLevel::Warn, "ZSLAB_LOG", "warn", "off|error|warn|info|debug|trace",
        "Level of zslab's tracing log on stderr.";
    verbose: bool = false, "ZSLAB_VERBOSE", "off", "boolean",
        "Print the resolved configuration at start-up.";
    background: bool = true, "ZSLAB_BACKGROUND", "on", "boolean",
        "Let a background thread give back decayed caches, delayed purges and idle threads' remote frees while the program does not call the allocator, and write statistics on ZSLAB_STATS_SIGNAL/ZSLAB_STATS_INTERVAL. Started when the program creates a thread, when a thread exits, by the C API and malloc_trim, or at start-up when a stats signal or interval is set.";
    disable: bool = false, "ZSLAB_DISABLE", "off", "boolean",
        "Serve everything from glibc (zslab only forwards); an escape hatch for diagnosis.";
    fail_mmap: Count = Count(0), "ZSLAB_FAIL_MMAP", "0 (off)", "call number",
        "Failure injection for tests: zslab's N-th mmap call and every later one fail.";
    fail_madvise: Count = Count(0), "ZSLAB_FAIL_MADVISE", "0 (off)", "call number",
        "Failure injection for tests: zslab's N-th madvise call and every later one fail.";
    fail_thread: bool = false, "ZSLAB_FAIL_THREAD", "off", "boolean",
        "Failure injection for tests: creating zslab's background thread fails.";
}

/// Why a value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// It does not have the accepted form (described).
    Form(&'static str),
    /// It is outside this range (inclusive).
    Range(u64, u64),
}

/// Legal range of the numeric variables that have one; a value outside it
/// is refused like one that does not parse (warning, default kept).
pub fn range(name: &str) -> Option<(u64, u64)> {
    match name {
        "ZSLAB_CACHE_SLABS" => Some((0, 64)),
        "ZSLAB_REGION" => Some(((crate::sizeclass::SLAB_SIZE * 64) as u64, 1 << 46)),
        "ZSLAB_HUGE_CACHE" => Some((0, 1 << 40)),
        "ZSLAB_PURGE_MS" | "ZSLAB_DECAY_MS" | "ZSLAB_EPOCH_MS" | "ZSLAB_STATS_INTERVAL" => {
            Some((0, 86_400_000))
        }
        _ => None,
    }
}

fn lower(s: &[u8]) -> StackBuf<512> {
    let mut b = StackBuf::<512>::new();
    for &c in s {
        b.push_bytes(&[c.to_ascii_lowercase()]);
    }
    b
}

fn parse_number(s: &[u8], suffixes: bool) -> Option<u64> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s.get(..digits).unwrap_or(&[]) {
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    let shift = match s.get(digits..).unwrap_or(&[]) {
        b"" => 0,
        b"k" | b"K" if suffixes => 10,
        b"m" | b"M" if suffixes => 20,
        b"g" | b"G" if suffixes => 30,
        b"t" | b"T" if suffixes => 40,
        _ => return None,
    };
    v.checked_mul(1u64 << shift)
}

/// Look a variable up in the process environment without allocating.
pub fn getenv(name: &[u8]) -> Option<&'static [u8]> {
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: environ is maintained by libc; we only read it. Reading it
    // while another thread calls setenv is the same race getenv has.
    let mut p = unsafe { environ };
    if p.is_null() {
        return None;
    }
    loop {
        // SAFETY: environ is a NULL-terminated array of C strings.
        let entry = unsafe { *p };
        if entry.is_null() {
            return None;
        }
        // SAFETY: each entry is a NUL-terminated string that lives as long
        // as the process does not modify its environment.
        let bytes = unsafe { core::ffi::CStr::from_ptr(entry) }.to_bytes();
        if bytes.starts_with(name) && bytes.get(name.len()) == Some(&b'=') {
            return bytes.get(name.len() + 1..);
        }
        // SAFETY: not past the terminating NULL, checked above.
        p = unsafe { p.add(1) };
    }
}

/// Resolve the configuration from the real environment, warning on stderr.
pub fn from_env() -> Config {
    Config::resolve(&getenv, &|name, value, problem, default| {
        let mut b = crate::os::StackBuf::<512>::new();
        b.s("zslab: warning: ").s(name).s("=\"");
        b.push_bytes(value);
        match problem {
            Problem::Form(form) => {
                b.s("\" is not valid: expected ").s(form);
            }
            Problem::Range(lo, hi) => {
                b.s("\" is out of range: accepted ")
                    .dec(lo)
                    .s(" to ")
                    .dec(hi);
            }
        }
        b.s("; using ").s(default).s("\n");
        b.emit();
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn resolve(pairs: &[(&str, &'static str)]) -> (Config, Vec<String>) {
        let warnings = RefCell::new(Vec::new());
        let pairs: Vec<(String, &'static str)> =
            pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let c = Config::resolve(
            &|name| {
                pairs
                    .iter()
                    .find(|(k, _)| k.as_bytes() == name)
                    .map(|(_, v)| v.as_bytes())
            },
            &|name, _, _, _| warnings.borrow_mut().push(name.to_string()),
        );
        (c, warnings.into_inner())
    }

    #[test]
    fn defaults_without_environment() {
        let (c, w) = resolve(&[]);
        assert!(w.is_empty());
        assert_eq!(c.reclaim, Reclaim::DontNeed);
        assert_eq!(c.region, Bytes(2 << 40));
        assert_eq!(c.on_error, OnError::Abort);
    }

    #[test]
    fn good_values_take_effect() {
        let (c, w) = resolve(&[
            ("ZSLAB_RECLAIM", "FREE"),
            ("ZSLAB_CACHE_SLABS", "12"),
            ("ZSLAB_REGION", "2G"),
            ("ZSLAB_HUGE_CACHE", "1k"),
            ("ZSLAB_STATS", "yes"),
            ("ZSLAB_THP", "ON"),
            ("ZSLAB_ON_ERROR", "warn"),
            ("ZSLAB_LOG", "debug"),
            ("ZSLAB_STATS_FILE", "/tmp/s.%p.json"),
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.reclaim, Reclaim::Free);
        assert_eq!(c.cache_slabs, Count(12));
        assert_eq!(c.region, Bytes(2 << 30));
        assert_eq!(c.huge_cache, Bytes(1024));
        assert!(c.stats && c.thp);
        assert_eq!(c.on_error, OnError::Warn);
        assert_eq!(c.log, LogLevel::Debug);
        assert_eq!(c.stats_file.as_bytes(), b"/tmp/s.%p.json");
    }

    #[test]
    fn bad_values_warn_and_keep_defaults() {
        let (c, w) = resolve(&[
            ("ZSLAB_RECLAIM", "sometimes"),
            ("ZSLAB_CACHE_SLABS", "-3"),
            ("ZSLAB_REGION", "12X"),
            ("ZSLAB_STATS", "maybe"),
            ("ZSLAB_EPOCH_MS", ""),
            ("ZSLAB_DECAY_MS", "99999999999999999999999"),
        ]);
        assert_eq!(w.len(), 6, "{w:?}");
        assert_eq!(c.reclaim, Reclaim::DontNeed);
        assert_eq!(c.cache_slabs, Count(4));
        assert_eq!(c.region, Bytes(2 << 40));
        assert!(!c.stats);
        assert_eq!(c.epoch_ms, Count(0));
        assert_eq!(c.decay_ms, Count(1000));
    }

    #[test]
    fn out_of_range_values_warn_and_keep_defaults() {
        let (c, w) = resolve(&[("ZSLAB_CACHE_SLABS", "1000"), ("ZSLAB_REGION", "1M")]);
        assert_eq!(w, ["ZSLAB_CACHE_SLABS", "ZSLAB_REGION"]);
        assert_eq!(c.cache_slabs, Count(4));
        assert_eq!(c.region, Bytes(2 << 40));
        let (c, w) = resolve(&[("ZSLAB_CACHE_SLABS", "64"), ("ZSLAB_REGION", "4M")]);
        assert!(w.is_empty());
        assert_eq!((c.cache_slabs, c.region), (Count(64), Bytes(4 << 20)));
    }

    #[test]
    fn only_the_documented_forms_are_accepted() {
        for (var, bad) in [
            ("ZSLAB_REGION", "8KB"),
            ("ZSLAB_REGION", "1GiB"),
            ("ZSLAB_CACHE_SLABS", " 4"),
            ("ZSLAB_CACHE_SLABS", "4 "),
            ("ZSLAB_CACHE_SLABS", "4K"),
            ("ZSLAB_STATS", "y"),
            ("ZSLAB_RECLAIM", "none"),
            ("ZSLAB_STATS_SIGNAL", "KILL"),
            ("ZSLAB_STATS_SIGNAL", "9"),
            ("ZSLAB_STATS_SIGNAL", "65"),
        ] {
            let (_, w) = resolve(&[(var, bad)]);
            assert_eq!(w, [var], "{var}={bad:?} must be refused");
        }
        let (c, w) = resolve(&[
            ("ZSLAB_REGION", "1g"),
            ("ZSLAB_HUGE_CACHE", "16m"),
            ("ZSLAB_STATS_SIGNAL", "SIGUSR2"),
            ("ZSLAB_RECLAIM", "Free"),
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!((c.region, c.huge_cache), (Bytes(1 << 30), Bytes(16 << 20)));
        assert_eq!(c.stats_signal, Signal(libc::SIGUSR2));
        assert_eq!(
            resolve(&[("ZSLAB_STATS_SIGNAL", "usr1")]).0.stats_signal,
            Signal(libc::SIGUSR1)
        );
        assert_eq!(
            resolve(&[("ZSLAB_STATS_SIGNAL", "12")]).0.stats_signal,
            Signal(12)
        );
    }

    #[test]
    fn warnings_say_what_is_accepted() {
        let problems = RefCell::new(Vec::new());
        Config::resolve(
            &|name| match name {
                b"ZSLAB_CACHE_SLABS" => Some(b"65".as_slice()),
                b"ZSLAB_STATS" => Some(b"maybe".as_slice()),
                _ => None,
            },
            &|name, _, p, default| {
                problems
                    .borrow_mut()
                    .push((name.to_string(), p, default.to_string()))
            },
        );
        let p = problems.into_inner();
        assert_eq!(
            p[0],
            (
                "ZSLAB_CACHE_SLABS".into(),
                Problem::Range(0, 64),
                "4".into()
            )
        );
        assert_eq!(p[1].0, "ZSLAB_STATS");
        assert!(matches!(p[1].1, Problem::Form(f) if f.contains("true")));
    }

    #[test]
    fn every_variable_is_documented_in_the_readme() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        for v in VARS {
            assert!(readme.contains(v.name), "{} missing from README.md", v.name);
        }
    }
}
