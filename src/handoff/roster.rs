//! Who is on duty right now: the agents' records (refreshed from the store) and their
//! presence — open sockets and the last sign of life (a request, a heartbeat).
//!
//! An agent's stored status is what they chose (online, away, offline); whether they can be
//! reached is presence. An agent with no socket and no sign of life for the grace period is
//! treated as offline, and the dispatcher then moves their conversations back to the queue.
//! After a restart every agent starts with a fresh grace period, so a quick restart strands
//! nobody and takes nothing away from anyone.
//!
//! With several nodes, an agent's socket may be open on another one: each node shares its
//! own presence through the database and learns the others' ([`Roster::local_presence`],
//! [`Roster::set_elsewhere`]); an agent is reachable if any node saw them within the grace
//! period.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use dashmap::DashMap;

use crate::handoff::agent::{Agent, AgentStatus};

#[derive(Debug, Clone, Copy)]
struct Presence {
    sockets: u32,
    last_seen: i64,
}

/// Agents and their presence. Shared by the desk and the conversation service.
pub struct Roster {
    agents: ArcSwap<Vec<Agent>>,
    presence: DashMap<String, Presence>,
    /// Agent id → when another node last saw them.
    elsewhere: ArcSwap<HashMap<String, i64>>,
    grace_ms: i64,
    started_at: i64,
}

impl Roster {
    pub fn new(grace_ms: i64, started_at: i64) -> Roster {
        Roster {
            agents: ArcSwap::from_pointee(Vec::new()),
            presence: DashMap::new(),
            elsewhere: ArcSwap::from_pointee(HashMap::new()),
            grace_ms,
            started_at,
        }
    }

    /// Replaces the agents' records (after a change, and on every dispatcher pass).
    pub fn set_agents(&self, agents: Vec<Agent>) {
        self.agents.store(Arc::new(agents));
    }

    pub fn agents(&self) -> Arc<Vec<Agent>> {
        self.agents.load_full()
    }

    pub fn agent(&self, id: &str) -> Option<Agent> {
        self.agents.load().iter().find(|a| a.id == id).cloned()
    }

    /// A request or heartbeat from the agent.
    pub fn touch(&self, agent_id: &str, now: i64) {
        self.presence
            .entry(agent_id.to_string())
            .and_modify(|p| p.last_seen = p.last_seen.max(now))
            .or_insert(Presence {
                sockets: 0,
                last_seen: now,
            });
    }

    pub fn socket_opened(&self, agent_id: &str, now: i64) {
        let mut p = self
            .presence
            .entry(agent_id.to_string())
            .or_insert(Presence {
                sockets: 0,
                last_seen: now,
            });
        p.sockets += 1;
        p.last_seen = p.last_seen.max(now);
    }

    pub fn socket_closed(&self, agent_id: &str, now: i64) {
        if let Some(mut p) = self.presence.get_mut(agent_id) {
            p.sockets = p.sockets.saturating_sub(1);
            p.last_seen = p.last_seen.max(now);
        }
    }

    /// Whether the agent has a socket open or showed a sign of life within the grace period,
    /// here or on another node.
    pub fn reachable(&self, agent_id: &str, now: i64) -> bool {
        let p = self.presence.get(agent_id).map(|p| *p).unwrap_or(Presence {
            sockets: 0,
            last_seen: self.started_at,
        });
        p.sockets > 0
            || now - p.last_seen <= self.grace_ms
            || self
                .elsewhere
                .load()
                .get(agent_id)
                .is_some_and(|seen| now - seen <= self.grace_ms)
    }

    /// When this node last saw each agent it has seen (now, for an open socket).
    pub fn local_presence(&self, now: i64) -> Vec<(String, i64)> {
        self.presence
            .iter()
            .map(|p| {
                let seen = if p.sockets > 0 { now } else { p.last_seen };
                (p.key().clone(), seen)
            })
            .collect()
    }

    /// When other nodes last saw each agent.
    pub fn set_elsewhere(&self, seen: HashMap<String, i64>) {
        self.elsewhere.store(Arc::new(seen));
    }

    /// What the agent is, for routing: their chosen status if they can be reached.
    pub fn effective(&self, agent: &Agent, now: i64) -> AgentStatus {
        if agent.disabled || !self.reachable(&agent.id, now) {
            AgentStatus::Offline
        } else {
            agent.status
        }
    }

    /// Whether an agent of one of `groups` is on duty (online or away).
    pub fn on_duty(&self, groups: &[&str], now: i64) -> bool {
        self.agents.load().iter().any(|a| {
            groups.iter().any(|g| a.serves(g))
                && matches!(
                    self.effective(a, now),
                    AgentStatus::Online | AgentStatus::Away
                )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, status: AgentStatus) -> Agent {
        Agent {
            id: id.into(),
            name: id.into(),
            skills: vec!["orders".into()],
            max_chats: 2,
            status,
            disabled: false,
            supervises: vec![],
            created_at: 0,
            updated_at: 0,
            token_hash: String::new(),
        }
    }

    #[test]
    fn presence_lapses_after_the_grace_period_unless_a_socket_is_open() {
        let r = Roster::new(60_000, 0);
        r.set_agents(vec![agent("a", AgentStatus::Online)]);
        let a = r.agent("a").unwrap();
        assert_eq!(
            r.effective(&a, 59_000),
            AgentStatus::Online,
            "grace after start"
        );
        assert_eq!(r.effective(&a, 61_000), AgentStatus::Offline);
        r.socket_opened("a", 61_000);
        assert_eq!(r.effective(&a, 500_000), AgentStatus::Online);
        r.socket_closed("a", 500_000);
        assert_eq!(
            r.effective(&a, 550_000),
            AgentStatus::Online,
            "grace to reconnect"
        );
        assert_eq!(r.effective(&a, 560_001), AgentStatus::Offline);
        r.touch("a", 600_000);
        assert!(r.on_duty(&["orders"], 600_000));
        assert!(!r.on_duty(&["billing"], 600_000));
    }

    #[test]
    fn an_agent_seen_on_another_node_is_reachable_for_the_grace_period() {
        let r = Roster::new(60_000, 0);
        r.set_agents(vec![agent("a", AgentStatus::Online)]);
        let a = r.agent("a").unwrap();
        assert_eq!(r.effective(&a, 100_000), AgentStatus::Offline);
        r.set_elsewhere(HashMap::from([("a".to_string(), 90_000)]));
        assert_eq!(r.effective(&a, 100_000), AgentStatus::Online);
        assert_eq!(r.effective(&a, 150_001), AgentStatus::Offline);
        r.socket_opened("a", 150_001);
        assert_eq!(r.local_presence(200_000), vec![("a".to_string(), 200_000)]);
    }
}
