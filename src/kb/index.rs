//! FAQ retrieval: BM25 over three fields (question and alternates boosted over the answer),
//! fused with dense similarity when the index has vectors, then a normalised confidence for
//! each candidate.
//!
//! BM25 scores grow with query length and differ from one KB to the next, so they cannot
//! drive an answer/escalate decision. The confidence is instead an IDF-weighted overlap
//! between the query's terms and the closest phrasing of the FAQ (its question or one of its
//! alternates): the harmonic mean of how much of the query that phrasing covers and how much
//! of the phrasing the query covers. 1.0 means the query says exactly what a phrasing says;
//! a query whose informative words the FAQ never mentions scores near 0, whatever the KB.
//! Candidates keep BM25's order; the confidence drives decisions, not order. Blending it into
//! the ranking measured no better (`baton eval kb`, MRR on StackFAQ / BQ-FAQ: BM25 order
//! 0.804 / 0.135, 0.6 confidence + 0.4 relative BM25 0.803 / 0.132, confidence alone
//! 0.787 / 0.129).
//!
//! English confidence adds a mapping of the dense similarity ([`fused_confidence`]). What
//! an overlap means for Chinese depends on how alike the KB's FAQs are, so Chinese hits take
//! their confidence from a map of overlap, similarity and lead fitted on the KB's own
//! alternates (`super::self_calibration`), when there are enough of them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use super::analyzer::{BatonTokenizer, analyze};
use super::calibration::{ConfidenceMap, Signals};
use super::phrasing_vectors::{CenteredFaqs, DenseFaqs};
use crate::content::Faq;
use crate::encoder::Encoder;
use crate::nlu::{Lang, normalize};

#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error("search index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error(transparent)]
    Encoder(#[from] crate::encoder::EncoderError),
}

/// One retrieved FAQ.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaqHit {
    pub faq_id: String,
    pub lang: Lang,
    pub question: String,
    /// Raw BM25 score (comparable only within one query); 0 when only the dense search
    /// found it.
    pub bm25: f32,
    /// Cosine similarity between the query and the closest phrasing, when the encoder is in
    /// use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// Normalised match confidence, 0..=1 (comparable across queries and KBs).
    pub confidence: f32,
}

/// A message's FAQ candidates, best first. Shared, not copied: a turn's record carries them
/// from the understanding to the store, the sockets and the agent's view.
pub type FaqHits = std::sync::Arc<[FaqHit]>;

const QUESTION_BOOST: f32 = 2.0;
const ALTERNATES_BOOST: f32 = 1.5;
const ANSWER_BOOST: f32 = 0.3;

struct Phrasing {
    terms: Vec<u32>,
    weight: f32,
}

struct Fields {
    ord: Field,
    question: Field,
    alternates: Field,
    answer: Field,
}

/// An immutable, searchable FAQ set. Build a new one to change it.
pub struct FaqIndex {
    faqs: Vec<Faq>,
    /// Each FAQ's question and alternates as sorted, deduplicated term ids, with their total
    /// IDF weight, for the confidence.
    phrasings: Vec<Vec<Phrasing>>,
    /// Term → (id, IDF over FAQs' phrasings).
    vocabulary: HashMap<String, (u32, f32)>,
    by_key: HashMap<(String, Lang), usize>,
    fields: Fields,
    reader: IndexReader,
    /// Phrasing vectors, when built with an encoder.
    dense: Option<DenseFaqs>,
    /// Chinese phrasing vectors centred on their mean, when the encoder reads Chinese
    /// (multilingual-e5), so its similarity ranks Chinese too.
    chinese_dense: Option<CenteredFaqs>,
    /// Chinese hits' confidence, fitted on labelled questions; without it a Chinese hit's
    /// confidence is its term overlap.
    chinese_confidence: Option<ConfidenceMap>,
}

impl std::fmt::Debug for FaqIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaqIndex")
            .field("faqs", &self.faqs.len())
            .finish()
    }
}

impl FaqIndex {
    /// Indexes `faqs` lexically, and densely when an encoder is given (phrasing vectors come
    /// from the encoder's content cache, so only new or edited phrasings are embedded).
    pub fn build(faqs: Vec<Faq>, encoder: Option<&Encoder>) -> Result<FaqIndex, KbError> {
        let mut schema = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("baton")
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            // A fast field: reading it per hit is a column lookup, not a stored-document fetch.
            ord: schema.add_u64_field("ord", FAST),
            question: schema.add_text_field("question", text.clone()),
            alternates: schema.add_text_field("alternates", text.clone()),
            answer: schema.add_text_field("answer", text),
        };
        let index = Index::create_in_ram(schema.build());
        index
            .tokenizers()
            .register("baton", TextAnalyzer::from(BatonTokenizer));
        let mut writer = index.writer_with_num_threads(1, 50_000_000)?;
        let mut term_sets: Vec<Vec<HashSet<String>>> = Vec::with_capacity(faqs.len());
        let mut doc_freq: HashMap<String, u32> = HashMap::new();
        let mut by_key = HashMap::with_capacity(faqs.len());
        let mut texts: Vec<Vec<String>> = Vec::with_capacity(faqs.len());
        for (ord, faq) in faqs.iter().enumerate() {
            let question = normalize(&faq.question);
            let alternates: Vec<String> = faq.alternates.iter().map(|a| normalize(a)).collect();
            let mut doc = TantivyDocument::default();
            doc.add_u64(fields.ord, ord as u64);
            doc.add_text(fields.question, &question);
            for a in &alternates {
                doc.add_text(fields.alternates, a);
            }
            doc.add_text(fields.answer, normalize(&faq.answer));
            writer.add_document(doc)?;

            let sets: Vec<HashSet<String>> = std::iter::once(&question)
                .chain(&alternates)
                .map(|p| analyze(p).into_iter().collect())
                .collect();
            let all: HashSet<&String> = sets.iter().flatten().collect();
            for term in all {
                *doc_freq.entry(term.clone()).or_default() += 1;
            }
            term_sets.push(sets);
            by_key.insert((faq.id.clone(), faq.lang), ord);
            texts.push(std::iter::once(question).chain(alternates).collect());
        }
        let n = faqs.len().max(1) as f32;
        let vocabulary: HashMap<String, (u32, f32)> = doc_freq
            .into_iter()
            .enumerate()
            .map(|(id, (term, df))| (term, (id as u32, idf(n, df as f32))))
            .collect();
        let phrasings = term_sets
            .into_iter()
            .map(|sets| {
                sets.into_iter()
                    .map(|set| {
                        let mut terms: Vec<u32> = set.iter().map(|t| vocabulary[t].0).collect();
                        terms.sort_unstable();
                        let weight = set.iter().map(|t| vocabulary[t].1).sum();
                        Phrasing { terms, weight }
                    })
                    .collect()
            })
            .collect();
        writer.commit()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let dense_vectors = match encoder {
            Some(encoder) => {
                let flat: Vec<&str> = texts.iter().flatten().map(String::as_str).collect();
                let mut vectors = encoder.embed_content(&flat)?.into_iter();
                let per_faq: Vec<Vec<_>> = texts
                    .iter()
                    .map(|t| vectors.by_ref().take(t.len()).collect())
                    .collect();
                Some(per_faq)
            }
            None => None,
        };
        let chinese_dense = match (&dense_vectors, encoder) {
            (Some(per_faq), Some(e)) if e.model.reads_chinese() => {
                CenteredFaqs::new(&chinese_rows(&texts, per_faq))
            }
            _ => None,
        };
        let dense = dense_vectors.map(|per_faq| DenseFaqs::new(&per_faq));
        Ok(FaqIndex {
            faqs,
            phrasings,
            vocabulary,
            by_key,
            fields,
            reader,
            dense,
            chinese_dense,
            chinese_confidence: None,
        })
    }

    /// This index with Chinese hits' confidence given by `map` (`None`: their term overlap).
    pub fn with_chinese_confidence(mut self, map: Option<ConfidenceMap>) -> FaqIndex {
        self.chinese_confidence = map;
        self
    }

    /// The map Chinese hits' confidence comes from, when one was fitted.
    pub fn chinese_confidence(&self) -> Option<&ConfidenceMap> {
        self.chinese_confidence.as_ref()
    }

    pub fn len(&self) -> usize {
        self.faqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.faqs.is_empty()
    }

    pub fn faqs(&self) -> &[Faq] {
        &self.faqs
    }

    /// The FAQ `id` in `lang`, or in the other language when it has no such variant.
    pub fn get(&self, id: &str, lang: Lang) -> Option<&Faq> {
        let other = match lang {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        };
        [lang, other]
            .iter()
            .find_map(|l| self.by_key.get(&(id.to_string(), *l)))
            .map(|&i| &self.faqs[i])
    }

    /// How well the query matches the closest phrasing of FAQ `ord`, 0..=1. `query` holds
    /// the query's known terms (id, IDF); `query_weight` also counts unknown terms, at the
    /// IDF of a term no FAQ contains.
    fn confidence(&self, query: &[(u32, f32)], query_weight: f32, ord: usize) -> f32 {
        if query_weight <= 0.0 {
            return 0.0;
        }
        self.phrasings[ord]
            .iter()
            .map(|phrasing| {
                let matched: f32 = query
                    .iter()
                    .filter(|(id, _)| phrasing.terms.binary_search(id).is_ok())
                    .map(|(_, w)| w)
                    .sum();
                if matched <= 0.0 || phrasing.weight <= 0.0 {
                    return 0.0;
                }
                let recall = matched / query_weight;
                let precision = matched / phrasing.weight;
                2.0 * recall * precision / (recall + precision)
            })
            .fold(0.0, f32::max)
    }

    /// Whether searches use query vectors (the caller should pass one).
    pub fn uses_vectors(&self) -> bool {
        self.dense.is_some()
    }

    /// BM25's best `limit` FAQs as (FAQ index, score), with the query's known terms and
    /// total weight for the overlap confidence.
    fn lexical(&self, query: &str, limit: usize) -> Result<Lexical, KbError> {
        let terms = analyze(query);
        let mut out = Lexical {
            hits: Vec::new(),
            known: Vec::new(),
            query_weight: 0.0,
        };
        if terms.is_empty() || limit == 0 || self.faqs.is_empty() {
            return Ok(out);
        }
        let unique: HashSet<String> = terms.iter().cloned().collect();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for term in &unique {
            for (field, boost) in [
                (self.fields.question, QUESTION_BOOST),
                (self.fields.alternates, ALTERNATES_BOOST),
                (self.fields.answer, ANSWER_BOOST),
            ] {
                let q = TermQuery::new(
                    Term::from_field_text(field, term),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
            }
        }
        let unseen_idf = idf(self.faqs.len().max(1) as f32, 0.0);
        out.known = unique
            .iter()
            .filter_map(|t| self.vocabulary.get(t).copied())
            .collect();
        out.query_weight = out.known.iter().map(|(_, w)| w).sum::<f32>()
            + (unique.len() - out.known.len()) as f32 * unseen_idf;
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut columns = HashMap::new();
        for (bm25, addr) in top {
            let ords = match columns.entry(addr.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    searcher
                        .segment_reader(addr.segment_ord)
                        .fast_fields()
                        .u64("ord")?,
                ),
            };
            if let Some(ord) = ords.first(addr.doc_id) {
                out.hits.push((ord as usize, bm25));
            }
        }
        Ok(out)
    }

    fn hit(&self, ord: usize, bm25: f32, similarity: Option<f32>, confidence: f32) -> FaqHit {
        let faq = &self.faqs[ord];
        FaqHit {
            faq_id: faq.id.clone(),
            lang: faq.lang,
            question: faq.question.clone(),
            bm25,
            similarity,
            confidence,
        }
    }

    /// The best `k` FAQs for normalised `query`, best first. With the query's encoder
    /// `vector` (and an index built with the encoder) the ranking fuses BM25 and dense
    /// similarity; otherwise it is BM25's.
    pub fn search(
        &self,
        query: &str,
        k: usize,
        vector: Option<&[f32]>,
    ) -> Result<Vec<FaqHit>, KbError> {
        Ok(self
            .search_with_signals(query, k, vector)?
            .into_iter()
            .map(|(hit, _)| hit)
            .collect())
    }

    /// [`FaqIndex::search`], with the signals each hit's confidence was computed from (what
    /// a confidence map is fitted on).
    pub fn search_with_signals(
        &self,
        query: &str,
        k: usize,
        vector: Option<&[f32]>,
    ) -> Result<Vec<(FaqHit, Signals)>, KbError> {
        if k == 0 || self.faqs.is_empty() {
            return Ok(Vec::new());
        }
        let english = Lang::detect(query, Lang::En) == Lang::En;
        let (Some(dense), Some(vector)) = (&self.dense, vector) else {
            let lexical = self.lexical(query, k.max(2))?;
            let top_bm25 = lexical.hits.first().map_or(0.0, |h| h.1);
            let ranked: Vec<(usize, f32)> = lexical
                .hits
                .iter()
                .map(|&(ord, bm25)| (ord, relative(bm25, top_bm25)))
                .collect();
            // `leads` keeps `ranked`'s order, which is the lexical hits' order.
            return Ok(leads(&ranked)
                .zip(&lexical.hits)
                .take(k)
                .map(|((ord, lead), &(_, bm25))| {
                    let signals = Signals {
                        overlap: self.confidence(&lexical.known, lexical.query_weight, ord),
                        similarity: 0.0,
                        lead,
                    };
                    let confidence = self.confidence_of(english, &signals, None);
                    (self.hit(ord, bm25, None, confidence), signals)
                })
                .collect());
        };
        // An English-trained encoder's similarities are high for unrelated Chinese text, so
        // there it only nudges the ranking and never vouches for an answer. The multilingual
        // encoder ranks Chinese well once its vectors are centred (see `CenteredFaqs`); how
        // much it vouches for is the Chinese confidence map's to say.
        let centered = match &self.chinese_dense {
            Some(chinese) if !english => Some(chinese),
            _ => None,
        };
        let dense_weight = match (english, centered.is_some()) {
            (true, _) => DENSE_WEIGHT_EN,
            (false, true) => DENSE_WEIGHT_ZH_MULTILINGUAL,
            (false, false) => DENSE_WEIGHT_ZH,
        };
        let pool = k.max(FUSION_POOL);
        let lexical = self.lexical(query, pool)?;
        let similarity = match centered {
            Some(chinese) => chinese.best_per_faq(vector),
            None => dense.best_per_faq(vector),
        };
        let top_bm25 = lexical.hits.first().map_or(0.0, |h| h.1);
        let mut bm25_of: HashMap<usize, f32> = HashMap::with_capacity(lexical.hits.len());
        for &(ord, bm25) in &lexical.hits {
            bm25_of.insert(ord, bm25);
        }
        // Candidates: BM25's pool and the densest `pool` FAQs.
        let mut by_similarity: Vec<usize> = (0..similarity.len()).collect();
        let cut = pool.min(by_similarity.len());
        if cut > 0 && cut < by_similarity.len() {
            by_similarity
                .select_nth_unstable_by(cut - 1, |a, b| similarity[*b].total_cmp(&similarity[*a]));
        }
        by_similarity.truncate(cut);
        let mut candidates: Vec<usize> = lexical.hits.iter().map(|h| h.0).collect();
        candidates.extend(
            by_similarity
                .into_iter()
                .filter(|o| !bm25_of.contains_key(o)),
        );
        // Centred similarities can be negative, and that is information: it ranks below
        // unrelated-but-neutral phrasings. Plain cosines below 0 are noise.
        let dense_part = |ord: usize| {
            if centered.is_some() {
                similarity[ord]
            } else {
                similarity[ord].max(0.0)
            }
        };
        let mut scored: Vec<(usize, f32)> = candidates
            .into_iter()
            .map(|ord| {
                let lexical_part = relative(bm25_of.get(&ord).copied().unwrap_or(0.0), top_bm25);
                let fused = dense_weight * dense_part(ord) + (1.0 - dense_weight) * lexical_part;
                (ord, fused)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(leads(&scored)
            .take(k)
            .map(|(ord, lead)| {
                let sim = similarity[ord];
                let signals = Signals {
                    overlap: self.confidence(&lexical.known, lexical.query_weight, ord),
                    similarity: sim,
                    lead,
                };
                let confidence = self.confidence_of(english, &signals, Some(sim));
                let bm25 = bm25_of.get(&ord).copied().unwrap_or(0.0);
                (self.hit(ord, bm25, Some(sim), confidence), signals)
            })
            .collect())
    }

    /// A hit's confidence: English from overlap and similarity (both mean the same on every
    /// KB); Chinese from the fitted map when there is one, else from the overlap alone. The
    /// map was fitted on the signals of the searches this index makes — with vectors when it
    /// has them — so a search without one (BM25 alone beside the hybrid in `baton eval kb`)
    /// falls back to the overlap rather than read a map fitted on other signals.
    fn confidence_of(&self, english: bool, signals: &Signals, similarity: Option<f32>) -> f32 {
        let fitted_on_this_path = similarity.is_some() == self.dense.is_some();
        match (english, similarity, &self.chinese_confidence) {
            (true, Some(sim), _) => fused_confidence(signals.overlap, sim),
            (false, _, Some(map)) if fitted_on_this_path => map.apply(signals),
            _ => signals.overlap,
        }
    }
}

/// A BM25 score relative to the query's best (1.0 for the best; 0 when nothing scored).
fn relative(bm25: f32, top: f32) -> f32 {
    if top > 0.0 { bm25 / top } else { 0.0 }
}

/// Each ranked candidate with its lead: its score minus the best other candidate's.
fn leads(ranked: &[(usize, f32)]) -> impl Iterator<Item = (usize, f32)> + '_ {
    let best = ranked.first().map_or(0.0, |r| r.1);
    let second = ranked.get(1).map_or(0.0, |r| r.1);
    ranked.iter().enumerate().map(move |(i, &(ord, score))| {
        let rival = if i == 0 { second } else { best };
        (ord, score - rival)
    })
}

struct Lexical {
    hits: Vec<(usize, f32)>,
    known: Vec<(u32, f32)>,
    query_weight: f32,
}

/// Candidates each of BM25 and the dense search contribute before fusion. The same however
/// many results are asked for, so `baton eval kb`'s ten are ranked exactly as a turn's few.
const FUSION_POOL: usize = 30;

/// Weight of cosine similarity against BM25 (relative to the query's best BM25 score), for
/// English and for Chinese queries. Measured with `baton eval kb` (MRR, StackFAQ en /
/// BQ-FAQ zh): 0.3 → 0.856 / 0.137, 0.5 → 0.895 / 0.135, 0.7 → 0.936 / 0.118; BM25 alone
/// 0.804 / 0.135.
const DENSE_WEIGHT_EN: f32 = 0.7;
const DENSE_WEIGHT_ZH: f32 = 0.3;
/// The same for Chinese with the multilingual encoder, its similarity centred. Measured on
/// BQ-FAQ (recall@1 / @5 / MRR): 0.6 → 0.095 / 0.263 / 0.167, 0.7 → 0.095 / 0.271 / 0.170,
/// 0.8 → 0.097 / 0.274 / 0.174, 0.85 → 0.095 / 0.281 / 0.174, 0.9 → 0.093 / 0.273 / 0.172.
/// Lost: uncentred, rescaled over the candidates (min to max) at 0.85 → 0.095 / 0.270 /
/// 0.172; reciprocal-rank fusion at best 0.095 / 0.274 / 0.172; whitening instead of centring
/// at best 0.101 / 0.276 / 0.177 (64 dimensions kept); the IDF overlap as a third signal at best
/// 0.096 / 0.280 / 0.175. With the hub correction of `CenteredFaqs`, 0.85 gives
/// 0.101 / 0.283 / 0.180.
const DENSE_WEIGHT_ZH_MULTILINGUAL: f32 = 0.85;

/// One confidence from lexical overlap and dense similarity: whichever is more certain.
/// Cosine similarity is mapped so that a typical paraphrase (≈ 0.75) lands near the answer
/// threshold and unrelated text (< 0.3) near 0; both signals are absolute, not relative to
/// the KB, so the result means the same across KBs (`baton eval kb` reports how often the
/// top FAQ is right per confidence band).
pub fn fused_confidence(overlap: f32, similarity: f32) -> f32 {
    let dense = ((similarity - 0.3) / 0.6).clamp(0.0, 1.0);
    overlap.max(dense)
}

/// Each FAQ's vectors of its Chinese phrasings only: those the multilingual model read.
fn chinese_rows(texts: &[Vec<String>], per_faq: &[Vec<Arc<[f32]>>]) -> Vec<Vec<Arc<[f32]>>> {
    texts
        .iter()
        .zip(per_faq)
        .map(|(texts, vectors)| {
            texts
                .iter()
                .zip(vectors)
                .filter(|(t, _)| crate::encoder::routed::has_cjk(t))
                .map(|(_, v)| v.clone())
                .collect()
        })
        .collect()
}

/// BM25's IDF: rare terms weigh more; a term in every FAQ weighs little.
fn idf(n_docs: f32, doc_freq: f32) -> f32 {
    (1.0 + (n_docs - doc_freq + 0.5) / (doc_freq + 0.5)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faq(id: &str, lang: Lang, q: &str, alts: &[&str], answer: &str) -> Faq {
        Faq {
            alternates: alts.iter().map(|s| s.to_string()).collect(),
            answer: answer.into(),
            ..Faq::plain(id, lang, q)
        }
    }

    fn index() -> FaqIndex {
        FaqIndex::build(
            vec![
                faq(
                    "refund-time",
                    Lang::Zh,
                    "退款多久到账？",
                    &["钱什么时候退回来", "退款几天能到"],
                    "支付宝 1–3 个工作日。",
                ),
                faq(
                    "refund-time",
                    Lang::En,
                    "How long does a refund take?",
                    &["when will i get my money back"],
                    "Alipay 1–3 business days.",
                ),
                faq(
                    "return-shipping",
                    Lang::Zh,
                    "退货运费谁承担？",
                    &["退货要自己出运费吗"],
                    "无理由退货由买家承担。",
                ),
                faq(
                    "return-shipping",
                    Lang::En,
                    "Who pays for return shipping?",
                    &["do i pay the postage to send it back"],
                    "You do, for no-reason returns.",
                ),
                faq(
                    "invoice",
                    Lang::Zh,
                    "怎么开发票？",
                    &["发票在哪里下载"],
                    "订单详情 → 发票。",
                ),
                faq(
                    "invoice",
                    Lang::En,
                    "How do I get an invoice?",
                    &["download my invoice"],
                    "Order details → Invoice.",
                ),
            ],
            None,
        )
        .unwrap()
    }

    #[test]
    fn finds_chinese_and_english_questions() {
        let idx = index();
        let hits = idx.search(&normalize("退款几天到账"), 3, None).unwrap();
        assert_eq!(hits[0].faq_id, "refund-time");
        assert_eq!(hits[0].lang, Lang::Zh);
        let hits = idx
            .search(&normalize("who pays return shipping"), 3, None)
            .unwrap();
        assert_eq!(hits[0].faq_id, "return-shipping");
        assert_eq!(hits[0].lang, Lang::En);
    }

    #[test]
    fn confidence_is_high_for_a_paraphrase_and_low_for_unrelated_text() {
        let idx = index();
        let exact = idx
            .search(&normalize("Who pays for return shipping?"), 1, None)
            .unwrap();
        assert!(exact[0].confidence > 0.9, "{exact:?}");
        let loose = idx
            .search(&normalize("return policy for furniture in winter"), 1, None)
            .unwrap();
        assert!(loose.is_empty() || loose[0].confidence < 0.5, "{loose:?}");
        assert!(
            idx.search(&normalize("今天天气怎么样"), 3, None)
                .unwrap()
                .iter()
                .all(|h| h.confidence < 0.3)
        );
    }

    #[test]
    fn nothing_for_empty_or_stop_word_queries() {
        let idx = index();
        assert!(idx.search("", 3, None).unwrap().is_empty());
        assert!(idx.search("的 吗 ?", 3, None).unwrap().is_empty());
    }

    #[test]
    fn variants_by_language() {
        let idx = index();
        assert_eq!(idx.get("invoice", Lang::En).unwrap().lang, Lang::En);
        assert_eq!(idx.get("invoice", Lang::Zh).unwrap().lang, Lang::Zh);
        assert!(idx.get("nope", Lang::Zh).is_none());
    }
}
