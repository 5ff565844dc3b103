//! Bad input gets a clear 4xx with `{error, message}` and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn expect_error(resp: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.expect("a JSON error body");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

async fn message_count(app: &TestApp, id: &str, token: &str) -> usize {
    app.messages(id, token, 0).await["messages"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn malformed_requests_are_rejected_without_side_effects() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({})).await;
    app.say(&id, &token, "你好").await;
    let url = app.url(&format!("/v1/conversations/{id}/messages"));
    let post = |body: Vec<u8>| {
        app.client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    expect_error(
        post(b"{\"text\": \"hi\", ".to_vec()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    expect_error(
        post(b"{\"text\": \"hi\"}".to_vec()).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        post(b"{\"text\": \"\", \"client_msg_id\": \"x\"}".to_vec())
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        post(b"{\"text\": 5, \"client_msg_id\": \"x\"}".to_vec())
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        post(b"{\"text\": \"hi\", \"client_msg_id\": \"x\", \"extra\": 1}".to_vec())
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let mut invalid_utf8 = b"{\"text\": \"".to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    invalid_utf8.extend_from_slice(b"\", \"client_msg_id\": \"u\"}");
    expect_error(
        post(invalid_utf8).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    let huge = format!(
        "{{\"text\": \"{}\", \"client_msg_id\": \"big\"}}",
        "a".repeat(1024 * 1024)
    );
    expect_error(
        post(huge.into_bytes()).await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let long = json!({"text": "退".repeat(5000), "client_msg_id": "long"}).to_string();
    expect_error(
        post(long.into_bytes()).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let no_type = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(
        no_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    assert_eq!(
        message_count(&app, &id, &token).await,
        2,
        "nothing was stored"
    );
    let convo = app
        .client
        .get(app.url(&format!("/v1/conversations/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let convo: Value = convo.json().await.unwrap();
    assert_eq!(convo["state"], "bot");
    assert_eq!(convo["last_seq"], 2);
    app.stop().await;
}

#[tokio::test]
async fn unknown_ids_and_wrong_tokens() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({})).await;
    let (other_id, other_token) = app.create(json!({})).await;
    let send = |id: String, token: Option<String>| {
        let mut req = app
            .client
            .post(app.url(&format!("/v1/conversations/{id}/messages")))
            .json(&json!({"text": "转人工", "client_msg_id": "t"}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let unknown = uuid::Uuid::new_v4().to_string();
    expect_error(
        send(unknown, Some(token.clone())).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        send("not-a-uuid".into(), Some(token.clone()))
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        send(id.clone(), None).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        send(id.clone(), Some("wrong".into())).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // One conversation's token opens no other conversation.
    expect_error(
        send(id.clone(), Some(other_token.clone())).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let list = app
        .client
        .get(app.url(&format!("/v1/conversations/{other_id}/messages")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(list, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let button = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/handoff")))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    expect_error(button, StatusCode::UNAUTHORIZED, "unauthorized").await;

    assert_eq!(message_count(&app, &id, &token).await, 0);
    assert!(
        app.service
            .store()
            .open_handoff(&id)
            .await
            .unwrap()
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_creation_requests_queries_and_routes() {
    let app = spawn_app().await;
    let create = |body: Value| {
        app.client
            .post(app.url("/v1/conversations"))
            .json(&body)
            .send()
    };
    expect_error(
        create(json!({"locale": "fr"})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        create(json!({"customer": {"vip": "yes"}})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        create(json!({"colour": "red"})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;

    let (id, token) = app.create(json!({})).await;
    let q = app
        .client
        .get(app.url(&format!("/v1/conversations/{id}/messages?after=abc")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(q, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let q = app
        .client
        .get(app.url(&format!("/v1/conversations/{id}/messages?after=-1")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(q, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    expect_error(
        app.client.get(app.url("/v1/nothing")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.client
            .delete(app.url("/v1/conversations"))
            .send()
            .await
            .unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;

    let health: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["database"], "ok");
    assert!(ready["faqs"].as_u64().unwrap() >= 60);
    app.stop().await;
}

#[tokio::test]
async fn bad_agent_requests_change_nothing() {
    let app = spawn_app().await;
    let agent = app.add_agent("王芳", &["general"], 2).await;
    app.online(&agent).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    app.say(&id, &token, "talk to a person").await;
    app.tick().await;
    app.agent_post(
        &agent,
        &format!("/v1/agent/conversations/{id}/accept"),
        json!({}),
    )
    .await;
    let before = message_count(&app, &id, &token).await;
    let url = app.url(&format!("/v1/agent/conversations/{id}/messages"));
    let post = |body: Vec<u8>| {
        app.client
            .post(&url)
            .bearer_auth(&agent.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    expect_error(
        post(b"{\"text\": ".to_vec()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    expect_error(
        post(b"{\"txt\": \"hi\"}".to_vec()).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        post(b"{\"text\": \"   \"}".to_vec()).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let mut invalid_utf8 = b"{\"text\": \"".to_vec();
    invalid_utf8.extend([0xff, 0xfe]);
    invalid_utf8.extend(b"\"}");
    let r = post(invalid_utf8).await.unwrap();
    assert!(r.status().is_client_error());
    let huge = format!("{{\"text\": \"{}\"}}", "x".repeat(100_000));
    expect_error(
        post(huge.into_bytes()).await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let r = app
        .client
        .post(app.url(&format!("/v1/agent/conversations/{id}/transfer")))
        .bearer_auth(&agent.token)
        .json(&json!({"skill": "billing", "agent": "someone"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let r = app
        .client
        .post(app.url(&format!("/v1/agent/conversations/{id}/transfer")))
        .bearer_auth(&agent.token)
        .json(&json!({"agent": "nobody"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let r = app
        .client
        .post(app.url("/v1/agent/status"))
        .bearer_auth(&agent.token)
        .json(&json!({"status": "sleeping"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let unknown = uuid::Uuid::new_v4();
    let r = app
        .client
        .post(app.url(&format!("/v1/agent/conversations/{unknown}/accept")))
        .bearer_auth(&agent.token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app
        .client
        .post(app.url(&format!("/v1/agent/conversations/{id}/resolve")))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        message_count(&app, &id, &token).await,
        before,
        "nothing was stored"
    );
    let h = app
        .service
        .store()
        .open_handoff(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        h.agent_id.as_deref(),
        Some(agent.id.as_str()),
        "still assigned"
    );
    app.stop().await;
}
