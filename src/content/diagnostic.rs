//! Problems found in content files, with where they are: what `baton lint` prints and what
//! start-up refuses to serve.

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

/// A YAML error's message without serde's trailing "at line N column M", and its line.
pub fn yaml_error(err: &serde_norway::Error, first_line: usize) -> (Option<usize>, String) {
    let line = err.location().map(|l| l.line() + first_line - 1);
    let text = err.to_string();
    let message = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    (line, message)
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
}
