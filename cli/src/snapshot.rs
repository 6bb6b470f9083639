//! A statistics snapshot as zslab writes it (`ZSLAB_STATS_FILE`, a stats
//! signal, `slab_stats_json`), read leniently: one JSON object with global
//! figures at the top level, a `classes` array and an `epochs` array. Keys
//! this command does not know are kept (shown as "other" figures, compared
//! by `diff`); keys that are missing read as absent, never as zero.

use serde_json::{Map, Value};

/// One JSON object (the top level, a class or an epoch) with typed lookups.
#[derive(Clone, Debug, Default)]
pub struct Record(pub Map<String, Value>);

impl Record {
    /// A numeric field (integers, floats, or numbers written as strings).
    pub fn num(&self, key: &str) -> Option<f64> {
        match self.0.get(key)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.as_str()
    }

    /// Numeric top-level fields, in key order.
    pub fn numeric_fields(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().filter_map(|(k, v)| {
            let x = match v {
                Value::Number(n) => n.as_f64()?,
                _ => return None,
            };
            Some((k.as_str(), x))
        })
    }
}

/// A parsed snapshot.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub top: Record,
    pub classes: Vec<Record>,
    pub epochs: Vec<Record>,
}

/// Top-level keys this command shows in their own place rather than under
/// "other".
pub const KNOWN_GLOBAL: &[&str] = &[
    "version",
    "pid",
    "small_allocs",
    "small_frees",
    "live_objects",
    "live_bytes",
    "large_allocs",
    "large_frees",
    "committed_bytes",
    "active_bytes",
    "cached_bytes",
    "unused_resident_bytes",
    "slabs_in_use",
    "cached_slabs",
    "unused_slabs",
    "region_reserved_bytes",
    "region_used_bytes",
    "madvise_calls",
    "madvise_bytes",
    "madvise_failures",
    "cache_hits",
    "cache_misses",
    "cache_overflows",
    "decayed_slabs",
    "refills",
    "adopted_slabs",
    "orphaned_slabs",
    "retired_slabs",
    "remote_frees",
    "epoch_switches",
    "region_full_fallbacks",
    "double_frees",
    "invalid_frees",
    "threads",
    "current_epoch",
    "background_thread",
    "current_era",
    "epoch_advances",
    "rss_bytes",
    // Version 2.
    "medium_allocs",
    "medium_frees",
    "huge_allocs",
    "huge_frees",
    "huge_live_bytes",
    "huge_cached_bytes",
    "huge_cache_hits",
    "huge_grown_in_place",
    "huge_remapped",
    "purges",
    "purged_bytes",
    "drains",
    "thrashes",
    "purge_queue_len",
    "lock_free_runs",
    "lock_class_pools",
    "lock_huge_cache",
    "lock_purge_queue",
    "lock_heap_list",
    "lock_epoch_advance",
    "helped_spans",
    "recycled_slabs",
    "zslab_version",
];

impl Snapshot {
    pub fn parse(text: &str) -> Result<Snapshot, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(mut top) = v else {
            return Err("not a zslab snapshot: the JSON is not an object".into());
        };
        let classes = take_records(&mut top, "classes");
        let epochs = take_records(&mut top, "epochs");
        let snap = Snapshot {
            top: Record(top),
            classes,
            epochs,
        };
        // Anything zslab wrote has at least some of its global figures.
        let known = KNOWN_GLOBAL
            .iter()
            .filter(|k| snap.top.0.contains_key(**k))
            .count();
        if known == 0 && snap.classes.is_empty() && snap.epochs.is_empty() {
            return Err("not a zslab snapshot: none of its keys is there".into());
        }
        Ok(snap)
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.top.num(key)
    }

    pub fn pid(&self) -> Option<u64> {
        self.get("pid").map(|p| p as u64)
    }

    /// The snapshot's version field, whatever its type.
    pub fn version(&self) -> Option<String> {
        match self.top.0.get("version")? {
            Value::String(s) => Some(s.clone()),
            v => Some(v.to_string()),
        }
    }

    /// Top-level numbers this command has no place for (added by a newer
    /// zslab), in key order.
    pub fn other_numbers(&self) -> Vec<(&str, f64)> {
        self.top
            .numeric_fields()
            .filter(|(k, _)| !KNOWN_GLOBAL.contains(k))
            .collect()
    }

    /// Top-level strings (e.g. a library version), in key order.
    pub fn strings(&self) -> Vec<(&str, &str)> {
        self.top
            .0
            .iter()
            .filter(|(k, _)| k.as_str() != "version")
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
            .collect()
    }

    /// Top-level arrays and objects other than classes and epochs, with
    /// their number of entries.
    pub fn other_sections(&self) -> Vec<(&str, usize)> {
        self.top
            .0
            .iter()
            .filter_map(|(k, v)| match v {
                Value::Array(a) => Some((k.as_str(), a.len())),
                Value::Object(o) => Some((k.as_str(), o.len())),
                _ => None,
            })
            .collect()
    }
}

fn take_records(top: &mut Map<String, Value>, key: &str) -> Vec<Record> {
    match top.remove(key) {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::Object(m) => Some(Record(m)),
                _ => None,
            })
            .collect(),
        Some(other) => {
            // Not an array: keep it visible as an unknown section.
            top.insert(key.to_string(), other);
            Vec::new()
        }
        None => Vec::new(),
    }
}

/// The identity of a size class across snapshots: its object size (the
/// class index as a fallback).
pub fn class_key(c: &Record) -> Option<u64> {
    c.num("object_size")
        .or_else(|| c.num("class_index"))
        .map(|x| x as u64)
}

/// The identity of an epoch across snapshots: slot and era (a slot reused
/// after the ring wraps is a different epoch).
pub fn epoch_key(e: &Record) -> (Option<u64>, Option<u64>) {
    (
        e.num("epoch").map(|x| x as u64),
        e.num("era").map(|x| x as u64),
    )
}

/// `epoch 3 (era 19) "request"`.
pub fn epoch_name(e: &Record) -> String {
    let mut s = match e.num("epoch") {
        Some(n) => format!("epoch {n}"),
        None => "epoch ?".to_string(),
    };
    if let Some(era) = e.num("era") {
        s.push_str(&format!(" (era {era})"));
    }
    if let Some(l) = e.text("label").filter(|l| !l.is_empty()) {
        s.push_str(&format!(" \"{l}\""));
    }
    s
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A snapshot in the format `write_json` produces (abridged).
    pub const SAMPLE: &str = r#"{"version":1,"pid":26019,"small_allocs":115861,"small_frees":113477,"live_objects":2384,"live_bytes":337712,"large_allocs":77,"large_frees":75,"committed_bytes":6356992,"active_bytes":4939776,"cached_bytes":1417216,"unused_resident_bytes":0,"slabs_in_use":108,"cached_slabs":27,"unused_slabs":7,"region_reserved_bytes":34359738368,"region_used_bytes":9306112,"madvise_calls":7,"madvise_bytes":458752,"madvise_failures":0,"cache_hits":5,"cache_misses":142,"cache_overflows":7,"decayed_slabs":0,"refills":162,"adopted_slabs":0,"orphaned_slabs":0,"retired_slabs":100,"remote_frees":0,"epoch_switches":1,"region_full_fallbacks":0,"double_frees":0,"invalid_frees":0,"threads":1,"current_epoch":1,"background_thread":0,"current_era":1,"epoch_advances":1,"rss_bytes":15560704,"classes":[{"class_index":0,"object_size":16,"allocs":1368,"frees":1323,"live_objects":45,"live_bytes":720,"slabs":1,"cached_slabs":0,"committed_bytes":16384,"cache_hits":0,"cache_misses":1,"cache_overflows":0,"adopted":0,"refills":0,"recycle_rate_pct":0.0},{"class_index":1,"object_size":32,"allocs":26600,"frees":26477,"live_objects":123,"live_bytes":3936,"slabs":2,"cached_slabs":0,"committed_bytes":65536,"cache_hits":0,"cache_misses":2,"cache_overflows":0,"adopted":0,"refills":0,"recycle_rate_pct":0.0},{"class_index":8,"object_size":256,"allocs":900,"frees":100,"live_objects":800,"live_bytes":204800,"slabs":4,"cached_slabs":1,"committed_bytes":262144,"cache_hits":3,"cache_misses":4,"cache_overflows":1,"adopted":0,"refills":3,"recycle_rate_pct":75.0}],"epochs":[{"epoch":0,"era":0,"open_since_ns":655953232223,"age_ns":82631591,"live_objects":2384,"live_bytes":337712,"slabs":76,"committed_bytes":4374528,"reclaimable_slabs":24,"reclaimed_slabs":30,"madvise_calls":1,"madvise_bytes":65536,"rss_before_close":0,"rss_after_close":0,"state":"closing","label":"startup"},{"epoch":1,"era":1,"open_since_ns":656023447989,"age_ns":12415825,"live_objects":0,"live_bytes":0,"slabs":32,"committed_bytes":565248,"reclaimable_slabs":3,"reclaimed_slabs":9,"madvise_calls":6,"madvise_bytes":393216,"rss_before_close":0,"rss_after_close":0,"state":"active","label":""}]}"#;

    #[test]
    fn parses_write_json_output() {
        let s = Snapshot::parse(SAMPLE).unwrap();
        assert_eq!(s.pid(), Some(26019));
        assert_eq!(s.version().as_deref(), Some("1"));
        assert_eq!(s.get("live_bytes"), Some(337712.0));
        assert_eq!(s.classes.len(), 3);
        assert_eq!(s.epochs.len(), 2);
        assert_eq!(s.epochs[0].text("label"), Some("startup"));
        assert_eq!(class_key(&s.classes[2]), Some(256));
        assert_eq!(epoch_key(&s.epochs[1]), (Some(1), Some(1)));
        assert_eq!(epoch_name(&s.epochs[0]), "epoch 0 (era 0) \"startup\"");
        assert!(s.other_numbers().is_empty());
        assert!(s.other_sections().is_empty());
    }

    #[test]
    fn unknown_keys_are_kept_and_missing_ones_are_absent() {
        let s = Snapshot::parse(
            r#"{"version":"2","pid":7,"zslab_version":"0.2.0","live_bytes":10,
                "leaked_bytes":4096,"leaks":[{"epoch":1}],"domains":{"a":1},
                "classes":[{"object_size":64,"new_field":1},{"class_index":3},7],
                "epochs":"later"}"#,
        )
        .unwrap();
        assert_eq!(s.version().as_deref(), Some("2"));
        assert_eq!(s.get("small_allocs"), None);
        assert_eq!(s.get("live_bytes"), Some(10.0));
        assert_eq!(s.other_numbers(), vec![("leaked_bytes", 4096.0)]);
        assert_eq!(
            s.strings(),
            vec![("epochs", "later"), ("zslab_version", "0.2.0")]
        );
        let sections = s.other_sections();
        assert!(sections.contains(&("leaks", 1)));
        assert!(sections.contains(&("domains", 1)));
        assert!(!sections.iter().any(|(k, _)| *k == "epochs"));
        // Non-object entries are skipped; a class without object_size is
        // known by its index.
        assert_eq!(s.classes.len(), 2);
        assert_eq!(class_key(&s.classes[1]), Some(3));
        assert!(s.epochs.is_empty());
        assert_eq!(s.classes[0].num("allocs"), None);
    }

    #[test]
    fn numbers_may_be_floats_or_strings() {
        let s = Snapshot::parse(r#"{"pid":1,"live_bytes":"12","rss_bytes":1.5e3}"#).unwrap();
        assert_eq!(s.get("live_bytes"), Some(12.0));
        assert_eq!(s.get("rss_bytes"), Some(1500.0));
    }

    #[test]
    fn rejects_what_is_not_a_snapshot() {
        assert!(Snapshot::parse("[1,2]").is_err());
        assert!(Snapshot::parse("{\"a\":1}").is_err());
        assert!(Snapshot::parse("# HELP zslab_live_bytes ...").is_err());
        assert!(Snapshot::parse("{\"live_bytes\":1").is_err());
    }
}
