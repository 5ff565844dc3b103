-- Erasing a shopper's personal data, on request or after the retention period. The rows
-- stay for the statistics with their texts replaced; `erased_at` marks the conversation.
-- Same portable SQL as 0001.

ALTER TABLE conversations ADD COLUMN erased_at BIGINT;

-- The shop's customer id (`customer.id` in the JSON), so a customer's conversations are
-- found by index. Conversations stored before this column are filled in when the store
-- opens; NULL for anonymous shoppers and erased conversations.
ALTER TABLE conversations ADD COLUMN customer_id TEXT;

CREATE INDEX conversations_customer ON conversations (customer_id);

-- The retention task reads conversations not yet erased, by last activity.
CREATE INDEX conversations_retention ON conversations (erased_at, updated_at);
