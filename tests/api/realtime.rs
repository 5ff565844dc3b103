//! WebSockets for shoppers and agents: state changes, typing, queue position, reconnecting
//! with a cursor (every missed message exactly once), origin checks, and shutdown.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Socket, spawn_app, spawn_app_with, test_config};

fn seqs(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e["type"] == "message")
        .map(|e| e["message"]["seq"].as_i64().unwrap())
        .collect()
}

async fn messages_until(ws: &mut Socket, last_seq: i64) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let e = ws
            .next()
            .await
            .unwrap_or_else(|| panic!("socket ended before seq {last_seq}: {out:#?}"));
        let done = e["type"] == "message" && e["message"]["seq"] == last_seq;
        out.push(e);
        if done {
            return out;
        }
    }
}

#[tokio::test]
async fn a_shopper_reconnecting_with_a_cursor_gets_every_missed_message_once() {
    let app = spawn_app().await;
    let agent = app.add_agent("王芳", &["general"], 2).await;
    app.online(&agent).await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let mut ws = app.shopper_ws(&id, &token, 0).await;
    let hello = ws.next().await.unwrap();
    assert_eq!(
        (hello["type"].as_str(), hello["state"].as_str()),
        (Some("hello"), Some("bot"))
    );
    let out = app.say(&id, &token, "转人工").await;
    let last = out["replies"].as_array().unwrap().last().unwrap()["seq"]
        .as_i64()
        .unwrap();
    let seen = messages_until(&mut ws, last).await;
    assert_eq!(seqs(&seen), (1..=last).collect::<Vec<_>>());
    let state = ws.until("queued", |v| v["type"] == "state").await;
    assert_eq!(state["state"], "queued");
    app.tick().await;
    app.agent_post(
        &agent,
        &format!("/v1/agent/conversations/{id}/accept"),
        json!({}),
    )
    .await;
    let joined = ws
        .until("agent joined", |v| {
            v["type"] == "message" && v["message"]["meta"]["notice"] == "assigned"
        })
        .await;
    let cursor = joined["message"]["seq"].as_i64().unwrap();
    ws.close().await;

    // While the shopper is away: two agent messages and one the shopper sent from another tab.
    for text in ["第一条", "第二条"] {
        let (s, _) = app
            .agent_post(
                &agent,
                &format!("/v1/agent/conversations/{id}/messages"),
                json!({"text": text}),
            )
            .await;
        assert_eq!(s, 201);
    }
    app.say(&id, &token, "我在另一个标签页").await;

    let mut ws = app.shopper_ws(&id, &token, cursor).await;
    let hello = ws.next().await.unwrap();
    assert_eq!(hello["state"], "assigned");
    assert_eq!(hello["agent_name"], "王芳");
    let missed = messages_until(&mut ws, cursor + 3).await;
    assert_eq!(seqs(&missed), vec![cursor + 1, cursor + 2, cursor + 3]);
    assert_eq!(missed[0]["message"]["text"], "第一条");
    // Live again: the next message arrives once, nothing is repeated.
    app.agent_post(
        &agent,
        &format!("/v1/agent/conversations/{id}/messages"),
        json!({"text": "第三条"}),
    )
    .await;
    let rest = ws.drain(Duration::from_millis(300)).await;
    assert_eq!(seqs(&rest), vec![cursor + 4], "{rest:#?}");
    ws.close().await;
    app.stop().await;
}

#[tokio::test]
async fn an_agent_reconnecting_syncs_what_it_missed_and_typing_goes_both_ways() {
    let app = spawn_app().await;
    let agent = app.add_agent("李明", &["general"], 2).await;
    app.online(&agent).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    app.say(&id, &token, "talk to a person").await;
    app.tick().await;
    app.agent_post(
        &agent,
        &format!("/v1/agent/conversations/{id}/accept"),
        json!({}),
    )
    .await;
    let mut aws = app.agent_ws(&agent).await;
    let hello = aws.next().await.unwrap();
    let cursor = hello["cursors"][&id].as_i64().unwrap();
    assert_eq!(hello["queue"]["assigned"][0]["conversation_id"], id);

    // Typing, both ways.
    let mut sws = app.shopper_ws(&id, &token, cursor).await;
    sws.next().await.unwrap();
    sws.send(json!({"type": "typing"})).await;
    let typing = aws.until("shopper typing", |v| v["type"] == "typing").await;
    assert_eq!(typing["from"], "shopper");
    aws.send(json!({"type": "typing", "conversation_id": id}))
        .await;
    let typing = sws.until("agent typing", |v| v["type"] == "typing").await;
    assert_eq!(
        (typing["from"].as_str(), typing["name"].as_str()),
        (Some("agent"), Some("李明"))
    );
    aws.close().await;

    app.say(&id, &token, "are you there?").await;
    app.say(&id, &token, "hello?").await;
    let mut aws = app.agent_ws(&agent).await;
    aws.next().await.unwrap();
    aws.send(json!({"type": "sync", "cursors": {id.clone(): cursor}}))
        .await;
    let got = messages_until(&mut aws, cursor + 2).await;
    assert_eq!(seqs(&got), vec![cursor + 1, cursor + 2]);
    app.say(&id, &token, "still waiting").await;
    let live = aws.until("live message", |v| v["type"] == "message").await;
    assert_eq!(live["message"]["seq"], cursor + 3);
    let extra = aws.drain(Duration::from_millis(300)).await;
    assert!(seqs(&extra).is_empty(), "nothing twice: {extra:#?}");
    // A sync for someone else's conversation gives nothing.
    let (other, other_token) = app.create(json!({})).await;
    app.say(&other, &other_token, "hi").await;
    aws.send(json!({"type": "sync", "cursors": {other.clone(): 0}}))
        .await;
    let extra = aws.drain(Duration::from_millis(300)).await;
    assert!(
        extra.iter().all(|e| e["conversation_id"] != other),
        "{extra:#?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn shopper_sockets_check_the_origin_and_the_token() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.http.allowed_origins = vec!["https://shop.example".into()];
    let app = spawn_app_with(config).await;
    let (id, token) = app.create(json!({})).await;
    let upgrade = |origin: Option<&'static str>, url: String| {
        let mut r = app
            .client
            .get(url)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    let url = |ticket: &str| app.url(&format!("/v1/conversations/{id}/ws?ticket={ticket}"));
    let ticket = app.shopper_ticket(&id, &token).await;
    assert_eq!(
        status(
            upgrade(Some("https://evil.example"), url(&ticket))
                .await
                .unwrap()
        ),
        403
    );
    let ticket = app.shopper_ticket(&id, &token).await;
    assert_eq!(
        status(
            upgrade(Some("https://shop.example"), url(&ticket))
                .await
                .unwrap()
        ),
        101
    );
    let ticket = app.shopper_ticket(&id, &token).await;
    assert_eq!(
        status(upgrade(None, url(&ticket)).await.unwrap()),
        101,
        "apps send no Origin"
    );
    assert_eq!(status(upgrade(None, url("nope")).await.unwrap()), 401);
    app.stop().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_going_away() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({})).await;
    let mut ws = app.shopper_ws(&id, &token, 0).await;
    ws.next().await.unwrap();
    let stopping = tokio::spawn(app.stop());
    assert!(ws.next().await.is_none(), "closed by the server");
    stopping.await.unwrap();
}
