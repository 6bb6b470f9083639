//! zslab's log: `tracing` events on stderr, each line prefixed `zslab:` so
//! they stand apart from the program's own output, at the level ZSLAB_LOG
//! chooses. The subscriber is installed from the library constructor,
//! after the allocator is fully up. Events are emitted only outside
//! allocation paths (start-up, the C API, statistics files, exit), never
//! while an allocator lock is held, so the formatting layer's own
//! allocations are ordinary, re-entrant mallocs.

use crate::config::LogLevel;
use std::io::{self, Write};
use tracing::level_filters::LevelFilter;

/// stderr, with `zslab: ` at the start of every line.
struct Prefixed {
    at_line_start: bool,
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len() + 16);
        for &b in buf {
            if self.at_line_start {
                out.extend_from_slice(b"zslab: ");
            }
            out.push(b);
            self.at_line_start = b == b'\n';
        }
        io::stderr().write_all(&out)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Install the stderr subscriber (once; a no-op when the level is off or a
/// subscriber already exists).
pub fn init(level: LogLevel) {
    let filter = match level {
        LogLevel::Off => return,
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(|| Prefixed {
            at_line_start: true,
        })
        .with_max_level(filter)
        .with_target(false)
        .with_ansi(false)
        .without_time()
        .try_init();
}
