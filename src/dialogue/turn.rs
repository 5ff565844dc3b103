//! One bot turn, without I/O: [`analyze`] a message (normalise, classify, retrieve, rule
//! signals), then [`plan`] the reply ([`decide`] + wording). The conversation service
//! persists what this returns; the benchmark measures exactly this path.

use jiff::Timestamp;

use super::phrases;
use super::policy::{Decision, Facts, Signals, decide};
use super::signals::{asks_for_human, is_strongly_negative, says_it_did_not_help};
use crate::config::{BusinessHours, PolicyConfig};
use crate::content::Intent;
use crate::conversation::{Author, DecisionKind, Notice, ReplyMeta, Suggestion, TurnRecord};
use crate::handoff::Escalation;
use crate::kb::FaqHit;
use crate::knowledge::Knowledge;
use crate::nlu::{IntentPrediction, Lang, normalize};

/// What the bot saw in one message.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub lang: Lang,
    pub intent: IntentPrediction,
    pub faq_hits: Vec<FaqHit>,
    pub asked_for_human: bool,
    pub negative: bool,
    /// The message says the previous answer did not help.
    pub didnt_help: bool,
}

/// A reply to be stored and sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedReply {
    pub author: Author,
    pub text: String,
    pub meta: ReplyMeta,
}

/// The outcome of a turn, ready to persist.
#[derive(Debug, Clone)]
pub struct Plan {
    pub turn: TurnRecord,
    pub replies: Vec<PlannedReply>,
    pub escalation: Option<Escalation>,
    /// Whether this turn continues a streak of turns the bot did not understand.
    pub low_confidence: bool,
    /// Skill group of what the bot understood this turn, if anything.
    pub topic_skill: Option<String>,
}

/// Classifies and retrieves. `vector` is the message's encoder vector
/// ([`Knowledge::embed_message`]), when the snapshot uses one. `fallback` is the language to
/// assume when the text has no letters (the conversation's locale).
pub fn analyze(
    knowledge: &Knowledge,
    policy: &PolicyConfig,
    faq_candidates: usize,
    text: &str,
    vector: Option<&[f32]>,
    fallback: Lang,
) -> Analysis {
    let normalized = normalize(text);
    let lang = Lang::detect(&normalized, fallback);
    let intent = knowledge.classifier.classify(&normalized, vector);
    let faq_hits = knowledge
        .index
        .search(&normalized, faq_candidates, vector)
        .unwrap_or_else(|e| {
            // The index is in memory and immutable; a failure here is a bug, not bad input.
            tracing::error!(error = %e, "FAQ search failed; answering without FAQ candidates");
            Vec::new()
        });
    Analysis {
        lang,
        asked_for_human: asks_for_human(&normalized, &policy.human_phrases),
        negative: is_strongly_negative(&normalized, &policy.negative_words),
        didnt_help: says_it_did_not_help(&normalized),
        intent,
        faq_hits,
    }
}

/// Decides and words the reply.
pub fn plan(
    knowledge: &Knowledge,
    policy: &PolicyConfig,
    analysis: Analysis,
    facts: &Facts,
) -> Plan {
    let intent_def: Option<&Intent> = knowledge.content.intent(&analysis.intent.label);
    let signals = Signals {
        intent: &analysis.intent,
        intent_def,
        faqs: &analysis.faq_hits,
        asked_for_human: analysis.asked_for_human,
        negative: analysis.negative,
    };
    let decision = decide(&signals, facts, policy);
    let lang = analysis.lang;
    let mut replies = Vec::new();
    let (kind, reason, answered_faq, suggestions, escalation) = match &decision {
        Decision::AnswerFaq { faq_id, intent } => {
            let faq = knowledge.index.get(faq_id, lang);
            let text = faq.map(|f| f.answer.clone()).or_else(|| {
                let intent = intent
                    .as_deref()
                    .and_then(|i| knowledge.content.intent(i))?;
                Some(intent.replies.get(lang).clone())
            });
            match text {
                Some(text) => replies.push(PlannedReply {
                    author: Author::Bot,
                    text,
                    meta: ReplyMeta {
                        faq_id: Some(faq_id.clone()),
                        intent: intent.clone(),
                        ..ReplyMeta::new(DecisionKind::Answer)
                    },
                }),
                None => tracing::error!(faq_id, "decided on a FAQ the index does not have"),
            }
            (
                DecisionKind::Answer,
                None,
                Some(faq_id.clone()),
                vec![],
                None,
            )
        }
        Decision::Reply { intent } => {
            if let Some(def) = knowledge.content.intent(intent) {
                replies.push(intent_reply(def, lang));
            }
            (DecisionKind::Reply, None, None, vec![], None)
        }
        Decision::Clarify { faq_ids } => {
            let suggestions: Vec<Suggestion> = faq_ids
                .iter()
                .filter_map(|id| knowledge.index.get(id, lang))
                .map(|f| Suggestion {
                    faq_id: f.id.clone(),
                    question: f.question.clone(),
                })
                .collect();
            replies.push(PlannedReply {
                author: Author::Bot,
                text: phrases::clarify(lang, !suggestions.is_empty()).to_string(),
                meta: ReplyMeta {
                    suggestions: suggestions.clone(),
                    ..ReplyMeta::new(DecisionKind::Clarify)
                },
            });
            (DecisionKind::Clarify, None, None, suggestions, None)
        }
        Decision::Escalate(esc) => {
            if let Some(def) = esc
                .intent
                .as_deref()
                .and_then(|i| knowledge.content.intent(i))
                && def.action == crate::content::Action::Escalate
            {
                replies.push(intent_reply(def, lang));
            }
            (
                DecisionKind::Escalate,
                Some(esc.reason),
                None,
                vec![],
                Some(esc.clone()),
            )
        }
    };
    let topic_skill = intent_def
        .filter(|_| {
            !analysis.intent.out_of_scope && analysis.intent.confidence >= policy.intent_threshold
        })
        .filter(|i| i.action != crate::content::Action::Escalate)
        .map(|i| i.skill.clone())
        .or_else(|| {
            answered_faq
                .as_deref()
                .and_then(|id| knowledge.index.get(id, lang))
                .and_then(|f| f.skill.clone())
        });
    Plan {
        low_confidence: decision.is_low_confidence(),
        turn: TurnRecord {
            lang,
            intent: Some(analysis.intent),
            faq_candidates: analysis.faq_hits,
            asked_for_human: analysis.asked_for_human,
            negative: analysis.negative,
            didnt_help: analysis.didnt_help,
            decision: kind,
            reason,
            answered_faq,
            suggestions,
        },
        replies,
        escalation,
        topic_skill,
    }
}

/// An intent's fixed reply in `lang`.
fn intent_reply(intent: &Intent, lang: Lang) -> PlannedReply {
    PlannedReply {
        author: Author::Bot,
        text: intent.replies.get(lang).clone(),
        meta: ReplyMeta {
            intent: Some(intent.id.clone()),
            ..ReplyMeta::new(DecisionKind::Reply)
        },
    }
}

/// Whether a person can take an escalated conversation now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Within business hours and an agent of the group is on duty: queue.
    OnDuty,
    /// Within business hours but nobody of the group is online: queue, and offer to leave a
    /// message.
    NobodyOnline,
    /// Outside business hours: do not queue; offer to leave a message.
    OffHours,
}

impl Availability {
    /// Business hours of `skill` at `now`. Hours are validated at start-up; a failure here
    /// means "assume open" rather than turning shoppers away.
    pub fn from_hours(hours: &BusinessHours, skill: &str, now: Timestamp) -> Availability {
        if hours.is_open(skill, now).unwrap_or(true) {
            Availability::OnDuty
        } else {
            Availability::OffHours
        }
    }

    /// Whether the conversation joins the queue.
    pub fn queues(self) -> bool {
        self != Availability::OffHours
    }
}

/// The system message that tells the shopper what happens with their request for a person,
/// honest about business hours and about nobody being online.
pub fn handoff_notice(
    hours: &BusinessHours,
    skill: &str,
    availability: Availability,
    lang: Lang,
) -> PlannedReply {
    let span = hours
        .span_for(skill)
        .map(|s| s.describe())
        .unwrap_or_default();
    let (notice, leave_message) = match availability {
        Availability::OnDuty => (Notice::Queued, false),
        Availability::NobodyOnline => (Notice::NoAgentOnline, true),
        Availability::OffHours => (Notice::OffHours, true),
    };
    PlannedReply {
        author: Author::System,
        text: phrases::handoff(lang, availability, &span, &hours.timezone),
        meta: ReplyMeta {
            notice: Some(notice),
            leave_message,
            ..ReplyMeta::new(DecisionKind::Escalate)
        },
    }
}
