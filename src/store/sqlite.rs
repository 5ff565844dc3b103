//! The embedded store: one SQLite file in WAL mode.
//!
//! `synchronous = FULL` (the default) makes every commit survive power loss, at one fsync per
//! commit; `NORMAL` survives a process crash only.
//!
//! Writes go through a pool of one connection and reads through their own pool: SQLite admits
//! one writer at a time anyway, and queueing writers in the pool (first come, first served)
//! instead of letting them retry on SQLITE_BUSY keeps tail latency low under load; in WAL
//! mode readers never wait for the writer. Turns — the bulk of all writes — and the desk's
//! routing changes are committed in groups by a writer thread of their own, many to a
//! transaction and an fsync ([`group_commit`](super::group_commit)); the two writers take
//! turns on the lock. That thread and erasure keep the open handoffs in memory
//! ([`open_mirror`](super::open_mirror)). The reads every turn makes skip sqlx and run in
//! place ([`sqlite_reads`](super::sqlite_reads)). Rows map
//! to domain types through the shared [`rows`](super::rows) structs; JSON columns hold the
//! per-turn records and handoff contexts.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};

use super::group_commit::{GroupCommit, Write};
use super::moderation_sql::On;
use super::open_mirror::OpenMirror;
use super::rows::{
    self, Activity, ActivityConversationRow, AgentRow, ContextRow, DraftRow, ErasedConversationRow,
    HandoffRow, TicketRow, handoff_columns, int4, json, to_json,
};
use super::sqlite_reads::DirectReads;
use super::turn_sql::HandoffSave;
use super::{
    ConversationActivity, DraftStatus, EraseOutcome, Erasure, FaqDraft, ShopperRead, Store,
    StoreError, TurnWrite,
};
use crate::config::{StoreConfig, Synchronous};
use crate::conversation::{Conversation, Customer, ERASED_TEXT, Message};
use crate::handoff::agent::Agent;
use crate::handoff::{AuditEntry, Handoff, HandoffStatus, Note, Ticket};
use crate::nlu::Lang;

/// How many pages the write-ahead log holds before the writer whose commit took it there
/// copies them into the database file (`wal_autocheckpoint`; SQLite's default is 1,000).
/// That copy and the database file's fsync run on the writer's thread, right after its
/// commit, and every turn waiting for the next batch waits for them: under a peak day's
/// load the pauses after 1,000 pages were most of the turns' tail latency. Copying half as
/// much at a time halves each pause; the hot pages copied more often cost no measurable
/// throughput. (A thread checkpointing in the background was worse: its fsyncs of the
/// database file held up the writer's fsyncs of the log.)
pub(super) const CHECKPOINT_PAGES: u32 = 500;

/// SQLite-backed [`Store`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads.
    pool: SqlitePool,
    /// Writes other than turns, new conversations and routing changes: a single connection.
    writer: SqlitePool,
    /// Turns, new conversations and routing changes, committed in groups on a connection of
    /// their own.
    turns: GroupCommit,
    /// The reads every turn makes, in place on the caller's thread.
    direct: Arc<DirectReads>,
    /// The open handoffs, kept as they are committed.
    open: Arc<OpenMirror>,
    reviews: super::sqlite_reviews::SqliteReviews,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path, config: &StoreConfig) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match config.synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(super::sqlite_busy::BUSY_TIMEOUT)
            .pragma("wal_autocheckpoint", CHECKPOINT_PAGES.to_string())
            .foreign_keys(true);
        let writer = sqlite_pool_options()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("src/store/migrations").run(&writer).await?;
        fill_customer_ids(&writer).await?;
        let pool = sqlite_pool_options()
            .max_connections(config.max_connections.max(1))
            .connect_with(options)
            .await?;
        let open = OpenMirror::new();
        let turns = GroupCommit::start(path, config, open.clone())?;
        let direct = Arc::new(DirectReads::open(path)?);
        Ok(SqliteStore {
            direct: direct.clone(),
            open,
            reviews: super::sqlite_reviews::SqliteReviews {
                tables: super::quality_sql::ReviewTables {
                    read: pool.clone(),
                    write: writer.clone(),
                },
                turns: turns.clone(),
                direct,
            },
            pool,
            writer,
            turns,
        })
    }

    /// Rows of `sql`, whose two parameters are an activity range (see `in_range!`).
    async fn in_range<T>(&self, sql: &'static str, from: i64, to: i64) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
    {
        Ok(sqlx::query_as(sql)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Closes the turn writer, the direct readers and both pools, waiting for connections to
    /// finish (the last one to close checkpoints the WAL).
    async fn shut(&self) {
        self.turns.close().await;
        self.direct.close();
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// The pool options of both sqlx pools: each new connection waits for the write lock in short
/// steps ([`super::sqlite_busy`]), like the store's other connections.
fn sqlite_pool_options() -> sqlx::pool::PoolOptions<sqlx::Sqlite> {
    super::pool::options::<sqlx::Sqlite>().after_connect(|conn, _| {
        Box::pin(async move { super::sqlite_busy::install_on_sqlx(conn).await })
    })
}

/// Copies the customer's [`Customer::erasure_key`] into the `customer_id` column for conversations stored before the
/// column existed (migration 0005), so forgetting a customer finds them too. Rows without a
/// customer id do not match the filter, so once done this reads nothing.
async fn fill_customer_ids(writer: &SqlitePool) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "SELECT id, customer FROM conversations
         WHERE customer_id IS NULL AND erased_at IS NULL AND customer LIKE '%\"id\":\"%'",
    )
    .fetch_all(writer)
    .await?;
    for row in &rows {
        let customer: Customer = json("customer", &row.try_get::<String, _>("customer")?)?;
        if let Some(customer_id) = customer.erasure_key() {
            sqlx::query("UPDATE conversations SET customer_id = ? WHERE id = ?")
                .bind(customer_id)
                .bind(row.try_get::<String, _>("id")?)
                .execute(writer)
                .await?;
        }
    }
    Ok(())
}

/// `?, ?, …` for an `IN` list of `n` values.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Runs a direct read of many rows on the blocking pool, not a runtime worker; `what` names
/// the read in the error when its task fails.
async fn on_blocking_pool<T: Send + 'static>(
    what: &str,
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| StoreError::Engine(format!("{what} read: {e}")))?
}

/// The retention sweep's batch, through `conversations_retention`.
const INACTIVE_CONVERSATIONS: &str = "SELECT id FROM conversations
     WHERE erased_at IS NULL AND updated_at < ? ORDER BY updated_at, id LIMIT ?";

/// The conversations of an activity range, as a subquery binding `from` and `to`.
macro_rules! in_range {
    () => {
        "conversation_id IN (SELECT id FROM conversations WHERE created_at >= ? AND created_at < ?)"
    };
}

/// The rows of an activity range ([`Store::activity`]), each through an index on
/// `conversation_id` from the range's conversations.
const ACTIVITY_MESSAGES: &str = concat!(
    "SELECT * FROM messages WHERE ",
    in_range!(),
    " ORDER BY conversation_id, seq"
);
const ACTIVITY_HANDOFFS: &str = concat!(
    "SELECT ",
    handoff_columns!(),
    " FROM handoffs WHERE ",
    in_range!(),
    " ORDER BY created_at, id"
);
const ACTIVITY_RATINGS: &str = concat!(
    "SELECT conversation_id, score FROM ratings WHERE ",
    in_range!()
);
const ACTIVITY_TICKETS: &str = concat!(
    "SELECT conversation_id, COUNT(*) AS n FROM tickets WHERE ",
    in_range!(),
    " GROUP BY conversation_id"
);

async fn insert_audit(
    conn: &mut sqlx::SqliteConnection,
    entries: &[AuditEntry],
) -> Result<(), StoreError> {
    for a in entries {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, conversation_id, detail)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.id)
        .bind(a.at)
        .bind(&a.actor)
        .bind(&a.action)
        .bind(&a.conversation_id)
        .bind(to_json(&a.detail))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_conversation(&self, c: &Conversation) -> Result<(), StoreError> {
        self.turns
            .commit(Write::NewConversation(Box::new(c.clone())))
            .await
    }

    async fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        self.direct.conversation(id)
    }

    async fn commit_turn(&self, w: &TurnWrite) -> Result<(), StoreError> {
        self.turns.commit(Write::Turn(Box::new(w.clone()))).await
    }

    async fn turn_by_client_msg_id(
        &self,
        conversation_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<Vec<Message>>, StoreError> {
        self.direct
            .turn_by_client_msg_id(conversation_id, client_msg_id)
    }

    async fn shopper_read(
        &self,
        id: &str,
        client_msg_id: Option<&str>,
    ) -> Result<ShopperRead, StoreError> {
        self.direct.shopper_read(id, client_msg_id)
    }

    async fn last_turn_lang(&self, conversation_id: &str) -> Result<Option<Lang>, StoreError> {
        self.direct.last_turn_lang(conversation_id)
    }

    async fn messages_after(
        &self,
        conversation_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        self.direct.messages_after(conversation_id, after, limit)
    }

    async fn open_handoff(&self, conversation_id: &str) -> Result<Option<Handoff>, StoreError> {
        self.direct.open_handoff(conversation_id)
    }

    async fn latest_handoff(&self, conversation_id: &str) -> Result<Option<Handoff>, StoreError> {
        self.direct.latest_handoff(conversation_id)
    }

    async fn open_handoffs(&self) -> Result<Vec<Arc<Handoff>>, StoreError> {
        if let Some(open) = self.open.current(std::time::Instant::now()) {
            return Ok(open);
        }
        // Thousands of rows on a busy day.
        let (direct, open) = (self.direct.clone(), self.open.clone());
        on_blocking_pool("open handoffs", move || {
            open.reload(|| direct.open_handoffs())
        })
        .await
    }

    async fn conversation_langs(
        &self,
        conversation_ids: &[String],
    ) -> Result<std::collections::HashMap<String, Lang>, StoreError> {
        let ids = serde_json::to_string(conversation_ids)
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        let found: Vec<rows::ConversationLangRow> = sqlx::query_as(
            "SELECT c.id, (SELECT json_extract(m.turn, '$.lang') FROM messages m
                    WHERE m.conversation_id = c.id AND m.turn IS NOT NULL
                    ORDER BY m.seq DESC LIMIT 1), c.locale
             FROM conversations c WHERE c.id IN (SELECT value FROM json_each(?))",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        rows::conversation_langs(found)
    }

    async fn handoff_cards(
        &self,
        conversation_ids: &[String],
    ) -> Result<std::collections::HashMap<String, super::HandoffCard>, StoreError> {
        let ids = serde_json::to_string(conversation_ids)
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        // Up to a listing's 200 rows.
        let direct = self.direct.clone();
        let found = on_blocking_pool("queue cards", move || direct.handoff_cards(&ids)).await?;
        rows::handoff_cards(found)
    }

    async fn save_handoff(
        &self,
        h: &Handoff,
        expected_status: HandoffStatus,
        now: i64,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        // With the turns: one fsync for many, and applied to the open handoffs in order.
        let save = HandoffSave {
            handoff: h.without_context(),
            expected_status,
            now,
            audit: audit.to_vec(),
        };
        self.turns.commit(Write::Handoff(Box::new(save))).await
    }

    async fn notes(&self, conversation_id: &str) -> Result<Vec<Note>, StoreError> {
        self.direct.notes(conversation_id)
    }

    async fn audit_log(
        &self,
        conversation_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let entries = match conversation_id {
            Some(c) => {
                sqlx::query_as(
                    "SELECT * FROM audit_log WHERE conversation_id = ? ORDER BY at DESC, id DESC LIMIT ?",
                )
                .bind(c)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as("SELECT * FROM audit_log ORDER BY at DESC, id DESC LIMIT ?")
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows::audit(entries)
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        insert_audit(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_agent(&self, a: &Agent) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO agents (id, name, skills, max_chats, token_hash, status, disabled,
                created_at, updated_at, supervises) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.id)
        .bind(&a.name)
        .bind(to_json(&a.skills))
        .bind(int4(a.max_chats))
        .bind(&a.token_hash)
        .bind(a.status.as_str())
        .bind(a.disabled)
        .bind(a.created_at)
        .bind(a.updated_at)
        .bind(to_json(&a.supervises))
        .execute(&self.writer)
        .await;
        match inserted {
            Err(e) if unique_violation(&e) => {
                Err(StoreError::Exists(format!("an agent named {:?}", a.name)))
            }
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    async fn update_agent(&self, a: &Agent) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE agents SET name = ?, skills = ?, max_chats = ?, token_hash = ?, status = ?,
                disabled = ?, updated_at = ?, supervises = ? WHERE id = ?",
        )
        .bind(&a.name)
        .bind(to_json(&a.skills))
        .bind(int4(a.max_chats))
        .bind(&a.token_hash)
        .bind(a.status.as_str())
        .bind(a.disabled)
        .bind(a.updated_at)
        .bind(to_json(&a.supervises))
        .bind(&a.id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn agent(&self, id: &str) -> Result<Option<Agent>, StoreError> {
        self.direct.agent(id)
    }

    async fn agent_by_name(&self, name: &str) -> Result<Option<Agent>, StoreError> {
        let row: Option<AgentRow> = sqlx::query_as("SELECT * FROM agents WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(AgentRow::into_agent).transpose()
    }

    async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        let all: Vec<AgentRow> = sqlx::query_as("SELECT * FROM agents ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        all.into_iter().map(AgentRow::into_agent).collect()
    }

    async fn open_tickets(
        &self,
        skills: &[String],
        before: Option<(i64, &str)>,
        limit: u32,
    ) -> Result<Vec<Ticket>, StoreError> {
        if skills.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT * FROM tickets WHERE status = 'open' AND skill IN ({})
               AND (? IS NULL OR created_at < ? OR (created_at = ? AND id < ?))
             ORDER BY created_at DESC, id DESC LIMIT ?",
            placeholders(skills.len())
        );
        // Built from constants and one `?` per skill; the values are bound.
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for s in skills {
            q = q.bind(s);
        }
        let (at, id) = before.unzip();
        let found = q
            .bind(at)
            .bind(at)
            .bind(at)
            .bind(id)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows::tickets(found)
    }

    async fn count_open_tickets(&self, skills: &[String]) -> Result<u64, StoreError> {
        if skills.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "SELECT COUNT(*) AS n FROM tickets WHERE status = 'open' AND skill IN ({})",
            placeholders(skills.len())
        );
        // Built from constants and one `?` per skill; the values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in skills {
            q = q.bind(s);
        }
        let row = q.fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>("n")?.max(0) as u64)
    }

    async fn count_open_tickets_of(&self, conversation_id: &str) -> Result<u64, StoreError> {
        self.direct.count_open_tickets_of(conversation_id)
    }

    async fn ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        let row: Option<TicketRow> = sqlx::query_as("SELECT * FROM tickets WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(TicketRow::into_ticket).transpose()
    }

    async fn close_ticket(&self, id: &str, agent_id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tickets SET status = 'closed', closed_at = ?, closed_by = ?
             WHERE id = ? AND status = 'open'",
        )
        .bind(now)
        .bind(agent_id)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_conversations(&self, from: i64, to: i64) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM conversations WHERE created_at >= ? AND created_at < ?",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn activity(&self, from: i64, to: i64) -> Result<Vec<ConversationActivity>, StoreError> {
        let conversations: Vec<ActivityConversationRow> = sqlx::query_as(
            "SELECT id, created_at, locale, erased_at FROM conversations
             WHERE created_at >= ? AND created_at < ? ORDER BY created_at, id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut activity = Activity::new(conversations)?;
        activity.messages(self.in_range(ACTIVITY_MESSAGES, from, to).await?)?;
        activity.handoffs(self.in_range(ACTIVITY_HANDOFFS, from, to).await?)?;
        activity.ratings(self.in_range(ACTIVITY_RATINGS, from, to).await?);
        activity.tickets(self.in_range(ACTIVITY_TICKETS, from, to).await?);
        Ok(activity.finish())
    }

    async fn audit_actions(
        &self,
        action: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let entries = sqlx::query_as(
            "SELECT * FROM audit_log WHERE action = ? AND at >= ? AND at < ? ORDER BY at, id",
        )
        .bind(action)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows::audit(entries)
    }

    async fn create_draft(&self, d: &FaqDraft) -> Result<(), StoreError> {
        // With the turns: a draft follows every resolved handoff, and a commit of its own
        // cost an fsync.
        self.turns.commit(Write::Draft(Box::new(d.clone()))).await
    }

    async fn draft(&self, id: &str) -> Result<Option<FaqDraft>, StoreError> {
        let row: Option<DraftRow> = sqlx::query_as("SELECT * FROM faq_drafts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(DraftRow::into_draft).transpose()
    }

    async fn drafts(&self, status: DraftStatus, limit: u32) -> Result<Vec<FaqDraft>, StoreError> {
        let found = sqlx::query_as(
            "SELECT * FROM faq_drafts WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?",
        )
        .bind(status.as_str())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows::drafts(found)
    }

    async fn decide_draft(
        &self,
        id: &str,
        status: DraftStatus,
        faq_id: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE faq_drafts SET status = ?, faq_id = ?, decided_at = ?
             WHERE id = ? AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(faq_id)
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn reopen_draft(&self, id: &str, faq_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE faq_drafts SET status = 'pending', faq_id = NULL, decided_at = NULL
             WHERE id = ? AND status = 'approved' AND faq_id = ?",
        )
        .bind(id)
        .bind(faq_id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn last_agent_of_customer(
        &self,
        customer_id: &str,
        since: i64,
    ) -> Result<Option<String>, StoreError> {
        // A few rows: the latest verified one wins; guests who claimed the id are skipped.
        let rows: Vec<super::rows::CustomerAgentRow> = sqlx::query_as(
            "SELECT c.customer, h.agent_id FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
             WHERE c.customer_id = ? AND c.erased_at IS NULL AND h.agent_id IS NOT NULL
               AND h.updated_at >= ?
             ORDER BY h.updated_at DESC LIMIT 20",
        )
        .bind(customer_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        super::rows::last_agent_of_verified(rows, customer_id)
    }

    async fn customer_conversations(&self, customer_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM conversations WHERE customer_id = ? AND erased_at IS NULL
             ORDER BY created_at, id",
        )
        .bind(customer_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn inactive_conversations(
        &self,
        before: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(INACTIVE_CONVERSATIONS)
            .bind(before)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn erase_conversation(
        &self,
        id: &str,
        idle_before: Option<i64>,
        now: i64,
        audit: &(dyn for<'e> Fn(&'e Erasure) -> AuditEntry + Send + Sync),
    ) -> Result<EraseOutcome, StoreError> {
        let mut tx = self.writer.begin().await?;
        // The write comes first, as in `commit_turn`: the write lock at once, and a turn
        // racing with the erase conflicts.
        let marked = sqlx::query(
            "UPDATE conversations SET erased_at = ?, customer_id = NULL, token_hash = '', dialogue = NULL
             WHERE id = ? AND erased_at IS NULL AND updated_at < ?",
        )
        .bind(now)
        .bind(id)
        .bind(idle_before.unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            let erased: Option<Option<i64>> =
                sqlx::query_scalar("SELECT erased_at FROM conversations WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(match erased {
                None => EraseOutcome::NotFound,
                Some(Some(_)) => EraseOutcome::AlreadyErased,
                Some(None) => EraseOutcome::Active,
            });
        }
        let marked: ErasedConversationRow =
            sqlx::query_as("SELECT customer, state FROM conversations WHERE id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        let (customer, state) = marked.erased()?;

        let mut erasure = Erasure::default();
        // Nobody can take up a handoff whose shopper is gone: it goes back to the bot.
        let open: Option<HandoffRow> = sqlx::query_as(concat!(
            "SELECT ",
            handoff_columns!(),
            " FROM handoffs WHERE conversation_id = ? AND status IN ('queued', 'assigned')"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = open {
            let h = row.into_handoff()?.closed(HandoffStatus::Returned, now);
            sqlx::query("UPDATE handoffs SET status = ?, routing = ?, updated_at = ? WHERE id = ?")
                .bind(h.status.as_str())
                .bind(to_json(&h.routing))
                .bind(now)
                .bind(&h.id)
                .execute(&mut *tx)
                .await?;
            erasure.closed_handoff = Some(h);
        }
        sqlx::query("UPDATE conversations SET customer = ?, state = ? WHERE id = ?")
            .bind(customer)
            .bind(state.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;

        let count = |done: sqlx::sqlite::SqliteQueryResult| done.rows_affected();
        erasure.messages = count(
            sqlx::query("UPDATE messages SET text = ? WHERE conversation_id = ?")
                .bind(ERASED_TEXT)
                .bind(id)
                .execute(&mut *tx)
                .await?,
        );
        erasure.notes = count(
            sqlx::query("UPDATE notes SET text = ? WHERE conversation_id = ?")
                .bind(ERASED_TEXT)
                .bind(id)
                .execute(&mut *tx)
                .await?,
        );
        erasure.tickets = count(
            sqlx::query(
                "UPDATE tickets SET contact = ?, text = ?,
                    closed_by = CASE WHEN status = 'open' THEN 'system' ELSE closed_by END,
                    closed_at = CASE WHEN status = 'open' THEN ? ELSE closed_at END,
                    status = 'closed'
                 WHERE conversation_id = ?",
            )
            .bind(ERASED_TEXT)
            .bind(ERASED_TEXT)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?,
        );
        erasure.rating_comments = count(
            sqlx::query(
                "UPDATE ratings SET comment = ? WHERE conversation_id = ? AND comment IS NOT NULL",
            )
            .bind(ERASED_TEXT)
            .bind(id)
            .execute(&mut *tx)
            .await?,
        );
        erasure.drafts = count(
            sqlx::query(
                // The suggested id is made from the question's words.
                "UPDATE faq_drafts SET question = ?, answer = ?, alternates = '[]',
                    suggested_id = 'erased',
                    decided_at = CASE WHEN status = 'pending' THEN ? ELSE decided_at END,
                    status = CASE WHEN status = 'pending' THEN 'rejected' ELSE status END
                 WHERE conversation_id = ?",
            )
            .bind(ERASED_TEXT)
            .bind(ERASED_TEXT)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?,
        );
        // An agent's summary may repeat what the shopper said; the category is not personal.
        sqlx::query("UPDATE handoffs SET wrap_summary = NULL WHERE conversation_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let contexts: Vec<ContextRow> = sqlx::query_as(
            "SELECT handoff_id, context FROM handoff_contexts
             WHERE handoff_id IN (SELECT id FROM handoffs WHERE conversation_id = ?)",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for row in &contexts {
            let erased = row.erased()?;
            sqlx::query(
                "UPDATE handoff_contexts SET summary = ?, customer = ?, context = ?
                 WHERE handoff_id = ?",
            )
            .bind(erased.summary)
            .bind(erased.customer)
            .bind(erased.context)
            .bind(&row.handoff_id)
            .execute(&mut *tx)
            .await?;
            erasure.handoff_contexts += 1;
        }
        insert_audit(&mut tx, &[audit(&erasure)]).await?;
        // The transaction holds SQLite's write lock: the closed handoff lands in the open
        // handoffs in commit order (see `open_mirror`).
        let _in_order = self.open.commit_order().await;
        if let Err(e) = tx.commit().await {
            self.open.forget();
            return Err(e.into());
        }
        self.open.committed(erasure.closed_handoff.as_ref());
        Ok(EraseOutcome::Erased(Box::new(erasure)))
    }

    async fn create_block(&self, b: &crate::moderation::Block) -> Result<(), StoreError> {
        On(&self.writer).create_block(b).await
    }

    async fn lift_block(
        &self,
        id: &str,
        by: &str,
        now: i64,
    ) -> Result<Option<crate::moderation::Block>, StoreError> {
        On(&self.writer).lift_block(id, by, now).await
    }

    async fn blocks(
        &self,
        live_only: bool,
        now: i64,
    ) -> Result<Vec<crate::moderation::Block>, StoreError> {
        On(&self.pool).blocks(live_only, now).await
    }

    async fn record_word_hits(
        &self,
        hits: &[crate::moderation::WordHit],
    ) -> Result<(), StoreError> {
        On(&self.writer).record_word_hits(hits).await
    }

    async fn word_hits(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<crate::moderation::WordHit>, StoreError> {
        On(&self.pool).word_hits(since, limit).await
    }

    async fn word_hit_counts(
        &self,
        since: i64,
    ) -> Result<Vec<crate::moderation::WordHitCount>, StoreError> {
        On(&self.pool).word_hit_counts(since).await
    }

    async fn active_bot_conversations(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<Conversation>, StoreError> {
        super::supervision_sql::On(&self.pool)
            .active_bot_conversations(since, limit)
            .await
    }

    fn reviews(&self) -> &dyn super::ReviewStore {
        &self.reviews
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.shut().await;
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::conversation::Author;
    use crate::handoff::{Escalation, EscalationReason, Priority};

    /// Writes one turn on top of the conversation as stored, changing its handoff.
    async fn turn(store: &SqliteStore, id: &str, handoff: Handoff, now: i64) {
        let c = store.conversation(id).await.expect("read").expect("there");
        let message = Message::for_tests(c.last_seq + 1, Author::Shopper, None);
        let mut write = TurnWrite::new(&c, vec![message], now);
        write.handoff = Some(handoff);
        store.commit_turn(&write).await.expect("turn stored");
    }

    /// One conversation's life at the desk: escalated, offered, taken; then resolved,
    /// erased, or left open, by `n`.
    async fn desk_life(store: SqliteStore, n: i64) {
        let id = format!("c{n}");
        let c = Conversation::for_tests(&id);
        store.create_conversation(&c).await.expect("created");
        let escalation = Escalation {
            reason: EscalationReason::RequestedHuman,
            priority: Priority::Normal,
            skill: "orders".into(),
            intent: None,
        };
        // Distinct creation times: the table's order is then the copy's.
        let queued = Handoff::queue(&c, &[], &escalation, Lang::En, None, 1_000 + n);
        turn(&store, &id, queued.clone(), 2_000).await;
        if n % 5 == 0 {
            return;
        }
        let mut offered = queued.without_context();
        offered.routing.offered_to = Some(format!("a{n}"));
        store
            .save_handoff(&offered, HandoffStatus::Queued, 3_000, &[])
            .await
            .expect("offer saved");
        if n % 5 == 1 {
            return;
        }
        let taken = offered.assigned_to(&format!("a{n}"), 4_000);
        turn(&store, &id, taken.clone(), 4_000).await;
        match n % 5 {
            2 => {
                turn(
                    &store,
                    &id,
                    taken.closed(HandoffStatus::Resolved, 5_000),
                    5_000,
                )
                .await
            }
            3 => {
                let audit = |_: &Erasure| {
                    AuditEntry::new(6_000, "admin", "erase", None, serde_json::json!({}))
                };
                let erased = store.erase_conversation(&id, None, 6_000, &audit).await;
                assert!(matches!(erased, Ok(EraseOutcome::Erased(_))));
            }
            _ => {}
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_open_handoffs_kept_in_memory_match_the_table_through_concurrent_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("baton.db"), &StoreConfig::default())
            .await
            .expect("store opens");
        assert!(store.open_handoffs().await.expect("read").is_empty());
        // A reader that keeps making the copy read the table again while writes land.
        let stop = tokio_util::sync::CancellationToken::new();
        let reader = tokio::spawn({
            let (store, stop) = (store.clone(), stop.clone());
            async move {
                let mut reloads = 0;
                while !stop.is_cancelled() {
                    store.open.forget();
                    store.open_handoffs().await.expect("read");
                    reloads += 1;
                    tokio::task::yield_now().await;
                }
                reloads
            }
        });
        let lives = (0..200).map(|n| tokio::spawn(desk_life(store.clone(), n)));
        for life in futures::future::join_all(lives).await {
            life.expect("a conversation's life ran");
        }
        stop.cancel();
        assert!(reader.await.expect("reader ran") > 0);

        let kept: Vec<Handoff> = (store.open_handoffs().await.expect("read"))
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect();
        assert_eq!(kept, store.direct.open_handoffs().expect("table read"));
        // Left open: escalated only (n % 5 == 0), offered (1) and taken (4); 40 of each.
        assert_eq!(kept.len(), 120);
        let offered = kept.iter().filter(|h| h.routing.offered_to.is_some());
        assert_eq!(offered.count(), 40);
        let held = kept.iter().filter(|h| h.status == HandoffStatus::Assigned);
        assert_eq!(held.count(), 40);
        assert!(kept.iter().all(|h| h.context.is_none()));
    }

    /// `EXPLAIN QUERY PLAN` of `sql` on the database at `path`, one line per step.
    fn plan(path: &std::path::Path, sql: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open(path).expect("opens");
        let mut statement = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("planned");
        // Parameters left unbound: the plan does not depend on their values.
        let mut rows = statement.raw_query();
        let mut steps = Vec::new();
        while let Some(row) = rows.next().expect("plan read") {
            steps.push(row.get("detail").expect("plan step"));
        }
        steps
    }

    /// Asserts that SQLite's plan for `sql` walks no table and searches through `index`.
    pub(in crate::store) fn searches_through(path: &std::path::Path, sql: &str, index: &str) {
        let plan = plan(path, sql);
        assert!(
            plan.iter().all(|step| !step.starts_with("SCAN ")),
            "{sql}: {plan:?}"
        );
        assert!(
            plan.iter()
                .any(|step| step.contains(&format!("INDEX {index} "))),
            "{sql}: {plan:?}"
        );
    }

    #[tokio::test]
    async fn the_sweeps_and_ranges_read_through_indexes_and_walk_no_table() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("baton.db");
        let store = SqliteStore::open(&path, &StoreConfig::default())
            .await
            .expect("store opens");
        for (sql, index) in [
            (ACTIVITY_MESSAGES, "sqlite_autoindex_messages_1"),
            (ACTIVITY_HANDOFFS, "handoffs_conversation"),
            (ACTIVITY_RATINGS, "ratings_conversation"),
            (ACTIVITY_TICKETS, "tickets_conversation"),
            (
                super::super::supervision_sql::ACTIVE_BOT_CONVERSATIONS,
                "conversations_retention",
            ),
            (INACTIVE_CONVERSATIONS, "conversations_retention"),
        ] {
            searches_through(&path, sql, index);
        }
        store.close().await;
    }

    #[tokio::test]
    async fn queue_cards_are_looked_up_by_id_not_found_by_walking_the_open_queue() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("baton.db"), &StoreConfig::default())
            .await
            .expect("store opens");
        for n in 0..5 {
            desk_life(store.clone(), n).await;
        }
        let plan = plan(
            &dir.path().join("baton.db"),
            super::super::sqlite_reads::HANDOFF_CARDS,
        );
        assert!(
            plan.iter().any(|step| step.starts_with("SCAN wanted")),
            "{plan:?}"
        );
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH h USING INDEX handoffs_one_open")),
            "{plan:?}"
        );
        // Open ones only (c2 was resolved, c3 erased), and unknown ids left out.
        let ids: Vec<String> = ["c0", "c1", "c2", "c3", "c4", "nobody"]
            .map(String::from)
            .into();
        let cards = store.handoff_cards(&ids).await.expect("read");
        let mut found: Vec<&str> = cards.keys().map(String::as_str).collect();
        found.sort_unstable();
        assert_eq!(found, ["c0", "c1", "c4"]);
    }

    #[tokio::test]
    async fn a_handoff_closed_by_another_process_leaves_the_copy_at_the_next_check() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("baton.db");
        let store = SqliteStore::open(&path, &StoreConfig::default())
            .await
            .expect("store opens");
        desk_life(store.clone(), 0).await;
        assert_eq!(store.open_handoffs().await.expect("read").len(), 1);
        // `baton customer forget` from another process: its own store on the same file.
        let other = SqliteStore::open(&path, &StoreConfig::default())
            .await
            .expect("second store opens");
        let audit =
            |_: &Erasure| AuditEntry::new(6_000, "admin", "erase", None, serde_json::json!({}));
        let erased = other.erase_conversation("c0", None, 6_000, &audit).await;
        assert!(matches!(erased, Ok(EraseOutcome::Erased(_))));
        other.close().await;
        assert_eq!(
            store.open_handoffs().await.expect("read").len(),
            1,
            "not seen yet"
        );
        let now = std::time::Instant::now();
        assert!(
            store
                .open
                .current(now + super::super::open_mirror::RECHECK)
                .is_none()
        );
        store.open.forget(); // as the next check does
        assert!(store.open_handoffs().await.expect("read").is_empty());
    }
}
