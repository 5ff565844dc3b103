//! Who answers first, per skill group and time window: `intents/rules/reception.yaml`.
//!
//! ```text
//! reception.yaml ─► serde ─► checks (modes, skills, windows, waits) ─► Reception, or
//!   diagnostics with file:line;  Reception::mode_for(group, now, hours) ─► ReceptionMode
//! ```
//!
//! Three modes. *Bot first* (the default): the bot answers and hands over by the handoff
//! rules. *Human first*: a person answers when one of the group is on duty and the wait is
//! short; the bot answers only when nobody of the group is online, off hours, or the expected
//! wait is over `max_wait_seconds`. *Assist*: the bot never sends; a person answers, with the
//! bot's answers offered to them as one-click drafts. Entries are read top to bottom: the
//! first whose group matches and whose window (in the shop's time zone, `[hours] timezone`)
//! covers the moment decides; none does, `default` does. [`crate::dialogue::reception`]
//! applies the mode in a turn.

use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::diagnostic::{Diagnostic, line_of, parse_yaml_file, unify_line_breaks};
use super::faq::check_id;
use crate::config::{BusinessHours, DaySchedule, OpenSpan};

/// The reception file, under the rules folder of `intents/`.
pub const RECEPTION_FILE: &str = "reception.yaml";

/// Longest wait a lead may set before the bot steps in: a day.
const MAX_WAIT_SECONDS: u32 = 86_400;

/// Who answers first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceptionMode {
    #[default]
    BotFirst,
    HumanFirst,
    Assist,
}

impl ReceptionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceptionMode::BotFirst => "bot_first",
            ReceptionMode::HumanFirst => "human_first",
            ReceptionMode::Assist => "assist",
        }
    }
}

/// The mode that applies to a group now, with the wait beyond which a human-first group
/// lets the bot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeNow {
    pub mode: ReceptionMode,
    pub max_wait_ms: i64,
}

/// Every entry, in file order.
#[derive(Debug, Clone, Default)]
pub struct Reception {
    pub default: ReceptionMode,
    pub groups: Vec<GroupReception>,
}

/// One entry: a group's mode, in a window or always.
#[derive(Debug, Clone)]
pub struct GroupReception {
    pub skill: String,
    pub mode: ReceptionMode,
    pub window: Option<OpenSpan>,
    pub max_wait_seconds: u32,
}

impl Reception {
    /// The mode for `skill` at `now` (windows in `hours`' time zone).
    pub fn mode_for(&self, skill: &str, now: Timestamp, hours: &BusinessHours) -> ModeNow {
        self.groups
            .iter()
            .find(|g| g.skill == skill && g.window.is_none_or(|w| hours.covers(&w, now)))
            .map(|g| ModeNow {
                mode: g.mode,
                max_wait_ms: i64::from(g.max_wait_seconds) * 1000,
            })
            .unwrap_or(ModeNow {
                mode: self.default,
                max_wait_ms: i64::from(DEFAULT_MAX_WAIT_SECONDS) * 1000,
            })
    }

    /// Whether every group is bot first: then nothing in a turn needs the mode.
    pub fn all_bot_first(&self) -> bool {
        self.default == ReceptionMode::BotFirst
            && self
                .groups
                .iter()
                .all(|g| g.mode == ReceptionMode::BotFirst)
    }
}

/// The wait a human-first group accepts when its entry does not say.
const DEFAULT_MAX_WAIT_SECONDS: u32 = 120;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceptionFile {
    #[serde(default)]
    default: ReceptionMode,
    #[serde(default)]
    groups: Vec<GroupDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDecl {
    skill: String,
    mode: ReceptionMode,
    #[serde(default)]
    window: Option<DaySchedule>,
    #[serde(default = "default_max_wait")]
    max_wait_seconds: u32,
}

fn default_max_wait() -> u32 {
    DEFAULT_MAX_WAIT_SECONDS
}

/// Parses and checks `reception.yaml`.
pub fn parse_reception(path: &Path, source: &str) -> Result<Reception, Vec<Diagnostic>> {
    let source = &*unify_line_breaks(source);
    let file: ReceptionFile = parse_yaml_file(path, source)?;
    let mut problems = Vec::new();
    let mut groups = Vec::new();
    let mut from_line = 1;
    for decl in file.groups {
        let start =
            line_of(source, &format!("skill: {}", decl.skill), from_line).unwrap_or(from_line);
        from_line = start + 1;
        let at = |needle: &str| line_of(source, needle, start).or(Some(start));
        problems.extend(check_id(path, Some(start), "skill", &decl.skill));
        let window = match &decl.window {
            Some(w) => match OpenSpan::parse(w, "") {
                Ok(span) => Some(span),
                Err(e) => {
                    // The hours' own wording, without the config path it is written for.
                    let message = e.to_string().replacen("hours", "window", 1);
                    problems.push(Diagnostic::error(path, at("window:"), message));
                    None
                }
            },
            None => None,
        };
        if decl.max_wait_seconds > MAX_WAIT_SECONDS {
            problems.push(Diagnostic::error(
                path,
                at("max_wait_seconds:"),
                format!("max_wait_seconds must be at most {MAX_WAIT_SECONDS} (a day)"),
            ));
        }
        groups.push(GroupReception {
            skill: decl.skill,
            mode: decl.mode,
            window,
            max_wait_seconds: decl.max_wait_seconds,
        });
    }
    if problems.is_empty() {
        Ok(Reception {
            default: file.default,
            groups,
        })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
default: bot_first
groups:
  - skill: after_sales
    mode: human_first
    window: {open: \"09:00\", close: \"18:00\", days: [mon, tue, wed, thu, fri]}
    max_wait_seconds: 60
  - skill: after_sales
    mode: assist
  - skill: complaints
    mode: assist
";

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_entry_whose_window_covers_the_moment_decides() {
        let r = parse_reception(Path::new("reception.yaml"), FILE).unwrap();
        let hours = BusinessHours::default();
        // Wednesday 10:00 in Shanghai.
        let office = at("2026-11-11T02:00:00Z");
        assert_eq!(
            r.mode_for("after_sales", office, &hours),
            ModeNow {
                mode: ReceptionMode::HumanFirst,
                max_wait_ms: 60_000
            }
        );
        // Wednesday 20:00, then Saturday 10:00: the second after-sales entry.
        for t in ["2026-11-11T12:00:00Z", "2026-11-14T02:00:00Z"] {
            assert_eq!(
                r.mode_for("after_sales", at(t), &hours).mode,
                ReceptionMode::Assist
            );
        }
        assert_eq!(
            r.mode_for("orders", office, &hours).mode,
            ReceptionMode::BotFirst
        );
        assert!(!r.all_bot_first());
        assert!(
            parse_reception(Path::new("r.yaml"), "")
                .unwrap()
                .all_bot_first()
        );
    }

    #[test]
    fn mistakes_are_named_with_their_line() {
        let bad = "\
groups:
  - skill: orders
    mode: human_first
    window: {open: \"18:00\", close: \"09:00\"}
  - skill: Billing
    mode: assist
    max_wait_seconds: 999999
";
        let d = parse_reception(Path::new("reception.yaml"), bad).unwrap_err();
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        let has = |s: &str| text.iter().any(|t| t.contains(s));
        assert!(
            has("reception.yaml:4: error: window: open 18:00 is not before close 09:00"),
            "{text:#?}"
        );
        assert!(
            has("reception.yaml:5: error: skill \"Billing\""),
            "{text:#?}"
        );
        assert!(
            has("reception.yaml:7: error: max_wait_seconds must be at most"),
            "{text:#?}"
        );
        let mode = parse_reception(
            Path::new("r.yaml"),
            "groups:\n  - skill: a\n    mode: humans\n",
        )
        .unwrap_err();
        assert_eq!(mode[0].line, Some(3), "{:?}", mode[0]);
        assert!(mode[0].message.contains("human_first"), "{:?}", mode[0]);
    }
}
