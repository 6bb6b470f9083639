//! Statistics: versioned snapshots (global, per size class, per epoch) built
//! from the process counters, every heap's allocation counts and one pass
//! over the slabs in use (live objects per epoch and class), and their
//! JSON and human-readable renderings. Snapshots read relaxed counters, so a
//! snapshot taken while threads allocate is approximate but never torn per
//! field. Rendering never allocates (fixed buffers through `fmt::Write`).

use crate::counters::COUNTERS;
use crate::epoch::{self, EPOCHS, LABEL_LEN};
use crate::heap;
use crate::os::{self, StackBuf};
use crate::region;
use crate::sizeclass::{NCLASS, class_size};
use crate::slab::STATE_ACTIVE;
use core::fmt::{self, Write};
use core::sync::atomic::Ordering::Relaxed;

/// Version of the snapshot structs; bumped when a field changes meaning.
pub const STATS_VERSION: u32 = 1;

/// Process-wide statistics (`struct zslab_global_stats` in zslab.h).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct GlobalStats {
    pub version: u32,
    pub size: u32,
    pub small_allocs: u64,
    pub small_frees: u64,
    pub live_objects: u64,
    pub live_bytes: u64,
    pub large_allocs: u64,
    pub large_frees: u64,
    pub committed_bytes: u64,
    pub active_bytes: u64,
    pub cached_bytes: u64,
    pub unused_resident_bytes: u64,
    pub slabs_in_use: u64,
    pub cached_slabs: u64,
    pub unused_slabs: u64,
    pub region_reserved_bytes: u64,
    pub region_used_bytes: u64,
    pub madvise_calls: u64,
    pub madvise_bytes: u64,
    pub madvise_failures: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_overflows: u64,
    pub decayed_slabs: u64,
    pub refills: u64,
    pub adopted_slabs: u64,
    pub orphaned_slabs: u64,
    pub retired_slabs: u64,
    pub remote_frees: u64,
    pub epoch_switches: u64,
    pub region_full_fallbacks: u64,
    pub double_frees: u64,
    pub invalid_frees: u64,
    pub threads: u64,
    pub current_epoch: u32,
    pub background_thread: u32,
    pub current_era: u64,
    pub epoch_advances: u64,
    pub rss_bytes: u64,
}

/// Statistics of one size class (`struct zslab_class_stats`).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct ClassStats {
    pub version: u32,
    pub size: u32,
    pub class_index: u32,
    pub object_size: u32,
    pub allocs: u64,
    pub frees: u64,
    pub live_objects: u64,
    pub live_bytes: u64,
    pub slabs: u64,
    pub cached_slabs: u64,
    pub committed_bytes: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_overflows: u64,
    pub adopted: u64,
    pub refills: u64,
    /// 100 * cache hits / (cache hits + overflows): how often an empty slab
    /// was reused rather than handed back.
    pub recycle_rate_pct: f64,
}

/// Statistics of one epoch slot (`struct zslab_epoch_stats`).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct EpochStats {
    pub version: u32,
    pub size: u32,
    pub epoch: u32,
    /// 0 unused, 1 active, 2 closing.
    pub state: u32,
    pub era: u64,
    pub open_since_ns: u64,
    pub age_ns: u64,
    pub live_objects: u64,
    pub live_bytes: u64,
    pub slabs: u64,
    pub committed_bytes: u64,
    /// Empty slabs of this epoch in the hot cache (returned by close).
    pub reclaimable_slabs: u64,
    pub reclaimed_slabs: u64,
    pub madvise_calls: u64,
    pub madvise_bytes: u64,
    pub rss_before_close: u64,
    pub rss_after_close: u64,
    pub label: [u8; LABEL_LEN],
}

/// Everything at once.
pub struct Snapshot {
    pub global: GlobalStats,
    pub classes: [ClassStats; NCLASS],
    pub epochs: [EpochStats; EPOCHS],
}

fn u(v: i64) -> u64 {
    v.max(0) as u64
}

/// Take a snapshot of every statistic.
pub fn snapshot() -> Snapshot {
    let c = &COUNTERS;
    let mut allocs = [0u64; NCLASS];
    let mut live = [[0i64; NCLASS]; EPOCHS];
    let mut g = GlobalStats {
        version: STATS_VERSION,
        size: core::mem::size_of::<GlobalStats>() as u32,
        ..Default::default()
    };
    heap::for_each_heap(|h| {
        for (k, a) in allocs.iter_mut().enumerate() {
            *a += h.bins[k].allocs.load(Relaxed);
        }
        g.large_allocs += h.large_allocs.load(Relaxed);
        g.large_frees += h.large_frees.load(Relaxed);
        g.remote_frees += h.remote_frees.load(Relaxed);
    });
    g.remote_frees += c.heapless_frees.load(Relaxed);
    // Live objects are counted per slab (the fast paths keep no per-object
    // counters beyond the allocation count): one pass over the slabs in use.
    for i in 0..region::frontier() {
        let m = region::meta(i);
        if m.state.load(Relaxed) == STATE_ACTIVE {
            let e = m.epoch.load(Relaxed) as usize % EPOCHS;
            let k = m.class.load(Relaxed) as usize % NCLASS;
            live[e][k] += m.live_estimate() as i64;
        }
    }
    // Free objects a heap's bin took out of its slab's bitmap are not live.
    heap::for_each_heap(|h| {
        for (k, b) in h.bins[..NCLASS].iter().enumerate() {
            if let Some((epoch, n)) = b.held() {
                live[epoch % EPOCHS][k] -= n as i64;
            }
        }
    });

    let mut classes = [ClassStats::default(); NCLASS];
    for (k, cs) in classes.iter_mut().enumerate() {
        let cc = &c.classes[k];
        let live_k: i64 = live.iter().map(|row| row[k]).sum();
        let live_k = u(live_k);
        *cs = ClassStats {
            version: STATS_VERSION,
            size: core::mem::size_of::<ClassStats>() as u32,
            class_index: k as u32,
            object_size: class_size(k) as u32,
            allocs: allocs[k],
            frees: allocs[k].saturating_sub(live_k),
            live_objects: live_k,
            live_bytes: live_k * class_size(k) as u64,
            slabs: u(cc.slabs.load(Relaxed)),
            cached_slabs: u(cc.cached_slabs.load(Relaxed)),
            committed_bytes: u(cc.committed.load(Relaxed)),
            cache_hits: cc.cache_hit.load(Relaxed),
            cache_misses: cc.cache_miss.load(Relaxed),
            cache_overflows: cc.cache_overflow.load(Relaxed),
            adopted: cc.adopted.load(Relaxed),
            refills: cc.refills.load(Relaxed),
            recycle_rate_pct: 0.0,
        };
        let denom = cs.cache_hits + cs.cache_overflows;
        if denom > 0 {
            cs.recycle_rate_pct = 100.0 * cs.cache_hits as f64 / denom as f64;
        }
        g.small_allocs += cs.allocs;
        g.small_frees += cs.frees;
        g.live_objects += cs.live_objects;
        g.live_bytes += cs.live_bytes;
        g.slabs_in_use += cs.slabs;
        g.cached_slabs += cs.cached_slabs;
        g.active_bytes += cs.committed_bytes;
        g.cache_hits += cs.cache_hits;
        g.cache_misses += cs.cache_misses;
        g.cache_overflows += cs.cache_overflows;
        g.adopted_slabs += cs.adopted;
        g.refills += cs.refills;
    }

    let now = os::now_ns();
    let mut epochs = [EpochStats::default(); EPOCHS];
    for (e, es) in epochs.iter_mut().enumerate() {
        let slot = epoch::slot(e);
        let ec = &c.epochs[e];
        let live_e = u(live[e].iter().sum());
        let bytes_e: u64 = live[e]
            .iter()
            .enumerate()
            .map(|(k, &l)| u(l) * class_size(k) as u64)
            .sum();
        let open = slot.open_since_ns.load(Relaxed);
        *es = EpochStats {
            version: STATS_VERSION,
            size: core::mem::size_of::<EpochStats>() as u32,
            epoch: e as u32,
            state: slot.state.load(Relaxed) as u32,
            era: slot.era.load(Relaxed),
            open_since_ns: open,
            age_ns: if open > 0 {
                now.saturating_sub(open)
            } else {
                0
            },
            live_objects: live_e,
            live_bytes: bytes_e,
            slabs: u(ec.slabs.load(Relaxed)),
            committed_bytes: u(ec.committed.load(Relaxed)),
            reclaimable_slabs: u(ec.cached_slabs.load(Relaxed)),
            reclaimed_slabs: ec.reclaimed_slabs.load(Relaxed),
            madvise_calls: ec.madvise_calls.load(Relaxed),
            madvise_bytes: ec.madvise_bytes.load(Relaxed),
            rss_before_close: slot.rss_before_close.load(Relaxed),
            rss_after_close: slot.rss_after_close.load(Relaxed),
            label: epoch::label(e),
        };
    }

    g.cached_bytes = u(c.cached_bytes.load(Relaxed));
    g.unused_resident_bytes = u(c.unused_resident.load(Relaxed));
    g.committed_bytes = g.active_bytes + g.cached_bytes + g.unused_resident_bytes;
    g.unused_slabs = region::unused_count() as u64;
    g.region_reserved_bytes = region::reserved() as u64;
    g.region_used_bytes = region::used_span() as u64;
    g.madvise_calls = c.madvise_calls.load(Relaxed);
    g.madvise_bytes = c.madvise_bytes.load(Relaxed);
    g.madvise_failures = c.madvise_failures.load(Relaxed);
    g.decayed_slabs = c.decayed_slabs.load(Relaxed);
    g.orphaned_slabs = c.orphaned_slabs.load(Relaxed);
    g.retired_slabs = c.retired_slabs.load(Relaxed);
    g.epoch_switches = c.epoch_switches.load(Relaxed);
    g.region_full_fallbacks = c.region_full.load(Relaxed);
    g.double_frees = c.double_frees.load(Relaxed);
    g.invalid_frees = c.invalid_frees.load(Relaxed);
    g.threads = c.threads.load(Relaxed);
    g.current_era = epoch::era();
    g.current_epoch = epoch::index(g.current_era) as u32;
    g.epoch_advances = epoch::advances();
    g.background_thread = crate::background::started() as u32;
    g.rss_bytes = os::rss_bytes();
    Snapshot {
        global: g,
        classes,
        epochs,
    }
}

fn state_name(s: u32) -> &'static str {
    match s as u8 {
        epoch::ACTIVE => "active",
        epoch::CLOSING => "closing",
        _ => "unused",
    }
}

fn label_str(l: &[u8; LABEL_LEN]) -> &str {
    let n = l.iter().position(|&b| b == 0).unwrap_or(LABEL_LEN);
    match core::str::from_utf8(&l[..n]) {
        Ok(s) => s,
        // Not UTF-8: show the part that is.
        Err(e) => core::str::from_utf8(&l[..e.valid_up_to()]).unwrap_or(""),
    }
}

/// A JSON string literal (escaping quotes, backslashes and controls).
struct JsonStr<'a>(&'a str);

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for ch in self.0.chars() {
            match ch {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

macro_rules! json_fields {
    ($w:expr, $s:expr, $first:ident $(, $f:ident)*) => {{
        write!($w, "\"{}\":{}", stringify!($first), $s.$first)?;
        $( write!($w, ",\"{}\":{}", stringify!($f), $s.$f)?; )*
    }};
}

/// Render a snapshot as one JSON object.
pub fn write_json(w: &mut dyn Write, s: &Snapshot) -> fmt::Result {
    let g = &s.global;
    write!(
        w,
        "{{\"version\":{},\"pid\":{},",
        g.version,
        std::process::id()
    )?;
    json_fields!(
        w,
        g,
        small_allocs,
        small_frees,
        live_objects,
        live_bytes,
        large_allocs,
        large_frees,
        committed_bytes,
        active_bytes,
        cached_bytes,
        unused_resident_bytes,
        slabs_in_use,
        cached_slabs,
        unused_slabs,
        region_reserved_bytes,
        region_used_bytes,
        madvise_calls,
        madvise_bytes,
        madvise_failures,
        cache_hits,
        cache_misses,
        cache_overflows,
        decayed_slabs,
        refills,
        adopted_slabs,
        orphaned_slabs,
        retired_slabs,
        remote_frees,
        epoch_switches,
        region_full_fallbacks,
        double_frees,
        invalid_frees,
        threads,
        current_epoch,
        background_thread,
        current_era,
        epoch_advances,
        rss_bytes
    );
    w.write_str(",\"classes\":[")?;
    let mut first = true;
    for c in &s.classes {
        if c.allocs == 0 && c.slabs == 0 && c.cached_slabs == 0 {
            continue;
        }
        if !first {
            w.write_char(',')?;
        }
        first = false;
        w.write_char('{')?;
        json_fields!(
            w,
            c,
            class_index,
            object_size,
            allocs,
            frees,
            live_objects,
            live_bytes,
            slabs,
            cached_slabs,
            committed_bytes,
            cache_hits,
            cache_misses,
            cache_overflows,
            adopted,
            refills
        );
        write!(w, ",\"recycle_rate_pct\":{:.1}}}", c.recycle_rate_pct)?;
    }
    w.write_str("],\"epochs\":[")?;
    let mut first = true;
    for e in &s.epochs {
        if e.state == 0 && e.slabs == 0 && e.live_objects == 0 {
            continue;
        }
        if !first {
            w.write_char(',')?;
        }
        first = false;
        w.write_char('{')?;
        json_fields!(
            w,
            e,
            epoch,
            era,
            open_since_ns,
            age_ns,
            live_objects,
            live_bytes,
            slabs,
            committed_bytes,
            reclaimable_slabs,
            reclaimed_slabs,
            madvise_calls,
            madvise_bytes,
            rss_before_close,
            rss_after_close
        );
        write!(
            w,
            ",\"state\":\"{}\",\"label\":{}}}",
            state_name(e.state),
            JsonStr(label_str(&e.label))
        )?;
    }
    w.write_str("]}\n")
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Render a snapshot for humans.
pub fn write_text(w: &mut dyn Write, s: &Snapshot) -> fmt::Result {
    let g = &s.global;
    writeln!(w, "zslab statistics (pid {})", std::process::id())?;
    writeln!(
        w,
        "  small: {} allocs, {} frees, {} live ({:.2} MiB); large (glibc): {} allocs, {} frees",
        g.small_allocs,
        g.small_frees,
        g.live_objects,
        mib(g.live_bytes),
        g.large_allocs,
        g.large_frees
    )?;
    writeln!(
        w,
        "  memory: committed {:.2} MiB (in use {:.2}, cached empty {:.2}, idle {:.2}); rss {:.2} MiB",
        mib(g.committed_bytes),
        mib(g.active_bytes),
        mib(g.cached_bytes),
        mib(g.unused_resident_bytes),
        mib(g.rss_bytes)
    )?;
    writeln!(
        w,
        "  slabs: {} in use, {} cached, {} unused; region {:.1} of {:.0} MiB used",
        g.slabs_in_use,
        g.cached_slabs,
        g.unused_slabs,
        mib(g.region_used_bytes),
        mib(g.region_reserved_bytes)
    )?;
    writeln!(
        w,
        "  reclaim: {} madvise calls, {:.2} MiB returned, {} failures, {} decayed; cache {} hits / {} misses / {} overflows",
        g.madvise_calls,
        mib(g.madvise_bytes),
        g.madvise_failures,
        g.decayed_slabs,
        g.cache_hits,
        g.cache_misses,
        g.cache_overflows
    )?;
    writeln!(
        w,
        "  threads: {}; remote frees {}; slabs adopted {}, orphaned {}, retired {}; errors: {} double, {} invalid frees",
        g.threads,
        g.remote_frees,
        g.adopted_slabs,
        g.orphaned_slabs,
        g.retired_slabs,
        g.double_frees,
        g.invalid_frees
    )?;
    writeln!(
        w,
        "  epoch: current {} (era {}, {} advances)",
        g.current_epoch, g.current_era, g.epoch_advances
    )?;
    writeln!(
        w,
        "  class    size       allocs         live   slabs  cached  committed"
    )?;
    for c in &s.classes {
        if c.allocs == 0 && c.slabs == 0 {
            continue;
        }
        writeln!(
            w,
            "  {:>5} {:>7} {:>12} {:>12} {:>7} {:>7} {:>8.2}M",
            c.class_index,
            c.object_size,
            c.allocs,
            c.live_objects,
            c.slabs,
            c.cached_slabs,
            mib(c.committed_bytes)
        )?;
    }
    writeln!(
        w,
        "  epoch  state        era         live   slabs  committed  label"
    )?;
    for e in &s.epochs {
        if e.state == 0 {
            continue;
        }
        writeln!(
            w,
            "  {:>5} {:>8} {:>10} {:>12} {:>7} {:>9.2}M  {}",
            e.epoch,
            state_name(e.state),
            e.era,
            e.live_objects,
            e.slabs,
            mib(e.committed_bytes),
            label_str(&e.label)
        )?;
    }
    Ok(())
}

/// A `fmt::Write` into a file descriptor through a stack buffer.
pub struct FdWriter {
    fd: i32,
    buf: StackBuf<4096>,
    ok: bool,
}

impl FdWriter {
    pub fn new(fd: i32) -> Self {
        FdWriter {
            fd,
            buf: StackBuf::new(),
            ok: true,
        }
    }
    /// Write out what is buffered; returns whether every write so far
    /// succeeded.
    pub fn flush(&mut self) -> bool {
        if !self.buf.is_empty() {
            self.ok &= os::write_fd(self.fd, self.buf.as_bytes());
            self.buf.clear();
        }
        self.ok
    }
}

impl Write for FdWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut b = s.as_bytes();
        while !b.is_empty() {
            if self.buf.len() == 4096 {
                self.flush();
            }
            let room = 4096 - self.buf.len();
            let n = room.min(b.len());
            self.buf.push_bytes(&b[..n]);
            b = &b[n..];
        }
        Ok(())
    }
}

impl Drop for FdWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// A duplicate of stderr taken at start-up when ZSLAB_STATS is on: programs
/// like `ls` close fd 2 in their own exit handlers, which run before
/// zslab's.
static STATS_FD: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(-1);

/// Keep a way to stderr for the exit report (called from the constructor).
pub fn keep_stderr() {
    if crate::global::config().stats {
        STATS_FD.store(os::dup_high(2, 64), Relaxed);
    }
}

/// A `fmt::Write` into a caller's buffer: writes what fits (keeping room for
/// a NUL), counts everything.
pub struct SliceWriter<'a> {
    pub buf: &'a mut [u8],
    pub total: usize,
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let cap = self.buf.len().saturating_sub(1);
        if self.total < cap {
            let n = (cap - self.total).min(s.len());
            self.buf[self.total..self.total + n].copy_from_slice(&s.as_bytes()[..n]);
        }
        self.total += s.len();
        Ok(())
    }
}

/// Called at exit: print the summary and write the JSON file if asked.
pub fn exit_report() {
    let c = crate::global::config();
    if !crate::global::enabled() || (!c.stats && c.stats_file.is_empty()) {
        return;
    }
    heap::drain_current();
    let s = snapshot();
    if c.stats {
        let dup = STATS_FD.load(Relaxed);
        let fd = if os::fd_is_open(2) || dup < 0 { 2 } else { dup };
        let mut w = FdWriter::new(fd);
        let _ = write_text(&mut w, &s);
    }
    if !c.stats_file.is_empty() {
        let mut path = StackBuf::<512>::new();
        let raw = c.stats_file.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'%' && raw.get(i + 1) == Some(&b'p') {
                let _ = write!(path, "{}", std::process::id());
                i += 2;
            } else {
                path.push_bytes(&raw[i..i + 1]);
                i += 1;
            }
        }
        path.push_bytes(b"\0");
        // SAFETY: path is NUL-terminated.
        let fd = unsafe {
            libc::open(
                path.as_bytes().as_ptr().cast(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                0o644,
            )
        };
        if fd < 0 {
            crate::eprint_raw!(
                "zslab: warning: cannot write ZSLAB_STATS_FILE ({})\n",
                os::errno()
            );
            return;
        }
        {
            let mut w = FdWriter::new(fd);
            let _ = write_json(&mut w, &s);
        }
        // SAFETY: fd was opened above.
        unsafe { libc::close(fd) };
    }
}
