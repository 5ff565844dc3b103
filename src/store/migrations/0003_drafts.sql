-- FAQ drafts: an agent's answer to a question the bot could not answer, waiting for an
-- editor to approve it into kb/ (or reject it). Same portable SQL as 0001.

CREATE TABLE faq_drafts (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    -- One draft per resolved handoff.
    handoff_id      TEXT NOT NULL UNIQUE,
    lang            TEXT NOT NULL,
    question        TEXT NOT NULL,
    answer          TEXT NOT NULL,
    -- JSON array of paraphrases from the question's gap group.
    alternates      TEXT NOT NULL,
    suggested_id    TEXT NOT NULL,
    -- pending, approved or rejected.
    status          TEXT NOT NULL,
    faq_id          TEXT,
    created_at      BIGINT NOT NULL,
    decided_at      BIGINT
);

CREATE INDEX faq_drafts_status ON faq_drafts (status, created_at);

-- Statistics read conversations by start time, and audit entries by action and time.
CREATE INDEX conversations_created ON conversations (created_at);
CREATE INDEX audit_log_action ON audit_log (action, at);
