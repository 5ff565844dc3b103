//! An agent's look-up in the shop's systems from the console: the same declared read calls
//! the bot makes, with the conversation's identity (the shop-verified customer, or the
//! order number and phone digits the guest gave), never a write. Only the agent holding the
//! conversation may look up, and each look-up is audited.
//!
//! ```text
//! agent + conversation + {call, order_number?, sku?} ─► held by this agent? ─► a read call?
//!   ─► values: the conversation's identity + what the agent typed ─► ShopClient::call
//!   ─► audit `shop_lookup` ─► {call, outcome, fields}
//! ```

use serde::{Deserialize, Serialize};

use super::Desk;
use crate::content::actions::CallKind;
use crate::handoff::AuditEntry;
use crate::handoff::agent::Agent;
use crate::service::ServiceError;
use crate::shop::{CallOutcome, Values};

/// What the agent asks for.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    /// A declared read call: `order`, `logistics`, `refund`, `recent_orders`, `stock` …
    pub call: String,
    #[serde(default)]
    pub order_number: Option<String>,
    #[serde(default)]
    pub sku: Option<String>,
}

/// What came back.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LookupResult {
    pub call: String,
    pub outcome: String,
    /// The call's named fields (empty unless the outcome is `ok`).
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Longest value an agent may type into a look-up.
const MAX_VALUE_CHARS: usize = 64;

impl Desk {
    pub async fn lookup(
        &self,
        agent: &Agent,
        conversation_id: &str,
        request: LookupRequest,
    ) -> Result<LookupResult, ServiceError> {
        self.held_handoff(agent, conversation_id).await?;
        let Some(shop) = self.wiring().shop.clone() else {
            return Err(ServiceError::Conflict(
                "no shop order API is configured".into(),
            ));
        };
        let knowledge = self.service().knowledge();
        let decl = match knowledge.content.shop.get(&request.call) {
            Some(d) if d.kind == CallKind::Read => d.clone(),
            Some(_) => {
                return Err(ServiceError::Forbidden(format!(
                    "{:?} changes the order; agents look up, the shopper's request writes",
                    request.call
                )));
            }
            None => {
                return Err(ServiceError::Invalid(format!(
                    "no read call named {:?}",
                    request.call
                )));
            }
        };
        for v in [&request.order_number, &request.sku].into_iter().flatten() {
            if v.is_empty() || v.chars().count() > MAX_VALUE_CHARS {
                return Err(ServiceError::Invalid(format!(
                    "order_number and sku hold 1 to {MAX_VALUE_CHARS} characters"
                )));
            }
        }
        let c = self.service().load(conversation_id).await?;
        let customer = c
            .customer
            .verified
            .then_some(c.customer.id.clone())
            .flatten();
        let mut values: Values = Values::new();
        match &customer {
            Some(id) => {
                values.insert("customer_id".into(), id.clone());
            }
            None => {
                if let Some(p) = c.dialogue.known.get("phone_last4") {
                    values.insert("phone_last4".into(), p.clone());
                }
            }
        }
        let order_number = request
            .order_number
            .clone()
            .or_else(|| c.dialogue.known.get("order_number").cloned());
        if let Some(n) = order_number {
            values.insert("order_number".into(), n);
        }
        let sku = request
            .sku
            .clone()
            .or_else(|| c.dialogue.page.as_ref().and_then(|p| p.sku.clone()));
        if let Some(s) = sku {
            values.insert("sku".into(), s);
        }
        let result = shop
            .call(&request.call, &decl, &values, None, customer.as_deref())
            .await;
        let outcome = result.outcome();
        self.store()
            .append_audit(&[AuditEntry::new(
                self.now(),
                format!("agent:{}", agent.id),
                "shop_lookup",
                Some(conversation_id),
                serde_json::json!({
                    "call": request.call,
                    "outcome": outcome.as_str(),
                    "values": result.trace.values,
                }),
            )])
            .await?;
        Ok(LookupResult {
            call: request.call,
            outcome: outcome.as_str().to_string(),
            fields: if outcome == CallOutcome::Ok {
                result.fields
            } else {
                Default::default()
            },
        })
    }
}
