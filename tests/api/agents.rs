//! The human side, end to end over HTTP and WebSockets with several agents: offers and
//! acceptance, the agent's view, replies, notes, transfers, resolution and rating, queue
//! order, capacity, offer timeouts, SLA widening, off-hours tickets and who may see what.
//! Time moves only when a test advances the manual clock.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ALL_SKILLS, TestApp, clock_at, spawn_app, spawn_app_at, test_config};

fn path(id: &str, action: &str) -> String {
    format!("/v1/agent/conversations/{id}/{action}")
}

fn texts(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

/// A shopper who asked about a refund, then for a person.
async fn escalated_refund(app: &TestApp) -> (String, String) {
    let (id, token) = refund_question(app).await;
    ask_for_a_person(app, &id, &token).await;
    (id, token)
}

/// A shopper who asked about a refund.
async fn refund_question(app: &TestApp) -> (String, String) {
    let (id, token) = app
        .create(json!({"locale": "zh", "channel": "app", "customer": {"id": "u7", "name": "韩梅梅", "tags": ["plus"]}}))
        .await;
    app.say(
        &id,
        &token,
        "我的订单MM202611110001退款多久到账？电话13812345678",
    )
    .await;
    (id, token)
}

async fn ask_for_a_person(app: &TestApp, id: &str, token: &str) {
    let out = app.say(id, token, "转人工").await;
    assert_eq!(out["state"], "queued", "{out:#}");
}

#[tokio::test]
async fn escalation_offer_accept_reply_transfer_resolve_and_rate() {
    let app = spawn_app().await;
    let wang = app.add_agent("王芳", &["after_sales"], 2).await;
    let li = app.add_agent("李明", &["billing"], 2).await;
    app.online(&wang).await;
    app.online(&li).await;
    let mut wang_ws = app.agent_ws(&wang).await;
    let hello = wang_ws.next().await.unwrap();
    assert_eq!(hello["type"], "hello");

    // The shopper's socket is open before they ask, so it sees the queue event (a socket
    // opened later reads its place in the hello instead).
    let (id, token) = refund_question(&app).await;
    let mut shopper_ws = app.shopper_ws(&id, &token, 0).await;
    assert_eq!(shopper_ws.next().await.unwrap()["type"], "hello");
    ask_for_a_person(&app, &id, &token).await;
    app.tick().await;

    // The offer reaches the after-sales agent, with a summary to decide on.
    let offer = wang_ws
        .until("offer", |v| {
            v["type"] == "offer" && v["conversation_id"] == id
        })
        .await;
    assert_eq!(offer["reason"], "requested_human");
    assert!(
        offer["summary"]
            .as_str()
            .unwrap()
            .contains("MM202611110001")
    );
    assert!(
        app.offers(&li).await.is_empty(),
        "billing is not offered it"
    );
    let queue = shopper_ws.until("queue", |v| v["type"] == "queue").await;
    assert_eq!(queue["position"], 1);
    assert!(
        queue["text"].as_str().unwrap().contains("预计等待"),
        "{queue}"
    );

    // Accept: the agent gets the whole context pushed; the shopper sees who joined.
    let (s, b) = app.agent_post(&wang, &path(&id, "accept"), json!({})).await;
    assert_eq!(s, 200, "{b}");
    let assigned = wang_ws.until("assigned", |v| v["type"] == "assigned").await;
    let view = &assigned["view"];
    assert_eq!(view["state"], "assigned");
    assert_eq!(view["reason"], "requested_human");
    assert_eq!(view["customer"]["name"], "韩梅梅");
    assert_eq!(view["channel"], "app");
    assert_eq!(view["transcript"][0]["intent"], "refund_status");
    assert!(view["transcript"][0]["confidence"].as_f64().unwrap() > 0.5);
    assert!(
        !view["transcript"][0]["faq_candidates"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let first_line = view["transcript"][0]["text"].as_str().unwrap();
    assert!(first_line.contains("138****5678"), "masked: {first_line}");
    assert!(view["summary"].as_str().unwrap().contains("MM202611110001"));
    let state = shopper_ws
        .until("assigned state", |v| {
            v["type"] == "state" && v["state"] == "assigned"
        })
        .await;
    assert_eq!(state["agent_name"], "王芳");

    // The same view in one call.
    let (s, got) = app
        .agent_get(&wang, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(got["agent_id"], wang.id);
    assert!(got["waiting_ms"].as_i64().is_some());

    // A shopper message in a human-owned conversation: assist suggestions for the agent.
    app.say(&id, &token, "退款什么时候能到账").await;
    let assist = wang_ws.until("assist", |v| v["type"] == "assist").await;
    let suggestions = assist["suggestions"].as_array().unwrap();
    assert!(!suggestions.is_empty(), "{assist}");
    assert!(suggestions[0]["answer"].as_str().unwrap().len() > 10);

    // Reply (idempotent by client_msg_id), internal note.
    let body = json!({"text": "您好，退款已加急处理", "client_msg_id": "r1"});
    let (s, first) = app
        .agent_post(&wang, &path(&id, "messages"), body.clone())
        .await;
    assert_eq!(s, 201, "{first}");
    let (s, again) = app.agent_post(&wang, &path(&id, "messages"), body).await;
    assert_eq!((s, again["duplicate"].as_bool()), (200, Some(true)));
    let reply = shopper_ws
        .until("agent reply", |v| {
            v["type"] == "message" && v["message"]["author"] == "agent"
        })
        .await;
    assert_eq!(reply["message"]["text"], "您好，退款已加急处理");
    assert_eq!(reply["message"]["meta"]["agent_name"], "王芳");
    let (s, _) = app
        .agent_post(
            &wang,
            &path(&id, "notes"),
            json!({"text": "客户很着急，已提交财务"}),
        )
        .await;
    assert_eq!(s, 201);
    let transcript = app.messages(&id, &token, 0).await;
    let all = texts(&transcript["messages"]);
    assert_eq!(
        all.iter().filter(|t| *t == "您好，退款已加急处理").count(),
        1
    );
    assert!(
        !all.iter().any(|t| t.contains("已提交财务")),
        "notes stay internal"
    );

    // Transfer to billing with a note: li is offered it and sees the note.
    let (s, b) = app
        .agent_post(
            &wang,
            &path(&id, "transfer"),
            json!({"skill": "billing", "note": "需要开发票"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["state"], "queued");
    wang_ws
        .until("unassigned", |v| v["type"] == "unassigned")
        .await;
    app.tick().await;
    assert_eq!(app.offers(&li).await, vec![id.clone()]);
    let (s, _) = app.agent_post(&li, &path(&id, "accept"), json!({})).await;
    assert_eq!(s, 200);
    let (_, view) = app
        .agent_get(&li, &format!("/v1/agent/conversations/{id}"))
        .await;
    let notes: Vec<&str> = view["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    assert_eq!(notes, ["客户很着急，已提交财务", "需要开发票"]);
    let (s, _) = app
        .agent_post(&wang, &path(&id, "messages"), json!({"text": "我还在"}))
        .await;
    assert_eq!(s, 403, "the previous agent no longer acts on it");

    // Resolve: the shopper is asked for a rating, rates once.
    let (s, b) = app.agent_post(&li, &path(&id, "resolve"), json!({})).await;
    assert_eq!(s, 200, "{b}");
    let resolved = shopper_ws
        .until("rating request", |v| {
            v["type"] == "message" && v["message"]["meta"]["notice"] == "resolved"
        })
        .await;
    assert!(
        resolved["message"]["text"]
            .as_str()
            .unwrap()
            .contains("1–5")
    );
    let rate = |score: u8| {
        app.client
            .post(app.url(&format!("/v1/conversations/{id}/rating")))
            .bearer_auth(&token)
            .json(&json!({"score": score, "comment": "很快"}))
            .send()
    };
    assert_eq!(rate(5).await.unwrap().status(), 201);
    assert_eq!(
        rate(4).await.unwrap().status(),
        409,
        "one rating per resolution"
    );
    assert_eq!(rate(9).await.unwrap().status(), 422);

    // Back with the bot: a new question is answered, not re-escalated.
    let out = app.say(&id, &token, "发票怎么开").await;
    assert_eq!(out["state"], "bot", "{out:#}");
    assert!(!out["replies"].as_array().unwrap().is_empty());

    // Every action is in the audit log, with the agent.
    let actions: Vec<(String, String)> = app
        .service
        .store()
        .audit_log(Some(&id), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.action, a.actor))
        .collect();
    for (action, actor) in [
        ("accept", format!("agent:{}", wang.id)),
        ("reply", format!("agent:{}", wang.id)),
        ("note", format!("agent:{}", wang.id)),
        ("transfer", format!("agent:{}", wang.id)),
        ("accept", format!("agent:{}", li.id)),
        ("resolve", format!("agent:{}", li.id)),
        ("rate", "shopper".to_string()),
        ("offer", "system".to_string()),
    ] {
        assert!(
            actions.iter().any(|(a, who)| a == action && *who == actor),
            "{action} by {actor} missing from {actions:?}"
        );
    }
    shopper_ws.close().await;
    wang_ws.close().await;
    app.stop().await;
}

#[tokio::test]
async fn complaints_and_vips_jump_the_queue_and_capacity_is_respected() {
    let app = spawn_app().await;
    let solo = app.add_agent("陈静", ALL_SKILLS, 1).await;
    app.online(&solo).await;
    let (first, _) = escalated_refund(&app).await;
    app.tick().await;
    assert_eq!(app.offers(&solo).await, vec![first.clone()]);
    let (s, _) = app
        .agent_post(&solo, &path(&first, "accept"), json!({}))
        .await;
    assert_eq!(s, 200);

    // The agent is full: later conversations wait, in priority order.
    let (plain, plain_token) = app.create(json!({"locale": "zh"})).await;
    app.say(&plain, &plain_token, "转人工").await;
    let vip_customer = app.signed(json!({"id": "u-vip", "vip": true}));
    let (vip, vip_token) = app.create(json!({"customer_token": vip_customer})).await;
    app.say(&vip, &vip_token, "转人工").await;
    let (angry, angry_token) = app
        .create(json!({"locale": "en", "customer_token": vip_customer}))
        .await;
    let out = app
        .say(
            &angry,
            &angry_token,
            "This is unacceptable, the worst service ever",
        )
        .await;
    assert_eq!(out["handoff"]["priority"], "urgent", "{out:#}");
    app.tick().await;
    assert!(
        app.offers(&solo).await.is_empty(),
        "capacity 1 is respected"
    );
    let (_, q) = app.agent_get(&solo, "/v1/agent/queue").await;
    let order: Vec<&str> = q["queued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, [angry.as_str(), vip.as_str(), plain.as_str()]);
    let (s, b) = app
        .agent_post(&solo, &path(&plain, "accept"), json!({}))
        .await;
    assert_eq!(s, 409, "taking one more is refused: {b}");

    // The shopper sees their place.
    let state: Value = app
        .client
        .get(app.url(&format!("/v1/conversations/{plain}")))
        .bearer_auth(&plain_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["queue"]["position"], 3, "{state:#}");

    // Freed, the agent is offered the complaint first.
    app.agent_post(&solo, &path(&first, "resolve"), json!({}))
        .await;
    app.tick().await;
    assert_eq!(app.offers(&solo).await, vec![angry.clone()]);
    app.stop().await;
}

#[tokio::test]
async fn an_unanswered_offer_moves_on_to_the_next_agent() {
    let app = spawn_app().await;
    let a = app.add_agent("agent-a", &["general"], 2).await;
    let b = app.add_agent("agent-b", &["general"], 2).await;
    app.online(&a).await;
    app.online(&b).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    app.say(&id, &token, "I want to talk to a person").await;
    app.tick().await;
    let first = if app.offers(&a).await == vec![id.clone()] {
        (&a, &b)
    } else {
        assert_eq!(app.offers(&b).await, vec![id.clone()]);
        (&b, &a)
    };
    app.advance(Duration::from_secs(29)).await;
    assert_eq!(
        app.offers(first.0).await,
        vec![id.clone()],
        "still within 30 s"
    );
    app.advance(Duration::from_secs(2)).await;
    assert!(app.offers(first.0).await.is_empty());
    assert_eq!(app.offers(first.1).await, vec![id.clone()], "moved on");
    // Declining sends it back to the first agent (nobody else is left).
    let (s, _) = app
        .agent_post(first.1, &path(&id, "decline"), json!({}))
        .await;
    assert_eq!(s, 204);
    app.tick().await;
    assert_eq!(app.offers(first.0).await, vec![id.clone()]);
    let (s, _) = app
        .agent_post(first.1, &path(&id, "accept"), json!({}))
        .await;
    assert_eq!(s, 409, "offered to someone else");
    app.stop().await;
}

#[tokio::test]
async fn waiting_past_the_sla_widens_to_the_fallback_group() {
    let app = spawn_app().await;
    let billing = app.add_agent("billing-only", &["billing"], 2).await;
    let general = app.add_agent("generalist", &["general"], 2).await;
    app.online(&billing).await;
    app.online(&general).await;
    // Both stay connected (presence), the billing agent is away, so the conversation waits.
    let _sockets = (app.agent_ws(&billing).await, app.agent_ws(&general).await);
    app.agent_post(&billing, "/v1/agent/status", json!({"status": "away"}))
        .await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    app.say(&id, &token, "发票怎么开").await;
    let out = app.say(&id, &token, "转人工").await;
    assert_eq!(out["handoff"]["skill"], "billing", "{out:#}");
    app.tick().await;
    assert!(
        app.offers(&general).await.is_empty(),
        "not the generalist's group yet"
    );
    let (s, _) = app
        .agent_get(&general, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(s, 403, "another group's queue is not readable");

    app.advance(Duration::from_secs(179)).await;
    assert!(app.offers(&general).await.is_empty());
    app.advance(Duration::from_secs(2)).await;
    assert_eq!(app.offers(&general).await, vec![id.clone()]);
    let (_, q) = app.agent_get(&general, "/v1/agent/queue").await;
    assert_eq!(q["offered"][0]["sla_wait_breached"], true);
    let audit = app.service.store().audit_log(Some(&id), 50).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "sla_wait_breach"));
    app.stop().await;
}

#[tokio::test]
async fn an_assigned_conversation_without_a_reply_is_flagged() {
    let app = spawn_app().await;
    let a = app.add_agent("slow", &["general"], 2).await;
    app.online(&a).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    app.say(&id, &token, "talk to a human").await;
    app.tick().await;
    app.agent_post(&a, &path(&id, "accept"), json!({})).await;
    let mut ws = app.agent_ws(&a).await;
    ws.next().await.unwrap();
    app.advance(Duration::from_secs(301)).await;
    let sla = ws.until("sla", |v| v["type"] == "sla").await;
    assert_eq!(sla["kind"], "reply");
    let (_, q) = app.agent_get(&a, "/v1/agent/queue").await;
    assert_eq!(q["assigned"][0]["sla_reply_breached"], true);
    // Answering clears the wait (the flag stays for the record).
    app.agent_post(
        &a,
        &path(&id, "messages"),
        json!({"text": "Sorry for the wait!"}),
    )
    .await;
    let h = app
        .service
        .store()
        .open_handoff(&id)
        .await
        .unwrap()
        .unwrap();
    assert!(h.routing.awaiting_reply_since.is_none());
    assert!(h.routing.first_response_at.is_some());
    app.stop().await;
}

#[tokio::test]
async fn off_hours_the_shopper_leaves_a_message_and_the_bot_keeps_answering() {
    let temp = tempfile::tempdir().unwrap();
    // 23:30 in Shanghai: after the default 09:00–22:00.
    let app = spawn_app_at(test_config(temp.path()), clock_at("2026-11-11T15:30:00Z")).await;
    let agent = app
        .add_agent("morning", &["general", "after_sales"], 3)
        .await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let out = app.say(&id, &token, "转人工").await;
    assert_eq!(out["state"], "bot", "nobody is queued at night: {out:#}");
    let notice = out["replies"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(notice["meta"]["notice"], "off_hours");
    assert_eq!(notice["meta"]["leave_message"], true);
    assert!(notice["text"].as_str().unwrap().contains("09:00–22:00"));

    let r = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/tickets")))
        .bearer_auth(&token)
        .json(&json!({"contact": "13812345678", "text": "明早请给我回电话，退款的事"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let bad = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/tickets")))
        .bearer_auth(&token)
        .json(&json!({"contact": "", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);

    // The bot still answers what it can.
    let faq = app.say(&id, &token, "退货运费谁出").await;
    assert_eq!(faq["state"], "bot");
    assert_eq!(faq["replies"][0]["author"], "bot", "{faq:#}");

    // The agent sees the ticket when they come back, and closes it.
    let (s, t) = app.agent_get(&agent, "/v1/agent/tickets").await;
    assert_eq!(s, 200);
    let tickets = t["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 1, "{t}");
    assert_eq!(tickets[0]["contact"], "13812345678");
    let tid = tickets[0]["id"].as_str().unwrap();
    let (s, _) = app
        .agent_post(&agent, &format!("/v1/agent/tickets/{tid}/close"), json!({}))
        .await;
    assert_eq!(s, 204);
    let (_, t) = app.agent_get(&agent, "/v1/agent/tickets").await;
    assert!(t["tickets"].as_array().unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn within_hours_with_nobody_online_the_shopper_is_told_and_still_queued() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let out = app.say(&id, &token, "talk to a human").await;
    assert_eq!(out["state"], "queued");
    let notice = out["replies"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(notice["meta"]["notice"], "no_agent_online");
    assert_eq!(notice["meta"]["leave_message"], true);
    assert!(
        notice["text"]
            .as_str()
            .unwrap()
            .contains("nobody is online")
    );
    app.stop().await;
}

#[tokio::test]
async fn agents_only_reach_their_conversations_and_shoppers_only_theirs() {
    let app = spawn_app().await;
    let mine = app.add_agent("owner", &["after_sales"], 2).await;
    let other = app.add_agent("other", &["orders"], 2).await;
    let colleague = app.add_agent("colleague", &["after_sales"], 2).await;
    app.online(&mine).await;
    let (id, token) = escalated_refund(&app).await;
    app.tick().await;
    app.agent_post(&mine, &path(&id, "accept"), json!({})).await;

    for (agent, expect) in [(&other, 403), (&colleague, 403)] {
        let (s, b) = app
            .agent_get(agent, &format!("/v1/agent/conversations/{id}"))
            .await;
        assert_eq!(s, expect, "{}: {b}", agent.name);
        assert_eq!(b["error"], "forbidden");
        for action in ["messages", "resolve", "transfer", "return-to-bot", "reveal"] {
            let (s, _) = app
                .agent_post(
                    agent,
                    &path(&id, action),
                    json!({"text": "hi", "skill": "orders"}),
                )
                .await;
            assert!(s == 403 || s == 422, "{action} by {}: {s}", agent.name);
        }
    }
    let (s, _) = app
        .agent_get(&mine, "/v1/agent/conversations/not-a-uuid")
        .await;
    assert_eq!(s, 404);

    // Unmasking is for the holder, and audited.
    let (s, r) = app.agent_post(&mine, &path(&id, "reveal"), json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(r["entities"][0]["value"], "13812345678", "{r}");
    let audit = app.service.store().audit_log(Some(&id), 50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "reveal" && a.actor == format!("agent:{}", mine.id))
    );

    // Wrong, missing and shopper tokens on the agent API; agent tokens on the shopper API.
    let status = |r: reqwest::Response| r.status().as_u16();
    let wrong = format!("{}.{}", mine.id, "x".repeat(43));
    for bearer in [wrong.as_str(), "garbage", token.as_str()] {
        let r = app
            .client
            .get(app.url("/v1/agent/queue"))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(status(r), 401);
    }
    let r = app
        .client
        .get(app.url("/v1/agent/queue"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 401);
    let (other_id, _) = app.create(json!({})).await;
    let r = app
        .client
        .get(app.url(&format!("/v1/conversations/{other_id}/messages")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status(r),
        401,
        "a shopper token opens its own conversation only"
    );
    let r = app
        .client
        .get(app.url(&format!("/v1/conversations/{id}/messages")))
        .bearer_auth(&mine.token)
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_dropped_agent_goes_offline_after_the_grace_period_and_nothing_is_stranded() {
    let app = spawn_app().await;
    let a = app.add_agent("flaky", &["general"], 2).await;
    let b = app.add_agent("steady", &["general"], 2).await;
    app.online(&a).await;
    let ws_a = app.agent_ws(&a).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    app.say(&id, &token, "talk to a human").await;
    app.tick().await;
    app.agent_post(&a, &path(&id, "accept"), json!({})).await;

    app.online(&b).await;
    let mut ws_b = app.agent_ws(&b).await;
    ws_b.next().await.unwrap();
    ws_a.close().await;
    crate::helpers::eventually("the server notices the closed socket", || {
        !app.service.hub().agent_connected(&a.id)
    })
    .await;
    // b stays present through its socket while a's connection is gone.
    app.advance(Duration::from_secs(30)).await;
    let h = app
        .service
        .store()
        .open_handoff(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        h.agent_id.as_deref(),
        Some(a.id.as_str()),
        "within the grace period"
    );
    app.advance(Duration::from_secs(31)).await;
    let h = app
        .service
        .store()
        .open_handoff(&id)
        .await
        .unwrap()
        .unwrap();
    assert!(h.is_queued(), "back in the queue: {h:?}");
    app.tick().await;
    assert_eq!(app.offers(&b).await, vec![id.clone()]);
    let (_, me) = app.agent_get(&b, "/v1/agent/me").await;
    assert_eq!(me["effective_status"], "online");
    let agents = app.service.store().agents().await.unwrap();
    let flaky = agents.iter().find(|x| x.id == a.id).unwrap();
    assert_eq!(flaky.status.as_str(), "offline");
    app.stop().await;
}

#[tokio::test]
async fn a_returning_customer_is_offered_first_to_the_agent_who_helped_them() {
    let app = spawn_app().await;
    let wang = app.add_agent("王芳", ALL_SKILLS, 3).await;
    let li = app.add_agent("李雷", ALL_SKILLS, 3).await;
    app.online(&wang).await;
    app.online(&li).await;
    let customer = app.signed(json!({"id": "u-42"}));
    let escalate = |body: Value| {
        let app = &app;
        async move {
            let (id, token) = app.create(body).await;
            app.say(&id, &token, "转人工").await;
            app.tick().await;
            id
        }
    };

    // The first visit: equal agents, so routing offers it to the first one; she helps.
    let first = escalate(json!({"locale": "zh", "customer_token": customer})).await;
    assert_eq!(app.offers(&wang).await, vec![first.clone()]);
    for action in ["accept", "resolve"] {
        let (s, b) = app
            .agent_post(&wang, &path(&first, action), json!({}))
            .await;
        assert_eq!(s, 200, "{action}: {b}");
    }
    // She takes someone else's conversation: now the usual pick is the idle 李雷.
    let busy = escalate(json!({"locale": "zh"})).await;
    assert_eq!(app.offers(&wang).await, vec![busy.clone()]);
    let (s, _) = app
        .agent_post(&wang, &path(&busy, "accept"), json!({}))
        .await;
    assert_eq!(s, 200);

    // The customer comes back: offered to the agent who knows their story, who has room.
    let again = escalate(json!({"locale": "zh", "customer_token": customer})).await;
    assert_eq!(app.offers(&wang).await, vec![again.clone()]);
    assert!(app.offers(&li).await.is_empty());
    // The offer says why, so the console can show "returning customer".
    let (s, view) = app
        .agent_get(&wang, &format!("/v1/agent/conversations/{again}"))
        .await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(
        view["routing"]["returning_to"],
        wang.id.as_str(),
        "{view:#}"
    );

    // Someone who only claims to be that customer is routed as usual.
    let guest = escalate(json!({"locale": "zh", "customer": {"id": "u-42"}})).await;
    assert_eq!(app.offers(&li).await, vec![guest]);
    app.stop().await;
}
