//! `baton eval kb`: FAQ retrieval on labelled queries.
//!
//! Data flow: FAQS (JSONL) → the index Baton builds ([`FaqIndex::build_calibrated`]) →
//! every query searched with the hybrid ranking (and BM25 alone beside it) → recall@1/@5,
//! MRR and latency, the reliability of the confidence per band (as built, the overlap alone,
//! and a map cross-fitted on the queries themselves), and what skipping the encoder would
//! cost.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::{EvalError, LATENCY_SAMPLE, QueryLine, percentiles, read_jsonl};
use crate::content::read_faq_jsonl;
use crate::encoder::Encoder;
use crate::kb::FaqIndex;
use crate::kb::calibration::{ConfidenceMap, Probe, Signals};
use crate::nlu::normalize;

/// Ranking quality and speed of one retriever on a query set.
#[derive(Debug, Serialize, Clone)]
pub struct KbScores {
    #[serde(rename = "recall@1")]
    pub recall_at_1: f64,
    #[serde(rename = "recall@5")]
    pub recall_at_5: f64,
    pub mrr: f64,
    /// Search time per query, given the query's vector.
    pub query_p50_us: f64,
    pub query_p99_us: f64,
    /// How often the top FAQ is right, by its confidence: the same confidence should mean
    /// the same chance of being right on every KB.
    pub reliability: Vec<ReliabilityBin>,
    /// How far confidence and accuracy are apart, averaged over the queries (expected
    /// calibration error over the bands above): 0 is perfectly calibrated.
    pub calibration_error: f64,
    /// The same table with each query's confidence from a map fitted on the other half of
    /// the labelled queries (two folds): what a shop's own labelled questions would give,
    /// as `--valid` gives the intent classifier's.
    pub reliability_cross_fitted: Vec<ReliabilityBin>,
    pub calibration_error_cross_fitted: f64,
    /// The same table with the term overlap alone as the confidence (what Chinese hits
    /// said before their confidence was fitted), side by side.
    pub reliability_overlap: Vec<ReliabilityBin>,
    pub calibration_error_overlap: f64,
}

/// Top-1 results whose confidence fell in `[from, to)`: their mean confidence and the
/// share that were right.
#[derive(Debug, Serialize, Clone)]
pub struct ReliabilityBin {
    pub from: f32,
    pub to: f32,
    pub queries: usize,
    pub mean_confidence: f64,
    pub top1_right: f64,
}

const RELIABILITY_BINS: usize = 5;

/// The report of `baton eval kb` (printed as JSON): the retriever Baton uses (hybrid with the
/// encoder, BM25 without) at the top level, and BM25 alone beside it for comparison.
#[derive(Debug, Serialize)]
pub struct KbReport {
    #[serde(flatten)]
    pub scores: KbScores,
    pub n_faqs: usize,
    pub n_queries: usize,
    pub index_ms: f64,
    /// Embedding one query alone (as in a live turn), when the encoder is used.
    pub embed_p50_us: Option<f64>,
    pub embed_p99_us: Option<f64>,
    pub retriever: &'static str,
    /// BM25 alone on the same data, when the top level is the hybrid.
    pub bm25: Option<KbScores>,
    /// What skipping the encoder would cost where BM25's top FAQ already overlaps the query
    /// this much (empty without an encoder): a study, not what Baton does.
    pub encoder_gate: Vec<KbGatePoint>,
}

/// Recall@1 with BM25's top FAQ taken wherever its term overlap reaches `overlap`, and the
/// hybrid's everywhere else.
#[derive(Debug, Clone, Serialize)]
pub struct KbGatePoint {
    pub overlap: f32,
    /// Share of queries that would need no encoder pass.
    pub encoder_skipped: f64,
    #[serde(rename = "recall@1")]
    pub recall_at_1: f64,
}

/// Overlaps at which the retrieval gate study is reported.
const KB_GATE_OVERLAPS: [f32; 3] = [0.6, 0.8, 0.95];

/// The retrieval gate study: each query's BM25 top (overlap, right) beside the hybrid's
/// top (right).
fn kb_gate(
    index: &FaqIndex,
    queries: &[QueryLine],
    normalized: &[String],
    vectors: &[std::sync::Arc<[f32]>],
) -> Result<Vec<KbGatePoint>, EvalError> {
    let mut tops = Vec::with_capacity(queries.len());
    for (i, (q, text)) in queries.iter().zip(normalized).enumerate() {
        let right = |hits: Vec<(crate::kb::FaqHit, Signals)>| {
            hits.first()
                .map(|(h, s)| (s.overlap, h.faq_id == q.id))
                .unwrap_or((0.0, false))
        };
        let lexical = right(index.search_with_signals(text, 1, None)?);
        let hybrid = right(index.search_with_signals(text, 1, Some(&vectors[i][..]))?);
        tops.push((lexical, hybrid.1));
    }
    let n = tops.len().max(1) as f64;
    Ok(KB_GATE_OVERLAPS
        .iter()
        .map(|&overlap| {
            let skip = |t: &((f32, bool), bool)| t.0.0 >= overlap;
            KbGatePoint {
                overlap,
                encoder_skipped: tops.iter().filter(|t| skip(t)).count() as f64 / n,
                recall_at_1: tops
                    .iter()
                    .filter(|t| if skip(t) { t.0.1 } else { t.1 })
                    .count() as f64
                    / n,
            }
        })
        .collect())
}

pub fn eval_kb(
    faqs: &Path,
    queries: &Path,
    encoder: Option<&Encoder>,
) -> Result<KbReport, EvalError> {
    let faqs = read_faq_jsonl(faqs).map_err(|d| {
        EvalError::Input(
            d.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let queries: Vec<QueryLine> = read_jsonl(queries)?;
    if queries.is_empty() {
        return Err(EvalError::Input("no queries".into()));
    }
    let n_faqs = faqs.len();
    let started = Instant::now();
    let index = FaqIndex::build_calibrated(faqs, encoder)?;
    let index_ms = started.elapsed().as_secs_f64() * 1e3;
    let normalized: Vec<String> = queries.iter().map(|q| normalize(&q.query)).collect();
    let lexical = score_queries(&index, &queries, &normalized, None)?;
    let Some(encoder) = encoder else {
        return Ok(KbReport {
            scores: lexical,
            n_faqs,
            n_queries: queries.len(),
            index_ms,
            embed_p50_us: None,
            embed_p99_us: None,
            retriever: "bm25+overlap-confidence",
            bm25: None,
            encoder_gate: Vec::new(),
        });
    };
    let texts: Vec<&str> = normalized.iter().map(String::as_str).collect();
    let vectors = encoder.embed_content(&texts)?;
    let hybrid = score_queries(&index, &queries, &normalized, Some(&vectors))?;
    let encoder_gate = kb_gate(&index, &queries, &normalized, &vectors)?;
    let mut embed_latency = Vec::with_capacity(LATENCY_SAMPLE);
    let step = (texts.len() / LATENCY_SAMPLE).max(1);
    for text in texts.iter().step_by(step).take(LATENCY_SAMPLE) {
        let t = Instant::now();
        std::hint::black_box(encoder.model.embed_one(text)?);
        embed_latency.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (e50, e99) = percentiles(&mut embed_latency);
    Ok(KbReport {
        scores: hybrid,
        n_faqs,
        n_queries: queries.len(),
        index_ms,
        embed_p50_us: Some(e50),
        embed_p99_us: Some(e99),
        retriever: "hybrid: bm25 + dense (fused), overlap/similarity confidence",
        bm25: Some(lexical),
        encoder_gate,
    })
}

fn score_queries(
    index: &FaqIndex,
    queries: &[QueryLine],
    normalized: &[String],
    vectors: Option<&[std::sync::Arc<[f32]>]>,
) -> Result<KbScores, EvalError> {
    let (mut r1, mut r5, mut mrr) = (0usize, 0usize, 0f64);
    let mut latencies = Vec::with_capacity(queries.len());
    let mut tops: Vec<(Signals, f32, bool)> = Vec::with_capacity(queries.len());
    for (i, (q, text)) in queries.iter().zip(normalized).enumerate() {
        let vector = vectors.map(|v| &v[i][..]);
        let t = Instant::now();
        let hits = index.search_with_signals(text, 10, vector)?;
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
        // Both language variants of an id count as the same FAQ.
        let mut seen: Vec<&str> = Vec::new();
        for (h, _) in &hits {
            if !seen.contains(&h.faq_id.as_str()) {
                seen.push(&h.faq_id);
            }
        }
        if let Some((top, signals)) = hits.first() {
            tops.push((*signals, top.confidence, top.faq_id == q.id));
        }
        if let Some(rank) = seen.iter().position(|id| *id == q.id) {
            r1 += usize::from(rank == 0);
            r5 += usize::from(rank < 5);
            mrr += 1.0 / (rank as f64 + 1.0);
        }
    }
    let n = queries.len() as f64;
    let (p50, p99) = percentiles(&mut latencies);
    let as_built: Vec<(f32, bool)> = tops.iter().map(|t| (t.1, t.2)).collect();
    let (reliability, calibration_error) = reliability_table(&as_built);
    let (reliability_cross_fitted, calibration_error_cross_fitted) =
        reliability_table(&cross_fitted(&tops));
    let overlap: Vec<(f32, bool)> = tops.iter().map(|t| (t.0.overlap, t.2)).collect();
    let (reliability_overlap, calibration_error_overlap) = reliability_table(&overlap);
    Ok(KbScores {
        recall_at_1: r1 as f64 / n,
        recall_at_5: r5 as f64 / n,
        mrr: mrr / n,
        query_p50_us: p50,
        query_p99_us: p99,
        reliability,
        calibration_error,
        reliability_cross_fitted,
        calibration_error_cross_fitted,
        reliability_overlap,
        calibration_error_overlap,
    })
}

/// Each top hit's confidence from a map fitted on the other fold (even and odd queries),
/// with whether it was right. A fold the map cannot be fitted on keeps the confidences as
/// built.
fn cross_fitted(tops: &[(Signals, f32, bool)]) -> Vec<(f32, bool)> {
    let fold_map = |fold: usize| {
        let probes: Vec<Probe> = tops
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == fold)
            .map(|(_, &(signals, _, right))| Probe {
                signals,
                right,
                weight: 1.0,
            })
            .collect();
        ConfidenceMap::fit(&probes)
    };
    let maps = [fold_map(0), fold_map(1)];
    tops.iter()
        .enumerate()
        .map(|(i, (signals, built, right))| {
            // Queries of fold 0 are scored by the map fitted on fold 1, and the other way.
            let confidence = maps[1 - i % 2]
                .as_ref()
                .map_or(*built, |m| m.apply(signals));
            (confidence, *right)
        })
        .collect()
}

/// The reliability table of (confidence, right) pairs and its expected calibration error.
fn reliability_table(points: &[(f32, bool)]) -> (Vec<ReliabilityBin>, f64) {
    let mut bins = [(0usize, 0usize, 0f64); RELIABILITY_BINS];
    for &(confidence, right) in points {
        let b = ((confidence * RELIABILITY_BINS as f32) as usize).min(RELIABILITY_BINS - 1);
        bins[b].0 += 1;
        bins[b].1 += usize::from(right);
        bins[b].2 += confidence as f64;
    }
    let total = points.len().max(1) as f64;
    let mut error = 0.0;
    let table = bins
        .iter()
        .enumerate()
        .map(|(b, &(n, right, sum))| {
            let (mean_confidence, top1_right) = if n == 0 {
                (0.0, 0.0)
            } else {
                (sum / n as f64, right as f64 / n as f64)
            };
            error += n as f64 / total * (mean_confidence - top1_right).abs();
            ReliabilityBin {
                from: b as f32 / RELIABILITY_BINS as f32,
                to: (b + 1) as f32 / RELIABILITY_BINS as f32,
                queries: n,
                mean_confidence,
                top1_right,
            }
        })
        .collect();
    (table, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calibration_error_weighs_each_band_by_its_queries() {
        // Band 0.8–1: said 0.9, right half the time; band 0–0.2: said 0.1, right 1 in 1.
        let points = [(0.9, true), (0.9, false), (0.1, true)];
        let (table, error) = reliability_table(&points);
        assert_eq!(table[4].queries, 2);
        assert!((table[4].mean_confidence - 0.9).abs() < 1e-6);
        assert!((table[4].top1_right - 0.5).abs() < 1e-9);
        let expected = 2.0 / 3.0 * 0.4 + 1.0 / 3.0 * 0.9;
        assert!((error - expected).abs() < 1e-6, "{error}");
    }

    #[test]
    fn cross_fitting_scores_each_half_with_the_other_halfs_map() {
        // Right exactly when the overlap is high, in both halves: each half's map, fitted
        // on the other, must say so.
        let signals = |overlap| Signals {
            overlap,
            similarity: 0.0,
            lead: 0.0,
        };
        let tops: Vec<(Signals, f32, bool)> = (0..200)
            .map(|i| {
                let high = i % 4 < 2;
                (signals(if high { 0.9 } else { 0.2 }), 0.5, high)
            })
            .collect();
        for (confidence, right) in cross_fitted(&tops) {
            if right {
                assert!(confidence > 0.8, "{confidence}");
            } else {
                assert!(confidence < 0.2, "{confidence}");
            }
        }
    }
}
