//! What may pass: the shop's blacklist and the record of its word lists at work.
//!
//! ```text
//! admin API ─► Block (customer id or network) ─► store ─► Blocklist (this node's copy of the
//!   live blocks, refreshed on every change here and every few seconds from the store)
//!   ─► shopper routes refuse a blocked customer or address before any work
//! message ─► content::words screening ─► WordHit rows (which list, which word) ─► admin view
//! ```
//!
//! The word lists themselves are content ([`crate::content::words`]); this module holds what
//! the store keeps about them and about blocks.

pub mod blocklist;

use serde::Serialize;

pub use blocklist::{Block, BlockTarget, Blocklist, NewBlock};

use crate::content::words::{Author, ListHit, WordAction};

/// One word list matching one message, as logged: never the message's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WordHit {
    pub id: String,
    /// Unix ms.
    pub at: i64,
    pub conversation_id: String,
    /// `shopper` or `agent`.
    #[schema(value_type = String)]
    pub author: Author,
    /// The agent who wrote it (for `author: agent`).
    pub agent_id: Option<String>,
    pub list: String,
    /// `mask`, `block` or `alert`.
    #[schema(value_type = String)]
    pub action: WordAction,
    /// The list's word (or pattern) that matched.
    pub term: String,
}

impl WordHit {
    /// The logged form of `hit`. `key` names the message (its client id, or a fresh one):
    /// the same message screened again — a retry — makes the same id and is logged once.
    pub fn new(
        hit: &ListHit,
        conversation_id: &str,
        author: Author,
        agent_id: Option<&str>,
        key: &str,
        at: i64,
    ) -> WordHit {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(conversation_id)
            .chain_update([0])
            .chain_update(author.as_str())
            .chain_update([0])
            .chain_update(key)
            .chain_update([0])
            .chain_update(&hit.list)
            .finalize();
        WordHit {
            id: digest[..16].iter().map(|b| format!("{b:02x}")).collect(),
            at,
            conversation_id: conversation_id.to_string(),
            author,
            agent_id: agent_id.map(str::to_string),
            list: hit.list.clone(),
            action: hit.action,
            term: hit.term.clone(),
        }
    }
}

/// How many messages each list matched in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WordHitCount {
    pub list: String,
    #[schema(value_type = String)]
    pub action: WordAction,
    pub hits: u64,
}
