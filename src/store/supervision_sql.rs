//! What a supervisor's overview reads beyond the open handoffs: the conversations the bot is
//! holding right now. Written once for both stores, like [`super::moderation_sql`].

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::StoreError;
use super::rows::ConversationRow;
use crate::conversation::Conversation;

/// `$1` since, `$2` limit: conversations with the bot that moved since `$1`, the most
/// recently active first. `conversations_retention` (`erased_at`, `updated_at`) serves it:
/// the conversations not erased, newest activity first, each checked for its state.
pub(super) const ACTIVE_BOT_CONVERSATIONS: &str = "SELECT * FROM conversations
     WHERE state = 'bot' AND updated_at >= $1 AND erased_at IS NULL
     ORDER BY updated_at DESC, id DESC LIMIT $2";

/// The operations, on one pool of either database.
pub(super) struct On<'p, DB: Database>(pub &'p Pool<DB>);

impl<DB> On<'_, DB>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'r> ConversationRow: FromRow<'r, DB::Row>,
{
    pub(super) async fn active_bot_conversations(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<Conversation>, StoreError> {
        let rows: Vec<ConversationRow> = sqlx::query_as(ACTIVE_BOT_CONVERSATIONS)
            .bind(since)
            .bind(i64::from(limit))
            .fetch_all(self.0)
            .await?;
        rows.into_iter()
            .map(ConversationRow::into_conversation)
            .collect()
    }
}
