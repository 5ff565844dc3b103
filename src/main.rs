//! The `baton` binary: parse the command line, set up logging, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

// A turn allocates many small, short-lived objects (JSON, SQL rows, token lists) across
// threads; glibc's allocator spent a sixth of a loaded node's time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The encoder runs one forward pass per worker thread (one worker per core). candle would
    // also split each matrix product across all cores, and the two kinds of parallelism fight:
    // single-threaded products on parallel workers serve ~50% more sentences per second on
    // 2 cores. candle reads this variable on every product, so it must be set before any
    // thread starts; an operator's own setting wins.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: no other thread exists yet, so nothing can read the environment concurrently.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    }
    let cli = baton::cli::Cli::parse();
    let _log_writer = baton::telemetry::init();
    match baton::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("baton: {e:#}");
            ExitCode::FAILURE
        }
    }
}
