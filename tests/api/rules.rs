//! The support lead's trigger rules (`intents/rules/triggers.yaml`): the sample rules acting
//! on real turns — a handoff with the rule's reason, group and priority, a tag the agent and
//! the statistics see, a live alert to the group — and the rules edited over the admin API,
//! refused with `file:line` when broken, live after the reload when not.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, editable_app, eventually};
use baton::handoff::Priority;

async fn put_rules(app: &TestApp, text: &str, if_match: Option<&str>) -> (u16, Value) {
    let mut req = app
        .client
        .put(app.url("/v1/admin/rules/triggers"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "text": text }));
    if let Some(tag) = if_match {
        req = req.header("If-Match", tag);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn tags_of(app: &TestApp, id: &str) -> Vec<String> {
    let c = app.service.store().conversation(id).await.unwrap().unwrap();
    c.dialogue.tags
}

#[tokio::test]
async fn a_regulator_threat_goes_urgently_to_complaints_tagged_with_a_live_alert() {
    let (app, _dir) = editable_app(false).await;
    let desk = app.add_agent("complaints-desk", &["complaints"], 3).await;
    let orders = app.add_agent("orders-desk", &["orders"], 3).await;
    app.online(&desk).await;
    app.online(&orders).await;
    let mut desk_ws = app.agent_ws(&desk).await;
    let mut orders_ws = app.agent_ws(&orders).await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;

    let out = app
        .say(&id, &token, "订单一直不发货，再不处理我就打１２３１５")
        .await;
    assert_eq!(out["state"], "queued", "{out:#}");
    assert_eq!(out["handoff"]["reason"], "complaint");
    let h = app.open_handoff(&id).await;
    assert_eq!(
        (h.priority, h.skill.as_str()),
        (Priority::Urgent, "complaints")
    );
    assert_eq!(tags_of(&app, &id).await, ["regulator"]);

    let alert = desk_ws
        .until("the rule's alert", |v| v["type"] == "alert")
        .await;
    assert_eq!(alert["rule"], "regulator");
    assert_eq!(alert["conversation_id"], id.as_str());
    assert_eq!(alert["seq"], 1);
    let others = orders_ws.drain(Duration::from_millis(300)).await;
    assert!(others.iter().all(|e| e["type"] != "alert"), "{others:#?}");

    // The agent who takes it sees the tag and which message set the rule off.
    let (s, _) = app
        .agent_post(
            &desk,
            &format!("/v1/agent/conversations/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, view) = app
        .agent_get(&desk, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(s, 200, "{view:#}");
    assert_eq!(view["tags"], json!(["regulator"]));
    assert_eq!(view["triggered"], json!([{"seq": 1, "rule": "regulator"}]));

    // Once per conversation: saying it again alerts nobody.
    app.say(&id, &token, "我说了要打12315").await;
    let again = desk_ws.drain(Duration::from_millis(300)).await;
    assert!(again.iter().all(|e| e["type"] != "alert"), "{again:#?}");

    // The statistics count the tag and the rule.
    let (s, stats) = app
        .admin(
            reqwest::Method::GET,
            "/v1/admin/stats?from=2026-11-11T01:00:00Z&to=2026-11-11T03:00:00Z",
            None,
        )
        .await;
    assert_eq!(s, 200, "{stats:#}");
    assert_eq!(stats["tags"]["regulator"], 1, "{stats:#}");
    assert_eq!(stats["rules"]["regulator"], 1, "{stats:#}");
    app.stop().await;
}

#[tokio::test]
async fn a_tag_only_rule_tags_the_conversation_and_hands_nothing_over() {
    let (app, _dir) = editable_app(false).await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let out = app
        .say(&id, &token, "我的手机号是13912345678，帮我查下订单")
        .await;
    assert_ne!(out["state"], "queued", "a tag only: {out:#}");
    assert_eq!(tags_of(&app, &id).await, ["left-phone"]);
    app.stop().await;
}

#[tokio::test]
async fn the_lead_edits_the_rules_over_the_admin_api_and_they_go_live() {
    let (app, _dir) = editable_app(false).await;
    let (s, file) = app
        .admin(reqwest::Method::GET, "/v1/admin/rules/triggers", None)
        .await;
    assert_eq!(s, 200, "{file:#}");
    assert_eq!(file["path"], "intents/rules/triggers.yaml");
    assert_eq!(file["live"].as_array().unwrap().len(), 3);
    let etag = file["etag"].as_str().unwrap().to_string();
    let text = file["text"].as_str().unwrap().to_string();

    // Broken rules are refused with the line, and nothing is written.
    let broken =
        format!("{text}\n  - id: bad-review\n    patterns: ['(差评']\n    tag: bad-review\n");
    let (s, body) = put_rules(&app, &broken, Some(&etag)).await;
    assert_eq!(s, 422, "{body:#}");
    let d = &body["diagnostics"][0];
    assert_eq!(d["path"], "intents/rules/triggers.yaml", "{body:#}");
    assert!(d["line"].as_u64().is_some(), "{body:#}");
    assert!(d["message"].as_str().unwrap().contains("(差评"), "{body:#}");
    // Replacing the file needs its ETag.
    let good = format!(
        "{text}\n  - id: bad-review\n    label: 要给差评\n    words: [差评]\n    tag: bad-review\n    alert: true\n"
    );
    let (s, _) = put_rules(&app, &good, None).await;
    assert_eq!(s, 428);
    let (s, _) = put_rules(&app, &good, Some("\"stale\"")).await;
    assert_eq!(s, 409);

    let (s, written) = put_rules(&app, &good, Some(&etag)).await;
    assert_eq!(s, 200, "{written:#}");
    assert_ne!(written["etag"], etag.as_str());
    eventually("the new rule is live", || {
        app.service.knowledge().content.rules.rules.len() == 4
    })
    .await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    app.say(&id, &token, "东西不好用，我要给差评").await;
    assert_eq!(tags_of(&app, &id).await, ["bad-review"]);
    let (_, audit) = app
        .admin(reqwest::Method::GET, "/v1/admin/audit", None)
        .await;
    assert!(
        audit.to_string().contains("rules.put"),
        "the change is audited: {audit}"
    );
    app.stop().await;
}
