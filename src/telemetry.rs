//! Logging: `tracing` to stderr, filtered by `BATON_LOG` (e.g. `BATON_LOG=debug`).
//!
//! Lines are written by a background thread, not by the request threads: one `write` per
//! line on a loaded node cost a sixth of its throughput. The queue never drops a line (a
//! full queue makes the logger wait), and the guard [`init`] returns flushes what is left
//! when the program ends.
//!
//! Baton never logs message text; identifiers, intents, decisions and timings only. Where a
//! value from a shopper must appear, it goes through [`crate::pii::mask`] first.
//!
//! [`progress`] reports long work (a bar on a terminal, log lines otherwise).

pub mod progress;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (a second call installs nothing). Keep the returned guard
/// until the program ends: dropping it flushes the lines still queued.
#[must_use = "dropping the guard stops the log writer"]
pub fn init() -> WorkerGuard {
    let filter = EnvFilter::try_from_env("BATON_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,tantivy=warn,sqlx=warn"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("baton-log")
        .finish(std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colours only for a person at a terminal, not for log files and collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
    guard
}
