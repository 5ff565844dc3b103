//! `baton eval`: measuring understanding on labelled data, in the JSON shape DESIGN.md fixes.
//!
//! Intents: train on TRAIN only (calibrating on VALID when given), then predict TEST and
//! report accuracy, in-scope accuracy, out-of-scope recall and precision, macro-F1, training
//! time and prediction latency. FAQs: index FAQS, run every query, report recall@1/@5, MRR
//! and query latency.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::content::read_faq_jsonl;
use crate::kb::FaqIndex;
use crate::nlu::classifier::{self, Example, OOS_LABEL, TrainParams, argmax};
use crate::nlu::normalize;

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

/// The report of `baton eval intents`.
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
    pub temperature: f32,
    pub train_seconds: f64,
    pub predict_p50_us: f64,
    pub predict_p99_us: f64,
    pub model: &'static str,
}

pub fn eval_intents(
    train: &Path,
    test: &Path,
    valid: Option<&Path>,
    params: &TrainParams,
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
    let train_ex: Vec<Example> = train_lines
        .iter()
        .map(|l| Example {
            text: normalize(&l.text),
            label: label_of(&l.label, &mut labels),
        })
        .collect();
    let n_train_labels = labels.len();
    // Labels seen only outside training (e.g. `oos` in valid/test) get indices past the
    // classifier's classes: never predicted, so always wrong unless flagged out of scope.
    let mut extra = |l: &str, labels: &mut Vec<String>| label_of(l, labels);
    let valid_ex: Option<Vec<Example>> = valid_lines.as_ref().map(|v| {
        v.iter()
            .map(|l| Example {
                text: normalize(&l.text),
                label: extra(&l.label, &mut labels),
            })
            .collect()
    });
    let test_ex: Vec<(Example, bool)> = test_lines
        .iter()
        .map(|l| {
            (
                Example {
                    text: normalize(&l.text),
                    label: extra(&l.label, &mut labels),
                },
                l.label == OOS_LABEL,
            )
        })
        .collect();

    let started = Instant::now();
    let model = classifier::train(
        &train_ex,
        labels[..n_train_labels].to_vec(),
        params,
        valid_ex.as_deref(),
        0.0,
    )?;
    let train_seconds = started.elapsed().as_secs_f64();
    let oos_index = model.labels().iter().position(|l| l == OOS_LABEL);

    let mut latencies = Vec::with_capacity(test_ex.len());
    let mut predicted = Vec::with_capacity(test_ex.len());
    for (ex, _) in &test_ex {
        let t = Instant::now();
        let p = model.probabilities(&ex.text);
        let (top, conf) = argmax(&p);
        let flagged = conf < model.meta.oos_threshold || Some(top) == oos_index;
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
        predicted.push((top, flagged));
    }
    let any_oos = test_ex.iter().any(|(_, o)| *o);
    let (mut correct, mut in_correct, mut in_total, mut oos_hit, mut flagged_total) =
        (0, 0, 0, 0, 0);
    // Confusion counts per label for macro-F1; out of scope is one label.
    let oos_label = usize::MAX;
    let mut tp: HashMap<usize, usize> = HashMap::new();
    let mut fp: HashMap<usize, usize> = HashMap::new();
    let mut fn_: HashMap<usize, usize> = HashMap::new();
    for ((ex, gold_oos), (top, flagged)) in test_ex.iter().zip(&predicted) {
        let gold = if *gold_oos { oos_label } else { ex.label };
        let pred = if *flagged { oos_label } else { *top };
        if *flagged {
            flagged_total += 1;
        }
        if gold == pred {
            correct += 1;
            *tp.entry(gold).or_default() += 1;
        } else {
            *fp.entry(pred).or_default() += 1;
            *fn_.entry(gold).or_default() += 1;
        }
        if *gold_oos {
            oos_hit += usize::from(*flagged);
        } else {
            in_total += 1;
            in_correct += usize::from(gold == pred);
        }
    }
    let gold_labels: std::collections::HashSet<usize> = test_ex
        .iter()
        .map(|(ex, o)| if *o { oos_label } else { ex.label })
        .collect();
    let macro_f1 = gold_labels
        .iter()
        .map(|l| {
            let tp = *tp.get(l).unwrap_or(&0) as f64;
            let fp = *fp.get(l).unwrap_or(&0) as f64;
            let fn_ = *fn_.get(l).unwrap_or(&0) as f64;
            if tp == 0.0 {
                0.0
            } else {
                2.0 * tp / (2.0 * tp + fp + fn_)
            }
        })
        .sum::<f64>()
        / gold_labels.len().max(1) as f64;
    let n_oos = test_ex.iter().filter(|(_, o)| *o).count();
    let (p50, p99) = percentiles(&mut latencies);
    Ok(IntentReport {
        accuracy: correct as f64 / test_ex.len() as f64,
        in_scope_accuracy: in_correct as f64 / in_total.max(1) as f64,
        oos_recall: any_oos.then(|| oos_hit as f64 / n_oos as f64),
        oos_precision: any_oos.then(|| {
            if flagged_total == 0 {
                0.0
            } else {
                oos_hit as f64 / flagged_total as f64
            }
        }),
        macro_f1,
        n_train: train_ex.len(),
        n_test: test_ex.len(),
        n_labels: n_train_labels,
        oos_threshold: model.meta.oos_threshold,
        temperature: model.meta.temperature,
        train_seconds,
        predict_p50_us: p50,
        predict_p99_us: p99,
        model: "hashed-ngram-embedding-bag",
    })
}

/// The report of `baton eval kb`.
#[derive(Debug, Serialize)]
pub struct KbReport {
    #[serde(rename = "recall@1")]
    pub recall_at_1: f64,
    #[serde(rename = "recall@5")]
    pub recall_at_5: f64,
    pub mrr: f64,
    pub n_faqs: usize,
    pub n_queries: usize,
    pub index_ms: f64,
    pub query_p50_us: f64,
    pub query_p99_us: f64,
    pub retriever: &'static str,
}

pub fn eval_kb(faqs: &Path, queries: &Path) -> Result<KbReport, EvalError> {
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
    let index = FaqIndex::build(faqs)?;
    let index_ms = started.elapsed().as_secs_f64() * 1e3;
    let (mut r1, mut r5, mut mrr) = (0usize, 0usize, 0f64);
    let mut latencies = Vec::with_capacity(queries.len());
    for q in &queries {
        let t = Instant::now();
        let hits = index.search(&normalize(&q.query), 10)?;
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
        // Both language variants of an id count as the same FAQ.
        let mut seen: Vec<&str> = Vec::new();
        for h in &hits {
            if !seen.contains(&h.faq_id.as_str()) {
                seen.push(&h.faq_id);
            }
        }
        if let Some(rank) = seen.iter().position(|id| *id == q.id) {
            r1 += usize::from(rank == 0);
            r5 += usize::from(rank < 5);
            mrr += 1.0 / (rank as f64 + 1.0);
        }
    }
    let n = queries.len() as f64;
    let (p50, p99) = percentiles(&mut latencies);
    Ok(KbReport {
        recall_at_1: r1 as f64 / n,
        recall_at_5: r5 as f64 / n,
        mrr: mrr / n,
        n_faqs,
        n_queries: queries.len(),
        index_ms,
        query_p50_us: p50,
        query_p99_us: p99,
        retriever: "bm25+overlap-confidence",
    })
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
        let params = TrainParams {
            epochs: 40,
            dim: 16,
            learning_rate: 0.05,
            weight_decay: 0.0,
            seed: 1,
        };
        let r = eval_intents(&train, &test, None, &params).unwrap();
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
            &TrainParams {
                epochs: 1,
                dim: 4,
                learning_rate: 0.1,
                weight_decay: 0.0,
                seed: 1,
            },
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
        let r = eval_kb(&faqs, &queries).unwrap();
        assert_eq!(r.recall_at_1, 1.0);
        assert_eq!(r.mrr, 1.0);
    }
}
