//! Calibrating the Chinese FAQ confidence on the KB itself: its alternates are labelled
//! paraphrases, so each can be asked of an index that does not contain it.
//!
//! Data flow: the built index's FAQs → probes of three `Kind`s: every Chinese phrasing
//! asked of the whole index as written; `FOLDS` (four) reduced copies, each without a quarter of
//! the Chinese FAQs (their phrasings become questions with no answer) and without a share of
//! the other FAQs' Chinese alternates (new wordings whose answer is still there) → each
//! probe's top hit's signals labelled right or wrong, weighted by its kind's share →
//! [`ConfidenceMap::fit`] → the index answers Chinese with that map.
//!
//! Questions with no answer weigh a sixth of all, as the intent classifier's unknown
//! intents do (`crate::nlu::unknown_intents`): a confidence fitted only on answerable
//! questions says nothing about the ones no FAQ covers. A KB with too few Chinese
//! alternates keeps the overlap as its confidence, and says so in the log.

use super::calibration::{ConfidenceMap, MIN_PROBES_EACH, Probe};
use super::{FaqIndex, KbError};
use crate::content::Faq;
use crate::encoder::Encoder;
use crate::encoder::routed::has_cjk;
use crate::nlu::{Lang, normalize};

/// Reduced copies of the KB the probes are asked of.
const FOLDS: usize = 4;

/// Share of the probes' weight given to questions with no answer in the KB.
const UNANSWERABLE_SHARE: f64 = 1.0 / 6.0;

/// Share given to phrasings asked as written. Without them the map knows only what the
/// held-out alternates show, and editors write alternates to differ from the question: on
/// the sample KB none of them overlaps its FAQ's remaining phrasings by more than 0.7, so
/// the map could not tell that a question asked word for word is the right FAQ.
const VERBATIM_SHARE: f64 = 1.0 / 6.0;

/// Above this many FAQs the reduced copies cost more than a reload should (each is a whole
/// index build); such a KB keeps the overlap as its Chinese confidence.
pub const MAX_FAQS: usize = 10_000;

/// What a probe stands for in a shop's traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// An alternate held out of its FAQ: a new wording of a question the KB answers.
    Paraphrase,
    /// A phrasing asked as written, of the whole KB: a click on a suggested question, or a
    /// shopper who words it as the editor did.
    Verbatim,
    /// A phrasing of a FAQ left out whole: a question no FAQ covers.
    Unanswerable,
}

impl Kind {
    /// Each kind's share of the probes' total weight.
    fn share(self) -> f64 {
        match self {
            Kind::Paraphrase => 1.0 - VERBATIM_SHARE - UNANSWERABLE_SHARE,
            Kind::Verbatim => VERBATIM_SHARE,
            Kind::Unanswerable => UNANSWERABLE_SHARE,
        }
    }
}

/// One probe: its text, its FAQ's id, the fold it is asked in (`None`: the whole KB).
struct HeldOut {
    text: String,
    faq_id: String,
    fold: Option<usize>,
    kind: Kind,
}

impl FaqIndex {
    /// [`FaqIndex::build`], with the Chinese confidence fitted on the KB's own alternates
    /// when it has enough of them.
    pub fn build_calibrated(
        faqs: Vec<Faq>,
        encoder: Option<&Encoder>,
    ) -> Result<FaqIndex, KbError> {
        let index = FaqIndex::build(faqs, encoder)?;
        let started = std::time::Instant::now();
        let map = fit_on_alternates(&index, encoder)?;
        match &map {
            Some(m) => tracing::info!(
                right = m.fitted_on.0,
                wrong = m.fitted_on.1,
                ms = started.elapsed().as_millis() as u64,
                "Chinese FAQ confidence calibrated on the KB's alternates"
            ),
            None if index.faqs().iter().any(|f| f.lang == Lang::Zh) => tracing::info!(
                "Chinese FAQ confidence is the term overlap: too few Chinese alternates to \
                 calibrate it (at least {MIN_PROBES_EACH} needed) or more than {MAX_FAQS} FAQs"
            ),
            None => {}
        }
        Ok(index.with_chinese_confidence(map))
    }
}

/// The map fitted on probes of `full`'s Chinese FAQs, or `None` when it has too few
/// Chinese alternates.
pub fn fit_on_alternates(
    full: &FaqIndex,
    encoder: Option<&Encoder>,
) -> Result<Option<ConfidenceMap>, KbError> {
    let faqs = full.faqs();
    if faqs.len() > MAX_FAQS {
        return Ok(None);
    }
    let held_out = held_out_phrasings(faqs);
    let count = |kind: Kind| held_out.iter().filter(|h| h.kind == kind).count();
    if count(Kind::Paraphrase) < MIN_PROBES_EACH {
        return Ok(None);
    }
    let weight = |kind: Kind| kind.share() / count(kind).max(1) as f64;
    let vectors = match encoder {
        Some(e) => {
            let texts: Vec<&str> = held_out.iter().map(|h| h.text.as_str()).collect();
            Some(e.embed_content(&texts)?)
        }
        None => None,
    };
    let mut probes = Vec::with_capacity(held_out.len());
    let mut ask = |index: &FaqIndex, fold: Option<usize>| -> Result<(), KbError> {
        for (i, h) in held_out.iter().enumerate().filter(|(_, h)| h.fold == fold) {
            let vector = vectors.as_ref().map(|v| &v[i][..]);
            if let Some((top, signals)) = index
                .search_with_signals(&h.text, 1, vector)?
                .into_iter()
                .next()
            {
                probes.push(Probe {
                    signals,
                    right: top.faq_id == h.faq_id,
                    weight: weight(h.kind),
                });
            }
        }
        Ok(())
    };
    ask(full, None)?;
    for fold in 0..FOLDS {
        let index = FaqIndex::build(fold_faqs(faqs, fold), encoder)?;
        ask(&index, Some(fold))?;
    }
    Ok(ConfidenceMap::fit(&probes))
}

/// The fold in which the Chinese FAQ of rank `rank` (among Chinese FAQs) is left out whole.
fn hidden_fold(rank: usize) -> usize {
    rank % FOLDS
}

/// The fold in which alternate `j` of that FAQ is held out: never the FAQ's own hidden fold,
/// so its answer is still in the index.
fn alternate_fold(rank: usize, j: usize) -> usize {
    (rank + 1 + j % (FOLDS - 1)) % FOLDS
}

fn held_out_phrasings(faqs: &[Faq]) -> Vec<HeldOut> {
    let mut out = Vec::new();
    for (rank, faq) in faqs.iter().filter(|f| f.lang == Lang::Zh).enumerate() {
        let probe = |text: &String, fold, kind| HeldOut {
            text: normalize(text),
            faq_id: faq.id.clone(),
            fold,
            kind,
        };
        let phrasings = std::iter::once(&faq.question).chain(&faq.alternates);
        for text in phrasings.filter(|t| has_cjk(t)) {
            out.push(probe(text, None, Kind::Verbatim));
            out.push(probe(text, Some(hidden_fold(rank)), Kind::Unanswerable));
        }
        for (j, text) in faq
            .alternates
            .iter()
            .enumerate()
            .filter(|(_, t)| has_cjk(t))
        {
            out.push(probe(text, Some(alternate_fold(rank, j)), Kind::Paraphrase));
        }
    }
    out
}

/// The KB as fold `fold` sees it: its hidden Chinese FAQs gone, its held-out alternates
/// removed from the FAQs that stay.
fn fold_faqs(faqs: &[Faq], fold: usize) -> Vec<Faq> {
    let mut rank = 0;
    let mut out = Vec::with_capacity(faqs.len());
    for faq in faqs {
        if faq.lang != Lang::Zh {
            out.push(faq.clone());
            continue;
        }
        let r = rank;
        rank += 1;
        if hidden_fold(r) == fold {
            continue;
        }
        let mut kept = faq.clone();
        kept.alternates = faq
            .alternates
            .iter()
            .enumerate()
            .filter(|(j, t)| !(has_cjk(t) && alternate_fold(r, *j) == fold))
            .map(|(_, t)| t.clone())
            .collect();
        out.push(kept);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faq(id: &str, question: &str, alternates: &[&str]) -> Faq {
        Faq {
            alternates: alternates.iter().map(|a| a.to_string()).collect(),
            answer: format!("{question}的答复"),
            ..Faq::plain(id, Lang::Zh, question)
        }
    }

    #[test]
    fn an_alternate_is_never_held_out_where_its_faq_is_hidden() {
        for rank in 0..20 {
            for j in 0..10 {
                assert_ne!(hidden_fold(rank), alternate_fold(rank, j));
            }
        }
    }

    #[test]
    fn each_fold_removes_exactly_what_it_asks() {
        let faqs: Vec<Faq> = (0..8)
            .map(|i| {
                faq(
                    &format!("f{i}"),
                    &format!("问题{i}"),
                    &["说法一", "说法二", "说法三"],
                )
            })
            .collect();
        let held = held_out_phrasings(&faqs);
        for fold in 0..FOLDS {
            let kept = fold_faqs(&faqs, fold);
            for h in held.iter().filter(|h| h.fold == Some(fold)) {
                let owner = kept.iter().find(|f| f.id == h.faq_id);
                if h.kind == Kind::Paraphrase {
                    let owner = owner.expect("an answerable question's FAQ stays");
                    assert!(
                        !owner.alternates.iter().any(|a| normalize(a) == h.text),
                        "fold {fold} still holds {}",
                        h.text
                    );
                } else {
                    assert!(owner.is_none(), "fold {fold} still holds FAQ {}", h.faq_id);
                }
            }
        }
    }

    #[test]
    fn a_kb_without_alternates_keeps_the_overlap() {
        let faqs: Vec<Faq> = (0..30)
            .map(|i| faq(&format!("f{i}"), &format!("我的第{i}个问题"), &[]))
            .collect();
        let index = FaqIndex::build_calibrated(faqs, None).expect("built");
        assert!(index.chinese_confidence().is_none());
    }

    #[test]
    fn a_kb_with_alternates_vouches_for_paraphrases_and_not_for_strangers() {
        let topics = [
            "退货",
            "发票",
            "优惠券",
            "快递",
            "密码",
            "积分",
            "会员",
            "退款",
            "换货",
            "保修",
            "预售",
            "赠品",
            "地址",
            "评价",
            "直播",
            "礼品卡",
            "分期",
            "运费",
            "客服",
            "尺码",
        ];
        let faqs: Vec<Faq> = topics
            .iter()
            .enumerate()
            .map(|(i, t)| {
                faq(
                    &format!("f{i}"),
                    &format!("怎么{t}"),
                    &[
                        &format!("{t}怎么办理"),
                        &format!("我想{t}"),
                        &format!("{t}的流程是什么"),
                    ],
                )
            })
            .collect();
        let index = FaqIndex::build_calibrated(faqs, None).expect("built");
        let map = index
            .chinese_confidence()
            .expect("fitted on the alternates");
        assert!(map.fitted_on.0 >= MIN_PROBES_EACH && map.fitted_on.1 >= MIN_PROBES_EACH);
        let top = |q: &str| {
            index
                .search(&normalize(q), 1, None)
                .expect("searched")
                .into_iter()
                .next()
        };
        let paraphrase = top("请问发票要怎么办理").expect("a hit");
        assert_eq!(paraphrase.faq_id, "f1");
        let stranger = top("今天天气很好我们去公园").map_or(0.0, |h| h.confidence);
        assert!(
            paraphrase.confidence > 0.6 && stranger < 0.3,
            "paraphrase {} stranger {stranger}",
            paraphrase.confidence
        );
    }
}
