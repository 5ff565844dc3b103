//! Rows to domain types, shared by every backend.
//!
//! A query of either store decodes its rows into the plain `*Row` structs here
//! (`#[derive(sqlx::FromRow)]`, which is generic over the database: SQLite and PostgreSQL
//! rows decode the same way), and `into_*` turns each into its domain type, parsing the
//! enums and the JSON columns (per-turn records, routing state, handoff contexts). A value
//! that does not parse is [`StoreError::Corrupt`], naming the column, never the row's text.
//! The embedded store's direct reads (`rusqlite`, [`super::sqlite_reads`]) fill the same
//! structs through their `from_rusqlite`. The opposite direction — domain values to column
//! values — is [`to_json`] and [`hex_encode`]; the SQL that writes them stays in each backend, whose placeholders differ.
//!
//! Column types follow the shared schema: `INTEGER` is `i32` (PostgreSQL's INT4), `BIGINT`
//! is `i64`, `BOOLEAN` is `bool`, JSON is text.

use super::{DraftStatus, FaqDraft, StoreError};
use crate::conversation::{Author, Conversation, ConversationState, Customer, Message};
use crate::handoff::agent::{Agent, AgentStatus};
use crate::handoff::{AuditEntry, EscalationReason, Handoff, HandoffStatus, Note, Ticket};
use crate::nlu::Lang;
use crate::vocabulary::Priority;

pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

pub(super) fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Serialising plain data structs cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A stored language code.
pub(super) fn lang(what: &str, code: &str) -> Result<Lang, StoreError> {
    Lang::from_locale(code).ok_or_else(|| corrupt(what, code))
}

/// A stored conversation state.
pub(super) fn state(s: &str) -> Result<ConversationState, StoreError> {
    ConversationState::parse(s).ok_or_else(|| corrupt("state", s))
}

/// A count or small number from an `INTEGER` column, as the domain's unsigned type.
fn unsigned(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// A domain count for an `INTEGER` column.
pub(super) fn int4(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The message columns, as a literal so queries stay static strings, in the order
/// [`MessageRow::from_rusqlite`] reads them.
macro_rules! message_columns {
    () => {
        "seq, author, text, client_msg_id, reply_to, meta, turn, created_at"
    };
}

/// The conversation columns, in the order [`ConversationRow::from_rusqlite`] reads them.
macro_rules! conversation_columns {
    () => {
        "id, token_hash, channel, locale, customer, state, low_confidence_streak, recent_skill, dialogue, last_seq, created_at, updated_at, erased_at"
    };
}

/// The handoff columns without the (large) context, in the order
/// [`HandoffRow::from_rusqlite`] reads them.
macro_rules! handoff_columns {
    () => {
        "id, conversation_id, reason, priority, skill, status, agent_id, trigger_seq, routing, created_at, wrap_category, wrap_summary"
    };
}

/// Handoffs with their contexts beside them (`NULL` for a handoff without one): the context
/// is a table of its own (migration 0012) so the open queue is read without it.
macro_rules! handoffs_with_context {
    () => {
        "handoffs LEFT JOIN handoff_contexts ON handoff_id = id"
    };
}

/// The note columns, in the order [`NoteRow::from_rusqlite`] reads them.
macro_rules! note_columns {
    () => {
        "id, conversation_id, agent_id, text, created_at, whisper"
    };
}

/// The agent columns, in the order [`AgentRow::from_rusqlite`] reads them.
macro_rules! agent_columns {
    () => {
        "id, name, skills, max_chats, token_hash, status, disabled, created_at, updated_at, supervises"
    };
}

pub(super) use {
    agent_columns, conversation_columns, handoff_columns, handoffs_with_context, message_columns,
    note_columns,
};

#[derive(sqlx::FromRow)]
pub(super) struct ConversationRow {
    id: String,
    token_hash: String,
    channel: String,
    locale: String,
    customer: String,
    state: String,
    low_confidence_streak: i32,
    recent_skill: Option<String>,
    dialogue: Option<String>,
    last_seq: i64,
    created_at: i64,
    updated_at: i64,
    erased_at: Option<i64>,
}

impl ConversationRow {
    pub(super) fn into_conversation(self) -> Result<Conversation, StoreError> {
        Ok(Conversation {
            locale: lang("locale", &self.locale)?,
            customer: json("customer", &self.customer)?,
            state: state(&self.state)?,
            low_confidence_streak: unsigned(self.low_confidence_streak),
            recent_skill: self.recent_skill,
            dialogue: crate::dialogue_memory::DialogueMemory::from_json(self.dialogue.as_deref()),
            last_seq: self.last_seq,
            created_at: self.created_at,
            updated_at: self.updated_at,
            erased_at: self.erased_at,
            token_hash: hex_decode(&self.token_hash)
                .ok_or_else(|| corrupt("token_hash", "not hex"))?,
            id: self.id,
            channel: self.channel,
        })
    }

    /// The row as the embedded store's direct reads see it ([`super::sqlite_reads`]): the
    /// columns of [`conversation_columns`] in that order. By position, not name: a name is
    /// looked up among the columns on every read, and every turn reads its conversation.
    pub(super) fn from_rusqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationRow> {
        Ok(ConversationRow {
            id: r.get(0)?,
            token_hash: r.get(1)?,
            channel: r.get(2)?,
            locale: r.get(3)?,
            customer: r.get(4)?,
            state: r.get(5)?,
            low_confidence_streak: r.get(6)?,
            recent_skill: r.get(7)?,
            dialogue: r.get(8)?,
            last_seq: r.get(9)?,
            created_at: r.get(10)?,
            updated_at: r.get(11)?,
            erased_at: r.get(12)?,
        })
    }
}

/// What an erase reads of the conversation it marked.
#[derive(sqlx::FromRow)]
pub(super) struct ErasedConversationRow {
    customer: String,
    state: String,
}

impl ErasedConversationRow {
    /// The anonymous customer (as JSON) and the state the erased conversation is left in:
    /// back to the bot when a person held it (nobody can follow it up).
    pub(super) fn erased(&self) -> Result<(String, ConversationState), StoreError> {
        let customer: Customer = json("customer", &self.customer)?;
        let state = state(&self.state)?;
        let state = if state.human_owned() {
            ConversationState::Bot
        } else {
            state
        };
        Ok((to_json(&customer.anonymous()), state))
    }
}

/// An agent who held a handoff of a customer's conversation, with that conversation's
/// customer as stored (the id column also holds ids guests only claimed).
#[derive(sqlx::FromRow)]
pub(super) struct CustomerAgentRow {
    customer: String,
    agent_id: String,
}

impl CustomerAgentRow {
    /// The agent, when the conversation's customer is `customer_id` verified.
    pub(super) fn agent_of_verified(self, customer_id: &str) -> Result<Option<String>, StoreError> {
        let customer: Customer = json("customer", &self.customer)?;
        Ok(
            (customer.verified && customer.id.as_deref() == Some(customer_id))
                .then_some(self.agent_id),
        )
    }
}

/// The first agent of `rows` (most recent first) who helped `customer_id` verified.
pub(super) fn last_agent_of_verified(
    rows: Vec<CustomerAgentRow>,
    customer_id: &str,
) -> Result<Option<String>, StoreError> {
    for row in rows {
        if let Some(agent) = row.agent_of_verified(customer_id)? {
            return Ok(Some(agent));
        }
    }
    Ok(None)
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    seq: i64,
    author: String,
    text: String,
    client_msg_id: Option<String>,
    reply_to: Option<i64>,
    meta: Option<String>,
    turn: Option<String>,
    created_at: i64,
}

impl MessageRow {
    pub(super) fn into_message(self) -> Result<Message, StoreError> {
        Ok(Message {
            seq: self.seq,
            author: Author::parse(&self.author).ok_or_else(|| corrupt("author", &self.author))?,
            text: self.text,
            client_msg_id: self.client_msg_id,
            reply_to: self.reply_to,
            created_at: self.created_at,
            meta: self.meta.map(|m| json("meta", &m)).transpose()?,
            turn: self.turn.map(|t| json("turn", &t)).transpose()?,
        })
    }

    pub(super) fn seq(&self) -> i64 {
        self.seq
    }

    /// A row of [`message_columns`] in that order, read directly ([`super::sqlite_reads`]):
    /// by position, as the conversation and handoff rows are.
    pub(super) fn from_rusqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
        Ok(MessageRow {
            seq: r.get(0)?,
            author: r.get(1)?,
            text: r.get(2)?,
            client_msg_id: r.get(3)?,
            reply_to: r.get(4)?,
            meta: r.get(5)?,
            turn: r.get(6)?,
            created_at: r.get(7)?,
        })
    }
}

pub(super) fn messages(rows: Vec<MessageRow>) -> Result<Vec<Message>, StoreError> {
    rows.into_iter().map(MessageRow::into_message).collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct HandoffRow {
    id: String,
    conversation_id: String,
    reason: String,
    priority: String,
    skill: String,
    status: String,
    agent_id: Option<String>,
    trigger_seq: Option<i64>,
    routing: String,
    created_at: i64,
    wrap_category: Option<String>,
    wrap_summary: Option<String>,
    /// Absent when the query selected [`handoff_columns`] only.
    #[sqlx(default)]
    context: Option<String>,
}

impl HandoffRow {
    /// The handoff, with its context when the query selected it.
    pub(super) fn into_handoff(self) -> Result<Handoff, StoreError> {
        Ok(Handoff {
            reason: EscalationReason::parse(&self.reason)
                .ok_or_else(|| corrupt("reason", &self.reason))?,
            priority: Priority::parse(&self.priority)
                .ok_or_else(|| corrupt("priority", &self.priority))?,
            status: HandoffStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            routing: json("routing", &self.routing)?,
            context: self.context.map(|c| json("context", &c)).transpose()?,
            wrap_up: self.wrap_category.map(|category| crate::handoff::WrapUp {
                category,
                summary: self.wrap_summary,
            }),
            id: self.id,
            conversation_id: self.conversation_id,
            skill: self.skill,
            agent_id: self.agent_id,
            created_at: self.created_at,
            trigger_seq: self.trigger_seq,
        })
    }

    /// A handoff row read directly ([`super::sqlite_reads`]): the columns of
    /// [`handoff_columns`] in that order, then the context when the query selected it. By
    /// position, not name: a name is looked up among the columns on every read, and the
    /// open queue is thousands of rows.
    pub(super) fn from_rusqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<HandoffRow> {
        const CONTEXT: usize = 12;
        let context = if r.as_ref().column_count() > CONTEXT {
            r.get(CONTEXT)?
        } else {
            None
        };
        Ok(HandoffRow {
            id: r.get(0)?,
            conversation_id: r.get(1)?,
            reason: r.get(2)?,
            priority: r.get(3)?,
            skill: r.get(4)?,
            status: r.get(5)?,
            agent_id: r.get(6)?,
            trigger_seq: r.get(7)?,
            routing: r.get(8)?,
            created_at: r.get(9)?,
            wrap_category: r.get(10)?,
            wrap_summary: r.get(11)?,
            context,
        })
    }
}

pub(super) fn handoffs(rows: Vec<HandoffRow>) -> Result<Vec<Handoff>, StoreError> {
    rows.into_iter().map(HandoffRow::into_handoff).collect()
}

/// A row of `handoff_contexts` as written: the context, and the queue card's two fields
/// taken from it, so that the three never disagree.
pub(super) struct ContextColumns {
    pub(super) summary: String,
    /// JSON.
    pub(super) customer: String,
    /// JSON.
    pub(super) context: String,
}

impl ContextColumns {
    pub(super) fn of(context: &crate::handoff::HandoffContext) -> ContextColumns {
        ContextColumns {
            summary: context.summary.clone(),
            customer: to_json(&context.customer),
            context: to_json(context),
        }
    }
}

/// A handoff's stored context, for the erase to rewrite.
#[derive(sqlx::FromRow)]
pub(super) struct ContextRow {
    pub(super) handoff_id: String,
    context: String,
}

impl ContextRow {
    /// The context with its texts erased, as its columns.
    pub(super) fn erased(&self) -> Result<ContextColumns, StoreError> {
        let stored: crate::handoff::HandoffContext = json("context", &self.context)?;
        Ok(ContextColumns::of(
            &stored.erased(crate::conversation::ERASED_TEXT),
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AgentRow {
    id: String,
    name: String,
    skills: String,
    max_chats: i32,
    token_hash: String,
    status: String,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
    supervises: String,
}

impl AgentRow {
    pub(super) fn into_agent(self) -> Result<Agent, StoreError> {
        Ok(Agent {
            skills: json("skills", &self.skills)?,
            max_chats: unsigned(self.max_chats),
            status: AgentStatus::parse(&self.status)
                .ok_or_else(|| corrupt("agent status", &self.status))?,
            id: self.id,
            name: self.name,
            disabled: self.disabled,
            supervises: json("supervises", &self.supervises)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
            token_hash: self.token_hash,
        })
    }

    /// The row as the embedded store's direct reads see it: the columns of
    /// [`agent_columns`] in that order.
    pub(super) fn from_rusqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRow> {
        Ok(AgentRow {
            id: r.get(0)?,
            name: r.get(1)?,
            skills: r.get(2)?,
            max_chats: r.get(3)?,
            token_hash: r.get(4)?,
            status: r.get(5)?,
            disabled: r.get(6)?,
            created_at: r.get(7)?,
            updated_at: r.get(8)?,
            supervises: r.get(9)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct NoteRow {
    id: String,
    conversation_id: String,
    agent_id: String,
    text: String,
    created_at: i64,
    whisper: bool,
}

impl NoteRow {
    /// A note row read directly ([`super::sqlite_reads`]): the columns of [`note_columns`]
    /// in that order.
    pub(super) fn from_rusqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<NoteRow> {
        Ok(NoteRow {
            id: r.get(0)?,
            conversation_id: r.get(1)?,
            agent_id: r.get(2)?,
            text: r.get(3)?,
            created_at: r.get(4)?,
            whisper: r.get(5)?,
        })
    }

    pub(super) fn into_note(self) -> Note {
        Note {
            id: self.id,
            conversation_id: self.conversation_id,
            agent_id: self.agent_id,
            text: self.text,
            created_at: self.created_at,
            whisper: self.whisper,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TicketRow {
    id: String,
    conversation_id: String,
    skill: String,
    lang: String,
    contact: String,
    text: String,
    status: String,
    created_at: i64,
    closed_at: Option<i64>,
    closed_by: Option<String>,
}

impl TicketRow {
    pub(super) fn into_ticket(self) -> Result<Ticket, StoreError> {
        Ok(Ticket {
            lang: lang("ticket lang", &self.lang)?,
            id: self.id,
            conversation_id: self.conversation_id,
            skill: self.skill,
            contact: self.contact,
            text: self.text,
            status: self.status,
            created_at: self.created_at,
            closed_at: self.closed_at,
            closed_by: self.closed_by,
        })
    }
}

pub(super) fn tickets(rows: Vec<TicketRow>) -> Result<Vec<Ticket>, StoreError> {
    rows.into_iter().map(TicketRow::into_ticket).collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: String,
    at: i64,
    actor: String,
    action: String,
    conversation_id: Option<String>,
    detail: String,
}

impl AuditRow {
    pub(super) fn into_audit(self) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            detail: json("audit detail", &self.detail)?,
            id: self.id,
            at: self.at,
            actor: self.actor,
            action: self.action,
            conversation_id: self.conversation_id,
        })
    }
}

pub(super) fn audit(rows: Vec<AuditRow>) -> Result<Vec<AuditEntry>, StoreError> {
    rows.into_iter().map(AuditRow::into_audit).collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct DraftRow {
    id: String,
    conversation_id: String,
    handoff_id: String,
    lang: String,
    question: String,
    answer: String,
    alternates: String,
    suggested_id: String,
    status: String,
    faq_id: Option<String>,
    created_at: i64,
    decided_at: Option<i64>,
}

impl DraftRow {
    pub(super) fn into_draft(self) -> Result<FaqDraft, StoreError> {
        Ok(FaqDraft {
            lang: lang("draft lang", &self.lang)?,
            alternates: json("draft alternates", &self.alternates)?,
            status: DraftStatus::parse(&self.status)
                .ok_or_else(|| corrupt("draft status", &self.status))?,
            id: self.id,
            conversation_id: self.conversation_id,
            handoff_id: self.handoff_id,
            question: self.question,
            answer: self.answer,
            suggested_id: self.suggested_id,
            faq_id: self.faq_id,
            created_at: self.created_at,
            decided_at: self.decided_at,
        })
    }
}

pub(super) fn drafts(rows: Vec<DraftRow>) -> Result<Vec<FaqDraft>, StoreError> {
    rows.into_iter().map(DraftRow::into_draft).collect()
}

/// The rows of [`Store::activity`](super::Store::activity), each with the conversation it
/// belongs to; [`Activity`] files them under their conversations.
#[derive(sqlx::FromRow)]
pub(super) struct ActivityConversationRow {
    id: String,
    created_at: i64,
    locale: String,
    erased_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ActivityMessageRow {
    conversation_id: String,
    #[sqlx(flatten)]
    message: MessageRow,
}

#[derive(sqlx::FromRow)]
pub(super) struct ActivityRatingRow {
    conversation_id: String,
    score: i32,
}

#[derive(sqlx::FromRow)]
pub(super) struct ActivityTicketsRow {
    conversation_id: String,
    n: i64,
}

/// Assembles [`ConversationActivity`](super::ConversationActivity) from the rows of one
/// range, whichever backend read them. Rows of conversations outside the range are skipped.
pub(super) struct Activity {
    out: Vec<super::ConversationActivity>,
    index: std::collections::HashMap<String, usize>,
}

impl Activity {
    pub(super) fn new(rows: Vec<ActivityConversationRow>) -> Result<Activity, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        let mut index = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            index.insert(row.id.clone(), out.len());
            out.push(super::ConversationActivity {
                locale: lang("locale", &row.locale)?,
                id: row.id,
                created_at: row.created_at,
                messages: Vec::new(),
                handoffs: Vec::new(),
                ratings: Vec::new(),
                tickets: 0,
                erased: row.erased_at.is_some(),
            });
        }
        Ok(Activity { out, index })
    }

    fn slot(&mut self, conversation_id: &str) -> Option<&mut super::ConversationActivity> {
        let i = *self.index.get(conversation_id)?;
        self.out.get_mut(i)
    }

    pub(super) fn messages(&mut self, rows: Vec<ActivityMessageRow>) -> Result<(), StoreError> {
        for row in rows {
            if let Some(c) = self.slot(&row.conversation_id) {
                c.messages.push(row.message.into_message()?);
            }
        }
        Ok(())
    }

    pub(super) fn handoffs(&mut self, rows: Vec<HandoffRow>) -> Result<(), StoreError> {
        for row in rows {
            let h = row.into_handoff()?;
            if let Some(c) = self.slot(&h.conversation_id) {
                c.handoffs.push(h);
            }
        }
        Ok(())
    }

    pub(super) fn ratings(&mut self, rows: Vec<ActivityRatingRow>) {
        for row in rows {
            if let Some(c) = self.slot(&row.conversation_id) {
                c.ratings.push(row.score.clamp(0, 255) as u8);
            }
        }
    }

    pub(super) fn tickets(&mut self, rows: Vec<ActivityTicketsRow>) {
        for row in rows {
            if let Some(c) = self.slot(&row.conversation_id) {
                c.tickets = u32::try_from(row.n.max(0)).unwrap_or(u32::MAX);
            }
        }
    }

    pub(super) fn finish(self) -> Vec<super::ConversationActivity> {
        self.out
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

#[derive(sqlx::FromRow)]
pub(super) struct BlockRow {
    id: String,
    kind: String,
    target: String,
    reason: String,
    created_by: String,
    created_at: i64,
    expires_at: Option<i64>,
    lifted_at: Option<i64>,
    lifted_by: Option<String>,
}

impl BlockRow {
    pub(super) fn into_block(self) -> Result<crate::moderation::Block, StoreError> {
        let parsed = crate::moderation::BlockTarget::parse(&self.kind, &self.target)
            .ok_or_else(|| corrupt("block kind", &self.kind))?;
        Ok(crate::moderation::Block {
            id: self.id,
            kind: self.kind,
            target: self.target,
            reason: self.reason,
            created_by: self.created_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
            lifted_at: self.lifted_at,
            lifted_by: self.lifted_by,
            parsed: Some(parsed),
        })
    }
}

pub(super) fn blocks(rows: Vec<BlockRow>) -> Result<Vec<crate::moderation::Block>, StoreError> {
    rows.into_iter().map(BlockRow::into_block).collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct WordHitRow {
    id: String,
    at: i64,
    conversation_id: String,
    author: String,
    agent_id: Option<String>,
    list_id: String,
    action: String,
    term: String,
}

fn word_author(s: &str) -> Result<crate::content::words::Author, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| corrupt("word hit author", s))
}

fn word_action(s: &str) -> Result<crate::content::words::WordAction, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| corrupt("word hit action", s))
}

pub(super) fn word_hits(
    rows: Vec<WordHitRow>,
) -> Result<Vec<crate::moderation::WordHit>, StoreError> {
    rows.into_iter()
        .map(|r| {
            Ok(crate::moderation::WordHit {
                author: word_author(&r.author)?,
                action: word_action(&r.action)?,
                id: r.id,
                at: r.at,
                conversation_id: r.conversation_id,
                agent_id: r.agent_id,
                list: r.list_id,
                term: r.term,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct WordHitCountRow {
    list_id: String,
    action: String,
    hits: i64,
}

pub(super) fn word_hit_counts(
    rows: Vec<WordHitCountRow>,
) -> Result<Vec<crate::moderation::WordHitCount>, StoreError> {
    rows.into_iter()
        .map(|r| {
            Ok(crate::moderation::WordHitCount {
                action: word_action(&r.action)?,
                list: r.list_id,
                hits: r.hits.max(0) as u64,
            })
        })
        .collect()
}

/// A row of [`Store::handoff_cards`](super::Store::handoff_cards): the conversation, and its
/// context's summary and customer (JSON), `NULL` when the context was erased.
pub(super) type HandoffCardRow = (String, Option<String>, Option<String>);

/// The cards of [`Store::handoff_cards`](super::Store::handoff_cards), by conversation.
pub(super) fn handoff_cards(
    rows: Vec<HandoffCardRow>,
) -> Result<std::collections::HashMap<String, super::HandoffCard>, StoreError> {
    let mut cards = std::collections::HashMap::with_capacity(rows.len());
    for (conversation_id, summary, customer) in rows {
        let (Some(summary), Some(customer)) = (summary, customer) else {
            continue;
        };
        let customer: Customer = json("handoff context customer", &customer)?;
        cards.insert(conversation_id, super::HandoffCard { summary, customer });
    }
    Ok(cards)
}

/// A row of [`Store::conversation_langs`](super::Store::conversation_langs): the
/// conversation, its last turn's language code (`NULL` before the first) and its locale.
pub(super) type ConversationLangRow = (String, Option<String>, String);

/// The languages of [`Store::conversation_langs`](super::Store::conversation_langs), by
/// conversation ([`crate::conversation::notice_lang`]).
pub(super) fn conversation_langs(
    rows: Vec<ConversationLangRow>,
) -> Result<std::collections::HashMap<String, Lang>, StoreError> {
    rows.into_iter()
        .map(|(conversation_id, last_turn, locale)| {
            let last_turn = last_turn.map(|code| lang("turn.lang", &code)).transpose()?;
            let locale = lang("locale", &locale)?;
            Ok((
                conversation_id,
                crate::conversation::notice_lang(last_turn, locale),
            ))
        })
        .collect()
}
