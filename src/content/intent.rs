//! Intent files: `intents/*.yaml`, one intent per file, with bilingual examples (the
//! classifier's training data), the action the bot takes, the skill group that takes it when
//! it escalates, and replies in both languages.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::diagnostic::{Diagnostic, line_of, unify_line_breaks, yaml_error};
use super::faq::check_id;
use crate::nlu::{Lang, OOS_LABEL};
use crate::vocabulary::{EscalationReason, Priority};

/// What the bot does when it recognises an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Answer with the best of the intent's FAQs (retrieval decides which).
    Faq,
    /// Answer with the intent's fixed reply.
    Reply,
    /// Say the reply and hand the conversation to a person.
    Escalate,
    /// Examples of what the shop's bot does not handle (weather, jokes, trivia …). The
    /// classifier learns them as out of scope, so such a message is treated as not
    /// understood instead of being mistaken for the nearest shop intent. No reply needed.
    #[serde(rename = "out_of_scope")]
    OutOfScope,
}

/// Text in both languages.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bilingual<T> {
    pub zh: T,
    pub en: T,
}

impl<T> Bilingual<T> {
    pub fn get(&self, lang: Lang) -> &T {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }
}

/// One intent, as written by an editor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub action: Action,
    pub skill: String,
    #[serde(default)]
    pub priority: Priority,
    /// For action `escalate`: why, as the agent and the statistics see it
    /// (default `intent_policy`).
    #[serde(default)]
    pub escalation_reason: Option<EscalationReason>,
    /// FAQ ids that answer this intent, best first (action `faq`).
    #[serde(default)]
    pub faqs: Vec<String>,
    pub examples: Bilingual<Vec<String>>,
    /// Required except for action `out_of_scope`.
    #[serde(default)]
    pub replies: Bilingual<String>,
    /// What the bot does in the shop's systems for this intent (order look-ups and actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<super::task::TaskSpec>,
}

impl Intent {
    /// The class the classifier learns this intent's examples as: out-of-scope examples of
    /// every file form the one reserved class.
    pub fn training_label(&self) -> &str {
        if self.action == Action::OutOfScope {
            OOS_LABEL
        } else {
            &self.id
        }
    }
}

/// Fewer examples per language than this is allowed but warned about.
pub const RECOMMENDED_EXAMPLES: usize = 15;

/// Parses and checks one intent file; `Ok` carries warnings.
pub fn parse_intent(
    path: &Path,
    source: &str,
) -> Result<(Intent, Vec<Diagnostic>), Vec<Diagnostic>> {
    let source = &*unify_line_breaks(source);
    let intent: Intent = serde_norway::from_str(source).map_err(|e| {
        let (line, message) = yaml_error(&e, source, 1);
        vec![Diagnostic::error(path, line, message)]
    })?;
    let at = |needle: &str| line_of(source, needle, 1);
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if let Some(bad) = check_id(path, at("id:"), "id", &intent.id) {
        errors.push(bad);
    } else if intent.id != stem {
        errors.push(Diagnostic::error(
            path,
            at("id:"),
            format!("id {:?} must match the file name {stem:?}", intent.id),
        ));
    }
    if intent.id == OOS_LABEL {
        errors.push(Diagnostic::error(
            path,
            at("id:"),
            format!("{OOS_LABEL:?} is reserved for out-of-scope text"),
        ));
    }
    errors.extend(check_id(path, at("skill:"), "skill", &intent.skill));
    for lang in [Lang::Zh, Lang::En] {
        let examples = intent.examples.get(lang);
        let key = format!("{}:", lang.code());
        if examples.is_empty() {
            errors.push(Diagnostic::error(
                path,
                at(&key),
                format!("no {lang} examples: the classifier cannot learn this intent in {lang}"),
            ));
        } else if examples.len() < RECOMMENDED_EXAMPLES {
            warnings.push(Diagnostic::warning(
                path,
                at(&key),
                format!("only {} {lang} examples; at least {RECOMMENDED_EXAMPLES} make the classifier reliable", examples.len()),
            ));
        }
        for ex in examples {
            if ex.trim().is_empty() {
                errors.push(Diagnostic::error(
                    path,
                    at(&key),
                    format!("an empty {lang} example"),
                ));
            }
        }
        if intent.action != Action::OutOfScope && intent.replies.get(lang).trim().is_empty() {
            errors.push(Diagnostic::error(
                path,
                at("replies:"),
                format!("the {lang} reply is empty"),
            ));
        }
    }
    if intent.action == Action::Faq && intent.faqs.is_empty() {
        warnings.push(Diagnostic::warning(
            path,
            at("faqs:"),
            "action `faq` without `faqs`: the bot answers with whatever FAQ retrieval finds",
        ));
    }
    if errors.is_empty() {
        Ok((intent, warnings))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(examples: usize) -> String {
        let zh: String = (0..examples).map(|i| format!("    - 退货{i}\n")).collect();
        let en: String = (0..examples)
            .map(|i| format!("    - return {i}\n"))
            .collect();
        format!(
            "id: return_request\naction: faq\nskill: after_sales\nfaqs: [return-policy]\nexamples:\n  zh:\n{zh}  en:\n{en}replies:\n  zh: 好的\n  en: Sure\n"
        )
    }

    #[test]
    fn parses_and_warns_on_few_examples() {
        let (intent, warnings) =
            parse_intent(Path::new("intents/return_request.yaml"), &file(20)).unwrap();
        assert_eq!(intent.action, Action::Faq);
        assert_eq!(intent.priority, Priority::Normal);
        assert!(warnings.is_empty());
        let (_, warnings) =
            parse_intent(Path::new("intents/return_request.yaml"), &file(3)).unwrap();
        assert_eq!(warnings.len(), 2);
    }

    #[test]
    fn id_must_match_file_and_action_must_be_known() {
        let d = parse_intent(Path::new("intents/other.yaml"), &file(20)).unwrap_err();
        assert_eq!(d[0].line, Some(1));
        let bad = file(20).replace("action: faq", "action: dance");
        let d = parse_intent(Path::new("intents/return_request.yaml"), &bad).unwrap_err();
        assert_eq!(d[0].line, Some(2));
        assert!(d[0].message.contains("dance"), "{}", d[0].message);
    }

    #[test]
    fn out_of_scope_examples_need_no_replies_but_others_do() {
        let no_replies = |action: &str| {
            let body = file(20).replace("action: faq", &format!("action: {action}"));
            body[..body.find("replies:").unwrap()].to_string()
        };
        let (intent, _) = parse_intent(
            Path::new("intents/return_request.yaml"),
            &no_replies("out_of_scope"),
        )
        .unwrap();
        assert_eq!(intent.action, Action::OutOfScope);
        let d = parse_intent(
            Path::new("intents/return_request.yaml"),
            &no_replies("reply"),
        )
        .unwrap_err();
        assert!(
            d.iter().any(|d| d.message.contains("reply is empty")),
            "{d:?}"
        );
    }

    #[test]
    fn priorities_rise() {
        assert_eq!(Priority::Normal.raised(), Priority::High);
        assert_eq!(Priority::High.raised(), Priority::Urgent);
        assert_eq!(Priority::Urgent.raised(), Priority::Urgent);
        assert!(Priority::Urgent > Priority::Normal);
    }
}

/// Property tests: `cargo test --lib fuzz_`, `PROPTEST_CASES=N` for a long run.
#[cfg(test)]
mod fuzz {
    use std::path::PathBuf;
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::{self, arbitrary_text, line_in, mutated};

    static SAMPLES: LazyLock<Vec<(PathBuf, String)>> =
        LazyLock::new(|| fuzzing::samples("intents", &["yaml", "yml"]));

    fn seeds() -> Vec<String> {
        SAMPLES.iter().map(|(_, t)| t.clone()).collect()
    }

    /// An intent or errors about this file at lines it has; warnings only beside an intent;
    /// and an accepted intent written out as YAML reads back the same.
    fn check(path: &Path, text: &str) -> Result<(), TestCaseError> {
        let located = |d: &Diagnostic| -> Result<(), TestCaseError> {
            prop_assert_eq!(&d.path, path);
            if let Some(l) = d.line {
                prop_assert!(line_in(text, l), "{d}");
            }
            Ok(())
        };
        match parse_intent(path, text) {
            Ok((intent, warnings)) => {
                for w in &warnings {
                    prop_assert!(!w.is_error(), "{w}");
                    located(w)?;
                }
                let yaml = serde_norway::to_string(&intent)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let (again, _) = parse_intent(path, &yaml)
                    .map_err(|d| TestCaseError::fail(format!("{yaml}\n{d:?}")))?;
                prop_assert_eq!(again, intent);
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    prop_assert!(e.is_error(), "{e}");
                    located(e)?;
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(fuzzing::config(256))]

        #[test]
        fn fuzz_intent_arbitrary_text(text in arbitrary_text()) {
            check(Path::new("intents/fuzz.yaml"), &text)?;
        }

        #[test]
        fn fuzz_intent_mutated_samples((k, text) in mutated(seeds(), 6)) {
            check(&SAMPLES[k].0, &text)?;
        }
    }
}
