//! What an idle WebSocket costs: starts the real `baton` binary, opens many shopper sockets
//! (one per conversation, as the widget does) and many agent sockets, and reads the server's
//! resident memory before and after. Prints one JSON object.
//!
//! ```sh
//! cargo bench --bench sockets -- --sockets 10000
//! ```
//!
//! The server is a separate process, so its memory is measured alone (`VmRSS` from
//! `/proc/<pid>/status`, Linux only). Each process needs a file descriptor per socket:
//! raise `ulimit -n` above the socket count first.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn main() {
    let mut sockets = 2000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--sockets" => sockets = args.next().and_then(|v| v.parse().ok()).unwrap_or(sockets),
            "--bench" => {}
            other => eprintln!("ignoring argument {other}"),
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run(sockets));
}

async fn run(sockets: usize) {
    let data = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data.path())
        .arg("--kb")
        .arg(repo().join("kb"))
        .arg("--intents")
        .arg(repo().join("intents"))
        .arg("--models")
        .arg(repo().join("models"))
        .env(
            "BATON_NLU__CACHE_DIR",
            repo().join("target").join("bench-model-cache"),
        )
        .env("BATON_STORE__SYNCHRONOUS", "normal")
        // Every conversation comes from this one address, which the per-address limit on
        // new conversations is there to stop.
        .env("BATON_LIMITS__IP_CONVERSATIONS__PER_MINUTE", "0")
        .env("BATON_LIMITS__IP_CONVERSATIONS__BURST", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("baton serve starts");
    let pid = child.id();
    let _server = Server { child };
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Conversations first, so the sockets are the only difference measured.
    let mut conversations = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        let v: Value = client
            .post(format!("{base}/v1/conversations"))
            .json(&json!({"locale": "zh"}))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("create")
            .json()
            .await
            .expect("json");
        conversations.push((
            v["conversation_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            v["token"].as_str().unwrap_or_default().to_string(),
        ));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    let started = Instant::now();
    let mut open = Vec::with_capacity(sockets);
    for (id, token) in &conversations {
        // As the widget does: the token buys a one-time ticket; only the ticket is in the URL.
        let v: Value = client
            .post(format!("{base}/v1/conversations/{id}/ws-ticket"))
            .bearer_auth(token)
            .send()
            .await
            .expect("ticket")
            .json()
            .await
            .expect("json");
        let ticket = v["ticket"].as_str().unwrap_or_default();
        let url = format!("ws://127.0.0.1:{port}/v1/conversations/{id}/ws?ticket={ticket}");
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("socket opens");
        // The hello proves the session is set up server-side.
        let _ = ws.next().await;
        open.push(ws);
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    let per_socket = (after.saturating_sub(before) as f64 * 1024.0) / sockets as f64;
    println!(
        "{}",
        json!({
            "sockets": sockets,
            "server_rss_before_mib": before as f64 / 1024.0,
            "server_rss_after_mib": after as f64 / 1024.0,
            "bytes_per_idle_socket": per_socket.round(),
            "open_seconds": opened_in.as_secs_f64(),
        })
    );
    drop(open);
}
