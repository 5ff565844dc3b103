//! A FAQ's `handoff:` in its front matter: the answer with a "talk to a person" button
//! (`offer`), the answer and then the queue (`always`), the answer and a task for the group
//! (`notify`) — on the sample FAQs that declare them.

use serde_json::json;

use crate::helpers::{answered_faq, spawn_app};
use baton::handoff::EscalationReason;

#[tokio::test]
async fn an_offer_shows_the_button_and_the_button_reaches_a_person() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let out = app
        .say(
            &id,
            &token,
            "tracking says delivered but I never got my package",
        )
        .await;
    assert_eq!(
        answered_faq(&out).as_deref(),
        Some("signed-not-received"),
        "{out:#}"
    );
    assert_eq!(out["state"], "bot", "an offer is not a handoff: {out:#}");
    let buttons = &out["replies"][0]["meta"]["buttons"];
    assert_eq!(buttons[0]["label"], "Talk to a person", "{out:#}");
    let tap = buttons[0]["value"].as_str().unwrap().to_string();

    let after = app.say(&id, &token, &tap).await;
    assert_eq!(after["state"], "queued", "{after:#}");
    assert_eq!(after["handoff"]["reason"], "requested_human");
    assert_eq!(
        after["handoff"]["skill"], "shipping",
        "to the group of the FAQ just answered"
    );
    app.stop().await;
}

#[tokio::test]
async fn always_answers_then_queues_for_the_faqs_group_with_its_reason() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let out = app.say(&id, &token, "快递到了，东西摔坏了").await;
    assert_eq!(
        answered_faq(&out).as_deref(),
        Some("damaged-or-wrong-item"),
        "{out:#}"
    );
    assert_eq!(out["state"], "queued", "{out:#}");
    assert_eq!(out["handoff"]["reason"], "faq_policy");
    let replies = out["replies"].as_array().unwrap();
    assert_eq!(
        replies[0]["author"], "bot",
        "the answer comes first: {out:#}"
    );
    assert_eq!(replies.last().unwrap()["author"], "system");
    assert!(
        replies.last().unwrap()["text"]
            .as_str()
            .unwrap()
            .contains("人工客服")
    );

    let h = app.open_handoff(&id).await;
    assert_eq!(
        (h.reason, h.skill.as_str()),
        (EscalationReason::FaqPolicy, "after_sales")
    );
    let context = h.context.expect("the agent gets the context");
    assert_eq!(context.reason, EscalationReason::FaqPolicy);
    assert!(
        context.summary.contains("已回答的问题按规定转人工跟进"),
        "{}",
        context.summary
    );
    assert!(
        context
            .transcript
            .iter()
            .any(|l| l.text.contains("48 小时")),
        "the agent sees the answer the shopper got: {:#?}",
        context.transcript
    );
    app.stop().await;
}

#[tokio::test]
async fn notify_leaves_a_task_the_group_sees_live_and_never_refuses_the_answer() {
    let app = spawn_app().await;
    let orders = app.add_agent("orders-desk", &["orders"], 3).await;
    let billing = app.add_agent("billing-desk", &["billing"], 3).await;
    app.online(&orders).await;
    app.online(&billing).await;
    let mut orders_ws = app.agent_ws(&orders).await;
    let mut billing_ws = app.agent_ws(&billing).await;
    let customer = app.signed(json!({"id": "u-77"}));
    let (id, token) = app
        .create(json!({"locale": "zh", "customer_token": customer}))
        .await;

    let asked = "付款两天了还是待发货，麻烦帮我催下仓库";
    let out = app.say(&id, &token, asked).await;
    assert_eq!(
        answered_faq(&out).as_deref(),
        Some("urge-shipment"),
        "{out:#}"
    );
    assert_eq!(out["state"], "bot", "a task is not a handoff: {out:#}");
    let told = out["replies"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(told["author"], "system");
    assert_eq!(told["meta"]["notice"], "ticket_received");

    let event = orders_ws.until("the task", |v| v["type"] == "ticket").await;
    let ticket = &event["ticket"];
    assert_eq!(ticket["skill"], "orders");
    assert_eq!(ticket["conversation_id"], id.as_str());
    assert_eq!(ticket["contact"], "customer u-77");
    assert_eq!(ticket["text"], format!("[urge-shipment] {asked}"));
    let (status, page) = app.agent_get(&orders, "/v1/agent/tickets").await;
    assert_eq!(status, 200);
    assert_eq!(page["tickets"][0]["id"], ticket["id"], "{page:#}");

    // The per-conversation cap of open tickets holds, and the shopper is still answered.
    let cap = app.service.config().handoff.max_open_tickets as usize;
    for _ in 1..cap + 2 {
        let again = app.say(&id, &token, asked).await;
        assert_eq!(
            answered_faq(&again).as_deref(),
            Some("urge-shipment"),
            "{again:#}"
        );
    }
    let open = app
        .service
        .store()
        .count_open_tickets_of(&id)
        .await
        .unwrap();
    assert_eq!(open as usize, cap);
    let other_group = billing_ws
        .drain(std::time::Duration::from_millis(300))
        .await;
    assert!(
        other_group.iter().all(|e| e["type"] != "ticket"),
        "only the FAQ's group hears of it: {other_group:#?}"
    );
    app.stop().await;
}
