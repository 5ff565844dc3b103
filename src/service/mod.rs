//! The conversation service: what the HTTP layer (and any other front end) calls. It owns the
//! order of operations that makes Baton safe to retry and to crash:
//!
//! 1. serialise changes to one conversation (a per-conversation async lock on this node, the
//!    store's `last_seq` check across nodes);
//! 2. read the conversation and its open handoff once, and authorise the conversation token
//!    (constant-time) against that row;
//! 3. answer a repeated `client_msg_id` from the store, never by running the turn again;
//! 4. run the bot turn ([`crate::dialogue::respond`]) against one knowledge snapshot;
//! 5. commit the shopper message, the replies, the new state and any handoff in one
//!    transaction — and only then return;
//! 6. publish what was committed to the open sockets ([`Hub`]) and wake the dispatcher when
//!    a conversation joined the queue.
//!
//! [`turn`] holds the shopper's turn and the handoff button; [`commit`] the one function
//! every change goes through ([`ConversationService::commit`]); [`returning`] finds the agent a
//! returning customer is offered to first. Agents' actions (in
//! [`crate::desk`]) change conversations through [`ConversationService::apply`], under the
//! same lock and with the same commit-then-publish order.

mod blocklist;
mod commit;
pub mod erase;
mod page;
mod returning;
mod screen;
mod turn;

use std::sync::Arc;

use base64::Engine as _;
use dashmap::DashMap;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{Mutex, Notify};

pub use commit::{Applied, Change, Current, ShopperMessage};
pub(crate) use screen::Writer;

use crate::clock::Clock;
use crate::config::Config;
use crate::conversation::{
    Conversation, ConversationState, Customer, CustomerClaim, Message, Notice, Outgoing,
};
use crate::dialogue::phrases;
use crate::handoff::{
    AuditEntry, EscalationReason, Handoff, HandoffStatus, Priority, Rating, Roster, Ticket,
};
use crate::identity::{self, IdentityError};
use crate::knowledge::{Knowledge, LiveKnowledge};
use crate::nlu::Lang;
use crate::realtime::Hub;
use crate::store::{Store, StoreError};
use crate::vocabulary::{ConversationId, MessageText};

/// Why a request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no such conversation")]
    NotFound,
    #[error("missing or wrong conversation token")]
    Unauthorized,
    #[error("{0}")]
    Invalid(String),
    #[error("the conversation is busy; retry")]
    Contended,
    /// The understanding pipeline is saturated (the encoder's queue is full).
    #[error("the bot is at capacity; retry shortly")]
    Busy,
    /// The action does not fit the conversation's state (e.g. rating twice).
    #[error("{0}")]
    Conflict(String),
    /// An agent may not see or do this.
    #[error("{0}")]
    Forbidden(String),
    /// The caller has done this too often for now (e.g. too many open tickets).
    #[error("{0}")]
    RateLimited(String),
    /// The shop blocked this customer (the message is the polite refusal they see).
    #[error("{}", crate::dialogue::phrases::BLOCKED)]
    Blocked,
    /// A word list refused the message; it says why to whoever wrote it.
    #[error("{0}")]
    MessageBlocked(String),

    /// The signed customer identity was refused.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// How a conversation starts.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    /// `web`, `app`, … (free text, shown to agents).
    #[serde(default)]
    pub channel: Option<String>,
    /// `zh`, `zh-CN`, `en`, `en-US` …
    #[serde(default)]
    pub locale: Option<String>,
    /// Who the shopper is, signed by the shop's server ([`crate::identity`]): the only way
    /// to a verified customer (and to VIP treatment).
    #[serde(default)]
    pub customer_token: Option<String>,
    /// What the client says about the shopper, unsigned: kept as an unverified guest.
    #[serde(default)]
    pub customer: Option<CustomerClaim>,
}

/// A new conversation and the token that alone gives access to it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Created {
    pub conversation_id: String,
    pub token: String,
    pub state: ConversationState,
}

/// Summary of an open handoff, for the shopper's client.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct HandoffView {
    pub id: String,
    /// Why the conversation was escalated (`shopper_request`, `low_confidence`, …).
    #[schema(value_type = String)]
    pub reason: EscalationReason,
    /// `normal`, `high`, …
    #[schema(value_type = String)]
    pub priority: Priority,
    pub skill: String,
    /// `queued`, `offered`, `assigned`, …
    #[schema(value_type = String)]
    pub status: HandoffStatus,
}

impl From<&Handoff> for HandoffView {
    fn from(h: &Handoff) -> Self {
        HandoffView {
            id: h.id.clone(),
            reason: h.reason,
            priority: h.priority,
            skill: h.skill.clone(),
            status: h.status,
        }
    }
}

/// The result of a shopper action.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TurnOutcome {
    pub conversation_id: String,
    pub state: ConversationState,
    /// The shopper's stored message (absent for the handoff button).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub message: Option<Message>,
    #[schema(value_type = Vec<Object>)]
    pub replies: Vec<Message>,
    pub handoff: Option<HandoffView>,
    /// True when this answers a retry of an already stored `client_msg_id`.
    pub duplicate: bool,
}

/// A page of the transcript.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessagePage {
    pub conversation_id: String,
    pub state: ConversationState,
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<Message>,
    /// Pass as `after` to get what follows.
    pub next_after: i64,
    pub more: bool,
}

/// The parts the service shares with the desk and the sockets.
#[derive(Clone)]
pub struct Wiring {
    pub hub: Hub,
    pub clock: Clock,
    pub roster: Arc<Roster>,
    /// Wakes the dispatcher (a conversation joined the queue, an agent freed up).
    pub poke: Arc<Notify>,
    /// The shop's order API; `None` runs no order tasks.
    pub shop: Option<Arc<crate::shop::ShopClient>>,
    /// The other nodes on the same database; `None` for a single node.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// How long a newcomer to each group's queue would wait, as of the last dispatch.
    pub waits: Arc<crate::handoff::waits::WaitBoard>,
    /// The customers and networks the shop refuses to serve.
    pub blocklist: Arc<crate::moderation::Blocklist>,
}

impl Wiring {
    pub fn new(config: &Config, clock: Clock) -> Wiring {
        let now = clock.now_ms();
        Wiring {
            hub: Hub::default(),
            roster: Arc::new(Roster::new(
                config.handoff.presence_grace_secs as i64 * 1000,
                now,
            )),
            clock,
            poke: Arc::new(Notify::new()),
            shop: None,
            cluster: None,
            waits: Arc::default(),
            blocklist: Arc::default(),
        }
    }
}

/// Cheap-to-clone handle to the service.
#[derive(Clone)]
pub struct ConversationService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    knowledge: LiveKnowledge,
    config: Arc<Config>,
    locks: DashMap<String, Arc<Mutex<()>>>,
    wiring: Wiring,
}

/// Attempts at a turn before a concurrent writer wins (other nodes sharing the database).
const COMMIT_ATTEMPTS: usize = 5;

impl ConversationService {
    pub fn new(
        store: Arc<dyn Store>,
        knowledge: LiveKnowledge,
        config: Arc<Config>,
        wiring: Wiring,
    ) -> Self {
        ConversationService {
            inner: Arc::new(Inner {
                store,
                knowledge,
                config,
                locks: DashMap::new(),
                wiring,
            }),
        }
    }

    pub fn wiring(&self) -> &Wiring {
        &self.inner.wiring
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.wiring.clock
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.wiring.hub
    }

    /// Sends an event to every agent who serves `skill`, online or not: their sockets get
    /// it now, and what it announces is in their lists when they come back.
    pub(crate) fn to_group(&self, skill: &str, event: impl Fn() -> crate::realtime::Event) {
        self.to_agents_where(|a| a.serves(skill), event);
    }

    /// Sends an event to every agent who serves or supervises `skill`, once each: what
    /// needs a person's eyes now (an alert, a missed SLA).
    pub(crate) fn to_group_and_supervisors(
        &self,
        skill: &str,
        event: impl Fn() -> crate::realtime::Event,
    ) {
        self.to_agents_where(|a| a.serves(skill) || a.supervises(skill), event);
    }

    /// Sends an event to every enabled agent `audience` picks, once each.
    pub(crate) fn to_agents_where(
        &self,
        audience: impl Fn(&crate::handoff::agent::Agent) -> bool,
        event: impl Fn() -> crate::realtime::Event,
    ) {
        for a in self
            .wiring()
            .roster
            .agents()
            .iter()
            .filter(|a| !a.disabled && audience(a))
        {
            self.hub().to_agent(&a.id, event());
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn config_arc(&self) -> &Arc<Config> {
        &self.inner.config
    }

    /// The knowledge snapshot serving now.
    pub fn knowledge(&self) -> Arc<Knowledge> {
        self.inner.knowledge.current()
    }

    /// The handle the reloader swaps snapshots through.
    pub fn live_knowledge(&self) -> &LiveKnowledge {
        &self.inner.knowledge
    }

    pub async fn create(&self, req: NewConversation) -> Result<Created, ServiceError> {
        let channel = req.channel.unwrap_or_else(|| "web".into());
        if channel.is_empty() || channel.chars().count() > 32 {
            return Err(ServiceError::Invalid(
                "channel must be 1–32 characters".into(),
            ));
        }
        let locale = match req.locale.as_deref() {
            None => Lang::Zh,
            Some(l) => Lang::from_locale(l).ok_or_else(|| {
                ServiceError::Invalid(format!("locale {l:?} is not supported (zh or en)"))
            })?,
        };
        let customer = self.customer(req.customer_token, req.customer)?;
        if self.refuses(&customer) {
            return Err(ServiceError::Blocked);
        }
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let now = self.clock().now_ms();
        let conversation = Conversation {
            id: ConversationId::generate().as_str().to_string(),
            channel,
            locale,
            customer,
            state: ConversationState::Bot,
            low_confidence_streak: 0,
            recent_skill: None,
            dialogue: Default::default(),
            last_seq: 0,
            created_at: now,
            updated_at: now,
            erased_at: None,
            token_hash: token_hash(&token),
        };
        self.inner.store.create_conversation(&conversation).await?;
        tracing::debug!(
            conversation = %conversation.id,
            channel = %conversation.channel,
            verified = conversation.customer.verified,
            "conversation created"
        );
        Ok(Created {
            conversation_id: conversation.id,
            token,
            state: ConversationState::Bot,
        })
    }

    /// Whether the shop blocked this customer (by their verified id; see
    /// [`crate::moderation::blocklist`]).
    pub(crate) fn refuses(&self, customer: &Customer) -> bool {
        let verified = customer
            .verified
            .then_some(customer.id.as_deref())
            .flatten();
        verified.is_some()
            && self
                .wiring()
                .blocklist
                .refuses(verified, None, self.clock().now_ms())
    }

    /// Who a new conversation's shopper is: the verified identity of a signed token, or a
    /// guest made of what the client claims.
    fn customer(
        &self,
        token: Option<String>,
        claim: Option<CustomerClaim>,
    ) -> Result<Customer, ServiceError> {
        match (token, claim) {
            (Some(_), Some(_)) => Err(ServiceError::Invalid(
                "send customer_token or customer, not both".into(),
            )),
            (Some(token), None) => {
                let keys = self.inner.config.identity.keys();
                match identity::verify(&token, &keys, self.clock().now_ms()) {
                    Ok(identity) => Ok(Customer::verified(identity)),
                    Err(e) => {
                        // The reason only: the token itself is never logged.
                        tracing::info!(error = %e, "customer token refused");
                        Err(e.into())
                    }
                }
            }
            (None, claim) => {
                let claim = claim.unwrap_or_default();
                let too_long = |s: &Option<String>, max: usize| {
                    s.as_deref().is_some_and(|s| s.chars().count() > max)
                };
                if too_long(&claim.id, identity::MAX_ID_CHARS)
                    || too_long(&claim.name, identity::MAX_NAME_CHARS)
                {
                    return Err(ServiceError::Invalid(format!(
                        "customer.id: at most {} characters, customer.name: at most {}",
                        identity::MAX_ID_CHARS,
                        identity::MAX_NAME_CHARS
                    )));
                }
                if claim.tags.len() > identity::MAX_TAGS
                    || claim
                        .tags
                        .iter()
                        .any(|t| t.chars().count() > identity::MAX_TAG_CHARS)
                {
                    return Err(ServiceError::Invalid(format!(
                        "customer.tags: at most {} tags of {} characters",
                        identity::MAX_TAGS,
                        identity::MAX_TAG_CHARS
                    )));
                }
                Ok(Customer::guest(claim))
            }
        }
    }

    /// The conversation, if `token` is its token. Unknown ids are `NotFound` whatever the token.
    pub async fn authorize(
        &self,
        id: &str,
        token: Option<&str>,
    ) -> Result<Conversation, ServiceError> {
        check_id(id)?;
        let conversation = self.load(id).await?;
        check_token(&conversation, token)?;
        Ok(conversation)
    }

    /// Messages after a cursor, for polling clients and reconnects.
    pub async fn messages(
        &self,
        conversation: &Conversation,
        after: i64,
        limit: u32,
    ) -> Result<MessagePage, ServiceError> {
        let limit = limit.clamp(1, self.inner.config.http.max_page_size);
        let mut messages = self
            .inner
            .store
            .messages_after(&conversation.id, after, limit + 1)
            .await?;
        let more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        Ok(MessagePage {
            conversation_id: conversation.id.clone(),
            state: conversation.state,
            next_after: messages.last().map_or(after, |m| m.seq),
            messages,
            more,
        })
    }

    /// The conversation; `NotFound` for an unknown id and for an erased conversation, which
    /// is closed to shoppers and agents alike.
    pub async fn load(&self, id: &str) -> Result<Conversation, ServiceError> {
        open_to_people(self.inner.store.conversation(id).await?)
    }

    async fn with_conversation_lock<F, Fut, T>(&self, id: &str, f: F) -> Result<T, ServiceError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, ServiceError>>,
    {
        let lock = self.inner.locks.entry(id.to_string()).or_default().clone();
        let result = {
            let _guard = lock.lock().await;
            f().await
        };
        drop(lock);
        // Forget the lock once nobody else holds or waits for it, so the map stays small.
        self.inner
            .locks
            .remove_if(id, |_, l| Arc::strong_count(l) == 1);
        result
    }

    /// The shopper's 1–5 rating of the conversation's last resolved handoff. `token` as
    /// for [`Self::send`].
    pub async fn rate(
        &self,
        id: &str,
        token: Option<&str>,
        score: u8,
        comment: Option<String>,
    ) -> Result<Applied, ServiceError> {
        let comment = &comment;
        let admitted = self
            .as_shopper(id, token, admit_all, |current| async move {
                if !(1..=5).contains(&score) {
                    return Err(ServiceError::Invalid("score must be 1–5".into()));
                }
                let comment = comment
                    .as_deref()
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string);
                if comment.as_ref().is_some_and(|c| c.chars().count() > 1000) {
                    return Err(ServiceError::Invalid(
                        "comment must be at most 1000 characters".into(),
                    ));
                }
                let c = &current.conversation;
                let latest = self.inner.store.latest_handoff(&c.id).await?;
                let Some(resolved) = latest.filter(|h| h.status == HandoffStatus::Resolved) else {
                    return Err(ServiceError::Conflict(
                        "there is no resolved conversation with an agent to rate".into(),
                    ));
                };
                let lang = self.conversation_lang(c).await?;
                let now = self.clock().now_ms();
                let change = Change {
                    messages: vec![Outgoing::notice(phrases::rated(lang), Notice::Rated)],
                    rating: Some(Rating {
                        handoff_id: resolved.id.clone(),
                        conversation_id: c.id.clone(),
                        agent_id: resolved.agent_id.clone(),
                        score,
                        comment,
                        created_at: now,
                    }),
                    audit: vec![AuditEntry::new(
                        now,
                        "shopper",
                        "rate",
                        Some(&c.id),
                        serde_json::json!({ "handoff_id": resolved.id, "score": score }),
                    )],
                    ..Default::default()
                };
                self.commit(&current, change).await.map_err(|e| match e {
                    StoreError::Duplicate => {
                        ServiceError::Conflict("this conversation is already rated".into())
                    }
                    other => other.into(),
                })
            })
            .await?;
        Ok(admitted.unwrap_or_else(|never| match never {}))
    }

    /// A message for the team left while nobody can answer: becomes a ticket agents see.
    /// `token` and `admit` as for [`Self::send`].
    ///
    /// Accepted only where the shopper was offered the leave-a-message form (nobody online,
    /// or off hours) and no agent has joined since, and only up to
    /// `handoff.max_open_tickets` open tickets per conversation: tickets carry contact
    /// details to every agent of the group, so they must not become a side channel or a
    /// way to flood agents' lists.
    pub async fn leave_message<R>(
        &self,
        id: &str,
        token: Option<&str>,
        admit: impl FnOnce(&Conversation) -> Result<(), R>,
        contact: &str,
        text: &str,
    ) -> Result<Result<(Applied, Ticket), R>, ServiceError> {
        let contact = contact.trim();
        // Checked here, reported after the token, as for a message.
        let text = MessageText::parse(text, self.inner.config.http.max_message_chars);
        let max = self.inner.config.handoff.max_open_tickets;
        let text = &text;
        self.as_shopper(id, token, admit, |current| async move {
            if contact.is_empty() || contact.chars().count() > 200 {
                return Err(ServiceError::Invalid(
                    "contact (a phone number or e-mail) must be 1–200 characters".into(),
                ));
            }
            let text = text
                .as_ref()
                .map_err(|e| ServiceError::Invalid(e.clone()))?;
            let c = &current.conversation;
            if current
                .open
                .as_ref()
                .is_some_and(|h| h.status == HandoffStatus::Assigned)
            {
                return Err(agent_is_here());
            }
            self.check_form_offered(c).await?;
            let lang = self.conversation_lang(c).await?;
            let skill = match &current.open {
                Some(h) => h.skill.clone(),
                None => c
                    .recent_skill
                    .clone()
                    .unwrap_or_else(|| self.inner.config.policy.default_skill.clone()),
            };
            let now = self.clock().now_ms();
            let ticket = Ticket {
                id: uuid::Uuid::now_v7().to_string(),
                conversation_id: c.id.clone(),
                skill,
                lang,
                contact: contact.to_string(),
                text: text.as_str().to_string(),
                status: "open".into(),
                created_at: now,
                closed_at: None,
                closed_by: None,
            };
            let change = Change {
                messages: vec![Outgoing::notice(
                    phrases::ticket_received(lang),
                    Notice::TicketReceived,
                )],
                ticket: Some(ticket.clone()),
                audit: vec![AuditEntry::new(
                    now,
                    "shopper",
                    "leave_message",
                    Some(&c.id),
                    serde_json::json!({ "ticket_id": ticket.id, "skill": ticket.skill }),
                )],
                ..Default::default()
            };
            let applied = self.commit(&current, change).await.map_err(|e| match e {
                StoreError::Limit(_) => ServiceError::RateLimited(format!(
                    "this conversation already has {max} open messages for the team; they will get back to you"
                )),
                other => other.into(),
            })?;
            tracing::info!(conversation = %c.id, ticket = %ticket.id, "message left for the team");
            Ok((applied, ticket))
        })
        .await
    }

    /// Refuses a ticket unless the conversation's last leave-a-message offer still stands:
    /// the form was offered and no agent joined after it.
    async fn check_form_offered(&self, c: &Conversation) -> Result<(), ServiceError> {
        let messages = self.inner.store.messages_after(&c.id, 0, u32::MAX).await?;
        let mut offered = false;
        for meta in messages.iter().filter_map(|m| m.meta.as_ref()) {
            if meta.leave_message {
                offered = true;
            } else if meta.notice == Some(Notice::Assigned) {
                offered = false;
            }
        }
        if c.state == ConversationState::Assigned {
            return Err(agent_is_here());
        }
        if !offered {
            return Err(ServiceError::Conflict(
                "messages for the team are taken when nobody can answer; ask for a person first"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The language the conversation is in now (its last shopper turn, else its locale).
    pub async fn conversation_lang(&self, c: &Conversation) -> Result<Lang, ServiceError> {
        let last_turn = self.inner.store.last_turn_lang(&c.id).await?;
        Ok(crate::conversation::notice_lang(last_turn, c.locale))
    }
}

/// The admission of a request no rate limit covers.
fn admit_all(_: &Conversation) -> Result<(), std::convert::Infallible> {
    Ok(())
}

fn agent_is_here() -> ServiceError {
    ServiceError::Conflict("an agent is with you now; write to them here".into())
}

/// Unknown ids are `NotFound` whatever the token, and so are ids that cannot exist.
pub fn check_id(id: &str) -> Result<(), ServiceError> {
    ConversationId::parse(id)
        .map(|_| ())
        .ok_or(ServiceError::NotFound)
}

/// A conversation as read, for shoppers and agents: `NotFound` for an unknown id and for an
/// erased conversation.
fn open_to_people(read: Option<Conversation>) -> Result<Conversation, ServiceError> {
    read.filter(|c| c.erased_at.is_none())
        .ok_or(ServiceError::NotFound)
}

/// Whether `token` is the conversation's token (compared in constant time).
fn check_token(conversation: &Conversation, token: Option<&str>) -> Result<(), ServiceError> {
    let presented = token_hash(token.unwrap_or_default());
    let matches: bool = presented.ct_eq(&conversation.token_hash).into();
    if token.is_none() || !matches {
        return Err(ServiceError::Unauthorized);
    }
    Ok(())
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
