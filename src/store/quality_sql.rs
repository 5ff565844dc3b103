//! Quality reviews in the database, written once for both stores: numbered placeholders mean
//! the same to SQLite and PostgreSQL, and [`ReviewTables`] implements [`ReviewStore`] for
//! either pool from one body (a macro instantiates it per database, which keeps sqlx's
//! executor bounds concrete).
//!
//! ```text
//! Reviews ─► store.reviews() ─► save_scored (insert, or the rules' part of an existing row)
//!                               update (compare-and-set on the state) ─► quality_reviews
//!                               unscored ◄─ handoffs ⟕ quality_reviews ⟕ ratings
//! ```

use async_trait::async_trait;
use sqlx::{Database, Pool};

use super::StoreError;
use super::rows::{HandoffRow, corrupt, handoff_columns, json, to_json};
use crate::handoff::review::{Review, ReviewQuery, ReviewState, StateFilter};
use crate::handoff::{Handoff, HandoffStatus};

/// Quality reviews: what [`crate::quality::Reviews`] reads and writes.
#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// Inserts a freshly scored review, or, when one exists, replaces only what the rules
    /// decide (score, findings, rating, sampling) and moves an `auto` one into the queue if
    /// it now has a finding; what people wrote is kept.
    async fn save_scored(&self, review: &Review) -> Result<(), StoreError>;

    async fn review(&self, handoff_id: &str) -> Result<Option<Review>, StoreError>;

    /// Writes `review` if the stored one is still in state `expected`; `false` otherwise.
    async fn update(&self, review: &Review, expected: ReviewState) -> Result<bool, StoreError>;

    /// Reviews closed since `query.since`: the queue oldest first, else newest first.
    async fn reviews(&self, query: &ReviewQuery) -> Result<Vec<Review>, StoreError>;

    /// Handoffs agents closed since `since` (created then or later) that have no review, or
    /// whose rating came after their review was scored; erased conversations excepted.
    async fn unscored(&self, since: i64, limit: u32) -> Result<Vec<Handoff>, StoreError>;

    /// The shopper's rating of a handoff.
    async fn rating_of(&self, handoff_id: &str) -> Result<Option<u8>, StoreError>;
}

/// The review tables on one database: reads on `read`, writes on `write` (SQLite's single
/// writer connection; the same pool on PostgreSQL).
#[derive(Debug)]
pub(super) struct ReviewTables<DB: Database> {
    pub(super) read: Pool<DB>,
    pub(super) write: Pool<DB>,
}

macro_rules! review_columns {
    () => {
        "handoff_id, conversation_id, agent_id, skill, outcome, closed_at, auto_score,
         findings, sampled, rating, state, scored_at, reviewed_by, score, comment, reviewed_at,
         appeal, appealed_at, decided_by, decision_score, decision_comment, decided_at"
    };
}

const REVIEW: &str = concat!(
    "SELECT ",
    review_columns!(),
    " FROM quality_reviews WHERE handoff_id = $1"
);

const INSERT_SCORED: &str = "INSERT INTO quality_reviews (handoff_id, conversation_id,
     agent_id, skill, outcome, closed_at, auto_score, findings, sampled, rating, state,
     scored_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (handoff_id) DO UPDATE SET auto_score = excluded.auto_score,
       findings = excluded.findings, sampled = excluded.sampled, rating = excluded.rating,
       scored_at = excluded.scored_at,
       state = CASE WHEN quality_reviews.state = 'auto' THEN excluded.state
                    ELSE quality_reviews.state END";

pub(super) const RATING_OF: &str =
    "SELECT CAST(score AS BIGINT) FROM ratings WHERE handoff_id = $1";

/// [`ReviewStore::save_scored`] on SQLite's writer thread, in its group commit
/// ([`super::group_commit`]): the same statement, bound by position.
pub(super) fn save_scored(conn: &rusqlite::Connection, r: &Review) -> Result<(), StoreError> {
    conn.prepare_cached(INSERT_SCORED)?
        .execute(rusqlite::params![
            r.handoff_id,
            r.conversation_id,
            r.agent_id,
            r.skill,
            r.outcome.as_str(),
            r.closed_at,
            i64::from(r.auto_score),
            to_json(&r.findings),
            r.sampled,
            r.rating.map(i64::from),
            r.state.as_str(),
            r.scored_at,
        ])?;
    Ok(())
}

const UPDATE: &str = "UPDATE quality_reviews SET state = $1, reviewed_by = $2, score = $3,
     comment = $4, reviewed_at = $5, appeal = $6, appealed_at = $7, decided_by = $8,
     decision_score = $9, decision_comment = $10, decided_at = $11
     WHERE handoff_id = $12 AND state = $13";

/// `$1` since, `$2` agent, `$3` skill, `$4` state (NULL: any), `$5` 1 for the queue only,
/// `$6` limit.
macro_rules! review_listing {
    ($order:literal) => {
        concat!(
            "SELECT ",
            review_columns!(),
            " FROM quality_reviews WHERE closed_at >= $1 AND ($2 IS NULL OR agent_id = $2)
             AND ($3 IS NULL OR skill = $3) AND ($4 IS NULL OR state = $4)
             AND ($5 = 0 OR state IN ('pending', 'appealed'))
             ORDER BY closed_at ",
            $order,
            ", handoff_id ",
            $order,
            " LIMIT $6"
        )
    };
}

/// The queue: the longest waiting first.
const QUEUE: &str = review_listing!("ASC");
/// Any other listing: the latest first.
const LISTING: &str = review_listing!("DESC");

const UNSCORED: &str = concat!(
    "SELECT ",
    handoff_columns!(),
    " FROM handoffs WHERE id IN (
       SELECT h.id FROM handoffs h
       JOIN conversations c ON c.id = h.conversation_id AND c.erased_at IS NULL
       LEFT JOIN quality_reviews q ON q.handoff_id = h.id
       LEFT JOIN ratings r ON r.handoff_id = h.id
       WHERE h.status IN ('resolved', 'returned') AND h.agent_id IS NOT NULL
         AND h.created_at >= $1
         AND (q.handoff_id IS NULL OR (r.created_at IS NOT NULL AND r.created_at > q.scored_at)))
     ORDER BY created_at, id LIMIT $2"
);

#[derive(sqlx::FromRow)]
pub(super) struct ReviewRow {
    handoff_id: String,
    conversation_id: String,
    agent_id: String,
    skill: String,
    outcome: String,
    closed_at: i64,
    auto_score: i64,
    findings: String,
    sampled: bool,
    rating: Option<i64>,
    state: String,
    scored_at: i64,
    reviewed_by: Option<String>,
    score: Option<i64>,
    comment: Option<String>,
    reviewed_at: Option<i64>,
    appeal: Option<String>,
    appealed_at: Option<i64>,
    decided_by: Option<String>,
    decision_score: Option<i64>,
    decision_comment: Option<String>,
    decided_at: Option<i64>,
}

fn points(n: i64) -> u32 {
    u32::try_from(n.clamp(0, 100)).unwrap_or(0)
}

impl ReviewRow {
    fn into_review(self) -> Result<Review, StoreError> {
        Ok(Review {
            outcome: HandoffStatus::parse(&self.outcome)
                .ok_or_else(|| corrupt("review outcome", &self.outcome))?,
            state: ReviewState::parse(&self.state)
                .ok_or_else(|| corrupt("review state", &self.state))?,
            findings: json("review findings", &self.findings)?,
            handoff_id: self.handoff_id,
            conversation_id: self.conversation_id,
            agent_id: self.agent_id,
            skill: self.skill,
            closed_at: self.closed_at,
            auto_score: points(self.auto_score),
            sampled: self.sampled,
            rating: self.rating.and_then(|r| u8::try_from(r).ok()),
            scored_at: self.scored_at,
            reviewed_by: self.reviewed_by,
            score: self.score.map(points),
            comment: self.comment,
            reviewed_at: self.reviewed_at,
            appeal: self.appeal,
            appealed_at: self.appealed_at,
            decided_by: self.decided_by,
            decision_score: self.decision_score.map(points),
            decision_comment: self.decision_comment,
            decided_at: self.decided_at,
        })
    }
}

// By hand: a derive would ask the database marker type to be `Clone` too.
impl<DB: Database> Clone for ReviewTables<DB> {
    fn clone(&self) -> Self {
        ReviewTables {
            read: self.read.clone(),
            write: self.write.clone(),
        }
    }
}

/// `ReviewStore` for `ReviewTables<$db>`: the same body for each database.
macro_rules! review_store_on {
    ($db:ty) => {
        #[async_trait]
        impl ReviewStore for ReviewTables<$db> {
            async fn save_scored(&self, r: &Review) -> Result<(), StoreError> {
                sqlx::query(INSERT_SCORED)
                    .bind(r.handoff_id.as_str())
                    .bind(r.conversation_id.as_str())
                    .bind(r.agent_id.as_str())
                    .bind(r.skill.as_str())
                    .bind(r.outcome.as_str())
                    .bind(r.closed_at)
                    .bind(i64::from(r.auto_score))
                    .bind(to_json(&r.findings))
                    .bind(r.sampled)
                    .bind(r.rating.map(i64::from))
                    .bind(r.state.as_str())
                    .bind(r.scored_at)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn review(&self, handoff_id: &str) -> Result<Option<Review>, StoreError> {
                let row: Option<ReviewRow> = sqlx::query_as(REVIEW)
                    .bind(handoff_id)
                    .fetch_optional(&self.read)
                    .await?;
                row.map(ReviewRow::into_review).transpose()
            }

            async fn update(&self, r: &Review, expected: ReviewState) -> Result<bool, StoreError> {
                let done = sqlx::query(UPDATE)
                    .bind(r.state.as_str())
                    .bind(r.reviewed_by.as_deref())
                    .bind(r.score.map(i64::from))
                    .bind(r.comment.as_deref())
                    .bind(r.reviewed_at)
                    .bind(r.appeal.as_deref())
                    .bind(r.appealed_at)
                    .bind(r.decided_by.as_deref())
                    .bind(r.decision_score.map(i64::from))
                    .bind(r.decision_comment.as_deref())
                    .bind(r.decided_at)
                    .bind(r.handoff_id.as_str())
                    .bind(expected.as_str())
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn reviews(&self, q: &ReviewQuery) -> Result<Vec<Review>, StoreError> {
                let (sql, state, queue) = match q.state {
                    StateFilter::Queue => (QUEUE, None, 1i64),
                    StateFilter::All => (LISTING, None, 0),
                    StateFilter::Only(s) => (LISTING, Some(s.as_str()), 0),
                };
                let rows: Vec<ReviewRow> = sqlx::query_as(sql)
                    .bind(q.since)
                    .bind(q.agent_id.as_deref())
                    .bind(q.skill.as_deref())
                    .bind(state)
                    .bind(queue)
                    .bind(i64::from(q.limit))
                    .fetch_all(&self.read)
                    .await?;
                rows.into_iter().map(ReviewRow::into_review).collect()
            }

            async fn unscored(&self, since: i64, limit: u32) -> Result<Vec<Handoff>, StoreError> {
                let rows: Vec<HandoffRow> = sqlx::query_as(UNSCORED)
                    .bind(since)
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await?;
                super::rows::handoffs(rows)
            }

            async fn rating_of(&self, handoff_id: &str) -> Result<Option<u8>, StoreError> {
                let score: Option<(i64,)> = sqlx::query_as(RATING_OF)
                    .bind(handoff_id)
                    .fetch_optional(&self.read)
                    .await?;
                Ok(score.and_then(|(s,)| u8::try_from(s).ok()))
            }
        }
    };
}

review_store_on!(sqlx::Sqlite);
review_store_on!(sqlx::Postgres);
