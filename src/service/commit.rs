//! The one way a conversation changes. A shopper turn, an agent's action, a dispatcher step,
//! a ticket, a rating: each is a [`Change`] computed from the conversation as it is now
//! ([`Current`]), and [`ConversationService::commit`] applies it:
//!
//! ```text
//! Change ─► number the messages after last_seq ─► a queued Handoff (with its context) when
//!           the change escalates ─► one TurnWrite, one transaction ─► publish to the sockets
//!           ─► wake the dispatcher when a conversation joined the queue
//! ```
//!
//! Policy (what to say, whether to queue, the streak) is decided before, in
//! [`crate::dialogue`] and [`crate::desk`]; nothing here chooses. [`ConversationService::apply`]
//! wraps a change computed by a closure in the conversation's lock and the retry that
//! another node's concurrent write calls for.

use super::{COMMIT_ATTEMPTS, ConversationService, ServiceError};
use crate::conversation::{Author, Conversation, ConversationState, Message, Outgoing, TurnRecord};
use crate::handoff::{AuditEntry, Escalation, Handoff, Note, Rating, Ticket};
use crate::nlu::Lang;
use crate::realtime::Event;
use crate::store::{StoreError, TurnWrite};

/// The conversation and its open handoff, read once at the start of a change.
#[derive(Debug, Clone)]
pub struct Current {
    pub conversation: Conversation,
    pub open: Option<Handoff>,
}

/// The shopper's message a change stores, with what the bot made of it.
#[derive(Debug, Clone)]
pub struct ShopperMessage {
    pub text: String,
    pub client_msg_id: String,
    pub turn: TurnRecord,
}

/// What a change writes. Everything defaults to "unchanged".
#[derive(Debug, Default)]
pub struct Change {
    /// The shopper's message; the other messages reply to it.
    pub shopper: Option<ShopperMessage>,
    pub messages: Vec<Outgoing>,
    pub state: Option<ConversationState>,
    /// The new count of consecutive turns the bot did not understand.
    pub low_confidence_streak: Option<u32>,
    /// The skill group of the topic the bot understood this turn.
    pub recent_skill: Option<String>,
    /// The conversation's dialogue memory after the change (`None`: unchanged).
    pub dialogue: Option<crate::dialogue_memory::DialogueMemory>,
    /// Queue the conversation for a person; the context is built from the transcript.
    pub escalation: Option<(Escalation, Lang)>,
    /// A handoff this change updates.
    pub handoff: Option<Handoff>,
    pub notes: Vec<Note>,
    pub ticket: Option<Ticket>,
    pub rating: Option<Rating>,
    pub audit: Vec<AuditEntry>,
}

/// What [`ConversationService::commit`] wrote.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The conversation after the change.
    pub conversation: Conversation,
    /// The messages written, numbered (the shopper's first, when there is one).
    pub messages: Vec<Message>,
    /// The conversation's open (or just changed) handoff after the change.
    pub handoff: Option<Handoff>,
    /// The change queued the conversation.
    pub queued: bool,
    /// A retry of an already stored message (nothing new was written).
    pub duplicate: bool,
}

impl ConversationService {
    /// Reads the conversation and its open handoff.
    pub async fn current(&self, id: &str) -> Result<Current, ServiceError> {
        let conversation = self.load(id).await?;
        let open = self.store().open_handoff(id).await?;
        Ok(Current { conversation, open })
    }

    /// Applies a change: numbers its messages, writes them with everything they carry in one
    /// transaction, then publishes. `StoreError::Conflict` means another writer moved the
    /// conversation first: re-read and compute the change again.
    pub async fn commit(&self, current: &Current, change: Change) -> Result<Applied, StoreError> {
        let c = &current.conversation;
        let now = self.clock().now_ms();
        let mut seq = c.last_seq;
        let mut messages = Vec::with_capacity(change.messages.len() + 1);
        let shopper_seq = change.shopper.as_ref().map(|_| c.last_seq + 1);
        if let Some(shopper) = change.shopper {
            seq += 1;
            messages.push(Message {
                seq,
                author: Author::Shopper,
                text: shopper.text,
                client_msg_id: Some(shopper.client_msg_id),
                reply_to: None,
                created_at: now,
                meta: None,
                turn: Some(shopper.turn),
            });
        }
        for m in change.messages {
            seq += 1;
            messages.push(Message {
                seq,
                author: m.author,
                text: m.text,
                client_msg_id: m.client_msg_id,
                reply_to: shopper_seq,
                created_at: now,
                meta: Some(m.meta),
                turn: None,
            });
        }
        let queued = match change.escalation {
            Some((escalation, lang)) => {
                let mut transcript = self.store().messages_after(&c.id, 0, u32::MAX).await?;
                transcript.extend(messages.iter().cloned());
                let mut handoff =
                    Handoff::queue(c, &transcript, &escalation, lang, shopper_seq, now);
                handoff.routing.returning_to = self.returning_to(c, now).await?;
                tracing::info!(
                    conversation = %c.id, handoff = %handoff.id, reason = escalation.reason.as_str(),
                    priority = escalation.priority.as_str(), skill = %escalation.skill,
                    "conversation queued for an agent"
                );
                Some(handoff)
            }
            None => None,
        };
        let state = change.state.unwrap_or(if queued.is_some() {
            ConversationState::Queued
        } else {
            c.state
        });
        let written = queued.clone().or(change.handoff);
        let write = TurnWrite {
            state,
            low_confidence_streak: change
                .low_confidence_streak
                .unwrap_or(c.low_confidence_streak),
            recent_skill: change.recent_skill,
            dialogue: change
                .dialogue
                .as_ref()
                .map(|d| d.to_json().unwrap_or_else(|| "{}".into())),
            handoff: written.clone(),
            notes: change.notes,
            ticket: change.ticket,
            max_open_tickets: Some(self.config().handoff.max_open_tickets),
            rating: change.rating,
            audit: change.audit,
            ..TurnWrite::new(c, messages, now)
        };
        self.store().commit_turn(&write).await?;
        let handoff = written.or_else(|| current.open.clone());
        self.publish(&c.id, c.state, state, &write.messages, handoff.as_ref());
        if let Some(ticket) = &write.ticket {
            self.announce_ticket(ticket);
        }
        if queued.is_some() {
            self.wiring().poke.notify_one();
        }
        let conversation = Conversation {
            state,
            last_seq: seq,
            updated_at: now,
            low_confidence_streak: write.low_confidence_streak,
            recent_skill: write.recent_skill.or_else(|| c.recent_skill.clone()),
            dialogue: change.dialogue.unwrap_or_else(|| c.dialogue.clone()),
            ..c.clone()
        };
        Ok(Applied {
            conversation,
            messages: write.messages,
            handoff,
            queued: queued.is_some(),
            duplicate: false,
        })
    }

    /// Runs an agent's action (or a routing decision) on a conversation: under the
    /// conversation's lock, `change` computes what to write from the current conversation
    /// and its open handoff; the result is committed. `change` may run more than once when
    /// another node wrote first. With `dedupe`, a message already stored under that
    /// `client_msg_id` is returned instead of writing again.
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
                    && let Some(stored) = self.store().turn_by_client_msg_id(id, cmid).await?
                {
                    let current = self.current(id).await?;
                    return Ok(Applied {
                        conversation: current.conversation,
                        messages: stored,
                        handoff: current.open,
                        queued: false,
                        duplicate: true,
                    });
                }
                let current = self.current(id).await?;
                let now = self.clock().now_ms();
                let ch = change(&current.conversation, current.open.as_ref(), now)?;
                match self.commit(&current, ch).await {
                    Err(StoreError::Conflict) => continue,
                    Err(StoreError::Duplicate) if dedupe.is_some() => continue,
                    other => return Ok(other?),
                }
            }
            Err(ServiceError::Contended)
        })
        .await
    }

    /// A shopper's request, under the conversation's lock: reads the conversation and its
    /// open handoff once, checks the token against that read, lets the caller `admit` the
    /// request (its rate limit; a refusal comes back as the inner `Err` and nothing is
    /// stored), then runs `act` on what was read. `act` failing with a store conflict means
    /// another writer moved first: the conversation is read again and `act` runs again;
    /// the request is admitted once.
    pub async fn as_shopper<T, R, F, Fut>(
        &self,
        id: &str,
        token: Option<&str>,
        admit: impl FnOnce(&Conversation) -> Result<(), R>,
        act: F,
    ) -> Result<Result<T, R>, ServiceError>
    where
        F: Fn(Current) -> Fut,
        Fut: std::future::Future<Output = Result<T, ServiceError>>,
    {
        self.as_shopper_reading(id, token, None, admit, |current, _| act(current))
            .await
    }

    /// [`Self::as_shopper`] for a message: the same reads also find the turn already stored
    /// under `client_msg_id`, which `act` gets with the conversation (`None`: a new message).
    pub(super) async fn as_shopper_reading<T, R, F, Fut>(
        &self,
        id: &str,
        token: Option<&str>,
        client_msg_id: Option<&str>,
        admit: impl FnOnce(&Conversation) -> Result<(), R>,
        act: F,
    ) -> Result<Result<T, R>, ServiceError>
    where
        F: Fn(Current, Option<Vec<Message>>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ServiceError>>,
    {
        super::check_id(id)?;
        self.with_conversation_lock(id, || async move {
            let mut admit = Some(admit);
            for _ in 0..COMMIT_ATTEMPTS {
                let read = self.store().shopper_read(id, client_msg_id).await?;
                let conversation = super::open_to_people(read.conversation)?;
                super::check_token(&conversation, token)?;
                if self.refuses(&conversation.customer) {
                    return Err(ServiceError::Blocked);
                }
                if let Some(admit) = admit.take()
                    && let Err(refused) = admit(&conversation)
                {
                    return Ok(Err(refused));
                }
                let current = Current {
                    conversation,
                    open: read.open,
                };
                match act(current, read.stored).await {
                    Err(ServiceError::Store(StoreError::Conflict)) => continue,
                    other => return other.map(Ok),
                }
            }
            Err(ServiceError::Contended)
        })
        .await
    }

    /// Tells the agents of the ticket's group, live, about a request left for them.
    fn announce_ticket(&self, ticket: &Ticket) {
        let shown = ticket.clone().for_agents();
        self.to_group(&ticket.skill, || Event::Ticket {
            ticket: shown.clone(),
        });
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
            .filter(|h| h.status == crate::handoff::HandoffStatus::Assigned)
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
                        message: Box::new(masked),
                    },
                );
            }
            hub.to_conversation(
                conversation_id,
                Event::Message {
                    conversation_id: conversation_id.to_string(),
                    message: Box::new(m.clone()),
                },
            );
        }
        if before != after {
            let agent_name = agent.and_then(|a| self.wiring().roster.agent(a).map(|a| a.name));
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
}
