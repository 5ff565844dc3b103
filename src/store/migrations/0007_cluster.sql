-- Several nodes on one PostgreSQL database (see src/cluster). A single SQLite node leaves
-- these tables empty. Same portable SQL as 0001.

-- Which node runs the desk (offers, timeouts, SLAs), until `expires_at` on the database's
-- clock unless renewed.
CREATE TABLE cluster_lease (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- When each node last saw each agent (an open socket, a request).
CREATE TABLE agent_presence (
    node_id   TEXT NOT NULL,
    agent_id  TEXT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (node_id, agent_id)
);

-- Events too large for a notification, kept a minute for the other nodes to read.
CREATE TABLE cluster_events (
    id         TEXT PRIMARY KEY,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX cluster_events_created ON cluster_events (created_at);
