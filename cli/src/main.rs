//! The `zslab` command: run a program under zslab, ask a running one for its
//! statistics, and read or compare statistics snapshots.

mod diff;
mod live;
mod run;
mod show;
mod snapshot;
mod units;

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "zslab",
    version,
    about = "Run programs under the zslab allocator and read its statistics",
    after_help = "Examples:\n  zslab run --stats -- python3 app.py\n  zslab run --stats-signal USR2 -- ./server &  zslab stats $!\n  zslab show /tmp/zs.1234.json\n  zslab diff before.json after.json"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a program with zslab as its allocator (LD_PRELOAD)
    Run(RunArgs),
    /// Ask a running process (started with a stats signal) for its statistics
    Stats(StatsArgs),
    /// Show a JSON statistics snapshot (ZSLAB_STATS_FILE) for humans
    Show(ShowArgs),
    /// Show what grew or shrank between two JSON snapshots
    Diff(DiffArgs),
}

#[derive(Args)]
#[command(
    override_usage = "zslab run [OPTIONS] [VAR=val]... -- PROGRAM [ARGS]...",
    after_help = "A version manager's shim (pyenv, rbenv, nodenv, asdf, mise) is replaced by the real\n\
                  program it would run, so only that program runs under zslab and reports."
)]
struct RunArgs {
    /// Print zslab's statistics on stderr when the program exits (ZSLAB_STATS=1)
    #[arg(long)]
    stats: bool,
    /// Write the statistics to PATH at exit; %p is the pid; .json or .prom (ZSLAB_STATS_FILE)
    #[arg(long, value_name = "PATH")]
    stats_file: Option<String>,
    /// Write a snapshot when the process gets SIGNAL, for `zslab stats` (ZSLAB_STATS_SIGNAL)
    #[arg(long, value_name = "SIGNAL")]
    stats_signal: Option<String>,
    /// Advance the epoch every N milliseconds (ZSLAB_EPOCH_MS)
    #[arg(long, value_name = "N")]
    epoch_ms: Option<u64>,
    /// The libzslab.so to use (default: the one installed with this command)
    #[arg(long, value_name = "PATH")]
    lib: Option<PathBuf>,
    /// Run PROGRAM as given, even if it is a version manager's shim
    #[arg(long)]
    no_resolve: bool,
    /// Print the library, variables and program used, on stderr
    #[arg(short, long)]
    verbose: bool,
    /// Variables for the program, e.g. ZSLAB_CACHE_SLABS=8 PYTHONMALLOC=malloc
    #[arg(value_name = "VAR=val")]
    vars: Vec<String>,
    /// The program and its arguments, after `--`
    #[arg(last = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
}

#[derive(Args)]
struct StatsArgs {
    /// The process id
    pid: u32,
    /// Seconds to wait for the snapshot
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,
    /// Print the snapshot as the process wrote it (JSON or Prometheus text)
    #[arg(long)]
    raw: bool,
    /// Number of size classes to list
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
}

#[derive(Args)]
struct ShowArgs {
    /// The snapshot (`-` for standard input)
    file: PathBuf,
    /// Number of size classes to list, busiest first
    #[arg(long, value_name = "N", default_value_t = 10, conflicts_with = "all")]
    top: usize,
    /// List every size class in use
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
struct DiffArgs {
    /// The earlier snapshot
    a: PathBuf,
    /// The later snapshot
    b: PathBuf,
    /// Number of classes and epochs to list, largest change first
    #[arg(long, value_name = "N", default_value_t = 15, conflicts_with = "all")]
    top: usize,
    /// List every class and epoch that changed
    #[arg(long)]
    all: bool,
}

fn load(path: &Path) -> Result<snapshot::Snapshot, String> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("standard input: {e}"))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
    };
    snapshot::Snapshot::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn fail(msg: &str, code: u8) -> ExitCode {
    eprintln!("zslab: {msg}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run(a) => {
            let o = run::RunOptions {
                stats: a.stats,
                stats_file: a.stats_file,
                stats_signal: a.stats_signal,
                epoch_ms: a.epoch_ms,
                lib: a.lib,
                no_resolve: a.no_resolve,
                verbose: a.verbose,
                vars: a.vars,
                command: a.command,
            };
            match run::plan(&o) {
                Ok(p) => {
                    let (msg, code) = run::exec(&p, o.verbose);
                    fail(&msg, code as u8)
                }
                Err(e) => fail(&e, 2),
            }
        }
        Cmd::Stats(a) => {
            if !(a.timeout.is_finite() && a.timeout > 0.0) {
                return fail("--timeout must be a positive number of seconds", 2);
            }
            let o = live::StatsOptions {
                pid: a.pid,
                timeout: Duration::from_secs_f64(a.timeout),
                raw: a.raw,
                top: Some(a.top),
            };
            match live::stats(&o) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err((msg, code)) => fail(&msg, code as u8),
            }
        }
        Cmd::Show(a) => match load(&a.file) {
            Ok(s) => {
                let top = (!a.all).then_some(a.top);
                let src = a.file.display().to_string();
                print!("{}", show::render(&s, &src, &show::ShowOptions { top }));
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e, 1),
        },
        Cmd::Diff(d) => match (load(&d.a), load(&d.b)) {
            (Ok(x), Ok(y)) => {
                let top = (!d.all).then_some(d.top);
                let (an, bn) = (d.a.display().to_string(), d.b.display().to_string());
                print!(
                    "{}",
                    diff::render(&x, &an, &y, &bn, &diff::DiffOptions { top })
                );
                ExitCode::SUCCESS
            }
            (Err(e), _) | (_, Err(e)) => fail(&e, 1),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_splits_variables_from_the_program() {
        let cli = Cli::try_parse_from([
            "zslab",
            "run",
            "--stats",
            "--epoch-ms",
            "50",
            "ZSLAB_CACHE_SLABS=8",
            "--",
            "python3",
            "-c",
            "print(1)",
        ])
        .unwrap();
        let Cmd::Run(r) = cli.command else { panic!() };
        assert!(r.stats);
        assert_eq!(r.epoch_ms, Some(50));
        assert_eq!(r.vars, ["ZSLAB_CACHE_SLABS=8"]);
        assert_eq!(r.command, ["python3", "-c", "print(1)"]);
    }

    #[test]
    fn run_without_dashes_leaves_no_program() {
        let cli = Cli::try_parse_from(["zslab", "run", "python3"]).unwrap();
        let Cmd::Run(r) = cli.command else { panic!() };
        assert!(r.command.is_empty());
        assert_eq!(r.vars, ["python3"]);
    }
}
