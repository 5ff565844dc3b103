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

/// Computes the statistics of conversations that started in `[from, to)`.
pub fn compute(
    from: i64,
    to: i64,
    conversations: &[ConversationActivity],
    reload_entries: &[AuditEntry],
) -> Stats {
    let mut tally = Tally::new(from, to);
    for c in conversations {
        tally.add(c);
    }
    tally.finish(reload_entries)
}

/// One bucket of the series while conversations are being added.
#[derive(Debug, Clone, Default)]
struct PointTally {
    conversations: u64,
    contained: u64,
    escalations: u64,
    scores: [u64; 5],
}

/// The statistics of a range, while its conversations are being added, in any order and in
/// as many parts as wanted: tallies of the same range made from different conversations
/// [`merge`](Tally::merge) into the tally of all of them. Nothing in it refers to the
/// conversations, so a tally stays small when the activity it was made from is dropped:
/// counts, and the durations behind the percentiles.
#[derive(Debug, Clone)]
pub struct Tally {
    from: i64,
    to: i64,
    bucket_ms: i64,
    counted: u64,
    contained: u64,
    escalations: u64,
    by_reason: BTreeMap<String, u64>,
    waits: Vec<i64>,
    first_responses: Vec<i64>,
    handles: Vec<i64>,
    /// Ratings by score, 1 to 5.
    scores: [u64; 5],
    faqs: HashMap<String, (u64, u64)>,
    intents: HashMap<String, u64>,
    confidence: [u64; 10],
    confidence_sum: f64,
    actions: BTreeMap<String, ActionStats>,
    rules: BTreeMap<String, u64>,
    tags: BTreeMap<String, u64>,
    wrap_up: BTreeMap<String, u64>,
    /// Series buckets that have conversations, by index from `from`.
    series: BTreeMap<i64, PointTally>,
}

fn add_all(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, n) in from {
        *into.entry(k).or_default() += n;
    }
}

/// Counts one more under `key`, allocating the key only the first time it is seen.
fn count_in(map: &mut HashMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

fn average_of(scores: &[u64; 5]) -> Option<f64> {
    let n: u64 = scores.iter().sum();
    let sum: u64 = scores.iter().zip(1u64..).map(|(c, s)| c * s).sum();
    (n > 0).then(|| sum as f64 / n as f64)
}

impl Tally {
    /// An empty tally of the range `[from, to)`: hourly buckets up to two days, daily beyond.
    pub fn new(from: i64, to: i64) -> Tally {
        Tally {
            from,
            to,
            bucket_ms: if to - from <= HOURLY_UP_TO_MS {
                3_600_000
            } else {
                86_400_000
            },
            counted: 0,
            contained: 0,
            escalations: 0,
            by_reason: BTreeMap::new(),
            waits: Vec::new(),
            first_responses: Vec::new(),
            handles: Vec::new(),
            scores: [0; 5],
            faqs: HashMap::new(),
            intents: HashMap::new(),
            confidence: [0; 10],
            confidence_sum: 0.0,
            actions: BTreeMap::new(),
            rules: BTreeMap::new(),
            tags: BTreeMap::new(),
            wrap_up: BTreeMap::new(),
            series: BTreeMap::new(),
        }
    }

    /// Adds one conversation (which must have started in the range).
    pub fn add(&mut self, c: &ConversationActivity) {
        let o = outcome(c);
        if !o.counted {
            return;
        }
        self.counted += 1;
        self.contained += u64::from(o.contained);
        if let Some(reason) = o.escalation {
            self.escalations += 1;
            *self
                .by_reason
                .entry(reason.as_str().to_string())
                .or_default() += 1;
        }
        let point = self
            .series
            .entry((c.created_at - self.from) / self.bucket_ms)
            .or_default();
        point.conversations += 1;
        point.contained += u64::from(o.contained);
        point.escalations += u64::from(o.escalation.is_some());
        for &score in &c.ratings {
            if let Some(slot) = usize::from(score).checked_sub(1).filter(|&i| i < 5) {
                self.scores[slot] += 1;
                point.scores[slot] += 1;
            }
        }
        for h in &c.handoffs {
            let taken = h.routing.first_assigned_at.or(h.routing.assigned_at);
            if let Some(t) = taken {
                self.waits.push(t - h.created_at);
            }
            if let Some(t) = h.routing.first_response_at {
                self.first_responses.push(t - h.created_at);
            }
            if h.status == HandoffStatus::Resolved {
                let category = h.wrap_up.as_ref().map_or(UNCATEGORISED, |w| &w.category);
                *self.wrap_up.entry(category.to_string()).or_default() += 1;
            }
            let closed = matches!(h.status, HandoffStatus::Resolved | HandoffStatus::Returned);
            if let (true, Some(start), Some(end)) = (closed, taken, h.routing.closed_at) {
                self.handles.push(end - start);
            }
        }
        let turns: Vec<&TurnRecord> = shopper_turns(&c.messages).map(|(_, t)| t).collect();
        for t in &turns {
            let handed_over = t.reason == Some(EscalationReason::ActionFailed);
            for call in &t.shop_calls {
                let a = self
                    .actions
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
            *self.rules.entry(rule.clone()).or_default() += 1;
        }
        let tagged: std::collections::BTreeSet<&String> =
            turns.iter().flat_map(|t| &t.tags).collect();
        for tag in tagged {
            *self.tags.entry(tag.clone()).or_default() += 1;
        }
        for (i, t) in turns.iter().enumerate() {
            if let Some(faq) = &t.answered_faq {
                let rejected = turns
                    .get(i + 1)
                    .is_some_and(|next| rejects_previous_answer(next));
                match self.faqs.get_mut(faq.as_str()) {
                    Some(e) => *e = (e.0 + 1, e.1 + u64::from(rejected)),
                    None => {
                        self.faqs.insert(faq.clone(), (1, u64::from(rejected)));
                    }
                }
            }
            if let Some(p) = &t.intent {
                let label = if p.out_of_scope {
                    OUT_OF_SCOPE
                } else {
                    p.label.as_str()
                };
                count_in(&mut self.intents, label);
                let b = ((p.confidence * 10.0).floor() as i64).clamp(0, 9) as usize;
                self.confidence[b] += 1;
                self.confidence_sum += p.confidence as f64;
            }
        }
    }

    /// Adds the conversations another tally of the same range counted (none may be in both).
    pub fn merge(&mut self, other: Tally) {
        debug_assert_eq!((self.from, self.bucket_ms), (other.from, other.bucket_ms));
        self.counted += other.counted;
        self.contained += other.contained;
        self.escalations += other.escalations;
        add_all(&mut self.by_reason, other.by_reason);
        self.waits.extend(other.waits);
        self.first_responses.extend(other.first_responses);
        self.handles.extend(other.handles);
        for (mine, theirs) in self.scores.iter_mut().zip(other.scores) {
            *mine += theirs;
        }
        for (faq, (hits, didnt_help)) in other.faqs {
            let e = self.faqs.entry(faq).or_default();
            *e = (e.0 + hits, e.1 + didnt_help);
        }
        for (intent, n) in other.intents {
            *self.intents.entry(intent).or_default() += n;
        }
        for (mine, theirs) in self.confidence.iter_mut().zip(other.confidence) {
            *mine += theirs;
        }
        self.confidence_sum += other.confidence_sum;
        for (call, theirs) in other.actions {
            let a = self.actions.entry(call).or_insert_with(|| ActionStats {
                call: theirs.call.clone(),
                ..ActionStats::default()
            });
            a.calls += theirs.calls;
            a.succeeded += theirs.succeeded;
            a.failed += theirs.failed;
            a.handoffs += theirs.handoffs;
            add_all(&mut a.failures, theirs.failures);
        }
        add_all(&mut self.rules, other.rules);
        add_all(&mut self.tags, other.tags);
        add_all(&mut self.wrap_up, other.wrap_up);
        for (bucket, theirs) in other.series {
            let p = self.series.entry(bucket).or_default();
            p.conversations += theirs.conversations;
            p.contained += theirs.contained;
            p.escalations += theirs.escalations;
            for (mine, t) in p.scores.iter_mut().zip(theirs.scores) {
                *mine += t;
            }
        }
    }

    /// The same tally, finishing its range at `to` (its buckets unchanged): a tally of all
    /// time, grown part by part, finished at the moment it is shown.
    pub fn until(self, to: i64) -> Tally {
        Tally { to, ..self }
    }

    /// The statistics, with the reload attempts of the range.
    pub fn finish(self, reload_entries: &[AuditEntry]) -> Stats {
        let Tally {
            from,
            to,
            bucket_ms,
            ..
        } = self;
        let distribution: BTreeMap<String, u64> = (1..=5)
            .zip(self.scores)
            .map(|(s, n)| (s.to_string(), n))
            .collect();
        let mut faqs: Vec<FaqStats> = self
            .faqs
            .into_iter()
            .map(|(faq_id, (hits, didnt_help))| FaqStats {
                faq_id,
                hits,
                didnt_help,
            })
            .collect();
        faqs.sort_by(|a, b| b.hits.cmp(&a.hits).then_with(|| a.faq_id.cmp(&b.faq_id)));
        let mut intents: Vec<IntentVolume> = self
            .intents
            .into_iter()
            .map(|(intent, count)| IntentVolume { intent, count })
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
        let mut actions: Vec<ActionStats> = self
            .actions
            .into_values()
            .map(|mut a| {
                a.success_rate = rate(a.succeeded, a.calls);
                a
            })
            .collect();
        actions.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.call.cmp(&b.call)));
        let buckets = ((to - from).max(0) + bucket_ms - 1) / bucket_ms;
        let mut points = self.series;
        let series = (0..buckets)
            .map(|i| {
                let p = points.remove(&i).unwrap_or_default();
                SeriesPoint {
                    start: from + i * bucket_ms,
                    conversations: p.conversations,
                    contained: p.contained,
                    escalations: p.escalations,
                    csat_average: average_of(&p.scores),
                }
            })
            .collect();
        Stats {
            actions,
            rules: self.rules,
            tags: self.tags,
            wrap_up: self.wrap_up,
            from,
            to,
            bucket_ms,
            conversations: self.counted,
            contained: self.contained,
            containment_rate: rate(self.contained, self.counted),
            escalations: self.escalations,
            escalation_rate: rate(self.escalations, self.counted),
            escalations_by_reason: self.by_reason,
            queue_wait_ms: Percentiles::of(self.waits),
            first_response_ms: Percentiles::of(self.first_responses),
            handle_ms: Percentiles::of(self.handles),
            csat: Csat {
                count: self.scores.iter().sum(),
                average: average_of(&self.scores),
                distribution,
            },
            faqs,
            intents,
            confidence: self
                .confidence
                .iter()
                .enumerate()
                .map(|(i, &count)| ConfidenceBucket {
                    lower: i as f32 / 10.0,
                    upper: (i + 1) as f32 / 10.0,
                    count,
                })
                .collect(),
            confidence_sum: self.confidence_sum,
            reloads,
            series,
        }
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

    /// A conversation started at `hour` whose shopper turns answered from `faqs` in order; a
    /// `None` is a turn that said the answer before did not help.
    fn conversation(
        id: &str,
        hour: i64,
        faqs: &[Option<&str>],
        ratings: &[u8],
    ) -> ConversationActivity {
        let messages = faqs
            .iter()
            .zip(1..)
            .map(|(faq, seq)| {
                let mut turn = TurnRecord::answered("order_status", faq.unwrap_or("none"));
                if faq.is_none() {
                    turn.answered_faq = None;
                    turn.didnt_help = true;
                }
                Message {
                    turn: Some(turn),
                    ..Message::for_tests(seq, Author::Shopper, None)
                }
            })
            .collect();
        ConversationActivity {
            id: id.into(),
            created_at: hour * 3_600_000,
            locale: crate::nlu::Lang::Zh,
            messages,
            handoffs: vec![],
            ratings: ratings.to_vec(),
            tickets: u32::from(ratings.is_empty()),
            erased: false,
        }
    }

    #[test]
    fn tallies_of_parts_add_up_to_the_tally_of_the_whole() {
        let all = [
            conversation("a", 1, &[Some("shipping"), None], &[4]),
            conversation("b", 5, &[Some("shipping"), Some("refund")], &[]),
            conversation("c", 30, &[Some("refund")], &[2, 5]),
            conversation("d", 47, &[], &[]),
        ];
        let to = 48 * 3_600_000;
        let whole = compute(0, to, &all, &[]);
        let mut parts = Tally::new(0, to);
        for part in [&all[2..], &all[..1], &all[1..2]] {
            let mut t = Tally::new(0, to);
            for c in part {
                t.add(c);
            }
            parts.merge(t);
        }
        let mut merged = parts.finish(&[]);
        assert!((merged.confidence_sum - whole.confidence_sum).abs() < 1e-9);
        merged.confidence_sum = whole.confidence_sum;
        assert_eq!(merged, whole);
        assert_eq!(
            (whole.conversations, whole.contained),
            (3, 2),
            "d never wrote"
        );
        let shipping = whole.faqs.iter().find(|f| f.faq_id == "shipping").unwrap();
        assert_eq!((shipping.hits, shipping.didnt_help), (2, 1));
        assert_eq!(whole.csat.count, 3);
        assert_eq!(whole.csat.average, Some(11.0 / 3.0));
        assert_eq!(whole.series[30].csat_average, Some(3.5));
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
