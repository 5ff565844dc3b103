-- What the agent filed a resolved handoff under, and their summary of it. Erasing a
-- customer's data empties the summary; the category stays for the statistics. Same portable
-- SQL as 0001.

ALTER TABLE handoffs ADD COLUMN wrap_category TEXT;
ALTER TABLE handoffs ADD COLUMN wrap_summary TEXT;
