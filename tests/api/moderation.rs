//! Word lists (`intents/rules/words.yaml`) on shopper and agent messages — masked, refused,
//! alerted, logged without the text — and the blacklist over the admin API: a blocked
//! customer or network is refused politely, nothing of theirs reaches an agent, and every
//! block and lift is audited.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Agent, TestApp, editable_app, editable_app_with, eventually};

/// A conversation of `agent`'s, and the shopper's token.
async fn held(app: &TestApp, agent: &Agent, create: Value) -> (String, String) {
    let (id, token) = app.create(create).await;
    app.say(&id, &token, "转人工").await;
    app.tick().await;
    let (s, b) = app
        .agent_post(
            agent,
            &format!("/v1/agent/conversations/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    (id, token)
}

async fn texts(app: &TestApp, id: &str, token: &str) -> Vec<String> {
    app.messages(id, token, 0).await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

async fn word_hits(app: &TestApp) -> Value {
    let (s, log) = app.admin(Method::GET, "/v1/admin/word-hits", None).await;
    assert_eq!(s, 200, "{log}");
    log
}

#[tokio::test]
async fn abuse_is_masked_for_everyone_and_logged_without_the_message() {
    let (app, _dir) = editable_app(false).await;
    let agent = app.add_agent("Ana", &["general"], 3).await;
    app.online(&agent).await;
    let (id, token) = held(&app, &agent, json!({"locale": "zh"})).await;

    let out = app.say(&id, &token, "你们这群傻逼，我的快递呢").await;
    assert_eq!(out["message"]["text"], "你们这群**，我的快递呢", "{out:#}");
    let (s, view) = app
        .agent_get(&agent, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(s, 200);
    let shown = view.to_string();
    assert!(
        shown.contains("你们这群**") && !shown.contains("傻逼"),
        "{view:#}"
    );

    // An agent's reply is screened by the same list.
    let (s, sent) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/conversations/{id}/messages"),
            json!({"text": "请不要说 FUCK 这种话，我马上帮您查"}),
        )
        .await;
    assert_eq!(s, 201, "{sent}");
    let last = texts(&app, &id, &token).await.pop().unwrap();
    assert_eq!(last, "请不要说 **** 这种话，我马上帮您查");

    let log = word_hits(&app).await;
    assert_eq!(
        log["counts"],
        json!([{"list": "abuse", "action": "mask", "hits": 2}]),
        "{log:#}"
    );
    let hits = log["hits"].as_array().unwrap();
    let by = |author: &str| hits.iter().find(|h| h["author"] == author).unwrap();
    assert_eq!(by("agent")["agent_id"], agent.id.as_str());
    assert_eq!(by("agent")["term"], "fuck");
    assert_eq!(by("shopper")["term"], "傻逼");
    assert!(by("shopper")["agent_id"].is_null());
    assert!(
        !log.to_string().contains("快递"),
        "never the message: {log}"
    );
    assert_eq!(log["labels"]["abuse"], "辱骂 / abuse");
}

#[tokio::test]
async fn an_agent_cannot_take_the_sale_off_the_shop_and_is_told_why() {
    let (app, _dir) = editable_app(false).await;
    let agent = app.add_agent("Ana", &["general"], 3).await;
    app.online(&agent).await;
    let (id, token) = held(&app, &agent, json!({"locale": "zh"})).await;
    let before = texts(&app, &id, &token).await;

    let (s, refused) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/conversations/{id}/messages"),
            json!({"text": "亲，加我微信 abc123 私下便宜点", "client_msg_id": "r-1"}),
        )
        .await;
    assert_eq!(s, 422, "{refused}");
    assert_eq!(refused["error"], "message_blocked");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("off-platform") && message.contains("加我微信"),
        "{message}"
    );
    assert_eq!(
        texts(&app, &id, &token).await,
        before,
        "nothing reached the shopper"
    );
    // A retry of the same reply is refused again and logged once.
    let (s, _) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/conversations/{id}/messages"),
            json!({"text": "亲，加我微信 abc123 私下便宜点", "client_msg_id": "r-1"}),
        )
        .await;
    assert_eq!(s, 422);
    let log = word_hits(&app).await;
    assert_eq!(
        log["counts"],
        json!([{"list": "off-platform", "action": "block", "hits": 1}])
    );

    // The same words from a shopper are not the agents' list's business.
    let out = app.say(&id, &token, "可以加我微信吗").await;
    assert_eq!(out["message"]["text"], "可以加我微信吗");
    // And a stranger agent learns nothing: the refusal is the usual one.
    let other = app.add_agent("Bo", &["general"], 3).await;
    let (s, _) = app
        .agent_post(
            &other,
            &format!("/v1/agent/conversations/{id}/messages"),
            json!({"text": "加我微信 abc123"}),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(word_hits(&app).await["counts"][0]["hits"], 1);
}

#[tokio::test]
async fn a_threat_goes_through_and_alerts_the_group() {
    let (app, _dir) = editable_app(false).await;
    let agent = app.add_agent("Ana", &["general"], 3).await;
    app.online(&agent).await;
    let mut ws = app.agent_ws(&agent).await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;

    let out = app.say(&id, &token, "再不退款我就炸了你们").await;
    assert_eq!(out["message"]["text"], "再不退款我就炸了你们");
    let alert = ws
        .until("the word list's alert", |v| v["type"] == "alert")
        .await;
    assert_eq!(alert["rule"], "words:threats");
    assert_eq!(alert["conversation_id"], id.as_str());
    assert_eq!(alert["seq"], out["message"]["seq"]);
    assert_eq!(alert["label"], "威胁 / threats");
}

#[tokio::test]
async fn a_list_written_over_the_api_refuses_a_shopper_message_politely() {
    let (app, _dir) = editable_app(false).await;
    let (_, file) = app.admin(Method::GET, "/v1/admin/rules/words", None).await;
    assert_eq!(file["live"][0]["id"], "abuse", "{file:#}");
    let text = format!(
        "{}\n  - id: spam\n    applies_to: [shopper]\n    action: block\n    words: [刷单返利]\n",
        file["text"].as_str().unwrap().trim_end()
    );
    let put = |text: String, etag: Option<String>| {
        let mut req = app
            .client
            .put(app.url("/v1/admin/rules/words"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "text": text }));
        if let Some(e) = etag {
            req = req.header("If-Match", e);
        }
        req.send()
    };
    let etag = file["etag"].as_str().unwrap().to_string();
    let bad = put(
        "lists:\n  - id: x\n    words: [a]\n    action: shout\n".into(),
        Some(etag.clone()),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    assert!(body["diagnostics"][0]["line"].is_number(), "{body:#}");
    let ok = put(text, Some(etag)).await.unwrap();
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    eventually("the spam list is live", || {
        app.service
            .knowledge()
            .content
            .words
            .lists
            .iter()
            .any(|l| l.id == "spam")
    })
    .await;

    let (id, token) = app.create(json!({"locale": "zh"})).await;
    app.say(&id, &token, "你好").await;
    let before = texts(&app, &id, &token).await;
    let r = app
        .send_raw(&id, &token, "刷单返利，加群赚钱", "m-spam")
        .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "message_blocked");
    assert!(
        body["message"].as_str().unwrap().contains("没有发出"),
        "{body}"
    );
    assert!(
        !body["message"].as_str().unwrap().contains("spam"),
        "the list is for the team"
    );
    assert_eq!(texts(&app, &id, &token).await, before, "nothing stored");
    let again = app
        .send_raw(&id, &token, "刷单返利，加群赚钱", "m-spam")
        .await;
    assert_eq!(again.status(), 422);
    let log = word_hits(&app).await;
    assert_eq!(
        log["counts"],
        json!([{"list": "spam", "action": "block", "hits": 1}])
    );
}

async fn block(app: &TestApp, body: Value) -> Value {
    let (s, b) = app
        .admin(Method::POST, "/v1/admin/blocks", Some(body))
        .await;
    assert_eq!(s, 201, "{b}");
    b
}

#[tokio::test]
async fn a_blocked_customer_is_refused_politely_until_the_block_is_lifted() {
    let (app, _dir) = editable_app(false).await;
    let agent = app.add_agent("Ana", &["general"], 3).await;
    app.online(&agent).await;
    let customer = app.signed(json!({"id": "c-troll", "name": "王五"}));
    let (id, token) = app
        .create(json!({"locale": "zh", "customer_token": customer}))
        .await;
    app.say(&id, &token, "你好").await;
    // A guest merely claiming the id is somebody else.
    let (guest, guest_token) = app
        .create(json!({"locale": "zh", "customer": {"id": "c-troll"}}))
        .await;

    let made = block(
        &app,
        json!({"customer_id": "c-troll", "reason": "反复辱骂客服"}),
    )
    .await;
    assert_eq!(
        (made["kind"].as_str(), made["target"].as_str()),
        (Some("customer"), Some("c-troll"))
    );
    let before = texts(&app, &id, &token).await;
    let r = app.send_raw(&id, &token, "转人工", "m-1").await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "blocked");
    assert!(body["message"].as_str().unwrap().contains("抱歉"), "{body}");
    assert!(
        !body["message"].as_str().unwrap().contains("辱骂"),
        "the reason stays inside"
    );
    let r = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/handoff")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    app.tick().await;
    assert!(
        app.offers(&agent).await.is_empty(),
        "nothing reaches the agents"
    );
    assert_eq!(texts(&app, &id, &token).await, before);
    let again = app
        .client
        .post(app.url("/v1/conversations"))
        .json(&json!({"locale": "zh", "customer_token": customer}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403, "no new conversation either");
    app.say(&guest, &guest_token, "你好").await;

    let (s, list) = app.admin(Method::GET, "/v1/admin/blocks", None).await;
    assert_eq!(s, 200);
    assert_eq!(list["blocks"][0]["id"], made["id"]);
    assert_eq!(list["blocks"][0]["live"], true);
    let path = format!("/v1/admin/blocks/{}", made["id"].as_str().unwrap());
    let (s, lifted) = app.admin(Method::DELETE, &path, None).await;
    assert_eq!(s, 200, "{lifted}");
    assert!(lifted["lifted_at"].is_number());
    let (s, _) = app.admin(Method::DELETE, &path, None).await;
    assert_eq!(s, 404, "lifted already");
    app.say(&id, &token, "你好").await;

    let (_, all) = app
        .admin(Method::GET, "/v1/admin/blocks?all=true", None)
        .await;
    assert_eq!(all["blocks"][0]["live"], false, "kept on record: {all:#}");
    let (_, audit) = app.admin(Method::GET, "/v1/admin/audit", None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("block."))
        .collect();
    assert_eq!(actions, ["block.lift", "block.create"]);
    assert!(
        !audit.to_string().contains("c-troll"),
        "the audit names the block, not the customer"
    );
}

async fn create_from(app: &TestApp, ip: &str) -> u16 {
    app.client
        .post(app.url("/v1/conversations"))
        .header("x-forwarded-for", ip)
        .json(&json!({"locale": "en"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_network_block_covers_its_range_until_it_expires() {
    let (app, _dir) = editable_app_with(false, |c| c.limits.trust_forwarded_for = true).await;
    let made = block(
        &app,
        json!({"network": "203.0.113.0/24", "reason": "bot farm", "hours": 2}),
    )
    .await;
    assert!(made["expires_at"].is_number());
    assert_eq!(create_from(&app, "203.0.113.77").await, 403);
    assert_eq!(create_from(&app, "203.0.114.1").await, 201);

    // An open conversation from there is refused too.
    let r = app
        .client
        .post(app.url("/v1/conversations"))
        .header("x-forwarded-for", "198.51.100.1")
        .json(&json!({"locale": "en"}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let (id, token) = (
        v["conversation_id"].as_str().unwrap(),
        v["token"].as_str().unwrap(),
    );
    block(&app, json!({"network": "198.51.100.1", "reason": "abuse"})).await;
    let r = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/messages")))
        .header("x-forwarded-for", "198.51.100.1")
        .bearer_auth(token)
        .json(&json!({"text": "hello", "client_msg_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    app.advance(Duration::from_secs(2 * 3600 + 1)).await;
    assert_eq!(create_from(&app, "203.0.113.77").await, 201, "expired");
    let (_, live) = app.admin(Method::GET, "/v1/admin/blocks", None).await;
    assert_eq!(live["blocks"].as_array().unwrap().len(), 1, "{live:#}");
}

#[tokio::test]
async fn bad_blocks_are_refused_with_what_is_wrong() {
    let (app, _dir) = editable_app(false).await;
    for (body, says) in [
        (json!({"reason": "x"}), "exactly one"),
        (
            json!({"customer_id": "c", "network": "10.0.0.0/8", "reason": "x"}),
            "exactly one",
        ),
        (json!({"network": "10.0.0.1/8", "reason": "x"}), "neither"),
        (json!({"network": "example.com", "reason": "x"}), "neither"),
        (json!({"customer_id": "c", "reason": " "}), "reason"),
        (
            json!({"customer_id": "c", "reason": "x", "hours": 0}),
            "hours",
        ),
    ] {
        let (s, b) = app
            .admin(Method::POST, "/v1/admin/blocks", Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body} → {b}");
        assert!(
            b["message"].as_str().unwrap().contains(says),
            "{body} → {b}"
        );
    }
    let (_, all) = app
        .admin(Method::GET, "/v1/admin/blocks?all=true", None)
        .await;
    assert_eq!(all["blocks"], json!([]), "nothing was stored");
    let (s, _) = app
        .admin(Method::GET, "/v1/admin/word-hits?days=0", None)
        .await;
    assert_eq!(s, 422);
}
