//! `zslab stats PID`: ask a running process for a snapshot. The process
//! must have been started with `ZSLAB_STATS_SIGNAL` (e.g. by `zslab run
//! --stats-signal USR2`); its environment (/proc/PID/environ) gives the
//! signal and `ZSLAB_STATS_FILE` (default /tmp/zslab.<pid>.json, `%p` is the
//! pid). The signal is sent only if the process handles it (SigCgt in
//! /proc/PID/status): to a process that does not, it would be fatal. Then
//! the file is watched until zslab replaces it (it writes a temporary file
//! and renames it), and the snapshot is printed.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The canonical spelling of a stats signal as zslab accepts it (`USR1`,
/// `USR2`, `SIGUSR1`, `SIGUSR2`, or a number), or None.
pub fn normalize_signal(s: &str) -> Option<String> {
    let t = s.trim();
    let up = t.to_ascii_uppercase();
    match up.as_str() {
        "USR1" | "USR2" | "SIGUSR1" | "SIGUSR2" => Some(up),
        _ => {
            let n: i32 = t.parse().ok()?;
            catchable(n).then(|| n.to_string())
        }
    }
}

fn catchable(n: i32) -> bool {
    (1..=64).contains(&n) && n != libc::SIGKILL && n != libc::SIGSTOP
}

/// The signal number for a `ZSLAB_STATS_SIGNAL` value.
pub fn signal_number(s: &str) -> Option<i32> {
    let up = normalize_signal(s)?;
    Some(match up.trim_start_matches("SIG") {
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        n => n.parse().ok()?,
    })
}

pub fn signal_name(n: i32) -> String {
    match n {
        libc::SIGUSR1 => "SIGUSR1".into(),
        libc::SIGUSR2 => "SIGUSR2".into(),
        n => format!("signal {n}"),
    }
}

/// `/proc/PID/environ` contents as a map.
pub fn parse_environ(raw: &[u8]) -> HashMap<String, String> {
    raw.split(|&b| b == 0)
        .filter_map(|kv| {
            let s = String::from_utf8_lossy(kv);
            let (k, v) = s.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Whether the signal mask `field` (`SigCgt:`, `SigBlk:`, `SigIgn:`) of a
/// /proc/PID/status text has signal `sig`.
pub fn mask_has(status: &str, field: &str, sig: i32) -> Option<bool> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let mask = u64::from_str_radix(line[field.len()..].trim(), 16).ok()?;
    Some((1..=64).contains(&sig) && mask & (1u64 << (sig - 1)) != 0)
}

/// Whether the process has a handler for `sig`.
pub fn catches(status: &str, sig: i32) -> Option<bool> {
    mask_has(status, "SigCgt:", sig)
}

/// Whether every thread of `pid` blocks `sig` (a process that reads its
/// signals from a signalfd): sending it is safe, it stays pending.
fn blocked_in_every_thread(pid: u32, sig: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut n = 0;
    for t in tasks.flatten() {
        let st = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        if mask_has(&st, "SigBlk:", sig) != Some(true) {
            return false;
        }
        n += 1;
    }
    n > 0
}

/// The process state letter from /proc/PID/status (`Z` for a zombie).
fn state(status: &str) -> Option<char> {
    let line = status.lines().find(|l| l.starts_with("State:"))?;
    line["State:".len()..].trim().chars().next()
}

/// Where the process writes its snapshot.
pub fn stats_path(file: Option<&str>, pid: u32, cwd: Option<&Path>) -> PathBuf {
    let f = match file {
        Some(f) if !f.is_empty() => f.replace("%p", &pid.to_string()),
        _ => format!("/tmp/zslab.{pid}.json"),
    };
    let p = PathBuf::from(f);
    match cwd {
        Some(c) if p.is_relative() => c.join(p),
        _ => p,
    }
}

/// What identifies one version of a file: rename gives a new inode.
fn identity(p: &Path) -> Option<(u64, u64, i64, i64, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.size()))
}

pub struct StatsOptions {
    pub pid: u32,
    pub timeout: Duration,
    pub raw: bool,
    pub top: Option<usize>,
}

/// Errors are (message, exit status).
pub fn stats(o: &StatsOptions) -> Result<String, (String, i32)> {
    let pid = o.pid;
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !proc_dir.exists() {
        return Err((format!("no process with pid {pid}"), 1));
    }
    let environ = std::fs::read(proc_dir.join("environ")).map_err(|e| {
        (
            format!("cannot read /proc/{pid}/environ: {e} (run zslab stats as the process's user or root)"),
            1,
        )
    })?;
    let env = parse_environ(&environ);
    let Some(sig_text) = env.get("ZSLAB_STATS_SIGNAL") else {
        return Err((
            format!(
                "process {pid} was not started with ZSLAB_STATS_SIGNAL, so it cannot be asked for statistics; \
                 start it with `zslab run --stats-signal USR2 -- PROGRAM ...`"
            ),
            3,
        ));
    };
    let Some(sig) = signal_number(sig_text) else {
        return Err((
            format!(
                "process {pid} has ZSLAB_STATS_SIGNAL={sig_text}, which is not USR1, USR2, SIGUSR1, SIGUSR2 or a signal number"
            ),
            3,
        ));
    };
    let maps = std::fs::read_to_string(proc_dir.join("maps")).unwrap_or_default();
    if !maps.is_empty() && !maps.contains("libzslab") {
        return Err((
            format!(
                "process {pid} does not run under zslab (libzslab is not loaded: statically linked and setuid programs ignore LD_PRELOAD); \
                 not sending {}, which would kill it",
                signal_name(sig)
            ),
            3,
        ));
    }
    // A signal the process neither catches nor blocks would terminate it.
    let status = std::fs::read_to_string(proc_dir.join("status")).unwrap_or_default();
    if mask_has(&status, "SigIgn:", sig) == Some(true) {
        return Err((
            format!(
                "process {pid} ignores {} (the program set it to SIG_IGN), so it cannot answer",
                signal_name(sig)
            ),
            3,
        ));
    }
    if catches(&status, sig) == Some(false) && !blocked_in_every_thread(pid, sig) {
        return Err((
            format!(
                "process {pid} does not handle {} (its zslab does not support ZSLAB_STATS_SIGNAL, or has not initialised yet); \
                 not sending it, since that would terminate the process",
                signal_name(sig)
            ),
            3,
        ));
    }
    let cwd = std::fs::read_link(proc_dir.join("cwd")).ok();
    let file = stats_path(
        env.get("ZSLAB_STATS_FILE").map(String::as_str),
        pid,
        cwd.as_deref(),
    );
    let before = identity(&file);

    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err((
            format!("cannot send {} to process {pid}: {e}", signal_name(sig)),
            1,
        ));
    }

    let deadline = Instant::now() + o.timeout;
    let mut last_err = None;
    loop {
        let now_id = identity(&file);
        if now_id.is_some() && now_id != before {
            match std::fs::read_to_string(&file) {
                Ok(text) if !text.trim().is_empty() => {
                    if o.raw || !text.trim_start().starts_with('{') {
                        return Ok(text);
                    }
                    match crate::snapshot::Snapshot::parse(&text) {
                        Ok(s) => {
                            let src = format!("live, {}", file.display());
                            return Ok(crate::show::render(
                                &s,
                                &src,
                                &crate::show::ShowOptions { top: o.top },
                            ));
                        }
                        Err(e) => last_err = Some(e),
                    }
                }
                Ok(_) => {}
                Err(e) => last_err = Some(e.to_string()),
            }
        }
        let st = std::fs::read_to_string(proc_dir.join("status")).ok();
        if st
            .as_deref()
            .and_then(state)
            .is_none_or(|c| c == 'Z' || c == 'X')
        {
            return Err((
                format!(
                    "process {pid} exited before writing its snapshot to {}",
                    file.display()
                ),
                4,
            ));
        }
        if Instant::now() >= deadline {
            let why = last_err
                .map(|e| format!(" (last read: {e})"))
                .unwrap_or_default();
            return Err((
                format!(
                    "process {pid} did not write {} within {:.1} s of {}{why}; a stopped or very busy process answers late (try --timeout)",
                    file.display(),
                    o.timeout.as_secs_f64(),
                    signal_name(sig)
                ),
                4,
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_forms() {
        assert_eq!(normalize_signal("USR2").as_deref(), Some("USR2"));
        assert_eq!(normalize_signal("sigusr1").as_deref(), Some("SIGUSR1"));
        assert_eq!(normalize_signal(" 12 ").as_deref(), Some("12"));
        assert_eq!(normalize_signal("9"), None);
        assert_eq!(normalize_signal("0"), None);
        assert_eq!(normalize_signal("65"), None);
        assert_eq!(normalize_signal("HUP"), None);
        assert_eq!(signal_number("USR1"), Some(libc::SIGUSR1));
        assert_eq!(signal_number("SIGUSR2"), Some(libc::SIGUSR2));
        assert_eq!(signal_number("34"), Some(34));
        assert_eq!(signal_number("bogus"), None);
    }

    #[test]
    fn environ_is_split_on_nul() {
        let e = parse_environ(
            b"PATH=/bin\0ZSLAB_STATS_SIGNAL=USR2\0ZSLAB_STATS_FILE=/tmp/a=b.json\0EMPTY=\0junk\0",
        );
        assert_eq!(e["ZSLAB_STATS_SIGNAL"], "USR2");
        assert_eq!(e["ZSLAB_STATS_FILE"], "/tmp/a=b.json");
        assert_eq!(e["EMPTY"], "");
        assert!(!e.contains_key("junk"));
    }

    #[test]
    fn sigcgt_mask() {
        let status = "Name:\tpython3\nState:\tS (sleeping)\nSigBlk:\t0000000000000000\nSigIgn:\t0000000001001000\nSigCgt:\t0000000000000802\n";
        assert_eq!(catches(status, libc::SIGUSR2), Some(true)); // bit 11
        assert_eq!(catches(status, 2), Some(true));
        assert_eq!(catches(status, libc::SIGUSR1), Some(false));
        assert_eq!(catches("Name:\tx\n", 12), None);
        assert_eq!(mask_has(status, "SigIgn:", 13), Some(true));
        assert_eq!(mask_has(status, "SigBlk:", 12), Some(false));
        assert_eq!(state(status), Some('S'));
    }

    #[test]
    fn stats_file_paths() {
        assert_eq!(stats_path(None, 42, None), Path::new("/tmp/zslab.42.json"));
        assert_eq!(
            stats_path(Some(""), 42, None),
            Path::new("/tmp/zslab.42.json")
        );
        assert_eq!(
            stats_path(Some("/var/tmp/zs.%p.prom"), 7, None),
            Path::new("/var/tmp/zs.7.prom")
        );
        assert_eq!(
            stats_path(Some("out/%p.json"), 7, Some(Path::new("/srv/app"))),
            Path::new("/srv/app/out/7.json")
        );
    }
}
