//! Editing the knowledge base through the admin API and learning from conversations: FAQ
//! writes land in the same files git editors use (and survive their edits), stale writes get
//! 409, unanswered questions are grouped into gaps, and an agent's answer to one becomes a
//! draft that one call approves into `kb/`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, answered_faq, editable_app};

async fn put_faq(
    app: &TestApp,
    id: &str,
    lang: &str,
    body: &Value,
    header: Option<(&str, &str)>,
) -> (u16, Value, Option<String>) {
    let mut req = app
        .client
        .put(app.url(&format!("/v1/admin/faqs/{id}/{lang}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(body);
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (status, r.json().await.unwrap_or(Value::Null), etag)
}

async fn kb_version(app: &TestApp) -> String {
    let (_, s) = app.admin(Method::GET, "/v1/admin/kb/status", None).await;
    s["version"].as_str().unwrap().to_string()
}

/// Waits until the served knowledge is not `version` any more.
async fn wait_for_new_version(app: &TestApp, version: &str) {
    for _ in 0..600 {
        if kb_version(app).await != version {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the knowledge was not reloaded");
}

#[tokio::test]
async fn api_writes_and_git_edits_share_the_files_and_stale_writes_get_409() {
    let (app, temp) = editable_app(false).await;
    let kb = temp.path().join("content").join("kb");
    let version = kb_version(&app).await;

    // Create: the file appears beside nothing (new id), in the folder asked for.
    let faq = json!({
        "question": "Can I pay with PayPal?",
        "alternates": ["do you accept paypal", "paypal payment"],
        "tags": ["payments"],
        "skill": "billing",
        "answer": "Yes. Choose **PayPal** at checkout.",
        "category": "payments"
    });
    let (s, body, etag) =
        put_faq(&app, "pay-paypal", "en", &faq, Some(("If-None-Match", "*"))).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["path"], "kb/payments/pay-paypal.en.md");
    let etag = etag.unwrap();
    let file = kb.join("payments").join("pay-paypal.en.md");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("---\nid: pay-paypal\nlang: en\nquestion: Can I pay with PayPal?\n"),
        "{text}"
    );
    assert!(
        text.ends_with("---\nYes. Choose **PayPal** at checkout.\n"),
        "{text}"
    );

    // Creating it again is a conflict; so is an update without If-Match … a 428.
    let (s, _, _) = put_faq(&app, "pay-paypal", "en", &faq, Some(("If-None-Match", "*"))).await;
    assert_eq!(s, 409);
    let (s, body, _) = put_faq(&app, "pay-paypal", "en", &faq, None).await;
    assert_eq!(s, 428, "{body}");

    // It goes live: the bot answers from it after the reload the write started.
    wait_for_new_version(&app, &version).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let out = app.say(&id, &token, "can I pay with paypal").await;
    assert_eq!(answered_faq(&out).as_deref(), Some("pay-paypal"), "{out:#}");

    // A git-style edit of the same file …
    let edited = text.replace(
        "Choose **PayPal** at checkout.",
        "Choose PayPal at checkout; it is free.",
    );
    std::fs::write(&file, &edited).unwrap();
    let (s, got) = app
        .admin(Method::GET, "/v1/admin/faqs/pay-paypal/en", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(got["answer"], "Yes. Choose PayPal at checkout; it is free.");
    let fresh = got["etag"].as_str().unwrap().to_string();
    assert_ne!(fresh, etag);

    // … makes the API editor's copy stale: 409, and the file keeps the git edit.
    let mut stale = faq.clone();
    stale["answer"] = json!("Overwritten!");
    let (s, body, _) = put_faq(&app, "pay-paypal", "en", &stale, Some(("If-Match", &etag))).await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("changed since you read it")
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), edited);

    // With the fresh ETag the update lands, in the same file.
    let mut update = faq.clone();
    update["answer"] = json!("Yes, PayPal works for every order.");
    let (s, body, _) = put_faq(
        &app,
        "pay-paypal",
        "en",
        &update,
        Some(("If-Match", &fresh)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["path"], "kb/payments/pay-paypal.en.md");
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("Yes, PayPal works for every order.")
    );

    // The Chinese variant goes beside it without naming a folder.
    let zh = json!({"question": "可以用PayPal付款吗？", "answer": "可以，结算时选择 PayPal。"});
    let (s, body, _) = put_faq(&app, "pay-paypal", "zh", &zh, None).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["path"], "kb/payments/pay-paypal.zh.md");

    // Invalid content is refused with the problems, and nothing is written.
    let bad = json!({"question": " ", "answer": "x"});
    let (s, body, _) = put_faq(&app, "empty-question", "en", &bad, None).await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("question is empty")
    );
    let broken_link =
        json!({"question": "Where is the manual?", "answer": "See [the manual](no-such-faq)."});
    let (s, body, _) = put_faq(&app, "manual", "en", &broken_link, None).await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-faq")
    );
    assert!(!kb.join("general").exists());

    // Deleting needs the current ETag, and refuses to break links from other FAQs: the
    // English `refund-time` may go (the Chinese one keeps the id alive), the last one not.
    let delete = |path: &'static str, etag: Option<String>| {
        let mut req = app.client.delete(app.url(path)).bearer_auth(ADMIN_TOKEN);
        if let Some(e) = etag {
            req = req.header("If-Match", e);
        }
        req.send()
    };
    let app = &app;
    let etag_of = |path: &'static str| async move {
        let (_, got) = app.admin(Method::GET, path, None).await;
        got["etag"].as_str().unwrap().to_string()
    };
    let r = delete("/v1/admin/faqs/refund-time/en", None).await.unwrap();
    assert_eq!(r.status(), 428);
    let r = delete(
        "/v1/admin/faqs/refund-time/en",
        Some(etag_of("/v1/admin/faqs/refund-time/en").await),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    let r = delete(
        "/v1/admin/faqs/refund-time/zh",
        Some(etag_of("/v1/admin/faqs/refund-time/zh").await),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422, "other FAQs link to refund-time");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("refund-time"),
        "{body}"
    );
    assert!(kb.join("after-sales").join("refund-time.zh.md").exists());

    // Without the admin token nothing is readable or writable.
    let r = app
        .client
        .get(app.url("/v1/admin/faqs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (s, list) = app
        .admin(Method::GET, "/v1/admin/faqs?q=paypal", None)
        .await;
    assert_eq!(s, 200);
    assert!(
        list["faqs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "pay-paypal"),
        "{list}"
    );
}

/// Three shoppers ask about the same missing topic in different words (and say so when the
/// bot's answer misses); one asks about something else.
#[tokio::test]
async fn unanswered_questions_are_grouped_and_an_agent_answer_becomes_a_draft() {
    let (app, temp) = editable_app(false).await;
    let questions = [
        "do you ship to antarctica research stations",
        "can you deliver to an antarctica research station",
        "shipping to antarctica research base possible?",
    ];
    for q in questions {
        let (id, token) = app.create(json!({"locale": "en"})).await;
        let out = app.say(&id, &token, q).await;
        if out["replies"][0]["meta"]["kind"] == "answer" {
            let next = app.say(&id, &token, "that didn't help").await;
            assert_eq!(next["state"], "bot", "{next:#}");
        }
    }
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let out = app
        .say(&id, &token, "is the lava lamp glass recycled")
        .await;
    if out["replies"][0]["meta"]["kind"] == "answer" {
        app.say(&id, &token, "not what I asked").await;
    }

    let (s, gaps) = app.admin(Method::GET, "/v1/admin/kb/gaps", None).await;
    assert_eq!(s, 200, "{gaps}");
    let groups = gaps["groups"].as_array().unwrap();
    let antarctica: Vec<&Value> = groups
        .iter()
        .filter(|g| g["representative"].as_str().unwrap().contains("antarctica"))
        .collect();
    assert_eq!(antarctica.len(), 1, "paraphrases form one group: {gaps:#}");
    assert_eq!(antarctica[0]["count"], 3);
    assert_eq!(antarctica[0]["conversations"], 3);
    let reasons: u64 = antarctica[0]["reasons"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(reasons, 3, "{gaps:#}");
    assert_eq!(groups[0]["count"], 3, "largest first");
    assert!(
        groups
            .iter()
            .any(|g| g["representative"].as_str().unwrap().contains("lava lamp"))
    );

    // A fourth shopper asks, leaves a phone number, and asks for a person; an agent answers.
    let agent = app
        .add_agent("Ana", &["general", "shipping", "orders"], 2)
        .await;
    app.online(&agent).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
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
    let (s, b) = app.agent_post(&agent, &path("accept"), json!({})).await;
    assert_eq!(s, 200, "{b}");
    let answer =
        "We ship to Antarctic stations twice a year via Christchurch; write to ice@example.com.";
    let (s, b) = app
        .agent_post(
            &agent,
            &path("messages"),
            json!({"text": answer, "client_msg_id": "a1"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app.agent_post(&agent, &path("resolve"), json!({})).await;
    assert_eq!(s, 200, "{b}");

    let mut drafts = Value::Null;
    for _ in 0..200 {
        let (_, d) = app.admin(Method::GET, "/v1/admin/kb/drafts", None).await;
        if !d["drafts"].as_array().unwrap().is_empty() {
            drafts = d;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let draft = &drafts["drafts"][0];
    assert_eq!(draft["conversation_id"], id.as_str(), "{drafts:#}");
    assert_eq!(draft["lang"], "en");
    let question = draft["question"].as_str().unwrap();
    assert!(
        question.contains("antarctica research stations"),
        "{question}"
    );
    assert!(
        !question.contains("13812345678") && question.contains("138****5678"),
        "masked: {question}"
    );
    let answer_text = draft["answer"].as_str().unwrap();
    assert!(
        answer_text.contains("Christchurch") && !answer_text.contains("ice@example.com"),
        "masked: {answer_text}"
    );
    let alternates: Vec<&str> = draft["alternates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        alternates.len(),
        3,
        "the grouped paraphrases: {alternates:?}"
    );
    assert!(alternates.contains(&questions[1]), "{alternates:?}");

    // One call approves it into kb/; the bot then answers the question itself.
    let version = kb_version(&app).await;
    let draft_id = draft["id"].as_str().unwrap();
    let (s, approved) = app
        .admin(
            Method::POST,
            &format!("/v1/admin/kb/drafts/{draft_id}/approve"),
            Some(json!({"id": "ship-antarctica"})),
        )
        .await;
    assert_eq!(s, 201, "{approved}");
    assert_eq!(approved["path"], "kb/from-agents/ship-antarctica.en.md");
    let file = temp
        .path()
        .join("content")
        .join("kb")
        .join("from-agents")
        .join("ship-antarctica.en.md");
    let text = std::fs::read_to_string(file).unwrap();
    assert!(
        text.contains("Christchurch") && !text.contains("13812345678"),
        "{text}"
    );
    let (s, again) = app
        .admin(
            Method::POST,
            &format!("/v1/admin/kb/drafts/{draft_id}/approve"),
            None,
        )
        .await;
    assert_eq!(s, 409, "{again}");
    wait_for_new_version(&app, &version).await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let out = app
        .say(
            &id,
            &token,
            "can you ship to an antarctica research station",
        )
        .await;
    assert_eq!(
        answered_faq(&out).as_deref(),
        Some("ship-antarctica"),
        "{out:#}"
    );
}
