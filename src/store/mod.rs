//! Durable state: conversations, messages with everything each turn computed, and handoffs.
//!
//! [`Store`] is the one storage interface; [`SqliteStore`] is the embedded default. The
//! schema and migrations (`src/store/migrations`) use only SQL that PostgreSQL shares, so a
//! Postgres store implements the same trait on the same schema.
//!
//! Concurrency contract: a turn is written by [`Store::commit_turn`] in one transaction that
//! first moves the conversation's `last_seq` from the value the caller read to the new one.
//! If another writer got there first the commit fails with [`StoreError::Conflict`] and the
//! caller re-reads and retries; a repeated `client_msg_id` fails with
//! [`StoreError::Duplicate`]. Nothing is acknowledged before the commit returns.

mod sqlite;

use async_trait::async_trait;

pub use sqlite::SqliteStore;

use crate::conversation::{Conversation, ConversationState, Message};
use crate::handoff::Handoff;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the conversation changed concurrently")]
    Conflict,
    #[error("a message with this client_msg_id is already stored")]
    Duplicate,
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
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
    pub handoff: Option<Handoff>,
    pub now: i64,
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

    /// Messages with `seq > after`, oldest first, at most `limit`.
    async fn messages_after(
        &self,
        conversation_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;

    /// The conversation's queued or assigned handoff.
    async fn open_handoff(&self, conversation_id: &str) -> Result<Option<Handoff>, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
