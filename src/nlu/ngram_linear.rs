//! The wide half of the n-gram intent model: one weight per (n-gram, intent) over TF-IDF
//! weighted, L2-normalised n-gram counts — the classic TF-IDF + logistic regression text
//! classifier, trained with the same lazy AdamW as the embedding bag.
//!
//! Data flow: normalised text → the bag's hashed n-grams ([`super::features`]) → the rows of
//! the n-grams seen in training, each `(1 + ln tf) · idf`, L2-normalised → `Σ value · row +
//! bias` → logits, which [`super::classifier::IntentModel`] adds to the bag's.
//!
//! Why beside the bag: the bag squeezes every n-gram through one narrow mean, so a rare but
//! decisive n-gram ("航班", "refund") is diluted by the common ones around it; a weight of its
//! own per intent keeps it. Measured by five-fold cross-validation on SMP2017's training set
//! (README, "The n-gram model's two halves"). Only n-grams seen in training get a row, so the
//! model's size follows the intent set, not the hash space.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rustc_hash::FxHashMap;

use super::NluError;
use super::classifier::{
    Example, Schedule, SparseAdamW, TRAINING_WORTH_SHOWING, TrainParams, softmax,
};
use super::features::hashed_features;
use crate::telemetry::progress::Progress;

/// The hash space n-grams are told apart in before they get a row: wide enough that two
/// n-grams of one intent set practically never share one.
pub const HASH_SPACE: u32 = 1 << 24;

/// A trained linear model over n-grams.
#[derive(Debug, Clone, PartialEq)]
pub struct NgramLinear {
    /// n-gram hash → its row.
    rows: FxHashMap<u32, u32>,
    /// Inverse document frequency of each row's n-gram in the training set.
    idf: Vec<f32>,
    /// `(rows + 1) × classes`, row-major; the last row is the bias.
    weights: Vec<f32>,
    classes: usize,
}

/// One text as the model reads it: `(row, value)` pairs, L2-normalised.
type Input = Vec<(u32, f32)>;

impl NgramLinear {
    /// Trains on normalised examples for `classes` labels, `params.epochs` passes.
    pub fn train(examples: &[Example], classes: usize, params: &TrainParams) -> NgramLinear {
        let mut model = NgramLinear::with_vocabulary(examples, classes);
        let mut scratch = Vec::new();
        let inputs: Vec<Input> = examples
            .iter()
            .map(|ex| model.input(&ex.text, &mut scratch))
            .collect();
        let bias = model.bias_row();
        let zeros = vec![0.0; (bias as usize + 1) * classes];
        let mut table = SparseAdamW::new(zeros, classes, params);
        let schedule = Schedule::new(examples.len(), params);
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut rng = StdRng::seed_from_u64(params.seed ^ 0x11AE);
        let mut step = 0usize;
        let mut slot_of: FxHashMap<u32, usize> = FxHashMap::default();
        let passes = Progress::start_from(
            "training the n-gram linear model",
            (examples.len() * params.epochs) as u64,
            TRAINING_WORTH_SHOWING,
        );
        for _ in 0..params.epochs {
            order.shuffle(&mut rng);
            for chunk in order.chunks(schedule.batch_size) {
                let lr = schedule.rate(step);
                step += 1;
                // Gradient of the batch's mean cross-entropy, for the rows it touches only.
                slot_of.clear();
                let mut touched: Vec<u32> = Vec::new();
                let mut grads: Vec<f32> = Vec::new();
                let share = 1.0 / chunk.len() as f32;
                for &i in chunk {
                    let mut error = softmax(&logits_with(&table.weights, classes, &inputs[i]), 1.0);
                    error.iter_mut().for_each(|p| *p *= share);
                    if let Some(p) = error.get_mut(examples[i].label) {
                        *p -= share;
                    }
                    for (row, value) in inputs[i].iter().copied().chain([(bias, 1.0)]) {
                        let slot = *slot_of.entry(row).or_insert_with(|| {
                            touched.push(row);
                            grads.resize(grads.len() + classes, 0.0);
                            touched.len() - 1
                        });
                        let g = &mut grads[slot * classes..(slot + 1) * classes];
                        for (g, e) in g.iter_mut().zip(&error) {
                            *g += value * e;
                        }
                    }
                }
                table.step(&touched, &grads, lr);
                passes.add(chunk.len() as u64);
            }
        }
        passes.finish();
        model.weights = table.into_weights();
        model
    }

    /// Rows and IDFs of every n-gram in `examples`; weights not yet trained.
    fn with_vocabulary(examples: &[Example], classes: usize) -> NgramLinear {
        let mut rows: FxHashMap<u32, u32> = FxHashMap::default();
        let mut documents: Vec<u32> = Vec::new();
        let mut scratch = Vec::new();
        for ex in examples {
            hashed_features(&ex.text, HASH_SPACE, &mut scratch);
            scratch.sort_unstable();
            scratch.dedup();
            for &hash in &scratch {
                let next = rows.len() as u32;
                let row = *rows.entry(hash).or_insert(next);
                if row == next {
                    documents.push(0);
                }
                documents[row as usize] += 1;
            }
        }
        let n = examples.len() as f32;
        NgramLinear {
            rows,
            idf: documents
                .iter()
                .map(|&d| ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0)
                .collect(),
            weights: Vec::new(),
            classes,
        }
    }

    fn bias_row(&self) -> u32 {
        self.idf.len() as u32
    }

    /// Raw scores per label for normalised text; n-grams never seen in training add nothing.
    #[cfg(test)]
    fn logits(&self, text: &str) -> Vec<f32> {
        let mut scratch = Vec::with_capacity(256);
        logits_with(&self.weights, self.classes, &self.input(text, &mut scratch))
    }

    /// Adds this model's scores to `logits`, given the text's n-grams hashed into
    /// [`HASH_SPACE`] (reordered here).
    pub fn add_logits(&self, hashes: &mut [u32], logits: &mut [f32]) {
        let input = self.input_of(hashes);
        for (l, w) in logits
            .iter_mut()
            .zip(logits_with(&self.weights, self.classes, &input))
        {
            *l += w;
        }
    }

    fn input(&self, text: &str, scratch: &mut Vec<u32>) -> Input {
        hashed_features(text, HASH_SPACE, scratch);
        self.input_of(scratch)
    }

    fn input_of(&self, hashes: &mut [u32]) -> Input {
        hashes.sort_unstable();
        let mut input: Input = hashes
            .chunk_by(|a, b| a == b)
            .filter_map(|same| {
                let row = *self.rows.get(&same[0])?;
                let tf = 1.0 + (same.len() as f32).ln();
                Some((row, tf * self.idf[row as usize]))
            })
            .collect();
        let norm = input.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            input.iter_mut().for_each(|(_, v)| *v /= norm);
        }
        input
    }

    /// The tensors [`NgramLinear::from_tensors`] reads back, named under `prefix`.
    pub fn to_tensors(&self, prefix: &str) -> Result<Vec<(String, Tensor)>, NluError> {
        let dev = Device::Cpu;
        let mut hashes = vec![0u32; self.rows.len()];
        for (&hash, &row) in &self.rows {
            hashes[row as usize] = hash;
        }
        let n = hashes.len();
        Ok(vec![
            (
                format!("{prefix}hashes"),
                Tensor::from_vec(hashes, n, &dev)?,
            ),
            (
                format!("{prefix}idf"),
                Tensor::from_slice(&self.idf, n, &dev)?,
            ),
            (
                format!("{prefix}weights"),
                Tensor::from_slice(&self.weights, (n + 1, self.classes), &dev)?,
            ),
        ])
    }

    /// Reads what [`NgramLinear::to_tensors`] wrote; `where_` names the file in errors.
    pub fn from_tensors(
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        classes: usize,
        where_: &str,
    ) -> Result<NgramLinear, NluError> {
        let get = |name: &str| {
            tensors
                .get(&format!("{prefix}{name}"))
                .ok_or_else(|| NluError::Corrupt(format!("{where_}: no tensor {prefix}{name}")))
        };
        if classes == 0 {
            return Err(NluError::Corrupt(format!(
                "{where_}: a model without labels"
            )));
        }
        let hashes = get("hashes")?.to_vec1::<u32>()?;
        let idf = get("idf")?.to_vec1::<f32>()?;
        let weights = get("weights")?.flatten_all()?.to_vec1::<f32>()?;
        if idf.len() != hashes.len() || weights.len() != (hashes.len() + 1) * classes {
            return Err(NluError::Corrupt(format!(
                "{where_}: the linear model's shapes do not match its labels"
            )));
        }
        let rows = hashes
            .into_iter()
            .enumerate()
            .map(|(row, hash)| (hash, row as u32))
            .collect();
        Ok(NgramLinear {
            rows,
            idf,
            weights,
            classes,
        })
    }
}

fn logits_with(weights: &[f32], classes: usize, input: &[(u32, f32)]) -> Vec<f32> {
    let bias = weights.len() / classes - 1;
    let mut z = weights[bias * classes..(bias + 1) * classes].to_vec();
    for &(row, value) in input {
        let row = &weights[row as usize * classes..(row as usize + 1) * classes];
        for (z, w) in z.iter_mut().zip(row) {
            *z += value * w;
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::tests::params;

    fn examples() -> Vec<Example> {
        [
            ("我要退货", 0),
            ("怎么退货", 0),
            ("退货流程", 0),
            ("return this item", 0),
            ("快递到哪了", 1),
            ("物流查询", 1),
            ("查一下快递", 1),
            ("where is my parcel", 1),
        ]
        .into_iter()
        .map(|(t, l)| Example {
            text: t.into(),
            label: l,
        })
        .collect()
    }

    fn top(z: &[f32]) -> usize {
        (0..z.len())
            .max_by(|&a, &b| z[a].total_cmp(&z[b]))
            .unwrap_or(0)
    }

    #[test]
    fn learns_the_words_that_decide_an_intent() {
        let m = NgramLinear::train(&examples(), 2, &params());
        assert_eq!(top(&m.logits("退货怎么弄")), 0);
        assert_eq!(top(&m.logits("我的快递呢")), 1);
        assert_eq!(top(&m.logits("parcel")), 1);
    }

    #[test]
    fn rows_are_only_for_ngrams_seen_in_training() {
        let m = NgramLinear::train(&examples(), 2, &params());
        let mut scratch = Vec::new();
        assert!(m.input("zzqx 鑫鑫", &mut scratch).is_empty());
        // Unseen text scores the bias alone.
        let bias = m.bias_row() as usize * 2;
        assert_eq!(m.logits("zzqx 鑫鑫"), m.weights[bias..bias + 2].to_vec());
        let input = m.input("退货 退货", &mut scratch);
        let norm: f32 = input.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn tensors_round_trip_and_bad_shapes_are_refused() {
        let m = NgramLinear::train(&examples(), 2, &params());
        let tensors: HashMap<String, Tensor> = m.to_tensors("l.").unwrap().into_iter().collect();
        let back = NgramLinear::from_tensors(&tensors, "l.", 2, "m").unwrap();
        assert_eq!(back, m);
        assert!(NgramLinear::from_tensors(&tensors, "l.", 3, "m").is_err());
        assert!(NgramLinear::from_tensors(&tensors, "l.", 0, "m").is_err());
        assert!(NgramLinear::from_tensors(&tensors, "x.", 2, "m").is_err());
    }
}
