//! Spawning the real server for a test: the same `Application::build` + `run_until` as
//! `baton serve`, on port 0, with its own data directory, the repository's `kb/` and
//! `intents/`, a model cache shared by all tests (so the classifier trains once), and a
//! manual clock: time only moves when a test says so (`app.advance(…)`), which makes SLA,
//! offer and business-hours tests exact without sleeping.

use std::path::{Path, PathBuf};
use std::time::Duration;

use baton::clock::Clock;
use baton::config::Config;
use baton::desk::Desk;
use baton::server::Application;
use baton::service::ConversationService;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Wednesday 2026-11-11 10:00 in Shanghai: inside the default business hours.
pub const OFFICE_HOURS: &str = "2026-11-11T02:00:00Z";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub service: ConversationService,
    pub desk: Desk,
    pub clock: Clock,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    // Dropped last: removes the data directory when the test ends.
    _temp: Option<tempfile::TempDir>,
}

/// Every skill group of the sample intents: an agent with these can take anything.
pub const ALL_SKILLS: &[&str] = &[
    "general",
    "orders",
    "after_sales",
    "billing",
    "shipping",
    "account",
    "complaints",
];

/// The admin token of [`editable_app`] servers.
pub const ADMIN_TOKEN: &str = "test-admin-token-editable-0123456789";

/// A server on copies of `kb/` and `intents/` that the test may edit, with the admin API on.
/// The temp dir holds `content/kb`, `content/intents` and `data`.
pub async fn editable_app(watch: bool) -> (TestApp, tempfile::TempDir) {
    editable_app_with(watch, |_| {}).await
}

/// [`editable_app`] with configuration changes.
pub async fn editable_app_with(
    watch: bool,
    change: impl FnOnce(&mut Config),
) -> (TestApp, tempfile::TempDir) {
    let temp = tempfile::tempdir().expect("temp dir");
    let content = temp.path().join("content");
    copy_dir(&repo().join("kb"), &content.join("kb"));
    copy_dir(&repo().join("intents"), &content.join("intents"));
    let mut config = test_config(&temp.path().join("data"));
    config.kb = content.join("kb");
    config.intents = content.join("intents");
    config.admin_token = Some(ADMIN_TOKEN.into());
    config.reload.watch = watch;
    config.reload.poll_ms = 100;
    change(&mut config);
    (spawn_app_with(config).await, temp)
}

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("readable tree");
        let target = to.join(entry.path().strip_prefix(from).expect("inside the tree"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("create dir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        kb: repo().join("kb"),
        intents: repo().join("intents"),
        models: repo().join("models"),
        ..Config::default()
    };
    config.nlu.cache_dir = Some(repo().join("target").join("test-model-cache"));
    // Tests do not need fsync per commit; durability across a clean restart is unaffected.
    config.store.synchronous = baton::config::Synchronous::Normal;
    config.identity.secret = Some(baton::config::Secret::new(IDENTITY_SECRET));
    if crate::database::on_postgres() {
        config.database_url = Some(baton::config::Secret::new(crate::database::database_for(
            data_dir,
        )));
    }
    config
}

/// The shop's identity secret of test servers (`identity.secret`).
pub const IDENTITY_SECRET: &str = "test-identity-secret-0123456789abcdef";

/// A customer token as the shop's server signs it, with `identity.secret` of test servers.
pub fn customer_token(payload: Value) -> String {
    baton::identity::sign(payload.to_string().as_bytes(), IDENTITY_SECRET.as_bytes())
}

impl TestApp {
    /// Unix seconds on the test server's clock (for a token's `exp`).
    pub fn now_secs(&self) -> i64 {
        self.clock.now_ms() / 1000
    }

    /// A token for a customer, valid for an hour on the server's clock.
    pub fn signed(&self, customer: Value) -> String {
        let mut payload = customer;
        payload["exp"] = json!(self.now_secs() + 3600);
        customer_token(payload)
    }
}

/// A server with a fresh data directory.
pub async fn spawn_app() -> TestApp {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut app = spawn_app_with(test_config(temp.path())).await;
    app._temp = Some(temp);
    app
}

/// Turns every rate limit off: for tests about something else that call faster, or from
/// one address more often, than a shopper would.
pub fn without_rate_limits(config: &mut Config) {
    config.limits = config.limits.clone().without_rates();
}

pub fn clock_at(instant: &str) -> Clock {
    let t: jiff::Timestamp = instant.parse().expect("an RFC 3339 instant");
    Clock::manual(t.as_millisecond())
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    spawn_app_at(config, clock_at(OFFICE_HOURS)).await
}

pub async fn spawn_app_at(config: Config, clock: Clock) -> TestApp {
    let data_dir = config.data_dir.clone();
    let app = Application::build_with_clock(config, clock.clone())
        .await
        .expect("application starts");
    let base = format!("http://{}", app.local_addr());
    let service = app.service().clone();
    let desk = app.desk().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::new(),
        service,
        desk,
        clock,
        data_dir,
        shutdown: Some(tx),
        handle: Some(handle),
        _temp: None,
    }
}

impl TestApp {
    /// Stops the server and waits until it has closed the database; keeps the data dir.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task").expect("server ran");
        }
        self._temp.take()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `/metrics` as the admin reads it (the app must have been started with [`ADMIN_TOKEN`]).
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(self.url("/metrics"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.text().await.unwrap()
    }

    /// Moves the clock and runs one dispatcher pass at the new time.
    pub async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.tick().await;
    }

    /// One dispatcher pass now (offers, timeouts, SLAs, queue positions).
    /// The conversation's open handoff (asserting there is one).
    pub async fn open_handoff(&self, id: &str) -> baton::handoff::Handoff {
        self.service
            .store()
            .open_handoff(id)
            .await
            .expect("store")
            .expect("an open handoff")
    }

    pub async fn tick(&self) {
        self.desk.tick().await.expect("dispatcher pass");
    }

    /// A GET with [`ADMIN_TOKEN`] of something that is not JSON (CSV, the Prometheus text):
    /// status, content type and body.
    pub async fn admin_text(&self, path: &str) -> (u16, String, String) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let kind = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, kind, r.text().await.unwrap_or_default())
    }

    /// An admin API call with [`ADMIN_TOKEN`]: status and JSON body (`null` when empty).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn add_agent(&self, name: &str, skills: &[&str], max_chats: u32) -> Agent {
        self.add_supervisor(name, skills, max_chats, &[]).await
    }

    /// Adds an agent who supervises `groups` (none: a plain agent); returns (name, token).
    pub async fn add_supervisor(
        &self,
        name: &str,
        skills: &[&str],
        max_chats: u32,
        groups: &[&str],
    ) -> Agent {
        let new = baton::desk::agents::NewAgent {
            name: name.into(),
            skills: skills.iter().map(|s| s.to_string()).collect(),
            max_chats,
            supervises: groups.iter().map(|s| s.to_string()).collect(),
        };
        let (agent, token) =
            baton::desk::agents::add(self.service.store().as_ref(), new, self.clock.now_ms())
                .await
                .unwrap();
        self.desk.refresh_agents().await.unwrap();
        Agent {
            id: agent.id,
            name: name.into(),
            token,
        }
    }

    /// An agent API call; returns (status, JSON body or Null).
    pub async fn agent_call(
        &self,
        agent: &Agent,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&agent.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn agent_post(&self, agent: &Agent, path: &str, body: Value) -> (u16, Value) {
        self.agent_call(agent, reqwest::Method::POST, path, Some(body))
            .await
    }

    pub async fn agent_get(&self, agent: &Agent, path: &str) -> (u16, Value) {
        self.agent_call(agent, reqwest::Method::GET, path, None)
            .await
    }

    /// A conversation started with `create` (the body of `POST /v1/conversations`) whose
    /// shopper asked about a refund and then for a person, taken by `agent`: the id and the
    /// shopper's token.
    pub async fn handed_to(&self, agent: &Agent, create: Value) -> (String, String) {
        let (id, token) = self.create(create).await;
        self.say(&id, &token, "我的订单MM202611110001退款多久到账？")
            .await;
        let out = self.say(&id, &token, "转人工").await;
        assert_eq!(out["state"], "queued", "{out:#}");
        let (s, b) = self
            .agent_post(
                agent,
                &format!("/v1/agent/conversations/{id}/accept"),
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        (id, token)
    }

    /// Sets the agent online (asserting success).
    pub async fn online(&self, agent: &Agent) {
        let (s, b) = self
            .agent_post(agent, "/v1/agent/status", json!({"status": "online"}))
            .await;
        assert_eq!(s, 200, "{b}");
    }

    /// The conversation ids offered to the agent now.
    pub async fn offers(&self, agent: &Agent) -> Vec<String> {
        let (s, q) = self.agent_get(agent, "/v1/agent/queue").await;
        assert_eq!(s, 200, "{q}");
        q["offered"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["conversation_id"].as_str().unwrap().to_string())
            .collect()
    }

    /// A one-time socket ticket for the conversation (asserting success).
    pub async fn shopper_ticket(&self, id: &str, token: &str) -> String {
        let r = self
            .client
            .post(self.url(&format!("/v1/conversations/{id}/ws-ticket")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "ticket: {}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        v["ticket"].as_str().unwrap().to_string()
    }

    /// A one-time socket ticket for the agent (asserting success).
    pub async fn agent_ticket(&self, agent: &Agent) -> String {
        let (s, v) = self
            .agent_call(agent, reqwest::Method::POST, "/v1/agent/ws-ticket", None)
            .await;
        assert_eq!(s, 201, "ticket: {v}");
        v["ticket"].as_str().unwrap().to_string()
    }

    /// Opens the shopper's socket as the widget does: a ticket first, then `?ticket=`.
    pub async fn shopper_ws(&self, id: &str, token: &str, after: i64) -> Socket {
        let ticket = self.shopper_ticket(id, token).await;
        self.ws(&format!(
            "/v1/conversations/{id}/ws?after={after}&ticket={ticket}"
        ))
        .await
    }

    /// Opens the agent's socket as the console does.
    pub async fn agent_ws(&self, agent: &Agent) -> Socket {
        let ticket = self.agent_ticket(agent).await;
        self.ws(&format!("/v1/agent/ws?ticket={ticket}")).await
    }

    /// Opens a WebSocket at `path` (which carries its `?ticket=`).
    pub async fn ws(&self, path: &str) -> Socket {
        Socket::connect(&self.base, path).await
    }

    /// Creates a conversation; returns (id, token).
    pub async fn create(&self, body: Value) -> (String, String) {
        let r = self
            .client
            .post(self.url("/v1/conversations"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "create: {}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        (
            v["conversation_id"].as_str().unwrap().into(),
            v["token"].as_str().unwrap().into(),
        )
    }

    pub async fn send_raw(
        &self,
        id: &str,
        token: &str,
        text: &str,
        client_msg_id: &str,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/v1/conversations/{id}/messages")))
            .bearer_auth(token)
            .json(&json!({ "text": text, "client_msg_id": client_msg_id }))
            .send()
            .await
            .unwrap()
    }

    /// The shopper rates the conversation `score` (1–5); the rating must be taken.
    pub async fn rate(&self, id: &str, token: &str, score: u8) {
        let r = self
            .client
            .post(self.url(&format!("/v1/conversations/{id}/rating")))
            .bearer_auth(token)
            .json(&json!({ "score": score }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    /// Sends a message and returns the JSON outcome (asserting success).
    pub async fn say(&self, id: &str, token: &str, text: &str) -> Value {
        let cmid = uuid::Uuid::new_v4().to_string();
        let r = self.send_raw(id, token, text, &cmid).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(status.is_success(), "{status}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub async fn messages(&self, id: &str, token: &str, after: i64) -> Value {
        let r = self
            .client
            .get(self.url(&format!("/v1/conversations/{id}/messages?after={after}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

/// The FAQ id the first reply answered with, if any.
pub fn answered_faq(outcome: &Value) -> Option<String> {
    outcome["replies"]
        .as_array()?
        .iter()
        .find_map(|r| r["meta"]["faq_id"].as_str().map(String::from))
}

/// An agent a test created.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub token: String,
}

/// A WebSocket client that reads JSON events.
pub struct Socket {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Socket {
    /// Opens a WebSocket at `path` (which carries its `?ticket=`) of the server at `base`.
    pub async fn connect(base: &str, path: &str) -> Socket {
        let url = format!("{}{}", base.replacen("http", "ws", 1), path);
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Socket { stream }
    }

    /// The next JSON event, or `None` when the socket closed or nothing came within 5 s.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.stream.next())
                .await
                .ok()??;
            match frame.ok()? {
                WsMessage::Text(t) => return serde_json::from_str(&t).ok(),
                WsMessage::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Reads events until one matches; panics after 5 s without one.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut seen = Vec::new();
        loop {
            match self.next().await {
                Some(v) if pred(&v) => return v,
                Some(v) => seen.push(v),
                None => panic!("no {what} event; saw {seen:#?}"),
            }
        }
    }

    /// Every event that arrives within `quiet` of the previous one.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(quiet, self.stream.next()).await {
            if let WsMessage::Text(t) = frame
                && let Ok(v) = serde_json::from_str(&t)
            {
                out.push(v);
            }
        }
        out
    }

    pub async fn send(&mut self, v: Value) {
        self.stream
            .send(WsMessage::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// Waits (up to 5 s) for a condition another task brings about, such as a server noticing
/// a closed socket. Not a timing assertion: it only bounds how long a broken test hangs.
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}
