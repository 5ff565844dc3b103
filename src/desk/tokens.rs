//! Checking agent tokens at a bounded cost. Argon2 is slow and memory-hungry by design,
//! so a flood of wrong tokens must not take the node's memory and CPU: checks run in a
//! few blocking threads at once behind a short wait list, reuse their working memory, and
//! their verdicts are remembered both ways. The desk asks [`TokenChecks`] after it has
//! found the agent a token names; rotating or disabling the agent forgets its verdicts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::Semaphore;

use crate::handoff::agent::{self, Agent};
use crate::service::ServiceError;
use crate::store::StoreError;

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
pub(super) struct TokenChecks {
    /// sha256(token) → the agent it proved to be.
    verified: DashMap<[u8; 32], TokenVerdict>,
    /// sha256(token) → the agent it failed to prove to be.
    refused: DashMap<[u8; 32], TokenVerdict>,
    /// One permit per argon2 check allowed to run.
    slots: Arc<Semaphore>,
    /// One permit per request allowed to run or wait for a slot.
    admitted: Arc<Semaphore>,
    /// Argon2 verifications run so far.
    pub(super) runs: AtomicU64,
    /// Working memory of finished checks, for the next ones: at most one per slot.
    memory: Arc<StdMutex<Vec<agent::Argon2Memory>>>,
}

impl TokenChecks {
    pub(super) fn new(slots: usize) -> TokenChecks {
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
    pub(super) fn remembered(&self, key: &[u8; 32], agent: &Agent, now: i64) -> Option<bool> {
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

    pub(super) fn remember(&self, key: [u8; 32], agent: &Agent, ok: bool, now: i64) {
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
    pub(super) async fn verify(&self, token: &str, stored_hash: &str) -> Result<bool, AuthError> {
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
    pub(super) fn forget(&self, agent_id: &str) {
        self.verified.retain(|_, v| v.agent_id != agent_id);
        self.refused.retain(|_, v| v.agent_id != agent_id);
    }
}
