//! Knowledge gaps: what shoppers asked that the knowledge base did not answer, grouped so an
//! editor sees "37 shoppers asked about paying with PayPal" rather than 37 lines.
//!
//! [`collect`] walks conversations' turns and keeps a shopper question when the bot did not
//! understand it (it asked back, or handed over for low confidence), or when the bot answered
//! it and the shopper's next message said it did not help, asked for a person or complained.
//! [`group`] clusters the questions by lexical similarity per language, with counts, examples
//! and the nearest existing FAQ (often the one to extend with an alternate). [`draft_from`]
//! turns a resolved handoff that began with a gap into an FAQ draft: the question and the
//! agent's answer. Every text leaves this module PII-masked.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::content::Faq;
use crate::conversation::{Author, DecisionKind};
use crate::handoff::{EscalationReason, Handoff};
use crate::insights::stats::rejects_previous_answer;
use crate::nlu::Lang;
use crate::nlu::similarity::{SparseVec, Vectorizer, group as cluster};
use crate::store::ConversationActivity;

/// Questions at least this similar to a group's centre join it.
pub const GROUP_SIMILARITY: f32 = 0.3;

/// A FAQ is named as nearest when at least this similar to the group's representative.
const NEAREST_FAQ_FLOOR: f32 = 0.2;

/// Why a question counts as a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// The bot did not understand it.
    LowConfidence,
    /// Answered, and the shopper said it did not help (or complained).
    DidntHelp,
    /// Answered, and the shopper then asked for a person.
    RequestedHuman,
}

/// One unanswered question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapItem {
    /// The shopper's words, PII-masked.
    pub text: String,
    #[serde(skip)]
    pub lang: Lang,
    pub conversation_id: String,
    #[serde(skip)]
    pub seq: i64,
    pub at: i64,
    pub reason: GapReason,
}

/// Unanswered questions of `conversations` (erased ones left out), oldest conversation first.
pub fn collect(conversations: &[ConversationActivity]) -> Vec<GapItem> {
    let mut out = Vec::new();
    // An erased conversation's questions are gone; "[erased]" is no gap.
    for c in conversations.iter().filter(|c| !c.erased) {
        let turns: Vec<_> = c
            .messages
            .iter()
            .filter(|m| m.author == Author::Shopper)
            .filter_map(|m| m.turn.as_ref().map(|t| (m, t)))
            .collect();
        for (i, (m, t)) in turns.iter().enumerate() {
            // "That didn't help" or "转人工" is about an answer, not a question to answer.
            if t.didnt_help || t.asked_for_human {
                continue;
            }
            let reason = match t.decision {
                DecisionKind::Clarify => Some(GapReason::LowConfidence),
                DecisionKind::Escalate if t.reason == Some(EscalationReason::LowConfidence) => {
                    Some(GapReason::LowConfidence)
                }
                DecisionKind::Answer => turns
                    .get(i + 1)
                    .filter(|(_, next)| rejects_previous_answer(next))
                    .map(|(_, next)| {
                        if next.asked_for_human {
                            GapReason::RequestedHuman
                        } else {
                            GapReason::DidntHelp
                        }
                    }),
                _ => None,
            };
            if let Some(reason) = reason {
                out.push(GapItem {
                    text: crate::pii::mask(m.text.trim()),
                    lang: t.lang,
                    conversation_id: c.id.clone(),
                    seq: m.seq,
                    at: m.created_at,
                    reason,
                });
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearestFaq {
    pub faq_id: String,
    pub question: String,
    pub score: f32,
}

/// Similar unanswered questions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapGroup {
    /// The question closest to the group's centre.
    pub representative: String,
    pub lang: Lang,
    /// Questions in the group.
    pub count: u64,
    /// Distinct conversations they came from.
    pub conversations: u64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub reasons: BTreeMap<GapReason, u64>,
    /// The most recent questions, distinct texts.
    pub examples: Vec<GapItem>,
    pub nearest_faq: Option<NearestFaq>,
    /// Every distinct text in the group: the paraphrases a draft takes as alternates.
    #[serde(skip)]
    pub texts: Vec<String>,
}

/// Groups `items` by similarity, largest groups first (then most recent).
pub fn group(items: &[GapItem], faqs: &[Faq], max_examples: usize) -> Vec<GapGroup> {
    let mut groups = Vec::new();
    for lang in [Lang::Zh, Lang::En] {
        let members: Vec<&GapItem> = items.iter().filter(|i| i.lang == lang).collect();
        if members.is_empty() {
            continue;
        }
        let lang_faqs: Vec<&Faq> = faqs.iter().filter(|f| f.lang == lang).collect();
        // FAQ texts take part in the IDF so that words every FAQ uses weigh little.
        let faq_texts: Vec<(&Faq, &str)> = lang_faqs
            .iter()
            .flat_map(|f| {
                std::iter::once(&f.question)
                    .chain(&f.alternates)
                    .map(move |t| (*f, t.as_str()))
            })
            .collect();
        let mut texts: Vec<&str> = members.iter().map(|i| i.text.as_str()).collect();
        texts.extend(faq_texts.iter().map(|(_, t)| *t));
        let (_, vectors) = Vectorizer::fit(&texts);
        let (item_vectors, faq_vectors) = vectors.split_at(members.len());
        for indices in cluster(item_vectors, GROUP_SIMILARITY) {
            let centre = SparseVec::centroid(indices.iter().map(|&i| &item_vectors[i]));
            let Some(&rep) = indices.iter().max_by(|&&a, &&b| {
                centre
                    .cosine(&item_vectors[a])
                    .total_cmp(&centre.cosine(&item_vectors[b]))
            }) else {
                continue;
            };
            let nearest_faq = faq_vectors
                .iter()
                .zip(&faq_texts)
                .map(|(v, (f, _))| (f, v.cosine(&item_vectors[rep])))
                .filter(|(_, s)| *s >= NEAREST_FAQ_FLOOR)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(f, score)| NearestFaq {
                    faq_id: f.id.clone(),
                    question: f.question.clone(),
                    score,
                });
            let group_items: Vec<&GapItem> = indices.iter().map(|&i| members[i]).collect();
            let mut reasons = BTreeMap::new();
            for i in &group_items {
                *reasons.entry(i.reason).or_default() += 1;
            }
            let conversations: HashSet<&str> = group_items
                .iter()
                .map(|i| i.conversation_id.as_str())
                .collect();
            let mut by_recency = group_items.clone();
            by_recency.sort_by_key(|i| std::cmp::Reverse(i.at));
            let mut seen = HashSet::new();
            let distinct: Vec<&GapItem> = by_recency
                .into_iter()
                .filter(|i| seen.insert(crate::nlu::normalize(&i.text)))
                .collect();
            groups.push(GapGroup {
                representative: members[rep].text.clone(),
                lang,
                count: group_items.len() as u64,
                conversations: conversations.len() as u64,
                first_seen: group_items.iter().map(|i| i.at).min().unwrap_or_default(),
                last_seen: group_items.iter().map(|i| i.at).max().unwrap_or_default(),
                reasons,
                examples: distinct
                    .iter()
                    .take(max_examples)
                    .map(|i| (*i).clone())
                    .collect(),
                texts: distinct.iter().map(|i| i.text.clone()).collect(),
                nearest_faq,
            });
        }
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)));
    groups
}

/// A draft's content: the question that started a handoff and what the agent answered.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftContent {
    pub lang: Lang,
    pub question: String,
    pub answer: String,
}

/// The draft a resolved handoff yields: when the conversation's last gap question before the
/// hand-over is known and the agent wrote to the shopper. Masked.
pub fn draft_from(conversation: &ConversationActivity, handoff: &Handoff) -> Option<DraftContent> {
    let gap = collect(std::slice::from_ref(conversation))
        .into_iter()
        .rfind(|g| g.at <= handoff.created_at)?;
    let start = handoff
        .routing
        .first_assigned_at
        .or(handoff.routing.assigned_at)
        .unwrap_or(handoff.created_at);
    let end = handoff.routing.closed_at.unwrap_or(i64::MAX);
    let answer: Vec<String> = conversation
        .messages
        .iter()
        .filter(|m| m.author == Author::Agent && m.created_at >= start && m.created_at <= end)
        .map(|m| crate::pii::mask(m.text.trim()))
        .filter(|t| !t.is_empty())
        .collect();
    if answer.is_empty() {
        return None;
    }
    Some(DraftContent {
        lang: gap.lang,
        question: gap.text,
        answer: answer.join("\n\n"),
    })
}

/// A FAQ id for a question: its first words for latin text, else `faq-` and `fallback`.
pub fn suggest_id(question: &str, fallback: &str) -> String {
    let words: Vec<String> = question
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(6)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let slug = words.join("-");
    if slug.len() >= 8 && crate::content::faq::is_valid_id(&slug) {
        slug
    } else {
        format!("faq-{fallback}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_ids() {
        assert_eq!(
            suggest_id("Can I pay with PayPal at checkout today please?", "x1"),
            "can-i-pay-with-paypal-at"
        );
        assert_eq!(suggest_id("能用花呗吗", "0a1b2c3d"), "faq-0a1b2c3d");
    }
}
