-- The human side: agents, routing state of handoffs, internal notes, the audit log, tickets
-- left while nobody was on duty, and ratings. Same portable SQL as 0001.

CREATE TABLE agents (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    skills     TEXT NOT NULL,
    max_chats  INTEGER NOT NULL,
    -- argon2id PHC string of the agent's token; the token itself is never stored.
    token_hash TEXT NOT NULL,
    -- What the agent last chose: online, away or offline.
    status     TEXT NOT NULL,
    disabled   BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Who holds a handoff, and its routing state (offers, SLA flags, times) as JSON.
ALTER TABLE handoffs ADD COLUMN agent_id TEXT;
ALTER TABLE handoffs ADD COLUMN routing TEXT NOT NULL DEFAULT '{}';

CREATE INDEX handoffs_agent ON handoffs (agent_id, status);

-- Internal notes: agents only, never part of the shopper's transcript.
CREATE TABLE notes (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    agent_id        TEXT NOT NULL,
    text            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE INDEX notes_conversation ON notes (conversation_id, created_at);

-- Every agent, admin and routing action: who, what, when.
CREATE TABLE audit_log (
    id              TEXT PRIMARY KEY,
    at              BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    conversation_id TEXT,
    detail          TEXT NOT NULL
);

CREATE INDEX audit_log_conversation ON audit_log (conversation_id, at);
CREATE INDEX audit_log_at ON audit_log (at);

-- Messages left while no agent was on duty.
CREATE TABLE tickets (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    skill           TEXT NOT NULL,
    lang            TEXT NOT NULL,
    contact         TEXT NOT NULL,
    text            TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    closed_at       BIGINT,
    closed_by       TEXT
);

CREATE INDEX tickets_status ON tickets (status, created_at);

-- One rating per resolved handoff.
CREATE TABLE ratings (
    handoff_id      TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    agent_id        TEXT,
    score           INTEGER NOT NULL,
    comment         TEXT,
    created_at      BIGINT NOT NULL
);
