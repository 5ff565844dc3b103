//! The conversation domain: what a conversation, a message and a turn's record are. These are
//! the types the store persists, the API returns and the agent's context view is built from.

use serde::{Deserialize, Serialize};

use crate::kb::FaqHit;
use crate::nlu::{IntentPrediction, Lang};
use crate::vocabulary::EscalationReason;

/// Who holds the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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

/// Who the shopper is, as the shop's site or app tells Baton.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
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
        }
    }
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
}

/// Everything one shopper turn computed; stored with the shopper's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    pub lang: Lang,
    /// `None` when the bot did not run (a person holds the conversation).
    pub intent: Option<IntentPrediction>,
    pub faq_candidates: Vec<FaqHit>,
    pub asked_for_human: bool,
    pub negative: bool,
    /// Said the previous answer did not help (older records lack it).
    #[serde(default)]
    pub didnt_help: bool,
    pub decision: DecisionKind,
    pub reason: Option<EscalationReason>,
    pub answered_faq: Option<String>,
    pub suggestions: Vec<Suggestion>,
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
