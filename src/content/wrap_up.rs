//! Wrap-up categories: what an agent files a resolved conversation under,
//! `intents/rules/wrap-up.yaml`.
//!
//! ```text
//! wrap-up.yaml ─► serde ─► checks (ids, labels, duplicates) ─► WrapUpCategories, or
//!   diagnostics with file:line;  the desk checks a resolve's category against it
//! ```
//!
//! `required: true` refuses to resolve without a category. The statistics count resolved
//! conversations per category.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::diagnostic::{Diagnostic, line_of, parse_yaml_file, unify_line_breaks};
use super::faq::check_id;

/// The wrap-up file, under the rules folder of `intents/`.
pub const WRAP_UP_FILE: &str = "wrap-up.yaml";

/// The categories an agent may pick, in file order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WrapUpCategories {
    /// Resolving needs a category.
    pub required: bool,
    pub categories: Vec<WrapUpCategory>,
}

/// One category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrapUpCategory {
    pub id: String,
    /// What agents see (default the id).
    #[serde(default)]
    pub label: String,
}

impl WrapUpCategories {
    pub fn knows(&self, id: &str) -> bool {
        self.categories.iter().any(|c| c.id == id)
    }

    /// The ids, for error messages.
    pub fn ids(&self) -> Vec<&str> {
        self.categories.iter().map(|c| c.id.as_str()).collect()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrapUpFile {
    #[serde(default)]
    required: bool,
    #[serde(default)]
    categories: Vec<WrapUpCategory>,
}

/// Parses and checks `wrap-up.yaml`.
pub fn parse_wrap_up(path: &Path, source: &str) -> Result<WrapUpCategories, Vec<Diagnostic>> {
    let source = &*unify_line_breaks(source);
    let file: WrapUpFile = parse_yaml_file(path, source)?;
    let mut problems = Vec::new();
    let mut categories: Vec<WrapUpCategory> = Vec::new();
    for mut c in file.categories {
        let line = line_of(source, &format!("id: {}", c.id), 1);
        problems.extend(check_id(path, line, "category id", &c.id));
        if categories.iter().any(|seen| seen.id == c.id) {
            problems.push(Diagnostic::error(
                path,
                line,
                format!("category {:?} is listed twice", c.id),
            ));
        }
        c.label = c.label.trim().to_string();
        if c.label.is_empty() {
            c.label = c.id.clone();
        }
        categories.push(c);
    }
    if file.required && categories.is_empty() {
        problems.push(Diagnostic::error(
            path,
            line_of(source, "required:", 1),
            "required: true needs at least one category",
        ));
    }
    if problems.is_empty() {
        Ok(WrapUpCategories {
            required: file.required,
            categories,
        })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_parse_and_mistakes_name_their_line() {
        let good = "required: true\ncategories:\n  - id: refund\n    label: 退款 / Refund\n  - id: other\n";
        let w = parse_wrap_up(Path::new("wrap-up.yaml"), good).unwrap();
        assert!(w.required && w.knows("refund") && !w.knows("x"));
        assert_eq!(w.categories[1].label, "other");
        assert_eq!(w.ids(), ["refund", "other"]);

        let bad =
            "required: true\ncategories:\n  - id: refund\n  - id: Refund Later\n  - id: refund\n";
        let d = parse_wrap_up(Path::new("wrap-up.yaml"), bad).unwrap_err();
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("wrap-up.yaml:4: error: category id \"Refund Later\"")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("\"refund\" is listed twice")),
            "{text:#?}"
        );
        let empty = parse_wrap_up(Path::new("wrap-up.yaml"), "required: true\n").unwrap_err();
        assert_eq!(empty[0].line, Some(1));
        assert_eq!(
            parse_wrap_up(Path::new("w.yaml"), "").unwrap(),
            WrapUpCategories::default()
        );
    }
}
