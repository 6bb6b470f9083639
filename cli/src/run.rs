//! `zslab run`: start a program under zslab. Finds libzslab.so (`--lib`,
//! else next to this command: `../lib` of an installed prefix, or the
//! directory of a development build), puts it first in `LD_PRELOAD`, sets
//! the `ZSLAB_*` variables, and execs the program's real binary: a version
//! manager's shell shim (pyenv, rbenv, nodenv, asdf, mise, ...) is resolved
//! through its own `which` command, so the chain of shell processes behind
//! the shim does not run under zslab (each would print its own report).

use crate::live::normalize_signal;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct RunOptions {
    pub stats: bool,
    pub stats_file: Option<String>,
    pub stats_signal: Option<String>,
    pub epoch_ms: Option<u64>,
    pub lib: Option<PathBuf>,
    pub no_resolve: bool,
    pub verbose: bool,
    pub vars: Vec<String>,
    pub command: Vec<OsString>,
}

/// `NAME=value` with a shell-style variable name.
pub fn parse_assignment(s: &str) -> Option<(String, String)> {
    let (name, value) = s.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((name.to_string(), value.to_string()))
}

/// The soname link (the library and this command share one version, and the
/// soname carries its major number), then the development link.
const LIB_NAMES: &[&str] = &[
    concat!("libzslab.so.", env!("CARGO_PKG_VERSION_MAJOR")),
    "libzslab.so",
];

/// Where to look for the library, given the directory of this command.
pub fn library_candidates(exe_dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(prefix) = exe_dir.parent() {
        let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
        for libdir in ["lib", "lib64", &format!("lib/{multiarch}")] {
            for name in LIB_NAMES {
                v.push(prefix.join(libdir).join(name));
            }
        }
    }
    // A development build: target/release/zslab next to libzslab.so, or a
    // debug build of the command using the release library.
    v.push(exe_dir.join("libzslab.so"));
    if let Some(target) = exe_dir.parent() {
        v.push(target.join("release").join("libzslab.so"));
    }
    v
}

pub fn find_library(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        if !p.is_file() {
            return Err(format!("--lib {}: no such file", p.display()));
        }
        return std::path::absolute(p).map_err(|e| format!("--lib {}: {e}", p.display()));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate this command: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = library_candidates(dir);
    for c in &candidates {
        if c.is_file() {
            return Ok(c.clone());
        }
    }
    let tried: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    Err(format!(
        "cannot find libzslab.so (looked in: {}); pass --lib PATH",
        tried.join(", ")
    ))
}

/// The new `LD_PRELOAD`: zslab first (it must own malloc), then what was
/// there already, minus any other copy of zslab.
pub fn compose_preload(lib: &Path, existing: Option<&str>) -> Result<String, String> {
    let l = lib.to_string_lossy();
    if l.contains([' ', ':', '\t', '\n']) {
        return Err(format!(
            "the library path {l} contains a space or colon, which LD_PRELOAD cannot hold; \
             install zslab elsewhere or pass --lib with another path"
        ));
    }
    let mut parts = vec![l.to_string()];
    for e in existing
        .unwrap_or("")
        .split([' ', ':'])
        .filter(|e| !e.is_empty())
    {
        let base = Path::new(e)
            .file_name()
            .map(|f| f.to_string_lossy().to_string());
        if base.is_some_and(|b| b.starts_with("libzslab.so")) {
            continue;
        }
        parts.push(e.to_string());
    }
    Ok(parts.join(":"))
}

/// Look a command name up in `PATH` as execvp would.
pub fn search_path(name: &str, path: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(name);
        if is_executable(&p) {
            return Some(p);
        }
    }
    None
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A version manager's shim and how to ask it for the real program.
#[derive(Clone, Debug, PartialEq)]
pub struct Shim {
    /// The manager's executable (a path, or a name looked up in `PATH`).
    pub tool: String,
    /// Variables the shim exports before running the manager.
    pub exports: Vec<(String, String)>,
}

impl Shim {
    pub fn tool_name(&self) -> &str {
        self.tool.rsplit('/').next().unwrap_or(&self.tool)
    }
}

/// Split a line of shell into words (quotes removed; no expansion).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for ch in line.chars() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => cur.push(ch),
            None if ch == '"' || ch == '\'' => {
                quote = Some(ch);
                in_word = true;
            }
            None if ch == '#' && !in_word => break,
            None if ch.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(ch);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

fn is_manager(tool: &str) -> bool {
    let base = tool.rsplit('/').next().unwrap_or(tool);
    base == "asdf"
        || (base.len() > 3 && base.ends_with("env") && base.chars().all(|c| c.is_ascii_lowercase()))
}

/// Recognise a shim script: `exec "<...>/pyenv" exec "$program" "$@"` (the
/// rbenv family) or `exec asdf exec "python3" "$@"` (asdf).
pub fn parse_shim_script(content: &str) -> Option<Shim> {
    if !content.starts_with("#!") {
        return None;
    }
    let mut exports = Vec::new();
    for line in content.lines() {
        let w = shell_words(line);
        if w.first().map(String::as_str) == Some("export") {
            for a in &w[1..] {
                if let Some((k, v)) = a.split_once('=') {
                    if !v.contains('$') && !k.is_empty() {
                        exports.push((k.to_string(), v.to_string()));
                    }
                }
            }
        }
        if w.len() >= 3 && w[0] == "exec" && w[2] == "exec" && is_manager(&w[1]) {
            return Some(Shim {
                tool: w[1].clone(),
                exports,
            });
        }
    }
    None
}

/// A shim at `path`, if it is one: a script as above, or (mise) a symlink
/// to the manager's binary in a `shims` directory.
pub fn shim_at(path: &Path) -> Option<Shim> {
    if let Ok(target) = std::fs::read_link(path) {
        let base = target.file_name()?.to_string_lossy().to_string();
        let in_shims = path.parent()?.file_name()? == "shims";
        if in_shims && (base == "mise" || base == "rtx") {
            let tool = if target.is_absolute() {
                target.to_string_lossy().to_string()
            } else {
                path.parent()?.join(&target).to_string_lossy().to_string()
            };
            return Some(Shim {
                tool,
                exports: Vec::new(),
            });
        }
    }
    let content = read_head(path, 16 * 1024)?;
    parse_shim_script(&String::from_utf8_lossy(&content))
}

fn read_head(path: &Path, max: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(max as u64).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// `#!interpreter [arg]` as the kernel reads it.
pub fn parse_shebang(head: &[u8]) -> Option<(String, Option<String>)> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    let line = line.trim();
    let (interp, arg) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim().to_string()).filter(|a| !a.is_empty())),
        None => (line, None),
    };
    if interp.is_empty() {
        return None;
    }
    Some((interp.to_string(), arg))
}

/// What to exec.
#[derive(Debug)]
pub struct Plan {
    pub program: PathBuf,
    pub argv0: OsString,
    pub args: Vec<OsString>,
    /// Variables to set (in order); `LD_PRELOAD` among them.
    pub env: Vec<(String, String)>,
    pub notes: Vec<String>,
}

/// Ask a manager for the real program behind its shim.
fn ask_manager(shim: &Shim, name: &str, env: &[(String, String)]) -> Result<PathBuf, String> {
    let mut cmd = Command::new(&shim.tool);
    cmd.arg("which").arg(name);
    // The manager runs without zslab and sees the variables the program will
    // see (PYENV_VERSION=... given on the command line chooses the version).
    cmd.env_remove("LD_PRELOAD");
    for (k, v) in env {
        if k != "LD_PRELOAD" && !k.starts_with("ZSLAB_") {
            cmd.env(k, v);
        }
    }
    for (k, v) in &shim.exports {
        if std::env::var_os(k).is_none() && !env.iter().any(|(ek, _)| ek == k) {
            cmd.env(k, v);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("`{} which {name}` failed: {e}", shim.tool))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(format!("`{} which {name}` failed: {msg}", shim.tool_name()));
    }
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let p = PathBuf::from(&line);
    if !p.is_absolute() || !is_executable(&p) {
        return Err(format!(
            "`{} which {name}` gave `{line}`, not an executable file",
            shim.tool_name()
        ));
    }
    Ok(p)
}

/// Follow shims (a shim may lead to another one) to a real program.
fn unshim(
    path: &Path,
    name: &str,
    env: &[(String, String)],
    notes: &mut Vec<String>,
) -> Option<PathBuf> {
    let mut cur = path.to_path_buf();
    let mut resolved = false;
    for _ in 0..4 {
        let Some(shim) = shim_at(&cur) else { break };
        match ask_manager(&shim, name, env) {
            Ok(real) if real != cur => {
                notes.push(format!(
                    "{} is a {} shim; running {} directly",
                    cur.display(),
                    shim.tool_name(),
                    real.display()
                ));
                cur = real;
                resolved = true;
            }
            Ok(_) => break,
            Err(e) => {
                eprintln!(
                    "zslab: warning: {e}; running the shim {} as it is (every process behind it runs under zslab)",
                    cur.display()
                );
                break;
            }
        }
    }
    resolved.then_some(cur)
}

fn prepend_path(env: &mut Vec<(String, String)>, dir: &Path) {
    let cur = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    let d = dir.to_string_lossy().to_string();
    if cur.split(':').any(|p| p == d) {
        return;
    }
    env.push(("PATH".into(), format!("{d}:{cur}")));
}

/// Decide what to run and with which environment.
pub fn plan(o: &RunOptions) -> Result<Plan, String> {
    let Some(first) = o.command.first() else {
        return Err(
            "no program given: zslab run [OPTIONS] [VAR=val]... -- PROGRAM [ARGS]...".into(),
        );
    };
    let mut env: Vec<(String, String)> = Vec::new();
    let lib = find_library(o.lib.as_deref())?;
    let preload = compose_preload(&lib, std::env::var("LD_PRELOAD").ok().as_deref())?;
    env.push(("LD_PRELOAD".into(), preload));
    if o.stats {
        env.push(("ZSLAB_STATS".into(), "1".into()));
    }
    if let Some(f) = &o.stats_file {
        env.push(("ZSLAB_STATS_FILE".into(), f.clone()));
    }
    if let Some(s) = &o.stats_signal {
        let n = normalize_signal(s).ok_or_else(|| {
            format!("--stats-signal {s}: expected USR1, USR2, SIGUSR1, SIGUSR2 or a signal number")
        })?;
        env.push(("ZSLAB_STATS_SIGNAL".into(), n));
    }
    if let Some(ms) = o.epoch_ms {
        env.push(("ZSLAB_EPOCH_MS".into(), ms.to_string()));
    }
    for v in &o.vars {
        let Some(a) = parse_assignment(v) else {
            return Err(format!(
                "`{v}` is not VAR=val; put the program after `--`: zslab run [OPTIONS] [VAR=val]... -- PROGRAM [ARGS]..."
            ));
        };
        env.push(a);
    }

    let name = first.to_string_lossy().to_string();
    let path_var = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let found =
        search_path(&name, &path_var).ok_or_else(|| format!("{name}: command not found"))?;
    if !found.exists() {
        return Err(format!("{name}: no such file"));
    }
    let mut notes = Vec::new();
    let mut program = found.clone();
    let mut argv0: OsString = first.clone();
    let mut args: Vec<OsString> = o.command[1..].to_vec();

    if !o.no_resolve {
        let base = found
            .file_name()
            .map(|b| b.to_string_lossy().to_string())
            .unwrap_or(name.clone());
        if let Some(real) = unshim(&found, &base, &env, &mut notes) {
            // As the manager's own `exec` does: the program sees its real
            // path in argv[0] and its directory first in PATH.
            if let Some(dir) = real.parent() {
                prepend_path(&mut env, dir);
            }
            argv0 = real.clone().into_os_string();
            program = real;
        } else if let Some((interp, arg)) =
            read_head(&found, 256).as_deref().and_then(parse_shebang)
        {
            // A script whose interpreter is a shim (`#!/usr/bin/env python3`
            // with pyenv's shims in PATH): run the real interpreter on it.
            let interp_path = if Path::new(&interp).file_name().is_some_and(|f| f == "env") {
                arg.as_deref()
                    .filter(|a| !a.starts_with('-') && !a.contains(' '))
                    .and_then(|a| search_path(a, &path_var).map(|p| (p, a.to_string())))
                    .map(|(p, a)| (p, a, None))
            } else {
                let p = PathBuf::from(&interp);
                let base = p.file_name().map(|b| b.to_string_lossy().to_string());
                base.map(|b| (p, b, arg.clone()))
            };
            if let Some((ipath, iname, iarg)) = interp_path {
                if let Some(real) = unshim(&ipath, &iname, &env, &mut notes) {
                    if let Some(dir) = real.parent() {
                        prepend_path(&mut env, dir);
                    }
                    let script: OsString = if name.contains('/') {
                        first.clone()
                    } else {
                        found.clone().into_os_string()
                    };
                    let mut new_args = Vec::new();
                    if let Some(a) = iarg {
                        new_args.push(OsString::from(a));
                    }
                    new_args.push(script);
                    new_args.extend(args);
                    args = new_args;
                    argv0 = real.clone().into_os_string();
                    program = real;
                }
            }
        }
    }
    Ok(Plan {
        program,
        argv0,
        args,
        env,
        notes,
    })
}

/// Replace this process with the planned program; returns only on failure
/// (with the exit status a shell would use).
pub fn exec(p: &Plan, verbose: bool) -> (String, i32) {
    if verbose {
        for n in &p.notes {
            eprintln!("zslab: {n}");
        }
        for (k, v) in &p.env {
            eprintln!("zslab: {k}={v}");
        }
        let args: Vec<String> = p
            .args
            .iter()
            .map(|a| a.to_string_lossy().to_string())
            .collect();
        eprintln!("zslab: exec {} {}", p.program.display(), args.join(" "));
    }
    let mut cmd = Command::new(&p.program);
    cmd.arg0(&p.argv0).args(&p.args);
    for (k, v) in &p.env {
        cmd.env(k, v);
    }
    let err = cmd.exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    (format!("cannot run {}: {err}", p.program.display()), code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments() {
        assert_eq!(
            parse_assignment("ZSLAB_CACHE_SLABS=8"),
            Some(("ZSLAB_CACHE_SLABS".into(), "8".into()))
        );
        assert_eq!(parse_assignment("A=b=c"), Some(("A".into(), "b=c".into())));
        assert_eq!(parse_assignment("_X="), Some(("_X".into(), "".into())));
        assert_eq!(parse_assignment("python3"), None);
        assert_eq!(parse_assignment("1A=2"), None);
        assert_eq!(parse_assignment("=2"), None);
        assert_eq!(parse_assignment("./a=b"), None);
    }

    #[test]
    fn library_is_looked_for_in_the_prefix_then_the_build_dir() {
        let c = library_candidates(Path::new("/opt/zs/bin"));
        assert_eq!(
            c[0],
            Path::new(&format!(
                "/opt/zs/lib/libzslab.so.{}",
                env!("CARGO_PKG_VERSION_MAJOR")
            ))
        );
        assert_eq!(c[1], Path::new("/opt/zs/lib/libzslab.so"));
        assert!(c.contains(&PathBuf::from("/opt/zs/bin/libzslab.so")));
        let d = library_candidates(Path::new("/src/zslab/target/debug"));
        assert_eq!(
            d.last().unwrap(),
            Path::new("/src/zslab/target/release/libzslab.so")
        );
    }

    #[test]
    fn preload_puts_zslab_first_once() {
        let lib = Path::new("/usr/local/lib/libzslab.so");
        assert_eq!(
            compose_preload(lib, None).unwrap(),
            "/usr/local/lib/libzslab.so"
        );
        assert_eq!(
            compose_preload(lib, Some("/a/libfoo.so /old/libzslab.so.0:libbar.so")).unwrap(),
            "/usr/local/lib/libzslab.so:/a/libfoo.so:libbar.so"
        );
        assert!(compose_preload(Path::new("/my libs/libzslab.so"), None).is_err());
    }

    #[test]
    fn recognises_pyenv_rbenv_and_asdf_shims() {
        let pyenv = r#"#!/usr/bin/env bash
set -e
[ -n "$PYENV_DEBUG" ] && set -x

program="${0##*/}"

export PYENV_ROOT="/root/.pyenv"
SHIM_PATH=${0%/*}
if [[ $SHIM_PATH != "/root/.pyenv/shims" ]]; then
  export _PYENV_SHIM_PATH="$SHIM_PATH"
fi
exec "/root/.pyenv/libexec/pyenv" exec "$program" "$@"
"#;
        let s = parse_shim_script(pyenv).unwrap();
        assert_eq!(s.tool, "/root/.pyenv/libexec/pyenv");
        assert_eq!(s.tool_name(), "pyenv");
        assert_eq!(
            s.exports,
            vec![("PYENV_ROOT".to_string(), "/root/.pyenv".to_string())]
        );

        let rbenv = "#!/usr/bin/env bash\nset -e\nprogram=\"${0##*/}\"\nexport RBENV_ROOT=\"/home/u/.rbenv\"\nexec \"/usr/lib/rbenv/libexec/rbenv\" exec \"$program\" \"$@\"\n";
        assert_eq!(parse_shim_script(rbenv).unwrap().tool_name(), "rbenv");

        let asdf = "#!/usr/bin/env bash\n# asdf-plugin: python 3.11.0\nexec /home/u/.asdf/bin/asdf exec \"python3\" \"$@\" # asdf_allow: ' asdf '\n";
        assert_eq!(
            parse_shim_script(asdf).unwrap().tool,
            "/home/u/.asdf/bin/asdf"
        );

        // Ordinary wrappers are not shims.
        assert_eq!(
            parse_shim_script("#!/bin/sh\nexec /usr/bin/python3 \"$@\"\n"),
            None
        );
        assert_eq!(parse_shim_script("#!/bin/sh\nexec env exec foo\n"), None);
        assert_eq!(parse_shim_script("\x7fELF..."), None);
    }

    #[test]
    fn shebangs() {
        assert_eq!(
            parse_shebang(b"#!/usr/bin/env python3\nprint(1)\n"),
            Some(("/usr/bin/env".into(), Some("python3".into())))
        );
        assert_eq!(
            parse_shebang(b"#! /usr/bin/python3 -u \n"),
            Some(("/usr/bin/python3".into(), Some("-u".into())))
        );
        assert_eq!(parse_shebang(b"#!/bin/sh"), Some(("/bin/sh".into(), None)));
        assert_eq!(parse_shebang(b"\x7fELF"), None);
        assert_eq!(parse_shebang(b"#!\n"), None);
    }

    #[test]
    fn path_search() {
        assert_eq!(search_path("./x", "/bin"), Some(PathBuf::from("./x")));
        assert_eq!(
            search_path("sh", "/nonexistent:/bin:/usr/bin").map(|p| p.is_absolute()),
            Some(true)
        );
        assert_eq!(search_path("no-such-program-zslab", "/bin:/usr/bin"), None);
    }
}
