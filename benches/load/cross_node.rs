//! Cross-node delivery latency, measured beside the load: a shopper's message posted to one
//! node until the agent's socket on another node shows it.
//!
//! Set up before the load starts: an agent of its own (capacity 1) online on node B, a
//! conversation opened on node A that asks for a person and that agent accepts. During the
//! run the shopper posts a numbered message to node A ten times a second; each latency is
//! from just before the POST to the moment the agent's socket on B receives that message.
//! A conversation held by an agent skips the bot, so this is the store commit plus the
//! hop through PostgreSQL's NOTIFY and the other node's read of the message.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Probe {
    shopper_node: String,
    conversation: String,
    token: String,
    agent_socket: Socket,
}

impl Probe {
    /// The agent on `agent_node`, the shopper on `shopper_node`; `None` (with a line on
    /// stderr) when a step fails.
    pub async fn set_up(
        client: &reqwest::Client,
        shopper_node: &str,
        agent_node: &str,
        admin_token: &str,
        skills: &[&str],
    ) -> Option<Probe> {
        let step = |what: &str| eprintln!("cross-node probe: {what} failed; not measured");
        let created: Value = client
            .post(format!("{agent_node}/v1/admin/agents"))
            .bearer_auth(admin_token)
            .json(&json!({"name": "probe-agent", "skills": skills, "max_chats": 1}))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let Some(agent) = created["token"].as_str().map(str::to_string) else {
            step("adding the agent");
            return None;
        };
        // One agent call: a POST of `body` (or none) to `path` on the agent's node.
        let agent_call = |path: String, body: Option<Value>| {
            let request = client
                .post(format!("{agent_node}{path}"))
                .bearer_auth(&agent);
            match body {
                Some(body) => request.json(&body),
                None => request,
            }
            .send()
        };
        agent_call("/v1/agent/status".into(), Some(json!({"status": "online"})))
            .await
            .ok()?;
        let ticket: Value = agent_call("/v1/agent/ws-ticket".into(), None)
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let url = format!(
            "{}/v1/agent/ws?ticket={}",
            agent_node.replacen("http", "ws", 1),
            ticket["ticket"].as_str()?
        );
        let (agent_socket, _) = tokio_tungstenite::connect_async(url).await.ok()?;

        let opened: Value = client
            .post(format!("{shopper_node}/v1/conversations"))
            .json(&json!({"locale": "zh", "channel": "probe"}))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let conversation = opened["conversation_id"].as_str()?.to_string();
        let token = opened["token"].as_str()?.to_string();
        client
            .post(format!(
                "{shopper_node}/v1/conversations/{conversation}/messages"
            ))
            .bearer_auth(&token)
            .json(&json!({"text": "转人工", "client_msg_id": "probe-ask"}))
            .send()
            .await
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let accepted = agent_call(
                format!("/v1/agent/conversations/{conversation}/accept"),
                None,
            )
            .await
            .is_ok_and(|r| r.status().is_success());
            if accepted {
                return Some(Probe {
                    shopper_node: shopper_node.to_string(),
                    conversation,
                    token,
                    agent_socket,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        step("accepting the conversation");
        None
    }

    /// Posts and times messages until `deadline`; the latencies in ms.
    pub async fn run(mut self, client: reqwest::Client, deadline: Instant) -> Vec<f64> {
        let mut latencies = Vec::new();
        let mut n = 0u64;
        while Instant::now() < deadline {
            n += 1;
            let text = format!("probe {n}");
            let started = Instant::now();
            let posted = client
                .post(format!(
                    "{}/v1/conversations/{}/messages",
                    self.shopper_node, self.conversation
                ))
                .bearer_auth(&self.token)
                .json(&json!({"text": text, "client_msg_id": format!("probe-{n}")}))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if posted && self.arrived(&text, Duration::from_secs(5)).await {
                latencies.push(started.elapsed().as_secs_f64() * 1e3);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        latencies
    }

    /// Whether the agent's socket shows a message with `text` within `limit`.
    async fn arrived(&mut self, text: &str, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout_at(until.into(), self.agent_socket.next()).await
        {
            if let WsMessage::Text(t) = frame
                && let Ok(v) = serde_json::from_str::<Value>(&t)
                && v["type"] == "message"
                && v["message"]["text"] == text
            {
                return true;
            }
        }
        false
    }
}
