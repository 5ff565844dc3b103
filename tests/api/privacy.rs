//! Erasing a shopper's personal data: a customer's conversations (messages with phone
//! numbers, a handoff with its context, an agent's note and answer, a rating with a comment,
//! a ticket, an FAQ draft) are forgotten through the admin API and the command line, and
//! after the retention period. Every text of that customer must be gone from every API and
//! from the database file's tables; other customers keep theirs; the statistics do not move.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::baton;
use crate::helpers::{ALL_SKILLS, Agent, TestApp, editable_app, editable_app_with};

/// What the forgotten customer said or was described as, including the masked forms the
/// handoff context and drafts hold. Matched case-insensitively.
const SECRETS: &[&str] = &[
    "13812345678",
    "138****5678",
    "antarctic",
    "Secretname",
    "tag-secret",
    "cust-42",
    "wei.secret@example.com",
    "blue-kettle",
    "secret road",
    "ice@example.com",
];

/// The other customer's words, which must survive.
const OTHER_PHONE: &str = "13900001111";

fn leaks(haystack: &str) -> Vec<&'static str> {
    let lower = haystack.to_lowercase();
    SECRETS
        .iter()
        .copied()
        .filter(|s| lower.contains(&s.to_lowercase()))
        .collect()
}

/// Every text stored in any column of any table of the server's database.
async fn database_text(app: &TestApp) -> String {
    crate::database::all_text(&app.data_dir).await
}

async fn shopper_post(app: &TestApp, id: &str, token: &str, what: &str, body: Value) -> u16 {
    app.client
        .post(app.url(&format!("/v1/conversations/{id}/{what}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn shopper_get(app: &TestApp, id: &str, token: &str, path: &str) -> (u16, String) {
    let r = app
        .client
        .get(app.url(&format!("/v1/conversations/{id}{path}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Customer `cust-42`: a conversation handed to an agent (note, answer, resolution, rating
/// with a comment, FAQ draft) and one that left a ticket. Returns both (id, token) pairs.
async fn customer_story(app: &TestApp, agent: &Agent) -> [(String, String); 2] {
    let customer = json!({"id": "cust-42", "name": "Wei Secretname", "tags": ["tag-secret"]});
    let (id, token) = app
        .create(json!({"locale": "en", "customer": customer}))
        .await;
    app.say(
        &id,
        &token,
        "do you deliver to antarctica research stations? call me on 13812345678",
    )
    .await;
    let out = app.say(&id, &token, "talk to a human").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    app.tick().await;
    let path = |action: &str| format!("/v1/agent/conversations/{id}/{action}");
    let (s, b) = app.agent_post(agent, &path("accept"), json!({})).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .agent_post(
            agent,
            &path("notes"),
            json!({"text": "lives at 12 Secret Road, call after six"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let answer = "We ship to Antarctic stations twice a year; write to ice@example.com.";
    let (s, b) = app
        .agent_post(
            agent,
            &path("messages"),
            json!({"text": answer, "client_msg_id": "a1"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    // The agent's summary repeats what the customer said: erased with the rest.
    let (s, b) = app
        .agent_post(
            agent,
            &path("resolve"),
            json!({"category": "refund-return", "summary": "refund for the Antarctic order sent"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let s = shopper_post(
        app,
        &id,
        &token,
        "rating",
        json!({"score": 4, "comment": "quick help; my flat is on Secret Road"}),
    )
    .await;
    assert_eq!(s, 201);
    // The draft is proposed in the background after the resolution.
    let mut drafted = false;
    for _ in 0..200 {
        let (_, d) = app.admin(Method::GET, "/v1/admin/kb/drafts", None).await;
        if d["drafts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["conversation_id"] == id.as_str())
        {
            drafted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(drafted, "the agent's answer became a draft");

    let (id2, token2) = app
        .create(json!({"locale": "en", "customer": customer}))
        .await;
    app.say(&id2, &token2, "where is my parcel? my phone is 13812345678")
        .await;
    // With nobody online the shopper is offered to leave a message for the team.
    let (s, b) = app
        .agent_post(agent, "/v1/agent/status", json!({"status": "offline"}))
        .await;
    assert_eq!(s, 200, "{b}");
    let out = app.say(&id2, &token2, "talk to a human").await;
    assert_eq!(
        out["replies"].as_array().unwrap().last().unwrap()["meta"]["leave_message"],
        true,
        "{out:#}"
    );
    let s = shopper_post(
        app,
        &id2,
        &token2,
        "tickets",
        json!({"contact": "wei.secret@example.com", "text": "please call about the blue-kettle order"}),
    )
    .await;
    assert_eq!(s, 201);
    [(id, token), (id2, token2)]
}

/// Everything the admin and agent APIs show, as one text.
async fn visible_everywhere(app: &TestApp, agent: &Agent) -> String {
    let mut all = String::new();
    for path in [
        "/v1/admin/audit?limit=1000",
        "/v1/admin/kb/gaps",
        "/v1/admin/kb/drafts?status=pending",
        "/v1/admin/kb/drafts?status=approved",
        "/v1/admin/kb/drafts?status=rejected",
    ] {
        let (s, b) = app.admin(Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}: {b}");
        all.push_str(&b.to_string());
    }
    for path in ["/v1/agent/tickets", "/v1/agent/queue"] {
        let (s, b) = app.agent_get(agent, path).await;
        assert_eq!(s, 200, "{path}: {b}");
        all.push_str(&b.to_string());
    }
    all
}

#[tokio::test]
async fn forgetting_a_customer_erases_every_text_and_keeps_the_statistics() {
    let (app, _temp) = editable_app(false).await;
    let agent = app.add_agent("Ana", ALL_SKILLS, 3).await;
    app.online(&agent).await;
    let [(id1, token1), (id2, token2)] = customer_story(&app, &agent).await;
    let other = json!({"id": "cust-7", "name": "Li Other"});
    let (other_id, other_token) = app.create(json!({"locale": "en", "customer": other})).await;
    app.say(
        &other_id,
        &other_token,
        &format!("my number is {OTHER_PHONE}, where is my order"),
    )
    .await;

    assert!(
        !leaks(&database_text(&app).await).is_empty(),
        "the story stored the secrets"
    );
    let (s, stats_before) = app.admin(Method::GET, "/v1/admin/stats", None).await;
    assert_eq!(s, 200, "{stats_before}");

    // Only admins may erase.
    let r = app
        .client
        .post(app.url("/v1/admin/customers/cust-42/forget"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let (s, done) = app
        .admin(Method::POST, "/v1/admin/customers/cust-42/forget", None)
        .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["conversations"], 2, "{done:#}");
    assert_eq!(done["already_erased"], 0);
    assert_eq!(done["notes"], 1);
    assert_eq!(done["tickets"], 1);
    assert_eq!(done["rating_comments"], 1);
    assert_eq!(done["drafts"], 1);
    // The second conversation's request for a person was still queued: it is closed.
    assert_eq!(done["handoff_contexts"], 2);
    assert_eq!(done["handoffs_closed"], 1);
    assert!(done["messages"].as_u64().unwrap() >= 8, "{done:#}");
    let ids: Vec<&str> = done["conversation_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ids, [id1.as_str(), id2.as_str()]);
    assert!(leaks(&done.to_string()).is_empty());

    // The statistics count exactly what they counted before.
    let (_, stats_after) = app.admin(Method::GET, "/v1/admin/stats", None).await;
    assert_eq!(stats_after, stats_before);

    // The shopper's token no longer opens anything; agents cannot open it either.
    for (id, token) in [(&id1, &token1), (&id2, &token2)] {
        let (s, _) = shopper_get(&app, id, token, "").await;
        assert_eq!(s, 404);
        let (s, _) = shopper_get(&app, id, token, "/messages?after=0").await;
        assert_eq!(s, 404);
        let s = shopper_post(
            &app,
            id,
            token,
            "messages",
            json!({"text": "hello again", "client_msg_id": "again"}),
        )
        .await;
        assert_eq!(s, 404);
        let (s, b) = app
            .agent_get(&agent, &format!("/v1/agent/conversations/{id}"))
            .await;
        assert_eq!(s, 404, "{b}");
    }

    // Gone from every API and from every table of the database.
    let visible = visible_everywhere(&app, &agent).await;
    assert_eq!(leaks(&visible), Vec::<&str>::new(), "{visible}");
    let stored = database_text(&app).await;
    assert_eq!(leaks(&stored), Vec::<&str>::new());
    assert!(
        stored.contains(OTHER_PHONE),
        "the other customer is untouched"
    );
    let (s, page) = shopper_get(&app, &other_id, &other_token, "/messages?after=0").await;
    assert_eq!(s, 200);
    assert!(page.contains(OTHER_PHONE), "{page}");

    // What the statistics need stays: turns keep what the bot understood, the context
    // keeps its intents and reason; the draft is rejected, the ticket closed.
    let store = app.service.store();
    let messages = store.messages_after(&id1, 0, 100).await.unwrap();
    assert!(messages.iter().all(|m| m.text == "[erased]"));
    assert!(messages.iter().any(|m| m.turn.is_some()));
    let handoff = store.latest_handoff(&id1).await.unwrap().unwrap();
    let context = handoff.context.unwrap();
    assert_eq!(context.summary, "[erased]");
    assert!(context.transcript.iter().all(|l| l.text == "[erased]"));
    assert!(context.transcript.iter().any(|l| l.decision.is_some()));
    assert!(context.entities.is_empty());
    assert_eq!(context.customer, Default::default());
    let conversation = store.conversation(&id1).await.unwrap().unwrap();
    assert!(conversation.erased_at.is_some());
    assert_eq!(conversation.customer, Default::default());
    let (_, rejected) = app
        .admin(Method::GET, "/v1/admin/kb/drafts?status=rejected", None)
        .await;
    let draft = &rejected["drafts"][0];
    assert_eq!(draft["conversation_id"], id1.as_str(), "{rejected:#}");
    assert_eq!(draft["question"], "[erased]");
    let skills: Vec<String> = ALL_SKILLS.iter().map(|s| s.to_string()).collect();
    assert_eq!(store.count_open_tickets(&skills).await.unwrap(), 0);

    // One audit entry per conversation, with counts only.
    let (_, audit) = app
        .admin(Method::GET, "/v1/admin/audit?limit=1000", None)
        .await;
    let forgets: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "customer.forget")
        .collect();
    assert_eq!(forgets.len(), 2, "{audit:#}");
    assert!(forgets.iter().all(|e| e["actor"] == "admin"));
    assert!(forgets.iter().all(|e| e["detail"]["subject"] == "customer"));
    assert!(forgets.iter().any(|e| e["detail"]["rating_comments"] == 1));

    // Nothing left of this customer; one conversation again is a no-op; unknown ids 404.
    let (s, _) = app
        .admin(Method::POST, "/v1/admin/customers/cust-42/forget", None)
        .await;
    assert_eq!(s, 404);
    let (s, again) = app
        .admin(
            Method::POST,
            &format!("/v1/admin/conversations/{id1}/forget"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["conversations"], 0);
    assert_eq!(again["already_erased"], 1);
    let unknown = uuid::Uuid::now_v7();
    let (s, _) = app
        .admin(
            Method::POST,
            &format!("/v1/admin/conversations/{unknown}/forget"),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .admin(Method::POST, "/v1/admin/conversations/nope/forget", None)
        .await;
    assert_eq!(s, 404);
}

/// An anonymous shopper waiting for an agent asks through support to be forgotten: the
/// conversation leaves the queue with its data.
#[tokio::test]
async fn forgetting_a_queued_conversation_takes_it_out_of_the_queue() {
    let (app, _temp) = editable_app(false).await;
    let agent = app.add_agent("Bo", ALL_SKILLS, 3).await;
    app.online(&agent).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    app.say(&id, &token, "my phone is 13812345678").await;
    let out = app.say(&id, &token, "talk to a human").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    app.tick().await;
    assert_eq!(app.offers(&agent).await, std::slice::from_ref(&id));

    let (s, done) = app
        .admin(
            Method::POST,
            &format!("/v1/admin/conversations/{id}/forget"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["conversations"], 1);
    assert_eq!(done["handoffs_closed"], 1);
    assert_eq!(done["handoff_contexts"], 1);
    app.tick().await;
    assert!(app.offers(&agent).await.is_empty());
    assert!(
        app.service
            .store()
            .open_handoffs()
            .await
            .unwrap()
            .is_empty()
    );
    let (s, b) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/conversations/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(s, 404, "{b}");
    assert!(leaks(&database_text(&app).await).is_empty());
    let (_, audit) = app
        .admin(
            Method::GET,
            &format!("/v1/admin/audit?conversation_id={id}"),
            None,
        )
        .await;
    let entry = &audit["entries"][0];
    assert_eq!(entry["action"], "customer.forget", "{audit:#}");
    assert_eq!(entry["detail"]["subject"], "conversation");
    assert_eq!(entry["detail"]["handoff_closed"], true);
}

fn run_baton(args: &[&str], data_dir: &Path) -> std::process::Output {
    baton()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .envs(crate::database::store_env(data_dir))
        .output()
        .unwrap()
}

/// `baton customer forget` against the database of a running server.
#[tokio::test]
async fn the_command_line_forgets_a_customer_or_one_conversation() {
    let (app, _temp) = editable_app(false).await;
    let customer = json!({"id": "cust-42", "name": "Wei Secretname"});
    let (id, token) = app
        .create(json!({"locale": "en", "customer": customer}))
        .await;
    app.say(&id, &token, "where is my parcel? my phone is 13812345678")
        .await;
    let (anon, anon_token) = app.create(json!({"locale": "en"})).await;
    app.say(
        &anon,
        &anon_token,
        "call me on 13812345678, blue-kettle order",
    )
    .await;
    let (other, other_token) = app.create(json!({"customer": {"id": "cust-7"}})).await;
    app.say(&other, &other_token, &format!("我的电话 {OTHER_PHONE}"))
        .await;
    let data_dir = app.data_dir.clone();

    let dir = data_dir.clone();
    let out =
        tokio::task::spawn_blocking(move || run_baton(&["customer", "forget", "cust-42"], &dir))
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("erased 1 conversation(s)"), "{stdout}");
    assert!(stdout.contains(&id), "{stdout}");
    let (s, _) = shopper_get(&app, &id, &token, "/messages?after=0").await;
    assert_eq!(s, 404);

    let dir = data_dir.clone();
    let anon_arg = anon.clone();
    let out = tokio::task::spawn_blocking(move || {
        run_baton(
            &["customer", "forget", "--conversation", anon_arg.as_str()],
            &dir,
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("erased 1 conversation(s)"), "{stdout}");
    let (s, _) = shopper_get(&app, &anon, &anon_token, "").await;
    assert_eq!(s, 404);

    // Nothing (left) to erase is a failure; a customer and a conversation at once is refused.
    let dir = data_dir.clone();
    let (gone, both) = tokio::task::spawn_blocking(move || {
        (
            run_baton(&["customer", "forget", "cust-42"], &dir),
            run_baton(
                &["customer", "forget", "cust-7", "--conversation", "x"],
                &dir,
            ),
        )
    })
    .await
    .unwrap();
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("nothing to erase"));
    assert!(!both.status.success());

    let stored = database_text(&app).await;
    assert_eq!(leaks(&stored), Vec::<&str>::new());
    assert!(stored.contains(OTHER_PHONE));
    let (_, audit) = app
        .admin(Method::GET, "/v1/admin/audit?limit=1000", None)
        .await;
    let by_cli = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "customer.forget" && e["actor"] == "admin:cli")
        .count();
    assert_eq!(by_cli, 2, "{audit:#}");
}

/// With `retention.days = 30`, the background task erases conversations idle for longer, in
/// batches, and leaves recent ones alone.
#[tokio::test]
async fn conversations_idle_past_the_retention_period_are_erased() {
    let (app, _temp) = editable_app_with(false, |c| {
        c.retention.days = Some(30);
        c.retention.sweep_interval_ms = 50;
        c.retention.batch_size = 2;
    })
    .await;
    let start = app.clock.now_ms();
    let range = format!(
        "/v1/admin/stats?from={}&to={}",
        start - 86_400_000,
        start + 40 * 86_400_000
    );
    let mut old = Vec::new();
    for i in 0..3 {
        let (id, token) = app
            .create(json!({"locale": "en", "customer": {"id": format!("old-{i}")}}))
            .await;
        app.say(&id, &token, "my phone is 13812345678").await;
        old.push((id, token));
    }
    app.clock.advance(Duration::from_secs(20 * 86_400));
    let (recent, recent_token) = app.create(json!({"locale": "en"})).await;
    app.say(
        &recent,
        &recent_token,
        &format!("my phone is {OTHER_PHONE}"),
    )
    .await;
    let (s, stats_before) = app.admin(Method::GET, &range, None).await;
    assert_eq!(s, 200, "{stats_before}");
    app.clock.advance(Duration::from_secs(11 * 86_400));

    // The task runs on its own; wait (bounded) until it has erased all three.
    let mut erased = Vec::new();
    for _ in 0..500 {
        let (_, audit) = app
            .admin(Method::GET, "/v1/admin/audit?limit=1000", None)
            .await;
        erased = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "retention.erase")
            .map(|e| {
                assert_eq!(e["actor"], "system");
                e["conversation_id"].as_str().unwrap().to_string()
            })
            .collect();
        if erased.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    erased.sort();
    let mut expected: Vec<String> = old.iter().map(|(id, _)| id.clone()).collect();
    expected.sort();
    assert_eq!(erased, expected);

    for (id, token) in &old {
        let (s, _) = shopper_get(&app, id, token, "").await;
        assert_eq!(s, 404);
    }
    let (s, page) = shopper_get(&app, &recent, &recent_token, "/messages?after=0").await;
    assert_eq!(s, 200);
    assert!(page.contains(OTHER_PHONE));
    assert!(leaks(&database_text(&app).await).is_empty());
    let (_, stats_after) = app.admin(Method::GET, &range, None).await;
    assert_eq!(stats_after, stats_before);
    assert_eq!(stats_after["conversations"], 4, "{stats_after:#}");
    // A sweep now finds nothing more to do.
    let again = app.service.erase_expired().await.unwrap();
    assert_eq!(again.conversations, 0);
}
