//! What the support lead and KB editors learn from past conversations: statistics, knowledge
//! gaps, and FAQ drafts from agents' answers. Reads the store, hands the rows to the pure
//! [`crate::insights::stats`] and [`crate::insights::gaps`] functions, and keeps the drafts' life cycle
//! (proposed when an agent resolves a gap conversation, given the gap group's paraphrases
//! as alternates when editors look, approved into `kb/` or rejected).

use std::time::{Duration, Instant};

use std::sync::Arc;

use crate::clock::Clock;
use crate::handoff::{Handoff, HandoffStatus};
use crate::knowledge::LiveKnowledge;
use crate::knowledge::reload::RELOAD_ACTION;
use crate::store::{DraftStatus, FaqDraft, Store, StoreError};

pub mod all_time;
pub mod gaps;
pub mod popular;
pub mod prometheus;
pub mod stats;

use gaps::GapGroup;
use stats::Stats;

/// How far back gap groups look for paraphrases of a draft's question.
const DRAFT_PARAPHRASE_WINDOW_MS: i64 = 30 * 86_400_000;

/// At most this many paraphrases become a draft's alternates.
const MAX_ALTERNATES: usize = 10;

/// Why an insight could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum InsightsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no such conversation")]
    NotFound,
    #[error("{0} task failed: {1}")]
    Task(&'static str, String),
}

/// What the insights read: the store, the serving knowledge (gap groups name the nearest
/// FAQ) and the clock. Cheap to clone.
#[derive(Clone)]
pub struct Insights {
    store: Arc<dyn Store>,
    knowledge: LiveKnowledge,
    clock: Clock,
    popular: Arc<popular::PopularFaqs>,
    all_time: Arc<all_time::AllTime>,
}

impl Insights {
    pub fn new(store: Arc<dyn Store>, knowledge: LiveKnowledge, clock: Clock) -> Insights {
        Insights {
            all_time: Arc::new(all_time::AllTime::new(store.clone(), clock.clone())),
            store,
            knowledge,
            clock,
            popular: Arc::default(),
        }
    }

    /// Statistics of conversations that started in `[from, to)`.
    pub async fn stats(&self, from: i64, to: i64) -> Result<Stats, InsightsError> {
        let started = Instant::now();
        let activity = self.store.activity(from, to).await?;
        let reloads = self.store.audit_actions(RELOAD_ACTION, from, to).await?;
        let stats =
            tokio::task::spawn_blocking(move || stats::compute(from, to, &activity, &reloads))
                .await
                .map_err(|e| InsightsError::Task("statistics", e.to_string()))?;
        log_slow("statistics", started.elapsed(), "narrow the range");
        Ok(stats)
    }

    /// Statistics of every conversation so far, for `/metrics`: refreshed in the background,
    /// at a cost that does not grow with the history (see [`all_time`]); with their age.
    pub async fn all_time_stats(&self) -> Result<(Arc<Stats>, Duration), InsightsError> {
        self.all_time.stats().await
    }

    /// Knowledge gaps of conversations that started in `[from, to)`, largest groups first.
    pub async fn gap_groups(
        &self,
        from: i64,
        to: i64,
        max_examples: usize,
    ) -> Result<Vec<GapGroup>, InsightsError> {
        let started = Instant::now();
        let activity = self.store.activity(from, to).await?;
        let knowledge = self.knowledge.current();
        let groups = tokio::task::spawn_blocking(move || {
            let items = gaps::collect(&activity);
            // By meaning when the serving knowledge has an encoder, as its FAQ index does.
            gaps::group(
                &items,
                &knowledge.content.faqs,
                knowledge.encoder.as_deref(),
                max_examples,
            )
        })
        .await
        .map_err(|e| InsightsError::Task("gap mining", e.to_string()))?;
        log_slow("gap mining", started.elapsed(), "narrow the range");
        Ok(groups)
    }

    /// Fills the alternates of drafts that have none with the other questions of the gap group
    /// their question falls in (last 30 days): one grouping for all of them, done when an editor
    /// looks rather than at every resolution.
    pub async fn with_paraphrases(
        &self,
        mut drafts: Vec<FaqDraft>,
    ) -> Result<Vec<FaqDraft>, InsightsError> {
        if drafts.iter().all(|d| !d.alternates.is_empty()) {
            return Ok(drafts);
        }
        let now = self.clock.now_ms();
        let groups = self
            .gap_groups(now - DRAFT_PARAPHRASE_WINDOW_MS, now + 1, 0)
            .await?;
        for d in drafts.iter_mut().filter(|d| d.alternates.is_empty()) {
            let key = crate::nlu::normalize(&d.question);
            let same = |t: &String| crate::nlu::normalize(t) == key;
            if let Some(g) = groups
                .iter()
                .find(|g| g.lang == d.lang && g.texts.iter().any(same))
            {
                d.alternates = g
                    .texts
                    .iter()
                    .filter(|t| !same(t))
                    .take(MAX_ALTERNATES)
                    .cloned()
                    .collect();
            }
        }
        Ok(drafts)
    }

    /// Proposes an FAQ draft from a resolved handoff whose conversation began with a question
    /// the bot could not answer. `Ok(None)` when there is nothing to propose.
    pub async fn draft_from_resolved(
        &self,
        handoff: &Handoff,
    ) -> Result<Option<FaqDraft>, InsightsError> {
        if handoff.status != HandoffStatus::Resolved {
            return Ok(None);
        }
        let Some(c) = self.store.conversation(&handoff.conversation_id).await? else {
            return Err(InsightsError::NotFound);
        };
        if c.erased_at.is_some() {
            return Ok(None);
        }
        let messages = self.store.messages_after(&c.id, 0, u32::MAX).await?;
        let Some(content) = gaps::draft_from(&messages, handoff) else {
            return Ok(None);
        };
        let now = self.clock.now_ms();
        let id = uuid::Uuid::now_v7().simple().to_string();
        let draft = FaqDraft {
            suggested_id: gaps::suggest_id(&content.question, &id[id.len() - 8..]),
            id,
            conversation_id: c.id.clone(),
            handoff_id: handoff.id.clone(),
            lang: content.lang,
            question: content.question,
            answer: content.answer,
            // Filled from the gap groups when editors look (see `with_paraphrases`).
            alternates: Vec::new(),
            status: DraftStatus::Pending,
            faq_id: None,
            created_at: now,
            decided_at: None,
        };
        match self.store.create_draft(&draft).await {
            Ok(()) => {
                tracing::info!(draft = %draft.id, conversation = %c.id, "FAQ draft proposed from an agent's answer");
                Ok(Some(draft))
            }
            Err(StoreError::Exists(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Warns when an insight took longer than two seconds, saying what to do about it.
fn log_slow(what: &str, took: Duration, advice: &str) {
    if took > Duration::from_secs(2) {
        tracing::warn!(
            took_ms = took.as_millis() as u64,
            "{what} took long; {advice}"
        );
    }
}
