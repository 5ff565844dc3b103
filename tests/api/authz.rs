//! The authorization matrix: every endpoint, HTTP and WebSocket, asked by every kind of
//! caller, with the status each must get, all from one table ([`ROWS`]).
//!
//! The table is checked against the routes the router registers
//! (`baton::http::private_routes`), so an endpoint cannot be added without a row. Refused
//! calls run against one shared conversation, which must come out of them unchanged; a call
//! expected to succeed that changes something runs against a fresh conversation of its own,
//! so the cells do not depend on their order.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Agent, TestApp, editable_app_with, without_rate_limits};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// No credentials at all.
    Nobody,
    /// The shopper of another conversation, with their own valid token.
    OtherShopper,
    /// The conversation's own shopper.
    Shopper,
    /// An online agent of a group the conversation is not in.
    OtherGroup,
    /// An online agent of the conversation's group who does not hold it.
    SameGroup,
    /// The agent holding the conversation.
    Holder,
    /// An agent of the group who was disabled.
    Disabled,
    Admin,
    /// An online agent of another group who supervises the conversation's groups: an
    /// agent of another group on the agent API, the one allowed on the supervisor API.
    Supervisor,
}

const CALLERS: [Who; 9] = [
    Who::Nobody,
    Who::OtherShopper,
    Who::Shopper,
    Who::OtherGroup,
    Who::SameGroup,
    Who::Holder,
    Who::Disabled,
    Who::Admin,
    Who::Supervisor,
];

/// One endpoint: the route as registered, a body that is valid for it, and the status for
/// each caller in the order of [`CALLERS`].
struct Row {
    method: &'static str,
    route: &'static str,
    body: Option<&'static str>,
    expect: [u16; 9],
}

const fn row(
    method: &'static str,
    route: &'static str,
    body: Option<&'static str>,
    expect: [u16; 9],
) -> Row {
    Row {
        method,
        route,
        body,
        expect,
    }
}

/// Status 101: the WebSocket opened.
const OPEN: u16 = 101;

#[rustfmt::skip]
const ROWS: &[Row] = &[
    //                                                                          nobody other  shopper o.grp  group  holder disabled admin  superv.
    // Public.
    row("GET",  "/healthz",                                      None,           [200,  200,   200,    200,   200,   200,   200,     200,   200]),
    row("GET",  "/readyz",                                       None,           [200,  200,   200,    200,   200,   200,   200,     200,   200]),
    row("POST", "/v1/conversations",                             Some("{}"),     [201,  201,   201,    201,   201,   201,   201,     201,   201]),
    row("GET",  "/v1/welcome",                                   None,           [200,  200,   200,    200,   200,   200,   200,     200,   200]),
    // The shopper's own conversation, with the token they were given.
    row("GET",  "/v1/conversations/{id}",                        None,           [401,  401,   200,    401,   401,   401,   401,     401,   401]),
    row("POST", "/v1/conversations/{id}/messages",               Some(r#"{"text":"hello","client_msg_id":"authz-1"}"#), [401, 401, 201, 401, 401, 401, 401, 401, 401]),
    row("GET",  "/v1/conversations/{id}/messages",               None,           [401,  401,   200,    401,   401,   401,   401,     401,   401]),
    row("POST", "/v1/conversations/{id}/handoff",                None,           [401,  401,   200,    401,   401,   401,   401,     401,   401]),
    row("POST", "/v1/conversations/{id}/rating",                 Some(r#"{"score":5}"#), [401, 401, 409, 401, 401, 401, 401, 401, 401]),
    row("POST", "/v1/conversations/{id}/tickets",                Some(r#"{"contact":"a@example.com","text":"call me"}"#), [401, 401, 409, 401, 401, 401, 401, 401, 401]),
    row("PUT",  "/v1/conversations/{id}/page",                   Some(r#"{"sku":"SKU-1001","title":"Light down jacket"}"#), [401, 401, 204, 401, 401, 401, 401, 401, 401]),
    row("POST", "/v1/conversations/{id}/ws-ticket",              None,           [401,  401,   201,    401,   401,   401,   401,     401,   401]),
    row("GET",  "/v1/conversations/{id}/ws",                     None,           [401,  401,   OPEN,   401,   401,   401,   401,     401,   401]),
    // Agents: themselves.
    row("GET",  "/v1/agent/me",                                  None,           [401,  401,   401,    200,   200,   200,   401,     401,   200]),
    row("POST", "/v1/agent/status",                              Some(r#"{"status":"online"}"#), [401, 401, 401, 200, 200, 200, 401, 401, 200]),
    row("POST", "/v1/agent/heartbeat",                           None,           [401,  401,   401,    204,   204,   204,   401,     401,   204]),
    row("GET",  "/v1/agent/queue",                               None,           [401,  401,   401,    200,   200,   200,   401,     401,   200]),
    row("GET",  "/v1/agent/tickets",                             None,           [401,  401,   401,    200,   200,   200,   401,     401,   200]),
    row("GET",  "/v1/agent/wrap-up",                             None,           [401,  401,   401,    200,   200,   200,   401,     401,   200]),
    row("POST", "/v1/agent/tickets/{id}/close",                  None,           [401,  401,   401,    404,   204,   204,   401,     401,   404]),
    row("POST", "/v1/agent/ws-ticket",                           None,           [401,  401,   401,    201,   201,   201,   401,     401,   201]),
    row("GET",  "/v1/agent/ws",                                  None,           [401,  401,   401,    OPEN,  OPEN,  OPEN,  401,     401,   OPEN]),
    // Agents: the conversation. Only its holder acts on it or reveals its data (the holder
    // cannot accept or decline what they already hold: 409).
    row("GET",  "/v1/agent/conversations/{id}",                  None,           [401,  401,   401,    403,   403,   200,   401,     401,   403]),
    row("POST", "/v1/agent/conversations/{id}/accept",           None,           [401,  401,   401,    403,   403,   409,   401,     401,   403]),
    row("POST", "/v1/agent/conversations/{id}/decline",          None,           [401,  401,   401,    403,   403,   409,   401,     401,   403]),
    row("POST", "/v1/agent/conversations/{id}/messages",         Some(r#"{"text":"hello from the desk"}"#), [401, 401, 401, 403, 403, 201, 401, 401, 403]),
    row("POST", "/v1/agent/conversations/{id}/notes",            Some(r#"{"text":"a note"}"#), [401, 401, 401, 403, 403, 201, 401, 401, 403]),
    row("POST", "/v1/agent/conversations/{id}/transfer",         Some(r#"{"skill":"billing"}"#), [401, 401, 401, 403, 403, 200, 401, 401, 403]),
    row("POST", "/v1/agent/conversations/{id}/resolve",          None,           [401,  401,   401,    403,   403,   200,   401,     401,   403]),
    row("POST", "/v1/agent/conversations/{id}/return-to-bot",    None,           [401,  401,   401,    403,   403,   200,   401,     401,   403]),
    row("POST", "/v1/agent/conversations/{id}/reveal",           None,           [401,  401,   401,    403,   403,   200,   401,     401,   403]),
    row("POST", "/v1/agent/conversations/{id}/lookup",           Some(r#"{"call":"stock","sku":"SKU-1001"}"#), [401, 401, 401, 403, 403, 200, 401, 401, 403]),
    // Quality review: agents read and appeal their own reviews (none of this conversation's
    // exist: 404); reviewing is for the admin and supervisors.
    row("GET",  "/v1/agent/reviews",                             None,           [401,  401,   401,    200,   200,   200,   401,     401,   200]),
    row("GET",  "/v1/agent/reviews/{id}",                        None,           [401,  401,   401,    404,   404,   404,   401,     401,   404]),
    row("POST", "/v1/agent/reviews/{id}/appeal",                 Some(r#"{"text":"the shopper had already left"}"#), [401, 401, 401, 404, 404, 404, 401, 401, 404]),
    row("GET",  "/v1/quality/reviews",                           None,           [401,  401,   401,    403,   403,   403,   401,     200,   200]),
    row("GET",  "/v1/quality/reviews/{id}",                      None,           [401,  401,   401,    403,   403,   403,   401,     404,   404]),
    row("POST", "/v1/quality/reviews/{id}",                      Some(r#"{"score":80,"comment":"good"}"#), [401, 401, 401, 403, 403, 403, 401, 404, 404]),
    row("GET",  "/v1/quality/export",                            None,           [401,  401,   401,    403,   403,   403,   401,     200,   200]),
    // Supervisors of the conversation's groups only.
    row("GET",  "/v1/supervisor/overview",                       None,           [401,  401,   401,    403,   403,   403,   401,     401,   200]),
    row("GET",  "/v1/supervisor/conversations/{id}",             None,           [401,  401,   401,    403,   403,   403,   401,     401,   200]),
    row("POST", "/v1/supervisor/conversations/{id}/whisper",     Some(r#"{"text":"check the refund date"}"#), [401, 401, 401, 403, 403, 403, 401, 401, 201]),
    row("POST", "/v1/supervisor/conversations/{id}/take-over",   None,           [401,  401,   401,    403,   403,   403,   401,     401,   200]),
    row("POST", "/v1/supervisor/conversations/{id}/reassign",    Some(r#"{"agent":"gao"}"#), [401, 401, 401, 403, 403, 403, 401, 401, 200]),
    // Admin only.
    row("GET",  "/v1/admin/agents",                              None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("POST", "/v1/admin/agents",                              Some(r#"{"name":"newcomer","skills":["general"],"max_chats":2}"#), [401, 401, 401, 401, 401, 401, 401, 201, 401]),
    row("PATCH","/v1/admin/agents/{name}",                       Some(r#"{"max_chats":4}"#), [401, 401, 401, 401, 401, 401, 401, 200, 401]),
    row("POST", "/v1/admin/agents/{name}/rotate",                None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("GET",  "/v1/admin/audit",                               None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("POST", "/v1/admin/customers/{id}/forget",               None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("POST", "/v1/admin/conversations/{id}/forget",           None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("GET",  "/v1/admin/kb/status",                           None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("POST", "/v1/admin/kb/reload",                           None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("GET",  "/v1/admin/kb/gaps",                             None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("GET",  "/v1/admin/kb/drafts",                           None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("POST", "/v1/admin/kb/drafts/{id}/approve",              Some("{}"),     [401,  401,   401,    401,   401,   401,   401,     404,   401]),
    row("POST", "/v1/admin/kb/drafts/{id}/reject",               Some("{}"),     [401,  401,   401,    401,   401,   401,   401,     404,   401]),
    row("GET",  "/v1/admin/faqs",                                None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("GET",  "/v1/admin/faqs/{id}/{lang}",                    None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("PUT",  "/v1/admin/faqs/{id}/{lang}",                    Some(r#"{"question":"Do you gift-wrap?","answer":"Yes, for 5 yuan."}"#), [401, 401, 401, 401, 401, 401, 401, 201, 401]),
    // Deleting needs the FAQ's ETag in If-Match (428 without): the admin got past the check.
    row("DELETE","/v1/admin/faqs/{id}/{lang}",                   None,           [401,  401,   401,    401,   401,   401,   401,     428,   401]),
    row("GET",  "/v1/admin/rules/{name}",                        None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    // Replacing the rules needs the file's ETag in If-Match (428 without): past the check.
    row("PUT",  "/v1/admin/rules/{name}",                        Some(r#"{"text":"triggers: []\n"}"#), [401, 401, 401, 401, 401, 401, 401, 428, 401]),
    row("GET",  "/v1/admin/stats",                               None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("GET",  "/v1/admin/blocks",                              None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("POST", "/v1/admin/blocks",                              Some(r#"{"network":"198.51.100.0/24","reason":"authz"}"#), [401, 401, 401, 401, 401, 401, 401, 201, 401]),
    // No block has the conversation's id: the admin got past the check.
    row("DELETE","/v1/admin/blocks/{id}",                        None,           [401,  401,   401,    401,   401,   401,   401,     404,   401]),
    row("GET",  "/v1/admin/word-hits",                           None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
    row("GET",  "/metrics",                                      None,           [401,  401,   401,    401,   401,   401,   401,     200,   401]),
];

/// The people and records the calls are made against.
struct World {
    holder: Agent,
    supervisor: Agent,
    same_group: Agent,
    other_group: Agent,
    disabled: Agent,
    /// The shared conversation: handed over to `holder`.
    conversation: (String, String),
    /// Another shopper's conversation.
    other: (String, String),
    /// Open tickets of the conversation's group: the first for refused calls, the others
    /// for calls that close one.
    tickets: Vec<String>,
}

/// A conversation about a refund, handed over to and accepted by `holder`. The agents in
/// `aside` are away meanwhile, so the dispatcher cannot offer it to one of them first.
async fn held_conversation(app: &TestApp, holder: &Agent, aside: &[&Agent]) -> (String, String) {
    for agent in aside {
        set_status(app, agent, "away").await;
    }
    let (id, token) = app
        .create(json!({"locale": "zh", "customer": {"id": "cust-authz"}}))
        .await;
    app.say(&id, &token, "我的订单MM202611110001退款多久到账？")
        .await;
    let out = app.say(&id, &token, "转人工").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    let (s, b) = app
        .agent_post(
            holder,
            &format!("/v1/agent/conversations/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    for agent in aside {
        set_status(app, agent, "online").await;
    }
    (id, token)
}

async fn set_status(app: &TestApp, agent: &Agent, status: &str) {
    let (s, b) = app
        .agent_post(agent, "/v1/agent/status", json!({"status": status}))
        .await;
    assert_eq!(s, 200, "{} {status}: {b}", agent.name);
}

/// A message for the team, left while nobody of its group is online.
async fn left_ticket(app: &TestApp) -> String {
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let out = app.say(&id, &token, "转人工").await;
    let offered = &out["replies"].as_array().unwrap().last().unwrap()["meta"]["leave_message"];
    assert_eq!(offered, true, "{out:#}");
    let r = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/tickets")))
        .bearer_auth(&token)
        .json(&json!({"contact": "a@example.com", "text": "please call me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ticket: Value = r.json().await.unwrap();
    ticket["ticket_id"].as_str().expect("ticket id").to_string()
}

async fn world(app: &TestApp) -> World {
    let holder = app.add_agent("hana", &["after_sales", "general"], 50).await;
    let same_group = app.add_agent("gao", &["after_sales", "general"], 50).await;
    let other_group = app.add_agent("omar", &["billing"], 50).await;
    let disabled = app.add_agent("dora", &["after_sales", "general"], 50).await;
    let supervisor = app
        .add_supervisor("sue", &["billing"], 50, &["after_sales", "general"])
        .await;
    // The one the admin changes and rotates.
    app.add_agent("spare", &["billing"], 1).await;

    // Messages for the team, left while nobody was online: one for the refused calls,
    // one for each agent allowed to close it.
    let mut tickets = Vec::new();
    for _ in 0..3 {
        tickets.push(left_ticket(app).await);
    }
    for agent in [&holder, &same_group, &other_group, &disabled, &supervisor] {
        app.online(agent).await;
    }
    let (s, b) = app
        .admin(
            Method::PATCH,
            "/v1/admin/agents/dora",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let conversation = held_conversation(app, &holder, &[&same_group]).await;
    let other = app.create(json!({"locale": "en"})).await;
    World {
        holder,
        supervisor,
        same_group,
        other_group,
        disabled,
        conversation,
        other,
        tickets,
    }
}

/// The concrete path of `route` for a call about `conversation` (and `ticket`).
fn path_of(r: &Row, conversation: &str, ticket: &str) -> String {
    let route = r.route;
    if route.starts_with("/v1/agent/tickets/") {
        return route.replace("{id}", ticket);
    }
    if route.starts_with("/v1/admin/customers/") {
        return route.replace("{id}", "cust-authz");
    }
    if route.starts_with("/v1/admin/kb/drafts/") {
        return route.replace("{id}", "01a00000-0000-7000-8000-000000000000");
    }
    if route.starts_with("/v1/admin/rules/") {
        return route.replace("{name}", "triggers");
    }
    if route.starts_with("/v1/admin/faqs/") {
        // Read and delete one that exists; write one of the caller's own.
        let faq = if r.method == "PUT" {
            "gift-wrap/en"
        } else {
            "refund-time/en"
        };
        return route.replace("{id}/{lang}", faq);
    }
    route
        .replace("{name}", "spare")
        .replace("{id}", conversation)
}

/// The bearer credential `who` presents for a call about `conversation` (whose shopper
/// token is `shopper`).
fn credential<'a>(who: Who, shopper: &'a str, w: &'a World) -> Option<&'a str> {
    match who {
        Who::Nobody => None,
        Who::OtherShopper => Some(&w.other.1),
        Who::Shopper => Some(shopper),
        Who::OtherGroup => Some(&w.other_group.token),
        Who::SameGroup => Some(&w.same_group.token),
        Who::Holder => Some(&w.holder.token),
        Who::Disabled => Some(&w.disabled.token),
        Who::Admin => Some(ADMIN_TOKEN),
        Who::Supervisor => Some(&w.supervisor.token),
    }
}

/// Makes the call and returns its status. A WebSocket is opened as the clients do: a
/// one-time ticket from the matching `ws-ticket` endpoint with the caller's credential,
/// then the upgrade (without a ticket when the caller could not get one).
async fn call(app: &TestApp, r: &Row, path: &str, credential: Option<&str>) -> u16 {
    if path.ends_with("/ws") {
        let ticket_path = format!("{}-ticket", path);
        let mut req = app.client.post(app.url(&ticket_path));
        if let Some(c) = credential {
            req = req.bearer_auth(c);
        }
        let resp = req.send().await.unwrap();
        let query = if resp.status() == 201 {
            let v: Value = resp.json().await.unwrap();
            format!("?ticket={}", v["ticket"].as_str().unwrap())
        } else {
            String::new()
        };
        let url = format!("{}{path}{query}", app.base.replacen("http", "ws", 1));
        return match tokio_tungstenite::connect_async(url).await {
            Ok(_) => OPEN,
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
            Err(e) => panic!("{path}: {e}"),
        };
    }
    let method = Method::from_bytes(r.method.as_bytes()).unwrap();
    let mut req = app.client.request(method, app.url(path));
    if let Some(c) = credential {
        req = req.bearer_auth(c);
    }
    if let Some(body) = r.body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    req.send().await.unwrap().status().as_u16()
}

/// Whether a call that is allowed changes what later calls see, so it needs a fresh
/// conversation.
fn changes_things(r: &Row, status: u16) -> bool {
    r.method != "GET" && (200..300).contains(&status) && r.route.contains("{id}")
}

/// What the holder and the admin see of the shared conversation: must not move while
/// refused calls rain on it.
async fn snapshot(app: &TestApp, w: &World) -> Value {
    let id = &w.conversation.0;
    let (_, view) = app
        .agent_get(&w.holder, &format!("/v1/agent/conversations/{id}"))
        .await;
    let messages = app.messages(id, &w.conversation.1, 0).await;
    let (_, audit) = app
        .admin(
            Method::GET,
            &format!("/v1/admin/audit?conversation_id={id}"),
            None,
        )
        .await;
    json!({"view": view, "messages": messages, "audit": audit})
}

#[tokio::test]
async fn every_endpoint_answers_every_caller_as_the_table_says() {
    // Every caller calls from one address, many with wrong tokens: rate limits would
    // answer for the authorization under test.
    let (app, _content) = editable_app_with(false, without_rate_limits).await;
    let w = world(&app).await;

    let mut wrong = Vec::new();
    let before = snapshot(&app, &w).await;
    // Refused calls first, all against the shared conversation.
    for r in ROWS {
        for (who, &expect) in CALLERS.iter().zip(&r.expect) {
            if changes_things(r, expect) {
                continue;
            }
            let (id, shopper) = &w.conversation;
            let path = path_of(r, id, &w.tickets[0]);
            let got = call(&app, r, &path, credential(*who, shopper, &w)).await;
            if got != expect {
                wrong.push(format!(
                    "{} {} as {who:?}: {got}, expected {expect}",
                    r.method, r.route
                ));
            }
        }
    }
    let after = snapshot(&app, &w).await;
    assert_eq!(before, after, "refused calls changed the conversation");

    // Calls that succeed and change something, each on a conversation of its own.
    let mut spare_tickets = w.tickets[1..].iter();
    for r in ROWS {
        for (who, &expect) in CALLERS.iter().zip(&r.expect) {
            if !changes_things(r, expect) {
                continue;
            }
            let (id, shopper) = held_conversation(&app, &w.holder, &[&w.same_group]).await;
            let ticket = if r.route.starts_with("/v1/agent/tickets/") {
                spare_tickets.next().expect("a spare ticket")
            } else {
                &w.tickets[0]
            };
            let path = path_of(r, &id, ticket);
            let got = call(&app, r, &path, credential(*who, &shopper, &w)).await;
            if got != expect {
                wrong.push(format!(
                    "{} {} as {who:?}: {got}, expected {expect}",
                    r.method, r.route
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    app.stop().await;
}

#[test]
fn the_table_has_a_row_for_every_api_route() {
    let registered: BTreeSet<(String, String)> = baton::http::private_routes()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert!(registered.len() > 40, "{registered:?}");
    let table: BTreeSet<(String, String)> = ROWS
        .iter()
        .map(|r| (r.method.to_string(), r.route.to_string()))
        .collect();
    let missing: Vec<_> = registered.difference(&table).collect();
    let stale: Vec<_> = table.difference(&registered).collect();
    assert!(missing.is_empty(), "endpoints without a row: {missing:?}");
    assert!(
        stale.is_empty(),
        "rows for endpoints that do not exist: {stale:?}"
    );
}
