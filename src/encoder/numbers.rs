//! What the sentence encoders read of long numbers: their length, not their digits.
//!
//! Shoppers write order numbers, tracking numbers and phone numbers into their questions
//! ("MM202611110001 到哪了", "my order 48213377 is late"). To an encoder those digits are
//! noise — the pieces a tokenizer cuts `48213377` into say nothing about the question — but
//! they make every such message a text never seen before, so the vector of recent messages
//! ([`super::recent`]) cannot answer it and each one pays a forward pass. A run of
//! [`LONG_RUN`] or more ASCII digits is therefore read as a fixed run of the same length:
//! "where is order 48213377" and "where is order 90051234" are one text to the encoder, and
//! the second is a cache hit. Length is kept because it still tells a phone number from an
//! order number or an amount. Shorter numbers — quantities, prices, years, service numbers
//! such as 10086 — are read as written.
//!
//! Every text the encoders embed passes through [`for_encoder`] ([`super::routed`]): content,
//! evaluation sets and messages alike, so a question and the examples it is compared with are
//! read the same way, and `baton eval` measures exactly what is served. The rest of Baton (the
//! n-gram model, BM25, order lookups, the transcript) sees the text as written.

use std::borrow::Cow;

/// Digit runs at least this long are masked: shorter than any order or phone number a shop
/// hands out, longer than prices, quantities, dates and short service numbers.
pub const LONG_RUN: usize = 6;

/// Names this way of reading text, for the encoders' fingerprint: a change here must not
/// reuse vectors cached under the old one.
pub const READING: &str = "digit runs of 6+ by length, v1";

/// The digits a masked run is read as, cut to the run's length (repeated past ten).
const STAND_IN: &[u8] = b"1234567890";

/// `text` with every run of [`LONG_RUN`] or more ASCII digits replaced by a stand-in of the
/// same length; borrowed when there is none.
pub fn for_encoder(text: &str) -> Cow<'_, str> {
    if !has_long_run(text.as_bytes()) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if run >= LONG_RUN {
            out.extend((0..run).map(|k| STAND_IN[k % STAND_IN.len()]));
            i += run;
        } else if run > 0 {
            out.extend_from_slice(&bytes[i..i + run]);
            i += run;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    // Only ASCII digits were replaced, by ASCII digits: still UTF-8.
    Cow::Owned(String::from_utf8(out).unwrap_or_else(|_| text.to_string()))
}

fn has_long_run(bytes: &[u8]) -> bool {
    let mut run = 0;
    for b in bytes {
        if b.is_ascii_digit() {
            run += 1;
            if run >= LONG_RUN {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_numbers_are_read_by_length_and_short_ones_as_written() {
        assert_eq!(
            for_encoder("where is order 48213377"),
            "where is order 12345678"
        );
        assert_eq!(
            for_encoder("where is order 48213377"),
            for_encoder("where is order 90051234")
        );
        assert_eq!(for_encoder("MM202611110001到哪了"), "MM123456789012到哪了");
        assert_ne!(
            for_encoder("call 13800138000"),
            for_encoder("order 12345678"),
            "a phone number and an order number keep their lengths"
        );
        for kept in [
            "2 件 99 元",
            "给10086打电话",
            "2026年12月6日",
            "order #12345",
            "你好",
        ] {
            assert!(
                matches!(for_encoder(kept), Cow::Borrowed(_)),
                "{kept} is read as written"
            );
        }
        assert_eq!(
            for_encoder("１２３４５６７８"),
            "１２３４５６７８",
            "only ASCII digits"
        );
    }

    #[test]
    fn every_run_is_masked_and_the_rest_kept() {
        assert_eq!(
            for_encoder("123456 and 7654321, 12 items"),
            "123456 and 1234567, 12 items"
        );
        assert_eq!(for_encoder("1234567890123"), "1234567890123");
        assert_eq!(for_encoder("9999999999999"), "1234567890123");
    }
}
