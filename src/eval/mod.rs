//! `baton eval`: measuring understanding on labelled data, in the JSON shape DESIGN.md fixes.
//!
//! Intents: train on TRAIN only (calibrating on VALID when given), then predict TEST and
//! report accuracy, in-scope accuracy, out-of-scope recall and precision, macro-F1, training
//! time and prediction latency; with `--report DIR`, the details ([`report`]). FAQs ([`kb`]):
//! index FAQS, run every query, report recall@1/@5, MRR, query latency and how well the
//! confidence is calibrated. Dialogues: scripted
//! conversations replayed through the shop's own bot turn ([`dialogues`]).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub mod dialogues;
mod kb;
pub mod report;

pub use kb::{KbGatePoint, KbReport, KbScores, ReliabilityBin, eval_kb};

use crate::encoder::Encoder;
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
