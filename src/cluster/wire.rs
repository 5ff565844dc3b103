//! What nodes say to each other over `NOTIFY`: one JSON [`Frame`] per event, numbered per
//! sending node so a receiver can tell when it missed some.
//!
//! Messages travel as pointers (conversation and `seq`): the receiving node's sockets read
//! them from the store, masked for their reader like any catch-up, so a message's text never
//! rides in a notification. Every other event travels as the JSON its socket would have
//! received; one too large for a notification (PostgreSQL's limit is 8,000 bytes) is stored
//! in `cluster_events` and the frame carries its id ([`Body::Stored`]).

use serde::{Deserialize, Serialize};

use crate::realtime::{Audience, Event, Follow, Remote};

/// The `LISTEN`/`NOTIFY` channel of a shop's nodes (notifications stay within a database).
pub const CHANNEL: &str = "baton_events";

/// Frames longer than this store their event in `cluster_events` instead.
pub const MAX_INLINE_BYTES: usize = 7_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// The sending node.
    pub node: String,
    /// 1, 2, 3 … per sending node: a gap means notifications were lost.
    pub seq: u64,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// Wake the node that runs the desk: a conversation joined the queue, an agent freed up.
    Poke,
    /// A message was stored.
    Message {
        to: To,
        conversation_id: String,
        seq: i64,
    },
    /// Any other event, as JSON.
    Event {
        to: To,
        json: String,
        follow: Follow,
    },
    /// An event too large to send inline: `cluster_events.payload` of `id` holds its
    /// [`Body::Event`].
    Stored { to: To, id: String },
}

/// Who a relayed event is for: [`Audience`] with owned ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum To {
    Conversation(String),
    Agent(String),
}

impl To {
    pub fn audience(&self) -> Audience<'_> {
        match self {
            To::Conversation(id) => Audience::Conversation(id),
            To::Agent(id) => Audience::Agent(id),
        }
    }
}

impl From<Audience<'_>> for To {
    fn from(a: Audience<'_>) -> To {
        match a {
            Audience::Conversation(id) => To::Conversation(id.to_string()),
            Audience::Agent(id) => To::Agent(id.to_string()),
        }
    }
}

/// The body that relays `event` to `audience` on the other nodes; `None` for what is not
/// relayed (an event that came from another node).
pub fn body_for(audience: Audience<'_>, event: &Event) -> Option<Body> {
    let to = To::from(audience);
    match event {
        Event::Remote(_) => None,
        Event::Message {
            conversation_id,
            message,
        } => Some(Body::Message {
            to,
            conversation_id: conversation_id.clone(),
            seq: message.seq,
        }),
        other => serde_json::to_string(other).ok().map(|json| Body::Event {
            to,
            json,
            follow: Follow::of(other),
        }),
    }
}

/// What the local sockets receive for a relayed body; `None` for a poke or a stored body
/// (resolved by the caller first).
pub fn delivery(body: Body) -> Option<(To, Event)> {
    match body {
        Body::Message {
            to,
            conversation_id,
            seq,
        } => Some((
            to,
            Event::Remote(Remote::Message {
                conversation_id,
                seq,
            }),
        )),
        Body::Event { to, json, follow } => Some((
            to,
            Event::Remote(Remote::Event {
                json: json.into(),
                follow,
            }),
        )),
        Body::Poke | Body::Stored { .. } => None,
    }
}

/// Tracks each sending node's last frame number and tells when one was skipped.
#[derive(Debug, Default)]
pub struct Sequence {
    last: std::collections::HashMap<String, u64>,
}

impl Sequence {
    /// Records `frame`; `true` when frames of its node were missed since the last one.
    pub fn missed_before(&mut self, node: &str, seq: u64) -> bool {
        match self.last.insert(node.to_string(), seq) {
            Some(last) => seq != last + 1,
            None => false,
        }
    }

    /// Forgets every node (after a reconnect, when everything is re-read anyway).
    pub fn reset(&mut self) {
        self.last.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{Author, ConversationState, Message};

    #[test]
    fn a_message_travels_as_a_pointer_without_its_text() {
        let message = Message {
            seq: 7,
            author: Author::Shopper,
            text: "my address is 1 Secret Road".into(),
            client_msg_id: Some("m-1".into()),
            reply_to: None,
            created_at: 0,
            meta: None,
            turn: None,
        };
        let event = Event::Message {
            conversation_id: "c1".into(),
            message: Box::new(message),
        };
        let body = body_for(Audience::Conversation("c1"), &event).unwrap();
        let text = serde_json::to_string(&body).unwrap();
        assert!(!text.contains("Secret"), "{text}");
        let (to, delivered) = delivery(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(to, To::Conversation("c1".into()));
        assert_eq!(
            delivered,
            Event::Remote(Remote::Message {
                conversation_id: "c1".into(),
                seq: 7
            })
        );
    }

    #[test]
    fn other_events_travel_as_the_json_a_socket_receives() {
        let event = Event::State {
            conversation_id: "c1".into(),
            state: ConversationState::Queued,
            agent_name: None,
        };
        let body = body_for(Audience::Agent("a1"), &event).unwrap();
        let Some((to, Event::Remote(Remote::Event { json, follow }))) = delivery(body) else {
            panic!("an event body");
        };
        assert_eq!(to, To::Agent("a1".into()));
        assert_eq!(&*json, serde_json::to_string(&event).unwrap());
        assert_eq!(follow, Follow::Nothing);
        let relayed = Event::Remote(Remote::Resync);
        assert_eq!(body_for(Audience::Agent("a1"), &relayed), None);
    }

    #[test]
    fn a_skipped_frame_number_is_noticed_per_node() {
        let mut seen = Sequence::default();
        assert!(!seen.missed_before("a", 5), "first frame of a node");
        assert!(!seen.missed_before("a", 6));
        assert!(!seen.missed_before("b", 1));
        assert!(seen.missed_before("a", 8));
        seen.reset();
        assert!(!seen.missed_before("a", 20));
    }
}
