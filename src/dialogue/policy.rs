//! The handoff rules of DESIGN.md as one pure function: [`decide`] takes what the models and
//! rules saw in a message plus two facts about the conversation, and returns what the bot
//! does. No I/O, no clock, no randomness: every rule is a unit test.
//!
//! Order of the rules (first match wins):
//! 1. an explicit request for a person escalates at once;
//! 2. strong negative sentiment escalates as a complaint, priority raised;
//! 3. a confident intent acts: fixed reply, FAQ answer, or the intent's own escalation;
//! 4. a confident FAQ match answers on its own;
//! 5. otherwise the turn is low-confidence: clarify ("did you mean …"), and escalate when this
//!    makes `low_confidence_turns` in a row.
//!
//! VIP customers' escalations get their priority raised (and optionally a dedicated group).
//!
//! A FAQ answer may bring its own follow-up ([`after_answer`], from the FAQ's `handoff:`): a
//! "talk to a person" button, the queue, or a task for the FAQ's group.

use crate::config::PolicyConfig;
use crate::content::faq::FaqHandoff;
use crate::content::{Action, Intent};
use crate::handoff::{Escalation, EscalationReason};
use crate::kb::FaqHit;
use crate::nlu::IntentPrediction;
use crate::vocabulary::Priority;

/// What was seen in the message.
#[derive(Debug, Clone, Copy)]
pub struct Signals<'a> {
    pub intent: &'a IntentPrediction,
    /// The definition of the predicted intent (`None` for `oos` or unknown labels).
    pub intent_def: Option<&'a Intent>,
    /// FAQ candidates, best first.
    pub faqs: &'a [FaqHit],
    pub asked_for_human: bool,
    pub negative: bool,
}

/// What is known about the conversation before this turn.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Who holds the conversation now: while a person does, the bot stays silent.
    pub state: crate::conversation::ConversationState,
    pub vip: bool,
    /// Consecutive low-confidence turns so far.
    pub low_confidence_streak: u32,
    /// Skill group of the last topic the bot understood in this conversation.
    pub recent_skill: Option<String>,
}

impl Facts {
    /// The facts a conversation's stored row carries.
    pub fn of(c: &crate::conversation::Conversation) -> Facts {
        Facts {
            state: c.state,
            // Only a verified identity: a browser's unsigned claim never raises priority.
            vip: c.customer.is_vip(),
            low_confidence_streak: c.low_confidence_streak,
            recent_skill: c.recent_skill.clone(),
        }
    }
}

/// What the bot does with the message.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Answer with this FAQ (in the shopper's language).
    AnswerFaq {
        faq_id: String,
        intent: Option<String>,
    },
    /// Answer with the intent's fixed reply.
    Reply { intent: String },
    /// Ask what was meant, offering these FAQs (may be empty).
    Clarify { faq_ids: Vec<String> },
    /// Hand over to a person.
    Escalate(Escalation),
}

impl Decision {
    /// Whether this turn counts towards the low-confidence streak.
    pub fn is_low_confidence(&self) -> bool {
        matches!(self, Decision::Clarify { .. })
    }
}

/// Applies the handoff rules. See the module docs for their order.
pub fn decide(s: &Signals<'_>, facts: &Facts, p: &PolicyConfig) -> Decision {
    let confident_intent = s
        .intent_def
        .filter(|_| !s.intent.out_of_scope && s.intent.confidence >= p.intent_threshold);
    let topic_skill = confident_intent
        .filter(|i| i.action != Action::Escalate)
        .map(|i| i.skill.clone())
        .or_else(|| facts.recent_skill.clone())
        .unwrap_or_else(|| p.default_skill.clone());
    let escalate =
        |reason: EscalationReason, priority: Priority, skill: String, intent: Option<&Intent>| {
            Decision::Escalate(escalation(reason, priority, skill, intent, facts, p))
        };

    if s.asked_for_human {
        return escalate(
            EscalationReason::RequestedHuman,
            Priority::Normal,
            topic_skill,
            confident_intent,
        );
    }
    if s.negative {
        let skill = confident_intent
            .filter(|i| i.action == Action::Escalate)
            .map(|i| i.skill.clone())
            .unwrap_or(topic_skill);
        return escalate(
            EscalationReason::Complaint,
            Priority::High,
            skill,
            confident_intent,
        );
    }
    let best_faq = s.faqs.first().filter(|h| h.confidence >= p.faq_threshold);
    if let Some(intent) = confident_intent {
        match intent.action {
            Action::Reply => {
                return Decision::Reply {
                    intent: intent.id.clone(),
                };
            }
            // Never reached: out-of-scope examples train the `oos` label, which has no
            // definition; fall through to the not-understood rules if it ever is.
            Action::OutOfScope => {}
            Action::Escalate => {
                let reason = intent
                    .escalation_reason
                    .unwrap_or(EscalationReason::IntentPolicy);
                return escalate(reason, intent.priority, intent.skill.clone(), Some(intent));
            }
            Action::Faq => {
                // A strong lexical match wins; otherwise the best retrieved FAQ the intent
                // lists; otherwise the intent's first FAQ.
                let chosen = best_faq
                    .map(|h| h.faq_id.clone())
                    .or_else(|| {
                        s.faqs
                            .iter()
                            .find(|h| intent.faqs.contains(&h.faq_id))
                            .map(|h| h.faq_id.clone())
                    })
                    .or_else(|| intent.faqs.first().cloned());
                return match chosen {
                    Some(faq_id) => Decision::AnswerFaq {
                        faq_id,
                        intent: Some(intent.id.clone()),
                    },
                    None => Decision::Reply {
                        intent: intent.id.clone(),
                    },
                };
            }
        }
    }
    if let Some(hit) = best_faq {
        return Decision::AnswerFaq {
            faq_id: hit.faq_id.clone(),
            intent: None,
        };
    }
    if facts.low_confidence_streak + 1 >= p.low_confidence_turns {
        return escalate(
            EscalationReason::LowConfidence,
            Priority::Normal,
            topic_skill,
            None,
        );
    }
    let mut faq_ids: Vec<String> = Vec::new();
    for hit in s
        .faqs
        .iter()
        .filter(|h| h.confidence >= p.suggest_threshold)
    {
        if !faq_ids.contains(&hit.faq_id) && faq_ids.len() < p.max_suggestions {
            faq_ids.push(hit.faq_id.clone());
        }
    }
    // The classifier's guess, when it has one, points at FAQs too.
    if let Some(def) = s
        .intent_def
        .filter(|_| s.intent.confidence >= p.suggest_threshold)
        && def.action == Action::Faq
    {
        for id in &def.faqs {
            if !faq_ids.contains(id) && faq_ids.len() < p.max_suggestions {
                faq_ids.push(id.clone());
            }
        }
    }
    Decision::Clarify { faq_ids }
}

/// What follows a FAQ's answer, from its `handoff:`.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterAnswer {
    Nothing,
    /// Show a "talk to a person" button under the answer.
    OfferPerson,
    /// Queue the conversation for a person.
    Queue(Escalation),
    /// Leave the shopper's request as a task for this skill group.
    Notify {
        skill: String,
    },
}

/// The FAQ's own handoff rule, applied after its answer. The group is the FAQ's, else the
/// intent's that chose it, else the conversation's last topic, else the default; the VIP rule
/// applies as to every escalation.
pub fn after_answer(
    faq: &crate::content::Faq,
    intent: Option<&Intent>,
    facts: &Facts,
    p: &PolicyConfig,
) -> AfterAnswer {
    let skill = || {
        faq.skill
            .clone()
            .or_else(|| intent.map(|i| i.skill.clone()))
            .or_else(|| facts.recent_skill.clone())
            .unwrap_or_else(|| p.default_skill.clone())
    };
    match faq.handoff {
        FaqHandoff::None => AfterAnswer::Nothing,
        FaqHandoff::Offer => AfterAnswer::OfferPerson,
        FaqHandoff::Always => AfterAnswer::Queue(escalation(
            EscalationReason::FaqPolicy,
            Priority::Normal,
            skill(),
            intent,
            facts,
            p,
        )),
        FaqHandoff::Notify => AfterAnswer::Notify { skill: skill() },
    }
}

/// The escalation of the "talk to a person" button: like an explicit request in words, to
/// the group of the conversation's last topic.
pub fn button_escalation(facts: &Facts, p: &PolicyConfig) -> Escalation {
    let skill = facts
        .recent_skill
        .clone()
        .unwrap_or_else(|| p.default_skill.clone());
    escalation(
        EscalationReason::RequestedHuman,
        Priority::Normal,
        skill,
        None,
        facts,
        p,
    )
}

/// The escalation a trigger rule asks for, with the VIP rule applied as to every other.
pub fn rule_escalation(
    reason: EscalationReason,
    priority: Priority,
    skill: String,
    facts: &Facts,
    p: &PolicyConfig,
) -> Escalation {
    escalation(reason, priority, skill, None, facts, p)
}

/// An escalation with the VIP rule applied: priority one step up, and the VIP group when one
/// is configured.
fn escalation(
    reason: EscalationReason,
    priority: Priority,
    skill: String,
    intent: Option<&Intent>,
    facts: &Facts,
    p: &PolicyConfig,
) -> Escalation {
    let (priority, skill) = if facts.vip {
        (priority.raised(), p.vip_skill.clone().unwrap_or(skill))
    } else {
        (priority, skill)
    };
    Escalation {
        reason,
        priority,
        skill,
        intent: intent.map(|i| i.id.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Bilingual;
    use crate::nlu::Lang;

    fn intent(id: &str, action: Action, skill: &str, faqs: &[&str]) -> Intent {
        Intent {
            id: id.into(),
            description: String::new(),
            action,
            skill: skill.into(),
            priority: Priority::Normal,
            escalation_reason: None,
            faqs: faqs.iter().map(|s| s.to_string()).collect(),
            examples: Bilingual {
                zh: vec![],
                en: vec![],
            },
            replies: Bilingual {
                zh: "好".into(),
                en: "ok".into(),
            },
            task: None,
        }
    }

    fn pred(label: &str, confidence: f32) -> IntentPrediction {
        IntentPrediction {
            label: label.into(),
            confidence,
            out_of_scope: false,
            alternatives: vec![],
        }
    }

    fn hit(id: &str, confidence: f32) -> FaqHit {
        FaqHit {
            faq_id: id.into(),
            lang: Lang::Zh,
            question: id.into(),
            bm25: 1.0,
            similarity: None,
            confidence,
        }
    }

    fn signals<'a>(
        p: &'a IntentPrediction,
        def: Option<&'a Intent>,
        faqs: &'a [FaqHit],
    ) -> Signals<'a> {
        Signals {
            intent: p,
            intent_def: def,
            faqs,
            asked_for_human: false,
            negative: false,
        }
    }

    fn cfg() -> PolicyConfig {
        PolicyConfig::default()
    }

    #[test]
    fn vip_comes_only_from_a_verified_identity() {
        use crate::conversation::{Conversation, Customer};
        let mut c = Conversation {
            customer: Customer {
                vip: true,
                verified: true,
                ..Customer::default()
            },
            ..Conversation::for_tests("c1")
        };
        assert!(Facts::of(&c).vip);
        c.customer.verified = false;
        assert!(!Facts::of(&c).vip, "an unsigned VIP claim is not VIP");
    }

    #[test]
    fn explicit_request_escalates_at_once_to_the_topic_group() {
        let refund = intent(
            "refund_status",
            Action::Faq,
            "after_sales",
            &["refund-time"],
        );
        let p = pred("refund_status", 0.9);
        let s = Signals {
            asked_for_human: true,
            ..signals(&p, Some(&refund), &[])
        };
        let Decision::Escalate(e) = decide(&s, &Facts::default(), &cfg()) else {
            panic!()
        };
        assert_eq!(e.reason, EscalationReason::RequestedHuman);
        assert_eq!(e.skill, "after_sales");
        assert_eq!(e.priority, Priority::Normal);
    }

    #[test]
    fn negative_sentiment_is_a_complaint_with_raised_priority_and_vip_raises_again() {
        let p = pred("oos", 0.2);
        let s = Signals {
            negative: true,
            ..signals(&p, None, &[])
        };
        let Decision::Escalate(e) = decide(&s, &Facts::default(), &cfg()) else {
            panic!()
        };
        assert_eq!(
            (e.reason, e.priority),
            (EscalationReason::Complaint, Priority::High)
        );
        let vip = Facts {
            vip: true,
            ..Facts::default()
        };
        let Decision::Escalate(e) = decide(&s, &vip, &cfg()) else {
            panic!()
        };
        assert_eq!(e.priority, Priority::Urgent);
    }

    #[test]
    fn vip_skill_group_when_configured() {
        let p = pred("oos", 0.1);
        let s = Signals {
            asked_for_human: true,
            ..signals(&p, None, &[])
        };
        let cfg = PolicyConfig {
            vip_skill: Some("vip".into()),
            ..cfg()
        };
        let Decision::Escalate(e) = decide(
            &s,
            &Facts {
                vip: true,
                ..Facts::default()
            },
            &cfg,
        ) else {
            panic!()
        };
        assert_eq!((e.skill.as_str(), e.priority), ("vip", Priority::High));
    }

    #[test]
    fn the_button_follows_the_topic_and_the_vip_rule() {
        let facts = Facts {
            recent_skill: Some("billing".into()),
            ..Facts::default()
        };
        let e = button_escalation(&facts, &cfg());
        assert_eq!(
            (e.reason, e.priority, e.skill.as_str()),
            (
                EscalationReason::RequestedHuman,
                Priority::Normal,
                "billing"
            )
        );
        let vip = Facts {
            vip: true,
            ..Facts::default()
        };
        let e = button_escalation(&vip, &cfg());
        assert_eq!((e.priority, e.skill.as_str()), (Priority::High, "general"));
    }

    #[test]
    fn confident_intents_act() {
        let hello = intent("greeting", Action::Reply, "general", &[]);
        let p = pred("greeting", 0.95);
        assert_eq!(
            decide(&signals(&p, Some(&hello), &[]), &Facts::default(), &cfg()),
            Decision::Reply {
                intent: "greeting".into()
            }
        );

        let mut complaint = intent("complaint", Action::Escalate, "complaints", &[]);
        complaint.priority = Priority::High;
        complaint.escalation_reason = Some(EscalationReason::Complaint);
        let p = pred("complaint", 0.9);
        let Decision::Escalate(e) = decide(
            &signals(&p, Some(&complaint), &[]),
            &Facts::default(),
            &cfg(),
        ) else {
            panic!()
        };
        assert_eq!(
            (e.reason, e.priority, e.skill.as_str()),
            (EscalationReason::Complaint, Priority::High, "complaints")
        );
    }

    #[test]
    fn faq_intents_pick_the_best_listed_faq() {
        let ret = intent(
            "return_request",
            Action::Faq,
            "after_sales",
            &["return-policy", "return-steps"],
        );
        let p = pred("return_request", 0.8);
        let hits = [hit("refund-time", 0.4), hit("return-steps", 0.35)];
        assert_eq!(
            decide(&signals(&p, Some(&ret), &hits), &Facts::default(), &cfg()),
            Decision::AnswerFaq {
                faq_id: "return-steps".into(),
                intent: Some("return_request".into())
            }
        );
        // No retrieved candidate from its list: the first listed FAQ.
        assert_eq!(
            decide(&signals(&p, Some(&ret), &[]), &Facts::default(), &cfg()),
            Decision::AnswerFaq {
                faq_id: "return-policy".into(),
                intent: Some("return_request".into())
            }
        );
        // A strong lexical match beats the list.
        let strong = [hit("non-returnable", 0.9)];
        assert!(
            matches!(decide(&signals(&p, Some(&ret), &strong), &Facts::default(), &cfg()), Decision::AnswerFaq { faq_id, .. } if faq_id == "non-returnable")
        );
    }

    #[test]
    fn a_confident_faq_answers_without_an_intent() {
        let p = pred("oos", 0.1);
        let hits = [hit("invoice", 0.8)];
        assert_eq!(
            decide(&signals(&p, None, &hits), &Facts::default(), &cfg()),
            Decision::AnswerFaq {
                faq_id: "invoice".into(),
                intent: None
            }
        );
    }

    #[test]
    fn low_confidence_clarifies_then_escalates() {
        let p = pred("oos", 0.2);
        let hits = [
            hit("a", 0.45),
            hit("a", 0.44),
            hit("b", 0.35),
            hit("c", 0.1),
        ];
        let first = decide(&signals(&p, None, &hits), &Facts::default(), &cfg());
        assert_eq!(
            first,
            Decision::Clarify {
                faq_ids: vec!["a".into(), "b".into()]
            }
        );
        assert!(first.is_low_confidence());
        let second = decide(
            &signals(&p, None, &hits),
            &Facts {
                low_confidence_streak: 1,
                recent_skill: Some("orders".into()),
                ..Facts::default()
            },
            &cfg(),
        );
        let Decision::Escalate(e) = second else {
            panic!("{second:?}")
        };
        assert_eq!(
            (e.reason, e.skill.as_str()),
            (EscalationReason::LowConfidence, "orders")
        );
    }

    #[test]
    fn an_unsure_intent_guess_becomes_suggestions() {
        let ret = intent(
            "return_request",
            Action::Faq,
            "after_sales",
            &["return-policy"],
        );
        let p = pred("return_request", 0.4);
        assert_eq!(
            decide(&signals(&p, Some(&ret), &[]), &Facts::default(), &cfg()),
            Decision::Clarify {
                faq_ids: vec!["return-policy".into()]
            }
        );
    }

    #[test]
    fn out_of_scope_intents_do_not_act_even_when_confident() {
        let hello = intent("greeting", Action::Reply, "general", &[]);
        let p = IntentPrediction {
            out_of_scope: true,
            ..pred("greeting", 0.99)
        };
        assert!(
            decide(&signals(&p, Some(&hello), &[]), &Facts::default(), &cfg()).is_low_confidence()
        );
    }

    #[test]
    fn a_faq_brings_its_own_follow_up_to_the_right_group() {
        let mut faq = crate::content::Faq::plain("size-change", Lang::En, "change size");
        let facts = Facts {
            recent_skill: Some("billing".into()),
            ..Facts::default()
        };
        assert_eq!(
            after_answer(&faq, None, &facts, &cfg()),
            AfterAnswer::Nothing
        );
        faq.handoff = FaqHandoff::Offer;
        assert_eq!(
            after_answer(&faq, None, &facts, &cfg()),
            AfterAnswer::OfferPerson
        );
        // No group on the FAQ: the intent's, else the conversation's topic, else the default.
        faq.handoff = FaqHandoff::Notify;
        let orders = intent("modify_order", Action::Faq, "orders", &["size-change"]);
        assert_eq!(
            after_answer(&faq, Some(&orders), &facts, &cfg()),
            AfterAnswer::Notify {
                skill: "orders".into()
            }
        );
        assert_eq!(
            after_answer(&faq, None, &Facts::default(), &cfg()),
            AfterAnswer::Notify {
                skill: "general".into()
            }
        );
        faq.handoff = FaqHandoff::Always;
        faq.skill = Some("after_sales".into());
        let AfterAnswer::Queue(e) = after_answer(&faq, Some(&orders), &facts, &cfg()) else {
            panic!("always queues");
        };
        assert_eq!(
            (e.reason, e.priority, e.skill.as_str(), e.intent.as_deref()),
            (
                EscalationReason::FaqPolicy,
                Priority::Normal,
                "after_sales",
                Some("modify_order")
            )
        );
        let vip = Facts {
            vip: true,
            ..Facts::default()
        };
        let AfterAnswer::Queue(e) = after_answer(&faq, None, &vip, &cfg()) else {
            panic!("always queues");
        };
        assert_eq!(e.priority, Priority::High);
    }
}
