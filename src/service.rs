//! The conversation service: what the HTTP layer (and any other front end) calls. It owns the
//! order of operations that makes Baton safe to retry and to crash:
//!
//! 1. authorise the conversation token (constant-time);
//! 2. serialise turns of one conversation (a per-conversation async lock on this node, the
//!    store's `last_seq` check across nodes);
//! 3. answer a repeated `client_msg_id` from the store, never by running the turn again;
//! 4. run the bot off the async runtime (`spawn_blocking`), against one knowledge snapshot;
//! 5. commit the shopper message, the replies, the new state and any handoff in one
//!    transaction — and only then return;
//! 6. publish what was committed to the open sockets ([`Hub`]) and wake the dispatcher when
//!    a conversation joined the queue.
//!
//! Agents' actions (in [`crate::desk`]) change conversations through [`ConversationService::apply`],
//! under the same lock and with the same commit-then-publish order.

use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine as _;
use dashmap::DashMap;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{Mutex, Notify};

use crate::clock::Clock;
use crate::config::Config;
use crate::conversation::{
    Author, Conversation, ConversationState, Customer, DecisionKind, Message, Notice, ReplyMeta,
    TurnRecord,
};
use crate::desk::Roster;
use crate::dialogue::turn::{Availability, handoff_notice};
use crate::dialogue::{self, Facts, PlannedReply, phrases};
use crate::encoder::EncoderError;
use crate::handoff::{
    AuditEntry, Escalation, EscalationReason, Handoff, HandoffStatus, Note, Priority, Rating,
    Routing, Ticket, build_context,
};
use crate::knowledge::Knowledge;
use crate::nlu::{Lang, normalize};
use crate::realtime::{AssistSuggestion, Event, Hub};
use crate::store::{Store, StoreError, TurnWrite};

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
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// How a conversation starts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    /// `web`, `app`, … (free text, shown to agents).
    #[serde(default)]
    pub channel: Option<String>,
    /// `zh`, `zh-CN`, `en`, `en-US` …
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub customer: Option<Customer>,
}

/// A new conversation and the token that alone gives access to it.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub conversation_id: String,
    pub token: String,
    pub state: ConversationState,
}

/// Summary of an open handoff, for the shopper's client.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HandoffView {
    pub id: String,
    pub reason: EscalationReason,
    pub priority: Priority,
    pub skill: String,
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
#[derive(Debug, Clone, Serialize)]
pub struct TurnOutcome {
    pub conversation_id: String,
    pub state: ConversationState,
    /// The shopper's stored message (absent for the handoff button).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    pub replies: Vec<Message>,
    pub handoff: Option<HandoffView>,
    /// True when this answers a retry of an already stored `client_msg_id`.
    pub duplicate: bool,
}

/// A page of the transcript.
#[derive(Debug, Clone, Serialize)]
pub struct MessagePage {
    pub conversation_id: String,
    pub state: ConversationState,
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
    knowledge: ArcSwap<Knowledge>,
    config: Arc<Config>,
    locks: DashMap<String, Arc<Mutex<()>>>,
    wiring: Wiring,
}

/// A change an agent's action (or a routing decision) makes to a conversation: computed
/// from the conversation and its open handoff, committed atomically by
/// [`ConversationService::apply`].
#[derive(Debug, Default)]
pub struct Change {
    pub messages: Vec<Outgoing>,
    pub state: Option<ConversationState>,
    /// Forget earlier low-confidence turns (back with the bot: no instant re-escalation).
    pub reset_streak: bool,
    pub handoff: Option<Handoff>,
    pub notes: Vec<Note>,
    pub ticket: Option<Ticket>,
    pub rating: Option<Rating>,
    pub audit: Vec<AuditEntry>,
}

/// A message a [`Change`] adds.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub author: Author,
    pub text: String,
    pub meta: ReplyMeta,
    pub client_msg_id: Option<String>,
}

impl Outgoing {
    pub fn notice(text: impl Into<String>, notice: Notice) -> Outgoing {
        Outgoing {
            author: Author::System,
            text: text.into(),
            meta: ReplyMeta::notice(notice),
            client_msg_id: None,
        }
    }
}

/// What [`ConversationService::apply`] committed.
#[derive(Debug, Clone)]
pub struct Applied {
    pub conversation: Conversation,
    pub messages: Vec<Message>,
    pub handoff: Option<Handoff>,
    /// A retry of an already stored message (nothing new was written).
    pub duplicate: bool,
}

/// Attempts at a turn before a concurrent writer wins (other nodes sharing the database).
const COMMIT_ATTEMPTS: usize = 5;

impl ConversationService {
    pub fn new(
        store: Arc<dyn Store>,
        knowledge: Arc<Knowledge>,
        config: Arc<Config>,
        wiring: Wiring,
    ) -> Self {
        ConversationService {
            inner: Arc::new(Inner {
                store,
                knowledge: ArcSwap::new(knowledge),
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

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The knowledge snapshot serving now.
    pub fn knowledge(&self) -> Arc<Knowledge> {
        self.inner.knowledge.load_full()
    }

    /// Replaces the knowledge snapshot; turns in flight finish on the old one.
    pub fn swap_knowledge(&self, knowledge: Arc<Knowledge>) {
        self.inner.knowledge.store(knowledge);
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
        let customer = req.customer.unwrap_or_default();
        if customer.tags.len() > 50 || customer.tags.iter().any(|t| t.chars().count() > 64) {
            return Err(ServiceError::Invalid(
                "customer.tags: at most 50 tags of 64 characters".into(),
            ));
        }
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let now = self.clock().now_ms();
        let conversation = Conversation {
            id: uuid::Uuid::now_v7().to_string(),
            channel,
            locale,
            customer,
            state: ConversationState::Bot,
            low_confidence_streak: 0,
            recent_skill: None,
            last_seq: 0,
            created_at: now,
            updated_at: now,
            token_hash: token_hash(&token),
        };
        self.inner.store.create_conversation(&conversation).await?;
        tracing::info!(conversation = %conversation.id, channel = %conversation.channel, "conversation created");
        Ok(Created {
            conversation_id: conversation.id,
            token,
            state: ConversationState::Bot,
        })
    }

    /// The conversation, if `token` is its token. Unknown ids are `NotFound` whatever the token.
    pub async fn authorize(
        &self,
        id: &str,
        token: Option<&str>,
    ) -> Result<Conversation, ServiceError> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ServiceError::NotFound);
        }
        let conversation = self.load(id).await?;
        let presented = token_hash(token.unwrap_or_default());
        let matches: bool = presented.ct_eq(&conversation.token_hash).into();
        if token.is_none() || !matches {
            return Err(ServiceError::Unauthorized);
        }
        Ok(conversation)
    }

    /// A shopper message: stored, answered (or not, while a person holds the conversation),
    /// all durable before this returns.
    pub async fn send(
        &self,
        id: &str,
        text: &str,
        client_msg_id: &str,
    ) -> Result<TurnOutcome, ServiceError> {
        let max = self.inner.config.http.max_message_chars;
        if text.trim().is_empty() {
            return Err(ServiceError::Invalid("text must not be empty".into()));
        }
        if text.chars().count() > max {
            return Err(ServiceError::Invalid(format!(
                "text is longer than {max} characters"
            )));
        }
        if client_msg_id.is_empty() || client_msg_id.len() > 128 {
            return Err(ServiceError::Invalid(
                "client_msg_id must be 1–128 bytes".into(),
            ));
        }
        self.with_conversation_lock(id, || async {
            for _ in 0..COMMIT_ATTEMPTS {
                if let Some(done) = self.replay(id, client_msg_id).await? {
                    return Ok(done);
                }
                let conversation = self.load(id).await?;
                match self.run_turn(conversation, text, client_msg_id).await {
                    Err(ServiceError::Store(StoreError::Conflict | StoreError::Duplicate)) => {
                        continue;
                    }
                    other => return other,
                }
            }
            Err(ServiceError::Contended)
        })
        .await
    }

    /// The "talk to a person" button. Idempotent: pressing it while queued or assigned
    /// changes nothing.
    pub async fn request_handoff(&self, id: &str) -> Result<TurnOutcome, ServiceError> {
        self.with_conversation_lock(id, || async {
            for _ in 0..COMMIT_ATTEMPTS {
                let c = self.load(id).await?;
                if c.state.human_owned() {
                    let open = self.inner.store.open_handoff(id).await?;
                    return Ok(TurnOutcome {
                        conversation_id: c.id,
                        state: c.state,
                        message: None,
                        replies: vec![],
                        handoff: open.as_ref().map(HandoffView::from),
                        duplicate: true,
                    });
                }
                let escalation =
                    dialogue::policy::button_escalation(&Facts::of(&c), &self.inner.config.policy);
                let lang = self.conversation_lang(&c).await?;
                match self
                    .commit(&c, None, vec![], Some(escalation), 0, None, lang)
                    .await
                {
                    Err(ServiceError::Store(StoreError::Conflict)) => continue,
                    other => return other,
                }
            }
            Err(ServiceError::Contended)
        })
        .await
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

    pub async fn load(&self, id: &str) -> Result<Conversation, ServiceError> {
        self.inner
            .store
            .conversation(id)
            .await?
            .ok_or(ServiceError::NotFound)
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

    async fn replay(
        &self,
        id: &str,
        client_msg_id: &str,
    ) -> Result<Option<TurnOutcome>, ServiceError> {
        let Some(mut stored) = self
            .inner
            .store
            .turn_by_client_msg_id(id, client_msg_id)
            .await?
        else {
            return Ok(None);
        };
        let c = self.load(id).await?;
        let shopper = stored.remove(0);
        let open = self.inner.store.open_handoff(id).await?;
        let handoff = open.filter(|h| h.trigger_seq == Some(shopper.seq));
        Ok(Some(TurnOutcome {
            conversation_id: c.id,
            state: c.state,
            message: Some(shopper),
            replies: stored,
            handoff: handoff.as_ref().map(HandoffView::from),
            duplicate: true,
        }))
    }

    async fn run_turn(
        &self,
        c: Conversation,
        text: &str,
        client_msg_id: &str,
    ) -> Result<TurnOutcome, ServiceError> {
        let knowledge = self.knowledge();
        let config = self.inner.config.clone();
        // The encoder runs on its own threads; a full queue fails fast rather than queueing
        // without bound. Nothing has been stored yet, so a retry is safe.
        let vector = knowledge
            .embed_message(&normalize(text))
            .await
            .map_err(|e| match e {
                EncoderError::Busy => ServiceError::Busy,
                other => ServiceError::Internal(other.to_string()),
            })?;
        let text_owned = text.to_string();
        let locale = c.locale;
        // Classification and retrieval are CPU work: keep them off the async workers.
        let analysis = {
            let knowledge = knowledge.clone();
            let config = config.clone();
            tokio::task::spawn_blocking(move || {
                dialogue::analyze(
                    &knowledge,
                    &config.policy,
                    config.nlu.faq_candidates,
                    &text_owned,
                    vector.as_deref(),
                    locale,
                )
            })
            .await
            .map_err(|e| ServiceError::Internal(format!("turn task failed: {e}")))?
        };

        if c.state.human_owned() {
            return self
                .store_for_agent(&c, text, client_msg_id, analysis, &knowledge)
                .await;
        }

        let facts = Facts::of(&c);
        let plan = dialogue::plan(&knowledge, &config.policy, analysis, &facts);
        let streak = if plan.low_confidence {
            c.low_confidence_streak + 1
        } else {
            0
        };
        tracing::info!(
            conversation = %c.id,
            intent = plan.turn.intent.as_ref().map(|i| i.label.as_str()).unwrap_or("-"),
            confidence = plan.turn.intent.as_ref().map(|i| i.confidence).unwrap_or(0.0),
            decision = ?plan.turn.decision,
            reason = plan.turn.reason.map(|r| r.as_str()).unwrap_or("-"),
            "bot turn"
        );
        let lang = plan.turn.lang;
        let shopper = (text.to_string(), client_msg_id.to_string(), plan.turn);
        self.commit(
            &c,
            Some(shopper),
            plan.replies,
            plan.escalation,
            streak,
            plan.topic_skill,
            lang,
        )
        .await
    }

    /// A message while a person holds (or is about to hold) the conversation: stored with
    /// what the bot made of it, the bot stays silent, and the agent gets the best FAQ
    /// answers as suggestions. A repeated request for a person gets a reassurance.
    async fn store_for_agent(
        &self,
        c: &Conversation,
        text: &str,
        client_msg_id: &str,
        analysis: dialogue::Analysis,
        knowledge: &Knowledge,
    ) -> Result<TurnOutcome, ServiceError> {
        let lang = analysis.lang;
        let asked = analysis.asked_for_human;
        let policy = &self.inner.config.policy;
        let assist: Vec<AssistSuggestion> = analysis
            .faq_hits
            .iter()
            .filter(|h| h.confidence >= policy.suggest_threshold)
            .filter_map(|h| {
                let faq = knowledge.index.get(&h.faq_id, lang)?;
                Some(AssistSuggestion {
                    faq_id: faq.id.clone(),
                    question: faq.question.clone(),
                    answer: faq.answer.clone(),
                    confidence: h.confidence,
                })
            })
            .take(policy.max_suggestions)
            .collect();
        let turn = TurnRecord {
            lang,
            intent: Some(analysis.intent),
            faq_candidates: analysis.faq_hits,
            asked_for_human: asked,
            negative: analysis.negative,
            didnt_help: analysis.didnt_help,
            decision: DecisionKind::Silent,
            reason: None,
            answered_faq: None,
            suggestions: vec![],
        };
        let replies = if asked && c.state == ConversationState::Queued {
            vec![PlannedReply {
                author: Author::System,
                text: phrases::already_queued(lang).to_string(),
                meta: ReplyMeta::new(DecisionKind::Silent),
            }]
        } else {
            vec![]
        };
        let shopper = (text.to_string(), client_msg_id.to_string(), turn);
        let outcome = self
            .commit(
                c,
                Some(shopper),
                replies,
                None,
                c.low_confidence_streak,
                None,
                lang,
            )
            .await?;
        if let Some(m) = &outcome.message
            && outcome.state == ConversationState::Assigned
            && let Some(h) = self.inner.store.open_handoff(&c.id).await?
            && let Some(agent) = &h.agent_id
        {
            self.hub().to_agent(
                agent,
                Event::Assist {
                    conversation_id: c.id.clone(),
                    seq: m.seq,
                    suggestions: assist,
                },
            );
        }
        Ok(outcome)
    }

    /// Whether a person can take `skill`'s conversations now.
    fn availability(&self, skill: &str) -> Availability {
        let config = &self.inner.config;
        let now = self.clock().now();
        let fallback = config.handoff.fallback_for(skill);
        let hours = Availability::from_hours(&config.hours, skill, now);
        if hours == Availability::OffHours
            && Availability::from_hours(&config.hours, fallback, now) == Availability::OffHours
        {
            return Availability::OffHours;
        }
        if self
            .inner
            .wiring
            .roster
            .on_duty(&[skill, fallback], self.clock().now_ms())
        {
            Availability::OnDuty
        } else {
            Availability::NobodyOnline
        }
    }

    /// Assigns seqs, builds the handoff context when escalating, commits atomically, then
    /// publishes.
    #[allow(clippy::too_many_arguments)]
    async fn commit(
        &self,
        c: &Conversation,
        shopper: Option<(String, String, TurnRecord)>,
        mut replies: Vec<PlannedReply>,
        escalation: Option<Escalation>,
        mut low_confidence_streak: u32,
        recent_skill: Option<String>,
        lang: Lang,
    ) -> Result<TurnOutcome, ServiceError> {
        let now = self.clock().now_ms();
        // Outside business hours nobody is queued: the shopper may leave a message and the
        // bot keeps answering.
        let escalation = match escalation {
            Some(esc) => {
                let availability = self.availability(&esc.skill);
                replies.push(handoff_notice(
                    &self.inner.config.hours,
                    &esc.skill,
                    availability,
                    lang,
                ));
                if availability.queues() {
                    Some(esc)
                } else {
                    low_confidence_streak = 0;
                    tracing::info!(conversation = %c.id, skill = %esc.skill, "escalation outside business hours; offered to leave a message");
                    None
                }
            }
            None => None,
        };
        let mut seq = c.last_seq;
        let mut messages = Vec::new();
        let shopper_seq = shopper.as_ref().map(|_| c.last_seq + 1);
        if let Some((text, client_msg_id, turn)) = shopper {
            seq += 1;
            messages.push(Message {
                seq,
                author: Author::Shopper,
                text,
                client_msg_id: Some(client_msg_id),
                reply_to: None,
                created_at: now,
                meta: None,
                turn: Some(turn),
            });
        }
        for r in replies {
            seq += 1;
            messages.push(Message {
                seq,
                author: r.author,
                text: r.text,
                client_msg_id: None,
                reply_to: shopper_seq,
                created_at: now,
                meta: Some(r.meta),
                turn: None,
            });
        }
        let mut handoff_update = None;
        let (state, handoff) = match escalation {
            Some(esc) => {
                let mut transcript = self.inner.store.messages_after(&c.id, 0, u32::MAX).await?;
                transcript.extend(messages.iter().cloned());
                let context = build_context(c, &transcript, &esc, lang);
                let handoff = Handoff {
                    id: uuid::Uuid::now_v7().to_string(),
                    conversation_id: c.id.clone(),
                    reason: esc.reason,
                    priority: esc.priority,
                    skill: esc.skill.clone(),
                    status: HandoffStatus::Queued,
                    agent_id: None,
                    created_at: now,
                    trigger_seq: shopper_seq,
                    routing: Routing {
                        queued_at: now,
                        ..Default::default()
                    },
                    context: Some(context),
                };
                tracing::info!(
                    conversation = %c.id, handoff = %handoff.id, reason = esc.reason.as_str(),
                    priority = esc.priority.as_str(), skill = %esc.skill, "conversation queued for an agent"
                );
                (ConversationState::Queued, Some(handoff))
            }
            None if c.state == ConversationState::Resolved => (ConversationState::Bot, None),
            None => (c.state, None),
        };
        // A shopper waiting for an assigned agent starts the reply SLA clock.
        if c.state == ConversationState::Assigned
            && shopper_seq.is_some()
            && let Some(mut open) = self.inner.store.open_handoff(&c.id).await?
            && open.routing.awaiting_reply_since.is_none()
        {
            open.routing.awaiting_reply_since = Some(now);
            open.context = None;
            handoff_update = Some(open);
        }
        let write = TurnWrite {
            low_confidence_streak,
            recent_skill,
            handoff: handoff.clone().or(handoff_update),
            state,
            ..TurnWrite::new(c, messages, now)
        };
        self.inner.store.commit_turn(&write).await?;
        let TurnWrite { mut messages, .. } = write;
        let queued_now = handoff.is_some();
        let open = match handoff {
            Some(h) => Some(h),
            None if state.human_owned() => self.inner.store.open_handoff(&c.id).await?,
            None => None,
        };
        self.publish(&c.id, c.state, state, &messages, open.as_ref());
        if queued_now {
            self.inner.wiring.poke.notify_one();
        }
        let message = if shopper_seq.is_some() {
            Some(messages.remove(0))
        } else {
            None
        };
        Ok(TurnOutcome {
            conversation_id: c.id.clone(),
            state,
            message,
            replies: messages,
            handoff: open.as_ref().map(HandoffView::from),
            duplicate: false,
        })
    }

    /// Pushes committed messages and a state change to the conversation's sockets, and to
    /// the agent holding it.
    fn publish(
        &self,
        conversation_id: &str,
        before: ConversationState,
        after: ConversationState,
        messages: &[Message],
        handoff: Option<&Handoff>,
    ) {
        let hub = self.hub();
        let agent = handoff
            .filter(|h| h.status == HandoffStatus::Assigned)
            .and_then(|h| h.agent_id.as_deref());
        for m in messages {
            if let Some(a) = agent {
                // Agents see personal data masked, as in their context view, until they
                // explicitly reveal it.
                let mut masked = m.clone();
                if m.author == Author::Shopper {
                    masked.text = crate::pii::mask(&m.text);
                }
                hub.to_agent(
                    a,
                    Event::Message {
                        conversation_id: conversation_id.to_string(),
                        message: masked,
                    },
                );
            }
            hub.to_conversation(
                conversation_id,
                Event::Message {
                    conversation_id: conversation_id.to_string(),
                    message: m.clone(),
                },
            );
        }
        if before != after {
            let agent_name = agent.and_then(|a| self.inner.wiring.roster.agent(a).map(|a| a.name));
            hub.to_conversation(
                conversation_id,
                Event::State {
                    conversation_id: conversation_id.to_string(),
                    state: after,
                    agent_name,
                },
            );
        }
    }

    /// Runs an agent's action (or a routing decision) on a conversation: under the
    /// conversation's lock, `change` computes what to write from the current conversation
    /// and its open handoff; the result is committed atomically, then published. `change`
    /// may run more than once when another node wrote first. With `dedupe`, a message
    /// already stored under that `client_msg_id` is returned instead of writing again.
    pub async fn apply<F>(
        &self,
        id: &str,
        dedupe: Option<&str>,
        change: F,
    ) -> Result<Applied, ServiceError>
    where
        F: Fn(&Conversation, Option<&Handoff>, i64) -> Result<Change, ServiceError>,
    {
        self.with_conversation_lock(id, || async {
            for _ in 0..COMMIT_ATTEMPTS {
                if let Some(cmid) = dedupe
                    && let Some(stored) = self.inner.store.turn_by_client_msg_id(id, cmid).await?
                {
                    let c = self.load(id).await?;
                    let handoff = self.inner.store.open_handoff(id).await?;
                    return Ok(Applied {
                        conversation: c,
                        messages: stored,
                        handoff,
                        duplicate: true,
                    });
                }
                let c = self.load(id).await?;
                let open = self.inner.store.open_handoff(id).await?;
                let now = self.clock().now_ms();
                let ch = change(&c, open.as_ref(), now)?;
                let mut seq = c.last_seq;
                let messages: Vec<Message> = ch
                    .messages
                    .into_iter()
                    .map(|o| {
                        seq += 1;
                        Message {
                            seq,
                            author: o.author,
                            text: o.text,
                            client_msg_id: o.client_msg_id,
                            reply_to: None,
                            created_at: now,
                            meta: Some(o.meta),
                            turn: None,
                        }
                    })
                    .collect();
                let state = ch.state.unwrap_or(c.state);
                let write = TurnWrite {
                    state,
                    low_confidence_streak: if ch.reset_streak {
                        0
                    } else {
                        c.low_confidence_streak
                    },
                    handoff: ch.handoff.clone(),
                    notes: ch.notes,
                    ticket: ch.ticket,
                    max_open_tickets: Some(self.inner.config.handoff.max_open_tickets),
                    rating: ch.rating,
                    audit: ch.audit,
                    ..TurnWrite::new(&c, messages, now)
                };
                match self.inner.store.commit_turn(&write).await {
                    Err(StoreError::Conflict) => continue,
                    Err(StoreError::Duplicate) if dedupe.is_some() => continue,
                    other => other?,
                }
                let handoff = ch.handoff.or(open);
                self.publish(&c.id, c.state, state, &write.messages, handoff.as_ref());
                let mut conversation = c;
                conversation.state = state;
                conversation.last_seq = seq;
                conversation.updated_at = now;
                return Ok(Applied {
                    conversation,
                    messages: write.messages,
                    handoff,
                    duplicate: false,
                });
            }
            Err(ServiceError::Contended)
        })
        .await
    }

    /// The shopper's 1–5 rating of the conversation's last resolved handoff.
    pub async fn rate(
        &self,
        id: &str,
        score: u8,
        comment: Option<String>,
    ) -> Result<Applied, ServiceError> {
        if !(1..=5).contains(&score) {
            return Err(ServiceError::Invalid("score must be 1–5".into()));
        }
        let comment = comment
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        if comment.as_ref().is_some_and(|c| c.chars().count() > 1000) {
            return Err(ServiceError::Invalid(
                "comment must be at most 1000 characters".into(),
            ));
        }
        let latest = self.inner.store.latest_handoff(id).await?;
        let Some(resolved) = latest.filter(|h| h.status == HandoffStatus::Resolved) else {
            return Err(ServiceError::Conflict(
                "there is no resolved conversation with an agent to rate".into(),
            ));
        };
        let lang = self.conversation_lang(&self.load(id).await?).await?;
        let result = self
            .apply(id, None, |c, _, now| {
                Ok(Change {
                    messages: vec![Outgoing::notice(phrases::rated(lang), Notice::Rated)],
                    rating: Some(Rating {
                        handoff_id: resolved.id.clone(),
                        conversation_id: c.id.clone(),
                        agent_id: resolved.agent_id.clone(),
                        score,
                        comment: comment.clone(),
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
                })
            })
            .await;
        match result {
            Err(ServiceError::Store(StoreError::Duplicate)) => Err(ServiceError::Conflict(
                "this conversation is already rated".into(),
            )),
            other => other,
        }
    }

    /// A message for the team left while nobody can answer: becomes a ticket agents see.
    ///
    /// Accepted only where the shopper was offered the leave-a-message form (nobody online,
    /// or off hours) and no agent has joined since, and only up to
    /// `handoff.max_open_tickets` open tickets per conversation: tickets carry contact
    /// details to every agent of the group, so they must not become a side channel or a
    /// way to flood agents' lists.
    pub async fn leave_message(
        &self,
        id: &str,
        contact: &str,
        text: &str,
    ) -> Result<(Applied, Ticket), ServiceError> {
        let contact = contact.trim();
        let text = text.trim();
        if contact.is_empty() || contact.chars().count() > 200 {
            return Err(ServiceError::Invalid(
                "contact (a phone number or e-mail) must be 1–200 characters".into(),
            ));
        }
        if text.is_empty() || text.chars().count() > self.inner.config.http.max_message_chars {
            return Err(ServiceError::Invalid(format!(
                "text must be 1–{} characters",
                self.inner.config.http.max_message_chars
            )));
        }
        let c = self.load(id).await?;
        self.check_form_offered(&c).await?;
        let lang = self.conversation_lang(&c).await?;
        let skill = match self.inner.store.open_handoff(id).await? {
            Some(h) => h.skill,
            None => c
                .recent_skill
                .clone()
                .unwrap_or_else(|| self.inner.config.policy.default_skill.clone()),
        };
        let ticket = Ticket {
            id: uuid::Uuid::now_v7().to_string(),
            conversation_id: id.to_string(),
            skill,
            lang,
            contact: contact.to_string(),
            text: text.to_string(),
            status: "open".into(),
            created_at: 0,
            closed_at: None,
            closed_by: None,
        };
        let max = self.inner.config.handoff.max_open_tickets;
        let applied = self
            .apply(id, None, |c, open, now| {
                if open.is_some_and(|h| h.status == HandoffStatus::Assigned) {
                    return Err(agent_is_here());
                }
                Ok(Change {
                    messages: vec![Outgoing::notice(
                        phrases::ticket_received(lang),
                        Notice::TicketReceived,
                    )],
                    ticket: Some(Ticket {
                        created_at: now,
                        ..ticket.clone()
                    }),
                    audit: vec![AuditEntry::new(
                        now,
                        "shopper",
                        "leave_message",
                        Some(&c.id),
                        serde_json::json!({ "ticket_id": ticket.id, "skill": ticket.skill }),
                    )],
                    ..Default::default()
                })
            })
            .await
            .map_err(|e| match e {
                ServiceError::Store(StoreError::Limit(_)) => ServiceError::RateLimited(format!(
                    "this conversation already has {max} open messages for the team; they will get back to you"
                )),
                other => other,
            })?;
        let ticket = Ticket {
            created_at: applied.conversation.updated_at,
            ..ticket
        };
        tracing::info!(conversation = %id, ticket = %ticket.id, "message left for the team");
        Ok((applied, ticket))
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
        let recent = self
            .inner
            .store
            .messages_after(&c.id, c.last_seq.saturating_sub(10), 10)
            .await?;
        Ok(recent
            .iter()
            .rev()
            .find_map(|m| m.turn.as_ref().map(|t| t.lang))
            .unwrap_or(c.locale))
    }
}

fn agent_is_here() -> ServiceError {
    ServiceError::Conflict("an agent is with you now; write to them here".into())
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
