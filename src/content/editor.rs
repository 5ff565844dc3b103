//! Editing FAQs through the admin API, in the very files git editors use: one FAQ in one
//! language per `kb/**/<id>.<lang>.md` file, front matter + Markdown, so API and git editors
//! share a KB.
//!
//! Every write is checked before anything touches the disk: the new file must parse, and the
//! whole tree with the edit applied (an [`Overlay`]) must not gain an error (a duplicate id, a
//! link to a deleted FAQ). Concurrency is optimistic: each file's ETag is a hash of its bytes;
//! an update or delete must name the ETag it read (`If-Match`), and a stale one is refused
//! with [`EditError::Stale`], so nobody's edit is overwritten — a git editor's included.
//! Writes are serialised by one lock and land atomically (temp file + rename).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::diagnostic::unify_line_breaks;
use super::faq::{Faq, FaqHandoff, is_valid_id, parse_faq};
use super::{Checks, Diagnostic, Overlay, load_overlaid};
use crate::nlu::Lang;

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Invalid(String, Vec<Diagnostic>),
    #[error("no FAQ {id:?} in {lang}")]
    NotFound { id: String, lang: Lang },
    #[error("{0}")]
    Stale(String),
    #[error("updating or deleting an FAQ needs the If-Match header with the ETag it was read with")]
    PreconditionRequired,
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An FAQ as the API reads and writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaqDoc {
    pub question: String,
    #[serde(default)]
    pub alternates: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub skill: Option<String>,
    /// What follows the answer (`none`, `offer`, `always`, `notify`).
    #[serde(default, skip_serializing_if = "FaqHandoff::is_none")]
    pub handoff: FaqHandoff,
    pub answer: String,
    /// The folder under `kb/` for a new FAQ (default: where its other language is, else
    /// `general`). Ignored for existing files, which stay where they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

impl FaqDoc {
    pub fn of(faq: &Faq) -> FaqDoc {
        FaqDoc {
            question: faq.question.clone(),
            alternates: faq.alternates.clone(),
            tags: faq.tags.clone(),
            skill: faq.skill.clone(),
            handoff: faq.handoff,
            answer: faq.answer.clone(),
            category: None,
        }
    }
}

/// The front matter, in the order editors write it.
#[derive(Serialize)]
struct FrontMatter<'a> {
    id: &'a str,
    lang: &'a str,
    question: &'a str,
    alternates: &'a [String],
    tags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    skill: Option<&'a str>,
    #[serde(skip_serializing_if = "FaqHandoff::is_none")]
    handoff: FaqHandoff,
}

/// The file text of an FAQ.
pub fn render(id: &str, lang: Lang, doc: &FaqDoc) -> String {
    let front = FrontMatter {
        id,
        lang: lang.code(),
        question: doc.question.trim(),
        alternates: &doc.alternates,
        tags: &doc.tags,
        skill: doc.skill.as_deref(),
        handoff: doc.handoff,
    };
    // Serialising a struct of strings cannot fail.
    let mut yaml = serde_norway::to_string(&front).unwrap_or_default();
    // The emitter counts U+2028 and U+0085 as line breaks, so a value ending in one can end
    // the YAML without a newline, and the closing `---` would join that line.
    if !yaml.ends_with('\n') {
        yaml.push('\n');
    }
    // Line breaks as the parser reads them, so the file reads back as it was written.
    let answer = unify_line_breaks(doc.answer.trim());
    format!("---\n{yaml}---\n{answer}\n")
}

/// The ETag of a file's bytes (quoted, as HTTP sends it).
pub fn etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The support lead's files under `intents/rules/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesFile {
    Triggers,
    Reception,
    WrapUp,
    Words,
    Welcome,
    Quality,
}

impl RulesFile {
    /// By the name the API uses (`triggers`, `reception`).
    pub fn named(name: &str) -> Option<RulesFile> {
        match name {
            "triggers" => Some(RulesFile::Triggers),
            "reception" => Some(RulesFile::Reception),
            "wrap-up" => Some(RulesFile::WrapUp),
            "words" => Some(RulesFile::Words),
            "welcome" => Some(RulesFile::Welcome),
            "quality" => Some(RulesFile::Quality),
            _ => None,
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            RulesFile::Triggers => super::rules::TRIGGERS_FILE,
            RulesFile::Reception => super::reception::RECEPTION_FILE,
            RulesFile::WrapUp => super::wrap_up::WRAP_UP_FILE,
            RulesFile::Words => super::words::WORDS_FILE,
            RulesFile::Welcome => super::welcome::WELCOME_FILE,
            RulesFile::Quality => super::quality::QUALITY_FILE,
        }
    }

    /// The file's own checks, as `baton lint` runs them.
    fn check(self, path: &Path, text: &str) -> Result<(), Vec<Diagnostic>> {
        match self {
            RulesFile::Triggers => super::rules::parse_triggers(path, text).map(drop),
            RulesFile::Reception => super::reception::parse_reception(path, text).map(drop),
            RulesFile::WrapUp => super::wrap_up::parse_wrap_up(path, text).map(drop),
            RulesFile::Words => super::words::parse_words(path, text).map(drop),
            RulesFile::Welcome => super::welcome::parse_welcome(path, text).map(drop),
            RulesFile::Quality => super::quality::parse_quality(path, text).map(drop),
        }
    }
}

/// What the client said it last saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Nothing: allowed only for creating.
    None,
    /// `If-Match`: the file must still have this ETag (`*`: must exist).
    Matches(String),
    /// `If-None-Match: *`: the FAQ must not exist yet.
    Absent,
}

/// An FAQ file as it is on disk.
#[derive(Debug, Clone)]
pub struct FaqFile {
    pub faq: Faq,
    pub path: PathBuf,
    pub etag: String,
}

/// The outcome of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub etag: String,
    pub created: bool,
}

/// Reads and writes FAQ files under one `kb/` (checked against one `intents/`).
#[derive(Debug)]
pub struct Editor {
    kb: PathBuf,
    intents: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl Editor {
    pub fn new(kb: PathBuf, intents: PathBuf) -> Editor {
        Editor {
            kb,
            intents,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The file of FAQ `id` in `lang`, read from disk now (not from the served snapshot,
    /// which may be a reload behind). `hint` is where the snapshot last saw it.
    pub fn find(&self, id: &str, lang: Lang, hint: Option<&Path>) -> Option<FaqFile> {
        // The FAQ files exactly as a load sees them; a missing kb/ is simply no FAQ here.
        let files = super::files(&self.kb, &["md"], &mut Vec::new());
        let name = format!("{id}.{}.md", lang.code());
        let conventional = files
            .iter()
            .filter(|p| p.file_name().and_then(|n| n.to_str()) == Some(name.as_str()));
        hint.into_iter()
            .chain(conventional.map(PathBuf::as_path))
            .find_map(|p| self.read_if(p, id, lang))
            // A file named otherwise: look inside every file.
            .or_else(|| files.iter().find_map(|p| self.read_if(p, id, lang)))
    }

    /// `path` as editors know it: relative to the folder that holds `kb/`.
    pub fn shown(&self, path: &Path) -> PathBuf {
        let base = self.kb.parent().unwrap_or(&self.kb);
        path.strip_prefix(base).unwrap_or(path).to_path_buf()
    }

    /// Diagnostics with their paths [`shown`](Self::shown).
    fn relative(&self, diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
        diagnostics
            .into_iter()
            .map(|mut d| {
                d.path = self.shown(&d.path);
                d
            })
            .collect()
    }

    fn read_if(&self, path: &Path, id: &str, lang: Lang) -> Option<FaqFile> {
        let bytes = std::fs::read(path).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let faq = parse_faq(path, text).ok()?;
        (faq.id == id && faq.lang == lang).then(|| FaqFile {
            faq,
            path: path.to_path_buf(),
            etag: etag(&bytes),
        })
    }

    /// Creates or replaces FAQ `id` in `lang`.
    pub async fn put(
        &self,
        id: &str,
        lang: Lang,
        doc: &FaqDoc,
        precondition: &Precondition,
        hint: Option<&Path>,
    ) -> Result<Written, EditError> {
        if !is_valid_id(id) {
            return Err(EditError::Invalid(
                format!("id {id:?} must be lower-case letters, digits, '-', '_' or '.'"),
                vec![],
            ));
        }
        let _one_writer = self.lock.lock().await;
        let current = self.find(id, lang, hint);
        check_precondition(
            current.as_ref().map(|f| f.etag.as_str()),
            precondition,
            &format!("FAQ {id:?} ({lang})"),
        )?;
        let path = match &current {
            Some(f) => f.path.clone(),
            None => self.new_path(id, lang, doc.category.as_deref())?,
        };
        let text = render(id, lang, doc);
        parse_faq(&path, &text)
            .map_err(|d| EditError::Invalid("the FAQ is not valid".into(), self.relative(d)))?;
        self.check_tree(Overlay::from([(path.clone(), Some(text.clone()))]))?;
        write_atomically(&path, text.as_bytes())?;
        Ok(Written {
            path,
            etag: etag(text.as_bytes()),
            created: current.is_none(),
        })
    }

    /// Deletes FAQ `id` in `lang`; refused when another FAQ or an intent still points at it.
    pub async fn delete(
        &self,
        id: &str,
        lang: Lang,
        precondition: &Precondition,
        hint: Option<&Path>,
    ) -> Result<PathBuf, EditError> {
        let _one_writer = self.lock.lock().await;
        let current = self.find(id, lang, hint).ok_or(EditError::NotFound {
            id: id.to_string(),
            lang,
        })?;
        if *precondition == Precondition::None {
            return Err(EditError::PreconditionRequired);
        }
        check_precondition(
            Some(&current.etag),
            precondition,
            &format!("FAQ {id:?} ({lang})"),
        )?;
        self.check_tree(Overlay::from([(current.path.clone(), None)]))?;
        std::fs::remove_file(&current.path).map_err(|source| EditError::Io {
            path: current.path.clone(),
            source,
        })?;
        Ok(current.path)
    }

    /// Where a rules file lives (`intents/rules/<file>`).
    pub fn rules_path(&self, file: RulesFile) -> PathBuf {
        self.intents.join(super::RULES_DIR).join(file.file_name())
    }

    /// A rules file as it is on disk now, with its ETag; `None` when there is none.
    pub fn read_rules(&self, file: RulesFile) -> Result<Option<(String, String)>, EditError> {
        let path = self.rules_path(file);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let tag = etag(&bytes);
                let text = String::from_utf8(bytes).map_err(|_| {
                    EditError::Invalid("the rules file is not valid UTF-8".into(), vec![])
                })?;
                Ok(Some((text, tag)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(EditError::Io { path, source }),
        }
    }

    /// Replaces (or creates) a rules file with `text`, after checking it alone and with the
    /// rest of the tree.
    pub async fn put_rules(
        &self,
        file: RulesFile,
        text: &str,
        precondition: &Precondition,
    ) -> Result<Written, EditError> {
        let _one_writer = self.lock.lock().await;
        let path = self.rules_path(file);
        let current = self.read_rules(file)?;
        check_precondition(
            current.as_ref().map(|(_, tag)| tag.as_str()),
            precondition,
            &format!("{}", self.shown(&path).display()),
        )?;
        file.check(&path, text)
            .map_err(|d| EditError::Invalid("the rules are not valid".into(), self.relative(d)))?;
        self.check_tree(Overlay::from([(path.clone(), Some(text.to_string()))]))?;
        write_atomically(&path, text.as_bytes())?;
        Ok(Written {
            path,
            etag: etag(text.as_bytes()),
            created: current.is_none(),
        })
    }

    /// Refuses an edit that would add errors to the tree (errors already there are an
    /// editor's work in progress and do not block unrelated edits).
    fn check_tree(&self, overlay: Overlay) -> Result<(), EditError> {
        let before: HashSet<String> = load_overlaid(
            &self.kb,
            &self.intents,
            &Overlay::new(),
            Checks::WithoutSimilarity,
        )
        .errors()
        .map(|d| d.to_string())
        .collect();
        let after = load_overlaid(&self.kb, &self.intents, &overlay, Checks::WithoutSimilarity);
        let new: Vec<Diagnostic> = after
            .errors()
            .filter(|d| !before.contains(&d.to_string()))
            .cloned()
            .collect();
        if new.is_empty() {
            Ok(())
        } else {
            Err(EditError::Invalid(
                "the edit would break the knowledge base".into(),
                self.relative(new),
            ))
        }
    }

    fn new_path(&self, id: &str, lang: Lang, category: Option<&str>) -> Result<PathBuf, EditError> {
        let folder = match category {
            Some(c) => {
                let ok = c.split('/').all(is_valid_id);
                if !ok {
                    return Err(EditError::Invalid(
                        format!(
                            "category {c:?} must be folder names of lower-case letters, digits, '-', '_' or '.'"
                        ),
                        vec![],
                    ));
                }
                self.kb.join(c)
            }
            // Beside the FAQ's other language, so both variants live together.
            None => self
                .find(id, other(lang), None)
                .and_then(|f| f.path.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| self.kb.join("general")),
        };
        Ok(folder.join(format!("{id}.{}.md", lang.code())))
    }
}

fn other(lang: Lang) -> Lang {
    match lang {
        Lang::Zh => Lang::En,
        Lang::En => Lang::Zh,
    }
}

fn check_precondition(
    current_etag: Option<&str>,
    precondition: &Precondition,
    what: &str,
) -> Result<(), EditError> {
    match (current_etag, precondition) {
        (None, Precondition::None | Precondition::Absent) => Ok(()),
        (None, Precondition::Matches(_)) => Err(EditError::Stale(format!(
            "{what} was deleted since you read it"
        ))),
        (Some(_), Precondition::Absent) => Err(EditError::Stale(format!("{what} already exists"))),
        (Some(_), Precondition::None) => Err(EditError::PreconditionRequired),
        (Some(etag), Precondition::Matches(tag)) if tag == "*" || tag == etag => Ok(()),
        (Some(etag), Precondition::Matches(_)) => Err(EditError::Stale(format!(
            "{what} changed since you read it (now {etag}); read it again and redo your edit"
        ))),
    }
}

/// Writes via a hidden temp file in the same folder and a rename: readers (the watcher, git)
/// see the old file or the new one, never half of it. Hidden files are not content.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), EditError> {
    let io = |source| EditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".baton-edit-")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_files_parse_back_to_the_same_faq() {
        let doc = FaqDoc {
            question: "Can I pay with PayPal?".into(),
            alternates: vec!["paypal ok?".into(), "\"quoted\": yes".into()],
            tags: vec!["payments".into()],
            skill: Some("payments".into()),
            handoff: FaqHandoff::Notify,
            answer: "Yes — at checkout.\n\n- step one".into(),
            category: None,
        };
        let text = render("pay-paypal", Lang::En, &doc);
        let faq = parse_faq(Path::new("kb/p.en.md"), &text).unwrap();
        assert_eq!(FaqDoc::of(&faq), doc);
        assert_eq!((faq.id.as_str(), faq.lang), ("pay-paypal", Lang::En));
    }

    #[test]
    fn answers_are_written_with_the_line_breaks_they_read_back_with() {
        let doc = FaqDoc {
            question: "q".into(),
            alternates: vec![],
            tags: vec![],
            skill: None,
            handoff: FaqHandoff::None,
            answer: "line one\r\nline two\rline three".into(),
            category: None,
        };
        let text = render("crlf", Lang::En, &doc);
        assert!(!text.contains('\r'), "{text:?}");
        let faq = parse_faq(Path::new("kb/crlf.en.md"), &text).unwrap();
        assert_eq!(faq.answer, "line one\nline two\nline three");
    }

    #[test]
    fn etags_change_with_content() {
        assert_eq!(etag(b"a"), etag(b"a"));
        assert_ne!(etag(b"a"), etag(b"b"));
        assert!(etag(b"a").starts_with('"'));
    }
}
