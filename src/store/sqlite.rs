//! The embedded store: one SQLite file in WAL mode.
//!
//! `synchronous = FULL` (the default) makes every commit survive power loss, at one fsync per
//! commit; `NORMAL` survives a process crash only.
//!
//! Writes go through a pool of one connection and reads through their own pool: SQLite admits
//! one writer at a time anyway, and queueing writers in the pool (first come, first served)
//! instead of letting them retry on SQLITE_BUSY keeps tail latency low under load; in WAL
//! mode readers never wait for the writer. Turns — the bulk of all writes — are committed in
//! groups by a writer thread of their own, many to a transaction and an fsync
//! ([`group_commit`](super::group_commit)); the two writers take turns on the lock. Rows map
//! to domain types in the private `row_to_*` helpers; JSON columns hold the per-turn records and handoff contexts.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use super::group_commit::{GroupCommit, Write};
use super::{
    ConversationActivity, DraftStatus, EraseOutcome, Erasure, FaqDraft, Store, StoreError,
    TurnWrite,
};
use crate::config::{StoreConfig, Synchronous};
use crate::conversation::{
    Author, Conversation, ConversationState, Customer, ERASED_TEXT, Message,
};
use crate::handoff::agent::{Agent, AgentStatus};
use crate::handoff::{
    AuditEntry, EscalationReason, Handoff, HandoffContext, HandoffStatus, Note, Ticket,
};
use crate::nlu::Lang;
use crate::vocabulary::Priority;

/// SQLite-backed [`Store`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads.
    pool: SqlitePool,
    /// Writes other than turns and new conversations: a single connection.
    writer: SqlitePool,
    /// Turns and new conversations, committed in groups on a connection of their own.
    turns: GroupCommit,
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
            .busy_timeout(super::group_commit::BUSY_TIMEOUT)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("src/store/migrations").run(&writer).await?;
        fill_customer_ids(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .connect_with(options)
            .await?;
        let turns = GroupCommit::start(path, config)?;
        Ok(SqliteStore {
            pool,
            writer,
            turns,
        })
    }

    /// Rows of `sql`, whose two parameters are an activity range (see `IN_RANGE`).
    async fn in_range(
        &self,
        sql: String,
        from: i64,
        to: i64,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        // The SQL is built only from constants (`IN_RANGE`); the values are bound.
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Closes the turn writer and both pools, waiting for connections to finish (a clean WAL
    /// checkpoint).
    async fn shut(&self) {
        self.turns.close().await;
        self.pool.close().await;
        self.writer.close().await;
    }
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

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Serialising plain data structs cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn row_to_conversation(row: &SqliteRow) -> Result<Conversation, StoreError> {
    let locale: String = row.try_get("locale")?;
    let state: String = row.try_get("state")?;
    let token_hash: String = row.try_get("token_hash")?;
    let customer: Customer = json("customer", &row.try_get::<String, _>("customer")?)?;
    Ok(Conversation {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        locale: Lang::from_locale(&locale).ok_or_else(|| corrupt("locale", &locale))?,
        customer,
        state: ConversationState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        low_confidence_streak: row.try_get::<i64, _>("low_confidence_streak")? as u32,
        recent_skill: row.try_get("recent_skill")?,
        dialogue: crate::dialogue_memory::DialogueMemory::from_json(
            row.try_get::<Option<String>, _>("dialogue")?.as_deref(),
        ),
        last_seq: row.try_get("last_seq")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        erased_at: row.try_get("erased_at")?,
        token_hash: hex_decode(&token_hash).ok_or_else(|| corrupt("token_hash", "not hex"))?,
    })
}

fn row_to_message(row: &SqliteRow) -> Result<Message, StoreError> {
    let author: String = row.try_get("author")?;
    let meta: Option<String> = row.try_get("meta")?;
    let turn: Option<String> = row.try_get("turn")?;
    Ok(Message {
        seq: row.try_get("seq")?,
        author: Author::parse(&author).ok_or_else(|| corrupt("author", &author))?,
        text: row.try_get("text")?,
        client_msg_id: row.try_get("client_msg_id")?,
        reply_to: row.try_get("reply_to")?,
        created_at: row.try_get("created_at")?,
        meta: meta.map(|m| json("meta", &m)).transpose()?,
        turn: turn.map(|t| json("turn", &t)).transpose()?,
    })
}

/// The handoff columns without the (large) context.
macro_rules! handoff_columns {
    () => {
        "id, conversation_id, reason, priority, skill, status, agent_id, trigger_seq, routing, created_at"
    };
}

fn row_to_handoff(row: &SqliteRow, with_context: bool) -> Result<Handoff, StoreError> {
    let reason: String = row.try_get("reason")?;
    let priority: String = row.try_get("priority")?;
    let status: String = row.try_get("status")?;
    let context = if with_context {
        Some(json("context", &row.try_get::<String, _>("context")?)?)
    } else {
        None
    };
    Ok(Handoff {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        reason: EscalationReason::parse(&reason).ok_or_else(|| corrupt("reason", &reason))?,
        priority: Priority::parse(&priority).ok_or_else(|| corrupt("priority", &priority))?,
        skill: row.try_get("skill")?,
        status: HandoffStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        agent_id: row.try_get("agent_id")?,
        created_at: row.try_get("created_at")?,
        trigger_seq: row.try_get("trigger_seq")?,
        routing: json("routing", &row.try_get::<String, _>("routing")?)?,
        context,
    })
}

fn row_to_agent(row: &SqliteRow) -> Result<Agent, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(Agent {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        skills: json("skills", &row.try_get::<String, _>("skills")?)?,
        max_chats: row.try_get::<i64, _>("max_chats")? as u32,
        status: AgentStatus::parse(&status).ok_or_else(|| corrupt("agent status", &status))?,
        disabled: row.try_get("disabled")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        token_hash: row.try_get("token_hash")?,
    })
}

fn row_to_note(row: &SqliteRow) -> Result<Note, StoreError> {
    Ok(Note {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        agent_id: row.try_get("agent_id")?,
        text: row.try_get("text")?,
        created_at: row.try_get("created_at")?,
    })
}

/// `?, ?, …` for an `IN` list of `n` values.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn row_to_ticket(row: &SqliteRow) -> Result<Ticket, StoreError> {
    let lang: String = row.try_get("lang")?;
    Ok(Ticket {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        skill: row.try_get("skill")?,
        lang: Lang::from_locale(&lang).ok_or_else(|| corrupt("ticket lang", &lang))?,
        contact: row.try_get("contact")?,
        text: row.try_get("text")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        closed_at: row.try_get("closed_at")?,
        closed_by: row.try_get("closed_by")?,
    })
}

fn row_to_audit(row: &SqliteRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        conversation_id: row.try_get("conversation_id")?,
        detail: json("audit detail", &row.try_get::<String, _>("detail")?)?,
    })
}

fn row_to_draft(row: &SqliteRow) -> Result<FaqDraft, StoreError> {
    let lang: String = row.try_get("lang")?;
    let status: String = row.try_get("status")?;
    Ok(FaqDraft {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        handoff_id: row.try_get("handoff_id")?,
        lang: Lang::from_locale(&lang).ok_or_else(|| corrupt("draft lang", &lang))?,
        question: row.try_get("question")?,
        answer: row.try_get("answer")?,
        alternates: json("draft alternates", &row.try_get::<String, _>("alternates")?)?,
        suggested_id: row.try_get("suggested_id")?,
        status: DraftStatus::parse(&status).ok_or_else(|| corrupt("draft status", &status))?,
        faq_id: row.try_get("faq_id")?,
        created_at: row.try_get("created_at")?,
        decided_at: row.try_get("decided_at")?,
    })
}

/// The conversations of an activity range, as a subquery binding `from` and `to`.
const IN_RANGE: &str =
    "conversation_id IN (SELECT id FROM conversations WHERE created_at >= ? AND created_at < ?)";

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

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The message columns, as a literal so queries stay static strings.
macro_rules! message_columns {
    () => {
        "seq, author, text, client_msg_id, reply_to, meta, turn, created_at"
    };
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_conversation(&self, c: &Conversation) -> Result<(), StoreError> {
        self.turns
            .commit(Write::NewConversation(Box::new(c.clone())))
            .await
    }

    async fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        let row = sqlx::query("SELECT * FROM conversations WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_conversation).transpose()
    }

    async fn commit_turn(&self, w: &TurnWrite) -> Result<(), StoreError> {
        self.turns.commit(Write::Turn(Box::new(w.clone()))).await
    }

    async fn turn_by_client_msg_id(
        &self,
        conversation_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<Vec<Message>>, StoreError> {
        let Some(row) = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? AND client_msg_id = ?"
        ))
        .bind(conversation_id)
        .bind(client_msg_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let shopper = row_to_message(&row)?;
        let replies = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? AND reply_to = ? ORDER BY seq"
        ))
        .bind(conversation_id)
        .bind(shopper.seq)
        .fetch_all(&self.pool)
        .await?;
        let mut out = vec![shopper];
        for r in &replies {
            out.push(row_to_message(r)?);
        }
        Ok(Some(out))
    }

    async fn messages_after(
        &self,
        conversation_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(conversation_id)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_message).collect()
    }

    async fn open_handoff(&self, conversation_id: &str) -> Result<Option<Handoff>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM handoffs WHERE conversation_id = ? AND status IN ('queued', 'assigned')",
        )
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| row_to_handoff(r, true)).transpose()
    }

    async fn latest_handoff(&self, conversation_id: &str) -> Result<Option<Handoff>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM handoffs WHERE conversation_id = ? ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| row_to_handoff(r, true)).transpose()
    }

    async fn open_handoffs(&self) -> Result<Vec<Handoff>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            handoff_columns!(),
            " FROM handoffs WHERE status IN ('queued', 'assigned') ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| row_to_handoff(r, false)).collect()
    }

    async fn save_handoff(
        &self,
        h: &Handoff,
        expected_status: HandoffStatus,
        now: i64,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let changed = sqlx::query(
            "UPDATE handoffs SET priority = ?, skill = ?, status = ?, agent_id = ?, routing = ?,
                updated_at = ? WHERE id = ? AND status = ?",
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
        let rows =
            sqlx::query("SELECT * FROM notes WHERE conversation_id = ? ORDER BY created_at, id")
                .bind(conversation_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(row_to_note).collect()
    }

    async fn audit_log(
        &self,
        conversation_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = match conversation_id {
            Some(c) => {
                sqlx::query(
                    "SELECT * FROM audit_log WHERE conversation_id = ? ORDER BY at DESC, id DESC LIMIT ?",
                )
                .bind(c)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query("SELECT * FROM audit_log ORDER BY at DESC, id DESC LIMIT ?")
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(row_to_audit).collect()
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
                created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.id)
        .bind(&a.name)
        .bind(to_json(&a.skills))
        .bind(a.max_chats as i64)
        .bind(&a.token_hash)
        .bind(a.status.as_str())
        .bind(a.disabled)
        .bind(a.created_at)
        .bind(a.updated_at)
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
                disabled = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&a.name)
        .bind(to_json(&a.skills))
        .bind(a.max_chats as i64)
        .bind(&a.token_hash)
        .bind(a.status.as_str())
        .bind(a.disabled)
        .bind(a.updated_at)
        .bind(&a.id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn agent(&self, id: &str) -> Result<Option<Agent>, StoreError> {
        let row = sqlx::query("SELECT * FROM agents WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_agent).transpose()
    }

    async fn agent_by_name(&self, name: &str) -> Result<Option<Agent>, StoreError> {
        let row = sqlx::query("SELECT * FROM agents WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_agent).transpose()
    }

    async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        let rows = sqlx::query("SELECT * FROM agents ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_agent).collect()
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
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in skills {
            q = q.bind(s);
        }
        let (at, id) = before.unzip();
        let rows = q
            .bind(at)
            .bind(at)
            .bind(at)
            .bind(id)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_ticket).collect()
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

    async fn ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        let row = sqlx::query("SELECT * FROM tickets WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_ticket).transpose()
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

    async fn activity(&self, from: i64, to: i64) -> Result<Vec<ConversationActivity>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, created_at, locale, erased_at FROM conversations
             WHERE created_at >= ? AND created_at < ? ORDER BY created_at, id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut index = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let locale: String = row.try_get("locale")?;
            let id: String = row.try_get("id")?;
            index.insert(id.clone(), out.len());
            out.push(ConversationActivity {
                id,
                created_at: row.try_get("created_at")?,
                locale: Lang::from_locale(&locale).ok_or_else(|| corrupt("locale", &locale))?,
                messages: Vec::new(),
                handoffs: Vec::new(),
                ratings: Vec::new(),
                tickets: 0,
                erased: row.try_get::<Option<i64>, _>("erased_at")?.is_some(),
            });
        }
        let slot = |row: &SqliteRow| -> Result<Option<usize>, StoreError> {
            let id: String = row.try_get("conversation_id")?;
            Ok(index.get(&id).copied())
        };
        let q = format!("SELECT * FROM messages WHERE {IN_RANGE} ORDER BY conversation_id, seq");
        for row in self.in_range(q, from, to).await? {
            if let Some(i) = slot(&row)? {
                out[i].messages.push(row_to_message(&row)?);
            }
        }
        let q = format!(
            concat!(
                "SELECT ",
                handoff_columns!(),
                " FROM handoffs WHERE {} ORDER BY created_at, id"
            ),
            IN_RANGE
        );
        for row in self.in_range(q, from, to).await? {
            if let Some(i) = slot(&row)? {
                out[i].handoffs.push(row_to_handoff(&row, false)?);
            }
        }
        let q = format!("SELECT conversation_id, score FROM ratings WHERE {IN_RANGE}");
        for row in self.in_range(q, from, to).await? {
            if let Some(i) = slot(&row)? {
                let score = row.try_get::<i64, _>("score")?.clamp(0, 255) as u8;
                out[i].ratings.push(score);
            }
        }
        let q = format!(
            "SELECT conversation_id, COUNT(*) AS n FROM tickets WHERE {IN_RANGE} GROUP BY conversation_id"
        );
        for row in self.in_range(q, from, to).await? {
            if let Some(i) = slot(&row)? {
                out[i].tickets = row.try_get::<i64, _>("n")?.max(0) as u32;
            }
        }
        Ok(out)
    }

    async fn audit_actions(
        &self,
        action: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE action = ? AND at >= ? AND at < ? ORDER BY at, id",
        )
        .bind(action)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_audit).collect()
    }

    async fn create_draft(&self, d: &FaqDraft) -> Result<(), StoreError> {
        // Never for an erased conversation: a draft read from it just before the erase is
        // dropped rather than bringing its texts back.
        let inserted = sqlx::query(
            "INSERT INTO faq_drafts (id, conversation_id, handoff_id, lang, question, answer,
                 alternates, suggested_id, status, faq_id, created_at, decided_at)
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
             WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ? AND erased_at IS NULL)
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
        .bind(&d.conversation_id)
        .execute(&self.writer)
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
        let row = sqlx::query("SELECT * FROM faq_drafts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_draft).transpose()
    }

    async fn drafts(&self, status: DraftStatus, limit: u32) -> Result<Vec<FaqDraft>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM faq_drafts WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?",
        )
        .bind(status.as_str())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_draft).collect()
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
        Ok(sqlx::query_scalar(
            "SELECT id FROM conversations WHERE erased_at IS NULL AND updated_at < ?
             ORDER BY updated_at, id LIMIT ?",
        )
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
        let row = sqlx::query("SELECT customer, state FROM conversations WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let customer: Customer = json("customer", &row.try_get::<String, _>("customer")?)?;
        let state: String = row.try_get("state")?;
        let state = ConversationState::parse(&state).ok_or_else(|| corrupt("state", &state))?;

        let mut erasure = Erasure::default();
        // Nobody can take up a handoff whose shopper is gone: it goes back to the bot.
        let open = sqlx::query(concat!(
            "SELECT ",
            handoff_columns!(),
            " FROM handoffs WHERE conversation_id = ? AND status IN ('queued', 'assigned')"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = open {
            let h = row_to_handoff(&row, false)?.closed(HandoffStatus::Returned, now);
            sqlx::query("UPDATE handoffs SET status = ?, routing = ?, updated_at = ? WHERE id = ?")
                .bind(h.status.as_str())
                .bind(to_json(&h.routing))
                .bind(now)
                .bind(&h.id)
                .execute(&mut *tx)
                .await?;
            erasure.closed_handoff = Some(h);
        }
        let state = if state.human_owned() {
            ConversationState::Bot
        } else {
            state
        };
        sqlx::query("UPDATE conversations SET customer = ?, state = ? WHERE id = ?")
            .bind(to_json(&customer.anonymous()))
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
        let contexts = sqlx::query("SELECT id, context FROM handoffs WHERE conversation_id = ?")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        for row in &contexts {
            let stored: Option<HandoffContext> =
                json("context", &row.try_get::<String, _>("context")?)?;
            let Some(context) = stored else {
                continue;
            };
            sqlx::query("UPDATE handoffs SET context = ? WHERE id = ?")
                .bind(to_json(&context.erased(ERASED_TEXT)))
                .bind(row.try_get::<String, _>("id")?)
                .execute(&mut *tx)
                .await?;
            erasure.handoff_contexts += 1;
        }
        insert_audit(&mut tx, &[audit(&erasure)]).await?;
        tx.commit().await?;
        Ok(EraseOutcome::Erased(Box::new(erasure)))
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
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let b = vec![0u8, 1, 254, 255];
        assert_eq!(hex_decode(&hex_encode(&b)), Some(b));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
    }
}
