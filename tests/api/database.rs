//! Which store the suite runs on, and a fresh database for each test.
//!
//! The suite runs on SQLite; with `TEST_STORE=postgres` every test server keeps its
//! data in PostgreSQL instead (CI runs both). Each test's data directory gets its own
//! database on the server `TEST_POSTGRES_URL` names (by default the one `.ci/deps.sh`
//! starts), so a restart of the same data directory finds the same data.

use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use sqlx::Row;
use sqlx::postgres::PgConnection;

/// The PostgreSQL server tests create their databases on.
pub fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://baton:baton@127.0.0.1:5432/postgres".into())
}

/// Whether test servers keep their data in PostgreSQL (`TEST_STORE=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// The URL of the test database of `data_dir`, created on first use.
pub fn database_for(data_dir: &Path) -> String {
    let marker = data_dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&marker) {
        return url;
    }
    let url = new_database();
    use_database(data_dir, &url);
    url
}

/// Makes `data_dir` use the database at `url` (several nodes on one database).
pub fn use_database(data_dir: &Path, url: &str) {
    std::fs::create_dir_all(data_dir).expect("data dir");
    std::fs::write(data_dir.join("test-database-url"), url).expect("database marker");
}

/// The environment that points the `baton` binary at `data_dir`'s store (nothing on SQLite,
/// where `--data-dir` says it all).
pub fn store_env(data_dir: &Path) -> Option<(&'static str, String)> {
    on_postgres().then(|| ("BATON_DATABASE_URL", database_for(data_dir)))
}

/// A new, empty database on the test server.
pub fn new_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static TIDY: Once = Once::new();
    let name = format!(
        "baton_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let server = postgres_server();
    let sql = format!("CREATE DATABASE {name}");
    let tidy = !TIDY.is_completed();
    TIDY.call_once(|| {});
    on_own_runtime(async move {
        let mut c = PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at TEST_POSTGRES_URL ({e}); `.ci/deps.sh` installs and starts it"
            )
        });
        if tidy {
            drop_stale_databases(&mut c).await;
        }
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .expect("create the test database");
    });
    let base = postgres_server();
    let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(&base);
    format!("{server}/{name}")
}

/// Drops test databases of test processes that are gone.
async fn drop_stale_databases(c: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'baton_test_%'")
            .fetch_all(&mut *c)
            .await
            .map(|rows| rows.iter().filter_map(|r| r.try_get(0).ok()).collect())
            .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !Path::new("/proc").join(pid).exists() {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *c).await;
        }
    }
}

/// Runs `work` to completion on a runtime of its own (callers may be inside one).
fn on_own_runtime(work: impl std::future::Future<Output = ()> + Send + 'static) {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(work)
    })
    .join()
    .expect("database set-up");
}

/// Every text stored in any column of any table of a test server's database.
pub async fn all_text(data_dir: &Path) -> String {
    if on_postgres() {
        postgres_text(&database_for(data_dir)).await
    } else {
        sqlite_text(&data_dir.join("baton.db")).await
    }
}

async fn sqlite_text(file: &Path) -> String {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .read_only(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut all = String::new();
    for t in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{t}\"")))
            .fetch_all(&pool)
            .await
            .unwrap();
        for row in rows {
            for i in 0..row.len() {
                if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                    all.push_str(&s);
                    all.push('\n');
                }
            }
        }
    }
    pool.close().await;
    all
}

async fn postgres_text(url: &str) -> String {
    let mut c = PgConnection::connect(url).await.unwrap();
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND data_type = 'text'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut all = String::new();
    for (table, column) in columns {
        let sql = format!("SELECT \"{column}\" FROM \"{table}\" WHERE \"{column}\" IS NOT NULL");
        let values: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut c)
            .await
            .unwrap();
        for v in values {
            all.push_str(&v);
            all.push('\n');
        }
    }
    all
}
