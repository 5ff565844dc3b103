//! FAQ files: `kb/**/*.md`, one FAQ in one language per file, YAML front matter + Markdown
//! answer. The zh and en variants of a FAQ share its `id`.
//!
//! [`parse_faq`] turns one file's text into a [`Faq`] or the diagnostics that say why not;
//! checks across files (duplicates, links) live in [`super::validate`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::diagnostic::{Diagnostic, line_of, unify_line_breaks, yaml_error};
use crate::nlu::Lang;

/// One FAQ in one language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Faq {
    pub id: String,
    pub lang: Lang,
    pub question: String,
    pub alternates: Vec<String>,
    pub tags: Vec<String>,
    /// Skill group for conversations that escalate from this FAQ.
    pub skill: Option<String>,
    /// What follows the answer: nothing, a "talk to a person" button, the queue, or a task
    /// for the group.
    pub handoff: FaqHandoff,
    /// The answer, Markdown.
    pub answer: String,
    /// Where it came from (`None` for FAQs imported from JSONL).
    #[serde(skip)]
    pub source: Option<FaqSource>,
}

impl Faq {
    /// A FAQ with only an id, language and question, for tests of code that reads FAQs.
    #[cfg(test)]
    pub(crate) fn plain(id: &str, lang: Lang, question: &str) -> Faq {
        Faq {
            id: id.into(),
            lang,
            question: question.into(),
            alternates: Vec::new(),
            tags: Vec::new(),
            skill: None,
            handoff: FaqHandoff::None,
            answer: "answer".into(),
            source: None,
        }
    }
}

/// What happens after a FAQ's answer (`handoff:` in its front matter): some questions are
/// answered and still need a person — a complaint procedure, a change only the warehouse can
/// make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FaqHandoff {
    /// The answer is the whole reply.
    #[default]
    None,
    /// The answer, with a "talk to a person" button under it.
    Offer,
    /// The answer, then the conversation is queued for the FAQ's group.
    Always,
    /// The answer, and a task for the FAQ's group carrying the shopper's message ("please
    /// change the size on this order"); the shopper is told the team has it.
    Notify,
}

impl FaqHandoff {
    pub fn is_none(&self) -> bool {
        *self == FaqHandoff::None
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FaqHandoff::None => "none",
            FaqHandoff::Offer => "offer",
            FaqHandoff::Always => "always",
            FaqHandoff::Notify => "notify",
        }
    }
}

/// Where a FAQ file is and where its parts start, for diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqSource {
    pub path: PathBuf,
    /// Line of the `id:` key.
    pub id_line: Option<usize>,
    /// Line where the (trimmed) answer starts.
    pub answer_line: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: String,
    lang: String,
    question: String,
    #[serde(default)]
    alternates: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    skill: Option<String>,
    #[serde(default)]
    handoff: FaqHandoff,
}

/// Whether `id` is a valid FAQ or intent id: lower-case ASCII letters, digits, `-`, `_`, `.`,
/// starting with a letter or digit (ids appear in URLs and links).
pub fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && id.len() <= 100
}

/// A declaration's `label` as people see it: trimmed, and its id when there is none.
pub(crate) fn label_or_id(label: Option<String>, id: &str) -> String {
    label
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| id.to_string())
}

/// An error for `value` of `field` when it is not a valid id, pointing at `line`.
pub(crate) fn check_id(
    path: &Path,
    line: Option<usize>,
    field: &str,
    value: &str,
) -> Option<Diagnostic> {
    (!is_valid_id(value)).then(|| {
        Diagnostic::error(
            path,
            line,
            format!("{field} {value:?} must be lower-case letters, digits, '-', '_' or '.'"),
        )
    })
}

/// Parses one FAQ file.
pub fn parse_faq(path: &Path, source: &str) -> Result<Faq, Vec<Diagnostic>> {
    let err = |line: Option<usize>, msg: String| vec![Diagnostic::error(path, line, msg)];
    let source = &*unify_line_breaks(source.strip_prefix('\u{feff}').unwrap_or(source));
    let mut lines = source.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return Err(err(
            Some(1),
            "a FAQ file must start with a `---` line opening its YAML front matter".into(),
        ));
    }
    let Some(close_idx) = source
        .lines()
        .enumerate()
        .skip(1)
        .find(|(_, l)| l.trim_end() == "---")
        .map(|(i, _)| i)
    else {
        return Err(err(
            Some(1),
            "front matter is not closed by a `---` line".into(),
        ));
    };
    let front: String = source
        .lines()
        .skip(1)
        .take(close_idx - 1)
        .collect::<Vec<_>>()
        .join("\n");
    let body: String = source
        .lines()
        .skip(close_idx + 1)
        .collect::<Vec<_>>()
        .join("\n");
    let body_line = close_idx + 2;

    let fm: FrontMatter = serde_norway::from_str(&front).map_err(|e| {
        let (line, message) = yaml_error(&e, &front, 2);
        err(line, message)
    })?;

    let mut problems = Vec::new();
    let at = |needle: &str| line_of(source, needle, 1);
    problems.extend(check_id(path, at("id:"), "id", &fm.id));
    let lang = match Lang::from_locale(&fm.lang) {
        Some(l) if fm.lang == l.code() => Some(l),
        _ => {
            problems.push(Diagnostic::error(
                path,
                at("lang:"),
                format!("lang must be `zh` or `en`, not {:?}", fm.lang),
            ));
            None
        }
    };
    if fm.question.trim().is_empty() {
        problems.push(Diagnostic::error(
            path,
            at("question:"),
            "question is empty",
        ));
    }
    for (i, alt) in fm.alternates.iter().enumerate() {
        if alt.trim().is_empty() {
            problems.push(Diagnostic::error(
                path,
                at("alternates:").map(|l| l + i + 1),
                format!("alternate {} is empty", i + 1),
            ));
        }
    }
    // A blank tag cannot be written back as YAML that reads the same (nor searched for).
    for (i, tag) in fm.tags.iter().enumerate() {
        if tag.trim().is_empty() {
            problems.push(Diagnostic::error(
                path,
                at("tags:"),
                format!("tag {} is empty", i + 1),
            ));
        }
    }
    if let Some(skill) = &fm.skill {
        problems.extend(check_id(path, at("skill:"), "skill", skill));
    }
    if body.trim().is_empty() {
        problems.push(Diagnostic::error(
            path,
            Some(body_line),
            "the answer (text after the front matter) is empty",
        ));
    }
    match (problems.is_empty(), lang) {
        (true, Some(lang)) => Ok(Faq {
            id: fm.id,
            lang,
            question: fm.question.trim().to_string(),
            alternates: fm.alternates.iter().map(|a| a.trim().to_string()).collect(),
            tags: fm.tags.iter().map(|t| t.trim().to_string()).collect(),
            skill: fm.skill,
            handoff: fm.handoff,
            answer: body.trim().to_string(),
            source: Some(FaqSource {
                path: path.to_path_buf(),
                id_line: at("id:"),
                // The answer is trimmed: its first line is the first non-blank body line.
                answer_line: body_line
                    + source
                        .lines()
                        .skip(body_line - 1)
                        .take_while(|l| l.trim().is_empty())
                        .count(),
            }),
        }),
        _ => Err(problems),
    }
}

/// Links in a Markdown answer that point at other FAQs: `[text](faq-id)` targets that are not
/// URLs, anchors or paths. Returns `(line offset within the answer, id)`.
pub fn internal_links(answer: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in answer.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].trim();
            let external = target.contains("://")
                || target.starts_with('#')
                || target.starts_with('/')
                || target.starts_with("mailto:")
                || target.starts_with("tel:");
            if !target.is_empty() && !external {
                out.push((i, target.to_string()));
            }
            rest = &after[end..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "---\nid: return-policy\nlang: zh\nquestion: 支持七天无理由退货吗？\nalternates:\n  - 不想要了能退吗\ntags: [returns]\nskill: after_sales\n---\n支持，签收 7 天内。\n见 [退货步骤](return-steps)。\n";

    #[test]
    fn parses_a_good_file() {
        let faq = parse_faq(Path::new("kb/r.zh.md"), GOOD).unwrap();
        assert_eq!(faq.id, "return-policy");
        assert_eq!(faq.lang, Lang::Zh);
        assert_eq!(faq.alternates, vec!["不想要了能退吗"]);
        assert!(faq.answer.starts_with("支持"));
        let src = faq.source.unwrap();
        assert_eq!((src.id_line, src.answer_line), (Some(2), 10));
    }

    #[test]
    fn yaml_errors_carry_the_file_line() {
        let bad = "---\nid: x\nlang: zh\nquestion: [unclosed\n---\nbody\n";
        let d = parse_faq(Path::new("kb/x.md"), bad).unwrap_err();
        assert_eq!(d.len(), 1);
        assert!(
            d[0].line.is_some_and(|l| (4..=5).contains(&l)),
            "{:?}",
            d[0]
        );
    }

    #[test]
    fn unknown_keys_missing_fields_and_empty_answers() {
        let unknown = "---\nid: x\nlang: zh\nquestion: q\nanswr: a\n---\nbody\n";
        let d = parse_faq(Path::new("a.md"), unknown).unwrap_err();
        assert!(d[0].message.contains("answr"), "{}", d[0]);
        let missing = "---\nid: x\nlang: zh\n---\nbody\n";
        let d = parse_faq(Path::new("a.md"), missing).unwrap_err();
        assert!(d[0].message.contains("question"), "{}", d[0]);
        let empty = "---\nid: x\nlang: fr\nquestion: q\n---\n\n";
        let d = parse_faq(Path::new("a.md"), empty).unwrap_err();
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].line, Some(3));
        assert_eq!(d[1].line, Some(6));
    }

    #[test]
    fn handoff_modes_parse_and_an_unknown_one_names_its_line_and_the_choices() {
        assert_eq!(
            parse_faq(Path::new("r.zh.md"), GOOD).unwrap().handoff,
            FaqHandoff::None
        );
        for (text, mode) in [
            ("offer", FaqHandoff::Offer),
            ("always", FaqHandoff::Always),
            ("notify", FaqHandoff::Notify),
        ] {
            let file = GOOD.replace(
                "skill: after_sales\n",
                &format!("skill: after_sales\nhandoff: {text}\n"),
            );
            assert_eq!(
                parse_faq(Path::new("r.zh.md"), &file).unwrap().handoff,
                mode
            );
        }
        let file = GOOD.replace(
            "skill: after_sales\n",
            "skill: after_sales\nhandoff: sometimes\n",
        );
        let d = parse_faq(Path::new("r.zh.md"), &file).unwrap_err();
        assert_eq!(d[0].line, Some(9), "{}", d[0]);
        assert!(
            d[0].message.contains("sometimes") && d[0].message.contains("notify"),
            "{}",
            d[0]
        );
    }

    #[test]
    fn missing_front_matter() {
        let d = parse_faq(Path::new("a.md"), "just text").unwrap_err();
        assert_eq!(d[0].line, Some(1));
        let d = parse_faq(Path::new("a.md"), "---\nid: x\n").unwrap_err();
        assert!(d[0].message.contains("not closed"));
    }

    #[test]
    fn finds_internal_links_only() {
        let links = internal_links(
            "see [a](return-steps) and [b](https://x.y)\n[c](#top) [d](refund-time)",
        );
        assert_eq!(
            links,
            vec![(0, "return-steps".into()), (1, "refund-time".into())]
        );
    }

    #[test]
    fn ids() {
        assert!(is_valid_id("return-policy"));
        assert!(is_valid_id("bq-12"));
        assert!(!is_valid_id("Return"));
        assert!(!is_valid_id("-x"));
        assert!(!is_valid_id(""));
    }
}

/// Property tests: `cargo test --lib fuzz_`, `PROPTEST_CASES=N` for a long run.
#[cfg(test)]
mod fuzz {
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;
    use crate::content::editor::{FaqDoc, render};
    use crate::fuzzing::{self, arbitrary_text, line_in, mutated};

    static SAMPLES: LazyLock<Vec<(PathBuf, String)>> =
        LazyLock::new(|| fuzzing::samples("kb", &["md"]));

    fn seeds() -> Vec<String> {
        SAMPLES.iter().map(|(_, t)| t.clone()).collect()
    }

    /// What a parse of `text` at `path` must always be: a FAQ, or errors about this file
    /// that point at lines it has; and a parsed FAQ survives being written back out.
    fn check(path: &Path, text: &str) -> Result<(), TestCaseError> {
        match parse_faq(path, text) {
            Ok(faq) => {
                let src = faq.source.clone().expect("parsed files know their source");
                prop_assert!(line_in(text, src.answer_line), "{src:?}");
                if let Some(l) = src.id_line {
                    prop_assert!(line_in(text, l), "{src:?}");
                }
                let again = parse_faq(path, &render(&faq.id, faq.lang, &FaqDoc::of(&faq)));
                let again = again.map_err(|d| TestCaseError::fail(format!("{d:?}")))?;
                prop_assert_eq!(
                    Faq {
                        source: None,
                        ..again
                    },
                    Faq {
                        source: None,
                        ..faq
                    }
                );
            }
            Err(diagnostics) => {
                prop_assert!(!diagnostics.is_empty());
                for d in &diagnostics {
                    prop_assert_eq!(&d.path, path);
                    prop_assert!(d.is_error(), "{d}");
                    if let Some(l) = d.line {
                        prop_assert!(line_in(text, l), "{d}");
                    }
                    prop_assert!(d.to_string().starts_with(&*path.to_string_lossy()));
                }
            }
        }
        Ok(())
    }

    fn skill_id() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("[a-z0-9][a-z0-9_.-]{0,20}")
    }

    /// Text an editor could type into one field: any Unicode, often with YAML's and
    /// Markdown's special characters.
    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ -~]{0,30}",
            proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "退货", " ", "\n", "\t", ": ", "- ", "---", "#", "\"", "'", "&", "*", "!",
                    "|", ">", "[", "]", "{", "}", "%", "@", "`", "~", "null", "yes", "0x10", "1e5",
                    "\u{feff}", "\u{85}", "\u{2028}", "\r", "\\",
                ]),
                0..12
            )
            .prop_map(|v| v.concat()),
        ]
    }

    proptest! {
        #![proptest_config(fuzzing::config(256))]

        #[test]
        fn fuzz_faq_arbitrary_text(text in arbitrary_text()) {
            check(Path::new("kb/x/fuzz.en.md"), &text)?;
        }

        #[test]
        fn fuzz_faq_mutated_samples((k, text) in mutated(seeds(), 6)) {
            check(&SAMPLES[k].0, &text)?;
        }

        /// What the editor writes parses back to what was written (trimmed as the parser
        /// trims), whatever the fields hold; and if the parser refuses it, it is because a
        /// field really is blank or invalid.
        #[test]
        fn fuzz_faq_rendered_round_trip(
            question in field(),
            alternates in proptest::collection::vec(field(), 0..4),
            tags in proptest::collection::vec(field(), 0..3),
            skill in skill_id(),
            handoff in proptest::sample::select(vec![
                FaqHandoff::None, FaqHandoff::Offer, FaqHandoff::Always, FaqHandoff::Notify,
            ]),
            answer in field(),
            en in any::<bool>(),
        ) {
            let lang = if en { Lang::En } else { Lang::Zh };
            let doc = FaqDoc { question, alternates, tags, skill, handoff, answer, category: None };
            let text = render("fuzz-id", lang, &doc);
            let blank = doc.question.trim().is_empty()
                || doc.answer.trim().is_empty()
                || doc.alternates.iter().any(|a| a.trim().is_empty())
                || doc.tags.iter().any(|t| t.trim().is_empty())
                || doc.skill.as_deref().is_some_and(|s| !is_valid_id(s));
            match parse_faq(Path::new("kb/x/fuzz-id.en.md"), &text) {
                Ok(faq) => {
                    prop_assert!(!blank, "{text:?} accepted");
                    let expected = FaqDoc {
                        question: doc.question.trim().to_string(),
                        alternates: doc.alternates.iter().map(|a| a.trim().to_string()).collect(),
                        tags: doc.tags.iter().map(|t| t.trim().to_string()).collect(),
                        answer: doc.answer.trim().replace("\r\n", "\n").replace('\r', "\n"),
                        ..doc.clone()
                    };
                    prop_assert_eq!(FaqDoc::of(&faq), expected, "{:?}", text);
                    prop_assert_eq!((faq.id.as_str(), faq.lang), ("fuzz-id", lang));
                }
                Err(d) => prop_assert!(blank, "{text:?} refused: {d:?}"),
            }
        }

        #[test]
        fn fuzz_faq_internal_links(answer in arbitrary_text()) {
            for (offset, target) in internal_links(&answer) {
                prop_assert!(offset < answer.lines().count());
                prop_assert!(!target.is_empty() && answer.contains(&target));
            }
        }
    }
}
