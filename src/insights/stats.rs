//! The numbers a support lead watches, computed from what the store holds: nothing is
//! counted twice or kept in memory, so the figures survive restarts and match the transcripts.
//!
//! [`compute`] is a pure function from the activity of conversations that started in
//! `[from, to)` (see [`crate::store::Store::activity`]) and the reload audit entries to
//! [`Stats`]; `GET /v1/admin/stats` serves it as JSON and `/metrics` renders the all-time
//! figures in the Prometheus text format. The definitions are written in the README.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::conversation::{Author, DecisionKind, Message, TurnRecord};
use crate::handoff::{AuditEntry, EscalationReason, HandoffStatus};
use crate::store::ConversationActivity;

/// Buckets shorter than this many milliseconds of range are hours, longer ones days.
const HOURLY_UP_TO_MS: i64 = 2 * 86_400_000;

/// Median and 90th percentile of a set of durations (nearest rank), in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    /// The sum, for Prometheus summaries.
    #[serde(skip)]
    pub sum: i64,
}

impl Percentiles {
    pub fn of(mut values: Vec<i64>) -> Percentiles {
        values.sort_unstable();
        let rank = |p: f64| -> Option<i64> {
            if values.is_empty() {
                return None;
            }
            let r = (p * values.len() as f64).ceil() as usize;
            values.get(r.clamp(1, values.len()) - 1).copied()
        };
        Percentiles {
            count: values.len() as u64,
            p50: rank(0.5),
            p90: rank(0.9),
            sum: values.iter().sum(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Csat {
    pub count: u64,
    pub average: Option<f64>,
    /// Ratings by score, "1" to "5".
    pub distribution: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaqStats {
    pub faq_id: String,
    /// Answers given from it.
    pub hits: u64,
    /// Answers followed by "that didn't help", a request for a person or a complaint.
    pub didnt_help: u64,
}

/// One declared call to the shop's API, over the period.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ActionStats {
    pub call: String,
    pub calls: u64,
    /// Answered (data, or the shop's expected refusal such as "not yours" or "shipped").
    pub succeeded: u64,
    pub failed: u64,
    pub success_rate: Option<f64>,
    /// Failures by kind (`timeout`, `http_error`, `malformed` …).
    pub failures: BTreeMap<String, u64>,
    /// Conversations handed to a person because this call failed.
    pub handoffs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentVolume {
    pub intent: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfidenceBucket {
    pub lower: f32,
    pub upper: f32,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reloads {
    pub ok: u64,
    pub failed: u64,
}

/// One bucket of the time series (by conversation start).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoint {
    pub start: i64,
    pub conversations: u64,
    pub contained: u64,
    pub escalations: u64,
    pub csat_average: Option<f64>,
}

/// Everything `GET /v1/admin/stats` returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub from: i64,
    pub to: i64,
    pub bucket_ms: i64,
    pub conversations: u64,
    pub contained: u64,
    pub containment_rate: Option<f64>,
    pub escalations: u64,
    pub escalation_rate: Option<f64>,
    pub escalations_by_reason: BTreeMap<String, u64>,
    pub queue_wait_ms: Percentiles,
    pub first_response_ms: Percentiles,
    pub handle_ms: Percentiles,
    pub csat: Csat,
    pub faqs: Vec<FaqStats>,
    pub intents: Vec<IntentVolume>,
    pub confidence: Vec<ConfidenceBucket>,
    /// Sum of all classified messages' confidences, for the Prometheus histogram.
    #[serde(skip)]
    pub confidence_sum: f64,
    pub reloads: Reloads,
    pub series: Vec<SeriesPoint>,
    /// Calls to the shop's API by declared call, busiest first.
    pub actions: Vec<ActionStats>,
    /// Conversations each trigger rule acted in, by rule id.
    pub rules: BTreeMap<String, u64>,
    /// Conversations trigger rules tagged, by tag.
    pub tags: BTreeMap<String, u64>,
    /// Resolved handoffs by wrap-up category (`uncategorised` when the agent gave none).
    pub wrap_up: BTreeMap<String, u64>,
}

/// The wrap-up key of a resolved handoff filed under no category.
pub const UNCATEGORISED: &str = "uncategorised";

/// The label intent volume uses for messages the classifier found out of scope.
pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// What one conversation contributes.
struct Outcome {
    counted: bool,
    escalation: Option<EscalationReason>,
    contained: bool,
}

fn shopper_turns(messages: &[Message]) -> impl Iterator<Item = (&Message, &TurnRecord)> {
    messages
        .iter()
        .filter(|m| m.author == Author::Shopper)
        .filter_map(|m| m.turn.as_ref().map(|t| (m, t)))
}

fn outcome(c: &ConversationActivity) -> Outcome {
    let counted = c.messages.iter().any(|m| m.author == Author::Shopper);
    // The first hand-over: by a turn's decision (also off hours, when no handoff is queued)
    // or by a handoff (also the "talk to a person" button, which has no turn).
    let by_turn = shopper_turns(&c.messages)
        .find(|(_, t)| t.decision == DecisionKind::Escalate)
        .and_then(|(m, t)| t.reason.map(|r| (m.created_at, r)));
    let by_handoff = c.handoffs.first().map(|h| (h.created_at, h.reason));
    let escalation = match (by_turn, by_handoff) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a.1 } else { b.1 }),
        (a, b) => a.or(b).map(|x| x.1),
    };
    Outcome {
        counted,
        contained: counted && escalation.is_none() && c.tickets == 0,
        escalation,
    }
}

/// Whether a shopper turn says the answer before it missed.
pub fn rejects_previous_answer(t: &TurnRecord) -> bool {
    t.didnt_help || t.asked_for_human || t.negative
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn average(scores: &[u8]) -> Option<f64> {
    (!scores.is_empty())
        .then(|| scores.iter().map(|&s| s as f64).sum::<f64>() / scores.len() as f64)
}

/// Computes the statistics of conversations that started in `[from, to)`.
pub fn compute(
    from: i64,
    to: i64,
    conversations: &[ConversationActivity],
    reload_entries: &[AuditEntry],
) -> Stats {
    let bucket_ms = if to - from <= HOURLY_UP_TO_MS {
        3_600_000
    } else {
        86_400_000
    };
    let buckets = ((to - from).max(0) + bucket_ms - 1) / bucket_ms;
    let mut series: Vec<(SeriesPoint, Vec<u8>)> = (0..buckets)
        .map(|i| {
            (
                SeriesPoint {
                    start: from + i * bucket_ms,
                    conversations: 0,
                    contained: 0,
                    escalations: 0,
                    csat_average: None,
                },
                Vec::new(),
            )
        })
        .collect();

    let (mut counted, mut contained, mut escalations) = (0u64, 0u64, 0u64);
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let (mut waits, mut first_responses, mut handles) = (Vec::new(), Vec::new(), Vec::new());
    let mut scores: Vec<u8> = Vec::new();
    let mut faqs: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut intents: HashMap<&str, u64> = HashMap::new();
    let mut confidence = [0u64; 10];
    let mut confidence_sum = 0.0f64;
    let mut actions: BTreeMap<String, ActionStats> = BTreeMap::new();
    let mut rules: BTreeMap<String, u64> = BTreeMap::new();
    let mut tags: BTreeMap<String, u64> = BTreeMap::new();
    let mut wrap_up: BTreeMap<String, u64> = BTreeMap::new();

    for c in conversations {
        let o = outcome(c);
        if !o.counted {
            continue;
        }
        counted += 1;
        let bucket = ((c.created_at - from) / bucket_ms) as usize;
        let point = series.get_mut(bucket);
        if o.contained {
            contained += 1;
        }
        if let Some(reason) = o.escalation {
            escalations += 1;
            *by_reason.entry(reason.as_str().to_string()).or_default() += 1;
        }
        if let Some((p, s)) = point {
            p.conversations += 1;
            p.contained += u64::from(o.contained);
            p.escalations += u64::from(o.escalation.is_some());
            s.extend(&c.ratings);
        }
        scores.extend(&c.ratings);
        for h in &c.handoffs {
            let taken = h.routing.first_assigned_at.or(h.routing.assigned_at);
            if let Some(t) = taken {
                waits.push(t - h.created_at);
            }
            if let Some(t) = h.routing.first_response_at {
                first_responses.push(t - h.created_at);
            }
            if h.status == HandoffStatus::Resolved {
                let category = h.wrap_up.as_ref().map_or(UNCATEGORISED, |w| &w.category);
                *wrap_up.entry(category.to_string()).or_default() += 1;
            }
            let closed = matches!(h.status, HandoffStatus::Resolved | HandoffStatus::Returned);
            if let (true, Some(start), Some(end)) = (closed, taken, h.routing.closed_at) {
                handles.push(end - start);
            }
        }
        let turns: Vec<&TurnRecord> = shopper_turns(&c.messages).map(|(_, t)| t).collect();
        for t in &turns {
            let handed_over = t.reason == Some(EscalationReason::ActionFailed);
            for call in &t.shop_calls {
                let a = actions
                    .entry(call.call.clone())
                    .or_insert_with(|| ActionStats {
                        call: call.call.clone(),
                        ..ActionStats::default()
                    });
                a.calls += 1;
                if call.outcome.answered() {
                    a.succeeded += 1;
                } else {
                    a.failed += 1;
                    *a.failures.entry(call.outcome.as_str().into()).or_default() += 1;
                    a.handoffs += u64::from(handed_over);
                }
            }
        }
        let acted: std::collections::BTreeSet<&String> =
            turns.iter().flat_map(|t| &t.triggered).collect();
        for rule in acted {
            *rules.entry(rule.clone()).or_default() += 1;
        }
        let tagged: std::collections::BTreeSet<&String> =
            turns.iter().flat_map(|t| &t.tags).collect();
        for tag in tagged {
            *tags.entry(tag.clone()).or_default() += 1;
        }
        for (i, t) in turns.iter().enumerate() {
            if let Some(faq) = &t.answered_faq {
                let e = faqs.entry(faq.as_str()).or_default();
                e.0 += 1;
                if turns
                    .get(i + 1)
                    .is_some_and(|next| rejects_previous_answer(next))
                {
                    e.1 += 1;
                }
            }
            if let Some(p) = &t.intent {
                let label = if p.out_of_scope {
                    OUT_OF_SCOPE
                } else {
                    p.label.as_str()
                };
                *intents.entry(label).or_default() += 1;
                let b = ((p.confidence * 10.0).floor() as i64).clamp(0, 9) as usize;
                confidence[b] += 1;
                confidence_sum += p.confidence as f64;
            }
        }
    }

    let mut distribution: BTreeMap<String, u64> = (1..=5).map(|s| (s.to_string(), 0)).collect();
    for s in &scores {
        *distribution.entry(s.to_string()).or_default() += 1;
    }
    let mut faqs: Vec<FaqStats> = faqs
        .into_iter()
        .map(|(id, (hits, didnt_help))| FaqStats {
            faq_id: id.to_string(),
            hits,
            didnt_help,
        })
        .collect();
    faqs.sort_by(|a, b| b.hits.cmp(&a.hits).then_with(|| a.faq_id.cmp(&b.faq_id)));
    let mut intents: Vec<IntentVolume> = intents
        .into_iter()
        .map(|(intent, count)| IntentVolume {
            intent: intent.to_string(),
            count,
        })
        .collect();
    intents.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.intent.cmp(&b.intent)));
    let mut reloads = Reloads::default();
    for e in reload_entries {
        if e.detail.get("ok").and_then(|v| v.as_bool()) == Some(true) {
            reloads.ok += 1;
        } else {
            reloads.failed += 1;
        }
    }

    let mut actions: Vec<ActionStats> = actions
        .into_values()
        .map(|mut a| {
            a.success_rate = rate(a.succeeded, a.calls);
            a
        })
        .collect();
    actions.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.call.cmp(&b.call)));
    Stats {
        actions,
        rules,
        tags,
        wrap_up,
        from,
        to,
        bucket_ms,
        conversations: counted,
        contained,
        containment_rate: rate(contained, counted),
        escalations,
        escalation_rate: rate(escalations, counted),
        escalations_by_reason: by_reason,
        queue_wait_ms: Percentiles::of(waits),
        first_response_ms: Percentiles::of(first_responses),
        handle_ms: Percentiles::of(handles),
        csat: Csat {
            count: scores.len() as u64,
            average: average(&scores),
            distribution,
        },
        faqs,
        intents,
        confidence: confidence
            .iter()
            .enumerate()
            .map(|(i, &count)| ConfidenceBucket {
                lower: i as f32 / 10.0,
                upper: (i + 1) as f32 / 10.0,
                count,
            })
            .collect(),
        confidence_sum,
        reloads,
        series: series
            .into_iter()
            .map(|(mut p, s)| {
                p.csat_average = average(&s);
                p
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of(vec![50, 10, 40, 20, 30]);
        assert_eq!((p.count, p.p50, p.p90, p.sum), (5, Some(30), Some(50), 150));
        let p = Percentiles::of((1..=10).collect());
        assert_eq!((p.p50, p.p90), (Some(5), Some(9)));
        let p = Percentiles::of(vec![]);
        assert_eq!((p.count, p.p50, p.p90), (0, None, None));
    }

    #[test]
    fn an_empty_range_has_no_rates() {
        let s = compute(0, 86_400_000, &[], &[]);
        assert_eq!(s.conversations, 0);
        assert_eq!(s.containment_rate, None);
        assert_eq!(s.series.len(), 24);
        assert_eq!(s.csat.distribution.len(), 5);
        assert_eq!(s.confidence.len(), 10);
    }
}
