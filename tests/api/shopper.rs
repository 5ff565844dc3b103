//! A shopper asks, the bot answers — in Chinese and in English.

use baton::nlu::Lang;
use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{answered_faq, spawn_app};

#[tokio::test]
async fn chinese_and_english_faq_questions_get_the_right_answer() {
    let app = spawn_app().await;
    let (id, token) = app
        .create(json!({"channel": "web", "locale": "zh-CN"}))
        .await;
    let cases = [
        ("退货的运费是谁出的？", "return-shipping-cost"),
        ("退款多久能到账", "refund-time"),
        ("怎么开增值税专用发票", "vat-special-invoice"),
        (
            "Who pays the shipping when I return something?",
            "return-shipping-cost",
        ),
        (
            "How long does a refund take to reach my credit card?",
            "refund-time",
        ),
        ("do you ship to hong kong", "delivery-areas"),
    ];
    for (question, faq) in cases {
        let out = app.say(&id, &token, question).await;
        assert_eq!(
            answered_faq(&out).as_deref(),
            Some(faq),
            "{question}: {out:#}"
        );
        assert_eq!(out["state"], "bot");
        let reply = out["replies"][0]["text"].as_str().unwrap();
        let asked_in = Lang::detect(question, Lang::En);
        assert_eq!(
            Lang::detect(reply, Lang::En),
            asked_in,
            "answer in the asker's language: {reply}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn greetings_get_the_intent_reply_and_the_transcript_pages_by_cursor() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let out = app.say(&id, &token, "hello there").await;
    assert_eq!(out["replies"][0]["meta"]["kind"], "reply", "{out:#}");
    assert_eq!(out["replies"][0]["meta"]["intent"], "greeting");
    app.say(&id, &token, "谢谢").await;

    let all = app.messages(&id, &token, 0).await;
    let seqs: Vec<i64> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    assert_eq!(all["next_after"], 4);
    let after = app.messages(&id, &token, 2).await;
    let texts: Vec<&Value> = after["messages"].as_array().unwrap().iter().collect();
    assert_eq!(texts.len(), 2);
    assert_eq!(texts[0]["text"], "谢谢");
    assert_eq!(texts[0]["author"], "shopper");
    // The turn's analysis is for agents, not for the shopper's client.
    assert!(texts[0].get("turn").is_none());

    let page = app
        .client
        .get(app.url(&format!("/v1/conversations/{id}/messages?after=0&limit=3")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(page["messages"].as_array().unwrap().len(), 3);
    assert_eq!(page["more"], true);
    app.stop().await;
}

#[tokio::test]
async fn a_retried_client_msg_id_does_not_duplicate_the_message_or_the_reply() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({})).await;
    let first = app.send_raw(&id, &token, "退款多久到账", "retry-1").await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["duplicate"], false);

    // Sequential and concurrent retries all get the stored outcome.
    let mut retries = Vec::new();
    for _ in 0..4 {
        retries.push(app.send_raw(&id, &token, "退款多久到账", "retry-1"));
    }
    for r in join_all(retries).await {
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["duplicate"], true);
        assert_eq!(v["message"]["seq"], first["message"]["seq"]);
        assert_eq!(v["replies"], first["replies"]);
    }
    let all = app.messages(&id, &token, 0).await;
    assert_eq!(
        all["messages"].as_array().unwrap().len(),
        2,
        "one question, one answer: {all:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_different_messages_get_distinct_ordered_seqs() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({})).await;
    let ids: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
    let sends: Vec<_> = ids
        .iter()
        .map(|cmid| app.send_raw(&id, &token, "你好", cmid))
        .collect();
    for r in join_all(sends).await {
        assert_eq!(r.status(), 201);
    }
    let all = app.messages(&id, &token, 0).await;
    let seqs: Vec<i64> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=16).collect::<Vec<_>>());
    app.stop().await;
}
