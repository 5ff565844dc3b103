//! Quality reviews as records: what the rules found in a closed handoff, the score, a
//! reviewer's verdict, the agent's appeal. [`crate::quality`] produces and changes them;
//! the store keeps them.

use serde::{Deserialize, Serialize};

use super::{Handoff, HandoffStatus};

/// What a rule found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    /// The rule's id in `quality.yaml`.
    pub rule: String,
    pub label: String,
    /// `forbidden_phrases`, `first_response`, `greeting`, `rating` or `returned`.
    pub check: String,
    /// Taken off the score.
    pub points: u32,
    /// The forbidden phrase, as folded for matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phrase: Option<String>,
    /// The message it is in (or the agent's first message, for a missing greeting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// Seconds to the first response; absent for `first_response` when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<i64>,
    /// The first-response limit it went over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_seconds: Option<u32>,
    /// The shopper's rating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
}

/// Where a review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Scored by the rules, no finding and not sampled: not in the queue.
    Auto,
    /// In the review queue: a rule found something, or it was sampled.
    Pending,
    /// A reviewer scored it.
    Reviewed,
    /// The agent appealed the review; back in the queue.
    Appealed,
    /// A reviewer decided the appeal; final.
    Closed,
}

impl ReviewState {
    pub const ALL: [ReviewState; 5] = [
        ReviewState::Auto,
        ReviewState::Pending,
        ReviewState::Reviewed,
        ReviewState::Appealed,
        ReviewState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Auto => "auto",
            ReviewState::Pending => "pending",
            ReviewState::Reviewed => "reviewed",
            ReviewState::Appealed => "appealed",
            ReviewState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewState> {
        ReviewState::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Waiting for a reviewer.
    pub fn queued(self) -> bool {
        matches!(self, ReviewState::Pending | ReviewState::Appealed)
    }
}

/// One closed handoff's review.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub handoff_id: String,
    pub conversation_id: String,
    /// The agent who closed it.
    pub agent_id: String,
    pub skill: String,
    /// `resolved` or `returned` (to the bot).
    #[schema(value_type = String)]
    pub outcome: HandoffStatus,
    /// Unix milliseconds.
    pub closed_at: i64,
    /// 100 less the findings' points.
    pub auto_score: u32,
    pub findings: Vec<Finding>,
    /// In the queue by sampling rather than a finding.
    pub sampled: bool,
    /// The shopper's rating, once given.
    pub rating: Option<u8>,
    pub state: ReviewState,
    pub scored_at: i64,
    /// `admin`, or the reviewing supervisor's agent id.
    pub reviewed_by: Option<String>,
    pub score: Option<u32>,
    pub comment: Option<String>,
    pub reviewed_at: Option<i64>,
    /// The agent's appeal.
    pub appeal: Option<String>,
    pub appealed_at: Option<i64>,
    /// Who decided the appeal, the score they settled on and why.
    pub decided_by: Option<String>,
    pub decision_score: Option<u32>,
    pub decision_comment: Option<String>,
    pub decided_at: Option<i64>,
}

impl Review {
    /// The review of handoff `h`, closed by `agent_id`, before any rule or person scored
    /// it: 100 points, nothing found, not in the queue.
    pub fn of_closed(h: &Handoff, agent_id: &str, scored_at: i64) -> Review {
        Review {
            handoff_id: h.id.clone(),
            conversation_id: h.conversation_id.clone(),
            agent_id: agent_id.to_string(),
            skill: h.skill.clone(),
            outcome: h.status,
            closed_at: h.routing.closed_at.unwrap_or(h.created_at),
            auto_score: 100,
            findings: Vec::new(),
            sampled: false,
            rating: None,
            state: ReviewState::Auto,
            scored_at,
            reviewed_by: None,
            score: None,
            comment: None,
            reviewed_at: None,
            appeal: None,
            appealed_at: None,
            decided_by: None,
            decision_score: None,
            decision_comment: None,
            decided_at: None,
        }
    }

    /// The score that counts: the appeal's decision, else the reviewer's, else the rules'.
    pub fn final_score(&self) -> u32 {
        self.decision_score
            .or(self.score)
            .unwrap_or(self.auto_score)
    }
}

/// A listing's state filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Queue,
    All,
    Only(ReviewState),
}

impl StateFilter {
    pub fn parse(s: &str) -> Option<StateFilter> {
        match s {
            "queue" => Some(StateFilter::Queue),
            "all" => Some(StateFilter::All),
            other => ReviewState::parse(other).map(StateFilter::Only),
        }
    }
}

/// What the store is asked for: one group, or all.
#[derive(Debug, Clone)]
pub struct ReviewQuery {
    pub since: i64,
    pub state: StateFilter,
    pub agent_id: Option<String>,
    pub skill: Option<String>,
    pub limit: u32,
}
