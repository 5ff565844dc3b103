//! `baton eval`: measuring understanding on labelled data, in the JSON shape DESIGN.md fixes.
//!
//! Intents: train on TRAIN only (calibrating on VALID when given), then predict TEST and
//! report accuracy, in-scope accuracy, out-of-scope recall and precision, macro-F1, training
//! time and prediction latency; with `--report DIR`, the details ([`report`]). FAQs: index
//! FAQS, run every query, report recall@1/@5, MRR and query latency. Dialogues: scripted
//! conversations replayed through the shop's own bot turn ([`dialogues`]).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub mod dialogues;
pub mod report;

use crate::content::read_faq_jsonl;
use crate::encoder::Encoder;
use crate::kb::FaqIndex;
use crate::kb::calibration::{ConfidenceMap, Probe, Signals};
use crate::nlu::classifier::{Example, OOS_LABEL, TrainParams};
use crate::nlu::{DenseParams, OosTarget, embed_examples, ensemble, normalize};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}:{line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Nlu(#[from] crate::nlu::NluError),
    #[error(transparent)]
    Kb(#[from] crate::kb::KbError),
    #[error(transparent)]
    Encoder(#[from] crate::encoder::EncoderError),
    #[error("cannot write the report: {0}")]
    Report(String),
}

#[derive(Debug, Deserialize)]
struct IntentLine {
    text: String,
    label: String,
}

#[derive(Debug, Deserialize)]
struct QueryLine {
    query: String,
    id: String,
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, EvalError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EvalError::Input(format!("{}: {e}", path.display())))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| EvalError::Line {
                path: path.display().to_string(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// The report of `baton eval intents` (printed as JSON).
#[derive(Debug, Serialize)]
pub struct IntentReport {
    pub accuracy: f64,
    pub in_scope_accuracy: f64,
    pub oos_recall: Option<f64>,
    pub oos_precision: Option<f64>,
    pub macro_f1: f64,
    pub n_train: usize,
    pub n_test: usize,
    pub n_labels: usize,
    pub oos_threshold: f32,
    pub oos_margin: f32,
    pub dense_weight: f32,
    pub temperature: f32,
    /// Seconds to train, including embedding the training and validation texts (vectors
    /// already in the embedding cache cost nothing).
    pub train_seconds: f64,
    /// Of which embedding texts.
    pub embed_seconds: f64,
    /// One message end to end: normalise, embed (one message alone, as in a live turn) and
    /// classify.
    pub predict_p50_us: f64,
    pub predict_p99_us: f64,
    /// The classifier alone, given the vector.
    pub classify_p50_us: f64,
    pub classify_p99_us: f64,
    pub model: String,
    /// What skipping the encoder would cost where the n-gram model alone is sure (empty
    /// without an encoder): a study for turns that need no forward pass, not what Baton does.
    pub encoder_gate: Vec<GatePoint>,
}

/// The test set classified with the n-gram model alone wherever its confidence reaches
/// `threshold`, and with the encoder everywhere else.
#[derive(Debug, Clone, Serialize)]
pub struct GatePoint {
    pub threshold: f32,
    /// Share of test messages that would need no encoder pass.
    pub encoder_skipped: f64,
    pub accuracy: f64,
    pub in_scope_accuracy: f64,
    pub oos_recall: Option<f64>,
}

/// n-gram confidences at which the gate study is reported.
const GATE_THRESHOLDS: [f32; 4] = [0.8, 0.9, 0.95, 0.99];

/// How `baton eval intents` trains and what it writes.
#[derive(Debug, Clone)]
pub struct IntentEvalOptions<'a> {
    pub params: TrainParams,
    pub dense: DenseParams,
    pub encoder: Option<&'a Encoder>,
    /// OOS recall the calibration on `--valid` aims for.
    pub oos_recall: f32,
    /// Where to write the detailed report and plots.
    pub report_dir: Option<&'a Path>,
}

/// Messages timed one at a time for the latency figures.
const LATENCY_SAMPLE: usize = 300;

pub fn eval_intents(
    train: &Path,
    test: &Path,
    valid: Option<&Path>,
    options: &IntentEvalOptions<'_>,
) -> Result<IntentReport, EvalError> {
    let train_lines: Vec<IntentLine> = read_jsonl(train)?;
    let test_lines: Vec<IntentLine> = read_jsonl(test)?;
    let valid_lines: Option<Vec<IntentLine>> = valid.map(read_jsonl).transpose()?;
    if train_lines.is_empty() || test_lines.is_empty() {
        return Err(EvalError::Input(
            "training and test files must not be empty".into(),
        ));
    }
    let mut labels: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut label_of = |l: &str, labels: &mut Vec<String>| -> usize {
        *index.entry(l.to_string()).or_insert_with(|| {
            labels.push(l.to_string());
            labels.len() - 1
        })
    };
    let mut to_examples = |lines: &[IntentLine], labels: &mut Vec<String>| -> Vec<Example> {
        lines
            .iter()
            .map(|l| Example {
                text: normalize(&l.text),
                label: label_of(&l.label, labels),
            })
            .collect()
    };
    let train_ex = to_examples(&train_lines, &mut labels);
    let n_train_labels = labels.len();
    // Labels seen only outside training (e.g. `oos` in valid/test) get indices past the
    // classifier's classes: never predicted, so always wrong unless flagged out of scope.
    let valid_ex: Option<Vec<Example>> = valid_lines.as_ref().map(|v| to_examples(v, &mut labels));
    let test_ex = to_examples(&test_lines, &mut labels);
    let gold_oos: Vec<bool> = test_lines.iter().map(|l| l.label == OOS_LABEL).collect();

    let started = Instant::now();
    let train_vecs = embed_examples(options.encoder, &train_ex)?;
    let valid_vecs = match &valid_ex {
        Some(v) => embed_examples(options.encoder, v)?,
        None => None,
    };
    let embed_seconds = started.elapsed().as_secs_f64();
    let dense = options.dense.for_encoder(options.encoder);
    let model = ensemble::train(
        ensemble::Data {
            examples: &train_ex,
            vectors: train_vecs.as_deref(),
        },
        labels[..n_train_labels].to_vec(),
        &options.params,
        &dense,
        valid_ex.as_ref().map(|v| ensemble::Data {
            examples: v,
            vectors: valid_vecs.as_deref(),
        }),
        OosTarget {
            recall: options.oos_recall,
            default_threshold: 0.0,
        },
    )?;
    let train_seconds = started.elapsed().as_secs_f64();

    // Accuracy: the test set embedded in bulk (through the cache), then classified.
    let test_vecs = embed_examples(options.encoder, &test_ex)?;
    let mut classify_latency = Vec::with_capacity(test_ex.len());
    let mut predictions: Vec<Prediction> = Vec::with_capacity(test_ex.len());
    for (i, ex) in test_ex.iter().enumerate() {
        let t = Instant::now();
        let s = model.score(&ex.text, test_vecs.as_ref().map(|v| &v[i][..]));
        let flagged = model.is_out_of_scope(&s);
        classify_latency.push(t.elapsed().as_secs_f64() * 1e6);
        predictions.push(Prediction {
            top: s.top,
            confidence: s.confidence,
            margin: s.margin,
            flagged,
        });
    }
    // Latency: a sample of raw test messages, each embedded alone as a live turn would be.
    let mut predict_latency = Vec::with_capacity(LATENCY_SAMPLE);
    let step = (test_lines.len() / LATENCY_SAMPLE).max(1);
    for line in test_lines.iter().step_by(step).take(LATENCY_SAMPLE) {
        let t = Instant::now();
        let text = normalize(&line.text);
        let vector = match options.encoder {
            Some(e) => Some(e.model.embed_one(&text)?),
            None => None,
        };
        let s = model.score(&text, vector.as_deref());
        std::hint::black_box(model.is_out_of_scope(&s));
        predict_latency.push(t.elapsed().as_secs_f64() * 1e6);
    }

    let metrics = IntentMetrics::of(&test_ex, &gold_oos, &predictions, n_train_labels);
    let any_oos = gold_oos.iter().any(|o| *o);
    let encoder_gate = match options.encoder {
        Some(_) => {
            let alone: Vec<Prediction> = test_ex
                .iter()
                .map(|ex| {
                    let s = model.score(&ex.text, None);
                    Prediction {
                        top: s.top,
                        confidence: s.confidence,
                        margin: s.margin,
                        flagged: model.is_out_of_scope(&s),
                    }
                })
                .collect();
            GATE_THRESHOLDS
                .iter()
                .map(|&threshold| {
                    let gated: Vec<Prediction> = alone
                        .iter()
                        .zip(&predictions)
                        .map(|(a, full)| if a.confidence >= threshold { *a } else { *full })
                        .collect();
                    let skipped = alone.iter().filter(|a| a.confidence >= threshold).count();
                    let m = IntentMetrics::of(&test_ex, &gold_oos, &gated, n_train_labels);
                    GatePoint {
                        threshold,
                        encoder_skipped: skipped as f64 / alone.len().max(1) as f64,
                        accuracy: m.accuracy,
                        in_scope_accuracy: m.in_scope_accuracy,
                        oos_recall: any_oos.then_some(m.oos_recall),
                    }
                })
                .collect()
        }
        None => Vec::new(),
    };
    let (p50, p99) = percentiles(&mut predict_latency);
    let (c50, c99) = percentiles(&mut classify_latency);
    let c = model.calibration;
    let report = IntentReport {
        accuracy: metrics.accuracy,
        in_scope_accuracy: metrics.in_scope_accuracy,
        oos_recall: any_oos.then_some(metrics.oos_recall),
        oos_precision: any_oos.then_some(metrics.oos_precision),
        macro_f1: metrics.macro_f1,
        n_train: train_ex.len(),
        n_test: test_ex.len(),
        n_labels: n_train_labels,
        oos_threshold: c.oos_threshold,
        oos_margin: c.oos_margin,
        dense_weight: c.dense_weight,
        temperature: c.temperature,
        train_seconds,
        embed_seconds,
        predict_p50_us: p50,
        predict_p99_us: p99,
        classify_p50_us: c50,
        classify_p99_us: c99,
        model: match options.encoder {
            Some(e) => format!("hashed-ngram + {} dense head", e.model.name()),
            None => "hashed-ngram".into(),
        },
        encoder_gate,
    };
    if let Some(dir) = options.report_dir {
        let test_sweep = {
            let oos_class = model.labels().iter().position(|l| l == OOS_LABEL);
            let scored: Vec<(ensemble::Scored, bool, bool)> = predictions
                .iter()
                .zip(&test_ex)
                .zip(&gold_oos)
                .map(|((p, ex), o)| {
                    (
                        ensemble::Scored {
                            probabilities: Vec::new(),
                            top: p.top,
                            confidence: p.confidence,
                            margin: p.margin,
                        },
                        *o,
                        p.top == ex.label,
                    )
                })
                .collect();
            ensemble::sweep(&scored, oos_class)
        };
        let details = report::IntentDetails::build(
            &labels,
            n_train_labels,
            &test_lines
                .iter()
                .map(|l| l.text.as_str())
                .collect::<Vec<_>>(),
            &test_ex,
            &gold_oos,
            &predictions,
            &model.sweep,
            &test_sweep,
            &report,
        );
        details.write(dir)?;
    }
    Ok(report)
}

/// What the classifier said about one test example.
#[derive(Debug, Clone, Copy)]
pub struct Prediction {
    pub top: usize,
    pub confidence: f32,
    pub margin: f32,
    pub flagged: bool,
}

/// The headline intent metrics.
#[derive(Debug, Clone, Copy)]
struct IntentMetrics {
    accuracy: f64,
    in_scope_accuracy: f64,
    oos_recall: f64,
    oos_precision: f64,
    macro_f1: f64,
}

impl IntentMetrics {
    fn of(
        test: &[Example],
        gold_oos: &[bool],
        predictions: &[Prediction],
        classes: usize,
    ) -> IntentMetrics {
        let (mut correct, mut in_correct, mut in_total, mut oos_hit, mut flagged_total) =
            (0usize, 0usize, 0usize, 0usize, 0usize);
        // Per-label counts for macro-F1; out of scope is one label (`classes`).
        let mut tp = vec![0usize; classes + 1];
        let mut fp = vec![0usize; classes + 1];
        let mut fn_ = vec![0usize; classes + 1];
        let mut present = vec![false; classes + 1];
        for ((ex, oos), p) in test.iter().zip(gold_oos).zip(predictions) {
            let gold = if *oos { classes } else { ex.label.min(classes) };
            let pred = if p.flagged { classes } else { p.top };
            present[gold] = true;
            flagged_total += usize::from(p.flagged);
            if gold == pred {
                correct += 1;
                tp[gold] += 1;
            } else {
                fp[pred] += 1;
                fn_[gold] += 1;
            }
            if *oos {
                oos_hit += usize::from(p.flagged);
            } else {
                in_total += 1;
                in_correct += usize::from(gold == pred);
            }
        }
        let f1s: Vec<f64> = (0..=classes)
            .filter(|&l| present[l])
            .map(|l| {
                let (tp, fp, fn_) = (tp[l] as f64, fp[l] as f64, fn_[l] as f64);
                if tp == 0.0 {
                    0.0
                } else {
                    2.0 * tp / (2.0 * tp + fp + fn_)
                }
            })
            .collect();
        let n_oos = gold_oos.iter().filter(|o| **o).count();
        IntentMetrics {
            accuracy: correct as f64 / test.len().max(1) as f64,
            in_scope_accuracy: in_correct as f64 / in_total.max(1) as f64,
            oos_recall: oos_hit as f64 / n_oos.max(1) as f64,
            oos_precision: if flagged_total == 0 {
                0.0
            } else {
                oos_hit as f64 / flagged_total as f64
            },
            macro_f1: f1s.iter().sum::<f64>() / f1s.len().max(1) as f64,
        }
    }
}

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

fn percentiles(v: &mut [f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, lines: &[serde_json::Value]) -> std::path::PathBuf {
        let p = dir.join(name);
        let body: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        std::fs::write(&p, body.join("\n")).unwrap();
        p
    }

    fn options(epochs: usize) -> IntentEvalOptions<'static> {
        IntentEvalOptions {
            params: TrainParams {
                epochs,
                dim: 16,
                learning_rate: 0.05,
                weight_decay: 0.0,
                seed: 1,
            },
            dense: DenseParams::default(),
            encoder: None,
            oos_recall: 0.7,
            report_dir: None,
        }
    }

    #[test]
    fn intent_metrics_on_a_tiny_set() {
        let d = tempfile::tempdir().unwrap();
        let mk = |t: &str, l: &str| serde_json::json!({"text": t, "label": l});
        let train = write(
            d.path(),
            "train.jsonl",
            &[
                mk("where is my order", "track"),
                mk("track my parcel", "track"),
                mk("order status please", "track"),
                mk("i want a refund", "refund"),
                mk("refund my money", "refund"),
                mk("give me my money back", "refund"),
            ],
        );
        let test = write(
            d.path(),
            "test.jsonl",
            &[
                mk("where is my parcel", "track"),
                mk("money back please", "refund"),
                mk("what is the weather", "oos"),
            ],
        );
        let r = eval_intents(&train, &test, None, &options(40)).unwrap();
        assert_eq!(r.n_test, 3);
        assert_eq!(r.in_scope_accuracy, 1.0, "{r:?}");
        assert_eq!(
            r.oos_recall,
            Some(0.0),
            "no threshold without valid data: {r:?}"
        );
        assert!((r.accuracy - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn bad_lines_name_their_line() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("t.jsonl"),
            "{\"text\": \"a\", \"label\": \"b\"}\n{oops\n",
        )
        .unwrap();
        let err = eval_intents(
            &d.path().join("t.jsonl"),
            &d.path().join("t.jsonl"),
            None,
            &options(1),
        )
        .unwrap_err();
        assert!(err.to_string().contains("t.jsonl:2:"), "{err}");
    }

    #[test]
    fn kb_metrics() {
        let d = tempfile::tempdir().unwrap();
        let faqs = write(
            d.path(),
            "faqs.jsonl",
            &[
                serde_json::json!({"id": "a", "question": "how long does shipping take", "answer": "3 days", "lang": "en"}),
                serde_json::json!({"id": "b", "question": "how do i get a refund", "answer": "apply", "lang": "en"}),
            ],
        );
        let queries = write(
            d.path(),
            "q.jsonl",
            &[
                serde_json::json!({"query": "shipping time", "id": "a"}),
                serde_json::json!({"query": "refund how", "id": "b"}),
            ],
        );
        let r = eval_kb(&faqs, &queries, None).unwrap();
        assert_eq!(r.scores.recall_at_1, 1.0);
        assert_eq!(r.scores.mrr, 1.0);
        assert!(r.bm25.is_none());
    }
}
