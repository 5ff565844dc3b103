//! Text normalisation shared by the intent classifier and the FAQ retriever, so both see
//! the same text for the same thing a shopper typed.
//!
//! Steps: Unicode NFKC (full-width letters, digits and punctuation become half-width,
//! compatibility forms fold), traditional Chinese → simplified (fast2s), lower case, and
//! every run of whitespace or control characters collapsed to one space.

use unicode_normalization::UnicodeNormalization;

/// Normalises text for matching. Idempotent: `normalize(normalize(x)) == normalize(x)`.
pub fn normalize(text: &str) -> String {
    if text.is_ascii() {
        // NFKC and simplification leave ASCII as it is, and Unicode lower case is ASCII's:
        // most English messages skip four passes and their allocations.
        return collapse_spaces(text.chars().map(|c| c.to_ascii_lowercase()), text.len());
    }
    unicode_normalize(text)
}

fn unicode_normalize(text: &str) -> String {
    let nfkc: String = text.nfkc().collect();
    let simplified = fast2s::convert(&nfkc);
    // Lower-casing can leave text that is no longer NFKC (`İ` becomes `i` + U+0307, which
    // must sort after a mark below that follows it), so normalise once more: without it a
    // second pass would change the text and the same words would not match themselves.
    let lower: String = simplified.chars().flat_map(char::to_lowercase).collect();
    let lower: String = lower.nfkc().collect();
    collapse_spaces(lower.chars(), lower.len())
}

/// `chars` with every run of whitespace or control characters made one space, and none at
/// either end.
fn collapse_spaces(chars: impl Iterator<Item = char>, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut pending_space = false;
    for ch in chars {
        if ch.is_whitespace() || ch.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(ch);
    }
    out
}

/// Whether `c` is a CJK ideograph (the scripts Chinese is written in).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2EBEF
        | 0xF900..=0xFAFF | 0x3000..=0x303F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_takes_the_short_way_to_the_same_text() {
        let every_ascii: String = (0u8..128).map(char::from).collect();
        for text in [
            every_ascii.as_str(),
            "  Where is my ORDER #A-1029?\t\r\nThanks!  ",
            "\u{1}\u{1f}x\u{7f}Y",
            "",
        ] {
            assert_eq!(normalize(text), unicode_normalize(text), "{text:?}");
        }
    }

    #[test]
    fn full_width_becomes_half_width() {
        assert_eq!(normalize("ＡＢＣ１２３！"), "abc123!");
        assert_eq!(normalize("订单ＭＭ２０２６"), "订单mm2026");
    }

    #[test]
    fn traditional_becomes_simplified() {
        assert_eq!(normalize("請問退貨運費誰出"), "请问退货运费谁出");
        assert_eq!(normalize("發票"), "发票");
    }

    #[test]
    fn case_and_whitespace() {
        assert_eq!(
            normalize("  Where IS\t\n my   Order?  "),
            "where is my order?"
        );
        assert_eq!(normalize("\u{3000}转人工\u{3000}"), "转人工");
    }

    #[test]
    fn idempotent() {
        for s in ["ＡＢＣ 退貨", "I'm   upset!!", "ﬁle", "", "\u{130}\u{316}"] {
            let once = normalize(s);
            assert_eq!(normalize(&once), once);
        }
    }
}

/// Property tests: `cargo test --lib fuzz_`, `PROPTEST_CASES=N` for a long run.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing;

    /// Text mixing the characters normalisation treats specially: case with special
    /// lower-casing, combining marks in any order, compatibility forms, traditional
    /// characters, whitespace and controls.
    fn tricky() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            proptest::sample::select(vec![
                "İ",
                "I",
                "Σ",
                "ς",
                "ß",
                "ẞ",
                "Ω",
                "Å",
                "K",
                "ﬁ",
                "ＡＢＣ",
                "１２",
                "發票",
                "請問",
                "退貨",
                "㍿",
                "①",
                "\u{301}",
                "\u{316}",
                "\u{307}",
                "\u{345}",
                "\u{3099}",
                "か",
                "ｶ",
                "ﾞ",
                "\u{1e9e}",
                "ǅ",
                "\u{130}\u{316}",
                " ",
                "\t",
                "\u{3000}",
                "\u{0}",
                "\u{85}",
                "\u{2028}",
                "\u{200b}",
                "\u{feff}",
                "a",
                "Z",
                "\u{1f600}",
                "\u{fb01}",
                "\u{2126}",
                "\u{212b}",
                "\u{1d400}",
            ])
            .prop_map(String::from),
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..16).prop_map(|v| v.concat())
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), tricky(), fuzzing::arbitrary_text()]
    }

    proptest! {
        #![proptest_config(fuzzing::config(512))]

        /// The documented promise: normalising twice changes nothing.
        #[test]
        fn fuzz_normalize_is_idempotent(s in text()) {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once.clone(), "{:?}", s);
        }

        /// No whitespace or control characters at the ends, none but single spaces inside.
        #[test]
        fn fuzz_normalize_collapses_whitespace(s in text()) {
            let out = normalize(&s);
            prop_assert!(!out.starts_with(' ') && !out.ends_with(' '), "{:?}", out);
            prop_assert!(!out.contains("  "), "{:?}", out);
            prop_assert!(
                out.chars().all(|c| c == ' ' || !(c.is_whitespace() || c.is_control())),
                "{:?}", out
            );
        }
    }
}
