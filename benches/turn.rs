//! One in-process bot turn — normalise, embed, classify, retrieve, decide, word the reply — on
//! the sample `kb/` and `intents/`, in the default configuration (`encoder_hybrid_e5_zh`:
//! multilingual-e5-small reading Chinese, MiniLM English, when `models/install.sh` installed
//! them), with MiniLM reading everything (`encoder_hybrid`), and without encoders: exactly
//! [`baton::dialogue::respond`], the function a served turn runs. Run with
//! `cargo bench --bench turn`.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use baton::config::Config;
use baton::dialogue::policy::{Signals, decide};
use baton::dialogue::reception::Staffing;
use baton::dialogue::{self, Compute, Facts};
use baton::encoder::{Encoder, PoolOptions, SentenceEncoder};
use baton::handoff::Availability;
use baton::knowledge::Knowledge;
use baton::nlu::{Lang, normalize};
use criterion::{Criterion, criterion_group, criterion_main};

fn knowledge(config: &Config, encoder: Option<Arc<Encoder>>) -> Knowledge {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cache = root.join("target").join("bench-model-cache");
    Knowledge::load_from(
        &root.join("kb"),
        &root.join("intents"),
        &config.nlu,
        Some(&cache),
        config.policy.intent_threshold,
        encoder,
    )
    .expect("the sample content loads")
}

/// all-MiniLM-L6-v2 for every text, or with `chinese`, multilingual-e5-small reading the
/// text with Chinese characters (`nlu.encoder_zh`), when `models/install.sh` installed them.
fn encoder(chinese: bool) -> Option<Arc<Encoder>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("models/all-MiniLM-L6-v2");
    let chinese_dir = root.join("models/multilingual-e5-small");
    for needed in std::iter::once(&dir).chain(chinese.then_some(&chinese_dir)) {
        if !SentenceEncoder::is_model_dir(needed) {
            eprintln!(
                "no encoder in {}: run models/install.sh to bench it",
                needed.display()
            );
            return None;
        }
    }
    let options = PoolOptions {
        workers: 1,
        queue: 16,
        max_batch: 1,
        cached_messages: 0,
    };
    let cache = root.join("target").join("bench-model-cache");
    let chinese_dir = chinese.then_some(chinese_dir.as_path());
    Some(Arc::new(
        Encoder::load_per_language(&dir, chinese_dir, Some(&cache), options)
            .expect("the encoder loads"),
    ))
}

const MESSAGES: [(&str, &str); 4] = [
    ("zh_faq", "退货的运费是谁出的？"),
    (
        "en_faq",
        "How long does a refund take to reach my credit card?",
    ),
    ("zh_chitchat", "你好"),
    ("unknown", "量子纠缠的猫喜欢什么颜色的月亮"),
];

fn bench_turn(c: &mut Criterion) {
    baton::kb::analyzer::warm_up();
    // Every turn below is a first sight of its text (no understanding cache) through the
    // encoder, but for the `*_gated` ones, which the cheap models answer alone when they are
    // sure (`knowledge::gate`), and the `*_seen_before` ones, which a snapshot with the cache
    // answers from memory.
    let mut config = Config::default();
    config.nlu.cached_messages = 0;
    config.nlu.encoder_gate.enabled = false;
    let config = Arc::new(config);
    let mut gating = config.as_ref().clone();
    gating.nlu.encoder_gate.enabled = true;
    let remembering = Config::default();
    let facts = Facts::default();
    let memory = baton::dialogue_memory::DialogueMemory::default();
    let both = |encoder: Option<Arc<Encoder>>| {
        (
            Arc::new(knowledge(&config, encoder.clone())),
            Arc::new(knowledge(&gating, encoder.clone())),
            Arc::new(knowledge(&remembering, encoder)),
        )
    };
    let mut variants = vec![("ngram_bm25", both(None))];
    if let Some(e) = encoder(false) {
        variants.push(("encoder_hybrid", both(Some(e))));
    }
    if let Some(e) = encoder(true) {
        variants.push(("encoder_hybrid_e5_zh", both(Some(e))));
    }
    // The encoder's pool answers on a channel; a small runtime awaits it, as in `baton chat`.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    for (variant, (k, gates, remembers)) in &variants {
        let mut group = c.benchmark_group(format!("bot_turn/{variant}"));
        let first_sight = MESSAGES
            .iter()
            .map(|&(name, text)| (name.to_string(), text, k));
        // Without an encoder there is nothing to gate.
        let gated = MESSAGES
            .iter()
            .filter(|_| gates.encoder.is_some())
            .map(|&(name, text)| (format!("{name}_gated"), text, gates));
        let seen_before = MESSAGES[..2]
            .iter()
            .map(|&(name, text)| (format!("{name}_seen_before"), text, remembers));
        for (name, text, k) in first_sight.chain(gated).chain(seen_before) {
            group.bench_function(name, |b| {
                b.iter(|| {
                    let message = dialogue::bot::Message {
                        text: black_box(text),
                        locale: Lang::Zh,
                        facts: facts.clone(),
                        memory: &memory,
                        at: jiff::Timestamp::now(),
                        order: None,
                    };
                    let plan = runtime.block_on(dialogue::respond(
                        k,
                        &config,
                        message,
                        Compute::Inline,
                        |_| Staffing::free(Availability::OnDuty),
                    ));
                    black_box(plan.expect("a turn"))
                })
            });
        }
        group.finish();

        let mut parts = c.benchmark_group(format!("turn_parts/{variant}"));
        let normalized = normalize("How long does a refund take to reach my credit card?");
        let vector = k
            .encoder
            .as_ref()
            .map(|e| e.model.embed_one(&normalized).unwrap());
        if let Some(e) = &k.encoder {
            parts.bench_function("embed", |b| {
                b.iter(|| black_box(e.model.embed_one(black_box(&normalized)).unwrap()))
            });
        }
        parts.bench_function("classify", |b| {
            b.iter(|| {
                black_box(
                    k.classifier
                        .classify(black_box(&normalized), vector.as_deref()),
                )
            })
        });
        parts.bench_function("retrieve", |b| {
            b.iter(|| {
                black_box(
                    k.index
                        .search(black_box(&normalized), 5, vector.as_deref())
                        .unwrap(),
                )
            })
        });
        // The handoff rules on what the two above found: a pure function of the signals.
        let prediction = k.classifier.classify(&normalized, vector.as_deref());
        let hits = k.index.search(&normalized, 5, vector.as_deref()).unwrap();
        let signals = Signals {
            intent: &prediction,
            intent_def: k.content.intents.iter().find(|i| i.id == prediction.label),
            faqs: &hits,
            asked_for_human: false,
            negative: false,
        };
        let facts = Facts::default();
        parts.bench_function("decide", |b| {
            b.iter(|| black_box(decide(black_box(&signals), &facts, &config.policy)))
        });
        // The word lists on a shopper's message (the sample lists; no match, the usual case).
        let words = &k.content.words;
        parts.bench_function("screen_words", |b| {
            b.iter(|| {
                black_box(words.screen(
                    black_box("退款多久能到账？我上周退的货，快递单号SF1400000001"),
                    baton::content::words::Author::Shopper,
                ))
            })
        });
        parts.finish();
    }
}

criterion_group!(benches, bench_turn);
criterion_main!(benches);
