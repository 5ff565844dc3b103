-- Indexes fitted to what is read and written most. Same portable SQL as 0001.
--
-- A conversation's handoffs, found by index: an agent opening a conversation, a shopper's
-- rating and the FAQ draft of a resolved handoff each read its latest handoff, and
-- `handoffs_one_open` holds the open ones only, so these reads walked the whole table.
CREATE INDEX handoffs_conversation ON handoffs (conversation_id, created_at);

-- The statistics read a range's ratings by conversation, and `ratings` had its handoff id
-- for key only: each refresh walked every rating ever given.
CREATE INDEX ratings_conversation ON ratings (conversation_id);

-- Every turn moves `updated_at`, and every index holding it is written again: this one
-- and `conversations_retention`. The one reader of this one, the supervisor's list of
-- conversations with the bot recently active, is served as well by
-- `conversations_retention` (`erased_at IS NULL`, then by `updated_at`): one index page
-- fewer to write per turn.
DROP INDEX conversations_state;
