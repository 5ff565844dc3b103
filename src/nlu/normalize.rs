//! Text normalisation shared by the intent classifier and the FAQ retriever, so both see
//! the same text for the same thing a shopper typed.
//!
//! Steps: Unicode NFKC (full-width letters, digits and punctuation become half-width,
//! compatibility forms fold), traditional Chinese → simplified (fast2s), lower case, and
//! every run of whitespace or control characters collapsed to one space.

use unicode_normalization::UnicodeNormalization;

/// Normalises text for matching. Idempotent: `normalize(normalize(x)) == normalize(x)`.
pub fn normalize(text: &str) -> String {
    let nfkc: String = text.nfkc().collect();
    let simplified = fast2s::convert(&nfkc);
    let mut out = String::with_capacity(simplified.len());
    let mut pending_space = false;
    for ch in simplified.chars() {
        if ch.is_whitespace() || ch.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.extend(ch.to_lowercase());
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
        for s in ["ＡＢＣ 退貨", "I'm   upset!!", "ﬁle", ""] {
            let once = normalize(s);
            assert_eq!(normalize(&once), once);
        }
    }
}
