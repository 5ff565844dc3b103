//! Scoring one closed handoff against the quality rules: pure, from the stored facts.
//!
//! ```text
//! handoff (who, when taken, when closed, how) + its transcript + the shopper's rating
//!   ─► findings (one per rule that finds a problem) ─► score = 100 − points, at least 0
//! ```
//!
//! Only the messages of the agent who closed it, from when they took it to when they closed
//! it, are read: after a transfer the second agent answers for their part, not the first's.

use crate::content::quality::{Check, QualityRules, first_term};
use crate::conversation::{Author, Message};
use crate::handoff::review::Finding;
use crate::handoff::{Handoff, HandoffStatus};

/// A closed handoff and what the rules read about it.
pub struct Closed<'a> {
    pub handoff: &'a Handoff,
    /// The name messages carry for the agent who closed it.
    pub agent_name: &'a str,
    /// The conversation's messages (any range; those outside the agent's time are skipped).
    pub messages: &'a [Message],
    pub rating: Option<u8>,
    /// `handoff.sla_reply_secs`: the first-response limit when a rule names none.
    pub reply_sla_secs: u64,
}

/// Every rule's finding on `closed`, in file order.
pub fn findings(rules: &QualityRules, closed: &Closed) -> Vec<Finding> {
    let h = closed.handoff;
    let taken_at = h
        .routing
        .assigned_at
        .or(h.routing.first_assigned_at)
        .unwrap_or(h.created_at);
    let closed_at = h.routing.closed_at.unwrap_or(i64::MAX);
    let own: Vec<(&Message, String)> = closed
        .messages
        .iter()
        .filter(|m| m.author == Author::Agent && (taken_at..=closed_at).contains(&m.created_at))
        .filter(|m| {
            m.meta.as_ref().and_then(|meta| meta.agent_name.as_deref()) == Some(closed.agent_name)
        })
        .map(|m| (m, crate::nlu::normalize(&m.text)))
        .collect();
    let first = own.first();
    rules
        .rules
        .iter()
        .filter_map(|rule| {
            let found = Finding {
                rule: rule.id.clone(),
                label: rule.label.clone(),
                check: rule.check.name().to_string(),
                points: rule.points,
                phrase: None,
                seq: None,
                seconds: None,
                limit_seconds: None,
                rating: None,
            };
            match &rule.check {
                Check::ForbiddenPhrases { words, patterns } => {
                    own.iter().find_map(|(m, folded)| {
                        first_term(words, patterns, folded).map(|phrase| Finding {
                            phrase: Some(phrase),
                            seq: Some(m.seq),
                            ..found.clone()
                        })
                    })
                }
                Check::FirstResponse { seconds } => {
                    let limit =
                        seconds.unwrap_or(u32::try_from(closed.reply_sla_secs).unwrap_or(u32::MAX));
                    let waited = first.map(|(m, _)| (m.created_at - taken_at) / 1000);
                    let late = match waited {
                        Some(w) => w > i64::from(limit),
                        None => true,
                    };
                    late.then(|| Finding {
                        seconds: waited,
                        seq: first.map(|(m, _)| m.seq),
                        limit_seconds: Some(limit),
                        ..found
                    })
                }
                Check::Greeting { words, patterns } => first
                    .filter(|(_, folded)| first_term(words, patterns, folded).is_none())
                    .map(|(m, _)| Finding {
                        seq: Some(m.seq),
                        ..found
                    }),
                Check::Rating { at_most } => {
                    closed.rating.filter(|r| r <= at_most).map(|r| Finding {
                        rating: Some(r),
                        ..found
                    })
                }
                Check::Returned => (h.status == HandoffStatus::Returned).then_some(found),
            }
        })
        .collect()
}

/// 100 less every finding's points, at least 0.
pub fn score(findings: &[Finding]) -> u32 {
    100u32.saturating_sub(findings.iter().map(|f| f.points).sum())
}

/// Whether a handoff without findings is sampled for review at `rate`: decided by its id, so
/// every node (and a re-score) decides the same.
pub fn sampled(handoff_id: &str, rate: f64) -> bool {
    let draw = xxhash_rust::xxh3::xxh3_64(handoff_id.as_bytes()) % 10_000;
    (draw as f64) < rate * 10_000.0
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::content::quality::parse_quality;
    use crate::conversation::{DecisionKind, ReplyMeta};
    use crate::handoff::Routing;
    use crate::vocabulary::{EscalationReason, Priority};

    const RULES: &str = "rules:
  - id: forbidden
    check: forbidden_phrases
    words: [不知道]
    points: 20
  - id: slow
    check: first_response
    points: 10
  - id: greeting
    check: greeting
    words: [您好, hello]
    points: 5
  - id: low
    check: rating
    points: 30
  - id: returned
    check: returned
    points: 15
";

    fn handoff(status: HandoffStatus) -> Handoff {
        Handoff {
            id: "h1".into(),
            conversation_id: "c1".into(),
            reason: EscalationReason::RequestedHuman,
            priority: Priority::Normal,
            skill: "general".into(),
            status,
            agent_id: Some("a1".into()),
            created_at: 0,
            trigger_seq: None,
            routing: Routing {
                assigned_at: Some(10_000),
                closed_at: Some(900_000),
                ..Default::default()
            },
            context: None,
            wrap_up: None,
        }
    }

    fn message(seq: i64, author: Author, agent: Option<&str>, at: i64, text: &str) -> Message {
        Message {
            seq,
            author,
            text: text.into(),
            client_msg_id: None,
            reply_to: None,
            created_at: at,
            meta: Some(ReplyMeta {
                agent_name: agent.map(str::to_string),
                ..ReplyMeta::new(DecisionKind::Agent)
            }),
            turn: None,
        }
    }

    fn run(h: &Handoff, messages: &[Message], rating: Option<u8>) -> Vec<(String, Finding)> {
        let rules = parse_quality(Path::new("quality.yaml"), RULES).unwrap();
        findings(
            &rules,
            &Closed {
                handoff: h,
                agent_name: "lin",
                messages,
                rating,
                reply_sla_secs: 60,
            },
        )
        .into_iter()
        .map(|f| (f.rule.clone(), f))
        .collect()
    }

    #[test]
    fn a_good_conversation_has_no_findings() {
        let h = handoff(HandoffStatus::Resolved);
        let messages = [
            message(1, Author::Shopper, None, 1_000, "我要退款"),
            message(2, Author::Agent, Some("lin"), 20_000, "您好，我来帮您查"),
            message(3, Author::Agent, Some("lin"), 30_000, "已经为您退款"),
        ];
        assert!(run(&h, &messages, Some(5)).is_empty());
    }

    #[test]
    fn each_rule_finds_its_problem() {
        let h = handoff(HandoffStatus::Returned);
        let messages = [
            // Another agent's words before a transfer are not this agent's.
            message(1, Author::Agent, Some("wu"), 5_000, "不知道"),
            message(2, Author::Agent, Some("lin"), 100_000, "稍等"),
            message(3, Author::Agent, Some("lin"), 120_000, "这个我真的不知道"),
        ];
        let found = run(&h, &messages, Some(2));
        let rules: Vec<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(rules, ["forbidden", "slow", "greeting", "low", "returned"]);
        assert_eq!(found[0].1.phrase.as_deref(), Some("不知道"));
        assert_eq!(found[0].1.seq, Some(3));
        assert_eq!(found[1].1.seconds, Some(90));
        assert_eq!(found[1].1.limit_seconds, Some(60));
        assert_eq!(found[2].1.seq, Some(2));
        assert_eq!(found[3].1.rating, Some(2));
        let all: Vec<Finding> = found.into_iter().map(|(_, f)| f).collect();
        assert_eq!(score(&all), 20);
    }

    #[test]
    fn no_answer_at_all_is_a_late_first_response_but_not_a_missing_greeting() {
        let h = handoff(HandoffStatus::Resolved);
        let found = run(
            &h,
            &[message(1, Author::Shopper, None, 1_000, "在吗")],
            None,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "slow");
        assert_eq!(found[0].1.seconds, None);
    }

    #[test]
    fn scores_stop_at_zero_and_sampling_follows_the_rate() {
        let heavy = Finding {
            rule: "x".into(),
            label: "x".into(),
            check: "returned".into(),
            points: 70,
            phrase: None,
            seq: None,
            seconds: None,
            limit_seconds: None,
            rating: None,
        };
        assert_eq!(score(&[heavy.clone(), heavy]), 0);
        let ids: Vec<String> = (0..2_000).map(|i| format!("handoff-{i}")).collect();
        let share = |rate| ids.iter().filter(|id| sampled(id, rate)).count();
        assert_eq!(share(0.0), 0);
        assert_eq!(share(1.0), 2_000);
        let tenth = share(0.1);
        assert!((150..=250).contains(&tenth), "{tenth}");
        assert_eq!(sampled("handoff-7", 0.5), sampled("handoff-7", 0.5));
    }
}
