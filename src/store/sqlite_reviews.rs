//! Quality reviews on the embedded store: the shared SQL of [`super::quality_sql`], with the
//! two statements every closed handoff runs taken off the sqlx connections.
//!
//! ```text
//! Reviews::score_closed ─► rating_of ─► DirectReads (in place, like the turn's reads)
//!                       ─► save_scored ─► group commit (with the turns: one fsync for many)
//! listings, updates, the catch-up's unscored ─► ReviewTables<Sqlite> (sqlx)
//! ```
//!
//! Every closed handoff is scored at once; as a commit of its own on the sqlx writer each
//! score cost an fsync, held SQLite's write lock against the turns meanwhile, and, coming
//! from another connection, emptied the turn writer's page cache.

use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use super::group_commit::{GroupCommit, Write};
use super::quality_sql::{ReviewStore, ReviewTables};
use super::sqlite_reads::DirectReads;
use crate::handoff::Handoff;
use crate::handoff::review::{Review, ReviewQuery, ReviewState};

#[derive(Debug, Clone)]
pub(super) struct SqliteReviews {
    pub(super) tables: ReviewTables<sqlx::Sqlite>,
    pub(super) turns: GroupCommit,
    pub(super) direct: Arc<DirectReads>,
}

#[async_trait]
impl ReviewStore for SqliteReviews {
    async fn save_scored(&self, review: &Review) -> Result<(), StoreError> {
        self.turns
            .commit(Write::Review(Box::new(review.clone())))
            .await
    }

    async fn review(&self, handoff_id: &str) -> Result<Option<Review>, StoreError> {
        self.tables.review(handoff_id).await
    }

    async fn update(&self, review: &Review, expected: ReviewState) -> Result<bool, StoreError> {
        self.tables.update(review, expected).await
    }

    async fn reviews(&self, query: &ReviewQuery) -> Result<Vec<Review>, StoreError> {
        self.tables.reviews(query).await
    }

    async fn unscored(&self, since: i64, limit: u32) -> Result<Vec<Handoff>, StoreError> {
        self.tables.unscored(since, limit).await
    }

    async fn rating_of(&self, handoff_id: &str) -> Result<Option<u8>, StoreError> {
        self.direct.rating_of(handoff_id)
    }
}
