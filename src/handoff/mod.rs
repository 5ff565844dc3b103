//! Handing a conversation to a person: why, how urgently, to which skill group, and the
//! context the agent starts from.
//!
//! The dialogue decides *that* a conversation escalates ([`crate::dialogue::decide`]); this
//! module describes the result. A [`HandoffContext`] is assembled from the stored transcript
//! at escalation time and stored with the handoff record, so an agent sees exactly what the
//! bot saw. Routing, agents and SLAs build on these records.

mod context;

use serde::{Deserialize, Serialize};

pub use crate::content::Priority;
pub use context::{HandoffContext, TranscriptLine, build_context};

/// Why a conversation went to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationReason {
    /// The shopper asked for a person (words or the "talk to a person" button).
    RequestedHuman,
    /// A complaint or strong negative sentiment.
    Complaint,
    /// The bot did not understand, several turns in a row.
    LowConfidence,
    /// An intent whose policy is to hand over (e.g. something only a person may decide).
    IntentPolicy,
}

impl EscalationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationReason::RequestedHuman => "requested_human",
            EscalationReason::Complaint => "complaint",
            EscalationReason::LowConfidence => "low_confidence",
            EscalationReason::IntentPolicy => "intent_policy",
        }
    }

    pub fn parse(s: &str) -> Option<EscalationReason> {
        [
            EscalationReason::RequestedHuman,
            EscalationReason::Complaint,
            EscalationReason::LowConfidence,
            EscalationReason::IntentPolicy,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

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
    pub skill: String,
    pub status: HandoffStatus,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The message seq that triggered it (`None` for the handoff button).
    pub trigger_seq: Option<i64>,
    pub context: HandoffContext,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in [
            EscalationReason::RequestedHuman,
            EscalationReason::Complaint,
            EscalationReason::LowConfidence,
            EscalationReason::IntentPolicy,
        ] {
            assert_eq!(EscalationReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
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
