//! Signed customer identity over HTTP: a token the shop's server signed makes a verified
//! customer (VIP included); the unsigned `customer` field only ever makes a guest; refused
//! tokens create nothing. And the README's signing examples produce tokens Baton accepts.

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use baton::clock::Clock;
use baton::config::Secret;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ALL_SKILLS, IDENTITY_SECRET, TestApp, clock_at, customer_token, repo, spawn_app, spawn_app_at,
    spawn_app_with, test_config,
};

const PREVIOUS_SECRET: &str = "the-previous-identity-secret-0123456789";

async fn create_raw(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/conversations"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn conversations(app: &TestApp) -> usize {
    app.service
        .store()
        .activity(0, i64::MAX)
        .await
        .unwrap()
        .len()
}

/// The refusal's status, code and message.
async fn refused(app: &TestApp, body: Value) -> (StatusCode, String, String) {
    let r = create_raw(app, body).await;
    let status = r.status();
    let body: Value = r.json().await.expect("a JSON error body");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
        body["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// The queue item of a conversation in the agent's lists.
fn queued_item<'a>(queue: &'a Value, id: &str) -> &'a Value {
    queue["queued"]
        .as_array()
        .unwrap()
        .iter()
        .chain(queue["offered"].as_array().unwrap())
        .find(|i| i["conversation_id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in the queue: {queue:#}"))
}

#[tokio::test]
async fn a_signed_vip_gets_priority_and_the_agent_sees_a_verified_identity() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.identity.previous_secret = Some(Secret::new(PREVIOUS_SECRET));
    let app = spawn_app_with(config).await;
    let agent = app.add_agent("周洁", ALL_SKILLS, 3).await;
    // Online, so the agent may read what waits in their groups.
    let (s, b) = app
        .agent_post(&agent, "/v1/agent/status", json!({"status": "online"}))
        .await;
    assert_eq!(s, 200, "{b}");

    let token = app.signed(json!({"id": "u-1001", "name": "李雷", "tags": ["gold"], "vip": true}));
    let (id, shopper) = app.create(json!({"customer_token": token})).await;
    let out = app.say(&id, &shopper, "转人工").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    assert_eq!(
        out["handoff"]["priority"], "high",
        "a VIP's request is raised"
    );

    let (s, view) = app
        .agent_get(&agent, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(s, 200, "{view}");
    let customer = &view["customer"];
    assert_eq!(customer["verified"], true, "{customer}");
    assert_eq!(customer["id"], "u-1001");
    assert_eq!(customer["name"], "李雷");
    assert_eq!(customer["tags"], json!(["gold"]));
    assert_eq!(customer["vip"], true);
    assert!(
        view["summary"].as_str().unwrap().starts_with("【VIP】"),
        "{view:#}"
    );
    let (_, queue) = app.agent_get(&agent, "/v1/agent/queue").await;
    let item = queued_item(&queue, &id);
    assert_eq!(
        (item["vip"].as_bool(), item["verified"].as_bool()),
        (Some(true), Some(true))
    );

    // While the shop rotates its key, tokens signed with the previous one still verify.
    let old = json!({"id": "u-1002", "vip": true, "exp": app.now_secs() + 600});
    let old = baton::identity::sign(old.to_string().as_bytes(), PREVIOUS_SECRET.as_bytes());
    let (id, _) = app.create(json!({"customer_token": old})).await;
    let stored = app.service.load(&id).await.unwrap();
    assert!(stored.customer.verified && stored.customer.is_vip());
    app.stop().await;
}

#[tokio::test]
async fn an_unsigned_vip_claim_is_an_unverified_guest_without_priority() {
    let app = spawn_app().await;
    let agent = app.add_agent("周洁", ALL_SKILLS, 3).await;
    // Online, so the agent may read what waits in their groups.
    let (s, b) = app
        .agent_post(&agent, "/v1/agent/status", json!({"status": "online"}))
        .await;
    assert_eq!(s, 200, "{b}");
    let (id, shopper) = app
        .create(
            json!({"customer": {"id": "u-1001", "name": "李雷", "tags": ["gold"], "vip": true}}),
        )
        .await;
    let out = app.say(&id, &shopper, "转人工").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    assert_eq!(
        out["handoff"]["priority"], "normal",
        "a claim raises nothing"
    );

    let (s, view) = app
        .agent_get(&agent, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(s, 200, "{view}");
    let customer = &view["customer"];
    assert_eq!(customer["verified"], false, "{customer}");
    assert_eq!(customer["vip"], false);
    assert_eq!(
        customer["id"],
        Value::Null,
        "a claimed id is not the customer's id"
    );
    assert_eq!(customer["claimed_id"], "u-1001");
    assert_eq!(
        customer["name"], "李雷",
        "kept for the agent, marked unverified"
    );
    assert!(
        !view["summary"].as_str().unwrap().contains("VIP"),
        "{view:#}"
    );
    let (_, queue) = app.agent_get(&agent, "/v1/agent/queue").await;
    let item = queued_item(&queue, &id);
    assert_eq!(
        (item["vip"].as_bool(), item["verified"].as_bool()),
        (Some(false), Some(false))
    );
    app.stop().await;
}

#[tokio::test]
async fn tampered_expired_and_malformed_tokens_are_refused_and_nothing_is_created() {
    let app = spawn_app().await;
    let now = app.now_secs();
    let good = app.signed(json!({"id": "u1", "vip": true}));
    let (payload, signature) = good.split_once('.').unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let forged = b64.encode(json!({"id": "u2", "vip": true, "exp": now + 3600}).to_string());
    let mut flipped = b64.decode(signature).unwrap();
    flipped[0] ^= 0x55;
    let wrong_key = baton::identity::sign(
        json!({"id": "u1", "exp": now + 3600})
            .to_string()
            .as_bytes(),
        b"not-the-shop-secret-0123456789abcdef",
    );
    let expired = customer_token(json!({"id": "u1", "exp": now - 3600}));
    let unknown = customer_token(json!({"id": "u1", "exp": now + 60, "role": "admin"}));
    let huge = customer_token(json!({"id": "u1", "exp": now + 60, "name": "x".repeat(5000)}));

    let cases = [
        (
            "tampered payload",
            format!("{forged}.{signature}"),
            401,
            "signature",
        ),
        (
            "tampered signature",
            format!("{payload}.{}", b64.encode(&flipped)),
            401,
            "signature",
        ),
        ("another key", wrong_key, 401, "signature"),
        ("expired", expired, 401, "expired"),
        ("unknown field", unknown, 422, "role"),
        ("too large", huge, 422, "longer than"),
        ("not a token", "hello".into(), 422, "malformed"),
    ];
    for (what, token, status, says) in cases {
        let (s, code, message) = refused(&app, json!({"customer_token": token})).await;
        assert_eq!(s.as_u16(), status, "{what}: {message}");
        assert_eq!(code, "invalid_customer_token", "{what}");
        assert!(message.contains(says), "{what}: {message}");
    }
    let (s, code, _) = refused(
        &app,
        json!({"customer_token": good, "customer": {"id": "u1"}}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), code.as_str()),
        (422, "invalid_request"),
        "both at once"
    );
    assert_eq!(conversations(&app).await, 0, "nothing was created");

    // Expiry reads the server's clock, with a minute of allowance for skew.
    let short = customer_token(json!({"id": "u1", "exp": now + 10}));
    app.clock.advance(Duration::from_secs(10 + 60));
    app.create(json!({"customer_token": short})).await;
    app.clock.advance(Duration::from_secs(1));
    let (s, _, message) = refused(&app, json!({"customer_token": short})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{message}");
    assert_eq!(conversations(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn without_a_secret_tokens_cannot_be_verified_and_claims_stay_guests() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.identity.secret = None;
    let app = spawn_app_at(config, clock_at(crate::helpers::OFFICE_HOURS)).await;
    let token = app.signed(json!({"id": "u1", "vip": true}));
    let (s, code, message) = refused(&app, json!({"customer_token": token})).await;
    assert_eq!((s.as_u16(), code.as_str()), (422, "invalid_customer_token"));
    assert!(message.contains("identity.secret"), "{message}");
    let (id, _) = app.create(json!({"customer": {"vip": true}})).await;
    assert!(!app.service.load(&id).await.unwrap().customer.is_vip());
    app.stop().await;
}

/// The first fenced block of `lang` in the README's "Verified customers" section.
fn readme_example(lang: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("\n## Verified customers")
        .expect("a \"Verified customers\" section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let fence = format!("```{lang}\n");
    let at = section
        .find(&fence)
        .unwrap_or_else(|| panic!("a {lang} example"))
        + fence.len();
    let len = section[at..].find("```").expect("a closed block");
    section[at..at + len].to_string()
}

/// Runs `program` on an example; `None` when the program is not installed here.
fn run_example(program: &str, flag: &str, code: &str) -> Option<String> {
    let out = match Command::new(program)
        .arg(flag)
        .arg(code)
        .env("BATON_IDENTITY__SECRET", IDENTITY_SECRET)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{program} is not installed: its README example is not run");
            return None;
        }
        Err(e) => panic!("{program}: {e}"),
    };
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap().trim().to_string())
}

/// The README's Python and Node.js examples, run as printed, make tokens this server accepts.
#[tokio::test]
async fn the_readme_signing_examples_make_tokens_baton_accepts() {
    let tokens: Vec<(&str, String)> = [
        ("python3", "-c", readme_example("python")),
        ("node", "-e", readme_example("js")),
    ]
    .into_iter()
    .filter_map(|(program, flag, code)| Some((program, run_example(program, flag, &code)?)))
    .collect();
    if tokens.is_empty() {
        return;
    }
    // The examples sign with the real time, so this server runs on the system clock.
    let temp = tempfile::tempdir().unwrap();
    let app = spawn_app_at(test_config(temp.path()), Clock::system()).await;
    for (program, token) in tokens {
        let identity = baton::identity::verify(
            &token,
            &[IDENTITY_SECRET.as_bytes()],
            Clock::system().now_ms(),
        )
        .unwrap_or_else(|e| panic!("{program}'s token {token:?}: {e}"));
        assert_eq!(identity.id, "u1001", "{program}");
        assert_eq!(identity.name.as_deref(), Some("李雷"), "{program}");
        assert_eq!(identity.tags, ["gold"], "{program}");
        assert!(identity.vip, "{program}");
        let (id, _) = app.create(json!({"customer_token": token})).await;
        let customer = app.service.load(&id).await.unwrap().customer;
        assert!(customer.verified && customer.is_vip(), "{program}");
    }
    app.stop().await;
}
