//! The word lists at work on a message about to be written ([`crate::content::words`]).
//!
//! ```text
//! text ─► WordLists::screen(author) ─► hits logged (which list, which word; never the text)
//!   ─► blocked? refuse: the writer is told why, the team alerted if the list says so
//!   ─► else the masked text is what the commit stores and everyone sees
//!   ─► after the commit: alerts of the lists that let it through, naming its seq
//! ```
//!
//! Hits are logged before the message is committed, so a refused message is on record too;
//! a retry of the same message (same key) is logged once.

use super::{ConversationService, ServiceError};
use crate::content::words::{Author, ListHit, Screening};
use crate::dialogue::phrases;
use crate::moderation::WordHit;
use crate::realtime::Event;

/// Whose message is screened, and which message it is (a retry has the same key).
pub(crate) struct Writer<'a> {
    pub author: Author,
    pub agent_id: Option<&'a str>,
    pub key: &'a str,
}

impl ConversationService {
    /// Screens `text` for a message of `writer` to conversation `conversation_id` (whose last
    /// message is `last_seq`, in group `skill`); logs the lists that matched. A blocked
    /// message comes back as [`ServiceError::MessageBlocked`]: shoppers are told politely,
    /// agents which list and word refused it.
    pub(crate) async fn screen(
        &self,
        conversation: &crate::conversation::Conversation,
        skill: &str,
        writer: &Writer<'_>,
        text: &str,
    ) -> Result<Screening, ServiceError> {
        let lists = &self.knowledge().content.words;
        if lists.is_empty() {
            return Ok(Screening {
                text: text.to_string(),
                blocked: None,
                hits: Vec::new(),
            });
        }
        let screening = lists.screen(text, writer.author);
        if screening.hits.is_empty() {
            return Ok(screening);
        }
        let now = self.clock().now_ms();
        let logged: Vec<WordHit> = screening
            .hits
            .iter()
            .map(|h| {
                WordHit::new(
                    h,
                    &conversation.id,
                    writer.author,
                    writer.agent_id,
                    writer.key,
                    now,
                )
            })
            .collect();
        self.store().record_word_hits(&logged).await?;
        let Some(blocked) = &screening.blocked else {
            return Ok(screening);
        };
        tracing::info!(conversation = %conversation.id, list = %blocked.list, author = writer.author.as_str(), "message refused by a word list");
        self.word_alerts(&conversation.id, skill, conversation.last_seq, &screening);
        Err(ServiceError::MessageBlocked(match writer.author {
            Author::Shopper => {
                phrases::message_not_sent(self.conversation_lang(conversation).await?).to_string()
            }
            Author::Agent => format!(
                "not sent: the word list {:?} ({}) refuses {:?}",
                blocked.list, blocked.label, blocked.term
            ),
        }))
    }

    /// Tells the agents and supervisors of `skill`, live, about the lists of `screening` that alert;
    /// `seq` is the message (or, for a refused one, the last message before it).
    pub(crate) fn word_alerts(
        &self,
        conversation_id: &str,
        skill: &str,
        seq: i64,
        screening: &Screening,
    ) {
        for hit in screening.alerts() {
            let ListHit { list, label, .. } = hit;
            tracing::info!(conversation = %conversation_id, list = %list, skill = %skill, "word list alert");
            self.to_group_and_supervisors(skill, || Event::Alert {
                conversation_id: conversation_id.to_string(),
                seq,
                rule: format!("words:{list}"),
                label: label.clone(),
                skill: skill.to_string(),
            });
        }
    }
}
