//! The two loops that carry frames between nodes: [`send`] drains this node's outbox into
//! `NOTIFY`s, a batch per transaction; [`listen`] turns other nodes' notifications into
//! deliveries to local sockets, a poke of the desk, or — after a reconnect or a gap in a
//! node's frame numbers — a resync of every local socket from the store.

use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::wire::{self, Body, CHANNEL, Frame, MAX_INLINE_BYTES, Sequence};
use crate::realtime::Hub;
use crate::store::StoreError;

/// Frames sent per transaction at most.
const BATCH: usize = 256;

/// Pause after a failed send or listen before trying again.
const RETRY: Duration = Duration::from_millis(250);

/// Sends the outbox until `stop`. What is still queued then is dropped: the other nodes'
/// sockets read it from the store when they next catch up.
pub(super) async fn send(
    cluster: std::sync::Arc<Cluster>,
    mut inbox: mpsc::Receiver<Body>,
    stop: CancellationToken,
) {
    let mut seq = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            body = inbox.recv() => body,
            _ = stop.cancelled() => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < BATCH {
            match inbox.try_recv() {
                Ok(body) => batch.push(body),
                Err(_) => break,
            }
        }
        // Frames dropped from a full outbox still take numbers, so receivers see the gap.
        seq += cluster.dropped.swap(0, Ordering::Relaxed);
        let frames: Vec<Frame> = batch
            .drain(..)
            .map(|body| {
                seq += 1;
                Frame {
                    node: cluster.node.clone(),
                    seq,
                    body,
                }
            })
            .collect();
        if let Err(e) = notify(&cluster, frames).await {
            // Lost frames show as a gap on the receivers, which then resync.
            tracing::warn!(error = %e, "could not notify the other nodes");
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// Notifies `frames` in one transaction, storing the large ones first.
async fn notify(cluster: &Cluster, frames: Vec<Frame>) -> Result<(), StoreError> {
    let mut payloads = Vec::with_capacity(frames.len());
    let (mut ids, mut stored) = (Vec::new(), Vec::new());
    for mut frame in frames {
        let mut text = encode(&frame)?;
        if text.len() > MAX_INLINE_BYTES
            && let Body::Event { to, .. } = &frame.body
        {
            let id = uuid::Uuid::now_v7().simple().to_string();
            let to = to.clone();
            ids.push(id.clone());
            stored.push(encode(&frame.body)?);
            frame.body = Body::Stored { to, id };
            text = encode(&frame)?;
        }
        payloads.push(text);
    }
    let mut tx = cluster.pool.begin().await?;
    if !ids.is_empty() {
        let sql = format!(
            "INSERT INTO cluster_events (id, payload, created_at)
             SELECT i, p, {} FROM unnest($1::text[], $2::text[]) AS t(i, p)",
            super::DB_NOW_MS
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&ids)
            .bind(&stored)
            .execute(&mut *tx)
            .await?;
    }
    // A function scan yields the array in order, and one transaction's notifications are
    // delivered in the order they were made.
    sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
        .bind(CHANNEL)
        .bind(&payloads)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

fn encode(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Engine(e.to_string()))
}

/// Receives the other nodes' frames until `stop`, on `listener` (subscribed before the node
/// began to serve) and on new ones after a failure.
pub(super) async fn listen(
    cluster: &Cluster,
    mut listener: Option<PgListener>,
    hub: &Hub,
    poke: &Notify,
    stop: CancellationToken,
) {
    let mut seen = Sequence::default();
    loop {
        if stop.is_cancelled() {
            break;
        }
        let Some(l) = listener.as_mut() else {
            match subscribe(&cluster.pool).await {
                Ok(l) => {
                    listener = Some(l);
                    // Whatever was published while this node was not listening is read
                    // from the store.
                    seen.reset();
                    hub.resync_all();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen to the other nodes; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(RETRY) => {}
                    }
                }
            }
            continue;
        };
        let received = tokio::select! {
            _ = stop.cancelled() => break,
            n = l.try_recv() => n,
        };
        match received {
            Ok(Some(notification)) => {
                receive(cluster, hub, poke, &mut seen, notification.payload()).await;
            }
            // The connection dropped and was re-established: notifications in between are lost.
            Ok(None) => {
                tracing::warn!("the link to the other nodes was re-established; resyncing sockets");
                seen.reset();
                hub.resync_all();
            }
            Err(e) => {
                tracing::warn!(error = %e, "lost the link to the other nodes; reconnecting");
                listener = None;
            }
        }
    }
}

/// A connection listening on [`CHANNEL`].
pub(super) async fn subscribe(pool: &sqlx::PgPool) -> Result<PgListener, StoreError> {
    let mut l = PgListener::connect_with(pool).await?;
    l.listen(CHANNEL).await?;
    Ok(l)
}

async fn receive(cluster: &Cluster, hub: &Hub, poke: &Notify, seen: &mut Sequence, payload: &str) {
    let Ok(frame) = serde_json::from_str::<Frame>(payload) else {
        tracing::warn!("ignored an unreadable notification from another node");
        return;
    };
    if frame.node == cluster.node {
        return;
    }
    if seen.missed_before(&frame.node, frame.seq) {
        tracing::warn!(node = %frame.node, "missed notifications from a node; resyncing sockets");
        hub.resync_all();
    }
    let body = match frame.body {
        // Only the desk's node acts on a poke; the others would only pass it on again.
        Body::Poke => {
            if cluster.leading() {
                poke.notify_one();
            }
            return;
        }
        Body::Stored { to, id } => match stored(cluster, &id).await {
            Some(body) => body,
            None => {
                tracing::warn!("a stored event from another node is gone; resyncing its audience");
                hub.deliver(
                    to.audience(),
                    crate::realtime::Event::Remote(crate::realtime::Remote::Resync),
                );
                return;
            }
        },
        body => body,
    };
    if let Some((to, event)) = wire::delivery(body) {
        hub.deliver(to.audience(), event);
    }
}

async fn stored(cluster: &Cluster, id: &str) -> Option<Body> {
    let row: Option<(String,)> = sqlx::query_as("SELECT payload FROM cluster_events WHERE id = $1")
        .bind(id)
        .fetch_optional(&cluster.pool)
        .await
        .ok()?;
    serde_json::from_str(&row?.0).ok()
}
