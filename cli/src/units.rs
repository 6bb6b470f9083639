//! Number formatting for humans: counts with thousands separators, byte
//! sizes in KiB/MiB/GiB, durations from nanoseconds, and the unit a
//! statistics key is measured in (from its name, so keys added by a newer
//! zslab are shown sensibly too).

/// What a statistics value measures, decided from its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Nanos,
    Percent,
    Count,
}

impl Unit {
    pub fn of(key: &str) -> Unit {
        if key.ends_with("_bytes") || key.starts_with("rss_") || key.ends_with("_rss") {
            Unit::Bytes
        } else if key.ends_with("_ns") {
            Unit::Nanos
        } else if key.ends_with("_pct") {
            Unit::Percent
        } else {
            Unit::Count
        }
    }

    pub fn show(self, v: f64) -> String {
        match self {
            Unit::Bytes => bytes(v),
            Unit::Nanos => duration_ns(v),
            Unit::Percent => format!("{v:.1}%"),
            Unit::Count => count(v),
        }
    }

    /// A signed change (`+1.5 MiB`, `-12`).
    pub fn show_delta(self, d: f64) -> String {
        let sign = if d < 0.0 { "-" } else { "+" };
        format!("{sign}{}", self.show(d.abs()))
    }
}

/// `1234567` -> `1,234,567`; non-integers keep one decimal.
pub fn count(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() != 0.0 {
        return format!("{v:.1}");
    }
    let neg = v < 0.0;
    let digits = format!("{}", v.abs() as u128);
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if neg { format!("-{out}") } else { out }
}

/// `1536` -> `1.5 KiB`.
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let a = v.abs();
    if a < 1024.0 {
        return format!("{} B", count(v.round()));
    }
    let mut x = v / 1024.0;
    let mut i = 0;
    while x.abs() >= 1024.0 && i + 1 < UNITS.len() {
        x /= 1024.0;
        i += 1;
    }
    format!("{x:.1} {}", UNITS[i])
}

/// Nanoseconds -> `850 ns`, `12.4 ms`, `3.2 s`, `5m12s`, `2h03m`.
pub fn duration_ns(ns: f64) -> String {
    let a = ns.abs();
    if a < 1e3 {
        format!("{ns:.0} ns")
    } else if a < 1e6 {
        format!("{:.1} us", ns / 1e3)
    } else if a < 1e9 {
        format!("{:.1} ms", ns / 1e6)
    } else if a < 60e9 {
        format!("{:.1} s", ns / 1e9)
    } else {
        let secs = (ns / 1e9).round() as u64;
        if secs < 3600 {
            format!("{}m{:02}s", secs / 60, secs % 60)
        } else {
            format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
        }
    }
}

/// `old -> new` change in percent, when it means something.
pub fn percent_change(a: f64, b: f64) -> Option<f64> {
    if a > 0.0 && a.is_finite() && b.is_finite() {
        Some(100.0 * (b - a) / a)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_separators() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(1000.0), "1,000");
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(count(-1234.0), "-1,234");
        assert_eq!(count(2.5), "2.5");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(1023.0), "1,023 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(6356992.0), "6.1 MiB");
        assert_eq!(bytes(34359738368.0), "32.0 GiB");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ns(850.0), "850 ns");
        assert_eq!(duration_ns(82_631_591.0), "82.6 ms");
        assert_eq!(duration_ns(3_200_000_000.0), "3.2 s");
        assert_eq!(duration_ns(312e9), "5m12s");
        assert_eq!(duration_ns(7380e9), "2h03m");
    }

    #[test]
    fn units_from_key_names() {
        assert_eq!(Unit::of("live_bytes"), Unit::Bytes);
        assert_eq!(Unit::of("rss_before_close"), Unit::Bytes);
        assert_eq!(Unit::of("age_ns"), Unit::Nanos);
        assert_eq!(Unit::of("recycle_rate_pct"), Unit::Percent);
        assert_eq!(Unit::of("small_allocs"), Unit::Count);
        assert_eq!(Unit::Bytes.show_delta(-2048.0), "-2.0 KiB");
        assert_eq!(Unit::Count.show_delta(1500.0), "+1,500");
    }

    #[test]
    fn percent_changes() {
        assert_eq!(percent_change(100.0, 150.0), Some(50.0));
        assert_eq!(percent_change(0.0, 150.0), None);
    }
}
