//! The embedded store's hottest reads, run in place on the caller's thread.
//!
//! Every shopper turn reads its conversation, its open handoff and whether its
//! `client_msg_id` is already stored; every live socket catches up with `messages_after`;
//! every notice is worded in the language of the last turn; every agent request reads the
//! agent's record to check the token; an agent opening a conversation reads its latest
//! handoff and notes; a FAQ that hands a task to a team counts the conversation's open
//! tickets; scoring a closed handoff for review reads its rating; an agent's queue listing
//! reads the cards of up to 200 open handoffs (on the blocking pool: many rows).
//! Each is one indexed lookup that SQLite answers from its page cache in a few
//! microseconds. Through sqlx every statement travels to a connection thread and back (two
//! context switches, a pool checkout and a task to return the connection) — several times
//! the cost of the lookup itself, and under load a fifth of a node's CPU. So these reads
//! run on `rusqlite` connections kept here, on whichever thread asks:
//!
//! ```text
//! read ─► take an idle connection (or open one) ─► cached statement ─► rows
//!      ─► rows::*Row::from_rusqlite ─► domain type ─► connection back to the idle list
//! ```
//!
//! In WAL mode readers never wait for the writers, and each statement is its own read
//! transaction (a shopper request's first reads share one), so a read sees every commit
//! acknowledged before it started. The connections are `query_only`: nothing can write
//! through them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::rows::{
    self, AgentRow, ConversationRow, HandoffCardRow, HandoffRow, MessageRow, NoteRow,
    agent_columns, conversation_columns, handoff_columns, handoffs_with_context, message_columns,
    note_columns,
};
use super::{ShopperRead, StoreError};
use crate::conversation::{Conversation, Message};
use crate::handoff::Handoff;
use crate::handoff::Note;
use crate::handoff::agent::Agent;
use crate::nlu::Lang;

/// Idle connections kept at most: one per thread that reads at the same time (the runtime's
/// workers and a few blocking threads); more are opened when needed and closed after.
const IDLE: usize = 8;

/// Prepared statements kept per connection: every query here, with room to spare.
const STATEMENTS: usize = 24;

/// Every live socket's catch-up read. The limit is `+?3`, not `?3`: SQLite's planner reads a
/// bare `LIMIT ?` parameter's value, and then every new binding of it makes the statement
/// be parsed and planned again (it was about 1 % of a busy node's CPU). `+?3` is the same
/// number, which the planner leaves alone.
const MESSAGES_AFTER: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq LIMIT +?3"
);

const CONVERSATION: &str = concat!(
    "SELECT ",
    conversation_columns!(),
    " FROM conversations WHERE id = ?1"
);

/// A shopper's turn reads the open handoff's routing, never its context.
const OPEN_HANDOFF_ROUTING: &str = concat!(
    "SELECT ",
    handoff_columns!(),
    " FROM handoffs WHERE conversation_id = ?1 AND status IN ('queued', 'assigned')"
);

const OPEN_HANDOFF: &str = concat!(
    "SELECT ",
    handoff_columns!(),
    ", context FROM ",
    handoffs_with_context!(),
    " WHERE conversation_id = ?1 AND status IN ('queued', 'assigned')"
);

/// Through `handoffs_conversation` (migration 0013): a conversation has few handoffs.
const LATEST_HANDOFF: &str = concat!(
    "SELECT ",
    handoff_columns!(),
    ", context FROM ",
    handoffs_with_context!(),
    " WHERE conversation_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 1"
);

const OPEN_HANDOFFS: &str = concat!(
    "SELECT ",
    handoff_columns!(),
    " FROM handoffs WHERE status IN ('queued', 'assigned') ORDER BY created_at"
);

const TURN_SHOPPER_MESSAGE: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ?1 AND client_msg_id = ?2"
);

const TURN_REPLIES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ?1 AND reply_to = ?2 ORDER BY seq"
);

const AGENT: &str = concat!("SELECT ", agent_columns!(), " FROM agents WHERE id = ?1");

const LAST_TURN_LANG: &str = "SELECT json_extract(turn, '$.lang') FROM messages
     WHERE conversation_id = ?1 AND turn IS NOT NULL ORDER BY seq DESC LIMIT 1";

const NOTES: &str = concat!(
    "SELECT ",
    note_columns!(),
    " FROM notes WHERE conversation_id = ?1 ORDER BY created_at, id"
);

const RATING_OF: &str = super::quality_sql::RATING_OF;

const OPEN_TICKETS_OF: &str =
    "SELECT COUNT(*) FROM tickets WHERE conversation_id = ?1 AND status = 'open'";

/// The cards of the open handoffs of a JSON array of conversation ids. Contexts stored
/// before the card's columns existed have them in the JSON only. `CROSS JOIN` makes SQLite
/// look each id up: with `conversation_id IN (SELECT value FROM json_each(?))` it could not
/// tell how many ids there are and walked every open handoff instead, thousands of rows
/// for every agent's queue listing on a peak day.
pub(super) const HANDOFF_CARDS: &str = "SELECT h.conversation_id,
        COALESCE(summary, json_extract(context, '$.summary')),
        COALESCE(customer, json_extract(context, '$.customer'))
     FROM json_each(?) AS wanted
     CROSS JOIN handoffs h ON h.conversation_id = wanted.value
     JOIN handoff_contexts ON handoff_id = h.id
     WHERE h.status IN ('queued', 'assigned')";

/// Direct read connections to one database file.
#[derive(Debug)]
pub(super) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl DirectReads {
    /// Reads of the (already migrated) database at `path`; opens one connection to check it.
    pub(super) fn open(path: &Path) -> Result<DirectReads, StoreError> {
        let reads = DirectReads {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        };
        let first = reads.connect()?;
        reads.put_back(first);
        Ok(reads)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        super::sqlite_busy::install(&conn)?;
        conn.pragma_update(None, "query_only", true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS);
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        // A connection left inside a read transaction would hold its snapshot, and the log
        // could never be checkpointed past it: such a connection is closed instead.
        if !conn.is_autocommit() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE
        {
            idle.push(conn);
        }
    }

    /// Closes the idle connections, so the store's last writer to close is the database's
    /// last connection and checkpoints the WAL. A read after this opens a connection again.
    pub(super) fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    /// Runs `read` on an idle connection (or a new one) and returns the connection after.
    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match taken {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = read(&conn);
        self.put_back(conn);
        result
    }

    /// The one row `sql` finds for `key` (its only parameter), read with `decode` and made
    /// a domain value with `into`.
    fn one<R, T>(
        &self,
        sql: &str,
        key: &str,
        decode: fn(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
        into: fn(R) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row =
            self.with(|c| Ok(c.prepare_cached(sql)?.query_row([key], decode).optional()?))?;
        row.map(into).transpose()
    }

    /// Every row `sql` finds for `params`, read with `decode`.
    fn many<R>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
    ) -> Result<Vec<R>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare_cached(sql)?;
            let rows = statement.query_map(params, decode)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub(super) fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        self.one(
            CONVERSATION,
            id,
            ConversationRow::from_rusqlite,
            ConversationRow::into_conversation,
        )
    }

    pub(super) fn open_handoff(
        &self,
        conversation_id: &str,
    ) -> Result<Option<Handoff>, StoreError> {
        self.one(
            OPEN_HANDOFF,
            conversation_id,
            HandoffRow::from_rusqlite,
            HandoffRow::into_handoff,
        )
    }

    /// The conversation's most recent handoff, open or closed, with its context.
    pub(super) fn latest_handoff(
        &self,
        conversation_id: &str,
    ) -> Result<Option<Handoff>, StoreError> {
        self.one(
            LATEST_HANDOFF,
            conversation_id,
            HandoffRow::from_rusqlite,
            HandoffRow::into_handoff,
        )
    }

    /// Every queued or assigned handoff, without contexts, oldest first. Not one lookup but
    /// the whole open queue — thousands of rows on a busy day, read by every dispatcher pass
    /// and every agent's queue listing. Through sqlx each row was copied value by value and
    /// sent across threads one at a time; here rows are decoded where SQLite leaves them.
    pub(super) fn open_handoffs(&self) -> Result<Vec<Handoff>, StoreError> {
        rows::handoffs(self.many(OPEN_HANDOFFS, [], HandoffRow::from_rusqlite)?)
    }

    /// The shopper message stored under `client_msg_id` and the bot's replies to it.
    pub(super) fn turn_by_client_msg_id(
        &self,
        conversation_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<Vec<Message>>, StoreError> {
        self.with(|c| stored_turn(c, conversation_id, client_msg_id))
    }

    /// A shopper request's first reads ([`Store::shopper_read`](super::Store::shopper_read))
    /// in one read transaction: SQLite takes its snapshot (a shared lock and a read mark in
    /// the log's index) once, not three times, and the three see the same commits.
    pub(super) fn shopper_read(
        &self,
        id: &str,
        client_msg_id: Option<&str>,
    ) -> Result<ShopperRead, StoreError> {
        self.with(|c| {
            in_one_snapshot(c, || {
                let Some(conversation) = c
                    .prepare_cached(CONVERSATION)?
                    .query_row([id], ConversationRow::from_rusqlite)
                    .optional()?
                else {
                    return Ok(ShopperRead::default());
                };
                let open = c
                    .prepare_cached(OPEN_HANDOFF_ROUTING)?
                    .query_row([id], HandoffRow::from_rusqlite)
                    .optional()?;
                let stored = match client_msg_id {
                    Some(key) => stored_turn(c, id, key)?,
                    None => None,
                };
                Ok(ShopperRead {
                    conversation: Some(conversation.into_conversation()?),
                    open: open.map(HandoffRow::into_handoff).transpose()?,
                    stored,
                })
            })
        })
    }

    /// An agent's record: every request of the agents' console reads it to check the
    /// token, so it is read here rather than through a connection thread.
    pub(super) fn agent(&self, id: &str) -> Result<Option<Agent>, StoreError> {
        self.one(AGENT, id, AgentRow::from_rusqlite, AgentRow::into_agent)
    }

    /// The language of the last shopper turn: one field of one row, not the turn's record.
    pub(super) fn last_turn_lang(&self, conversation_id: &str) -> Result<Option<Lang>, StoreError> {
        let code: Option<Option<String>> =
            self.one(LAST_TURN_LANG, conversation_id, |r| r.get(0), Ok)?;
        code.flatten()
            .map(|code| rows::lang("turn.lang", &code))
            .transpose()
    }

    /// At most `limit` messages after `after`, in order.
    pub(super) fn messages_after(
        &self,
        conversation_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        rows::messages(self.many(
            MESSAGES_AFTER,
            rusqlite::params![conversation_id, after, i64::from(limit)],
            MessageRow::from_rusqlite,
        )?)
    }

    /// The conversation's notes and whispers, oldest first.
    pub(super) fn notes(&self, conversation_id: &str) -> Result<Vec<Note>, StoreError> {
        let found = self.many(NOTES, [conversation_id], NoteRow::from_rusqlite)?;
        Ok(found.into_iter().map(NoteRow::into_note).collect())
    }

    /// The shopper's rating of a handoff, read when the handoff is scored for review.
    pub(super) fn rating_of(&self, handoff_id: &str) -> Result<Option<u8>, StoreError> {
        let score: Option<i64> = self.one(RATING_OF, handoff_id, |r| r.get(0), Ok)?;
        Ok(score.and_then(|s| u8::try_from(s).ok()))
    }

    /// The queue cards of the open handoffs among `conversation_ids` (a JSON array), as
    /// rows: what an agent's queue listing shows of each conversation.
    pub(super) fn handoff_cards(
        &self,
        conversation_ids: &str,
    ) -> Result<Vec<HandoffCardRow>, StoreError> {
        self.many(HANDOFF_CARDS, [conversation_ids], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
    }

    /// How many of the conversation's tickets are open.
    pub(super) fn count_open_tickets_of(&self, conversation_id: &str) -> Result<u64, StoreError> {
        // `COUNT(*)` always yields its one row.
        let n: Option<i64> = self.one(OPEN_TICKETS_OF, conversation_id, |r| r.get(0), Ok)?;
        Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }
}

/// Runs `read` in one read transaction on `c`: its statements share one snapshot. `BEGIN`
/// and `COMMIT` are cached statements, not parsed each time; the transaction ends whether
/// `read` succeeds or not.
fn in_one_snapshot<T>(
    c: &Connection,
    read: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    c.prepare_cached("BEGIN")?.execute([])?;
    let result = read();
    let ended = c
        .prepare_cached("COMMIT")
        .and_then(|mut end| end.execute([]));
    let value = result?;
    ended?;
    Ok(value)
}

/// The shopper message stored under `client_msg_id` and the bot's replies to it, read on `c`.
fn stored_turn(
    c: &Connection,
    conversation_id: &str,
    client_msg_id: &str,
) -> Result<Option<Vec<Message>>, StoreError> {
    let shopper = c
        .prepare_cached(TURN_SHOPPER_MESSAGE)?
        .query_row([conversation_id, client_msg_id], MessageRow::from_rusqlite)
        .optional()?;
    let Some(shopper) = shopper else {
        return Ok(None);
    };
    let reply_to = shopper.seq();
    let mut found = vec![shopper];
    found.extend(
        c.prepare_cached(TURN_REPLIES)?
            .query_map(
                rusqlite::params![conversation_id, reply_to],
                MessageRow::from_rusqlite,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    );
    rows::messages(found).map(Some)
}

#[cfg(test)]
mod tests {
    use crate::config::StoreConfig;
    use crate::conversation::{Author, Conversation, Message};
    use crate::store::{SqliteStore, Store, TurnWrite};

    #[tokio::test]
    async fn reads_see_the_commits_and_closing_leaves_no_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baton.db");
        let store = SqliteStore::open(&path, &StoreConfig::default())
            .await
            .unwrap();
        assert!(store.conversation("c1").await.unwrap().is_none());
        store
            .create_conversation(&Conversation::for_tests("c1"))
            .await
            .unwrap();
        let read = store.conversation("c1").await.unwrap();
        assert_eq!(read.map(|c| c.id).as_deref(), Some("c1"));
        assert!(store.open_handoff("c1").await.unwrap().is_none());
        assert!(store.messages_after("c1", 0, 10).await.unwrap().is_empty());

        // The readers' connections are closed with the store, so the last one to close
        // checkpoints the log into the database file and removes it.
        store.close().await;
        let wal = dir.path().join("baton.db-wal");
        assert!(
            std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
            "{} is left behind",
            wal.display()
        );
    }

    #[tokio::test]
    async fn every_direct_read_searches_an_index_and_walks_no_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baton.db");
        let store = SqliteStore::open(&path, &StoreConfig::default())
            .await
            .unwrap();
        for (sql, index) in [
            (super::CONVERSATION, "sqlite_autoindex_conversations_1"),
            (super::OPEN_HANDOFF, "handoffs_one_open"),
            (super::OPEN_HANDOFF_ROUTING, "handoffs_one_open"),
            (super::LATEST_HANDOFF, "handoffs_conversation"),
            (super::OPEN_HANDOFFS, "handoffs_queue"),
            (super::TURN_SHOPPER_MESSAGE, "messages_client_msg_id"),
            (super::TURN_REPLIES, "sqlite_autoindex_messages_1"),
            (super::AGENT, "sqlite_autoindex_agents_1"),
            (super::LAST_TURN_LANG, "sqlite_autoindex_messages_1"),
            (super::MESSAGES_AFTER, "sqlite_autoindex_messages_1"),
            (super::NOTES, "notes_conversation"),
            (super::OPEN_TICKETS_OF, "tickets_conversation"),
            (super::RATING_OF, "sqlite_autoindex_ratings_1"),
        ] {
            crate::store::sqlite::tests::searches_through(&path, sql, index);
        }
        store.close().await;
    }

    #[tokio::test]
    async fn the_catch_up_read_is_planned_once_and_keeps_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baton.db");
        let store = SqliteStore::open(&path, &StoreConfig::default())
            .await
            .unwrap();
        let c = Conversation::for_tests("c1");
        store.create_conversation(&c).await.unwrap();
        let messages = (1..=5)
            .map(|seq| Message::for_tests(seq, Author::Shopper, Some(&format!("m{seq}"))))
            .collect();
        store
            .commit_turn(&TurnWrite::new(&c, messages, 5))
            .await
            .unwrap();

        let reads = super::DirectReads::open(&path).unwrap();
        let seqs = |after, limit| -> Vec<i64> {
            let found = reads.messages_after("c1", after, limit).unwrap();
            found.iter().map(|m| m.seq).collect()
        };
        assert_eq!(seqs(0, 2), [1, 2]);
        assert_eq!(seqs(2, 10), [3, 4, 5]);
        assert_eq!(seqs(1, 3), [2, 3, 4]);
        let re_prepared = reads
            .with(|c| {
                let statement = c.prepare_cached(super::MESSAGES_AFTER)?;
                Ok(statement.get_status(rusqlite::StatementStatus::RePrepare))
            })
            .unwrap();
        assert_eq!(
            re_prepared, 0,
            "a new limit made SQLite plan the read again"
        );
        store.close().await;
    }
}
