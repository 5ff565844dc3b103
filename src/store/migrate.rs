//! `baton migrate-store`: copies a shop's SQLite database into an empty PostgreSQL one.
//!
//! ```text
//! SQLite file ─ SqliteStore::open (pending migrations, derived columns) ─ read-only
//!   connection, one read transaction (a consistent snapshot of every table)
//!   ─► per table, in foreign-key order: pages of BATCH rows by rowid
//!   ─► INSERT … SELECT FROM UNNEST(one array per column) in ONE PostgreSQL transaction
//!   ─► row counts compared per table ─► COMMIT (or nothing at all)
//! ```
//!
//! The target is migrated by [`PgStore::open`] first, so an empty database created with
//! `createdb` will do; one that already holds rows is refused (its tables are locked while
//! they are checked, so two runs cannot both pass). Tables and columns are read from the
//! SQLite schema, so a table a later migration adds is copied too; every column must exist
//! in PostgreSQL (both are at the same migration). Memory stays bounded by one page of rows
//! whatever the size of the shop.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::Row;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};

use super::{PgStore, SqliteStore, Store, StoreError};
use crate::config::StoreConfig;

/// Rows read and written at a time.
const BATCH: usize = 1_000;

/// A progress report is due every this many rows of a table.
pub const PROGRESS_EVERY: u64 = 100_000;

/// One table as copied: how many rows both databases hold after the copy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCopy {
    pub table: String,
    pub rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("no SQLite database at {0}")]
    NoSource(PathBuf),
    #[error(
        "the target database is not empty ({table} holds {rows} row(s)): migrate into a new, empty database"
    )]
    NotEmpty { table: String, rows: i64 },
    #[error("the two schemas differ: {0} (are both databases at the same migration?)")]
    Schema(String),
    #[error(
        "table {table}: {copied} row(s) copied, {source_rows} in SQLite and {target} in PostgreSQL; nothing was committed"
    )]
    Mismatch {
        table: String,
        copied: u64,
        source_rows: i64,
        target: i64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for MigrateError {
    fn from(e: sqlx::Error) -> Self {
        MigrateError::Store(e.into())
    }
}

/// Where a database URL points (host, port, database), for messages: never its password.
pub fn describe_target(url: &str) -> String {
    super::postgres::connect_options(url)
        .map(|o| super::postgres::describe(&o))
        .unwrap_or_else(|_| "(an unreadable URL)".into())
}

/// Copies every table of the SQLite database at `source` into the PostgreSQL database at
/// `target_url`; `progress(table, copied, total)` hears of big tables every
/// [`PROGRESS_EVERY`] rows. Returns each table with its verified row count.
pub async fn sqlite_to_postgres(
    source: &Path,
    config: &StoreConfig,
    target_url: &str,
    progress: &mut (dyn FnMut(&str, u64, u64) + Send),
) -> Result<Vec<TableCopy>, MigrateError> {
    if !source.is_file() {
        return Err(MigrateError::NoSource(source.to_path_buf()));
    }
    // The source at the current schema, as `baton serve` would leave it.
    SqliteStore::open(source, config).await?.close().await;
    let target = PgStore::open(target_url, config).await?;
    let result = copy_all(source, &target, progress).await;
    target.close().await;
    result
}

async fn copy_all(
    source: &Path,
    target: &PgStore,
    progress: &mut (dyn FnMut(&str, u64, u64) + Send),
) -> Result<Vec<TableCopy>, MigrateError> {
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(source)
        .read_only(true);
    let reader = super::pool::options::<sqlx::Sqlite>()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let mut src = reader.begin().await?;
    let tables = tables_in_order(&mut src).await?;
    let mut tx = target.pool().begin().await?;
    if !tables.is_empty() {
        let names: Vec<String> = tables.iter().map(|t| quote(t)).collect();
        // Held to the commit: a second run waits, then finds the rows and is refused.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            names.join(", ")
        )))
        .execute(&mut *tx)
        .await?;
    }
    for table in &tables {
        let rows = count_pg(&mut tx, table).await?;
        if rows > 0 {
            return Err(MigrateError::NotEmpty {
                table: table.clone(),
                rows,
            });
        }
    }
    let mut copied = Vec::with_capacity(tables.len());
    for table in &tables {
        let n = copy_table(&mut src, &mut tx, table, progress).await?;
        let source_rows = count_sqlite(&mut src, table).await?;
        let target_rows = count_pg(&mut tx, table).await?;
        if source_rows != target_rows || u64::try_from(source_rows).ok() != Some(n) {
            return Err(MigrateError::Mismatch {
                table: table.clone(),
                copied: n,
                source_rows,
                target: target_rows,
            });
        }
        copied.push(TableCopy {
            table: table.clone(),
            rows: n,
        });
    }
    tx.commit().await?;
    src.rollback().await?;
    reader.close().await;
    Ok(copied)
}

/// A double-quoted SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn count_pg(conn: &mut PgConnection, table: &str) -> Result<i64, MigrateError> {
    // The name comes from SQLite's own catalogue and is quoted.
    let sql = format!("SELECT COUNT(*) FROM {}", quote(table));
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(conn)
        .await?)
}

async fn count_sqlite(conn: &mut SqliteConnection, table: &str) -> Result<i64, MigrateError> {
    let sql = format!("SELECT COUNT(*) FROM {}", quote(table));
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(conn)
        .await?)
}

/// The SQLite tables to copy, each after the tables its foreign keys point to.
async fn tables_in_order(src: &mut SqliteConnection) -> Result<Vec<String>, MigrateError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
           AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations'
         ORDER BY name",
    )
    .fetch_all(&mut *src)
    .await?;
    let mut pending = Vec::with_capacity(names.len());
    for name in names {
        let parents: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)")
                .bind(&name)
                .fetch_all(&mut *src)
                .await?;
        let parents: Vec<String> = parents.into_iter().filter(|p| *p != name).collect();
        pending.push((name, parents));
    }
    let mut ordered: Vec<String> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|(_, parents)| parents.iter().all(|p| ordered.contains(p)))
            .ok_or_else(|| {
                MigrateError::Schema("the foreign keys of the SQLite tables form a cycle".into())
            })?;
        ordered.push(pending.remove(ready).0);
    }
    Ok(ordered)
}

/// How a column travels: decoded from SQLite as, and sent to PostgreSQL as an array of.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Int8,
    Int4,
    Bool,
}

impl Kind {
    fn of(table: &str, column: &str, pg_type: &str) -> Result<Kind, MigrateError> {
        Ok(match pg_type {
            "text" => Kind::Text,
            "bigint" => Kind::Int8,
            "integer" => Kind::Int4,
            "boolean" => Kind::Bool,
            other => {
                return Err(MigrateError::Schema(format!(
                    "{table}.{column} is {other} in PostgreSQL, which migrate-store does not copy"
                )));
            }
        })
    }

    fn array(self) -> &'static str {
        match self {
            Kind::Text => "TEXT[]",
            Kind::Int8 => "BIGINT[]",
            Kind::Int4 => "INTEGER[]",
            Kind::Bool => "BOOLEAN[]",
        }
    }
}

/// One page of one column.
enum Values {
    Text(Vec<Option<String>>),
    Int8(Vec<Option<i64>>),
    Int4(Vec<Option<i32>>),
    Bool(Vec<Option<bool>>),
}

impl Values {
    fn new(kind: Kind) -> Values {
        match kind {
            Kind::Text => Values::Text(Vec::with_capacity(BATCH)),
            Kind::Int8 => Values::Int8(Vec::with_capacity(BATCH)),
            Kind::Int4 => Values::Int4(Vec::with_capacity(BATCH)),
            Kind::Bool => Values::Bool(Vec::with_capacity(BATCH)),
        }
    }

    fn push(&mut self, row: &SqliteRow, i: usize) -> Result<(), sqlx::Error> {
        match self {
            Values::Text(v) => v.push(row.try_get(i)?),
            Values::Int8(v) => v.push(row.try_get(i)?),
            Values::Int4(v) => v.push(row.try_get(i)?),
            Values::Bool(v) => v.push(row.try_get(i)?),
        }
        Ok(())
    }
}

/// The source table's columns and how each travels; an error when PostgreSQL lacks one.
async fn columns(
    src: &mut SqliteConnection,
    target: &mut PgConnection,
    table: &str,
) -> Result<Vec<(String, Kind)>, MigrateError> {
    let source: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
            .bind(table)
            .fetch_all(&mut *src)
            .await?;
    let target: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(&mut *target)
    .await?;
    if target.is_empty() {
        return Err(MigrateError::Schema(format!(
            "PostgreSQL has no table {table}"
        )));
    }
    source
        .into_iter()
        .map(|column| {
            let pg_type = target
                .iter()
                .find(|(name, _)| *name == column)
                .map(|(_, t)| t.as_str())
                .ok_or_else(|| {
                    MigrateError::Schema(format!("PostgreSQL has no column {table}.{column}"))
                })?;
            let kind = Kind::of(table, &column, pg_type)?;
            Ok((column, kind))
        })
        .collect()
}

/// Copies one table page by page (by rowid, so each page is one index range); returns the
/// rows copied.
async fn copy_table(
    src: &mut SqliteConnection,
    target: &mut PgConnection,
    table: &str,
    progress: &mut (dyn FnMut(&str, u64, u64) + Send),
) -> Result<u64, MigrateError> {
    let columns = columns(src, target, table).await?;
    let total = u64::try_from(count_sqlite(src, table).await?).unwrap_or(0);
    let names: Vec<String> = columns.iter().map(|(c, _)| quote(c)).collect();
    // Identifiers from the catalogues, quoted; every value is bound.
    let select = format!(
        "SELECT rowid, {} FROM {} WHERE rowid > ? ORDER BY rowid LIMIT ?",
        names.join(", "),
        quote(table)
    );
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| format!("${}::{}", i + 1, kind.array()))
        .collect();
    let insert = format!(
        "INSERT INTO {} ({}) SELECT * FROM UNNEST({})",
        quote(table),
        names.join(", "),
        arrays.join(", ")
    );
    let mut after = i64::MIN;
    let mut copied = 0u64;
    loop {
        let page: Vec<SqliteRow> = sqlx::query(sqlx::AssertSqlSafe(select.as_str()))
            .bind(after)
            .bind(BATCH as i64)
            .fetch_all(&mut *src)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.try_get(0)?;
        let mut values: Vec<Values> = columns.iter().map(|(_, k)| Values::new(*k)).collect();
        for row in &page {
            for (i, v) in values.iter_mut().enumerate() {
                v.push(row, i + 1)?;
            }
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(insert.as_str()));
        for v in values {
            q = match v {
                Values::Text(v) => q.bind(v),
                Values::Int8(v) => q.bind(v),
                Values::Int4(v) => q.bind(v),
                Values::Bool(v) => q.bind(v),
            };
        }
        q.execute(&mut *target).await?;
        let before = copied;
        copied += page.len() as u64;
        if copied / PROGRESS_EVERY > before / PROGRESS_EVERY {
            progress(table, copied, total);
        }
        if page.len() < BATCH {
            break;
        }
    }
    Ok(copied)
}
