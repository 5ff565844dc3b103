//! Who answers first ([`crate::content::reception`]) applied to a planned bot turn.
//!
//! ```text
//! plan (bot holds the conversation, no handoff planned, no order task under way)
//!   ─► the group's mode now ─► bot first: unchanged
//!                           ─► human first: someone on duty and the wait ≤ the limit?
//!                                 yes: the bot's reply is dropped, the turn queues
//!                                 no:  the bot answers, and says once why it does
//!                           ─► assist: the bot's reply is dropped, the turn queues (the
//!                                 bot's answers reach the agent as drafts)
//! ```
//!
//! An order task under way since an earlier turn is left to finish: a write the shopper
//! confirmed must be told. One the message would start is left to the person.

use super::phrases;
use super::policy::{Facts, rule_escalation};
use super::turn::Plan;
use crate::config::PolicyConfig;
use crate::content::reception::{ModeNow, ReceptionMode};
use crate::conversation::{ConversationState, DecisionKind, Notice, Outgoing};
use crate::dialogue_memory::DialogueMemory;
use crate::handoff::Availability;
use crate::vocabulary::{EscalationReason, Priority};

/// Who can answer in a group now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staffing {
    pub availability: Availability,
    /// The wait a newcomer to the group's queue would have; `None` when nobody is available.
    pub wait_ms: Option<i64>,
}

impl Staffing {
    /// Someone is on duty and free now (for callers without a queue: a script, a benchmark).
    pub fn free(availability: Availability) -> Staffing {
        Staffing {
            availability,
            wait_ms: (availability == Availability::OnDuty).then_some(0),
        }
    }
}

/// Applies `mode` (the mode of [`Plan::group`] now) to `plan`. `before` is the conversation's
/// memory as the turn found it.
pub fn apply(
    plan: &mut Plan,
    mode: ModeNow,
    staffing: Staffing,
    before: &DialogueMemory,
    facts: &Facts,
    p: &PolicyConfig,
) {
    if mode.mode == ReceptionMode::BotFirst
        || facts.state.human_owned()
        || plan.escalation.is_some()
        || before.task.is_some()
        || plan.turn.is_none()
    {
        return;
    }
    let person_now = staffing.availability == Availability::OnDuty
        && staffing.wait_ms.is_some_and(|w| w <= mode.max_wait_ms);
    if mode.mode == ReceptionMode::Assist || person_now {
        hand_over(plan, facts, p);
        return;
    }
    // Human first, and nobody can answer soon: the bot does, and says why, once.
    if !before.told_bot_answers {
        let mut memory = plan.memory.clone().unwrap_or_else(|| before.clone());
        memory.told_bot_answers = true;
        plan.memory = Some(memory);
        let why = match staffing.availability {
            Availability::OffHours => phrases::BotStandsIn::OffHours,
            Availability::NobodyOnline => phrases::BotStandsIn::NobodyOnline,
            Availability::OnDuty if staffing.wait_ms.is_none() => {
                phrases::BotStandsIn::NobodyOnline
            }
            Availability::OnDuty => phrases::BotStandsIn::Busy,
        };
        plan.replies.insert(
            0,
            Outgoing::notice(phrases::bot_stands_in(plan.lang, why), Notice::BotAnswers),
        );
    }
}

/// A person answers this group: the bot's reply is dropped and the turn queues for the group
/// (told honestly by [`super::turn::settle`], as any handoff).
fn hand_over(plan: &mut Plan, facts: &Facts, p: &PolicyConfig) {
    let skill = plan.group(facts, p);
    let mut escalation = rule_escalation(
        EscalationReason::Reception,
        Priority::Normal,
        skill,
        facts,
        p,
    );
    escalation.intent = plan
        .turn
        .as_ref()
        .and_then(|t| t.intent.as_ref())
        .filter(|i| !i.out_of_scope && i.confidence >= p.intent_threshold)
        .map(|i| i.label.clone());
    plan.replies.clear();
    plan.escalation = Some(escalation);
    // A task this message started is the person's now.
    if let Some(m) = plan.memory.as_mut() {
        m.task = None;
    }
    plan.state = ConversationState::Queued;
    plan.low_confidence_streak = 0;
    plan.group_task = None;
    if let Some(record) = plan.turn.as_mut() {
        record.decision = DecisionKind::Escalate;
        record.reason = Some(EscalationReason::Reception);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{Author, ReplyMeta, TurnRecord};
    use crate::nlu::Lang;

    fn answered() -> Plan {
        let mut plan =
            crate::dialogue::button_plan(&Facts::default(), &PolicyConfig::default(), Lang::Zh);
        plan.escalation = None;
        plan.state = ConversationState::Bot;
        plan.topic_skill = Some("after_sales".into());
        plan.replies = vec![Outgoing::reply(
            Author::Bot,
            "退货运费由……",
            ReplyMeta::new(DecisionKind::Answer),
        )];
        plan.turn = Some(TurnRecord::answered(
            "return_request",
            "return-shipping-cost",
        ));
        plan
    }

    fn mode(mode: ReceptionMode) -> ModeNow {
        ModeNow {
            mode,
            max_wait_ms: 60_000,
        }
    }

    fn run(m: ReceptionMode, staffing: Staffing, memory: &DialogueMemory) -> Plan {
        let mut plan = answered();
        apply(
            &mut plan,
            mode(m),
            staffing,
            memory,
            &Facts::default(),
            &PolicyConfig::default(),
        );
        plan
    }

    const FREE: Staffing = Staffing {
        availability: Availability::OnDuty,
        wait_ms: Some(0),
    };

    #[test]
    fn human_first_hands_over_when_someone_can_answer_soon() {
        let plan = run(ReceptionMode::HumanFirst, FREE, &DialogueMemory::default());
        assert!(plan.replies.is_empty(), "the bot does not answer");
        let e = plan.escalation.expect("queued");
        assert_eq!(
            (e.reason, e.skill.as_str(), e.intent.as_deref()),
            (
                EscalationReason::Reception,
                "after_sales",
                Some("return_request")
            )
        );
        assert_eq!(plan.state, ConversationState::Queued);
        let record = plan.turn.unwrap();
        assert_eq!(record.decision, DecisionKind::Escalate);
        assert_eq!(
            record.answered_faq.as_deref(),
            Some("return-shipping-cost"),
            "the agent sees what the bot would have said"
        );
    }

    #[test]
    fn human_first_lets_the_bot_answer_when_nobody_can_soon_and_says_so_once() {
        let busy = Staffing {
            availability: Availability::OnDuty,
            wait_ms: Some(61_000),
        };
        for (staffing, says) in [
            (busy, "忙"),
            (Staffing::free(Availability::NobodyOnline), "没有客服在线"),
            (Staffing::free(Availability::OffHours), "下班"),
        ] {
            let plan = run(
                ReceptionMode::HumanFirst,
                staffing,
                &DialogueMemory::default(),
            );
            assert!(plan.escalation.is_none());
            assert_eq!(plan.replies.len(), 2);
            assert_eq!(plan.replies[0].meta.notice, Some(Notice::BotAnswers));
            assert!(
                plan.replies[0].text.contains(says),
                "{}",
                plan.replies[0].text
            );
            assert!(plan.memory.as_ref().unwrap().told_bot_answers);
            let told = plan.memory.unwrap();
            let again = run(ReceptionMode::HumanFirst, staffing, &told);
            assert_eq!(again.replies.len(), 1, "said once per conversation");
        }
    }

    #[test]
    fn assist_never_lets_the_bot_send_and_bot_first_changes_nothing() {
        let plan = run(
            ReceptionMode::Assist,
            Staffing::free(Availability::NobodyOnline),
            &DialogueMemory::default(),
        );
        assert!(plan.replies.is_empty());
        assert_eq!(plan.escalation.unwrap().reason, EscalationReason::Reception);
        let plan = run(ReceptionMode::BotFirst, FREE, &DialogueMemory::default());
        assert!(plan.escalation.is_none() && plan.replies.len() == 1);
    }

    #[test]
    fn an_order_task_under_way_since_an_earlier_turn_is_left_to_finish() {
        let memory = DialogueMemory {
            task: Some(crate::dialogue_memory::PendingTask {
                intent: "cancel_order".into(),
                waiting: crate::dialogue_memory::Waiting::Confirm,
                asked: 1,
            }),
            ..DialogueMemory::default()
        };
        let plan = run(ReceptionMode::Assist, FREE, &memory);
        assert!(plan.escalation.is_none() && plan.replies.len() == 1);
    }
}
