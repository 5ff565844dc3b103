//! The agent's view of one conversation: everything on one screen so the shopper never
//! repeats a word — a summary to start from, the transcript with what the bot understood
//! per turn, why it escalated, priority and waiting time, who the customer is, the entities
//! mentioned (masked) and the team's internal notes.
//!
//! Built on request from the stored conversation, transcript, handoff and notes, so it is
//! never stale; the same value is pushed to the agent's socket on assignment.

use serde::Serialize;

use super::context::{TranscriptLine, build_context};
use super::{Escalation, EscalationReason, Handoff, HandoffStatus, Priority, Routing};
use crate::conversation::{Conversation, ConversationState, Customer, Message};
use crate::nlu::Lang;
use crate::pii::Entity;

/// An internal note with its author's name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteLine {
    pub id: String,
    pub agent_id: String,
    pub agent_name: String,
    pub text: String,
    pub at: i64,
    /// A supervisor's whisper to the agent holding the conversation.
    pub whisper: bool,
}

/// One conversation as an agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentView {
    pub conversation_id: String,
    pub state: ConversationState,
    pub channel: String,
    pub lang: Lang,
    pub customer: Customer,
    /// One or two sentences to start from.
    pub summary: String,
    pub handoff_id: Option<String>,
    pub reason: Option<EscalationReason>,
    pub priority: Option<Priority>,
    pub skill: Option<String>,
    pub status: Option<HandoffStatus>,
    pub agent_id: Option<String>,
    /// How long the shopper has waited for a person so far (queued) or waited in total
    /// before an agent took it (assigned), in milliseconds.
    pub waiting_ms: i64,
    pub routing: Option<Routing>,
    /// Every message, personal data masked; shopper lines carry the bot's understanding.
    pub transcript: Vec<TranscriptLine>,
    pub notes: Vec<NoteLine>,
    /// Order numbers, and masked phones, e-mails, addresses, ID and card numbers.
    pub entities: Vec<Entity>,
    pub last_seq: i64,
    /// The page the shopper is on (the product or order being viewed), as their client says.
    pub page: Option<crate::dialogue_memory::Page>,
    /// Orders looked up in the conversation, newest first.
    pub orders: Vec<crate::dialogue_memory::OrderSeen>,
    /// Tags the support lead's trigger rules gave the conversation.
    pub tags: Vec<String>,
    /// Trigger rules that acted in the conversation, with the message that set each off.
    pub triggered: Vec<RuleLine>,
    /// Every call the bot made to the shop's API: what was attempted, with which (masked)
    /// values, and what came back.
    pub shop_calls: Vec<ShopCallLine>,
}

/// A trigger rule that acted, and the shopper message that set it off.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleLine {
    pub seq: i64,
    pub rule: String,
}

/// A call to the shop's API and the shopper message it served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShopCallLine {
    pub seq: i64,
    pub at: i64,
    #[serde(flatten)]
    pub call: crate::shop::CallTrace,
}

/// Builds the view. `handoff` is the conversation's open handoff, or its latest one.
pub fn build_view(
    conversation: &Conversation,
    messages: &[Message],
    handoff: Option<&Handoff>,
    notes: Vec<NoteLine>,
    now: i64,
) -> AgentView {
    let lang = handoff
        .and_then(|h| h.context.as_ref().map(|c| c.lang))
        .or_else(|| {
            messages
                .iter()
                .rev()
                .find_map(|m| m.turn.as_ref().map(|t| t.lang))
        })
        .unwrap_or(conversation.locale);
    let escalation = Escalation {
        reason: handoff.map_or(EscalationReason::RequestedHuman, |h| h.reason),
        priority: handoff.map_or(Priority::Normal, |h| h.priority),
        skill: handoff.map_or_else(String::new, |h| h.skill.clone()),
        intent: handoff.and_then(|h| h.context.as_ref().and_then(|c| c.intent.clone())),
    };
    let fresh = build_context(conversation, messages, &escalation, lang);
    let waiting_ms = handoff.map_or(0, |h| h.waiting_ms(now));
    AgentView {
        conversation_id: conversation.id.clone(),
        state: conversation.state,
        channel: conversation.channel.clone(),
        lang,
        customer: conversation.customer.clone(),
        // The summary written at escalation: why the shopper came, not their latest line.
        summary: match handoff {
            Some(h) => h
                .context
                .as_ref()
                .map_or(fresh.summary, |c| c.summary.clone()),
            None => String::new(),
        },
        handoff_id: handoff.map(|h| h.id.clone()),
        reason: handoff.map(|h| h.reason),
        priority: handoff.map(|h| h.priority),
        skill: handoff.map(|h| h.skill.clone()),
        status: handoff.map(|h| h.status),
        agent_id: handoff.and_then(|h| h.agent_id.clone()),
        waiting_ms,
        routing: handoff.map(|h| h.routing.clone()),
        transcript: fresh.transcript,
        notes,
        entities: fresh.entities,
        last_seq: conversation.last_seq,
        page: conversation.dialogue.page.clone(),
        orders: conversation.dialogue.orders.clone(),
        tags: conversation.dialogue.tags.clone(),
        triggered: messages
            .iter()
            .filter_map(|m| Some((m.seq, m.turn.as_ref()?)))
            .flat_map(|(seq, t)| {
                t.triggered.iter().map(move |rule| RuleLine {
                    seq,
                    rule: rule.clone(),
                })
            })
            .collect(),
        shop_calls: messages
            .iter()
            .filter_map(|m| Some((m, m.turn.as_ref()?)))
            .flat_map(|(m, t)| {
                t.shop_calls.iter().map(|c| ShopCallLine {
                    seq: m.seq,
                    at: m.created_at,
                    call: c.clone(),
                })
            })
            .collect(),
    }
}
