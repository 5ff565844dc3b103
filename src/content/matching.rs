//! Finding a support lead's words in a message: shared by the trigger rules
//! ([`super::rules`]) and the word lists ([`super::words`]).
//!
//! ```text
//! message ─► fold char by char (NFKC, traditional → simplified, lower case), remembering
//!   where each folded byte came from ─► word spans (whole words for Latin, anywhere for
//!   Chinese) and regex spans on the folded text ─► spans of the original message
//! ```
//!
//! Folding one character at a time keeps every match traceable to the characters the
//! shopper typed, which masking needs; it is the same fold as [`crate::nlu::normalize`]
//! except that white space is kept as it is.

use std::ops::Range;
use std::path::Path;

use regex::{Regex, RegexBuilder};
use unicode_normalization::UnicodeNormalization;

use super::diagnostic::{Diagnostic, line_of};
use crate::nlu::normalize;

/// Compiled size a pattern may take: enough for any list of words, small enough that a
/// typo cannot make every message expensive.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// A declaration's `words` and `patterns`, checked: words normalised and none empty,
/// patterns compiled (Rust regexes: linear time; size-limited) and none that matches the
/// empty message (it would match every message), at least one word or pattern. `what` names
/// the declaration in messages (`trigger "legal"`); lines are looked for in `source` from the
/// declaration's first line, `start`.
pub(super) fn compile_terms(
    path: &Path,
    source: &str,
    start: usize,
    what: &str,
    words: &[String],
    patterns: &[String],
    problems: &mut Vec<Diagnostic>,
) -> (Vec<String>, Vec<Regex>) {
    let normalised: Vec<String> = words
        .iter()
        .map(|w| normalize(w))
        .filter(|w| !w.is_empty())
        .collect();
    if normalised.len() != words.len() {
        let line = line_of(source, "words:", start).or(Some(start));
        problems.push(Diagnostic::error(path, line, "a word is empty"));
    }
    let mut compiled = Vec::new();
    for p in patterns {
        let line = line_of(source, p, start).or(Some(start));
        match RegexBuilder::new(p).size_limit(PATTERN_SIZE_LIMIT).build() {
            Ok(r) if r.is_match("") => problems.push(Diagnostic::error(
                path,
                line,
                format!("pattern {p:?} matches an empty message, so it would match every message"),
            )),
            Ok(r) => compiled.push(r),
            Err(e) => problems.push(Diagnostic::error(
                path,
                line,
                format!("pattern {p:?} is not a valid regular expression: {e}"),
            )),
        }
    }
    if words.is_empty() && patterns.is_empty() {
        problems.push(Diagnostic::error(
            path,
            Some(start),
            format!("{what} has neither words nor patterns"),
        ));
    }
    (normalised, compiled)
}

/// A message folded for matching, with the original byte offset of each folded byte's
/// character.
#[derive(Debug, Clone)]
pub struct Folded<'a> {
    original: &'a str,
    pub text: String,
    origin: Vec<usize>,
}

impl<'a> Folded<'a> {
    pub fn new(original: &'a str) -> Folded<'a> {
        let mut text = String::with_capacity(original.len());
        let mut origin = Vec::with_capacity(original.len());
        let mut one = [0u8; 4];
        for (at, c) in original.char_indices() {
            if c.is_ascii() {
                // NFKC, simplification and lower case fold ASCII to its lower case, without
                // the two strings per character they cost for the rest.
                text.push(c.to_ascii_lowercase());
                origin.push(at);
                continue;
            }
            let nfkc: String = c.encode_utf8(&mut one).nfkc().collect();
            let simplified = fast2s::convert(&nfkc);
            for lower in simplified.chars().flat_map(char::to_lowercase) {
                let before = text.len();
                text.push(lower);
                origin.extend(std::iter::repeat_n(at, text.len() - before));
            }
        }
        Folded {
            original,
            text,
            origin,
        }
    }

    /// The original characters a span of the folded text came from.
    pub fn original_span(&self, folded: Range<usize>) -> Range<usize> {
        let start = self.origin.get(folded.start).copied().unwrap_or(0);
        let end = folded
            .end
            .checked_sub(1)
            .and_then(|last| self.origin.get(last))
            .map(|&at| at + self.original[at..].chars().next().map_or(0, char::len_utf8))
            .unwrap_or(start);
        start..end.max(start)
    }

    /// The original message with the characters of `spans` (of the folded text) replaced by
    /// `*`, one per character.
    pub fn masked(&self, spans: &[Range<usize>]) -> String {
        let mut hidden: Vec<Range<usize>> = spans
            .iter()
            .map(|s| self.original_span(s.clone()))
            .collect();
        hidden.sort_by_key(|r| r.start);
        let mut out = String::with_capacity(self.original.len());
        for (at, c) in self.original.char_indices() {
            if hidden.iter().any(|r| r.contains(&at)) {
                out.push('*');
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// Where `word` (already normalised) occurs in normalised `text`: anywhere for Chinese, on
/// word boundaries for Latin letters and digits (`sue` is not in `issue`, `315` is in
/// `打315投诉` but not in `13150`).
pub fn word_spans<'t>(text: &'t str, word: &'t str) -> impl Iterator<Item = Range<usize>> + 't {
    let edge = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric());
    let first_ascii = word
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let last_ascii = word
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    text.match_indices(word)
        .filter(move |(i, _)| {
            (!first_ascii || edge(text[..*i].chars().next_back()))
                && (!last_ascii || edge(text[i + word.len()..].chars().next()))
        })
        .map(move |(i, _)| i..i + word.len())
}

/// Whether `word` is in `text` (see [`word_spans`]).
pub fn contains_word(text: &str, word: &str) -> bool {
    word_spans(text, word).next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalize;

    #[test]
    fn ascii_folds_as_the_full_rules_fold_it() {
        for c in (0u8..128).map(char::from) {
            let mut one = [0u8; 4];
            let nfkc: String = c.encode_utf8(&mut one).nfkc().collect();
            let full: String = fast2s::convert(&nfkc)
                .chars()
                .flat_map(char::to_lowercase)
                .collect();
            let mut text = String::new();
            text.push(c);
            assert_eq!(Folded::new(&text).text, full, "{c:?}");
        }
    }

    #[test]
    fn folding_matches_the_normaliser_on_words() {
        for text in ["ＡＢＣ１２３", "消協", "Consumer Association", "退貨運費"] {
            assert_eq!(Folded::new(text).text, normalize(text), "{text}");
        }
    }

    #[test]
    fn spans_map_back_to_the_characters_typed() {
        let f = Folded::new("打１２３１５投訴");
        let span = word_spans(&f.text, "12315").next().unwrap();
        assert_eq!(
            &"打１２３１５投訴"[f.original_span(span.clone())],
            "１２３１５"
        );
        assert_eq!(f.masked(&[span]), "打*****投訴");
        let f = Folded::new("İstanbul idiot");
        let span = word_spans(&f.text, "idiot").next().unwrap();
        assert_eq!(f.masked(&[span]), "İstanbul *****");
    }

    #[test]
    fn latin_words_match_whole_words_only() {
        assert!(contains_word("we will sue you", "sue"));
        assert!(!contains_word("an issue", "sue"));
        assert!(contains_word("打315投诉", "315"));
        assert!(!contains_word("order 13150", "315"));
        assert_eq!(word_spans("傻瓜 傻瓜", "傻瓜").count(), 2);
    }
}
