//! Who may see and do what, and for how long: only the agent holding a conversation acts on
//! it or unmasks its personal data; others who may take it read it masked, and only while
//! online; access ends with the handoff; a revoked agent's socket closes at once. Also the
//! limits around it: tickets, draft approvals, transfer targets, agent names, stats ranges.

use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::{
    ADMIN_TOKEN, Agent, TestApp, clock_at, editable_app, spawn_app, spawn_app_at, spawn_app_with,
    test_config, without_rate_limits,
};

fn path(id: &str, action: &str) -> String {
    format!("/v1/agent/conversations/{id}/{action}")
}

/// A shopper who gave a phone number, then asked for a person (after-sales).
async fn escalated(app: &TestApp) -> (String, String) {
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    app.say(
        &id,
        &token,
        "我的订单MM202611110001退款多久到账？电话13812345678",
    )
    .await;
    let out = app.say(&id, &token, "转人工").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    assert_eq!(out["handoff"]["skill"], "after_sales", "{out:#}");
    (id, token)
}

async fn view(app: &TestApp, agent: &Agent, id: &str) -> (u16, Value) {
    app.agent_get(agent, &format!("/v1/agent/conversations/{id}"))
        .await
}

async fn reveal(app: &TestApp, agent: &Agent, id: &str) -> u16 {
    app.agent_post(agent, &path(id, "reveal"), json!({}))
        .await
        .0
}

async fn note(app: &TestApp, agent: &Agent, id: &str) -> u16 {
    app.agent_post(agent, &path(id, "notes"), json!({"text": "看一下"}))
        .await
        .0
}

#[tokio::test]
async fn only_the_holder_reveals_or_notes_and_others_read_masked_while_online() {
    let app = spawn_app().await;
    let wang = app.add_agent("王芳", &["after_sales"], 2).await;
    let li = app.add_agent("李明", &["after_sales"], 2).await;
    app.online(&wang).await;
    let (id, _) = escalated(&app).await;
    app.tick().await;
    assert_eq!(app.offers(&wang).await, vec![id.clone()]);

    // Same group, offline: nothing at all.
    let (s, b) = view(&app, &li, &id).await;
    assert_eq!((s, b["error"].as_str()), (403, Some("forbidden")), "{b}");
    assert_eq!(
        reveal(&app, &li, &id).await,
        403,
        "offline colleague reveals"
    );
    assert_eq!(note(&app, &li, &id).await, 403, "offline colleague notes");
    let (_, q) = app.agent_get(&li, "/v1/agent/queue").await;
    assert!(q["queued"].as_array().unwrap().is_empty(), "{q}");

    // Offered: the masked view only.
    let (s, v) = view(&app, &wang, &id).await;
    assert_eq!(s, 200, "{v}");
    let text = v.to_string();
    assert!(
        text.contains("138****5678") && !text.contains("13812345678"),
        "{v}"
    );
    assert_eq!(reveal(&app, &wang, &id).await, 403, "offered, not held");
    assert_eq!(note(&app, &wang, &id).await, 403);

    // Same group, online: the masked view only; away: nothing.
    app.online(&li).await;
    let (s, _) = view(&app, &li, &id).await;
    assert_eq!(s, 200);
    assert_eq!(reveal(&app, &li, &id).await, 403);
    assert_eq!(note(&app, &li, &id).await, 403);
    let (s, _) = app
        .agent_post(&li, "/v1/agent/status", json!({"status": "away"}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        view(&app, &li, &id).await.0,
        403,
        "away sees nothing queued"
    );
    let (s, b) = app.agent_post(&li, &path(&id, "accept"), json!({})).await;
    assert_eq!(s, 409, "{b}");

    // The holder does everything, and nobody else reads it any more.
    let (s, b) = app.agent_post(&wang, &path(&id, "accept"), json!({})).await;
    assert_eq!(s, 200, "{b}");
    let (s, r) = app.agent_post(&wang, &path(&id, "reveal"), json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(r["entities"][0]["value"], "13812345678", "{r}");
    assert_eq!(note(&app, &wang, &id).await, 201);
    app.online(&li).await;
    assert_eq!(view(&app, &li, &id).await.0, 403);
    assert_eq!(reveal(&app, &li, &id).await, 403);
    assert_eq!(note(&app, &li, &id).await, 403);
    let audit = app.service.store().audit_log(Some(&id), 100).await.unwrap();
    let revealed_by: Vec<&str> = audit
        .iter()
        .filter(|a| a.action == "reveal")
        .map(|a| a.actor.as_str())
        .collect();
    assert_eq!(revealed_by, [format!("agent:{}", wang.id)]);
    app.stop().await;
}

#[tokio::test]
async fn access_ends_with_the_handoff() {
    let app = spawn_app().await;
    let wang = app.add_agent("王芳", &["after_sales"], 3).await;
    let li = app.add_agent("李明", &["billing"], 3).await;
    app.online(&wang).await;
    app.online(&li).await;
    for (action, body) in [
        ("resolve", json!({})),
        ("return-to-bot", json!({})),
        ("transfer", json!({"skill": "billing"})),
    ] {
        let (id, token) = escalated(&app).await;
        app.tick().await;
        let (s, _) = app.agent_post(&wang, &path(&id, "accept"), json!({})).await;
        assert_eq!(s, 200);
        assert_eq!(view(&app, &wang, &id).await.0, 200);
        let (s, b) = app.agent_post(&wang, &path(&id, action), body).await;
        assert_eq!(s, 200, "{action}: {b}");
        // What the shopper writes afterwards is none of the former agent's business.
        app.say(
            &id,
            &token,
            "我的新地址是北京市朝阳区建国路88号，邮箱 mei@example.com",
        )
        .await;
        let (s, b) = view(&app, &wang, &id).await;
        assert_eq!(s, 403, "view after {action}: {b}");
        assert_eq!(reveal(&app, &wang, &id).await, 403, "reveal after {action}");
        assert_eq!(note(&app, &wang, &id).await, 403, "note after {action}");
    }
    app.stop().await;
}

type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A one-time socket ticket for whoever holds `token`, or the refusal's status.
async fn socket_ticket(app: &TestApp, token: &str) -> Result<String, u16> {
    let r = app
        .client
        .post(app.url("/v1/agent/ws-ticket"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    if r.status() != 201 {
        return Err(r.status().as_u16());
    }
    let v: Value = r.json().await.unwrap();
    Ok(v["ticket"].as_str().unwrap().to_string())
}

async fn agent_socket(app: &TestApp, token: &str) -> RawSocket {
    let ticket = socket_ticket(app, token).await.expect("socket ticket");
    let url = format!(
        "{}/v1/agent/ws?ticket={ticket}",
        app.base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let hello = next_text(&mut ws).await.expect("hello");
    assert_eq!(hello["type"], "hello");
    ws
}

async fn next_text(ws: &mut RawSocket) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(WsMessage::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(WsMessage::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                return None;
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// The close code the server ends the socket with; every event before it is returned too.
async fn closed_with(ws: &mut RawSocket) -> (Option<u16>, Vec<Value>) {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(WsMessage::Close(frame)))) => {
                return (frame.map(|f| u16::from(f.code)), seen);
            }
            Ok(Some(Ok(WsMessage::Text(t)))) => {
                seen.push(serde_json::from_str(&t).unwrap_or(Value::Null));
            }
            Ok(Some(Ok(_))) => {}
            Ok(None) | Ok(Some(Err(_))) | Err(_) => return (None, seen),
        }
    }
}

#[tokio::test]
async fn rotating_or_disabling_an_agent_closes_their_socket_at_once() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.admin_token = Some(ADMIN_TOKEN.into());
    let app = spawn_app_with(config).await;
    let rotated = app.add_agent("rotated", &["after_sales"], 2).await;
    let disabled = app.add_agent("disabled", &["after_sales"], 2).await;
    app.online(&rotated).await;
    app.online(&disabled).await;
    let mut rotated_ws = agent_socket(&app, &rotated.token).await;
    let mut disabled_ws = agent_socket(&app, &disabled.token).await;

    let (s, b) = app
        .admin(Method::POST, "/v1/admin/agents/rotated/rotate", None)
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .admin(
            Method::PATCH,
            "/v1/admin/agents/disabled",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // Work that would have reached them.
    escalated(&app).await;
    app.tick().await;

    for (name, ws) in [("rotated", &mut rotated_ws), ("disabled", &mut disabled_ws)] {
        let (code, seen) = closed_with(ws).await;
        assert_eq!(code, Some(4401), "{name}: {seen:#?}");
        assert!(
            !seen.iter().any(|e| e["type"] == "offer"),
            "{name} got an offer after revocation: {seen:#?}"
        );
    }
    // The old token cannot open a new one either.
    assert_eq!(socket_ticket(&app, &rotated.token).await, Err(401));
    app.stop().await;
}

async fn leave(app: &TestApp, id: &str, token: &str, text: &str) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/tickets")))
        .bearer_auth(token)
        .json(&json!({"contact": "13812345678", "text": text}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// 23:30 in Shanghai: after the default 09:00–22:00.
const NIGHT: &str = "2026-11-11T15:30:00Z";

#[tokio::test]
async fn tickets_need_the_form_offered_and_are_capped_per_conversation() {
    let temp = tempfile::tempdir().unwrap();
    // Many messages for the team from one address: the limit under test is the open ones.
    let mut config = test_config(temp.path());
    without_rate_limits(&mut config);
    let app = spawn_app_at(config, clock_at(NIGHT)).await;
    let agent = app
        .add_agent("morning", &["general", "after_sales"], 3)
        .await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    app.say(&id, &token, "退货运费谁出").await;
    let (s, b) = leave(&app, &id, &token, "没有人问过我").await;
    assert_eq!(s, 409, "no form was offered: {b}");

    let out = app.say(&id, &token, "转人工").await;
    assert_eq!(
        out["replies"].as_array().unwrap().last().unwrap()["meta"]["leave_message"],
        true
    );
    for i in 0..3 {
        let (s, b) = leave(&app, &id, &token, &format!("第{i}条留言")).await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, b) = leave(&app, &id, &token, "第四条").await;
    assert_eq!((s, b["error"].as_str()), (429, Some("rate_limited")), "{b}");
    assert!(b["message"].as_str().unwrap().contains('3'), "{b}");

    // Closing one makes room again.
    let (_, page) = app.agent_get(&agent, "/v1/agent/tickets").await;
    let tid = page["tickets"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = app
        .agent_post(&agent, &format!("/v1/agent/tickets/{tid}/close"), json!({}))
        .await;
    assert_eq!(s, 204);
    let (s, b) = leave(&app, &id, &token, "第四条").await;
    assert_eq!(s, 201, "{b}");

    // Concurrent requests cannot slip under the cap together.
    let (other, other_token) = app.create(json!({"locale": "zh"})).await;
    app.say(&other, &other_token, "转人工").await;
    let texts: Vec<String> = (0..6).map(|i| format!("并发{i}")).collect();
    let results =
        futures::future::join_all(texts.iter().map(|t| leave(&app, &other, &other_token, t))).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 3, "{results:?}");
    assert!(
        results.iter().all(|(s, _)| *s == 201 || *s == 429),
        "{results:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn no_ticket_once_an_agent_holds_the_conversation() {
    let app = spawn_app().await;
    // Nobody online: queued, and offered the form.
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let out = app.say(&id, &token, "talk to a human").await;
    assert_eq!(out["state"], "queued");
    let agent = app.add_agent("late", &["general"], 2).await;
    app.online(&agent).await;
    app.tick().await;
    let (s, _) = app
        .agent_post(&agent, &path(&id, "accept"), json!({}))
        .await;
    assert_eq!(s, 200);
    let (s, b) = leave(&app, &id, &token, "call me").await;
    assert_eq!(s, 409, "an agent is here: {b}");

    // With an agent on duty the form is never offered.
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let out = app.say(&id, &token, "talk to a human").await;
    assert_eq!(out["state"], "queued");
    let (s, b) = leave(&app, &id, &token, "call me").await;
    assert_eq!(s, 409, "{b}");
    app.stop().await;
}

#[tokio::test]
async fn agents_page_through_open_tickets_newest_first_and_close_any() {
    let temp = tempfile::tempdir().unwrap();
    // Many messages for the team from one address: the limit under test is the open ones.
    let mut config = test_config(temp.path());
    without_rate_limits(&mut config);
    let app = spawn_app_at(config, clock_at(NIGHT)).await;
    let agent = app
        .add_agent("morning", &["general", "after_sales"], 3)
        .await;
    let mut made = Vec::new();
    for c in 0..4 {
        let (id, token) = app.create(json!({"locale": "zh"})).await;
        app.say(&id, &token, "转人工").await;
        for t in 0..3 {
            app.clock.advance(Duration::from_secs(1));
            let (s, b) = leave(&app, &id, &token, &format!("会话{c}留言{t}")).await;
            assert_eq!(s, 201, "{b}");
            made.push(b["ticket_id"].as_str().unwrap().to_string());
        }
    }
    let (_, q) = app.agent_get(&agent, "/v1/agent/queue").await;
    assert_eq!(q["open_tickets"], 12);

    let mut listed = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let query = match &before {
            Some(b) => format!("/v1/agent/tickets?limit=5&before={b}"),
            None => "/v1/agent/tickets?limit=5".to_string(),
        };
        let (s, page) = app.agent_get(&agent, &query).await;
        assert_eq!(s, 200, "{page}");
        let tickets = page["tickets"].as_array().unwrap();
        assert!(tickets.len() <= 5);
        listed.extend(
            tickets
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(n) => before = Some(n.to_string()),
            None => break,
        }
    }
    let newest_first: Vec<String> = made.iter().rev().cloned().collect();
    assert_eq!(
        listed, newest_first,
        "every open ticket, newest first, once"
    );

    // The oldest one closes, as any open ticket does.
    let oldest = &made[0];
    let (s, b) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/tickets/{oldest}/close"),
            json!({}),
        )
        .await;
    assert_eq!(s, 204, "{b}");
    let (s, _) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/tickets/{oldest}/close"),
            json!({}),
        )
        .await;
    assert_eq!(s, 409, "already closed");
    let (s, b) = app
        .agent_get(&agent, "/v1/agent/tickets?before=garbage")
        .await;
    assert_eq!(s, 422, "{b}");
    let (s, _) = app.agent_get(&agent, "/v1/agent/tickets?limit=0").await;
    assert_eq!(s, 422);
    let stranger = app.add_agent("stranger", &["billing"], 3).await;
    let (s, _) = app
        .agent_post(
            &stranger,
            &format!("/v1/agent/tickets/{}/close", made[1]),
            json!({}),
        )
        .await;
    assert_eq!(s, 404, "another group's ticket");
    app.stop().await;
}

// Several worker threads, so the approvals really run at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_approvals_of_one_draft_write_one_file() {
    let (app, temp) = editable_app(false).await;
    let (conversation_id, _) = app.create(json!({"locale": "en"})).await;
    let draft = baton::store::FaqDraft {
        id: uuid::Uuid::now_v7().to_string(),
        conversation_id,
        handoff_id: uuid::Uuid::now_v7().to_string(),
        lang: baton::nlu::Lang::En,
        question: "Do you ship to research stations in Antarctica?".into(),
        answer: "Yes, through our partner in Christchurch; allow eight weeks.".into(),
        alternates: vec![],
        suggested_id: "ship-antarctica".into(),
        status: baton::store::DraftStatus::Pending,
        faq_id: None,
        created_at: app.clock.now_ms(),
        decided_at: None,
    };
    app.service.store().create_draft(&draft).await.unwrap();
    let url = format!("/v1/admin/kb/drafts/{}/approve", draft.id);
    let approve = |n: usize| {
        app.admin(
            Method::POST,
            &url,
            Some(json!({"id": format!("polar-{n}"), "alternates": []})),
        )
    };
    let results = futures::future::join_all((0..4).map(approve)).await;
    let statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        3,
        "{results:?}"
    );
    let folder = temp.path().join("content").join("kb").join("from-agents");
    let files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("polar-"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let stored = app.service.store().draft(&draft.id).await.unwrap().unwrap();
    assert_eq!(stored.status, baton::store::DraftStatus::Approved);
    let winner = results.iter().find(|(s, _)| *s == 201).unwrap();
    assert_eq!(stored.faq_id.as_deref(), winner.1["faq_id"].as_str());
    assert_eq!(
        files[0],
        format!("{}.en.md", winner.1["faq_id"].as_str().unwrap())
    );
    app.stop().await;
}

#[tokio::test]
async fn transfers_names_and_stats_ranges_are_checked() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.admin_token = Some(ADMIN_TOKEN.into());
    let app = spawn_app_with(config).await;
    let wang = app.add_agent("王芳", &["after_sales"], 2).await;
    app.online(&wang).await;
    let (id, _) = escalated(&app).await;
    app.tick().await;
    let (s, _) = app.agent_post(&wang, &path(&id, "accept"), json!({})).await;
    assert_eq!(s, 200);
    let (s, b) = app
        .agent_post(
            &wang,
            &path(&id, "transfer"),
            json!({"skill": "nosuchgroup"}),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (422, Some("invalid_request")),
        "{b}"
    );
    assert!(
        b["message"].as_str().unwrap().contains("after_sales"),
        "{b}"
    );
    assert_eq!(
        view(&app, &wang, &id).await.1["status"],
        "assigned",
        "still theirs"
    );

    for bad in ["../admin", "a/b", "..", "x/../y", "a b", "a\u{202e}b"] {
        let (s, b) = app
            .admin(
                Method::POST,
                "/v1/admin/agents",
                Some(json!({"name": bad, "skills": ["general"]})),
            )
            .await;
        assert_eq!(s, 422, "{bad:?}: {b}");
    }
    let (s, b) = app
        .admin(
            Method::POST,
            "/v1/admin/agents",
            Some(json!({"name": "早班.li-2_x", "skills": ["general"]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");

    for range in [
        "from=-9223372036854775808&to=9223372036854775807",
        "from=-9000000000000000000&to=9000000000000000000",
        "from=0&to=9223372036854775807",
        "to=-9223372036854775808",
    ] {
        let (s, b) = app
            .admin(Method::GET, &format!("/v1/admin/stats?{range}"), None)
            .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (422, Some("invalid_request")),
            "{range}: {b}"
        );
    }
    app.stop().await;
}
