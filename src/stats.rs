//! Statistics: versioned snapshots (global, per size class, per epoch) built
//! from the process counters, every heap's counts and one pass over the
//! spans in use (live objects per epoch and class), and their JSON and
//! human-readable renderings. Each struct's fields are listed once, in a
//! macro that declares the struct and lists its fields for the renderers.
//! Snapshots read relaxed counters, so a snapshot taken while threads
//! allocate is approximate but never torn per field. Rendering never
//! allocates (fixed buffers through `fmt::Write`).

use crate::counters::{self, COUNTERS};
use crate::epoch::{self, EPOCHS, LABEL_LEN};
use crate::heap;
use crate::os::{self, StackBuf};
use crate::region;
use crate::sizeclass::{NCLASS, NSMALL, SHARED_PAIR, class_size, span_bytes};
use crate::slab::State;
use core::fmt::{self, Write};
use core::sync::atomic::Ordering::Relaxed;

/// Version of the snapshot structs; bumped when a field changes meaning.
pub const STATS_VERSION: u32 = 2;

/// Declare a `#[repr(C)]` stats struct whose fields after `version` and
/// `size` are all `u64`, plus `FIELDS`: each field's name, whether it is a
/// counter (only grows) and its help text.
macro_rules! stats_struct {
    ($(#[$m:meta])* $name:ident { $( $f:ident : $kind:ident, $help:literal; )* } $($(#[$em:meta])* $extra:ident : $ety:ty;)*) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Default, Debug)]
        pub struct $name {
            pub version: u32,
            pub size: u32,
            $( #[doc = $help] pub $f: u64, )*
            $( $(#[$em])* pub $extra: $ety, )*
        }

        impl $name {
            /// (name, is a counter, help) of every u64 field, in order.
            pub const FIELDS: &'static [(&'static str, bool, &'static str)] = &[
                $( (stringify!($f), stats_struct!(@counter $kind), $help), )*
            ];

            /// The u64 fields' values, in the order of `FIELDS`.
            pub fn values(&self) -> [u64; Self::FIELDS.len()] {
                [ $( self.$f, )* ]
            }
        }
    };
    (@counter counter) => { true };
    (@counter gauge) => { false };
}

stats_struct! {
    /// Process-wide statistics (`struct zslab_global_stats` in zslab.h).
    GlobalStats {
        small_allocs: counter, "Allocations of small objects (16 B to 8 KiB).";
        small_frees: counter, "Frees of small objects.";
        medium_allocs: counter, "Allocations of medium objects (above 8 KiB to 1 MiB).";
        medium_frees: counter, "Frees of medium objects.";
        huge_allocs: counter, "Allocations of huge blocks (above 1 MiB).";
        huge_frees: counter, "Frees of huge blocks.";
        large_allocs: counter, "Allocations above 8 KiB (medium and huge).";
        large_frees: counter, "Frees above 8 KiB (medium and huge).";
        region_full_fallbacks: counter, "Blocks glibc served because zslab could not (its region was full or smaller than the request, or a thread heap could not be set up); requests glibc failed too are not counted.";
        live_objects: gauge, "Small and medium objects allocated and not freed.";
        live_bytes: gauge, "Bytes of live small and medium objects (block sizes).";
        huge_live_bytes: gauge, "Bytes of live huge blocks.";
        committed_bytes: gauge, "Resident memory zslab holds: pages of spans in use, cached spans and huge blocks, and kept unused pages.";
        active_bytes: gauge, "Committed bytes of spans in use.";
        cached_bytes: gauge, "Committed bytes of empty spans in the hot caches.";
        huge_cached_bytes: gauge, "Bytes of freed huge blocks kept for reuse.";
        unused_resident_bytes: gauge, "Bytes of unused slabs whose pages were kept.";
        slabs_in_use: gauge, "Spans in use (owned by a thread or orphaned).";
        cached_slabs: gauge, "Empty spans in the hot caches.";
        unused_slabs: gauge, "Unused slabs in the region's free runs.";
        region_reserved_bytes: gauge, "Address space reserved for zslab.";
        region_used_bytes: gauge, "Address space ever handed out.";
        madvise_calls: counter, "madvise calls giving pages back.";
        madvise_bytes: counter, "Bytes given back with madvise.";
        madvise_failures: counter, "madvise calls that failed (pages kept).";
        purges: counter, "Page-granular returns from spans in use.";
        purged_bytes: counter, "Bytes given back from spans in use.";
        drains: counter, "Phase ends detected (a heap's frees outran its allocations).";
        thrashes: counter, "Returned pages needed again soon after.";
        helped_spans: counter, "Spans whose pages another thread gave back for an idle owner.";
        cache_hits: counter, "Spans reused from a hot cache.";
        cache_misses: counter, "Spans taken from the region because no cached one was there.";
        cache_overflows: counter, "Empty spans pushed out of a full hot cache.";
        decayed_slabs: counter, "Cached spans given back after the decay delay.";
        refills: counter, "Spans set aside because they were full.";
        adopted_slabs: counter, "Spans adopted from exited threads.";
        recycled_slabs: counter, "Spans of closed epochs reused for the current epoch.";
        orphaned_slabs: counter, "Spans left by exiting threads.";
        retired_slabs: counter, "Spans retired by an epoch change.";
        remote_frees: counter, "Frees of objects allocated by another thread.";
        epoch_switches: counter, "Times a heap noticed an epoch advance.";
        double_frees: counter, "Double frees detected.";
        invalid_frees: counter, "Invalid pointers detected.";
        threads: counter, "Threads that got a heap.";
        huge_cache_hits: counter, "Huge blocks reused from the cache.";
        huge_grown_in_place: counter, "Huge blocks grown in place by realloc.";
        huge_remapped: counter, "Huge blocks moved with mremap by realloc.";
        lock_free_runs: counter, "Acquisitions of the region's free-run lock.";
        lock_class_pools: counter, "Acquisitions of class pool locks (hot caches, orphans).";
        lock_huge_cache: counter, "Acquisitions of the huge cache lock.";
        lock_purge_queue: counter, "Acquisitions of purge queue locks.";
        lock_heap_list: counter, "Acquisitions of the heap list lock (thread start and exit).";
        lock_epoch_advance: counter, "Acquisitions of the epoch advance lock.";
        purge_queue_len: gauge, "Spans waiting for their free pages to go back.";
        current_epoch: gauge, "The current epoch (0-15).";
        background_thread: gauge, "1 if the background thread runs.";
        current_era: gauge, "The current era (advances since start).";
        epoch_advances: counter, "Epoch advances.";
        rss_bytes: gauge, "Resident set size of the process.";
        pair_shared: counter, "Heaps whose 32- and 64-byte objects began sharing chunks (ZSLAB_SHARE_AFTER).";
    }
}

stats_struct! {
    /// Statistics of one size class (`struct zslab_class_stats`).
    ClassStats {
        class_index: gauge, "Class number.";
        object_size: gauge, "Block size of the class.";
        span_bytes: gauge, "Bytes of one span of the class.";
        allocs: counter, "Allocations.";
        frees: counter, "Frees.";
        live_objects: gauge, "Live objects.";
        live_bytes: gauge, "Bytes of live objects.";
        slabs: gauge, "Spans in use.";
        cached_slabs: gauge, "Empty spans in the hot cache.";
        committed_bytes: gauge, "Committed bytes of spans in use.";
        cache_hits: counter, "Spans reused from the hot cache.";
        cache_misses: counter, "Spans taken from the region.";
        cache_overflows: counter, "Spans pushed out of a full cache.";
        adopted: counter, "Spans adopted from exited threads.";
        recycled: counter, "Spans of closed epochs reused.";
        refills: counter, "Spans set aside full.";
        purged_bytes: counter, "Bytes given back from spans in use.";
    }
    /// 100 * cache hits / (cache hits + overflows): how often an empty span
    /// was reused rather than handed back.
    recycle_rate_pct: f64;
}

stats_struct! {
    /// Statistics of one epoch slot (`struct zslab_epoch_stats`).
    EpochStats {
        epoch: gauge, "Epoch slot (0-15).";
        state: gauge, "0 unused, 1 active, 2 closing.";
        era: gauge, "Era of the slot's current incarnation.";
        open_since_ns: gauge, "When the incarnation opened (monotonic ns).";
        age_ns: gauge, "How long it has been open.";
        live_objects: gauge, "Live small and medium objects.";
        live_bytes: gauge, "Bytes of those objects.";
        huge_blocks: gauge, "Live huge blocks allocated in the epoch.";
        huge_bytes: gauge, "Bytes of those blocks.";
        slabs: gauge, "Spans in use.";
        committed_bytes: gauge, "Committed bytes of those spans.";
        reclaimable_slabs: gauge, "Empty spans of this epoch in the hot caches (returned by close).";
        reclaimed_slabs: counter, "Spans of this epoch that emptied.";
        madvise_calls: counter, "madvise calls for memory of this epoch.";
        madvise_bytes: counter, "Bytes of this epoch given back.";
        rss_before_close: gauge, "RSS at the start of the last explicit close.";
        rss_after_close: gauge, "RSS at the end of the last explicit close.";
    }
    label: [u8; LABEL_LEN];
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
            *a += h.allocs(k);
        }
        g.remote_frees += h.remote_frees.load(Relaxed);
    });
    g.remote_frees += c.heapless_frees.load(Relaxed);
    // Live objects are counted per span (the fast paths keep no per-object
    // counters): one pass over the spans in use.
    for i in 0..region::frontier() {
        let Some(m) = region::meta(i) else { break };
        if m.state.get() == State::Active {
            let e = m.epoch.load(Relaxed) as usize % EPOCHS;
            let k = m.class.load(Relaxed) as usize % NCLASS;
            if k == SHARED_PAIR.0 {
                // A shared span holds objects of both classes of the pair.
                let [first, second] = m.live_by_kind();
                live[e][k] += first as i64;
                live[e][SHARED_PAIR.1] += second as i64;
            } else {
                live[e][k] += m.live_estimate() as i64;
            }
        }
    }
    // Free objects a heap's bin took out of its span's bitmap are not live.
    heap::for_each_heap(|h| {
        for (k, b) in h.bins[..NCLASS].iter().enumerate() {
            if let Some((epoch, n)) = b.held() {
                live[epoch % EPOCHS][k] -= n as i64;
            }
        }
    });

    let mut classes = [ClassStats::default(); NCLASS];
    for (k, cs) in classes.iter_mut().enumerate() {
        let cc = counters::class(k);
        let live_k = u(live.iter().map(|row| row[k]).sum());
        *cs = ClassStats {
            version: STATS_VERSION,
            size: core::mem::size_of::<ClassStats>() as u32,
            class_index: k as u64,
            object_size: class_size(k) as u64,
            span_bytes: span_bytes(k) as u64,
            allocs: allocs[k],
            frees: allocs[k].saturating_sub(live_k),
            live_objects: live_k,
            live_bytes: live_k * class_size(k) as u64,
            slabs: u(cc.spans.load(Relaxed)),
            cached_slabs: u(cc.cached_spans.load(Relaxed)),
            committed_bytes: u(cc.committed.load(Relaxed)),
            cache_hits: cc.cache_hit.load(Relaxed),
            cache_misses: cc.cache_miss.load(Relaxed),
            cache_overflows: cc.cache_overflow.load(Relaxed),
            adopted: cc.adopted.load(Relaxed),
            recycled: cc.recycled.load(Relaxed),
            refills: cc.refills.load(Relaxed),
            purged_bytes: cc.purged_bytes.load(Relaxed),
            recycle_rate_pct: 0.0,
        };
        let denom = cs.cache_hits + cs.cache_overflows;
        if denom > 0 {
            cs.recycle_rate_pct = 100.0 * cs.cache_hits as f64 / denom as f64;
        }
        if k < NSMALL {
            g.small_allocs += cs.allocs;
            g.small_frees += cs.frees;
        } else {
            g.medium_allocs += cs.allocs;
            g.medium_frees += cs.frees;
        }
        g.live_objects += cs.live_objects;
        g.live_bytes += cs.live_bytes;
        g.slabs_in_use += cs.slabs;
        g.cached_slabs += cs.cached_slabs;
        g.active_bytes += cs.committed_bytes;
        g.cache_hits += cs.cache_hits;
        g.cache_misses += cs.cache_misses;
        g.cache_overflows += cs.cache_overflows;
        g.adopted_slabs += cs.adopted;
        g.recycled_slabs += cs.recycled;
        g.refills += cs.refills;
    }

    let now = os::now_ns();
    let mut epochs = [EpochStats::default(); EPOCHS];
    for (e, es) in epochs.iter_mut().enumerate() {
        let slot = epoch::slot(e);
        let ec = counters::epoch(e);
        let open = slot.open_since_ns.load(Relaxed);
        *es = EpochStats {
            version: STATS_VERSION,
            size: core::mem::size_of::<EpochStats>() as u32,
            epoch: e as u64,
            state: slot.state.load(Relaxed) as u64,
            era: slot.era.load(Relaxed),
            open_since_ns: open,
            age_ns: if open > 0 {
                now.saturating_sub(open)
            } else {
                0
            },
            live_objects: u(live[e].iter().sum()),
            live_bytes: live[e]
                .iter()
                .enumerate()
                .map(|(k, &l)| u(l) * class_size(k) as u64)
                .sum(),
            huge_blocks: u(ec.huge_blocks.load(Relaxed)),
            huge_bytes: u(ec.huge_bytes.load(Relaxed)),
            slabs: u(ec.spans.load(Relaxed)),
            committed_bytes: u(ec.committed.load(Relaxed)),
            reclaimable_slabs: u(ec.cached_spans.load(Relaxed)),
            reclaimed_slabs: ec.reclaimed_spans.load(Relaxed),
            madvise_calls: ec.madvise_calls.load(Relaxed),
            madvise_bytes: ec.madvise_bytes.load(Relaxed),
            rss_before_close: slot.rss_before_close.load(Relaxed),
            rss_after_close: slot.rss_after_close.load(Relaxed),
            label: epoch::label(e),
        };
    }

    g.huge_allocs = c.huge_allocs.load(Relaxed);
    g.huge_frees = c.huge_frees.load(Relaxed);
    g.large_allocs = g.medium_allocs + g.huge_allocs;
    g.large_frees = g.medium_frees + g.huge_frees;
    g.region_full_fallbacks = c.region_full.load(Relaxed);
    g.huge_live_bytes = u(c.huge_live_bytes.load(Relaxed));
    g.cached_bytes = u(c.cached_bytes.load(Relaxed));
    g.huge_cached_bytes = u(c.huge_cached_bytes.load(Relaxed));
    g.unused_resident_bytes = u(c.unused_resident.load(Relaxed));
    g.committed_bytes = g.active_bytes
        + g.cached_bytes
        + g.unused_resident_bytes
        + g.huge_live_bytes
        + g.huge_cached_bytes;
    let (free_slabs, _) = region::free_stats();
    g.unused_slabs = free_slabs as u64;
    g.region_reserved_bytes = region::reserved() as u64;
    g.region_used_bytes = region::used_span() as u64;
    g.madvise_calls = c.madvise_calls.load(Relaxed);
    g.madvise_bytes = c.madvise_bytes.load(Relaxed);
    g.madvise_failures = c.madvise_failures.load(Relaxed);
    g.purges = c.purges.load(Relaxed);
    g.purged_bytes = c.purged_bytes.load(Relaxed);
    g.drains = c.drains.load(Relaxed);
    g.pair_shared = c.pair_shared.load(Relaxed);
    g.thrashes = c.thrashes.load(Relaxed);
    g.helped_spans = c.helped_spans.load(Relaxed);
    g.decayed_slabs = c.decayed_spans.load(Relaxed);
    g.orphaned_slabs = c.orphaned_spans.load(Relaxed);
    g.retired_slabs = c.retired_spans.load(Relaxed);
    g.epoch_switches = c.epoch_switches.load(Relaxed);
    g.double_frees = c.double_frees.load(Relaxed);
    g.invalid_frees = c.invalid_frees.load(Relaxed);
    g.threads = c.threads.load(Relaxed);
    g.huge_cache_hits = c.huge_cache_hits.load(Relaxed);
    g.huge_grown_in_place = c.huge_grown_in_place.load(Relaxed);
    g.huge_remapped = c.huge_remapped.load(Relaxed);
    g.lock_free_runs = region::LOCKS.load(Relaxed);
    g.lock_class_pools = c.lock_class_pool.load(Relaxed);
    g.lock_huge_cache = c.lock_huge.load(Relaxed);
    g.lock_purge_queue = c.lock_purge_queue.load(Relaxed);
    g.lock_heap_list = c.lock_heap_list.load(Relaxed);
    g.lock_epoch_advance = epoch::LOCKS.load(Relaxed);
    g.purge_queue_len = crate::pool::queued_purges();
    g.current_era = epoch::era();
    g.current_epoch = epoch::index(g.current_era) as u64;
    g.epoch_advances = epoch::advances();
    g.background_thread = crate::background::started() as u64;
    g.rss_bytes = os::rss_bytes();
    Snapshot {
        global: g,
        classes,
        epochs,
    }
}

/// Name of an epoch state.
pub fn state_name(s: u64) -> &'static str {
    match s as u8 {
        epoch::ACTIVE => "active",
        epoch::CLOSING => "closing",
        _ => "unused",
    }
}

/// The label as text (the valid UTF-8 prefix up to the first NUL).
pub fn label_str(l: &[u8; LABEL_LEN]) -> &str {
    let n = l.iter().position(|&b| b == 0).unwrap_or(LABEL_LEN);
    match core::str::from_utf8(&l[..n]) {
        Ok(s) => s,
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

/// Write `"name":value` for every u64 field of a stats struct.
fn json_u64s(w: &mut dyn Write, names: &[(&str, bool, &str)], values: &[u64]) -> fmt::Result {
    for (i, ((name, _, _), v)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        write!(w, "\"{name}\":{v}")?;
    }
    Ok(())
}

/// Render a snapshot as one JSON object.
pub fn write_json(w: &mut dyn Write, s: &Snapshot) -> fmt::Result {
    let g = &s.global;
    write!(
        w,
        "{{\"version\":{},\"zslab_version\":\"{}\",\"pid\":{},",
        g.version,
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    )?;
    json_u64s(w, GlobalStats::FIELDS, &g.values())?;
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
        json_u64s(w, ClassStats::FIELDS, &c.values())?;
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
        json_u64s(w, EpochStats::FIELDS, &e.values())?;
        write!(
            w,
            ",\"state_name\":\"{}\",\"label\":{}}}",
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
    writeln!(
        w,
        "zslab statistics (pid {}, zslab {})",
        std::process::id(),
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(
        w,
        "  allocs: small {} (frees {}), medium {} (frees {}), huge {} (frees {}); live {} objects ({:.2} MiB) + huge {:.2} MiB",
        g.small_allocs,
        g.small_frees,
        g.medium_allocs,
        g.medium_frees,
        g.huge_allocs,
        g.huge_frees,
        g.live_objects,
        mib(g.live_bytes),
        mib(g.huge_live_bytes)
    )?;
    writeln!(
        w,
        "  memory: committed {:.2} MiB (spans in use {:.2}, cached spans {:.2}, huge live {:.2}, huge cached {:.2}, idle {:.2}); rss {:.2} MiB",
        mib(g.committed_bytes),
        mib(g.active_bytes),
        mib(g.cached_bytes),
        mib(g.huge_live_bytes),
        mib(g.huge_cached_bytes),
        mib(g.unused_resident_bytes),
        mib(g.rss_bytes)
    )?;
    writeln!(
        w,
        "  spans: {} in use, {} cached; {} unused slabs; region {:.1} of {:.0} MiB used",
        g.slabs_in_use,
        g.cached_slabs,
        g.unused_slabs,
        mib(g.region_used_bytes),
        mib(g.region_reserved_bytes)
    )?;
    writeln!(
        w,
        "  return: {} madvise calls, {:.2} MiB, {} failures; {} page purges ({:.2} MiB); {} phase ends, {} thrashes; {} decayed; cache {} hits / {} misses / {} overflows",
        g.madvise_calls,
        mib(g.madvise_bytes),
        g.madvise_failures,
        g.purges,
        mib(g.purged_bytes),
        g.drains,
        g.thrashes,
        g.decayed_slabs,
        g.cache_hits,
        g.cache_misses,
        g.cache_overflows
    )?;
    writeln!(
        w,
        "  threads: {}; remote frees {}; spans adopted {}, orphaned {}, retired {}, recycled {}; errors: {} double, {} invalid; glibc fallbacks {}",
        g.threads,
        g.remote_frees,
        g.adopted_slabs,
        g.orphaned_slabs,
        g.retired_slabs,
        g.recycled_slabs,
        g.double_frees,
        g.invalid_frees,
        g.region_full_fallbacks
    )?;
    writeln!(
        w,
        "  epoch: current {} (era {}, {} advances)",
        g.current_epoch, g.current_era, g.epoch_advances
    )?;
    writeln!(
        w,
        "  class    size       allocs         live   spans  cached  committed"
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
        "  epoch  state        era         live   spans  committed  label"
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The u64 field names of `struct name` in include/zslab.h, in order.
    fn header_fields(header: &str, name: &str) -> Vec<String> {
        let start = header
            .find(&format!("struct {name} {{"))
            .unwrap_or_else(|| panic!("struct {name} missing from zslab.h"));
        let body = &header[start..start + header[start..].find("};").unwrap()];
        body.lines()
            .filter_map(|l| l.trim().strip_prefix("uint64_t "))
            .map(|l| l.split(';').next().unwrap().trim().to_string())
            .collect()
    }

    #[test]
    fn the_c_header_matches_the_structs() {
        let h = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/zslab.h"))
            .unwrap();
        for (name, fields) in [
            ("zslab_global_stats", GlobalStats::FIELDS),
            ("zslab_class_stats", ClassStats::FIELDS),
            ("zslab_epoch_stats", EpochStats::FIELDS),
        ] {
            let want: Vec<&str> = fields.iter().map(|f| f.0).collect();
            assert_eq!(header_fields(&h, name), want, "struct {name}");
        }
        assert!(h.contains(&format!("#define ZSLAB_STATS_VERSION {STATS_VERSION}")));
        assert_eq!(
            core::mem::size_of::<GlobalStats>(),
            8 + 8 * GlobalStats::FIELDS.len()
        );
    }

    #[test]
    fn json_has_every_field_once() {
        assert!(crate::init::ensure());
        let mut out = String::new();
        write_json(&mut out, &snapshot()).unwrap();
        let global = &out[..out.find("\"classes\":").unwrap()];
        for (f, _, _) in GlobalStats::FIELDS {
            assert_eq!(global.matches(&format!("\"{f}\":")).count(), 1, "{f}");
        }
        assert!(out.starts_with("{\"version\":2,"));
    }
}
