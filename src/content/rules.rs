//! The support lead's trigger rules: `intents/rules/triggers.yaml`.
//!
//! ```text
//! triggers.yaml ─► serde ─► checks (ids, words or patterns, regexes compile, hits ≥ 1, an
//!   action each, skills) ─► TriggerRules, or diagnostics with file:line
//! ```
//!
//! A rule names words and regular expressions to look for in shopper messages, how many
//! matching messages a conversation needs before it acts, and what it does then: hand the
//! conversation to a person with a reason and a priority, tag it, alert the group. Words and
//! patterns are matched on the normalised message ([`crate::nlu::normalize`]: full-width
//! folded to half-width, traditional to simplified Chinese, lower case), so `１２３１５` and
//! `消協` match `12315` and `消协`. [`crate::dialogue::rules`] applies them in a turn.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::diagnostic::{Diagnostic, line_of, parse_yaml_file, unify_line_breaks};
use super::faq::{check_id, label_or_id};
use super::matching::{compile_terms, contains_word};
use super::quality::{QUALITY_FILE, QualityRules, parse_quality};
use super::reception::{RECEPTION_FILE, Reception, parse_reception};
use super::welcome::{WELCOME_FILE, Welcome, parse_welcome};
use super::words::{WORDS_FILE, WordLists, parse_words};
use super::wrap_up::{WRAP_UP_FILE, WrapUpCategories, parse_wrap_up};
use crate::vocabulary::{EscalationReason, Priority};

/// The file of trigger rules, under the rules folder of `intents/`.
pub const TRIGGERS_FILE: &str = "triggers.yaml";

/// Every trigger rule, in file order.
#[derive(Debug, Clone, Default)]
pub struct TriggerRules {
    pub rules: Vec<TriggerRule>,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct TriggerRule {
    pub id: String,
    /// What agents see when it acts (defaults to the id).
    pub label: String,
    /// Normalised words; a Latin word matches whole words only.
    pub words: Vec<String>,
    pub patterns: Vec<Regex>,
    /// Matching messages in a conversation before the rule acts (once).
    pub hits: u32,
    pub escalate: Option<RuleEscalation>,
    pub tag: Option<String>,
    pub alert: bool,
}

/// How a rule hands the conversation to a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEscalation {
    #[serde(default = "default_reason")]
    pub reason: EscalationReason,
    #[serde(default = "default_priority")]
    pub priority: Priority,
    /// The group; absent, the conversation's topic decides as for any escalation.
    #[serde(default)]
    pub skill: Option<String>,
}

fn default_reason() -> EscalationReason {
    EscalationReason::TriggerRule
}

fn default_priority() -> Priority {
    Priority::High
}

impl TriggerRule {
    /// Whether normalised `text` matches the rule.
    pub fn matches(&self, text: &str) -> bool {
        self.words.iter().any(|w| contains_word(text, w))
            || self.patterns.iter().any(|p| p.is_match(text))
    }
}

impl TriggerRules {
    /// The rules normalised `text` matches, in file order.
    pub fn matching<'a>(&'a self, text: &'a str) -> impl Iterator<Item = &'a TriggerRule> + 'a {
        self.rules.iter().filter(move |r| r.matches(text))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggersFile {
    #[serde(default)]
    triggers: Vec<RuleDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDecl {
    id: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    words: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default = "one")]
    hits: u32,
    #[serde(default)]
    escalate: Option<RuleEscalation>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    alert: bool,
}

fn one() -> u32 {
    1
}

/// What the rules folder holds.
#[derive(Debug, Clone, Default)]
pub struct RulesFolder {
    pub triggers: TriggerRules,
    pub reception: Reception,
    pub wrap_up: WrapUpCategories,
    pub words: WordLists,
    pub welcome: Welcome,
    pub quality: QualityRules,
}

/// Reads the rules folder's files: `triggers.yaml`, `reception.yaml`, `wrap-up.yaml`,
/// `words.yaml`, `welcome.yaml` and `quality.yaml` (absent: no rules, every group bot first,
/// no categories, no word lists, a card of popular FAQs, reviews sampled without rules);
/// anything else there is an error, so a misnamed file is not silently ignored.
pub fn load_rules(files: &[(PathBuf, String)], diagnostics: &mut Vec<Diagnostic>) -> RulesFolder {
    let mut folder = RulesFolder::default();
    for (path, source) in files {
        match path.file_name().and_then(|n| n.to_str()) {
            Some(TRIGGERS_FILE) => match parse_triggers(path, source) {
                Ok(parsed) => folder.triggers = parsed,
                Err(d) => diagnostics.extend(d),
            },
            Some(RECEPTION_FILE) => match parse_reception(path, source) {
                Ok(parsed) => folder.reception = parsed,
                Err(d) => diagnostics.extend(d),
            },
            Some(WRAP_UP_FILE) => match parse_wrap_up(path, source) {
                Ok(parsed) => folder.wrap_up = parsed,
                Err(d) => diagnostics.extend(d),
            },
            Some(WORDS_FILE) => match parse_words(path, source) {
                Ok(parsed) => folder.words = parsed,
                Err(d) => diagnostics.extend(d),
            },
            Some(WELCOME_FILE) => match parse_welcome(path, source) {
                Ok(parsed) => folder.welcome = parsed,
                Err(d) => diagnostics.extend(d),
            },
            Some(QUALITY_FILE) => match parse_quality(path, source) {
                Ok(parsed) => folder.quality = parsed,
                Err(d) => diagnostics.extend(d),
            },
            _ => diagnostics.push(Diagnostic::error(
                path,
                None,
                format!(
                    "unknown rules file; this folder holds {TRIGGERS_FILE}, {RECEPTION_FILE}, {WRAP_UP_FILE}, {WORDS_FILE}, {WELCOME_FILE} and {QUALITY_FILE}"
                ),
            )),
        }
    }
    folder
}

/// Parses and checks `triggers.yaml`.
pub fn parse_triggers(path: &Path, source: &str) -> Result<TriggerRules, Vec<Diagnostic>> {
    let source = &*unify_line_breaks(source);
    let file: TriggersFile = parse_yaml_file(path, source)?;
    let mut problems = Vec::new();
    let mut rules = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for decl in file.triggers {
        // Each rule's keys are looked for after its own `id:` line.
        let start = line_of(source, &format!("id: {}", decl.id), 1).unwrap_or(1);
        let at = |needle: &str| line_of(source, needle, start).or(Some(start));
        problems.extend(check_id(path, Some(start), "trigger id", &decl.id));
        if seen.contains(&decl.id) {
            problems.push(Diagnostic::error(
                path,
                Some(start),
                format!("trigger id {:?} is used twice", decl.id),
            ));
        }
        seen.push(decl.id.clone());
        let (words, patterns) = compile_terms(
            path,
            source,
            start,
            &format!("trigger {:?}", decl.id),
            &decl.words,
            &decl.patterns,
            &mut problems,
        );
        if decl.hits == 0 {
            problems.push(Diagnostic::error(
                path,
                at("hits:"),
                "hits must be at least 1 (matching messages before the rule acts)",
            ));
        }
        if decl.escalate.is_none() && decl.tag.is_none() && !decl.alert {
            problems.push(Diagnostic::error(
                path,
                Some(start),
                format!(
                    "trigger {:?} does nothing: give it escalate, tag or alert",
                    decl.id
                ),
            ));
        }
        if let Some(skill) = decl.escalate.as_ref().and_then(|e| e.skill.as_ref()) {
            problems.extend(check_id(path, at("skill:"), "skill", skill));
        }
        if let Some(tag) = &decl.tag {
            problems.extend(check_id(path, at("tag:"), "tag", tag));
        }
        rules.push(TriggerRule {
            label: label_or_id(decl.label, &decl.id),
            id: decl.id,
            words,
            patterns,
            hits: decl.hits,
            escalate: decl.escalate,
            tag: decl.tag,
            alert: decl.alert,
        });
    }
    if problems.is_empty() {
        Ok(TriggerRules { rules })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalize;

    const GOOD: &str = "\
triggers:
  - id: regulator
    label: 提到监管部门
    words: [12315, 315, 消协, consumer association]
    escalate: {priority: urgent, skill: complaints}
    tag: regulator
    alert: true
  - id: phone-left
    patterns: ['1[3-9]\\d{9}']
    hits: 2
    tag: phone-left
";

    fn parse(text: &str) -> Result<TriggerRules, Vec<Diagnostic>> {
        parse_triggers(Path::new("intents/rules/triggers.yaml"), text)
    }

    #[test]
    fn a_good_file_parses_with_its_defaults() {
        let rules = parse(GOOD).unwrap().rules;
        assert_eq!(rules.len(), 2);
        let r = &rules[0];
        assert_eq!(
            (r.label.as_str(), r.hits, r.alert),
            ("提到监管部门", 1, true)
        );
        let e = r.escalate.as_ref().unwrap();
        assert_eq!(
            (e.reason, e.priority, e.skill.as_deref()),
            (
                EscalationReason::TriggerRule,
                Priority::Urgent,
                Some("complaints")
            )
        );
        assert_eq!((rules[1].label.as_str(), rules[1].hits), ("phone-left", 2));
        assert!(parse("").unwrap().rules.is_empty());
    }

    #[test]
    fn words_match_whole_latin_words_anywhere_in_chinese_on_normalised_text() {
        let rules = parse(GOOD).unwrap();
        let hit = |text: &str| {
            rules
                .matching(&normalize(text))
                .map(|r| r.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(hit("我要打315投诉你们"), ["regulator"]);
        assert_eq!(
            hit("我要打１２３１５"),
            ["regulator"],
            "full-width digits fold"
        );
        assert_eq!(
            hit("找消協"),
            ["regulator"],
            "traditional folds to simplified"
        );
        assert_eq!(hit("Calling the Consumer Association now"), ["regulator"]);
        assert!(hit("order 13150 is late").is_empty(), "315 inside a number");
        assert_eq!(hit("电话13912345678"), ["phone-left"]);
        assert!(hit("你好").is_empty());
    }

    #[test]
    fn every_mistake_is_named_with_its_line() {
        let bad = "\
triggers:
  - id: a
    words: ['']
    hits: 0
    tag: a
  - id: b
    patterns: ['(unclosed']
    tag: b
  - id: c
    words: [x]
  - id: a
    words: [y]
    tag: Bad Tag
  - id: d
";
        let d = parse(bad).unwrap_err();
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        let has = |s: &str| text.iter().any(|t| t.contains(s));
        assert!(has("triggers.yaml:3: error: a word is empty"), "{text:#?}");
        assert!(
            has("triggers.yaml:4: error: hits must be at least 1"),
            "{text:#?}"
        );
        assert!(
            has("triggers.yaml:7: error: pattern \"(unclosed\""),
            "{text:#?}"
        );
        assert!(
            has("triggers.yaml:9: error: trigger \"c\" does nothing"),
            "{text:#?}"
        );
        assert!(has("trigger id \"a\" is used twice"), "{text:#?}");
        assert!(has("tag \"Bad Tag\" must be lower-case"), "{text:#?}");
        assert!(
            has("triggers.yaml:14: error: trigger \"d\" has neither"),
            "{text:#?}"
        );
        let everything =
            parse("triggers:\n  - id: a\n    patterns: ['(?:)']\n    tag: a\n").unwrap_err();
        assert!(
            everything[0].message.contains("matches an empty message"),
            "{everything:?}"
        );
        let unknown = parse("triggers:\n  - id: a\n    word: [x]\n").unwrap_err();
        assert_eq!(unknown[0].line, Some(3), "{:?}", unknown[0]);
        let reason = parse("triggers:\n  - id: a\n    words: [x]\n    escalate: {reason: angry}\n")
            .unwrap_err();
        assert!(reason[0].message.contains("angry"), "{:?}", reason[0]);
    }

    #[test]
    fn only_the_triggers_file_belongs_in_the_folder() {
        let mut d = Vec::new();
        let rules = load_rules(
            &[
                (PathBuf::from("intents/rules/triggers.yaml"), GOOD.into()),
                (PathBuf::from("intents/rules/trigers.yaml"), GOOD.into()),
            ],
            &mut d,
        );
        assert_eq!(rules.triggers.rules.len(), 2);
        assert_eq!(d.len(), 1);
        assert!(
            d[0].to_string()
                .contains("trigers.yaml: error: unknown rules file")
        );
    }
}

/// Property tests of the rules folder's parsers: `cargo test --lib fuzz_`.
#[cfg(test)]
mod fuzz {
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::{self, arbitrary_text, line_in, mutated};

    static SAMPLES: LazyLock<Vec<(PathBuf, String)>> =
        LazyLock::new(|| fuzzing::samples("intents/rules", &["yaml"]));

    fn seeds() -> Vec<String> {
        SAMPLES.iter().map(|(_, t)| t.clone()).collect()
    }

    /// Whatever the text, each parser gives its value or errors about this file that point
    /// at lines it has; never a panic.
    fn check(path: &Path, text: &str) -> Result<(), TestCaseError> {
        let results = [
            parse_triggers(path, text).err(),
            parse_reception(path, text).err(),
            parse_wrap_up(path, text).err(),
            parse_words(path, text).err(),
            parse_welcome(path, text).err(),
            parse_quality(path, text).err(),
        ];
        for d in results.into_iter().flatten().flatten() {
            prop_assert_eq!(&d.path, path);
            if let Some(l) = d.line {
                prop_assert!(line_in(text, l), "{d}");
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(fuzzing::config(256))]

        #[test]
        fn fuzz_rules_files_arbitrary_text(text in arbitrary_text()) {
            check(Path::new("intents/rules/x.yaml"), &text)?;
        }

        #[test]
        fn fuzz_rules_files_mutated_samples((k, text) in mutated(seeds(), 6)) {
            check(&SAMPLES[k].0, &text)?;
        }
    }
}
