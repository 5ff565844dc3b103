//! The PostgreSQL store: the same schema and migrations as SQLite, for several nodes serving
//! one shop.
//!
//! Every call takes a connection from one [`PgPool`] (`store.max_connections`), runs its SQL
//! and decodes the rows through the shared [`rows`](super::rows) structs. A turn is one
//! transaction that first moves the conversation's `last_seq` with a conditional `UPDATE`:
//! its row lock serialises the writers of one conversation (a second writer waits, then
//! finds `last_seq` moved and fails with `Conflict`), which also makes the open-ticket count
//! that follows race-free. No group-commit thread as in SQLite: PostgreSQL groups the
//! commits of concurrent transactions itself.
//!
//! PostgreSQL's refusals map to the errors SQLite gives ([`classify`]): serialization
//! failures and deadlocks are `Conflict` (the caller re-reads and retries), other constraint
//! violations `Refused`. The database URL holds a password: no error or log line carries it.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgPool};

use super::moderation_sql::On;
use super::rows::{
    self, Activity, ActivityConversationRow, ActivityMessageRow, ActivityRatingRow,
    ActivityTicketsRow, AgentRow, AuditRow, ContextColumns, ContextRow, ConversationRow, DraftRow,
    ErasedConversationRow, HandoffRow, MessageRow, NoteRow, TicketRow, handoff_columns,
    handoffs_with_context, int4, message_columns, to_json,
};
use super::{
    ConversationActivity, DraftStatus, EraseOutcome, Erasure, FaqDraft, ShopperRead, Store,
    StoreError, TurnWrite,
};
use crate::config::StoreConfig;
use crate::conversation::{Conversation, ERASED_TEXT, Message};
use crate::handoff::agent::Agent;
use crate::handoff::{AuditEntry, Handoff, HandoffStatus, Note, Ticket};
use crate::nlu::Lang;

/// PostgreSQL-backed [`Store`]. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    reviews: super::quality_sql::ReviewTables<sqlx::Postgres>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the connect options: they hold the password.
        f.debug_struct("PgStore")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// Where a URL points, for messages: host, port and database, never user or password.
pub(crate) fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default database)")
    )
}

/// Parses a `postgres://` URL; the error names neither the URL nor its password.
pub(crate) fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url).map_err(|e| {
        StoreError::Engine(format!(
            "the database URL is not a valid postgres:// URL ({})",
            match e {
                sqlx::Error::Configuration(inner) => inner.to_string(),
                _ => "unreadable".into(),
            }
        ))
    })
}

/// A pool of up to `max_connections` to the database at `url`; errors name where, never
/// the password.
pub(crate) async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    let options = connect_options(url)?;
    super::pool::options::<sqlx::Postgres>()
        .max_connections(max_connections)
        .connect_with(options.clone())
        .await
        .map_err(|e| {
            StoreError::Engine(format!(
                "cannot connect to PostgreSQL at {}: {e}",
                describe(&options)
            ))
        })
}

impl PgStore {
    /// Connects to the database at `url` and applies pending migrations.
    pub async fn open(url: &str, config: &StoreConfig) -> Result<PgStore, StoreError> {
        let pool = connect(url, config.max_connections.max(1)).await?;
        sqlx::migrate!("src/store/migrations").run(&pool).await?;
        Ok(PgStore {
            reviews: super::quality_sql::ReviewTables {
                read: pool.clone(),
                write: pool.clone(),
            },
            pool,
        })
    }

    /// The pool, for [`migrate`](super::migrate) to copy into in one transaction.
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Rows of `sql`, whose two parameters are an activity range (see `IN_RANGE`).
    async fn in_range<T>(&self, sql: String, from: i64, to: i64) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        // The SQL is built only from constants (`IN_RANGE`); the values are bound.
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// The store error a PostgreSQL refusal stands for, by SQLSTATE; `None` for other errors
/// (and for every SQLite error).
pub(super) fn classify(e: &sqlx::Error) -> Option<StoreError> {
    let db = e
        .as_database_error()?
        .try_downcast_ref::<PgDatabaseError>()?;
    match db.code() {
        // serialization_failure, deadlock_detected: the caller re-reads and retries.
        "40001" | "40P01" => Some(StoreError::Conflict),
        // lock_not_available (a lock_timeout set by the operator).
        "55P03" => Some(StoreError::Busy),
        // Class 23: integrity constraint violations.
        code if code.starts_with("23") => Some(StoreError::Refused(match db.constraint() {
            Some(c) => format!("{} ({c})", db.message()),
            None => db.message().to_string(),
        })),
        _ => None,
    }
}

/// Whether `e` is a unique violation, of the index `constraint` when given.
fn unique_violation(e: &sqlx::Error, constraint: Option<&str>) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    db.is_unique_violation() && constraint.is_none_or(|c| db.constraint() == Some(c))
}

/// The conversations of an activity range, as a subquery binding `from` and `to`.
const IN_RANGE: &str =
    "conversation_id IN (SELECT id FROM conversations WHERE created_at >= $1 AND created_at < $2)";

/// Audit entries in one statement (atomic on its own).
async fn insert_audit(conn: &mut PgConnection, entries: &[AuditEntry]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(entries.len());
    let mut ats = Vec::with_capacity(entries.len());
    let mut actors = Vec::with_capacity(entries.len());
    let mut actions = Vec::with_capacity(entries.len());
    let mut conversations = Vec::with_capacity(entries.len());
    let mut details = Vec::with_capacity(entries.len());
    for a in entries {
        ids.push(a.id.as_str());
        ats.push(a.at);
        actors.push(a.actor.as_str());
        actions.push(a.action.as_str());
        conversations.push(a.conversation_id.as_deref());
        details.push(to_json(&a.detail));
    }
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, conversation_id, detail)
         SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[])",
    )
    .bind(ids)
    .bind(ats)
    .bind(actors)
    .bind(actions)
    .bind(conversations)
    .bind(details)
    .execute(conn)
    .await?;
    Ok(())
}

/// A turn's messages in one statement; `Duplicate` for a repeated `client_msg_id`.
async fn insert_messages(
    conn: &mut PgConnection,
    conversation_id: &str,
    messages: &[Message],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let n = messages.len();
    let (mut seqs, mut authors, mut texts) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut client_ids, mut replies, mut metas, mut turns, mut times) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for m in messages {
        seqs.push(m.seq);
        authors.push(m.author.as_str());
        texts.push(m.text.as_str());
        client_ids.push(m.client_msg_id.as_deref());
        replies.push(m.reply_to);
        metas.push(m.meta.as_ref().map(to_json));
        turns.push(m.turn.as_ref().map(to_json));
        times.push(m.created_at);
    }
    let inserted = sqlx::query(
        "INSERT INTO messages (conversation_id, seq, author, text, client_msg_id, reply_to,
            meta, turn, created_at)
         SELECT $1, * FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
            $6::BIGINT[], $7::TEXT[], $8::TEXT[], $9::BIGINT[])",
    )
    .bind(conversation_id)
    .bind(seqs)
    .bind(authors)
    .bind(texts)
    .bind(client_ids)
    .bind(replies)
    .bind(metas)
    .bind(turns)
    .bind(times)
    .execute(conn)
    .await;
    match inserted {
        Err(e) if unique_violation(&e, Some("messages_client_msg_id")) => {
            Err(StoreError::Duplicate)
        }
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Stores a handoff's context when it has none yet: it is written once, when the handoff
/// is created, and every later write of the handoff carries it again unchanged, so the
/// (kilobytes of) JSON is only made when it will be stored.
async fn insert_context(
    conn: &mut PgConnection,
    handoff_id: &str,
    context: &crate::handoff::HandoffContext,
) -> Result<(), StoreError> {
    let stored: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM handoff_contexts WHERE handoff_id = $1")
            .bind(handoff_id)
            .fetch_optional(&mut *conn)
            .await?;
    if stored.is_some() {
        return Ok(());
    }
    let columns = ContextColumns::of(context);
    sqlx::query(
        "INSERT INTO handoff_contexts (handoff_id, summary, customer, context)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(handoff_id)
    .bind(columns.summary)
    .bind(columns.customer)
    .bind(columns.context)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Everything a [`TurnWrite`] changes, inside the caller's transaction; on an error the
/// caller rolls it all back.
async fn write_turn(conn: &mut PgConnection, w: &TurnWrite) -> Result<(), StoreError> {
    let new_last_seq = w.messages.last().map_or(w.expected_last_seq, |m| m.seq);
    // First: the row lock that orders this conversation's writers.
    let moved = sqlx::query(
        "UPDATE conversations SET last_seq = $1, state = $2, low_confidence_streak = $3,
            recent_skill = COALESCE($4, recent_skill), dialogue = COALESCE($5, dialogue),
            updated_at = $6
         WHERE id = $7 AND last_seq = $8 AND erased_at IS NULL",
    )
    .bind(new_last_seq)
    .bind(w.state.as_str())
    .bind(int4(w.low_confidence_streak))
    .bind(&w.recent_skill)
    .bind(&w.dialogue)
    .bind(w.now)
    .bind(&w.conversation_id)
    .bind(w.expected_last_seq)
    .execute(&mut *conn)
    .await?;
    if moved.rows_affected() != 1 {
        return Err(StoreError::Conflict);
    }
    insert_messages(&mut *conn, &w.conversation_id, &w.messages).await?;
    if let Some(h) = &w.handoff {
        // Later writes of a handoff change its routing fields only.
        sqlx::query(
            "INSERT INTO handoffs (id, conversation_id, reason, priority, skill, status, agent_id,
                trigger_seq, routing, created_at, updated_at, wrap_category, wrap_summary)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (id) DO UPDATE SET priority = excluded.priority,
                skill = excluded.skill, status = excluded.status, agent_id = excluded.agent_id,
                routing = excluded.routing, updated_at = excluded.updated_at,
                wrap_category = excluded.wrap_category, wrap_summary = excluded.wrap_summary",
        )
        .bind(&h.id)
        .bind(&h.conversation_id)
        .bind(h.reason.as_str())
        .bind(h.priority.as_str())
        .bind(&h.skill)
        .bind(h.status.as_str())
        .bind(&h.agent_id)
        .bind(h.trigger_seq)
        .bind(to_json(&h.routing))
        .bind(h.created_at)
        .bind(w.now)
        .bind(h.wrap_up.as_ref().map(|u| u.category.as_str()))
        .bind(h.wrap_up.as_ref().and_then(|u| u.summary.as_deref()))
        .execute(&mut *conn)
        .await?;
        if let Some(context) = &h.context {
            insert_context(&mut *conn, &h.id, context).await?;
        }
    }
    for n in &w.notes {
        sqlx::query(
            "INSERT INTO notes (id, conversation_id, agent_id, text, created_at, whisper)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&n.id)
        .bind(&n.conversation_id)
        .bind(&n.agent_id)
        .bind(&n.text)
        .bind(n.created_at)
        .bind(n.whisper)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(t) = &w.ticket {
        // Counted after the conversation's row lock was taken: a concurrent request for the
        // same conversation waits for this transaction, then counts this ticket too.
        let limit = w.max_open_tickets.map(i64::from);
        let inserted = sqlx::query(
            "INSERT INTO tickets (id, conversation_id, skill, lang, contact, text, status, created_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8
             WHERE $9::BIGINT IS NULL
                OR (SELECT COUNT(*) FROM tickets WHERE conversation_id = $2 AND status = 'open') < $9",
        )
        .bind(&t.id)
        .bind(&t.conversation_id)
        .bind(&t.skill)
        .bind(t.lang.code())
        .bind(&t.contact)
        .bind(&t.text)
        .bind(&t.status)
        .bind(t.created_at)
        .bind(limit)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() != 1 {
            return Err(StoreError::Limit(format!(
                "the conversation already has {} open tickets",
                w.max_open_tickets.unwrap_or_default()
            )));
        }
    }
    if let Some(r) = &w.rating {
        let inserted = sqlx::query(
            "INSERT INTO ratings (handoff_id, conversation_id, agent_id, score, comment, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&r.handoff_id)
        .bind(&r.conversation_id)
        .bind(&r.agent_id)
        .bind(i32::from(r.score))
        .bind(&r.comment)
        .bind(r.created_at)
        .execute(&mut *conn)
        .await;
        match inserted {
            Err(e) if unique_violation(&e, None) => return Err(StoreError::Duplicate),
            other => {
                other?;
            }
        }
    }
    insert_audit(conn, &w.audit).await
}

/// The statements of an erase that replace texts, each counted into its field of
/// [`Erasure`]: `$1` is the replacement, `$2` the conversation, `$3` (when used) the time.
const ERASE_TEXTS: [(&str, bool); 5] = [
    (
        "UPDATE messages SET text = $1 WHERE conversation_id = $2",
        false,
    ),
    (
        "UPDATE notes SET text = $1 WHERE conversation_id = $2",
        false,
    ),
    (
        "UPDATE tickets SET contact = $1, text = $1,
            closed_by = CASE WHEN status = 'open' THEN 'system' ELSE closed_by END,
            closed_at = CASE WHEN status = 'open' THEN $3 ELSE closed_at END,
            status = 'closed'
         WHERE conversation_id = $2",
        true,
    ),
    (
        "UPDATE ratings SET comment = $1 WHERE conversation_id = $2 AND comment IS NOT NULL",
        false,
    ),
    (
        // The suggested id is made from the question's words.
        "UPDATE faq_drafts SET question = $1, answer = $1, alternates = '[]',
            suggested_id = 'erased',
            decided_at = CASE WHEN status = 'pending' THEN $3 ELSE decided_at END,
            status = CASE WHEN status = 'pending' THEN 'rejected' ELSE status END
         WHERE conversation_id = $2",
        true,
    ),
];

#[async_trait]
impl Store for PgStore {
    async fn create_conversation(&self, c: &Conversation) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO conversations (id, token_hash, channel, locale, customer, customer_id,
                vip, state, low_confidence_streak, recent_skill, last_seq, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $11, $12)",
        )
        .bind(&c.id)
        .bind(rows::hex_encode(&c.token_hash))
        .bind(&c.channel)
        .bind(c.locale.code())
        .bind(to_json(&c.customer))
        .bind(c.customer.erasure_key())
        .bind(c.customer.is_vip())
        .bind(c.state.as_str())
        .bind(int4(c.low_confidence_streak))
        .bind(c.last_seq)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        let row: Option<ConversationRow> =
            sqlx::query_as("SELECT * FROM conversations WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(ConversationRow::into_conversation).transpose()
    }

    async fn commit_turn(&self, w: &TurnWrite) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Dropping the transaction on an error rolls it back.
        write_turn(&mut tx, w).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn turn_by_client_msg_id(
        &self,
        conversation_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<Vec<Message>>, StoreError> {
        // The shopper's message and its replies in one round trip; replies come after it.
        let found: Vec<MessageRow> = sqlx::query_as(concat!(
            "WITH shopper AS (SELECT seq FROM messages WHERE conversation_id = $1 AND client_msg_id = $2)
             SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = $1
                AND (seq = (SELECT seq FROM shopper) OR reply_to = (SELECT seq FROM shopper))
             ORDER BY seq"
        ))
        .bind(conversation_id)
        .bind(client_msg_id)
        .fetch_all(&self.pool)
        .await?;
        if found.is_empty() {
            return Ok(None);
        }
        rows::messages(found).map(Some)
    }

    async fn shopper_read(
        &self,
        id: &str,
        client_msg_id: Option<&str>,
    ) -> Result<ShopperRead, StoreError> {
        let Some(conversation) = self.conversation(id).await? else {
            return Ok(ShopperRead::default());
        };
        // The routing columns only: the context is never shown to a shopper.
        let open: Option<HandoffRow> = sqlx::query_as(concat!(
            "SELECT ",
            handoff_columns!(),
            " FROM handoffs WHERE conversation_id = $1 AND status IN ('queued', 'assigned')"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let stored = match client_msg_id {
            Some(key) => self.turn_by_client_msg_id(id, key).await?,
            None => None,
        };
        Ok(ShopperRead {
            conversation: Some(conversation),
            open: open.map(HandoffRow::into_handoff).transpose()?,
            stored,
        })
    }

    async fn last_turn_lang(&self, conversation_id: &str) -> Result<Option<Lang>, StoreError> {
        let code: Option<Option<String>> = sqlx::query_scalar(
            "SELECT turn::json->>'lang' FROM messages
             WHERE conversation_id = $1 AND turn IS NOT NULL ORDER BY seq DESC LIMIT 1",
        )
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        code.flatten()
            .map(|code| rows::lang("turn.lang", &code))
            .transpose()
    }

    async fn messages_after(
        &self,
        conversation_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let found = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(conversation_id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows::messages(found)
    }

    async fn open_handoff(&self, conversation_id: &str) -> Result<Option<Handoff>, StoreError> {
        let row: Option<HandoffRow> = sqlx::query_as(concat!(
            "SELECT handoffs.*, context FROM ",
            handoffs_with_context!(),
            " WHERE conversation_id = $1 AND status IN ('queued', 'assigned')"
        ))
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(HandoffRow::into_handoff).transpose()
    }

    async fn latest_handoff(&self, conversation_id: &str) -> Result<Option<Handoff>, StoreError> {
        let row: Option<HandoffRow> = sqlx::query_as(concat!(
            "SELECT handoffs.*, context FROM ",
            handoffs_with_context!(),
            " WHERE conversation_id = $1 ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT 1"
        ))
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(HandoffRow::into_handoff).transpose()
    }

    async fn open_handoffs(&self) -> Result<Vec<Arc<Handoff>>, StoreError> {
        let open = sqlx::query_as(concat!(
            "SELECT ",
            handoff_columns!(),
            " FROM handoffs WHERE status IN ('queued', 'assigned') ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::handoffs(open)?.into_iter().map(Arc::new).collect())
    }

    async fn conversation_langs(
        &self,
        conversation_ids: &[String],
    ) -> Result<std::collections::HashMap<String, Lang>, StoreError> {
        let found: Vec<rows::ConversationLangRow> = sqlx::query_as(
            "SELECT c.id, (SELECT m.turn::json->>'lang' FROM messages m
                    WHERE m.conversation_id = c.id AND m.turn IS NOT NULL
                    ORDER BY m.seq DESC LIMIT 1), c.locale
             FROM conversations c WHERE c.id = ANY($1)",
        )
        .bind(conversation_ids)
        .fetch_all(&self.pool)
        .await?;
        rows::conversation_langs(found)
    }

    async fn handoff_cards(
        &self,
        conversation_ids: &[String],
    ) -> Result<std::collections::HashMap<String, super::HandoffCard>, StoreError> {
        let found: Vec<rows::HandoffCardRow> = sqlx::query_as(
            // Contexts stored before the card's columns existed have them in the JSON only.
            "SELECT conversation_id, COALESCE(summary, context::jsonb ->> 'summary'),
                COALESCE(customer, (context::jsonb -> 'customer')::text)
             FROM handoffs JOIN handoff_contexts ON handoff_id = id
             WHERE status IN ('queued', 'assigned') AND conversation_id = ANY($1)",
        )
        .bind(conversation_ids)
        .fetch_all(&self.pool)
        .await?;
        rows::handoff_cards(found)
    }

    async fn save_handoff(
        &self,
        h: &Handoff,
        expected_status: HandoffStatus,
        now: i64,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE handoffs SET priority = $1, skill = $2, status = $3, agent_id = $4,
                routing = $5, updated_at = $6
             WHERE id = $7 AND status = $8",
        )
        .bind(h.priority.as_str())
        .bind(&h.skill)
        .bind(h.status.as_str())
        .bind(&h.agent_id)
        .bind(to_json(&h.routing))
        .bind(now)
        .bind(&h.id)
        .bind(expected_status.as_str())
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn notes(&self, conversation_id: &str) -> Result<Vec<Note>, StoreError> {
        let notes: Vec<NoteRow> = sqlx::query_as(
            "SELECT * FROM notes WHERE conversation_id = $1 ORDER BY created_at, id COLLATE \"C\"",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(notes.into_iter().map(NoteRow::into_note).collect())
    }

    async fn audit_log(
        &self,
        conversation_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64::from(limit);
        let entries: Vec<AuditRow> = match conversation_id {
            Some(c) => {
                sqlx::query_as(
                    "SELECT * FROM audit_log WHERE conversation_id = $1
                     ORDER BY at DESC, id COLLATE \"C\" DESC LIMIT $2",
                )
                .bind(c)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT * FROM audit_log ORDER BY at DESC, id COLLATE \"C\" DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows::audit(entries)
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, entries).await
    }

    async fn create_agent(&self, a: &Agent) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO agents (id, name, skills, max_chats, token_hash, status, disabled,
                created_at, updated_at, supervises) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        .execute(&self.pool)
        .await;
        match inserted {
            Err(e) if unique_violation(&e, None) => {
                Err(StoreError::Exists(format!("an agent named {:?}", a.name)))
            }
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    async fn update_agent(&self, a: &Agent) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE agents SET name = $1, skills = $2, max_chats = $3, token_hash = $4,
                status = $5, disabled = $6, updated_at = $7, supervises = $8 WHERE id = $9",
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn agent(&self, id: &str) -> Result<Option<Agent>, StoreError> {
        let row: Option<AgentRow> = sqlx::query_as("SELECT * FROM agents WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(AgentRow::into_agent).transpose()
    }

    async fn agent_by_name(&self, name: &str) -> Result<Option<Agent>, StoreError> {
        let row: Option<AgentRow> = sqlx::query_as("SELECT * FROM agents WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(AgentRow::into_agent).transpose()
    }

    async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        // Byte order, as SQLite sorts, whatever the database's collation.
        let all: Vec<AgentRow> = sqlx::query_as("SELECT * FROM agents ORDER BY name COLLATE \"C\"")
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
        let (at, id) = before.unzip();
        let found = sqlx::query_as(
            "SELECT * FROM tickets WHERE status = 'open' AND skill = ANY($1)
               AND ($2::BIGINT IS NULL OR created_at < $2
                    OR (created_at = $2 AND id COLLATE \"C\" < $3))
             ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $4",
        )
        .bind(skills)
        .bind(at)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows::tickets(found)
    }

    async fn count_open_tickets(&self, skills: &[String]) -> Result<u64, StoreError> {
        if skills.is_empty() {
            return Ok(0);
        }
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tickets WHERE status = 'open' AND skill = ANY($1)",
        )
        .bind(skills)
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn count_open_tickets_of(&self, conversation_id: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tickets WHERE conversation_id = $1 AND status = 'open'",
        )
        .bind(conversation_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        let row: Option<TicketRow> = sqlx::query_as("SELECT * FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(TicketRow::into_ticket).transpose()
    }

    async fn close_ticket(&self, id: &str, agent_id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tickets SET status = 'closed', closed_at = $1, closed_by = $2
             WHERE id = $3 AND status = 'open'",
        )
        .bind(now)
        .bind(agent_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_conversations(&self, from: i64, to: i64) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM conversations WHERE created_at >= $1 AND created_at < $2",
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
             WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at, id COLLATE \"C\"",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut activity = Activity::new(conversations)?;
        let q = format!("SELECT * FROM messages WHERE {IN_RANGE} ORDER BY conversation_id, seq");
        activity.messages(self.in_range::<ActivityMessageRow>(q, from, to).await?)?;
        let q = format!(
            concat!(
                "SELECT ",
                handoff_columns!(),
                " FROM handoffs WHERE {} ORDER BY created_at, id COLLATE \"C\""
            ),
            IN_RANGE
        );
        activity.handoffs(self.in_range::<HandoffRow>(q, from, to).await?)?;
        let q = format!("SELECT conversation_id, score FROM ratings WHERE {IN_RANGE}");
        activity.ratings(self.in_range::<ActivityRatingRow>(q, from, to).await?);
        let q = format!(
            "SELECT conversation_id, COUNT(*) AS n FROM tickets WHERE {IN_RANGE} GROUP BY conversation_id"
        );
        activity.tickets(self.in_range::<ActivityTicketsRow>(q, from, to).await?);
        Ok(activity.finish())
    }

    async fn audit_actions(
        &self,
        action: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let entries = sqlx::query_as(
            "SELECT * FROM audit_log WHERE action = $1 AND at >= $2 AND at < $3
             ORDER BY at, id COLLATE \"C\"",
        )
        .bind(action)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows::audit(entries)
    }

    async fn create_draft(&self, d: &FaqDraft) -> Result<(), StoreError> {
        // Never for an erased conversation: a draft read from it just before the erase is
        // dropped rather than bringing its texts back.
        let inserted = sqlx::query(
            "INSERT INTO faq_drafts (id, conversation_id, handoff_id, lang, question, answer,
                 alternates, suggested_id, status, faq_id, created_at, decided_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
             WHERE EXISTS (SELECT 1 FROM conversations WHERE id = $2 AND erased_at IS NULL)
             ON CONFLICT (handoff_id) DO NOTHING",
        )
        .bind(&d.id)
        .bind(&d.conversation_id)
        .bind(&d.handoff_id)
        .bind(d.lang.code())
        .bind(&d.question)
        .bind(&d.answer)
        .bind(to_json(&d.alternates))
        .bind(&d.suggested_id)
        .bind(d.status.as_str())
        .bind(&d.faq_id)
        .bind(d.created_at)
        .bind(d.decided_at)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Exists(format!(
                "a draft for handoff {}",
                d.handoff_id
            )));
        }
        Ok(())
    }

    async fn draft(&self, id: &str) -> Result<Option<FaqDraft>, StoreError> {
        let row: Option<DraftRow> = sqlx::query_as("SELECT * FROM faq_drafts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(DraftRow::into_draft).transpose()
    }

    async fn drafts(&self, status: DraftStatus, limit: u32) -> Result<Vec<FaqDraft>, StoreError> {
        let found = sqlx::query_as(
            "SELECT * FROM faq_drafts WHERE status = $1
             ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $2",
        )
        .bind(status.as_str())
        .bind(i64::from(limit))
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
            "UPDATE faq_drafts SET status = $1, faq_id = $2, decided_at = $3
             WHERE id = $4 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(faq_id)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn reopen_draft(&self, id: &str, faq_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE faq_drafts SET status = 'pending', faq_id = NULL, decided_at = NULL
             WHERE id = $1 AND status = 'approved' AND faq_id = $2",
        )
        .bind(id)
        .bind(faq_id)
        .execute(&self.pool)
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
             WHERE c.customer_id = $1 AND c.erased_at IS NULL AND h.agent_id IS NOT NULL
               AND h.updated_at >= $2
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
            "SELECT id FROM conversations WHERE customer_id = $1 AND erased_at IS NULL
             ORDER BY created_at, id COLLATE \"C\"",
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
        Ok(sqlx::query_scalar(
            "SELECT id FROM conversations WHERE erased_at IS NULL AND updated_at < $1
             ORDER BY updated_at, id COLLATE \"C\" LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
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
        let mut tx = self.pool.begin().await?;
        // The conversation's row lock first, as in a turn: a turn racing with the erase
        // waits for it, then conflicts.
        let marked: Option<ErasedConversationRow> = sqlx::query_as(
            "UPDATE conversations
             SET erased_at = $1, customer_id = NULL, token_hash = '', dialogue = NULL
             WHERE id = $2 AND erased_at IS NULL AND updated_at < $3
             RETURNING customer, state",
        )
        .bind(now)
        .bind(id)
        .bind(idle_before.unwrap_or(i64::MAX))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(marked) = marked else {
            let erased: Option<Option<i64>> =
                sqlx::query_scalar("SELECT erased_at FROM conversations WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(match erased {
                None => EraseOutcome::NotFound,
                Some(Some(_)) => EraseOutcome::AlreadyErased,
                Some(None) => EraseOutcome::Active,
            });
        };
        let (customer, state) = marked.erased()?;
        sqlx::query("UPDATE conversations SET customer = $1, state = $2 WHERE id = $3")
            .bind(customer)
            .bind(state.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;

        let mut erasure = Erasure::default();
        // Nobody can take up a handoff whose shopper is gone: it goes back to the bot. Locked,
        // so a routing change racing with the erase is not overwritten.
        let open: Option<HandoffRow> = sqlx::query_as(concat!(
            "SELECT ",
            handoff_columns!(),
            " FROM handoffs WHERE conversation_id = $1 AND status IN ('queued', 'assigned')
             FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = open {
            let h = row.into_handoff()?.closed(HandoffStatus::Returned, now);
            sqlx::query(
                "UPDATE handoffs SET status = $1, routing = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(h.status.as_str())
            .bind(to_json(&h.routing))
            .bind(now)
            .bind(&h.id)
            .execute(&mut *tx)
            .await?;
            erasure.closed_handoff = Some(h);
        }

        let counts = [
            &mut erasure.messages,
            &mut erasure.notes,
            &mut erasure.tickets,
            &mut erasure.rating_comments,
            &mut erasure.drafts,
        ];
        for ((sql, with_time), count) in ERASE_TEXTS.into_iter().zip(counts) {
            let q = sqlx::query(sql).bind(ERASED_TEXT).bind(id);
            let q = if with_time { q.bind(now) } else { q };
            *count = q.execute(&mut *tx).await?.rows_affected();
        }
        // An agent's summary may repeat what the shopper said; the category is not personal.
        sqlx::query("UPDATE handoffs SET wrap_summary = NULL WHERE conversation_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let contexts: Vec<ContextRow> = sqlx::query_as(
            "SELECT handoff_id, context FROM handoff_contexts
             WHERE handoff_id IN (SELECT id FROM handoffs WHERE conversation_id = $1)",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for row in &contexts {
            let erased = row.erased()?;
            sqlx::query(
                "UPDATE handoff_contexts SET summary = $1, customer = $2, context = $3
                 WHERE handoff_id = $4",
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
        tx.commit().await?;
        Ok(EraseOutcome::Erased(Box::new(erasure)))
    }

    async fn create_block(&self, b: &crate::moderation::Block) -> Result<(), StoreError> {
        On(&self.pool).create_block(b).await
    }

    async fn lift_block(
        &self,
        id: &str,
        by: &str,
        now: i64,
    ) -> Result<Option<crate::moderation::Block>, StoreError> {
        On(&self.pool).lift_block(id, by, now).await
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
        On(&self.pool).record_word_hits(hits).await
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
        self.pool.close().await;
    }
}
