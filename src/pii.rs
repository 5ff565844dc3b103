//! Personal data in free text: finding it (for the agent's context view) and masking it
//! (for logs, summaries and anything shown before an agent explicitly opens it).
//!
//! Recognised: mainland mobile numbers, e-mail addresses, 18-digit resident ID numbers, bank
//! card numbers (13–19 digits), and street addresses (Chinese `…路/街/道…号` and English
//! `123 Some Street`). Order numbers are not personal and are left readable.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What kind of thing an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    OrderNumber,
    Phone,
    Email,
    IdNumber,
    CardNumber,
    Address,
}

impl EntityKind {
    /// Whether it is personal data, masked until an agent opens it.
    pub fn is_personal(self) -> bool {
        !matches!(self, EntityKind::OrderNumber)
    }
}

/// Something found in a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    /// The value with personal data masked.
    pub masked: String,
}

struct Pattern {
    kind: EntityKind,
    re: Regex,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    // Order matters: longer digit patterns first, so an ID number is not taken for a phone.
    // Boundaries are ASCII (`(?-u:\b)`): Unicode `\b` sees none between 话 and 1.
    let p = |kind, re: &str| Pattern {
        kind,
        re: Regex::new(re).unwrap_or_else(|e| panic!("built-in pattern {re}: {e}")),
    };
    vec![
        p(EntityKind::OrderNumber, r"(?i)(?-u:\b)MM\d{12}(?-u:\b)"),
        p(
            EntityKind::Email,
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
        ),
        p(
            EntityKind::IdNumber,
            r"(?-u:\b)[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?-u:\b)",
        ),
        p(
            EntityKind::CardNumber,
            r"(?-u:\b)(?:\d[ -]?){12,18}\d(?-u:\b)",
        ),
        p(
            EntityKind::Phone,
            r"(?:\+?86[ -]?)?(?-u:\b)1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?-u:\b)",
        ),
        p(
            EntityKind::Address,
            r"[\p{Han}]{2,}(?:路|街|道|巷|弄|大道)\s*\d+\s*(?:号|號)(?:[\p{Han}\d\-]*?(?:室|楼|栋|单元))?",
        ),
        p(
            EntityKind::Address,
            r"(?i)\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd)\b\.?",
        ),
    ]
});

fn mask_value(kind: EntityKind, value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let keep = |head: usize, tail: usize| -> String {
        chars
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < head || i + tail >= chars.len() || !c.is_alphanumeric() {
                    *c
                } else {
                    '*'
                }
            })
            .collect()
    };
    match kind {
        EntityKind::OrderNumber => value.to_string(),
        EntityKind::Phone => keep(3, 4),
        EntityKind::IdNumber => keep(4, 4),
        EntityKind::CardNumber => keep(0, 4),
        EntityKind::Email => match value.split_once('@') {
            Some((user, domain)) => {
                let first: String = user.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".into(),
        },
        EntityKind::Address => {
            // Keep the street name's first two characters; hide numbers and the rest.
            let head: String = chars.iter().take(2).collect();
            format!("{head}***")
        }
    }
}

/// Where each entity in `text` is, in order of appearance.
fn spans(text: &str) -> Vec<(usize, usize, EntityKind)> {
    let mut found: Vec<(usize, usize, EntityKind)> = Vec::new();
    for p in PATTERNS.iter() {
        for m in p.re.find_iter(text) {
            let overlaps = found.iter().any(|(s, e, _)| m.start() < *e && *s < m.end());
            if !overlaps {
                found.push((m.start(), m.end(), p.kind));
            }
        }
    }
    found.sort_by_key(|(s, _, _)| *s);
    found
}

/// Every entity in `text`, in order of appearance, with personal data masked.
pub fn find_entities(text: &str) -> Vec<Entity> {
    spans(text)
        .into_iter()
        .map(|(s, e, kind)| Entity {
            kind,
            masked: mask_value(kind, &text[s..e]),
        })
        .collect()
}

/// Every entity with its unmasked value, for an agent who explicitly opens them (the
/// caller audits that).
pub fn reveal_entities(text: &str) -> Vec<(Entity, String)> {
    spans(text)
        .into_iter()
        .map(|(s, e, kind)| {
            let value = &text[s..e];
            (
                Entity {
                    kind,
                    masked: mask_value(kind, value),
                },
                value.to_string(),
            )
        })
        .collect()
}

/// `text` with every piece of personal data masked; safe for logs and summaries.
pub fn mask(text: &str) -> String {
    let mut spans: Vec<(usize, usize, String)> = Vec::new();
    for p in PATTERNS.iter().filter(|p| p.kind.is_personal()) {
        for m in p.re.find_iter(text) {
            if !spans.iter().any(|(s, e, _)| m.start() < *e && *s < m.end()) {
                spans.push((m.start(), m.end(), mask_value(p.kind, m.as_str())));
            }
        }
    }
    spans.sort_by_key(|(s, _, _)| *s);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (s, e, masked) in spans {
        out.push_str(&text[at..s]);
        out.push_str(&masked);
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_personal_data_but_not_order_numbers() {
        let m = mask("订单MM202611110001，电话13812345678，邮箱zhang.san@example.com");
        assert!(m.contains("MM202611110001"), "{m}");
        assert!(m.contains("138****5678"), "{m}");
        assert!(m.contains("z***@example.com"), "{m}");
        assert!(!m.contains("12345678"), "{m}");
    }

    #[test]
    fn masks_ids_cards_and_addresses() {
        let m = mask(
            "身份证110101199003071234 卡号 6222 0212 3456 7890 123 地址：朝阳区建国路88号3单元",
        );
        assert!(!m.contains("199003071"), "{m}");
        assert!(m.contains("0123") || m.contains("123"), "{m}");
        assert!(!m.contains("3456 7890"), "{m}");
        assert!(!m.contains("建国路88号"), "{m}");
        let m = mask("ship to 221 Baker Street please");
        assert!(!m.contains("221 Baker"), "{m}");
    }

    #[test]
    fn finds_entities_in_order() {
        let e = find_entities("MM202611110001 and call 13912345678");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].kind, EntityKind::OrderNumber);
        assert_eq!(e[0].masked, "MM202611110001");
        assert_eq!(e[1].kind, EntityKind::Phone);
        assert_eq!(e[1].masked, "139****5678");
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let s = "我想退货，7天内可以吗？ Return within 7 days?";
        assert_eq!(mask(s), s);
        assert!(find_entities(s).is_empty());
    }
}
