//! Rate limits: a client over a limit gets `429 rate_limited` with the wait in
//! `Retry-After`, nothing of the refused request is stored, and other addresses and
//! conversations go on as before. Also the socket cap, dropped typing notices, the lockout
//! after refused agent tokens, and the bot reading only the start of a long message.

use std::time::Duration;

use baton::config::{Config, Rate};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app_with, test_config};

async fn app_with(change: impl FnOnce(&mut Config)) -> (TestApp, tempfile::TempDir) {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.admin_token = Some(ADMIN_TOKEN.into());
    change(&mut config);
    (spawn_app_with(config).await, temp)
}

/// Asserts a `429 rate_limited` with a whole number of seconds in `Retry-After`, and
/// returns that number.
async fn assert_rate_limited(r: reqwest::Response) -> u64 {
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is a number of seconds");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(retry_after >= 1, "{retry_after}");
    retry_after
}

/// Creates a conversation as the client at `ip` (through `X-Forwarded-For`).
async fn create_from(app: &TestApp, ip: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/conversations"))
        .header("x-forwarded-for", ip)
        .json(&json!({"locale": "en"}))
        .send()
        .await
        .unwrap()
}

async fn created(r: reqwest::Response) -> (String, String) {
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    (
        v["conversation_id"].as_str().unwrap().into(),
        v["token"].as_str().unwrap().into(),
    )
}

async fn send_from(
    app: &TestApp,
    ip: &str,
    id: &str,
    token: &str,
    cmid: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/conversations/{id}/messages")))
        .header("x-forwarded-for", ip)
        .bearer_auth(token)
        .json(&json!({"text": "how long does shipping take", "client_msg_id": cmid}))
        .send()
        .await
        .unwrap()
}

async fn message_count(app: &TestApp, id: &str, token: &str) -> usize {
    app.messages(id, token, 0).await["messages"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn messages_past_a_conversations_limit_are_refused_and_not_stored() {
    let (app, _temp) = app_with(|c| c.limits.conversation_messages = Rate::new(1, 2)).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    app.say(&id, &token, "how long does shipping take").await;
    app.say(&id, &token, "and returns?").await;
    let stored = message_count(&app, &id, &token).await;

    let r = app.send_raw(&id, &token, "one too many", "m-3").await;
    let wait = assert_rate_limited(r).await;
    // One message a minute: the next is most of a minute away.
    assert!((30..=60).contains(&wait), "{wait}");
    assert_eq!(
        message_count(&app, &id, &token).await,
        stored,
        "nothing of it stored"
    );

    let (other, other_token) = app.create(json!({"locale": "en"})).await;
    app.say(&other, &other_token, "how long does shipping take")
        .await;

    // A stranger without the token spends nothing of the conversation's budget.
    let r = app.send_raw(&other, "wrong-token", "hi", "x-1").await;
    assert_eq!(r.status(), 401);
    app.say(&other, &other_token, "and returns?").await;
    app.stop().await;
}

#[tokio::test]
async fn one_address_over_its_limits_leaves_other_addresses_alone() {
    let (app, _temp) = app_with(|c| {
        c.limits.trust_forwarded_for = true;
        c.limits.ip_conversations = Rate::new(1, 2);
        c.limits.ip_messages = Rate::new(1, 3);
    })
    .await;
    let noisy = "198.51.100.1";
    let (a, a_token) = created(create_from(&app, noisy).await).await;
    let (b, b_token) = created(create_from(&app, noisy).await).await;
    assert_rate_limited(create_from(&app, noisy).await).await;
    // Only the left-most entry names the client.
    assert_rate_limited(create_from(&app, &format!("{noisy}, 10.0.0.9")).await).await;
    let (c, c_token) = created(create_from(&app, "198.51.100.2").await).await;

    // The address's message budget spans its conversations.
    assert_eq!(
        send_from(&app, noisy, &a, &a_token, "1").await.status(),
        201
    );
    assert_eq!(
        send_from(&app, noisy, &b, &b_token, "1").await.status(),
        201
    );
    assert_eq!(
        send_from(&app, noisy, &b, &b_token, "2").await.status(),
        201
    );
    let before = message_count(&app, &a, &a_token).await;
    assert_rate_limited(send_from(&app, noisy, &a, &a_token, "2").await).await;
    assert_eq!(message_count(&app, &a, &a_token).await, before);

    assert_eq!(
        send_from(&app, "198.51.100.2", &c, &c_token, "1")
            .await
            .status(),
        201
    );
    // The same conversation from another address is that address's spending.
    assert_eq!(
        send_from(&app, "203.0.113.5", &a, &a_token, "2")
            .await
            .status(),
        201
    );
    app.stop().await;
}

#[tokio::test]
async fn escalations_past_the_conversations_limit_are_refused() {
    let (app, _temp) = app_with(|c| c.limits.conversation_handoffs = Rate::new(1, 1)).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let handoff = |id: String, token: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&format!("/v1/conversations/{id}/handoff")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(handoff(id.clone(), token.clone()).await.status(), 201);
    let before = message_count(&app, &id, &token).await;
    assert_rate_limited(handoff(id.clone(), token.clone()).await).await;
    assert_eq!(message_count(&app, &id, &token).await, before);
    let (other, other_token) = app.create(json!({"locale": "en"})).await;
    assert_eq!(handoff(other, other_token).await.status(), 201);
    app.stop().await;
}

#[tokio::test]
async fn typing_past_the_limit_is_dropped_and_the_socket_stays_open() {
    let (app, _temp) = app_with(|c| c.limits.conversation_typing = Rate::new(1, 2)).await;
    let agent = app.add_agent("王芳", &["general"], 2).await;
    app.online(&agent).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    app.say(&id, &token, "talk to a person").await;
    app.tick().await;
    let (status, _) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/conversations/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let mut aws = app.agent_ws(&agent).await;
    aws.next().await.unwrap();
    aws.drain(Duration::from_millis(300)).await;

    let mut sws = app.shopper_ws(&id, &token, 0).await;
    sws.next().await.unwrap();
    for _ in 0..6 {
        sws.send(json!({"type": "typing"})).await;
    }
    sws.send(json!({"type": "ping"})).await;
    sws.until("pong", |v| v["type"] == "pong").await;
    let relayed = aws
        .drain(Duration::from_millis(500))
        .await
        .into_iter()
        .filter(|e| e["type"] == "typing")
        .count();
    assert_eq!(relayed, 2, "the burst of two, then nothing");

    // Still open and still relaying what matters.
    app.say(&id, &token, "still there?").await;
    aws.until("the shopper's message", |v| {
        v["type"] == "message" && v["message"]["text"] == "still there?"
    })
    .await;
    app.stop().await;
}

/// A WebSocket handshake for the conversation with a fresh ticket; the response status.
async fn upgrade(app: &TestApp, id: &str, token: &str) -> reqwest::Response {
    let ticket = app.shopper_ticket(id, token).await;
    app.client
        .get(app.url(&format!("/v1/conversations/{id}/ws?ticket={ticket}")))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_conversation_opens_only_so_many_sockets_at_once() {
    let (app, _temp) = app_with(|c| c.limits.sockets_per_conversation = 2).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let mut first = app.shopper_ws(&id, &token, 0).await;
    first.next().await.unwrap();
    let mut second = app.shopper_ws(&id, &token, 0).await;
    second.next().await.unwrap();
    assert_rate_limited(upgrade(&app, &id, &token).await).await;

    let (other, other_token) = app.create(json!({"locale": "en"})).await;
    assert_eq!(upgrade(&app, &other, &other_token).await.status(), 101);

    // A closed socket gives its place back (once the server has seen it close).
    first.close().await;
    let mut status = 0;
    for _ in 0..100 {
        status = upgrade(&app, &id, &token).await.status().as_u16();
        if status == 101 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 101);
    // The open one still works.
    second.send(json!({"type": "ping"})).await;
    second.until("pong", |v| v["type"] == "pong").await;
    app.stop().await;
}

#[tokio::test]
async fn an_address_with_too_many_refused_tokens_is_turned_away_before_any_check() {
    let (app, _temp) = app_with(|c| {
        c.limits.trust_forwarded_for = true;
        c.limits.ip_auth_failures = Rate::new(1, 3);
    })
    .await;
    let agent = app.add_agent("李明", &["general"], 2).await;
    let guesser = "192.0.2.66";
    let attempt = |token: String, path: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(app.url(path))
                .header("x-forwarded-for", guesser)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    // Distinct guesses, so none is answered from the cache of refusals.
    for i in 0..4 {
        let r = attempt(format!("{}.guess-{i}", agent.id), "/v1/agent/me").await;
        assert_eq!(r.status(), 401, "guess {i}");
    }
    let checks = app.desk.token_checks_run();
    assert_rate_limited(attempt(format!("{}.guess-9", agent.id), "/v1/agent/me").await).await;
    assert_rate_limited(attempt("wrong-admin-token".into(), "/v1/admin/agents").await).await;
    // Locked out: even the right token waits, and nothing was hashed for any of these.
    assert_rate_limited(attempt(agent.token.clone(), "/v1/agent/me").await).await;
    assert_eq!(app.desk.token_checks_run(), checks, "no token checked");

    // Other addresses sign in as usual.
    let r = app
        .client
        .get(app.url("/v1/agent/me"))
        .header("x-forwarded-for", "192.0.2.67")
        .bearer_auth(&agent.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, _) = app
        .admin(reqwest::Method::GET, "/v1/admin/agents", None)
        .await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_long_message_is_stored_whole_though_the_bot_reads_its_start() {
    let (app, _temp) = app_with(|c| c.nlu.max_chars = 40).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let text = format!("How long does shipping take?{}", " zzzz".repeat(300));
    let out = app.say(&id, &token, &text).await;
    assert_eq!(
        out["message"]["text"],
        text.as_str(),
        "stored and shown whole"
    );
    let all = app.messages(&id, &token, 0).await;
    assert_eq!(all["messages"][0]["text"], text.as_str());
    app.stop().await;
}

#[tokio::test]
async fn long_messages_spend_the_message_budgets_by_what_the_bot_reads() {
    let (app, _temp) = app_with(|c| {
        c.limits.conversation_messages = Rate::new(1, 10);
        c.nlu.max_chars = 500;
    })
    .await;
    let long = "where is my parcel ".repeat(40);
    assert!(long.chars().count() > 500);
    let (id, token) = app.create(json!({"locale": "en"})).await;
    // Read up to 500 characters: five units of the budget of ten each.
    app.say(&id, &token, &long).await;
    app.say(&id, &token, &long).await;
    let r = app.send_raw(&id, &token, &long, "long-3").await;
    assert_rate_limited(r).await;

    // Short messages cost one unit: ten of them fit in the same budget.
    let (other, other_token) = app.create(json!({"locale": "en"})).await;
    for i in 0..10 {
        app.say(&other, &other_token, &format!("where is my parcel {i}"))
            .await;
    }
    let r = app
        .send_raw(&other, &other_token, "one more", "short-11")
        .await;
    assert_rate_limited(r).await;
    app.stop().await;
}
