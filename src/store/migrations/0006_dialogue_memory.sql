-- What the bot remembers across a conversation's turns (a waiting order task, the order
-- number and second factor the shopper gave, orders looked up, the page the shopper is on):
-- JSON, NULL for conversations that never needed it. Same portable SQL as 0001.

ALTER TABLE conversations ADD COLUMN dialogue TEXT;
