//! Checks for content that makes the bot unsure although every file is valid: FAQ questions
//! that nearly repeat another FAQ's (retrieval cannot tell them apart, so shoppers get either
//! at random), and intent examples that sit closer to another intent than to their own (the
//! classifier learns a blurred boundary). Both are warnings: the content still works, but an
//! editor should merge, reword or move something. Each names both places and the similarity.
//!
//! Near-duplicate questions are compared by meaning when a sentence encoder is loaded
//! (`baton lint` loads the one the configuration names, a live reload uses the serving one):
//! the phrasings' vectors (from the content cache the FAQ index fills) at the threshold measured
//! for the model that read them ([`crate::encoder::similarity`]) — with multilingual-e5, whose
//! cosine puts any two Chinese questions high, the pair must also be clearly closer to each
//! other than to any third FAQ — so "东西拿到手是坏的" and "收到的商品破损" are flagged although
//! they share no character. Phrasings no model reads
//! (Chinese without multilingual-e5), every phrasing when the encoder fails, and a language
//! with more than [`MAX_PHRASINGS_BY_MEANING`] phrasings are compared by their words: TF-IDF
//! over character and word n-grams ([`crate::nlu::similarity`]), as without an encoder.
//! Confusable examples are still compared by their words.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::diagnostic::{self, Diagnostic};
use super::{Content, Faq, faq_path};
use crate::encoder::Encoder;
use crate::encoder::similarity::{Meaning, Reader, content_meanings, dense_pairs, standout_pairs};
use crate::nlu::similarity::{Vectorizer, similar_pairs};
use crate::nlu::{Lang, normalize};

/// Questions (or alternates) of two different FAQs at least this similar by their words are
/// reported, when no model reads them (by meaning, each model has its own threshold:
/// [`Reader::near_duplicate`]).
pub const NEAR_DUPLICATE: f32 = 0.85;

/// An example is reported when an example of another intent is at least this similar to it,
/// and more similar than every example of its own intent.
pub const CONFUSABLE: f32 = 0.8;

/// How many near-duplicate pairs one FAQ may be reported in: a whole folder of copies should
/// not bury every other diagnostic.
const MAX_PAIRS_PER_FAQ: usize = 3;

/// The most phrasings of one language compared by meaning. Every pair is compared (see
/// [`dense_pairs`]), so the cost grows with the square: 384-wide vectors, one thread,
/// optimised, took 0.13 s for 2,000 and 2.8 s for 8,000 here (2 cores, a build running
/// beside). A larger KB keeps the lexical check for that language rather than stall every
/// reload (the sample `kb/` has about 370 per language).
const MAX_PHRASINGS_BY_MEANING: usize = 4_000;

/// How a pair of phrasings was found similar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basis {
    /// TF-IDF over n-grams ([`crate::nlu::similarity`]).
    Words,
    /// The encoder's vectors.
    Meaning,
}

/// Every question and alternate, with the FAQ it belongs to.
struct Phrasings<'a> {
    texts: Vec<&'a str>,
    owner: Vec<usize>,
}

impl<'a> Phrasings<'a> {
    fn of(faqs: &'a [Faq]) -> Phrasings<'a> {
        let mut texts = Vec::new();
        let mut owner = Vec::new();
        for (i, f) in faqs.iter().enumerate() {
            for t in std::iter::once(&f.question).chain(&f.alternates) {
                texts.push(t.as_str());
                owner.push(i);
            }
        }
        Phrasings { texts, owner }
    }
}

/// Warns about FAQ questions and alternates, in the same language, that nearly repeat those
/// of another FAQ: by meaning where `encoder` reads the language, else by their words.
pub fn near_duplicate_questions(
    faqs: &[Faq],
    encoder: Option<&Encoder>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let phrasings = Phrasings::of(faqs);
    let meanings = match encoder {
        Some(e) => meanings_of(e, faqs, &phrasings),
        None => vec![None; phrasings.texts.len()],
    };
    let pairs = near_duplicate_pairs(faqs, &phrasings, &meanings);
    report(faqs, &phrasings, pairs, diagnostics);
}

/// The encoder's reading of each phrasing, `None` where the lexical check applies: no model
/// reads it, the encoder failed, or its language has too many phrasings to compare by meaning.
fn meanings_of(encoder: &Encoder, faqs: &[Faq], phrasings: &Phrasings) -> Vec<Option<Meaning>> {
    // Normalised as the FAQ index embeds them, so the vectors come from the content cache.
    let normalized: Vec<String> = phrasings.texts.iter().map(|t| normalize(t)).collect();
    let refs: Vec<&str> = normalized.iter().map(String::as_str).collect();
    let mut meanings = match content_meanings(encoder, &refs) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "could not embed the FAQ questions; checking near duplicates by their words");
            return vec![None; refs.len()];
        }
    };
    let mut sizes: HashMap<(Lang, Reader), usize> = HashMap::new();
    for (m, &o) in meanings.iter().zip(&phrasings.owner) {
        if let Some(m) = m {
            *sizes.entry((faqs[o].lang, m.reader)).or_default() += 1;
        }
    }
    for (&(lang, reader), &n) in sizes.iter().filter(|(_, n)| **n > MAX_PHRASINGS_BY_MEANING) {
        tracing::info!(%lang, phrasings = n, limit = MAX_PHRASINGS_BY_MEANING, "too many FAQ phrasings to compare by meaning; checking near duplicates of this language by their words");
        for (m, &o) in meanings.iter_mut().zip(&phrasings.owner) {
            if faqs[o].lang == lang && m.as_ref().is_some_and(|m| m.reader == reader) {
                *m = None;
            }
        }
    }
    meanings
}

/// Pairs of phrasings of two FAQs in one language that nearly repeat each other, most
/// similar first: by meaning when one model read both (at that model's threshold and, for
/// multilingual-e5, standing out from every third FAQ), else by their words.
fn near_duplicate_pairs(
    faqs: &[Faq],
    phrasings: &Phrasings,
    meanings: &[Option<Meaning>],
) -> Vec<(usize, usize, f32, Basis)> {
    let owner = &phrasings.owner;
    let distinct = |a: usize, b: usize| {
        let (fa, fb) = (&faqs[owner[a]], &faqs[owner[b]]);
        fa.id != fb.id && fa.lang == fb.lang
    };
    let reader = |i: usize| meanings.get(i).and_then(|m| m.as_ref()).map(|m| m.reader);
    let by_meaning = |a: usize, b: usize| reader(a).is_some() && reader(a) == reader(b);

    let (_, vectors) = Vectorizer::fit(&phrasings.texts);
    let mut pairs: Vec<(usize, usize, f32, Basis)> =
        similar_pairs(&vectors, NEAR_DUPLICATE, |a, b| {
            distinct(a, b) && !by_meaning(a, b)
        })
        .into_iter()
        .map(|(a, b, s)| (a, b, s, Basis::Words))
        .collect();

    let mut blocks: BTreeMap<Reader, Vec<usize>> = BTreeMap::new();
    for (i, m) in meanings.iter().enumerate() {
        if let Some(m) = m {
            blocks.entry(m.reader).or_default().push(i);
        }
    }
    for (reader, members) in blocks {
        let block: Vec<&[f32]> = members
            .iter()
            .filter_map(|&i| meanings[i].as_ref().map(|m| &m.vector[..]))
            .collect();
        let keep = |i: usize, j: usize| distinct(members[i], members[j]);
        let found = match reader.near_duplicate_margin() {
            Some(margin) => {
                let faq: Vec<usize> = members.iter().map(|&i| owner[i]).collect();
                standout_pairs(&block, &faq, reader.near_duplicate(), margin, keep)
            }
            None => dense_pairs(&block, reader.near_duplicate(), keep),
        };
        pairs.extend(
            found
                .into_iter()
                .map(|(i, j, s)| (members[i], members[j], s, Basis::Meaning)),
        );
    }
    pairs.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    pairs
}

/// One warning per pair of FAQs (their closest phrasings), at most [`MAX_PAIRS_PER_FAQ`]
/// per FAQ, on the later file and pointing back at the earlier one.
fn report(
    faqs: &[Faq],
    phrasings: &Phrasings,
    pairs: Vec<(usize, usize, f32, Basis)>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let (texts, owner) = (&phrasings.texts, &phrasings.owner);
    let mut reported: HashSet<(usize, usize)> = HashSet::new();
    let mut per_faq: HashMap<usize, usize> = HashMap::new();
    let mut sources = SourceCache::default();
    // Most similar first, so the pair kept for two FAQs is their closest.
    for (a, b, similarity, basis) in pairs {
        let (fa, fb) = (owner[a].min(owner[b]), owner[a].max(owner[b]));
        if reported.contains(&(fa, fb))
            || per_faq.get(&fa).copied().unwrap_or(0) >= MAX_PAIRS_PER_FAQ
            || per_faq.get(&fb).copied().unwrap_or(0) >= MAX_PAIRS_PER_FAQ
        {
            continue;
        }
        reported.insert((fa, fb));
        *per_faq.entry(fa).or_default() += 1;
        *per_faq.entry(fb).or_default() += 1;
        let (here, there) = if owner[a] == fb { (a, b) } else { (b, a) };
        let (f_here, f_there) = (&faqs[owner[here]], &faqs[owner[there]]);
        let here_line = sources.line(&faq_path(f_here), texts[here]);
        let there_line = sources.line(&faq_path(f_there), texts[there]);
        let how = match basis {
            Basis::Words => "",
            Basis::Meaning => " by meaning",
        };
        diagnostics.push(Diagnostic::warning(
            &faq_path(f_here),
            here_line,
            format!(
                "{:?} is nearly the same as {:?} of FAQ {:?} ({}), similarity {similarity:.2}{how}: \
                 the bot cannot tell these FAQs apart; merge them or make the questions distinct",
                texts[here],
                texts[there],
                f_there.id,
                place(&faq_path(f_there), there_line),
            ),
        ));
    }
}

/// Warns about intent examples that nearly repeat an example of another intent and are closer
/// to it than to any example of their own.
pub fn confusable_examples(
    content: &Content,
    sources: &[(PathBuf, String)],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let data = content.training_data();
    let texts: Vec<&str> = data.iter().map(|t| t.text.as_str()).collect();
    let (_, vectors) = Vectorizer::fit(&texts);
    let pairs = similar_pairs(&vectors, CONFUSABLE, |a, b| data[a].label != data[b].label);
    // The most similar example of its own intent, for each example that needs it.
    let own_best = |i: usize| -> f32 {
        data.iter()
            .zip(&vectors)
            .enumerate()
            .filter(|(j, (t, _))| *j != i && t.label == data[i].label)
            .map(|(_, (_, v))| v.cosine(&vectors[i]))
            .fold(0.0, f32::max)
    };
    // Where an example is written: the file of its intent (any file for out of scope).
    let place_of = |i: usize| -> Option<(&Path, Option<usize>)> {
        let t = &data[i];
        content
            .intents
            .iter()
            .zip(sources)
            .find(|(intent, _)| {
                intent.training_label() == t.label
                    && intent
                        .examples
                        .zh
                        .iter()
                        .chain(&intent.examples.en)
                        .any(|e| *e == t.text)
            })
            .map(|(_, (p, s))| (p.as_path(), diagnostic::line_of(s, t.text.trim(), 1)))
    };
    let mut reported = std::collections::HashSet::new();
    for (a, b, similarity) in pairs {
        for (here, there) in [(a, b), (b, a)] {
            let own = own_best(here);
            if similarity <= own || !reported.insert(here) {
                continue;
            }
            let (Some((path, line)), Some((other_path, other_line))) =
                (place_of(here), place_of(there))
            else {
                continue;
            };
            diagnostics.push(Diagnostic::warning(
                path,
                line,
                format!(
                    "example {:?} of intent {:?} is closer to {:?} of intent {:?} ({}), similarity \
                     {similarity:.2}, than to any example of its own ({own:.2}): the classifier \
                     will waver between them; reword it or move it",
                    data[here].text,
                    display_label(&data[here].label),
                    data[there].text,
                    display_label(&data[there].label),
                    place(other_path, other_line),
                ),
            ));
        }
    }
}

/// Out-of-scope examples of every file train one reserved label; name it for editors.
fn display_label(label: &str) -> &str {
    if label == crate::nlu::OOS_LABEL {
        "out of scope"
    } else {
        label
    }
}

fn place(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    }
}

/// File texts read once each, for pointing at the line of a question.
#[derive(Default)]
struct SourceCache(HashMap<PathBuf, String>);

impl SourceCache {
    fn line(&mut self, path: &Path, text: &str) -> Option<usize> {
        let source = self
            .0
            .entry(path.to_path_buf())
            .or_insert_with(|| std::fs::read_to_string(path).unwrap_or_default());
        diagnostic::line_of(source, text, 1)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn faq(id: &str, lang: Lang, question: &str) -> Faq {
        Faq::plain(id, lang, question)
    }

    fn meaning(reader: Reader, v: &[f32]) -> Option<Meaning> {
        Some(Meaning {
            reader,
            vector: Arc::from(crate::encoder::normalised(v)),
        })
    }

    /// Two paraphrases without a shared character, an unrelated question, and a literal copy.
    fn faqs() -> Vec<Faq> {
        vec![
            faq("broken", Lang::Zh, "东西拿到手是坏的"),
            faq("damaged", Lang::Zh, "收到的商品破损"),
            faq("invoice", Lang::Zh, "怎么开发票"),
            faq("invoice-again", Lang::Zh, "怎么开发票呢"),
        ]
    }

    fn found(pairs: &[(usize, usize, f32, Basis)]) -> Vec<(usize, usize, Basis)> {
        pairs.iter().map(|p| (p.0, p.1, p.3)).collect()
    }

    #[test]
    fn paraphrases_are_found_by_meaning_and_copies_still_by_words() {
        let faqs = faqs();
        let phrasings = Phrasings::of(&faqs);
        let e5 = Reader::MultilingualE5;
        // 0 and 1 at cosine 0.95 (above e5's bar), 2 far from both; 3 has no reader.
        let meanings = vec![
            meaning(e5, &[1.0, 0.0, 0.0]),
            meaning(e5, &[0.95, 0.312, 0.0]),
            meaning(e5, &[0.0, 0.0, 1.0]),
            None,
        ];
        let pairs = near_duplicate_pairs(&faqs, &phrasings, &meanings);
        // 3 has no vector, so its pair with 2 is judged by words (a copy: similarity 1).
        assert_eq!(
            found(&pairs),
            vec![(2, 3, Basis::Words), (0, 1, Basis::Meaning)],
            "{pairs:?}"
        );
        assert!(pairs[1].2 >= e5.near_duplicate());

        // Without an encoder only the literal copy is seen.
        let none = vec![None; 4];
        let pairs = near_duplicate_pairs(&faqs, &phrasings, &none);
        assert_eq!(found(&pairs), vec![(2, 3, Basis::Words)], "{pairs:?}");
    }

    #[test]
    fn below_the_model_s_bar_or_across_models_nothing_is_flagged_by_meaning() {
        let faqs = faqs();
        let phrasings = Phrasings::of(&faqs);
        let (e5, bert) = (Reader::MultilingualE5, Reader::Bert);
        // Cosine 0.9: a near duplicate for MiniLM's scale, not for e5's.
        let close = [0.9, 0.436, 0.0];
        let pairs = near_duplicate_pairs(
            &faqs,
            &phrasings,
            &[
                meaning(e5, &[1.0, 0.0, 0.0]),
                meaning(e5, &close),
                None,
                None,
            ],
        );
        assert!(
            found(&pairs).iter().all(|p| p.2 == Basis::Words),
            "{pairs:?}"
        );
        let pairs = near_duplicate_pairs(
            &faqs,
            &phrasings,
            &[
                meaning(bert, &[1.0, 0.0, 0.0]),
                meaning(bert, &close),
                None,
                None,
            ],
        );
        assert!(found(&pairs).contains(&(0, 1, Basis::Meaning)), "{pairs:?}");
        // Vectors of two different models are never compared.
        let pairs = near_duplicate_pairs(
            &faqs,
            &phrasings,
            &[
                meaning(e5, &[1.0, 0.0, 0.0]),
                meaning(bert, &[1.0, 0.0, 0.0]),
                None,
                None,
            ],
        );
        assert!(!found(&pairs).iter().any(|p| p.0 == 0), "{pairs:?}");
    }

    #[test]
    fn the_same_faq_in_two_languages_is_no_duplicate() {
        let faqs = vec![
            faq("returns", Lang::En, "How do I return an item?"),
            faq("returns", Lang::Zh, "怎么退货"),
            faq("refunds", Lang::En, "When will I get my money back?"),
        ];
        let phrasings = Phrasings::of(&faqs);
        let bert = Reader::Bert;
        let same = [1.0, 0.0];
        let meanings = vec![meaning(bert, &same), meaning(bert, &same), None];
        assert!(near_duplicate_pairs(&faqs, &phrasings, &meanings).is_empty());
    }

    #[test]
    fn a_warning_names_both_faqs_and_the_similarity_by_meaning() {
        let faqs = faqs();
        let phrasings = Phrasings::of(&faqs);
        let pairs = vec![(0, 1, 0.951, Basis::Meaning), (2, 3, 0.9, Basis::Words)];
        let mut diagnostics = Vec::new();
        report(&faqs, &phrasings, pairs, &mut diagnostics);
        let messages: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].contains(
                "\"收到的商品破损\" is nearly the same as \"东西拿到手是坏的\" of FAQ \"broken\""
            ) && messages[0].contains("similarity 0.95 by meaning"),
            "{messages:?}"
        );
        assert!(messages[1].contains("similarity 0.90:"), "{messages:?}");
    }
}
