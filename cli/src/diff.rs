//! `zslab diff A B`: what grew or shrank between two snapshots. Global
//! figures (byte sizes, then counts, then durations), size classes (by
//! object size) and epochs (by slot and era: a slot reused after the ring
//! wraps is a new epoch), each list sorted by the size of the change.
//! Figures that did not change are left out; a figure present in only one
//! snapshot counts as a change from or to nothing.

use crate::snapshot::{Record, Snapshot, class_key, epoch_key, epoch_name};
use crate::units::{Unit, percent_change};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Top-level numbers that identify a snapshot rather than measure anything.
const IDENTITY: &[&str] = &["version", "pid", "current_epoch", "background_thread"];

/// One changed figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub key: String,
    pub unit: Unit,
    pub a: Option<f64>,
    pub b: Option<f64>,
}

impl Change {
    pub fn delta(&self) -> f64 {
        self.b.unwrap_or(0.0) - self.a.unwrap_or(0.0)
    }
}

fn unit_rank(u: Unit) -> u8 {
    match u {
        Unit::Bytes => 0,
        Unit::Count => 1,
        Unit::Nanos => 2,
        Unit::Percent => 3,
    }
}

fn by_magnitude(x: f64, y: f64) -> std::cmp::Ordering {
    y.abs()
        .partial_cmp(&x.abs())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// Changed top-level figures: grouped by unit (bytes, counts, durations,
/// percentages), largest change first within each group.
pub fn global_changes(a: &Snapshot, b: &Snapshot) -> Vec<Change> {
    let mut keys: Vec<&str> = a.top.numeric_fields().map(|(k, _)| k).collect();
    for (k, _) in b.top.numeric_fields() {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut out: Vec<Change> = keys
        .into_iter()
        .filter(|k| !IDENTITY.contains(k))
        .map(|k| Change {
            key: k.to_string(),
            unit: Unit::of(k),
            a: a.get(k),
            b: b.get(k),
        })
        .filter(|c| c.a != c.b)
        .collect();
    out.sort_by(|x, y| {
        unit_rank(x.unit)
            .cmp(&unit_rank(y.unit))
            .then(by_magnitude(x.delta(), y.delta()))
            .then(x.key.cmp(&y.key))
    });
    out
}

/// The figures compared per class and per epoch, in column order; the first
/// one orders the list.
const ENTRY_FIELDS: &[&str] = &[
    "live_bytes",
    "committed_bytes",
    "live_objects",
    "allocs",
    "slabs",
];

/// Fields of a class or epoch that identify it, or change with time alone.
const ENTRY_SKIP: &[&str] = &[
    "class_index",
    "object_size",
    "epoch",
    "era",
    "open_since_ns",
    "age_ns",
    "version",
    "size",
];

/// A class or epoch in one or both snapshots.
#[derive(Clone, Debug)]
pub struct EntryChange<'s> {
    pub name: String,
    pub a: Option<&'s Record>,
    pub b: Option<&'s Record>,
}

impl EntryChange<'_> {
    pub fn field(&self, key: &str) -> Change {
        Change {
            key: key.to_string(),
            unit: Unit::of(key),
            a: self.a.and_then(|r| r.num(key)),
            b: self.b.and_then(|r| r.num(key)),
        }
    }

    fn sort_key(&self) -> Vec<f64> {
        ENTRY_FIELDS
            .iter()
            .map(|f| self.field(f).delta().abs())
            .collect()
    }

    /// Every figure that differs (identity fields and ages left out): the
    /// main ones in ENTRY_FIELDS order, then the rest by size of change.
    pub fn changes(&self) -> Vec<Change> {
        let mut keys: Vec<&str> = Vec::new();
        for r in [self.a, self.b].into_iter().flatten() {
            for (k, _) in r.numeric_fields() {
                if !ENTRY_SKIP.contains(&k) && !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        let mut v: Vec<Change> = keys
            .into_iter()
            .map(|k| self.field(k))
            .filter(|c| c.a != c.b)
            .collect();
        let rank = |c: &Change| {
            ENTRY_FIELDS
                .iter()
                .position(|f| *f == c.key)
                .unwrap_or(ENTRY_FIELDS.len())
        };
        v.sort_by(|x, y| {
            rank(x)
                .cmp(&rank(y))
                .then(by_magnitude(x.delta(), y.delta()))
                .then(x.key.cmp(&y.key))
        });
        v
    }

    fn changed(&self) -> bool {
        self.a.is_none() || self.b.is_none() || !self.changes().is_empty()
    }

    pub fn status(&self) -> &'static str {
        match (self.a, self.b) {
            (None, Some(_)) => "new",
            (Some(_), None) => "gone",
            _ => "changed",
        }
    }
}

fn sort_entries(v: &mut [EntryChange<'_>]) {
    v.sort_by(|x, y| {
        let (kx, ky) = (x.sort_key(), y.sort_key());
        ky.partial_cmp(&kx).unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// Changed size classes, largest change in live bytes first (then
/// committed bytes, live objects, allocations).
pub fn class_changes<'s>(a: &'s Snapshot, b: &'s Snapshot) -> Vec<EntryChange<'s>> {
    let mut m: BTreeMap<Option<u64>, EntryChange<'s>> = BTreeMap::new();
    for (side, snap) in [(0, a), (1, b)] {
        for r in &snap.classes {
            let k = class_key(r);
            let e = m.entry(k).or_insert_with(|| EntryChange {
                name: k.map_or_else(|| "?".to_string(), |s| s.to_string()),
                a: None,
                b: None,
            });
            if side == 0 {
                e.a = Some(r)
            } else {
                e.b = Some(r)
            }
        }
    }
    let mut v: Vec<EntryChange<'s>> = m.into_values().filter(|e| e.changed()).collect();
    sort_entries(&mut v);
    v
}

/// Changed epochs (new, gone, or with different figures), largest change
/// in live bytes first.
pub fn epoch_changes<'s>(a: &'s Snapshot, b: &'s Snapshot) -> Vec<EntryChange<'s>> {
    type Key = (Option<u64>, Option<u64>);
    let mut m: BTreeMap<Key, EntryChange<'s>> = BTreeMap::new();
    for (side, snap) in [(0, a), (1, b)] {
        for r in &snap.epochs {
            let e = m.entry(epoch_key(r)).or_insert_with(|| EntryChange {
                name: epoch_name(r),
                a: None,
                b: None,
            });
            if side == 0 {
                e.a = Some(r)
            } else {
                // The newer snapshot's label is the one to show.
                e.name = epoch_name(r);
                e.b = Some(r)
            }
        }
    }
    let mut v: Vec<EntryChange<'s>> = m.into_values().filter(|e| e.changed()).collect();
    sort_entries(&mut v);
    v
}

pub struct DiffOptions {
    /// Classes and epochs to list; `None` lists them all.
    pub top: Option<usize>,
}

fn opt(v: Option<f64>, unit: Unit) -> String {
    v.map_or_else(|| "-".to_string(), |x| unit.show(x))
}

fn change_text(c: &Change) -> String {
    let pct = match (c.a, c.b) {
        (Some(a), Some(b)) => percent_change(a, b)
            .map(|p| format!(" ({p:+.0}%)"))
            .unwrap_or_default(),
        _ => String::new(),
    };
    format!("{}{pct}", c.unit.show_delta(c.delta()))
}

/// The whole comparison as text.
pub fn render(a: &Snapshot, an: &str, b: &Snapshot, bn: &str, o: &DiffOptions) -> String {
    let mut w = String::new();
    // Writing to a String cannot fail.
    let _ = write_diff(&mut w, a, an, b, bn, o);
    w
}

fn write_diff(
    w: &mut String,
    a: &Snapshot,
    an: &str,
    b: &Snapshot,
    bn: &str,
    o: &DiffOptions,
) -> std::fmt::Result {
    let pid = |s: &Snapshot| s.pid().map_or_else(|| "?".to_string(), |p| p.to_string());
    writeln!(
        w,
        "zslab diff: {an} (pid {}) -> {bn} (pid {})",
        pid(a),
        pid(b)
    )?;
    if let (Some(x), Some(y)) = (a.get("current_epoch"), b.get("current_epoch")) {
        if x != y {
            writeln!(w, "  current epoch {x} -> {y}")?;
        }
    }

    let g = global_changes(a, b);
    writeln!(w)?;
    if g.is_empty() {
        writeln!(w, "global figures: no change")?;
    } else {
        writeln!(
            w,
            "global figures, largest change first (byte sizes, then counts):"
        )?;
        for c in &g {
            writeln!(
                w,
                "  {:<24} {:>12} -> {:<12} {}",
                c.key,
                opt(c.a, c.unit),
                opt(c.b, c.unit),
                change_text(c)
            )?;
        }
    }

    let cl = class_changes(a, b);
    writeln!(w)?;
    if cl.is_empty() {
        writeln!(w, "size classes: no change")?;
    } else {
        let n = o.top.unwrap_or(cl.len()).min(cl.len());
        writeln!(
            w,
            "size classes, largest change in live bytes first ({n} of {} changed shown):",
            cl.len()
        )?;
        writeln!(
            w,
            "  {:>6} {:<8} {:>30} {:>14} {:>12} {:>12}",
            "size", "", "live bytes", "committed", "live", "allocs"
        )?;
        for e in cl.iter().take(n) {
            let lb = e.field("live_bytes");
            writeln!(
                w,
                "  {:>6} {:<8} {:>30} {:>14} {:>12} {:>12}",
                e.name,
                e.status(),
                format!(
                    "{} ({} -> {})",
                    lb.unit.show_delta(lb.delta()),
                    opt(lb.a, lb.unit),
                    opt(lb.b, lb.unit)
                ),
                Unit::Bytes.show_delta(e.field("committed_bytes").delta()),
                Unit::Count.show_delta(e.field("live_objects").delta()),
                Unit::Count.show_delta(e.field("allocs").delta()),
            )?;
        }
    }

    let ep = epoch_changes(a, b);
    writeln!(w)?;
    if ep.is_empty() {
        writeln!(w, "epochs: no change")?;
    } else {
        let n = o.top.unwrap_or(ep.len()).min(ep.len());
        writeln!(
            w,
            "epochs, largest change in live bytes first ({n} of {} changed shown):",
            ep.len()
        )?;
        for e in ep.iter().take(n) {
            let mut changes = e.changes();
            if !changes.iter().any(|c| c.key == "live_bytes") {
                changes.insert(0, e.field("live_bytes"));
            }
            let parts: Vec<String> = changes
                .iter()
                .map(|c| {
                    format!(
                        "{} {} -> {} ({})",
                        c.key.replace('_', " "),
                        opt(c.a, c.unit),
                        opt(c.b, c.unit),
                        c.unit.show_delta(c.delta())
                    )
                })
                .collect();
            writeln!(w, "  {} ({})", e.name, e.status())?;
            writeln!(w, "      {}", parts.join(", "))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(s: &str) -> Snapshot {
        Snapshot::parse(s).unwrap()
    }

    #[test]
    fn global_changes_are_grouped_by_unit_and_sorted_by_magnitude() {
        let a = snap(
            r#"{"version":1,"pid":1,"live_bytes":1000,"committed_bytes":65536,"rss_bytes":10000000,
                "small_allocs":10,"threads":1,"madvise_calls":5,"current_epoch":0}"#,
        );
        let b = snap(
            r#"{"version":1,"pid":2,"live_bytes":500,"committed_bytes":1048576,"rss_bytes":10000000,
                "small_allocs":100010,"threads":3,"madvise_calls":5,"current_epoch":4,"leaked_bytes":64}"#,
        );
        let g = global_changes(&a, &b);
        let keys: Vec<&str> = g.iter().map(|c| c.key.as_str()).collect();
        // Bytes first by |delta| (committed +983040, live -500, leaked +64 from
        // nothing), then counts; unchanged figures and identity fields omitted.
        assert_eq!(
            keys,
            [
                "committed_bytes",
                "live_bytes",
                "leaked_bytes",
                "small_allocs",
                "threads"
            ]
        );
        assert_eq!(g[1].delta(), -500.0);
        assert_eq!(g[2].a, None);
        assert_eq!(g[2].delta(), 64.0);
    }

    #[test]
    fn classes_match_by_object_size_and_sort_by_live_bytes_change() {
        let a = snap(
            r#"{"pid":1,"classes":[
                {"class_index":0,"object_size":16,"live_bytes":160,"allocs":10},
                {"class_index":4,"object_size":64,"live_bytes":6400,"allocs":100},
                {"class_index":9,"object_size":512,"live_bytes":512,"allocs":1}]}"#,
        );
        let b = snap(
            r#"{"pid":2,"classes":[
                {"class_index":0,"object_size":16,"live_bytes":160,"allocs":10},
                {"class_index":4,"object_size":64,"live_bytes":640,"allocs":100},
                {"class_index":12,"object_size":1024,"live_bytes":102400,"allocs":100}]}"#,
        );
        let v = class_changes(&a, &b);
        let names: Vec<(&str, &str)> = v.iter().map(|e| (e.name.as_str(), e.status())).collect();
        assert_eq!(names, [("1024", "new"), ("64", "changed"), ("512", "gone")]);
        assert_eq!(v[1].field("live_bytes").delta(), -5760.0);
    }

    #[test]
    fn epochs_match_by_slot_and_era() {
        let a = snap(
            r#"{"pid":1,"epochs":[
                {"epoch":0,"era":0,"live_bytes":100,"label":"startup"},
                {"epoch":1,"era":1,"live_bytes":5000,"label":""}]}"#,
        );
        let b = snap(
            r#"{"pid":1,"epochs":[
                {"epoch":0,"era":0,"live_bytes":100,"label":"startup"},
                {"epoch":1,"era":17,"live_bytes":70000,"label":"request"}]}"#,
        );
        let v = epoch_changes(&a, &b);
        let names: Vec<(&str, &str)> = v.iter().map(|e| (e.name.as_str(), e.status())).collect();
        assert_eq!(
            names,
            [
                ("epoch 1 (era 17) \"request\"", "new"),
                ("epoch 1 (era 1)", "gone")
            ]
        );
    }

    #[test]
    fn epochs_changed_in_other_figures_are_listed_but_ages_are_not() {
        let a = snap(
            r#"{"pid":1,"epochs":[{"epoch":0,"era":0,"live_bytes":0,"age_ns":5,"reclaimed_slabs":2},
                                  {"epoch":1,"era":1,"live_bytes":0,"age_ns":5}]}"#,
        );
        let b = snap(
            r#"{"pid":2,"epochs":[{"epoch":0,"era":0,"live_bytes":0,"age_ns":9,"reclaimed_slabs":250},
                                  {"epoch":1,"era":1,"live_bytes":0,"age_ns":9}]}"#,
        );
        let v = epoch_changes(&a, &b);
        assert_eq!(v.len(), 1);
        let c = v[0].changes();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].key, "reclaimed_slabs");
        let out = render(&a, "a", &b, "b", &DiffOptions { top: None });
        assert!(
            out.contains("live bytes 0 B -> 0 B (+0 B), reclaimed slabs 2 -> 250 (+248)"),
            "{out}"
        );
    }

    #[test]
    fn identical_snapshots_show_no_change() {
        let a = snap(crate::snapshot::tests::SAMPLE);
        let out = render(&a, "a", &a, "b", &DiffOptions { top: None });
        assert!(out.contains("global figures: no change"), "{out}");
        assert!(out.contains("size classes: no change"));
        assert!(out.contains("epochs: no change"));
    }

    #[test]
    fn rendering_names_both_sides_and_signs() {
        let a = snap(r#"{"pid":1,"live_bytes":1048576,"small_allocs":10}"#);
        let b = snap(r#"{"pid":2,"live_bytes":3145728,"small_allocs":5}"#);
        let out = render(&a, "a.json", &b, "b.json", &DiffOptions { top: Some(5) });
        assert!(out.starts_with("zslab diff: a.json (pid 1) -> b.json (pid 2)"));
        assert!(out.contains("live_bytes"));
        assert!(out.contains("+2.0 MiB (+200%)"), "{out}");
        assert!(out.contains("-5 (-50%)"), "{out}");
    }
}
