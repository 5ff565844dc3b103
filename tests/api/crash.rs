//! Kill -9 in the middle of a handoff: the real binary, a real crash, the same data
//! directory. The queue, the assignment, unread messages and timers come back, the agent's
//! token still works, and both sides carry on where they were.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::baton;
use crate::helpers::repo;

pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

async fn start(data_dir: &Path) -> Server {
    start_with(data_dir, &[]).await
}

pub(crate) async fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
    // Port 0: the system gives the server a free port as it binds, and the server names it
    // in its log. A port found free here and let go could be taken by another test's
    // listener before the server binds it.
    let child = baton()
        .envs(env.iter().copied())
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--kb")
        .arg(repo().join("kb"))
        .arg("--intents")
        .arg(repo().join("intents"))
        .arg("--models")
        .arg(repo().join("models"))
        .env(
            "BATON_NLU__CACHE_DIR",
            repo().join("target").join("test-model-cache"),
        )
        // Agents on duty whatever the time of day this test runs.
        .env("BATON_HOURS__DEFAULT__OPEN", "00:00")
        .env("BATON_HOURS__DEFAULT__CLOSE", "24:00")
        .envs(crate::database::store_env(data_dir))
        .stdout(Stdio::null())
        .stderr(server_log(data_dir))
        .spawn()
        .expect("baton serve starts");
    // Owned at once, so a failing test still kills the process (see `Drop`).
    let mut server = Server {
        child,
        base: String::new(),
    };
    let client = reqwest::Client::new();
    for _ in 0..600 {
        let log = std::fs::read_to_string(data_dir.join(SERVER_LOG)).unwrap_or_default();
        if server.base.is_empty()
            && let Some(addr) = listening_addr(&log)
        {
            server.base = format!("http://{addr}");
        }
        if !server.base.is_empty()
            && let Ok(r) = client.get(format!("{}/readyz", server.base)).send().await
            && r.status() == 200
        {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("baton serve exited ({status}) before it was ready:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "baton serve did not become ready:\n{}",
        std::fs::read_to_string(data_dir.join(SERVER_LOG)).unwrap_or_default()
    );
}

/// The address in the server's "Baton is listening addr=…" line.
fn listening_addr(log: &str) -> Option<&str> {
    let line = log.lines().find(|l| l.contains("Baton is listening"))?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))
}

/// Where a server started here writes its log (warnings and errors), for failures to show.
const SERVER_LOG: &str = "server.log";

fn server_log(data_dir: &Path) -> Stdio {
    std::fs::File::create(data_dir.join(SERVER_LOG)).map_or_else(|_| Stdio::null(), Stdio::from)
}

impl Server {
    /// SIGKILL: no shutdown, no checkpoint, nothing flushed that was not already durable.
    pub(crate) fn kill(self) {
        drop(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_killed_server_resumes_queue_assignment_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let out = baton()
        .args([
            "agent",
            "add",
            "--name",
            "王芳",
            "--skills",
            "general,after_sales",
            "--max-chats",
            "1",
            "--data-dir",
        ])
        .arg(dir.path())
        .envs(crate::database::store_env(dir.path()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let agent = stdout.lines().last().unwrap().trim().to_string();

    let server = start(dir.path()).await;
    let c = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;
    let (s, _) = call(
        &c,
        post.clone(),
        format!("{}/v1/agent/status", server.base),
        &agent,
        Some(json!({"status": "online"})),
    )
    .await;
    assert_eq!(s, 200);
    let mut shoppers = Vec::new();
    for _ in 0..2 {
        let (_, created) = call(
            &c,
            post.clone(),
            format!("{}/v1/conversations", server.base),
            "",
            Some(json!({"locale": "zh"})),
        )
        .await;
        let id = created["conversation_id"].as_str().unwrap().to_string();
        let token = created["token"].as_str().unwrap().to_string();
        let (s, out) = call(
            &c,
            post.clone(),
            format!("{}/v1/conversations/{id}/messages", server.base),
            &token,
            Some(json!({"text": "转人工", "client_msg_id": "m1"})),
        )
        .await;
        assert_eq!((s, out["state"].as_str()), (201, Some("queued")));
        shoppers.push((id, token));
    }
    let (first, first_token) = shoppers[0].clone();
    let (second, _) = shoppers[1].clone();
    // The dispatcher offers the first conversation; the agent (capacity 1) takes it.
    let mut accepted = false;
    for _ in 0..100 {
        let (s, _) = call(
            &c,
            post.clone(),
            format!("{}/v1/agent/conversations/{first}/accept", server.base),
            &agent,
            None,
        )
        .await;
        if s == 200 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(accepted);
    let (s, _) = call(
        &c,
        post.clone(),
        format!("{}/v1/agent/conversations/{first}/messages", server.base),
        &agent,
        Some(json!({"text": "您好，我来处理", "client_msg_id": "a1"})),
    )
    .await;
    assert_eq!(s, 201);
    let (_, unread) = call(
        &c,
        post.clone(),
        format!("{}/v1/conversations/{first}/messages", server.base),
        &first_token,
        Some(json!({"text": "订单MM202611110001", "client_msg_id": "m2"})),
    )
    .await;
    let unread_seq = unread["message"]["seq"].as_i64().unwrap();

    server.kill();
    let server = start(dir.path()).await;

    // The assignment, the queue and the transcript are all there.
    let (s, q) = call(
        &c,
        get.clone(),
        format!("{}/v1/agent/queue", server.base),
        &agent,
        None,
    )
    .await;
    assert_eq!(s, 200, "the agent's token still works: {q}");
    assert_eq!(q["assigned"][0]["conversation_id"], first.as_str(), "{q:#}");
    assert_eq!(q["queued"][0]["conversation_id"], second.as_str(), "{q:#}");
    let (_, view) = call(
        &c,
        get.clone(),
        format!("{}/v1/agent/conversations/{first}", server.base),
        &agent,
        None,
    )
    .await;
    let last = view["transcript"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["seq"].as_i64(), last["text"].as_str()),
        (Some(unread_seq), Some("订单MM202611110001"))
    );
    // A retried message after the crash is not stored twice.
    let (s, dup) = call(
        &c,
        post.clone(),
        format!("{}/v1/conversations/{first}/messages", server.base),
        &first_token,
        Some(json!({"text": "订单MM202611110001", "client_msg_id": "m2"})),
    )
    .await;
    assert_eq!((s, dup["duplicate"].as_bool()), (200, Some(true)));
    // Both sides continue; resolving frees the agent, who is then offered the next one.
    let (s, _) = call(
        &c,
        post.clone(),
        format!("{}/v1/agent/conversations/{first}/messages", server.base),
        &agent,
        Some(json!({"text": "已查到，明天送达"})),
    )
    .await;
    assert_eq!(s, 201);
    let (_, page) = call(
        &c,
        get.clone(),
        format!(
            "{}/v1/conversations/{first}/messages?after={unread_seq}",
            server.base
        ),
        &first_token,
        None,
    )
    .await;
    assert_eq!(page["messages"][0]["text"], "已查到，明天送达");
    let (s, _) = call(
        &c,
        post.clone(),
        format!("{}/v1/agent/conversations/{first}/resolve", server.base),
        &agent,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let mut offered = false;
    for _ in 0..100 {
        let (_, q) = call(
            &c,
            get.clone(),
            format!("{}/v1/agent/queue", server.base),
            &agent,
            None,
        )
        .await;
        if q["offered"][0]["conversation_id"] == second.as_str() {
            offered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(offered, "the waiting conversation goes to the freed agent");
    server.kill();
}

/// Shoppers typing back to back when the server is killed: every message it acknowledged
/// is there after the restart, exactly once, at the seq it was acknowledged with; those in
/// flight go through once when retried with their `client_msg_id`.
#[tokio::test]
async fn a_kill_in_the_middle_of_concurrent_turns_loses_no_acknowledged_message() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let env = [
        // The n-gram path: many turns a second even in a debug build.
        ("BATON_NLU__ENCODER", ""),
        ("BATON_LIMITS__CONVERSATION_MESSAGES__PER_MINUTE", "0"),
        ("BATON_LIMITS__CONVERSATION_MESSAGES__BURST", "0"),
        ("BATON_LIMITS__IP_MESSAGES__PER_MINUTE", "0"),
        ("BATON_LIMITS__IP_MESSAGES__BURST", "0"),
    ];
    let server = start_with(dir.path(), &env).await;
    let client = reqwest::Client::new();
    let mut conversations = Vec::new();
    for _ in 0..12 {
        let r = client
            .post(format!("{}/v1/conversations", server.base))
            .json(&json!({"locale": "zh"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        conversations.push((
            v["conversation_id"].as_str().unwrap().to_string(),
            v["token"].as_str().unwrap().to_string(),
        ));
    }
    // Per conversation: client_msg_id → acknowledged seq, and the one in flight at the kill.
    let acknowledged = Arc::new(Mutex::new(HashMap::<String, HashMap<String, i64>>::new()));
    let in_flight = Arc::new(Mutex::new(HashMap::<String, String>::new()));
    let mut shoppers = Vec::new();
    for (id, token) in conversations.clone() {
        let (client, base) = (client.clone(), server.base.clone());
        let (acknowledged, in_flight) = (acknowledged.clone(), in_flight.clone());
        shoppers.push(tokio::spawn(async move {
            for n in 0.. {
                let key = format!("m{n}");
                in_flight.lock().unwrap().insert(id.clone(), key.clone());
                let sent = client
                    .post(format!("{base}/v1/conversations/{id}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"text": format!("退款多久能到账 {n}"), "client_msg_id": key}))
                    .send()
                    .await;
                let Ok(r) = sent else { return };
                if !r.status().is_success() {
                    return;
                }
                let Ok(v) = r.json::<Value>().await else {
                    return;
                };
                let seq = v["message"]["seq"].as_i64().unwrap();
                acknowledged
                    .lock()
                    .unwrap()
                    .entry(id.clone())
                    .or_default()
                    .insert(key, seq);
                in_flight.lock().unwrap().remove(&id);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    for s in shoppers {
        s.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let in_flight = in_flight.lock().unwrap().clone();
    let total: usize = acknowledged.values().map(HashMap::len).sum();
    assert!(
        total >= 12,
        "the shoppers got going before the kill: {total}"
    );

    let server = start_with(dir.path(), &env).await;
    for (id, token) in &conversations {
        if let Some(key) = in_flight.get(id) {
            let (status, v) = call(
                &client,
                reqwest::Method::POST,
                format!("{}/v1/conversations/{id}/messages", server.base),
                token,
                Some(json!({"text": "退款多久能到账 again", "client_msg_id": key})),
            )
            .await;
            assert!(status == 200 || status == 201, "{status}: {v}");
        }
        let mut stored: HashMap<String, Vec<i64>> = HashMap::new();
        let mut after = 0;
        loop {
            let (status, page) = call(
                &client,
                reqwest::Method::GET,
                format!(
                    "{}/v1/conversations/{id}/messages?after={after}&limit=200",
                    server.base
                ),
                token,
                None,
            )
            .await;
            assert_eq!(status, 200, "{page}");
            let messages = page["messages"].as_array().unwrap();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                after = m["seq"].as_i64().unwrap();
                if let Some(key) = m["client_msg_id"].as_str() {
                    stored.entry(key.to_string()).or_default().push(after);
                }
            }
        }
        for (key, seq) in acknowledged.get(id).into_iter().flatten() {
            assert_eq!(stored.get(key), Some(&vec![*seq]), "{id} {key}");
        }
        if let Some(key) = in_flight.get(id) {
            assert_eq!(stored.get(key).map(Vec::len), Some(1), "{id} {key}");
        }
        assert!(stored.values().all(|seqs| seqs.len() == 1));
        let expected =
            acknowledged.get(id).map_or(0, HashMap::len) + usize::from(in_flight.contains_key(id));
        assert_eq!(stored.len(), expected, "{id}");
    }
    server.kill();
}
