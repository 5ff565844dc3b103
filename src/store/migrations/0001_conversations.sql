-- Conversations, their messages and handoffs. Written in the SQL that SQLite and PostgreSQL
-- share, so both stores run the same migrations: TEXT ids, BIGINT Unix-millisecond times,
-- JSON in TEXT columns, BOOLEAN flags.

CREATE TABLE conversations (
    id                    TEXT PRIMARY KEY,
    token_hash            TEXT NOT NULL,
    channel               TEXT NOT NULL,
    locale                TEXT NOT NULL,
    customer              TEXT NOT NULL,
    vip                   BOOLEAN NOT NULL,
    state                 TEXT NOT NULL,
    low_confidence_streak INTEGER NOT NULL DEFAULT 0,
    recent_skill          TEXT,
    last_seq              BIGINT NOT NULL DEFAULT 0,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

CREATE INDEX conversations_state ON conversations (state, updated_at);

CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    seq             BIGINT NOT NULL,
    author          TEXT NOT NULL,
    text            TEXT NOT NULL,
    client_msg_id   TEXT,
    reply_to        BIGINT,
    meta            TEXT,
    turn            TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

-- A retried message (same client_msg_id) can never be stored twice.
CREATE UNIQUE INDEX messages_client_msg_id ON messages (conversation_id, client_msg_id);

CREATE TABLE handoffs (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    reason          TEXT NOT NULL,
    priority        TEXT NOT NULL,
    skill           TEXT NOT NULL,
    status          TEXT NOT NULL,
    trigger_seq     BIGINT,
    context         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX handoffs_queue ON handoffs (status, skill, priority, created_at);

-- At most one open handoff per conversation.
CREATE UNIQUE INDEX handoffs_one_open ON handoffs (conversation_id)
    WHERE status IN ('queued', 'assigned');
