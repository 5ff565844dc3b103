-- The blacklist, and the log of word-list matches. Same portable SQL as 0001.

-- A blocked customer (a verified customer id) or network (an address or a CIDR range).
-- Lifting keeps the row: who blocked whom, why, and who lifted it stays on record.
CREATE TABLE blocks (
    id          TEXT PRIMARY KEY,
    -- customer or network.
    kind        TEXT NOT NULL,
    -- The customer id, or the range in CIDR form (a single address is a /32 or /128).
    target      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    -- No expiry: until lifted.
    expires_at  BIGINT,
    lifted_at   BIGINT,
    lifted_by   TEXT
);

CREATE INDEX blocks_created ON blocks (created_at);

-- One row per word list that matched a message: which list, which of its words (never the
-- message itself), and what was done. A retried message writes the same id.
CREATE TABLE word_hits (
    id              TEXT PRIMARY KEY,
    at              BIGINT NOT NULL,
    conversation_id TEXT NOT NULL,
    -- shopper or agent.
    author          TEXT NOT NULL,
    agent_id        TEXT,
    list_id         TEXT NOT NULL,
    -- mask, block or alert.
    action          TEXT NOT NULL,
    term            TEXT NOT NULL
);

CREATE INDEX word_hits_at ON word_hits (at);
