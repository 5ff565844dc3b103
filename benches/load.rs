//! Load generator: concurrent shoppers talking to a real Baton server over HTTP.
//!
//! Each virtual shopper creates a conversation and sends realistic questions (Chinese and
//! English FAQ questions, greetings, thanks — each made unique by a number) one after
//! another, each with a fresh `client_msg_id`, until the time is up; every turn is committed
//! to SQLite before it is answered. Prints one JSON object: turns, turns per second, latency
//! percentiles, errors.
//!
//! ```sh
//! RAYON_NUM_THREADS=1 cargo bench --bench load -- --shoppers 64 --seconds 20 [--no-encoder | --single-encoder]
//! RAYON_NUM_THREADS=1 cargo bench --bench load -- --shoppers 64 --abusers 32 --seconds 30
//! ```
//!
//! (`RAYON_NUM_THREADS=1` is what the `baton` binary sets for itself: one single-threaded
//! forward pass per encoder worker.)
//!
//! Two questions, two modes:
//! - **Capacity** (the default): how many turns a second the server commits and answers.
//!   The rate limits are off, since every virtual shopper shares this machine's address
//!   and shoppers type back to back.
//! - **Abuse** (`--abusers N`): can one client hurt the others? The default limits are on,
//!   with the client address taken from `X-Forwarded-For` as behind a proxy. Each shopper
//!   has an address of its own and pauses `--think-ms` (default 3500) between messages, as
//!   a person would; the N abusers share one address and post `--abuse-chars` (default
//!   2,000) character messages as fast as they are answered. The report adds what the
//!   abusers got: accepted, refused with 429, other. `--limits-off` runs the same flood
//!   with every rate off, for the comparison.
//!
//! By default the server runs in this process on 127.0.0.1:0 with a temporary data
//! directory (client and server then share the machine's cores); `--url` targets a running
//! server instead (for abuse mode it must set `limits.trust_forwarded_for`). Only loopback
//! addresses are accepted, and the run is bounded in time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Clients flooding long messages from one address (abuse mode when > 0).
    abusers: usize,
    abuse_chars: usize,
    /// Abuse mode with every rate turned off: what the limits are worth.
    limits_off: bool,
    /// Pause between one shopper's messages (default: none, or 3.5 s in abuse mode).
    think: Option<Duration>,
    /// Serve without the sentence encoder (n-grams and BM25 alone).
    no_encoder: bool,
    /// Let the English model read Chinese too, instead of the default multilingual-e5-small.
    single_encoder: bool,
    seconds: u64,
    synchronous: Synchronous,
    url: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        shoppers: 64,
        abusers: 0,
        abuse_chars: 2_000,
        limits_off: false,
        think: None,
        no_encoder: false,
        single_encoder: false,
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
            "--abusers" => args.abusers = it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--abuse-chars" => {
                args.abuse_chars = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(args.abuse_chars)
                    .min(20_000)
            }
            "--limits-off" => args.limits_off = true,
            "--think-ms" => {
                args.think = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_millis)
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
            "--single-encoder" => args.single_encoder = true,
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

/// Where each request says it comes from, in abuse mode: the proxy's `X-Forwarded-For`.
#[derive(Clone, Copy)]
enum Origin {
    /// Capacity mode: the TCP peer, as the server sees it.
    Peer,
    /// A client address of its own.
    Forwarded(std::net::Ipv4Addr),
}

impl Origin {
    fn apply(self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Origin::Peer => request,
            Origin::Forwarded(ip) => request.header("x-forwarded-for", ip.to_string()),
        }
    }
}

/// Status counts of one kind of client.
#[derive(Default)]
struct Tally {
    accepted: AtomicUsize,
    rate_limited: AtomicUsize,
    other: AtomicUsize,
}

impl Tally {
    fn count(&self, status: Option<reqwest::StatusCode>) {
        let counter = match status {
            Some(s) if s.is_success() => &self.accepted,
            Some(reqwest::StatusCode::TOO_MANY_REQUESTS) => &self.rate_limited,
            _ => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn json(&self) -> Value {
        json!({
            "accepted": self.accepted.load(Ordering::Relaxed),
            "rate_limited": self.rate_limited.load(Ordering::Relaxed),
            "other": self.other.load(Ordering::Relaxed),
        })
    }
}

/// Creates a conversation, retrying after a 429 until `deadline`: its id and token.
async fn open_conversation(
    client: &reqwest::Client,
    base: &str,
    origin: Origin,
    deadline: Instant,
) -> Option<(String, String)> {
    while Instant::now() < deadline {
        let response = origin
            .apply(client.post(format!("{base}/v1/conversations")))
            .json(&json!({"channel": "load"}))
            .send()
            .await
            .ok()?;
        if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            tokio::time::sleep(retry_after(&response)).await;
            continue;
        }
        let created: Value = response.json().await.ok()?;
        return Some((
            created["conversation_id"].as_str()?.to_string(),
            created["token"].as_str()?.to_string(),
        ));
    }
    None
}

fn retry_after(response: &reqwest::Response) -> Duration {
    let seconds = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds)
}

/// One shopper: asks questions until `deadline`, pausing `think` between them; the latency
/// of every answered turn goes to `latencies`.
#[allow(clippy::too_many_arguments)]
async fn shopper(
    n: usize,
    client: reqwest::Client,
    base: String,
    origin: Origin,
    think: Duration,
    deadline: Instant,
    latencies: Arc<Mutex<Vec<f64>>>,
    tally: Arc<Tally>,
) {
    let Some((id, token)) = open_conversation(&client, &base, origin, deadline).await else {
        tally.count(None);
        return;
    };
    let mut mine = Vec::new();
    let mut turn = 0usize;
    while Instant::now() < deadline {
        // A number makes every message unique, as real messages are: no cached embedding
        // can answer for the encoder.
        let text = format!(
            "{} {}",
            QUESTIONS[(n + turn) % QUESTIONS.len()],
            n * 100_000 + turn
        );
        let t = Instant::now();
        let r = origin
            .apply(client.post(format!("{base}/v1/conversations/{id}/messages")))
            .bearer_auth(&token)
            .json(&json!({"text": text, "client_msg_id": format!("{n}-{turn}")}))
            .send()
            .await;
        let status = r.ok().map(|r| r.status());
        if status.is_some_and(|s| s.is_success()) {
            mine.push(t.elapsed().as_secs_f64() * 1e3);
        }
        tally.count(status);
        turn += 1;
        tokio::time::sleep(think.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    latencies.lock().await.extend(mine);
}

/// One abuser: posts long messages back to back until `deadline`, without waiting out a
/// 429 (a flood does not).
async fn abuser(
    n: usize,
    client: reqwest::Client,
    base: String,
    origin: Origin,
    chars: usize,
    deadline: Instant,
    tally: Arc<Tally>,
) {
    let Some((id, token)) = open_conversation(&client, &base, origin, deadline).await else {
        return;
    };
    let mut turn = 0usize;
    while Instant::now() < deadline {
        // Exactly `chars` characters, unique per message like the shoppers' questions.
        let text: String = format!("{turn} ")
            .chars()
            .chain("我的订单到哪了 where is my parcel ".chars().cycle())
            .take(chars)
            .collect();
        let r = origin
            .apply(client.post(format!("{base}/v1/conversations/{id}/messages")))
            .bearer_auth(&token)
            .json(&json!({"text": text, "client_msg_id": format!("a{n}-{turn}")}))
            .send()
            .await;
        tally.count(r.ok().map(|r| r.status()));
        turn += 1;
    }
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let abuse = args.abusers > 0;
    let think = args.think.unwrap_or(if abuse {
        Duration::from_millis(3_500)
    } else {
        Duration::ZERO
    });
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
            if args.single_encoder {
                config.nlu.encoder_zh = String::new();
            }
            config.store.max_connections = 16;
            config.limits.trust_forwarded_for = abuse;
            if !abuse || args.limits_off {
                config.limits = config.limits.clone().without_rates();
            }
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
        .pool_max_idle_per_host(args.shoppers + args.abusers)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let (shoppers, abusers) = (Arc::new(Tally::default()), Arc::new(Tally::default()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..args.shoppers {
        let origin = if abuse {
            let [_, _, b, c] = (n as u32).to_be_bytes();
            Origin::Forwarded(std::net::Ipv4Addr::new(10, 1, b, c))
        } else {
            Origin::Peer
        };
        tasks.push(tokio::spawn(shopper(
            n,
            client.clone(),
            base.clone(),
            origin,
            think,
            deadline,
            latencies.clone(),
            shoppers.clone(),
        )));
    }
    // One documentation address (RFC 5737) for all of them: one client, many connections.
    let flooder = Origin::Forwarded(std::net::Ipv4Addr::new(203, 0, 113, 7));
    for n in 0..args.abusers {
        tasks.push(tokio::spawn(abuser(
            n,
            client.clone(),
            base.clone(),
            flooder,
            args.abuse_chars,
            deadline,
            abusers.clone(),
        )));
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
    let mut report = json!({
        "shoppers": args.shoppers,
        "think_ms": think.as_millis() as u64,
        "seconds": elapsed,
        "synchronous": format!("{:?}", args.synchronous).to_lowercase(),
        "encoder": !args.no_encoder,
        "chinese_encoder": if args.no_encoder || args.single_encoder { "same as English" } else { "configured (multilingual-e5-small when installed)" },
        "rate_limits": abuse && !args.limits_off,
        "turns": l.len(),
        "turns_per_second": l.len() as f64 / elapsed,
        "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)},
        "errors": shoppers.other.load(Ordering::Relaxed)
            + shoppers.rate_limited.load(Ordering::Relaxed),
        "shopper_requests": shoppers.json(),
    });
    if abuse {
        report["abusers"] = json!({
            "clients": args.abusers,
            "chars": args.abuse_chars,
            "messages": abusers.json(),
        });
    }
    println!("{report:#}");
    if let Some(tx) = shutdown {
        let _ = tx.send(());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
