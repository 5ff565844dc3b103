//! Problems found in content files, with where they are: what `baton lint` prints and what
//! start-up refuses to serve.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn error(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.to_path_buf(),
            line,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(path, line, message)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `path:line: error: message`, the shape editors and CI annotate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.line {
            Some(line) => write!(
                f,
                "{}:{}: {kind}: {}",
                self.path.display(),
                line,
                self.message
            ),
            None => write!(f, "{}: {kind}: {}", self.path.display(), self.message),
        }
    }
}

/// The 1-based line of the first line in `source` at or after `from_line` that contains
/// `needle`; used to point at a value found wrong after parsing.
pub fn line_of(source: &str, needle: &str, from_line: usize) -> Option<usize> {
    source
        .lines()
        .enumerate()
        .skip(from_line.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
}

/// `source` with every line break written `\n`. A CR on its own is a line break to YAML and
/// to editors but not to `str::lines`; unified first, the line numbers counted here, by
/// YAML and in the editor agree, and a saved file reads back the same.
pub fn unify_line_breaks(source: &str) -> Cow<'_, str> {
    if source.contains('\r') {
        Cow::Owned(source.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(source)
    }
}

/// A whole YAML file (its line breaks already unified) read into `T`: an empty file is
/// `T::default()`, a YAML or shape error one diagnostic at its line.
pub fn parse_yaml_file<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
    source: &str,
) -> Result<T, Vec<Diagnostic>> {
    if source.trim().is_empty() {
        return Ok(T::default());
    }
    serde_norway::from_str(source).map_err(|e| {
        let (line, message) = yaml_error(&e, source, 1);
        vec![Diagnostic::error(path, line, message)]
    })
}

/// A YAML error's message without serde's trailing "at line N column M", and its line in
/// the file: `yaml` is the text that was parsed, starting at the file's line `first_line`.
///
/// The line is counted from the error's byte offset rather than taken from YAML, which
/// also breaks lines at U+0085, U+2028 and U+2029 and would point past the lines an
/// editor shows.
pub fn yaml_error(
    err: &serde_norway::Error,
    yaml: &str,
    first_line: usize,
) -> (Option<usize>, String) {
    let line = err.location().map(|at| {
        let before = &yaml.as_bytes()[..at.index().min(yaml.len())];
        first_line + before.iter().filter(|&&b| b == b'\n').count()
    });
    (line, without_positions(&err.to_string()))
}

/// `text` without the " at line N column M" that YAML puts after the problem and after its
/// context: the diagnostic carries the line, counted as the editor counts.
fn without_positions(text: &str) -> String {
    const AT: &str = " at line ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(AT) {
        out.push_str(&rest[..i]);
        let after = &rest[i + AT.len()..];
        let line_digits =
            after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let tail = after[line_digits..]
            .strip_prefix(" column ")
            .filter(|_| line_digits > 0);
        match tail {
            Some(tail) => {
                rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
            }
            None => {
                out.push_str(AT);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_path_line_message() {
        let d = Diagnostic::error(Path::new("kb/a.md"), Some(3), "empty answer");
        assert_eq!(d.to_string(), "kb/a.md:3: error: empty answer");
        let w = Diagnostic::warning(Path::new("kb/a.md"), None, "x");
        assert_eq!(w.to_string(), "kb/a.md: warning: x");
    }

    #[test]
    fn finds_lines() {
        let s = "a\nid: x\nq: y\nid: z";
        assert_eq!(line_of(s, "id:", 1), Some(2));
        assert_eq!(line_of(s, "id:", 3), Some(4));
        assert_eq!(line_of(s, "nope", 1), None);
    }

    #[test]
    fn every_line_break_becomes_a_newline() {
        assert_eq!(unify_line_breaks("a\r\nb\rc\r\r\nd\n"), "a\nb\nc\n\nd\n");
        assert!(matches!(unify_line_breaks("a\nb"), Cow::Borrowed(_)));
    }

    #[test]
    fn yaml_lines_are_the_lines_an_editor_shows() {
        // YAML counts U+2028 as a line break; an editor does not.
        let yaml = "a: \"x\u{2028}y\"\nb: [unclosed\n";
        let err = serde_norway::from_str::<serde_norway::Value>(yaml).unwrap_err();
        let (line, message) = yaml_error(&err, yaml, 5);
        assert_eq!(line, Some(7), "{err}");
        assert!(!message.contains(" at line "), "{message}");
        assert!(
            message.contains("while parsing a flow sequence"),
            "{message}"
        );
    }

    #[test]
    fn positions_are_taken_out_of_yaml_messages() {
        assert_eq!(
            without_positions("bad at line 4 column 1, while parsing x at line 2 column 13"),
            "bad, while parsing x"
        );
        assert_eq!(
            without_positions("a value at line one"),
            "a value at line one"
        );
        assert_eq!(without_positions("ends at line "), "ends at line ");
    }
}
