//! The SQL of the blacklist and the word-hit log, written once for both stores: numbered
//! placeholders (`$1`) mean the same to SQLite and to PostgreSQL, so each backend only binds.

/// Columns of `blocks`, in [`BlockRow`](super::rows::BlockRow) order.
pub(super) const INSERT_BLOCK: &str = "INSERT INTO blocks (id, kind, target, reason, created_by,
     created_at, expires_at, lifted_at, lifted_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// `$1` now, `$2` by, `$3` id: lifts a block that still refuses.
pub(super) const LIFT_BLOCK: &str = "UPDATE blocks SET lifted_at = $1, lifted_by = $2
     WHERE id = $3 AND lifted_at IS NULL AND (expires_at IS NULL OR expires_at > $1)";

pub(super) const BLOCK_BY_ID: &str = "SELECT * FROM blocks WHERE id = $1";

/// `$1` now: the blocks that refuse now.
pub(super) const LIVE_BLOCKS: &str = "SELECT * FROM blocks
     WHERE lifted_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
     ORDER BY created_at DESC, id DESC";

/// Every block, newest first, `$1` at most.
pub(super) const ALL_BLOCKS: &str =
    "SELECT * FROM blocks ORDER BY created_at DESC, id DESC LIMIT $1";

pub(super) const INSERT_WORD_HIT: &str = "INSERT INTO word_hits (id, at, conversation_id,
     author, agent_id, list_id, action, term) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (id) DO NOTHING";

/// Since `$1`, newest first, `$2` at most.
pub(super) const WORD_HITS: &str =
    "SELECT * FROM word_hits WHERE at >= $1 ORDER BY at DESC, id DESC LIMIT $2";

/// Since `$1`, per list and action.
pub(super) const WORD_HIT_COUNTS: &str = "SELECT list_id, action, COUNT(*) AS hits
     FROM word_hits WHERE at >= $1 GROUP BY list_id, action ORDER BY list_id, action";
