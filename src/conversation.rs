//! The conversation domain: what a conversation, a message and a turn's record are. These are
//! the types the store persists, the API returns and the agent's context view is built from.

use serde::{Deserialize, Serialize};

use crate::identity::Identity;
use crate::kb::FaqHits;
use crate::nlu::{IntentPrediction, Lang};
use crate::vocabulary::EscalationReason;

/// Who holds the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// The bot answers.
    #[default]
    Bot,
    /// Waiting for an agent; the bot is silent.
    Queued,
    /// An agent owns it; the bot is silent.
    Assigned,
    /// Finished by an agent; a new shopper message returns it to the bot.
    Resolved,
}

impl ConversationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Bot => "bot",
            ConversationState::Queued => "queued",
            ConversationState::Assigned => "assigned",
            ConversationState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<ConversationState> {
        [
            ConversationState::Bot,
            ConversationState::Queued,
            ConversationState::Assigned,
            ConversationState::Resolved,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Whether a person holds (or is about to hold) the conversation, so the bot keeps quiet.
    pub fn human_owned(self) -> bool {
        matches!(
            self,
            ConversationState::Queued | ConversationState::Assigned
        )
    }
}

/// What replaces every erased text: messages, notes, tickets, rating comments, drafts and
/// handoff contexts of a conversation whose shopper's data was erased.
pub const ERASED_TEXT: &str = "[erased]";

/// Who the shopper is. Only the shop's server can vouch for that, with a signed
/// `customer_token` ([`crate::identity`]): then `verified` is true and `id`, `tags` and `vip`
/// can be trusted. What a browser claims without a signature is kept for the agent to read but
/// marked unverified: its id is only a `claimed_id` (never used to look anything up) and it is
/// never VIP. Deserialising restores that rule for rows stored before identities were signed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredCustomer")]
pub struct Customer {
    /// The shop's customer id; only for a verified customer.
    pub id: Option<String>,
    pub name: Option<String>,
    pub tags: Vec<String>,
    /// Only ever true for a verified customer (see [`Customer::is_vip`]).
    pub vip: bool,
    /// Signed by the shop's server; false for a guest.
    pub verified: bool,
    /// The id an unsigned client claimed: shown to agents as a hint, never trusted.
    pub claimed_id: Option<String>,
}

impl Customer {
    /// The customer a verified token describes.
    pub fn verified(identity: Identity) -> Customer {
        Customer {
            id: Some(identity.id),
            name: identity.name,
            tags: identity.tags,
            vip: identity.vip,
            verified: true,
            claimed_id: None,
        }
    }

    /// An unverified guest from what the client claimed: never VIP, the id only claimed.
    pub fn guest(claim: CustomerClaim) -> Customer {
        Customer {
            id: None,
            name: claim.name,
            tags: claim.tags,
            vip: false,
            verified: false,
            claimed_id: claim.id,
        }
    }

    /// Whether escalations get VIP treatment: only when the shop's server said so.
    pub fn is_vip(&self) -> bool {
        self.verified && self.vip
    }
}

/// A stored customer as written, before [`Customer`]'s rule is applied.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCustomer {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    vip: bool,
    #[serde(default)]
    verified: bool,
    #[serde(default)]
    claimed_id: Option<String>,
}

impl From<StoredCustomer> for Customer {
    fn from(s: StoredCustomer) -> Customer {
        if s.verified {
            Customer {
                id: s.id,
                name: s.name,
                tags: s.tags,
                vip: s.vip,
                verified: true,
                claimed_id: None,
            }
        } else {
            Customer::guest(CustomerClaim {
                id: s.claimed_id.or(s.id),
                name: s.name,
                tags: s.tags,
                vip: false,
            })
        }
    }
}

/// What a client may say about the shopper without a signature (the `customer` field of
/// `POST /v1/conversations`). Accepted for compatibility; it only ever makes a guest.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerClaim {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Read and ignored: only a signed token makes a VIP.
    #[serde(default)]
    pub vip: bool,
}

impl Customer {
    /// The customer with everything that identifies them removed: what an erased
    /// conversation keeps. The VIP flag stays (a segment the statistics may count, not a
    /// person).
    pub fn anonymous(&self) -> Customer {
        Customer {
            id: None,
            name: None,
            tags: Vec::new(),
            vip: self.vip,
            verified: self.verified,
            claimed_id: None,
        }
    }

    /// The id a request to forget a customer finds this conversation by: the verified id,
    /// else the id an unsigned client claimed. When the shop asks to forget customer 42,
    /// everything said as 42 goes, signed or not; nothing else ever reads this id.
    pub fn erasure_key(&self) -> Option<&str> {
        self.id.as_deref().or(self.claimed_id.as_deref())
    }
}

/// The language a conversation's notices are worded in: that of the last shopper turn the
/// bot read, else the language it started in. One rule for a conversation read whole
/// ([`crate::service::ConversationService::conversation_lang`]) and for many read together
/// ([`crate::store::Store::conversation_langs`]).
pub fn notice_lang(last_turn: Option<Lang>, locale: Lang) -> Lang {
    last_turn.unwrap_or(locale)
}

/// A conversation without its messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub id: String,
    pub channel: String,
    /// The language the conversation started in; each message may switch.
    pub locale: Lang,
    pub customer: Customer,
    pub state: ConversationState,
    /// Consecutive turns the bot did not understand.
    pub low_confidence_streak: u32,
    /// Skill group of the last topic the bot understood (routing for a later handoff).
    pub recent_skill: Option<String>,
    /// What the bot remembers between turns (a waiting order task, values given).
    pub dialogue: crate::dialogue_memory::DialogueMemory,
    /// Seq of the newest message (0 when there is none).
    pub last_seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the shopper's personal data was erased (on request or after the retention
    /// period); an erased conversation is closed to shoppers and agents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<i64>,
    #[serde(skip)]
    pub token_hash: Vec<u8>,
}

#[cfg(test)]
impl Conversation {
    /// A guest's new Chinese conversation with the bot, for tests (change fields with
    /// `Conversation { .., ..Conversation::for_tests(id) }`).
    pub(crate) fn for_tests(id: &str) -> Conversation {
        Conversation {
            id: id.into(),
            channel: "web".into(),
            locale: Lang::Zh,
            customer: Customer::default(),
            state: ConversationState::Bot,
            low_confidence_streak: 0,
            recent_skill: None,
            dialogue: Default::default(),
            last_seq: 0,
            created_at: 0,
            updated_at: 0,
            erased_at: None,
            token_hash: vec![],
        }
    }
}

#[cfg(test)]
impl Message {
    /// A stored message for tests: a Chinese order question numbered `seq`, with nothing
    /// read from it yet (change fields with `Message { .., ..Message::for_tests(..) }`).
    pub(crate) fn for_tests(seq: i64, author: Author, client_msg_id: Option<&str>) -> Message {
        Message {
            seq,
            author,
            text: format!("我的订单到哪了 #{seq}"),
            client_msg_id: client_msg_id.map(String::from),
            reply_to: None,
            created_at: 1_000 + seq,
            meta: None,
            turn: None,
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Shopper,
    Bot,
    Agent,
    /// Notices from Baton itself (queued, hours …).
    System,
}

impl Author {
    pub fn as_str(self) -> &'static str {
        match self {
            Author::Shopper => "shopper",
            Author::Bot => "bot",
            Author::Agent => "agent",
            Author::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Author> {
        [Author::Shopper, Author::Bot, Author::Agent, Author::System]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A "did you mean" option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub faq_id: String,
    /// The FAQ's question in the shopper's language: what the button says and sends.
    pub question: String,
}

/// What the bot decided in a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Answered from an FAQ.
    Answer,
    /// Answered with an intent's fixed reply.
    Reply,
    /// Asked what was meant.
    Clarify,
    /// Handed to a person.
    Escalate,
    /// A person holds the conversation; the bot stayed silent.
    Silent,
    /// Written by an agent.
    Agent,
    /// A notice from Baton about the handoff (see [`Notice`]).
    Notice,
    /// A step of an order task: a look-up's answer, a question for a value, a confirmation.
    Task,
}

/// What a system notice is about, so clients can render it (a rating form, a leave-a-message
/// form, the agent's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// Joined the queue; an agent is on duty.
    Queued,
    /// Joined the queue, but nobody is online right now: wait, or leave a message.
    NoAgentOnline,
    /// Outside business hours: not queued; leave a message, the bot keeps answering.
    OffHours,
    /// An agent took the conversation.
    Assigned,
    /// Moved to another group or agent.
    Transferred,
    /// The agent resolved it: please rate 1–5.
    Resolved,
    /// Back with the bot.
    ReturnedToBot,
    /// The shopper's message for the team was received.
    TicketReceived,
    /// Thanks for the rating.
    Rated,
    /// A person answers this group first, but none can soon: the bot answers meanwhile.
    BotAnswers,
}

/// Everything one shopper turn computed; stored with the shopper's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    pub lang: Lang,
    /// `None` when the bot did not run (a person holds the conversation).
    pub intent: Option<IntentPrediction>,
    pub faq_candidates: FaqHits,
    pub asked_for_human: bool,
    pub negative: bool,
    /// Said the previous answer did not help (older records lack it).
    #[serde(default)]
    pub didnt_help: bool,
    pub decision: DecisionKind,
    pub reason: Option<EscalationReason>,
    pub answered_faq: Option<String>,
    pub suggestions: Vec<Suggestion>,
    /// Calls to the shop's API this turn made (values masked), for the agent.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub shop_calls: Vec<crate::shop::CallTrace>,
    /// Trigger rules that acted on this message (ids), for the agent and the statistics.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub triggered: Vec<String>,
    /// Tags those rules gave the conversation.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tags: Vec<String>,
}

#[cfg(test)]
impl TurnRecord {
    /// A Chinese turn that understood `intent` (confidence 0.9) and answered with `faq`, for
    /// tests of what happens to a planned turn.
    pub(crate) fn answered(intent: &str, faq: &str) -> TurnRecord {
        TurnRecord {
            lang: Lang::Zh,
            intent: Some(IntentPrediction {
                label: intent.into(),
                confidence: 0.9,
                out_of_scope: false,
                alternatives: vec![],
            }),
            faq_candidates: FaqHits::default(),
            asked_for_human: false,
            negative: false,
            didnt_help: false,
            decision: DecisionKind::Answer,
            reason: None,
            answered_faq: Some(faq.into()),
            suggestions: vec![],
            shop_calls: vec![],
            triggered: vec![],
            tags: vec![],
        }
    }
}

/// Extra data on a bot or system message, for clients to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyMeta {
    pub kind: DecisionKind,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub faq_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub intent: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub suggestions: Vec<Suggestion>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub notice: Option<Notice>,
    /// The agent who wrote the message, or who took the conversation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub agent_name: Option<String>,
    /// The client should offer a leave-a-message form (nobody can answer soon).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub leave_message: bool,
    /// An order (and its timeline) to show as a card.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub card: Option<Box<Card>>,
    /// Buttons under the message; a tap sends the button's value as the next message.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub buttons: Vec<Button>,
}

/// A button under a bot message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    /// What a tap sends as the shopper's message.
    pub value: String,
}

/// An order as a card, with an optional timeline (a parcel's trace, a refund's steps).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Card {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order: Option<CardOrder>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub trace: Vec<TraceEvent>,
}

/// The order on a card.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CardOrder {
    pub number: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub status_label: String,
    #[serde(default)]
    pub items: Vec<CardItem>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub amount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub created_at: Option<String>,
}

/// A line of an order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CardItem {
    pub name: String,
    #[serde(default)]
    pub qty: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub price: Option<String>,
}

/// A timeline entry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TraceEvent {
    pub time: String,
    pub text: String,
}

impl ReplyMeta {
    pub fn new(kind: DecisionKind) -> ReplyMeta {
        ReplyMeta {
            kind,
            faq_id: None,
            intent: None,
            suggestions: Vec::new(),
            notice: None,
            agent_name: None,
            leave_message: false,
            card: None,
            buttons: Vec::new(),
        }
    }

    pub fn notice(notice: Notice) -> ReplyMeta {
        ReplyMeta {
            notice: Some(notice),
            ..ReplyMeta::new(DecisionKind::Notice)
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// Position in the conversation, from 1; the cursor of `GET …/messages?after=`.
    pub seq: i64,
    pub author: Author,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// The shopper message this one answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<ReplyMeta>,
    /// On shopper messages: what the bot made of it (agent-facing, not sent to shoppers).
    #[serde(skip)]
    pub turn: Option<TurnRecord>,
}

/// A message about to be stored.
/// A message a change adds, before the commit numbers it: a bot or system reply, an agent's
/// message, a notice.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub author: Author,
    pub text: String,
    pub meta: ReplyMeta,
    /// The sender's idempotency key (agents' messages).
    pub client_msg_id: Option<String>,
}

impl Outgoing {
    /// A reply from `author` (the bot, or Baton itself).
    pub fn reply(author: Author, text: impl Into<String>, meta: ReplyMeta) -> Outgoing {
        Outgoing {
            author,
            text: text.into(),
            meta,
            client_msg_id: None,
        }
    }

    /// A system notice (queued, rated, ticket received …).
    pub fn notice(text: impl Into<String>, notice: Notice) -> Outgoing {
        Outgoing::reply(Author::System, text, ReplyMeta::notice(notice))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_verified_identity_is_trusted() {
        let verified = Customer::verified(Identity {
            id: "u1".into(),
            name: Some("李雷".into()),
            tags: vec!["gold".into()],
            vip: true,
            exp: 0,
        });
        assert!(verified.verified && verified.is_vip());
        assert_eq!(verified.id.as_deref(), Some("u1"));

        let guest = Customer::guest(CustomerClaim {
            id: Some("u1".into()),
            name: Some("李雷".into()),
            tags: vec![],
            vip: true,
        });
        assert!(!guest.verified && !guest.vip && !guest.is_vip());
        assert_eq!(guest.id, None, "a claimed id is never the customer's id");
        assert_eq!(guest.claimed_id.as_deref(), Some("u1"));
    }

    #[test]
    fn stored_customers_keep_the_rule_including_rows_from_before_signing() {
        let legacy: Customer =
            serde_json::from_str(r#"{"id":"u1","name":"n","tags":["t"],"vip":true}"#).unwrap();
        assert_eq!(
            legacy,
            Customer {
                id: None,
                name: Some("n".into()),
                tags: vec!["t".into()],
                vip: false,
                verified: false,
                claimed_id: Some("u1".into()),
            }
        );
        let verified = Customer::verified(Identity {
            id: "u2".into(),
            name: None,
            tags: vec![],
            vip: true,
            exp: 0,
        });
        let json = serde_json::to_string(&verified).unwrap();
        assert_eq!(serde_json::from_str::<Customer>(&json).unwrap(), verified);
        let guest = Customer::guest(CustomerClaim {
            id: Some("u3".into()),
            ..Default::default()
        });
        let json = serde_json::to_string(&guest).unwrap();
        assert_eq!(serde_json::from_str::<Customer>(&json).unwrap(), guest);
        assert!(serde_json::from_str::<Customer>(r#"{"admin":true}"#).is_err());
    }
}
