//! The welcome card (`GET /v1/welcome`, `intents/rules/welcome.yaml`): the FAQs answered
//! most lately first, topped up from the lead's list, in the shopper's language, a page at a
//! time; a configured card over the admin API; a file naming an unknown FAQ refused.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, editable_app, eventually};

async fn card(app: &TestApp, query: &str) -> Value {
    let r = app
        .client
        .get(app.url(&format!("/v1/welcome{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn ids(card: &Value) -> Vec<String> {
    card["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["faq_id"].as_str().unwrap().to_string())
        .collect()
}

async fn put_welcome(app: &TestApp, text: &str) -> reqwest::Response {
    let (_, file) = app
        .admin(Method::GET, "/v1/admin/rules/welcome", None)
        .await;
    app.client
        .put(app.url("/v1/admin/rules/welcome"))
        .bearer_auth(ADMIN_TOKEN)
        .header("If-Match", file["etag"].as_str().unwrap())
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_card_leads_with_what_shoppers_asked_most_and_pages_through_the_rest() {
    let (app, _dir) = editable_app(false).await;
    // No traffic yet: the lead's list, in order, four at a time.
    let quiet = card(&app, "?lang=zh").await;
    assert_eq!(
        ids(&quiet),
        [
            "order-status",
            "delivery-time",
            "return-policy",
            "refund-time"
        ]
    );
    assert_eq!(
        quiet["questions"][0]["text"],
        "我的订单现在是什么状态？在哪里查？"
    );
    assert_eq!(
        (quiet["page"].as_u64(), quiet["pages"].as_u64()),
        (Some(0), Some(2))
    );
    let next = card(&app, "?lang=zh&page=1").await;
    assert_eq!(next["page"], 1);
    assert!(
        ids(&next).contains(&"payment-methods".to_string()),
        "{next:#}"
    );
    assert_eq!(
        card(&app, "?lang=zh&page=2").await["page"],
        0,
        "wraps around"
    );
    let en = card(&app, "?lang=en-US").await;
    assert!(
        en["questions"][0]["text"].as_str().unwrap().is_ascii(),
        "{en:#}"
    );

    // Shoppers ask about invoices: after the card's cache expires, that leads.
    for _ in 0..3 {
        let (id, token) = app.create(json!({"locale": "zh"})).await;
        app.say(&id, &token, "怎么开电子发票").await;
    }
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    app.say(&id, &token, "转人工").await;
    app.advance(Duration::from_secs(11 * 60)).await;
    let busy = card(&app, "?lang=zh").await;
    assert_eq!(ids(&busy)[0], "e-invoice", "{busy:#}");
    assert!(
        !ids(&busy).contains(&"contact-human".to_string()),
        "excluded: {busy:#}"
    );
    let r = app
        .client
        .get(app.url("/v1/welcome?lang=fr"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn a_lead_configures_the_card_and_an_unknown_faq_is_refused_with_its_line() {
    let (app, _dir) = editable_app(false).await;
    let bad = put_welcome(
        &app,
        "source: configured\nquestions:\n  - order-status\n  - no-such-faq\n",
    )
    .await;
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    assert!(body.to_string().contains("no-such-faq"), "{body:#}");
    assert_eq!(body["diagnostics"][0]["line"], 4, "{body:#}");

    let ok = put_welcome(
        &app,
        "source: configured\nsize: 2\nquestions: [coupon-rules, order-status, refund-time]\n",
    )
    .await;
    assert_eq!(ok.status(), 200);
    eventually("the configured card is live", || {
        app.service.knowledge().content.welcome.size == 2
    })
    .await;
    let c = card(&app, "?lang=en").await;
    assert_eq!(ids(&c), ["coupon-rules", "order-status"]);
    assert_eq!(c["pages"], 2);
    // A tap sends the FAQ's question, which the bot answers with that FAQ.
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let text = c["questions"][0]["text"].as_str().unwrap();
    let out = app.say(&id, &token, text).await;
    assert_eq!(
        crate::helpers::answered_faq(&out).as_deref(),
        Some("coupon-rules"),
        "{out:#}"
    );
}
