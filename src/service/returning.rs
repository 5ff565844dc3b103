//! Sticky routing's lookup: which agent a verified customer coming back goes to first.
//!
//! Data flow: a change that queues the conversation → [`ConversationService::returning_to`]
//! → the store's most recent agent of a handoff of this customer's conversations within
//! `handoff.sticky_days` → `Routing::returning_to` on the new handoff, which
//! [`crate::handoff::routing::pick_agent`] honours while that agent is online with room.
//! Only a customer the shop's server vouched for is looked up: an id a browser merely
//! claims could otherwise steer a stranger to someone else's agent.

use super::ConversationService;
use crate::conversation::Conversation;
use crate::store::StoreError;

const DAY_MS: i64 = 86_400_000;

impl ConversationService {
    /// The agent who last helped `conversation`'s verified customer within the configured
    /// days, if any.
    pub(super) async fn returning_to(
        &self,
        conversation: &Conversation,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let days = self.config().handoff.sticky_days;
        let customer = &conversation.customer;
        let Some(id) = customer
            .id
            .as_deref()
            .filter(|_| customer.verified && days > 0)
        else {
            return Ok(None);
        };
        self.store()
            .last_agent_of_customer(id, now - i64::from(days) * DAY_MS)
            .await
    }
}
