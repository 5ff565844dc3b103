//! What the bot remembers across a conversation's turns, stored with the conversation: an
//! order task waiting for the shopper (what it needs next, how often it asked), the values
//! the shopper already gave (an order number, a guest's second factor), the orders looked
//! up (for the agent's context view), the page the shopper is on, and the trigger rules'
//! counts and tags.
//!
//! [`crate::dialogue::task`] reads and changes it in a turn; the commit writes it with the
//! turn's messages, so a restart resumes a half-finished task where it was.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a waiting task needs from the shopper's next message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Waiting {
    OrderNumber,
    PhoneLast4,
    /// A pick among the shopper's recent orders (shown as buttons).
    OrderChoice,
    Address,
    Sku,
    /// Yes or no to the write.
    Confirm,
}

/// An order task started in an earlier turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTask {
    pub intent: String,
    pub waiting: Waiting,
    /// How many times the bot has asked for this value.
    pub asked: u32,
}

/// An order as the conversation saw it (for the agent; no personal data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSeen {
    pub number: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub status_label: Option<String>,
    #[serde(default)]
    pub amount: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub items: Vec<String>,
}

/// The page the shopper is on, as the widget or app passes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// The order the shopper is viewing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    /// The product the shopper is viewing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Page {
    /// Longest accepted value of any field.
    pub const MAX_CHARS: usize = 500;

    /// Whether every field is within [`Self::MAX_CHARS`].
    pub fn is_reasonable(&self) -> bool {
        [&self.order_number, &self.sku, &self.title, &self.url]
            .iter()
            .all(|f| {
                f.as_ref()
                    .is_none_or(|v| v.chars().count() <= Self::MAX_CHARS)
            })
    }
}

/// Everything remembered; the default is a fresh conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DialogueMemory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<PendingTask>,
    /// Values given so far: `order_number`, `phone_last4`, `address`, `sku`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub known: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<OrderSeen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<Page>,
    /// Messages each trigger rule matched so far, by rule id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rule_hits: BTreeMap<String, u32>,
    /// Tags trigger rules gave the conversation, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The shopper was told why the bot answers in a human-first group.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub told_bot_answers: bool,
}

impl DialogueMemory {
    /// Most orders kept for the agent's view.
    const MAX_ORDERS: usize = 10;

    /// Adds or refreshes an order the conversation looked up.
    pub fn saw_order(&mut self, order: OrderSeen) {
        self.orders.retain(|o| o.number != order.number);
        self.orders.insert(0, order);
        self.orders.truncate(Self::MAX_ORDERS);
    }

    /// The stored form; `None` for an empty memory.
    pub fn to_json(&self) -> Option<String> {
        (self != &DialogueMemory::default())
            .then(|| serde_json::to_string(self).unwrap_or_default())
    }

    /// Reads the stored form; an unreadable one (an older format) starts fresh.
    pub fn from_json(text: Option<&str>) -> DialogueMemory {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_an_empty_memory_is_not_stored() {
        assert_eq!(DialogueMemory::default().to_json(), None);
        let mut m = DialogueMemory::default();
        m.known.insert("order_number".into(), "MM1".into());
        m.task = Some(PendingTask {
            intent: "cancel_order".into(),
            waiting: Waiting::Confirm,
            asked: 1,
        });
        for i in 0..12 {
            m.saw_order(OrderSeen {
                number: format!("MM{i}"),
                status: None,
                status_label: None,
                amount: None,
                currency: None,
                items: vec![],
            });
        }
        assert_eq!(m.orders.len(), 10);
        assert_eq!(m.orders[0].number, "MM11");
        let back = DialogueMemory::from_json(m.to_json().as_deref());
        assert_eq!(back, m);
        assert_eq!(
            DialogueMemory::from_json(Some("{not json")),
            DialogueMemory::default()
        );
    }
}
