//! The network edge under hostile or careless clients: floods of wrong agent tokens, silent
//! and slow connections, oversized headers, credentials in socket URLs, cross-origin calls
//! to the agent and admin APIs, and caching of private responses.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app, spawn_app_with, test_config};

/// A server with changed `[http]` settings and the admin API on.
async fn app_with(change: impl FnOnce(&mut baton::config::Config)) -> (TestApp, tempfile::TempDir) {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.admin_token = Some(ADMIN_TOKEN.into());
    change(&mut config);
    (spawn_app_with(config).await, temp)
}

fn host_of(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Whether the server closes `stream` within `limit`, reading (and discarding) whatever
/// it sends first.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A WebSocket handshake at `path`, as a browser page at `origin` would send it.
async fn upgrade(app: &TestApp, path: &str, origin: Option<&str>) -> reqwest::Response {
    let mut r = app
        .client
        .get(app.url(path))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    if let Some(o) = origin {
        r = r.header("origin", o);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn a_flood_of_wrong_agent_tokens_is_turned_away_instead_of_queued() {
    let (app, _temp) = app_with(|c| c.http.max_token_checks = 1).await;
    let agent = app.add_agent("王芳", &["general"], 2).await;
    // Verified once before the flood: remembered, so it needs no argon2 slot during it.
    assert_eq!(app.agent_get(&agent, "/v1/agent/me").await.0, 200);
    let before = app.desk.token_checks_run();

    let flood = 48;
    let attempts = (0..flood).map(|i| {
        let bogus = format!("{}.bogus-secret-{i}", agent.id);
        app.client
            .get(app.url("/v1/agent/me"))
            .bearer_auth(bogus)
            .send()
    });
    let legit = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        app.agent_get(&agent, "/v1/agent/me").await.0
    };
    let (responses, legit) = tokio::join!(futures::future::join_all(attempts), legit);
    assert_eq!(legit, 200, "a verified agent is served during the flood");
    let mut busy = 0;
    for r in responses {
        let r = r.unwrap();
        let status = r.status().as_u16();
        let retry_after = r.headers().get("retry-after").cloned();
        let body: Value = r.json().await.unwrap();
        match status {
            401 => assert_eq!(body["error"], "unauthorized"),
            503 => {
                busy += 1;
                assert_eq!(body["error"], "unavailable", "{body}");
                assert_eq!(retry_after.unwrap(), "1");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        busy > 0,
        "with one slot, most of {flood} checks at once are turned away"
    );
    let ran = app.desk.token_checks_run() - before;
    assert_eq!(ran, flood - busy, "a turned-away request runs no argon2");
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_wrong_token_costs_one_check_and_a_right_one_is_rechecked_after_a_while() {
    let app = spawn_app().await;
    let agent = app.add_agent("李明", &["general"], 2).await;
    let bogus = format!("{}.not-the-secret", agent.id);
    let before = app.desk.token_checks_run();
    for _ in 0..5 {
        let r = app
            .client
            .get(app.url("/v1/agent/me"))
            .bearer_auth(&bogus)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    assert_eq!(
        app.desk.token_checks_run() - before,
        1,
        "refusals are remembered"
    );

    let before = app.desk.token_checks_run();
    for _ in 0..3 {
        assert_eq!(app.agent_get(&agent, "/v1/agent/me").await.0, 200);
    }
    assert_eq!(app.desk.token_checks_run() - before, 1);
    app.clock.advance(Duration::from_secs(11 * 60));
    assert_eq!(app.agent_get(&agent, "/v1/agent/me").await.0, 200);
    assert_eq!(
        app.desk.token_checks_run() - before,
        2,
        "a verified token is trusted for a limited time"
    );
    app.stop().await;
}

#[tokio::test]
async fn silent_slow_and_idle_connections_are_closed() {
    let (app, _temp) = app_with(|c| c.http.header_read_timeout_ms = 300).await;
    let addr = host_of(&app);
    let limit = Duration::from_secs(5);

    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut one_byte = TcpStream::connect(&addr).await.unwrap();
    one_byte.write_all(b"G").await.unwrap();
    let mut slow_headers = TcpStream::connect(&addr).await.unwrap();
    slow_headers
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut silent, limit).await, "nothing sent");
    assert!(closed_within(&mut one_byte, limit).await, "one byte sent");
    assert!(
        closed_within(&mut slow_headers, limit).await,
        "headers never end"
    );

    // Kept alive after a complete exchange, then idle.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "served first");
    assert!(closed_within(&mut idle, limit).await, "idle keep-alive");

    // Meanwhile, and afterwards, the server serves.
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let app = spawn_app().await;
    let ok = app
        .client
        .get(app.url("/healthz"))
        .header("x-filler", "a".repeat(8 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-filler", "a".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "headers_too_large", "{body}");

    // Far over the limit: refused before it is buffered (the connection may be reset
    // while the client is still writing, which is also a refusal).
    let mut stream = TcpStream::connect(host_of(&app)).await.unwrap();
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "100 KB of headers must not be served: {answer}"
    );
    app.stop().await;
}

#[tokio::test]
async fn socket_tickets_are_one_time_short_lived_and_bound_to_their_conversation() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({})).await;
    let (other, other_token) = app.create(json!({})).await;
    let path = |conversation: &str, ticket: &str| {
        format!("/v1/conversations/{conversation}/ws?ticket={ticket}")
    };

    let r = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/ws-ticket")))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "a ticket needs the conversation's own token"
    );

    let ticket = app.shopper_ticket(&id, &token).await;
    assert_ne!(ticket, token);
    assert_eq!(upgrade(&app, &path(&id, &ticket), None).await.status(), 101);
    assert_eq!(
        upgrade(&app, &path(&id, &ticket), None).await.status(),
        401,
        "used up"
    );

    let foreign = app.shopper_ticket(&other, &other_token).await;
    assert_eq!(
        upgrade(&app, &path(&id, &foreign), None).await.status(),
        401
    );

    let stale = app.shopper_ticket(&id, &token).await;
    app.clock.advance(Duration::from_secs(31));
    let r = upgrade(&app, &path(&id, &stale), None).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("ticket"),
        "{body}"
    );

    // The long-lived token no longer goes in a URL at all.
    let r = upgrade(
        &app,
        &format!("/v1/conversations/{id}/ws?token={token}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 422);
    app.stop().await;
}

#[tokio::test]
async fn an_agent_ticket_dies_with_the_token_it_was_issued_for() {
    let (app, _temp) = app_with(|_| {}).await;
    let agent = app.add_agent("flaky", &["general"], 2).await;
    let ticket = app.agent_ticket(&agent).await;
    let (s, body) = app
        .admin(
            reqwest::Method::POST,
            &format!("/v1/admin/agents/{}/rotate", agent.name),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let r = upgrade(&app, &format!("/v1/agent/ws?ticket={ticket}"), None).await;
    assert_eq!(r.status(), 401);

    let agent = crate::helpers::Agent {
        token: body["token"].as_str().unwrap().to_string(),
        ..agent
    };
    let mut ws = app.agent_ws(&agent).await;
    assert_eq!(ws.next().await.unwrap()["type"], "hello");
    app.stop().await;
}

#[tokio::test]
async fn the_agent_socket_opens_only_from_batons_own_origin() {
    let (app, _temp) =
        app_with(|c| c.http.allowed_origins = vec!["https://shop.example".into()]).await;
    let agent = app.add_agent("王芳", &["general"], 2).await;
    let own = format!("http://{}", host_of(&app));
    for (origin, expected) in [
        (Some("https://evil.example"), 403),
        (Some("https://shop.example"), 403),
        (Some(own.as_str()), 101),
        (None, 101),
    ] {
        let ticket = app.agent_ticket(&agent).await;
        let r = upgrade(&app, &format!("/v1/agent/ws?ticket={ticket}"), origin).await;
        assert_eq!(r.status(), expected, "origin {origin:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn websocket_paths_called_without_an_upgrade_answer_in_json() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({})).await;
    let ticket = app.shopper_ticket(&id, &token).await;
    for path in [
        "/v1/agent/ws".to_string(),
        format!("/v1/conversations/{id}/ws?ticket={ticket}"),
    ] {
        let r = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 426, "{path}");
        assert_eq!(r.headers()["upgrade"], "websocket");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "upgrade_required", "{body}");
        assert!(body["message"].is_string());
    }
    // The ticket was not spent on the failed attempt.
    assert_eq!(
        upgrade(
            &app,
            &format!("/v1/conversations/{id}/ws?ticket={ticket}"),
            None
        )
        .await
        .status(),
        101
    );
    app.stop().await;
}

#[tokio::test]
async fn private_responses_are_not_stored_and_pages_may_be() {
    let (app, _temp) = app_with(|_| {}).await;
    let no_store = |r: &reqwest::Response| {
        r.headers()
            .get("cache-control")
            .is_some_and(|v| v == "no-store")
    };
    let created = app
        .client
        .post(app.url("/v1/conversations"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(no_store(&created), "the conversation token is in this body");
    let v: Value = created.json().await.unwrap();
    let (id, token) = (
        v["conversation_id"].as_str().unwrap(),
        v["token"].as_str().unwrap(),
    );
    let private = [
        app.client
            .get(app.url(&format!("/v1/conversations/{id}/messages")))
            .bearer_auth(token),
        app.client.get(app.url("/v1/agent/me")),
        app.client
            .get(app.url("/v1/admin/agents"))
            .bearer_auth(ADMIN_TOKEN),
        app.client.get(app.url("/metrics")).bearer_auth(ADMIN_TOKEN),
        app.client.get(app.url("/v1/nowhere")),
    ];
    for req in private {
        let r = req.send().await.unwrap();
        assert!(no_store(&r), "{} {:?}", r.url(), r.headers());
    }
    let page = app.client.get(app.url("/widget.js")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(!no_store(&page), "scripts may be cached");
    app.stop().await;
}

#[tokio::test]
async fn only_the_shopper_api_answers_cross_origin_requests() {
    let shop = "https://shop.example";
    let (app, _temp) = app_with(|c| c.http.allowed_origins = vec![shop.into()]).await;
    let agent = app.add_agent("王芳", &["general"], 2).await;
    let allowed = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let preflight = |path: &str, method: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", shop)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };

    let r = preflight("/v1/conversations", "POST").await.unwrap();
    assert_eq!(
        allowed(&r).as_deref(),
        Some(shop),
        "the widget may call from the shop"
    );
    let r = app
        .client
        .post(app.url("/v1/conversations"))
        .header("origin", shop)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed(&r).as_deref(), Some(shop));

    for (path, method) in [
        ("/v1/agent/me", "GET"),
        ("/v1/agent/ws-ticket", "POST"),
        ("/v1/admin/agents", "GET"),
    ] {
        let r = preflight(path, method).await.unwrap();
        assert_eq!(allowed(&r), None, "preflight {path}");
    }
    let r = app
        .client
        .get(app.url("/v1/agent/me"))
        .header("origin", shop)
        .bearer_auth(&agent.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(allowed(&r), None, "the console is same-origin");
    app.stop().await;
}
