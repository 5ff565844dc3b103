//! Durable state: conversations, messages with everything each turn computed, and handoffs.
//!
//! [`Store`] is the one storage interface; [`SqliteStore`] is the embedded default and
//! [`PgStore`] keeps everything in PostgreSQL (several nodes, one shop). The schema and
//! migrations (`src/store/migrations`) use only SQL both databases share, so both run the
//! same migrations; rows turn into domain types in the shared [`rows`] module, and
//! [`migrate`] copies an SQLite shop into PostgreSQL (`baton migrate-store`).
//!
//! Concurrency contract: a turn is written by [`Store::commit_turn`] in one transaction that
//! first moves the conversation's `last_seq` from the value the caller read to the new one.
//! If another writer got there first the commit fails with [`StoreError::Conflict`] and the
//! caller re-reads and retries; a repeated `client_msg_id` fails with
//! [`StoreError::Duplicate`]. Nothing is acknowledged before the commit returns.

mod activity;
#[cfg(test)]
mod conformance;
mod group_commit;
pub mod migrate;
mod moderation_sql;
mod open_mirror;
mod pool;
mod postgres;
mod quality_sql;
mod rows;
mod sqlite;
mod sqlite_busy;
mod sqlite_reads;
mod sqlite_reviews;
mod supervision_sql;
#[cfg(test)]
mod test_db;
mod turn_sql;
#[cfg(test)]
mod upgrade_tests;

use std::sync::Arc;

use async_trait::async_trait;

pub use activity::{ConversationActivity, DraftStatus, FaqDraft};
pub use postgres::PgStore;
pub(crate) use postgres::connect as connect_postgres;
pub use quality_sql::ReviewStore;
pub use sqlite::SqliteStore;

use crate::conversation::{Conversation, ConversationState, Message};
use crate::handoff::agent::Agent;
use crate::handoff::{AuditEntry, Handoff, Note, Rating, Ticket};
use crate::nlu::Lang;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the conversation changed concurrently")]
    Conflict,
    #[error("a message with this client_msg_id is already stored")]
    Duplicate,
    #[error("{0} already exists")]
    Exists(String),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A write would go over a limit (e.g. open tickets per conversation).
    #[error("{0}")]
    Limit(String),
    /// Another writer held the database for longer than the busy timeout.
    #[error("the database is busy")]
    Busy,
    /// A constraint of the schema refused a write.
    #[error("the database refused the write: {0}")]
    Refused(String),
    /// The turn writer's connection failed, or the store is closed.
    #[error("database error: {0}")]
    Engine(String),
}

impl From<sqlx::Error> for StoreError {
    /// PostgreSQL's refusals become the same errors SQLite's do (see
    /// [`postgres::classify`]); anything else is a plain database error.
    fn from(e: sqlx::Error) -> Self {
        postgres::classify(&e).unwrap_or(StoreError::Database(e))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                StoreError::Busy
            }
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Refused(e.to_string())
            }
            _ => StoreError::Engine(e.to_string()),
        }
    }
}

/// Everything one turn changes, written atomically.
#[derive(Debug, Clone)]
pub struct TurnWrite {
    pub conversation_id: String,
    /// `last_seq` as the caller read it; the write fails with `Conflict` if it moved.
    pub expected_last_seq: i64,
    /// New messages with their seqs (`expected_last_seq + 1 …`).
    pub messages: Vec<Message>,
    pub state: ConversationState,
    pub low_confidence_streak: u32,
    pub recent_skill: Option<String>,
    /// The conversation's dialogue memory as JSON, when the turn changed it.
    pub dialogue: Option<String>,
    /// A handoff created or changed by this write (inserted, or updated by id).
    pub handoff: Option<Handoff>,
    pub notes: Vec<Note>,
    pub ticket: Option<Ticket>,
    /// Fails the write with `Limit` when the conversation already has this many open
    /// tickets. Checked in the transaction, so concurrent requests cannot both slip under.
    pub max_open_tickets: Option<u32>,
    /// Fails the write with `Duplicate` when the handoff is already rated.
    pub rating: Option<Rating>,
    pub audit: Vec<AuditEntry>,
    pub now: i64,
}

impl TurnWrite {
    /// A write of `messages` (and nothing else yet) on top of what the caller read.
    pub fn new(c: &Conversation, messages: Vec<Message>, now: i64) -> TurnWrite {
        TurnWrite {
            conversation_id: c.id.clone(),
            expected_last_seq: c.last_seq,
            messages,
            state: c.state,
            low_confidence_streak: c.low_confidence_streak,
            recent_skill: None,
            dialogue: None,
            handoff: None,
            notes: Vec::new(),
            ticket: None,
            max_open_tickets: None,
            rating: None,
            audit: Vec::new(),
            now,
        }
    }
}

/// What erasing one conversation changed (see [`Store::erase_conversation`]): how many
/// rows had their texts replaced. Counts only; never the values.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Erasure {
    pub messages: u64,
    pub notes: u64,
    pub tickets: u64,
    pub rating_comments: u64,
    pub drafts: u64,
    pub handoff_contexts: u64,
    /// The conversation's open handoff, closed (returned) by the erase; its agent or the
    /// agent it was offered to should hear of it.
    #[serde(skip)]
    pub closed_handoff: Option<Handoff>,
}

/// The result of [`Store::erase_conversation`].
#[derive(Debug, Clone, PartialEq)]
pub enum EraseOutcome {
    NotFound,
    AlreadyErased,
    /// Active again since `idle_before`: left alone.
    Active,
    Erased(Box<Erasure>),
}

/// What a queue listing shows of an open handoff's context ([`Store::handoff_cards`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffCard {
    pub summary: String,
    pub customer: crate::conversation::Customer,
}

/// What a shopper's request reads before it changes anything ([`Store::shopper_read`]).
#[derive(Debug, Clone, Default)]
pub struct ShopperRead {
    /// `None` for an unknown id.
    pub conversation: Option<Conversation>,
    /// The queued or assigned handoff, without its context: nothing a shopper does shows
    /// it, and it is kilobytes of JSON.
    pub open: Option<Handoff>,
    /// The turn already stored under the request's `client_msg_id`, when one was given.
    pub stored: Option<Vec<Message>>,
}

/// The storage interface every backend implements.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new conversation.
    async fn create_conversation(&self, conversation: &Conversation) -> Result<(), StoreError>;

    /// A conversation, or `None` for an unknown id.
    async fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError>;

    /// Writes a turn atomically (see the module docs for the concurrency contract).
    async fn commit_turn(&self, write: &TurnWrite) -> Result<(), StoreError>;

    /// The shopper message stored under `client_msg_id` and the messages that replied to it.
    async fn turn_by_client_msg_id(
        &self,
        conversation_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<Vec<Message>>, StoreError>;

    /// Every shopper request starts with these reads: the conversation, its open handoff
    /// without the context, and, for a message, the turn stored under `client_msg_id`.
    /// The embedded store answers them from one read transaction.
    async fn shopper_read(
        &self,
        id: &str,
        client_msg_id: Option<&str>,
    ) -> Result<ShopperRead, StoreError>;

    /// The language of the conversation's last shopper turn the bot read (`None` before the
    /// first): what its notices are worded in. Reads one field of one row, however long the
    /// conversation.
    async fn last_turn_lang(&self, conversation_id: &str) -> Result<Option<Lang>, StoreError>;

    /// The language each of `conversation_ids` is spoken to in — its last shopper turn's,
    /// else its locale — read together: the dispatcher tells every shopper whose place in a
    /// long queue moved, and one conversation and one turn read apiece was most of its pass.
    /// Unknown ids are left out.
    async fn conversation_langs(
        &self,
        conversation_ids: &[String],
    ) -> Result<std::collections::HashMap<String, Lang>, StoreError>;

    /// Messages with `seq > after`, oldest first, at most `limit`.
    async fn messages_after(
        &self,
        conversation_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;

    /// The conversation's queued or assigned handoff.
    async fn open_handoff(&self, conversation_id: &str) -> Result<Option<Handoff>, StoreError>;

    /// The conversation's most recent handoff, open or closed, with its context.
    async fn latest_handoff(&self, conversation_id: &str) -> Result<Option<Handoff>, StoreError>;

    /// Every queued or assigned handoff, without contexts (routing reads these). Shared,
    /// not copied: the queue is thousands of handoffs on a peak day and most readers only
    /// look; one that changes a handoff copies it first (`Arc::make_mut`).
    async fn open_handoffs(&self) -> Result<Vec<Arc<Handoff>>, StoreError>;

    /// What a list of waiting conversations shows of the open handoffs of
    /// `conversation_ids` — summary and customer — read together: a queue listing shows up
    /// to two hundred, and reading each whole context was a query and a transcript to decode
    /// apiece. Conversations with no open handoff, or whose context was erased, are left out.
    async fn handoff_cards(
        &self,
        conversation_ids: &[String],
    ) -> Result<std::collections::HashMap<String, HandoffCard>, StoreError>;

    /// Changes a handoff's routing state (offers, flags) without touching its conversation.
    /// Fails with `Conflict` when the handoff is no longer in `expected_status`.
    async fn save_handoff(
        &self,
        handoff: &Handoff,
        expected_status: crate::handoff::HandoffStatus,
        now: i64,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError>;

    /// Internal notes of a conversation, oldest first.
    async fn notes(&self, conversation_id: &str) -> Result<Vec<Note>, StoreError>;

    /// Audit entries, newest first; of one conversation when given.
    async fn audit_log(
        &self,
        conversation_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Appends audit entries on their own (actions that change nothing else).
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;

    async fn create_agent(&self, agent: &Agent) -> Result<(), StoreError>;

    /// Replaces an agent's record (by id).
    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError>;

    async fn agent(&self, id: &str) -> Result<Option<Agent>, StoreError>;

    async fn agent_by_name(&self, name: &str) -> Result<Option<Agent>, StoreError>;

    /// All agents, by name.
    async fn agents(&self) -> Result<Vec<Agent>, StoreError>;

    /// Open tickets of the `skills` groups, newest first, at most `limit`; only those
    /// older than `before` (`created_at`, id) when given.
    async fn open_tickets(
        &self,
        skills: &[String],
        before: Option<(i64, &str)>,
        limit: u32,
    ) -> Result<Vec<Ticket>, StoreError>;

    /// How many tickets of the `skills` groups are open.
    async fn count_open_tickets(&self, skills: &[String]) -> Result<u64, StoreError>;

    /// How many of one conversation's tickets are open.
    async fn count_open_tickets_of(&self, conversation_id: &str) -> Result<u64, StoreError>;

    /// A ticket by id, open or closed.
    async fn ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError>;

    /// Closes an open ticket; `false` when there is no such open ticket.
    async fn close_ticket(&self, id: &str, agent_id: &str, now: i64) -> Result<bool, StoreError>;

    /// Conversations created in `[from, to)`, oldest first, with everything that happened in
    /// them (whenever it happened).
    async fn activity(&self, from: i64, to: i64) -> Result<Vec<ConversationActivity>, StoreError>;

    /// How many conversations were created in `[from, to)` (an index count: it tells how
    /// big [`Store::activity`] of that range would be before reading it).
    async fn count_conversations(&self, from: i64, to: i64) -> Result<u64, StoreError>;

    /// Audit entries with `action`, `at` in `[from, to)`, oldest first.
    async fn audit_actions(
        &self,
        action: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Stores a new draft; `Exists` when its handoff already has one.
    async fn create_draft(&self, draft: &FaqDraft) -> Result<(), StoreError>;

    async fn draft(&self, id: &str) -> Result<Option<FaqDraft>, StoreError>;

    /// Drafts with `status`, newest first.
    async fn drafts(&self, status: DraftStatus, limit: u32) -> Result<Vec<FaqDraft>, StoreError>;

    /// Approves (with the FAQ it became) or rejects a pending draft; `false` when it is no
    /// longer pending.
    async fn decide_draft(
        &self,
        id: &str,
        status: DraftStatus,
        faq_id: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Puts a draft approved as `faq_id` back to pending (its FAQ could not be written);
    /// `false` when it is not in that state.
    async fn reopen_draft(&self, id: &str, faq_id: &str) -> Result<bool, StoreError>;

    /// Ids of the conversations of the shop's customer `customer_id` that are not erased yet,
    /// oldest first.
    async fn customer_conversations(&self, customer_id: &str) -> Result<Vec<String>, StoreError>;

    /// The agent who most recently held a handoff (since `since`, unix ms) of a conversation
    /// whose customer is `customer_id` *verified*; ids guests only claimed never match.
    async fn last_agent_of_customer(
        &self,
        customer_id: &str,
        since: i64,
    ) -> Result<Option<String>, StoreError>;

    /// Ids of at most `limit` conversations not erased yet whose last activity is before
    /// `before`, least recent first.
    async fn inactive_conversations(
        &self,
        before: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;

    /// Erases the shopper's personal data from one conversation, in one transaction: every
    /// message, note, ticket (contact and text), rating comment, FAQ draft drawn from it (and its
    /// suggested id, made of the question's words) and
    /// handoff context has its text replaced by [`ERASED_TEXT`](crate::conversation::ERASED_TEXT); the
    /// customer becomes anonymous; the conversation is marked erased, so its token stops
    /// working and later turns fail with `Conflict`. Times, states, intents, decisions,
    /// scores and counts stay, so the statistics do not change. Open tickets are closed,
    /// pending drafts rejected and an open handoff returned (nobody can follow them up).
    /// `audit` makes the entry written in the same transaction from the counts.
    ///
    /// With `idle_before`, only a conversation whose last activity is still before it is
    /// erased (`Active` otherwise: the shopper came back since it was selected). Nothing is
    /// written for an unknown, an already erased or an active conversation.
    async fn erase_conversation(
        &self,
        id: &str,
        idle_before: Option<i64>,
        now: i64,
        audit: &(dyn for<'e> Fn(&'e Erasure) -> AuditEntry + Send + Sync),
    ) -> Result<EraseOutcome, StoreError>;

    /// Adds a block to the blacklist.
    async fn create_block(&self, block: &crate::moderation::Block) -> Result<(), StoreError>;

    /// Lifts a block that still refuses, recording who and when; `None` when there is no
    /// such block or it no longer refuses (lifted or expired).
    async fn lift_block(
        &self,
        id: &str,
        by: &str,
        now: i64,
    ) -> Result<Option<crate::moderation::Block>, StoreError>;

    /// The blocks that refuse at `now` (`live_only`), or the latest `limit` blocks ever made,
    /// newest first.
    async fn blocks(
        &self,
        live_only: bool,
        now: i64,
    ) -> Result<Vec<crate::moderation::Block>, StoreError>;

    /// Logs word-list matches; one whose id is logged already is skipped (a retry).
    async fn record_word_hits(&self, hits: &[crate::moderation::WordHit])
    -> Result<(), StoreError>;

    /// Matches since `since` (unix ms), newest first, at most `limit`.
    async fn word_hits(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<crate::moderation::WordHit>, StoreError>;

    /// How many matches each list and action had since `since`.
    async fn word_hit_counts(
        &self,
        since: i64,
    ) -> Result<Vec<crate::moderation::WordHitCount>, StoreError>;

    /// Conversations the bot holds that were active since `since` (unix ms), the most
    /// recently active first, at most `limit`: what a supervisor watches besides the queue.
    async fn active_bot_conversations(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<Conversation>, StoreError>;

    /// Quality reviews of closed handoffs.
    fn reviews(&self) -> &dyn ReviewStore;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Finishes pending writes and closes the connections; later calls fail.
    async fn close(&self);
}

/// Opens the configured store, applying pending migrations: PostgreSQL when
/// `database_url` is set, else the embedded SQLite file.
pub async fn open(config: &crate::config::Config) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match &config.database_url {
        Some(url) => Arc::new(PgStore::open(url.expose_str(), &config.store).await?),
        None => Arc::new(SqliteStore::open(&config.sqlite_path(), &config.store).await?),
    })
}
