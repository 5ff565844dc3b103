//! A PostgreSQL database of one test's own, for the store's unit tests and the integration
//! tests alike (they include this file by path): created with a random name on the server
//! `TEST_POSTGRES_URL` names (default [`DEFAULT_POSTGRES`]), dropped when the test is done.
//! When the server cannot be reached the test fails, saying how to start one.

use sqlx::Connection;

/// The server the PostgreSQL tests use unless `TEST_POSTGRES_URL` names another.
pub const DEFAULT_POSTGRES: &str = "postgres://baton:baton@127.0.0.1:5432/postgres";

/// A database of one test's own on the test server.
pub struct PgDatabase {
    admin: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl PgDatabase {
    /// Creates an empty database with a random name; panics with instructions when the
    /// server cannot be reached.
    pub async fn create() -> PgDatabase {
        let admin = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is needed for this test and cannot be reached ({e}). Start it — e.g. \
                 `apt-get install -y postgresql && service postgresql start`, then \
                 `su postgres -c \"psql -c \\\"CREATE ROLE baton LOGIN PASSWORD 'baton' CREATEDB\\\"\"` — \
                 or point TEST_POSTGRES_URL at a server whose role may create databases \
                 (default {DEFAULT_POSTGRES})"
            )
        });
        let name = format!("baton_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("the test role may create databases (CREATEDB)");
        let _ = conn.close().await;
        let mut url = url::Url::parse(&admin).expect("TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        PgDatabase {
            admin,
            url: url.to_string(),
            name,
        }
    }

    /// Drops the database, closing whatever connections are still open on it.
    pub async fn drop_now(self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}
