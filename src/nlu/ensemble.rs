//! The intent classifier Baton serves: the n-gram model, optionally combined with a dense
//! head over sentence-encoder vectors, with one calibrated confidence and an out-of-scope
//! rule (threshold plus ambiguity margin).
//!
//! Data flow at prediction: normalised text → n-gram log-probabilities; the message's encoder
//! vector → dense head log-probabilities; a weighted sum of the two (a geometric mixture) →
//! softmax at a fitted temperature → label, confidence, runners-up; out of scope when the top
//! label is `oos`, the confidence is under the threshold, or top-1 minus top-2 is under the
//! margin.
//!
//! Why a mixture: each encoder is strong on the paraphrases of its language and the character
//! n-grams on exact wording. The mixing weight and temperature are fitted on held-out data
//! (the validation set when given, else a stratified tenth of the training data), so an
//! intent set learns by itself how far to lean on each. Without a validation set, the
//! temperatures are then refitted by a probe trained with some intents left out
//! ([`super::unknown_intents`]), so that a confidence also accounts for questions no intent
//! covers.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::NluError;
use super::classifier::{self, Example, IntentModel, OOS_LABEL, TrainParams, softmax};
use super::unknown_intents::{self, Probe, Refit};
use super::vector_head::{DenseHead, DenseParams};
use crate::encoder::routed::has_cjk;

/// How the two models are combined and when a prediction is out of scope.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    /// Weight of the dense head's log-probabilities (the n-gram model gets `1 - w`).
    pub dense_weight: f32,
    /// Temperature applied to the mixture.
    pub temperature: f32,
    /// Below this confidence a prediction is out of scope.
    pub oos_threshold: f32,
    /// Below this gap between the top two probabilities a prediction is out of scope.
    pub oos_margin: f32,
    /// The mixture for text with Chinese characters, fitted on its own: that text is read
    /// by another encoder ([`crate::encoder::routed`]), whose head is sharper or flatter
    /// than the English one's, and one shared temperature would mis-state both. `None`:
    /// `dense_weight` and `temperature` serve every text.
    #[serde(default)]
    pub chinese: Option<Mixture>,
}

/// A dense weight and temperature.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Mixture {
    pub dense_weight: f32,
    pub temperature: f32,
}

/// One point of an out-of-scope threshold sweep on validation data.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct SweepPoint {
    pub threshold: f32,
    pub margin: f32,
    pub in_scope_accuracy: f32,
    pub oos_recall: f32,
    pub oos_precision: f32,
}

/// Where out-of-scope calibration should land.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OosTarget {
    /// The smallest out-of-scope recall on validation data to accept; among the settings
    /// that reach it, the one with the best in-scope accuracy wins.
    pub recall: f32,
    /// Threshold used when the validation data has no out-of-scope examples.
    pub default_threshold: f32,
}

/// A scored prediction with everything the OOS rule needs.
#[derive(Debug, Clone)]
pub struct Scored {
    pub probabilities: Vec<f32>,
    pub top: usize,
    pub confidence: f32,
    pub margin: f32,
}

/// A trained classifier (n-gram model + optional dense head + calibration).
#[derive(Debug, Clone)]
pub struct Ensemble {
    pub ngram: IntentModel,
    pub dense: Option<DenseHead>,
    pub calibration: Calibration,
    /// The validation sweep that chose the OOS setting (empty without validation OOS data).
    pub sweep: Vec<SweepPoint>,
}

/// Training data: normalised examples and, when an encoder is in use, their vectors.
#[derive(Debug, Clone, Copy)]
pub struct Data<'a> {
    pub examples: &'a [Example],
    pub vectors: Option<&'a [Arc<[f32]>]>,
}

fn log_softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let t = temperature.max(1e-3);
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = logits
        .iter()
        .map(|l| ((l - max) / t).exp())
        .sum::<f32>()
        .ln();
    logits.iter().map(|l| (l - max) / t - lse).collect()
}

/// The two models' log-probabilities for one input, before mixing.
pub(super) struct Parts {
    ngram: Vec<f32>,
    dense: Option<Vec<f32>>,
}

impl Ensemble {
    pub fn labels(&self) -> &[String] {
        self.ngram.labels()
    }

    pub(super) fn parts(&self, text: &str, vector: Option<&[f32]>) -> Parts {
        Parts {
            ngram: log_softmax(&self.ngram.logits(text), self.ngram.meta.temperature),
            dense: match (&self.dense, vector) {
                (Some(d), Some(v)) => Some(log_softmax(&d.logits(v), 1.0)),
                _ => None,
            },
        }
    }

    pub(super) fn mix(parts: &Parts, dense_weight: f32, temperature: f32) -> Vec<f32> {
        match &parts.dense {
            Some(d) => {
                let z: Vec<f32> = parts
                    .ngram
                    .iter()
                    .zip(d)
                    .map(|(n, d)| (1.0 - dense_weight) * n + dense_weight * d)
                    .collect();
                softmax(&z, temperature)
            }
            // Without a vector the n-gram model answers alone, on its own calibration.
            None => softmax(&parts.ngram, 1.0),
        }
    }

    /// Calibrated probabilities per label. `vector` is the message's encoder vector; without
    /// it (or without a dense head) the n-gram model answers alone.
    pub fn probabilities(&self, text: &str, vector: Option<&[f32]>) -> Vec<f32> {
        let c = &self.calibration;
        let (w, t) = match c.chinese {
            Some(m) if has_cjk(text) => (m.dense_weight, m.temperature),
            _ => (c.dense_weight, c.temperature),
        };
        Self::mix(&self.parts(text, vector), w, t)
    }

    /// Probabilities plus top-1, confidence and top-1 − top-2 margin.
    pub fn score(&self, text: &str, vector: Option<&[f32]>) -> Scored {
        scored(self.probabilities(text, vector))
    }

    /// The out-of-scope rule.
    pub fn is_out_of_scope(&self, s: &Scored) -> bool {
        let oos = self.labels().get(s.top).is_some_and(|l| l == OOS_LABEL);
        oos || s.confidence < self.calibration.oos_threshold
            || s.margin < self.calibration.oos_margin
    }
}

pub(super) fn scored(probabilities: Vec<f32>) -> Scored {
    let (mut top, mut first, mut second) = (0usize, f32::NEG_INFINITY, f32::NEG_INFINITY);
    for (i, &p) in probabilities.iter().enumerate() {
        if p > first {
            second = first;
            first = p;
            top = i;
        } else if p > second {
            second = p;
        }
    }
    let second = if second.is_finite() { second } else { 0.0 };
    Scored {
        top,
        confidence: first,
        margin: first - second,
        probabilities,
    }
}

/// Trains the ensemble. With `calibration` data, the models are trained on `train` alone and
/// mixing, temperature and the OOS rule are fitted on the calibration data; without, a
/// stratified tenth of `train` is held out for fitting (a probe without some intents refits
/// the temperatures, see [`unknown_intents`]) and the final models are retrained on all of it.
pub fn train(
    train: Data<'_>,
    labels: Vec<String>,
    params: &TrainParams,
    dense_params: &DenseParams,
    calibration: Option<Data<'_>>,
    target: OosTarget,
) -> Result<Ensemble, NluError> {
    let classes = labels.len();
    match calibration {
        Some(held_out) => {
            let ngram = classifier::train(
                train.examples,
                labels,
                params,
                Some(held_out.examples),
                target.default_threshold,
            )?;
            let dense = train_dense(train, classes, dense_params)?;
            let mut model = Ensemble {
                ngram,
                dense,
                calibration: Calibration {
                    dense_weight: 0.0,
                    temperature: 1.0,
                    oos_threshold: target.default_threshold,
                    oos_margin: 0.0,
                    chinese: None,
                },
                sweep: Vec::new(),
            };
            fit_mixture(&mut model, held_out, dense_params.per_language);
            calibrate_oos(&mut model, held_out, target);
            Ok(model)
        }
        None => {
            let (fit_idx, held_idx) =
                classifier::stratified_indices(train.examples, classes, params.seed);
            type Picked = (Vec<Example>, Option<Vec<Arc<[f32]>>>);
            let pick = |idx: &[usize]| -> Picked {
                (
                    idx.iter().map(|&i| train.examples[i].clone()).collect(),
                    train
                        .vectors
                        .map(|v| idx.iter().map(|&i| v[i].clone()).collect()),
                )
            };
            let (fit_ex, fit_vec) = pick(&fit_idx);
            let (held_ex, held_vec) = pick(&held_idx);
            let fit_data = Data {
                examples: &fit_ex,
                vectors: fit_vec.as_deref(),
            };
            let held_data = Data {
                examples: &held_ex,
                vectors: held_vec.as_deref(),
            };
            let mut calibration = Calibration {
                dense_weight: 0.0,
                temperature: 1.0,
                oos_threshold: target.default_threshold,
                oos_margin: 0.0,
                chinese: None,
            };
            let ngram_temperature = if held_ex.is_empty() {
                1.0
            } else {
                let probe = Ensemble {
                    ngram: classifier::train(
                        &fit_ex,
                        labels.clone(),
                        params,
                        Some(&held_ex),
                        target.default_threshold,
                    )?,
                    dense: train_dense(fit_data, classes, dense_params)?,
                    calibration,
                    sweep: Vec::new(),
                };
                let mut probe = probe;
                fit_mixture(&mut probe, held_data, dense_params.per_language);
                calibration = probe.calibration;
                let ngram_temperature = probe.ngram.meta.temperature;
                match unknown_intents::hidden_intents(&labels, params.seed) {
                    Some(hidden) => {
                        let without = Probe {
                            fit: fit_data,
                            held: held_data,
                            labels: &labels,
                            hidden: &hidden,
                        };
                        match without.refit_temperatures(
                            &mut calibration,
                            ngram_temperature,
                            params,
                            dense_params,
                            target,
                        )? {
                            Refit::NgramAlone(t) => t,
                            Refit::Mixture => ngram_temperature,
                        }
                    }
                    None => ngram_temperature,
                }
            };
            let mut ngram = classifier::fit_only(train.examples, &labels, params)?;
            ngram.meta.temperature = ngram_temperature;
            ngram.meta.oos_threshold = target.default_threshold;
            Ok(Ensemble {
                ngram,
                dense: train_dense(train, classes, dense_params)?,
                calibration,
                sweep: Vec::new(),
            })
        }
    }
}

pub(super) fn train_dense(
    data: Data<'_>,
    classes: usize,
    params: &DenseParams,
) -> Result<Option<DenseHead>, NluError> {
    let Some(vectors) = data.vectors else {
        return Ok(None);
    };
    let refs: Vec<&[f32]> = vectors.iter().map(|v| &v[..]).collect();
    let labels: Vec<usize> = data.examples.iter().map(|e| e.label).collect();
    DenseHead::train(&refs, &labels, classes, params).map(Some)
}

/// Chooses the dense weight and temperature that minimise negative log-likelihood on the
/// held-out examples of known labels — with `per_language`, separately for text with
/// Chinese characters when there is enough of both kinds (see [`Calibration::chinese`]).
fn fit_mixture(model: &mut Ensemble, held_out: Data<'_>, per_language: bool) {
    let classes = model.labels().len();
    let parts: Vec<(Parts, usize, bool)> = held_out
        .examples
        .iter()
        .enumerate()
        .filter(|(_, ex)| ex.label < classes)
        .map(|(i, ex)| {
            let v = held_out.vectors.map(|v| &v[i][..]);
            (model.parts(&ex.text, v), ex.label, has_cjk(&ex.text))
        })
        .collect();
    if parts.is_empty() || model.dense.is_none() {
        return;
    }
    let chinese = parts.iter().filter(|p| p.2).count();
    let split =
        per_language && chinese >= MIN_PER_LANGUAGE && parts.len() - chinese >= MIN_PER_LANGUAGE;
    let all = best_mixture(parts.iter().filter(|p| !split || !p.2));
    model.calibration.dense_weight = all.dense_weight;
    model.calibration.temperature = all.temperature;
    model.calibration.chinese = split.then(|| best_mixture(parts.iter().filter(|p| p.2)));
}

/// Held-out examples each language needs before it gets a mixture of its own.
const MIN_PER_LANGUAGE: usize = 30;

fn best_mixture<'a>(parts: impl Iterator<Item = &'a (Parts, usize, bool)> + Clone) -> Mixture {
    let nll = |w: f32, t: f32| -> f32 {
        parts
            .clone()
            .map(|(p, label, _)| -Ensemble::mix(p, w, t)[*label].max(1e-9).ln())
            .sum()
    };
    let temperatures = temperature_grid();
    let mut best = (f32::INFINITY, 0.0f32, 1.0f32);
    for step in 0..=10 {
        let w = step as f32 / 10.0;
        for &t in &temperatures {
            let loss = nll(w, t);
            if loss < best.0 {
                best = (loss, w, t);
            }
        }
    }
    Mixture {
        dense_weight: best.1,
        temperature: best.2,
    }
}

/// Temperatures a mixture may be fitted to: 0.1 to 5, evenly on a log scale.
pub(super) fn temperature_grid() -> Vec<f32> {
    (0..=40)
        .map(|i| (0.1f32.ln() + i as f32 / 40.0 * (5.0f32.ln() - 0.1f32.ln())).exp())
        .collect()
}

/// Sweeps threshold × margin on the calibration data and keeps the setting with the best
/// in-scope accuracy among those whose OOS recall reaches the target (or, when none does,
/// the one with the highest recall). Without OOS examples the default threshold stays.
fn calibrate_oos(model: &mut Ensemble, held_out: Data<'_>, target: OosTarget) {
    let classes = model.labels().len();
    let oos_class = model.labels().iter().position(|l| l == OOS_LABEL);
    let scored: Vec<(Scored, bool, bool)> = held_out
        .examples
        .iter()
        .enumerate()
        .map(|(i, ex)| {
            let s = model.score(&ex.text, held_out.vectors.map(|v| &v[i][..]));
            let gold_oos = Some(ex.label) == oos_class || ex.label >= classes;
            let correct = s.top == ex.label;
            (s, gold_oos, correct)
        })
        .collect();
    model.sweep = sweep(&scored, oos_class);
    if model.sweep.is_empty() {
        return;
    }
    let reaching = model
        .sweep
        .iter()
        .filter(|p| p.oos_recall >= target.recall)
        .max_by(|a, b| {
            a.in_scope_accuracy
                .total_cmp(&b.in_scope_accuracy)
                // Among equals, the lower threshold and margin: flag no more than needed.
                .then(b.threshold.total_cmp(&a.threshold))
                .then(b.margin.total_cmp(&a.margin))
        });
    let chosen = reaching.or_else(|| {
        model
            .sweep
            .iter()
            .max_by(|a, b| a.oos_recall.total_cmp(&b.oos_recall))
    });
    if let Some(p) = chosen {
        model.calibration.oos_threshold = p.threshold;
        model.calibration.oos_margin = p.margin;
    }
}

/// Margins tried in the sweep.
pub const SWEEP_MARGINS: [f32; 5] = [0.0, 0.05, 0.1, 0.15, 0.2];

/// In-scope accuracy and OOS recall/precision for every threshold (0.00..=0.99 by 0.01) and
/// margin in [`SWEEP_MARGINS`]. Empty unless the data has both in-scope and OOS examples.
pub fn sweep(scored: &[(Scored, bool, bool)], oos_class: Option<usize>) -> Vec<SweepPoint> {
    let n_oos = scored.iter().filter(|(_, o, _)| *o).count();
    let n_in = scored.len() - n_oos;
    if n_oos == 0 || n_in == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(100 * SWEEP_MARGINS.len());
    for &margin in &SWEEP_MARGINS {
        for step in 0..100 {
            let threshold = step as f32 / 100.0;
            let (mut in_ok, mut oos_ok, mut flagged) = (0usize, 0usize, 0usize);
            for (s, gold_oos, correct) in scored {
                let flag =
                    Some(s.top) == oos_class || s.confidence < threshold || s.margin < margin;
                flagged += usize::from(flag);
                match (gold_oos, flag) {
                    (true, true) => oos_ok += 1,
                    (false, false) if *correct => in_ok += 1,
                    _ => {}
                }
            }
            out.push(SweepPoint {
                threshold,
                margin,
                in_scope_accuracy: in_ok as f32 / n_in as f32,
                oos_recall: oos_ok as f32 / n_oos as f32,
                oos_precision: if flagged == 0 {
                    0.0
                } else {
                    oos_ok as f32 / flagged as f32
                },
            });
        }
    }
    out
}

/// What the cache stores beside the n-gram model's own files.
#[derive(Debug, Serialize, Deserialize)]
struct EnsembleMeta {
    calibration: Calibration,
    has_dense: bool,
}

impl Ensemble {
    /// Writes the n-gram model (`<stem>.*`), the dense head (`<stem>.dense.safetensors`) and
    /// the calibration (`<stem>.ensemble.json`), the last one last: a reader that finds it
    /// finds the rest.
    pub fn save(&self, dir: &Path, stem: &str) -> Result<(), NluError> {
        self.ngram.save(dir, stem)?;
        let unique = format!("{}-{}", std::process::id(), rand::random::<u64>());
        if let Some(dense) = &self.dense {
            let path = dir.join(format!("{stem}.dense.safetensors"));
            let tmp = dir.join(format!("{stem}.dense.{unique}.tmp"));
            candle_core::safetensors::save(&dense.tensors()?, &tmp)?;
            std::fs::rename(&tmp, &path).map_err(|e| NluError::io(&path, e))?;
        }
        let meta = EnsembleMeta {
            calibration: self.calibration,
            has_dense: self.dense.is_some(),
        };
        let path = dir.join(format!("{stem}.ensemble.json"));
        let tmp = dir.join(format!("{stem}.ensemble.{unique}.tmp"));
        let json =
            serde_json::to_vec_pretty(&meta).map_err(|e| NluError::Corrupt(e.to_string()))?;
        std::fs::write(&tmp, json).map_err(|e| NluError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| NluError::io(&path, e))
    }

    /// Reads what [`Ensemble::save`] wrote; `None` when it is not (all) there.
    pub fn load(dir: &Path, stem: &str) -> Result<Option<Ensemble>, NluError> {
        let meta_path = dir.join(format!("{stem}.ensemble.json"));
        let bytes = match std::fs::read(&meta_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(NluError::io(&meta_path, e)),
        };
        let meta: EnsembleMeta = serde_json::from_slice(&bytes)
            .map_err(|e| NluError::Corrupt(format!("{}: {e}", meta_path.display())))?;
        let Some(ngram) = IntentModel::load(dir, stem)? else {
            return Ok(None);
        };
        let dense = if meta.has_dense {
            let path = dir.join(format!("{stem}.dense.safetensors"));
            if !path.exists() {
                return Ok(None);
            }
            let tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu)?;
            let head = DenseHead::from_tensors(&tensors, &path)?;
            if head.classes() != ngram.labels().len() {
                return Err(NluError::Corrupt(format!(
                    "{}: the dense head does not match the labels",
                    path.display()
                )));
            }
            Some(head)
        } else {
            None
        };
        Ok(Some(Ensemble {
            ngram,
            dense,
            calibration: meta.calibration,
            sweep: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(s: &[f32]) -> Scored {
        scored(s.to_vec())
    }

    #[test]
    fn scored_finds_top_and_margin() {
        let s = point(&[0.1, 0.6, 0.3]);
        assert_eq!(s.top, 1);
        assert!((s.margin - 0.3).abs() < 1e-6);
        let single = point(&[1.0]);
        assert_eq!(single.margin, 1.0);
    }

    #[test]
    fn sweep_trades_recall_for_accuracy() {
        // Two confident correct in-scope predictions, one unsure in-scope, two unsure OOS.
        let data = vec![
            (point(&[0.9, 0.1]), false, true),
            (point(&[0.8, 0.2]), false, true),
            (point(&[0.55, 0.45]), false, true),
            (point(&[0.5, 0.5]), true, false),
            (point(&[0.6, 0.4]), true, false),
        ];
        let points = sweep(&data, None);
        let at = |t: f32, m: f32| {
            *points
                .iter()
                .find(|p| (p.threshold - t).abs() < 1e-6 && (p.margin - m).abs() < 1e-6)
                .unwrap()
        };
        let none = at(0.0, 0.0);
        assert_eq!((none.in_scope_accuracy, none.oos_recall), (1.0, 0.0));
        let mid = at(0.61, 0.0);
        assert_eq!(mid.oos_recall, 1.0);
        assert!((mid.in_scope_accuracy - 2.0 / 3.0).abs() < 1e-6);
        // A margin of 0.15 flags the 0.55/0.45 split too, but not 0.6/0.4.
        let m = at(0.0, 0.15);
        assert!((m.oos_recall - 0.5).abs() < 1e-6, "{m:?}");
        assert!(sweep(&data[..3], None).is_empty());
    }
}
