//! `zslab show`: a snapshot for humans. Global figures first, then the
//! busiest size classes (most live bytes), then every epoch in use with its
//! label and age. Figures missing from the snapshot print as `-`.

use crate::snapshot::{Record, Snapshot, epoch_name};
use crate::units::{Unit, bytes, duration_ns};
use std::fmt::Write;

pub struct ShowOptions {
    /// Classes to list (the busiest first); `None` lists them all.
    pub top: Option<usize>,
}

fn opt(v: Option<f64>, unit: Unit) -> String {
    v.map_or_else(|| "-".to_string(), |x| unit.show(x))
}

/// An epoch's state: a name (`state_name` in version 2, `state` before).
fn state(e: &Record) -> Option<&str> {
    e.text("state_name").or_else(|| e.text("state"))
}

fn c(s: &Snapshot, key: &str) -> String {
    opt(s.get(key), Unit::Count)
}

fn b(s: &Snapshot, key: &str) -> String {
    opt(s.get(key), Unit::Bytes)
}

/// The human view of one snapshot; `source` says where it came from.
pub fn render(s: &Snapshot, source: &str, o: &ShowOptions) -> String {
    let mut w = String::new();
    // Writing to a String cannot fail.
    let _ = write_snapshot(&mut w, s, source, o);
    w
}

fn write_snapshot(w: &mut String, s: &Snapshot, source: &str, o: &ShowOptions) -> std::fmt::Result {
    let pid = s.pid().map_or_else(|| "?".to_string(), |p| p.to_string());
    let version = s.version().unwrap_or_else(|| "?".to_string());
    write!(
        w,
        "zslab snapshot of pid {pid} ({source}; stats version {version}"
    )?;
    for (k, v) in s.strings() {
        write!(w, "; {k} {v}")?;
    }
    writeln!(w, ")")?;

    writeln!(
        w,
        "  small objects  {} allocs, {} frees, {} live ({})",
        c(s, "small_allocs"),
        c(s, "small_frees"),
        c(s, "live_objects"),
        b(s, "live_bytes")
    )?;
    if s.get("medium_allocs").is_some() {
        // Statistics version 2: every size is zslab's.
        writeln!(
            w,
            "  medium objects {} allocs, {} frees",
            c(s, "medium_allocs"),
            c(s, "medium_frees")
        )?;
        writeln!(
            w,
            "  huge blocks    {} allocs, {} frees, {} live; cache {} ({} hits), {} grown in place, {} moved",
            c(s, "huge_allocs"),
            c(s, "huge_frees"),
            b(s, "huge_live_bytes"),
            b(s, "huge_cached_bytes"),
            c(s, "huge_cache_hits"),
            c(s, "huge_grown_in_place"),
            c(s, "huge_remapped")
        )?;
    } else {
        writeln!(
            w,
            "  large (glibc)  {} allocs, {} frees",
            c(s, "large_allocs"),
            c(s, "large_frees")
        )?;
    }
    writeln!(
        w,
        "  memory         committed {} (in use {}, cached empty {}, idle {}); RSS {}",
        b(s, "committed_bytes"),
        b(s, "active_bytes"),
        b(s, "cached_bytes"),
        b(s, "unused_resident_bytes"),
        b(s, "rss_bytes")
    )?;
    writeln!(
        w,
        "  slabs          {} in use, {} cached, {} unused; region {} used of {} reserved",
        c(s, "slabs_in_use"),
        c(s, "cached_slabs"),
        c(s, "unused_slabs"),
        b(s, "region_used_bytes"),
        b(s, "region_reserved_bytes")
    )?;
    writeln!(
        w,
        "  reclaim        {} madvise calls returned {} ({} failed), {} slabs decayed",
        c(s, "madvise_calls"),
        b(s, "madvise_bytes"),
        c(s, "madvise_failures"),
        c(s, "decayed_slabs")
    )?;
    if s.get("purges").is_some() {
        writeln!(
            w,
            "  page return    {} purges of spans in use ({}); {} phase ends, {} thrashes; {} queued; {} idle heaps' spans helped",
            c(s, "purges"),
            b(s, "purged_bytes"),
            c(s, "drains"),
            c(s, "thrashes"),
            c(s, "purge_queue_len"),
            c(s, "helped_spans")
        )?;
    }
    writeln!(
        w,
        "  slab cache     {} hits, {} misses, {} overflows; {} refills",
        c(s, "cache_hits"),
        c(s, "cache_misses"),
        c(s, "cache_overflows"),
        c(s, "refills")
    )?;
    let bg = match s.get("background_thread") {
        Some(x) if x != 0.0 => "running",
        Some(_) => "not running",
        None => "-",
    };
    writeln!(
        w,
        "  threads        {} (background thread {bg}); {} remote frees; slabs adopted {}, orphaned {}, retired {}, recycled {}",
        c(s, "threads"),
        c(s, "remote_frees"),
        c(s, "adopted_slabs"),
        c(s, "orphaned_slabs"),
        c(s, "retired_slabs"),
        c(s, "recycled_slabs")
    )?;
    writeln!(
        w,
        "  errors         {} double frees, {} invalid frees; {} small requests sent to glibc (region full)",
        c(s, "double_frees"),
        c(s, "invalid_frees"),
        c(s, "region_full_fallbacks")
    )?;
    writeln!(
        w,
        "  epochs         current {} (era {}), {} advances, {} heap switches",
        c(s, "current_epoch"),
        c(s, "current_era"),
        c(s, "epoch_advances"),
        c(s, "epoch_switches")
    )?;
    if s.get("lock_free_runs").is_some() {
        writeln!(
            w,
            "  shared locks   free runs {}, class pools {}, huge cache {}, purge queue {}, heap list {}, epoch advance {}",
            c(s, "lock_free_runs"),
            c(s, "lock_class_pools"),
            c(s, "lock_huge_cache"),
            c(s, "lock_purge_queue"),
            c(s, "lock_heap_list"),
            c(s, "lock_epoch_advance")
        )?;
    }
    let others = s.other_numbers();
    if !others.is_empty() {
        let list: Vec<String> = others
            .iter()
            .map(|(k, v)| format!("{k} {}", Unit::of(k).show(*v)))
            .collect();
        writeln!(w, "  other          {}", list.join(", "))?;
    }
    let sections = s.other_sections();
    if !sections.is_empty() {
        let list: Vec<String> = sections
            .iter()
            .map(|(k, n)| format!("{k} ({n} entries)"))
            .collect();
        writeln!(
            w,
            "  also recorded  {} (not shown; see the JSON)",
            list.join(", ")
        )?;
    }

    write_classes(w, s, o)?;
    write_epochs(w, s)
}

fn cell(r: &Record, key: &str, unit: Unit) -> String {
    opt(r.num(key), unit)
}

/// Classes ordered busiest first: most live bytes, then most committed
/// bytes, then most allocations.
pub fn busiest_classes(s: &Snapshot) -> Vec<&Record> {
    let mut v: Vec<&Record> = s.classes.iter().collect();
    let k = |r: &Record| {
        (
            r.num("live_bytes").unwrap_or(0.0),
            r.num("committed_bytes").unwrap_or(0.0),
            r.num("allocs").unwrap_or(0.0),
        )
    };
    v.sort_by(|a, b| k(b).partial_cmp(&k(a)).unwrap_or(std::cmp::Ordering::Equal));
    v
}

fn write_classes(w: &mut String, s: &Snapshot, o: &ShowOptions) -> std::fmt::Result {
    writeln!(w)?;
    if s.classes.is_empty() {
        return writeln!(w, "size classes: none in use");
    }
    let all = busiest_classes(s);
    let n = o.top.unwrap_or(all.len()).min(all.len());
    writeln!(
        w,
        "size classes, most live bytes first ({n} of {} in use shown):",
        all.len()
    )?;
    writeln!(
        w,
        "  {:>6} {:>12} {:>12} {:>10} {:>11} {:>6} {:>6} {:>11} {:>8}",
        "size", "allocs", "frees", "live", "live bytes", "slabs", "cached", "committed", "recycle"
    )?;
    for r in all.iter().take(n) {
        writeln!(
            w,
            "  {:>6} {:>12} {:>12} {:>10} {:>11} {:>6} {:>6} {:>11} {:>8}",
            r.num("object_size")
                .map_or_else(|| "-".to_string(), |x| x.to_string()),
            cell(r, "allocs", Unit::Count),
            cell(r, "frees", Unit::Count),
            cell(r, "live_objects", Unit::Count),
            cell(r, "live_bytes", Unit::Bytes),
            cell(r, "slabs", Unit::Count),
            cell(r, "cached_slabs", Unit::Count),
            cell(r, "committed_bytes", Unit::Bytes),
            cell(r, "recycle_rate_pct", Unit::Percent),
        )?;
    }
    Ok(())
}

fn write_epochs(w: &mut String, s: &Snapshot) -> std::fmt::Result {
    writeln!(w)?;
    if s.epochs.is_empty() {
        return writeln!(w, "epochs: none in use");
    }
    let mut epochs: Vec<&Record> = s.epochs.iter().collect();
    // Oldest incarnation first.
    epochs.sort_by_key(|e| {
        (
            e.num("era").map_or(u64::MAX, |x| x as u64),
            e.num("epoch").map_or(u64::MAX, |x| x as u64),
        )
    });
    let current = s.get("current_epoch");
    writeln!(w, "epochs in use (oldest first):")?;
    writeln!(
        w,
        "  {:>5} {:>6} {:<8} {:>9} {:>10} {:>11} {:>6} {:>11} {:>10}  label",
        "epoch", "era", "state", "age", "live", "live bytes", "slabs", "committed", "reclaimed"
    )?;
    for e in &epochs {
        let mark = if current.is_some() && e.num("epoch") == current && state(e) == Some("active") {
            "*"
        } else {
            " "
        };
        let label = e.text("label").unwrap_or("");
        writeln!(
            w,
            " {mark}{:>5} {:>6} {:<8} {:>9} {:>10} {:>11} {:>6} {:>11} {:>10}  {}",
            cell(e, "epoch", Unit::Count),
            cell(e, "era", Unit::Count),
            state(e).unwrap_or("-"),
            e.num("age_ns").map_or_else(|| "-".to_string(), duration_ns),
            cell(e, "live_objects", Unit::Count),
            cell(e, "live_bytes", Unit::Bytes),
            cell(e, "slabs", Unit::Count),
            cell(e, "committed_bytes", Unit::Bytes),
            cell(e, "reclaimed_slabs", Unit::Count),
            label
        )?;
    }
    // RSS around closes, where an epoch was closed explicitly.
    for e in &epochs {
        let (Some(before), Some(after)) = (e.num("rss_before_close"), e.num("rss_after_close"))
        else {
            continue;
        };
        if before > 0.0 || after > 0.0 {
            writeln!(
                w,
                "  {} closed: RSS {} -> {}",
                epoch_name(e),
                bytes(before),
                bytes(after)
            )?;
        }
    }
    if epochs.iter().any(|e| e.num("epoch") == current) {
        writeln!(
            w,
            "  (* the current epoch; live counts are objects not yet freed)"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::SAMPLE;

    #[test]
    fn shows_global_classes_and_epochs() {
        let s = Snapshot::parse(SAMPLE).unwrap();
        let out = render(&s, "t.json", &ShowOptions { top: Some(2) });
        assert!(out.starts_with("zslab snapshot of pid 26019 (t.json; stats version 1)"));
        assert!(out.contains("115,861 allocs, 113,477 frees, 2,384 live (329.8 KiB)"));
        assert!(out.contains("committed 6.1 MiB"));
        assert!(out.contains("(2 of 3 in use shown)"));
        // Busiest first: 256-byte class (200 KiB live) before 32-byte one.
        let p256 = out.find("     256 ").unwrap();
        let p32 = out.find("      32 ").unwrap();
        assert!(p256 < p32);
        assert!(!out.contains("      16 "), "only the top 2 classes:\n{out}");
        assert!(out.contains("startup"));
        assert!(out.contains("82.6 ms"));
        assert!(out.contains("closing"));
    }

    #[test]
    fn version_2_shows_medium_huge_return_and_state_names() {
        let s = Snapshot::parse(
            r#"{"version":2,"pid":7,"small_allocs":10,"medium_allocs":4,"medium_frees":1,
            "huge_allocs":2,"huge_frees":1,"huge_live_bytes":3145728,"huge_cached_bytes":0,
            "huge_cache_hits":1,"huge_grown_in_place":0,"huge_remapped":0,"purges":5,
            "purged_bytes":8192,"drains":1,"thrashes":0,"purge_queue_len":0,
            "lock_free_runs":3,"lock_class_pools":4,"lock_huge_cache":2,"lock_purge_queue":1,
            "lock_heap_list":2,"lock_epoch_advance":0,"current_epoch":1,
            "epochs":[{"epoch":1,"era":1,"state":1,"state_name":"active","label":"req"}]}"#,
        )
        .unwrap();
        let out = render(&s, "v2.json", &ShowOptions { top: None });
        assert!(out.contains("medium objects 4 allocs, 1 frees"), "{out}");
        assert!(
            out.contains("huge blocks    2 allocs, 1 frees, 3.0 MiB live"),
            "{out}"
        );
        assert!(
            out.contains("5 purges of spans in use (8.0 KiB); 1 phase ends"),
            "{out}"
        );
        assert!(out.contains("class pools 4"), "{out}");
        assert!(!out.contains("large (glibc)"), "{out}");
        assert!(
            !out.contains("other "),
            "every version 2 figure has its place:\n{out}"
        );
        assert!(out.contains(" *    1      1 active"), "{out}");
    }

    #[test]
    fn missing_figures_show_as_dashes() {
        let s = Snapshot::parse(r#"{"pid":3,"live_bytes":100,"leaked_bytes":2048,"leaks":[]}"#)
            .unwrap();
        let out = render(&s, "x", &ShowOptions { top: None });
        assert!(out.contains("- allocs, - frees, - live (100 B)"), "{out}");
        assert!(out.contains("other          leaked_bytes 2.0 KiB"), "{out}");
        assert!(out.contains("leaks (0 entries)"), "{out}");
        assert!(out.contains("size classes: none in use"));
        assert!(out.contains("epochs: none in use"));
    }
}
