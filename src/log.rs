//! zslab's log: `tracing` events on stderr, at the level ZSLAB_LOG chooses.
//! The subscriber is installed from the library constructor, after the
//! allocator is fully up. Events are emitted only outside allocation paths
//! (start-up, the C API, exit), never while an allocator lock is held, so the
//! formatting layer's own allocations are ordinary, re-entrant mallocs.

use crate::config::LogLevel;
use tracing::level_filters::LevelFilter;

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
        .with_writer(std::io::stderr)
        .with_max_level(filter)
        .with_target(false)
        .with_ansi(false)
        .without_time()
        .try_init();
}
