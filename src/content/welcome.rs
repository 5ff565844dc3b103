//! The welcome card ("猜你想问" / "You may want to ask"): `intents/rules/welcome.yaml`.
//!
//! ```text
//! welcome.yaml ─► serde ─► checks (size, days, FAQ ids exist) ─► Welcome
//! Welcome + the most answered FAQs of the last `days` ─► card(lang, page) ─► the widget's
//!   buttons; "show others" is the next page
//! ```
//!
//! `source: popular` (the default) fills the card with the FAQs the bot answered most over
//! the last `days`, topped up from `questions` while there is too little traffic;
//! `source: configured` shows `questions` only, in file order. `exclude` keeps FAQs off a
//! popular card (a greeting, the FAQ about talking to a person).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::diagnostic::{Diagnostic, line_of, parse_yaml_file, unify_line_breaks};
use super::faq::Faq;
use crate::nlu::Lang;

/// The welcome card file, under the rules folder of `intents/`.
pub const WELCOME_FILE: &str = "welcome.yaml";

/// Most questions one card shows.
const MAX_SIZE: u32 = 8;

/// Where the card's questions come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WelcomeSource {
    #[default]
    Popular,
    Configured,
}

/// The card's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Welcome {
    /// Questions per card.
    pub size: u32,
    pub source: WelcomeSource,
    /// The period a popular card counts answers over.
    pub days: u32,
    /// FAQ ids, in order.
    pub questions: Vec<String>,
    pub exclude: Vec<String>,
    /// Where each id of `questions` and `exclude` is written, for the cross-file check.
    lines: Vec<(String, Option<usize>)>,
    path: PathBuf,
}

impl Default for Welcome {
    fn default() -> Self {
        Welcome {
            size: 4,
            source: WelcomeSource::Popular,
            days: 7,
            questions: Vec::new(),
            exclude: Vec::new(),
            lines: Vec::new(),
            path: PathBuf::new(),
        }
    }
}

/// One button of the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CardQuestion {
    pub faq_id: String,
    /// The FAQ's question in the card's language: what a tap sends.
    pub text: String,
}

/// One page of the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Card {
    pub questions: Vec<CardQuestion>,
    /// This page, from 0.
    pub page: u32,
    /// How many pages there are: "show others" goes to `(page + 1) % pages`.
    pub pages: u32,
}

impl Welcome {
    /// The card's page `page` (wrapping) in `lang`: `popular` are FAQ ids, most answered
    /// first. FAQs without a question in `lang` are skipped.
    pub fn card(&self, faqs: &[Faq], popular: &[String], lang: Lang, page: u32) -> Card {
        let mut ids: Vec<&str> = Vec::new();
        if self.source == WelcomeSource::Popular {
            ids.extend(
                popular
                    .iter()
                    .map(String::as_str)
                    .filter(|id| !self.exclude.iter().any(|x| x == id)),
            );
        }
        for id in &self.questions {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
        let questions: Vec<CardQuestion> = ids
            .into_iter()
            .filter_map(|id| {
                faqs.iter()
                    .find(|f| f.id == id && f.lang == lang)
                    .map(|f| CardQuestion {
                        faq_id: f.id.clone(),
                        text: f.question.clone(),
                    })
            })
            .collect();
        let size = self.size.max(1) as usize;
        let pages = questions.len().div_ceil(size).max(1) as u32;
        let page = page % pages;
        Card {
            questions: questions
                .into_iter()
                .skip(page as usize * size)
                .take(size)
                .collect(),
            page,
            pages,
        }
    }

    /// Every FAQ id the file names must exist (in some language).
    pub fn check_faq_ids(&self, faqs: &[Faq], diagnostics: &mut Vec<Diagnostic>) {
        for (id, line) in &self.lines {
            if !faqs.iter().any(|f| &f.id == id) {
                diagnostics.push(Diagnostic::error(
                    &self.path,
                    *line,
                    format!("no FAQ has the id {id:?}"),
                ));
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WelcomeFile {
    #[serde(default = "four")]
    size: u32,
    #[serde(default)]
    source: WelcomeSource,
    #[serde(default = "seven")]
    days: u32,
    #[serde(default)]
    questions: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

impl Default for WelcomeFile {
    fn default() -> Self {
        WelcomeFile {
            size: four(),
            source: WelcomeSource::default(),
            days: seven(),
            questions: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

fn four() -> u32 {
    4
}

fn seven() -> u32 {
    7
}

/// Parses and checks `welcome.yaml` (FAQ ids are checked against the FAQs by
/// [`Welcome::check_faq_ids`] once everything is loaded).
pub fn parse_welcome(path: &Path, source: &str) -> Result<Welcome, Vec<Diagnostic>> {
    let source = &*unify_line_breaks(source);
    let file: WelcomeFile = parse_yaml_file(path, source)?;
    let mut problems = Vec::new();
    if !(1..=MAX_SIZE).contains(&file.size) {
        problems.push(Diagnostic::error(
            path,
            line_of(source, "size:", 1),
            format!("size must be 1–{MAX_SIZE} questions"),
        ));
    }
    if !(1..=90).contains(&file.days) {
        problems.push(Diagnostic::error(
            path,
            line_of(source, "days:", 1),
            "days must be 1–90",
        ));
    }
    if file.source == WelcomeSource::Configured && file.questions.is_empty() {
        problems.push(Diagnostic::error(
            path,
            line_of(source, "source:", 1),
            "source: configured needs questions (FAQ ids)",
        ));
    }
    let mut lines = Vec::new();
    for (field, ids) in [("questions:", &file.questions), ("exclude:", &file.exclude)] {
        let start = line_of(source, field, 1).unwrap_or(1);
        for id in ids {
            let line = line_of(source, id, start).or(Some(start));
            if ids.iter().filter(|x| *x == id).count() > 1 && !lines.iter().any(|(x, _)| x == id) {
                problems.push(Diagnostic::error(
                    path,
                    line,
                    format!("{id:?} is listed twice"),
                ));
            }
            lines.push((id.clone(), line));
        }
    }
    if problems.is_empty() {
        Ok(Welcome {
            size: file.size,
            source: file.source,
            days: file.days,
            questions: file.questions,
            exclude: file.exclude,
            lines,
            path: path.to_path_buf(),
        })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faqs() -> Vec<Faq> {
        let mut all = Vec::new();
        for (id, zh, en) in [
            ("order-status", "我的订单到哪了", "Where is my order?"),
            (
                "refund-time",
                "退款多久到账",
                "How long does a refund take?",
            ),
            ("invoice", "怎么开发票", "How do I get an invoice?"),
            ("greeting", "你好", "Hello"),
        ] {
            all.push(Faq::plain(id, Lang::Zh, zh));
            all.push(Faq::plain(id, Lang::En, en));
        }
        all.push(Faq::plain("zh-only", Lang::Zh, "只有中文"));
        all
    }

    fn parse(text: &str) -> Result<Welcome, Vec<Diagnostic>> {
        parse_welcome(Path::new("intents/rules/welcome.yaml"), text)
    }

    #[test]
    fn a_popular_card_puts_the_most_answered_first_and_tops_up_from_the_list() {
        let w =
            parse("size: 2\nquestions: [invoice, order-status]\nexclude: [greeting]\n").unwrap();
        let popular = vec!["greeting".to_string(), "refund-time".to_string()];
        let first = w.card(&faqs(), &popular, Lang::Zh, 0);
        let ids: Vec<&str> = first.questions.iter().map(|q| q.faq_id.as_str()).collect();
        assert_eq!(ids, ["refund-time", "invoice"]);
        assert_eq!(first.questions[0].text, "退款多久到账");
        assert_eq!((first.page, first.pages), (0, 2));
        let second = w.card(&faqs(), &popular, Lang::En, 1);
        assert_eq!(second.questions[0].text, "Where is my order?");
        assert_eq!(
            w.card(&faqs(), &popular, Lang::En, 2).page,
            0,
            "wraps around"
        );
        // No traffic yet: the list alone.
        let quiet = w.card(&faqs(), &[], Lang::Zh, 0);
        assert_eq!(quiet.questions.len(), 2);
    }

    #[test]
    fn a_configured_card_shows_its_list_in_order_in_the_shoppers_language() {
        let w = parse("source: configured\nquestions: [zh-only, invoice]\n").unwrap();
        let popular = vec!["refund-time".to_string()];
        let zh = w.card(&faqs(), &popular, Lang::Zh, 0);
        assert_eq!(zh.questions.len(), 2);
        let en = w.card(&faqs(), &popular, Lang::En, 0);
        assert_eq!(en.questions.len(), 1, "no English question for zh-only");
        assert_eq!(en.questions[0].faq_id, "invoice");
    }

    #[test]
    fn mistakes_are_named_with_their_line() {
        let d = parse("size: 0\ndays: 400\nsource: configured\n").unwrap_err();
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("welcome.yaml:1: error: size")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("welcome.yaml:2: error: days")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("welcome.yaml:3: error: source: configured")),
            "{text:#?}"
        );
        let twice = parse("questions:\n  - invoice\n  - invoice\n").unwrap_err();
        assert!(twice[0].message.contains("listed twice"), "{twice:?}");
        let w = parse("questions:\n  - invoice\n  - no-such-faq\n").unwrap();
        let mut d = Vec::new();
        w.check_faq_ids(&faqs(), &mut d);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].to_string(),
            "intents/rules/welcome.yaml:3: error: no FAQ has the id \"no-such-faq\""
        );
        assert_eq!(parse("").unwrap().size, 4);
    }
}
