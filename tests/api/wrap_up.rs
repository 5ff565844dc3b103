//! Wrap-up on resolve (`intents/rules/wrap-up.yaml`): a category from the lead's list and an
//! optional summary, refused when unknown or missing where required, stored with the
//! handoff and counted in the statistics.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Agent, TestApp, editable_app, eventually};

/// A conversation held by `agent`.
async fn held(app: &TestApp, agent: &Agent) -> String {
    let (id, token) = app.create(json!({"locale": "zh"})).await;
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
    id
}

async fn resolve(app: &TestApp, agent: &Agent, id: &str, body: Option<Value>) -> (u16, Value) {
    app.agent_call(
        agent,
        Method::POST,
        &format!("/v1/agent/conversations/{id}/resolve"),
        body,
    )
    .await
}

#[tokio::test]
async fn a_resolve_is_filed_under_a_known_category_and_counted() {
    let (app, _dir) = editable_app(false).await;
    let agent = app.add_agent("Ana", &["general"], 3).await;
    app.online(&agent).await;

    let (s, list) = app.agent_get(&agent, "/v1/agent/wrap-up").await;
    assert_eq!(s, 200);
    assert_eq!(list["required"], false);
    assert!(
        list["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "refund-return"),
        "{list}"
    );

    // The lead makes a category required, over the admin API.
    let (_, file) = app
        .admin(Method::GET, "/v1/admin/rules/wrap-up", None)
        .await;
    let text = file["text"]
        .as_str()
        .unwrap()
        .replace("required: false", "required: true");
    let r = app
        .client
        .put(app.url("/v1/admin/rules/wrap-up"))
        .bearer_auth(ADMIN_TOKEN)
        .header("If-Match", file["etag"].as_str().unwrap())
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    eventually("the list is required", || {
        app.service.knowledge().content.wrap_up.required
    })
    .await;

    let id = held(&app, &agent).await;
    let (s, b) = resolve(&app, &agent, &id, None).await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("refund-return"),
        "names the choices: {b}"
    );
    let (s, b) = resolve(&app, &agent, &id, Some(json!({"category": "lost-cause"}))).await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = resolve(
        &app,
        &agent,
        &id,
        Some(json!({"category": "refund-return", "summary": "x".repeat(2001)})),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    let h = app.service.store().open_handoff(&id).await.unwrap();
    assert!(h.is_some(), "refusals change nothing");

    let (s, b) = resolve(
        &app,
        &agent,
        &id,
        Some(json!({"category": "refund-return", "summary": "  退款已加急  "})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let h = app
        .service
        .store()
        .latest_handoff(&id)
        .await
        .unwrap()
        .unwrap();
    let w = h.wrap_up.expect("filed");
    assert_eq!(
        (w.category.as_str(), w.summary.as_deref()),
        ("refund-return", Some("退款已加急"))
    );

    let (s, stats) = app
        .admin(
            Method::GET,
            "/v1/admin/stats?from=2026-11-11T01:00:00Z&to=2026-11-11T03:00:00Z",
            None,
        )
        .await;
    assert_eq!(s, 200, "{stats}");
    assert_eq!(stats["wrap_up"], json!({"refund-return": 1}), "{stats:#}");
    app.stop().await;
}
