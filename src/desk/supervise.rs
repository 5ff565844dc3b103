//! What supervisors do. A supervisor is an agent with groups in `supervises`; for those
//! groups they
//!
//! - see every conversation live: waiting in the queue (and to whom it is offered), held by
//!   an agent (and how long the shopper has waited for that agent's answer), with the bot;
//! - read any of them without the agent noticing (no event, no message, no read mark);
//! - whisper a note to the agent holding one (agents only, never the shopper);
//! - take one over themselves, or reassign it to another agent who is online.
//!
//! Missed reply SLAs and word-list or trigger alerts reach them as events from the
//! dispatcher and the turn ([`crate::service::ConversationService::to_group_and_supervisors`]).
//! Every check reads the roster's current record of the supervisor, so a changed
//! `supervises` or a disabled account applies at once.

use serde::Serialize;

use super::Desk;
use super::actions::{QueueItem, actor, joined};
use crate::conversation::ConversationState;
use crate::handoff::agent::{Agent, AgentStatus};
use crate::handoff::view::{AgentView, NoteLine};
use crate::handoff::{AuditEntry, Handoff, HandoffStatus};
use crate::nlu::Lang;
use crate::realtime::Event;
use crate::service::{Applied, Change, ServiceError, check_id};

/// How far back a conversation with the bot counts as live in the overview.
const BOT_ACTIVE_MS: i64 = 30 * 60 * 1000;
/// Conversations with the bot the overview reads at most (the most recently active).
const BOT_SCAN: u32 = 500;
/// Conversations of each kind the overview lists at most.
const LISTED: usize = 200;

/// A queued or assigned conversation in a supervisor's overview.
#[derive(Debug, Clone, Serialize)]
pub struct SupervisedItem {
    #[serde(flatten)]
    pub item: QueueItem,
    /// Who holds it (assigned) or is being offered it (queued).
    pub agent_name: Option<String>,
    /// Assigned: how long the shopper has waited for the agent's answer (`None`: answered).
    pub awaiting_reply_ms: Option<i64>,
}

/// A conversation the bot is holding.
#[derive(Debug, Clone, Serialize)]
pub struct BotItem {
    pub conversation_id: String,
    /// The group its topic routes to (where it would go on a handoff).
    pub skill: String,
    pub lang: Lang,
    pub customer_name: Option<String>,
    pub verified: bool,
    pub last_seq: i64,
    /// Since the last message, in milliseconds.
    pub idle_ms: i64,
}

/// An agent of the supervised groups, and their load.
#[derive(Debug, Clone, Serialize)]
pub struct GroupAgent {
    pub name: String,
    pub skills: Vec<String>,
    pub status: AgentStatus,
    /// Conversations held or offered to them.
    pub load: u32,
    pub max_chats: u32,
}

/// `GET /v1/supervisor/overview`.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub groups: Vec<String>,
    pub agents: Vec<GroupAgent>,
    pub queued: Vec<SupervisedItem>,
    pub assigned: Vec<SupervisedItem>,
    pub bot: Vec<BotItem>,
    /// Assigned conversations past the reply SLA.
    pub reply_sla_breached: usize,
}

fn not_supervised() -> ServiceError {
    ServiceError::Forbidden("this conversation is not in a group you supervise".into())
}

impl Desk {
    /// The roster's current record of a supervisor; refused for an agent who supervises
    /// no group (or was disabled meanwhile).
    fn supervisor(&self, agent: &Agent) -> Result<Agent, ServiceError> {
        let current = self.wiring().roster.agent(&agent.id);
        Some(current.unwrap_or_else(|| agent.clone()))
            .filter(|a| !a.disabled && a.is_supervisor())
            .ok_or_else(|| ServiceError::Forbidden("you supervise no skill group".into()))
    }

    /// Whether `supervisor` oversees the groups an open handoff waits in or is held by.
    fn oversees(&self, supervisor: &Agent, h: &Handoff) -> bool {
        h.groups(self.config().handoff.fallback_for(&h.skill))
            .iter()
            .any(|g| supervisor.supervises(g))
    }

    /// The group a conversation with the bot would be handed to.
    fn bot_group(&self, c: &crate::conversation::Conversation) -> String {
        c.recent_skill
            .clone()
            .unwrap_or_else(|| self.config().policy.default_skill.clone())
    }

    /// Everything live in the supervisor's groups.
    pub async fn overview(&self, agent: &Agent) -> Result<Overview, ServiceError> {
        let supervisor = self.supervisor(agent)?;
        let now = self.now();
        let roster = &self.wiring().roster;
        let open = self.store().open_handoffs().await?;
        let name_of = |id: Option<&str>| id.and_then(|id| roster.agent(id)).map(|a| a.name);
        let mut queued = Vec::new();
        let mut assigned = Vec::new();
        // At most LISTED of each list: the queued ones in queue order, then the assigned.
        let oversees = |h: &&Handoff| self.oversees(&supervisor, h);
        let watched: Vec<&Handoff> = crate::handoff::routing::queue_order(&open)
            .into_iter()
            .filter(oversees)
            .take(LISTED)
            .chain(
                open.iter()
                    .map(|h| &**h)
                    .filter(|h| h.status == HandoffStatus::Assigned)
                    .filter(oversees)
                    .take(LISTED),
            )
            .collect();
        for (h, mut item) in watched.iter().zip(self.listed(&watched, now).await?) {
            let list = if h.is_queued() {
                &mut queued
            } else {
                &mut assigned
            };
            let holder = if h.is_queued() {
                h.routing.offered_to.as_deref()
            } else {
                item.position = None;
                h.agent_id.as_deref()
            };
            list.push(SupervisedItem {
                item,
                agent_name: name_of(holder),
                awaiting_reply_ms: (h.status == HandoffStatus::Assigned)
                    .then(|| h.routing.awaiting_reply_since.map(|t| now - t))
                    .flatten(),
            });
        }
        let mut bot = Vec::new();
        for c in self
            .store()
            .active_bot_conversations(now - BOT_ACTIVE_MS, BOT_SCAN)
            .await?
        {
            let skill = self.bot_group(&c);
            if bot.len() >= LISTED || !supervisor.supervises(&skill) {
                continue;
            }
            bot.push(BotItem {
                conversation_id: c.id,
                skill,
                lang: c.locale,
                customer_name: c.customer.name,
                verified: c.customer.verified,
                last_seq: c.last_seq,
                idle_ms: now - c.updated_at,
            });
        }
        let agents = roster
            .agents()
            .iter()
            .filter(|a| !a.disabled && a.skills.iter().any(|s| supervisor.supervises(s)))
            .map(|a| GroupAgent {
                name: a.name.clone(),
                skills: a.skills.clone(),
                status: roster.effective(a, now),
                load: Self::load_of(&open, &a.id),
                max_chats: a.max_chats,
            })
            .collect();
        Ok(Overview {
            groups: supervisor.supervises.clone(),
            agents,
            reply_sla_breached: assigned
                .iter()
                .filter(|i| i.item.sla_reply_breached)
                .count(),
            queued,
            assigned,
            bot,
        })
    }

    /// The conversation's open handoff (`None`: the bot holds it) if `agent` supervises
    /// its group.
    async fn supervised(
        &self,
        agent: &Agent,
        conversation_id: &str,
    ) -> Result<(Agent, Option<Handoff>), ServiceError> {
        let supervisor = self.supervisor(agent)?;
        check_id(conversation_id)?;
        let c = self.service().load(conversation_id).await?;
        match self.store().open_handoff(conversation_id).await? {
            Some(h) if self.oversees(&supervisor, &h) => Ok((supervisor, Some(h))),
            None if c.state == ConversationState::Bot
                && supervisor.supervises(&self.bot_group(&c)) =>
            {
                Ok((supervisor, None))
            }
            _ => Err(not_supervised()),
        }
    }

    /// Reads a conversation of a supervised group. Nobody is told: no event, no message,
    /// nothing the agent or the shopper sees.
    pub async fn watch(
        &self,
        agent: &Agent,
        conversation_id: &str,
    ) -> Result<AgentView, ServiceError> {
        let (_, open) = self.supervised(agent, conversation_id).await?;
        self.build_view(conversation_id, open).await
    }

    /// A note only agents see, for the agent holding the conversation (or whoever takes it
    /// from the queue): it reaches their console at once, marked as a whisper.
    pub async fn whisper(
        &self,
        agent: &Agent,
        conversation_id: &str,
        text: &str,
    ) -> Result<NoteLine, ServiceError> {
        let (supervisor, _) = self.supervised(agent, conversation_id).await?;
        let line = self
            .write_note(
                &supervisor,
                conversation_id,
                text,
                true,
                |open| match open {
                    Some(h) if self.oversees(&supervisor, h) => Ok(()),
                    Some(_) => Err(not_supervised()),
                    None => Err(ServiceError::Conflict(
                        "no agent holds or awaits this conversation: the bot has it".into(),
                    )),
                },
            )
            .await?;
        let holder = self
            .store()
            .open_handoff(conversation_id)
            .await?
            .filter(|h| h.status == HandoffStatus::Assigned)
            .and_then(|h| h.agent_id);
        for to in holder.iter().chain(Some(&supervisor.id)) {
            self.wiring().hub.to_agent(
                to,
                Event::Note {
                    conversation_id: conversation_id.to_string(),
                    note: line.clone(),
                },
            );
        }
        Ok(line)
    }

    /// The supervisor takes the conversation themselves, from the queue or from the agent
    /// holding it. Their own `max_chats` does not stop them: it is a deliberate override.
    pub async fn take_over(
        &self,
        agent: &Agent,
        conversation_id: &str,
    ) -> Result<Applied, ServiceError> {
        let supervisor = self.supervisor(agent)?;
        self.hand_to(&supervisor, conversation_id, &supervisor, "take_over")
            .await
    }

    /// Hands the conversation to another agent who is online, from the queue or from the
    /// agent holding it; capacity is the supervisor's call.
    pub async fn reassign(
        &self,
        agent: &Agent,
        conversation_id: &str,
        to_name: &str,
    ) -> Result<Applied, ServiceError> {
        let supervisor = self.supervisor(agent)?;
        let target = self
            .store()
            .agent_by_name(to_name.trim())
            .await?
            .filter(|a| !a.disabled)
            .ok_or_else(|| ServiceError::Invalid(format!("no active agent named {to_name:?}")))?;
        self.hand_to(&supervisor, conversation_id, &target, "reassign")
            .await
    }

    async fn hand_to(
        &self,
        supervisor: &Agent,
        conversation_id: &str,
        target: &Agent,
        action: &'static str,
    ) -> Result<Applied, ServiceError> {
        let _routing = self.inner.route_lock.lock().await;
        if self.wiring().roster.effective(target, self.now()) != AgentStatus::Online {
            return Err(ServiceError::Conflict(if target.id == supervisor.id {
                "set your status to online first".into()
            } else {
                format!("{} is not online", target.name)
            }));
        }
        let (_, open) = self.supervised(supervisor, conversation_id).await?;
        let before = open.ok_or_else(|| {
            ServiceError::Conflict("the bot holds this conversation: nobody to move".into())
        })?;
        let lang = self.lang_of(conversation_id).await?;
        let applied = self
            .service()
            .apply(conversation_id, None, |c, open, now| {
                let h = match open {
                    Some(h) if h.id == before.id && self.oversees(supervisor, h) => h,
                    _ => {
                        return Err(ServiceError::Conflict(
                            "this conversation moved meanwhile; look again".into(),
                        ));
                    }
                };
                if h.status == HandoffStatus::Assigned && h.agent_id.as_deref() == Some(&target.id)
                {
                    return Err(ServiceError::Conflict(format!(
                        "{} already holds this conversation",
                        target.name
                    )));
                }
                let moved = h.assigned_to(&target.id, now);
                Ok(Change {
                    messages: vec![joined(lang, &target.name)],
                    state: Some(ConversationState::Assigned),
                    audit: vec![AuditEntry::new(
                        now,
                        actor(supervisor),
                        action,
                        Some(&c.id),
                        serde_json::json!({
                            "handoff_id": h.id,
                            "from": h.agent_id,
                            "to": target.id,
                        }),
                    )],
                    handoff: Some(moved),
                    ..Default::default()
                })
            })
            .await?;
        tracing::info!(conversation = %conversation_id, supervisor = %supervisor.name, to = %target.name, action, "supervisor moved a conversation");
        let hub = &self.wiring().hub;
        if let Some(from) = before
            .agent_id
            .as_deref()
            .filter(|_| before.status == HandoffStatus::Assigned)
        {
            hub.to_agent(
                from,
                Event::Unassigned {
                    conversation_id: conversation_id.to_string(),
                    reason: action.to_string(),
                },
            );
        }
        if let Some(offered) = before.routing.offered_to.as_deref() {
            hub.to_agent(
                offered,
                Event::OfferWithdrawn {
                    conversation_id: conversation_id.to_string(),
                    handoff_id: before.id.clone(),
                    reason: action.to_string(),
                },
            );
        }
        let view = self.build_view(conversation_id, None).await?;
        hub.to_agent(
            &target.id,
            Event::Assigned {
                conversation_id: conversation_id.to_string(),
                view: Box::new(view),
            },
        );
        self.inner.places.remove(conversation_id);
        drop(_routing);
        self.wiring().poke.notify_one();
        Ok(applied)
    }
}
