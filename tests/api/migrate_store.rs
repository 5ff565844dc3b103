//! `baton migrate-store`: a shop filled through the real server on SQLite, copied by the
//! real binary into a fresh PostgreSQL database, then served from there — conversations,
//! transcripts, handoffs, notes, ratings and agents all come along, and new turns work. A
//! second copy into the same database is refused.

use futures::FutureExt;
use serde_json::{Value, json};

use crate::cli::baton;
use crate::helpers::{TestApp, spawn_app_with, test_config};

#[path = "../../src/store/test_db.rs"]
mod test_db;

/// A shopper who asked about a refund, then for a person: (id, token).
async fn escalated(app: &TestApp, customer: &str) -> (String, String) {
    let (id, token) = app
        .create(json!({"locale": "zh", "customer": {"id": customer, "name": "韩梅梅"}}))
        .await;
    app.say(&id, &token, "我的订单MM202611110001退款多久到账？")
        .await;
    let out = app.say(&id, &token, "转人工").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    (id, token)
}

fn path(id: &str, action: &str) -> String {
    format!("/v1/agent/conversations/{id}/{action}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_shop_moves_to_postgres_and_keeps_working() {
    let db = test_db::PgDatabase::create().await;
    let ran = std::panic::AssertUnwindSafe(moves_and_keeps_working(&db.url))
        .catch_unwind()
        .await;
    // Dropped whatever happened: a failed run leaves no database behind.
    db.drop_now().await;
    if let Err(panic) = ran {
        std::panic::resume_unwind(panic);
    }
}

async fn moves_and_keeps_working(url: &str) {
    // The shop on SQLite: a conversation taken by an agent (reply, note, resolve, rating),
    // one the agent still holds and one the bot answered alone.
    // On SQLite whichever store the rest of the suite runs on.
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.database_url = None;
    let app = spawn_app_with(config).await;
    let wang = app.add_agent("王芳", &["after_sales"], 2).await;
    app.add_agent("李明", &["billing"], 3).await;
    app.online(&wang).await;
    let (id, token) = escalated(&app, "u7").await;
    app.tick().await;
    let (s, b) = app.agent_post(&wang, &path(&id, "accept"), json!({})).await;
    assert_eq!(s, 200, "{b}");
    let reply = json!({"text": "您好，退款已加急处理", "client_msg_id": "r1"});
    let (s, b) = app.agent_post(&wang, &path(&id, "messages"), reply).await;
    assert_eq!(s, 201, "{b}");
    let (s, _) = app
        .agent_post(&wang, &path(&id, "notes"), json!({"text": "客户很着急"}))
        .await;
    assert_eq!(s, 201);
    let (s, b) = app
        .agent_post(&wang, &path(&id, "resolve"), json!({}))
        .await;
    assert_eq!(s, 200, "{b}");
    let rated = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/rating")))
        .bearer_auth(&token)
        .json(&json!({"score": 5, "comment": "很快"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rated.status(), 201);
    let held = escalated(&app, "u8").await;
    app.tick().await;
    let (s, b) = app
        .agent_post(&wang, &path(&held.0, "accept"), json!({}))
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = app
        .agent_post(&wang, &path(&held.0, "notes"), json!({"text": "等财务"}))
        .await;
    assert_eq!(s, 201);
    let (bot_id, bot_token) = app.create(json!({"locale": "en"})).await;
    app.say(&bot_id, &bot_token, "How long does shipping take?")
        .await;
    let transcript = app.messages(&id, &token, 0).await;
    let bot_transcript = app.messages(&bot_id, &bot_token, 0).await;
    let (_, view) = app
        .agent_get(&wang, &format!("/v1/agent/conversations/{}", held.0))
        .await;
    let data_dir = app.data_dir.clone();
    let _keep = app.stop().await;

    // The copy, with the URL in the environment (as an operator would).
    let out = baton()
        .arg("migrate-store")
        .arg("--data-dir")
        .arg(&data_dir)
        .env("BATON_DATABASE_URL", url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for table in [
        "conversations",
        "messages",
        "handoffs",
        "agents",
        "notes",
        "ratings",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(table)),
            "{table} reported: {stdout}"
        );
    }
    assert!(stdout.contains("every table's count matches"), "{stdout}");
    assert!(!stdout.contains(":baton@"), "no password printed: {stdout}");

    // The same shop, served from PostgreSQL.
    let pg_dir = tempfile::tempdir().unwrap();
    let mut config = test_config(pg_dir.path());
    config.database_url = Some(baton::config::Secret::new(url.to_string()));
    let app = spawn_app_with(config).await;
    assert_eq!(app.messages(&id, &token, 0).await, transcript);
    assert_eq!(app.messages(&bot_id, &bot_token, 0).await, bot_transcript);
    let (s, moved) = app
        .agent_get(&wang, &format!("/v1/agent/conversations/{}", held.0))
        .await;
    assert_eq!(
        s, 200,
        "the agent's token and assignment still work: {moved}"
    );
    assert_eq!(moved["state"], "assigned");
    for field in [
        "notes",
        "transcript",
        "summary",
        "reason",
        "customer",
        "agent_id",
    ] {
        assert_eq!(moved[field], view[field], "{field}");
    }
    let store = app.service.store();
    let handoff = store.latest_handoff(&id).await.unwrap().expect("handoff");
    assert_eq!(handoff.status, baton::handoff::HandoffStatus::Resolved);
    assert!(handoff.context.is_some());
    let names: Vec<String> = store
        .agents()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let stats = store.activity(0, i64::MAX).await.unwrap();
    assert_eq!(stats.len(), 3);
    assert_eq!(
        stats
            .iter()
            .flat_map(|c| c.ratings.clone())
            .collect::<Vec<_>>(),
        vec![5]
    );

    assert_eq!(store.notes(&id).await.unwrap().len(), 1);

    // New turns on moved conversations: the bot's, and one the agent holds.
    let out: Value = app.say(&held.0, &held.1, "还在吗").await;
    assert_eq!(out["state"], "assigned", "{out:#}");
    let before = bot_transcript["messages"].as_array().unwrap().len();
    let out: Value = app.say(&bot_id, &bot_token, "Can I get an invoice?").await;
    assert_eq!(out["state"], "bot", "{out:#}");
    let after = app.messages(&bot_id, &bot_token, 0).await;
    assert!(after["messages"].as_array().unwrap().len() > before);
    app.stop().await;

    // A second copy into the same database is refused, and changes nothing.
    let out = baton()
        .arg("migrate-store")
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--to")
        .arg(url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert!(!stderr.contains(url), "the URL is not repeated: {stderr}");
}
