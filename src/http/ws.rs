//! WebSocket sessions for shoppers (`/v1/conversations/{id}/ws`) and agents (`/v1/agent/ws`).
//!
//! A session subscribes to its channel *first*, then sends a `hello` with the current state
//! and everything after the client's cursor from the store, then forwards live events. Each
//! session remembers the last message `seq` it sent per conversation: a live message at or
//! below it is skipped, one that leaves a gap (the channel lagged) is filled from the store.
//! So a client that reconnects with its last cursor gets every message it missed exactly once.
//!
//! Sockets are small (`http.ws_buffer_bytes` for reading and writing) and are tracked, so
//! shutdown closes them with "going away" instead of cutting them off. Clients send
//! `{"type":"typing"}` and `{"type":"ping"}`; agents also `{"type":"sync","cursors":{id: seq}}`.
//! A conversation has at most `limits.sockets_per_conversation` shopper sockets open (more
//! are refused with 429 before the upgrade), and its typing notices past
//! `limits.conversation_typing` are dropped, not relayed.
//!
//! Signing a socket in: browsers cannot set headers on a WebSocket, and a URL ends up in
//! access logs, proxies and browser history, so a long-lived token never goes in one. The
//! client first trades its token (in `Authorization`) for a ticket at
//! `POST /v1/conversations/{id}/ws-ticket` or `POST /v1/agent/ws-ticket`, then opens the
//! socket with `?ticket=`: random, good for [`TICKET_TTL_MS`], and used up by the first
//! attempt. Apps that can set headers may still send `Authorization: Bearer` on the upgrade.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use dashmap::DashMap;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiQuery, bearer};
use super::limits::ConversationKind;
use crate::conversation::{Author, Message};
use crate::handoff::HandoffStatus;
use crate::handoff::agent::Agent;
use crate::realtime::{Event, Follow, Remote};

/// Close code 1001: the server is going away (shutdown).
const GOING_AWAY: u16 = 1001;
/// Close code for an agent whose access was revoked (disabled, token rotated): like HTTP's
/// 401, the client must sign in again rather than reconnect with the same token.
pub const REVOKED: u16 = 4401;
/// Largest frame a client may send.
const MAX_CLIENT_FRAME: usize = 16 * 1024;
/// How often the server pings an idle socket.
const PING_EVERY: Duration = Duration::from_secs(25);
/// Messages read from the store per catch-up query.
const CATCH_UP_PAGE: u32 = 200;
/// How long a socket ticket is good for: enough to open a socket right after asking.
pub const TICKET_TTL_MS: i64 = 30_000;
/// Tickets outstanding at most; unused ones are shed once expired.
const MAX_TICKETS: usize = 50_000;
/// The 401 message of a socket opened with an unknown, used, expired or foreign ticket.
const BAD_TICKET: &str =
    "the socket ticket is unknown, used or expired: ask for a new one (POST …/ws-ticket)";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SocketQuery {
    #[serde(default)]
    after: i64,
    /// A one-time ticket from `…/ws-ticket`.
    #[serde(default)]
    ticket: Option<String>,
}

/// Whom a ticket signs in.
#[derive(Debug, Clone, PartialEq)]
enum Grant {
    /// The shopper of this conversation.
    Conversation(String),
    /// The agent, as long as the token they showed is still theirs (the stored hash).
    Agent { id: String, token_hash: String },
}

struct Ticket {
    grant: Grant,
    expires_at: i64,
}

/// Outstanding socket tickets, keyed by sha256(ticket) so the map holds nothing usable.
#[derive(Default)]
pub struct SocketTickets {
    issued: DashMap<[u8; 32], Ticket>,
}

impl SocketTickets {
    fn key(ticket: &str) -> [u8; 32] {
        Sha256::digest(ticket.as_bytes()).into()
    }

    /// A fresh ticket for `grant`, good until `now + TICKET_TTL_MS`.
    fn issue(&self, grant: Grant, now: i64) -> Result<String, ApiError> {
        if self.issued.len() >= MAX_TICKETS {
            self.issued.retain(|_, t| now < t.expires_at);
            if self.issued.len() >= MAX_TICKETS {
                return Err(ApiError::Unavailable(
                    "too many socket tickets outstanding; retry shortly".into(),
                ));
            }
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let ticket = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        self.issued.insert(
            Self::key(&ticket),
            Ticket {
                grant,
                expires_at: now + TICKET_TTL_MS,
            },
        );
        Ok(ticket)
    }

    /// What the ticket grants, once: it is gone after this whether or not it was valid.
    fn redeem(&self, ticket: &str, now: i64) -> Option<Grant> {
        let (_, t) = self.issued.remove(&Self::key(ticket))?;
        (now < t.expires_at).then_some(t.grant)
    }
}

fn ticket_response(ticket: String) -> impl IntoResponse {
    (
        StatusCode::CREATED,
        Json(json!({ "ticket": ticket, "expires_in": TICKET_TTL_MS / 1000 })),
    )
}

/// `POST /v1/conversations/{id}/ws-ticket` (the conversation's token as bearer).
#[utoipa::path(post, path = "/v1/conversations/{id}/ws-ticket", tag = "shopper", params(("id" = String, Path, description = "The conversation's id")), security(("shopper_token" = [])), responses((status = 201, description = "A one-time ticket for the conversation's socket", body = crate::http::openapi::SocketTicket)))]
pub async fn shopper_ticket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let c = state.service.authorize(&id, bearer(&headers)).await?;
    let now = state.service.clock().now_ms();
    let ticket = state.tickets.issue(Grant::Conversation(c.id), now)?;
    Ok(ticket_response(ticket))
}

/// `POST /v1/agent/ws-ticket` (the agent's token as bearer).
#[utoipa::path(post, path = "/v1/agent/ws-ticket", tag = "agent", security(("agent_token" = [])), responses((status = 201, description = "A one-time ticket for the agent's socket", body = crate::http::openapi::SocketTicket)))]
pub async fn agent_ticket(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = super::agent::authenticated(&state, &headers).await?;
    let now = state.service.clock().now_ms();
    let grant = Grant::Agent {
        id: agent.id,
        token_hash: agent.token_hash,
    };
    Ok(ticket_response(state.tickets.issue(grant, now)?))
}

/// The agent a ticket signs in, if they are still enabled and their token not rotated.
async fn agent_of_ticket(state: &AppState, ticket: &str) -> Result<Agent, ApiError> {
    let now = state.service.clock().now_ms();
    let Some(Grant::Agent { id, token_hash }) = state.tickets.redeem(ticket, now) else {
        return Err(ApiError::UnauthorizedAs(BAD_TICKET));
    };
    state
        .service
        .store()
        .agent(&id)
        .await?
        .filter(|a| !a.disabled && a.token_hash == token_hash)
        .ok_or(ApiError::UnauthorizedAs(BAD_TICKET))
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Ping,
    Typing {
        #[serde(default)]
        conversation_id: Option<String>,
    },
    Sync {
        cursors: HashMap<String, i64>,
    },
}

fn sized(ws: WebSocketUpgrade, state: &AppState) -> WebSocketUpgrade {
    let buffer = state.config.http.ws_buffer_bytes.max(1024);
    ws.read_buffer_size(buffer)
        .write_buffer_size(buffer)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
}

/// Whether a browser page at `Origin` may open a socket: Baton's own pages and the `shops`
/// origins. Apps send no `Origin` and are let through (they hold a ticket or token).
fn origin_allowed(headers: &HeaderMap, shops: &[String]) -> bool {
    let Some(origin) = headers.get("origin").and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    if let Some(host) = headers.get("host").and_then(|h| h.to_str().ok())
        && (origin == format!("http://{host}") || origin == format!("https://{host}"))
    {
        return true;
    }
    shops.iter().any(|a| a.trim_end_matches('/') == origin)
}

/// `GET /v1/conversations/{id}/ws?after=SEQ&ticket=…`
#[utoipa::path(get, path = "/v1/conversations/{id}/ws", tag = "shopper", description = "The conversation's WebSocket: a `hello` with the state and every message after `after`, then live events. Sign in with `?ticket=` (from `…/ws-ticket`) or the bearer token.", params(("id" = String, Path, description = "The conversation's id"), SocketQuery), security(("shopper_token" = [])), responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 426, description = "Not a WebSocket handshake", body = crate::http::openapi::ErrorBody), (status = 403, description = "The page's origin may not open a socket", body = crate::http::openapi::ErrorBody)))]
pub async fn shopper(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SocketQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws?;
    if !origin_allowed(&headers, &state.service.config().http.allowed_origins) {
        return Err(ApiError::Forbidden(
            "this page's origin may not open a chat socket".into(),
        ));
    }
    if q.after < 0 {
        return Err(ApiError::InvalidRequest("after must be >= 0".into()));
    }
    let c = match q.ticket {
        Some(ticket) => {
            let now = state.service.clock().now_ms();
            match state.tickets.redeem(&ticket, now) {
                Some(Grant::Conversation(granted)) if granted == id => {
                    state.service.load(&id).await?
                }
                _ => return Err(ApiError::UnauthorizedAs(BAD_TICKET)),
            }
        }
        None => state.service.authorize(&id, bearer(&headers)).await?,
    };
    // Refused before the upgrade: a plain 429 costs no socket, and the widget's reconnect
    // backoff copes with a failed handshake as with any other.
    let place = state.limits.open_socket(&c.id)?;
    let tracker = state.sockets.clone();
    Ok(sized(ws, &state).on_upgrade(move |socket| {
        tracker.track_future(async move {
            shopper_session(state, socket, c.id, q.after).await;
            drop(place);
        })
    }))
}

/// `GET /v1/agent/ws?ticket=…`. The console is served by Baton, so only Baton's own origin
/// (or no `Origin`, from an app) may open it; shop origins may not.
#[utoipa::path(get, path = "/v1/agent/ws", tag = "agent", description = "The agent's WebSocket: offers, assignments and messages of their conversations. Sign in with `?ticket=` (from `/v1/agent/ws-ticket`) or the bearer token.", params(SocketQuery), security(("agent_token" = [])), responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 426, description = "Not a WebSocket handshake", body = crate::http::openapi::ErrorBody), (status = 403, description = "Only Baton's own pages may open it", body = crate::http::openapi::ErrorBody)))]
pub async fn agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SocketQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws?;
    if !origin_allowed(&headers, &[]) {
        return Err(ApiError::Forbidden(
            "the agent socket opens only from Baton's own console".into(),
        ));
    }
    let agent = match q.ticket {
        Some(ticket) => agent_of_ticket(&state, &ticket).await?,
        None => super::agent::authenticated(&state, &headers).await?,
    };
    let tracker = state.sockets.clone();
    Ok(sized(ws, &state)
        .on_upgrade(move |socket| tracker.track_future(agent_session(state, socket, agent))))
}

async fn send_text(socket: &mut WebSocket, text: &str) -> bool {
    socket.send(WsMessage::Text(text.into())).await.is_ok()
}

async fn send_json(socket: &mut WebSocket, value: &impl serde::Serialize) -> bool {
    match serde_json::to_string(value) {
        Ok(text) => socket.send(WsMessage::Text(text.into())).await.is_ok(),
        Err(_) => true,
    }
}

/// Who a session serves: agents see shoppers' personal data masked.
#[derive(Clone, Copy, PartialEq)]
enum Reader {
    Shopper,
    Agent,
}

/// Sends the conversation's messages after `cursor` from the store; returns the new cursor,
/// or `None` when the socket is gone.
async fn catch_up(
    state: &AppState,
    socket: &mut WebSocket,
    conversation_id: &str,
    mut cursor: i64,
    reader: Reader,
) -> Option<i64> {
    loop {
        let page = match state
            .service
            .store()
            .messages_after(conversation_id, cursor, CATCH_UP_PAGE)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "catch-up read failed");
                return Some(cursor);
            }
        };
        let n = page.len();
        for mut m in page {
            cursor = m.seq;
            if reader == Reader::Agent && m.author == Author::Shopper {
                m.text = crate::pii::mask(&m.text);
            }
            let event = Event::Message {
                conversation_id: conversation_id.to_string(),
                message: Box::new(m),
            };
            if !send_json(socket, &event).await {
                return None;
            }
        }
        if n < CATCH_UP_PAGE as usize {
            return Some(cursor);
        }
    }
}

/// Forwards one live message exactly once: skipped when already sent, read from the store
/// when it leaves a gap.
async fn forward_message(
    state: &AppState,
    socket: &mut WebSocket,
    conversation_id: &str,
    message: &Message,
    cursor: i64,
    reader: Reader,
) -> Option<i64> {
    if message.seq <= cursor {
        return Some(cursor);
    }
    if message.seq == cursor + 1 {
        let event = Event::Message {
            conversation_id: conversation_id.to_string(),
            message: Box::new(message.clone()),
        };
        return send_json(socket, &event).await.then_some(message.seq);
    }
    catch_up(state, socket, conversation_id, cursor, reader).await
}

async fn revoked(socket: &mut WebSocket) {
    let _ = socket
        .send(WsMessage::Close(Some(CloseFrame {
            code: REVOKED,
            reason: "access revoked; sign in again".into(),
        })))
        .await;
}

/// Whether the credential the socket was opened with is still the agent's: checked once
/// the socket watches for revocation, so a change made between authentication and then
/// is not missed.
async fn still_valid(state: &AppState, agent: &Agent) -> bool {
    matches!(
        state.store.agent(&agent.id).await,
        Ok(Some(a)) if !a.disabled && a.token_hash == agent.token_hash
    )
}

async fn going_away(socket: &mut WebSocket) {
    let _ = socket
        .send(WsMessage::Close(Some(CloseFrame {
            code: GOING_AWAY,
            reason: "server shutting down; reconnect".into(),
        })))
        .await;
}

/// The conversation's status as a shopper's socket opens (and again after a resync).
async fn shopper_hello(state: &AppState, id: &str) -> Option<serde_json::Value> {
    let c = state.service.load(id).await.ok()?;
    let status = state.desk.shopper_status(&c).await.ok()?;
    let mut hello = json!({ "type": "hello" });
    if let (Some(hello), Ok(serde_json::Value::Object(fields))) =
        (hello.as_object_mut(), serde_json::to_value(&status))
    {
        hello.extend(fields);
    }
    Some(hello)
}

/// Sends an event another node published to a shopper's socket; returns the new cursor, or
/// `None` when the socket is gone.
async fn shopper_remote(
    state: &AppState,
    socket: &mut WebSocket,
    id: &str,
    remote: &Remote,
    cursor: i64,
) -> Option<i64> {
    match remote {
        Remote::Message { seq, .. } if *seq <= cursor => Some(cursor),
        Remote::Message { .. } => catch_up(state, socket, id, cursor, Reader::Shopper).await,
        Remote::Event { json, .. } => send_text(socket, json).await.then_some(cursor),
        Remote::Resync => {
            if let Some(hello) = shopper_hello(state, id).await
                && !send_json(socket, &hello).await
            {
                return None;
            }
            catch_up(state, socket, id, cursor, Reader::Shopper).await
        }
    }
}

// The sessions below run as long as a socket is open, one task each: every step they take
// only now and then (a catch-up, a resync, the greeting) is boxed, so the task of an idle
// socket holds a pointer rather than room for the largest of those steps.
async fn shopper_session(state: AppState, mut socket: WebSocket, id: String, after: i64) {
    let hub = state.hub.clone();
    let mut rx = hub.subscribe_conversation(&id);
    let mut cursor = after;
    let Some(hello) = Box::pin(shopper_hello(&state, &id)).await else {
        return;
    };
    if !send_json(&mut socket, &hello).await {
        return;
    }
    match Box::pin(catch_up(&state, &mut socket, &id, cursor, Reader::Shopper)).await {
        Some(c) => cursor = c,
        None => return,
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = state.stop.cancelled() => {
                going_away(&mut socket).await;
                break;
            }
            event = rx.recv() => match event {
                Ok(event) => {
                    let sent = match &*event {
                        Event::Message { message, .. } => {
                            Box::pin(forward_message(&state, &mut socket, &id, message, cursor, Reader::Shopper)).await.map(|c| cursor = c).is_some()
                        }
                        Event::Remote(remote) => {
                            Box::pin(shopper_remote(&state, &mut socket, &id, remote, cursor)).await.map(|c| cursor = c).is_some()
                        }
                        other => send_json(&mut socket, other).await,
                    };
                    if !sent {
                        break;
                    }
                }
                Err(RecvError::Lagged(_)) => match Box::pin(catch_up(&state, &mut socket, &id, cursor, Reader::Shopper)).await {
                    Some(c) => cursor = c,
                    None => break,
                },
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(text))) => match serde_json::from_str::<ClientFrame>(&text) {
                    Ok(ClientFrame::Ping) => {
                        if !send_json(&mut socket, &json!({"type": "pong"})).await {
                            break;
                        }
                    }
                    // Past the conversation's typing budget the notice is dropped: it is only a
                    // hint, and the socket is worth keeping.
                    Ok(ClientFrame::Typing { .. }) => {
                        if state.limits.check_conversation(ConversationKind::Typing, &id).is_ok() {
                            Box::pin(shopper_typing(&state, &id)).await;
                        }
                    }
                    Ok(ClientFrame::Sync { .. }) | Err(_) => {
                        let error = json!({"type": "error", "message": "expected {\"type\":\"typing\"} or {\"type\":\"ping\"}"});
                        if !send_json(&mut socket, &error).await {
                            break;
                        }
                    }
                },
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(WsMessage::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Tells the agent holding the conversation that the shopper is typing.
async fn shopper_typing(state: &AppState, id: &str) {
    if let Ok(Some(h)) = state.store.open_handoff(id).await
        && h.status == HandoffStatus::Assigned
        && let Some(agent) = h.agent_id
    {
        state.hub.to_agent(
            &agent,
            Event::Typing {
                conversation_id: id.to_string(),
                from: Author::Shopper,
                name: None,
            },
        );
    }
}

/// The agent's queue and the conversations they hold, as their socket opens; follows each
/// held conversation from its current end.
async fn agent_hello(
    state: &AppState,
    agent: &Agent,
    cursors: &mut HashMap<String, i64>,
) -> serde_json::Value {
    match state.desk.queue(agent).await {
        Ok(queue) => {
            for item in &queue.assigned {
                if cursors.contains_key(&item.conversation_id) {
                    continue;
                }
                if let Ok(c) = state.service.load(&item.conversation_id).await {
                    cursors.insert(item.conversation_id.clone(), c.last_seq);
                }
            }
            json!({
                "type": "hello",
                "agent": {"id": agent.id, "name": agent.name, "skills": agent.skills, "max_chats": agent.max_chats},
                "queue": queue,
                "cursors": cursors,
            })
        }
        Err(e) => json!({"type": "error", "message": e.to_string()}),
    }
}

/// Sends an event another node published to an agent's socket; `false` when the socket is
/// gone.
async fn agent_remote(
    state: &AppState,
    socket: &mut WebSocket,
    agent: &Agent,
    remote: &Remote,
    cursors: &mut HashMap<String, i64>,
) -> bool {
    match remote {
        Remote::Message {
            conversation_id,
            seq,
        } => {
            let cursor = cursors.get(conversation_id).copied().unwrap_or(seq - 1);
            if *seq <= cursor {
                return true;
            }
            match catch_up(state, socket, conversation_id, cursor, Reader::Agent).await {
                Some(c) => {
                    cursors.insert(conversation_id.clone(), c);
                    true
                }
                None => false,
            }
        }
        Remote::Event { json, follow } => {
            match follow {
                Follow::Assigned {
                    conversation_id,
                    last_seq,
                } => {
                    cursors.insert(conversation_id.clone(), *last_seq);
                }
                Follow::Unassigned { conversation_id } => {
                    cursors.remove(conversation_id);
                }
                Follow::Nothing => {}
            }
            send_text(socket, json).await
        }
        Remote::Resync => {
            // Messages first, from the cursors as they were; then what changed in the queue
            // and the conversations held (new ones are followed from their current end).
            resync(state, socket, agent, cursors).await
                && send_json(socket, &agent_hello(state, agent, cursors).await).await
        }
    }
}

async fn agent_session(state: AppState, mut socket: WebSocket, agent: Agent) {
    let clock = state.clock.clone();
    let roster = state.roster.clone();
    let mut rx = state.hub.subscribe_agent(&agent.id);
    let revocation = state.hub.agent_credential(&agent.id, &agent.token_hash);
    if !Box::pin(still_valid(&state, &agent)).await {
        revoked(&mut socket).await;
        return;
    }
    roster.socket_opened(&agent.id, clock.now_ms());
    state.poke.notify_one();
    let mut cursors: HashMap<String, i64> = HashMap::new();
    let hello = Box::pin(agent_hello(&state, &agent, &mut cursors)).await;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    if send_json(&mut socket, &hello).await {
        loop {
            tokio::select! {
                _ = revocation.cancelled() => {
                    tracing::info!(agent = %agent.name, "access revoked; closing the agent's socket");
                    revoked(&mut socket).await;
                    break;
                }
                _ = state.stop.cancelled() => {
                    going_away(&mut socket).await;
                    break;
                }
                event = rx.recv() => match event {
                    // `select!` picks among ready branches at random: nothing more reaches a
                    // revoked agent, even an event that was ready at the same moment.
                    _ if revocation.is_cancelled() => {
                        revoked(&mut socket).await;
                        break;
                    }
                    Ok(event) => {
                        let sent = match &*event {
                            Event::Message { conversation_id, message } => {
                                let cursor = cursors.get(conversation_id).copied().unwrap_or(message.seq - 1);
                                match Box::pin(forward_message(&state, &mut socket, conversation_id, message, cursor, Reader::Agent)).await {
                                    Some(c) => { cursors.insert(conversation_id.clone(), c); true }
                                    None => false,
                                }
                            }
                            Event::Assigned { conversation_id, view } => {
                                cursors.insert(conversation_id.clone(), view.last_seq);
                                send_json(&mut socket, &*event).await
                            }
                            Event::Unassigned { conversation_id, .. } => {
                                cursors.remove(conversation_id);
                                send_json(&mut socket, &*event).await
                            }
                            Event::Remote(remote) => Box::pin(agent_remote(&state, &mut socket, &agent, remote, &mut cursors)).await,
                            other => send_json(&mut socket, other).await,
                        };
                        if !sent {
                            break;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        if !Box::pin(resync(&state, &mut socket, &agent, &mut cursors)).await {
                            break;
                        }
                    }
                    Err(RecvError::Closed) => break,
                },
                incoming = socket.recv() => {
                    if revocation.is_cancelled() {
                        revoked(&mut socket).await;
                        break;
                    }
                    roster.touch(&agent.id, clock.now_ms());
                    match incoming {
                        Some(Ok(WsMessage::Text(text))) => {
                            let ok = match serde_json::from_str::<ClientFrame>(&text) {
                                Ok(ClientFrame::Ping) => send_json(&mut socket, &json!({"type": "pong"})).await,
                                Ok(ClientFrame::Typing { conversation_id: Some(c) }) => {
                                    Box::pin(agent_typing(&state, &agent, &c)).await;
                                    true
                                }
                                Ok(ClientFrame::Sync { cursors: wanted }) => {
                                    for (c, seq) in wanted {
                                        if state.desk.can_read(&agent, &c).await {
                                            cursors.insert(c, seq.max(0));
                                        }
                                    }
                                    Box::pin(resync(&state, &mut socket, &agent, &mut cursors)).await
                                }
                                Ok(ClientFrame::Typing { conversation_id: None }) | Err(_) => {
                                    send_json(&mut socket, &json!({"type": "error", "message": "expected ping, typing {conversation_id} or sync {cursors}"})).await
                                }
                            };
                            if !ok {
                                break;
                            }
                        }
                        Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(_)) => {}
                    }
                }
                _ = ping.tick() => {
                    if socket.send(WsMessage::Ping(Default::default())).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    roster.socket_closed(&agent.id, clock.now_ms());
}

/// Sends every message the agent's socket missed in the conversations it follows.
async fn resync(
    state: &AppState,
    socket: &mut WebSocket,
    agent: &Agent,
    cursors: &mut HashMap<String, i64>,
) -> bool {
    let followed: Vec<(String, i64)> = cursors.iter().map(|(c, s)| (c.clone(), *s)).collect();
    for (c, seq) in followed {
        if !state.desk.can_read(agent, &c).await {
            cursors.remove(&c);
            continue;
        }
        match catch_up(state, socket, &c, seq, Reader::Agent).await {
            Some(new) => {
                cursors.insert(c, new);
            }
            None => return false,
        }
    }
    true
}

/// Tells the shopper the agent is typing, if the conversation is the agent's.
async fn agent_typing(state: &AppState, agent: &Agent, conversation_id: &str) {
    if let Ok(Some(h)) = state.store.open_handoff(conversation_id).await
        && h.status == HandoffStatus::Assigned
        && h.agent_id.as_deref() == Some(&agent.id)
    {
        state.hub.to_conversation(
            conversation_id,
            Event::Typing {
                conversation_id: conversation_id.to_string(),
                from: Author::Agent,
                name: Some(agent.name.clone()),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_good_once_and_only_until_it_expires() {
        let tickets = SocketTickets::default();
        let grant = Grant::Conversation("c1".into());
        let t = tickets.issue(grant.clone(), 1_000).unwrap();
        assert!(t.len() >= 43, "256 random bits: {t}");
        assert_eq!(
            tickets.redeem(&t, 1_000 + TICKET_TTL_MS - 1),
            Some(grant.clone())
        );
        assert_eq!(tickets.redeem(&t, 1_001), None, "used up");
        let late = tickets.issue(grant, 1_000).unwrap();
        assert_eq!(tickets.redeem(&late, 1_000 + TICKET_TTL_MS), None);
        assert_eq!(tickets.redeem("made-up", 1_000), None);
        assert!(tickets.issued.is_empty(), "redeeming removes, valid or not");
    }

    #[test]
    fn shop_origins_may_open_shopper_sockets_only_where_listed() {
        let mut h = HeaderMap::new();
        h.insert("host", "baton.example".parse().unwrap());
        assert!(origin_allowed(&h, &[]), "no Origin: an app");
        h.insert("origin", "https://baton.example".parse().unwrap());
        assert!(origin_allowed(&h, &[]), "same origin");
        h.insert("origin", "https://shop.example/".parse().unwrap());
        assert!(!origin_allowed(&h, &[]));
        assert!(origin_allowed(&h, &["https://shop.example".into()]));
    }
}
