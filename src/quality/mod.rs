//! Quality review of the conversations agents close.
//!
//! ```text
//! agent resolves / returns ─► Reviews::score_closed ─► scoring::findings (quality.yaml)
//!   ─► a review row: automatic score, findings, state `pending` (a finding, or sampled)
//!      or `auto`                                   shopper rates ─► score again
//! dispatcher, every minute ─► catch_up: closed handoffs without a review, ratings newer
//!   than their score (a node that died between the two writes loses nothing)
//! reviewer (admin, or a supervisor of the group) ─► score + comment ─► `reviewed`
//!   agent ─► appeal once ─► `appealed` ─► reviewer decides ─► `closed`
//! ```
//!
//! Every state change is a compare-and-set on the stored state, so two reviewers cannot both
//! score one conversation, and is written to the audit log. Scores and findings are facts a
//! later edit of `quality.yaml` does not rewrite, except that a new rating scores again.

pub mod export;
pub mod scoring;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde::Serialize;

use crate::clock::Clock;
use crate::config::Config;
use crate::conversation::Message;
use crate::handoff::agent::Agent;
pub use crate::handoff::review::{Finding, Review, ReviewQuery, ReviewState, StateFilter};
use crate::handoff::{AuditEntry, Handoff, HandoffStatus};
use crate::knowledge::LiveKnowledge;
use crate::store::{Store, StoreError};

/// How far back the catch-up looks for closed conversations without a review.
const CATCH_UP_DAYS: i64 = 7;
/// Conversations the catch-up scores per pass.
const CATCH_UP_BATCH: u32 = 200;
/// How often the catch-up runs.
const CATCH_UP_EVERY_MS: i64 = 60_000;
/// Longest reviewer comment or appeal, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;
/// Most reviews one listing returns.
pub const MAX_PAGE: u32 = 500;
/// Longest window a listing or an export covers, in days.
pub const MAX_DAYS: u32 = 366;

/// Who is reviewing.
#[derive(Debug, Clone)]
pub enum Reviewer {
    /// The admin token: every group.
    Admin,
    /// An agent who supervises at least one group: those groups, never their own work.
    Supervisor(Agent),
}

impl Reviewer {
    fn id(&self) -> String {
        match self {
            Reviewer::Admin => "admin".into(),
            Reviewer::Supervisor(a) => a.id.clone(),
        }
    }

    fn actor(&self) -> String {
        match self {
            Reviewer::Admin => "admin".into(),
            Reviewer::Supervisor(a) => format!("agent:{}", a.id),
        }
    }

    /// The groups this reviewer sees, `None` for all.
    fn groups(&self) -> Option<&[String]> {
        match self {
            Reviewer::Admin => None,
            Reviewer::Supervisor(a) => Some(&a.supervises),
        }
    }

    fn may_review(&self, r: &Review) -> Result<(), ReviewError> {
        match self {
            Reviewer::Admin => Ok(()),
            Reviewer::Supervisor(a) if a.id == r.agent_id => Err(ReviewError::Forbidden(
                "you cannot review your own conversation".into(),
            )),
            Reviewer::Supervisor(a) if a.supervises(&r.skill) => Ok(()),
            // As for reading it: another group's reviews do not exist for them.
            Reviewer::Supervisor(_) => Err(not_found()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which reviews a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ReviewFilter {
    /// Closed in the last this many days.
    pub days: u32,
    /// `None`: the queue (pending and appealed), oldest first; else that state, newest first.
    pub state: Option<StateFilter>,
    pub agent_id: Option<String>,
    pub skill: Option<String>,
    pub limit: u32,
}

/// A review as a listing shows it: with the names of the people in it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewItem {
    #[serde(flatten)]
    pub review: Review,
    pub agent_name: String,
    pub reviewed_by_name: Option<String>,
    pub decided_by_name: Option<String>,
    pub final_score: u32,
}

/// One review opened: the transcript up to when the agent closed it (personal data masked).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewDetail {
    #[serde(flatten)]
    pub item: ReviewItem,
    #[schema(value_type = Vec<Object>)]
    pub transcript: Vec<Message>,
}

/// Per agent, over a listing's window.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentQuality {
    pub agent_name: String,
    pub reviews: u32,
    /// Mean of the final scores.
    pub average: f64,
    pub findings: u32,
}

/// Cheap-to-clone handle.
#[derive(Clone)]
pub struct Reviews {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    knowledge: LiveKnowledge,
    clock: Clock,
    config: Arc<Config>,
    last_catch_up: AtomicI64,
}

impl Reviews {
    pub fn new(
        store: Arc<dyn Store>,
        knowledge: LiveKnowledge,
        clock: Clock,
        config: Arc<Config>,
    ) -> Reviews {
        Reviews {
            inner: Arc::new(Inner {
                store,
                knowledge,
                clock,
                config,
                last_catch_up: AtomicI64::new(i64::MIN),
            }),
        }
    }

    fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Scores a handoff an agent closed (again, when it has a review: after a rating), with
    /// the rules live now; whether it was scored. Handoffs nobody held, still open or of an
    /// erased conversation are not reviewed.
    pub async fn score_closed(&self, h: &Handoff) -> Result<bool, ReviewError> {
        let Some(agent_id) = h.agent_id.as_deref() else {
            return Ok(false);
        };
        if !matches!(h.status, HandoffStatus::Resolved | HandoffStatus::Returned) {
            return Ok(false);
        }
        let store = self.store();
        let Some(conversation) = store.conversation(&h.conversation_id).await? else {
            return Ok(false);
        };
        if conversation.erased_at.is_some() {
            return Ok(false);
        }
        let agent_name = match store.agent(agent_id).await? {
            Some(a) => a.name,
            None => return Ok(false),
        };
        let messages = store
            .messages_after(&h.conversation_id, 0, u32::MAX)
            .await?;
        let rating = store.reviews().rating_of(&h.id).await?;
        let knowledge = self.inner.knowledge.current();
        let rules = &knowledge.content.quality;
        let findings = scoring::findings(
            rules,
            &scoring::Closed {
                handoff: h,
                agent_name: &agent_name,
                messages: &messages,
                rating,
                reply_sla_secs: self.inner.config.handoff.sla_reply_secs,
            },
        );
        let sampled = findings.is_empty() && scoring::sampled(&h.id, rules.sample_rate);
        let review = Review {
            auto_score: scoring::score(&findings),
            state: if findings.is_empty() && !sampled {
                ReviewState::Auto
            } else {
                ReviewState::Pending
            },
            findings,
            sampled,
            rating,
            ..Review::of_closed(h, agent_id, self.now())
        };
        store.reviews().save_scored(&review).await?;
        Ok(true)
    }

    /// After the shopper rated the conversation's last handoff: scores it again.
    pub async fn rated(&self, conversation_id: &str) -> Result<(), ReviewError> {
        if let Some(h) = self.store().latest_handoff(conversation_id).await? {
            self.score_closed(&h).await?;
        }
        Ok(())
    }

    /// Scores what a crash or a failed write left unscored, at most once a minute: closed
    /// handoffs of the last week without a review, and reviews older than their rating.
    pub async fn catch_up_if_due(&self) -> Result<usize, ReviewError> {
        let now = self.now();
        let last = self.inner.last_catch_up.load(Ordering::Relaxed);
        if now.saturating_sub(last) < CATCH_UP_EVERY_MS {
            return Ok(0);
        }
        self.inner.last_catch_up.store(now, Ordering::Relaxed);
        let since = now - CATCH_UP_DAYS * 86_400_000;
        let due = self
            .store()
            .reviews()
            .unscored(since, CATCH_UP_BATCH)
            .await?;
        let mut scored = 0;
        for h in &due {
            if self.score_closed(h).await? {
                scored += 1;
            }
        }
        if scored > 0 {
            tracing::info!(scored, "quality reviews caught up");
        }
        Ok(scored)
    }

    /// Reviews `who` may see, by `filter`.
    pub async fn list(
        &self,
        who: &Reviewer,
        filter: &ReviewFilter,
    ) -> Result<Vec<ReviewItem>, ReviewError> {
        let days = filter.days.clamp(1, MAX_DAYS);
        let limit = filter.limit.clamp(1, MAX_PAGE);
        let state = filter.state.unwrap_or(StateFilter::Queue);
        let since = self.now() - i64::from(days) * 86_400_000;
        let skills: Vec<Option<String>> = match (who.groups(), &filter.skill) {
            (None, skill) => vec![skill.clone()],
            (Some(groups), Some(skill)) if groups.contains(skill) => vec![Some(skill.clone())],
            (Some(_), Some(skill)) => {
                return Err(ReviewError::Forbidden(format!(
                    "you do not supervise {skill:?}"
                )));
            }
            (Some(groups), None) => groups.iter().cloned().map(Some).collect(),
        };
        let mut found = Vec::new();
        for skill in skills {
            let query = ReviewQuery {
                since,
                state,
                agent_id: filter.agent_id.clone(),
                skill,
                limit,
            };
            found.extend(self.store().reviews().reviews(&query).await?);
        }
        if let Reviewer::Supervisor(a) = who {
            found.retain(|r| r.agent_id != a.id);
        }
        // One query per supervised group: merge them in the order a single one would have.
        if state == StateFilter::Queue {
            found.sort_by_key(|r| (r.state != ReviewState::Appealed, r.closed_at));
        } else {
            found.sort_by_key(|r| std::cmp::Reverse(r.closed_at));
        }
        found.truncate(limit as usize);
        self.named(found).await
    }

    /// An agent's own reviews of the last `days`, newest first.
    pub async fn of_agent(&self, agent: &Agent, days: u32) -> Result<Vec<ReviewItem>, ReviewError> {
        let query = ReviewQuery {
            since: self.now() - i64::from(days.clamp(1, MAX_DAYS)) * 86_400_000,
            state: StateFilter::All,
            agent_id: Some(agent.id.clone()),
            skill: None,
            limit: MAX_PAGE,
        };
        let found = self.store().reviews().reviews(&query).await?;
        self.named(found).await
    }

    /// Per-agent averages of `items`.
    pub fn by_agent(items: &[ReviewItem]) -> Vec<AgentQuality> {
        let mut per: HashMap<&str, (u32, u64, u32)> = HashMap::new();
        for i in items {
            let e = per.entry(i.agent_name.as_str()).or_default();
            e.0 += 1;
            e.1 += u64::from(i.final_score);
            e.2 += i.review.findings.len() as u32;
        }
        let mut out: Vec<AgentQuality> = per
            .into_iter()
            .map(|(name, (n, sum, findings))| AgentQuality {
                agent_name: name.to_string(),
                reviews: n,
                average: (sum as f64 / f64::from(n.max(1)) * 10.0).round() / 10.0,
                findings,
            })
            .collect();
        out.sort_by(|a, b| a.agent_name.cmp(&b.agent_name));
        out
    }

    /// One review with its transcript, for a reviewer who may review it or the agent it is
    /// about (`agent`); anyone else gets "not found".
    pub async fn open(
        &self,
        reviewer: Option<&Reviewer>,
        agent: Option<&Agent>,
        handoff_id: &str,
    ) -> Result<ReviewDetail, ReviewError> {
        let review = self.find(handoff_id).await?;
        let own = agent.is_some_and(|a| a.id == review.agent_id);
        let may = match reviewer {
            Some(r) => r.groups().is_none_or(|g| g.contains(&review.skill)),
            None => false,
        };
        if !own && !may {
            return Err(not_found());
        }
        let mut transcript = self
            .store()
            .messages_after(&review.conversation_id, 0, u32::MAX)
            .await?;
        transcript.retain(|m| m.created_at <= review.closed_at);
        for m in &mut transcript {
            m.text = crate::pii::mask(&m.text);
        }
        let mut items = self.named(vec![review]).await?;
        let item = items.pop().ok_or_else(not_found)?;
        Ok(ReviewDetail { item, transcript })
    }

    /// A reviewer's score (0–100) and comment: the review of a queued or automatic one, or
    /// the decision on an appeal.
    pub async fn review(
        &self,
        who: &Reviewer,
        handoff_id: &str,
        score: u32,
        comment: Option<&str>,
    ) -> Result<ReviewItem, ReviewError> {
        if score > 100 {
            return Err(ReviewError::Invalid("score is from 0 to 100".into()));
        }
        let comment = checked_text(comment, "comment")?;
        let current = self.find(handoff_id).await?;
        who.may_review(&current)?;
        let now = self.now();
        let mut next = current.clone();
        let action = match current.state {
            ReviewState::Auto | ReviewState::Pending => {
                next.state = ReviewState::Reviewed;
                next.reviewed_by = Some(who.id());
                next.score = Some(score);
                next.comment = comment;
                next.reviewed_at = Some(now);
                "quality.review"
            }
            ReviewState::Appealed => {
                next.state = ReviewState::Closed;
                next.decided_by = Some(who.id());
                next.decision_score = Some(score);
                next.decision_comment = comment;
                next.decided_at = Some(now);
                "quality.decide_appeal"
            }
            ReviewState::Reviewed | ReviewState::Closed => {
                return Err(ReviewError::Conflict(
                    "this conversation is reviewed already; it is reviewed again only on the agent's appeal".into(),
                ));
            }
        };
        self.transition(&current, &next, &who.actor(), action, json_score(score))
            .await
    }

    /// The agent's appeal of a review of their conversation: once, with their reason.
    pub async fn appeal(
        &self,
        agent: &Agent,
        handoff_id: &str,
        text: &str,
    ) -> Result<ReviewItem, ReviewError> {
        let text = checked_text(Some(text), "appeal")?
            .ok_or_else(|| ReviewError::Invalid("say why you appeal".into()))?;
        let current = self.find(handoff_id).await?;
        if current.agent_id != agent.id {
            return Err(not_found());
        }
        match current.state {
            ReviewState::Reviewed => {}
            ReviewState::Appealed | ReviewState::Closed => {
                return Err(ReviewError::Conflict(
                    "a review can be appealed once, and this one was".into(),
                ));
            }
            ReviewState::Auto | ReviewState::Pending => {
                return Err(ReviewError::Conflict(
                    "nobody has reviewed this conversation yet; appeal once they have".into(),
                ));
            }
        }
        let mut next = current.clone();
        next.state = ReviewState::Appealed;
        next.appeal = Some(text);
        next.appealed_at = Some(self.now());
        self.transition(
            &current,
            &next,
            &format!("agent:{}", agent.id),
            "quality.appeal",
            serde_json::json!({}),
        )
        .await
    }

    /// Every review `who` may see, closed in the last `days`, as CSV.
    pub async fn export(&self, who: &Reviewer, days: u32) -> Result<String, ReviewError> {
        let mut all = Vec::new();
        let days = days.clamp(1, MAX_DAYS);
        let since = self.now() - i64::from(days) * 86_400_000;
        let groups: Vec<Option<String>> = match who.groups() {
            None => vec![None],
            Some(g) => g.iter().cloned().map(Some).collect(),
        };
        for skill in groups {
            let query = ReviewQuery {
                since,
                state: StateFilter::All,
                agent_id: None,
                skill,
                limit: u32::MAX,
            };
            all.extend(self.store().reviews().reviews(&query).await?);
        }
        if let Reviewer::Supervisor(a) = who {
            all.retain(|r| r.agent_id != a.id);
        }
        all.sort_by_key(|r| (r.closed_at, r.handoff_id.clone()));
        let items = self.named(all).await?;
        export::to_csv(&items).map_err(|e| ReviewError::Invalid(e.to_string()))
    }

    async fn find(&self, handoff_id: &str) -> Result<Review, ReviewError> {
        if handoff_id.is_empty() || handoff_id.len() > 64 {
            return Err(not_found());
        }
        self.store()
            .reviews()
            .review(handoff_id)
            .await?
            .ok_or_else(not_found)
    }

    async fn transition(
        &self,
        current: &Review,
        next: &Review,
        actor: &str,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<ReviewItem, ReviewError> {
        if !self.store().reviews().update(next, current.state).await? {
            return Err(ReviewError::Conflict(
                "the review changed meanwhile; reload it".into(),
            ));
        }
        let mut detail = detail;
        detail["handoff_id"] = next.handoff_id.clone().into();
        detail["state"] = next.state.as_str().into();
        self.store()
            .append_audit(&[AuditEntry::new(
                self.now(),
                actor,
                action,
                Some(&next.conversation_id),
                detail,
            )])
            .await?;
        let mut items = self.named(vec![next.clone()]).await?;
        items.pop().ok_or_else(not_found)
    }

    /// Attaches agent names (one read of the agents).
    async fn named(&self, reviews: Vec<Review>) -> Result<Vec<ReviewItem>, ReviewError> {
        let agents = self.store().agents().await?;
        let names: HashMap<&str, &str> = agents
            .iter()
            .map(|a| (a.id.as_str(), a.name.as_str()))
            .collect();
        let name = |id: &Option<String>| {
            id.as_deref().map(|id| {
                if id == "admin" {
                    "admin".to_string()
                } else {
                    names.get(id).copied().unwrap_or(id).to_string()
                }
            })
        };
        Ok(reviews
            .into_iter()
            .map(|review| ReviewItem {
                agent_name: name(&Some(review.agent_id.clone())).unwrap_or_default(),
                reviewed_by_name: name(&review.reviewed_by),
                decided_by_name: name(&review.decided_by),
                final_score: review.final_score(),
                review,
            })
            .collect())
    }
}

fn not_found() -> ReviewError {
    ReviewError::NotFound("no such review".into())
}

fn json_score(score: u32) -> serde_json::Value {
    serde_json::json!({ "score": score })
}

/// Trimmed, `None` when blank, refused when longer than [`MAX_COMMENT_CHARS`].
fn checked_text(text: Option<&str>, what: &str) -> Result<Option<String>, ReviewError> {
    let text = text.map(str::trim).filter(|t| !t.is_empty());
    if text.is_some_and(|t| t.chars().count() > MAX_COMMENT_CHARS) {
        return Err(ReviewError::Invalid(format!(
            "the {what} may be at most {MAX_COMMENT_CHARS} characters"
        )));
    }
    Ok(text.map(str::to_string))
}
