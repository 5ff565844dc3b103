//! The support lead's numbers: a scripted set of conversations on a manual clock, and the
//! statistics (`/v1/admin/stats`) and `/metrics` must match it exactly.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ALL_SKILLS, Agent, TestApp, answered_faq, editable_app_with};

/// Moves the clock in steps shorter than the presence grace, the agent's heartbeat keeping
/// them present, and lets the dispatcher run.
async fn step(app: &TestApp, agent: &Agent, secs: u64) {
    let mut left = secs;
    while left > 0 {
        let by = left.min(20);
        app.online(agent).await;
        app.advance(Duration::from_secs(by)).await;
        left -= by;
    }
    app.online(agent).await;
    app.tick().await;
}

/// Takes a queued conversation after `wait` seconds, replies after `reply` more, resolves
/// after `handle` more.
async fn served(app: &TestApp, agent: &Agent, id: &str, wait: u64, reply: u64, handle: u64) {
    let path = |action: &str| format!("/v1/agent/conversations/{id}/{action}");
    step(app, agent, wait).await;
    let (s, b) = app.agent_post(agent, &path("accept"), json!({})).await;
    assert_eq!(s, 200, "{b}");
    step(app, agent, reply).await;
    let (s, b) = app
        .agent_post(agent, &path("messages"), json!({"text": "在的，马上处理"}))
        .await;
    assert_eq!(s, 201, "{b}");
    step(app, agent, handle).await;
    let (s, b) = app.agent_post(agent, &path("resolve"), json!({})).await;
    assert_eq!(s, 200, "{b}");
}

/// Every answered FAQ of a conversation's turns, and whether the next turn rejected it.
fn faq_outcomes(outcomes: &[Value]) -> Vec<(String, bool)> {
    outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let faq = answered_faq(o)?;
            let rejected = outcomes.get(i + 1).is_some_and(|n| n["state"] != "bot");
            Some((faq, rejected))
        })
        .collect()
}

#[tokio::test]
async fn statistics_match_a_scripted_set_of_conversations_exactly() {
    // Offers never lapse here: the script decides when the agent takes a conversation.
    let (app, _temp) = editable_app_with(false, |c| c.handoff.offer_timeout_secs = 3600).await;
    let agent = app.add_agent("Mei", ALL_SKILLS, 3).await;
    app.online(&agent).await;
    let mut outcomes: Vec<Vec<Value>> = Vec::new();

    // A: answered by the bot.
    let (a, a_token) = app.create(json!({"locale": "en"})).await;
    let out = app
        .say(&a, &a_token, "where is my order MM202611110001")
        .await;
    assert_eq!(out["state"], "bot", "{out:#}");
    outcomes.push(vec![out]);

    // B: answered, then the shopper asks for a person; served after 30 s, replied 10 s
    // later, resolved 60 s after that; rated 4.
    let (b, b_token) = app.create(json!({"locale": "zh"})).await;
    let first = app.say(&b, &b_token, "退款多久到账").await;
    assert!(answered_faq(&first).is_some(), "{first:#}");
    step(&app, &agent, 5).await;
    let second = app.say(&b, &b_token, "转人工").await;
    assert_eq!(second["state"], "queued", "{second:#}");
    outcomes.push(vec![first, second]);
    served(&app, &agent, &b, 30, 10, 60).await;
    app.rate(&b, &b_token, 4).await;

    // C: a complaint; served after 90 s, replied 20 s later, resolved 120 s after that;
    // rated 2.
    let (c, c_token) = app.create(json!({"locale": "zh"})).await;
    let out = app.say(&c, &c_token, "我要投诉，你们太差了！").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    outcomes.push(vec![out]);
    served(&app, &agent, &c, 90, 20, 120).await;
    app.rate(&c, &c_token, 2).await;

    // D: opened, never written in: not a conversation in the numbers.
    app.create(json!({"locale": "en"})).await;

    // E: a greeting the bot replies to.
    let (e, e_token) = app.create(json!({"locale": "en"})).await;
    let out = app.say(&e, &e_token, "hello").await;
    assert_eq!(out["state"], "bot", "{out:#}");
    outcomes.push(vec![out]);

    // One forced reload.
    let (s, _) = app.admin(Method::POST, "/v1/admin/kb/reload", None).await;
    assert_eq!(s, 200);

    let (s, stats) = app
        .admin(
            Method::GET,
            "/v1/admin/stats?from=2026-11-11T01:00:00Z&to=2026-11-11T03:00:00Z",
            None,
        )
        .await;
    assert_eq!(s, 200, "{stats}");
    assert_eq!(stats["bucket_ms"], 3_600_000);
    assert_eq!(stats["conversations"], 4);
    assert_eq!(stats["contained"], 2);
    assert_eq!(stats["containment_rate"], 0.5);
    assert_eq!(stats["escalations"], 2);
    assert_eq!(stats["escalation_rate"], 0.5);
    assert_eq!(
        stats["escalations_by_reason"],
        json!({"requested_human": 1, "complaint": 1})
    );
    assert_eq!(
        stats["queue_wait_ms"],
        json!({"count": 2, "p50": 30_000, "p90": 90_000})
    );
    assert_eq!(
        stats["first_response_ms"],
        json!({"count": 2, "p50": 40_000, "p90": 110_000})
    );
    assert_eq!(
        stats["handle_ms"],
        json!({"count": 2, "p50": 70_000, "p90": 140_000})
    );
    assert_eq!(
        stats["csat"],
        json!({"count": 2, "average": 3.0, "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}})
    );

    // Per-FAQ hits and "didn't help" as the transcripts show them.
    let mut expected: Vec<(String, u64, u64)> = Vec::new();
    for (faq, rejected) in outcomes.iter().flat_map(|o| faq_outcomes(o)) {
        match expected.iter_mut().find(|e| e.0 == faq) {
            Some(e) => {
                e.1 += 1;
                e.2 += u64::from(rejected);
            }
            None => expected.push((faq, 1, u64::from(rejected))),
        }
    }
    let faqs = stats["faqs"].as_array().unwrap();
    assert_eq!(faqs.len(), expected.len(), "{faqs:?}");
    for (faq, hits, didnt_help) in &expected {
        let got = faqs.iter().find(|f| f["faq_id"] == faq.as_str()).unwrap();
        assert_eq!(
            (got["hits"].as_u64(), got["didnt_help"].as_u64()),
            (Some(*hits), Some(*didnt_help)),
            "{faq}"
        );
    }
    assert!(expected.iter().any(|e| e.2 == 1), "B's answer did not help");

    // Every shopper message was classified once.
    let messages: u64 = outcomes.iter().map(|o| o.len() as u64).sum();
    let by_intent: u64 = stats["intents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["count"].as_u64().unwrap())
        .sum();
    let by_confidence: u64 = stats["confidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!((by_intent, by_confidence), (messages, messages));
    assert_eq!(stats["reloads"], json!({"ok": 1, "failed": 0}));

    // Over time: nothing in the first hour, everything in the second.
    let series = stats["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0]["conversations"], 0);
    assert_eq!(
        (
            series[1]["conversations"].as_u64(),
            series[1]["contained"].as_u64(),
            series[1]["escalations"].as_u64()
        ),
        (Some(4), Some(2), Some(2))
    );
    assert_eq!(series[1]["csat_average"], 3.0);

    // An empty range, and a reversed one.
    let (_, none) = app
        .admin(
            Method::GET,
            "/v1/admin/stats?from=2026-10-01T00:00:00Z&to=2026-10-02T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(none["conversations"], 0);
    assert_eq!(none["containment_rate"], Value::Null);
    let (s, _) = app
        .admin(
            Method::GET,
            "/v1/admin/stats?from=2026-11-12T00:00:00Z&to=2026-11-11T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(s, 422);

    // The same numbers for Prometheus.
    let (s, kind, text) = app.admin_text("/metrics").await;
    assert_eq!(s, 200);
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    for line in [
        "baton_conversations_total 4",
        "baton_conversations_contained_total 2",
        "baton_escalations_total{reason=\"complaint\"} 1",
        "baton_escalations_total{reason=\"requested_human\"} 1",
        "baton_queue_wait_seconds{quantile=\"0.5\"} 30",
        "baton_queue_wait_seconds{quantile=\"0.9\"} 90",
        "baton_handle_seconds_count 2",
        "baton_csat_ratings_total{score=\"4\"} 1",
        "baton_kb_reloads_total{result=\"ok\"} 1",
        "baton_agents_online 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    // The first scrape waited for them: they are fresh.
    let age = text
        .lines()
        .find_map(|l| l.strip_prefix("baton_statistics_age_seconds "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(age.is_some_and(|a| a < 10.0), "{age:?}");
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}
