//! Load generator: a day of shoppers and agents against a real `baton serve` process.
//!
//! ```sh
//! cargo bench --bench load -- --seconds 20 [--no-encoder | --single-encoder] [--mix unique]
//! cargo bench --bench load -- --seconds 30 --kill-at 10          # kill -9 mid-run
//! cargo bench --bench load -- --warm-up 30 --seconds 15          # a node that has run a while
//! cargo bench --bench load -- --shoppers 64 --abusers 32 --seconds 30
//! cargo bench --bench load -- --binary /path/to/another/baton   # before/after, one run
//! cargo bench --bench load -- --database-url postgres://…/empty_db [--nodes 2]
//! ```
//!
//! The server is the `baton` binary in a process of its own on a temporary data directory
//! (SQLite, `synchronous = full` unless `--synchronous normal`), so its memory is measured
//! alone and it can be killed. Load tool and server share this machine's cores, as they do
//! in the figures of the README.
//!
//! **The realistic mix** (the default). Each virtual shopper opens a conversation, sends
//! 2–8 messages back to back (`--think-ms` between them), leaves, and comes back as a new
//! shopper. A message is:
//! - 88 % a FAQ question: one of the sample knowledge base's phrasings (both languages),
//!   drawn with Zipf-like popularity (the most asked phrasing is asked twice as often as the
//!   second), and in 30 % of cases varied as real text often is (an order number, a
//!   "请问"/"hi," in front): a variant's first appearance misses both vector caches, and
//!   since the encoders read an order number by its length, later ones hit;
//! - 9 % a greeting or thanks;
//! - 3 % a request for a person (转人工): the conversation is handed over, the shopper writes
//!   once more to the person and leaves. `--agents` agents (4) accept what they are offered,
//!   reply and resolve, over the agent API.
//!
//! `--listeners N` (default 500) widget sockets sit idle on conversations of their own the
//! whole run. `--mix unique` is the older workload: every message a distinct text, one
//! conversation per shopper, no handoffs.
//!
//! `--warm-up S` runs the same load for S seconds before the measured window (turns/s,
//! latency and server CPU count the window only; every message is checked for loss): a
//! node that has served for a while has cached the texts everyone asks, one just started
//! has not. Without it the window starts cold.
//!
//! **What it checks.** Every message is sent until the server acknowledges it, retrying with
//! the same `client_msg_id` after a failure (as the widget does). After the run the
//! transcript of every conversation is read back: an acknowledged message missing is
//! *lost*, a `client_msg_id` stored twice is *duplicated*; both must be 0. `--kill-at S`
//! sends SIGKILL to the server S seconds in and starts it again on the same data directory
//! and port.
//!
//! **Several nodes** (`--database-url URL --nodes N`): N servers on one PostgreSQL database
//! (it must be empty), each request to any of them as behind a round-robin load balancer,
//! agents on another node than most of their shoppers; the report adds the cross-node
//! delivery latency ([`cross_node`]). `--kill-at` kills the first node.
//!
//! **Abuse mode** (`--abusers N`): can one client hurt the others? The default limits are
//! on, with the client address taken from `X-Forwarded-For` as behind a proxy. Each shopper
//! has an address of its own and pauses `--think-ms` (default 3500) between messages, as a
//! person would; the N abusers share one address and post `--abuse-chars` (default 2,000)
//! character messages as fast as they are answered. `--limits-off` runs the same flood with
//! every rate off, for the comparison.
//!
//! Prints one JSON object: turns (acknowledged shopper messages), turns per second,
//! latency percentiles, errors, lost and duplicated messages, server memory, and the
//! latency of the agents' requests (`agent_latency_ms`, with their count `samples`): the staff
//! side under the same load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use baton::config::Synchronous;

#[path = "load/cross_node.rs"]
mod cross_node;
#[path = "load/lean.rs"]
mod lean;
use futures::StreamExt;
use rand::distr::weighted::WeightedIndex;
use rand::prelude::*;
use serde_json::{Value, json};
use tokio::sync::Mutex;

const ADMIN_TOKEN: &str = "load-admin-token-0123456789abcdef";

const GREETINGS: &[&str] = &["你好", "在吗", "hi", "hello", "谢谢", "thanks", "好的"];
const ASK_FOR_PERSON: &[&str] = &["转人工", "人工客服", "I want to talk to a person"];
/// The older workload's questions (`--mix unique`).
const UNIQUE_QUESTIONS: &[&str] = &[
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
/// Every skill group the sample content routes to.
const SKILLS: &[&str] = &[
    "general",
    "after_sales",
    "shipping",
    "orders",
    "billing",
    "account",
    "complaints",
];

#[derive(Clone, Copy, PartialEq)]
enum Mix {
    Realistic,
    Unique,
}

struct Args {
    shoppers: usize,
    agents: usize,
    listeners: usize,
    mix: Mix,
    abusers: usize,
    abuse_chars: usize,
    limits_off: bool,
    think: Option<Duration>,
    no_encoder: bool,
    single_encoder: bool,
    seconds: u64,
    /// Seconds of the same load before the measured window (`--warm-up`): a node on a busy
    /// day has long since cached the texts everyone asks.
    warm_up: u64,
    synchronous: Synchronous,
    kill_at: Option<u64>,
    seed: u64,
    /// Another build of `baton` to run instead of this one (a before/after comparison).
    binary: Option<PathBuf>,
    /// PostgreSQL instead of SQLite (`--database-url`); required for `--nodes` > 1.
    database_url: Option<String>,
    nodes: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        shoppers: 64,
        agents: 4,
        listeners: 500,
        mix: Mix::Realistic,
        abusers: 0,
        abuse_chars: 2_000,
        limits_off: false,
        think: None,
        no_encoder: false,
        single_encoder: false,
        seconds: 20,
        warm_up: 0,
        synchronous: Synchronous::Full,
        kill_at: None,
        seed: 11,
        binary: None,
        database_url: None,
        nodes: 1,
    };
    let mut it = std::env::args().skip(1);
    let number =
        |v: Option<String>, default: u64| v.and_then(|v| v.parse().ok()).unwrap_or(default);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--shoppers" => args.shoppers = number(it.next(), 64) as usize,
            "--agents" => args.agents = number(it.next(), 4) as usize,
            "--listeners" => args.listeners = number(it.next(), 500).min(20_000) as usize,
            "--mix" => {
                args.mix = match it.next().as_deref() {
                    Some("unique") => Mix::Unique,
                    _ => Mix::Realistic,
                }
            }
            "--abusers" => args.abusers = number(it.next(), 0) as usize,
            "--abuse-chars" => args.abuse_chars = number(it.next(), 2_000).min(20_000) as usize,
            "--limits-off" => args.limits_off = true,
            "--think-ms" => args.think = Some(Duration::from_millis(number(it.next(), 0))),
            "--seconds" => args.seconds = number(it.next(), 20).min(600),
            "--warm-up" => args.warm_up = number(it.next(), 0).min(600),
            "--synchronous" => {
                args.synchronous = match it.next().as_deref() {
                    Some("normal") => Synchronous::Normal,
                    _ => Synchronous::Full,
                }
            }
            "--kill-at" => args.kill_at = it.next().and_then(|v| v.parse().ok()),
            "--seed" => args.seed = number(it.next(), 11),
            "--binary" => args.binary = it.next().map(PathBuf::from),
            "--database-url" => args.database_url = it.next(),
            "--nodes" => args.nodes = number(it.next(), 1).clamp(1, 8) as usize,
            "--no-encoder" => args.no_encoder = true,
            "--single-encoder" => args.single_encoder = true,
            // `cargo bench` passes `--bench`; anything else unknown is ignored too.
            _ => {}
        }
    }
    args
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `baton serve` process under test.
struct Server {
    child: Child,
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
}

impl Server {
    fn start(binary: &Path, config: &Path, log: &Path) -> Server {
        let stderr = std::fs::File::create(log).expect("server log");
        let child = Command::new(binary)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("baton serve starts");
        Server {
            child,
            binary: binary.to_path_buf(),
            config: config.to_path_buf(),
            log: log.to_path_buf(),
        }
    }

    /// SIGKILL, then the same configuration again (same data directory and port).
    fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Server::start(
            &self.binary.clone(),
            &self.config.clone(),
            &self.log.clone(),
        );
    }

    /// `VmRSS` and `VmHWM` (peak) of the server, in MiB.
    fn memory_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU time the server has used, user and system, in seconds (`/proc/<pid>/stat` counts
    /// in USER_HZ, 100 a second on Linux).
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name, which is in parentheses and may contain spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / 100.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's configuration file: only what differs from the defaults, so an older build
/// (`--binary`) reads it too.
fn write_config(args: &Args, data: &Path, port: u16) -> PathBuf {
    std::fs::create_dir_all(data).expect("data dir");
    let abuse = args.abusers > 0;
    let mut nlu = json!({"cache_dir": repo().join("target").join("bench-model-cache")});
    if args.no_encoder {
        nlu["encoder"] = json!("");
    }
    if args.single_encoder {
        nlu["encoder_zh"] = json!("");
    }
    let mut limits = json!({"trust_forwarded_for": abuse});
    if !abuse || args.limits_off {
        // Capacity mode: every virtual shopper shares this machine's address and types back
        // to back, which the per-address limits are there to stop.
        for (key, _) in baton::config::LimitsConfig::default().rates() {
            limits[key.trim_start_matches("limits.")] = json!({"per_minute": 0, "burst": 0});
        }
    }
    let mut config = json!({
        "addr": format!("127.0.0.1:{port}"),
        "data_dir": data,
        "kb": repo().join("kb"),
        "intents": repo().join("intents"),
        "models": repo().join("models"),
        "admin_token": ADMIN_TOKEN,
        "store": {"synchronous": format!("{:?}", args.synchronous).to_lowercase()},
        "nlu": nlu,
        "limits": limits,
        // Agents on duty whatever the hour the bench runs at, so shoppers who ask for a
        // person are queued rather than offered to leave a message.
        "hours": {"default": {"open": "00:00", "close": "24:00"}},
    });
    if let Some(url) = &args.database_url {
        config["database_url"] = json!(url);
    }
    let path = data.join("baton.toml");
    std::fs::write(&path, toml::to_string(&config).expect("config as TOML")).expect("config");
    path
}

async fn wait_ready(client: &reqwest::Client, base: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// What the shoppers type, in the realistic mix.
struct Phrasings {
    faq: Vec<String>,
    popularity: WeightedIndex<f64>,
}

impl Phrasings {
    fn from_sample_kb(seed: u64) -> Phrasings {
        let report = baton::content::load(&repo().join("kb"), &repo().join("intents"));
        let mut faq: Vec<String> = report
            .content
            .faqs
            .iter()
            .flat_map(|f| std::iter::once(f.question.clone()).chain(f.alternates.iter().cloned()))
            .collect();
        assert!(!faq.is_empty(), "the sample knowledge base has FAQs");
        // Which phrasing is popular is arbitrary but fixed by the seed.
        faq.shuffle(&mut StdRng::seed_from_u64(seed));
        let weights: Vec<f64> = (1..=faq.len()).map(|rank| 1.0 / rank as f64).collect();
        let popularity = WeightedIndex::new(&weights).expect("weights");
        Phrasings { faq, popularity }
    }

    fn message(&self, rng: &mut StdRng) -> Message {
        let roll: f64 = rng.random();
        if roll < 0.03 {
            return Message::AskForPerson(ASK_FOR_PERSON.choose(rng).copied().unwrap_or("转人工"));
        }
        if roll < 0.12 {
            return Message::Text(GREETINGS.choose(rng).copied().unwrap_or("你好").to_string());
        }
        let phrasing = &self.faq[self.popularity.sample(rng)];
        let text = if rng.random_bool(0.3) {
            match rng.random_range(0..3) {
                0 => format!(
                    "{phrasing} 订单号 {}",
                    rng.random_range(10_000_000..99_999_999u64)
                ),
                1 => format!("请问 {phrasing}"),
                _ => format!("hi, {phrasing}"),
            }
        } else {
            phrasing.clone()
        };
        Message::Text(text)
    }
}

enum Message {
    Text(String),
    AskForPerson(&'static str),
}

/// A conversation's token and the seq of each of its acknowledged messages, by
/// `client_msg_id`.
type Acknowledged = (String, HashMap<String, i64>);

/// Shared by every task of the run.
struct Run {
    client: reqwest::Client,
    /// The shoppers' requests ([`lean`]).
    lean: lean::Lean,
    /// Every node's address; a conversation's requests go to any of them (no sticky
    /// sessions), as behind a round-robin load balancer.
    bases: Vec<String>,
    next_base: AtomicUsize,
    deadline: Instant,
    /// Where the measured window starts: turns acknowledged before it are checked for
    /// loss but not counted in turns/s or latency.
    measured_from: Instant,
    think: Duration,
    mix: Mix,
    phrasings: Phrasings,
    seed: u64,
    /// Latency of each shopper message acknowledged before the deadline, in ms.
    latencies: Mutex<Vec<f64>>,
    /// Latency of each agent request (presence, queue, accept, reply, resolve) answered in
    /// the measured window, in ms: the staff side of the desk under the shoppers' load.
    agent_latencies: Mutex<Vec<f64>>,
    /// Acknowledged shopper messages per conversation: (token, client_msg_id → seq).
    acknowledged: Mutex<HashMap<String, Acknowledged>>,
    errors: AtomicUsize,
    retries: AtomicUsize,
    handoffs: AtomicUsize,
    agent_replies: AtomicUsize,
    abusers: Tally,
    shopper_statuses: Tally,
}

impl Run {
    /// The next node in turn.
    fn any_base(&self) -> &str {
        &self.bases[self.next_base.fetch_add(1, Ordering::Relaxed) % self.bases.len()]
    }

    /// The node a request about `key` goes to, spread over the nodes by a hash of the key.
    fn base_of(&self, key: &str) -> &str {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        &self.bases[h.finish() as usize % self.bases.len()]
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

/// Where each request says it comes from, in abuse mode: the proxy's `X-Forwarded-For`.
#[derive(Clone, Copy)]
enum Origin {
    Peer,
    Forwarded(std::net::Ipv4Addr),
}

impl Origin {
    fn apply(self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.forwarded() {
            None => request,
            Some(ip) => request.header("x-forwarded-for", ip.to_string()),
        }
    }

    fn forwarded(self) -> Option<std::net::Ipv4Addr> {
        match self {
            Origin::Peer => None,
            Origin::Forwarded(ip) => Some(ip),
        }
    }
}

/// How long after the deadline a message already sent may still be retried (a restart
/// near the end must not turn into lost messages).
const GRACE: Duration = Duration::from_secs(60);

/// Creates a conversation, retrying until `deadline`: its id and token.
async fn open_conversation(run: &Run, origin: Origin) -> Option<(String, String)> {
    let url = format!("{}/v1/conversations", run.any_base());
    while Instant::now() < run.deadline {
        let reply = run
            .lean
            .post(
                &url,
                None,
                origin.forwarded(),
                br#"{"channel":"load"}"#.to_vec(),
            )
            .await;
        match reply {
            Ok(r) if r.status == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                tokio::time::sleep(r.retry_after()).await;
            }
            Ok(r) if r.status.is_success() => {
                let created = r.created()?;
                return Some((created.conversation_id, created.token));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    None
}

/// Sends one shopper message until it is acknowledged (same `client_msg_id` on every
/// attempt): the outcome and the time from the first attempt, or `None` when it never was.
async fn send_until_acknowledged(
    run: &Run,
    origin: Origin,
    conversation: &(String, String),
    text: &str,
    client_msg_id: &str,
) -> Option<(lean::Acknowledged, f64)> {
    let (id, token) = conversation;
    let body = serde_json::to_vec(&json!({"text": text, "client_msg_id": client_msg_id}))
        .unwrap_or_default();
    let started = Instant::now();
    let mut attempt = 0;
    while Instant::now() < run.deadline + GRACE {
        if attempt > 0 {
            run.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        attempt += 1;
        let url = format!(
            "{}/v1/conversations/{id}/messages",
            run.base_of(&format!("{id}{attempt}"))
        );
        let reply = run
            .lean
            .post(&url, Some(token), origin.forwarded(), body.clone())
            .await;
        let Ok(reply) = reply else { continue };
        let status = reply.status;
        run.shopper_statuses.count(Some(status));
        if status.is_success() {
            let acknowledged = reply.acknowledged().unwrap_or(lean::Acknowledged {
                seq: -1,
                handed_over: false,
            });
            return Some((acknowledged, started.elapsed().as_secs_f64() * 1e3));
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            tokio::time::sleep(reply.retry_after()).await;
        } else if status.is_client_error() && status != reqwest::StatusCode::CONFLICT {
            // Refused for good (a bug in this tool or the server): not retried.
            return None;
        }
    }
    None
}

async fn shopper(run: Arc<Run>, n: usize, origin: Origin) {
    let mut rng = StdRng::seed_from_u64(run.seed.wrapping_mul(1_000_003).wrapping_add(n as u64));
    let mut sent = 0usize;
    while Instant::now() < run.deadline {
        let Some(conversation) = open_conversation(&run, origin).await else {
            return;
        };
        let length = match run.mix {
            Mix::Realistic => rng.random_range(2..=8),
            Mix::Unique => usize::MAX,
        };
        let mut with_a_person = false;
        let mut to_the_person = 0;
        let mut turns = 0;
        while turns < length && Instant::now() < run.deadline {
            let text = match (run.mix, with_a_person) {
                (Mix::Unique, _) => {
                    // A reference in letters makes every message unique: no cached vector
                    // can answer it. Not digits: the encoders read a long number by its
                    // length (`baton::encoder::numbers`), so those would repeat.
                    format!(
                        "{} (ref {})",
                        UNIQUE_QUESTIONS[(n + turns) % UNIQUE_QUESTIONS.len()],
                        in_letters(n * 1_000_000 + sent)
                    )
                }
                (Mix::Realistic, true) => "好的，我等一下".to_string(),
                (Mix::Realistic, false) => match run.phrasings.message(&mut rng) {
                    Message::Text(t) => t,
                    Message::AskForPerson(t) => t.to_string(),
                },
            };
            let client_msg_id = format!("s{n}-{sent}");
            sent += 1;
            turns += 1;
            match send_until_acknowledged(&run, origin, &conversation, &text, &client_msg_id).await
            {
                Some((outcome, ms)) => {
                    // Turns/s counts the measured window only; the rest of the message's work
                    // (verification) still counts it.
                    if (run.measured_from..=run.deadline).contains(&Instant::now()) {
                        run.latencies.lock().await.push(ms);
                    }
                    let seq = outcome.seq;
                    run.acknowledged
                        .lock()
                        .await
                        .entry(conversation.0.clone())
                        .or_insert_with(|| (conversation.1.clone(), HashMap::new()))
                        .1
                        .insert(client_msg_id, seq);
                    if !with_a_person && outcome.handed_over {
                        with_a_person = true;
                        run.handoffs.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => {
                    run.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            if with_a_person {
                to_the_person += 1;
                if to_the_person > 1 {
                    break;
                }
            }
            tokio::time::sleep(
                run.think
                    .min(run.deadline.saturating_duration_since(Instant::now())),
            )
            .await;
        }
    }
}

/// How the server's messages met the encoder so far (`baton_encoder_messages_total`, summed
/// over the nodes): embedded, remembered, skipped.
#[derive(Debug, Default)]
struct EncoderUse(HashMap<String, f64>);

impl EncoderUse {
    /// The counts of the measured window (after the warm-up), or of the whole run after a
    /// kill -9 (the restarted process counts from 0).
    fn since(&self, before: &EncoderUse) -> Value {
        self.0
            .iter()
            .map(|(outcome, n)| {
                let earlier = before.0.get(outcome).copied().unwrap_or(0.0);
                let n = if *n >= earlier { n - earlier } else { *n };
                (outcome.clone(), json!(n as u64))
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

async fn encoder_use(run: &Run) -> EncoderUse {
    let mut counts = HashMap::new();
    for base in &run.bases {
        let Ok(response) = run
            .client
            .get(format!("{base}/metrics"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
        else {
            continue;
        };
        let text = response.text().await.unwrap_or_default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("baton_encoder_messages_total{outcome=\"") else {
                continue;
            };
            if let Some((outcome, value)) = rest.split_once("\"} ") {
                *counts.entry(outcome.to_string()).or_insert(0.0) +=
                    value.trim().parse::<f64>().unwrap_or(0.0);
            }
        }
    }
    EncoderUse(counts)
}

/// `n` written in the letters a–z (base 26), so a number is not read as digits.
fn in_letters(mut n: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    out.into_iter().rev().map(char::from).collect()
}

/// One agent: stays online, accepts every offer, replies once and resolves.
async fn agent(run: Arc<Run>, n: usize) {
    // Not the node most of its conversations' shoppers talk to, when there are several.
    let base = run.bases[(n + 1) % run.bases.len()].clone();
    let created = run
        .client
        .post(format!("{base}/v1/admin/agents"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": format!("load-agent-{n}"), "skills": SKILLS, "max_chats": 8}))
        .send()
        .await;
    let Ok(created) = created else { return };
    let Ok(created) = created.json::<Value>().await else {
        return;
    };
    let Some(token) = created["token"].as_str().map(str::to_string) else {
        return;
    };
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = run
            .client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let run = run.clone();
        async move {
            let sent = Instant::now();
            let reply = request.send().await;
            if sent >= run.measured_from && Instant::now() < run.deadline {
                let ms = sent.elapsed().as_secs_f64() * 1e3;
                run.agent_latencies.lock().await.push(ms);
            }
            reply
        }
    };
    let mut last_presence = None::<Instant>;
    let mut replies = 0usize;
    while Instant::now() < run.deadline {
        // Presence, again every few seconds (it also comes back after a restart).
        if last_presence.is_none_or(|t| t.elapsed() > Duration::from_secs(3)) {
            let _ = call(
                reqwest::Method::POST,
                "/v1/agent/status".into(),
                Some(json!({"status": "online"})),
            )
            .await;
            last_presence = Some(Instant::now());
        }
        let queue = call(reqwest::Method::GET, "/v1/agent/queue".into(), None).await;
        let offered: Vec<String> = match queue {
            Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null)["offered"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|o| o["conversation_id"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        for id in offered {
            let accepted = call(
                reqwest::Method::POST,
                format!("/v1/agent/conversations/{id}/accept"),
                None,
            )
            .await;
            if !accepted.is_ok_and(|r| r.status().is_success()) {
                continue;
            }
            let reply = call(
                reqwest::Method::POST,
                format!("/v1/agent/conversations/{id}/messages"),
                Some(json!({"text": "您好，我来帮您看看。", "client_msg_id": format!("a{n}-{replies}")})),
            )
            .await;
            replies += 1;
            if reply.is_ok_and(|r| r.status().is_success()) {
                run.agent_replies.fetch_add(1, Ordering::Relaxed);
            }
            let _ = call(
                reqwest::Method::POST,
                format!("/v1/agent/conversations/{id}/resolve"),
                None,
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One abuser: posts long messages back to back until the deadline, without waiting out a
/// 429 (a flood does not).
async fn abuser(run: Arc<Run>, n: usize, origin: Origin, chars: usize) {
    let Some((id, token)) = open_conversation(&run, origin).await else {
        return;
    };
    let mut turn = 0usize;
    while Instant::now() < run.deadline {
        let text: String = format!("{turn} ")
            .chars()
            .chain("我的订单到哪了 where is my parcel ".chars().cycle())
            .take(chars)
            .collect();
        let r = origin
            .apply(run.client.post(format!(
                "{}/v1/conversations/{id}/messages",
                run.base_of(&id)
            )))
            .bearer_auth(&token)
            .json(&json!({"text": text, "client_msg_id": format!("a{n}-{turn}")}))
            .send()
            .await;
        run.abusers.count(r.ok().map(|r| r.status()));
        turn += 1;
    }
}

/// Idle widget sockets, one per conversation, held open until dropped.
async fn open_listeners(run: &Run, count: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let Some((id, token)) = open_conversation(run, Origin::Peer).await else {
            break;
        };
        let ticket: Value = match run
            .client
            .post(format!(
                "{}/v1/conversations/{id}/ws-ticket",
                run.base_of(&id)
            ))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => break,
        };
        let ticket = ticket["ticket"].as_str().unwrap_or_default();
        let url = format!(
            "{}/v1/conversations/{id}/ws?ticket={ticket}",
            run.base_of(&id).replacen("http", "ws", 1)
        );
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url).await else {
            break;
        };
        // Reading answers the server's pings; the socket closes when the task is aborted.
        held.push(tokio::spawn(async move {
            while socket.next().await.is_some() {}
        }));
    }
    held
}

/// Reads every conversation back: (acknowledged, lost, duplicated, conversations).
/// The nearest-rank `q` quantile of sorted `values` (0 when there are none).
fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values[((values.len() - 1) as f64 * q).round() as usize]
    }
}

/// p50 / p90 / p99 / max and the count of `latencies`, in ms.
fn latency_summary(mut latencies: Vec<f64>) -> Value {
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| percentile(&latencies, q);
    json!({"samples": latencies.len(), "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)})
}

async fn verify(run: &Run) -> (usize, usize, usize, usize) {
    let acknowledged = std::mem::take(&mut *run.acknowledged.lock().await);
    let conversations = acknowledged.len();
    let checks = futures::stream::iter(acknowledged)
        .map(|(id, (token, sent))| async move {
            let mut stored: HashMap<String, Vec<i64>> = HashMap::new();
            let mut after = 0i64;
            loop {
                let page = run
                    .client
                    .get(format!(
                        "{}/v1/conversations/{id}/messages?after={after}",
                        run.base_of(&id)
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await;
                let Ok(page) = page else { break };
                let page: Value = page.json().await.unwrap_or(Value::Null);
                let messages = page["messages"].as_array().cloned().unwrap_or_default();
                if messages.is_empty() {
                    break;
                }
                for m in &messages {
                    after = after.max(m["seq"].as_i64().unwrap_or(after));
                    if let Some(key) = m["client_msg_id"].as_str() {
                        stored
                            .entry(key.to_string())
                            .or_default()
                            .push(m["seq"].as_i64().unwrap_or(-1));
                    }
                }
            }
            let lost = sent
                .iter()
                .filter(|(key, seq)| !stored.get(*key).is_some_and(|s| s.contains(seq)))
                .count();
            let duplicated = stored.values().filter(|seqs| seqs.len() > 1).count();
            (sent.len(), lost, duplicated)
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let (sent, lost, duplicated) = checks
        .iter()
        .fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    (sent, lost, duplicated, conversations)
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
    if args.nodes > 1 && args.database_url.is_none() {
        panic!("--nodes needs --database-url postgres://… (an empty database)");
    }
    let data = tempfile::tempdir().expect("temp dir");
    let binary = args
        .binary
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_baton")));
    let mut servers = Vec::new();
    let mut bases = Vec::new();
    for node in 0..args.nodes {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = data.path().join(format!("node{node}"));
        let config = write_config(&args, &dir, port);
        servers.push(Server::start(&binary, &config, &dir.join("server.log")));
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.shoppers + args.abusers + args.agents)
        .build()
        .expect("client");
    for (node, base) in bases.iter().enumerate() {
        if !wait_ready(&client, base, Duration::from_secs(300)).await {
            panic!(
                "node {node} did not become ready: {}",
                std::fs::read_to_string(data.path().join(format!("node{node}/server.log")))
                    .unwrap_or_default()
            );
        }
    }
    let memory = |servers: &[Server]| {
        servers.iter().fold((0.0, 0.0), |(r, p), s| {
            let (rss, peak) = s.memory_mib();
            (r + rss, p + peak)
        })
    };
    let cpu = |servers: &[Server]| servers.iter().map(Server::cpu_seconds).sum::<f64>();
    let idle = memory(&servers).0;

    let mut run = Run {
        client,
        lean: lean::Lean::new(),
        bases,
        next_base: AtomicUsize::new(0),
        deadline: Instant::now(),
        measured_from: Instant::now(),
        think,
        mix: args.mix,
        phrasings: Phrasings::from_sample_kb(args.seed),
        seed: args.seed,
        latencies: Mutex::new(Vec::new()),
        agent_latencies: Mutex::new(Vec::new()),
        acknowledged: Mutex::new(HashMap::new()),
        errors: AtomicUsize::new(0),
        retries: AtomicUsize::new(0),
        handoffs: AtomicUsize::new(0),
        agent_replies: AtomicUsize::new(0),
        abusers: Tally::default(),
        shopper_statuses: Tally::default(),
    };
    run.deadline = Instant::now() + Duration::from_secs(600);
    let listeners = open_listeners(&run, args.listeners).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_listeners = memory(&servers).0;
    // Before the load agents exist, so the probe's conversation goes to the probe's agent.
    let probe = if run.bases.len() > 1 {
        cross_node::Probe::set_up(
            &run.client,
            &run.bases[0],
            &run.bases[1],
            ADMIN_TOKEN,
            SKILLS,
        )
        .await
    } else {
        None
    };

    run.measured_from = Instant::now() + Duration::from_secs(args.warm_up);
    run.deadline = run.measured_from + Duration::from_secs(args.seconds);
    let run = Arc::new(run);
    let started = Instant::now();
    let mut cpu_before = cpu(&servers);
    let mut tasks = Vec::new();
    for n in 0..args.shoppers {
        let origin = if abuse {
            let [_, _, b, c] = (n as u32).to_be_bytes();
            Origin::Forwarded(std::net::Ipv4Addr::new(10, 1, b, c))
        } else {
            Origin::Peer
        };
        tasks.push(tokio::spawn(shopper(run.clone(), n, origin)));
    }
    if args.mix == Mix::Realistic {
        for n in 0..args.agents {
            tasks.push(tokio::spawn(agent(run.clone(), n)));
        }
    }
    // One documentation address (RFC 5737) for all of them: one client, many connections.
    let flooder = Origin::Forwarded(std::net::Ipv4Addr::new(203, 0, 113, 7));
    for n in 0..args.abusers {
        tasks.push(tokio::spawn(abuser(
            run.clone(),
            n,
            flooder,
            args.abuse_chars,
        )));
    }
    let mut encoder_before = EncoderUse::default();
    if args.warm_up > 0 {
        tokio::time::sleep_until(run.measured_from.into()).await;
        cpu_before = cpu(&servers);
        encoder_before = encoder_use(&run).await;
    }
    let probing = probe.map(|p| tokio::spawn(p.run(run.client.clone(), run.deadline)));
    let mut restarted = None;
    if let Some(at) = args.kill_at.filter(|at| *at < args.seconds) {
        tokio::time::sleep(Duration::from_secs(at)).await;
        servers[0].kill_and_restart();
        let killed = Instant::now();
        if wait_ready(&run.client, &run.bases[0], Duration::from_secs(300)).await {
            restarted = Some(killed.elapsed().as_secs_f64());
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let encoder_after = encoder_use(&run).await;
    let elapsed = started.elapsed().as_secs_f64();
    // After a kill -9 only the second process's time is known.
    let server_cpu = cpu(&servers) - if restarted.is_some() { 0.0 } else { cpu_before };
    let (end_rss, peak_rss) = memory(&servers);
    let cross_node = match probing {
        Some(p) => p.await.ok(),
        None => None,
    };
    let (acknowledged, lost, duplicated, conversations) = verify(&run).await;
    for l in &listeners {
        l.abort();
    }

    let mut l = run.latencies.lock().await.clone();
    l.sort_by(f64::total_cmp);
    let pct = |q: f64| percentile(&l, q);
    let mut report = json!({
        "mix": if args.mix == Mix::Realistic { "realistic" } else { "unique" },
        "shoppers": args.shoppers,
        "agents": if args.mix == Mix::Realistic { args.agents } else { 0 },
        "idle_listeners": listeners.len(),
        "think_ms": think.as_millis() as u64,
        "seconds": args.seconds,
        "warm_up_seconds": args.warm_up,
        "wall_seconds": elapsed,
        "nodes": args.nodes,
        "store": if args.database_url.is_some() { "postgresql" } else { "sqlite" },
        "synchronous": format!("{:?}", args.synchronous).to_lowercase(),
        "encoder": !args.no_encoder,
        "chinese_encoder": if args.no_encoder || args.single_encoder { "same as English" } else { "configured (multilingual-e5-small when installed)" },
        "rate_limits": abuse && !args.limits_off,
        "turns": l.len(),
        "turns_per_second": l.len() as f64 / args.seconds as f64,
        "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)},
        "server_cpu_ms_per_turn": server_cpu * 1e3 / l.len().max(1) as f64,
        "encoder_messages": encoder_after.since(&encoder_before),
        "errors": run.errors.load(Ordering::Relaxed),
        "retries": run.retries.load(Ordering::Relaxed),
        "handoffs": run.handoffs.load(Ordering::Relaxed),
        "agent_replies": run.agent_replies.load(Ordering::Relaxed),
        "agent_latency_ms": latency_summary(run.agent_latencies.lock().await.clone()),
        "checked": {
            "conversations": conversations,
            "acknowledged": acknowledged,
            "lost": lost,
            "duplicated": duplicated,
        },
        "server_rss_mib": {
            "ready": idle,
            "with_listeners": with_listeners,
            "end": end_rss,
            "peak": peak_rss,
        },
    });
    if let Some(latencies) = cross_node {
        report["cross_node_delivery_ms"] = latency_summary(latencies);
    }
    if let Some(at) = args.kill_at {
        report["kill_9"] = json!({"at_second": at, "ready_again_after_s": restarted});
    }
    if abuse {
        report["shopper_requests"] = run.shopper_statuses.json();
        report["abusers"] = json!({
            "clients": args.abusers,
            "chars": args.abuse_chars,
            "messages": run.abusers.json(),
        });
    }
    println!("{report:#}");
}
