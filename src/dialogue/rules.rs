//! The support lead's trigger rules in a turn ([`crate::content::rules`]): which rules the
//! shopper's message matches, how many matching messages each has now seen in the
//! conversation, and — for those reaching their count on this message — what they do to the
//! planned turn.
//!
//! ```text
//! matched rules ─► hit counts in the dialogue memory ─► rules reaching `hits` now act once:
//!   escalate (replaces the planned handoff, priority never lowered), tag (memory + turn
//!   record), alert (the plan's alerts, published by the service after the commit)
//! ```
//!
//! A rule acts once per conversation, on the message that brings its count to `hits`: an
//! alert or a handoff repeated on every later message would drown the group. While a person
//! holds the conversation rules still count, tag and alert, but do not queue it again.

use super::policy::{Facts, rule_escalation};
use super::turn::Plan;
use crate::config::PolicyConfig;
use crate::content::rules::{TriggerRule, TriggerRules};
use crate::conversation::{ConversationState, DecisionKind};
use crate::dialogue_memory::DialogueMemory;

/// The group to alert when a rule says so, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleAlert {
    pub rule: String,
    pub label: String,
    pub skill: String,
}

/// Indexes of the rules normalised `text` matches.
pub fn matching(rules: &TriggerRules, text: &str) -> Vec<usize> {
    rules
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.matches(text))
        .map(|(i, _)| i)
        .collect()
}

/// Counts the matched rules in the conversation's memory and applies those that act now to
/// `plan`. `memory` is the conversation's memory after the rest of the turn; it is written
/// back to the plan when a count changed.
pub fn apply(
    plan: &mut Plan,
    rules: &TriggerRules,
    matched: &[usize],
    mut memory: DialogueMemory,
    facts: &Facts,
    p: &PolicyConfig,
) {
    if matched.is_empty() {
        return;
    }
    let mut acting: Vec<&TriggerRule> = Vec::new();
    for rule in matched.iter().filter_map(|&i| rules.rules.get(i)) {
        let count = memory.rule_hits.entry(rule.id.clone()).or_insert(0);
        *count = count.saturating_add(1);
        if *count == rule.hits {
            acting.push(rule);
        }
    }
    for rule in &acting {
        if let Some(tag) = &rule.tag
            && !memory.tags.contains(tag)
        {
            memory.tags.push(tag.clone());
        }
    }
    plan.memory = Some(memory);
    if acting.is_empty() {
        return;
    }
    let topic = plan.group(facts, p);
    if let Some(record) = plan.turn.as_mut() {
        record.triggered = acting.iter().map(|r| r.id.clone()).collect();
        record.tags = acting.iter().filter_map(|r| r.tag.clone()).collect();
    }
    for rule in &acting {
        let skill = rule
            .escalate
            .as_ref()
            .and_then(|e| e.skill.clone())
            .unwrap_or_else(|| topic.clone());
        if rule.alert {
            plan.alerts.push(RuleAlert {
                rule: rule.id.clone(),
                label: rule.label.clone(),
                skill: skill.clone(),
            });
        }
        let Some(how) = &rule.escalate else {
            continue;
        };
        if facts.state.human_owned() {
            continue;
        }
        let wanted = rule_escalation(how.reason, how.priority, skill, facts, p);
        let priority = plan
            .escalation
            .as_ref()
            .map_or(wanted.priority, |e| e.priority.max(wanted.priority));
        plan.escalation = Some(crate::handoff::Escalation {
            priority,
            intent: plan.escalation.as_ref().and_then(|e| e.intent.clone()),
            ..wanted
        });
        plan.state = ConversationState::Queued;
        plan.low_confidence_streak = 0;
        if let Some(record) = plan.turn.as_mut() {
            record.decision = DecisionKind::Escalate;
            record.reason = Some(how.reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::rules::parse_triggers;
    use crate::conversation::TurnRecord;
    use crate::nlu::{Lang, normalize};
    use crate::vocabulary::{EscalationReason, Priority};

    fn rules() -> TriggerRules {
        parse_triggers(
            std::path::Path::new("triggers.yaml"),
            "\
triggers:
  - id: regulator
    label: 提到监管部门
    words: [12315, 消协]
    escalate: {priority: urgent, skill: complaints}
    tag: regulator
    alert: true
  - id: phone-left
    patterns: ['1[3-9]\\d{9}']
    hits: 2
    tag: phone-left
",
        )
        .unwrap()
    }

    fn answered() -> Plan {
        let mut plan =
            crate::dialogue::button_plan(&Facts::default(), &PolicyConfig::default(), Lang::Zh);
        plan.escalation = None;
        plan.state = ConversationState::Bot;
        plan.topic_skill = Some("orders".into());
        plan.turn = Some(TurnRecord::answered("order_status", "order-status"));
        plan
    }

    fn turn(rules: &TriggerRules, text: &str, memory: &DialogueMemory, facts: &Facts) -> Plan {
        let mut plan = answered();
        let matched = matching(rules, &normalize(text));
        apply(
            &mut plan,
            rules,
            &matched,
            memory.clone(),
            facts,
            &PolicyConfig::default(),
        );
        plan
    }

    #[test]
    fn a_rule_acts_once_on_the_message_that_reaches_its_count() {
        let rules = rules();
        let facts = Facts::default();
        let first = turn(
            &rules,
            "我的电话13912345678",
            &DialogueMemory::default(),
            &facts,
        );
        let memory = first.memory.clone().unwrap();
        assert_eq!(memory.rule_hits["phone-left"], 1);
        assert!(memory.tags.is_empty(), "one hit of two: nothing yet");
        assert!(first.turn.as_ref().unwrap().triggered.is_empty());

        let second = turn(&rules, "再说一遍 13912345678", &memory, &facts);
        let memory = second.memory.clone().unwrap();
        assert_eq!(memory.tags, ["phone-left"]);
        let record = second.turn.as_ref().unwrap();
        assert_eq!(
            (record.triggered.as_slice(), record.tags.as_slice()),
            (
                &["phone-left".to_string()][..],
                &["phone-left".to_string()][..]
            )
        );
        assert!(
            second.escalation.is_none() && second.alerts.is_empty(),
            "a tag only"
        );

        let third = turn(&rules, "13912345678", &memory, &facts);
        assert!(
            third.turn.as_ref().unwrap().triggered.is_empty(),
            "acted already"
        );
        assert_eq!(third.memory.unwrap().rule_hits["phone-left"], 3);

        let untouched = turn(&rules, "你好", &memory, &facts);
        assert_eq!(
            untouched.memory, None,
            "no rule matched: the memory is left as it was"
        );
    }

    #[test]
    fn an_escalating_rule_queues_with_its_reason_group_and_priority_and_alerts() {
        let rules = rules();
        let plan = turn(
            &rules,
            "再不处理我就打12315",
            &DialogueMemory::default(),
            &Facts::default(),
        );
        let e = plan.escalation.as_ref().expect("queued");
        assert_eq!(
            (e.reason, e.priority, e.skill.as_str()),
            (
                EscalationReason::TriggerRule,
                Priority::Urgent,
                "complaints"
            )
        );
        assert_eq!(plan.state, ConversationState::Queued);
        let record = plan.turn.as_ref().unwrap();
        assert_eq!(
            (record.decision, record.reason),
            (DecisionKind::Escalate, Some(EscalationReason::TriggerRule))
        );
        assert_eq!(
            plan.alerts,
            [RuleAlert {
                rule: "regulator".into(),
                label: "提到监管部门".into(),
                skill: "complaints".into()
            }]
        );
        // A person already holds it: tagged and alerted, not queued again.
        let held = Facts {
            state: ConversationState::Assigned,
            ..Facts::default()
        };
        let plan = turn(&rules, "我要找消协", &DialogueMemory::default(), &held);
        assert!(plan.escalation.is_none());
        assert_eq!(plan.alerts.len(), 1);
        assert_eq!(plan.memory.unwrap().tags, ["regulator"]);
    }
}
