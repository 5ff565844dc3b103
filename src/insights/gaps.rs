//! Knowledge gaps: what shoppers asked that the knowledge base did not answer, grouped so an
//! editor sees "37 shoppers asked about paying with PayPal" rather than 37 lines.
//!
//! [`collect`] walks conversations' turns and keeps a shopper question when the bot did not
//! understand it (it asked back, or handed over for low confidence), or when the bot answered
//! it and the shopper's next message said it did not help, asked for a person or complained.
//! [`group`] clusters the questions per language, with counts, examples and the nearest
//! existing FAQ (often the one to extend with an alternate). When the serving knowledge has a
//! sentence encoder, questions a model reads are grouped by meaning — their vectors, around
//! running centres, at the threshold measured for that model
//! ([`crate::encoder::similarity`]) — and the nearest FAQ is the phrasing that model finds
//! closest, so "东西拿到手是坏的" and "收到的商品破损" are one group although they share no
//! character. The rest (Chinese without multilingual-e5, everything without an encoder or
//! when it fails) are grouped by their words, as lexical TF-IDF similarity. Shoppers' words are
//! embedded without entering the on-disk content cache. [`draft_from`]
//! turns a resolved handoff that began with a gap into an FAQ draft: the question and the
//! agent's answer. Every text leaves this module PII-masked.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::content::Faq;
use crate::conversation::{Author, DecisionKind, Message};
use crate::encoder::similarity::{
    Meaning, Reader, centroid, content_meanings, cosine, leader_groups, transient_meanings,
};
use crate::encoder::{Encoder, EncoderError};
use crate::handoff::{EscalationReason, Handoff};
use crate::insights::stats::rejects_previous_answer;
use crate::nlu::similarity::{SparseVec, Vectorizer, group as cluster};
use crate::nlu::{Lang, normalize};
use crate::store::ConversationActivity;

/// Questions at least this similar by their words to a group's centre join it (by meaning,
/// each model has its own threshold: [`Reader::same_group`]).
pub const GROUP_SIMILARITY: f32 = 0.3;

/// A FAQ is named as nearest when at least this similar by its words to the group's
/// representative (by meaning: [`Reader::nearest_faq`]).
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
        gaps_of(&c.id, &c.messages, &mut out);
    }
    out
}

/// The unanswered questions among one conversation's `messages`, appended to `out`.
fn gaps_of(conversation_id: &str, messages: &[Message], out: &mut Vec<GapItem>) {
    let turns: Vec<_> = messages
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
                conversation_id: conversation_id.to_string(),
                seq: m.seq,
                at: m.created_at,
                reason,
            });
        }
    }
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

/// Groups `items` by similarity, largest groups first (then most recent): by meaning where
/// `encoder` reads a question's language, else by its words.
pub fn group(
    items: &[GapItem],
    faqs: &[Faq],
    encoder: Option<&Encoder>,
    max_examples: usize,
) -> Vec<GapGroup> {
    let meanings = encoder.and_then(|e| GapMeanings::of(e, items, faqs));
    group_with(items, faqs, meanings.as_ref(), max_examples)
}

/// The encoder's reading of every gap question and of every FAQ phrasing (each FAQ's question,
/// then its alternates, FAQ after FAQ); `None` where no model reads the text.
struct GapMeanings {
    items: Vec<Option<Meaning>>,
    phrasings: Vec<Option<Meaning>>,
}

impl GapMeanings {
    /// `None` (and a warning) when the encoder fails: the groups are then made by words.
    fn of(encoder: &Encoder, items: &[GapItem], faqs: &[Faq]) -> Option<GapMeanings> {
        match Self::embed(encoder, items, faqs) {
            Ok(meanings) => Some(meanings),
            Err(e) => {
                // The kind only: the error could quote a shopper's text.
                tracing::warn!(
                    error_kind = e.kind(),
                    "could not embed the knowledge-gap questions; grouping them by their words"
                );
                None
            }
        }
    }

    fn embed(
        encoder: &Encoder,
        items: &[GapItem],
        faqs: &[Faq],
    ) -> Result<GapMeanings, EncoderError> {
        // Normalised as the bot embeds messages and the FAQ index embeds phrasings.
        let questions: Vec<String> = items.iter().map(|i| normalize(&i.text)).collect();
        let phrasings: Vec<String> = faqs
            .iter()
            .flat_map(|f| std::iter::once(&f.question).chain(&f.alternates))
            .map(|t| normalize(t))
            .collect();
        let q: Vec<&str> = questions.iter().map(String::as_str).collect();
        let p: Vec<&str> = phrasings.iter().map(String::as_str).collect();
        Ok(GapMeanings {
            // Shoppers' words are never written to the content cache; phrasings come from it.
            items: transient_meanings(encoder, &q)?,
            phrasings: content_meanings(encoder, &p)?,
        })
    }

    fn reader_of(&self, item: usize) -> Option<Reader> {
        self.items.get(item)?.as_ref().map(|m| m.reader)
    }
}

/// A group of questions before it is summarised: indices into the items.
struct Cluster {
    members: Vec<usize>,
    representative: usize,
    nearest_faq: Option<NearestFaq>,
}

/// A FAQ phrasing of the language being grouped: its FAQ and its index among all phrasings.
struct Phrasing<'a> {
    faq: &'a Faq,
    index: usize,
    text: &'a str,
}

fn group_with(
    items: &[GapItem],
    faqs: &[Faq],
    meanings: Option<&GapMeanings>,
    max_examples: usize,
) -> Vec<GapGroup> {
    let all_phrasings: Vec<(&Faq, &str)> = faqs
        .iter()
        .flat_map(|f| {
            std::iter::once(&f.question)
                .chain(&f.alternates)
                .map(move |t| (f, t.as_str()))
        })
        .collect();
    let mut groups = Vec::new();
    for lang in [Lang::Zh, Lang::En] {
        let phrasings: Vec<Phrasing> = all_phrasings
            .iter()
            .enumerate()
            .filter(|(_, (f, _))| f.lang == lang)
            .map(|(index, &(faq, text))| Phrasing { faq, index, text })
            .collect();
        // Questions one model reads are grouped by meaning, the rest by their words.
        let mut by_reader: BTreeMap<Option<Reader>, Vec<usize>> = BTreeMap::new();
        for (i, _) in items.iter().enumerate().filter(|(_, i)| i.lang == lang) {
            let reader = meanings.and_then(|m| m.reader_of(i));
            by_reader.entry(reader).or_default().push(i);
        }
        for (reader, members) in by_reader {
            let clusters = match (reader, meanings) {
                (Some(reader), Some(meanings)) => {
                    dense_clusters(reader, &members, &phrasings, meanings)
                }
                _ => lexical_clusters(items, &members, &phrasings),
            };
            groups.extend(
                clusters
                    .into_iter()
                    .map(|c| summarize(lang, items, c, max_examples)),
            );
        }
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)));
    groups
}

/// Groups `members` by TF-IDF similarity of their words.
fn lexical_clusters(items: &[GapItem], members: &[usize], phrasings: &[Phrasing]) -> Vec<Cluster> {
    // FAQ texts take part in the IDF so that words every FAQ uses weigh little.
    let mut texts: Vec<&str> = members.iter().map(|&i| items[i].text.as_str()).collect();
    texts.extend(phrasings.iter().map(|p| p.text));
    let (_, vectors) = Vectorizer::fit(&texts);
    let (item_vectors, faq_vectors) = vectors.split_at(members.len());
    let mut clusters = Vec::new();
    for indices in cluster(item_vectors, GROUP_SIMILARITY) {
        let centre = SparseVec::centroid(indices.iter().map(|&i| &item_vectors[i]));
        let Some(&rep) = indices.iter().max_by(|&&a, &&b| {
            centre
                .cosine(&item_vectors[a])
                .total_cmp(&centre.cosine(&item_vectors[b]))
        }) else {
            continue;
        };
        let nearest_faq = nearest(
            phrasings
                .iter()
                .zip(faq_vectors)
                .map(|(p, v)| (p.faq, v.cosine(&item_vectors[rep]))),
            NEAREST_FAQ_FLOOR,
        );
        clusters.push(Cluster {
            members: indices.iter().map(|&i| members[i]).collect(),
            representative: members[rep],
            nearest_faq,
        });
    }
    clusters
}

/// Groups `members`, all read by `reader`, by the cosine of their vectors, at that model's
/// threshold; the nearest FAQ is the phrasing the same model finds closest.
fn dense_clusters(
    reader: Reader,
    members: &[usize],
    phrasings: &[Phrasing],
    meanings: &GapMeanings,
) -> Vec<Cluster> {
    // (item, vector); every member has one, as they were chosen by their reader.
    let read: Vec<(usize, &[f32])> = members
        .iter()
        .filter_map(|&i| Some((i, &meanings.items.get(i)?.as_ref()?.vector[..])))
        .collect();
    let vectors: Vec<&[f32]> = read.iter().map(|(_, v)| *v).collect();
    let faq_vectors: Vec<(&Faq, &[f32])> = phrasings
        .iter()
        .filter_map(|p| {
            let m = meanings.phrasings.get(p.index)?.as_ref()?;
            (m.reader == reader).then_some((p.faq, &m.vector[..]))
        })
        .collect();
    let mut clusters = Vec::new();
    for indices in leader_groups(&vectors, reader.same_group()) {
        let centre = centroid(indices.iter().map(|&i| vectors[i]));
        let Some(&rep) = indices
            .iter()
            .max_by(|&&a, &&b| cosine(&centre, vectors[a]).total_cmp(&cosine(&centre, vectors[b])))
        else {
            continue;
        };
        let nearest_faq = nearest(
            faq_vectors
                .iter()
                .map(|(f, v)| (*f, cosine(v, vectors[rep]))),
            reader.nearest_faq(),
        );
        clusters.push(Cluster {
            members: indices.iter().map(|&i| read[i].0).collect(),
            representative: read[rep].0,
            nearest_faq,
        });
    }
    clusters
}

/// The most similar FAQ, when at least `floor` similar.
fn nearest<'a>(scores: impl Iterator<Item = (&'a Faq, f32)>, floor: f32) -> Option<NearestFaq> {
    scores
        .filter(|(_, s)| *s >= floor)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(f, score)| NearestFaq {
            faq_id: f.id.clone(),
            question: f.question.clone(),
            score,
        })
}

/// Counts, times, reasons and examples of a cluster.
fn summarize(lang: Lang, items: &[GapItem], c: Cluster, max_examples: usize) -> GapGroup {
    let group_items: Vec<&GapItem> = c.members.iter().map(|&i| &items[i]).collect();
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
        .filter(|i| seen.insert(normalize(&i.text)))
        .collect();
    GapGroup {
        representative: items[c.representative].text.clone(),
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
        nearest_faq: c.nearest_faq,
    }
}

/// A draft's content: the question that started a handoff and what the agent answered.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftContent {
    pub lang: Lang,
    pub question: String,
    pub answer: String,
}

/// The draft a resolved handoff yields from its conversation's `messages` (not erased): when
/// the conversation's last gap question before the hand-over is known and the agent wrote to
/// the shopper. Masked.
pub fn draft_from(messages: &[Message], handoff: &Handoff) -> Option<DraftContent> {
    let mut gaps = Vec::new();
    gaps_of(&handoff.conversation_id, messages, &mut gaps);
    let gap = gaps.into_iter().rfind(|g| g.at <= handoff.created_at)?;
    let start = handoff
        .routing
        .first_assigned_at
        .or(handoff.routing.assigned_at)
        .unwrap_or(handoff.created_at);
    let end = handoff.routing.closed_at.unwrap_or(i64::MAX);
    let answer: Vec<String> = messages
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
    use std::sync::Arc;

    use super::*;

    fn item(text: &str, lang: Lang, at: i64) -> GapItem {
        GapItem {
            text: text.into(),
            lang,
            conversation_id: format!("c{at}"),
            seq: 1,
            at,
            reason: GapReason::LowConfidence,
        }
    }

    fn faq(id: &str, lang: Lang, question: &str) -> Faq {
        Faq::plain(id, lang, question)
    }

    fn e5(v: &[f32]) -> Option<Meaning> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        Some(Meaning {
            reader: Reader::MultilingualE5,
            vector: Arc::from(v.iter().map(|x| x / norm).collect::<Vec<f32>>()),
        })
    }

    /// Two Chinese paraphrases without a shared word, an unrelated Chinese question, one
    /// Chinese question no model read, and an English one.
    fn items() -> Vec<GapItem> {
        vec![
            item("东西拿到手是坏的", Lang::Zh, 1),
            item("怎么开发票", Lang::Zh, 2),
            item("收到的商品破损", Lang::Zh, 3),
            item("能用花呗吗", Lang::Zh, 4),
            item("where is my parcel", Lang::En, 5),
        ]
    }

    fn faqs() -> Vec<Faq> {
        vec![
            faq("damaged", Lang::Zh, "商品坏了怎么办"),
            faq("invoice", Lang::Zh, "如何申请发票"),
            faq("tracking", Lang::En, "Where is my order?"),
        ]
    }

    fn meanings() -> GapMeanings {
        GapMeanings {
            items: vec![
                e5(&[1.0, 0.1, 0.0]),
                e5(&[0.0, 0.2, 1.0]),
                e5(&[0.97, 0.0, 0.05]),
                None,
                None,
            ],
            phrasings: vec![e5(&[0.9, 0.1, 0.1]), e5(&[0.3, 0.0, 1.0]), None],
        }
    }

    fn members(groups: &[GapGroup]) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = groups
            .iter()
            .map(|g| {
                let mut t = g.texts.clone();
                t.sort();
                t
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn paraphrases_group_by_meaning_and_find_their_faq() {
        let (items, faqs) = (items(), faqs());
        let groups = group_with(&items, &faqs, Some(&meanings()), 3);
        let broken = groups
            .iter()
            .find(|g| g.texts.contains(&"收到的商品破损".to_string()))
            .expect("a group");
        assert_eq!(broken.count, 2, "{groups:#?}");
        assert!(broken.texts.contains(&"东西拿到手是坏的".to_string()));
        let nearest = broken.nearest_faq.as_ref().expect("a nearest FAQ");
        assert_eq!(nearest.faq_id, "damaged");
        // Largest first; the unrelated, the unread and the English question alone.
        assert_eq!(groups[0].count, 2);
        assert_eq!(groups.len(), 4, "{groups:#?}");
        assert_eq!(groups.iter().map(|g| g.count).sum::<u64>(), 5);
        let invoice = groups
            .iter()
            .find(|g| g.representative == "怎么开发票")
            .expect("its own group");
        assert_eq!(
            invoice.nearest_faq.as_ref().map(|f| f.faq_id.as_str()),
            Some("invoice")
        );
    }

    #[test]
    fn without_vectors_the_groups_are_lexical_as_before() {
        let (items, faqs) = (items(), faqs());
        let by_words = group_with(&items, &faqs, None, 3);
        assert_eq!(
            by_words.len(),
            5,
            "no shared words, no group: {by_words:#?}"
        );
        // A model that reads nothing changes nothing.
        let unread = GapMeanings {
            items: vec![None; 5],
            phrasings: vec![None; 3],
        };
        assert_eq!(
            members(&group_with(&items, &faqs, Some(&unread), 3)),
            members(&by_words)
        );
    }

    #[test]
    fn a_faq_below_the_model_s_floor_is_not_named() {
        let items = vec![item("东西拿到手是坏的", Lang::Zh, 1)];
        let faqs = vec![faq("invoice", Lang::Zh, "如何申请发票")];
        let meanings = GapMeanings {
            items: vec![e5(&[1.0, 0.0])],
            // Cosine 0.6: related for MiniLM's scale, unrelated for e5's.
            phrasings: vec![e5(&[0.6, 0.8])],
        };
        let groups = group_with(&items, &faqs, Some(&meanings), 3);
        assert_eq!(groups[0].nearest_faq, None);
    }

    #[test]
    fn suggests_ids() {
        assert_eq!(
            suggest_id("Can I pay with PayPal at checkout today please?", "x1"),
            "can-i-pay-with-paypal-at"
        );
        assert_eq!(suggest_id("能用花呗吗", "0a1b2c3d"), "faq-0a1b2c3d");
    }
}
