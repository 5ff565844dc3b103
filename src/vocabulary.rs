//! The small shared vocabulary every layer may use: why a conversation went to a person and
//! how urgently, and the validated identifiers and texts that cross the API. Leaf module:
//! it imports nothing from the crate, so any module can depend on it without a circle.

use serde::{Deserialize, Serialize};

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
    /// A call to the shop's systems failed (timeout, error, an unexpected answer).
    ActionFailed,
    /// The answered FAQ says a person always follows its answer (`handoff: always`).
    FaqPolicy,
    /// One of the support lead's trigger rules (`intents/rules/triggers.yaml`).
    TriggerRule,
    /// The group's reception mode: a person answers first (`intents/rules/reception.yaml`).
    Reception,
}

impl EscalationReason {
    pub const ALL: [EscalationReason; 8] = [
        EscalationReason::RequestedHuman,
        EscalationReason::Complaint,
        EscalationReason::LowConfidence,
        EscalationReason::IntentPolicy,
        EscalationReason::ActionFailed,
        EscalationReason::FaqPolicy,
        EscalationReason::TriggerRule,
        EscalationReason::Reception,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EscalationReason::RequestedHuman => "requested_human",
            EscalationReason::Complaint => "complaint",
            EscalationReason::LowConfidence => "low_confidence",
            EscalationReason::IntentPolicy => "intent_policy",
            EscalationReason::ActionFailed => "action_failed",
            EscalationReason::FaqPolicy => "faq_policy",
            EscalationReason::TriggerRule => "trigger_rule",
            EscalationReason::Reception => "reception",
        }
    }

    pub fn parse(s: &str) -> Option<EscalationReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Queue priority an escalation starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    /// One step up, saturating.
    pub fn raised(self) -> Priority {
        match self {
            Priority::Normal => Priority::High,
            _ => Priority::Urgent,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "normal" => Some(Priority::Normal),
            "high" => Some(Priority::High),
            "urgent" => Some(Priority::Urgent),
            _ => None,
        }
    }
}

/// A conversation id: a UUID in its canonical text form. Anything else cannot name a
/// conversation, so it is answered like an unknown id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConversationId(String);

impl ConversationId {
    pub fn parse(id: &str) -> Option<ConversationId> {
        uuid::Uuid::parse_str(id)
            .ok()
            .map(|_| ConversationId(id.to_string()))
    }

    /// A new, time-ordered id.
    pub fn generate() -> ConversationId {
        ConversationId(uuid::Uuid::now_v7().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A sender's idempotency key for a message: 1–128 bytes. A retry with the same key is
/// answered from the store instead of being stored again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientMsgId(String);

impl ClientMsgId {
    pub const MAX_BYTES: usize = 128;

    pub fn parse(id: &str) -> Result<ClientMsgId, String> {
        if id.is_empty() || id.len() > Self::MAX_BYTES {
            return Err(format!("client_msg_id must be 1–{} bytes", Self::MAX_BYTES));
        }
        Ok(ClientMsgId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text of a chat message, shopper's or agent's: surrounding white space removed, not
/// empty, at most `max` characters (`http.max_message_chars`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub fn parse(text: &str, max: usize) -> Result<MessageText, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("text must not be empty".into());
        }
        if text.chars().count() > max {
            return Err(format!("text is longer than {max} characters"));
        }
        Ok(MessageText(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_texts_carry_their_rules() {
        assert!(ConversationId::parse("not-a-uuid").is_none());
        let id = ConversationId::generate();
        assert_eq!(
            ConversationId::parse(id.as_str()).map(|p| p.as_str().to_string()),
            Some(id.as_str().to_string())
        );
        assert!(ClientMsgId::parse("").is_err());
        assert!(ClientMsgId::parse(&"x".repeat(129)).is_err());
        assert_eq!(ClientMsgId::parse("m-1").unwrap().as_str(), "m-1");
        assert!(MessageText::parse("  \n ", 10).is_err());
        assert!(MessageText::parse("十一个字的消息来了吗对", 10).is_err());
        assert_eq!(
            MessageText::parse("  你好 \n", 10).unwrap().as_str(),
            "你好"
        );
    }

    #[test]
    fn reasons_and_priorities_round_trip() {
        for r in [
            EscalationReason::RequestedHuman,
            EscalationReason::Complaint,
            EscalationReason::LowConfidence,
            EscalationReason::IntentPolicy,
        ] {
            assert_eq!(EscalationReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for p in [Priority::Normal, Priority::High, Priority::Urgent] {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
    }
}
