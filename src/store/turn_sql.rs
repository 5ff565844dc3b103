//! The SQL of the writes every shopper makes — a new conversation, and one turn: everything
//! [`TurnWrite`] changes — of the desk's routing changes to handoffs, and of the FAQ draft a
//! resolved handoff may leave, written on the store's writer connection inside the
//! transaction that [`group_commit`](super::group_commit) opened. On an error the caller
//! rolls back what this wrote.
//!
//! The order matters: the conversation's `last_seq` moves first, so SQLite takes its write
//! lock at once and a concurrent turn is detected (`Conflict`) by the first statement,
//! which then changed nothing. The group commit relies on that: a conflicted turn needs no
//! rollback of its own. An erased conversation takes no more writes: a turn read before the
//! erase conflicts, and its retry finds the conversation closed.

use rusqlite::{Connection, ErrorCode, params};

use super::rows::{ContextColumns, hex_encode, to_json};
use super::{FaqDraft, StoreError, TurnWrite};
use crate::conversation::Conversation;
use crate::handoff::{AuditEntry, Handoff, HandoffStatus};

pub(super) fn insert_conversation(conn: &Connection, c: &Conversation) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO conversations (id, token_hash, channel, locale, customer, customer_id,
            vip, state, low_confidence_streak, recent_skill, last_seq, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
    )?
    .execute(params![
        c.id,
        hex_encode(&c.token_hash),
        c.channel,
        c.locale.code(),
        to_json(&c.customer),
        c.customer.erasure_key(),
        c.customer.is_vip(),
        c.state.as_str(),
        c.low_confidence_streak as i64,
        c.last_seq,
        c.created_at,
        c.updated_at,
    ])?;
    Ok(())
}

pub(super) fn write_turn(conn: &Connection, w: &TurnWrite) -> Result<(), StoreError> {
    let new_last_seq = w.messages.last().map_or(w.expected_last_seq, |m| m.seq);
    let moved = conn
        .prepare_cached(
            "UPDATE conversations SET last_seq = ?, state = ?, low_confidence_streak = ?,
                recent_skill = COALESCE(?, recent_skill), dialogue = COALESCE(?, dialogue),
                updated_at = ?
             WHERE id = ? AND last_seq = ? AND erased_at IS NULL",
        )?
        .execute(params![
            new_last_seq,
            w.state.as_str(),
            w.low_confidence_streak as i64,
            w.recent_skill,
            w.dialogue,
            w.now,
            w.conversation_id,
            w.expected_last_seq,
        ])?;
    if moved != 1 {
        return Err(StoreError::Conflict);
    }
    let mut insert_message = conn.prepare_cached(
        "INSERT INTO messages (conversation_id, seq, author, text, client_msg_id, reply_to,
            meta, turn, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    for m in &w.messages {
        let inserted = insert_message.execute(params![
            w.conversation_id,
            m.seq,
            m.author.as_str(),
            m.text,
            m.client_msg_id,
            m.reply_to,
            m.meta.as_ref().map(to_json),
            m.turn.as_ref().map(to_json),
            m.created_at,
        ]);
        match inserted {
            Err(e) if is_unique_violation(&e) && m.client_msg_id.is_some() => {
                return Err(StoreError::Duplicate);
            }
            other => {
                other?;
            }
        }
    }
    if let Some(h) = &w.handoff {
        // Later writes of a handoff change its routing fields only.
        conn.prepare_cached(
            "INSERT INTO handoffs (id, conversation_id, reason, priority, skill, status, agent_id,
                trigger_seq, routing, created_at, updated_at, wrap_category, wrap_summary)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET priority = excluded.priority,
                skill = excluded.skill, status = excluded.status, agent_id = excluded.agent_id,
                routing = excluded.routing, updated_at = excluded.updated_at,
                wrap_category = excluded.wrap_category, wrap_summary = excluded.wrap_summary",
        )?
        .execute(params![
            h.id,
            h.conversation_id,
            h.reason.as_str(),
            h.priority.as_str(),
            h.skill,
            h.status.as_str(),
            h.agent_id,
            h.trigger_seq,
            to_json(&h.routing),
            h.created_at,
            w.now,
            h.wrap_up.as_ref().map(|u| u.category.as_str()),
            h.wrap_up.as_ref().and_then(|u| u.summary.as_deref()),
        ])?;
        if let Some(context) = &h.context {
            insert_context(conn, &h.id, context)?;
        }
    }
    for n in &w.notes {
        conn.prepare_cached(
            "INSERT INTO notes (id, conversation_id, agent_id, text, created_at, whisper)
             VALUES (?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            n.id,
            n.conversation_id,
            n.agent_id,
            n.text,
            n.created_at,
            n.whisper
        ])?;
    }
    if let Some(t) = &w.ticket {
        // The count and the insert are one statement in the write transaction: no
        // concurrent request can slip in between.
        let limit = w.max_open_tickets.map(i64::from);
        let inserted = conn
            .prepare_cached(
                "INSERT INTO tickets (id, conversation_id, skill, lang, contact, text, status, created_at)
                 SELECT ?, ?, ?, ?, ?, ?, ?, ?
                 WHERE ? IS NULL
                    OR (SELECT COUNT(*) FROM tickets WHERE conversation_id = ? AND status = 'open') < ?",
            )?
            .execute(params![
                t.id,
                t.conversation_id,
                t.skill,
                t.lang.code(),
                t.contact,
                t.text,
                t.status,
                t.created_at,
                limit,
                t.conversation_id,
                limit,
            ])?;
        if inserted != 1 {
            return Err(StoreError::Limit(format!(
                "the conversation already has {} open tickets",
                w.max_open_tickets.unwrap_or_default()
            )));
        }
    }
    if let Some(r) = &w.rating {
        let inserted = conn
            .prepare_cached(
                "INSERT INTO ratings (handoff_id, conversation_id, agent_id, score, comment, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                r.handoff_id,
                r.conversation_id,
                r.agent_id,
                r.score as i64,
                r.comment,
                r.created_at,
            ]);
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate),
            other => {
                other?;
            }
        }
    }
    insert_audit(conn, &w.audit)
}

/// A change to a handoff's routing (an offer, a lapsed offer, an SLA flag) that does not
/// touch its conversation: [`Store::save_handoff`](super::Store::save_handoff) on SQLite.
#[derive(Debug, Clone)]
pub(super) struct HandoffSave {
    /// Without its context, which is never rewritten.
    pub handoff: Handoff,
    pub expected_status: HandoffStatus,
    pub now: i64,
    pub audit: Vec<AuditEntry>,
}

/// Writes a routing change; `Conflict` when the handoff is no longer in the expected
/// status. Like a turn's, the conflict is found by the first statement, before anything
/// is written.
pub(super) fn save_handoff(conn: &Connection, s: &HandoffSave) -> Result<(), StoreError> {
    let h = &s.handoff;
    let changed = conn
        .prepare_cached(
            "UPDATE handoffs SET priority = ?, skill = ?, status = ?, agent_id = ?, routing = ?,
                updated_at = ? WHERE id = ? AND status = ?",
        )?
        .execute(params![
            h.priority.as_str(),
            h.skill,
            h.status.as_str(),
            h.agent_id,
            to_json(&h.routing),
            s.now,
            h.id,
            s.expected_status.as_str(),
        ])?;
    if changed != 1 {
        return Err(StoreError::Conflict);
    }
    insert_audit(conn, &s.audit)
}

/// Stores a new FAQ draft; `Exists` when its handoff already has one, found by the only
/// statement, which then wrote nothing. Never for an erased conversation: a draft read from
/// it just before the erase is dropped rather than bringing its texts back (also `Exists`:
/// there is nothing for the caller to do either way).
pub(super) fn insert_draft(conn: &Connection, d: &FaqDraft) -> Result<(), StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO faq_drafts (id, conversation_id, handoff_id, lang, question, answer,
                 alternates, suggested_id, status, faq_id, created_at, decided_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
             WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ?2 AND erased_at IS NULL)
             ON CONFLICT (handoff_id) DO NOTHING",
        )?
        .execute(params![
            d.id,
            d.conversation_id,
            d.handoff_id,
            d.lang.code(),
            d.question,
            d.answer,
            to_json(&d.alternates),
            d.suggested_id,
            d.status.as_str(),
            d.faq_id,
            d.created_at,
            d.decided_at,
        ])?;
    if inserted == 0 {
        return Err(StoreError::Exists(format!(
            "a draft for handoff {}",
            d.handoff_id
        )));
    }
    Ok(())
}

fn insert_audit(conn: &Connection, entries: &[AuditEntry]) -> Result<(), StoreError> {
    for a in entries {
        conn.prepare_cached(
            "INSERT INTO audit_log (id, at, actor, action, conversation_id, detail)
             VALUES (?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            a.id,
            a.at,
            a.actor,
            a.action,
            a.conversation_id,
            to_json(&a.detail),
        ])?;
    }
    Ok(())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == ErrorCode::ConstraintViolation
                && (f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

/// Stores a handoff's context when it has none yet: it is written once, when the handoff
/// is created, and every later write of the handoff carries it again unchanged, so the
/// (kilobytes of) JSON is only made when it will be stored.
fn insert_context(
    conn: &Connection,
    handoff_id: &str,
    context: &crate::handoff::HandoffContext,
) -> Result<(), StoreError> {
    let stored = conn
        .prepare_cached("SELECT 1 FROM handoff_contexts WHERE handoff_id = ?")?
        .exists([handoff_id])?;
    if stored {
        return Ok(());
    }
    let columns = ContextColumns::of(context);
    conn.prepare_cached(
        "INSERT INTO handoff_contexts (handoff_id, summary, customer, context)
         VALUES (?, ?, ?, ?)",
    )?
    .execute(params![
        handoff_id,
        columns.summary,
        columns.customer,
        columns.context
    ])?;
    Ok(())
}
