//! Reading a value out of a shopper's message while an order task waits for it: yes or no,
//! "never mind", a guest's four phone digits, a new address, a product code. Plain text
//! rules, no I/O; each has its unit tests. Order numbers are matched by the shop's own
//! pattern ([`crate::content::actions::ShopCalls::find_order_number`]).

/// Phrases that leave a waiting task, anywhere in the message.
const NEVER_MIND: &[&str] = &[
    "算了",
    "不用了",
    "不查了",
    "不用查了",
    "不需要了",
    "没事了",
    "先这样",
    "never mind",
    "nevermind",
    "forget it",
    "forget about it",
    "no need",
    "don't bother",
    "cancel that",
    "stop",
];

/// A refusal anywhere in the message ("我再想想，先不取消了", "no wait, keep it").
const NO: &[&str] = &[
    "不要",
    "不用",
    "不确认",
    "不取消",
    "先不",
    "别",
    "再想想",
    "考虑一下",
    "不是",
    "不对",
    "不改",
    "算了",
    "no",
    "nope",
    "don't",
    "do not",
    "keep it",
    "not now",
    "wait",
    "hold on",
    "changed my mind",
];

/// A yes, when no refusal is in the message.
const YES: &[&str] = &[
    "确认",
    "确定",
    "是的",
    "是",
    "好的",
    "好",
    "对",
    "可以",
    "没问题",
    "嗯",
    "行",
    "yes",
    "yeah",
    "yep",
    "sure",
    "ok",
    "okay",
    "confirm",
    "go ahead",
    "please do",
    "do it",
    "correct",
];

/// Words that make a message a question rather than a value.
const QUESTION_WORDS_ZH: &[&str] = &[
    "吗",
    "是不是",
    "有没有",
    "呢",
    "怎么",
    "什么",
    "多少",
    "哪",
    "为什么",
    "能不能",
    "可不可以",
    "几",
];
const QUESTION_WORDS_EN: &[&str] = &[
    "how", "what", "where", "when", "why", "which", "can i", "can you", "do you", "is it", "does",
];

/// Whether `phrase` occurs in `text` (lowercased): Latin phrases as whole words.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    if !phrase.is_ascii() {
        return text.contains(phrase);
    }
    let bytes = text.as_bytes();
    text.match_indices(phrase).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + phrase.len()).copied();
        !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'\'')
            && !after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'\'')
    })
}

fn lower(text: &str) -> String {
    text.trim().to_lowercase()
}

/// The shopper wants to leave the waiting task.
pub fn never_mind(text: &str) -> bool {
    let t = lower(text);
    NEVER_MIND.iter().any(|p| contains_phrase(&t, p))
}

/// Longest message read as a yes: a write needs a short, plain agreement, not a sentence
/// that happens to contain "是".
const MAX_YES_CHARS: usize = 20;

/// Yes (`Some(true)`), no (`Some(false)`), or neither. A refusal anywhere wins over a yes:
/// "好的我再想想" is not a yes; a question is never a yes.
pub fn yes_or_no(text: &str) -> Option<bool> {
    let t = lower(text);
    if is_question(&t) {
        return None;
    }
    if NO.iter().any(|p| contains_phrase(&t, p)) {
        return Some(false);
    }
    if t.chars().count() > MAX_YES_CHARS {
        return None;
    }
    if YES.iter().any(|p| contains_phrase(&t, p)) {
        return Some(true);
    }
    None
}

/// Whether the message asks something (so it is never taken as a free-text value).
pub fn is_question(text: &str) -> bool {
    let t = lower(text);
    t.ends_with('?')
        || t.ends_with('？')
        || QUESTION_WORDS_ZH.iter().any(|w| t.contains(w))
        || QUESTION_WORDS_EN.iter().any(|w| contains_phrase(&t, w))
}

/// Four digits standing alone (not part of a longer number such as the order number).
pub fn phone_last4(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let before = start.checked_sub(1).map(|j| chars[j]);
            if i - start == 4 && !before.is_some_and(|c| c.is_ascii_alphabetic()) {
                return Some(chars[start..i].iter().collect());
            }
        } else {
            i += 1;
        }
    }
    None
}

/// A delivery address: long enough, not a question, and shaped like one (a zh place word,
/// or a number and a word in Latin script).
pub fn address(text: &str) -> Option<String> {
    let t = text.trim();
    let n = t.chars().count();
    if !(6..=200).contains(&n) || is_question(t) {
        return None;
    }
    let zh = [
        "省", "市", "区", "县", "镇", "路", "街", "号", "村", "弄", "栋", "室",
    ]
    .iter()
    .any(|w| t.contains(w));
    let en = t.chars().any(|c| c.is_ascii_digit())
        && t.split_whitespace()
            .filter(|w| w.chars().all(|c| c.is_alphabetic()))
            .count()
            >= 2;
    (zh || en).then(|| t.to_string())
}

/// A product code as shops write them (`SKU-1001`).
pub fn sku(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| {
            let up = w.to_ascii_uppercase();
            up.starts_with("SKU-") && up.len() > 4
        })
        .map(|w| w.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_win_over_yes_and_are_found_inside_sentences() {
        for no in [
            "不用了",
            "我再想想，先不取消了",
            "no wait, keep it",
            "No",
            "好的我再想想",
            "don't",
        ] {
            assert_eq!(yes_or_no(no), Some(false), "{no}");
        }
        for yes in [
            "确认",
            "是的",
            "好的",
            "yes please",
            "OK",
            "Confirm",
            "go ahead",
        ] {
            assert_eq!(yes_or_no(yes), Some(true), "{yes}");
        }
        for neither in [
            "物流到哪了",
            "what's the refund policy",
            "know",
            "nobody",
            "这是什么",
            "是不是已经发货了",
        ] {
            assert_eq!(yes_or_no(neither), None, "{neither}");
        }
    }

    #[test]
    fn never_mind_is_found_inside_a_sentence() {
        assert!(never_mind("算了，不查了"));
        assert!(never_mind("oh never mind, thanks"));
        assert!(!never_mind("where is my order"));
        assert!(!never_mind("stopwatch"));
    }

    #[test]
    fn questions_are_not_values() {
        assert!(is_question("退货运费谁出？"));
        assert!(is_question("how long does shipping take"));
        assert!(is_question("能开发票吗"));
        assert!(!is_question("上海市浦东新区世纪大道200号"));
        assert_eq!(address("运费多少"), None);
        assert_eq!(
            address("上海市浦东新区世纪大道200号").as_deref(),
            Some("上海市浦东新区世纪大道200号")
        );
        assert!(address("12 Baker Street, London").is_some());
        assert_eq!(address("好的"), None);
    }

    #[test]
    fn four_digits_alone_are_the_phone_and_an_order_number_is_not() {
        assert_eq!(phone_last4("5678").as_deref(), Some("5678"));
        assert_eq!(phone_last4("尾号5678").as_deref(), Some("5678"));
        assert_eq!(
            phone_last4("MM202611110001 手机 1234").as_deref(),
            Some("1234")
        );
        assert_eq!(phone_last4("MM202611110001"), None);
        assert_eq!(phone_last4("12345"), None);
        assert_eq!(phone_last4("SKU1001"), None);
    }

    #[test]
    fn product_codes() {
        assert_eq!(sku("sku-1002 有货吗").as_deref(), Some("SKU-1002"));
        assert_eq!(sku("有货吗"), None);
    }
}
