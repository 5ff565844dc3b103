//! Agents: who they are, which skill groups they serve, how many chats they take at once, and
//! their tokens.
//!
//! A token is `<agent id>.<secret>`: the id finds the agent's record, the secret is checked
//! against an argon2id hash (the token itself is never stored, and is shown once, when it is
//! issued). Verifying argon2 is deliberately slow and takes [`ARGON2_M_COST_KIB`] of memory,
//! so [`crate::desk`] bounds how many checks run at once and remembers which tokens it has
//! verified (or refused) against which stored hash; rotating a token changes the hash and
//! with it invalidates every remembered verdict.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// What an agent says about themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Takes new conversations.
    Online,
    /// On duty but takes no new conversations (a break, a meeting).
    Away,
    Offline,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Away => "away",
            AgentStatus::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<AgentStatus> {
        [AgentStatus::Online, AgentStatus::Away, AgentStatus::Offline]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A stored agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub skills: Vec<String>,
    pub max_chats: u32,
    /// What the agent last chose (presence decides whether they are actually reachable).
    pub status: AgentStatus,
    pub disabled: bool,
    /// The skill groups this agent supervises: they see every conversation of these groups
    /// live, read without the agent noticing, whisper, take over and reassign, and are told
    /// of missed SLAs and word-list alerts. Empty for an agent who supervises none.
    pub supervises: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(skip)]
    pub token_hash: String,
}

impl Agent {
    pub fn serves(&self, skill: &str) -> bool {
        self.skills.iter().any(|s| s == skill)
    }

    pub fn supervises(&self, skill: &str) -> bool {
        self.supervises.iter().any(|s| s == skill)
    }

    pub fn is_supervisor(&self) -> bool {
        !self.supervises.is_empty()
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AgentError {
    #[error(
        "name must be 1–64 letters (any script, e.g. 王芳), digits, '-', '_' or '.', without '..'"
    )]
    Name,
    #[error("skills must be 1–20 names of 1–64 letters, digits, '_' or '-'")]
    Skills,
    #[error("max_chats must be 1–50")]
    MaxChats,
    #[error("supervises must be at most 20 skill group names of 1–64 letters, digits, '_' or '-'")]
    Supervises,
    #[error("cannot hash the token: {0}")]
    Hash(String),
}

/// Whether `s` can name a skill group: 1–64 ASCII letters, digits, `_` or `-`.
pub fn is_skill_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `name` can name an agent: 1–64 letters of any script (CJK included), digits,
/// `-`, `_` or `.`, without `..`. Names travel in URL paths (`/v1/admin/agents/{name}`), log
/// lines and the console, so separators, dot segments, spaces and control or formatting
/// characters are kept out.
pub fn is_agent_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 64
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks what an admin gives for a new agent.
pub fn validate(name: &str, skills: &[String], max_chats: u32) -> Result<(), AgentError> {
    if !is_agent_name(name) {
        return Err(AgentError::Name);
    }
    validate_settings(skills, max_chats)
}

/// Checks an agent's skills and capacity (also for agents whose names predate the rules on
/// names: they must stay manageable, e.g. to be disabled).
pub fn validate_settings(skills: &[String], max_chats: u32) -> Result<(), AgentError> {
    if skills.is_empty() || skills.len() > 20 || !skills.iter().all(|s| is_skill_name(s)) {
        return Err(AgentError::Skills);
    }
    if !(1..=50).contains(&max_chats) {
        return Err(AgentError::MaxChats);
    }
    Ok(())
}

/// Checks the groups an agent supervises: none is fine (an agent who supervises nothing).
pub fn validate_supervises(groups: &[String]) -> Result<(), AgentError> {
    if groups.len() > 20 || !groups.iter().all(|s| is_skill_name(s)) {
        return Err(AgentError::Supervises);
    }
    Ok(())
}

/// Memory one argon2 hash or check of a new token takes, in KiB (19 MiB: OWASP's argon2id
/// minimum, and the `argon2` crate's default, pinned so a crate upgrade cannot change it
/// unnoticed). A check reads its parameters from the stored hash, so tokens issued before a
/// change keep their cost until rotated.
pub const ARGON2_M_COST_KIB: u32 = 19 * 1024;
/// Passes over that memory.
const ARGON2_T_COST: u32 = 2;
/// The most memory a stored hash may make a check take, in KiB: a damaged or hostile row
/// must not be able to exhaust memory.
const MAX_M_COST_KIB: u32 = 256 * 1024;

/// Argon2's working memory, reused from one check to the next. Allocating it afresh for
/// every check let the allocator keep several 19 MiB copies per thread that ever ran one.
pub type Argon2Memory = Vec<Block>;

fn argon2() -> Result<Argon2<'static>, AgentError> {
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, 1, None)
        .map_err(|e| AgentError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A fresh token for `agent_id` and the hash to store.
pub fn issue_token(agent_id: &str) -> Result<(String, String), AgentError> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = format!(
        "{agent_id}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AgentError::Hash(e.to_string()))?;
    let hash = argon2()?
        .hash_password(token.as_bytes(), &salt)
        .map_err(|e| AgentError::Hash(e.to_string()))?
        .to_string();
    Ok((token, hash))
}

/// The agent id a token claims to belong to.
pub fn token_agent_id(token: &str) -> Option<&str> {
    let (id, secret) = token.split_once('.')?;
    (!id.is_empty() && !secret.is_empty() && id.len() <= 64).then_some(id)
}

/// Whether `token` matches the stored argon2 hash (slow by design: ~10–50 ms).
pub fn verify_token(token: &str, stored_hash: &str) -> bool {
    verify_token_with(token, stored_hash, &mut Vec::new())
}

/// [`verify_token`] in `memory`, which grows to the hash's `m_cost` once and is kept.
pub fn verify_token_with(token: &str, stored_hash: &str, memory: &mut Argon2Memory) -> bool {
    let mut check = || -> Option<bool> {
        let hash = PasswordHash::new(stored_hash).ok()?;
        let (salt, expected) = (hash.salt?, hash.hash?);
        let params = Params::try_from(&hash).ok()?;
        if params.m_cost() > MAX_M_COST_KIB {
            tracing::warn!(
                m_cost = params.m_cost(),
                "stored token hash asks for too much memory"
            );
            return None;
        }
        let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let mut salt_bytes = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_bytes).ok()?;
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let mut out = vec![0u8; expected.len()];
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(token.as_bytes(), salt, &mut out, &mut memory[..blocks])
            .ok()?;
        Some(out.ct_eq(expected.as_bytes()).into())
    };
    check().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_against_their_hash_only() {
        let (token, hash) = issue_token("a1").unwrap();
        assert_eq!(token_agent_id(&token), Some("a1"));
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains(token.split_once('.').unwrap().1));
        assert!(verify_token(&token, &hash));
        let (other, _) = issue_token("a1").unwrap();
        assert!(!verify_token(&other, &hash));
        assert!(!verify_token(&token, "not a hash"));
        assert_eq!(token_agent_id("nodot"), None);
        assert_eq!(token_agent_id(".x"), None);
    }

    #[test]
    fn reused_memory_gives_the_same_verdicts_as_the_library() {
        use argon2::PasswordVerifier;
        let (token, hash) = issue_token("a2").unwrap();
        let (other, _) = issue_token("a2").unwrap();
        let mut memory = Argon2Memory::new();
        for _ in 0..2 {
            assert!(verify_token_with(&token, &hash, &mut memory));
            assert!(!verify_token_with(&other, &hash, &mut memory));
        }
        assert_eq!(
            memory.len(),
            ARGON2_M_COST_KIB as usize,
            "one 1 KiB block per KiB"
        );
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(token.as_bytes(), &parsed)
                .is_ok()
        );
        // A hash made elsewhere with other parameters still verifies.
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let light = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"a2.secret", &salt)
        .unwrap()
        .to_string();
        assert!(verify_token_with("a2.secret", &light, &mut memory));
        assert!(!verify_token_with("a2.wrong", &light, &mut memory));
    }

    #[test]
    fn validation_names_the_problem() {
        let skills = vec!["orders".to_string()];
        assert_eq!(validate("王芳", &skills, 3), Ok(()));
        assert_eq!(validate(" ", &skills, 3), Err(AgentError::Name));
        assert_eq!(validate("a", &[], 3), Err(AgentError::Skills));
        assert_eq!(
            validate("a", &["has space".to_string()], 3),
            Err(AgentError::Skills)
        );
        assert_eq!(validate("a", &skills, 0), Err(AgentError::MaxChats));
    }

    #[test]
    fn names_are_safe_in_paths_and_logs() {
        for ok in ["王芳", "agent-a", "li.ming", "Ana_2", "早班", "Zoë"] {
            assert!(is_agent_name(ok), "{ok}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "a/b",
            "../admin",
            "..",
            "a..b",
            "a b",
            "a\\b",
            "a%2F",
            "a\u{202e}b",
            "a\nb",
            long.as_str(),
        ] {
            assert!(!is_agent_name(bad), "{bad:?}");
        }
    }
}
