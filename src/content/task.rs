//! An intent's `task:` block: what the bot does in the shop's systems when it recognises the
//! intent — which values it needs from the shopper, which declared calls it reads, whether it
//! may write (after which check, with which confirmation), and what it says.
//!
//! ```yaml
//! task:
//!   needs: [order]                  # order (an order of this shopper's), address, sku
//!   reads: [order, logistics]       # declared calls, in order; their fields render replies
//!   card: true                      # show the order as a card
//!   timeline: events                # a list field shown as a timeline
//!   reply: {zh: "订单 {{ number }} {{ status_label }}", en: "…"}
//!   write: cancel                   # optional: a write call
//!   allowed_if: "status in ['unpaid', 'paid']"
//!   not_allowed: {zh: …, en: …}
//!   confirm: {zh: "确认取消订单 {{ number }} 吗？", en: …}
//!   handling: bot                   # or notify_person: confirm the request, a person does it
//!   answer_faqs: [refund-time]      # general questions these FAQs answer need no look-up
//! ```
//!
//! When the shop connection is off, the intent's own `action` answers instead, so every task
//! intent keeps a plain answer too.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::actions::{CallKind, ShopCalls};
use super::diagnostic::{Diagnostic, line_of};
use super::intent::Bilingual;

/// A value the task needs before its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// One of this shopper's orders: its number (typed, from the page, or picked from their
    /// recent orders) and, for a guest, the phone's last four digits.
    Order,
    /// The new delivery address.
    Address,
    /// A product: the one on the shopper's page, or its SKU typed.
    Sku,
}

/// Who carries out the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    /// The bot calls the write after the shopper confirms.
    #[default]
    Bot,
    /// The bot confirms the request and leaves a task for the intent's group; no write.
    NotifyPerson,
}

/// The task block of an intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    #[serde(default)]
    pub needs: Vec<Need>,
    #[serde(default)]
    pub reads: Vec<String>,
    /// The answer (a read task) or the confirmation once written (a write task).
    pub reply: Bilingual<String>,
    #[serde(default)]
    pub card: bool,
    #[serde(default)]
    pub timeline: Option<String>,
    #[serde(default)]
    pub write: Option<String>,
    /// A condition over the read fields (`status in ['paid']`) the write needs.
    #[serde(default)]
    pub allowed_if: Option<String>,
    #[serde(default)]
    pub not_allowed: Option<Bilingual<String>>,
    #[serde(default)]
    pub confirm: Option<Bilingual<String>>,
    #[serde(default)]
    pub handling: Handling,
    /// A message that is only an order number starts this task (one intent may say so).
    #[serde(default)]
    pub on_order_number: bool,
    /// FAQs that answer a general question of this intent ("how long do refunds take?")
    /// without looking anything up: when one of them is the confident match and the shopper
    /// names no order, the FAQ answers instead of the task asking for an order.
    #[serde(default)]
    pub answer_faqs: Vec<String>,
}

impl TaskSpec {
    pub fn needs(&self, need: Need) -> bool {
        self.needs.contains(&need)
    }
}

/// Checks a task block against the declared calls; errors point at the intent file.
pub fn check_task(
    path: &Path,
    source: &str,
    task: &TaskSpec,
    calls: &ShopCalls,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let at = |needle: &str| line_of(source, needle, 1);
    let mut err = |line, message: String| diagnostics.push(Diagnostic::error(path, line, message));
    for read in &task.reads {
        match calls.get(read) {
            None => err(
                at(read),
                format!("task reads {read:?}, which no file under intents/actions/ declares"),
            ),
            Some(c) if c.kind != CallKind::Read => err(
                at(read),
                format!("task reads {read:?}, which is a write: list it under `write`"),
            ),
            Some(_) => {}
        }
    }
    if let Some(write) = &task.write {
        match calls.get(write) {
            None => err(
                at("write:"),
                format!("task writes {write:?}, which no file under intents/actions/ declares"),
            ),
            Some(c) if c.kind != CallKind::Write => {
                err(at("write:"), format!("{write:?} is declared as a read"))
            }
            Some(_) => {}
        }
        if task.confirm.is_none() && task.handling == Handling::Bot {
            err(
                at("write:"),
                "a write needs `confirm` (the question the shopper says yes to)".into(),
            );
        }
        if task.allowed_if.is_some() && task.not_allowed.is_none() {
            err(
                at("allowed_if:"),
                "`allowed_if` needs `not_allowed` (what the shopper is told otherwise)".into(),
            );
        }
    } else if task.reads.is_empty() {
        err(at("task:"), "a task reads or writes something".into());
    }
    if let Some(cond) = &task.allowed_if
        && let Err(e) = crate::content::template::check_condition(cond)
    {
        err(at("allowed_if:"), format!("allowed_if: {e}"));
    }
    let mut texts = vec![("reply", &task.reply)];
    texts.extend(task.confirm.as_ref().map(|c| ("confirm", c)));
    texts.extend(task.not_allowed.as_ref().map(|c| ("not_allowed", c)));
    for (key, text) in texts {
        for t in [&text.zh, &text.en] {
            if t.trim().is_empty() {
                err(at(&format!("{key}:")), format!("{key}: a text is empty"));
            } else if let Err(e) = crate::content::template::check(t) {
                err(at(&format!("{key}:")), format!("{key}: {e}"));
            }
        }
    }
    if task.on_order_number && !task.needs(Need::Order) {
        err(
            at("on_order_number:"),
            "on_order_number needs `needs: [order]`".into(),
        );
    }
}
