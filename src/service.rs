//! The conversation service: what the HTTP layer (and any other front end) calls. It owns the
//! order of operations that makes Baton safe to retry and to crash:
//!
//! 1. authorise the conversation token (constant-time);
//! 2. serialise turns of one conversation (a per-conversation async lock on this node, the
//!    store's `last_seq` check across nodes);
//! 3. answer a repeated `client_msg_id` from the store, never by running the turn again;
//! 4. run the bot off the async runtime (`spawn_blocking`), against one knowledge snapshot;
//! 5. commit the shopper message, the replies, the new state and any handoff in one
//!    transaction — and only then return.

use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine as _;
use dashmap::DashMap;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

use crate::config::Config;
use crate::conversation::{
    Author, Conversation, ConversationState, Customer, DecisionKind, Message, ReplyMeta,
    TurnRecord, now_ms,
};
use crate::dialogue::{self, Facts, PlannedReply, phrases};
use crate::encoder::EncoderError;
use crate::handoff::{
    Escalation, EscalationReason, Handoff, HandoffStatus, Priority, build_context,
};
use crate::knowledge::Knowledge;
use crate::nlu::{Lang, normalize};
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
}

/// Attempts at a turn before a concurrent writer wins (other nodes sharing the database).
const COMMIT_ATTEMPTS: usize = 5;

impl ConversationService {
    pub fn new(store: Arc<dyn Store>, knowledge: Arc<Knowledge>, config: Arc<Config>) -> Self {
        ConversationService {
            inner: Arc::new(Inner {
                store,
                knowledge: ArcSwap::new(knowledge),
                config,
                locks: DashMap::new(),
            }),
        }
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
        let now = now_ms();
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
                let notice = dialogue::turn::queued_notice(
                    &self.inner.config.hours,
                    &escalation.skill,
                    lang,
                    jiff::Timestamp::now(),
                );
                match self
                    .commit(&c, None, vec![notice], Some(escalation), 0, None, lang)
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

    async fn load(&self, id: &str) -> Result<Conversation, ServiceError> {
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
        if c.state.human_owned() {
            // A person holds the conversation: store the message, let the agent answer. A
            // repeated request for a person gets a reassurance instead of silence.
            let normalized = normalize(text);
            let lang = Lang::detect(&normalized, c.locale);
            let asked = dialogue::signals::asks_for_human(
                &normalized,
                &self.inner.config.policy.human_phrases,
            );
            let turn = TurnRecord {
                lang,
                intent: None,
                faq_candidates: vec![],
                asked_for_human: asked,
                negative: false,
                decision: DecisionKind::Silent,
                reason: None,
                answered_faq: None,
                suggestions: vec![],
            };
            let replies = if asked && c.state == ConversationState::Queued {
                vec![PlannedReply {
                    author: Author::System,
                    text: phrases::already_queued(lang).to_string(),
                    meta: ReplyMeta {
                        kind: DecisionKind::Silent,
                        faq_id: None,
                        intent: None,
                        suggestions: vec![],
                    },
                }]
            } else {
                vec![]
            };
            let shopper = (text.to_string(), client_msg_id.to_string(), turn);
            let streak = c.low_confidence_streak;
            return self
                .commit(&c, Some(shopper), replies, None, streak, None, lang)
                .await;
        }

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
        let facts = Facts::of(&c);
        let text_owned = text.to_string();
        let locale = c.locale;
        // Classification and retrieval are CPU work: keep them off the async workers.
        let plan = tokio::task::spawn_blocking(move || {
            let analysis = dialogue::analyze(
                &knowledge,
                &config.policy,
                config.nlu.faq_candidates,
                &text_owned,
                vector.as_deref(),
                locale,
            );
            dialogue::plan(
                &knowledge,
                &config.policy,
                &config.hours,
                jiff::Timestamp::now(),
                analysis,
                &facts,
            )
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("turn task failed: {e}")))?;

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

    /// Assigns seqs, builds the handoff context when escalating, and commits atomically.
    #[allow(clippy::too_many_arguments)]
    async fn commit(
        &self,
        c: &Conversation,
        shopper: Option<(String, String, TurnRecord)>,
        replies: Vec<PlannedReply>,
        escalation: Option<Escalation>,
        low_confidence_streak: u32,
        recent_skill: Option<String>,
        lang: Lang,
    ) -> Result<TurnOutcome, ServiceError> {
        let now = now_ms();
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
                    created_at: now,
                    trigger_seq: shopper_seq,
                    context,
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
        let write = TurnWrite {
            conversation_id: c.id.clone(),
            expected_last_seq: c.last_seq,
            messages,
            state,
            low_confidence_streak,
            recent_skill,
            handoff,
            now,
        };
        self.inner.store.commit_turn(&write).await?;
        let TurnWrite {
            mut messages,
            handoff,
            ..
        } = write;
        let message = if shopper_seq.is_some() {
            Some(messages.remove(0))
        } else {
            None
        };
        let handoff = match handoff {
            Some(h) => Some(HandoffView::from(&h)),
            None if state.human_owned() => self
                .inner
                .store
                .open_handoff(&c.id)
                .await?
                .as_ref()
                .map(HandoffView::from),
            None => None,
        };
        Ok(TurnOutcome {
            conversation_id: c.id.clone(),
            state,
            message,
            replies: messages,
            handoff,
            duplicate: false,
        })
    }

    async fn conversation_lang(&self, c: &Conversation) -> Result<Lang, ServiceError> {
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

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
