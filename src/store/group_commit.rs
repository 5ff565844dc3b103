//! Group commit for the SQLite store: many turns, one transaction, one fsync, on one thread.
//! New conversations, the other write every shopper makes, take the same way.
//!
//! SQLite has one writer, and with `synchronous = FULL` every commit waits for an fsync of
//! the write-ahead log. Committing each turn on its own caps a node at roughly one turn per
//! fsync; sending each of a turn's statements to a connection thread and back costs two
//! context switches per statement. So turns go to one writer thread that owns its own
//! connection and runs whole batches without waking anyone in between:
//!
//! ```text
//! commit(turn) ─► queue ─► writer thread: take everything waiting (up to MAX_BATCH)
//!   ─► let a waiting staff write in first ─► BEGIN IMMEDIATE
//!   ─► per turn: turn_sql::write_turn ─► COMMIT (one fsync) ─► each caller its result
//! ```
//!
//! Nothing is added to a lone turn's latency: the writer never waits to fill a batch. It
//! takes what queued up while the previous batch was being written, so batches grow exactly
//! when the writer is the bottleneck. A turn that is refused (`Conflict`, `Duplicate`,
//! `Limit`, a constraint) leaves the others untouched. A conflict is found before the turn
//! writes anything, so the batch goes on. Any other refusal may come after some of the
//! turn's writes: then the transaction is rolled back and the batch written again with a
//! savepoint per turn, and the refused turn rolls back only its own. A failure of the
//! transaction itself fails every turn in it, and none of them is stored.
//! Either way no caller hears OK before the COMMIT that made its turn durable returned.
//!
//! The desk's routing changes to handoffs (offers, lapses, SLA flags) take this way too:
//! each one was a commit and an fsync of its own, and this thread applies every handoff it
//! commits to the store's in-memory open handoffs ([`super::open_mirror`]) right after the
//! COMMIT, in commit order.
//!
//! So do the two records an agent's closing of a handoff leaves, its quality review and FAQ
//! draft: as separate commits each was an fsync, and a change to the file from another
//! connection, which empties this connection's page cache.
//!
//! Other writes (agents, editors' decisions, erasure) stay on the store's sqlx connection;
//! the two writers take turns on SQLite's lock: each tries again every fraction of a
//! millisecond while the other holds it, and before each batch this thread lets a waiting
//! staff write go first ([`super::sqlite_busy`]).

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::open_mirror::OpenMirror;
use super::quality_sql::save_scored;
use super::turn_sql::{HandoffSave, insert_conversation, insert_draft, save_handoff, write_turn};
use super::{FaqDraft, StoreError, TurnWrite};
use crate::config::{StoreConfig, Synchronous};
use crate::conversation::Conversation;
use crate::handoff::Handoff;
use crate::handoff::review::Review;

/// The most turns one transaction takes: bounds how long the write lock is held and how
/// much one failed COMMIT takes down with it.
const MAX_BATCH: usize = 256;

/// Turns waiting for the writer; beyond this `commit` waits for room (backpressure).
const QUEUE: usize = 4_096;

/// What the writer thread writes: the two writes every shopper makes, the desk's routing
/// changes, and what a closed handoff leaves. Boxed: a turn is a kilobyte, and thousands may
/// wait in the queue.
pub(super) enum Write {
    Turn(Box<TurnWrite>),
    NewConversation(Box<Conversation>),
    Handoff(Box<HandoffSave>),
    Review(Box<Review>),
    Draft(Box<FaqDraft>),
}

impl Write {
    /// The handoff as this write leaves it, if it changes one.
    fn handoff(&self) -> Option<&Handoff> {
        match self {
            Write::Turn(w) => w.handoff.as_ref(),
            Write::Handoff(s) => Some(&s.handoff),
            Write::NewConversation(_) | Write::Review(_) | Write::Draft(_) => None,
        }
    }

    /// Whether the refusal `e` is found by the write's first statement, before it wrote
    /// anything (so the batch needs no rollback for it).
    fn refused_before_writing(&self, e: &StoreError) -> bool {
        matches!(
            (self, e),
            (Write::Turn(_) | Write::Handoff(_), StoreError::Conflict)
                | (Write::Draft(_), StoreError::Exists(_))
        )
    }
}

type Reply = oneshot::Sender<Result<(), StoreError>>;

enum Job {
    Write {
        write: Write,
        reply: Reply,
    },
    /// Finish what is queued, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// The handle request tasks commit turns through. Cheap to clone; the writer thread stops
/// on [`GroupCommit::close`] or when the last handle is dropped.
#[derive(Debug, Clone)]
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Opens the writer connection on the database at `path` (already migrated) and starts
    /// its thread, which applies the handoffs it commits to `open`.
    pub(super) fn start(
        path: &Path,
        config: &StoreConfig,
        open: Arc<OpenMirror>,
    ) -> Result<GroupCommit, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        super::sqlite_busy::install(&conn)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(
            None,
            "synchronous",
            match config.synchronous {
                Synchronous::Full => "FULL",
                Synchronous::Normal => "NORMAL",
            },
        )?;
        conn.pragma_update(None, "wal_autocheckpoint", super::sqlite::CHECKPOINT_PAGES)?;
        let (queue, waiting) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("baton-writer".into())
            .spawn(move || run(conn, waiting, &open))
            .map_err(|e| StoreError::Engine(format!("cannot start the writer thread: {e}")))?;
        Ok(GroupCommit { queue })
    }

    /// Writes `write` atomically; returns once it is durable (or failed).
    pub(super) async fn commit(&self, write: Write) -> Result<(), StoreError> {
        let (reply, result) = oneshot::channel();
        self.queue
            .send(Job::Write { write, reply })
            .await
            .map_err(|_| closed())?;
        result.await.map_err(|_| closed())?
    }

    /// Writes what is queued and closes the writer's connection (a clean WAL checkpoint
    /// when it is the last one). Later commits fail.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.queue.send(Job::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

fn closed() -> StoreError {
    StoreError::Engine("the store is closed".into())
}

fn run(mut conn: Connection, mut waiting: mpsc::Receiver<Job>, open: &OpenMirror) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = waiting.blocking_recv() {
        let mut close = None;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Write { write, reply } => batch.push((write, reply)),
                Job::Close(done) => {
                    close = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = waiting.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            // Between two batches the lock is free for an instant only.
            super::sqlite_busy::let_waiting_writes_in();
            let results = match commit_batch(&mut conn, &batch, open) {
                Ok(results) => results,
                Err(e) => {
                    tracing::warn!(error = %e, turns = batch.len(), "a group commit failed");
                    batch.iter().map(|_| Err(same_error(&e))).collect()
                }
            };
            for ((_, reply), result) in batch.drain(..).zip(results) {
                // The caller may have gone (its request was cancelled); its turn is stored
                // anyway and a retry with the same client_msg_id finds it.
                let _ = reply.send(result);
            }
        }
        if let Some(done) = close {
            drop(conn);
            let _ = done.send(());
            return;
        }
    }
}

/// One transaction for the whole batch: each turn's own outcome, or the error that failed
/// the transaction (then nothing of it is stored).
fn commit_batch(
    conn: &mut Connection,
    batch: &[(Write, Reply)],
    open: &OpenMirror,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    match commit_without_savepoints(conn, batch, open)? {
        Some(results) => Ok(results),
        None => commit_turn_by_turn(conn, batch, open),
    }
}

/// The usual batch, in which no turn is refused after it has written: every turn is written
/// straight into the transaction. A savepoint per turn would first copy each page the turn
/// touches into a side journal, a few percent of a busy node's CPU paid for a rare refusal.
/// `None` when a turn was refused half-written: the transaction is rolled back, and the
/// batch must be written again turn by turn.
fn commit_without_savepoints(
    conn: &mut Connection,
    batch: &[(Write, Reply)],
    open: &OpenMirror,
) -> Result<Option<Vec<Result<(), StoreError>>>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(batch.len());
    for (write, _) in batch {
        match write_one(&tx, write) {
            Ok(()) => results.push(Ok(())),
            Err(e) if write.refused_before_writing(&e) => results.push(Err(e)),
            Err(e) if is_fatal(&e) => return Err(e),
            // Dropping the transaction rolls it back.
            Err(_) => return Ok(None),
        }
    }
    commit(tx, batch, &results, open)?;
    Ok(Some(results))
}

/// The batch again after a refusal: a savepoint per turn, so a refused turn rolls back only
/// its own writes.
fn commit_turn_by_turn(
    conn: &mut Connection,
    batch: &[(Write, Reply)],
    open: &OpenMirror,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(batch.len());
    for (write, _) in batch {
        let mut turn = tx.savepoint()?;
        match write_one(&turn, write) {
            Ok(()) => {
                turn.commit()?;
                results.push(Ok(()));
            }
            Err(e) if is_fatal(&e) => return Err(e),
            Err(refused) => {
                turn.rollback()?;
                results.push(Err(refused));
            }
        }
    }
    commit(tx, batch, &results, open)?;
    Ok(results)
}

/// Commits the batch and applies the handoffs its stored writes changed to `open`, holding
/// the open handoffs' commit order from before the COMMIT (while this thread still holds
/// SQLite's write lock) until they are applied.
fn commit(
    tx: Transaction<'_>,
    batch: &[(Write, Reply)],
    results: &[Result<(), StoreError>],
    open: &OpenMirror,
) -> Result<(), StoreError> {
    let changed: Vec<&Handoff> = batch
        .iter()
        .zip(results)
        .filter(|(_, result)| result.is_ok())
        .filter_map(|((write, _), _)| write.handoff())
        .collect();
    if changed.is_empty() {
        return Ok(tx.commit()?);
    }
    let _in_order = open.blocking_commit_order();
    if let Err(e) = tx.commit() {
        open.forget();
        return Err(e.into());
    }
    open.committed(changed);
    Ok(())
}

fn write_one(conn: &Connection, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::Turn(w) => write_turn(conn, w),
        Write::NewConversation(c) => insert_conversation(conn, c),
        Write::Handoff(s) => save_handoff(conn, s),
        Write::Review(r) => save_scored(conn, r),
        Write::Draft(d) => insert_draft(conn, d),
    }
}

/// The connection or the file failed, not one turn: the whole transaction is lost.
fn is_fatal(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Busy | StoreError::Engine(_) | StoreError::Database(_)
    )
}

/// The batch's error for each of its turns (`StoreError` is not `Clone`).
fn same_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Busy => StoreError::Busy,
        other => StoreError::Engine(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{Author, ConversationState, Message};
    use crate::store::{SqliteStore, Store};

    fn shopper_message(seq: i64, client_msg_id: &str) -> Message {
        Message::for_tests(seq, Author::Shopper, Some(client_msg_id))
    }

    async fn store_with_conversation(dir: &Path) -> (SqliteStore, Conversation) {
        let store = SqliteStore::open(&dir.join("baton.db"), &StoreConfig::default())
            .await
            .expect("store opens");
        let c = Conversation {
            token_hash: vec![1, 2, 3],
            ..Conversation::for_tests("c1")
        };
        store.create_conversation(&c).await.expect("created");
        (store, c)
    }

    #[tokio::test]
    async fn concurrent_turns_share_commits_and_only_one_of_a_race_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, c) = store_with_conversation(dir.path()).await;
        // Ten writers all read seq 0: exactly one moves it, the others conflict, and a
        // conflict rolls back nothing but itself.
        let writes = (0..10).map(|n| {
            let store = store.clone();
            let message = shopper_message(1, &format!("m{n}"));
            let write = TurnWrite::new(&c, vec![message], 1);
            async move { store.commit_turn(&write).await }
        });
        let results = futures::future::join_all(writes).await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        let conflicted = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict)))
            .count();
        assert_eq!((won, conflicted), (1, 9));
        let stored = store.messages_after("c1", 0, 100).await.expect("read");
        assert_eq!(stored.len(), 1);
        let after = store
            .conversation("c1")
            .await
            .expect("read")
            .expect("there");
        assert_eq!(after.last_seq, 1);
        assert_eq!(after.state, ConversationState::Bot);
    }

    #[tokio::test]
    async fn a_closed_store_refuses_turns_and_keeps_what_it_acknowledged() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, c) = store_with_conversation(dir.path()).await;
        let write = TurnWrite::new(&c, vec![shopper_message(1, "hello")], 1);
        store.commit_turn(&write).await.expect("committed");
        store.close().await;
        assert!(store.commit_turn(&write).await.is_err());
        let reopened = SqliteStore::open(&dir.path().join("baton.db"), &StoreConfig::default())
            .await
            .expect("reopens");
        assert_eq!(
            reopened
                .messages_after("c1", 0, 10)
                .await
                .expect("read")
                .len(),
            1
        );
    }

    /// A batch with every kind of outcome, written by the writer's own function so the turns
    /// share one transaction whatever the timing.
    #[tokio::test]
    async fn a_turn_refused_half_written_rolls_back_alone_and_its_batch_goes_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, c1) = store_with_conversation(dir.path()).await;
        let c2 = Conversation::for_tests("c2");
        store.create_conversation(&c2).await.expect("created");
        let first = TurnWrite::new(&c2, vec![shopper_message(1, "m1")], 1);
        store.commit_turn(&first).await.expect("committed");
        let c2 = store
            .conversation("c2")
            .await
            .expect("read")
            .expect("there");

        let mut retried = shopper_message(2, "m1");
        retried.text = "the same message again".into();
        let writes = vec![
            Write::Turn(Box::new(TurnWrite::new(
                &c1,
                vec![shopper_message(1, "a")],
                2,
            ))),
            // Moves c2's last_seq, then finds its client_msg_id stored: refused half-written.
            Write::Turn(Box::new(TurnWrite::new(&c2, vec![retried], 2))),
            // Read c1 before the first write of this batch moved it.
            Write::Turn(Box::new(TurnWrite::new(
                &c1,
                vec![shopper_message(1, "b")],
                2,
            ))),
            Write::NewConversation(Box::new(Conversation::for_tests("c3"))),
        ];
        let batch: Vec<(Write, Reply)> = writes
            .into_iter()
            .map(|w| (w, oneshot::channel().0))
            .collect();
        let mut conn = Connection::open(dir.path().join("baton.db")).expect("opens");
        conn.pragma_update(None, "foreign_keys", true).expect("set");
        let results =
            commit_batch(&mut conn, &batch, &OpenMirror::default()).expect("the batch commits");
        let outcomes: Vec<&str> = results
            .iter()
            .map(|r| match r {
                Ok(()) => "ok",
                Err(StoreError::Duplicate) => "duplicate",
                Err(StoreError::Conflict) => "conflict",
                Err(_) => "other",
            })
            .collect();
        assert_eq!(outcomes, ["ok", "duplicate", "conflict", "ok"]);

        let last_seq = |id: &str| {
            conn.query_row(
                "SELECT last_seq FROM conversations WHERE id = ?",
                [id],
                |r| r.get::<_, i64>(0),
            )
            .expect("read")
        };
        assert_eq!(last_seq("c1"), 1);
        assert_eq!(
            last_seq("c2"),
            1,
            "the refused turn's update was rolled back"
        );
        assert_eq!(last_seq("c3"), 0);
        let texts: Vec<String> = conn
            .prepare("SELECT text FROM messages ORDER BY conversation_id, seq")
            .expect("prepared")
            .query_map([], |r| r.get(0))
            .expect("read")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            texts,
            [shopper_message(1, "a").text, first.messages[0].text.clone()]
        );
    }

    #[tokio::test]
    async fn a_closed_handoffs_review_and_draft_share_the_batch_and_a_second_draft_is_refused() {
        use crate::handoff::{Escalation, EscalationReason, HandoffStatus, Priority};
        use crate::nlu::Lang;
        use crate::store::DraftStatus;

        let dir = tempfile::tempdir().expect("temp dir");
        let (store, c1) = store_with_conversation(dir.path()).await;
        let escalation = Escalation {
            reason: EscalationReason::LowConfidence,
            priority: Priority::Normal,
            skill: "orders".into(),
            intent: None,
        };
        let h = Handoff::queue(&c1, &[], &escalation, Lang::En, None, 1)
            .closed(HandoffStatus::Resolved, 5);
        let review = Review::of_closed(&h, "a1", 6);
        let draft = |id: &str| FaqDraft {
            id: id.into(),
            conversation_id: "c1".into(),
            handoff_id: h.id.clone(),
            lang: Lang::En,
            question: "Can I pay with PayPal?".into(),
            answer: "Yes, at checkout.".into(),
            alternates: Vec::new(),
            suggested_id: "pay-with-paypal".into(),
            status: DraftStatus::Pending,
            faq_id: None,
            created_at: 6,
            decided_at: None,
        };
        let batch: Vec<(Write, Reply)> = vec![
            Write::Review(Box::new(review.clone())),
            Write::Draft(Box::new(draft("d1"))),
            // The same handoff's draft again (a retried closing): refused, nothing written.
            Write::Draft(Box::new(draft("d2"))),
            Write::Turn(Box::new(TurnWrite::new(
                &c1,
                vec![shopper_message(1, "a")],
                7,
            ))),
        ]
        .into_iter()
        .map(|w| (w, oneshot::channel().0))
        .collect();
        let mut conn = Connection::open(dir.path().join("baton.db")).expect("opens");
        conn.pragma_update(None, "foreign_keys", true).expect("set");
        let results = commit_without_savepoints(&mut conn, &batch, &OpenMirror::default())
            .expect("the batch commits")
            .expect("the refused draft needed no second pass");
        assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
        assert!(matches!(results[2], Err(StoreError::Exists(_))));

        assert_eq!(
            store.reviews().review(&h.id).await.expect("read"),
            Some(review)
        );
        let drafts = store.drafts(DraftStatus::Pending, 10).await.expect("read");
        assert_eq!(
            drafts.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["d1"]
        );
        assert_eq!(
            store.messages_after("c1", 0, 10).await.expect("read").len(),
            1
        );
    }

    #[tokio::test]
    async fn conflicts_alone_keep_the_batch_in_one_pass() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_store, c1) = store_with_conversation(dir.path()).await;
        let batch: Vec<(Write, Reply)> = ["a", "b", "c"]
            .into_iter()
            .map(|id| {
                let write = TurnWrite::new(&c1, vec![shopper_message(1, id)], 2);
                (Write::Turn(Box::new(write)), oneshot::channel().0)
            })
            .collect();
        let mut conn = Connection::open(dir.path().join("baton.db")).expect("opens");
        let results = commit_without_savepoints(&mut conn, &batch, &OpenMirror::default())
            .expect("the batch commits")
            .expect("no turn needed a savepoint");
        assert!(results[0].is_ok());
        assert!(matches!(results[1], Err(StoreError::Conflict)));
        assert!(matches!(results[2], Err(StoreError::Conflict)));
    }

    /// The writer copies the log into the database file every `CHECKPOINT_PAGES`, not at
    /// SQLite's default of 1,000 pages: the log file never grows past that many pages (and
    /// one commit), while the turns written here pass through well over 1,000.
    #[tokio::test]
    async fn the_writer_checkpoints_the_log_every_few_hundred_pages() {
        use crate::config::Synchronous;
        let dir = tempfile::tempdir().expect("temp dir");
        let config = StoreConfig {
            synchronous: Synchronous::Normal,
            ..StoreConfig::default()
        };
        let store = SqliteStore::open(&dir.path().join("baton.db"), &config)
            .await
            .expect("store opens");
        let mut c = Conversation::for_tests("c1");
        store.create_conversation(&c).await.expect("created");
        // Each turn fills a page of its own: 1,500 pages of messages alone.
        for seq in 1..=1_500 {
            let mut message = shopper_message(seq, &format!("m{seq}"));
            message.text = "x".repeat(4_000);
            let write = TurnWrite::new(&c, vec![message], seq);
            store.commit_turn(&write).await.expect("committed");
            c.last_seq = seq;
        }
        let page = 4_096 + 24;
        let at_most = 32 + (u64::from(super::super::sqlite::CHECKPOINT_PAGES) + 50) * page;
        let wal = std::fs::metadata(dir.path().join("baton.db-wal")).map_or(0, |m| m.len());
        assert!(wal <= at_most, "the log grew to {wal} bytes");
    }
}
