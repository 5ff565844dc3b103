//! How a SQLite connection waits while another one holds the database's write lock.
//!
//! Two connections write to a node's database: the turns' writer thread
//! ([`super::group_commit`]) and the sqlx writer (the dispatcher's offers, agents, drafts,
//! erasure). When a statement finds the lock taken, SQLite calls its connection's busy
//! handler and tries again while the handler says so. SQLite's own handler (what
//! `busy_timeout` installs) sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and then 100 ms
//! between tries: made for locks held for long, it leaves a write asleep for up to 100 ms
//! after the lock came free. Here a lock is held for one batch of turns, about a millisecond,
//! and under peak load the turns' writer takes it batch after batch, so the staff side's
//! writes slept through most of their chances (seconds of sleep per busy minute, 100 ms at a
//! time) and the turns' writer, in its turn, slept while an offer was being written.
//!
//! So every connection Baton opens tries again after [`STEP`], for as long as the busy
//! timeout, and only then fails with `SQLITE_BUSY` ([`super::StoreError::Busy`]):
//!
//! ```text
//! statement ─► lock taken ─► wait(tries): sleep STEP, try again ─► … ─► lock free ─► runs
//!                                    └─ tries × STEP ≥ BUSY_TIMEOUT ─► SQLITE_BUSY
//! ```
//!
//! Short steps alone are not fair: the turns' writer releases the lock and takes it again for
//! its next batch within microseconds, so a waiting sqlx write only gets in when its try
//! happens to fall in that gap. So a sqlx connection's tries also say that it is waiting, and
//! the turns' writer, before each batch, lets such a write in first
//! ([`let_waiting_writes_in`]): a staff write waits for at most the batch being written.

use std::ffi::{c_int, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a write waits for the other writer before failing with `Busy`.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause between two tries: a fraction of the time a batch holds the lock, and long
/// enough that a waiting connection costs nothing noticeable.
const STEP: Duration = Duration::from_micros(200);

/// Calls of [`wait`], for the tests to see which handler a connection has.
#[cfg(test)]
static TRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The busy handler: sleeps one step and says whether to try again (`tries` is how many
/// times this statement has already found the lock taken).
fn wait(tries: i32) -> bool {
    #[cfg(test)]
    TRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let waited = STEP.saturating_mul(u32::try_from(tries).unwrap_or(u32::MAX));
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(STEP);
    true
}

/// Installs [`wait`] on a connection the store opened with rusqlite.
pub(super) fn install(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.busy_handler(Some(wait))
}

/// When a sqlx connection last found the lock taken, in µs of [`clock`] (0: never). One for
/// the process: a node has one database, and in tests a signal seen by another store's
/// writer costs that writer a pause of at most [`MAX_GIVE_WAY`].
static SQLX_WAITED_AT: AtomicU64 = AtomicU64::new(0);

/// The longest the turns' writer holds back for waiting writes, per batch.
const MAX_GIVE_WAY: Duration = Duration::from_millis(5);

/// Microseconds since the first call: a monotonic clock the handlers can share.
fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64 + 1
}

/// Whether a sqlx write was waiting for the lock within the last two steps, that is, is
/// still trying.
fn sqlx_write_waiting() -> bool {
    still_trying(SQLX_WAITED_AT.load(Ordering::Relaxed), clock())
}

/// Whether a write that last waited at `waited_at` is still trying at `now` (µs).
fn still_trying(waited_at: u64, now: u64) -> bool {
    waited_at != 0 && now.saturating_sub(waited_at) < 2 * STEP.as_micros() as u64
}

/// Called by the turns' writer between two batches, without the lock: while a sqlx write is
/// trying to take the lock, pauses so that its next try finds it free (for at most
/// [`MAX_GIVE_WAY`]). Returns at once when nobody waits.
pub(super) fn let_waiting_writes_in() {
    let started = Instant::now();
    while sqlx_write_waiting() && started.elapsed() < MAX_GIVE_WAY {
        std::thread::sleep(STEP / 2);
    }
}

/// Installs [`wait`] on a sqlx connection (sqlx only offers SQLite's own handler), telling
/// the turns' writer each time it waits.
pub(super) async fn install_on_sqlx(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    unsafe extern "C" fn handler(_: *mut c_void, tries: c_int) -> c_int {
        SQLX_WAITED_AT.store(clock(), Ordering::Relaxed);
        c_int::from(wait(tries))
    }
    let mut locked = conn.lock_handle().await?;
    let db = locked.as_raw_handle();
    // SAFETY: `db` is the open connection, held exclusively through `locked` for this call;
    // `handler` is a plain function that never unwinds and uses no user data, so the null
    // argument is never read. sqlx and rusqlite link the same libsqlite3-sys.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_busy_handler(db.as_ptr(), Some(handler), std::ptr::null_mut())
    };
    if rc == rusqlite::ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!("cannot set the busy handler (SQLite error {rc})").into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_again_until_the_busy_timeout_then_gives_up() {
        let last = (BUSY_TIMEOUT.as_micros() / STEP.as_micros()) as i32;
        assert!(wait(0));
        assert!(wait(last - 1));
        assert!(!wait(last));
        assert!(!wait(i32::MAX));
        assert!(
            !wait(-1),
            "a count SQLite never gives is no licence to wait forever"
        );
    }

    /// A sqlx write that finds the lock taken waits in [`wait`] (not SQLite's own handler)
    /// and goes through once the holder commits.
    #[tokio::test]
    async fn a_sqlx_write_waits_in_short_steps_and_goes_through() {
        use sqlx::{ConnectOptions, Connection};
        use std::str::FromStr;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        let holder = rusqlite::Connection::open(&path).unwrap();
        holder
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();
        let mut waiting = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(&path)
            .connect()
            .await
            .unwrap();
        install_on_sqlx(&mut waiting).await.unwrap();

        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let tries_before = TRIES.load(std::sync::atomic::Ordering::Relaxed);
        let holding = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            holder.execute_batch("COMMIT").unwrap();
        });
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut waiting)
            .await
            .unwrap();
        holding.join().unwrap();
        let tries = TRIES.load(std::sync::atomic::Ordering::Relaxed) - tries_before;
        // SQLite's own handler would have tried about eight times in 100 ms.
        assert!(tries >= 20, "{tries} tries");
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(&mut waiting)
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert!(
            SQLX_WAITED_AT.load(Ordering::Relaxed) != 0,
            "its tries told the turns' writer"
        );
        waiting.close().await.unwrap();
    }

    #[test]
    fn a_sqlx_write_counts_as_waiting_until_it_stops_trying() {
        let step = STEP.as_micros() as u64;
        assert!(!still_trying(0, 10 * step), "never waited");
        assert!(still_trying(5 * step, 5 * step));
        assert!(still_trying(5 * step, 6 * step), "between two tries");
        assert!(
            !still_trying(5 * step, 8 * step),
            "stopped: it has the lock"
        );
    }
}
