//! The n-gram intent model: hashed n-grams → embedding bag (mean) → linear layer, plus a
//! linear model over the n-grams themselves ([`super::ngram_linear`]); their logits add
//! (deep and wide) → softmax. The bag is trained with candle's AdamW; confidence calibrated
//! by temperature scaling on held-out examples; out-of-scope flagged by a confidence
//! threshold (and by an `oos` class when the training data has one).
//!
//! Training runs on candle tensors. Prediction reads the trained weights as plain slices:
//! one prediction sums a few hundred embedding rows and multiplies by a small matrix, which
//! takes microseconds without a tensor runtime's per-call overhead.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::NluError;
use super::features::{FEATURE_VERSION, hashed_features};
use super::ngram_linear::{self, NgramLinear};
use crate::telemetry::progress::Progress;

/// The label that marks out-of-scope text in training and evaluation data.
pub const OOS_LABEL: &str = "oos";

/// Example passes (examples × epochs) below which training ends before anyone would look:
/// 200,000 take about three seconds.
pub const TRAINING_WORTH_SHOWING: u64 = 200_000;

/// One training example: normalised text and the index of its label.
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub label: usize,
}

/// Hyper-parameters of one training run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainParams {
    pub epochs: usize,
    pub dim: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

/// Everything about a model except its weights; saved as JSON beside them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelMeta {
    pub labels: Vec<String>,
    pub buckets: u32,
    pub dim: usize,
    /// Logits are divided by this before the softmax (temperature scaling).
    pub temperature: f32,
    /// Below this calibrated confidence a prediction is out of scope.
    pub oos_threshold: f32,
    pub feature_version: u32,
}

/// A trained classifier.
#[derive(Debug, Clone)]
pub struct IntentModel {
    pub meta: ModelMeta,
    /// `buckets × dim`, row-major.
    embeddings: Vec<f32>,
    /// `dim × classes`, row-major.
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// The wide half: one weight per n-gram and label.
    linear: NgramLinear,
}

/// Tensor names of the wide half in the saved file.
const LINEAR_PREFIX: &str = "linear.";

impl IntentModel {
    pub fn labels(&self) -> &[String] {
        &self.meta.labels
    }

    /// Raw scores per label for normalised text: the bag's and the wide half's, added.
    pub fn logits(&self, text: &str) -> Vec<f32> {
        // The n-grams are hashed once, into the wide half's space; the bag's buckets are
        // the same hashes masked further (both spaces are powers of two).
        let mut feats = Vec::with_capacity(256);
        hashed_features(text, ngram_linear::HASH_SPACE, &mut feats);
        let mut logits = self.bag_logits(&feats);
        self.linear.add_logits(&mut feats, &mut logits);
        logits
    }

    fn bag_logits(&self, feats: &[u32]) -> Vec<f32> {
        let dim = self.meta.dim;
        let bucket_of = self.meta.buckets - 1;
        let mut hidden = vec![0f32; dim];
        if !feats.is_empty() {
            for f in feats.iter().map(|f| f & bucket_of) {
                let row = &self.embeddings[f as usize * dim..(f as usize + 1) * dim];
                for (h, e) in hidden.iter_mut().zip(row) {
                    *h += e;
                }
            }
            let scale = 1.0 / feats.len() as f32;
            hidden.iter_mut().for_each(|h| *h *= scale);
        }
        let classes = self.bias.len();
        let mut logits = self.bias.clone();
        for (d, h) in hidden.iter().enumerate() {
            let row = &self.weights[d * classes..(d + 1) * classes];
            for (l, w) in logits.iter_mut().zip(row) {
                *l += h * w;
            }
        }
        logits
    }

    /// Calibrated probabilities per label.
    pub fn probabilities(&self, text: &str) -> Vec<f32> {
        softmax(&self.logits(text), self.meta.temperature)
    }

    /// Writes `<stem>.safetensors` and `<stem>.json` into `dir`.
    pub fn save(&self, dir: &Path, stem: &str) -> Result<(), NluError> {
        std::fs::create_dir_all(dir).map_err(|e| NluError::io(dir, e))?;
        let dev = Device::Cpu;
        let classes = self.bias.len();
        let tensors: HashMap<String, Tensor> = [
            (
                "embeddings",
                Tensor::from_slice(
                    &self.embeddings,
                    (self.meta.buckets as usize, self.meta.dim),
                    &dev,
                )?,
            ),
            (
                "weights",
                Tensor::from_slice(&self.weights, (self.meta.dim, classes), &dev)?,
            ),
            ("bias", Tensor::from_slice(&self.bias, classes, &dev)?),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(self.linear.to_tensors(LINEAR_PREFIX)?)
        .collect();
        // Write beside under a name no other writer uses, then rename: a crash or a
        // concurrent trainer never leaves a half-written model to be loaded.
        let unique = format!("{}-{}", std::process::id(), rand::random::<u64>());
        let weights_path = dir.join(format!("{stem}.safetensors"));
        let tmp = dir.join(format!("{stem}.safetensors.{unique}.tmp"));
        candle_core::safetensors::save(&tensors, &tmp)?;
        std::fs::rename(&tmp, &weights_path).map_err(|e| NluError::io(&weights_path, e))?;
        let meta_path = dir.join(format!("{stem}.json"));
        let meta_tmp = dir.join(format!("{stem}.json.{unique}.tmp"));
        let json =
            serde_json::to_vec_pretty(&self.meta).map_err(|e| NluError::Corrupt(e.to_string()))?;
        std::fs::write(&meta_tmp, json).map_err(|e| NluError::io(&meta_tmp, e))?;
        std::fs::rename(&meta_tmp, &meta_path).map_err(|e| NluError::io(&meta_path, e))?;
        Ok(())
    }

    /// Reads a model written by [`IntentModel::save`]; `None` when it is not there.
    pub fn load(dir: &Path, stem: &str) -> Result<Option<IntentModel>, NluError> {
        let meta_path = dir.join(format!("{stem}.json"));
        let weights_path = dir.join(format!("{stem}.safetensors"));
        if !meta_path.exists() || !weights_path.exists() {
            return Ok(None);
        }
        let meta: ModelMeta = serde_json::from_slice(
            &std::fs::read(&meta_path).map_err(|e| NluError::io(&meta_path, e))?,
        )
        .map_err(|e| NluError::Corrupt(format!("{}: {e}", meta_path.display())))?;
        let tensors = candle_core::safetensors::load(&weights_path, &Device::Cpu)?;
        let get = |name: &str| -> Result<Vec<f32>, NluError> {
            tensors
                .get(name)
                .ok_or_else(|| {
                    NluError::Corrupt(format!("{}: no tensor {name}", weights_path.display()))
                })?
                .flatten_all()?
                .to_vec1::<f32>()
                .map_err(NluError::from)
        };
        if !meta.buckets.is_power_of_two() || meta.buckets > ngram_linear::HASH_SPACE {
            return Err(NluError::Corrupt(format!(
                "{}: {} buckets is not a power of two within the n-gram hash space",
                meta_path.display(),
                meta.buckets
            )));
        }
        let classes = meta.labels.len();
        let model = IntentModel {
            embeddings: get("embeddings")?,
            weights: get("weights")?,
            bias: get("bias")?,
            linear: NgramLinear::from_tensors(
                &tensors,
                LINEAR_PREFIX,
                classes,
                &weights_path.display().to_string(),
            )?,
            meta,
        };
        if model.embeddings.len() != model.meta.buckets as usize * model.meta.dim
            || model.weights.len() != model.meta.dim * classes
            || model.bias.len() != classes
        {
            return Err(NluError::Corrupt(format!(
                "{}: tensor shapes do not match its metadata",
                weights_path.display()
            )));
        }
        Ok(Some(model))
    }
}

/// Softmax of `logits / temperature`.
pub fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let t = temperature.max(1e-3);
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| ((l - max) / t).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Trains a model on `train`. When `calibration` is given, temperature and out-of-scope
/// threshold are fitted on it; otherwise a stratified tenth of `train` is held out for the
/// temperature, and the final model is retrained on everything.
pub fn train(
    train: &[Example],
    labels: Vec<String>,
    params: &TrainParams,
    calibration: Option<&[Example]>,
    default_oos_threshold: f32,
) -> Result<IntentModel, NluError> {
    if labels.len() < 2 {
        return Err(NluError::Training("at least two labels are needed".into()));
    }
    if train.is_empty() {
        return Err(NluError::Training("no training examples".into()));
    }
    let buckets = bucket_count(train);
    let (temperature, mut model) = match calibration {
        Some(held_out) => {
            let model = fit(train, &labels, buckets, params)?;
            (fit_temperature(&model, held_out), model)
        }
        None => {
            let (fit_part, held_out) = stratified_split(train, labels.len(), params.seed);
            let temperature = if held_out.is_empty() {
                1.0
            } else {
                let probe = fit(&fit_part, &labels, buckets, params)?;
                fit_temperature(&probe, &held_out)
            };
            (temperature, fit(train, &labels, buckets, params)?)
        }
    };
    model.meta.temperature = temperature;
    model.meta.oos_threshold = match calibration {
        Some(held_out) => {
            calibrate_oos_threshold(&model, held_out).unwrap_or(default_oos_threshold)
        }
        None => default_oos_threshold,
    };
    Ok(model)
}

/// Hash buckets: about twice the distinct features, a power of two within 2^12..=2^18, so a
/// small intent set trains in seconds and a large one keeps collisions rare.
fn bucket_count(train: &[Example]) -> u32 {
    let mut distinct = std::collections::HashSet::new();
    let mut feats = Vec::new();
    for ex in train {
        hashed_features(&ex.text, 1 << 30, &mut feats);
        distinct.extend(feats.iter().copied());
    }
    ((distinct.len() * 2).next_power_of_two() as u32).clamp(1 << 12, 1 << 18)
}

/// Splits example indices into a fitting part and a held-out tenth, class by class, so
/// every class with enough examples is represented in both.
pub fn stratified_indices(
    train: &[Example],
    classes: usize,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, ex) in train.iter().enumerate() {
        if let Some(group) = by_class.get_mut(ex.label) {
            group.push(i);
        }
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED);
    let (mut fit_part, mut held_out) = (Vec::new(), Vec::new());
    for mut group in by_class {
        group.shuffle(&mut rng);
        // Classes with few examples keep them all for fitting.
        let hold = if group.len() >= 8 {
            group.len() / 10
        } else {
            0
        };
        for (k, i) in group.into_iter().enumerate() {
            if k < hold {
                held_out.push(i);
            } else {
                fit_part.push(i);
            }
        }
    }
    (fit_part, held_out)
}

fn stratified_split(train: &[Example], classes: usize, seed: u64) -> (Vec<Example>, Vec<Example>) {
    let (fit_part, held_out) = stratified_indices(train, classes, seed);
    let pick = |idx: Vec<usize>| idx.into_iter().map(|i| train[i].clone()).collect();
    (pick(fit_part), pick(held_out))
}

/// Trains on all of `train` with no calibration (temperature 1, threshold 0).
pub fn fit_only(
    train: &[Example],
    labels: &[String],
    params: &TrainParams,
) -> Result<IntentModel, NluError> {
    if labels.len() < 2 {
        return Err(NluError::Training("at least two labels are needed".into()));
    }
    if train.is_empty() {
        return Err(NluError::Training("no training examples".into()));
    }
    fit(train, labels, bucket_count(train), params)
}

fn fit(
    train: &[Example],
    labels: &[String],
    buckets: u32,
    params: &TrainParams,
) -> Result<IntentModel, NluError> {
    let dev = Device::Cpu;
    let classes = labels.len();
    let dim = params.dim;
    let features: Vec<Vec<u32>> = train
        .iter()
        .map(|ex| {
            let mut f = Vec::new();
            hashed_features(&ex.text, buckets, &mut f);
            f
        })
        .collect();

    let mut rng = StdRng::seed_from_u64(params.seed);
    let init = |n: usize, scale: f32, rng: &mut StdRng| -> Vec<f32> {
        use rand::Rng;
        (0..n)
            .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
            .collect()
    };
    let mut table = SparseAdamW::new(init(buckets as usize * dim, 0.1, &mut rng), dim, params);
    let w_scale = (1.0 / dim as f32).sqrt();
    let w = Var::from_vec(init(dim * classes, w_scale, &mut rng), (dim, classes), &dev)?;
    let b = Var::zeros(classes, DType::F32, &dev)?;
    let mut head = AdamW::new(
        vec![w.clone(), b.clone()],
        ParamsAdamW {
            lr: params.learning_rate,
            weight_decay: params.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;

    let schedule = Schedule::new(train.len(), params);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut step = 0usize;
    let mut local_of: HashMap<u32, u32> = HashMap::new();
    // Counted in examples seen (each example once per epoch).
    let passes = Progress::start_from(
        "training the n-gram intent model",
        (train.len() * params.epochs) as u64,
        TRAINING_WORTH_SHOWING,
    );
    for _ in 0..params.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(schedule.batch_size) {
            let lr = schedule.rate(step);
            head.set_learning_rate(lr);
            step += 1;

            // Only the embedding rows this batch touches take part: they are copied into a
            // small tensor, differentiated by candle, and updated in place (lazy AdamW).
            local_of.clear();
            let mut rows: Vec<u32> = Vec::new();
            let (mut ids, mut seg, mut scale, mut targets) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (row, &i) in chunk.iter().enumerate() {
                let f = &features[i];
                let s = 1.0 / f.len().max(1) as f32;
                for &g in f {
                    let local = *local_of.entry(g).or_insert_with(|| {
                        rows.push(g);
                        rows.len() as u32 - 1
                    });
                    ids.push(local);
                }
                seg.extend(std::iter::repeat_n(row as u32, f.len()));
                scale.extend(std::iter::repeat_n(s, f.len()));
                targets.push(train[i].label as u32);
            }
            let n = ids.len();
            let batch_rows = chunk.len();
            let emb = Var::from_vec(table.gather(&rows), (rows.len().max(1), dim), &dev)?;
            let hidden = if n == 0 {
                Tensor::zeros((batch_rows, dim), DType::F32, &dev)?
            } else {
                let ids = Tensor::from_vec(ids, n, &dev)?;
                let seg = Tensor::from_vec(seg, n, &dev)?;
                let scale = Tensor::from_vec(scale, (n, 1), &dev)?;
                let picked = emb
                    .as_tensor()
                    .index_select(&ids, 0)?
                    .broadcast_mul(&scale)?;
                Tensor::zeros((batch_rows, dim), DType::F32, &dev)?.index_add(&seg, &picked, 0)?
            };
            let logits = hidden.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            let targets = Tensor::from_vec(targets, batch_rows, &dev)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &targets)?;
            let grads = loss.backward()?;
            head.step(&grads)?;
            if let Some(g) = grads.get(emb.as_tensor())
                && !rows.is_empty()
            {
                table.step(&rows, &g.flatten_all()?.to_vec1::<f32>()?, lr);
            }
            passes.add(batch_rows as u64);
        }
    }
    passes.finish();

    Ok(IntentModel {
        meta: ModelMeta {
            labels: labels.to_vec(),
            buckets,
            dim,
            temperature: 1.0,
            oos_threshold: 0.0,
            feature_version: FEATURE_VERSION,
        },
        embeddings: table.into_weights(),
        weights: w.as_tensor().flatten_all()?.to_vec1()?,
        bias: b.as_tensor().to_vec1()?,
        linear: NgramLinear::train(train, classes, params),
    })
}

/// Batch size and learning rate over one training run, shared by both halves of the n-gram
/// model.
pub(super) struct Schedule {
    pub(super) batch_size: usize,
    total_steps: usize,
    learning_rate: f64,
}

impl Schedule {
    pub(super) fn new(examples: usize, params: &TrainParams) -> Schedule {
        // Larger sets get larger batches, so an epoch is a bounded number of optimiser steps.
        let batch_size = (examples / 60).clamp(16, 256);
        Schedule {
            batch_size,
            total_steps: (examples.div_ceil(batch_size) * params.epochs).max(1),
            learning_rate: params.learning_rate,
        }
    }

    /// The rate at optimiser step `step`: a linear decay to a tenth of the initial rate.
    pub(super) fn rate(&self, step: usize) -> f64 {
        let progress = step as f64 / self.total_steps as f64;
        self.learning_rate * (1.0 - 0.9 * progress)
    }
}

/// AdamW for a table of rows (the bag's embeddings, the wide half's weights), applied
/// lazily: only rows with a gradient this step are updated (their moments and decoupled
/// weight decay included), as in LazyAdam. A dense optimiser would touch all `rows × dim`
/// parameters on every step — minutes instead of seconds for a shop's intent set.
pub(super) struct SparseAdamW {
    pub(super) weights: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    dim: usize,
    t: i32,
    weight_decay: f32,
}

impl SparseAdamW {
    const BETA1: f32 = 0.9;
    const BETA2: f32 = 0.999;
    const EPS: f32 = 1e-8;

    pub(super) fn new(weights: Vec<f32>, dim: usize, params: &TrainParams) -> Self {
        let n = weights.len();
        SparseAdamW {
            weights,
            m: vec![0.0; n],
            v: vec![0.0; n],
            dim,
            t: 0,
            weight_decay: params.weight_decay as f32,
        }
    }

    fn gather(&self, rows: &[u32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(rows.len().max(1) * self.dim);
        for &r in rows {
            let r = r as usize * self.dim;
            out.extend_from_slice(&self.weights[r..r + self.dim]);
        }
        if rows.is_empty() {
            out.resize(self.dim, 0.0);
        }
        out
    }

    /// `grads` holds one `dim`-long gradient per entry of `rows`, in order.
    pub(super) fn step(&mut self, rows: &[u32], grads: &[f32], lr: f64) {
        self.t += 1;
        let lr = lr as f32;
        let correct1 = 1.0 - Self::BETA1.powi(self.t);
        let correct2 = 1.0 - Self::BETA2.powi(self.t);
        for (k, &r) in rows.iter().enumerate() {
            let base = r as usize * self.dim;
            for j in 0..self.dim {
                let g = grads[k * self.dim + j];
                let i = base + j;
                self.m[i] = Self::BETA1 * self.m[i] + (1.0 - Self::BETA1) * g;
                self.v[i] = Self::BETA2 * self.v[i] + (1.0 - Self::BETA2) * g * g;
                let update = (self.m[i] / correct1) / ((self.v[i] / correct2).sqrt() + Self::EPS);
                self.weights[i] = self.weights[i] * (1.0 - lr * self.weight_decay) - lr * update;
            }
        }
    }

    pub(super) fn into_weights(self) -> Vec<f32> {
        self.weights
    }
}

/// The temperature that minimises negative log-likelihood on `held_out` (grid search over a
/// log scale: robust, and cheap because the logits are computed once).
fn fit_temperature(model: &IntentModel, held_out: &[Example]) -> f32 {
    let known: Vec<(Vec<f32>, usize)> = held_out
        .iter()
        .filter(|ex| ex.label < model.meta.labels.len())
        .map(|ex| (model.logits(&ex.text), ex.label))
        .collect();
    if known.is_empty() {
        return 1.0;
    }
    let mut best = (f32::INFINITY, 1.0f32);
    for i in 0..=120 {
        let t = (0.02f32).ln() + (i as f32 / 120.0) * ((20.0f32).ln() - (0.02f32).ln());
        let t = t.exp();
        let nll: f32 = known
            .iter()
            .map(|(logits, label)| -softmax(logits, t)[*label].max(1e-9).ln())
            .sum();
        if nll < best.0 {
            best = (nll, t);
        }
    }
    best.1
}

/// Picks the confidence threshold that balances in-scope accuracy and out-of-scope recall
/// on `held_out` (which must contain `oos` examples; `None` otherwise).
fn calibrate_oos_threshold(model: &IntentModel, held_out: &[Example]) -> Option<f32> {
    let oos = model.meta.labels.iter().position(|l| l == OOS_LABEL);
    let classes = model.meta.labels.len();
    struct Scored {
        top_correct: bool,
        top_is_oos: bool,
        confidence: f32,
        gold_oos: bool,
    }
    let scored: Vec<Scored> = held_out
        .iter()
        .map(|ex| {
            let (top, confidence) = argmax(&model.probabilities(&ex.text));
            Scored {
                top_correct: top == ex.label,
                top_is_oos: Some(top) == oos,
                confidence,
                // `oos` examples carry the oos class index, or one past the classes when
                // training had no such class.
                gold_oos: Some(ex.label) == oos || ex.label >= classes,
            }
        })
        .collect();
    let n_oos = scored.iter().filter(|s| s.gold_oos).count();
    let n_in = scored.len() - n_oos;
    if n_oos == 0 || n_in == 0 {
        return None;
    }
    let mut best = (f32::NEG_INFINITY, 0.0f32);
    for step in 0..=100 {
        let t = step as f32 / 100.0;
        let (mut in_ok, mut oos_ok) = (0usize, 0usize);
        for s in &scored {
            let predicted_oos = s.confidence < t || s.top_is_oos;
            match (s.gold_oos, predicted_oos) {
                (true, true) => oos_ok += 1,
                (false, false) if s.top_correct => in_ok += 1,
                _ => {}
            }
        }
        let score = in_ok as f32 / n_in as f32 + oos_ok as f32 / n_oos as f32;
        if score > best.0 {
            best = (score, t);
        }
    }
    Some(best.1)
}

/// Index and value of the largest element.
pub fn argmax(p: &[f32]) -> (usize, f32) {
    p.iter()
        .copied()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
            if v > best.1 { (i, v) } else { best }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalize;

    fn toy() -> (Vec<Example>, Vec<String>) {
        let data = [
            ("where is my order", 0),
            ("track my package", 0),
            ("my parcel has not arrived", 0),
            ("我的订单到哪了", 0),
            ("查一下物流", 0),
            ("快递怎么还没到", 0),
            ("i want to return this", 1),
            ("how do i send it back", 1),
            ("return the shoes", 1),
            ("我要退货", 1),
            ("怎么退货", 1),
            ("这个能退吗", 1),
        ];
        let ex = data
            .iter()
            .map(|(t, l)| Example {
                text: normalize(t),
                label: *l,
            })
            .collect();
        (ex, vec!["order_status".into(), "return".into()])
    }

    fn params() -> TrainParams {
        TrainParams {
            epochs: 40,
            dim: 16,
            learning_rate: 0.05,
            weight_decay: 0.0,
            seed: 1,
        }
    }

    #[test]
    fn learns_a_toy_set_in_both_languages() {
        let (ex, labels) = toy();
        let model = train(&ex, labels, &params(), None, 0.5).unwrap();
        let p = model.probabilities(&normalize("where's my package"));
        assert!(p[0] > p[1], "{p:?}");
        let p = model.probabilities(&normalize("我想退货"));
        assert!(p[1] > p[0], "{p:?}");
    }

    #[test]
    fn training_is_reproducible_and_round_trips_to_disk() {
        let (ex, labels) = toy();
        let a = train(&ex, labels.clone(), &params(), None, 0.5).unwrap();
        let b = train(&ex, labels, &params(), None, 0.5).unwrap();
        assert_eq!(a.logits("退货"), b.logits("退货"));
        let dir = tempfile::tempdir().unwrap();
        a.save(dir.path(), "m").unwrap();
        let c = IntentModel::load(dir.path(), "m").unwrap().unwrap();
        assert_eq!(c.meta, a.meta);
        assert_eq!(c.logits("track order"), a.logits("track order"));
        assert!(IntentModel::load(dir.path(), "absent").unwrap().is_none());
    }

    #[test]
    fn corrupt_cache_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.json"), b"{not json").unwrap();
        std::fs::write(dir.path().join("m.safetensors"), b"garbage").unwrap();
        assert!(IntentModel::load(dir.path(), "m").is_err());
    }

    #[test]
    fn softmax_sums_to_one_and_temperature_flattens() {
        let p = softmax(&[2.0, 1.0, 0.0], 1.0);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let flat = softmax(&[2.0, 1.0, 0.0], 10.0);
        assert!(flat[0] < p[0]);
    }
}
