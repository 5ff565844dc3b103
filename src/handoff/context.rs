//! The context an agent starts from: assembled once, at escalation, from the stored
//! transcript and each turn's record, and stored with the handoff.
//!
//! Personal data (phones, e-mails, ID and card numbers, addresses) is masked in everything
//! here; the raw messages stay in the transcript table for an agent who explicitly opens them.

use serde::{Deserialize, Serialize};

use super::{Escalation, EscalationReason, Priority};
use crate::conversation::{Author, Conversation, Customer, DecisionKind, Message};
use crate::nlu::Lang;
use crate::pii::{self, Entity};

/// One line of the transcript as the agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptLine {
    pub seq: i64,
    pub author: Author,
    /// Message text with personal data masked.
    pub text: String,
    pub at: i64,
    /// For shopper lines: what the bot understood.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub intent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub confidence: Option<f32>,
    /// FAQ ids the retriever offered, with their confidences.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub faq_candidates: Vec<(String, f32)>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decision: Option<DecisionKind>,
    /// For agent lines: who wrote it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub agent_name: Option<String>,
}

/// Everything an agent needs to take over without asking the shopper to repeat anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffContext {
    /// One or two sentences to start from, in the conversation's language.
    pub summary: String,
    pub lang: Lang,
    pub channel: String,
    pub customer: Customer,
    pub reason: EscalationReason,
    pub priority: Priority,
    pub skill: String,
    pub intent: Option<String>,
    pub transcript: Vec<TranscriptLine>,
    /// Order numbers and (masked) personal data mentioned by the shopper.
    pub entities: Vec<Entity>,
}

impl HandoffContext {
    /// The context with the shopper's personal data gone: the summary, every transcript
    /// line's text and the entities are replaced by `marker` (or dropped), the customer is
    /// anonymous. What the bot made of each line (intent, confidence, FAQ candidates,
    /// decision) and why the conversation was handed over stay.
    pub fn erased(mut self, marker: &str) -> HandoffContext {
        self.summary = marker.to_string();
        self.customer = self.customer.anonymous();
        for line in &mut self.transcript {
            line.text = marker.to_string();
        }
        self.entities.clear();
        self
    }
}

fn reason_text(reason: EscalationReason, lang: Lang) -> &'static str {
    match (reason, lang) {
        (EscalationReason::RequestedHuman, Lang::Zh) => "顾客要求人工服务",
        (EscalationReason::Complaint, Lang::Zh) => "顾客投诉或情绪激动",
        (EscalationReason::LowConfidence, Lang::Zh) => "机器人连续未能理解",
        (EscalationReason::IntentPolicy, Lang::Zh) => "该问题需人工处理",
        (EscalationReason::RequestedHuman, Lang::En) => "the shopper asked for a person",
        (EscalationReason::Complaint, Lang::En) => "complaint or strong negative sentiment",
        (EscalationReason::LowConfidence, Lang::En) => "the bot did not understand, repeatedly",
        (EscalationReason::IntentPolicy, Lang::En) => "this request needs a person",
        (EscalationReason::ActionFailed, Lang::Zh) => "订单系统调用失败（见尝试记录）",
        (EscalationReason::ActionFailed, Lang::En) => {
            "a call to the order system failed (see what was attempted)"
        }
        (EscalationReason::FaqPolicy, Lang::Zh) => "已回答的问题按规定转人工跟进",
        (EscalationReason::FaqPolicy, Lang::En) => "the FAQ answered needs a person to follow up",
        (EscalationReason::TriggerRule, Lang::Zh) => "触发了转人工规则",
        (EscalationReason::TriggerRule, Lang::En) => "a trigger rule handed it over",
        (EscalationReason::Reception, Lang::Zh) => "该组由人工优先接待",
        (EscalationReason::Reception, Lang::En) => "a person answers this group first",
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars).collect();
        t.push('…');
        t
    }
}

/// Builds the context from a conversation and its whole transcript.
pub fn build_context(
    conversation: &Conversation,
    messages: &[Message],
    escalation: &Escalation,
    lang: Lang,
) -> HandoffContext {
    let transcript: Vec<TranscriptLine> = messages
        .iter()
        .map(|m| {
            let turn = m.turn.as_ref();
            let intent = turn.and_then(|t| t.intent.as_ref());
            TranscriptLine {
                seq: m.seq,
                author: m.author,
                text: pii::mask(&m.text),
                at: m.created_at,
                intent: intent.map(|i| i.label.clone()),
                confidence: intent.map(|i| i.confidence),
                faq_candidates: turn
                    .map(|t| {
                        t.faq_candidates
                            .iter()
                            .map(|h| (h.faq_id.clone(), h.confidence))
                            .collect()
                    })
                    .unwrap_or_default(),
                decision: turn.map(|t| t.decision),
                agent_name: m.meta.as_ref().and_then(|x| x.agent_name.clone()),
            }
        })
        .collect();
    let mut entities: Vec<Entity> = Vec::new();
    for m in messages.iter().filter(|m| m.author == Author::Shopper) {
        for e in pii::find_entities(&m.text) {
            if !entities.contains(&e) {
                entities.push(e);
            }
        }
    }
    let last_question = messages
        .iter()
        .rev()
        .find(|m| m.author == Author::Shopper)
        .map(|m| truncate(&pii::mask(&m.text), 80));
    let understood = messages
        .iter()
        .rev()
        .filter_map(|m| m.turn.as_ref()?.intent.as_ref())
        .find(|i| !i.out_of_scope)
        .map(|i| format!("{} ({:.0}%)", i.label, i.confidence * 100.0));
    let orders: Vec<&str> = entities
        .iter()
        .filter(|e| e.kind == pii::EntityKind::OrderNumber)
        .map(|e| e.masked.as_str())
        .collect();
    let vip = conversation.customer.is_vip();
    let summary = match lang {
        Lang::Zh => {
            let mut s = String::new();
            if vip {
                s.push_str("【VIP】");
            }
            s.push_str(&format!(
                "转人工原因：{}。",
                reason_text(escalation.reason, lang)
            ));
            if let Some(q) = &last_question {
                s.push_str(&format!("顾客最后说：“{q}”。"));
            }
            if let Some(u) = &understood {
                s.push_str(&format!("机器人理解为：{u}。"));
            }
            if !orders.is_empty() {
                s.push_str(&format!("涉及订单：{}。", orders.join("、")));
            }
            s
        }
        Lang::En => {
            let mut s = String::new();
            if vip {
                s.push_str("[VIP] ");
            }
            s.push_str(&format!(
                "Escalated: {}.",
                reason_text(escalation.reason, lang)
            ));
            if let Some(q) = &last_question {
                s.push_str(&format!(" Last message: \"{q}\"."));
            }
            if let Some(u) = &understood {
                s.push_str(&format!(" Bot understood: {u}."));
            }
            if !orders.is_empty() {
                s.push_str(&format!(" Orders: {}.", orders.join(", ")));
            }
            s
        }
    };
    HandoffContext {
        summary,
        lang,
        channel: conversation.channel.clone(),
        customer: conversation.customer.clone(),
        reason: escalation.reason,
        priority: escalation.priority,
        skill: escalation.skill.clone(),
        intent: escalation.intent.clone(),
        transcript,
        entities,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::TurnRecord;
    use crate::nlu::IntentPrediction;

    fn conversation(vip: bool) -> Conversation {
        Conversation {
            customer: Customer {
                id: Some("u1".into()),
                name: Some("张三".into()),
                tags: vec![],
                vip,
                verified: true,
                claimed_id: None,
            },
            last_seq: 2,
            ..Conversation::for_tests("c1")
        }
    }

    fn shopper(seq: i64, text: &str, intent: &str) -> Message {
        Message {
            seq,
            author: Author::Shopper,
            text: text.into(),
            client_msg_id: None,
            reply_to: None,
            created_at: seq,
            meta: None,
            turn: Some(TurnRecord {
                lang: Lang::Zh,
                intent: Some(IntentPrediction {
                    label: intent.into(),
                    confidence: 0.82,
                    out_of_scope: false,
                    alternatives: vec![],
                }),
                faq_candidates: Default::default(),
                asked_for_human: false,
                negative: false,
                didnt_help: false,
                decision: DecisionKind::Escalate,
                reason: None,
                answered_faq: None,
                suggestions: vec![],
                shop_calls: vec![],
                triggered: vec![],
                tags: vec![],
            }),
        }
    }

    #[test]
    fn summary_masks_and_mentions_orders() {
        let msgs = vec![shopper(
            1,
            "订单MM202611110001退款还没到，电话13812345678",
            "refund_status",
        )];
        let esc = Escalation {
            reason: EscalationReason::RequestedHuman,
            priority: Priority::High,
            skill: "after_sales".into(),
            intent: Some("refund_status".into()),
        };
        let ctx = build_context(&conversation(true), &msgs, &esc, Lang::Zh);
        assert!(ctx.summary.starts_with("【VIP】"), "{}", ctx.summary);
        assert!(ctx.summary.contains("MM202611110001"), "{}", ctx.summary);
        assert!(
            ctx.summary.contains("refund_status (82%)"),
            "{}",
            ctx.summary
        );
        assert!(!ctx.summary.contains("13812345678"), "{}", ctx.summary);
        assert!(ctx.transcript[0].text.contains("138****5678"));
        assert_eq!(ctx.transcript[0].intent.as_deref(), Some("refund_status"));
        assert_eq!(ctx.entities.len(), 2);

        let erased = ctx.erased("[erased]");
        assert_eq!(erased.summary, "[erased]");
        assert_eq!(erased.transcript[0].text, "[erased]");
        assert_eq!(
            erased.transcript[0].intent.as_deref(),
            Some("refund_status")
        );
        assert!(erased.entities.is_empty());
        assert_eq!(
            erased.customer,
            Customer {
                vip: true,
                verified: true,
                ..Customer::default()
            }
        );
        assert_eq!(erased.reason, EscalationReason::RequestedHuman);

        // A VIP flag without a verified identity is not VIP.
        let mut guest = conversation(true);
        guest.customer.verified = false;
        let ctx = build_context(&guest, &msgs, &esc, Lang::Zh);
        assert!(!ctx.summary.contains("VIP"), "{}", ctx.summary);
        assert!(!ctx.customer.verified);
    }
}
