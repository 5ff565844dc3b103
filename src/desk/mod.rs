//! The help desk: the human side of a handoff at run time.
//!
//! ```text
//! agent HTTP / WebSocket ─► Desk::authenticate ─► actions (accept, reply, note, transfer,
//!                                                  resolve, return to the bot, reveal, tickets)
//!                                                   │  ConversationService::apply (lock, commit, publish)
//! clock + poke ─► dispatcher: Desk::tick ─► presence lapses, offer timeouts, SLAs,
//!                                            offers (routing::plan_offers), queue positions
//! ```
//!
//! Every decision is stored before it is announced: an offer is a handoff row with
//! `offered_to` and a deadline, an SLA breach is a flag on it, presence is the agent's stored
//! status plus a grace period. A restart therefore resumes the queue, assignments, offers and
//! timers from the database alone. Routing changes to queued handoffs are serialised by one
//! desk lock (taken before any conversation lock); a handoff row is only updated if it is
//! still in the status it was read in.

mod actions;
pub mod agents;
mod dispatch;
mod lookup;
mod supervise;
mod tokens;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex as StdMutex};

use dashmap::DashMap;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

pub use actions::{MAX_TICKET_PAGE, QueueItem, QueueView, Revealed, TicketPage, TransferTarget};
pub use lookup::{LookupRequest, LookupResult};
pub use supervise::{BotItem, GroupAgent, Overview, SupervisedItem};
pub use tokens::AuthError;
use tokens::TokenChecks;

use crate::config::Config;
use crate::handoff::agent::{self, Agent, AgentStatus};
use crate::handoff::routing::Place;
use crate::handoff::view::{AgentView, NoteLine, build_view};
use crate::handoff::{AuditEntry, Handoff, HandoffStatus};
use crate::insights::Insights;
use crate::quality::Reviews;
use crate::service::{ConversationService, ServiceError, Wiring};
use crate::store::Store;

/// The shopper's view of their conversation's status.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ShopperStatus {
    pub conversation_id: String,
    pub state: crate::conversation::ConversationState,
    pub channel: String,
    pub locale: crate::nlu::Lang,
    pub last_seq: i64,
    pub handoff: Option<crate::service::HandoffView>,
    /// The agent holding it, once one does.
    pub agent_name: Option<String>,
    pub queue: Option<QueueStatus>,
}

/// Where a queued conversation stands.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QueueStatus {
    pub position: u32,
    pub eta_seconds: Option<i64>,
}

/// Cheap-to-clone handle to the desk.
#[derive(Clone)]
pub struct Desk {
    inner: Arc<Inner>,
}

struct Inner {
    service: ConversationService,
    /// Proposes FAQ drafts from resolved conversations.
    insights: Insights,
    /// Scores the conversations agents close; the review queue.
    reviews: Reviews,
    /// Serialises routing decisions on this node.
    route_lock: Mutex<()>,
    /// Serialises roster refreshes, so a slow one never puts back records a newer one
    /// replaced (and never revokes sockets on the strength of them).
    agents_lock: Mutex<()>,
    /// Agent token verification: bounded, with remembered verdicts.
    tokens: TokenChecks,
    /// Each queued conversation's last announced place.
    places: DashMap<String, Place>,
    /// Moving average of handle time per skill group, in milliseconds.
    handle_ms: StdMutex<HashMap<String, f64>>,
    /// Queue size each agent was last told.
    told_queue: DashMap<String, usize>,
}

impl Desk {
    pub fn new(service: ConversationService) -> Desk {
        let insights = Insights::new(
            service.store().clone(),
            service.live_knowledge().clone(),
            service.clock().clone(),
        );
        let reviews = Reviews::new(
            service.store().clone(),
            service.live_knowledge().clone(),
            service.clock().clone(),
            service.config_arc().clone(),
        );
        let tokens = TokenChecks::new(service.config().http.max_token_checks);
        Desk {
            inner: Arc::new(Inner {
                service,
                insights,
                reviews,
                route_lock: Mutex::new(()),
                agents_lock: Mutex::new(()),
                tokens,
                places: DashMap::new(),
                handle_ms: StdMutex::new(HashMap::new()),
                told_queue: DashMap::new(),
            }),
        }
    }

    pub fn service(&self) -> &ConversationService {
        &self.inner.service
    }

    pub fn insights(&self) -> &Insights {
        &self.inner.insights
    }

    pub fn reviews(&self) -> &Reviews {
        &self.inner.reviews
    }

    fn store(&self) -> &Arc<dyn Store> {
        self.inner.service.store()
    }

    fn config(&self) -> &Config {
        self.inner.service.config()
    }

    fn wiring(&self) -> &Wiring {
        self.inner.service.wiring()
    }

    fn now(&self) -> i64 {
        self.wiring().clock.now_ms()
    }

    /// Loads the agents into the roster (start-up, after any change to them, and on every
    /// dispatcher pass) and closes the sockets of credentials that are no longer valid: a
    /// disabled agent's, a rotated token's — also when the change was made by another
    /// process such as `baton agent`.
    pub async fn refresh_agents(&self) -> Result<Arc<Vec<Agent>>, ServiceError> {
        let _one = self.inner.agents_lock.lock().await;
        let agents = self.store().agents().await?;
        for a in &agents {
            let valid = (!a.disabled).then_some(a.token_hash.as_str());
            self.wiring().hub.revoke_agent(&a.id, valid);
        }
        self.wiring().roster.set_agents(agents);
        Ok(self.wiring().roster.agents())
    }

    /// The agent a bearer token belongs to. Argon2 runs at most once per token and stored
    /// hash within [`VERIFIED_TTL_MS`] (or [`REFUSED_TTL_MS`] for a wrong token), and only
    /// in a bounded number of threads; a disabled agent or a rotated token is refused at once.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Agent, AuthError> {
        let token = token.ok_or(AuthError::Unauthorized)?;
        let id = agent::token_agent_id(token).ok_or(AuthError::Unauthorized)?;
        let agent = self
            .store()
            .agent(id)
            .await?
            .filter(|a| !a.disabled)
            .ok_or(AuthError::Unauthorized)?;
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let checks = &self.inner.tokens;
        let ok = match checks.remembered(&key, &agent, self.now()) {
            Some(ok) => ok,
            None => {
                let ok = checks.verify(token, &agent.token_hash).await?;
                checks.remember(key, &agent, ok, self.now());
                ok
            }
        };
        if !ok {
            return Err(AuthError::Unauthorized);
        }
        self.wiring().roster.touch(&agent.id, self.now());
        Ok(agent)
    }

    /// Argon2 token verifications run since start (a remembered verdict runs none).
    pub fn token_checks_run(&self) -> u64 {
        self.inner.tokens.runs.load(Ordering::Relaxed)
    }

    /// The agent's load: conversations assigned or offered to them.
    fn load_of(handoffs: &[Arc<Handoff>], agent_id: &str) -> u32 {
        handoffs
            .iter()
            .filter(|h| {
                h.agent_id.as_deref() == Some(agent_id)
                    || h.routing.offered_to.as_deref() == Some(agent_id)
            })
            .count() as u32
    }

    /// What `agent` may read, decided with their current record: the roster's, over the
    /// caller's copy, which may be as old as the socket that carries it (a disabled agent
    /// reads nothing, changed skills apply at once). A listing or a dispatcher pass asks it
    /// of every open handoff, so the record and the status are looked up once.
    fn reader(&self, agent: &Agent) -> Reader<'_> {
        let roster = &self.wiring().roster;
        let agent = roster.agent(&agent.id).unwrap_or_else(|| agent.clone());
        let online = roster.effective(&agent, self.now()) == AgentStatus::Online;
        Reader {
            agent,
            online,
            config: &self.config().handoff,
        }
    }

    /// The view of a conversation, for an agent allowed to read it.
    pub async fn view(
        &self,
        agent: &Agent,
        conversation_id: &str,
    ) -> Result<AgentView, ServiceError> {
        let handoff = self.readable_handoff(agent, conversation_id).await?;
        self.build_view(conversation_id, Some(handoff)).await
    }

    /// Whether the agent may read the conversation now.
    pub async fn can_read(&self, agent: &Agent, conversation_id: &str) -> bool {
        self.readable_handoff(agent, conversation_id).await.is_ok()
    }

    /// The conversation's open handoff if the agent may read it. Access ends with the
    /// handoff: once it is resolved, returned to the bot or transferred away, its former
    /// agent reads nothing more of the conversation (nor what the shopper writes later).
    async fn readable_handoff(
        &self,
        agent: &Agent,
        conversation_id: &str,
    ) -> Result<Handoff, ServiceError> {
        crate::service::check_id(conversation_id)?;
        self.service().load(conversation_id).await?;
        match self.store().open_handoff(conversation_id).await? {
            Some(h) if self.reader(agent).may_read(&h) => Ok(h),
            _ => Err(ServiceError::Forbidden(
                "this conversation is not assigned to you, offered to you or waiting in your groups"
                    .into(),
            )),
        }
    }

    /// The conversation's open handoff if `agent` holds it: the only agent who acts on the
    /// conversation or sees its personal data unmasked.
    async fn held_handoff(
        &self,
        agent: &Agent,
        conversation_id: &str,
    ) -> Result<Handoff, ServiceError> {
        if uuid::Uuid::parse_str(conversation_id).is_err() {
            return Err(ServiceError::NotFound);
        }
        self.service().load(conversation_id).await?;
        let open = self.store().open_handoff(conversation_id).await?;
        actions::assigned_to(agent, open.as_ref()).cloned()
    }

    async fn build_view(
        &self,
        conversation_id: &str,
        handoff: Option<Handoff>,
    ) -> Result<AgentView, ServiceError> {
        let c = self.service().load(conversation_id).await?;
        let messages = self
            .store()
            .messages_after(conversation_id, 0, u32::MAX)
            .await?;
        let handoff = match handoff {
            Some(h) if h.context.is_some() => Some(h),
            _ => self.store().latest_handoff(conversation_id).await?,
        };
        let roster = &self.wiring().roster;
        let notes = self
            .store()
            .notes(conversation_id)
            .await?
            .into_iter()
            .map(|n| NoteLine {
                agent_name: roster
                    .agent(&n.agent_id)
                    .map(|a| a.name)
                    .unwrap_or_default(),
                id: n.id,
                agent_id: n.agent_id,
                text: n.text,
                at: n.created_at,
                whisper: n.whisper,
            })
            .collect();
        Ok(build_view(
            &c,
            &messages,
            handoff.as_ref(),
            notes,
            self.now(),
        ))
    }

    /// What the shopper's client shows about their conversation: who holds it and where it
    /// stands in the queue. The one place this is put together, for the API and the socket.
    pub async fn shopper_status(
        &self,
        c: &crate::conversation::Conversation,
    ) -> Result<ShopperStatus, ServiceError> {
        let handoff = self.store().open_handoff(&c.id).await?;
        let agent_name = handoff
            .as_ref()
            .filter(|h| h.status == crate::handoff::HandoffStatus::Assigned)
            .and_then(|h| h.agent_id.as_deref())
            .and_then(|a| self.wiring().roster.agent(a))
            .map(|a| a.name);
        Ok(ShopperStatus {
            conversation_id: c.id.clone(),
            state: c.state,
            channel: c.channel.clone(),
            locale: c.locale,
            last_seq: c.last_seq,
            handoff: handoff.as_ref().map(crate::service::HandoffView::from),
            agent_name,
            queue: self.place(&c.id).map(|p| QueueStatus {
                position: p.position,
                eta_seconds: p.eta_ms.map(|ms| ms / 1000),
            }),
        })
    }

    /// A queued conversation's place, as last computed by the dispatcher.
    pub fn place(&self, conversation_id: &str) -> Option<Place> {
        self.inner.places.get(conversation_id).map(|p| p.clone())
    }

    /// Handle time to assume for `skill` in wait estimates.
    fn handle_ms(&self, skill: &str) -> i64 {
        let default = self.config().handoff.default_handle_secs as f64 * 1000.0;
        let map = self
            .inner
            .handle_ms
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.get(skill).copied().unwrap_or(default) as i64
    }

    fn record_handle_time(&self, skill: &str, ms: i64) {
        let default = self.config().handoff.default_handle_secs as f64 * 1000.0;
        let mut map = self
            .inner
            .handle_ms
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let avg = map.entry(skill.to_string()).or_insert(default);
        *avg = 0.8 * *avg + 0.2 * ms.max(0) as f64;
    }

    /// Sets what the agent says about themselves. Going offline hands their conversations
    /// back to the queue; going away withdraws offers but keeps their conversations.
    pub async fn set_status(
        &self,
        agent: &Agent,
        status: AgentStatus,
    ) -> Result<Agent, ServiceError> {
        let _routing = self.inner.route_lock.lock().await;
        let now = self.now();
        let mut updated = agent.clone();
        updated.status = status;
        updated.updated_at = now;
        self.store().update_agent(&updated).await?;
        self.store()
            .append_audit(&[AuditEntry::new(
                now,
                format!("agent:{}", agent.id),
                "status",
                None,
                serde_json::json!({ "from": agent.status, "to": status }),
            )])
            .await?;
        self.refresh_agents().await?;
        tracing::info!(agent = %agent.name, status = status.as_str(), "agent status");
        match status {
            AgentStatus::Offline => self.release_agent(&updated, "agent went offline").await?,
            AgentStatus::Away => self.withdraw_offers(&updated.id, "agent is away").await?,
            AgentStatus::Online => {}
        }
        drop(_routing);
        self.wiring().poke.notify_one();
        Ok(updated)
    }

    /// Records an admin action in the audit log.
    pub async fn audit_admin(
        &self,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<(), ServiceError> {
        self.store()
            .append_audit(&[AuditEntry::new(self.now(), "admin", action, None, detail)])
            .await?;
        Ok(())
    }

    /// After an agent is disabled or their token rotated: forget verified tokens, refresh
    /// the roster (which closes the agent's sockets), and move a disabled agent's
    /// conversations back to the queue.
    pub async fn agent_changed(&self, agent: &Agent) -> Result<(), ServiceError> {
        self.inner.tokens.forget(&agent.id);
        self.refresh_agents().await?;
        if agent.disabled {
            let _routing = self.inner.route_lock.lock().await;
            self.release_agent(agent, "agent disabled").await?;
        }
        self.wiring().poke.notify_one();
        Ok(())
    }
}

/// One agent's right to read open handoffs (see [`Desk::reader`]).
struct Reader<'d> {
    agent: Agent,
    online: bool,
    config: &'d crate::config::HandoffConfig,
}

impl Reader<'_> {
    /// Whether the agent may read the (masked) conversation of the open `handoff`: they
    /// hold it, or it waits for an agent and is offered or reserved to them or queued in one
    /// of their groups. Only an agent who is online sees what waits: an away or offline
    /// agent could not take it, so they have no reason to read a stranger's conversation.
    fn may_read(&self, handoff: &Handoff) -> bool {
        let agent = &self.agent;
        if agent.disabled {
            return false;
        }
        if handoff.status == HandoffStatus::Assigned {
            return handoff.agent_id.as_deref() == Some(&agent.id);
        }
        if !handoff.is_queued() || !self.online {
            return false;
        }
        handoff.routing.offered_to.as_deref() == Some(&agent.id)
            || handoff.routing.reserved_for.as_deref() == Some(&agent.id)
            || handoff
                .groups(self.config.fallback_for(&handoff.skill))
                .iter()
                .any(|g| agent.serves(g))
    }
}
