//! Content editors own: FAQ files under `kb/` and intent files under `intents/` (with the
//! shop's declared calls in `intents/actions/` and the support lead's trigger rules in
//! `intents/rules/`).
//!
//! [`load`] reads both trees, parses every file, runs the checks that span files (duplicate
//! ids, broken links, intents pointing at missing FAQs, the same example under two intents;
//! as warnings, near-duplicate questions — by meaning when [`load_with_encoder`] is given a
//! sentence encoder — and confusable examples from [`similar`]) and returns
//! the [`Content`] together with every [`Diagnostic`]. Nothing downstream ever sees content
//! that has errors: `baton lint` prints them, `baton serve` refuses to start, a reload keeps
//! the last good snapshot. [`load_overlaid`] checks the trees as an edit would leave them,
//! before the [`editor`] writes it.

pub mod actions;
pub mod diagnostic;
pub mod editor;
pub mod faq;
pub mod intent;
pub mod matching;
pub mod quality;
pub mod reception;
pub mod rules;
pub mod similar;
pub mod task;
pub mod template;
pub mod welcome;
pub mod words;
pub mod wrap_up;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Severity};
pub use faq::Faq;
pub use intent::{Action, Bilingual, Intent};

use crate::encoder::Encoder;
use crate::nlu::{LabelledText, Lang, normalize};

/// Validated FAQs and intents, sorted by file path.
#[derive(Debug, Clone, Default)]
pub struct Content {
    pub faqs: Vec<Faq>,
    pub intents: Vec<Intent>,
    /// The shop's declared calls (`intents/actions/`; the reference contract without it).
    pub shop: actions::ShopCalls,
    /// The support lead's trigger rules (`intents/rules/triggers.yaml`; none without it).
    pub rules: rules::TriggerRules,
    /// Who answers first, per group (`intents/rules/reception.yaml`; bot first without it).
    pub reception: reception::Reception,
    /// What agents file resolved conversations under (`intents/rules/wrap-up.yaml`).
    pub wrap_up: wrap_up::WrapUpCategories,
    /// Words masked, blocked or alerted on in messages (`intents/rules/words.yaml`).
    pub words: words::WordLists,
    /// The welcome card's settings (`intents/rules/welcome.yaml`; popular FAQs without it).
    pub welcome: welcome::Welcome,
    /// How closed conversations are scored for review (`intents/rules/quality.yaml`).
    pub quality: quality::QualityRules,
}

impl Content {
    /// The classifier's training data: every example of every intent.
    pub fn training_data(&self) -> Vec<LabelledText> {
        self.intents
            .iter()
            .flat_map(|intent| {
                intent
                    .examples
                    .zh
                    .iter()
                    .chain(&intent.examples.en)
                    .map(|text| LabelledText {
                        text: text.clone(),
                        label: intent.training_label().to_string(),
                    })
            })
            .collect()
    }

    pub fn intent(&self, id: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.id == id)
    }
}

/// What loading found: the content and every problem, errors and warnings.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub content: Content,
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadReport {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }
}

/// Reads and validates `kb_dir` and `intents_dir`, with every check (near duplicates by
/// their words).
pub fn load(kb_dir: &Path, intents_dir: &Path) -> LoadReport {
    load_with_encoder(kb_dir, intents_dir, None)
}

/// Like [`load`], with near-duplicate questions compared by meaning where `encoder` reads
/// their language ([`similar::near_duplicate_questions`]).
pub fn load_with_encoder(
    kb_dir: &Path,
    intents_dir: &Path,
    encoder: Option<&Encoder>,
) -> LoadReport {
    load_checked(kb_dir, intents_dir, &Overlay::new(), Checks::All, encoder)
}

/// Files as they would be after an edit: path → new text, or `None` for a deleted file.
pub type Overlay = BTreeMap<PathBuf, Option<String>>;

/// Which checks [`load_overlaid`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    All,
    /// Everything but the similarity warnings (for validating one edit quickly).
    WithoutSimilarity,
}

/// Reads and validates the trees as if `overlay` had been applied: how an edit through the
/// API is checked before anything is written.
pub fn load_overlaid(
    kb_dir: &Path,
    intents_dir: &Path,
    overlay: &Overlay,
    checks: Checks,
) -> LoadReport {
    load_checked(kb_dir, intents_dir, overlay, checks, None)
}

fn load_checked(
    kb_dir: &Path,
    intents_dir: &Path,
    overlay: &Overlay,
    checks: Checks,
    encoder: Option<&Encoder>,
) -> LoadReport {
    let mut diagnostics = Vec::new();
    let mut content = Content::default();
    // Each intent's file and text, kept from the one read for the checks across files.
    let mut intent_sources: Vec<(PathBuf, String)> = Vec::new();
    let read = |path: &Path, diagnostics: &mut Vec<Diagnostic>| match overlay.get(path) {
        Some(Some(text)) => Some(text.clone()),
        _ => read_utf8(path, diagnostics),
    };

    for path in overlaid(files(kb_dir, &["md"], &mut diagnostics), kb_dir, overlay) {
        let Some(text) = read(&path, &mut diagnostics) else {
            continue;
        };
        match faq::parse_faq(&path, &text) {
            Ok(f) => content.faqs.push(f),
            Err(d) => diagnostics.extend(d),
        }
    }
    let actions_dir = intents_dir.join(ACTIONS_DIR);
    let rules_dir = intents_dir.join(RULES_DIR);
    let mut action_sources = Vec::new();
    let mut rule_sources = Vec::new();
    for path in overlaid(
        files(intents_dir, &["yaml", "yml"], &mut diagnostics),
        intents_dir,
        overlay,
    ) {
        let Some(text) = read(&path, &mut diagnostics) else {
            continue;
        };
        if path.starts_with(&actions_dir) {
            action_sources.push((path, text));
            continue;
        }
        if path.starts_with(&rules_dir) {
            rule_sources.push((path, text));
            continue;
        }
        match intent::parse_intent(&path, &text) {
            Ok((i, warnings)) => {
                diagnostics.extend(warnings);
                content.intents.push(i);
                intent_sources.push((path, text));
            }
            Err(d) => diagnostics.extend(d),
        }
    }
    if let Some(calls) = actions::load_actions(&action_sources, &mut diagnostics) {
        content.shop = calls;
        check_tasks(&content, &intent_sources, &mut diagnostics);
    }
    let folder = rules::load_rules(&rule_sources, &mut diagnostics);
    (
        content.rules,
        content.reception,
        content.wrap_up,
        content.words,
        content.welcome,
        content.quality,
    ) = (
        folder.triggers,
        folder.reception,
        folder.wrap_up,
        folder.words,
        folder.welcome,
        folder.quality,
    );
    content
        .welcome
        .check_faq_ids(&content.faqs, &mut diagnostics);
    check_faqs(&content.faqs, &mut diagnostics);
    check_intents(&content, &intent_sources, &mut diagnostics);
    if checks == Checks::All {
        similar::near_duplicate_questions(&content.faqs, encoder, &mut diagnostics);
        similar::confusable_examples(&content, &intent_sources, &mut diagnostics);
    }
    if content.intents.len() < 2 && diagnostics.iter().all(|d| !d.is_error()) {
        diagnostics.push(Diagnostic::error(
            intents_dir,
            None,
            "at least two intents are needed to train the classifier",
        ));
    }
    diagnostics.sort_by(|a, b| (&a.path, a.line, a.severity).cmp(&(&b.path, b.line, b.severity)));
    LoadReport {
        content,
        diagnostics,
    }
}

/// `paths` without the overlay's deletions, plus its new files under `dir`, sorted.
fn overlaid(mut paths: Vec<PathBuf>, dir: &Path, overlay: &Overlay) -> Vec<PathBuf> {
    paths.retain(|p| !matches!(overlay.get(p), Some(None)));
    for (p, text) in overlay {
        if text.is_some() && p.starts_with(dir) && !paths.contains(p) {
            paths.push(p.clone());
        }
    }
    paths.sort();
    paths
}

fn files(dir: &Path, extensions: &[&str], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    if !dir.is_dir() {
        diagnostics.push(Diagnostic::error(dir, None, "directory does not exist"));
        return Vec::new();
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                let path = e.path();
                let ext_ok = path
                    .extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| extensions.contains(&x));
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                // READMEs document a folder; editors' backup and hidden files are not content.
                let skipped = name.eq_ignore_ascii_case("readme.md") || name.starts_with('.');
                if ext_ok && !skipped {
                    out.push(path.to_path_buf());
                }
            }
            Ok(_) => {}
            Err(e) => diagnostics.push(Diagnostic::error(
                e.path().unwrap_or(dir),
                None,
                format!("cannot read: {e}"),
            )),
        }
    }
    out
}

fn read_utf8(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                diagnostics.push(Diagnostic::error(
                    path,
                    Some(line),
                    "the file is not valid UTF-8",
                ));
                None
            }
        },
        Err(e) => {
            diagnostics.push(Diagnostic::error(path, None, format!("cannot read: {e}")));
            None
        }
    }
}

pub(crate) fn faq_path(f: &Faq) -> PathBuf {
    f.source
        .as_ref()
        .map(|s| s.path.clone())
        .unwrap_or_default()
}

fn check_faqs(faqs: &[Faq], diagnostics: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<(&str, Lang), &Faq> = HashMap::new();
    let mut langs: BTreeMap<&str, Vec<&Faq>> = BTreeMap::new();
    for f in faqs {
        if let Some(first) = seen.insert((&f.id, f.lang), f) {
            diagnostics.push(Diagnostic::error(
                &faq_path(f),
                diagnostic::line_of(
                    &std::fs::read_to_string(faq_path(f)).unwrap_or_default(),
                    "id:",
                    1,
                ),
                format!(
                    "duplicate id {:?} ({}) : already used by {}",
                    f.id,
                    f.lang,
                    faq_path(first).display()
                ),
            ));
        }
        langs.entry(&f.id).or_default().push(f);
    }
    let ids: HashSet<&str> = faqs.iter().map(|f| f.id.as_str()).collect();
    for f in faqs {
        let answer_line = f.source.as_ref().map_or(0, |s| s.answer_line);
        for (offset, target) in faq::internal_links(&f.answer) {
            if !ids.contains(target.as_str()) {
                diagnostics.push(Diagnostic::error(
                    &faq_path(f),
                    Some(answer_line + offset),
                    format!("link to unknown FAQ {target:?}"),
                ));
            }
        }
    }
    for (id, variants) in langs {
        // What follows the answer is the shop's process, not wording: a shopper's language
        // must not decide whether a person takes over.
        if let [first, second, ..] = variants.as_slice()
            && first.handoff != second.handoff
        {
            let text = std::fs::read_to_string(faq_path(second)).unwrap_or_default();
            diagnostics.push(Diagnostic::error(
                &faq_path(second),
                diagnostic::line_of(&text, "handoff:", 1)
                    .or_else(|| diagnostic::line_of(&text, "id:", 1)),
                format!(
                    "FAQ {id:?}: handoff must be the same in both languages ({} says {}, this file {})",
                    faq_path(first).display(),
                    first.handoff.as_str(),
                    second.handoff.as_str(),
                ),
            ));
        }
        let has = |l: Lang| variants.iter().any(|f| f.lang == l);
        for (missing, present) in [(Lang::En, Lang::Zh), (Lang::Zh, Lang::En)] {
            if has(present) && !has(missing) {
                let f = variants[0];
                diagnostics.push(Diagnostic::warning(
                    &faq_path(f),
                    None,
                    format!("FAQ {id:?} has no {missing} variant: {missing} shoppers get no answer from it in their language"),
                ));
            }
        }
    }
}

/// The folder under `intents/` that holds the shop's declared calls.
pub const ACTIONS_DIR: &str = "actions";

/// The folder under `intents/` that holds the support lead's rules.
pub const RULES_DIR: &str = "rules";

fn check_tasks(
    content: &Content,
    sources: &[(PathBuf, String)],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut on_order_number = Vec::new();
    for (intent, (path, source)) in content.intents.iter().zip(sources) {
        if let Some(task) = &intent.task {
            task::check_task(path, source, task, &content.shop, diagnostics);
            for faq in &task.answer_faqs {
                if !content.faqs.iter().any(|f| &f.id == faq) {
                    diagnostics.push(Diagnostic::error(
                        path,
                        diagnostic::line_of(source, "answer_faqs:", 1),
                        format!("answer_faqs: no FAQ has id {faq:?}"),
                    ));
                }
            }
            if task.on_order_number {
                on_order_number.push((path, source, &intent.id));
            }
        }
    }
    if on_order_number.len() > 1 {
        for (path, source, id) in &on_order_number {
            diagnostics.push(Diagnostic::error(
                path,
                diagnostic::line_of(source, "on_order_number:", 1),
                format!("intent {id:?}: only one intent may start on a bare order number"),
            ));
        }
    }
}

fn check_intents(
    content: &Content,
    sources: &[(PathBuf, String)],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let faq_ids: HashSet<&str> = content.faqs.iter().map(|f| f.id.as_str()).collect();
    let mut example_owner: HashMap<String, &str> = HashMap::new();
    for (intent, (path, source)) in content.intents.iter().zip(sources) {
        for faq_id in &intent.faqs {
            if !faq_ids.contains(faq_id.as_str()) {
                diagnostics.push(Diagnostic::error(
                    path,
                    diagnostic::line_of(source, faq_id, 1),
                    format!("faqs: no FAQ has id {faq_id:?}"),
                ));
            }
        }
        for example in intent.examples.zh.iter().chain(&intent.examples.en) {
            let key = normalize(example);
            match example_owner.get(&key) {
                Some(owner) if *owner == intent.id => diagnostics.push(Diagnostic::warning(
                    path,
                    diagnostic::line_of(source, example.trim(), 1),
                    format!("example {example:?} appears twice"),
                )),
                Some(owner) => diagnostics.push(Diagnostic::error(
                    path,
                    diagnostic::line_of(source, example.trim(), 1),
                    format!("example {example:?} is also an example of intent {owner:?}: the classifier cannot learn both"),
                )),
                None => {
                    example_owner.insert(key, &intent.id);
                }
            }
        }
    }
    // Ids match file names, so a duplicate is `x.yaml` beside `x.yml`.
    let mut ids = HashSet::new();
    for (intent, (path, _)) in content.intents.iter().zip(sources) {
        if !ids.insert(&intent.id) {
            diagnostics.push(Diagnostic::error(
                path,
                Some(1),
                format!(
                    "duplicate intent id {:?} (another file has it too)",
                    intent.id
                ),
            ));
        }
    }
}

/// Reads FAQs from JSONL lines `{"id", "question", "answer", "lang", "alternates"?}` (the bulk
/// import and evaluation format). Errors name the line.
pub fn read_faq_jsonl(path: &Path) -> Result<Vec<Faq>, Vec<Diagnostic>> {
    #[derive(serde::Deserialize)]
    struct Line {
        id: String,
        question: String,
        #[serde(default)]
        answer: String,
        #[serde(default)]
        lang: Option<String>,
        #[serde(default)]
        alternates: Vec<String>,
        #[serde(default)]
        tags: Vec<String>,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![Diagnostic::error(path, None, format!("cannot read: {e}"))])?;
    let mut faqs = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(line) {
            Ok(l) => {
                let lang = l
                    .lang
                    .as_deref()
                    .and_then(Lang::from_locale)
                    .unwrap_or_else(|| Lang::detect(&l.question, Lang::En));
                faqs.push(Faq {
                    id: l.id,
                    lang,
                    question: l.question,
                    alternates: l.alternates,
                    tags: l.tags,
                    skill: None,
                    handoff: faq::FaqHandoff::None,
                    answer: l.answer,
                    source: None,
                });
            }
            Err(e) => problems.push(Diagnostic::error(path, Some(i + 1), e.to_string())),
        }
    }
    if problems.is_empty() {
        Ok(faqs)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn faq(id: &str, lang: &str, body: &str) -> String {
        format!(
            "---\nid: {id}\nlang: {lang}\nquestion: q {id} {lang}\nalternates: []\ntags: []\n---\n{body}\n"
        )
    }

    fn intent(id: &str, example: &str, faqs: &str) -> String {
        format!(
            "id: {id}\naction: faq\nskill: general\nfaqs: [{faqs}]\nexamples:\n  zh: [\"{example}中文\"]\n  en: [\"{example}\"]\nreplies:\n  zh: 好\n  en: ok\n"
        )
    }

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "kb/a.zh.md", &faq("a", "zh", "见 [b](b)"));
        write(d.path(), "kb/a.en.md", &faq("a", "en", "see b"));
        write(d.path(), "kb/b.zh.md", &faq("b", "zh", "答案"));
        write(d.path(), "kb/b.en.md", &faq("b", "en", "answer"));
        write(d.path(), "kb/README.md", "not a FAQ");
        write(d.path(), "intents/one.yaml", &intent("one", "first", "a"));
        write(d.path(), "intents/two.yaml", &intent("two", "second", "b"));
        d
    }

    #[test]
    fn out_of_scope_examples_train_the_reserved_label() {
        let d = tree();
        write(
            d.path(),
            "intents/chitchat.yaml",
            "id: chitchat\naction: out_of_scope\nskill: general\nexamples:\n  zh: [今天天气怎么样]\n  en: [tell me a joke]\n",
        );
        let report = load(&d.path().join("kb"), &d.path().join("intents"));
        assert!(!report.has_errors(), "{:?}", report.diagnostics);
        let data = report.content.training_data();
        let oos: Vec<&str> = data
            .iter()
            .filter(|t| t.label == crate::nlu::OOS_LABEL)
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(oos, ["今天天气怎么样", "tell me a joke"]);
        assert!(data.iter().all(|t| t.label != "chitchat"));
    }

    #[test]
    fn a_clean_tree_loads() {
        let d = tree();
        let r = load(&d.path().join("kb"), &d.path().join("intents"));
        assert!(!r.has_errors(), "{:?}", r.diagnostics);
        assert_eq!(r.content.faqs.len(), 4);
        assert_eq!(r.content.intents.len(), 2);
        assert_eq!(r.content.training_data().len(), 4);
    }

    #[test]
    fn cross_file_problems_are_reported_with_places() {
        let d = tree();
        write(
            d.path(),
            "kb/dup.zh.md",
            &faq("a", "zh", "again\n\nsee [x](missing-one)"),
        );
        write(
            d.path(),
            "kb/solo.zh.md",
            &faq("solo", "zh", "only chinese"),
        );
        write(
            d.path(),
            "intents/three.yaml",
            &intent("three", "first", "nope"),
        );
        let r = load(&d.path().join("kb"), &d.path().join("intents"));
        let text: Vec<String> = r.diagnostics.iter().map(|d| d.to_string()).collect();
        let has = |s: &str| text.iter().any(|t| t.contains(s));
        assert!(has("dup.zh.md:2: error: duplicate id \"a\""), "{text:#?}");
        assert!(
            has("dup.zh.md:10: error: link to unknown FAQ \"missing-one\""),
            "{text:#?}"
        );
        assert!(
            has("solo.zh.md: warning: FAQ \"solo\" has no en variant"),
            "{text:#?}"
        );
        assert!(
            has("three.yaml:4: error: faqs: no FAQ has id \"nope\""),
            "{text:#?}"
        );
        assert!(has("also an example of intent \"one\""), "{text:#?}");
    }

    #[test]
    fn a_faq_must_hand_over_the_same_way_in_both_languages() {
        let d = tree();
        let en = faq("b", "en", "answer").replace("lang: en\n", "lang: en\nhandoff: always\n");
        write(d.path(), "kb/b.en.md", &en);
        let r = load(&d.path().join("kb"), &d.path().join("intents"));
        let text: Vec<String> = r.errors().map(|d| d.to_string()).collect();
        assert_eq!(text.len(), 1, "{text:#?}");
        assert!(
            text[0].contains("b.zh.md:2: error: FAQ \"b\": handoff must be the same")
                && text[0].contains("says always, this file none"),
            "{text:#?}"
        );
        let zh = faq("b", "zh", "答案").replace("lang: zh\n", "lang: zh\nhandoff: always\n");
        write(d.path(), "kb/b.zh.md", &zh);
        let r = load(&d.path().join("kb"), &d.path().join("intents"));
        assert!(!r.has_errors(), "{:?}", r.diagnostics);
        assert!(
            r.content
                .faqs
                .iter()
                .filter(|f| f.id == "b")
                .all(|f| f.handoff == faq::FaqHandoff::Always)
        );
    }

    #[test]
    fn invalid_utf8_and_missing_dirs_are_errors() {
        let d = tree();
        fs::write(d.path().join("kb/bad.zh.md"), b"---\nid: x\n\xff\xfe\n").unwrap();
        let r = load(&d.path().join("kb"), &d.path().join("nowhere"));
        let text: Vec<String> = r.errors().map(|d| d.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("bad.zh.md:3: error: the file is not valid UTF-8")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("nowhere: error: directory does not exist")),
            "{text:#?}"
        );
    }
}
