//! Save-to-live time: how long after an editor saves a file the bot answers from it.
//!
//! Starts a real Baton server in this process, watching copies of the sample `kb/` and
//! `intents/` (and, with `--faqs N`, a generated KB of N FAQ files), then repeatedly edits a
//! file and polls `GET /v1/admin/kb/status` every 10 ms until the served version changes.
//! Reports, per scenario, save → live (what an editor waits) and the rebuild alone (validate,
//! lint, train when intents changed, index), as min / median / max over the edits.
//!
//! ```sh
//! cargo bench --bench reload -- [--edits 5] [--faqs 10000] [--poll-ms 1000] [--no-encoder]
//! ```
//!
//! `--poll-ms` is `reload.poll_ms`: a change is noticed within one poll and loaded once it
//! held still for another, so about 1–2 polls of the figure are waiting for editors to finish
//! saving. The generated KB's questions are made of invented product words, so they are as
//! distinct from one another as a real shop's and the near-duplicate check does real work.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use baton::config::Config;
use baton::server::Application;
use serde_json::Value;

const ADMIN: &str = "reload-bench-admin-token-0123456789";

struct Args {
    edits: usize,
    faqs: usize,
    poll_ms: u64,
    no_encoder: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        edits: 5,
        faqs: 10_000,
        poll_ms: 1000,
        no_encoder: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match a.as_str() {
            "--edits" => args.edits = number("--edits") as usize,
            "--faqs" => args.faqs = number("--faqs") as usize,
            "--poll-ms" => args.poll_ms = number("--poll-ms"),
            "--no-encoder" => args.no_encoder = true,
            // cargo bench passes --bench; criterion-style filters are not used here.
            _ => {}
        }
    }
    args
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("readable tree");
        let target = to.join(entry.path().strip_prefix(from).expect("inside the tree"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("create dir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// An invented word from syllables: distinct n-grams for every product.
fn word(mut n: usize) -> String {
    const ON: &[&str] = &[
        "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
    ];
    const NU: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou"];
    let mut w = String::new();
    for _ in 0..3 {
        w.push_str(ON[n % ON.len()]);
        n /= ON.len();
        w.push_str(NU[n % NU.len()]);
        n /= NU.len();
    }
    w
}

/// Chinese syllable stand-ins for the zh variants.
fn ci(mut n: usize) -> String {
    const CHARS: &[char] = &[
        '星', '云', '海', '松', '竹', '梅', '兰', '菊', '山', '川', '风', '雷', '晨', '夕', '霜',
        '雪', '玉', '金', '银', '铜', '石', '木', '火', '水',
    ];
    let mut w = String::new();
    for _ in 0..3 {
        w.push(CHARS[n % CHARS.len()]);
        n /= CHARS.len();
    }
    w
}

/// Writes `count` FAQ files (`count / 2` ids in two languages) under `kb/generated`.
fn generate_kb(kb: &Path, count: usize) {
    const TOPICS_EN: &[&str] = &[
        "battery life of the",
        "warranty terms for the",
        "how to clean the",
        "spare parts for the",
        "colours available for the",
        "size chart of the",
    ];
    const TOPICS_ZH: &[&str] = &["续航", "保修条款", "清洁方法", "配件", "颜色", "尺码表"];
    let dir = kb.join("generated");
    std::fs::create_dir_all(&dir).expect("create dir");
    for i in 0..count / 2 {
        let (product, topic) = (i / TOPICS_EN.len(), i % TOPICS_EN.len());
        let (name, zh_name) = (word(product * 7 + 3), ci(product * 5 + 1));
        let id = format!("gen-{i}");
        let en = format!(
            "---\nid: {id}\nlang: en\nquestion: What about the {} {name} {}?\nalternates:\n  - {name} {} question\n  - tell me the {} {name}\ntags: [generated]\n---\nThe {name} answer: see the product page of the {name}.\n",
            TOPICS_EN[topic],
            word(product + 11),
            TOPICS_EN[topic],
            TOPICS_EN[topic]
        );
        let zh = format!(
            "---\nid: {id}\nlang: zh\nquestion: {zh_name}的{}是怎样的？\nalternates:\n  - {zh_name}{}\ntags: [generated]\n---\n{zh_name}的{}请看商品详情页。\n",
            TOPICS_ZH[topic], TOPICS_ZH[topic], TOPICS_ZH[topic]
        );
        std::fs::write(dir.join(format!("{id}.en.md")), en).expect("write");
        std::fs::write(dir.join(format!("{id}.zh.md")), zh).expect("write");
    }
}

async fn status(client: &reqwest::Client, base: &str) -> Value {
    client
        .get(format!("{base}/v1/admin/kb/status"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("status request")
        .json()
        .await
        .expect("status JSON")
}

struct Scenario {
    name: String,
    file: PathBuf,
    edit: fn(&str, usize) -> String,
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |i: usize| ms.get(i).copied().unwrap_or(f64::NAN);
    format!(
        "{:.2} / {:.2} / {:.2} s",
        at(0) / 1000.0,
        at(ms.len() / 2) / 1000.0,
        at(ms.len().saturating_sub(1)) / 1000.0
    )
}

async fn run(args: &Args, label: &str, kb_count: usize, scenarios: Vec<Scenario>, root: &Path) {
    let mut config = Config {
        addr: "127.0.0.1:0".parse().expect("address"),
        data_dir: root.join("data"),
        kb: root.join("kb"),
        intents: root.join("intents"),
        models: repo().join("models"),
        admin_token: Some(ADMIN.into()),
        ..Config::default()
    };
    config.nlu.cache_dir = Some(repo().join("target").join("bench-model-cache"));
    config.reload.poll_ms = args.poll_ms;
    config.reload.watch = true;
    if args.no_encoder {
        config.nlu.encoder = String::new();
    }
    let started = Instant::now();
    let app = Application::build(config).await.expect("server starts");
    eprintln!(
        "{label}: started in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for s in scenarios {
        let (mut live, mut rebuild) = (Vec::new(), Vec::new());
        for n in 0..args.edits {
            let before = status(&client, &base).await;
            let text = std::fs::read_to_string(&s.file).expect("read");
            let saved = Instant::now();
            std::fs::write(&s.file, (s.edit)(&text, n)).expect("write");
            let deadline = saved + Duration::from_secs(600);
            let now = loop {
                let now = status(&client, &base).await;
                if now["version"] != before["version"] || Instant::now() > deadline {
                    break now;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            live.push(saved.elapsed().as_secs_f64() * 1000.0);
            rebuild.push(now["last_duration_ms"].as_f64().unwrap_or(f64::NAN));
            assert!(now["ok"].as_bool().unwrap_or(false), "reload failed: {now}");
            // Let the watcher see the tree at rest before the next edit.
            tokio::time::sleep(Duration::from_millis(args.poll_ms * 2)).await;
        }
        println!(
            "| {label} ({kb_count} FAQ files) | {} | {} | {} |",
            s.name,
            summary(live),
            summary(rebuild)
        );
    }
    let _ = stop.send(());
    let _ = server.await;
}

fn append_to_answer(text: &str, n: usize) -> String {
    format!("{}\nEdited answer line {n}.\n", text.trim_end())
}

fn add_example(text: &str, n: usize) -> String {
    text.replacen(
        "  en:\n",
        &format!("  en:\n    - where is my parcel edit number {n}\n"),
        1,
    )
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    println!(
        "| content | edit | save → live (min / median / max) | rebuild (min / median / max) |"
    );
    println!("| --- | --- | --- | --- |");

    let sample = tempfile::tempdir().expect("temp dir");
    copy_dir(&repo().join("kb"), &sample.path().join("kb"));
    copy_dir(&repo().join("intents"), &sample.path().join("intents"));
    let sample_count = walkdir::WalkDir::new(sample.path().join("kb"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
        .count();
    let scenarios = vec![
        Scenario {
            name: "an FAQ answer".into(),
            file: sample.path().join("kb/orders/order-status.en.md"),
            edit: append_to_answer,
        },
        Scenario {
            name: "an intent example (retrains)".into(),
            file: sample.path().join("intents/order_status.yaml"),
            edit: add_example,
        },
    ];
    run(&args, "sample", sample_count, scenarios, sample.path()).await;

    if args.faqs > 0 {
        let big = tempfile::tempdir().expect("temp dir");
        copy_dir(&repo().join("kb"), &big.path().join("kb"));
        copy_dir(&repo().join("intents"), &big.path().join("intents"));
        generate_kb(&big.path().join("kb"), args.faqs);
        let scenarios = vec![Scenario {
            name: "an FAQ answer".into(),
            file: big.path().join("kb/generated/gen-7.en.md"),
            edit: append_to_answer,
        }];
        run(
            &args,
            "generated",
            sample_count + args.faqs,
            scenarios,
            big.path(),
        )
        .await;
    }
}
