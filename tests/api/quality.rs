//! Quality review over HTTP (`intents/rules/quality.yaml`): each conversation an agent closes
//! is scored by the rules; the ones with a finding, and a sampled share of the rest, wait in
//! the review queue; a reviewer (the admin, or a supervisor of the group) scores and
//! comments; the agent sees their reviews and appeals once; the reviewer decides; all of it
//! exports as CSV. The rules file is edited over the admin API and scores what closes next.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Agent, TestApp, editable_app};

/// A verified shopper who asked about a refund and then for a person, taken by `agent`.
async fn taken_by(app: &TestApp, agent: &Agent, customer: &str) -> (String, String) {
    app.handed_to(agent, json!({"locale": "zh", "customer": {"id": customer}}))
        .await
}

async fn reply(app: &TestApp, agent: &Agent, id: &str, text: &str) {
    let (s, b) = app
        .agent_post(
            agent,
            &format!("/v1/agent/conversations/{id}/messages"),
            json!({ "text": text }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

async fn close(app: &TestApp, agent: &Agent, id: &str, how: &str) {
    let (s, b) = app
        .agent_post(
            agent,
            &format!("/v1/agent/conversations/{id}/{how}"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

/// The agent's review of conversation `id` once `ready` holds (scoring runs off the agent's
/// path, so it lands a moment after the close).
async fn review_of(
    app: &TestApp,
    agent: &Agent,
    id: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let (s, b) = app.agent_get(agent, "/v1/agent/reviews").await;
        assert_eq!(s, 200, "{b}");
        if let Some(r) = b["reviews"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["conversation_id"] == id && ready(r))
        {
            return r.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no review of {id} as expected");
}

fn rules_of(review: &Value) -> Vec<String> {
    review["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_closed_conversation_is_scored_reviewed_appealed_once_decided_and_exported() {
    let (app, _dir) = editable_app(false).await;
    let lin = app.add_agent("lin", &["after_sales", "general"], 3).await;
    let sue = app
        .add_supervisor("sue", &["billing"], 3, &["after_sales", "general"])
        .await;
    app.online(&lin).await;
    let (id, token) = taken_by(&app, &lin, "u-quality").await;
    // lin keeps a socket open, so presence holds while the clock runs.
    let mut lin_ws = app.agent_ws(&lin).await;
    lin_ws.next().await.expect("hello");
    // Seven minutes before a first answer with no greeting and a forbidden phrase, then a
    // rating of 1: four of the sample file's rules find something.
    app.say(&id, &token, "我的电话是13812345678").await;
    app.advance(Duration::from_secs(420)).await;
    reply(&app, &lin, &id, "这个我不知道，你自己看物流吧").await;
    close(&app, &lin, &id, "resolve").await;
    let scored = review_of(&app, &lin, &id, |_| true).await;
    assert_eq!(scored["state"], "pending", "{scored:#}");
    assert_eq!(
        rules_of(&scored),
        ["forbidden-phrase", "slow-first-response", "no-greeting"]
    );
    assert_eq!(scored["findings"][0]["phrase"], "不知道");
    assert_eq!(scored["findings"][1]["seconds"], 420);
    assert_eq!(scored["auto_score"], 65);
    app.rate(&id, &token, 1).await;
    let rated = review_of(&app, &lin, &id, |r| r["rating"] == 1).await;
    assert_eq!(
        rules_of(&rated),
        [
            "forbidden-phrase",
            "slow-first-response",
            "no-greeting",
            "low-rating"
        ]
    );
    assert_eq!(rated["auto_score"], 35);
    let handoff = rated["handoff_id"].as_str().unwrap().to_string();

    // Nobody reviewed it yet: nothing to appeal; an agent who supervises nothing reviews
    // nothing.
    let appeal = format!("/v1/agent/reviews/{handoff}/appeal");
    let (s, b) = app
        .agent_post(&lin, &appeal, json!({"text": "物流延迟不是我的问题"}))
        .await;
    assert_eq!(s, 409, "{b}");
    let (s, _) = app.agent_get(&lin, "/v1/quality/reviews").await;
    assert_eq!(s, 403);

    // The supervisor's queue has it; they read the transcript, masked.
    let (s, queue) = app.agent_get(&sue, "/v1/quality/reviews").await;
    assert_eq!(s, 200, "{queue}");
    assert_eq!(
        queue["reviews"][0]["handoff_id"],
        handoff.as_str(),
        "{queue:#}"
    );
    assert_eq!(queue["reviews"][0]["agent_name"], "lin");
    assert_eq!(queue["by_agent"][0]["agent_name"], "lin");
    let (s, detail) = app
        .agent_get(&sue, &format!("/v1/quality/reviews/{handoff}"))
        .await;
    assert_eq!(s, 200, "{detail}");
    let transcript = detail["transcript"].to_string();
    assert!(transcript.contains("你自己看物流吧"), "{detail:#}");
    assert!(!transcript.contains("13812345678"), "masked: {detail:#}");

    // Scored and commented; a second review is refused until the agent appeals.
    let verdict = format!("/v1/quality/reviews/{handoff}");
    let (s, b) = app.agent_post(&sue, &verdict, json!({"score": 101})).await;
    assert_eq!(s, 422, "{b}");
    let (s, reviewed) = app
        .agent_post(
            &sue,
            &verdict,
            json!({"score": 40, "comment": "先问候，别说不知道"}),
        )
        .await;
    assert_eq!(s, 200, "{reviewed}");
    assert_eq!(reviewed["state"], "reviewed");
    assert_eq!(reviewed["reviewed_by_name"], "sue");
    assert_eq!(reviewed["final_score"], 40);
    let (s, _) = app.agent_post(&sue, &verdict, json!({"score": 50})).await;
    assert_eq!(s, 409);

    // The agent sees it and appeals, once.
    let (s, own) = app
        .agent_get(&lin, &format!("/v1/agent/reviews/{handoff}"))
        .await;
    assert_eq!(s, 200, "{own}");
    assert_eq!(own["comment"], "先问候，别说不知道");
    let (s, b) = app.agent_post(&lin, &appeal, json!({"text": "  "})).await;
    assert_eq!(s, 422, "{b}");
    let (s, appealed) = app
        .agent_post(
            &lin,
            &appeal,
            json!({"text": "顾客一开始就说了物流的事，我先回答了问题"}),
        )
        .await;
    assert_eq!(s, 200, "{appealed}");
    assert_eq!(appealed["state"], "appealed");
    let (s, _) = app
        .agent_post(&lin, &appeal, json!({"text": "again"}))
        .await;
    assert_eq!(s, 409);

    // Appeals come first in the queue; the decision is final.
    let (_, queue) = app.agent_get(&sue, "/v1/quality/reviews").await;
    assert_eq!(queue["reviews"][0]["state"], "appealed", "{queue:#}");
    let (s, decided) = app
        .agent_post(
            &sue,
            &verdict,
            json!({"score": 70, "comment": "有道理，但仍需问候"}),
        )
        .await;
    assert_eq!(s, 200, "{decided}");
    assert_eq!(decided["state"], "closed");
    assert_eq!(decided["final_score"], 70);
    assert_eq!(decided["score"], 40, "the first review is kept");
    let (s, _) = app
        .agent_post(&lin, &appeal, json!({"text": "once more"}))
        .await;
    assert_eq!(s, 409);
    let mine = review_of(&app, &lin, &id, |r| r["state"] == "closed").await;
    assert_eq!(mine["final_score"], 70);

    // The admin exports everything as CSV.
    let (s, kind, csv) = app.admin_text("/v1/quality/export?days=7").await;
    assert_eq!(s, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("handoff_id,conversation_id,agent,skill,outcome"),
        "{csv}"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].contains(&handoff) && lines[1].contains(",closed,"),
        "{csv}"
    );
    assert!(lines[1].ends_with(",70"), "{csv}");

    let (_, audit) = app.admin(Method::GET, "/v1/admin/audit", None).await;
    let audit = audit.to_string();
    for action in ["quality.review", "quality.appeal", "quality.decide_appeal"] {
        assert!(audit.contains(action), "{action} is audited: {audit}");
    }
    app.stop().await;
}

#[tokio::test]
async fn supervisors_review_their_groups_only_and_never_their_own_work() {
    let (app, _dir) = editable_app(false).await;
    let sue = app
        .add_supervisor(
            "sue",
            &["after_sales", "general"],
            3,
            &["after_sales", "general"],
        )
        .await;
    let bill = app
        .add_supervisor("bill", &["billing"], 3, &["billing"])
        .await;
    app.online(&sue).await;
    let (id, _) = taken_by(&app, &sue, "u-own").await;
    reply(&app, &sue, &id, "您好，我不知道").await;
    close(&app, &sue, &id, "resolve").await;
    let own = review_of(&app, &sue, &id, |_| true).await;
    let handoff = own["handoff_id"].as_str().unwrap();
    let verdict = format!("/v1/quality/reviews/{handoff}");

    // Their own conversation is not in their queue and they cannot score it.
    let (_, queue) = app.agent_get(&sue, "/v1/quality/reviews?state=all").await;
    assert_eq!(queue["reviews"], json!([]), "{queue:#}");
    let (s, b) = app.agent_post(&sue, &verdict, json!({"score": 100})).await;
    assert_eq!(s, 403, "{b}");
    // Another group's supervisor does not see it at all.
    let (s, _) = app.agent_get(&bill, &verdict).await;
    assert_eq!(s, 404);
    let (s, _) = app.agent_post(&bill, &verdict, json!({"score": 100})).await;
    assert_eq!(s, 404);
    let (s, _) = app
        .agent_get(&bill, "/v1/quality/reviews?skill=after_sales")
        .await;
    assert_eq!(s, 403);
    let (s, b) = app
        .agent_get(&bill, "/v1/quality/reviews?state=whatever")
        .await;
    assert_eq!(s, 422, "{b}");
    // The admin can.
    let (s, b) = app
        .admin(Method::POST, &verdict, Some(json!({"score": 90})))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["reviewed_by_name"], "admin");
    app.stop().await;
}

async fn put_quality(app: &TestApp, text: &str) -> (u16, Value) {
    let (_, file) = app
        .admin(Method::GET, "/v1/admin/rules/quality", None)
        .await;
    let etag = file["etag"].as_str().unwrap().to_string();
    let r = app
        .client
        .put(app.url("/v1/admin/rules/quality"))
        .bearer_auth(ADMIN_TOKEN)
        .header("If-Match", etag)
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn until_sample_rate(app: &TestApp, rate: f64) {
    crate::helpers::eventually("the quality rules are live", || {
        app.service.knowledge().content.quality.sample_rate == rate
    })
    .await;
}

#[tokio::test]
async fn the_lead_edits_the_rules_live_returns_are_found_and_clean_ones_sampled() {
    let (app, _dir) = editable_app(false).await;
    let lin = app.add_agent("lin", &["after_sales", "general"], 5).await;
    app.online(&lin).await;

    let (s, b) = put_quality(
        &app,
        "sample_rate: 1\nrules:\n  - id: returned\n    check: returned\n    points: 15\n  - id: bad\n    check: rating\n    at_most: 9\n    points: 5\n",
    )
    .await;
    assert_eq!(s, 422, "{b:#}");
    assert_eq!(b["diagnostics"][0]["line"], 8, "{b:#}");
    assert_eq!(b["diagnostics"][0]["path"], "intents/rules/quality.yaml");

    let (s, b) = put_quality(
        &app,
        "sample_rate: 1\nrules:\n  - id: returned\n    label: 退回机器人\n    check: returned\n    points: 15\n",
    )
    .await;
    assert_eq!(s, 200, "{b:#}");
    until_sample_rate(&app, 1.0).await;
    let (_, live) = app
        .admin(Method::GET, "/v1/admin/rules/quality", None)
        .await;
    assert_eq!(live["live"]["rules"][0]["check"], "returned", "{live:#}");

    let (returned, _) = taken_by(&app, &lin, "u-r1").await;
    reply(&app, &lin, &returned, "您好").await;
    close(&app, &lin, &returned, "return-to-bot").await;
    let r = review_of(&app, &lin, &returned, |_| true).await;
    assert_eq!(rules_of(&r), ["returned"]);
    assert_eq!(r["findings"][0]["label"], "退回机器人");
    assert_eq!(
        (r["auto_score"].clone(), r["sampled"].clone()),
        (json!(85), json!(false))
    );
    assert_eq!(r["outcome"], "returned");

    let (clean, _) = taken_by(&app, &lin, "u-r2").await;
    reply(&app, &lin, &clean, "您好，已为您处理").await;
    close(&app, &lin, &clean, "resolve").await;
    let r = review_of(&app, &lin, &clean, |_| true).await;
    assert_eq!(
        (r["state"].clone(), r["sampled"].clone()),
        (json!("pending"), json!(true))
    );

    put_quality(&app, "sample_rate: 0\nrules: []\n").await;
    until_sample_rate(&app, 0.0).await;
    let (unsampled, _) = taken_by(&app, &lin, "u-r3").await;
    reply(&app, &lin, &unsampled, "您好，已为您处理").await;
    close(&app, &lin, &unsampled, "resolve").await;
    let r = review_of(&app, &lin, &unsampled, |_| true).await;
    assert_eq!(
        (r["state"].clone(), r["auto_score"].clone()),
        (json!("auto"), json!(100))
    );
    let (_, queue) = app.admin(Method::GET, "/v1/quality/reviews", None).await;
    let queued: Vec<&str> = queue["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(queued, [returned.as_str(), clean.as_str()], "{queue:#}");
    let (_, auto) = app
        .admin(Method::GET, "/v1/quality/reviews?state=auto", None)
        .await;
    assert_eq!(auto["reviews"][0]["conversation_id"], unsampled.as_str());
    app.stop().await;
}
