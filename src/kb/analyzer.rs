//! The text analyzer of FAQ retrieval: normalised text → search terms. One function serves
//! indexing, querying and the overlap confidence, so all three agree on what a term is.
//!
//! Chinese is segmented by jieba in search mode (overlapping words, good for recall) and
//! also contributes its character bigrams, which survive jieba's wrong guesses (退货运费 is
//! cut 退/货运/运费, losing 退货) and colloquial spellings;
//! latin words are stemmed (Snowball English); punctuation, spaces and stop words (Chinese
//! particles such as 吗/的/了 and English function words) are dropped: they say nothing about
//! which FAQ is meant and skew BM25 otherwise. It is also registered as a tantivy tokenizer.

use std::sync::LazyLock;

use jieba_rs::Jieba;
use rust_stemmers::{Algorithm, Stemmer};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use crate::nlu::normalize::is_cjk;

/// jieba's dictionary takes ~70 ms to load: once per process, forced at start-up by [`warm_up`].
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);
static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

const STOP_WORDS: &[&str] = &[
    // Chinese particles, pronouns and fillers
    "的",
    "了",
    "吗",
    "呢",
    "吧",
    "啊",
    "呀",
    "哦",
    "嗯",
    "么",
    "嘛",
    "哈",
    "啦",
    "呗",
    "亲",
    "请问",
    "请",
    "我",
    "我的",
    "你",
    "你们",
    "您",
    "咱",
    "是",
    "在",
    "就",
    "都",
    "也",
    "和",
    "与",
    "还",
    "又",
    "这",
    "那",
    "这个",
    "那个",
    "一下",
    "一个",
    "有没有",
    "是不是",
    "能不能",
    "可不可以",
    "麻烦",
    "谢谢",
    "你好",
    // English function words
    "a",
    "an",
    "the",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "am",
    "do",
    "does",
    "did",
    "i",
    "me",
    "my",
    "you",
    "your",
    "we",
    "our",
    "it",
    "its",
    "to",
    "of",
    "in",
    "on",
    "at",
    "for",
    "and",
    "or",
    "with",
    "this",
    "that",
    "there",
    "please",
    "pls",
    "hi",
    "hello",
    "can",
    "could",
    "would",
    "will",
    "should",
    "what",
    "how",
    "so",
    "just",
    "im",
    "i'm",
    "it's",
    "get",
    "got",
    "have",
    "has",
    "from",
];

static STOP_SET: LazyLock<std::collections::HashSet<&'static str>> =
    LazyLock::new(|| STOP_WORDS.iter().copied().collect());

/// Loads the segmenter's dictionary now rather than on the first request.
pub fn warm_up() {
    let _ = analyze("预热 warm up");
}

/// Search terms of already-normalised text, in order (duplicates kept).
pub fn analyze(normalized: &str) -> Vec<String> {
    let mut terms = Vec::new();
    for token in JIEBA.cut_for_search(normalized, true) {
        let word = token.word;
        if !word.chars().any(char::is_alphanumeric) || STOP_SET.contains(word) {
            continue;
        }
        let term = if word.chars().all(|c| c.is_ascii_alphanumeric() || c == '\'') {
            STEMMER.stem(word.trim_matches('\'')).into_owned()
        } else {
            word.to_string()
        };
        if !term.is_empty() {
            terms.push(term);
        }
    }
    let words: std::collections::HashSet<String> = terms.iter().cloned().collect();
    let mut run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, terms: &mut Vec<String>| {
        for pair in run.windows(2) {
            let bigram: String = pair.iter().collect();
            if !words.contains(&bigram) && !STOP_SET.contains(bigram.as_str()) {
                terms.push(bigram);
            }
        }
        run.clear();
    };
    for c in normalized.chars() {
        if is_cjk(c) && c.is_alphanumeric() {
            run.push(c);
        } else {
            flush(&mut run, &mut terms);
        }
    }
    flush(&mut run, &mut terms);
    terms
}

/// [`analyze`] as a tantivy tokenizer (registered as `baton`).
#[derive(Clone, Default)]
pub struct BatonTokenizer;

pub struct TermStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for BatonTokenizer {
    type TokenStream<'a> = TermStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> TermStream {
        let tokens = analyze(text)
            .into_iter()
            .enumerate()
            .map(|(position, text)| Token {
                position,
                text,
                ..Token::default()
            })
            .collect();
        TermStream { tokens, next: 0 }
    }
}

impl TokenStream for TermStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalize;

    #[test]
    fn chinese_is_segmented_and_particles_dropped() {
        let t = analyze(&normalize("请问退货运费谁出呢？"));
        assert!(t.contains(&"退货".to_string()), "{t:?}");
        assert!(t.contains(&"运费".to_string()), "{t:?}");
        assert!(
            !t.iter().any(|x| x == "呢" || x == "请问" || x == "?"),
            "{t:?}"
        );
    }

    #[test]
    fn english_is_stemmed_and_function_words_dropped() {
        let t = analyze(&normalize("How do I return my shoes?"));
        assert_eq!(t, vec!["return", "shoe"]);
        assert_eq!(analyze("refunds refunded"), vec!["refund", "refund"]);
    }

    #[test]
    fn mixed_text() {
        let t = analyze(&normalize("AirPods 保修多久"));
        assert!(t.contains(&"airpod".to_string()), "{t:?}");
        assert!(t.contains(&"保修".to_string()), "{t:?}");
    }

    #[test]
    fn tokenizer_streams_the_same_terms() {
        let mut tok = BatonTokenizer;
        let mut stream = tok.token_stream("returns and refunds");
        let mut seen = Vec::new();
        while stream.advance() {
            seen.push(stream.token().text.clone());
        }
        assert_eq!(seen, analyze("returns and refunds"));
    }
}
