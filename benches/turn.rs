//! One in-process bot turn — normalise, classify, retrieve, decide, word the reply — on the
//! sample `kb/` and `intents/`. Run with `cargo bench --bench turn`.

use std::hint::black_box;
use std::path::PathBuf;

use baton::config::Config;
use baton::dialogue::{self, Facts};
use baton::knowledge::Knowledge;
use baton::nlu::Lang;
use criterion::{Criterion, criterion_group, criterion_main};

fn knowledge(config: &Config) -> Knowledge {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    baton::kb::analyzer::warm_up();
    Knowledge::load_from(
        &root.join("kb"),
        &root.join("intents"),
        &config.nlu,
        Some(&root.join("target").join("bench-model-cache")),
        config.policy.intent_threshold,
    )
    .expect("the sample content loads")
}

fn bench_turn(c: &mut Criterion) {
    let config = Config::default();
    let k = knowledge(&config);
    let now = jiff::Timestamp::now();
    let facts = Facts::default();
    let mut group = c.benchmark_group("bot_turn");
    for (name, text) in [
        ("zh_faq", "退货的运费是谁出的？"),
        (
            "en_faq",
            "How long does a refund take to reach my credit card?",
        ),
        ("zh_chitchat", "你好"),
        ("unknown", "量子纠缠的猫喜欢什么颜色的月亮"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let analysis = dialogue::analyze(
                    &k,
                    &config.policy,
                    config.nlu.faq_candidates,
                    black_box(text),
                    Lang::Zh,
                );
                black_box(dialogue::plan(
                    &k,
                    &config.policy,
                    &config.hours,
                    now,
                    analysis,
                    &facts,
                ))
            })
        });
    }
    group.finish();

    let mut parts = c.benchmark_group("turn_parts");
    let normalized = baton::nlu::normalize("How long does a refund take to reach my credit card?");
    parts.bench_function("classify", |b| {
        b.iter(|| black_box(k.classifier.classify(black_box(&normalized))))
    });
    parts.bench_function("retrieve", |b| {
        b.iter(|| black_box(k.index.search(black_box(&normalized), 5).unwrap()))
    });
    parts.finish();
}

criterion_group!(benches, bench_turn);
criterion_main!(benches);
