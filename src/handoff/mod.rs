//! Handing a conversation to a person: the records and rules, without I/O.
//!
//! The dialogue decides *that* a conversation escalates ([`crate::dialogue::decide`]); this
//! module describes the result and what happens next:
//!
//! - [`Handoff`]: why, how urgently, to which skill group, who holds it and its [`Routing`]
//!   state (offers, SLA flags, times). A [`HandoffContext`] is assembled from the stored
//!   transcript at escalation time and stored with it, so an agent sees what the bot saw.
//! - [`agent`]: agents, their tokens (argon2id-hashed) and presence states.
//! - [`routing`]: pure functions — queue order, who gets the next offer, queue positions and
//!   wait estimates. The [`crate::desk`] runs them against the store and the clock.
//! - [`view`]: the agent's view of one conversation, built from the store on request.
//! - Notes, audit entries, tickets and ratings: the other records agents produce; [`review`]:
//!   the quality reviews of the handoffs they close.

pub mod agent;
mod availability;
mod context;
pub mod review;
pub mod roster;
pub mod routing;
pub mod view;
pub mod waits;

use serde::{Deserialize, Serialize};

pub use crate::vocabulary::{EscalationReason, Priority};
pub use availability::Availability;
pub use context::{HandoffContext, TranscriptLine, build_context};
pub use roster::Roster;

/// Where a handoff stands. A conversation has at most one open (queued or assigned) handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffStatus {
    Queued,
    Assigned,
    Resolved,
    /// Handed back to the bot without a resolution.
    Returned,
}

impl HandoffStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffStatus::Queued => "queued",
            HandoffStatus::Assigned => "assigned",
            HandoffStatus::Resolved => "resolved",
            HandoffStatus::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<HandoffStatus> {
        [
            HandoffStatus::Queued,
            HandoffStatus::Assigned,
            HandoffStatus::Resolved,
            HandoffStatus::Returned,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// The decision to escalate, before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    pub reason: EscalationReason,
    pub priority: Priority,
    pub skill: String,
    /// The intent that led here, when one did.
    pub intent: Option<String>,
}

/// A stored handoff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Handoff {
    pub id: String,
    pub conversation_id: String,
    pub reason: EscalationReason,
    pub priority: Priority,
    /// The skill group it is routed to (changes on transfer).
    pub skill: String,
    pub status: HandoffStatus,
    /// The agent holding it (assigned, resolved or returned by).
    pub agent_id: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The message seq that triggered it (`None` for the handoff button).
    pub trigger_seq: Option<i64>,
    pub routing: Routing,
    /// The context at escalation; `None` when the handoff was read without it (listings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<HandoffContext>,
    /// What the agent filed it under when resolving it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_up: Option<WrapUp>,
}

/// A resolved handoff's category and the agent's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WrapUp {
    /// One of `intents/rules/wrap-up.yaml`'s categories.
    pub category: String,
    /// Emptied when the customer's data is erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl Handoff {
    /// A new handoff in the queue, with the context an agent will see: built from the
    /// transcript as it stands, so the agent sees what the bot saw.
    pub fn queue(
        conversation: &crate::conversation::Conversation,
        transcript: &[crate::conversation::Message],
        escalation: &Escalation,
        lang: crate::nlu::Lang,
        trigger_seq: Option<i64>,
        now: i64,
    ) -> Handoff {
        Handoff {
            id: uuid::Uuid::now_v7().to_string(),
            conversation_id: conversation.id.clone(),
            reason: escalation.reason,
            priority: escalation.priority,
            skill: escalation.skill.clone(),
            status: HandoffStatus::Queued,
            agent_id: None,
            created_at: now,
            trigger_seq,
            routing: Routing {
                queued_at: now,
                ..Default::default()
            },
            context: Some(build_context(conversation, transcript, escalation, lang)),
            wrap_up: None,
        }
    }

    /// The shopper wrote to the agent holding it: the reply SLA clock starts, unless it is
    /// already running. `None` when nothing changes.
    pub fn shopper_wrote(&self, now: i64) -> Option<Handoff> {
        if self.status != HandoffStatus::Assigned || self.routing.awaiting_reply_since.is_some() {
            return None;
        }
        let mut h = self.without_context();
        h.routing.awaiting_reply_since = Some(now);
        Some(h)
    }

    /// An agent takes it: offers and reservations end, the wait ends, and the reply SLA
    /// clock starts (the shopper waits for the agent's first words).
    pub fn assigned_to(&self, agent_id: &str, now: i64) -> Handoff {
        let mut h = self.without_context();
        h.status = HandoffStatus::Assigned;
        h.agent_id = Some(agent_id.to_string());
        h.routing.offered_to = None;
        h.routing.offer_expires_at = None;
        h.routing.reserved_for = None;
        h.routing.assigned_at = Some(now);
        h.routing.first_assigned_at.get_or_insert(now);
        h.routing.awaiting_reply_since = Some(now);
        h
    }

    /// The agent holding it wrote to the shopper: the reply SLA clock stops.
    pub fn answered(&self, now: i64) -> Handoff {
        let mut h = self.without_context();
        h.routing.first_response_at.get_or_insert(now);
        h.routing.awaiting_reply_since = None;
        h
    }

    /// The agent passed on (or let lapse) the offer made to them: they are asked again only
    /// when nobody else can take it. `None` when no offer is out.
    pub fn offer_passed(&self) -> Option<(Handoff, String)> {
        let mut h = self.without_context();
        let agent_id = h.routing.offered_to.take()?;
        h.routing.offer_expires_at = None;
        if !h.routing.passed_over.contains(&agent_id) {
            h.routing.passed_over.push(agent_id.clone());
        }
        if h.routing.reserved_for.as_deref() == Some(agent_id.as_str()) {
            h.routing.reserved_for = None;
        }
        Some((h, agent_id))
    }

    /// The holding agent hands it to another group or a named agent: it queues anew.
    pub fn transferred(
        &self,
        skill: Option<&str>,
        reserved_for: Option<String>,
        now: i64,
    ) -> Handoff {
        let mut h = self.back_to_queue(Routing {
            queued_at: now,
            reserved_for,
            transfers: self.routing.transfers + 1,
            ..Default::default()
        });
        if let Some(skill) = skill {
            h.skill = skill.to_string();
        }
        h
    }

    /// The holding agent is gone (offline, disabled) or missed the reply SLA: back to the
    /// queue with the wait already served, and not offered to that agent first.
    pub fn requeued(&self) -> Handoff {
        self.back_to_queue(Routing {
            queued_at: self.created_at,
            passed_over: self.agent_id.iter().cloned().collect(),
            sla_reply_breached: self.routing.sla_reply_breached,
            transfers: self.routing.transfers,
            ..Default::default()
        })
    }

    /// The holding agent resolved it or returned it to the bot.
    pub fn closed(&self, status: HandoffStatus, now: i64) -> Handoff {
        let mut h = self.without_context();
        h.status = status;
        h.routing.closed_at = Some(now);
        h.routing.awaiting_reply_since = None;
        h
    }

    /// Back in the queue with `routing`, keeping what the statistics need across moves.
    fn back_to_queue(&self, routing: Routing) -> Handoff {
        let mut h = self.without_context();
        h.status = HandoffStatus::Queued;
        h.agent_id = None;
        h.routing = Routing {
            first_assigned_at: self.routing.first_assigned_at,
            first_response_at: self.routing.first_response_at,
            ..routing
        };
        h
    }

    /// A copy to write back or to list: the context is stored once, at escalation, and
    /// listings go without it. The context (kilobytes) is not copied.
    pub(crate) fn without_context(&self) -> Handoff {
        let Handoff {
            id,
            conversation_id,
            reason,
            priority,
            skill,
            status,
            agent_id,
            created_at,
            trigger_seq,
            routing,
            context: _,
            wrap_up,
        } = self;
        Handoff {
            id: id.clone(),
            conversation_id: conversation_id.clone(),
            reason: *reason,
            priority: *priority,
            skill: skill.clone(),
            status: *status,
            agent_id: agent_id.clone(),
            created_at: *created_at,
            trigger_seq: *trigger_seq,
            routing: routing.clone(),
            context: None,
            wrap_up: wrap_up.clone(),
        }
    }

    /// Whether it waits for an agent (possibly with an offer out).
    pub fn is_queued(&self) -> bool {
        self.status == HandoffStatus::Queued
    }

    /// How long the shopper has waited for a person: until now while queued, until an agent
    /// took it once assigned (milliseconds).
    pub fn waiting_ms(&self, now: i64) -> i64 {
        let start = if self.routing.queued_at > 0 {
            self.routing.queued_at
        } else {
            self.created_at
        };
        let end = match self.status {
            HandoffStatus::Queued => now,
            _ => self.routing.assigned_at.unwrap_or(now),
        };
        (end - start).max(0)
    }

    /// The skill groups whose agents may take it: its own, plus the fallback once widened.
    pub fn groups<'a>(&'a self, fallback: &'a str) -> Vec<&'a str> {
        let mut g = vec![self.skill.as_str()];
        if self.routing.widened && fallback != self.skill {
            g.push(fallback);
        }
        g
    }
}

/// Where a handoff stands in routing; stored as JSON with the handoff. Every timer is a
/// stored deadline or start time, so a restart resumes offers and SLAs where they were.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Routing {
    /// When it (last) entered the queue: the start of the wait SLA.
    pub queued_at: i64,
    /// The agent it is offered to, and until when.
    pub offered_to: Option<String>,
    pub offer_expires_at: Option<i64>,
    /// Agents who let an offer lapse or declined it; they are asked again only when nobody
    /// else can take it.
    pub passed_over: Vec<String>,
    /// A named agent a transfer is meant for: only they are offered it until they decline.
    pub reserved_for: Option<String>,
    /// The agent who last helped this verified customer: offered it first while they are
    /// online with room and have not passed on it (sticky routing, `handoff.sticky_days`).
    pub returning_to: Option<String>,
    pub assigned_at: Option<i64>,
    /// When the first agent took it (kept across transfers): the end of the queue wait.
    pub first_assigned_at: Option<i64>,
    /// The first agent message to the shopper (kept across transfers).
    pub first_response_at: Option<i64>,
    /// The oldest shopper message the agent has not answered yet.
    pub awaiting_reply_since: Option<i64>,
    /// Waited past the wait SLA; widened to the fallback group.
    pub sla_wait_breached: bool,
    pub widened: bool,
    /// The agent did not reply within the reply SLA.
    pub sla_reply_breached: bool,
    pub closed_at: Option<i64>,
    pub transfers: u32,
}

/// An internal note on a conversation: agents only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub conversation_id: String,
    pub agent_id: String,
    pub text: String,
    pub created_at: i64,
    /// Whispered by a supervisor to the agent holding the conversation.
    pub whisper: bool,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    /// `agent:<id>`, `admin`, `system` or `shopper`.
    pub actor: String,
    /// `accept`, `reply`, `note`, `transfer`, `resolve`, `return_to_bot`, `reveal`, `offer`,
    /// `offer_expired`, `sla_wait_breach`, …
    pub action: String,
    pub conversation_id: Option<String>,
    pub detail: serde_json::Value,
}

impl AuditEntry {
    pub fn new(
        at: i64,
        actor: impl Into<String>,
        action: &str,
        conversation_id: Option<&str>,
        detail: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            at,
            actor: actor.into(),
            action: action.to_string(),
            conversation_id: conversation_id.map(String::from),
            detail,
        }
    }
}

/// A request for a group of agents: a message left while nobody was on duty, an order change
/// only a person may make, or a FAQ's `handoff: notify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub conversation_id: String,
    pub skill: String,
    pub lang: crate::nlu::Lang,
    /// Phone or e-mail the shopper left, as given (agents need it to call back).
    pub contact: String,
    pub text: String,
    /// `open` or `closed`.
    pub status: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
}

impl Ticket {
    /// The ticket as agents see it. A ticket reaches every agent of its group at once and has
    /// no audited reveal, so its message is masked like any shopper text shown to agents. The
    /// contact stays as the shopper gave it: it was left precisely so that an agent calls or
    /// writes back, and a masked contact would make the ticket useless.
    pub fn for_agents(self) -> Ticket {
        Ticket {
            text: crate::pii::mask(&self.text),
            ..self
        }
    }
}

/// A shopper's 1–5 rating of a resolved handoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub handoff_id: String,
    pub conversation_id: String,
    pub agent_id: Option<String>,
    pub score: u8,
    pub comment: Option<String>,
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [
            HandoffStatus::Queued,
            HandoffStatus::Assigned,
            HandoffStatus::Resolved,
            HandoffStatus::Returned,
        ] {
            assert_eq!(HandoffStatus::parse(s.as_str()), Some(s));
        }
    }
}
