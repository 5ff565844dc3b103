//! Progress of long work — embedding a large KB or an evaluation set — so whoever started it
//! knows Baton is working and how long it will take: a bar with the rate and time left when
//! stderr is a terminal, a plain log line every few seconds otherwise (log files, CI).
//!
//! Data flow: the worker threads call [`Progress::add`] as they finish pieces → the bar
//! redraws itself (indicatif rate-limits drawing), or the next `add` after the interval writes
//! one `tracing` line → [`Progress::finish`] writes the total and the time taken.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Work smaller than this finishes before anyone would look: no bar, no lines.
pub const WORTH_SHOWING: u64 = 500;

/// Seconds between plain progress lines.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// One piece of long work being counted.
pub struct Progress {
    what: &'static str,
    total: u64,
    done: AtomicU64,
    started: Instant,
    bar: Option<ProgressBar>,
    last_line: Mutex<Instant>,
    quiet: bool,
}

impl Progress {
    /// Starts counting `total` units of `what` (e.g. "embedding texts"); quiet below
    /// [`WORTH_SHOWING`].
    pub fn start(what: &'static str, total: u64) -> Progress {
        Progress::start_from(what, total, WORTH_SHOWING)
    }

    /// [`Progress::start`] for units cheaper or dearer than a text to embed: quiet below
    /// `worth_showing` of them.
    pub fn start_from(what: &'static str, total: u64, worth_showing: u64) -> Progress {
        let quiet = total < worth_showing;
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{msg} [{bar:32}] {human_pos}/{human_len} {per_sec} · {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(what);
            bar
        });
        if !quiet && bar.is_none() {
            tracing::info!(total, "{what}: starting");
        }
        Progress {
            what,
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
            bar,
            last_line: Mutex::new(Instant::now()),
            quiet,
        }
    }

    /// Counts `n` more units done.
    pub fn add(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
            return;
        }
        if self.quiet {
            return;
        }
        let Ok(mut last) = self.last_line.try_lock() else {
            return;
        };
        if last.elapsed() < LINE_EVERY {
            return;
        }
        *last = Instant::now();
        let (rate, left) = self.rate_and_time_left(done);
        tracing::info!(
            done,
            total = self.total,
            per_second = rate.round() as u64,
            seconds_left = left.as_secs(),
            "{}: {done} of {} ({}%), about {} left",
            self.what,
            self.total,
            done * 100 / self.total.max(1),
            human(left)
        );
    }

    /// Units per second so far and the time the rest will take at that rate.
    fn rate_and_time_left(&self, done: u64) -> (f64, Duration) {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / seconds;
        let rest = self.total.saturating_sub(done) as f64;
        let left = if rate > 0.0 { rest / rate } else { 0.0 };
        (rate, Duration::from_secs_f64(left.min(1e7)))
    }

    /// Ends the bar (or writes the closing line).
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if !self.quiet {
            tracing::info!(
                total = self.done.load(Ordering::Relaxed),
                seconds = self.started.elapsed().as_secs(),
                "{}: done in {}",
                self.what,
                human(self.started.elapsed())
            );
        }
    }
}

/// "2 min 5 s", "40 s".
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_follows_the_rate_so_far() {
        let p = Progress::start("testing", 1000);
        std::thread::sleep(Duration::from_millis(50));
        let (rate, left) = p.rate_and_time_left(500);
        assert!(rate > 0.0);
        // Half done after ~50 ms: about as long again.
        assert!(left < Duration::from_secs(1), "{left:?}");
        p.add(1000);
        assert_eq!(p.done.load(Ordering::Relaxed), 1000);
        p.finish();
        assert_eq!(human(Duration::from_secs(125)), "2 min 5 s");
        assert_eq!(human(Duration::from_secs(7300)), "2 h 1 min");
    }
}
