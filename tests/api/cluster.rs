//! Three real `baton serve` processes on one PostgreSQL database: a shopper on one node, the
//! agent on another, the desk's node killed (SIGKILL) in the middle of the conversation.
//! Nothing acknowledged is lost, nothing reaches a socket twice, and another node takes
//! over the desk; a node whose listener is cut catches up; a block made or lifted on one node
//! holds on the other within its refresh. Runs whichever store the rest of the suite uses (it
//! needs PostgreSQL).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::crash::{Server, call, start_with};
use crate::helpers::Socket;

const ADMIN: &str = "cluster-admin-token-0123456789";

/// A node on the shared database, in a data directory of its own.
async fn node(database: &str, dir: &Path) -> Server {
    crate::database::use_database(dir, database);
    start_with(
        dir,
        &[
            ("BATON_DATABASE_URL", database),
            ("BATON_ADMIN_TOKEN", ADMIN),
            // The sample model, not the sentence encoder: this is about delivery.
            ("BATON_NLU__ENCODER", ""),
        ],
    )
    .await
}

/// `n` nodes on a new database, started one after another (the first takes the desk lease),
/// with the data directories they must outlive.
async fn cluster<const N: usize>() -> (String, Vec<tempfile::TempDir>, [Server; N]) {
    let database = crate::database::new_database();
    let dirs: Vec<_> = (0..N).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::with_capacity(N);
    for dir in &dirs {
        nodes.push(node(&database, dir.path()).await);
    }
    let Ok(nodes) = <[Server; N]>::try_from(nodes) else {
        unreachable!("one node per directory")
    };
    (database, dirs, nodes)
}

async fn post(
    c: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    call(c, Method::POST, format!("{base}{path}"), token, Some(body)).await
}

/// Opens a socket with a one-time ticket taken from `ticket_path`.
async fn socket(
    c: &reqwest::Client,
    base: &str,
    ticket_path: &str,
    token: &str,
    ws_path: &str,
) -> Socket {
    let (s, t) = post(c, base, ticket_path, token, json!({})).await;
    assert_eq!(s, 201, "{t}");
    let ticket = t["ticket"].as_str().unwrap();
    let sep = if ws_path.contains('?') { '&' } else { '?' };
    Socket::connect(base, &format!("{ws_path}{sep}ticket={ticket}")).await
}

/// Message events of `conversation` on a socket within `quiet`, by seq (each seq counted).
async fn messages(
    ws: &mut Socket,
    conversation: &str,
    quiet: Duration,
    seen: &mut HashMap<i64, (u32, String)>,
) {
    count_messages(&ws.drain(quiet).await, conversation, seen);
}

/// Counts the message events of `conversation` among `events`, by seq.
fn count_messages(events: &[Value], conversation: &str, seen: &mut HashMap<i64, (u32, String)>) {
    for e in events {
        if e["type"] == "message" && e["conversation_id"] == conversation {
            let seq = e["message"]["seq"].as_i64().unwrap();
            let text = e["message"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            seen.entry(seq).or_insert((0, text)).0 += 1;
        }
    }
}

/// The shopper of conversation `id` says `text` on `base`; the status and the body.
async fn say(
    c: &reqwest::Client,
    base: &str,
    (id, token): (&str, &str),
    text: &str,
    client_msg_id: &str,
) -> (u16, Value) {
    post(
        c,
        base,
        &format!("/v1/conversations/{id}/messages"),
        token,
        json!({"text": text, "client_msg_id": client_msg_id}),
    )
    .await
}

/// A new Chinese conversation on `base`: (id, token).
async fn open_conversation(c: &reqwest::Client, base: &str) -> (String, String) {
    let (s, created) = post(c, base, "/v1/conversations", "", json!({"locale": "zh"})).await;
    assert_eq!(s, 201, "{created}");
    let id = created["conversation_id"].as_str().unwrap().to_string();
    let token = created["token"].as_str().unwrap().to_string();
    (id, token)
}

/// The shopper's socket on `base`, replaying what came after `after`.
async fn shopper_socket(
    c: &reqwest::Client,
    base: &str,
    (id, token): (&str, &str),
    after: i64,
) -> Socket {
    socket(
        c,
        base,
        &format!("/v1/conversations/{id}/ws-ticket"),
        token,
        &format!("/v1/conversations/{id}/ws?after={after}"),
    )
    .await
}

/// Asks for a person on `base`; returns (id, token).
async fn escalated(c: &reqwest::Client, base: &str) -> (String, String) {
    let (id, token) = open_conversation(c, base).await;
    let (s, out) = say(c, base, (&id, &token), "转人工", "ask").await;
    assert_eq!((s, out["state"].as_str()), (201, Some("queued")), "{out}");
    (id, token)
}

#[tokio::test]
async fn three_nodes_hand_a_conversation_over_and_survive_the_desk_node_dying() {
    // The first node up takes the desk lease on its first pass: it is the one killed.
    let (_database, _dirs, [a, b, c_node]) = cluster::<3>().await;
    let c = reqwest::Client::new();

    let (s, added) = post(
        &c,
        &c_node.base,
        "/v1/admin/agents",
        ADMIN,
        json!({"name": "王芳", "skills": ["general", "after_sales", "complaints", "orders"], "max_chats": 3}),
    )
    .await;
    assert_eq!(s, 201, "{added}");
    let agent = added["token"].as_str().unwrap().to_string();
    let (s, _) = post(
        &c,
        &b.base,
        "/v1/agent/status",
        &agent,
        json!({"status": "online"}),
    )
    .await;
    assert_eq!(s, 200);
    let mut agent_ws = socket(&c, &b.base, "/v1/agent/ws-ticket", &agent, "/v1/agent/ws").await;
    agent_ws.until("hello", |v| v["type"] == "hello").await;

    // The shopper is on node A; the agent hears of them on node B.
    let (id, token) = escalated(&c, &a.base).await;
    let mut shopper_ws = shopper_socket(&c, &a.base, (&id, &token), 0).await;
    agent_ws
        .until("offer relayed from the desk's node", |v| {
            v["type"] == "offer" && v["conversation_id"] == id.as_str()
        })
        .await;
    let (s, accepted) = post(
        &c,
        &b.base,
        &format!("/v1/agent/conversations/{id}/accept"),
        &agent,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{accepted}");
    let (s, _) = post(
        &c,
        &b.base,
        &format!("/v1/agent/conversations/{id}/messages"),
        &agent,
        json!({"text": "您好，我是王芳", "client_msg_id": "a1"}),
    )
    .await;
    assert_eq!(s, 201);
    shopper_ws
        .until("the agent's message, across nodes", |v| {
            v["type"] == "message" && v["message"]["text"] == "您好，我是王芳"
        })
        .await;

    // Acknowledged shopper messages on node A, then A dies without a goodbye.
    let mut acknowledged = Vec::new();
    for i in 1..=5 {
        let text = format!("第{i}条：订单MM20261111000{i}");
        let (s, out) = say(&c, &a.base, (&id, &token), &text, &format!("s{i}")).await;
        assert_eq!(s, 201, "{out}");
        acknowledged.push((format!("s{i}"), text));
    }
    a.kill();
    drop(shopper_ws);

    // The shopper's widget reconnects through the load balancer to node C and, unsure
    // whether its last message arrived, sends it again; then goes on.
    let (s, again) = say(&c, &c_node.base, (&id, &token), &acknowledged[4].1, "s5").await;
    assert!(s == 200 || s == 201, "{s} {again}");
    for i in 6..=8 {
        let text = format!("第{i}条");
        let (s, _) = say(&c, &c_node.base, (&id, &token), &text, &format!("s{i}")).await;
        assert_eq!(s, 201);
        acknowledged.push((format!("s{i}"), text));
    }

    // Another node takes the desk over: a new escalation on C is offered to the agent on B.
    let (second, _) = escalated(&c, &c_node.base).await;
    let mut offered = false;
    for _ in 0..60 {
        let (_, q) = call(
            &c,
            Method::GET,
            format!("{}/v1/agent/queue", b.base),
            &agent,
            None,
        )
        .await;
        if q["offered"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x["conversation_id"] == second.as_str()))
        {
            offered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        offered,
        "no node took the desk over after the desk's node died"
    );

    // Everything acknowledged is in the transcript exactly once, in order.
    let (_, transcript) = call(
        &c,
        Method::GET,
        format!("{}/v1/conversations/{id}/messages?after=0", b.base),
        &token,
        None,
    )
    .await;
    let shopper_texts: Vec<&str> = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["author"] == "shopper")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = std::iter::once("转人工")
        .chain(acknowledged.iter().map(|(_, t)| t.as_str()))
        .collect();
    assert_eq!(shopper_texts, expected);

    // The agent's socket on B saw every shopper message once, whichever node took it.
    let mut seen = HashMap::new();
    messages(&mut agent_ws, &id, Duration::from_secs(2), &mut seen).await;
    let twice: Vec<_> = seen.iter().filter(|(_, (n, _))| *n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
    let seqs: Vec<i64> = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["author"] == "shopper" && m["text"] != "转人工")
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    let missing: Vec<_> = seqs.iter().filter(|s| !seen.contains_key(s)).collect();
    assert!(
        missing.is_empty(),
        "never reached the agent: {missing:?} (saw {seen:?})"
    );

    // The shopper's socket, reopened on C from where it was, gets the rest once each.
    let last_seen = seqs[4] - 1;
    let mut shopper_ws = shopper_socket(&c, &c_node.base, (&id, &token), last_seen).await;
    let mut replayed = HashMap::new();
    messages(&mut shopper_ws, &id, Duration::from_secs(1), &mut replayed).await;
    assert!(replayed.keys().all(|s| *s > last_seen));
    assert!(replayed.values().all(|(n, _)| *n == 1), "{replayed:?}");
    drop((b, c_node));
}

/// Cuts every node's LISTEN connection, as a database restart or a network fault would;
/// how many were cut.
async fn cut_listeners(database: &str) -> usize {
    use sqlx::Connection;
    let mut db = sqlx::postgres::PgConnection::connect(database)
        .await
        .unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    cut.len()
}

#[tokio::test]
async fn a_node_that_loses_its_listener_catches_up_and_delivers_nothing_twice() {
    let (database, _dirs, [a, b]) = cluster::<2>().await;
    let c = reqwest::Client::new();
    let (id, token) = open_conversation(&c, &a.base).await;

    // The widget's socket is on B; its messages go to A.
    let mut ws = shopper_socket(&c, &b.base, (&id, &token), 0).await;
    ws.until("hello", |v| v["type"] == "hello").await;
    let (s, _) = say(&c, &a.base, (&id, &token), "你好", "m1").await;
    assert_eq!(s, 201);
    ws.until("a message relayed from A", |v| {
        v["type"] == "message" && v["message"]["text"] == "你好"
    })
    .await;

    // Both nodes lose their listener; what A stores meanwhile B hears of by no
    // notification, only by catching up once its listener is back.
    assert!(cut_listeners(&database).await >= 2);
    let mut said = Vec::new();
    for i in 2..=4 {
        let text = format!("第{i}条消息");
        let (s, out) = say(&c, &a.base, (&id, &token), &text, &format!("m{i}")).await;
        assert_eq!(s, 201, "{out}");
        said.push(text);
    }
    let events = ws.drain(Duration::from_secs(3)).await;
    assert!(
        events.iter().any(|e| e["type"] == "hello"),
        "no resync after the listener came back: {events:?}"
    );
    let mut seen = HashMap::new();
    count_messages(&events, &id, &mut seen);
    let twice: Vec<_> = seen.iter().filter(|(_, (n, _))| *n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
    for text in &said {
        assert!(
            seen.values().any(|(_, t)| t == text),
            "{text} never reached the socket on B: {seen:?}"
        );
    }
    drop((a, b));
}

/// Whether `base` refuses a new conversation from this client as blocked, within 10 s.
async fn refused_within(c: &reqwest::Client, base: &str, blocked: bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, _) = post(c, base, "/v1/conversations", "", json!({"locale": "zh"})).await;
        if (s == 403) == blocked {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_block_made_on_one_node_holds_on_the_other_and_so_does_its_lift() {
    let (_database, _dirs, [a, b]) = cluster::<2>().await;
    let c = reqwest::Client::new();
    let (s, block) = post(
        &c,
        &a.base,
        "/v1/admin/blocks",
        ADMIN,
        json!({"network": "127.0.0.0/8", "reason": "cluster test"}),
    )
    .await;
    assert_eq!(s, 201, "{block}");
    let (s, _) = post(&c, &a.base, "/v1/conversations", "", json!({})).await;
    assert_eq!(s, 403, "at once on the node that made it");
    assert!(
        refused_within(&c, &b.base, true).await,
        "the other node refuses within its refresh"
    );

    let id = block["id"].as_str().unwrap();
    let (s, lifted) = call(
        &c,
        Method::DELETE,
        format!("{}/v1/admin/blocks/{id}", b.base),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(s, 200, "{lifted}");
    assert!(
        refused_within(&c, &a.base, false).await,
        "lifted on the other node too"
    );
}
