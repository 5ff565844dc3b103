//! The behaviour every [`Store`] must share, checked on SQLite and on PostgreSQL alike.
//!
//! Each test body in [`bodies`] takes an `Arc<dyn Store>`; the `both!` macro makes two tests
//! of it, `…::sqlite` on a fresh file and `…::postgres` on a fresh database of its own
//! ([`PgDatabase`]: dropped afterwards, even when the test fails). An unreachable server
//! fails the test with how to start one: it never passes silently.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use super::test_db::{DEFAULT_POSTGRES, PgDatabase};
use super::{PgStore, SqliteStore, Store, StoreError};
use crate::config::StoreConfig;

fn config() -> StoreConfig {
    StoreConfig {
        synchronous: crate::config::Synchronous::Normal,
        max_connections: 16,
        ..StoreConfig::default()
    }
}

async fn on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("baton.db"), &config())
        .await
        .expect("store opens");
    body(Arc::new(store.clone())).await;
    store.close().await;
}

async fn on_postgres<F, Fut>(body: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let db = PgDatabase::create().await;
    let store = PgStore::open(&db.url, &config()).await;
    let ran = match store {
        Ok(store) => {
            let ran = AssertUnwindSafe(body(Arc::new(store.clone())))
                .catch_unwind()
                .await;
            store.close().await;
            ran.map_err(Some)
        }
        Err(e) => {
            db.drop_now().await;
            panic!("the PostgreSQL store does not open: {e}");
        }
    };
    db.drop_now().await;
    if let Err(Some(panic)) = ran {
        std::panic::resume_unwind(panic);
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::on_sqlite(super::bodies::$name).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::on_postgres(super::bodies::$name).await
            }
        }
    )*};
}

both!(
    one_writer_wins_a_race_for_a_seq,
    concurrent_writers_leave_no_gaps,
    a_repeated_client_msg_id_is_a_duplicate,
    the_open_ticket_limit_holds_under_concurrency,
    erasing_replaces_texts_and_closes_the_conversation,
    agents_drafts_and_handoffs_round_trip,
    a_returning_customer_is_found_by_verified_id_only,
    blocks_and_word_hits_round_trip,
    active_bot_conversations_are_listed_most_recent_first,
    quality_reviews_round_trip_and_what_is_unscored_is_found,
    the_last_turn_lang_is_the_latest_shopper_turns,
    the_latest_handoff_is_the_conversations_newest,
    a_shoppers_first_reads_come_together,
);

#[tokio::test]
async fn a_wrong_password_is_not_repeated_in_the_error() {
    let admin = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
    let mut url = url::Url::parse(&admin).expect("a URL");
    let secret = "not-the-password-7f3a";
    url.set_password(Some(secret)).expect("a password fits");
    let e = PgStore::open(url.as_str(), &config())
        .await
        .expect_err("a wrong password is refused");
    let text = e.to_string();
    assert!(!text.contains(secret), "{text}");
    assert!(!text.contains(url.as_str()), "{text}");
    let e = PgStore::open("postgres://user:hunter2@[::1", &config())
        .await
        .expect_err("not a URL");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(matches!(e, StoreError::Engine(_)));
}

mod bodies {
    use std::sync::Arc;

    use crate::conversation::{
        Author, Conversation, ConversationState, ERASED_TEXT, Message, TurnRecord,
    };
    use crate::handoff::agent::{Agent, AgentStatus};
    use crate::handoff::{
        AuditEntry, Escalation, EscalationReason, Handoff, HandoffStatus, Note, Priority, Rating,
        Ticket,
    };
    use crate::nlu::Lang;
    use crate::store::{DraftStatus, EraseOutcome, FaqDraft, Store, StoreError, TurnWrite};

    async fn conversation(store: &dyn Store, id: &str) -> Conversation {
        let c = Conversation {
            token_hash: vec![1, 2, 3, 254],
            created_at: 1_000,
            updated_at: 1_000,
            ..Conversation::for_tests(id)
        };
        store.create_conversation(&c).await.expect("created");
        store.conversation(id).await.expect("read").expect("there")
    }

    fn ticket(conversation_id: &str, n: usize) -> Ticket {
        Ticket {
            id: format!("{conversation_id}-t{n}"),
            conversation_id: conversation_id.into(),
            skill: "orders".into(),
            lang: Lang::Zh,
            contact: "13800000000".into(),
            text: "请回电".into(),
            status: "open".into(),
            created_at: 2_000 + n as i64,
            closed_at: None,
            closed_by: None,
        }
    }

    fn handoff(c: &Conversation, transcript: &[Message]) -> Handoff {
        let escalation = Escalation {
            reason: EscalationReason::RequestedHuman,
            priority: Priority::High,
            skill: "orders".into(),
            intent: None,
        };
        Handoff::queue(c, transcript, &escalation, Lang::Zh, Some(1), 3_000)
    }

    pub(super) async fn a_returning_customer_is_found_by_verified_id_only(store: Arc<dyn Store>) {
        use crate::conversation::Customer;
        let verified = |id: &str| Customer {
            id: Some(id.into()),
            verified: true,
            ..Customer::default()
        };
        let guest = |id: &str| Customer {
            claimed_id: Some(id.into()),
            ..Customer::default()
        };
        // Oldest first: a1 and a2 helped u1; the latest, a3, helped a guest claiming u1.
        let helped = [
            ("c1", verified("u1"), "a1", 3_000),
            ("c2", verified("u1"), "a2", 4_000),
            ("c3", guest("u1"), "a3", 5_000),
            ("c4", verified("u2"), "a4", 6_000),
        ];
        for (id, customer, agent, at) in helped {
            let c = Conversation {
                customer,
                token_hash: vec![1],
                created_at: 1_000,
                updated_at: 1_000,
                ..Conversation::for_tests(id)
            };
            store.create_conversation(&c).await.expect("created");
            let transcript = vec![Message::for_tests(1, Author::Shopper, Some("转人工"))];
            let mut h = handoff(&c, &transcript);
            h.status = HandoffStatus::Resolved;
            h.agent_id = Some(agent.into());
            let write = TurnWrite {
                handoff: Some(h),
                ..TurnWrite::new(&c, transcript, at)
            };
            store.commit_turn(&write).await.expect("turn");
        }
        let last = |id: &'static str, since: i64| {
            let store = store.clone();
            async move { store.last_agent_of_customer(id, since).await.unwrap() }
        };
        assert_eq!(
            last("u1", 0).await.as_deref(),
            Some("a2"),
            "not the guest's agent"
        );
        assert_eq!(last("u1", 4_500).await, None, "too long ago");
        assert_eq!(last("u2", 0).await.as_deref(), Some("a4"));
        assert_eq!(last("u3", 0).await, None);
    }

    pub(super) async fn one_writer_wins_a_race_for_a_seq(store: Arc<dyn Store>) {
        let c = conversation(&*store, "c1").await;
        let writes = (0..10).map(|n| {
            let store = store.clone();
            let m = Message::for_tests(1, Author::Shopper, Some(&format!("m{n}")));
            let write = TurnWrite::new(&c, vec![m], 1);
            async move { store.commit_turn(&write).await }
        });
        let results = futures::future::join_all(writes).await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        let conflicted = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict)))
            .count();
        assert_eq!((won, conflicted), (1, 9), "{results:?}");
        assert_eq!(store.messages_after("c1", 0, 100).await.unwrap().len(), 1);
        let after = store.conversation("c1").await.unwrap().unwrap();
        assert_eq!(after.last_seq, 1);
        assert_eq!(after.updated_at, 1);
        assert_eq!(after.token_hash, vec![1, 2, 3, 254]);
    }

    pub(super) async fn concurrent_writers_leave_no_gaps(store: Arc<dyn Store>) {
        conversation(&*store, "c1").await;
        const WRITERS: usize = 8;
        const EACH: usize = 6;
        let writers = (0..WRITERS).map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut conflicts = 0;
                for i in 0..EACH {
                    loop {
                        let c = store.conversation("c1").await.unwrap().unwrap();
                        let id = format!("w{w}-{i}");
                        let shopper =
                            Message::for_tests(c.last_seq + 1, Author::Shopper, Some(&id));
                        let reply = Message {
                            reply_to: Some(c.last_seq + 1),
                            ..Message::for_tests(c.last_seq + 2, Author::Bot, None)
                        };
                        let write = TurnWrite::new(&c, vec![shopper, reply], c.last_seq);
                        match store.commit_turn(&write).await {
                            Ok(()) => break,
                            Err(StoreError::Conflict) => conflicts += 1,
                            Err(e) => panic!("writer {w}: {e}"),
                        }
                    }
                }
                conflicts
            })
        });
        let conflicts: usize = futures::future::join_all(writers)
            .await
            .into_iter()
            .map(|r| r.expect("writer ran"))
            .sum();
        let total = (WRITERS * EACH * 2) as i64;
        let c = store.conversation("c1").await.unwrap().unwrap();
        assert_eq!(c.last_seq, total, "{conflicts} conflicts");
        let stored = store.messages_after("c1", 0, 1_000).await.unwrap();
        let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "no gaps, no repeats");
        for m in stored.iter().filter(|m| m.author == Author::Shopper) {
            let turn = store
                .turn_by_client_msg_id("c1", m.client_msg_id.as_deref().unwrap())
                .await
                .unwrap()
                .expect("stored");
            assert_eq!(turn.len(), 2, "the message and its reply");
            assert_eq!(turn[1].reply_to, Some(m.seq));
        }
    }

    pub(super) async fn the_last_turn_lang_is_the_latest_shopper_turns(store: Arc<dyn Store>) {
        let c = conversation(&*store, "c1").await;
        assert_eq!(
            store.last_turn_lang("c1").await.unwrap(),
            None,
            "no turn yet"
        );
        let turn = |seq: i64, lang: Lang| Message {
            turn: Some(TurnRecord {
                lang,
                ..TurnRecord::answered("greeting", "hello")
            }),
            ..Message::for_tests(seq, Author::Shopper, Some(&format!("m{seq}")))
        };
        let reply = |seq: i64| Message {
            reply_to: Some(seq - 1),
            ..Message::for_tests(seq, Author::Bot, None)
        };
        let first = TurnWrite::new(&c, vec![turn(1, Lang::En), reply(2)], 5);
        store.commit_turn(&first).await.expect("first turn");
        assert_eq!(store.last_turn_lang("c1").await.unwrap(), Some(Lang::En));
        let langs = store.conversation_langs(&["c1".into()]).await.unwrap();
        assert_eq!(
            langs.get("c1"),
            Some(&Lang::En),
            "the turn's, not the locale"
        );
        let c = store.conversation("c1").await.unwrap().unwrap();
        let second = TurnWrite::new(&c, vec![turn(3, Lang::Zh), reply(4)], 6);
        store.commit_turn(&second).await.expect("second turn");
        assert_eq!(store.last_turn_lang("c1").await.unwrap(), Some(Lang::Zh));
        assert_eq!(store.last_turn_lang("unknown").await.unwrap(), None);

        // Read together: the last turn's language, else the locale; unknown ids left out.
        let quiet = Conversation {
            locale: Lang::En,
            ..Conversation::for_tests("c2")
        };
        store.create_conversation(&quiet).await.expect("created");
        let ids = ["c1", "c2", "unknown"].map(String::from);
        let langs = store.conversation_langs(&ids).await.unwrap();
        let expected = [("c1".to_string(), Lang::Zh), ("c2".to_string(), Lang::En)];
        assert_eq!(langs, expected.into_iter().collect());
    }

    pub(super) async fn a_repeated_client_msg_id_is_a_duplicate(store: Arc<dyn Store>) {
        let c = conversation(&*store, "c1").await;
        let reply = Message {
            reply_to: Some(1),
            ..Message::for_tests(2, Author::Bot, None)
        };
        let first = TurnWrite::new(
            &c,
            vec![Message::for_tests(1, Author::Shopper, Some("a")), reply],
            5,
        );
        store.commit_turn(&first).await.expect("first");
        let c = store.conversation("c1").await.unwrap().unwrap();
        let again = TurnWrite {
            audit: vec![AuditEntry::new(
                6,
                "test",
                "x",
                Some("c1"),
                serde_json::json!({}),
            )],
            ..TurnWrite::new(
                &c,
                vec![Message::for_tests(3, Author::Shopper, Some("a"))],
                6,
            )
        };
        assert!(matches!(
            store.commit_turn(&again).await,
            Err(StoreError::Duplicate)
        ));
        let after = store.conversation("c1").await.unwrap().unwrap();
        assert_eq!(
            (after.last_seq, after.updated_at),
            (2, 5),
            "nothing written"
        );
        assert!(store.audit_log(Some("c1"), 10).await.unwrap().is_empty());
        let turn = store.turn_by_client_msg_id("c1", "a").await.unwrap();
        let seqs: Vec<i64> = turn.expect("stored").iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        assert!(
            store
                .turn_by_client_msg_id("c1", "b")
                .await
                .unwrap()
                .is_none()
        );
        // The same id in another conversation is another message.
        let other = conversation(&*store, "c2").await;
        let write = TurnWrite::new(
            &other,
            vec![Message::for_tests(1, Author::Shopper, Some("a"))],
            7,
        );
        store.commit_turn(&write).await.expect("other conversation");
    }

    pub(super) async fn a_shoppers_first_reads_come_together(store: Arc<dyn Store>) {
        let unknown = store.shopper_read("nobody", Some("a")).await.unwrap();
        assert!(unknown.conversation.is_none() && unknown.open.is_none());
        assert!(unknown.stored.is_none());
        let c = conversation(&*store, "c1").await;
        let read = store.shopper_read("c1", Some("a")).await.unwrap();
        assert_eq!(read.conversation.as_ref(), Some(&c));
        assert!(read.open.is_none() && read.stored.is_none());

        let mut reply = Message::for_tests(2, Author::Bot, None);
        reply.reply_to = Some(1);
        let transcript = vec![Message::for_tests(1, Author::Shopper, Some("a")), reply];
        let h = handoff(&c, &transcript);
        let write = TurnWrite {
            state: ConversationState::Queued,
            handoff: Some(h.clone()),
            ..TurnWrite::new(&c, transcript, 3_000)
        };
        store.commit_turn(&write).await.expect("turn");
        let read = store.shopper_read("c1", Some("a")).await.unwrap();
        assert_eq!(read.conversation, store.conversation("c1").await.unwrap());
        let open = read.open.expect("the open handoff");
        assert_eq!(
            open.context, None,
            "a shopper's read leaves the context out"
        );
        assert_eq!(
            Handoff {
                context: h.context.clone(),
                ..open
            },
            store.open_handoff("c1").await.unwrap().expect("open")
        );
        let seqs: Vec<i64> = read.stored.expect("stored").iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![1, 2], "the message and its reply");
        let without_key = store.shopper_read("c1", None).await.unwrap();
        assert!(without_key.stored.is_none());
        assert!(
            store
                .shopper_read("c1", Some("b"))
                .await
                .unwrap()
                .stored
                .is_none()
        );
        // Each read ended its snapshot: a write after them is seen by the next.
        let c = store.conversation("c1").await.unwrap().unwrap();
        let next = TurnWrite::new(
            &c,
            vec![Message::for_tests(3, Author::Shopper, Some("b"))],
            4_000,
        );
        store.commit_turn(&next).await.expect("next turn");
        let read = store.shopper_read("c1", Some("b")).await.unwrap();
        assert_eq!(read.conversation.map(|c| c.last_seq), Some(3));
        assert!(read.stored.is_some());
    }

    pub(super) async fn the_open_ticket_limit_holds_under_concurrency(store: Arc<dyn Store>) {
        conversation(&*store, "c1").await;
        const LIMIT: u32 = 3;
        let tasks = (0..12).map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    let c = store.conversation("c1").await.unwrap().unwrap();
                    let m =
                        Message::for_tests(c.last_seq + 1, Author::Shopper, Some(&format!("m{n}")));
                    let write = TurnWrite {
                        ticket: Some(ticket("c1", n)),
                        max_open_tickets: Some(LIMIT),
                        ..TurnWrite::new(&c, vec![m], 10)
                    };
                    match store.commit_turn(&write).await {
                        Err(StoreError::Conflict) => continue,
                        other => return other,
                    }
                }
            })
        });
        let results: Vec<_> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.expect("task ran"))
            .collect();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let limited = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Limit(_))))
            .count();
        assert_eq!((ok, limited), (3, 9), "{results:?}");
        let skills = vec!["orders".to_string()];
        assert_eq!(store.count_open_tickets(&skills).await.unwrap(), 3);
        assert_eq!(store.count_open_tickets_of("c1").await.unwrap(), 3);
        assert_eq!(store.count_open_tickets_of("c2").await.unwrap(), 0);
        let open = store.open_tickets(&skills, None, 10).await.unwrap();
        assert_eq!(open.len(), 3);
        assert!(open.windows(2).all(|w| w[0].created_at >= w[1].created_at));
        let page = store
            .open_tickets(&skills, Some((open[0].created_at, &open[0].id)), 10)
            .await
            .unwrap();
        assert_eq!(page.len(), 2, "older than the first only");
        // A closed ticket makes room for one more.
        assert!(store.close_ticket(&open[0].id, "a1", 20).await.unwrap());
        assert!(!store.close_ticket(&open[0].id, "a1", 21).await.unwrap());
        assert_eq!(store.count_open_tickets_of("c1").await.unwrap(), 2);
        let closed = store.ticket(&open[0].id).await.unwrap().expect("there");
        assert_eq!(
            (closed.status.as_str(), closed.closed_at),
            ("closed", Some(20))
        );
        let c = store.conversation("c1").await.unwrap().unwrap();
        let write = TurnWrite {
            ticket: Some(ticket("c1", 99)),
            max_open_tickets: Some(LIMIT),
            ..TurnWrite::new(&c, vec![], 30)
        };
        store.commit_turn(&write).await.expect("room again");
    }

    pub(super) async fn the_latest_handoff_is_the_conversations_newest(store: Arc<dyn Store>) {
        let escalation = Escalation {
            reason: EscalationReason::RequestedHuman,
            priority: Priority::Normal,
            skill: "orders".into(),
            intent: None,
        };
        let transcript = vec![Message::for_tests(1, Author::Shopper, Some("a"))];
        let mut latest = Vec::new();
        // c2's handoffs are newer than c1's: each conversation must find its own.
        for (id, at) in [("c1", 3_000), ("c2", 8_000)] {
            let c = conversation(&*store, id).await;
            let first = Handoff::queue(&c, &transcript, &escalation, Lang::En, Some(1), at);
            let write = TurnWrite {
                state: ConversationState::Queued,
                handoff: Some(first.clone()),
                ..TurnWrite::new(&c, transcript.clone(), at)
            };
            store.commit_turn(&write).await.unwrap();
            let assigned = first.assigned_to("a1", at + 100);
            store
                .save_handoff(&assigned, HandoffStatus::Queued, at + 100, &[])
                .await
                .unwrap();
            let resolved = assigned.closed(HandoffStatus::Resolved, at + 200);
            store
                .save_handoff(&resolved, HandoffStatus::Assigned, at + 200, &[])
                .await
                .unwrap();
            let c = store.conversation(id).await.unwrap().unwrap();
            let second =
                Handoff::queue(&c, &transcript, &escalation, Lang::En, Some(1), at + 1_000);
            let write = TurnWrite {
                state: ConversationState::Queued,
                handoff: Some(second.clone()),
                ..TurnWrite::new(&c, vec![], at + 1_000)
            };
            store.commit_turn(&write).await.unwrap();
            latest.push(second);
        }
        for (id, newest) in ["c1", "c2"].into_iter().zip(latest) {
            assert_eq!(store.latest_handoff(id).await.unwrap(), Some(newest));
        }
        assert_eq!(store.latest_handoff("nobody").await.unwrap(), None);
    }

    pub(super) async fn erasing_replaces_texts_and_closes_the_conversation(store: Arc<dyn Store>) {
        let c = conversation(&*store, "c1").await;
        let transcript = vec![Message::for_tests(1, Author::Shopper, Some("a"))];
        let h = handoff(&c, &transcript);
        let write = TurnWrite {
            state: ConversationState::Queued,
            handoff: Some(h.clone()),
            notes: vec![Note {
                id: "n1".into(),
                conversation_id: "c1".into(),
                agent_id: "a1".into(),
                text: "客户很着急".into(),
                created_at: 3_000,
                whisper: true,
            }],
            ticket: Some(ticket("c1", 1)),
            ..TurnWrite::new(&c, transcript, 3_000)
        };
        store.commit_turn(&write).await.expect("turn");
        let stored = store.open_handoff("c1").await.unwrap().expect("open");
        assert_eq!(stored.context, h.context, "the context round-trips");
        assert!(
            store.notes("c1").await.unwrap()[0].whisper,
            "a whisper stays one"
        );
        assert_eq!(store.latest_handoff("c1").await.unwrap(), Some(h.clone()));
        assert_eq!(store.open_handoffs().await.unwrap().len(), 1);
        let cards = store
            .handoff_cards(&["c1".to_string(), "nobody".to_string()])
            .await
            .unwrap();
        let context = h.context.as_ref().expect("a new handoff has its context");
        let card = crate::store::HandoffCard {
            summary: context.summary.clone(),
            customer: context.customer.clone(),
        };
        assert_eq!(cards.len(), 1, "only conversations with an open handoff");
        assert_eq!(cards.get("c1"), Some(&card));
        // Still active after `idle_before`: left alone.
        let audit = |e: &crate::store::Erasure| {
            AuditEntry::new(9_000, "test", "erase", Some("c1"), serde_json::json!(e))
        };
        let active = store
            .erase_conversation("c1", Some(2_000), 9_000, &audit)
            .await
            .unwrap();
        assert_eq!(active, EraseOutcome::Active);
        let EraseOutcome::Erased(done) = store
            .erase_conversation("c1", Some(5_000), 9_000, &audit)
            .await
            .unwrap()
        else {
            panic!("erased");
        };
        assert_eq!(
            (
                done.messages,
                done.notes,
                done.tickets,
                done.handoff_contexts
            ),
            (1, 1, 1, 1)
        );
        let closed = done
            .closed_handoff
            .clone()
            .expect("the open handoff closed");
        assert_eq!(closed.status, HandoffStatus::Returned);
        let after = store.conversation("c1").await.unwrap().unwrap();
        assert_eq!(after.erased_at, Some(9_000));
        assert_eq!(after.state, ConversationState::Bot);
        assert!(after.token_hash.is_empty());
        let texts = store.messages_after("c1", 0, 10).await.unwrap();
        assert!(texts.iter().all(|m| m.text == ERASED_TEXT));
        assert_eq!(store.notes("c1").await.unwrap()[0].text, ERASED_TEXT);
        let t = store.ticket("c1-t1").await.unwrap().unwrap();
        assert_eq!(
            (t.contact.as_str(), t.status.as_str()),
            (ERASED_TEXT, "closed")
        );
        assert!(store.open_handoff("c1").await.unwrap().is_none());
        let latest = store.latest_handoff("c1").await.unwrap().unwrap();
        assert_ne!(latest.context, h.context, "the context lost its texts");
        assert_eq!(
            store.audit_actions("erase", 0, 10_000).await.unwrap().len(),
            1
        );
        // A turn read before the erase conflicts; the conversation takes no more writes.
        let late = TurnWrite::new(
            &after,
            vec![Message::for_tests(2, Author::Shopper, Some("b"))],
            9_500,
        );
        assert!(matches!(
            store.commit_turn(&late).await,
            Err(StoreError::Conflict)
        ));
        let again = store
            .erase_conversation("c1", None, 9_600, &audit)
            .await
            .unwrap();
        assert_eq!(again, EraseOutcome::AlreadyErased);
        let unknown = store
            .erase_conversation("nope", None, 9_600, &audit)
            .await
            .unwrap();
        assert_eq!(unknown, EraseOutcome::NotFound);
        // The statistics still see it, with its counts.
        let activity = store.activity(0, 10_000).await.unwrap();
        assert_eq!(activity.len(), 1);
        assert_eq!(store.count_conversations(0, 10_000).await.unwrap(), 1);
        let created = activity[0].created_at;
        assert_eq!(store.count_conversations(0, created).await.unwrap(), 0);
        assert_eq!(
            store
                .count_conversations(created, created + 1)
                .await
                .unwrap(),
            1
        );
        assert!(activity[0].erased);
        assert_eq!((activity[0].messages.len(), activity[0].tickets), (1, 1));
        assert_eq!(activity[0].handoffs.len(), 1);
        assert!(
            store
                .inactive_conversations(i64::MAX, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub(super) async fn agents_drafts_and_handoffs_round_trip(store: Arc<dyn Store>) {
        let agent = |id: &str, name: &str| Agent {
            id: id.into(),
            name: name.into(),
            skills: vec!["orders".into(), "billing".into()],
            max_chats: 3,
            status: AgentStatus::Offline,
            disabled: false,
            supervises: vec![],
            created_at: 1,
            updated_at: 1,
            token_hash: "$argon2id$fake".into(),
        };
        store.create_agent(&agent("a1", "bob")).await.unwrap();
        store.create_agent(&agent("a2", "Zoe")).await.unwrap();
        assert!(matches!(
            store.create_agent(&agent("a3", "bob")).await,
            Err(StoreError::Exists(_))
        ));
        let names: Vec<String> = store
            .agents()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, vec!["Zoe", "bob"], "byte order, as SQLite sorts");
        let changed = Agent {
            max_chats: 5,
            status: AgentStatus::Online,
            disabled: true,
            supervises: vec!["orders".into(), "vip".into()],
            updated_at: 2,
            ..agent("a1", "bob")
        };
        store.update_agent(&changed).await.unwrap();
        assert_eq!(store.agent("a1").await.unwrap(), Some(changed.clone()));
        assert_eq!(store.agent_by_name("bob").await.unwrap(), Some(changed));
        assert_eq!(store.agent("zz").await.unwrap(), None);

        let c = conversation(&*store, "c1").await;
        let transcript = vec![Message::for_tests(1, Author::Shopper, Some("a"))];
        let h = handoff(&c, &transcript);
        let write = TurnWrite {
            state: ConversationState::Queued,
            handoff: Some(h.clone()),
            ..TurnWrite::new(&c, transcript, 3_000)
        };
        store.commit_turn(&write).await.unwrap();
        let assigned = h.assigned_to("a1", 3_100);
        let audit = [AuditEntry::new(
            3_100,
            "a1",
            "accept",
            Some("c1"),
            serde_json::json!({"n": 1}),
        )];
        store
            .save_handoff(&assigned, HandoffStatus::Queued, 3_100, &audit)
            .await
            .unwrap();
        assert!(matches!(
            store
                .save_handoff(&assigned, HandoffStatus::Queued, 3_200, &[])
                .await,
            Err(StoreError::Conflict)
        ));
        let open = store.open_handoffs().await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].agent_id.as_deref(), open[0].context.as_ref()),
            (Some("a1"), None)
        );
        assert_eq!(
            store.audit_log(Some("c1"), 10).await.unwrap().as_slice(),
            &audit
        );
        store
            .append_audit(&[AuditEntry::new(
                3_300,
                "admin",
                "y",
                None,
                serde_json::json!([]),
            )])
            .await
            .unwrap();
        assert_eq!(store.audit_log(None, 10).await.unwrap().len(), 2);

        // Resolve and rate: a second rating is a duplicate.
        let c = store.conversation("c1").await.unwrap().unwrap();
        let resolved = assigned.closed(HandoffStatus::Resolved, 3_400);
        let rating = Rating {
            handoff_id: h.id.clone(),
            conversation_id: "c1".into(),
            agent_id: Some("a1".into()),
            score: 5,
            comment: Some("谢谢".into()),
            created_at: 3_500,
        };
        let write = TurnWrite {
            state: ConversationState::Resolved,
            handoff: Some(resolved),
            rating: Some(rating.clone()),
            ..TurnWrite::new(&c, vec![], 3_500)
        };
        store.commit_turn(&write).await.unwrap();
        let c = store.conversation("c1").await.unwrap().unwrap();
        let write = TurnWrite {
            rating: Some(rating),
            ..TurnWrite::new(&c, vec![], 3_600)
        };
        assert!(matches!(
            store.commit_turn(&write).await,
            Err(StoreError::Duplicate)
        ));
        assert_eq!(store.activity(0, 10_000).await.unwrap()[0].ratings, vec![5]);

        let draft = FaqDraft {
            id: "d1".into(),
            conversation_id: "c1".into(),
            handoff_id: h.id.clone(),
            lang: Lang::Zh,
            question: "能开发票吗".into(),
            answer: "可以".into(),
            alternates: vec!["发票".into()],
            suggested_id: "invoice".into(),
            status: DraftStatus::Pending,
            faq_id: None,
            created_at: 4_000,
            decided_at: None,
        };
        store.create_draft(&draft).await.unwrap();
        let second = FaqDraft {
            id: "d2".into(),
            ..draft.clone()
        };
        assert!(matches!(
            store.create_draft(&second).await,
            Err(StoreError::Exists(_))
        ));
        assert_eq!(store.draft("d1").await.unwrap(), Some(draft.clone()));
        assert_eq!(
            store.drafts(DraftStatus::Pending, 10).await.unwrap(),
            vec![draft]
        );
        assert!(
            store
                .decide_draft("d1", DraftStatus::Approved, Some("invoice"), 4_100)
                .await
                .unwrap()
        );
        assert!(
            !store
                .decide_draft("d1", DraftStatus::Rejected, None, 4_200)
                .await
                .unwrap()
        );
        assert!(store.reopen_draft("d1", "invoice").await.unwrap());
        assert_eq!(
            store.draft("d1").await.unwrap().unwrap().status,
            DraftStatus::Pending
        );
        store.ping().await.unwrap();
    }

    pub(super) async fn blocks_and_word_hits_round_trip(store: Arc<dyn Store>) {
        use crate::content::words::{Author, ListHit, WordAction};
        use crate::moderation::{NewBlock, WordHit, WordHitCount};
        let new = |customer: Option<&str>, network: Option<&str>, hours| NewBlock {
            customer_id: customer.map(String::from),
            network: network.map(String::from),
            reason: "spam".into(),
            hours,
        };
        let forever = new(Some("c-1"), None, None)
            .into_block("admin", 1_000)
            .unwrap();
        let hour = new(None, Some("203.0.113.0/24"), Some(1))
            .into_block("admin", 2_000)
            .unwrap();
        store.create_block(&forever).await.unwrap();
        store.create_block(&hour).await.unwrap();
        let live = store.blocks(true, 3_000).await.unwrap();
        assert_eq!(live, vec![hour.clone(), forever.clone()], "newest first");
        let later = 2_000 + 3_600_000;
        assert_eq!(
            store.blocks(true, later).await.unwrap(),
            vec![forever.clone()]
        );
        assert!(
            store
                .lift_block(&hour.id, "admin", later)
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
        let lifted = store
            .lift_block(&forever.id, "lead", 5_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (lifted.lifted_at, lifted.lifted_by.as_deref()),
            (Some(5_000), Some("lead"))
        );
        assert!(
            store
                .lift_block(&forever.id, "lead", 6_000)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .lift_block("nope", "lead", 6_000)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.blocks(true, later).await.unwrap().is_empty());
        assert_eq!(
            store.blocks(false, 6_000).await.unwrap().len(),
            2,
            "kept on record"
        );

        let hit = |list: &str, action, key: &str, at| {
            let h = ListHit {
                list: list.into(),
                label: list.into(),
                action,
                alert: false,
                term: "傻逼".into(),
            };
            WordHit::new(&h, "c1", Author::Shopper, None, key, at)
        };
        let hits = vec![
            hit("abuse", WordAction::Mask, "m1", 1_000),
            hit("abuse", WordAction::Mask, "m2", 2_000),
            hit("off-platform", WordAction::Block, "m3", 3_000),
        ];
        store.record_word_hits(&hits).await.unwrap();
        store.record_word_hits(&hits[..1]).await.unwrap();
        let read = store.word_hits(0, 10).await.unwrap();
        assert_eq!(
            read.iter().map(|h| h.at).collect::<Vec<_>>(),
            [3_000, 2_000, 1_000]
        );
        assert_eq!(read[2], hits[0], "a retry is logged once");
        assert_eq!(
            store.word_hits(2_000, 1).await.unwrap(),
            vec![hits[2].clone()]
        );
        assert_eq!(
            store.word_hit_counts(0).await.unwrap(),
            vec![
                WordHitCount {
                    list: "abuse".into(),
                    action: WordAction::Mask,
                    hits: 2
                },
                WordHitCount {
                    list: "off-platform".into(),
                    action: WordAction::Block,
                    hits: 1
                },
            ]
        );
    }

    pub(super) async fn active_bot_conversations_are_listed_most_recent_first(
        store: Arc<dyn Store>,
    ) {
        for (id, at) in [("b1", 1_000), ("b2", 3_000), ("b3", 2_000)] {
            let c = Conversation {
                created_at: at,
                updated_at: at,
                ..Conversation::for_tests(id)
            };
            store.create_conversation(&c).await.expect("created");
        }
        // One goes to the queue: no longer the bot's.
        let c = store.conversation("b3").await.unwrap().expect("there");
        let transcript = vec![Message::for_tests(1, Author::Shopper, Some("人工"))];
        let write = TurnWrite {
            state: ConversationState::Queued,
            handoff: Some(handoff(&c, &transcript)),
            ..TurnWrite::new(&c, transcript, 4_000)
        };
        store.commit_turn(&write).await.expect("turn");
        let ids = |list: Vec<Conversation>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
        let active = store.active_bot_conversations(0, 10).await.unwrap();
        assert_eq!(ids(active), ["b2", "b1"]);
        let recent = store.active_bot_conversations(2_000, 10).await.unwrap();
        assert_eq!(ids(recent), ["b2"], "only those active since");
        let one = store.active_bot_conversations(0, 1).await.unwrap();
        assert_eq!(ids(one), ["b2"], "at most the limit");
    }

    pub(super) async fn quality_reviews_round_trip_and_what_is_unscored_is_found(
        store: Arc<dyn Store>,
    ) {
        use crate::handoff::review::{Review, ReviewQuery, ReviewState, StateFilter};
        let c = conversation(&*store, "q1").await;
        let transcript = vec![Message::for_tests(1, Author::Shopper, Some("q-m1"))];
        let queued = handoff(&c, &transcript);
        let write = TurnWrite {
            state: ConversationState::Queued,
            handoff: Some(queued.clone()),
            ..TurnWrite::new(&c, transcript, 3_000)
        };
        store.commit_turn(&write).await.expect("queued");
        let unscored = |since| {
            let store = store.clone();
            async move {
                let found = store.reviews().unscored(since, 10).await.unwrap();
                found.into_iter().map(|h| h.id).collect::<Vec<_>>()
            }
        };
        assert!(
            unscored(0).await.is_empty(),
            "an open handoff is not reviewed"
        );

        let mut resolved = queued.closed(HandoffStatus::Resolved, 3_400);
        resolved.agent_id = Some("a1".into());
        let c = store.conversation("q1").await.unwrap().unwrap();
        let write = TurnWrite {
            state: ConversationState::Resolved,
            handoff: Some(resolved.clone()),
            ..TurnWrite::new(&c, vec![], 3_400)
        };
        store.commit_turn(&write).await.expect("resolved");
        assert_eq!(unscored(0).await, [resolved.id.clone()]);
        assert!(
            unscored(3_001).await.is_empty(),
            "created before the window"
        );

        let review = Review::of_closed(&resolved, "a1", 3_500);
        let reviews = store.reviews();
        reviews.save_scored(&review).await.unwrap();
        assert_eq!(
            reviews.review(&resolved.id).await.unwrap(),
            Some(review.clone())
        );
        assert!(unscored(0).await.is_empty());
        assert_eq!(reviews.rating_of(&resolved.id).await.unwrap(), None);

        // A rating after the score: found again, and scoring again queues it.
        let c = store.conversation("q1").await.unwrap().unwrap();
        let write = TurnWrite {
            rating: Some(Rating {
                handoff_id: resolved.id.clone(),
                conversation_id: "q1".into(),
                agent_id: Some("a1".into()),
                score: 1,
                comment: None,
                created_at: 3_600,
            }),
            ..TurnWrite::new(&c, vec![], 3_600)
        };
        store.commit_turn(&write).await.unwrap();
        assert_eq!(reviews.rating_of(&resolved.id).await.unwrap(), Some(1));
        assert_eq!(unscored(0).await, [resolved.id.clone()]);
        let rescored = Review {
            auto_score: 70,
            rating: Some(1),
            state: ReviewState::Pending,
            scored_at: 3_700,
            ..review.clone()
        };
        reviews.save_scored(&rescored).await.unwrap();
        assert_eq!(
            reviews.review(&resolved.id).await.unwrap(),
            Some(rescored.clone())
        );
        assert!(unscored(0).await.is_empty());

        // A person's verdict is a compare-and-set on the state, and a later score of the
        // rules keeps it.
        let reviewed = Review {
            state: ReviewState::Reviewed,
            reviewed_by: Some("admin".into()),
            score: Some(60),
            comment: Some("先问候".into()),
            reviewed_at: Some(3_800),
            ..rescored.clone()
        };
        assert!(!reviews.update(&reviewed, ReviewState::Auto).await.unwrap());
        assert!(
            reviews
                .update(&reviewed, ReviewState::Pending)
                .await
                .unwrap()
        );
        assert!(
            !reviews
                .update(&reviewed, ReviewState::Pending)
                .await
                .unwrap()
        );
        reviews
            .save_scored(&Review {
                scored_at: 3_900,
                ..rescored.clone()
            })
            .await
            .unwrap();
        let stored = reviews.review(&resolved.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.state, stored.score),
            (ReviewState::Reviewed, Some(60))
        );

        let query = |state, skill: Option<&str>| ReviewQuery {
            since: 0,
            state,
            agent_id: None,
            skill: skill.map(str::to_string),
            limit: 10,
        };
        let count = |q| {
            let reviews = store.clone();
            async move { reviews.reviews().reviews(&q).await.unwrap().len() }
        };
        assert_eq!(count(query(StateFilter::All, None)).await, 1);
        assert_eq!(count(query(StateFilter::Queue, None)).await, 0);
        assert_eq!(
            count(query(
                StateFilter::Only(ReviewState::Reviewed),
                Some("orders")
            ))
            .await,
            1
        );
        assert_eq!(count(query(StateFilter::All, Some("billing"))).await, 0);
        assert_eq!(
            count(ReviewQuery {
                agent_id: Some("a2".into()),
                ..query(StateFilter::All, None)
            })
            .await,
            0
        );
    }
}
