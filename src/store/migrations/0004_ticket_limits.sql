-- Open tickets are counted per conversation before each new one (a cap against spam), and
-- listed newest first by group. Same portable SQL as 0001.

CREATE INDEX tickets_conversation ON tickets (conversation_id, status);
CREATE INDEX tickets_open_by_skill ON tickets (status, skill, created_at);
