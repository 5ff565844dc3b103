//! Rule-based signals that must never depend on a model's mood: an explicit request for a
//! person, and strong negative sentiment. Both work on normalised text and are extended (not
//! replaced) by the word lists in `[policy]`.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

/// Phrases that mean "give me a person" (normalised: lower case, half-width, simplified).
const HUMAN_PHRASES: &[&str] = &[
    "转人工",
    "人工客服",
    "人工服务",
    "找客服",
    "真人客服",
    "要人工",
    "找人工",
    "接人工",
    "转客服",
    "人工",
    "客服在吗",
    "叫客服",
    "联系客服",
    "真人",
    "活人",
    "talk to a human",
    "talk to a person",
    "speak to a human",
    "speak to a person",
    "speak with a human",
    "speak with a person",
    "talk to someone",
    "speak to someone",
    "real person",
    "human agent",
    "live agent",
    "agent please",
    "an agent",
    "a real human",
    "customer service rep",
    "representative",
    "talk to an agent",
    "speak to an agent",
    "connect me to a human",
    "human please",
    "operator",
];

/// Words that signal an upset shopper: the conversation gets a person, with priority.
const NEGATIVE_WORDS: &[&str] = &[
    "投诉",
    "差评",
    "垃圾",
    "骗子",
    "骗人",
    "欺骗",
    "气死",
    "太差",
    "恶心",
    "坑人",
    "无语",
    "举报",
    "12315",
    "消协",
    "工商局",
    "律师",
    "起诉",
    "退一赔三",
    "忍无可忍",
    "什么破",
    "态度太差",
    "scam",
    "fraud",
    "terrible",
    "horrible",
    "worst",
    "disgusting",
    "ridiculous",
    "unacceptable",
    "furious",
    "outraged",
    "lawyer",
    "sue you",
    "complaint",
    "complain",
    "rip off",
    "ripoff",
    "useless",
    "pathetic",
    "never again",
    "report you",
];

/// Phrases that say the last answer missed: the FAQ behind it is counted as "didn't help"
/// and the question becomes a knowledge gap.
const DIDNT_HELP_PHRASES: &[&str] = &[
    "没用",
    "没有用",
    "没帮助",
    "没有帮助",
    "没解决",
    "没有解决",
    "不是我要的",
    "不是我问的",
    "答非所问",
    "不是这个问题",
    "看不懂",
    "还是不行",
    "不对",
    "didn't help",
    "did not help",
    "doesn't help",
    "does not help",
    "not helpful",
    "unhelpful",
    "not what i asked",
    "not what i meant",
    "that's not it",
    "doesn't answer",
    "does not answer",
    "didn't answer",
    "still doesn't work",
    "still not working",
    "wrong answer",
];

fn contains_phrase(text: &str, phrase: &str) -> bool {
    if phrase.is_ascii() {
        text.match_indices(phrase)
            .any(|(i, _)| on_word_boundaries(text, i, i + phrase.len()))
    } else {
        text.contains(phrase)
    }
}

/// Latin phrases must match on word boundaries: "operator" not in "cooperators".
fn on_word_boundaries(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(|c| c.is_alphanumeric()) && !after.is_some_and(|c| c.is_alphanumeric())
}

/// A built-in phrase list as one automaton: every message is checked against every list,
/// and one pass over the text replaces a substring search per phrase. Matches by the same
/// rule as [`contains_phrase`].
struct PhraseSet {
    automaton: AhoCorasick,
    latin: Vec<bool>,
}

impl PhraseSet {
    fn new(phrases: &[&str]) -> PhraseSet {
        PhraseSet {
            // Built from constants: the defaults cannot exceed the automaton's limits.
            automaton: AhoCorasick::new(phrases).unwrap_or_else(|e| {
                unreachable!("the built-in phrase lists build an automaton: {e}")
            }),
            latin: phrases.iter().map(|p| p.is_ascii()).collect(),
        }
    }

    fn found_in(&self, text: &str) -> bool {
        // Overlapping: a Latin phrase inside a longer word must not hide another phrase.
        self.automaton.find_overlapping_iter(text).any(|m| {
            !self.latin[m.pattern().as_usize()] || on_word_boundaries(text, m.start(), m.end())
        })
    }
}

static HUMAN: LazyLock<PhraseSet> = LazyLock::new(|| PhraseSet::new(HUMAN_PHRASES));
static NEGATIVE: LazyLock<PhraseSet> = LazyLock::new(|| PhraseSet::new(NEGATIVE_WORDS));
static DIDNT_HELP: LazyLock<PhraseSet> = LazyLock::new(|| PhraseSet::new(DIDNT_HELP_PHRASES));

/// Whether normalised `text` explicitly asks for a person.
pub fn asks_for_human(text: &str, extra: &[String]) -> bool {
    // "不要人工" / "don't need a human" is not a request for one.
    let negated = [
        "不要人工",
        "不用人工",
        "不需要人工",
        "don't need a human",
        "no human",
    ]
    .iter()
    .any(|n| text.contains(n));
    !negated && (HUMAN.found_in(text) || extra.iter().any(|p| contains_phrase(text, p)))
}

/// Whether normalised `text` is strongly negative.
pub fn is_strongly_negative(text: &str, extra: &[String]) -> bool {
    NEGATIVE.found_in(text)
        || extra.iter().any(|w| contains_phrase(text, w))
        // Three or more exclamation marks in a row read as shouting.
        || text.contains("!!!")
}

/// Whether normalised `text` says the previous answer did not help.
pub fn says_it_did_not_help(text: &str) -> bool {
    DIDNT_HELP.found_in(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalize;

    #[test]
    fn each_list_as_one_automaton_matches_as_its_phrases_one_by_one() {
        let texts = [
            "转人工",
            "我要找人工客服谢谢",
            "cooperators are not an operator",
            "the operator, please",
            "operators",
            "this is a scam!!!",
            "scammer",
            "that didn't help at all",
            "it still doesn't work",
            "不对，答非所问",
            "where is my parcel",
            "",
        ];
        for list in [HUMAN_PHRASES, NEGATIVE_WORDS, DIDNT_HELP_PHRASES] {
            let set = PhraseSet::new(list);
            for text in texts {
                let text = normalize(text);
                let one_by_one = list.iter().any(|p| contains_phrase(&text, p));
                assert_eq!(set.found_in(&text), one_by_one, "{text:?}");
            }
        }
    }

    #[test]
    fn explicit_requests_in_both_languages() {
        for t in [
            "转人工",
            "我要人工客服！",
            "找客服",
            "I want to talk to a person",
            "Agent please",
            "can I speak to someone?",
            "轉人工",
        ] {
            assert!(asks_for_human(&normalize(t), &[]), "{t}");
        }
        for t in [
            "我的订单到哪了",
            "cooperators",
            "不要人工，我自己看",
            "where is my refund",
        ] {
            assert!(!asks_for_human(&normalize(t), &[]), "{t}");
        }
        assert!(asks_for_human("叫个小二", &["小二".to_string()]));
    }

    #[test]
    fn did_not_help() {
        for t in [
            "这个没用",
            "答非所问",
            "That didn't help",
            "not what I asked",
        ] {
            assert!(says_it_did_not_help(&normalize(t)), "{t}");
        }
        for t in ["谢谢，有用", "that helped, thanks", "where is my order"] {
            assert!(!says_it_did_not_help(&normalize(t)), "{t}");
        }
    }

    #[test]
    fn strong_negativity() {
        for t in [
            "你们这是骗子吧",
            "我要投诉",
            "This is unacceptable",
            "worst shop ever",
            "where is it!!!",
        ] {
            assert!(is_strongly_negative(&normalize(t), &[]), "{t}");
        }
        for t in ["谢谢", "not bad", "where is my order?"] {
            assert!(!is_strongly_negative(&normalize(t), &[]), "{t}");
        }
    }
}
