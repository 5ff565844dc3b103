//! Load generator: concurrent shoppers talking to a real Baton server over HTTP.
//!
//! Each virtual shopper creates a conversation and sends realistic questions (Chinese and
//! English FAQ questions, greetings, thanks — each made unique by a number) one after
//! another, each with a fresh `client_msg_id`, until the time is up; every turn is committed to SQLite before it is
//! answered. Prints one JSON object: turns, turns per second, latency percentiles, errors.
//!
//! ```sh
//! RAYON_NUM_THREADS=1 cargo bench --bench load -- --shoppers 64 --seconds 20 [--no-encoder]
//! ```
//!
//! (`RAYON_NUM_THREADS=1` is what the `baton` binary sets for itself: one single-threaded
//! forward pass per encoder worker.)
//!
//! By default the server runs in this process on 127.0.0.1:0 with a temporary data
//! directory (client and server then share the machine's cores); `--url` targets a running
//! server instead. Only loopback addresses are accepted, and the run is bounded in time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::config::{Config, Synchronous};
use baton::server::Application;
use serde_json::{Value, json};
use tokio::sync::Mutex;

const QUESTIONS: &[&str] = &[
    "退货的运费是谁出的？",
    "退款多久能到账",
    "我的订单到哪了",
    "怎么开发票",
    "优惠券用不了怎么办",
    "你好",
    "How long does a refund take to reach my credit card?",
    "do you ship to hong kong",
    "how do I change my delivery address",
    "谢谢",
];

struct Args {
    shoppers: usize,
    /// Serve without the sentence encoder (n-grams and BM25 alone).
    no_encoder: bool,
    seconds: u64,
    synchronous: Synchronous,
    url: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        shoppers: 64,
        no_encoder: false,
        seconds: 20,
        synchronous: Synchronous::Full,
        url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--shoppers" => {
                args.shoppers = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(args.shoppers)
            }
            "--seconds" => {
                args.seconds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(args.seconds)
                    .min(600)
            }
            "--synchronous" => {
                args.synchronous = match it.next().as_deref() {
                    Some("normal") => Synchronous::Normal,
                    _ => Synchronous::Full,
                }
            }
            "--url" => args.url = it.next(),
            "--no-encoder" => args.no_encoder = true,
            // `cargo bench` passes `--bench`; anything else unknown is ignored too.
            _ => {}
        }
    }
    args
}

fn is_loopback(url: &str) -> bool {
    let host = url
        .trim_start_matches("http://")
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    host == "localhost" || host.starts_with("127.") || url.starts_with("http://[::1]")
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let temp = tempfile::tempdir().expect("temp dir");
    let (base, shutdown) = match &args.url {
        Some(url) => {
            assert!(
                is_loopback(url),
                "the load generator only targets loopback addresses"
            );
            (url.trim_end_matches('/').to_string(), None)
        }
        None => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let mut config = Config {
                addr: "127.0.0.1:0".parse().expect("address"),
                data_dir: temp.path().to_path_buf(),
                kb: root.join("kb"),
                intents: root.join("intents"),
                ..Config::default()
            };
            config.nlu.cache_dir = Some(root.join("target").join("bench-model-cache"));
            config.store.synchronous = args.synchronous;
            if args.no_encoder {
                config.nlu.encoder = String::new();
            }
            config.store.max_connections = 16;
            let app = Application::build(config).await.expect("server starts");
            let base = format!("http://{}", app.local_addr());
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(app.run_until(async {
                let _ = rx.await;
            }));
            (base, Some(tx))
        }
    };

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.shoppers)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for shopper in 0..args.shoppers {
        let (client, base, latencies, errors) = (
            client.clone(),
            base.clone(),
            latencies.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let created: Value = match client
                .post(format!("{base}/v1/conversations"))
                .json(&json!({"channel": "load"}))
                .send()
                .await
            {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let (Some(id), Some(token)) = (
                created["conversation_id"].as_str(),
                created["token"].as_str(),
            ) else {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            };
            let mut mine = Vec::new();
            let mut turn = 0usize;
            while Instant::now() < deadline {
                // A number makes every message unique, as real messages are: no cached
                // embedding can answer for the encoder.
                let text = format!(
                    "{} {}",
                    QUESTIONS[(shopper + turn) % QUESTIONS.len()],
                    shopper * 100_000 + turn
                );
                let t = Instant::now();
                let r = client
                    .post(format!("{base}/v1/conversations/{id}/messages"))
                    .bearer_auth(token)
                    .json(&json!({"text": text, "client_msg_id": format!("{shopper}-{turn}")}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => mine.push(t.elapsed().as_secs_f64() * 1e3),
                    _ => {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                turn += 1;
            }
            latencies.lock().await.extend(mine);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().await.clone();
    l.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        if l.is_empty() {
            0.0
        } else {
            l[((l.len() - 1) as f64 * q).round() as usize]
        }
    };
    let report = json!({
        "shoppers": args.shoppers,
        "seconds": elapsed,
        "synchronous": format!("{:?}", args.synchronous).to_lowercase(),
        "encoder": !args.no_encoder,
        "turns": l.len(),
        "turns_per_second": l.len() as f64 / elapsed,
        "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)},
        "errors": errors.load(std::sync::atomic::Ordering::Relaxed),
    });
    println!("{report:#}");
    if let Some(tx) = shutdown {
        let _ = tx.send(());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
