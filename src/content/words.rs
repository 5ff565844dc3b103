//! The support lead's word lists: `intents/rules/words.yaml`.
//!
//! ```text
//! words.yaml ─► serde ─► checks (ids, words or patterns, regexes compile, whose messages)
//!   ─► WordLists, or diagnostics with file:line
//! message ─► WordLists::screen(author) ─► Screening: the text to deliver (masked), the list
//!   that blocks it, the lists that alert, one hit per list that matched
//! ```
//!
//! A list names words and regular expressions, whose messages it watches (shoppers',
//! agents' or both) and what it does: `mask` hides the matched characters behind `*` in what
//! is stored and shown, `block` refuses the message with a notice to its writer, `alert`
//! lets it through and tells the team. `alert: true` on a mask or block list alerts as well.
//! Matching is on the folded text ([`super::matching`]), so full-width, traditional and
//! upper-case spellings are caught too.

use std::ops::Range;
use std::path::Path;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::diagnostic::{Diagnostic, line_of, parse_yaml_file, unify_line_breaks};
use super::faq::{check_id, label_or_id};
use super::matching::{Folded, compile_terms, word_spans};

/// The word lists file, under the rules folder of `intents/`.
pub const WORDS_FILE: &str = "words.yaml";

/// Whose message is screened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Author {
    Shopper,
    Agent,
}

impl Author {
    pub fn as_str(self) -> &'static str {
        match self {
            Author::Shopper => "shopper",
            Author::Agent => "agent",
        }
    }
}

/// What a list does to a message it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordAction {
    /// Let it through and tell the team.
    Alert,
    /// Hide the matched characters.
    Mask,
    /// Refuse the message; its writer gets a notice.
    Block,
}

impl WordAction {
    pub fn as_str(self) -> &'static str {
        match self {
            WordAction::Alert => "alert",
            WordAction::Mask => "mask",
            WordAction::Block => "block",
        }
    }
}

/// Every list, in file order.
#[derive(Debug, Clone, Default)]
pub struct WordLists {
    pub lists: Vec<WordList>,
}

/// One list.
#[derive(Debug, Clone)]
pub struct WordList {
    pub id: String,
    /// What agents and the admin page show (defaults to the id).
    pub label: String,
    /// Normalised words.
    pub words: Vec<String>,
    pub patterns: Vec<Regex>,
    pub applies_to: Vec<Author>,
    pub action: WordAction,
    /// Tell the team too (always for `action: alert`).
    pub alert: bool,
}

/// One list's match in one message: never the message's text, only what the list says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListHit {
    pub list: String,
    pub label: String,
    pub action: WordAction,
    pub alert: bool,
    /// The list's word that matched, or the pattern as written.
    pub term: String,
}

/// What the lists make of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screening {
    /// The text to store and deliver: the message with masked characters hidden.
    pub text: String,
    /// The first `block` list that matched: the message must not be delivered.
    pub blocked: Option<ListHit>,
    /// One per list that matched, in file order.
    pub hits: Vec<ListHit>,
}

impl Screening {
    /// The hits that tell the team.
    pub fn alerts(&self) -> impl Iterator<Item = &ListHit> {
        self.hits.iter().filter(|h| h.alert)
    }
}

impl WordLists {
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// Screens `text`, written by `author`.
    pub fn screen(&self, text: &str, author: Author) -> Screening {
        let mut screening = Screening {
            text: text.to_string(),
            blocked: None,
            hits: Vec::new(),
        };
        let lists: Vec<&WordList> = self
            .lists
            .iter()
            .filter(|l| l.applies_to.contains(&author))
            .collect();
        if lists.is_empty() {
            return screening;
        }
        let folded = Folded::new(text);
        let mut masked: Vec<Range<usize>> = Vec::new();
        for list in lists {
            let Some((term, spans)) = list.find(&folded.text) else {
                continue;
            };
            let hit = ListHit {
                list: list.id.clone(),
                label: list.label.clone(),
                action: list.action,
                alert: list.alert,
                term,
            };
            match list.action {
                WordAction::Mask => masked.extend(spans),
                WordAction::Block if screening.blocked.is_none() => {
                    screening.blocked = Some(hit.clone())
                }
                _ => {}
            }
            screening.hits.push(hit);
        }
        if !masked.is_empty() {
            screening.text = folded.masked(&masked);
        }
        screening
    }
}

impl WordList {
    /// The first term of the list found in folded `text`, and every span of every term.
    fn find(&self, text: &str) -> Option<(String, Vec<Range<usize>>)> {
        let mut first: Option<String> = None;
        let mut spans = Vec::new();
        for word in &self.words {
            let before = spans.len();
            spans.extend(word_spans(text, word));
            if spans.len() > before && first.is_none() {
                first = Some(word.clone());
            }
        }
        for pattern in &self.patterns {
            let before = spans.len();
            spans.extend(pattern.find_iter(text).map(|m| m.range()));
            if spans.len() > before && first.is_none() {
                first = Some(pattern.as_str().to_string());
            }
        }
        first.map(|t| (t, spans))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WordsFile {
    #[serde(default)]
    lists: Vec<ListDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListDecl {
    id: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    words: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default = "both")]
    applies_to: Vec<Author>,
    action: WordAction,
    #[serde(default)]
    alert: bool,
}

fn both() -> Vec<Author> {
    vec![Author::Shopper, Author::Agent]
}

/// Parses and checks `words.yaml`.
pub fn parse_words(path: &Path, source: &str) -> Result<WordLists, Vec<Diagnostic>> {
    let source = &*unify_line_breaks(source);
    let file: WordsFile = parse_yaml_file(path, source)?;
    let mut problems = Vec::new();
    let mut lists = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for decl in file.lists {
        let start = line_of(source, &format!("id: {}", decl.id), 1).unwrap_or(1);
        let at = |needle: &str| line_of(source, needle, start).or(Some(start));
        problems.extend(check_id(path, Some(start), "word list id", &decl.id));
        if seen.contains(&decl.id) {
            problems.push(Diagnostic::error(
                path,
                Some(start),
                format!("word list id {:?} is used twice", decl.id),
            ));
        }
        seen.push(decl.id.clone());
        let (words, patterns) = compile_terms(
            path,
            source,
            start,
            &format!("word list {:?}", decl.id),
            &decl.words,
            &decl.patterns,
            &mut problems,
        );
        if decl.applies_to.is_empty() {
            problems.push(Diagnostic::error(
                path,
                at("applies_to:"),
                "applies_to names nobody: give shopper, agent or both",
            ));
        }
        let mut applies_to = decl.applies_to;
        applies_to.dedup();
        lists.push(WordList {
            label: label_or_id(decl.label, &decl.id),
            id: decl.id,
            words,
            patterns,
            applies_to,
            alert: decl.alert || decl.action == WordAction::Alert,
            action: decl.action,
        });
    }
    if problems.is_empty() {
        Ok(WordLists { lists })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
lists:
  - id: abuse
    label: 辱骂
    action: mask
    words: [傻逼, idiot]
  - id: off-platform
    applies_to: [agent]
    action: block
    words: [加微信, wechat]
    patterns: ['vx\\s*[:：]']
  - id: threats
    applies_to: [shopper]
    action: alert
    words: [炸了你们]
  - id: slur
    action: block
    alert: true
    words: [滚蛋]
";

    fn parse(text: &str) -> Result<WordLists, Vec<Diagnostic>> {
        parse_words(Path::new("intents/rules/words.yaml"), text)
    }

    #[test]
    fn a_good_file_parses_with_its_defaults() {
        let lists = parse(GOOD).unwrap().lists;
        assert_eq!(lists.len(), 4);
        assert_eq!(lists[0].applies_to, [Author::Shopper, Author::Agent]);
        assert_eq!((lists[0].label.as_str(), lists[0].alert), ("辱骂", false));
        assert_eq!(lists[1].label, "off-platform");
        assert!(lists[2].alert, "an alert list alerts");
        assert!(lists[3].alert);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn masking_hides_exactly_the_characters_typed() {
        let lists = parse(GOOD).unwrap();
        let s = lists.screen("你这个傻逼客服，IDIOT!", Author::Shopper);
        assert_eq!(s.text, "你这个**客服，*****!");
        assert_eq!(s.blocked, None);
        assert_eq!(s.hits.len(), 1);
        assert_eq!(
            (s.hits[0].list.as_str(), s.hits[0].term.as_str()),
            ("abuse", "傻逼")
        );
        assert_eq!(s.alerts().count(), 0);
        let clean = lists.screen("我的快递到哪了", Author::Shopper);
        assert_eq!(
            (clean.text.as_str(), clean.hits.len()),
            ("我的快递到哪了", 0)
        );
    }

    #[test]
    fn a_list_watches_only_the_authors_it_names() {
        let lists = parse(GOOD).unwrap();
        let agent = lists.screen("您可以加微信 abc 联系我", Author::Agent);
        assert_eq!(
            agent.blocked.as_ref().map(|h| h.list.as_str()),
            Some("off-platform")
        );
        assert_eq!(
            agent.blocked.as_ref().map(|h| h.term.as_str()),
            Some("加微信")
        );
        let shopper = lists.screen("可以加微信吗", Author::Shopper);
        assert!(shopper.hits.is_empty());
        let pattern = lists.screen("VX：abc123", Author::Agent);
        assert_eq!(pattern.blocked.map(|h| h.term), Some("vx\\s*[:：]".into()));
        let threat = lists.screen("再不退款我就炸了你们", Author::Shopper);
        assert_eq!(
            (threat.blocked.is_none(), threat.alerts().count()),
            (true, 1)
        );
        let slur = lists.screen("滚蛋", Author::Shopper);
        assert!(slur.blocked.is_some() && slur.alerts().count() == 1);
    }

    #[test]
    fn every_mistake_is_named_with_its_line() {
        let bad = "\
lists:
  - id: a
    action: mask
    words: ['']
  - id: b
    action: block
    patterns: ['(unclosed', 'x*']
  - id: a
    action: alert
    applies_to: []
  - id: c
    action: mask
";
        let d = parse(bad).unwrap_err();
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        let has = |s: &str| text.iter().any(|t| t.contains(s));
        assert!(has("words.yaml:4: error: a word is empty"), "{text:#?}");
        assert!(
            has("words.yaml:7: error: pattern \"(unclosed\""),
            "{text:#?}"
        );
        assert!(has("pattern \"x*\" matches an empty message"), "{text:#?}");
        assert!(has("word list id \"a\" is used twice"), "{text:#?}");
        assert!(
            has("words.yaml:10: error: applies_to names nobody"),
            "{text:#?}"
        );
        assert!(
            has("words.yaml:11: error: word list \"c\" has neither"),
            "{text:#?}"
        );
        let action = parse("lists:\n  - id: a\n    words: [x]\n    action: shout\n").unwrap_err();
        assert!(action[0].message.contains("shout"), "{:?}", action[0]);
        let missing = parse("lists:\n  - id: a\n    words: [x]\n").unwrap_err();
        assert!(missing[0].message.contains("action"), "{:?}", missing[0]);
    }
}
