//! Options of every sqlx pool Baton opens (SQLite and PostgreSQL alike).
//!
//! They turn off the pool's maintenance task (idle timeout and maximum lifetime, both on by
//! default in sqlx). In sqlx 0.9 that task walks `0..num_idle()` trying to take each idle
//! connection, without yielding to the runtime. The idle count is decremented when a
//! connection is taken and incremented only after a returned one is back in the queue, so
//! under concurrent use it can read as `usize::MAX` for an instant: a server under a burst of
//! turns was caught spinning in that loop on a runtime thread for minutes. A connection to a
//! local SQLite file needs neither reaping nor a lifetime; a PostgreSQL connection that broke
//! is found before use (sqlx's `test_before_acquire`, left on).

use sqlx::pool::PoolOptions;

/// Pool options with the maintenance task off; callers add their sizes.
pub(crate) fn options<DB: sqlx::Database>() -> PoolOptions<DB> {
    PoolOptions::new().idle_timeout(None).max_lifetime(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_pool_runs_the_maintenance_task() {
        let options = options::<sqlx::Sqlite>();
        assert_eq!(options.get_idle_timeout(), None);
        assert_eq!(options.get_max_lifetime(), None);
        assert_eq!(options.get_min_connections(), 0, "nor tops itself up");
        assert!(options.get_test_before_acquire());
    }
}
