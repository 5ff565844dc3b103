//! Hot reload: an edit goes live while shoppers keep talking, with no failed request; a
//! broken file is refused with file and line, the last good knowledge keeps serving, and a
//! fix recovers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, editable_app, editable_app_with};

async fn admin(app: &TestApp, method: reqwest::Method, path: &str) -> Value {
    let (status, body) = app.admin(method, path, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn an_edit_goes_live_under_traffic_without_a_failed_request() {
    // Three shoppers on one address, each sending as fast as the bot answers: load, not a
    // shopper's pace, so the message rate limits are off.
    let (app, temp) = editable_app_with(true, |c| {
        c.limits.ip_messages = baton::config::Rate::OFF;
        c.limits.conversation_messages = baton::config::Rate::OFF;
    })
    .await;
    let app = Arc::new(app);
    let before = admin(&app, reqwest::Method::GET, "/v1/admin/kb/status").await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut shoppers = Vec::new();
    for n in 0..3 {
        let (app, stop) = (app.clone(), stop.clone());
        shoppers.push(tokio::spawn(async move {
            let (id, token) = app.create(json!({"locale": "zh"})).await;
            let mut statuses = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let r = app
                    .send_raw(
                        &id,
                        &token,
                        &format!("退货运费谁出 {n}-{i}"),
                        &format!("m{i}"),
                    )
                    .await;
                statuses.push(r.status().as_u16());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            statuses
        }));
    }

    // An editor changes an answer and, like a checkout, an intent file at the same time.
    let content = temp.path().join("content");
    let faq = content.join("kb/after-sales/return-shipping-cost.zh.md");
    let text = std::fs::read_to_string(&faq).unwrap();
    std::fs::write(&faq, format!("{text}\n（更新标记 R42）\n")).unwrap();
    let intent = content.join("intents/shipping_time.yaml");
    let yaml = std::fs::read_to_string(&intent).unwrap();
    // A new example each run, so the classifier really retrains (its cache is keyed by the
    // training data).
    let example = format!("寄到拉萨大概几天能到{}", uuid::Uuid::new_v4().simple());
    std::fs::write(
        &intent,
        yaml.replacen(
            "    - 多久能到\n",
            &format!("    - 多久能到\n    - {example}\n"),
            1,
        ),
    )
    .unwrap();

    let mut live = Value::Null;
    let mut last = Value::Null;
    // Retraining runs in the background; in a debug build on 2 busy cores it takes a while.
    for _ in 0..1800 {
        let status = admin(&app, reqwest::Method::GET, "/v1/admin/kb/status").await;
        if status["version"] != before["version"] {
            live = status;
            break;
        }
        last = status;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(live.is_object(), "the edit went live: {last:#}");
    assert_eq!(live["ok"], true, "{live:#}");
    assert_eq!(live["last_trigger"], "watch");
    assert_eq!(
        live["examples"].as_u64().unwrap(),
        before["examples"].as_u64().unwrap() + 1
    );
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let out = app.say(&id, &token, "退货运费谁出？").await;
    assert!(
        out["replies"][0]["text"].as_str().unwrap().contains("R42"),
        "{out:#}"
    );

    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for s in shoppers {
        let statuses = s.await.unwrap();
        total += statuses.len();
        assert!(
            statuses.iter().all(|s| *s == 201),
            "every request succeeded: {statuses:?}"
        );
    }
    assert!(total > 0);
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}

#[tokio::test]
async fn a_broken_file_keeps_the_last_good_knowledge_and_a_fix_recovers() {
    let (app, temp) = editable_app(false).await;
    let good = admin(&app, reqwest::Method::GET, "/v1/admin/kb/status").await;
    assert_eq!(good["ok"], true);

    let broken = temp.path().join("content/kb/orders/broken.zh.md");
    std::fs::write(
        &broken,
        "---\nid: broken\nlang: zh\nquestion: [没有闭合\n---\n答案\n",
    )
    .unwrap();
    let refused = admin(&app, reqwest::Method::POST, "/v1/admin/kb/reload").await;
    assert_eq!(refused["ok"], false, "{refused:#}");
    assert_eq!(
        refused["version"], good["version"],
        "still the last good snapshot"
    );
    let error = &refused["errors"][0];
    assert!(
        error["path"].as_str().unwrap().ends_with("broken.zh.md"),
        "{error}"
    );
    assert!(error["line"].as_u64().is_some(), "{error}");
    let status = admin(&app, reqwest::Method::GET, "/v1/admin/kb/status").await;
    assert_eq!(status["failures"], 1);
    assert_eq!(status["errors"], refused["errors"]);

    // Shoppers are still answered from the last good knowledge.
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let out = app.say(&id, &token, "退货运费谁出？").await;
    assert_eq!(
        out["replies"][0]["meta"]["faq_id"], "return-shipping-cost",
        "{out:#}"
    );

    std::fs::write(
        &broken,
        "---\nid: broken\nlang: zh\nquestion: 现在好了吗\n---\n好了。\n",
    )
    .unwrap();
    let fixed = admin(&app, reqwest::Method::POST, "/v1/admin/kb/reload").await;
    assert_eq!(fixed["ok"], true, "{fixed:#}");
    assert!(fixed["errors"].as_array().unwrap().is_empty());
    assert_ne!(fixed["version"], good["version"]);
    assert_eq!(
        fixed["faqs"].as_u64().unwrap(),
        good["faqs"].as_u64().unwrap() + 1
    );
    let r = app
        .client
        .get(app.url("/v1/admin/kb/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the admin token is required");
    app.stop().await;
}
