//! When the bot hands over: explicit requests, repeated confusion, complaints, VIPs, and the
//! button — each leaves a queued conversation with a handoff record an agent can work from.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use baton::handoff::{EscalationReason, Handoff, Priority};

async fn handoff_of(app: &TestApp, id: &str) -> Handoff {
    app.service
        .store()
        .open_handoff(id)
        .await
        .unwrap()
        .expect("an open handoff")
}

#[tokio::test]
async fn zhuan_ren_gong_queues_with_the_whole_transcript() {
    let app = spawn_app().await;
    let (id, token) = app
        .create(json!({"channel": "app", "locale": "zh-CN", "customer": {"id": "u42", "name": "李雷", "tags": ["new"]}}))
        .await;
    app.say(&id, &token, "我的订单MM202611110001退款多久到账？")
        .await;
    let out = app.say(&id, &token, "转人工").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    assert_eq!(out["handoff"]["reason"], "requested_human");
    assert_eq!(out["handoff"]["status"], "queued");
    let notice = out["replies"].as_array().unwrap().last().unwrap();
    assert_eq!(notice["author"], "system");
    assert!(
        notice["text"].as_str().unwrap().contains("人工客服"),
        "told in Chinese: {notice}"
    );

    let h = handoff_of(&app, &id).await;
    assert_eq!(h.reason, EscalationReason::RequestedHuman);
    assert_eq!(
        h.skill, "after_sales",
        "routed to the topic the shopper asked about"
    );
    let ctx = h.context.as_ref().unwrap();
    assert_eq!(
        ctx.transcript.len(),
        5,
        "both questions, the answer, the acknowledgement and the notice"
    );
    assert_eq!(ctx.transcript[0].intent.as_deref(), Some("refund_status"));
    assert!(ctx.transcript[0].confidence.unwrap() > 0.5);
    assert!(!ctx.transcript[0].faq_candidates.is_empty());
    assert_eq!(ctx.customer.claimed_id.as_deref(), Some("u42"));
    assert!(!ctx.customer.verified, "unsigned: a guest");
    assert_eq!(ctx.channel, "app");
    assert!(ctx.summary.contains("MM202611110001"), "{}", ctx.summary);
    assert!(ctx.entities.iter().any(|e| e.masked == "MM202611110001"));

    // While queued the bot stays silent; the message is kept for the agent.
    let later = app.say(&id, &token, "还有，我想改一下收货地址").await;
    assert_eq!(later["state"], "queued");
    assert!(later["replies"].as_array().unwrap().is_empty(), "{later:#}");
    let all = app.messages(&id, &token, 0).await;
    assert_eq!(
        all["messages"].as_array().unwrap().last().unwrap()["text"],
        "还有，我想改一下收货地址"
    );
    app.stop().await;
}

#[tokio::test]
async fn talk_to_a_person_in_english_queues_and_answers_in_english() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let out = app.say(&id, &token, "I want to talk to a person").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    assert_eq!(out["handoff"]["reason"], "requested_human");
    let notice = out["replies"].as_array().unwrap().last().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(notice.contains("team"), "{notice}");
    let h = handoff_of(&app, &id).await;
    assert_eq!(
        h.context.as_ref().unwrap().transcript[0].text,
        "I want to talk to a person"
    );
    app.stop().await;
}

#[tokio::test]
async fn two_nonsense_turns_clarify_then_queue() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let first = app.say(&id, &token, "量子纠缠的猫喜欢什么颜色的月亮").await;
    assert_eq!(first["state"], "bot", "{first:#}");
    assert_eq!(first["replies"][0]["meta"]["kind"], "clarify");
    let second = app.say(&id, &token, "asdkjh qwpoeiru zxmcnv").await;
    assert_eq!(second["state"], "queued", "{second:#}");
    assert_eq!(second["handoff"]["reason"], "low_confidence");
    let h = handoff_of(&app, &id).await;
    assert_eq!(h.reason, EscalationReason::LowConfidence);
    assert_eq!(h.context.as_ref().unwrap().transcript.len(), 4);
    app.stop().await;
}

#[tokio::test]
async fn a_complaint_gets_raised_priority_and_a_vip_more() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let out = app.say(&id, &token, "你们的服务太差了，我要投诉！").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    assert_eq!(out["handoff"]["reason"], "complaint");
    assert_eq!(out["handoff"]["priority"], "high");

    let vip = app.signed(json!({"id": "v1", "vip": true}));
    let (vid, vtoken) = app
        .create(json!({"locale": "en", "customer_token": vip}))
        .await;
    let out = app
        .say(
            &vid,
            &vtoken,
            "This is unacceptable, the worst service ever",
        )
        .await;
    assert_eq!(out["handoff"]["priority"], "urgent", "{out:#}");
    assert_eq!(handoff_of(&app, &vid).await.priority, Priority::Urgent);
    assert!(
        handoff_of(&app, &vid)
            .await
            .context
            .unwrap()
            .summary
            .starts_with("[VIP]")
    );

    let (vid, vtoken) = app.create(json!({"customer_token": vip})).await;
    let out = app.say(&vid, &vtoken, "转人工").await;
    assert_eq!(
        out["handoff"]["priority"], "high",
        "a VIP's plain request is raised too"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_handoff_button_is_idempotent() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    app.say(&id, &token, "how do I get an invoice").await;
    let press = || {
        app.client
            .post(app.url(&format!("/v1/conversations/{id}/handoff")))
            .bearer_auth(&token)
            .send()
    };
    let first = press().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["state"], "queued");
    assert_eq!(first["handoff"]["skill"], "billing");
    let again = press().await.unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["handoff"]["id"], first["handoff"]["id"]);
    let all = app.messages(&id, &token, 0).await;
    assert_eq!(
        all["messages"].as_array().unwrap().len(),
        3,
        "question, answer, one notice"
    );
    app.stop().await;
}
