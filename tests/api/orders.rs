//! Order tasks through the real server: the bot calls the demo shop Baton serves under
//! `/demo/api` over real HTTP, and a shop API that misbehaves on purpose (slow, 500,
//! malformed, huge, another customer's order) on its own port.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::helpers::*;

fn replies(outcome: &Value) -> String {
    outcome["replies"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|m| m["text"].as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn first_meta(outcome: &Value) -> Value {
    outcome["replies"][0]["meta"].clone()
}

#[tokio::test]
async fn a_verified_customer_gets_the_order_and_its_trace() {
    let app = spawn_app().await;
    let token = app.signed(json!({"id": "c1001"}));
    let (id, t) = app.create(json!({"customer_token": token})).await;
    let out = app.say(&id, &t, "帮我查下订单 MM202611110001 到哪了").await;
    let text = replies(&out);
    assert!(text.contains("已发货"), "{out}");
    let meta = first_meta(&out);
    assert_eq!(meta["kind"], "task");
    assert_eq!(meta["card"]["order"]["number"], "MM202611110001");
    assert!(
        meta["card"]["trace"]
            .as_array()
            .is_some_and(|t| t.len() >= 3),
        "{meta}"
    );
    assert_eq!(out["state"], "bot");
}

#[tokio::test]
async fn a_guest_proves_the_order_with_the_phone_and_never_sees_anothers() {
    let app = spawn_app().await;
    let (id, t) = app.create(json!({"locale": "en"})).await;
    let out = app.say(&id, &t, "where is my order MM202611110001").await;
    assert!(replies(&out).contains("last 4 digits"), "{out}");
    let out = app.say(&id, &t, "4321").await;
    assert!(replies(&out).contains("couldn't find"), "{out}");
    assert!(first_meta(&out)["card"].is_null(), "{out}");
    let out = app.say(&id, &t, "MM202611110001 5678").await;
    assert!(replies(&out).contains("shipped"), "{out}");

    // A verified customer asking for someone else's order is told nothing about it.
    let token = app.signed(json!({"id": "c1002"}));
    let (other, ot) = app.create(json!({"customer_token": token})).await;
    let out = app.say(&other, &ot, "订单 MM202611110001 到哪了").await;
    assert!(replies(&out).contains("没有找到"), "{out}");
    assert!(!out.to_string().contains("羽绒服"), "{out}");
}

#[tokio::test]
async fn cancelling_asks_first_and_a_retried_yes_writes_once() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.admin_token = Some(ADMIN_TOKEN.into());
    let app = spawn_app_with(config).await;
    let token = app.signed(json!({"id": "c1001"}));
    let (id, t) = app.create(json!({"customer_token": token})).await;
    let out = app.say(&id, &t, "帮我取消订单 MM202611110002").await;
    assert!(replies(&out).contains("确认取消订单"), "{out}");
    let buttons = first_meta(&out)["buttons"].clone();
    assert_eq!(buttons[0]["value"], "确认", "{out}");
    let yes = app.send_raw(&id, &t, "确认", "confirm-1").await;
    assert_eq!(yes.status(), 201);
    let yes: Value = yes.json().await.unwrap();
    assert!(replies(&yes).contains("已取消"), "{yes}");
    let again = app.send_raw(&id, &t, "确认", "confirm-1").await;
    assert_eq!(again.status(), 200, "a retry is answered from the store");
    // The demo shop now says cancelled: a second request is refused by the precondition.
    let out = app.say(&id, &t, "取消订单 MM202611110002").await;
    assert!(replies(&out).contains("不能取消"), "{out}");
    let (status, audit) = app
        .admin(reqwest::Method::GET, "/v1/admin/audit", None)
        .await;
    assert_eq!(status, 200, "{audit}");
    let writes = audit.to_string().matches("\"shop_write\"").count();
    assert_eq!(
        writes, 1,
        "one write for two deliveries of the same yes: {audit}"
    );
}

#[tokio::test]
async fn the_page_fills_the_product_and_the_agent_sees_it() {
    let app = spawn_app().await;
    let (id, t) = app.create(json!({"locale": "zh"})).await;
    let r = app
        .client
        .put(app.url(&format!("/v1/conversations/{id}/page")))
        .bearer_auth(&t)
        .json(&json!({"sku": "SKU-1002", "title": "空气炸锅"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let out = app.say(&id, &t, "这个还有货吗").await;
    assert!(replies(&out).contains("2026-12-10"), "{out}");
    let too_long = "x".repeat(600);
    let r = app
        .client
        .put(app.url(&format!("/v1/conversations/{id}/page")))
        .bearer_auth(&t)
        .json(&json!({ "title": too_long }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    let agent = app.add_agent("ops", &["general", "orders"], 3).await;
    app.online(&agent).await;
    app.say(&id, &t, "MM202611110003 尾号5678").await;
    app.say(&id, &t, "转人工").await;
    app.tick().await;
    let (s, _) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/conversations/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, view) = app
        .agent_get(&agent, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(view["page"]["sku"], "SKU-1002", "{view}");
    assert_eq!(view["orders"][0]["number"], "MM202611110003", "{view}");
    assert!(
        view["shop_calls"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["call"] == "order" && c["outcome"] == "ok")),
        "{view}"
    );
    assert!(
        !view.to_string().contains("\"5678\""),
        "the phone digits are masked: {view}"
    );
    let (s, found) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/conversations/{id}/lookup"),
            json!({"call": "logistics", "order_number": "MM202611110001"}),
        )
        .await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["outcome"], "ok", "{found}");
    assert!(found["fields"]["events"].is_array(), "{found}");
    let (s, refused) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/conversations/{id}/lookup"),
            json!({"call": "cancel", "order_number": "MM202611110003"}),
        )
        .await;
    assert_eq!(s, 403, "agents do not write through look-ups: {refused}");
}

/// A shop API that misbehaves in one way per order number.
async fn misbehaving_shop() -> SocketAddr {
    async fn order(
        axum::extract::Path(number): axum::extract::Path<String>,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let good = json!({"order": {"number": number, "customer_id": "c1001", "status": "paid"}});
        match number.as_str() {
            "MM000000000001" => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                axum::Json(good).into_response()
            }
            "MM000000000002" => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
            "MM000000000003" => "{not json".into_response(),
            "MM000000000004" => "x".repeat(2 * 1024 * 1024).into_response(),
            "MM000000000005" => axum::Json(json!({"order": {"number": number, "customer_id": "c9999", "status": "paid", "address": "someone else's home"}})).into_response(),
            "MM000000000006" => axum::Json(json!({"order": {"customer_id": "c1001"}})).into_response(),
            _ => axum::Json(good).into_response(),
        }
    }
    let app = Router::new()
        .route("/orders/{number}", get(order))
        .route(
            "/orders/{number}/logistics",
            get(|| async { (axum::http::StatusCode::CONFLICT, "{}") }),
        )
        .route(
            "/orders/{number}/cancel",
            post(|| async { (axum::http::StatusCode::BAD_GATEWAY, "down") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test]
async fn a_misbehaving_shop_ends_in_a_handoff_with_what_was_attempted() {
    let shop = misbehaving_shop().await;
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    without_rate_limits(&mut config);
    config.admin_token = Some(ADMIN_TOKEN.into());
    config.shop.base_url = Some(format!("http://{shop}"));
    config.shop.allow_private = true;
    config.shop.timeout_ms = 300;
    config.shop.read_retries = 0;
    config.shop.breaker_failures = 100;
    let app = spawn_app_with(config).await;
    let token = app.signed(json!({"id": "c1001"}));
    for (number, outcome) in [
        ("MM000000000001", "timeout"),
        ("MM000000000002", "http_error"),
        ("MM000000000003", "malformed"),
        ("MM000000000004", "too_large"),
        ("MM000000000005", "wrong_customer"),
        ("MM000000000006", "malformed"),
    ] {
        let (id, t) = app.create(json!({"customer_token": token})).await;
        let started = std::time::Instant::now();
        let out = app.say(&id, &t, &format!("订单 {number} 到哪了")).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{number}: no hang"
        );
        assert_eq!(out["state"], "queued", "{number}: {out}");
        assert_eq!(out["handoff"]["reason"], "action_failed", "{number}: {out}");
        assert!(!out.to_string().contains("someone else"), "{number}: {out}");
        let agent_view = app.service.current(&id).await.unwrap().conversation;
        assert!(agent_view.dialogue.task.is_none());
        let msgs = app.messages(&id, &t, 0).await;
        assert!(!msgs.to_string().contains("someone else"), "{msgs}");
        let _ = outcome;
    }
    let text = app.metrics().await;
    for kind in [
        "timeout",
        "http_error",
        "malformed",
        "too_large",
        "wrong_customer",
    ] {
        assert!(
            text.contains(&format!(
                "baton_shop_call_failures_total{{call=\"order\",kind=\"{kind}\"}}"
            )),
            "{kind} missing in /metrics"
        );
    }
    // A write that fails hands over with high priority.
    let (id, t) = app.create(json!({"customer_token": token})).await;
    let out = app.say(&id, &t, "取消订单 MM000000000009").await;
    assert!(replies(&out).contains("确认取消订单"), "{out}");
    let out = app.say(&id, &t, "确认").await;
    assert_eq!(out["handoff"]["reason"], "action_failed", "{out}");
    assert_eq!(out["handoff"]["priority"], "high", "{out}");
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let shop = misbehaving_shop().await;
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.shop.base_url = Some(format!("http://{shop}"));
    let app = spawn_app_with(config).await;
    let token = app.signed(json!({"id": "c1001"}));
    let (id, t) = app.create(json!({"customer_token": token})).await;
    let out = app.say(&id, &t, "订单 MM000000000009 到哪了").await;
    assert_eq!(out["handoff"]["reason"], "action_failed", "{out}");
    let turn = app.service.current(&id).await.unwrap();
    assert!(
        turn.conversation.dialogue.orders.is_empty(),
        "nothing was read"
    );
}

#[tokio::test]
async fn a_write_marked_notify_person_leaves_a_ticket_and_changes_nothing() {
    let (app, temp) = editable_app(false).await;
    let intent = temp.path().join("content/intents/change_address.yaml");
    let text = std::fs::read_to_string(&intent).unwrap();
    std::fs::write(
        &intent,
        text.replace(
            "  write: change_address\n",
            "  write: change_address\n  handling: notify_person\n",
        )
        .replace(
            "    zh: \"订单 {{ number }} 的收货地址已改为「{{ address }}」。\"",
            "    zh: \"已记录：订单 {{ number }} 改为「{{ address }}」，客服会尽快处理。\"",
        ),
    )
    .unwrap();
    let (status, body) = app
        .admin(reqwest::Method::POST, "/v1/admin/kb/reload", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let token = app.signed(json!({"id": "c1001"}));
    let (id, t) = app.create(json!({"customer_token": token})).await;
    let out = app.say(&id, &t, "修改收货地址 MM202611110002").await;
    assert!(replies(&out).contains("新的收货地址"), "{out}");
    let out = app.say(&id, &t, "上海市徐汇区漕溪北路88号").await;
    assert!(replies(&out).contains("客服会尽快处理"), "{out}");
    assert!(
        first_meta(&out)["buttons"].is_null(),
        "no confirmation: a person does it"
    );

    let agent = app.add_agent("ops", &["orders"], 3).await;
    let (s, tickets) = app.agent_get(&agent, "/v1/agent/tickets").await;
    assert_eq!(s, 200, "{tickets}");
    assert!(
        tickets.to_string().contains("MM202611110002"),
        "the group sees the request: {tickets}"
    );
    // The bot wrote nothing: the order still has its old address.
    let (s, found) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/conversations/{id}/lookup"),
            json!({"call": "order"}),
        )
        .await;
    assert_eq!(s, 403, "not held by this agent yet: {found}");
    let shop = reqwest::get(app.url("/demo/api/orders/MM202611110002?customer_id=c1001"))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        shop["order"]["address"], "上海市浦东新区世纪大道100号",
        "{shop}"
    );
}
