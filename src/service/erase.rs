//! Erasing a shopper's personal data (PIPL, GDPR): on request, for every conversation of a
//! shop's customer or for one conversation (`baton customer forget`, the admin API), and
//! after the retention period (`retention.days`, a background task).
//!
//! Every path goes through [`erase`]: one transaction per conversation
//! ([`Store::erase_conversation`]) that replaces the texts with
//! [`ERASED_TEXT`](crate::conversation::ERASED_TEXT), makes the customer anonymous, closes
//! the conversation to its token and writes an audit entry with the counts (never the
//! values). Rows are anonymised rather than deleted, so the statistics — counts, times,
//! intents, decisions, scores — stay as they were.

use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{ConversationService, ServiceError, check_id};
use crate::handoff::{AuditEntry, Handoff};
use crate::realtime::Event;
use crate::store::{EraseOutcome, Erasure, Store, StoreError};

/// Audit action of an erase on request.
pub const FORGET_ACTION: &str = "customer.forget";

/// Audit action of an erase after the retention period.
pub const RETENTION_ACTION: &str = "retention.erase";

/// Longest customer id accepted (ids are the shop's own; this only bounds the lookup).
const MAX_CUSTOMER_ID_CHARS: usize = 256;

/// Whose data to erase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Every conversation of the shop's customer (`customer.id` when it started).
    Customer(String),
    /// One conversation (an anonymous shopper who asked through support).
    Conversation(String),
}

impl Subject {
    fn kind(&self) -> &'static str {
        match self {
            Subject::Customer(_) => "customer",
            Subject::Conversation(_) => "conversation",
        }
    }
}

/// What an erase changed, summed over its conversations: counts and conversation ids,
/// never the erased values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Forgotten {
    /// Conversations erased now.
    pub conversations: u64,
    /// Conversations that were already erased (nothing left to do).
    pub already_erased: u64,
    pub messages: u64,
    pub notes: u64,
    pub tickets: u64,
    pub rating_comments: u64,
    pub drafts: u64,
    pub handoff_contexts: u64,
    /// Open handoffs returned because nobody can take them up any more.
    pub handoffs_closed: u64,
    pub conversation_ids: Vec<String>,
    /// The handoffs closed, for the agents who held or were offered them.
    #[serde(skip)]
    pub closed: Vec<Handoff>,
}

impl Forgotten {
    fn add(&mut self, id: &str, e: Erasure) {
        self.conversations += 1;
        self.messages += e.messages;
        self.notes += e.notes;
        self.tickets += e.tickets;
        self.rating_comments += e.rating_comments;
        self.drafts += e.drafts;
        self.handoff_contexts += e.handoff_contexts;
        self.conversation_ids.push(id.to_string());
        if let Some(h) = e.closed_handoff {
            self.handoffs_closed += 1;
            self.closed.push(h);
        }
    }

    fn merge(&mut self, other: Forgotten) {
        self.conversations += other.conversations;
        self.already_erased += other.already_erased;
        self.messages += other.messages;
        self.notes += other.notes;
        self.tickets += other.tickets;
        self.rating_comments += other.rating_comments;
        self.drafts += other.drafts;
        self.handoff_contexts += other.handoff_contexts;
        self.handoffs_closed += other.handoffs_closed;
        self.conversation_ids.extend(other.conversation_ids);
        self.closed.extend(other.closed);
    }
}

/// Who erases, why, and when: what each conversation's audit entry records.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `admin`, `admin:cli` or `system`.
    pub actor: &'a str,
    /// [`FORGET_ACTION`] or [`RETENTION_ACTION`].
    pub action: &'a str,
    /// `customer`, `conversation` or `retention`.
    pub subject: &'a str,
    /// Erase only conversations idle since before this (the retention period).
    pub idle_before: Option<i64>,
    pub now: i64,
}

impl<'a> Request<'a> {
    /// An erase on request.
    pub fn forget(subject: &Subject, actor: &'a str, now: i64) -> Request<'a> {
        Request {
            actor,
            action: FORGET_ACTION,
            subject: subject.kind(),
            idle_before: None,
            now,
        }
    }
}

/// Erases the conversations `ids`, each in its own transaction with its audit entry (the
/// counts, never the values). Unknown ids (and, with `idle_before`, conversations active
/// again) are skipped; the caller decides whether that is an error.
pub async fn erase(
    store: &dyn Store,
    ids: &[String],
    request: Request<'_>,
) -> Result<Forgotten, StoreError> {
    let Request {
        actor,
        action,
        subject,
        idle_before,
        now,
    } = request;
    let mut out = Forgotten::default();
    for id in ids {
        let audit = |e: &Erasure| {
            let mut detail = serde_json::to_value(e).unwrap_or_default();
            detail["subject"] = subject.into();
            detail["handoff_closed"] = e.closed_handoff.is_some().into();
            AuditEntry::new(now, actor, action, Some(id), detail)
        };
        match store
            .erase_conversation(id, idle_before, now, &audit)
            .await?
        {
            EraseOutcome::Erased(e) => out.add(id, *e),
            EraseOutcome::AlreadyErased => out.already_erased += 1,
            EraseOutcome::NotFound | EraseOutcome::Active => {}
        }
    }
    Ok(out)
}

/// Erases a customer's or a conversation's data on request: `NotFound` when the customer
/// has no conversation left to erase, or the conversation does not exist.
pub async fn forget(
    store: &dyn Store,
    subject: &Subject,
    actor: &str,
    now: i64,
) -> Result<Forgotten, ServiceError> {
    let ids = subject_conversations(store, subject).await?;
    let done = erase(store, &ids, Request::forget(subject, actor, now)).await?;
    if done.conversations == 0 && done.already_erased == 0 {
        return Err(ServiceError::NotFound);
    }
    Ok(done)
}

async fn subject_conversations(
    store: &dyn Store,
    subject: &Subject,
) -> Result<Vec<String>, ServiceError> {
    match subject {
        Subject::Customer(customer_id) => {
            if customer_id.is_empty() || customer_id.chars().count() > MAX_CUSTOMER_ID_CHARS {
                return Err(ServiceError::NotFound);
            }
            Ok(store.customer_conversations(customer_id).await?)
        }
        Subject::Conversation(id) => {
            check_id(id)?;
            Ok(vec![id.clone()])
        }
    }
}

/// One batch of the retention sweep: at most `batch` conversations whose last activity is
/// more than `days` days before `now`. Fewer than `batch` erased means none are left.
pub async fn erase_expired_batch(
    store: &dyn Store,
    days: u32,
    batch: u32,
    now: i64,
) -> Result<Forgotten, StoreError> {
    let before = now - i64::from(days) * 86_400_000;
    let ids = store.inactive_conversations(before, batch).await?;
    let request = Request {
        actor: "system",
        action: RETENTION_ACTION,
        subject: "retention",
        idle_before: Some(before),
        now,
    };
    erase(store, &ids, request).await
}

impl ConversationService {
    /// Erases on request (the admin API), under each conversation's lock, and tells the
    /// agents of any handoff that closed.
    pub async fn forget(&self, subject: &Subject, actor: &str) -> Result<Forgotten, ServiceError> {
        let store = self.store().as_ref();
        let ids = subject_conversations(store, subject).await?;
        let mut done = Forgotten::default();
        for id in &ids {
            let one = self
                .with_conversation_lock(id, || async {
                    let request = Request::forget(subject, actor, self.clock().now_ms());
                    Ok(erase(store, std::slice::from_ref(id), request).await?)
                })
                .await?;
            done.merge(one);
        }
        if done.conversations == 0 && done.already_erased == 0 {
            return Err(ServiceError::NotFound);
        }
        self.erased(&done, FORGET_ACTION);
        Ok(done)
    }

    /// Erases every conversation past the retention period now, in batches (nothing when
    /// `retention.days` is unset).
    pub async fn erase_expired(&self) -> Result<Forgotten, ServiceError> {
        self.sweep_expired(&CancellationToken::new()).await
    }

    async fn sweep_expired(&self, stop: &CancellationToken) -> Result<Forgotten, ServiceError> {
        let retention = &self.config().retention;
        let Some(days) = retention.days else {
            return Ok(Forgotten::default());
        };
        let batch = retention.batch_size.max(1);
        let mut done = Forgotten::default();
        while !stop.is_cancelled() {
            let now = self.clock().now_ms();
            let one = erase_expired_batch(self.store().as_ref(), days, batch, now).await?;
            let more = one.conversations + one.already_erased >= u64::from(batch);
            self.erased(&one, RETENTION_ACTION);
            done.merge(one);
            if !more {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(done)
    }

    /// The retention task: sweeps every `retention.sweep_interval_ms` until `stop`.
    pub async fn run_retention(self, stop: CancellationToken) {
        let interval = Duration::from_millis(self.config().retention.sweep_interval_ms);
        loop {
            if let Err(e) = self.sweep_expired(&stop).await {
                tracing::error!(error = %e, "retention sweep failed; retrying on the next one");
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// After an erase: the agents holding or offered a closed handoff hear of it, the
    /// dispatcher recounts the queue, and the log says how much (never what).
    fn erased(&self, done: &Forgotten, action: &str) {
        if done.conversations == 0 {
            return;
        }
        for h in &done.closed {
            if let Some(agent) = &h.agent_id {
                self.hub().to_agent(
                    agent,
                    Event::Unassigned {
                        conversation_id: h.conversation_id.clone(),
                        reason: "erased".into(),
                    },
                );
            }
            if let Some(agent) = &h.routing.offered_to {
                self.hub().to_agent(
                    agent,
                    Event::OfferWithdrawn {
                        conversation_id: h.conversation_id.clone(),
                        handoff_id: h.id.clone(),
                        reason: "erased".into(),
                    },
                );
            }
        }
        if !done.closed.is_empty() {
            self.wiring().poke.notify_one();
        }
        tracing::info!(
            action,
            conversations = done.conversations,
            messages = done.messages,
            handoffs_closed = done.handoffs_closed,
            "personal data erased"
        );
    }
}
