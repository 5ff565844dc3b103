//! FAQ retrieval: BM25 over three fields (question and alternates boosted over the answer),
//! then a normalised confidence for each candidate.
//!
//! BM25 scores grow with query length and differ from one KB to the next, so they cannot
//! drive an answer/escalate decision. The confidence is instead an IDF-weighted overlap
//! between the query's terms and the closest phrasing of the FAQ (its question or one of its
//! alternates): the harmonic mean of how much of the query that phrasing covers and how much
//! of the phrasing the query covers. 1.0 means the query says exactly what a phrasing says;
//! a query whose informative words the FAQ never mentions scores near 0, whatever the KB.
//! Candidates are ranked by a blend of confidence and relative BM25.

use std::collections::{HashMap, HashSet};

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use super::analyzer::{BatonTokenizer, analyze};
use crate::content::Faq;
use crate::nlu::{Lang, normalize};

#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error("search index error: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// One retrieved FAQ.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaqHit {
    pub faq_id: String,
    pub lang: Lang,
    pub question: String,
    /// Raw BM25 score (comparable only within one query).
    pub bm25: f32,
    /// Normalised match confidence, 0..=1 (comparable across queries and KBs).
    pub confidence: f32,
}

const QUESTION_BOOST: f32 = 2.0;
const ALTERNATES_BOOST: f32 = 1.5;
const ANSWER_BOOST: f32 = 0.3;
/// Weight of confidence against relative BM25 in the final ranking.
const CONFIDENCE_WEIGHT: f32 = 0.6;

struct Fields {
    ord: Field,
    question: Field,
    alternates: Field,
    answer: Field,
}

/// An immutable, searchable FAQ set. Build a new one to change it.
pub struct FaqIndex {
    faqs: Vec<Faq>,
    /// Term sets of each FAQ's question and alternates, for the confidence.
    phrasings: Vec<Vec<HashSet<String>>>,
    /// Number of FAQs whose phrasings contain a term.
    doc_freq: HashMap<String, u32>,
    by_key: HashMap<(String, Lang), usize>,
    fields: Fields,
    reader: IndexReader,
}

impl std::fmt::Debug for FaqIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaqIndex")
            .field("faqs", &self.faqs.len())
            .finish()
    }
}

impl FaqIndex {
    pub fn build(faqs: Vec<Faq>) -> Result<FaqIndex, KbError> {
        let mut schema = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("baton")
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            ord: schema.add_u64_field("ord", STORED),
            question: schema.add_text_field("question", text.clone()),
            alternates: schema.add_text_field("alternates", text.clone()),
            answer: schema.add_text_field("answer", text),
        };
        let index = Index::create_in_ram(schema.build());
        index
            .tokenizers()
            .register("baton", TextAnalyzer::from(BatonTokenizer));
        let mut writer = index.writer_with_num_threads(1, 50_000_000)?;
        let mut phrasings = Vec::with_capacity(faqs.len());
        let mut doc_freq: HashMap<String, u32> = HashMap::new();
        let mut by_key = HashMap::with_capacity(faqs.len());
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
            phrasings.push(sets);
            by_key.insert((faq.id.clone(), faq.lang), ord);
        }
        writer.commit()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(FaqIndex {
            faqs,
            phrasings,
            doc_freq,
            by_key,
            fields,
            reader,
        })
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

    fn idf(&self, term: &str) -> f32 {
        let n = self.faqs.len().max(1) as f32;
        let df = self.doc_freq.get(term).copied().unwrap_or(0) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// How well `query_terms` match the closest phrasing of FAQ `ord`, 0..=1.
    fn confidence(&self, query_terms: &HashSet<String>, ord: usize) -> f32 {
        let query_weight: f32 = query_terms.iter().map(|t| self.idf(t)).sum();
        if query_weight <= 0.0 {
            return 0.0;
        }
        self.phrasings[ord]
            .iter()
            .map(|phrasing| {
                let matched: f32 = query_terms
                    .iter()
                    .filter(|t| phrasing.contains(*t))
                    .map(|t| self.idf(t))
                    .sum();
                let phrasing_weight: f32 = phrasing.iter().map(|t| self.idf(t)).sum();
                if matched <= 0.0 || phrasing_weight <= 0.0 {
                    return 0.0;
                }
                let recall = matched / query_weight;
                let precision = matched / phrasing_weight;
                2.0 * recall * precision / (recall + precision)
            })
            .fold(0.0, f32::max)
    }

    /// The best `k` FAQs for normalised `query`, best first.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<FaqHit>, KbError> {
        let terms = analyze(query);
        if terms.is_empty() || k == 0 || self.faqs.is_empty() {
            return Ok(Vec::new());
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
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        // Re-ranking needs a wider pool than the k returned.
        let pool = (k * 4).max(20);
        let top = searcher.search(&query, &TopDocs::with_limit(pool).order_by_score())?;
        let best_bm25 = top.first().map_or(1.0, |(s, _)| s.max(1e-6));
        let mut hits = Vec::with_capacity(top.len());
        for (bm25, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let Some(ord) = doc.get_first(self.fields.ord).and_then(|v| v.as_u64()) else {
                continue;
            };
            let ord = ord as usize;
            let confidence = self.confidence(&unique, ord);
            let faq = &self.faqs[ord];
            hits.push((
                CONFIDENCE_WEIGHT * confidence + (1.0 - CONFIDENCE_WEIGHT) * (bm25 / best_bm25),
                FaqHit {
                    faq_id: faq.id.clone(),
                    lang: faq.lang,
                    question: faq.question.clone(),
                    bm25,
                    confidence,
                },
            ));
        }
        hits.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(hits.into_iter().map(|(_, h)| h).take(k).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faq(id: &str, lang: Lang, q: &str, alts: &[&str], answer: &str) -> Faq {
        Faq {
            id: id.into(),
            lang,
            question: q.into(),
            alternates: alts.iter().map(|s| s.to_string()).collect(),
            tags: vec![],
            skill: None,
            answer: answer.into(),
            source: None,
        }
    }

    fn index() -> FaqIndex {
        FaqIndex::build(vec![
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
        ])
        .unwrap()
    }

    #[test]
    fn finds_chinese_and_english_questions() {
        let idx = index();
        let hits = idx.search(&normalize("退款几天到账"), 3).unwrap();
        assert_eq!(hits[0].faq_id, "refund-time");
        assert_eq!(hits[0].lang, Lang::Zh);
        let hits = idx
            .search(&normalize("who pays return shipping"), 3)
            .unwrap();
        assert_eq!(hits[0].faq_id, "return-shipping");
        assert_eq!(hits[0].lang, Lang::En);
    }

    #[test]
    fn confidence_is_high_for_a_paraphrase_and_low_for_unrelated_text() {
        let idx = index();
        let exact = idx
            .search(&normalize("Who pays for return shipping?"), 1)
            .unwrap();
        assert!(exact[0].confidence > 0.9, "{exact:?}");
        let loose = idx
            .search(&normalize("return policy for furniture in winter"), 1)
            .unwrap();
        assert!(loose.is_empty() || loose[0].confidence < 0.5, "{loose:?}");
        assert!(
            idx.search(&normalize("今天天气怎么样"), 3)
                .unwrap()
                .iter()
                .all(|h| h.confidence < 0.3)
        );
    }

    #[test]
    fn nothing_for_empty_or_stop_word_queries() {
        let idx = index();
        assert!(idx.search("", 3).unwrap().is_empty());
        assert!(idx.search("的 吗 ?", 3).unwrap().is_empty());
    }

    #[test]
    fn variants_by_language() {
        let idx = index();
        assert_eq!(idx.get("invoice", Lang::En).unwrap().lang, Lang::En);
        assert_eq!(idx.get("invoice", Lang::Zh).unwrap().lang, Lang::Zh);
        assert!(idx.get("nope", Lang::Zh).is_none());
    }
}
