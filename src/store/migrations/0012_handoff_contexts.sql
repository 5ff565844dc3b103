-- A handoff's context (transcript, what the bot understood, FAQ candidates, customer) in a
-- table of its own. It is written once and read when an agent opens the conversation, while
-- the handoff's routing columns are read many times a second: every dispatcher pass and
-- every queue listing reads the whole open queue. In the handoffs row the context — several
-- kilobytes — sat before the columns added later (agent_id, routing, wrap-up), so SQLite
-- walked its overflow pages on every one of those reads.
--
-- summary and customer are the queue card's two fields, kept beside the context so a
-- listing does not parse it. NULL in rows copied here from before this migration: the
-- stores then read them from the context. Same portable SQL as 0001.

CREATE TABLE handoff_contexts (
    handoff_id TEXT PRIMARY KEY REFERENCES handoffs (id),
    summary    TEXT,
    -- JSON
    customer   TEXT,
    -- JSON
    context    TEXT NOT NULL
);

INSERT INTO handoff_contexts (handoff_id, context)
    SELECT id, context FROM handoffs WHERE context <> 'null';

ALTER TABLE handoffs DROP COLUMN context;
