//! What the support lead and KB editors learn from past conversations: statistics, knowledge
//! gaps, and FAQ drafts from agents' answers. Reads the store, hands the rows to the pure
//! [`crate::analytics`] and [`crate::gaps`] functions, and keeps the drafts' life cycle
//! (proposed when an agent resolves a gap conversation, given the gap group's paraphrases
//! as alternates when editors look, approved into `kb/` or rejected).

use std::time::{Duration, Instant};

use crate::analytics::{self, RELOAD_ACTION, Stats};
use crate::gaps::{self, GapGroup};
use crate::handoff::{Handoff, HandoffStatus};
use crate::service::{ConversationService, ServiceError};
use crate::store::{DraftStatus, FaqDraft};

/// How far back gap groups look for paraphrases of a draft's question.
const DRAFT_PARAPHRASE_WINDOW_MS: i64 = 30 * 86_400_000;

/// At most this many paraphrases become a draft's alternates.
const MAX_ALTERNATES: usize = 10;

/// Statistics of conversations that started in `[from, to)`.
pub async fn stats(
    service: &ConversationService,
    from: i64,
    to: i64,
) -> Result<Stats, ServiceError> {
    let started = Instant::now();
    let activity = service.store().activity(from, to).await?;
    let reloads = service
        .store()
        .audit_actions(RELOAD_ACTION, from, to)
        .await?;
    let stats =
        tokio::task::spawn_blocking(move || analytics::compute(from, to, &activity, &reloads))
            .await
            .map_err(|e| ServiceError::Internal(format!("statistics task failed: {e}")))?;
    log_slow("statistics", started.elapsed());
    Ok(stats)
}

/// Knowledge gaps of conversations that started in `[from, to)`, largest groups first.
pub async fn gap_groups(
    service: &ConversationService,
    from: i64,
    to: i64,
    max_examples: usize,
) -> Result<Vec<GapGroup>, ServiceError> {
    let started = Instant::now();
    let activity = service.store().activity(from, to).await?;
    let knowledge = service.knowledge();
    let groups = tokio::task::spawn_blocking(move || {
        let items = gaps::collect(&activity);
        gaps::group(&items, &knowledge.content.faqs, max_examples)
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("gap mining task failed: {e}")))?;
    log_slow("gap mining", started.elapsed());
    Ok(groups)
}

fn log_slow(what: &str, took: Duration) {
    if took > Duration::from_secs(2) {
        tracing::warn!(
            took_ms = took.as_millis() as u64,
            "{what} took long; narrow the range"
        );
    }
}

/// Fills the alternates of drafts that have none with the other questions of the gap group
/// their question falls in (last 30 days): one grouping for all of them, done when an editor
/// looks rather than at every resolution.
pub async fn with_paraphrases(
    service: &ConversationService,
    mut drafts: Vec<FaqDraft>,
) -> Result<Vec<FaqDraft>, ServiceError> {
    if drafts.iter().all(|d| !d.alternates.is_empty()) {
        return Ok(drafts);
    }
    let now = service.clock().now_ms();
    let groups = gap_groups(service, now - DRAFT_PARAPHRASE_WINDOW_MS, now + 1, 0).await?;
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
    service: &ConversationService,
    handoff: &Handoff,
) -> Result<Option<FaqDraft>, ServiceError> {
    if handoff.status != HandoffStatus::Resolved {
        return Ok(None);
    }
    let c = service.load(&handoff.conversation_id).await?;
    let activity = service
        .store()
        .activity(c.created_at, c.created_at + 1)
        .await?
        .into_iter()
        .find(|a| a.id == c.id);
    let Some(conversation) = activity else {
        return Ok(None);
    };
    let Some(content) = gaps::draft_from(&conversation, handoff) else {
        return Ok(None);
    };
    let now = service.clock().now_ms();
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
    match service.store().create_draft(&draft).await {
        Ok(()) => {
            tracing::info!(draft = %draft.id, conversation = %c.id, "FAQ draft proposed from an agent's answer");
            Ok(Some(draft))
        }
        Err(crate::store::StoreError::Exists(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
