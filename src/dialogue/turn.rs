//! The CPU part of a bot turn, without I/O: [`analyze`] a normalised message (classify,
//! retrieve, rule signals), then [`plan`] what happens ([`decide`] + wording), and
//! [`settle`] a handoff against who can take it. [`super::bot::respond`] strings them
//! together with normalisation and the encoder; nothing else calls them in sequence.

use super::phrases;
use super::policy::{
    AfterAnswer, Decision, Facts, Signals, after_answer, button_escalation, decide,
};
use super::signals::{asks_for_human, is_strongly_negative, says_it_did_not_help};
use crate::config::{BusinessHours, PolicyConfig};
use crate::content::Intent;
use crate::conversation::{
    Author, ConversationState, DecisionKind, Notice, Outgoing, ReplyMeta, Suggestion, TurnRecord,
};
use crate::handoff::{Availability, Escalation};
use crate::kb::FaqHits;
use crate::knowledge::{Knowledge, Understood};
use crate::nlu::{IntentPrediction, Lang};
use crate::realtime::AssistSuggestion;

/// What the bot saw in one message.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub lang: Lang,
    pub intent: IntentPrediction,
    pub faq_hits: FaqHits,
    pub asked_for_human: bool,
    pub negative: bool,
    /// The message says the previous answer did not help.
    pub didnt_help: bool,
}

/// The outcome of a turn, ready to persist.
#[derive(Debug, Clone)]
pub struct Plan {
    pub lang: Lang,
    /// What the bot made of the shopper's message; `None` when there is none (the "talk to
    /// a person" button).
    pub turn: Option<TurnRecord>,
    pub replies: Vec<Outgoing>,
    /// Queue the conversation for a person (after [`settle`]: only when someone can take it).
    pub escalation: Option<Escalation>,
    /// The conversation's state after the turn.
    pub state: ConversationState,
    /// Consecutive turns the bot did not understand, this one included.
    pub low_confidence_streak: u32,
    /// Skill group of what the bot understood this turn, if anything.
    pub topic_skill: Option<String>,
    /// While a person holds the conversation: the FAQ answers to suggest to them.
    pub assist: Vec<AssistSuggestion>,
    /// The conversation's dialogue memory after the turn, when it changed.
    pub memory: Option<crate::dialogue_memory::DialogueMemory>,
    /// Audit entries of the turn (writes to the shop's systems).
    pub audit: Vec<crate::handoff::AuditEntry>,
    /// A request left for a group of agents (an order task handled by a person).
    pub ticket: Option<crate::handoff::Ticket>,
    /// A FAQ's `handoff: notify`: the shopper's message becomes a task for this group (the
    /// service, which knows the conversation and the customer, writes it as a ticket).
    pub group_task: Option<GroupTask>,
    /// Groups to alert because a trigger rule said so (published after the commit).
    pub alerts: Vec<super::rules::RuleAlert>,
}

/// The shopper's message to leave as a task for a skill group, because of this FAQ.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupTask {
    pub faq_id: String,
    pub skill: String,
}

impl Plan {
    /// The group the turn belongs to: what the bot understood, else the conversation's
    /// topic, else the default group.
    pub fn group(&self, facts: &Facts, p: &PolicyConfig) -> String {
        self.topic_skill
            .clone()
            .or_else(|| facts.recent_skill.clone())
            .unwrap_or_else(|| p.default_skill.clone())
    }

    /// The facts the conversation's next turn starts from once this plan is committed: what
    /// the service writes to the conversation's row, for callers that keep no row (the
    /// terminal chat, `baton eval dialogues`).
    pub fn next_facts(&self, before: &Facts) -> Facts {
        Facts {
            state: self.state,
            vip: before.vip,
            low_confidence_streak: self.low_confidence_streak,
            recent_skill: self
                .topic_skill
                .clone()
                .or_else(|| before.recent_skill.clone()),
        }
    }
}

impl Analysis {
    /// What is stored with the shopper's message: what the bot saw and what it decided.
    fn record(
        self,
        decision: DecisionKind,
        reason: Option<crate::vocabulary::EscalationReason>,
        answered_faq: Option<String>,
        suggestions: Vec<Suggestion>,
    ) -> TurnRecord {
        TurnRecord {
            lang: self.lang,
            intent: Some(self.intent),
            faq_candidates: self.faq_hits,
            asked_for_human: self.asked_for_human,
            negative: self.negative,
            didnt_help: self.didnt_help,
            decision,
            reason,
            answered_faq,
            suggestions,
            shop_calls: Vec::new(),
            triggered: Vec::new(),
            tags: Vec::new(),
        }
    }
}

/// What the bot sees in a normalised message: what the models made of it (`understood`,
/// from [`Knowledge::understand`] or its cache) and the signals read from the text itself.
/// `fallback` is the language to assume when the text has no letters (the conversation's
/// locale).
pub fn analyze(
    understood: Understood,
    policy: &PolicyConfig,
    normalized: &str,
    fallback: Lang,
) -> Analysis {
    Analysis {
        lang: Lang::detect(normalized, fallback),
        asked_for_human: asks_for_human(normalized, &policy.human_phrases),
        negative: is_strongly_negative(normalized, &policy.negative_words),
        didnt_help: says_it_did_not_help(normalized),
        intent: understood.intent,
        faq_hits: understood.faq_hits,
    }
}

/// Decides and words the reply. While a person holds the conversation the bot stays
/// silent: the turn is recorded, and the agent gets the best FAQ answers as suggestions.
pub fn plan(
    knowledge: &Knowledge,
    policy: &PolicyConfig,
    analysis: Analysis,
    facts: &Facts,
) -> Plan {
    if facts.state.human_owned() {
        return silent_plan(knowledge, policy, analysis, facts);
    }
    let intent_def: Option<&Intent> = knowledge.content.intent(&analysis.intent.label);
    let signals = Signals {
        intent: &analysis.intent,
        intent_def,
        faqs: &analysis.faq_hits,
        asked_for_human: analysis.asked_for_human,
        negative: analysis.negative,
    };
    let decision = decide(&signals, facts, policy);
    let lang = analysis.lang;
    let mut replies = Vec::new();
    let mut group_task = None;
    let (kind, reason, answered_faq, suggestions, escalation) = match &decision {
        Decision::AnswerFaq { faq_id, intent } => {
            let faq = knowledge.index.get(faq_id, lang);
            let chose = intent.as_deref().and_then(|i| knowledge.content.intent(i));
            let text = faq
                .map(|f| f.answer.clone())
                .or_else(|| Some(chose?.replies.get(lang).clone()));
            let after = faq.map_or(AfterAnswer::Nothing, |f| {
                after_answer(f, chose, facts, policy)
            });
            match text {
                Some(text) => replies.push(Outgoing::reply(
                    Author::Bot,
                    text,
                    ReplyMeta {
                        faq_id: Some(faq_id.clone()),
                        intent: intent.clone(),
                        buttons: match after {
                            AfterAnswer::OfferPerson => vec![phrases::talk_to_person_button(lang)],
                            _ => Vec::new(),
                        },
                        ..ReplyMeta::new(DecisionKind::Answer)
                    },
                )),
                None => tracing::error!(faq_id, "decided on a FAQ the index does not have"),
            }
            let answered = Some(faq_id.clone());
            match after {
                AfterAnswer::Queue(esc) => (
                    DecisionKind::Escalate,
                    Some(esc.reason),
                    answered,
                    vec![],
                    Some(esc),
                ),
                AfterAnswer::Notify { skill } => {
                    replies.push(Outgoing::notice(
                        phrases::passed_to_team(lang),
                        Notice::TicketReceived,
                    ));
                    group_task = Some(GroupTask {
                        faq_id: faq_id.clone(),
                        skill,
                    });
                    (DecisionKind::Answer, None, answered, vec![], None)
                }
                AfterAnswer::Nothing | AfterAnswer::OfferPerson => {
                    (DecisionKind::Answer, None, answered, vec![], None)
                }
            }
        }
        Decision::Reply { intent } => {
            if let Some(def) = knowledge.content.intent(intent) {
                replies.push(intent_reply(def, lang));
            }
            (DecisionKind::Reply, None, None, vec![], None)
        }
        Decision::Clarify { faq_ids } => {
            let suggestions: Vec<Suggestion> = faq_ids
                .iter()
                .filter_map(|id| knowledge.index.get(id, lang))
                .map(|f| Suggestion {
                    faq_id: f.id.clone(),
                    question: f.question.clone(),
                })
                .collect();
            replies.push(Outgoing::reply(
                Author::Bot,
                phrases::clarify(lang, !suggestions.is_empty()),
                ReplyMeta {
                    suggestions: suggestions.clone(),
                    ..ReplyMeta::new(DecisionKind::Clarify)
                },
            ));
            (DecisionKind::Clarify, None, None, suggestions, None)
        }
        Decision::Escalate(esc) => {
            if let Some(def) = esc
                .intent
                .as_deref()
                .and_then(|i| knowledge.content.intent(i))
                && def.action == crate::content::Action::Escalate
            {
                replies.push(intent_reply(def, lang));
            }
            (
                DecisionKind::Escalate,
                Some(esc.reason),
                None,
                vec![],
                Some(esc.clone()),
            )
        }
    };
    let topic_skill = intent_def
        .filter(|_| {
            !analysis.intent.out_of_scope && analysis.intent.confidence >= policy.intent_threshold
        })
        .filter(|i| i.action != crate::content::Action::Escalate)
        .map(|i| i.skill.clone())
        .or_else(|| {
            answered_faq
                .as_deref()
                .and_then(|id| knowledge.index.get(id, lang))
                .and_then(|f| f.skill.clone())
        });
    let state = match (&escalation, facts.state) {
        (Some(_), _) => ConversationState::Queued,
        // A new message after an agent resolved it: the bot has it again.
        (None, ConversationState::Resolved) => ConversationState::Bot,
        (None, state) => state,
    };
    Plan {
        low_confidence_streak: if decision.is_low_confidence() {
            facts.low_confidence_streak + 1
        } else {
            0
        },
        state,
        assist: Vec::new(),
        lang,
        turn: Some(analysis.record(kind, reason, answered_faq, suggestions)),
        replies,
        escalation,
        topic_skill,
        memory: None,
        audit: Vec::new(),
        ticket: None,
        group_task,
        alerts: Vec::new(),
    }
}

/// A turn an order task took, as a plan: its replies instead of the usual answer, its
/// handoff (a failed call, or a value never given) and its calls on the turn record.
pub fn task_plan(
    mut plan: Plan,
    turn: Box<super::task::TaskTurn>,
    memory: crate::dialogue_memory::DialogueMemory,
    knowledge: &Knowledge,
) -> Plan {
    let skill = knowledge
        .content
        .intent(&turn.intent)
        .map(|i| i.skill.clone());
    let decision = if turn.escalation.is_some() {
        DecisionKind::Escalate
    } else {
        DecisionKind::Task
    };
    if let Some(record) = plan.turn.as_mut() {
        record.decision = decision;
        record.reason = turn.escalation.as_ref().map(|e| e.reason);
        record.answered_faq = None;
        record.suggestions = Vec::new();
        record.shop_calls = turn.calls;
    }
    plan.state = match (&turn.escalation, plan.state) {
        (Some(_), _) => ConversationState::Queued,
        (None, ConversationState::Resolved | ConversationState::Queued) => ConversationState::Bot,
        (None, s) => s,
    };
    plan.replies = turn.replies;
    plan.escalation = turn.escalation;
    plan.low_confidence_streak = 0;
    plan.topic_skill = skill.or(plan.topic_skill);
    plan.memory = Some(memory);
    plan.audit = turn.audit;
    plan.ticket = turn.ticket;
    // The task's replies replaced the FAQ answer, and the FAQ's follow-up with it.
    plan.group_task = None;
    plan
}

/// The turn of a message while a person holds (or is about to hold) the conversation: stored
/// with what the bot made of it, no answer; a repeated request for a person while queued gets
/// a reassurance.
fn silent_plan(
    knowledge: &Knowledge,
    policy: &PolicyConfig,
    analysis: Analysis,
    facts: &Facts,
) -> Plan {
    let lang = analysis.lang;
    let assist = drafts(
        knowledge,
        policy,
        lang,
        analysis
            .faq_hits
            .iter()
            .map(|h| (h.faq_id.as_str(), h.confidence)),
    );
    let replies = if analysis.asked_for_human && facts.state == ConversationState::Queued {
        vec![Outgoing::reply(
            Author::System,
            phrases::already_queued(lang),
            ReplyMeta::new(DecisionKind::Silent),
        )]
    } else {
        vec![]
    };
    Plan {
        lang,
        turn: Some(analysis.record(DecisionKind::Silent, None, None, vec![])),
        replies,
        escalation: None,
        state: facts.state,
        low_confidence_streak: facts.low_confidence_streak,
        topic_skill: None,
        assist,
        memory: None,
        audit: Vec::new(),
        ticket: None,
        group_task: None,
        alerts: Vec::new(),
    }
}

/// The FAQ answers an agent may send with one click for a message the retriever matched
/// with `hits` (FAQ id, confidence; best first): those confident enough to suggest, in `lang`.
pub fn drafts<'a>(
    knowledge: &Knowledge,
    policy: &PolicyConfig,
    lang: Lang,
    hits: impl IntoIterator<Item = (&'a str, f32)>,
) -> Vec<AssistSuggestion> {
    hits.into_iter()
        .filter(|(_, confidence)| *confidence >= policy.suggest_threshold)
        .filter_map(|(id, confidence)| {
            let faq = knowledge.index.get(id, lang)?;
            Some(AssistSuggestion {
                faq_id: faq.id.clone(),
                question: faq.question.clone(),
                answer: faq.answer.clone(),
                confidence,
            })
        })
        .take(policy.max_suggestions)
        .collect()
}

/// Settles a planned handoff against who can take it now: the shopper is told honestly what
/// happens (queued, nobody online, outside business hours). Outside business hours nobody
/// is queued: the shopper may leave a message, the bot keeps answering, and the streak of
/// misunderstood turns starts again.
pub fn settle(plan: &mut Plan, hours: &BusinessHours, availability: impl Fn(&str) -> Availability) {
    let Some(esc) = &plan.escalation else {
        return;
    };
    let available = availability(&esc.skill);
    plan.replies
        .push(handoff_notice(hours, &esc.skill, available, plan.lang));
    if !available.queues() {
        plan.escalation = None;
        plan.low_confidence_streak = 0;
        // Only a conversation the bot held escalates, so the bot keeps it.
        plan.state = ConversationState::Bot;
    }
}

/// The "talk to a person" button: no message to understand, straight to the queue (still
/// subject to [`settle`]). The topic and VIP rules pick the group and priority.
pub fn button_plan(facts: &Facts, policy: &PolicyConfig, lang: Lang) -> Plan {
    Plan {
        lang,
        turn: None,
        replies: Vec::new(),
        escalation: Some(button_escalation(facts, policy)),
        state: ConversationState::Queued,
        low_confidence_streak: 0,
        topic_skill: None,
        assist: Vec::new(),
        memory: None,
        audit: Vec::new(),
        ticket: None,
        group_task: None,
        alerts: Vec::new(),
    }
}

/// An intent's fixed reply in `lang`.
fn intent_reply(intent: &Intent, lang: Lang) -> Outgoing {
    Outgoing::reply(
        Author::Bot,
        intent.replies.get(lang).clone(),
        ReplyMeta {
            intent: Some(intent.id.clone()),
            ..ReplyMeta::new(DecisionKind::Reply)
        },
    )
}

/// The system message that tells the shopper what happens with their request for a person,
/// honest about business hours and about nobody being online.
pub fn handoff_notice(
    hours: &BusinessHours,
    skill: &str,
    availability: Availability,
    lang: Lang,
) -> Outgoing {
    let span = hours
        .span_for(skill)
        .map(|s| s.describe())
        .unwrap_or_default();
    let (notice, leave_message) = match availability {
        Availability::OnDuty => (Notice::Queued, false),
        Availability::NobodyOnline => (Notice::NoAgentOnline, true),
        Availability::OffHours => (Notice::OffHours, true),
    };
    Outgoing::reply(
        Author::System,
        phrases::handoff(lang, availability, &span, &hours.timezone),
        ReplyMeta {
            notice: Some(notice),
            leave_message,
            ..ReplyMeta::new(DecisionKind::Escalate)
        },
    )
}
