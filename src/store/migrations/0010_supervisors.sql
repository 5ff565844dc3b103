-- Supervisors, and their whispers to agents. Same portable SQL as 0001.

-- The skill groups an agent supervises, as a JSON list like `skills`; empty for an agent
-- who supervises none.
ALTER TABLE agents ADD COLUMN supervises TEXT NOT NULL DEFAULT '[]';

-- A note a supervisor whispered to the agent holding the conversation (agents only, like
-- every note; the console shows it as a whisper).
ALTER TABLE notes ADD COLUMN whisper BOOLEAN NOT NULL DEFAULT FALSE;
