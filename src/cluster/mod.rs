//! Several nodes serving one shop through one PostgreSQL database, with no other broker.
//!
//! ```text
//! Hub::to_* ─► Relay (this node's Cluster) ─► outbox ─► bus::send ─► NOTIFY baton_events
//!                                                                        │
//! other nodes: bus::listen ◄─ LISTEN ◄────────────────────────────────────┘
//!              └─► Hub::deliver (local sockets), poke (if leading), resync after a gap
//! Desk::tick ─► share_presence (agent_presence) ─► lead (cluster_lease) ─► the pass, or not
//! ```
//!
//! - **Events** fan out with `NOTIFY` ([`wire`]). Notifications can be lost (a dropped
//!   connection, a full outbox); a receiver that reconnects or sees a gap in a node's frame
//!   numbers tells every local socket to re-read from the store, which holds every message by
//!   `seq` — so nothing is lost and nothing is shown twice.
//! - **The desk** (offers, timeouts, SLAs, queue positions) runs on one node at a time: the
//!   holder of the `desk` lease, renewed on every dispatcher pass and judged by the database's
//!   clock. When that node dies another takes over within [`Cluster::lease_ms`] plus one pass.
//!   Every routing write is conditional on the row's state as read (a handoff's status, a
//!   conversation's `last_seq`), so even two passes overlapping at a hand-over cannot assign a
//!   conversation twice.
//! - **Presence**: each node writes when it last saw each agent and reads when the others
//!   did, so an agent connected to any node counts as reachable.
//! - **Order** of one conversation's messages is the store's: its `last_seq` check makes
//!   concurrent turns on different nodes take turns.
//!
//! A single node on SQLite has no `Cluster`; everything above is then local.

mod bus;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Secret};
use crate::handoff::roster::Roster;
use crate::realtime::{Audience, Event, Hub, Relay};
use crate::store::StoreError;
use wire::Body;

/// Frames waiting to be sent; past this the newest are dropped (and receivers resync).
const OUTBOX: usize = 65_536;

/// The shortest desk lease; it is also at least three dispatcher passes.
const MIN_LEASE_MS: i64 = 5_000;

/// How often the desk's node deletes stale presence and stored events.
const TIDY_EVERY_MS: i64 = 60_000;

/// Milliseconds since the epoch on the database's clock, so nodes' clocks need not agree.
const DB_NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// This node's link to the others.
pub struct Cluster {
    node: String,
    pool: PgPool,
    outbox: mpsc::Sender<Body>,
    inbox: std::sync::Mutex<Option<mpsc::Receiver<Body>>>,
    /// Listening since before the node serves, so no socket can open before it.
    listener: std::sync::Mutex<Option<PgListener>>,
    /// Frames dropped since the last one sent, so the next frame's number shows the gap.
    dropped: AtomicU64,
    leading: AtomicBool,
    /// Set once the node stops: it no longer takes the lease it is giving up.
    leaving: AtomicBool,
    lease_ms: i64,
    /// When [`Cluster::tidy`] last deleted anything (ms), so it runs once a minute.
    tidied_at: AtomicI64,
}

impl Cluster {
    /// Connects to the shared database (its migrations are applied by the store).
    pub async fn join(url: &Secret, config: &Config) -> Result<Arc<Cluster>, StoreError> {
        // The listener holds one connection for good; the sender and the dispatcher use the
        // others.
        let pool = crate::store::connect_postgres(url.expose_str(), 4).await?;
        let (outbox, inbox) = mpsc::channel(OUTBOX);
        let node = uuid::Uuid::now_v7().simple().to_string();
        let listener = bus::subscribe(&pool).await?;
        tracing::info!(node = %node, "joined the cluster");
        Ok(Arc::new(Cluster {
            node,
            pool,
            outbox,
            inbox: std::sync::Mutex::new(Some(inbox)),
            listener: std::sync::Mutex::new(Some(listener)),
            dropped: AtomicU64::new(0),
            leading: AtomicBool::new(false),
            leaving: AtomicBool::new(false),
            lease_ms: MIN_LEASE_MS.max(3 * config.handoff.sweep_interval_ms as i64),
            tidied_at: AtomicI64::new(i64::MIN),
        }))
    }

    /// This node's id (random per start).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// How long the desk lease lasts unrenewed: the longest the desk stops after its node dies.
    pub fn lease_ms(&self) -> i64 {
        self.lease_ms
    }

    /// Whether this node held the desk lease at its last attempt.
    pub fn leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    /// Takes or renews the desk lease; `true` while this node holds it.
    pub async fn lead(&self) -> Result<bool, StoreError> {
        if self.leaving.load(Ordering::Relaxed) {
            self.leading.store(false, Ordering::Relaxed);
            return Ok(false);
        }
        let sql = format!(
            "INSERT INTO cluster_lease (name, holder, expires_at) VALUES ('desk', $1, {DB_NOW_MS} + $2)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE cluster_lease.holder = excluded.holder OR cluster_lease.expires_at < {DB_NOW_MS}
             RETURNING holder"
        );
        let won = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.node)
            .bind(self.lease_ms)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        if self.leading.swap(won, Ordering::Relaxed) != won {
            if won {
                tracing::info!(node = %self.node, "this node now runs the desk");
            } else {
                tracing::info!(node = %self.node, "another node runs the desk now");
            }
        }
        Ok(won)
    }

    /// Writes when this node last saw each agent and learns when the other nodes did.
    pub async fn share_presence(&self, roster: &Roster, now: i64) -> Result<(), StoreError> {
        if self.leaving.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (agents, seen): (Vec<String>, Vec<i64>) =
            roster.local_presence(now).into_iter().unzip();
        if !agents.is_empty() {
            sqlx::query(
                "INSERT INTO agent_presence (node_id, agent_id, last_seen)
                 SELECT $1, a, s FROM unnest($2::text[], $3::bigint[]) AS t(a, s)
                 ON CONFLICT (node_id, agent_id) DO UPDATE SET last_seen = excluded.last_seen",
            )
            .bind(&self.node)
            .bind(&agents)
            .bind(&seen)
            .execute(&self.pool)
            .await?;
        }
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT agent_id, max(last_seen) FROM agent_presence WHERE node_id <> $1 GROUP BY agent_id",
        )
        .bind(&self.node)
        .fetch_all(&self.pool)
        .await?;
        roster.set_elsewhere(rows.into_iter().collect::<HashMap<_, _>>());
        Ok(())
    }

    /// Forgets what no node needs any more: presence of nodes gone for a day, stored events
    /// every node has had time to read. Run by the desk's node on its passes, at most once
    /// a minute: what it deletes is a minute old at least, so sooner would find nothing.
    pub async fn tidy(&self, now: i64) -> Result<(), StoreError> {
        let last = self.tidied_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < TIDY_EVERY_MS {
            return Ok(());
        }
        self.tidied_at.store(now, Ordering::Relaxed);
        sqlx::query("DELETE FROM agent_presence WHERE last_seen < $1")
            .bind(now - 86_400_000)
            .execute(&self.pool)
            .await?;
        let sql = format!("DELETE FROM cluster_events WHERE created_at < {DB_NOW_MS} - 60000");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Wakes the node that runs the desk.
    pub fn poke_others(&self) {
        self.send(Body::Poke);
    }

    fn send(&self, body: Body) {
        if self.outbox.try_send(body).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends and receives until `stop`, then gives up the desk lease so another node takes
    /// over at once.
    pub async fn run(self: Arc<Self>, hub: Hub, poke: Arc<Notify>, stop: CancellationToken) {
        let Some(inbox) = self.inbox.lock().ok().and_then(|mut i| i.take()) else {
            return;
        };
        let sender = tokio::spawn(bus::send(self.clone(), inbox, stop.clone()));
        let listener = self.listener.lock().ok().and_then(|mut l| l.take());
        bus::listen(&self, listener, &hub, &poke, stop).await;
        self.leaving.store(true, Ordering::Relaxed);
        let _ = sender.await;
        let released = sqlx::query("DELETE FROM cluster_lease WHERE name = 'desk' AND holder = $1")
            .bind(&self.node)
            .execute(&self.pool)
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "could not give up the desk lease; it lapses on its own");
        }
        self.pool.close().await;
    }
}

impl Relay for Cluster {
    fn relay(&self, audience: Audience<'_>, event: &Event) {
        if let Some(body) = wire::body_for(audience, event) {
            self.send(body);
        }
    }
}
