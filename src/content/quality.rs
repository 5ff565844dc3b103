//! Quality review rules: how a conversation an agent closed is scored,
//! `intents/rules/quality.yaml`.
//!
//! ```text
//! quality.yaml ─► serde ─► checks (ids, a known check each, the settings that check takes,
//!   words compile, points 0–100, sample rate 0–1) ─► QualityRules, or diagnostics with
//!   file:line;  crate::quality scores each closed handoff against them
//! ```
//!
//! Every conversation starts at 100 and each rule that finds a problem takes off its
//! `points`. The checks:
//!
//! - `forbidden_phrases`: an agent message contains one of `words` / `patterns`;
//! - `first_response`: the agent's first message came more than `seconds` after they took
//!   the conversation (default: the reply SLA, `handoff.sla_reply_secs`), or never came;
//! - `greeting`: the agent's first message has none of `words`;
//! - `rating`: the shopper rated it `at_most` (default 2) or lower;
//! - `returned`: the agent handed it back to the bot unresolved.
//!
//! A conversation with a finding goes to the review queue; `sample_rate` of the others do
//! too, so reviewers also see the ones the rules call fine.

use std::path::Path;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::diagnostic::{Diagnostic, line_of, parse_yaml_file, unify_line_breaks};
use super::faq::{check_id, label_or_id};
use super::matching::{compile_terms, contains_word};

/// The quality file, under the rules folder of `intents/`.
pub const QUALITY_FILE: &str = "quality.yaml";

/// Share of finding-free conversations sampled when the file does not say.
const DEFAULT_SAMPLE_RATE: f64 = 0.1;

/// The rules, in file order, and the sampling rate.
#[derive(Debug, Clone)]
pub struct QualityRules {
    /// Share (0–1) of the conversations without a finding that go to the review queue.
    pub sample_rate: f64,
    pub rules: Vec<QualityRule>,
}

impl Default for QualityRules {
    /// Without a file: every closed conversation is still scored (at 100) and sampled at the
    /// default rate, so reviewers see some of them.
    fn default() -> Self {
        QualityRules {
            sample_rate: DEFAULT_SAMPLE_RATE,
            rules: Vec::new(),
        }
    }
}

/// One rule.
#[derive(Debug, Clone)]
pub struct QualityRule {
    pub id: String,
    /// What reviewers and agents see (default the id).
    pub label: String,
    pub check: Check,
    /// Taken off the score of 100 when the rule finds a problem.
    pub points: u32,
}

/// What a rule looks for.
#[derive(Debug, Clone)]
pub enum Check {
    ForbiddenPhrases {
        words: Vec<String>,
        patterns: Vec<Regex>,
    },
    FirstResponse {
        seconds: Option<u32>,
    },
    Greeting {
        words: Vec<String>,
        patterns: Vec<Regex>,
    },
    Rating {
        at_most: u8,
    },
    Returned,
}

impl Check {
    pub fn name(&self) -> &'static str {
        match self {
            Check::ForbiddenPhrases { .. } => "forbidden_phrases",
            Check::FirstResponse { .. } => "first_response",
            Check::Greeting { .. } => "greeting",
            Check::Rating { .. } => "rating",
            Check::Returned => "returned",
        }
    }
}

/// The first of `words` / `patterns` found in normalised `text`, as it appears there.
pub fn first_term(words: &[String], patterns: &[Regex], text: &str) -> Option<String> {
    words
        .iter()
        .find(|w| contains_word(text, w))
        .cloned()
        .or_else(|| {
            patterns
                .iter()
                .find_map(|p| p.find(text).map(|m| m.as_str().to_string()))
        })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QualityFile {
    #[serde(default)]
    sample_rate: Option<f64>,
    #[serde(default)]
    rules: Vec<RuleDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDecl {
    id: String,
    #[serde(default)]
    label: Option<String>,
    check: CheckName,
    points: i64,
    #[serde(default)]
    words: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    seconds: Option<i64>,
    #[serde(default)]
    at_most: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CheckName {
    ForbiddenPhrases,
    FirstResponse,
    Greeting,
    Rating,
    Returned,
}

/// Parses and checks `quality.yaml`.
pub fn parse_quality(path: &Path, source: &str) -> Result<QualityRules, Vec<Diagnostic>> {
    let source = &*unify_line_breaks(source);
    let file: QualityFile = parse_yaml_file(path, source)?;
    let mut problems = Vec::new();
    let sample_rate = file.sample_rate.unwrap_or(DEFAULT_SAMPLE_RATE);
    if !(0.0..=1.0).contains(&sample_rate) {
        problems.push(Diagnostic::error(
            path,
            line_of(source, "sample_rate:", 1),
            format!(
                "sample_rate is a share from 0 to 1 (0.1 reviews one in ten), not {sample_rate}"
            ),
        ));
    }
    let mut rules: Vec<QualityRule> = Vec::new();
    for decl in file.rules {
        let start = line_of(source, &format!("id: {}", decl.id), 1).unwrap_or(1);
        let at = |needle: &str| line_of(source, needle, start).or(Some(start));
        problems.extend(check_id(path, Some(start), "quality rule id", &decl.id));
        if rules.iter().any(|r| r.id == decl.id) {
            problems.push(Diagnostic::error(
                path,
                Some(start),
                format!("quality rule id {:?} is used twice", decl.id),
            ));
        }
        if !(0..=100).contains(&decl.points) {
            problems.push(Diagnostic::error(
                path,
                at("points:"),
                format!(
                    "points are taken off a score of 100: 0 to 100, not {}",
                    decl.points
                ),
            ));
        }
        let takes = |field: &str, given: bool, problems: &mut Vec<Diagnostic>, allowed: bool| {
            if given && !allowed {
                problems.push(Diagnostic::error(
                    path,
                    at(&format!("{field}:")),
                    format!(
                        "check {} does not take {field}",
                        serde_json::to_string(&decl.check).unwrap_or_default()
                    ),
                ));
            }
        };
        let wants_terms = matches!(
            decl.check,
            CheckName::ForbiddenPhrases | CheckName::Greeting
        );
        takes("words", !decl.words.is_empty(), &mut problems, wants_terms);
        takes(
            "patterns",
            !decl.patterns.is_empty(),
            &mut problems,
            wants_terms,
        );
        takes(
            "seconds",
            decl.seconds.is_some(),
            &mut problems,
            decl.check == CheckName::FirstResponse,
        );
        takes(
            "at_most",
            decl.at_most.is_some(),
            &mut problems,
            decl.check == CheckName::Rating,
        );
        let mut terms = || {
            compile_terms(
                path,
                source,
                start,
                &format!("quality rule {:?}", decl.id),
                &decl.words,
                &decl.patterns,
                &mut problems,
            )
        };
        let check = match decl.check {
            CheckName::ForbiddenPhrases => {
                let (words, patterns) = terms();
                Check::ForbiddenPhrases { words, patterns }
            }
            CheckName::Greeting => {
                let (words, patterns) = terms();
                Check::Greeting { words, patterns }
            }
            CheckName::FirstResponse => {
                let seconds = match decl.seconds {
                    Some(s) if !(1..=86_400).contains(&s) => {
                        problems.push(Diagnostic::error(
                            path,
                            at("seconds:"),
                            format!("seconds is from 1 to 86400, not {s}"),
                        ));
                        None
                    }
                    s => s.and_then(|s| u32::try_from(s).ok()),
                };
                Check::FirstResponse { seconds }
            }
            CheckName::Rating => {
                let at_most = decl.at_most.unwrap_or(2);
                if !(1..=4).contains(&at_most) {
                    problems.push(Diagnostic::error(
                        path,
                        at("at_most:"),
                        format!(
                            "ratings are 1 to 5, so at_most is from 1 to 4 (5 would find every rating), not {at_most}"
                        ),
                    ));
                }
                Check::Rating {
                    at_most: u8::try_from(at_most.clamp(1, 4)).unwrap_or(2),
                }
            }
            CheckName::Returned => Check::Returned,
        };
        rules.push(QualityRule {
            label: label_or_id(decl.label, &decl.id),
            id: decl.id,
            check,
            points: u32::try_from(decl.points.clamp(0, 100)).unwrap_or(0),
        });
    }
    if problems.is_empty() {
        Ok(QualityRules { sample_rate, rules })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "sample_rate: 0.25
rules:
  - id: forbidden
    label: 禁用语
    check: forbidden_phrases
    words: [不知道, not my problem]
    patterns: ['自己(去)?看']
    points: 20
  - id: slow
    check: first_response
    seconds: 60
    points: 10
  - id: greeting
    check: greeting
    words: [您好, hello]
    points: 5
  - id: low-rating
    check: rating
    points: 30
  - id: returned
    check: returned
    points: 15
";

    #[test]
    fn every_check_parses_with_its_settings() {
        let q = parse_quality(Path::new("quality.yaml"), GOOD).unwrap();
        assert_eq!(q.sample_rate, 0.25);
        let names: Vec<&str> = q.rules.iter().map(|r| r.check.name()).collect();
        assert_eq!(
            names,
            [
                "forbidden_phrases",
                "first_response",
                "greeting",
                "rating",
                "returned"
            ]
        );
        assert_eq!(q.rules[0].label, "禁用语");
        assert_eq!(q.rules[1].label, "slow");
        assert!(matches!(
            q.rules[1].check,
            Check::FirstResponse { seconds: Some(60) }
        ));
        assert!(matches!(q.rules[3].check, Check::Rating { at_most: 2 }));
        let Check::ForbiddenPhrases { words, patterns } = &q.rules[0].check else {
            panic!("not forbidden_phrases");
        };
        assert_eq!(
            first_term(words, patterns, "这个我不知道"),
            Some("不知道".into())
        );
        assert_eq!(
            first_term(words, patterns, "请你自己去看"),
            Some("自己去看".into())
        );
        assert_eq!(first_term(words, patterns, "我来查一下"), None);
    }

    #[test]
    fn an_empty_file_scores_nothing_but_still_samples() {
        let q = parse_quality(Path::new("quality.yaml"), "").unwrap();
        assert!(q.rules.is_empty());
        assert_eq!(q.sample_rate, DEFAULT_SAMPLE_RATE);
    }

    #[test]
    fn mistakes_name_their_line() {
        let bad = "sample_rate: 1.5
rules:
  - id: a
    check: greeting
    points: 5
  - id: b
    check: rating
    at_most: 5
    words: [x]
    points: 120
  - id: a
    check: first_response
    seconds: 0
    points: 1
";
        let d = parse_quality(Path::new("quality.yaml"), bad).unwrap_err();
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        let has = |needle: &str| {
            assert!(
                text.iter().any(|t| t.contains(needle)),
                "{needle}: {text:#?}"
            );
        };
        has("quality.yaml:1: error: sample_rate is a share from 0 to 1");
        has("quality.yaml:3: error: quality rule \"a\" has neither words nor patterns");
        has("quality.yaml:8: error: ratings are 1 to 5");
        has("quality.yaml:9: error: check \"rating\" does not take words");
        has("quality.yaml:10: error: points are taken off a score of 100");
        has("quality rule id \"a\" is used twice");
        has("quality.yaml:13: error: seconds is from 1 to 86400");

        let unknown = "rules:\n  - id: a\n    check: politeness\n    points: 5\n";
        let d = parse_quality(Path::new("quality.yaml"), unknown).unwrap_err();
        assert_eq!(d[0].line, Some(3), "{d:?}");
    }
}
