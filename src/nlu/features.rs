//! Hashed n-gram features: the vocabulary-free input of the intent classifier.
//!
//! Normalised text is split into runs of Chinese characters and runs of latin letters or
//! digits. Chinese runs give character 1-, 2- and 3-grams (a word segmenter is not needed,
//! and misspellings only break a few n-grams); latin words give the word, the next-word
//! bigram and character 3–5-grams of `<word>` (robust to typos and inflection). Digit runs
//! collapse to one `0`, so order numbers do not flood the features. Every feature is hashed
//! (xxh3, tagged by kind) into a fixed number of buckets.

use xxhash_rust::xxh3::xxh3_64;

use super::normalize::is_cjk;

/// Bumped whenever features change, so cached models trained on old features are not reused.
pub const FEATURE_VERSION: u32 = 1;

#[derive(Debug, PartialEq)]
enum Run<'a> {
    Cjk(Vec<char>),
    Word(&'a str),
}

/// Hashes the features of normalised `text` into `out` (cleared first), each `< buckets`.
/// `buckets` must be a power of two.
pub fn hashed_features(text: &str, buckets: u32, out: &mut Vec<u32>) {
    debug_assert!(buckets.is_power_of_two());
    out.clear();
    let mask = (buckets - 1) as u64;
    let mut push = |tag: u8, s: &str| {
        let mut buf = [0u8; 64];
        let bytes = s.as_bytes();
        let h = if bytes.len() < buf.len() {
            buf[0] = tag;
            buf[1..=bytes.len()].copy_from_slice(bytes);
            xxh3_64(&buf[..=bytes.len()])
        } else {
            xxh3_64(bytes) ^ (tag as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        };
        out.push((h & mask) as u32);
    };
    let mut word = String::new();
    let mut prev_word: Option<String> = None;
    for run in runs(text) {
        match run {
            Run::Cjk(chars) => {
                prev_word = None;
                let mut s = String::new();
                for n in 1..=3usize {
                    for w in chars.windows(n) {
                        s.clear();
                        s.extend(w);
                        push(n as u8, &s);
                    }
                }
                // Run boundaries: what a message starts or ends with often tells its intent.
                if let (Some(first), Some(last)) = (chars.first(), chars.last()) {
                    s.clear();
                    s.push('<');
                    s.push(*first);
                    push(4, &s);
                    s.clear();
                    s.push(*last);
                    s.push('>');
                    push(4, &s);
                }
            }
            Run::Word(raw) => {
                collapse_digits(raw, &mut word);
                push(10, &word);
                if let Some(prev) = &prev_word {
                    push(11, &format!("{prev} {word}"));
                }
                let padded: Vec<char> = std::iter::once('<')
                    .chain(word.chars())
                    .chain(std::iter::once('>'))
                    .collect();
                let mut s = String::new();
                for n in 3..=5usize {
                    for w in padded.windows(n) {
                        s.clear();
                        s.extend(w);
                        push(12 + n as u8, &s);
                    }
                }
                prev_word = Some(word.clone());
            }
        }
    }
}

fn collapse_digits(raw: &str, out: &mut String) {
    out.clear();
    let mut in_digits = false;
    for c in raw.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('0');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
}

fn runs(text: &str) -> Vec<Run<'_>> {
    let mut runs = Vec::new();
    let mut cjk = Vec::new();
    let mut word_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        let is_word_char = c.is_alphanumeric() && !is_cjk(c);
        if let Some(start) = word_start
            && !is_word_char
        {
            runs.push(Run::Word(&text[start..i]));
            word_start = None;
        }
        if is_cjk(c) && c.is_alphanumeric() {
            cjk.push(c);
            continue;
        }
        if !cjk.is_empty() {
            runs.push(Run::Cjk(std::mem::take(&mut cjk)));
        }
        if is_word_char && word_start.is_none() {
            word_start = Some(i);
        }
    }
    if let Some(start) = word_start {
        runs.push(Run::Word(&text[start..]));
    }
    if !cjk.is_empty() {
        runs.push(Run::Cjk(cjk));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_scripts() {
        let r = runs("airpods 什么时候发货? mm2026");
        assert_eq!(r[0], Run::Word("airpods"));
        assert_eq!(r[1], Run::Cjk("什么时候发货".chars().collect()));
        assert_eq!(r[2], Run::Word("mm2026"));
    }

    #[test]
    fn features_are_stable_and_bounded() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        hashed_features("退货 refund", 1 << 12, &mut a);
        hashed_features("退货 refund", 1 << 12, &mut b);
        assert_eq!(a, b);
        assert!(a.iter().all(|&h| h < 1 << 12));
        // 退, 货, 退货, two boundaries; word, 3-, 4-, 5-grams of <refund>.
        assert_eq!(a.len(), 3 + 2 + 1 + 6 + 5 + 4);
    }

    #[test]
    fn order_numbers_collapse() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        hashed_features("mm202611110001", 1 << 16, &mut a);
        hashed_features("mm202611119999", 1 << 16, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn empty_text_has_no_features() {
        let mut a = vec![1];
        hashed_features("?!… ", 1 << 10, &mut a);
        assert!(a.is_empty());
    }
}
