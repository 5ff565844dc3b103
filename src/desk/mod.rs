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
mod roster;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use dashmap::DashMap;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, Semaphore};

pub use actions::{QueueItem, QueueView, Revealed, TransferTarget};
pub use roster::Roster;

use crate::config::Config;
use crate::handoff::agent::{self, Agent, AgentStatus};
use crate::handoff::routing::Place;
use crate::handoff::view::{AgentView, NoteLine, build_view};
use crate::handoff::{AuditEntry, Handoff};
use crate::service::{ConversationService, ServiceError, Wiring};
use crate::store::{Store, StoreError};

/// How long a verified token is trusted without argon2. Disabling an agent or rotating
/// their token forgets it at once; the limit bounds how long a token deleted by other
/// means (a restored database) keeps working on this node.
const VERIFIED_TTL_MS: i64 = 10 * 60 * 1000;
/// How long a refused token is refused without argon2, so repeating one costs nothing.
const REFUSED_TTL_MS: i64 = 60 * 1000;
/// Refused tokens remembered at most. Random tokens never repeat, so past this the map
/// only sheds expired entries and stops growing; the hash gate is what bounds their cost.
const REFUSED_MAX: usize = 10_000;
/// Requests allowed to wait for an argon2 slot, per slot; more are turned away at once.
const HASH_WAITERS_PER_SLOT: usize = 4;
/// Longest wait for an argon2 slot before the request is turned away.
const HASH_WAIT: Duration = Duration::from_secs(1);

/// Why an agent token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing or wrong agent token")]
    Unauthorized,
    /// Every argon2 slot is busy and the short wait list is full: retry shortly.
    #[error("too many token checks at once; retry shortly")]
    Saturated,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        AuthError::Service(e.into())
    }
}

/// What a token was last found to be, against which stored hash and until when.
struct TokenVerdict {
    agent_id: String,
    token_hash: String,
    expires_at: i64,
}

impl TokenVerdict {
    fn applies(&self, agent: &Agent, now: i64) -> bool {
        self.agent_id == agent.id && self.token_hash == agent.token_hash && now < self.expires_at
    }
}

/// Agent token checks: argon2 is slow and memory-hungry by design (each check holds its
/// `m_cost`, 19 MiB by default, for tens of milliseconds), so without a bound a flood of
/// wrong tokens takes the node's memory and CPU. Checks run in at most `slots` blocking
/// threads at once, with a short wait list, in working memory kept for reuse (so argon2
/// holds `slots` × 19 MiB at most, whichever threads run it); verdicts are remembered both
/// ways.
struct TokenChecks {
    /// sha256(token) → the agent it proved to be.
    verified: DashMap<[u8; 32], TokenVerdict>,
    /// sha256(token) → the agent it failed to prove to be.
    refused: DashMap<[u8; 32], TokenVerdict>,
    /// One permit per argon2 check allowed to run.
    slots: Arc<Semaphore>,
    /// One permit per request allowed to run or wait for a slot.
    admitted: Arc<Semaphore>,
    /// Argon2 verifications run so far.
    runs: AtomicU64,
    /// Working memory of finished checks, for the next ones: at most one per slot.
    memory: Arc<StdMutex<Vec<agent::Argon2Memory>>>,
}

impl TokenChecks {
    fn new(slots: usize) -> TokenChecks {
        let slots = if slots == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            slots
        };
        TokenChecks {
            verified: DashMap::new(),
            refused: DashMap::new(),
            slots: Arc::new(Semaphore::new(slots)),
            admitted: Arc::new(Semaphore::new(slots * (1 + HASH_WAITERS_PER_SLOT))),
            runs: AtomicU64::new(0),
            memory: Arc::default(),
        }
    }

    /// The remembered verdict on a token for `agent`, if one still holds.
    fn remembered(&self, key: &[u8; 32], agent: &Agent, now: i64) -> Option<bool> {
        for (map, verdict) in [(&self.verified, true), (&self.refused, false)] {
            if let Some(v) = map.get(key) {
                if v.applies(agent, now) {
                    return Some(verdict);
                }
                drop(v);
                map.remove(key);
            }
        }
        None
    }

    fn remember(&self, key: [u8; 32], agent: &Agent, ok: bool, now: i64) {
        let (map, ttl) = if ok {
            (&self.verified, VERIFIED_TTL_MS)
        } else {
            (&self.refused, REFUSED_TTL_MS)
        };
        if !ok && map.len() >= REFUSED_MAX {
            map.retain(|_, v| now < v.expires_at);
            if map.len() >= REFUSED_MAX {
                return;
            }
        }
        map.insert(
            key,
            TokenVerdict {
                agent_id: agent.id.clone(),
                token_hash: agent.token_hash.clone(),
                expires_at: now + ttl,
            },
        );
    }

    /// Runs argon2 in a blocking thread once a slot is free; refuses at once when too many
    /// requests already wait. The permits travel with the blocking work, so a client that
    /// hangs up does not free a slot its check still occupies.
    async fn verify(&self, token: &str, stored_hash: &str) -> Result<bool, AuthError> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| AuthError::Saturated)?;
        let slot = tokio::time::timeout(HASH_WAIT, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| AuthError::Saturated)?
            .map_err(|e| AuthError::Service(ServiceError::Internal(e.to_string())))?;
        self.runs.fetch_add(1, Ordering::Relaxed);
        let (token, hash) = (token.to_string(), stored_hash.to_string());
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let taken = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut memory = taken.unwrap_or_default();
            let ok = agent::verify_token_with(&token, &hash, &mut memory);
            pool.lock().unwrap_or_else(|p| p.into_inner()).push(memory);
            drop((slot, admitted));
            ok
        })
        .await
        .map_err(|e| AuthError::Service(ServiceError::Internal(e.to_string())))
    }

    /// Forgets every verdict about `agent_id`'s tokens.
    fn forget(&self, agent_id: &str) {
        self.verified.retain(|_, v| v.agent_id != agent_id);
        self.refused.retain(|_, v| v.agent_id != agent_id);
    }
}

/// Cheap-to-clone handle to the desk.
#[derive(Clone)]
pub struct Desk {
    inner: Arc<Inner>,
}

struct Inner {
    service: ConversationService,
    /// Serialises routing decisions on this node.
    route_lock: Mutex<()>,
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
        let tokens = TokenChecks::new(service.config().http.max_token_checks);
        Desk {
            inner: Arc::new(Inner {
                service,
                route_lock: Mutex::new(()),
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

    /// Loads the agents into the roster (start-up, and after any change to them).
    pub async fn refresh_agents(&self) -> Result<Arc<Vec<Agent>>, ServiceError> {
        let agents = self.store().agents().await?;
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
    fn load_of(handoffs: &[Handoff], agent_id: &str) -> u32 {
        handoffs
            .iter()
            .filter(|h| {
                h.agent_id.as_deref() == Some(agent_id)
                    || h.routing.offered_to.as_deref() == Some(agent_id)
            })
            .count() as u32
    }

    /// Whether `agent` may read the conversation of `handoff`: it is theirs, offered to
    /// them, or waiting in one of their groups.
    fn may_read(&self, agent: &Agent, handoff: &Handoff) -> bool {
        if handoff.agent_id.as_deref() == Some(&agent.id)
            || handoff.routing.offered_to.as_deref() == Some(&agent.id)
            || handoff.routing.reserved_for.as_deref() == Some(&agent.id)
        {
            return true;
        }
        handoff.is_queued()
            && handoff
                .groups(self.config().handoff.fallback_for(&handoff.skill))
                .iter()
                .any(|g| agent.serves(g))
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

    /// The conversation's open handoff if the agent may read it, else the latest handoff if
    /// the agent held it (a resolved conversation stays readable to its agent).
    async fn readable_handoff(
        &self,
        agent: &Agent,
        conversation_id: &str,
    ) -> Result<Handoff, ServiceError> {
        if uuid::Uuid::parse_str(conversation_id).is_err() {
            return Err(ServiceError::NotFound);
        }
        self.service().load(conversation_id).await?;
        let forbidden = || {
            ServiceError::Forbidden(
                "this conversation is not assigned to you or your groups".into(),
            )
        };
        match self.store().open_handoff(conversation_id).await? {
            Some(h) if self.may_read(agent, &h) => Ok(h),
            Some(_) => Err(forbidden()),
            None => match self.store().latest_handoff(conversation_id).await? {
                Some(h) if h.agent_id.as_deref() == Some(&agent.id) => Ok(h),
                _ => Err(forbidden()),
            },
        }
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
    /// the roster, and move a disabled agent's conversations back to the queue.
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
