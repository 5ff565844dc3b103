//! The blacklist and the word-hit log, written once for both stores: numbered placeholders
//! (`$1`) mean the same to SQLite and to PostgreSQL, and each operation is a function generic
//! over the database, so a backend only says which of its pools runs it.

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::StoreError;
use super::rows::{self, BlockRow, WordHitCountRow, WordHitRow};
use crate::moderation::{Block, WordHit, WordHitCount};

/// Columns of `blocks`, in [`BlockRow`](super::rows::BlockRow) order.
pub(super) const INSERT_BLOCK: &str = "INSERT INTO blocks (id, kind, target, reason, created_by,
     created_at, expires_at, lifted_at, lifted_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// `$1` now, `$2` by, `$3` id: lifts a block that still refuses, and reads it back.
pub(super) const LIFT_BLOCK: &str = "UPDATE blocks SET lifted_at = $1, lifted_by = $2
     WHERE id = $3 AND lifted_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
     RETURNING *";

/// `$1` now: the blocks that refuse now.
pub(super) const LIVE_BLOCKS: &str = "SELECT * FROM blocks
     WHERE lifted_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
     ORDER BY created_at DESC, id DESC";

/// Every block, newest first, `$1` at most.
pub(super) const ALL_BLOCKS: &str =
    "SELECT * FROM blocks ORDER BY created_at DESC, id DESC LIMIT $1";

pub(super) const INSERT_WORD_HIT: &str = "INSERT INTO word_hits (id, at, conversation_id,
     author, agent_id, list_id, action, term) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (id) DO NOTHING";

/// Since `$1`, newest first, `$2` at most.
pub(super) const WORD_HITS: &str =
    "SELECT * FROM word_hits WHERE at >= $1 ORDER BY at DESC, id DESC LIMIT $2";

/// Since `$1`, per list and action.
pub(super) const WORD_HIT_COUNTS: &str = "SELECT list_id, action, COUNT(*) AS hits
     FROM word_hits WHERE at >= $1 GROUP BY list_id, action ORDER BY list_id, action";

/// The operations, on one pool of either database.
pub(super) struct On<'p, DB: Database>(pub &'p Pool<DB>);

impl<DB> On<'_, DB>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    for<'r> BlockRow: FromRow<'r, DB::Row>,
    for<'r> WordHitRow: FromRow<'r, DB::Row>,
    for<'r> WordHitCountRow: FromRow<'r, DB::Row>,
{
    pub(super) async fn create_block(&self, b: &Block) -> Result<(), StoreError> {
        sqlx::query(INSERT_BLOCK)
            .bind(b.id.as_str())
            .bind(b.kind.as_str())
            .bind(b.target.as_str())
            .bind(b.reason.as_str())
            .bind(b.created_by.as_str())
            .bind(b.created_at)
            .bind(b.expires_at)
            .bind(b.lifted_at)
            .bind(b.lifted_by.as_deref())
            .execute(self.0)
            .await?;
        Ok(())
    }

    pub(super) async fn lift_block(
        &self,
        id: &str,
        by: &str,
        now: i64,
    ) -> Result<Option<Block>, StoreError> {
        let row: Option<BlockRow> = sqlx::query_as(LIFT_BLOCK)
            .bind(now)
            .bind(by)
            .bind(id)
            .fetch_optional(self.0)
            .await?;
        row.map(BlockRow::into_block).transpose()
    }

    pub(super) async fn blocks(&self, live_only: bool, now: i64) -> Result<Vec<Block>, StoreError> {
        let found: Vec<BlockRow> = if live_only {
            sqlx::query_as(LIVE_BLOCKS)
                .bind(now)
                .fetch_all(self.0)
                .await?
        } else {
            sqlx::query_as(ALL_BLOCKS)
                .bind(1_000i64)
                .fetch_all(self.0)
                .await?
        };
        rows::blocks(found)
    }

    /// One insert per hit: a message matches a list or two, and each is idempotent alone.
    pub(super) async fn record_word_hits(&self, hits: &[WordHit]) -> Result<(), StoreError> {
        for h in hits {
            sqlx::query(INSERT_WORD_HIT)
                .bind(h.id.as_str())
                .bind(h.at)
                .bind(h.conversation_id.as_str())
                .bind(h.author.as_str())
                .bind(h.agent_id.as_deref())
                .bind(h.list.as_str())
                .bind(h.action.as_str())
                .bind(h.term.as_str())
                .execute(self.0)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn word_hits(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<WordHit>, StoreError> {
        let found: Vec<WordHitRow> = sqlx::query_as(WORD_HITS)
            .bind(since)
            .bind(i64::from(limit))
            .fetch_all(self.0)
            .await?;
        rows::word_hits(found)
    }

    pub(super) async fn word_hit_counts(
        &self,
        since: i64,
    ) -> Result<Vec<WordHitCount>, StoreError> {
        let found: Vec<WordHitCountRow> = sqlx::query_as(WORD_HIT_COUNTS)
            .bind(since)
            .fetch_all(self.0)
            .await?;
        rows::word_hit_counts(found)
    }
}
