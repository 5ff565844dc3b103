//! Checks for content that makes the bot unsure although every file is valid: FAQ questions
//! that nearly repeat another FAQ's (retrieval cannot tell them apart, so shoppers get either
//! at random), and intent examples that sit closer to another intent than to their own (the
//! classifier learns a blurred boundary). Both are warnings: the content still works, but an
//! editor should merge, reword or move something. Each names both places and the similarity.
//!
//! Similarity is lexical ([`crate::nlu::similarity`]): TF-IDF over character and word n-grams, so
//! the checks run in the same pass as the rest of `baton lint`, with no model, on every reload.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::diagnostic::{self, Diagnostic};
use super::{Content, Faq, faq_path};
use crate::nlu::similarity::{Vectorizer, similar_pairs};

/// Questions (or alternates) of two different FAQs at least this similar are reported.
pub const NEAR_DUPLICATE: f32 = 0.85;

/// An example is reported when an example of another intent is at least this similar to it,
/// and more similar than every example of its own intent.
pub const CONFUSABLE: f32 = 0.8;

/// How many near-duplicate pairs one FAQ may be reported in: a whole folder of copies should
/// not bury every other diagnostic.
const MAX_PAIRS_PER_FAQ: usize = 3;

/// Warns about FAQ questions and alternates, in the same language, that nearly repeat those
/// of another FAQ.
pub fn near_duplicate_questions(faqs: &[Faq], diagnostics: &mut Vec<Diagnostic>) {
    // Every question and alternate, with the FAQ it belongs to.
    let mut texts: Vec<&str> = Vec::new();
    let mut owner: Vec<usize> = Vec::new();
    for (i, f) in faqs.iter().enumerate() {
        for t in std::iter::once(&f.question).chain(&f.alternates) {
            texts.push(t);
            owner.push(i);
        }
    }
    let (_, vectors) = Vectorizer::fit(&texts);
    let pairs = similar_pairs(&vectors, NEAR_DUPLICATE, |a, b| {
        let (fa, fb) = (&faqs[owner[a]], &faqs[owner[b]]);
        fa.id != fb.id && fa.lang == fb.lang
    });
    let mut reported: HashMap<(usize, usize), ()> = HashMap::new();
    let mut per_faq: HashMap<usize, usize> = HashMap::new();
    let mut sources = SourceCache::default();
    // Most similar first, so the pair kept for two FAQs is their closest.
    for (a, b, similarity) in pairs {
        let (fa, fb) = (owner[a].min(owner[b]), owner[a].max(owner[b]));
        if reported.contains_key(&(fa, fb))
            || per_faq.get(&fa).copied().unwrap_or(0) >= MAX_PAIRS_PER_FAQ
            || per_faq.get(&fb).copied().unwrap_or(0) >= MAX_PAIRS_PER_FAQ
        {
            continue;
        }
        reported.insert((fa, fb), ());
        *per_faq.entry(fa).or_default() += 1;
        *per_faq.entry(fb).or_default() += 1;
        // Report on the later file, pointing back at the earlier one.
        let (here, there) = if owner[a] == fb { (a, b) } else { (b, a) };
        let (f_here, f_there) = (&faqs[owner[here]], &faqs[owner[there]]);
        let here_line = sources.line(&faq_path(f_here), texts[here]);
        let there_line = sources.line(&faq_path(f_there), texts[there]);
        diagnostics.push(Diagnostic::warning(
            &faq_path(f_here),
            here_line,
            format!(
                "{:?} is nearly the same as {:?} of FAQ {:?} ({}), similarity {similarity:.2}: \
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
