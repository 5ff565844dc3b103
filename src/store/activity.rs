//! What the statistics and gap mining read from the store: conversations that started in a
//! time range with all their messages, handoffs, ratings and tickets, and FAQ drafts.

use serde::{Deserialize, Serialize};

use crate::conversation::Message;
use crate::handoff::Handoff;
use crate::nlu::Lang;

/// One conversation as the statistics see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationActivity {
    pub id: String,
    pub created_at: i64,
    pub locale: Lang,
    /// Every message, by seq.
    pub messages: Vec<Message>,
    /// Every handoff (without contexts), oldest first.
    pub handoffs: Vec<Handoff>,
    /// Rating scores, 1–5.
    pub ratings: Vec<u8>,
    pub tickets: u32,
    /// The shopper's data was erased: the texts are gone, the counts still hold.
    pub erased: bool,
}

/// Whether an editor has decided on a draft yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DraftStatus {
    Pending,
    Approved,
    Rejected,
}

impl DraftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DraftStatus::Pending => "pending",
            DraftStatus::Approved => "approved",
            DraftStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<DraftStatus> {
        [
            DraftStatus::Pending,
            DraftStatus::Approved,
            DraftStatus::Rejected,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// An FAQ proposed from an agent's answer to a question the bot could not answer. Question,
/// answer and alternates are PII-masked before they are stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaqDraft {
    pub id: String,
    pub conversation_id: String,
    pub handoff_id: String,
    pub lang: Lang,
    pub question: String,
    pub answer: String,
    pub alternates: Vec<String>,
    /// An id for the FAQ, derived from the question; the editor may choose another.
    pub suggested_id: String,
    pub status: DraftStatus,
    /// The FAQ it became, once approved.
    pub faq_id: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}
