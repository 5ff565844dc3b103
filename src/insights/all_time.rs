//! The all-time statistics `/metrics` shows, at a cost that does not grow with the history.
//!
//! Computed from scratch they read every conversation ever stored, all at once: after half a
//! minute of peak load one scrape took seconds and half a gigabyte, and every busy day
//! added to it. So:
//!
//! - conversations are read in parts of at most [`PART`] (a range is split in halves until
//!   its count, an index read, is small enough), each part tallied and dropped
//!   ([`crate::insights::stats::Tally`]): memory is one part's activity plus the tally;
//! - conversations that started before the settle line (the start of the UTC day
//!   [`SETTLE_DAYS`] days ago) are tallied once and kept; only newer ones are read again.
//!   As days pass the line moves, and the days it passes are tallied once;
//! - a scrape never waits for a refresh, except the first one after start: it gets the last
//!   statistics, and starts a refresh in the background when they are older than
//!   [`MIN_INTERVAL`], or than nine times the last refresh took, so refreshing never takes
//!   more than a tenth of the time.
//!
//! ```text
//! scrape ─► latest statistics ─(older than the interval)─► background refresh:
//!   days settled since the last refresh ─► parts ─► tally ─► settled tally (kept)
//!   settled tally + conversations since the line (parts) + reloads ─► Stats ─► latest
//! ```
//!
//! What a settled conversation does later (a rating, a hand-over days after it started)
//! reaches `/metrics` after the next restart; `/v1/admin/stats` reads its range afresh.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::InsightsError;
use super::stats::{Stats, Tally};
use crate::clock::Clock;
use crate::knowledge::reload::RELOAD_ACTION;
use crate::store::Store;

/// The most conversations read from the store at once.
const PART: u64 = 2_000;

/// Days after which a day's conversations count as settled.
const SETTLE_DAYS: i64 = 2;

const DAY_MS: i64 = 86_400_000;

/// Statistics younger than this are shown as they are.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);

/// The last statistics computed, when, and how long that took.
#[derive(Clone)]
struct Latest {
    stats: Arc<Stats>,
    at: Instant,
    took: Duration,
}

/// Conversations that started before `until`, tallied.
struct Settled {
    until: i64,
    tally: Tally,
}

/// The all-time statistics of one store. Shared by the server's handlers.
pub struct AllTime {
    store: Arc<dyn Store>,
    clock: Clock,
    /// The most conversations read at once ([`PART`]; fewer in tests).
    part: u64,
    settled: tokio::sync::Mutex<Settled>,
    latest: std::sync::Mutex<Option<Latest>>,
    /// Why the last refresh failed (cleared by one that succeeds).
    failure: std::sync::Mutex<Option<String>>,
    /// A refresh is running (in a task of its own, so that a scrape given up by its client
    /// does not throw the work away).
    refreshing: AtomicBool,
    /// Counts finished refreshes, for the first scrape to wait on.
    finished: tokio::sync::watch::Sender<u64>,
}

/// Marks a refresh finished when dropped, whatever way it ended (a panic included), so that
/// neither the next refresh nor a waiting scrape is blocked for good.
struct Finished<'a>(&'a AllTime);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.refreshing.store(false, Ordering::Release);
        self.0.finished.send_modify(|n| *n += 1);
    }
}

/// An empty tally of conversations of any time, bucketed by day.
fn empty() -> Tally {
    Tally::new(0, i64::MAX / 2)
}

/// The start of the UTC day `SETTLE_DAYS` before the one `now` is in.
fn settle_line(now: i64) -> i64 {
    (now.div_euclid(DAY_MS) - SETTLE_DAYS).max(0) * DAY_MS
}

/// How long statistics that took `took` to compute are shown before the next refresh.
fn interval(took: Duration) -> Duration {
    MIN_INTERVAL.max(took.saturating_mul(9))
}

impl AllTime {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> AllTime {
        AllTime {
            store,
            clock,
            part: PART,
            settled: tokio::sync::Mutex::new(Settled {
                until: 0,
                tally: empty(),
            }),
            latest: std::sync::Mutex::new(None),
            failure: std::sync::Mutex::new(None),
            refreshing: AtomicBool::new(false),
            finished: tokio::sync::watch::Sender::new(0),
        }
    }

    fn latest(&self) -> Option<Latest> {
        self.latest.lock().ok().and_then(|l| l.clone())
    }

    /// The statistics of every conversation so far, as of the last refresh (see the module
    /// docs), and how long ago that was. Only the first scrape waits for them.
    pub async fn stats(self: &Arc<Self>) -> Result<(Arc<Stats>, Duration), InsightsError> {
        if let Some(latest) = self.latest() {
            if latest.at.elapsed() >= interval(latest.took) {
                self.start_refresh();
            }
            return Ok((latest.stats, latest.at.elapsed()));
        }
        let mut finished = self.finished.subscribe();
        self.start_refresh();
        loop {
            if let Some(latest) = self.latest() {
                return Ok((latest.stats, latest.at.elapsed()));
            }
            // The sender lives as long as `self`.
            let _ = finished.changed().await;
            if self.latest().is_none() && !self.refreshing.load(Ordering::Acquire) {
                let why = self.failure.lock().ok().and_then(|f| f.clone());
                return Err(InsightsError::Task(
                    "statistics",
                    why.unwrap_or_else(|| "the refresh did not finish".into()),
                ));
            }
        }
    }

    /// Starts a refresh in the background unless one is running.
    fn start_refresh(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let _done = Finished(&me);
            let outcome = me.refresh().await;
            if let Ok(mut failure) = me.failure.lock() {
                *failure = outcome.err().map(|e| e.to_string());
                if let Some(why) = failure.as_deref() {
                    tracing::warn!(error = %why, "the statistics for /metrics could not be refreshed");
                }
            }
        });
    }

    /// Computes the statistics afresh (settling the days that settled since the last time).
    async fn refresh(&self) -> Result<Arc<Stats>, InsightsError> {
        let mut settled = self.settled.lock().await;
        let started = Instant::now();
        let now = self.clock.now_ms();
        let line = settle_line(now);
        if line > settled.until {
            // Into a tally of its own: a failure half way must not count a part twice.
            let newly = self.tally(settled.until, line, empty()).await?;
            settled.tally.merge(newly);
            settled.until = line;
        }
        let all = self
            .tally(settled.until, now + 1, settled.tally.clone())
            .await?;
        drop(settled);
        let reloads = self.store.audit_actions(RELOAD_ACTION, 0, now + 1).await?;
        let stats = tokio::task::spawn_blocking(move || all.until(now + 1).finish(&reloads))
            .await
            .map_err(|e| InsightsError::Task("statistics", e.to_string()))?;
        let stats = Arc::new(stats);
        let took = started.elapsed();
        super::log_slow(
            "refreshing the statistics for /metrics",
            took,
            "the next refresh waits nine times as long",
        );
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some(Latest {
                stats: stats.clone(),
                at: Instant::now(),
                took,
            });
        }
        Ok(stats)
    }

    /// Adds the conversations that started in `[from, to)` to `into`, reading at most
    /// [`PART`] of them at a time.
    async fn tally(&self, from: i64, to: i64, mut into: Tally) -> Result<Tally, InsightsError> {
        let mut ranges = vec![(from, to)];
        while let Some((a, b)) = ranges.pop() {
            if a >= b {
                continue;
            }
            let n = self.store.count_conversations(a, b).await?;
            if n == 0 {
                continue;
            }
            if n > self.part && b - a > 1 {
                let middle = a + (b - a) / 2;
                // Popped oldest half first.
                ranges.push((middle, b));
                ranges.push((a, middle));
                continue;
            }
            let activity = self.store.activity(a, b).await?;
            into = tokio::task::spawn_blocking(move || {
                for c in &activity {
                    into.add(c);
                }
                into
            })
            .await
            .map_err(|e| InsightsError::Task("statistics", e.to_string()))?;
        }
        Ok(into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;
    use crate::conversation::{Author, Conversation, Message, TurnRecord};
    use crate::store::{SqliteStore, TurnWrite};

    /// A SQLite store in a directory of its own (kept while the directory lives).
    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&dir.path().join("baton.db"), &StoreConfig::default())
            .await
            .unwrap();
        (dir, Arc::new(sqlite))
    }

    /// A conversation started at `at` whose shopper asked once and was answered from `faq`.
    async fn answered(store: &Arc<dyn Store>, id: &str, at: i64, faq: &str) {
        let c = Conversation {
            created_at: at,
            updated_at: at,
            ..Conversation::for_tests(id)
        };
        store.create_conversation(&c).await.unwrap();
        let asked = Message {
            created_at: at,
            turn: Some(TurnRecord::answered("order_status", faq)),
            ..Message::for_tests(1, Author::Shopper, Some(id))
        };
        store
            .commit_turn(&TurnWrite::new(&c, vec![asked], at))
            .await
            .unwrap();
    }

    /// What `/v1/admin/stats` computes from scratch over all time.
    async fn from_scratch(store: &Arc<dyn Store>, now: i64) -> Stats {
        let activity = store.activity(0, now + 1).await.unwrap();
        super::super::stats::compute(0, now + 1, &activity, &[])
    }

    fn same(mut a: Stats, b: &Stats) {
        assert!((a.confidence_sum - b.confidence_sum).abs() < 1e-6);
        a.confidence_sum = b.confidence_sum;
        assert_eq!(&a, b);
    }

    #[tokio::test]
    async fn all_time_statistics_read_in_parts_match_a_computation_from_scratch_as_days_settle() {
        let (_dir, store) = store().await;
        let clock = Clock::manual(20_000 * DAY_MS + DAY_MS / 2);
        let all_time = AllTime {
            part: 3,
            ..AllTime::new(store.clone(), clock.clone())
        };
        // Eleven conversations, one every 12 hours back from now: some settled, some not,
        // and more than three to a day's range, so the ranges are split.
        for i in 0..11 {
            let faq = if i % 3 == 0 { "refund" } else { "shipping" };
            answered(
                &store,
                &format!("c{i}"),
                clock.now_ms() - i * DAY_MS / 2,
                faq,
            )
            .await;
        }
        let first = all_time.refresh().await.unwrap();
        assert_eq!(first.conversations, 11);
        same(
            (*first).clone(),
            &from_scratch(&store, clock.now_ms()).await,
        );
        let line = all_time.settled.lock().await.until;
        assert_eq!(line, settle_line(clock.now_ms()));

        // Three days on, with new conversations: the days passed settle, and the figures
        // still agree.
        clock.advance(Duration::from_secs(3 * 86_400));
        for i in 0..4 {
            answered(
                &store,
                &format!("d{i}"),
                clock.now_ms() - i * 3_600_000,
                "refund",
            )
            .await;
        }
        let later = all_time.refresh().await.unwrap();
        assert_eq!(later.conversations, 15);
        same(
            (*later).clone(),
            &from_scratch(&store, clock.now_ms()).await,
        );
        assert!(all_time.settled.lock().await.until > line);
    }

    #[tokio::test]
    async fn only_the_first_scrape_waits_and_later_ones_show_the_last_refresh() {
        let (_dir, store) = store().await;
        let clock = Clock::manual(20_000 * DAY_MS);
        answered(&store, "c0", clock.now_ms() - 1_000, "refund").await;
        let all_time = Arc::new(AllTime::new(store.clone(), clock.clone()));
        let (first, age) = all_time.stats().await.unwrap();
        assert_eq!(first.conversations, 1);
        assert!(age < MIN_INTERVAL);
        // Within the interval: the same figures, though the store has more by now.
        answered(&store, "c1", clock.now_ms() - 500, "refund").await;
        let (again, _) = all_time.stats().await.unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(
            !all_time.refreshing.load(Ordering::Acquire),
            "nothing was due"
        );
    }

    #[test]
    fn the_settle_line_is_the_start_of_the_day_two_days_back() {
        let noon = 20_000 * DAY_MS + DAY_MS / 2;
        assert_eq!(settle_line(noon), 19_998 * DAY_MS);
        assert_eq!(settle_line(20_000 * DAY_MS), 19_998 * DAY_MS);
        assert_eq!(settle_line(DAY_MS), 0, "nothing settled in the first days");
    }

    #[test]
    fn refreshing_never_takes_more_than_a_tenth_of_the_time() {
        assert_eq!(interval(Duration::from_millis(50)), MIN_INTERVAL);
        assert_eq!(interval(Duration::from_secs(4)), Duration::from_secs(36));
    }
}
