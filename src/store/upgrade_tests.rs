//! A shop's database written before a migration reads right after it, on both stores.
//!
//! ```text
//! copy of the migration files up to the one before ─► Migrator::new(copy).run
//!   ─► rows written in that schema (portable SQL, literal values)
//!   ─► SqliteStore / PgStore::open runs the rest ─► the rows read through the Store
//! ```

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;

use futures::FutureExt;
use sqlx::migrate::Migrator;

use super::test_db::PgDatabase;
use super::{PgStore, SqliteStore, Store, TurnWrite};
use crate::config::StoreConfig;
use crate::conversation::{Author, Conversation, ConversationState, Message};
use crate::handoff::{Escalation, EscalationReason, Handoff, Priority};
use crate::nlu::Lang;

/// A directory holding the migrations before `first_not_run` (e.g. `"0012"`).
fn migrations_before(first_not_run: &str, into: &Path) -> std::path::PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
    let copy = into.join("migrations");
    std::fs::create_dir_all(&copy).expect("a directory for the copy");
    for entry in std::fs::read_dir(&source).expect("the migrations") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".sql") && name < first_not_run {
            std::fs::copy(&path, copy.join(name)).expect("copied");
        }
    }
    copy
}

fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A queued handoff with its context, as 0001–0011 stored it: the context in the handoffs
/// row. Returns the statements and the handoff.
fn handoff_before_0012() -> (Vec<String>, Handoff) {
    let c = Conversation {
        state: ConversationState::Queued,
        last_seq: 1,
        ..Conversation::for_tests("c1")
    };
    let shopper = Message {
        seq: 1,
        author: Author::Shopper,
        text: "I want to speak to a person about order 12345".into(),
        client_msg_id: Some("m1".into()),
        reply_to: None,
        created_at: 1_000,
        meta: None,
        turn: None,
    };
    let escalation = Escalation {
        reason: EscalationReason::RequestedHuman,
        priority: Priority::Normal,
        skill: "orders".into(),
        intent: None,
    };
    let h = Handoff::queue(
        &c,
        std::slice::from_ref(&shopper),
        &escalation,
        Lang::En,
        Some(1),
        1_000,
    );
    let context = h.context.as_ref().expect("a new handoff has its context");
    let statements = vec![
        format!(
            "INSERT INTO conversations (id, token_hash, channel, locale, customer, vip, state,
                last_seq, created_at, updated_at)
             VALUES ('c1', '', 'web', 'en', {}, FALSE, 'queued', 1, 1000, 1000)",
            sql_text(&serde_json::to_string(&c.customer).expect("json")),
        ),
        format!(
            "INSERT INTO messages (conversation_id, seq, author, text, client_msg_id, created_at)
             VALUES ('c1', 1, 'shopper', {}, 'm1', 1000)",
            sql_text(&shopper.text),
        ),
        format!(
            "INSERT INTO handoffs (id, conversation_id, reason, priority, skill, status,
                trigger_seq, routing, context, created_at, updated_at)
             VALUES ({}, 'c1', {}, {}, 'orders', 'queued', 1, {}, {}, 1000, 1000)",
            sql_text(&h.id),
            sql_text(h.reason.as_str()),
            sql_text(h.priority.as_str()),
            sql_text(&serde_json::to_string(&h.routing).expect("json")),
            sql_text(&serde_json::to_string(context).expect("json")),
        ),
    ];
    (statements, h)
}

/// Runs 0001–0011 on `pool` (SQLite's or PostgreSQL's), writes [`handoff_before_0012`]
/// and closes the pool; the handoff written. A macro: the two pools share these calls but
/// no trait that would name them together.
macro_rules! write_before_0012 {
    ($pool:expr, $dir:expr) => {{
        let migrations = migrations_before("0012", $dir);
        Migrator::new(migrations.as_path())
            .await
            .unwrap()
            .run(&$pool)
            .await
            .unwrap();
        let (statements, h) = handoff_before_0012();
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&$pool)
                .await
                .unwrap();
        }
        $pool.close().await;
        h
    }};
}

/// What must hold of the old handoff once the store has migrated the database.
async fn the_old_context_reads_as_before(store: Arc<dyn Store>, h: Handoff) {
    let open = store.open_handoff("c1").await.unwrap().expect("still open");
    assert_eq!(
        open.context, h.context,
        "the context moved with its handoff"
    );
    assert_eq!(store.latest_handoff("c1").await.unwrap(), Some(h.clone()));
    let listed = store.open_handoffs().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].context.is_none(),
        "the queue is read without contexts"
    );
    let context = h.context.clone().expect("a context");
    let cards = store.handoff_cards(&["c1".to_string()]).await.unwrap();
    assert_eq!(
        cards.get("c1"),
        Some(&crate::store::HandoffCard {
            summary: context.summary.clone(),
            customer: context.customer.clone(),
        }),
        "a card from the JSON of a context stored before the card's columns"
    );
    // A later write of the handoff (here: it is withdrawn to the bot) keeps the context.
    let c = store.conversation("c1").await.unwrap().expect("there");
    let mut changed = h.clone();
    changed.priority = Priority::High;
    let write = TurnWrite {
        handoff: Some(changed),
        ..TurnWrite::new(&c, vec![], 2_000)
    };
    store.commit_turn(&write).await.expect("written");
    let after = store.open_handoff("c1").await.unwrap().expect("open");
    assert_eq!(after.priority, Priority::High);
    assert_eq!(after.context, h.context);
}

#[tokio::test]
async fn a_sqlite_shop_from_before_0012_keeps_its_handoff_contexts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let h = write_before_0012!(pool, dir.path());
    let store = SqliteStore::open(&path, &StoreConfig::default())
        .await
        .unwrap();
    the_old_context_reads_as_before(Arc::new(store.clone()), h).await;
    store.close().await;
}

#[tokio::test]
async fn a_postgres_shop_from_before_0012_keeps_its_handoff_contexts() {
    let db = PgDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let h = write_before_0012!(pool, dir.path());
    let store = PgStore::open(&db.url, &StoreConfig::default())
        .await
        .unwrap();
    let checked = AssertUnwindSafe(the_old_context_reads_as_before(Arc::new(store.clone()), h))
        .catch_unwind()
        .await;
    store.close().await;
    db.drop_now().await;
    if let Err(panic) = checked {
        std::panic::resume_unwind(panic);
    }
}
