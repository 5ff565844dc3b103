-- Quality review: one row per handoff an agent closed. The rules' findings and score, then
-- a reviewer's score and comment, the agent's one appeal and its decision. Same portable
-- SQL as 0001.

CREATE TABLE quality_reviews (
    handoff_id       TEXT PRIMARY KEY,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id),
    agent_id         TEXT NOT NULL,
    skill            TEXT NOT NULL,
    -- resolved, or returned to the bot
    outcome          TEXT NOT NULL,
    closed_at        BIGINT NOT NULL,
    auto_score       BIGINT NOT NULL,
    -- JSON list of findings
    findings         TEXT NOT NULL,
    sampled          BOOLEAN NOT NULL,
    rating           BIGINT,
    -- auto, pending, reviewed, appealed or closed
    state            TEXT NOT NULL,
    scored_at        BIGINT NOT NULL,
    reviewed_by      TEXT,
    score            BIGINT,
    comment          TEXT,
    reviewed_at      BIGINT,
    appeal           TEXT,
    appealed_at      BIGINT,
    decided_by       TEXT,
    decision_score   BIGINT,
    decision_comment TEXT,
    decided_at       BIGINT
);

CREATE INDEX quality_reviews_closed ON quality_reviews (closed_at);
CREATE INDEX quality_reviews_skill ON quality_reviews (skill, closed_at);
CREATE INDEX quality_reviews_agent ON quality_reviews (agent_id, closed_at);
