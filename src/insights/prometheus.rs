//! `/metrics`: the all-time statistics and a few live gauges in the Prometheus text
//! exposition format (version 0.0.4).
//!
//! The figures come from the store ([`crate::insights::stats::Stats`] over all conversations), not
//! from in-process counters, so they survive restarts and agree with `/v1/admin/stats`.
//! Counters only grow; durations are summaries with the p50/p90 quantiles, `_sum` and
//! `_count` in seconds. Writing the format directly keeps it a plain function of `Stats`:
//! the client libraries are built around live instruments updated in place.

use std::fmt::Write;

use crate::insights::stats::{Percentiles, Stats};

/// Live values read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub queued: u64,
    pub assigned: u64,
    pub agents_online: u64,
    pub kb_faqs: u64,
    pub kb_intents: u64,
    pub kb_last_reload_ok: bool,
    /// How shoppers' messages met the sentence encoder since start (`None`: no encoder).
    pub encoder: Option<crate::encoder::UsageCounts>,
    /// Calls to the shop's API since start, per declared call (in-process counters).
    pub shop: std::collections::BTreeMap<String, crate::shop::client::CallMetrics>,
    /// How long ago the store's statistics shown were computed.
    pub statistics_age_seconds: f64,
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn value(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        let _ = write!(self.0, "{name}");
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, val)| format!("{k}=\"{}\"", escape(val)))
                .collect();
            let _ = write!(self.0, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.0, " {v}");
    }

    fn counter(&mut self, name: &str, help: &str, v: u64) {
        self.head(name, "counter", help);
        self.value(name, &[], v as f64);
    }

    fn gauge(&mut self, name: &str, help: &str, v: f64) {
        self.head(name, "gauge", help);
        self.value(name, &[], v);
    }

    fn summary(&mut self, name: &str, help: &str, p: &Percentiles) {
        self.head(name, "summary", help);
        for (q, v) in [("0.5", p.p50), ("0.9", p.p90)] {
            let v = v.map_or(f64::NAN, |ms| ms as f64 / 1000.0);
            self.value(name, &[("quantile", q)], v);
        }
        self.value(&format!("{name}_sum"), &[], p.sum as f64 / 1000.0);
        self.value(&format!("{name}_count"), &[], p.count as f64);
    }
}

/// The exposition text.
pub fn render(stats: &Stats, gauges: &Gauges) -> String {
    let mut o = Out(String::with_capacity(8 * 1024));
    o.counter(
        "baton_conversations_total",
        "Conversations with at least one shopper message.",
        stats.conversations,
    );
    o.counter(
        "baton_conversations_contained_total",
        "Conversations the bot handled without a person (no hand-over, no message left for the team).",
        stats.contained,
    );
    o.head(
        "baton_escalations_total",
        "counter",
        "Conversations handed to a person, by the reason of their first hand-over.",
    );
    for reason in crate::vocabulary::EscalationReason::ALL.map(|r| r.as_str()) {
        let n = stats
            .escalations_by_reason
            .get(reason)
            .copied()
            .unwrap_or(0);
        o.value("baton_escalations_total", &[("reason", reason)], n as f64);
    }
    o.summary(
        "baton_queue_wait_seconds",
        "From hand-over to the first agent taking the conversation.",
        &stats.queue_wait_ms,
    );
    o.summary(
        "baton_first_response_seconds",
        "From hand-over to the first agent message.",
        &stats.first_response_ms,
    );
    o.summary(
        "baton_handle_seconds",
        "From the first agent taking the conversation to its resolution or return to the bot.",
        &stats.handle_ms,
    );
    o.head(
        "baton_csat_ratings_total",
        "counter",
        "Shopper ratings by score (1-5).",
    );
    for (score, n) in &stats.csat.distribution {
        o.value("baton_csat_ratings_total", &[("score", score)], *n as f64);
    }
    o.head(
        "baton_faq_answers_total",
        "counter",
        "Answers given from each FAQ.",
    );
    for f in &stats.faqs {
        o.value(
            "baton_faq_answers_total",
            &[("faq", &f.faq_id)],
            f.hits as f64,
        );
    }
    o.head(
        "baton_faq_didnt_help_total",
        "counter",
        "Answers from each FAQ followed by \"that didn't help\", a request for a person or a complaint.",
    );
    for f in &stats.faqs {
        o.value(
            "baton_faq_didnt_help_total",
            &[("faq", &f.faq_id)],
            f.didnt_help as f64,
        );
    }
    o.head(
        "baton_intent_messages_total",
        "counter",
        "Shopper messages by predicted intent.",
    );
    for i in &stats.intents {
        o.value(
            "baton_intent_messages_total",
            &[("intent", &i.intent)],
            i.count as f64,
        );
    }
    o.head(
        "baton_intent_confidence",
        "histogram",
        "Classifier confidence of shopper messages.",
    );
    let mut cumulative = 0u64;
    for b in &stats.confidence {
        cumulative += b.count;
        let le = if b.upper >= 1.0 {
            "1.0".to_string()
        } else {
            format!("{:.1}", b.upper)
        };
        o.value(
            "baton_intent_confidence_bucket",
            &[("le", &le)],
            cumulative as f64,
        );
    }
    o.value(
        "baton_intent_confidence_bucket",
        &[("le", "+Inf")],
        cumulative as f64,
    );
    o.value("baton_intent_confidence_sum", &[], stats.confidence_sum);
    o.value("baton_intent_confidence_count", &[], cumulative as f64);
    o.head(
        "baton_kb_reloads_total",
        "counter",
        "Knowledge reload attempts by result.",
    );
    o.value(
        "baton_kb_reloads_total",
        &[("result", "ok")],
        stats.reloads.ok as f64,
    );
    o.value(
        "baton_kb_reloads_total",
        &[("result", "failed")],
        stats.reloads.failed as f64,
    );
    o.gauge(
        "baton_statistics_age_seconds",
        "How long ago the figures above, read from the store, were computed.",
        gauges.statistics_age_seconds,
    );
    o.gauge(
        "baton_queue_length",
        "Conversations waiting for an agent.",
        gauges.queued as f64,
    );
    o.gauge(
        "baton_conversations_assigned",
        "Conversations an agent holds now.",
        gauges.assigned as f64,
    );
    o.gauge(
        "baton_agents_online",
        "Agents online now.",
        gauges.agents_online as f64,
    );
    o.gauge(
        "baton_kb_faqs",
        "FAQ variants being served.",
        gauges.kb_faqs as f64,
    );
    o.gauge(
        "baton_kb_intents",
        "Intents being served.",
        gauges.kb_intents as f64,
    );
    o.gauge(
        "baton_kb_last_reload_ok",
        "1 when the last reload attempt succeeded.",
        f64::from(u8::from(gauges.kb_last_reload_ok)),
    );
    if let Some(usage) = gauges.encoder {
        o.head(
            "baton_encoder_messages_total",
            "counter",
            "Shoppers' messages not seen recently, since start, by how they met the sentence \
             encoder: embedded (a forward pass), remembered (the vector was known) or skipped \
             (the cheap models were sure).",
        );
        for (outcome, count) in [
            ("embedded", usage.embedded),
            ("remembered", usage.remembered),
            ("skipped", usage.skipped),
        ] {
            o.value(
                "baton_encoder_messages_total",
                &[("outcome", outcome)],
                count as f64,
            );
        }
    }
    o.head(
        "baton_shop_calls_total",
        "counter",
        "Calls to the shop's order API since start, by declared call.",
    );
    for (call, m) in &gauges.shop {
        o.value("baton_shop_calls_total", &[("call", call)], m.calls as f64);
    }
    o.head(
        "baton_shop_call_failures_total",
        "counter",
        "Failed calls to the shop's order API since start, by call and kind of failure.",
    );
    for (call, m) in &gauges.shop {
        for (kind, n) in &m.failures {
            o.value(
                "baton_shop_call_failures_total",
                &[("call", call), ("kind", kind)],
                *n as f64,
            );
        }
    }
    o.head(
        "baton_shop_call_seconds",
        "summary",
        "Time of calls to the shop's order API (all tries), by call.",
    );
    for (call, m) in &gauges.shop {
        o.value(
            "baton_shop_call_seconds_sum",
            &[("call", call)],
            m.latency_ms_sum as f64 / 1000.0,
        );
        o.value(
            "baton_shop_call_seconds_count",
            &[("call", call)],
            m.calls as f64,
        );
    }
    o.head(
        "baton_shop_breaker_open",
        "gauge",
        "1 while a call's circuit breaker refuses calls (open), else 0.",
    );
    for (call, m) in &gauges.shop {
        o.value(
            "baton_shop_breaker_open",
            &[("call", call), ("state", m.breaker)],
            f64::from(u8::from(m.breaker == "open")),
        );
    }
    o.head(
        "baton_shop_handoffs_total",
        "counter",
        "Conversations handed to a person because a call to the shop failed, by call.",
    );
    for a in &stats.actions {
        o.value(
            "baton_shop_handoffs_total",
            &[("call", &a.call)],
            a.handoffs as f64,
        );
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_valid_exposition_lines() {
        let stats = crate::insights::stats::compute(0, 3_600_000, &[], &[]);
        let text = render(&stats, &Gauges::default());
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("baton_"), "{line}");
            assert!(value.parse::<f64>().is_ok() || value == "NaN", "{line}");
        }
        assert!(text.contains("baton_escalations_total{reason=\"complaint\"} 0"));
        assert!(text.contains("baton_intent_confidence_bucket{le=\"+Inf\"} 0"));
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
