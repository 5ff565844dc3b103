//! Real-time fan-out: what shoppers' and agents' WebSockets receive.
//!
//! Writers (the conversation service, the desk) publish an [`Event`] *after* the change it
//! describes is committed; each open socket holds a receiver of its conversation's channel
//! (shoppers) or of its agent's channel (agents). Channels are created when the first socket
//! subscribes and dropped once nobody listens, so idle conversations cost nothing here.
//!
//! Events are hints on top of the store, never the only copy: a socket that falls behind
//! (a lagged channel) or reconnects reads what it missed from the store by message `seq`, so
//! delivery is exactly once per message whatever happens to the connection.
//!
//! With several nodes on one database, a [`Relay`] installed once at start-up
//! ([`Hub::set_relay`]) also hands every event to the other nodes
//! ([`cluster`](crate::cluster)); what they send arrives through [`Hub::deliver`] as an
//! [`Event::Remote`], for the local sockets only.
//!
//! An agent's socket also holds a cancellation token for the credential it was opened with
//! (the stored token hash). When that credential stops being valid — the agent is disabled
//! or their token rotated — [`Hub::revoke_agent`] cancels it and the socket closes at once,
//! instead of carrying offers, transcripts and contact details to a revoked holder. An event
//! on the channel would not do: a lagging receiver may skip it.

use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::conversation::{Author, ConversationState, Message};
use crate::handoff::view::{AgentView, NoteLine};
use crate::handoff::{EscalationReason, Priority, Ticket};

/// An FAQ answer offered to an agent for a shopper's message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssistSuggestion {
    pub faq_id: String,
    pub question: String,
    pub answer: String,
    pub confidence: f32,
}

/// Everything pushed over a socket, as `{"type": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A stored message (shopper, bot, agent or system).
    Message {
        conversation_id: String,
        // Boxed: a message (with its card and turn record) is much larger than other events.
        message: Box<Message>,
    },
    /// Who holds the conversation now.
    State {
        conversation_id: String,
        state: ConversationState,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent_name: Option<String>,
    },
    /// The shopper's place in the queue, with a sentence in their language.
    Queue {
        conversation_id: String,
        position: u32,
        eta_seconds: Option<i64>,
        text: String,
    },
    Typing {
        conversation_id: String,
        from: Author,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Agents: a conversation offered to you; accept before `expires_at`.
    Offer {
        conversation_id: String,
        handoff_id: String,
        expires_at: i64,
        priority: Priority,
        reason: EscalationReason,
        skill: String,
        summary: String,
    },
    /// Agents: an offer lapsed, was declined or was taken elsewhere.
    OfferWithdrawn {
        conversation_id: String,
        handoff_id: String,
        reason: String,
    },
    /// Agents: a conversation is yours now, with its whole context.
    Assigned {
        conversation_id: String,
        view: Box<AgentView>,
    },
    /// Agents: a conversation left you (transfer, resolve, requeue).
    Unassigned {
        conversation_id: String,
        reason: String,
    },
    Note {
        conversation_id: String,
        note: NoteLine,
    },
    /// Agents: FAQ answers for the shopper's latest message.
    Assist {
        conversation_id: String,
        seq: i64,
        suggestions: Vec<AssistSuggestion>,
    },
    /// Agents: an SLA was breached (`wait` or `reply`).
    Sla {
        conversation_id: String,
        kind: String,
    },
    /// Agents: the queue of your groups changed; `queued` conversations wait.
    QueueChanged { queued: usize },
    /// Agents: a request left for your group (a message, an order change, a FAQ's task).
    Ticket { ticket: Ticket },
    /// Agents: a trigger rule or a word list asks your group to look at a conversation.
    Alert {
        conversation_id: String,
        /// The message that set it off (for a message a word list refused, the last one
        /// before it).
        seq: i64,
        /// The trigger rule's id, or `words:<list id>`.
        rule: String,
        label: String,
        skill: String,
    },
    /// Published on another node ([`Hub::deliver`]); never serialised as such.
    #[serde(skip)]
    Remote(Remote),
}

/// An event another node published, as the sockets here need it.
#[derive(Debug, Clone, PartialEq)]
pub enum Remote {
    /// A message was stored: sockets read it from the store after their cursor, masked for
    /// their reader as any catch-up is.
    Message { conversation_id: String, seq: i64 },
    /// Any other event, as the JSON text the publishing node would have sent.
    Event { json: Arc<str>, follow: Follow },
    /// Events from other nodes may have been missed (the link to the database dropped):
    /// sockets re-read what they show from the store.
    Resync,
}

/// What an agent socket tracks from a relayed event besides sending it on.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Follow {
    Nothing,
    /// The agent now holds the conversation, whose transcript they have up to `last_seq`.
    Assigned {
        conversation_id: String,
        last_seq: i64,
    },
    Unassigned {
        conversation_id: String,
    },
}

impl Follow {
    pub fn of(event: &Event) -> Follow {
        match event {
            Event::Assigned {
                conversation_id,
                view,
            } => Follow::Assigned {
                conversation_id: conversation_id.clone(),
                last_seq: view.last_seq,
            },
            Event::Unassigned {
                conversation_id, ..
            } => Follow::Unassigned {
                conversation_id: conversation_id.clone(),
            },
            _ => Follow::Nothing,
        }
    }
}

/// Who an event is for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Audience<'a> {
    /// The shopper's sockets of a conversation.
    Conversation(&'a str),
    /// One agent's sockets.
    Agent(&'a str),
}

/// Hands events published here to the other nodes.
pub trait Relay: Send + Sync {
    fn relay(&self, audience: Audience<'_>, event: &Event);
}

/// A receiver of events.
pub type Subscription = broadcast::Receiver<Arc<Event>>;

/// Cheap-to-clone handle to the channels.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    conversations: DashMap<String, broadcast::Sender<Arc<Event>>>,
    agents: DashMap<String, broadcast::Sender<Arc<Event>>>,
    /// Agent id → (credential, token its open sockets watch).
    credentials: DashMap<String, Vec<(String, CancellationToken)>>,
    capacity: usize,
    relay: OnceLock<Arc<dyn Relay>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(64)
    }
}

impl Hub {
    /// `capacity` events may wait per channel before a slow socket lags (and re-reads from
    /// the store).
    pub fn new(capacity: usize) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                conversations: DashMap::new(),
                agents: DashMap::new(),
                credentials: DashMap::new(),
                capacity: capacity.max(4),
                relay: OnceLock::new(),
            }),
        }
    }

    pub fn subscribe_conversation(&self, conversation_id: &str) -> Subscription {
        subscribe(
            &self.inner.conversations,
            conversation_id,
            self.inner.capacity,
        )
    }

    pub fn subscribe_agent(&self, agent_id: &str) -> Subscription {
        subscribe(&self.inner.agents, agent_id, self.inner.capacity)
    }

    /// To the shopper's sockets of this conversation, on every node.
    pub fn to_conversation(&self, conversation_id: &str, event: Event) {
        self.to(Audience::Conversation(conversation_id), event);
    }

    /// To one agent's sockets, on every node.
    pub fn to_agent(&self, agent_id: &str, event: Event) {
        self.to(Audience::Agent(agent_id), event);
    }

    fn to(&self, audience: Audience<'_>, event: Event) {
        if let Some(relay) = self.inner.relay.get() {
            relay.relay(audience, &event);
        }
        self.deliver(audience, event);
    }

    /// To the sockets on this node only: what another node published.
    pub fn deliver(&self, audience: Audience<'_>, event: Event) {
        match audience {
            Audience::Conversation(id) => publish(&self.inner.conversations, id, event),
            Audience::Agent(id) => publish(&self.inner.agents, id, event),
        }
    }

    /// Tells every socket on this node to re-read what it shows from the store.
    pub fn resync_all(&self) {
        let event = Arc::new(Event::Remote(Remote::Resync));
        for channel in self.inner.conversations.iter() {
            let _ = channel.send(event.clone());
        }
        for channel in self.inner.agents.iter() {
            let _ = channel.send(event.clone());
        }
    }

    /// Installs the link to the other nodes; only the first call has an effect.
    pub fn set_relay(&self, relay: Arc<dyn Relay>) {
        let _ = self.inner.relay.set(relay);
    }

    /// The token an agent socket opened with `credential` (the stored token hash it was
    /// authenticated against) watches; cancelled by [`Hub::revoke_agent`].
    pub fn agent_credential(&self, agent_id: &str, credential: &str) -> CancellationToken {
        let mut known = self
            .inner
            .credentials
            .entry(agent_id.to_string())
            .or_default();
        if let Some((_, token)) = known.iter().find(|(c, _)| c == credential) {
            return token.clone();
        }
        let token = CancellationToken::new();
        known.push((credential.to_string(), token.clone()));
        token
    }

    /// Closes the agent's sockets except those opened with `keep`, their credential that is
    /// still valid (`None`: close them all, the agent is disabled).
    pub fn revoke_agent(&self, agent_id: &str, keep: Option<&str>) {
        if let Some(mut known) = self.inner.credentials.get_mut(agent_id) {
            known.retain(|(credential, token)| {
                let valid = Some(credential.as_str()) == keep;
                if !valid {
                    token.cancel();
                }
                valid
            });
        }
    }

    /// Whether an event for this conversation could reach a socket: one is open here, or
    /// other nodes may have one (they are not asked). What nobody would receive need not be
    /// worded.
    pub fn may_reach_conversation(&self, conversation_id: &str) -> bool {
        self.inner.relay.get().is_some()
            || self
                .inner
                .conversations
                .get(conversation_id)
                .is_some_and(|s| s.receiver_count() > 0)
    }

    /// Whether any socket of this agent is open.
    pub fn agent_connected(&self, agent_id: &str) -> bool {
        self.inner
            .agents
            .get(agent_id)
            .is_some_and(|s| s.receiver_count() > 0)
    }

    /// Forgets channels nobody listens to.
    pub fn prune(&self) {
        self.inner
            .conversations
            .retain(|_, s| s.receiver_count() > 0);
        self.inner.agents.retain(|_, s| s.receiver_count() > 0);
        // An agent socket subscribes before it takes its token, so an agent without a
        // channel has no socket left to close.
        let agents = &self.inner.agents;
        self.inner
            .credentials
            .retain(|id, _| agents.contains_key(id));
    }

    /// Open channels (for tests and metrics).
    pub fn channels(&self) -> usize {
        self.inner.conversations.len() + self.inner.agents.len()
    }
}

fn subscribe(
    map: &DashMap<String, broadcast::Sender<Arc<Event>>>,
    key: &str,
    capacity: usize,
) -> Subscription {
    map.entry(key.to_string())
        .or_insert_with(|| broadcast::channel(capacity).0)
        .subscribe()
}

fn publish(map: &DashMap<String, broadcast::Sender<Arc<Event>>>, key: &str, event: Event) {
    let listened = match map.get(key) {
        Some(sender) => sender.send(Arc::new(event)).is_ok(),
        None => return,
    };
    if !listened {
        map.remove_if(key, |_, s| s.receiver_count() == 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typing(id: &str) -> Event {
        Event::Typing {
            conversation_id: id.into(),
            from: Author::Agent,
            name: Some("王芳".into()),
        }
    }

    #[test]
    fn a_conversation_is_reachable_while_a_socket_listens_here_or_other_nodes_may_have_one() {
        struct Elsewhere;
        impl Relay for Elsewhere {
            fn relay(&self, _: Audience<'_>, _: &Event) {}
        }
        let hub = Hub::new(8);
        assert!(!hub.may_reach_conversation("c1"));
        let socket = hub.subscribe_conversation("c1");
        assert!(hub.may_reach_conversation("c1"));
        assert!(!hub.may_reach_conversation("c2"));
        drop(socket);
        assert!(
            !hub.may_reach_conversation("c1"),
            "its channel is left, nobody listens"
        );
        hub.set_relay(Arc::new(Elsewhere));
        assert!(hub.may_reach_conversation("c2"));
    }

    #[tokio::test]
    async fn events_reach_subscribers_and_idle_channels_go_away() {
        let hub = Hub::new(8);
        hub.to_conversation("c1", typing("c1"));
        assert_eq!(hub.channels(), 0, "publishing to nobody creates nothing");
        let mut rx = hub.subscribe_conversation("c1");
        hub.to_conversation("c1", typing("c1"));
        assert_eq!(*rx.recv().await.unwrap(), typing("c1"));
        let json = serde_json::to_value(typing("c1")).unwrap();
        assert_eq!(json["type"], "typing");
        assert_eq!(json["from"], "agent");
        drop(rx);
        hub.to_conversation("c1", typing("c1"));
        assert_eq!(
            hub.channels(),
            0,
            "the last listener leaving frees the channel"
        );
        let _a = hub.subscribe_agent("a1");
        assert!(hub.agent_connected("a1"));
        assert!(!hub.agent_connected("a2"));
    }

    #[test]
    fn revoking_closes_old_credentials_only() {
        let hub = Hub::new(8);
        let _rx = hub.subscribe_agent("a1");
        let old = hub.agent_credential("a1", "hash-1");
        assert!(!hub.agent_credential("a1", "hash-1").is_cancelled());
        hub.revoke_agent("a1", Some("hash-1"));
        assert!(!old.is_cancelled(), "the valid credential stays");
        let new = hub.agent_credential("a1", "hash-2");
        hub.revoke_agent("a1", Some("hash-2"));
        assert!(old.is_cancelled(), "a rotated token's sockets close");
        assert!(!new.is_cancelled());
        hub.revoke_agent("a1", None);
        assert!(new.is_cancelled(), "a disabled agent's sockets all close");
        hub.revoke_agent("nobody", None);
    }
}
