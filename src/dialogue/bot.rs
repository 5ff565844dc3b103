//! One bot turn, the one way Baton runs it: normalise → (seen recently? else sure without the
//! encoder? else embed → understand) → analyze → decide → plan → (order task) → trigger rules
//! → reception mode → settle the handoff. `baton serve`
//! (through the conversation service), `baton chat` and the turn benchmark all call
//! [`respond`]; what comes out is a [`Plan`] ready to commit.
//!
//! The message is normalised once; when the cheap models are not sure of it
//! (`knowledge::gate`), the encoder (when the snapshot uses one) embeds it on its own threads,
//! and a full encoder queue fails fast with [`TurnError::Busy`] before anything is stored, so
//! a retry is safe. Classification and retrieval are CPU work: a server runs
//! them on the blocking pool ([`Compute::Blocking`]) to keep the async workers free.

use std::sync::Arc;

use super::policy::Facts;
use super::reception::Staffing;
use super::rules;
use super::task::{self, TaskStep};
use super::turn::{Plan, analyze, plan, settle, task_plan};
use crate::config::Config;
use crate::dialogue_memory::DialogueMemory;
use crate::encoder::EncoderError;
use crate::knowledge::{Knowledge, Understood};
use crate::nlu::{Lang, normalize};

/// Why a turn could not be run. Nothing has been stored when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// The encoder's queue is full.
    #[error("the bot is at capacity; retry shortly")]
    Busy,
    #[error("the sentence encoder failed: {0}")]
    Encoder(EncoderError),
    #[error("the turn task failed: {0}")]
    Task(String),
}

/// Where classification and retrieval run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    /// On the calling thread (the command line, benchmarks).
    Inline,
    /// On the async runtime's blocking pool (a server), unless the message is short (at most
    /// [`INLINE_BYTES`]): then its ~60 µs of work run in place, since handing it to another
    /// thread and back costs two context switches, more than the work itself on a loaded node.
    Blocking,
}

/// Normalised messages up to this length are classified on the request's own thread even
/// under [`Compute::Blocking`]; most chat messages are this short (about 85 Chinese or 250
/// Latin characters), and work on them stays well under the ~100 µs an async task may run
/// without yielding.
pub const INLINE_BYTES: usize = 256;

/// A shopper's message to answer.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub text: &'a str,
    /// The language to assume when the text has no letters (the conversation's locale).
    pub locale: Lang,
    /// What the conversation's row says about the shopper and the turns so far.
    pub facts: Facts,
    /// What the conversation remembers (the trigger rules' counts among it).
    pub memory: &'a DialogueMemory,
    /// When it arrived: reception modes have time windows.
    pub at: jiff::Timestamp,
    /// The shop's order API and what the conversation remembers; `None` runs no order tasks.
    pub order: Option<super::task::OrderContext<'a>>,
}

/// The part of a message the bot reads: its first `max_chars` characters (cut on a char
/// boundary). Every step after this costs in proportion to the text, and the start of a
/// message says what it is about; the whole text is stored and shown all the same.
pub fn for_understanding(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Runs one bot turn against one knowledge snapshot. `staffing` says whether a person of a
/// skill group can take a conversation now (business hours, agents on duty) and how long a
/// newcomer to its queue would wait.
pub async fn respond(
    knowledge: &Arc<Knowledge>,
    config: &Arc<Config>,
    message: Message<'_>,
    compute: Compute,
    staffing: impl Fn(&str) -> Staffing,
) -> Result<Plan, TurnError> {
    let normalized = normalize(for_understanding(message.text, config.nlu.max_chars));
    let candidates = config.nlu.faq_candidates;
    let short = normalized.len() <= INLINE_BYTES;
    let known = known_understanding(knowledge, config, &normalized, compute, short).await?;
    let Message {
        locale,
        facts,
        memory,
        at,
        order,
        text,
    } = message;
    let rules = &knowledge.content.rules;
    let matched_rules = rules::matching(rules, &normalized);
    let think = {
        let (knowledge, config, facts) = (knowledge.clone(), config.clone(), facts.clone());
        move || {
            let understood = match known {
                Known::Understood(understood) => understood,
                Known::Vector(vector) => {
                    let fresh =
                        Arc::new(knowledge.understand(&normalized, candidates, vector.as_deref()));
                    knowledge.recent.put(&normalized, candidates, fresh.clone());
                    fresh
                }
            };
            let analysis = analyze(
                Understood::clone(&understood),
                &config.policy,
                &normalized,
                locale,
            );
            let kept = analysis.clone();
            (kept, plan(&knowledge, &config.policy, analysis, &facts))
        }
    };
    let (analysis, mut plan) = on_cpu(compute, short, think).await?;
    if let Some(ctx) = order.filter(|_| config.shop.enabled) {
        let text = for_understanding(text, config.nlu.max_chars);
        match task::step(knowledge, &config.policy, &analysis, text, &facts, ctx).await {
            TaskStep::Took { turn, memory } => plan = task_plan(plan, turn, memory, knowledge),
            TaskStep::Pass { memory } => plan.memory = memory,
        }
    }
    if !matched_rules.is_empty() {
        let memory = plan.memory.clone().unwrap_or_else(|| memory.clone());
        rules::apply(
            &mut plan,
            rules,
            &matched_rules,
            memory,
            &facts,
            &config.policy,
        );
    }
    let reception = &knowledge.content.reception;
    if !reception.all_bot_first() {
        let group = plan.group(&facts, &config.policy);
        let mode = reception.mode_for(&group, at, &config.hours);
        let staff = staffing(&group);
        super::reception::apply(&mut plan, mode, staff, memory, &facts, &config.policy);
    }
    settle(&mut plan, &config.hours, |skill| {
        staffing(skill).availability
    });
    Ok(plan)
}

/// What is known of a message's meaning before the CPU part of the turn.
enum Known {
    /// What the models make of it: remembered, or the cheap models' and sure.
    Understood(Arc<Understood>),
    /// Its encoder vector (`None`: the snapshot uses none); the models are still to run.
    Vector(Option<Arc<[f32]>>),
}

/// A text seen recently is understood already; one the cheap models are sure of needs no
/// encoder (`knowledge::gate`); any other waits for its vector.
async fn known_understanding(
    knowledge: &Arc<Knowledge>,
    config: &Arc<Config>,
    normalized: &str,
    compute: Compute,
    short: bool,
) -> Result<Known, TurnError> {
    let candidates = config.nlu.faq_candidates;
    if let Some(seen) = knowledge.recent.get(normalized, candidates) {
        return Ok(Known::Understood(seen));
    }
    if let Some(encoder) = knowledge
        .encoder
        .as_ref()
        .filter(|_| knowledge.gate.enabled)
    {
        let cheap = {
            let (knowledge, text) = (knowledge.clone(), normalized.to_string());
            let thresholds = (config.policy.intent_threshold, config.policy.faq_threshold);
            on_cpu(compute, short, move || {
                knowledge.understand_without_encoder(&text, candidates, thresholds)
            })
            .await?
        };
        if let Some(cheap) = cheap {
            encoder.usage.understood_without();
            let cheap = Arc::new(cheap);
            knowledge.recent.put(normalized, candidates, cheap.clone());
            return Ok(Known::Understood(cheap));
        }
    }
    let vector = knowledge
        .embed_message(normalized)
        .await
        .map_err(|e| match e {
            EncoderError::Busy => TurnError::Busy,
            other => TurnError::Encoder(other),
        })?;
    Ok(Known::Vector(vector))
}

/// Runs CPU work of the turn: on the blocking pool when asked and the text is long enough for
/// it to pay, else right here.
async fn on_cpu<T: Send + 'static>(
    compute: Compute,
    short: bool,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TurnError> {
    match compute {
        Compute::Blocking if !short => tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| TurnError::Task(e.to_string())),
        Compute::Inline | Compute::Blocking => Ok(work()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_is_cut_for_the_bot_on_a_char_boundary() {
        assert_eq!(for_understanding("退货运费谁出", 2), "退货");
        assert_eq!(for_understanding("退货运费谁出", 6), "退货运费谁出");
        assert_eq!(for_understanding("退货运费谁出", 100), "退货运费谁出");
        let long = "é".repeat(600);
        let cut = for_understanding(&long, 500);
        assert_eq!(cut.chars().count(), 500);
        assert_eq!(cut.len(), 1000, "two bytes a char, none split");
        assert_eq!(for_understanding("", 5), "");
    }
}
