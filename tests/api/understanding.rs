//! The sentence encoder in the live path: used by default when installed, optional when not,
//! and a saturated encoder answers 429 without losing or half-storing anything.

use baton::nlu::Lang;
use futures::future::join_all;
use serde_json::json;

use crate::helpers::{TestApp, answered_faq, spawn_app, spawn_app_with, test_config};

#[tokio::test]
async fn the_encoder_is_used_by_default_and_records_similarity() {
    let app = spawn_app().await;
    let knowledge = app.service.knowledge();
    assert!(
        knowledge.encoder.is_some(),
        "models/all-MiniLM-L6-v2 is installed by the README's test command"
    );
    assert!(knowledge.classifier.uses_vectors() && knowledge.index.uses_vectors());
    let (id, token) = app.create(json!({"locale": "en"})).await;
    // No word of this paraphrase is in the FAQ's question; the dense match finds it.
    let out = app
        .say(&id, &token, "When will the money be back on my card?")
        .await;
    assert_eq!(
        answered_faq(&out).as_deref(),
        Some("refund-time"),
        "{out:#}"
    );
    // What the bot understood is stored with the message (for the agent), similarity included.
    let turn = first_turn(&app, &id).await;
    let best = &turn.faq_candidates[0];
    assert_eq!(best.faq_id, "refund-time");
    assert!(best.similarity.unwrap() > 0.5, "{best:?}");
    app.stop().await;
}

#[tokio::test]
async fn without_the_model_baton_runs_on_ngrams_and_bm25() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.nlu.encoder = "not-installed-model".into();
    let app = spawn_app_with(config).await;
    assert!(app.service.knowledge().encoder.is_none());
    let (id, token) = app.create(json!({"locale": "zh-CN"})).await;
    let out = app.say(&id, &token, "退款多久能到账").await;
    assert_eq!(
        answered_faq(&out).as_deref(),
        Some("refund-time"),
        "{out:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_saturated_encoder_answers_429_and_a_retry_goes_through_once() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.nlu.encoder_workers = 1;
    config.nlu.encoder_queue = 1;
    config.nlu.encoder_batch = 1;
    // 24 shoppers, all on one address here, and their retries.
    config.limits.ip_messages = baton::config::Rate::OFF;
    let app = spawn_app_with(config).await;
    let long = "Could you tell me how returns of large furniture work? ".repeat(12);
    let mut conversations = Vec::new();
    for _ in 0..24 {
        conversations.push(app.create(json!({"locale": "en"})).await);
    }
    let app_ref = &app;
    // A distinct text per shopper, distinct in the part the bot reads (the start): identical
    // ones would share one forward pass (the cache of recent message vectors) and never
    // fill the queue.
    let text = |i: usize| format!("#{i} {long}");
    let sends = conversations.iter().enumerate().map(|(i, (id, token))| {
        let text = text(i);
        let app = app_ref;
        async move {
            let r = app.send_raw(id, token, &text, "m-1").await;
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, body)
        }
    });
    let results = join_all(sends).await;
    let refused: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, (s, _))| *s == 429)
        .map(|(i, _)| i)
        .collect();
    assert!(!refused.is_empty(), "the queue of one must overflow");
    for (status, body) in &results {
        match status {
            200 | 201 => {}
            429 => assert_eq!(body["error"], "busy", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // A refused message was not stored; retrying it with the same id stores it exactly once.
    for i in refused {
        let (id, token) = &conversations[i];
        assert_eq!(app.messages(id, token, 0).await["messages"], json!([]));
        let mut status = 429;
        for _ in 0..50 {
            status = app
                .send_raw(id, token, &text(i), "m-1")
                .await
                .status()
                .as_u16();
            if status != 429 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(status == 200 || status == 201, "retry: {status}");
        app.send_raw(id, token, &text(i), "m-1").await;
        let shopper_messages = app.messages(id, token, 0).await["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["author"] == "shopper")
            .count();
        assert_eq!(shopper_messages, 1);
    }
    app.stop().await;
}

#[tokio::test]
async fn questions_outside_the_shop_are_not_answered_as_shop_questions() {
    let app = spawn_app().await;
    for (locale, text) in [
        ("zh-CN", "今天天气怎么样"),
        ("zh-CN", "给我讲个笑话吧"),
        ("en", "what is the capital of italy"),
    ] {
        let (id, token) = app.create(json!({ "locale": locale })).await;
        let out = app.say(&id, &token, text).await;
        assert_eq!(answered_faq(&out), None, "{text}: {out:#}");
        let turn = first_turn(&app, &id).await;
        let intent = turn.intent.as_ref().unwrap();
        assert!(intent.out_of_scope, "{text}: {intent:?}");
        assert_eq!(
            turn.decision,
            baton::conversation::DecisionKind::Clarify,
            "{text}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn chinese_is_read_by_the_multilingual_encoder_when_configured() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(temp.path());
    config.nlu.encoder_zh = "multilingual-e5-small".into();
    let app = spawn_app_with(config).await;
    let knowledge = app.service.knowledge();
    let encoder = knowledge
        .encoder
        .as_ref()
        .expect("models/ are installed by the README's test command");
    assert!(
        encoder.model.reads_chinese(),
        "models/multilingual-e5-small reads Chinese: {}",
        encoder.model.name()
    );
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    // "The goods arrived with cracks": no word of it is in the FAQ's question or alternates
    // (BM25 alone ranks another FAQ first); the Chinese encoder finds the damaged-item FAQ.
    app.say(&id, &token, "到手的货物有裂痕").await;
    let turn = first_turn(&app, &id).await;
    let intent = turn.intent.as_ref().expect("the bot ran");
    assert_eq!(intent.label, "damaged_item", "{turn:?}");
    let best = &turn.faq_candidates[0];
    assert_eq!(best.faq_id, "damaged-or-wrong-item", "{turn:?}");
    assert!(best.similarity.is_some(), "{best:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_text_is_understood_once_and_answered_alike() {
    let app = spawn_app().await;
    let knowledge = app.service.knowledge();
    let question = "When will the money be back on my card?";
    let mut turns = Vec::new();
    for _ in 0..3 {
        let (id, token) = app.create(json!({"locale": "en"})).await;
        let out = app.say(&id, &token, question).await;
        assert_eq!(
            answered_faq(&out).as_deref(),
            Some("refund-time"),
            "{out:#}"
        );
        turns.push(first_turn(&app, &id).await);
    }
    assert_eq!(
        turns[1], turns[0],
        "the second sight is what the first one found"
    );
    assert_eq!(turns[2], turns[0]);
    let remembered = knowledge.recent.len();
    assert!(remembered >= 1, "the text is remembered");

    // What depends on the conversation is not remembered with the text: a message without
    // letters is read in each conversation's own language.
    let mut langs = Vec::new();
    for locale in ["zh", "en", "zh"] {
        let (id, token) = app.create(json!({"locale": locale})).await;
        app.say(&id, &token, "123").await;
        langs.push(first_turn(&app, &id).await.lang);
    }
    assert_eq!(langs, vec![Lang::Zh, Lang::En, Lang::Zh]);
    assert_eq!(
        knowledge.recent.len(),
        remembered + 1,
        "\"123\" is one text"
    );
    app.stop().await;
}

#[tokio::test]
async fn what_the_cheap_models_are_sure_of_is_answered_without_the_encoder_and_alike() {
    // A greeting the intents are trained on, and a FAQ question word for word: the cheap
    // models are sure of both. A paraphrase is not, and waits for the encoder.
    let sure = [
        "你好",
        "退款多久能到账？",
        "How long does a refund take to arrive?",
    ];
    let paraphrase = "When will the money be back on my card?";
    let (temp, ungated_temp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config = test_config(temp.path());
    config.admin_token = Some(crate::helpers::ADMIN_TOKEN.into());
    let gated = spawn_app_with(config).await;
    let mut config = test_config(ungated_temp.path());
    config.nlu.encoder_gate.enabled = false;
    let ungated = spawn_app_with(config).await;

    let knowledge = gated.service.knowledge();
    let policy = test_config(temp.path()).policy;
    let thresholds = (policy.intent_threshold, policy.faq_threshold);
    for text in sure {
        let normalized = baton::nlu::normalize(text);
        assert!(
            knowledge
                .understand_without_encoder(&normalized, 5, thresholds)
                .is_some(),
            "the cheap models are sure of {text:?}"
        );
    }
    assert!(
        knowledge
            .understand_without_encoder(&baton::nlu::normalize(paraphrase), 5, thresholds)
            .is_none()
    );

    for text in sure.iter().chain([&paraphrase]) {
        let mut decisions = Vec::new();
        for app in [&gated, &ungated] {
            let (id, token) = app.create(json!({"locale": "zh"})).await;
            let out = app.say(&id, &token, text).await;
            let turn = first_turn(app, &id).await;
            // What the shopper sees is the same. The FAQ candidates may differ (the vector
            // brings in its own nearest ones), and so may the intent recorded beside a FAQ
            // answer (the n-gram model's alone).
            let replies: Vec<String> = out["replies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| r["text"].to_string())
                .collect();
            decisions.push((turn.decision, answered_faq(&out), replies));
            let used_a_vector = turn.faq_candidates.iter().any(|c| c.similarity.is_some());
            let skipped = std::ptr::eq(app, &gated) && *text != paraphrase;
            assert_eq!(used_a_vector, !skipped, "{text:?}: {turn:?}");
        }
        assert_eq!(
            decisions[0], decisions[1],
            "{text:?} is answered alike with or without the gate"
        );
    }
    let metrics = gated.metrics().await;
    assert!(
        metrics.contains("baton_encoder_messages_total{outcome=\"skipped\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("baton_encoder_messages_total{outcome=\"embedded\"} 1\n"),
        "{metrics}"
    );
    gated.stop().await;
    ungated.stop().await;
}

/// What the bot understood of the conversation's first message, as stored for the agent.
async fn first_turn(app: &TestApp, id: &str) -> baton::conversation::TurnRecord {
    let stored = app.service.store().messages_after(id, 0, 10).await.unwrap();
    stored[0]
        .turn
        .clone()
        .expect("the shopper message has its analysis")
}

/// The gate on the sample knowledge base's own phrasings — every FAQ question and alternate,
/// in turn as written, with "请问" and with "hi," in front — against the encoder on every
/// text: how many are answered with the phrasing's own FAQ either way, and how many skip the
/// encoder.
#[tokio::test]
async fn the_gate_answers_the_kbs_own_phrasings_at_least_as_well_as_the_encoder() {
    if crate::database::on_postgres() {
        // Models only: the store plays no part, and the SQLite pass has run it.
        return;
    }
    let app = spawn_app().await;
    let knowledge = app.service.knowledge();
    let policy = test_config(std::path::Path::new(".")).policy;
    let thresholds = (policy.intent_threshold, policy.faq_threshold);
    let answers = |u: &baton::knowledge::Understood, faq: &str| {
        let signals = baton::dialogue::Signals {
            intent: &u.intent,
            intent_def: knowledge.content.intent(&u.intent.label),
            faqs: &u.faq_hits,
            asked_for_human: false,
            negative: false,
        };
        matches!(
            baton::dialogue::decide(&signals, &baton::dialogue::Facts::default(), &policy),
            baton::dialogue::Decision::AnswerFaq { faq_id, .. } if faq_id == faq
        )
    };
    let (mut texts, mut skipped, mut right_with_encoder, mut right_gated) = (0, 0, 0, 0);
    for faq in &knowledge.content.faqs {
        for phrasing in std::iter::once(&faq.question).chain(&faq.alternates) {
            let text = match texts % 3 {
                0 => phrasing.clone(),
                1 => format!("请问 {phrasing}"),
                _ => format!("hi, {phrasing}"),
            };
            let normalized = baton::nlu::normalize(&text);
            let vector = knowledge.embed_message(&normalized).await.unwrap();
            let full = knowledge.understand(&normalized, 5, vector.as_deref());
            let cheap = knowledge.understand_without_encoder(&normalized, 5, thresholds);
            texts += 1;
            right_with_encoder += usize::from(answers(&full, &faq.id));
            skipped += usize::from(cheap.is_some());
            right_gated += usize::from(answers(cheap.as_ref().unwrap_or(&full), &faq.id));
        }
    }
    println!(
        "{texts} texts: the encoder on every one answers {right_with_encoder} with their own FAQ; \
         the gate skips the encoder for {skipped} and answers {right_gated}"
    );
    assert!(right_gated >= right_with_encoder);
    assert!(
        skipped * 2 > texts,
        "most of a KB's own wording needs no encoder"
    );
    app.stop().await;
}
