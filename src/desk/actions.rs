//! What agents do to conversations: take them, answer, note, transfer, resolve, return them
//! to the bot, open masked data, work tickets. Each action checks that the agent may do it,
//! changes the conversation and its handoff in one commit
//! ([`ConversationService::apply`](crate::service::ConversationService::apply)), writes an
//! audit entry with it, and tells the sockets.

use std::sync::Arc;

use serde::Serialize;

use super::Desk;
use crate::content::words::{Author as WordAuthor, Screening};
use crate::conversation::Outgoing;
use crate::conversation::{Author, ConversationState, DecisionKind, Notice, ReplyMeta};
use crate::dialogue::phrases;
use crate::handoff::agent::{Agent, AgentStatus};
use crate::handoff::{AuditEntry, Handoff, HandoffStatus, Note, Priority, Ticket, WrapUp};
use crate::service::Writer;
use crate::store::HandoffCard;

/// Longest wrap-up summary an agent may file.
const MAX_SUMMARY_CHARS: usize = 2000;
use crate::handoff::{EscalationReason, view::NoteLine};
use crate::nlu::Lang;
use crate::pii::{self, Entity};
use crate::realtime::Event;
use crate::service::check_id;
use crate::service::{Applied, Change, ServiceError};
use crate::vocabulary::{ClientMsgId, MessageText};

/// A conversation in an agent's lists.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub conversation_id: String,
    pub handoff_id: String,
    pub status: HandoffStatus,
    pub reason: EscalationReason,
    pub priority: Priority,
    pub skill: String,
    pub summary: String,
    pub waiting_ms: i64,
    /// Place in the queue (queued only).
    pub position: Option<u32>,
    pub sla_wait_breached: bool,
    pub sla_reply_breached: bool,
    /// Offered to this agent, until then.
    pub offer_expires_at: Option<i64>,
    pub customer_name: Option<String>,
    pub vip: bool,
    /// The shop's server signed the customer's identity; false for a guest.
    pub verified: bool,
}

/// `GET /v1/agent/queue`: what the agent holds, what is offered to them, what waits in their
/// groups.
#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    pub agent_id: String,
    pub status: AgentStatus,
    pub max_chats: u32,
    pub assigned: Vec<QueueItem>,
    pub offered: Vec<QueueItem>,
    pub queued: Vec<QueueItem>,
    pub open_tickets: usize,
}

/// A page of open tickets, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct TicketPage {
    pub tickets: Vec<Ticket>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next: Option<String>,
}

/// Largest page of tickets one request returns.
pub const MAX_TICKET_PAGE: u32 = 200;

/// `created_at_id` of the last ticket of a page.
fn parse_ticket_cursor(cursor: &str) -> Result<(i64, String), ServiceError> {
    cursor
        .split_once('_')
        .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())))
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| {
            ServiceError::Invalid("before must be the next cursor of a previous page".into())
        })
}

/// Where a transfer goes.
#[derive(Debug, Clone)]
pub enum TransferTarget {
    Skill(String),
    /// An agent, by name.
    Agent(String),
}

/// Unmasked personal data of a conversation.
#[derive(Debug, Clone, Serialize)]
pub struct Revealed {
    pub conversation_id: String,
    pub entities: Vec<RevealedEntity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RevealedEntity {
    #[serde(flatten)]
    pub entity: Entity,
    pub value: String,
    pub seq: i64,
}

pub(super) fn actor(agent: &Agent) -> String {
    format!("agent:{}", agent.id)
}

fn not_yours() -> ServiceError {
    ServiceError::Forbidden("this conversation is not assigned to you".into())
}

/// The open handoff, if it is assigned to `agent`.
pub(super) fn assigned_to<'a>(
    agent: &Agent,
    open: Option<&'a Handoff>,
) -> Result<&'a Handoff, ServiceError> {
    match open {
        Some(h)
            if h.status == HandoffStatus::Assigned && h.agent_id.as_deref() == Some(&agent.id) =>
        {
            Ok(h)
        }
        _ => Err(not_yours()),
    }
}

/// The notice that tells the shopper who has joined.
pub(super) fn joined(lang: Lang, name: &str) -> Outgoing {
    let mut meta = ReplyMeta::notice(Notice::Assigned);
    meta.agent_name = Some(name.to_string());
    Outgoing {
        author: Author::System,
        text: phrases::agent_joined(lang, name),
        meta,
        client_msg_id: None,
    }
}

/// An agent's message or note, by the same rule as a shopper's message.
fn check_text(text: &str, max: usize) -> Result<String, ServiceError> {
    MessageText::parse(text, max)
        .map(MessageText::into_string)
        .map_err(ServiceError::Invalid)
}

impl Desk {
    pub(super) async fn lang_of(&self, conversation_id: &str) -> Result<Lang, ServiceError> {
        let c = self.service().load(conversation_id).await?;
        self.service().conversation_lang(&c).await
    }

    fn item(&self, h: &Handoff, card: Option<HandoffCard>, now: i64) -> QueueItem {
        let (summary, customer) =
            card.map_or((String::new(), None), |c| (c.summary, Some(c.customer)));
        let customer = customer.as_ref();
        QueueItem {
            conversation_id: h.conversation_id.clone(),
            handoff_id: h.id.clone(),
            status: h.status,
            reason: h.reason,
            priority: h.priority,
            skill: h.skill.clone(),
            summary,
            waiting_ms: h.waiting_ms(now),
            position: self.place(&h.conversation_id).map(|p| p.position),
            sla_wait_breached: h.routing.sla_wait_breached,
            sla_reply_breached: h.routing.sla_reply_breached,
            offer_expires_at: h.routing.offer_expires_at,
            customer_name: customer.and_then(|c| c.name.clone()),
            vip: customer.is_some_and(|c| c.is_vip()),
            verified: customer.is_some_and(|c| c.verified),
        }
    }

    /// The handoffs of a listing (read without their contexts) as list items, with the
    /// summary and customer of each context read for all of them at once.
    pub(super) async fn listed(
        &self,
        handoffs: &[&Handoff],
        now: i64,
    ) -> Result<Vec<QueueItem>, ServiceError> {
        let ids: Vec<String> = handoffs.iter().map(|h| h.conversation_id.clone()).collect();
        let mut cards = self.store().handoff_cards(&ids).await?;
        Ok(handoffs
            .iter()
            .map(|h| self.item(h, cards.remove(&h.conversation_id), now))
            .collect())
    }

    /// The agent's lists.
    pub async fn queue(&self, agent: &Agent) -> Result<QueueView, ServiceError> {
        let now = self.now();
        let open = self.store().open_handoffs().await?;
        let mut view = QueueView {
            agent_id: agent.id.clone(),
            status: self.wiring().roster.effective(agent, now),
            max_chats: agent.max_chats,
            assigned: vec![],
            offered: vec![],
            queued: vec![],
            open_tickets: self.store().count_open_tickets(&agent.skills).await? as usize,
        };
        let ordered = crate::handoff::routing::queue_order(&open);
        let assigned = open.iter().map(|h| &**h).filter(|h| {
            h.status == HandoffStatus::Assigned && h.agent_id.as_deref() == Some(&agent.id)
        });
        let reader = self.reader(agent);
        let listed: Vec<&Handoff> = assigned
            .chain(ordered.into_iter().filter(|h| reader.may_read(h)))
            .take(200)
            .collect();
        for (h, mut item) in listed.iter().zip(self.listed(&listed, now).await?) {
            if h.status == HandoffStatus::Assigned {
                item.position = None;
                view.assigned.push(item);
            } else if h.routing.offered_to.as_deref() == Some(&agent.id) {
                view.offered.push(item);
            } else {
                item.offer_expires_at = None;
                view.queued.push(item);
            }
        }
        Ok(view)
    }

    /// Takes a conversation: one offered to the agent, or one waiting in their groups that
    /// is not offered to someone else. Capacity is respected.
    pub async fn accept(
        &self,
        agent: &Agent,
        conversation_id: &str,
    ) -> Result<Applied, ServiceError> {
        let _routing = self.inner.route_lock.lock().await;
        // Before reading: an agent who is not online sees nothing waiting, so the useful
        // answer is what to do about it.
        let now = self.now();
        if self.wiring().roster.effective(agent, now) != AgentStatus::Online {
            return Err(ServiceError::Conflict(
                "set your status to online first".into(),
            ));
        }
        let handoff = self.readable_handoff(agent, conversation_id).await?;
        if handoff.status != HandoffStatus::Queued {
            return if handoff.agent_id.as_deref() == Some(&agent.id)
                && handoff.status == HandoffStatus::Assigned
            {
                Err(ServiceError::Conflict(
                    "you already hold this conversation".into(),
                ))
            } else {
                Err(ServiceError::Conflict(
                    "this conversation is not waiting for an agent".into(),
                ))
            };
        }
        let open = self.store().open_handoffs().await?;
        let offered_to_me = handoff.routing.offered_to.as_deref() == Some(&agent.id);
        let load = Self::load_of(&open, &agent.id) - u32::from(offered_to_me);
        if load >= agent.max_chats {
            return Err(ServiceError::Conflict(format!(
                "you already hold {load} conversations (your limit is {})",
                agent.max_chats
            )));
        }
        if handoff
            .routing
            .offered_to
            .as_deref()
            .is_some_and(|o| o != agent.id)
        {
            return Err(ServiceError::Conflict(
                "this conversation is being offered to another agent".into(),
            ));
        }
        let lang = self.lang_of(conversation_id).await?;
        let name = agent.name.clone();
        let applied = self
            .service()
            .apply(conversation_id, None, |c, open, now| {
                let h = match open {
                    Some(h) if h.id == handoff.id && h.is_queued() => h.assigned_to(&agent.id, now),
                    _ => {
                        return Err(ServiceError::Conflict(
                            "this conversation is not waiting for an agent".into(),
                        ));
                    }
                };
                Ok(Change {
                    messages: vec![joined(lang, &name)],
                    state: Some(ConversationState::Assigned),
                    audit: vec![AuditEntry::new(
                        now,
                        actor(agent),
                        "accept",
                        Some(&c.id),
                        serde_json::json!({ "handoff_id": h.id, "waited_ms": now - h.routing.queued_at }),
                    )],
                    handoff: Some(h),
                    ..Default::default()
                })
            })
            .await?;
        tracing::info!(conversation = %conversation_id, agent = %agent.name, "conversation assigned");
        let view = self.build_view(conversation_id, None).await?;
        // What the bot would have answered the last message, as one-click drafts: in an
        // assist group the bot never sends, so this is where its answer goes.
        let drafts = view
            .transcript
            .iter()
            .rev()
            .find(|l| l.author == Author::Shopper)
            .map(|l| {
                let hits = l.faq_candidates.iter().map(|(id, c)| (id.as_str(), *c));
                let knowledge = self.service().knowledge();
                let policy = &self.config().policy;
                (
                    l.seq,
                    crate::dialogue::turn::drafts(&knowledge, policy, view.lang, hits),
                )
            });
        self.wiring().hub.to_agent(
            &agent.id,
            Event::Assigned {
                conversation_id: conversation_id.to_string(),
                view: Box::new(view),
            },
        );
        if let Some((seq, suggestions)) = drafts.filter(|(_, s)| !s.is_empty()) {
            self.wiring().hub.to_agent(
                &agent.id,
                Event::Assist {
                    conversation_id: conversation_id.to_string(),
                    seq,
                    suggestions,
                },
            );
        }
        self.inner.places.remove(conversation_id);
        drop(_routing);
        self.wiring().poke.notify_one();
        Ok(applied)
    }

    /// Passes on an offer; it goes to the next agent.
    pub async fn decline(&self, agent: &Agent, conversation_id: &str) -> Result<(), ServiceError> {
        let _routing = self.inner.route_lock.lock().await;
        let mut h = self.readable_handoff(agent, conversation_id).await?;
        if !h.is_queued() || h.routing.offered_to.as_deref() != Some(&agent.id) {
            return Err(ServiceError::Conflict(
                "this conversation is not offered to you".into(),
            ));
        }
        let now = self.now();
        self.lapse_offer(&mut h, now, "declined", Some(agent))
            .await?;
        drop(_routing);
        self.wiring().poke.notify_one();
        Ok(())
    }

    /// Saves a change to a queued handoff's routing; `false` (nothing written) when it is no
    /// longer queued — an agent took it meanwhile, which makes the change moot.
    pub(super) async fn save_queued(
        &self,
        h: &Handoff,
        audit: AuditEntry,
    ) -> Result<bool, ServiceError> {
        match self
            .store()
            .save_handoff(h, HandoffStatus::Queued, self.now(), &[audit])
            .await
        {
            Ok(()) => Ok(true),
            Err(crate::store::StoreError::Conflict) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Clears an offer: the agent goes to the back of the line for this conversation.
    pub(super) async fn lapse_offer(
        &self,
        h: &mut Handoff,
        now: i64,
        why: &str,
        by: Option<&Agent>,
    ) -> Result<(), ServiceError> {
        let Some((passed, agent_id)) = h.offer_passed() else {
            return Ok(());
        };
        *h = passed;
        let audit = AuditEntry::new(
            now,
            by.map_or_else(|| "system".to_string(), actor),
            if why == "declined" {
                "decline"
            } else {
                "offer_expired"
            },
            Some(&h.conversation_id),
            serde_json::json!({ "handoff_id": h.id, "agent_id": agent_id, "why": why }),
        );
        if !self.save_queued(h, audit).await? {
            return Ok(());
        }
        self.wiring().hub.to_agent(
            &agent_id,
            Event::OfferWithdrawn {
                conversation_id: h.conversation_id.clone(),
                handoff_id: h.id.clone(),
                reason: why.to_string(),
            },
        );
        Ok(())
    }

    /// A message from the agent to the shopper. `client_msg_id` makes retries idempotent.
    pub async fn reply(
        &self,
        agent: &Agent,
        conversation_id: &str,
        text: &str,
        client_msg_id: Option<&str>,
    ) -> Result<Applied, ServiceError> {
        let text = check_text(text, self.config().http.max_message_chars)?;
        let client_msg_id = client_msg_id
            .map(ClientMsgId::parse)
            .transpose()
            .map_err(ServiceError::Invalid)?;
        check_id(conversation_id)?;
        // Agents' ids never collide with the shopper's in the per-conversation unique index.
        let dedupe = client_msg_id.map(|c| format!("agent:{}:{}", agent.id, c.as_str()));
        let screened = self
            .screen_reply(agent, conversation_id, dedupe.as_deref(), &text)
            .await?;
        let text = screened
            .as_ref()
            .map_or(text, |(screening, _)| screening.text.clone());
        let name = agent.name.clone();
        let applied = self
            .service()
            .apply(conversation_id, dedupe.as_deref(), |c, open, now| {
                let h = assigned_to(agent, open)?.answered(now);
                let mut meta = ReplyMeta::new(DecisionKind::Agent);
                meta.agent_name = Some(name.clone());
                Ok(Change {
                    messages: vec![Outgoing {
                        author: Author::Agent,
                        text: text.clone(),
                        meta,
                        client_msg_id: dedupe.clone(),
                    }],
                    audit: vec![AuditEntry::new(
                        now,
                        actor(agent),
                        "reply",
                        Some(&c.id),
                        serde_json::json!({ "handoff_id": h.id }),
                    )],
                    handoff: Some(h),
                    ..Default::default()
                })
            })
            .await?;
        if let (Some((screening, skill)), Some(m)) = (&screened, applied.messages.first())
            && !applied.duplicate
        {
            self.service()
                .word_alerts(conversation_id, skill, m.seq, screening);
        }
        Ok(applied)
    }

    /// The word lists on an agent's reply: `None` when no list matches (nothing read, nothing
    /// logged); else, once the agent is known to hold the conversation, the hits logged, the
    /// screening (masked text) and the conversation's group — or the refusal of a blocked
    /// reply, naming the list and word.
    async fn screen_reply(
        &self,
        agent: &Agent,
        conversation_id: &str,
        dedupe: Option<&str>,
        text: &str,
    ) -> Result<Option<(Screening, String)>, ServiceError> {
        let service = self.service();
        if service
            .knowledge()
            .content
            .words
            .screen(text, WordAuthor::Agent)
            .hits
            .is_empty()
        {
            return Ok(None);
        }
        let current = service.current(conversation_id).await?;
        let skill = assigned_to(agent, current.open.as_ref())?.skill.clone();
        let fresh = uuid::Uuid::now_v7().to_string();
        let writer = Writer {
            author: WordAuthor::Agent,
            agent_id: Some(&agent.id),
            key: dedupe.unwrap_or(&fresh),
        };
        let screening = service
            .screen(&current.conversation, &skill, &writer, text)
            .await?;
        Ok(Some((screening, skill)))
    }

    /// An internal note by the agent holding the conversation: agents only, never sent to
    /// the shopper. Checked in the commit, so a note never lands after a transfer or
    /// resolution took the conversation away.
    pub async fn note(
        &self,
        agent: &Agent,
        conversation_id: &str,
        text: &str,
    ) -> Result<NoteLine, ServiceError> {
        let line = self
            .write_note(agent, conversation_id, text, false, |open| {
                assigned_to(agent, open).map(|_| ())
            })
            .await?;
        self.wiring().hub.to_agent(
            &agent.id,
            Event::Note {
                conversation_id: conversation_id.to_string(),
                note: line.clone(),
            },
        );
        Ok(line)
    }

    /// Stores a note by `author` (a whisper when `whisper`) with its audit entry, in one
    /// commit that `allowed` first checks against the conversation's open handoff.
    pub(super) async fn write_note(
        &self,
        author: &Agent,
        conversation_id: &str,
        text: &str,
        whisper: bool,
        allowed: impl Fn(Option<&Handoff>) -> Result<(), ServiceError>,
    ) -> Result<NoteLine, ServiceError> {
        let text = check_text(text, self.config().http.max_message_chars)?;
        if uuid::Uuid::parse_str(conversation_id).is_err() {
            return Err(ServiceError::NotFound);
        }
        let id = uuid::Uuid::now_v7().to_string();
        let applied = self
            .service()
            .apply(conversation_id, None, |c, open, now| {
                allowed(open)?;
                Ok(Change {
                    notes: vec![Note {
                        id: id.clone(),
                        conversation_id: c.id.clone(),
                        agent_id: author.id.clone(),
                        text: text.clone(),
                        created_at: now,
                        whisper,
                    }],
                    audit: vec![AuditEntry::new(
                        now,
                        actor(author),
                        if whisper { "whisper" } else { "note" },
                        Some(&c.id),
                        serde_json::json!({ "note_id": id }),
                    )],
                    ..Default::default()
                })
            })
            .await?;
        Ok(NoteLine {
            id,
            agent_id: author.id.clone(),
            agent_name: author.name.clone(),
            text,
            at: applied.conversation.updated_at,
            whisper,
        })
    }

    /// Hands the conversation to another group or a named agent, with an optional note.
    pub async fn transfer(
        &self,
        agent: &Agent,
        conversation_id: &str,
        target: TransferTarget,
        note: Option<&str>,
    ) -> Result<Applied, ServiceError> {
        let note = note
            .map(|n| check_text(n, self.config().http.max_message_chars))
            .transpose()?;
        let (skill, named) = match &target {
            TransferTarget::Skill(s) => {
                if !crate::handoff::agent::is_skill_name(s) {
                    return Err(ServiceError::Invalid(format!(
                        "{s:?} is not a skill group name"
                    )));
                }
                self.check_group(s)?;
                (Some(s.clone()), None)
            }
            TransferTarget::Agent(name) => {
                let to = self
                    .store()
                    .agent_by_name(name)
                    .await?
                    .filter(|a| !a.disabled)
                    .ok_or_else(|| {
                        ServiceError::Invalid(format!("no active agent named {name:?}"))
                    })?;
                if to.id == agent.id {
                    return Err(ServiceError::Invalid(
                        "you cannot transfer to yourself".into(),
                    ));
                }
                (None, Some(to))
            }
        };
        let _routing = self.inner.route_lock.lock().await;
        let lang = self.lang_of(conversation_id).await?;
        let note_id = uuid::Uuid::now_v7().to_string();
        let applied = self
            .service()
            .apply(conversation_id, None, |c, open, now| {
                let h = assigned_to(agent, open)?.transferred(
                    skill.as_deref(),
                    named.as_ref().map(|a| a.id.clone()),
                    now,
                );
                let notes = note
                    .iter()
                    .map(|n| Note {
                        id: note_id.clone(),
                        conversation_id: c.id.clone(),
                        agent_id: agent.id.clone(),
                        text: n.clone(),
                        created_at: now,
                        whisper: false,
                    })
                    .collect();
                Ok(Change {
                    messages: vec![Outgoing::notice(
                        phrases::transferred(lang),
                        Notice::Transferred,
                    )],
                    state: Some(ConversationState::Queued),
                    notes,
                    audit: vec![AuditEntry::new(
                        now,
                        actor(agent),
                        "transfer",
                        Some(&c.id),
                        serde_json::json!({
                            "handoff_id": h.id,
                            "skill": h.skill,
                            "agent": named.as_ref().map(|a| a.name.clone()),
                            "note": note.is_some(),
                        }),
                    )],
                    handoff: Some(h),
                    ..Default::default()
                })
            })
            .await?;
        self.wiring().hub.to_agent(
            &agent.id,
            Event::Unassigned {
                conversation_id: conversation_id.to_string(),
                reason: "transferred".into(),
            },
        );
        drop(_routing);
        self.wiring().poke.notify_one();
        Ok(applied)
    }

    /// Finishes the conversation and asks the shopper for a rating. Their next message goes
    /// to the bot.
    /// Resolves the conversation, filed under a wrap-up category (`intents/rules/wrap-up.yaml`)
    /// with an optional summary: a category not in the list is refused, as is none when the
    /// list says one is required.
    pub async fn resolve(
        &self,
        agent: &Agent,
        conversation_id: &str,
        category: Option<&str>,
        summary: Option<&str>,
    ) -> Result<Applied, ServiceError> {
        let wrap_up = self.wrap_up(category, summary)?;
        self.close(agent, conversation_id, HandoffStatus::Resolved, wrap_up)
            .await
    }

    fn wrap_up(
        &self,
        category: Option<&str>,
        summary: Option<&str>,
    ) -> Result<Option<WrapUp>, ServiceError> {
        let knowledge = self.service().knowledge();
        let list = &knowledge.content.wrap_up;
        let summary = summary.map(str::trim).filter(|s| !s.is_empty());
        if summary.is_some_and(|s| s.chars().count() > MAX_SUMMARY_CHARS) {
            return Err(ServiceError::Invalid(format!(
                "the summary may be at most {MAX_SUMMARY_CHARS} characters"
            )));
        }
        match category.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) if list.knows(c) => Ok(Some(WrapUp {
                category: c.to_string(),
                summary: summary.map(str::to_string),
            })),
            Some(c) => Err(ServiceError::Invalid(format!(
                "no wrap-up category {c:?}; categories: {}",
                list.ids().join(", ")
            ))),
            None if list.required => Err(ServiceError::Invalid(format!(
                "resolving needs a wrap-up category: {}",
                list.ids().join(", ")
            ))),
            None if summary.is_some() => Err(ServiceError::Invalid(
                "a summary needs a wrap-up category".into(),
            )),
            None => Ok(None),
        }
    }

    /// Hands the conversation back to the bot without resolving it.
    pub async fn return_to_bot(
        &self,
        agent: &Agent,
        conversation_id: &str,
    ) -> Result<Applied, ServiceError> {
        self.close(agent, conversation_id, HandoffStatus::Returned, None)
            .await
    }

    async fn close(
        &self,
        agent: &Agent,
        conversation_id: &str,
        status: HandoffStatus,
        wrap_up: Option<WrapUp>,
    ) -> Result<Applied, ServiceError> {
        check_id(conversation_id)?;
        let _routing = self.inner.route_lock.lock().await;
        let lang = self.lang_of(conversation_id).await?;
        let (text, notice, state, action) = match status {
            HandoffStatus::Resolved => (
                phrases::resolved(lang),
                Notice::Resolved,
                ConversationState::Resolved,
                "resolve",
            ),
            _ => (
                phrases::returned_to_bot(lang),
                Notice::ReturnedToBot,
                ConversationState::Bot,
                "return_to_bot",
            ),
        };
        let applied = self
            .service()
            .apply(conversation_id, None, |c, open, now| {
                let mut h = assigned_to(agent, open)?.closed(status, now);
                h.wrap_up = wrap_up.clone();
                Ok(Change {
                    messages: vec![Outgoing::notice(text, notice)],
                    state: Some(state),
                    low_confidence_streak: Some(0),
                    audit: vec![AuditEntry::new(
                        now,
                        actor(agent),
                        action,
                        Some(&c.id),
                        serde_json::json!({
                            "handoff_id": h.id,
                            "category": h.wrap_up.as_ref().map(|w| w.category.as_str()),
                        }),
                    )],
                    handoff: Some(h),
                    ..Default::default()
                })
            })
            .await?;
        if let Some(h) = &applied.handoff
            && let Some(assigned_at) = h.routing.assigned_at
        {
            self.record_handle_time(&h.skill, applied.conversation.updated_at - assigned_at);
        }
        if let Some(h) = applied.handoff.clone() {
            // Off the agent's path; the dispatcher's catch-up scores it if this fails.
            let reviews = self.inner.reviews.clone();
            tokio::spawn(async move {
                if let Err(e) = reviews.score_closed(&h).await {
                    tracing::warn!(error = %e, handoff = %h.id, "could not score the conversation for review");
                }
            });
        }
        if let Some(h) = applied
            .handoff
            .clone()
            .filter(|h| h.status == HandoffStatus::Resolved)
        {
            // Off the agent's path: mining paraphrases reads weeks of conversations.
            let insights = self.inner.insights.clone();
            tokio::spawn(async move {
                if let Err(e) = insights.draft_from_resolved(&h).await {
                    tracing::warn!(error = %e, handoff = %h.id, "could not propose an FAQ draft");
                }
            });
        }
        tracing::info!(conversation = %conversation_id, agent = %agent.name, action, "conversation closed");
        self.wiring().hub.to_agent(
            &agent.id,
            Event::Unassigned {
                conversation_id: conversation_id.to_string(),
                reason: action.to_string(),
            },
        );
        drop(_routing);
        self.wiring().poke.notify_one();
        Ok(applied)
    }

    /// The unmasked phone numbers, e-mails, addresses and ID numbers of a conversation, for
    /// the agent holding it (agents it is offered to, or who see it queued, read it masked);
    /// every opening is audited.
    pub async fn reveal(
        &self,
        agent: &Agent,
        conversation_id: &str,
    ) -> Result<Revealed, ServiceError> {
        let h = self.held_handoff(agent, conversation_id).await?;
        let messages = self
            .store()
            .messages_after(conversation_id, 0, u32::MAX)
            .await?;
        let mut entities = Vec::new();
        for m in messages.iter().filter(|m| m.author == Author::Shopper) {
            for (entity, value) in pii::reveal_entities(&m.text) {
                if entity.kind.is_personal()
                    && !entities.iter().any(|e: &RevealedEntity| e.value == value)
                {
                    entities.push(RevealedEntity {
                        entity,
                        value,
                        seq: m.seq,
                    });
                }
            }
        }
        self.store()
            .append_audit(&[AuditEntry::new(
                self.now(),
                actor(agent),
                "reveal",
                Some(conversation_id),
                serde_json::json!({ "handoff_id": h.id, "entities": entities.len() }),
            )])
            .await?;
        Ok(Revealed {
            conversation_id: conversation_id.to_string(),
            entities,
        })
    }

    /// Open tickets in the agent's groups as agents see them ([`Ticket::for_agents`]),
    /// newest first, a page at a time: `before` is the
    /// `next` cursor of the previous page. Paging (rather than a fixed window) means no open
    /// ticket is ever out of reach, however many others there are.
    pub async fn tickets(
        &self,
        agent: &Agent,
        before: Option<&str>,
        limit: u32,
    ) -> Result<TicketPage, ServiceError> {
        let before = before.map(parse_ticket_cursor).transpose()?;
        let limit = limit.clamp(1, MAX_TICKET_PAGE);
        // One more than asked tells whether there is a next page.
        let mut tickets = self
            .store()
            .open_tickets(
                &agent.skills,
                before.as_ref().map(|(at, id)| (*at, id.as_str())),
                limit + 1,
            )
            .await?;
        let next = if tickets.len() > limit as usize {
            tickets.truncate(limit as usize);
            tickets.last().map(|t| format!("{}_{}", t.created_at, t.id))
        } else {
            None
        };
        let tickets = tickets.into_iter().map(Ticket::for_agents).collect();
        Ok(TicketPage { tickets, next })
    }

    /// Marks an open ticket of the agent's groups done.
    pub async fn close_ticket(&self, agent: &Agent, ticket_id: &str) -> Result<(), ServiceError> {
        let Some(t) = self
            .store()
            .ticket(ticket_id)
            .await?
            .filter(|t| agent.serves(&t.skill))
        else {
            return Err(ServiceError::NotFound);
        };
        let now = self.now();
        if t.status != "open" || !self.store().close_ticket(&t.id, &agent.id, now).await? {
            return Err(ServiceError::Conflict(
                "the ticket is already closed".into(),
            ));
        }
        self.store()
            .append_audit(&[AuditEntry::new(
                now,
                actor(agent),
                "close_ticket",
                Some(&t.conversation_id),
                serde_json::json!({ "ticket_id": t.id }),
            )])
            .await?;
        Ok(())
    }

    /// Refuses a transfer to a group nobody serves: the conversation would wait there until
    /// its wait SLA ran out, for a typo.
    fn check_group(&self, skill: &str) -> Result<(), ServiceError> {
        let config = &self.config().handoff;
        let agents = self.wiring().roster.agents();
        let mut groups: Vec<&str> = agents
            .iter()
            .filter(|a| !a.disabled)
            .flat_map(|a| a.skills.iter().map(String::as_str))
            .collect();
        groups.sort_unstable();
        groups.dedup();
        if groups.contains(&skill)
            || config.fallback_skill == skill
            || config.fallback.values().any(|f| f == skill)
        {
            return Ok(());
        }
        Err(ServiceError::Invalid(format!(
            "no skill group {skill:?}; groups: {}",
            groups.join(", ")
        )))
    }

    /// Withdraws every offer made to the agent.
    pub(super) async fn withdraw_offers(
        &self,
        agent_id: &str,
        why: &str,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        for h in self.store().open_handoffs().await? {
            if h.is_queued() && h.routing.offered_to.as_deref() == Some(agent_id) {
                self.lapse_offer(&mut Arc::unwrap_or_clone(h), now, why, None)
                    .await?;
            }
        }
        Ok(())
    }

    /// Puts every conversation the agent holds back in the queue, at the front of its
    /// priority (the shopper has waited already), and withdraws their offers. Called with
    /// the routing lock held.
    pub(super) async fn release_agent(&self, agent: &Agent, why: &str) -> Result<(), ServiceError> {
        self.withdraw_offers(&agent.id, why).await?;
        for h in self.store().open_handoffs().await? {
            if h.status == HandoffStatus::Assigned && h.agent_id.as_deref() == Some(&agent.id) {
                self.requeue(&h, why).await?;
            }
        }
        Ok(())
    }

    /// Moves an assigned conversation back to the queue (agent gone, reply SLA breached).
    pub(super) async fn requeue(&self, handoff: &Handoff, why: &str) -> Result<(), ServiceError> {
        let lang = self.lang_of(&handoff.conversation_id).await?;
        let previous = handoff.agent_id.clone();
        let result = self
            .service()
            .apply(&handoff.conversation_id, None, |c, open, now| {
                let h = match open {
                    Some(h) if h.id == handoff.id && h.status == HandoffStatus::Assigned => {
                        h.requeued()
                    }
                    _ => return Err(ServiceError::Conflict("no longer assigned".into())),
                };
                Ok(Change {
                    messages: vec![Outgoing::notice(
                        phrases::transferred(lang),
                        Notice::Transferred,
                    )],
                    state: Some(ConversationState::Queued),
                    audit: vec![AuditEntry::new(
                        now,
                        "system",
                        "requeue",
                        Some(&c.id),
                        serde_json::json!({ "handoff_id": h.id, "agent_id": previous, "why": why }),
                    )],
                    handoff: Some(h),
                    ..Default::default()
                })
            })
            .await;
        match result {
            Ok(_) => {
                tracing::info!(conversation = %handoff.conversation_id, why, "conversation back in the queue");
                if let Some(a) = &previous {
                    self.wiring().hub.to_agent(
                        a,
                        Event::Unassigned {
                            conversation_id: handoff.conversation_id.clone(),
                            reason: why.to_string(),
                        },
                    );
                }
                Ok(())
            }
            Err(ServiceError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
