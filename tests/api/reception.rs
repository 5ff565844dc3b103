//! Who answers first (`intents/rules/reception.yaml`): a human-first group gets a person when
//! one is free and the bot (which says why, once) when none is; an assist group never hears
//! the bot, and the agent who takes it gets the bot's answer as a one-click draft.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, editable_app, eventually};

/// Replaces the reception file through the admin API and waits until it is live.
async fn set_reception(app: &TestApp, yaml: &str) {
    let (s, file) = app
        .admin(reqwest::Method::GET, "/v1/admin/rules/reception", None)
        .await;
    assert_eq!(s, 200, "{file}");
    assert_eq!(file["live"]["default"], "bot_first");
    let r = app
        .client
        .put(app.url("/v1/admin/rules/reception"))
        .bearer_auth(ADMIN_TOKEN)
        .header("If-Match", file["etag"].as_str().unwrap())
        .json(&json!({ "text": yaml }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    eventually("the reception file is live", || {
        !app.service.knowledge().content.reception.all_bot_first()
    })
    .await;
}

fn kinds(out: &Value) -> Vec<String> {
    out["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["author"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn human_first_gets_a_free_person_and_otherwise_the_bot_which_says_why_once() {
    let (app, _dir) = editable_app(false).await;
    set_reception(
        &app,
        "groups:\n  - skill: after_sales\n    mode: human_first\n    max_wait_seconds: 60\n",
    )
    .await;

    // Nobody of the group online: the bot answers, and says why before its first answer.
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let out = app.say(&id, &token, "退货运费谁出").await;
    assert_eq!(out["state"], "bot", "{out:#}");
    assert_eq!(kinds(&out), ["system", "bot"], "{out:#}");
    assert_eq!(out["replies"][0]["meta"]["notice"], "bot_answers");
    assert!(
        out["replies"][0]["text"]
            .as_str()
            .unwrap()
            .contains("没有客服在线")
    );
    let again = app.say(&id, &token, "退货要自己出运费吗").await;
    assert_eq!(kinds(&again), ["bot"], "told once: {again:#}");

    // Someone free: a person answers; the bot's answer is not sent.
    let agent = app.add_agent("after-sales-desk", &["after_sales"], 2).await;
    app.online(&agent).await;
    app.tick().await;
    let mut ws = app.agent_ws(&agent).await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let out = app.say(&id, &token, "退货运费谁出").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    assert_eq!(out["handoff"]["reason"], "reception");
    assert_eq!(out["handoff"]["skill"], "after_sales");
    assert_eq!(kinds(&out), ["system"], "only the handoff notice: {out:#}");

    app.tick().await;
    let (s, body) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/conversations/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let draft = ws
        .until("the bot's answer as a draft", |v| v["type"] == "assist")
        .await;
    assert_eq!(draft["conversation_id"], id.as_str());
    assert_eq!(
        draft["suggestions"][0]["faq_id"], "return-shipping-cost",
        "{draft:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_broken_reception_file_is_refused_with_its_line_and_nothing_changes() {
    let (app, _dir) = editable_app(false).await;
    let (_, file) = app
        .admin(reqwest::Method::GET, "/v1/admin/rules/reception", None)
        .await;
    let r = app
        .client
        .put(app.url("/v1/admin/rules/reception"))
        .bearer_auth(ADMIN_TOKEN)
        .header("If-Match", file["etag"].as_str().unwrap())
        .json(&json!({ "text": "groups:\n  - skill: after_sales\n    mode: humans_first\n" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["diagnostics"][0]["path"], "intents/rules/reception.yaml",
        "{body:#}"
    );
    assert_eq!(body["diagnostics"][0]["line"], 3, "{body:#}");
    let (_, after) = app
        .admin(reqwest::Method::GET, "/v1/admin/rules/reception", None)
        .await;
    assert_eq!(after["etag"], file["etag"], "nothing written");
    let (s, _) = app
        .admin(reqwest::Method::GET, "/v1/admin/rules/nope", None)
        .await;
    assert_eq!(s, 404);
    app.stop().await;
}

#[tokio::test]
async fn an_assist_group_never_hears_the_bot_even_with_nobody_online() {
    let (app, _dir) = editable_app(false).await;
    set_reception(&app, "groups:\n  - skill: after_sales\n    mode: assist\n").await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let out = app.say(&id, &token, "退货运费谁出").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    assert_eq!(kinds(&out), ["system"], "{out:#}");
    assert_eq!(out["replies"][0]["meta"]["notice"], "no_agent_online");
    assert_eq!(out["replies"][0]["meta"]["leave_message"], true);
    // Other groups still get the bot.
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let out = app.say(&id, &token, "运费多少钱").await;
    assert_eq!(out["state"], "bot", "{out:#}");
    assert_eq!(kinds(&out), ["bot"], "{out:#}");
    app.stop().await;
}
