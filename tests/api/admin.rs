//! Managing agents: the admin API and `baton agent …` on the same store; tokens are shown
//! once, stored hashed, rotated and revoked at once.

use serde_json::{Value, json};

use crate::cli::baton;
use crate::helpers::{spawn_app, spawn_app_with, test_config};

const ADMIN: &str = "test-admin-token-0123456789";

#[tokio::test]
async fn the_admin_api_adds_lists_rotates_and_disables_agents() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.admin_token = Some(ADMIN.into());
    let app = spawn_app_with(config).await;
    let admin = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let mut r = app.client.request(method, app.url(path)).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    let post = reqwest::Method::POST;
    let r = admin(
        post.clone(),
        "/v1/admin/agents",
        "wrong",
        Some(json!({"name": "x", "skills": ["general"]})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    let r = admin(
        post.clone(),
        "/v1/admin/agents",
        ADMIN,
        Some(json!({"name": "王芳", "skills": ["general", "orders"], "max_chats": 4})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(
        created["agent"].get("token_hash").is_none(),
        "the hash is never served"
    );
    let r = admin(
        post.clone(),
        "/v1/admin/agents",
        ADMIN,
        Some(json!({"name": "王芳", "skills": ["general"]})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 409, "names are unique");
    let r = admin(
        post.clone(),
        "/v1/admin/agents",
        ADMIN,
        Some(json!({"name": "坏", "skills": ["has space"]})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);

    let me = app
        .client
        .get(app.url("/v1/agent/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let stored = app
        .service
        .store()
        .agent_by_name("王芳")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.token_hash.starts_with("$argon2id$"));
    assert!(!stored.token_hash.contains(&token));

    let list: Value = admin(reqwest::Method::GET, "/v1/admin/agents", ADMIN, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["agents"][0]["max_chats"], 4);

    // Rotation: the old token stops working at once, the new one works.
    let r = admin(post.clone(), "/v1/admin/agents/王芳/rotate", ADMIN, None)
        .await
        .unwrap();
    let rotated: Value = r.json().await.unwrap();
    let new_token = rotated["token"].as_str().unwrap().to_string();
    let old = app
        .client
        .get(app.url("/v1/agent/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
    let new = app
        .client
        .get(app.url("/v1/agent/me"))
        .bearer_auth(&new_token)
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);

    // Disabling revokes the token too.
    let r = admin(
        reqwest::Method::PATCH,
        "/v1/admin/agents/王芳",
        ADMIN,
        Some(json!({"disabled": true})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let gone = app
        .client
        .get(app.url("/v1/agent/me"))
        .bearer_auth(&new_token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401);
    let r = admin(
        reqwest::Method::PATCH,
        "/v1/admin/agents/nobody",
        ADMIN,
        Some(json!({"disabled": true})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 404);

    let audit: Value = admin(reqwest::Method::GET, "/v1/admin/audit", ADMIN, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["agent_add", "agent_rotate", "agent_update"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn without_an_admin_token_the_admin_api_is_off() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/v1/admin/agents"))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("BATON_ADMIN_TOKEN")
    );
    app.stop().await;
}

#[test]
fn the_agent_command_prints_the_token_last_and_manages_agents() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = baton()
            .arg("agent")
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .envs(crate::database::store_env(dir.path()))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, out, err) = run(&[
        "add",
        "--name",
        "zhang",
        "--skills",
        "orders, billing",
        "--max-chats",
        "2",
    ]);
    assert!(ok, "{err}");
    let token = out.lines().last().unwrap();
    assert!(token.contains('.') && token.len() > 40, "{out}");
    let (ok, _, err) = run(&["add", "--name", "zhang", "--skills", "orders"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(&["add", "--name", "bad", "--skills", "", "--max-chats", "2"]);
    assert!(!ok && err.contains("skills"), "{err}");
    let (_, out, _) = run(&["list"]);
    assert!(
        out.contains("zhang") && out.contains("orders,billing"),
        "{out}"
    );
    let (ok, out, _) = run(&["rotate", "zhang"]);
    assert!(ok);
    assert_ne!(out.lines().last().unwrap(), token);
    let (ok, _, _) = run(&["disable", "zhang"]);
    assert!(ok);
    let (_, out, _) = run(&["list"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("zhang") && l.contains(" no ")),
        "{out}"
    );
    let (ok, _, err) = run(&["disable", "nobody"]);
    assert!(!ok && err.contains("nobody"), "{err}");
}
