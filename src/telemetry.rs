//! Logging: `tracing` to stderr, filtered by `BATON_LOG` (e.g. `BATON_LOG=debug`).
//!
//! Baton never logs message text; identifiers, intents, decisions and timings only. Where a
//! value from a shopper must appear, it goes through [`crate::pii::mask`] first.
//!
//! [`progress`] reports long work (a bar on a terminal, log lines otherwise).

pub mod progress;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call is a no-op.
pub fn init() {
    let filter = EnvFilter::try_from_env("BATON_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,tantivy=warn,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not for log files and collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
