//! Supervisors over HTTP and WebSockets: the live overview of their groups (queue, agents'
//! conversations, the bot's), reading without the agent noticing, whispers that reach the
//! agent and never the shopper, taking over and reassigning, and missed reply SLAs and
//! alerts that reach them. Time moves only when a test advances the manual clock.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Agent, TestApp, spawn_app};

fn path(id: &str, action: &str) -> String {
    format!("/v1/supervisor/conversations/{id}/{action}")
}

/// A shopper who asked about a refund and then for a person, taken by `agent`.
async fn held_by(app: &TestApp, agent: &Agent) -> (String, String) {
    app.handed_to(
        agent,
        json!({"locale": "zh", "customer": {"id": "u-sup", "name": "韩梅梅"}}),
    )
    .await
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["conversation_id"].as_str().unwrap().to_string())
        .collect()
}

fn shopper_texts(messages: &Value) -> String {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_supervisor_sees_their_groups_live_and_reads_without_the_agent_noticing() {
    let app = spawn_app().await;
    let wang = app.add_agent("王芳", &["after_sales"], 3).await;
    let lead = app
        .add_supervisor("sue", &["general"], 3, &["after_sales"])
        .await;
    let billing_lead = app
        .add_supervisor("bill", &["general"], 3, &["billing"])
        .await;
    app.online(&wang).await;
    let (held, token) = held_by(&app, &wang).await;
    // Another shopper is still talking to the bot about a refund: after_sales' topic.
    let (with_bot, bot_token) = app.create(json!({"locale": "zh"})).await;
    app.say(&with_bot, &bot_token, "退款多久能到账").await;
    // The accept woke the dispatcher, whose pass tells 王芳 her queue is empty again; run a
    // pass now so that news is old before her console listens for what the reading causes.
    app.tick().await;
    let mut wang_ws = app.agent_ws(&wang).await;
    wang_ws.next().await.expect("hello");

    let (s, o) = app.agent_get(&lead, "/v1/supervisor/overview").await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["groups"], json!(["after_sales"]));
    assert_eq!(ids(&o["assigned"]), vec![held.clone()]);
    assert_eq!(o["assigned"][0]["agent_name"], "王芳");
    assert!(
        o["assigned"][0]["awaiting_reply_ms"].as_i64().is_some(),
        "the shopper waits for 王芳's first words: {o:#}"
    );
    assert_eq!(ids(&o["bot"]), vec![with_bot.clone()]);
    assert_eq!(o["bot"][0]["skill"], "after_sales");
    let agents: Vec<&str> = o["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(agents, vec!["王芳"], "the agents of the supervised group");
    assert_eq!(o["agents"][0]["load"], 1);

    // Another group's supervisor sees none of it and reads none of it.
    let (_, other) = app
        .agent_get(&billing_lead, "/v1/supervisor/overview")
        .await;
    assert!(ids(&other["assigned"]).is_empty() && ids(&other["bot"]).is_empty());
    for id in [&held, &with_bot] {
        let (s, _) = app
            .agent_get(&billing_lead, &format!("/v1/supervisor/conversations/{id}"))
            .await;
        assert_eq!(s, 403);
    }
    // An agent who supervises nothing has no overview.
    let (s, b) = app.agent_get(&wang, "/v1/supervisor/overview").await;
    assert_eq!((s, b["error"].as_str()), (403, Some("forbidden")), "{b}");

    // Reading: the whole context, and nobody is told.
    let messages_before = app.messages(&held, &token, 0).await;
    let (s, view) = app
        .agent_get(&lead, &format!("/v1/supervisor/conversations/{held}"))
        .await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["agent_id"], wang.id.as_str());
    assert!(
        shopper_texts(&view["transcript"]).contains("退款多久到账"),
        "{view:#}"
    );
    let (s, bot_view) = app
        .agent_get(&lead, &format!("/v1/supervisor/conversations/{with_bot}"))
        .await;
    assert_eq!((s, bot_view["state"].as_str()), (200, Some("bot")));
    let heard = wang_ws.drain(Duration::from_millis(300)).await;
    assert!(heard.is_empty(), "the agent's console heard: {heard:#?}");
    assert_eq!(app.messages(&held, &token, 0).await, messages_before);
    app.stop().await;
}

#[tokio::test]
async fn a_whisper_reaches_the_agent_and_never_the_shopper() {
    let app = spawn_app().await;
    let wang = app.add_agent("王芳", &["after_sales"], 3).await;
    let lead = app
        .add_supervisor("sue", &["general"], 3, &["after_sales"])
        .await;
    app.online(&wang).await;
    let (id, token) = held_by(&app, &wang).await;
    let mut wang_ws = app.agent_ws(&wang).await;
    wang_ws.next().await.expect("hello");

    let (s, note) = app
        .agent_post(
            &lead,
            &path(&id, "whisper"),
            json!({"text": "先核对退款单号再答复"}),
        )
        .await;
    assert_eq!(s, 201, "{note}");
    assert_eq!(note["whisper"], true);
    let heard = wang_ws.until("note", |v| v["type"] == "note").await;
    assert_eq!(heard["note"]["text"], "先核对退款单号再答复");
    assert_eq!(heard["note"]["whisper"], true);
    assert_eq!(heard["note"]["agent_name"], "sue");
    let (_, view) = app
        .agent_get(&wang, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(view["notes"][0]["whisper"], true, "{view:#}");
    assert!(
        !shopper_texts(&app.messages(&id, &token, 0).await["messages"]).contains("核对退款单号"),
        "the shopper never sees a whisper"
    );
    let (s, _) = app
        .agent_post(&lead, &path(&id, "whisper"), json!({"text": "   "}))
        .await;
    assert_eq!(s, 422, "a blank whisper is refused");
    let audit = app.service.store().audit_log(Some(&id), 50).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "whisper"));
    app.stop().await;
}

#[tokio::test]
async fn take_over_and_reassign_move_the_conversation_and_tell_everyone() {
    let app = spawn_app().await;
    let wang = app.add_agent("王芳", &["after_sales"], 3).await;
    let li = app.add_agent("李明", &["after_sales"], 3).await;
    let away = app.add_agent("zhao", &["after_sales"], 3).await;
    let lead = app
        .add_supervisor("sue", &["general"], 1, &["after_sales"])
        .await;
    for a in [&wang, &lead] {
        app.online(a).await;
    }
    let (id, token) = held_by(&app, &wang).await;
    let mut wang_ws = app.agent_ws(&wang).await;
    wang_ws.next().await.expect("hello");
    let mut lead_ws = app.agent_ws(&lead).await;
    lead_ws.next().await.expect("hello");

    // Taking over: the supervisor holds it, the agent is told, the shopper greeted.
    let (s, b) = app
        .agent_post(&lead, &path(&id, "take-over"), json!({}))
        .await;
    assert_eq!((s, b["state"].as_str()), (200, Some("assigned")), "{b}");
    let left = wang_ws
        .until("unassigned", |v| v["type"] == "unassigned")
        .await;
    assert_eq!(left["reason"], "take_over");
    lead_ws.until("assigned", |v| v["type"] == "assigned").await;
    assert!(shopper_texts(&app.messages(&id, &token, 0).await["messages"]).contains("sue"));
    let (s, _) = app
        .agent_post(
            &lead,
            &format!("/v1/agent/conversations/{id}/messages"),
            json!({"text": "您好，我来帮您处理退款"}),
        )
        .await;
    assert_eq!(s, 201, "the supervisor answers as the holder now");
    let (s, _) = app
        .agent_post(
            &wang,
            &format!("/v1/agent/conversations/{id}/messages"),
            json!({"text": "hi"}),
        )
        .await;
    assert_eq!(s, 403, "the former holder no longer writes");
    let (s, _) = app
        .agent_post(&lead, &path(&id, "take-over"), json!({}))
        .await;
    assert_eq!(s, 409, "already theirs");

    // Reassigning: only to an active agent who is online.
    let (s, b) = app
        .agent_post(&lead, &path(&id, "reassign"), json!({"agent": "zhao"}))
        .await;
    assert_eq!(s, 409, "{} is away: {b}", away.name);
    let (s, _) = app
        .agent_post(&lead, &path(&id, "reassign"), json!({"agent": "nobody"}))
        .await;
    assert_eq!(s, 422);
    app.online(&li).await;
    let mut li_ws = app.agent_ws(&li).await;
    li_ws.next().await.expect("hello");
    let (s, b) = app
        .agent_post(&lead, &path(&id, "reassign"), json!({"agent": "李明"}))
        .await;
    assert_eq!(s, 200, "{b}");
    let got = li_ws.until("assigned", |v| v["type"] == "assigned").await;
    assert_eq!(got["conversation_id"], id.as_str());
    assert_eq!(
        app.open_handoff(&id).await.agent_id.as_deref(),
        Some(li.id.as_str())
    );
    lead_ws
        .until("unassigned", |v| v["type"] == "unassigned")
        .await;
    // An agent is not a supervisor.
    let (s, _) = app
        .agent_post(&wang, &path(&id, "take-over"), json!({}))
        .await;
    assert_eq!(s, 403);
    let actions: Vec<String> = app
        .service
        .store()
        .audit_log(Some(&id), 50)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(actions.iter().any(|a| a == "take_over") && actions.iter().any(|a| a == "reassign"));
    app.stop().await;
}

#[tokio::test]
async fn a_missed_reply_sla_reaches_the_supervisor() {
    let app = spawn_app().await;
    let slow = app.add_agent("slow", &["after_sales"], 3).await;
    let lead = app
        .add_supervisor("sue", &["general"], 3, &["after_sales"])
        .await;
    app.online(&slow).await;
    app.online(&lead).await;
    let (id, _) = held_by(&app, &slow).await;
    // Both keep a socket open, so presence holds while the clock runs.
    let mut slow_ws = app.agent_ws(&slow).await;
    slow_ws.next().await.expect("hello");
    let mut lead_ws = app.agent_ws(&lead).await;
    lead_ws.next().await.expect("hello");
    app.advance(Duration::from_secs(301)).await;
    let sla = lead_ws.until("sla", |v| v["type"] == "sla").await;
    assert_eq!(
        (sla["kind"].as_str(), sla["conversation_id"].as_str()),
        (Some("reply"), Some(id.as_str()))
    );
    slow_ws.until("sla", |v| v["type"] == "sla").await;
    let (_, o) = app.agent_get(&lead, "/v1/supervisor/overview").await;
    assert_eq!(o["reply_sla_breached"], 1, "{o:#}");
    assert_eq!(o["assigned"][0]["sla_reply_breached"], true);
    app.stop().await;
}
