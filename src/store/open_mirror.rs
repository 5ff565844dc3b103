//! The embedded store's open handoffs, kept in memory as they are committed.
//!
//! Every agent's queue listing, every accept and every dispatcher pass needs all queued and
//! assigned handoffs. On a peak day that is thousands of rows, and reading and decoding them
//! from SQLite each time was a sixth of a busy node's CPU. A copy would go stale within
//! milliseconds, so this one is not a cache that expires: every write that changes a handoff
//! applies its result here once SQLite has committed it.
//!
//! ```text
//! writer thread / erase: write ─► take `commit_order` ─► COMMIT ─► committed(handoffs) ─► release
//! open_handoffs():       current() ─► the shared handoffs, oldest first
//!                        └ None (never read, or a check is due) ─► reload(read the table)
//! ```
//!
//! Why it stays exact:
//! - **Commit order.** A writer takes `commit_order` while it holds SQLite's write lock and
//!   releases it only after applying its changes, so changes land in the order they were
//!   committed, and a later state never gives way to an earlier one.
//! - **Reloads do not stop writers.** A reload notes every change applied while it reads and
//!   replays them on what it read: a change committed before the read began is in both (and
//!   replaying the latest state is harmless), one committed after is in the notes.
//! - **What this process did not write.** Another process on the same file (`baton customer
//!   forget` closes open handoffs) is not seen here, so the table is read again every
//!   [`RECHECK`] and after a commit that failed. Until then a listing may show a
//!   conversation nobody can take any more; every action on it still checks the database
//!   and is refused, and the dispatcher's offer of it conflicts and is dropped.
//!
//! The handoffs' writers are the group-commit thread (turns and the desk's routing changes)
//! and erasure; nothing else in the store writes a handoff's status or routing.
//!
//! Only the embedded store keeps this: on PostgreSQL other nodes write too, and the open
//! handoffs are read from the database.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::StoreError;
use crate::handoff::{Handoff, HandoffStatus};

/// How long the copy is trusted before the table is read again.
pub(super) const RECHECK: Duration = Duration::from_secs(5);

/// Oldest first, like the table read: creation time, then id.
type Key = (i64, String);

/// The open handoffs of one SQLite store (see the module docs).
#[derive(Debug, Default)]
pub(super) struct OpenMirror {
    /// Held from just before a commit that changes handoffs until its changes are applied.
    commit_order: tokio::sync::Mutex<()>,
    /// One reload at a time; the others wait for its result.
    reloading: Mutex<()>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    open: BTreeMap<Key, Arc<Handoff>>,
    /// When the table was last read; `None` before the first read and once a read is due.
    read_at: Option<Instant>,
    /// Changes applied while a reload reads, to replay on what it read.
    during_reload: Option<Vec<Arc<Handoff>>>,
    /// Bumped by [`OpenMirror::forget`]: a reload that began before must not count as fresh.
    forgotten: u64,
}

fn key(h: &Handoff) -> Key {
    (h.created_at, h.id.clone())
}

impl State {
    fn apply(&mut self, h: Arc<Handoff>) {
        let key = key(&h);
        if matches!(h.status, HandoffStatus::Queued | HandoffStatus::Assigned) {
            self.open.insert(key, h);
        } else {
            self.open.remove(&key);
        }
    }

    fn fresh(&self, now: Instant) -> bool {
        self.read_at
            .is_some_and(|at| now.saturating_duration_since(at) < RECHECK)
    }
}

impl OpenMirror {
    pub(super) fn new() -> Arc<OpenMirror> {
        Arc::new(OpenMirror::default())
    }

    /// Taken by a writer on the writer thread, while it holds SQLite's write lock, before
    /// its COMMIT; applies are then in commit order.
    pub(super) fn blocking_commit_order(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.commit_order.blocking_lock()
    }

    /// [`Self::blocking_commit_order`] for a writer on the async runtime.
    pub(super) async fn commit_order(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.commit_order.lock().await
    }

    /// Applies handoffs as they were just committed (with `commit_order` held): open ones
    /// are kept, closed ones dropped.
    pub(super) fn committed<'h>(&self, handoffs: impl IntoIterator<Item = &'h Handoff>) {
        let mut state = self.lock();
        for h in handoffs {
            let h = Arc::new(h.without_context());
            if let Some(notes) = &mut state.during_reload {
                notes.push(h.clone());
            }
            state.apply(h);
        }
    }

    /// The copy may be behind the database (a failed commit, another process): the next
    /// read takes the table again.
    pub(super) fn forget(&self) {
        let mut state = self.lock();
        state.read_at = None;
        state.forgotten += 1;
    }

    /// The open handoffs oldest first, shared with the copy (nothing is cloned but the
    /// pointers, so the writer thread never waits long for the lock), or `None` when the
    /// table must be read ([`Self::reload`]).
    pub(super) fn current(&self, now: Instant) -> Option<Vec<Arc<Handoff>>> {
        let state = self.lock();
        if !state.fresh(now) {
            return None;
        }
        Some(state.open.values().cloned().collect())
    }

    /// Reads the table with `read` (a blocking read of every open handoff) and makes it
    /// the copy, with the changes committed meanwhile on top; the open handoffs oldest first.
    pub(super) fn reload(
        &self,
        read: impl FnOnce() -> Result<Vec<Handoff>, StoreError>,
    ) -> Result<Vec<Arc<Handoff>>, StoreError> {
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let started = Instant::now();
        if let Some(open) = self.current(started) {
            return Ok(open); // another reload just finished
        }
        let forgotten = {
            let mut state = self.lock();
            state.during_reload = Some(Vec::new());
            state.forgotten
        };
        let read = read();
        let mut state = self.lock();
        let notes = state.during_reload.take().unwrap_or_default();
        let rows = read?;
        state.open = rows.into_iter().map(|h| (key(&h), Arc::new(h))).collect();
        for h in notes {
            state.apply(h);
        }
        if state.forgotten == forgotten {
            state.read_at = Some(started);
        }
        Ok(state.open.values().cloned().collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is whole after every statement that changes it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Conversation;
    use crate::handoff::{Escalation, EscalationReason, Priority};
    use crate::nlu::Lang;

    /// A handoff with its context, as a turn that escalates writes it.
    fn handoff(id: &str, created_at: i64, status: HandoffStatus) -> Handoff {
        let escalation = Escalation {
            reason: EscalationReason::RequestedHuman,
            priority: Priority::Normal,
            skill: "orders".into(),
            intent: None,
        };
        let c = Conversation::for_tests(&format!("c-{id}"));
        let mut h = Handoff::queue(&c, &[], &escalation, Lang::En, None, created_at);
        h.id = id.into();
        h.status = status;
        h
    }

    fn ids(open: &[Arc<Handoff>]) -> Vec<&str> {
        open.iter().map(|h| h.id.as_str()).collect()
    }

    #[test]
    fn nothing_is_served_before_the_first_read() {
        let mirror = OpenMirror::new();
        mirror.committed(&[handoff("a", 1, HandoffStatus::Queued)]);
        assert!(mirror.current(Instant::now()).is_none());
    }

    #[test]
    fn committed_changes_keep_open_handoffs_oldest_first_and_drop_closed_ones() {
        let mirror = OpenMirror::new();
        let read = mirror
            .reload(|| Ok(vec![handoff("b", 2, HandoffStatus::Queued)]))
            .expect("read");
        assert_eq!(ids(&read), ["b"]);
        mirror.committed(&[
            handoff("c", 3, HandoffStatus::Queued),
            handoff("a", 1, HandoffStatus::Queued),
        ]);
        mirror.committed(&[handoff("b", 2, HandoffStatus::Assigned)]);
        let open = mirror.current(Instant::now()).expect("fresh");
        assert_eq!(ids(&open), ["a", "b", "c"]);
        assert_eq!(open[1].status, HandoffStatus::Assigned);
        mirror.committed(&[
            handoff("a", 1, HandoffStatus::Resolved),
            handoff("c", 3, HandoffStatus::Returned),
        ]);
        assert_eq!(ids(&mirror.current(Instant::now()).expect("fresh")), ["b"]);
    }

    #[test]
    fn readers_share_the_handoffs_until_one_changes() {
        let mirror = OpenMirror::new();
        mirror
            .reload(|| Ok(vec![handoff("a", 1, HandoffStatus::Queued)]))
            .expect("read");
        let first = mirror.current(Instant::now()).expect("fresh");
        let second = mirror.current(Instant::now()).expect("fresh");
        assert!(Arc::ptr_eq(&first[0], &second[0]), "shared, not copied");
        mirror.committed(&[handoff("a", 1, HandoffStatus::Assigned)]);
        let third = mirror.current(Instant::now()).expect("fresh");
        assert_eq!(third[0].status, HandoffStatus::Assigned);
        assert_eq!(
            first[0].status,
            HandoffStatus::Queued,
            "a reader's view stays whole"
        );
    }

    #[test]
    fn contexts_are_not_kept() {
        let mirror = OpenMirror::new();
        mirror.reload(|| Ok(vec![])).expect("read");
        let h = handoff("a", 1, HandoffStatus::Queued);
        assert!(h.context.is_some());
        mirror.committed(&[h]);
        let open = mirror.current(Instant::now()).expect("fresh");
        assert!(open[0].context.is_none());
    }

    #[test]
    fn changes_committed_while_a_reload_reads_are_not_lost() {
        let mirror = OpenMirror::new();
        let open = mirror
            .reload(|| {
                // The read's snapshot predates these commits: it has neither.
                mirror.committed(&[handoff("new", 5, HandoffStatus::Queued)]);
                mirror.committed(&[handoff("old", 1, HandoffStatus::Resolved)]);
                Ok(vec![handoff("old", 1, HandoffStatus::Queued)])
            })
            .expect("read");
        assert_eq!(ids(&open), ["new"]);
        assert_eq!(
            ids(&mirror.current(Instant::now()).expect("fresh")),
            ["new"]
        );
    }

    #[test]
    fn the_table_is_read_again_when_the_copy_may_be_behind() {
        let mirror = OpenMirror::new();
        mirror.reload(|| Ok(vec![])).expect("read");
        let now = Instant::now();
        assert!(mirror.current(now).is_some());
        assert!(
            mirror.current(now + RECHECK).is_none(),
            "checked every RECHECK"
        );
        mirror.forget();
        assert!(mirror.current(now).is_none(), "read again once forgotten");
        // Forgotten while a reload reads: that reload does not make it fresh.
        mirror
            .reload(|| {
                mirror.forget();
                Ok(vec![])
            })
            .expect("read");
        assert!(mirror.current(Instant::now()).is_none());
        mirror.reload(|| Ok(vec![])).expect("read");
        assert!(mirror.current(Instant::now()).is_some());
    }

    #[test]
    fn a_failed_read_leaves_the_copy_to_be_read_again() {
        let mirror = OpenMirror::new();
        let failed = mirror.reload(|| Err(StoreError::Busy));
        assert!(matches!(failed, Err(StoreError::Busy)));
        assert!(mirror.current(Instant::now()).is_none());
    }
}
