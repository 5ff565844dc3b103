//! Managing agents: add, change, disable, rotate tokens. The CLI (`baton agent …`, no server
//! needed) and the admin API both call these, on the same store.

use serde::Deserialize;

use crate::handoff::agent::{self, Agent, AgentError, AgentStatus};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Invalid(#[from] AgentError),
    #[error("no agent named {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new agent as an admin describes them.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    pub name: String,
    pub skills: Vec<String>,
    #[serde(default = "default_max_chats")]
    pub max_chats: u32,
    /// Skill groups this agent supervises (none by default).
    #[serde(default)]
    pub supervises: Vec<String>,
}

fn default_max_chats() -> u32 {
    3
}

/// Changes to an agent; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentPatch {
    pub skills: Option<Vec<String>>,
    pub max_chats: Option<u32>,
    pub disabled: Option<bool>,
    pub supervises: Option<Vec<String>>,
}

/// Splits `a,b, c` into skill names.
pub fn parse_skills(list: &str) -> Vec<String> {
    list.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Creates an agent; returns it and its token (shown once, never stored).
pub async fn add(
    store: &dyn Store,
    new: NewAgent,
    now: i64,
) -> Result<(Agent, String), ManageError> {
    let name = new.name.trim().to_string();
    agent::validate(&name, &new.skills, new.max_chats)?;
    agent::validate_supervises(&new.supervises)?;
    let id = uuid::Uuid::now_v7().simple().to_string();
    let (token, token_hash) = hash_off_thread(id.clone()).await?;
    let agent = Agent {
        id,
        name,
        skills: new.skills,
        max_chats: new.max_chats,
        status: AgentStatus::Offline,
        disabled: false,
        supervises: new.supervises,
        created_at: now,
        updated_at: now,
        token_hash,
    };
    store.create_agent(&agent).await?;
    Ok((agent, token))
}

async fn hash_off_thread(id: String) -> Result<(String, String), ManageError> {
    // Argon2 is deliberately slow; keep it off the async workers.
    tokio::task::spawn_blocking(move || agent::issue_token(&id))
        .await
        .map_err(|e| ManageError::Invalid(AgentError::Hash(e.to_string())))?
        .map_err(ManageError::from)
}

pub async fn find(store: &dyn Store, name: &str) -> Result<Agent, ManageError> {
    store
        .agent_by_name(name.trim())
        .await?
        .ok_or_else(|| ManageError::NotFound(name.to_string()))
}

/// Applies a patch.
pub async fn update(
    store: &dyn Store,
    name: &str,
    patch: AgentPatch,
    now: i64,
) -> Result<Agent, ManageError> {
    let mut a = find(store, name).await?;
    if let Some(s) = patch.skills {
        a.skills = s;
    }
    if let Some(m) = patch.max_chats {
        a.max_chats = m;
    }
    if let Some(s) = patch.supervises {
        a.supervises = s;
    }
    if let Some(d) = patch.disabled {
        a.disabled = d;
        if d {
            a.status = AgentStatus::Offline;
        }
    }
    agent::validate_settings(&a.skills, a.max_chats)?;
    agent::validate_supervises(&a.supervises)?;
    a.updated_at = now;
    store.update_agent(&a).await?;
    Ok(a)
}

/// Replaces the agent's token: the old one stops working at once.
pub async fn rotate(
    store: &dyn Store,
    name: &str,
    now: i64,
) -> Result<(Agent, String), ManageError> {
    let mut a = find(store, name).await?;
    let (token, hash) = hash_off_thread(a.id.clone()).await?;
    a.token_hash = hash;
    a.updated_at = now;
    store.update_agent(&a).await?;
    Ok((a, token))
}
