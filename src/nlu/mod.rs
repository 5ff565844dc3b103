//! Understanding a shopper's message: normalisation, language, and the intent classifier.
//!
//! Data flow: raw text → [`normalize`] → (with the encoder, the message's vector) →
//! [`IntentClassifier::classify`] → an [`IntentPrediction`] (label, calibrated confidence,
//! out-of-scope flag, runners-up). The classifier ([`ensemble`]) mixes the hashed n-gram model
//! ([`classifier`]: an embedding bag plus a linear model over the n-grams,
//! [`ngram_linear`]) with a dense head over encoder vectors ([`vector_head`]), its confidence
//! fitted with some intents left out ([`unknown_intents`]). It is trained from the
//! `intents/` examples ([`IntentClassifier::train_cached`]) and cached in the data directory
//! under a hash of everything that shaped it, so an unchanged intent set is never retrained.

pub mod classifier;
pub mod ensemble;
pub mod features;
pub mod language;
pub mod ngram_linear;
pub mod normalize;
pub mod similarity;
pub mod unknown_intents;
pub mod vector_head;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use classifier::{Example, IntentModel, OOS_LABEL, TrainParams};
pub use ensemble::{Ensemble, OosTarget};
pub use vector_head::DenseParams;

use crate::encoder::{Encoder, EncoderError};
pub use language::Lang;
pub use normalize::normalize;

/// Why a model could not be trained, saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum NluError {
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cached model is unreadable: {0}")]
    Corrupt(String),
    #[error("cannot train: {0}")]
    Training(String),
    #[error(transparent)]
    Encoder(#[from] EncoderError),
}

impl NluError {
    pub fn io(path: &Path, source: std::io::Error) -> NluError {
        NluError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What the classifier made of one message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntentPrediction {
    /// The most likely label (may be `oos` when the training data had that class).
    pub label: String,
    /// Calibrated probability of `label`.
    pub confidence: f32,
    /// True when the message looks like nothing the classifier was trained on.
    pub out_of_scope: bool,
    /// The next most likely labels with their probabilities, best first.
    pub alternatives: Vec<(String, f32)>,
}

/// A trained intent classifier, ready to answer.
#[derive(Debug, Clone)]
pub struct IntentClassifier {
    model: Ensemble,
    /// Where the model came from: trained now or loaded from the cache.
    pub provenance: Provenance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    Trained,
    Cached,
}

/// Labelled training text, before normalisation.
#[derive(Debug, Clone)]
pub struct LabelledText {
    pub text: String,
    pub label: String,
}

impl IntentClassifier {
    pub fn from_model(model: Ensemble, provenance: Provenance) -> Self {
        IntentClassifier { model, provenance }
    }

    pub fn model(&self) -> &Ensemble {
        &self.model
    }

    pub fn labels(&self) -> &[String] {
        self.model.labels()
    }

    /// Whether predictions use encoder vectors (the caller should pass one).
    pub fn uses_vectors(&self) -> bool {
        self.model.dense.is_some()
    }

    /// Classifies already-normalised text; `vector` is its encoder vector, when the
    /// classifier has a dense head.
    pub fn classify(&self, normalized: &str, vector: Option<&[f32]>) -> IntentPrediction {
        let scored = self.model.score(normalized, vector);
        let out_of_scope = self.model.is_out_of_scope(&scored);
        let mut ranked: Vec<(usize, f32)> =
            scored.probabilities.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let labels = self.model.labels();
        IntentPrediction {
            label: labels[scored.top].clone(),
            confidence: scored.confidence,
            out_of_scope,
            alternatives: ranked
                .iter()
                .skip(1)
                .take(3)
                .map(|&(i, p)| (labels[i].clone(), p))
                .collect(),
        }
    }

    /// Trains on `data` (labels in order of first appearance), or loads the model cached in
    /// `cache_dir` under the hash of `data`, `params` and the encoder. With an encoder, the
    /// examples' vectors come from (and go to) its content cache.
    pub fn train_cached(
        data: &[LabelledText],
        params: &TrainParams,
        oos_threshold: f32,
        cache_dir: Option<&Path>,
        encoder: Option<&Encoder>,
    ) -> Result<IntentClassifier, NluError> {
        let dense_params = DenseParams::default().for_encoder(encoder);
        let key = cache_key(data, params, &dense_params, oos_threshold, encoder);
        let stem = format!("intents-{key}");
        if let Some(dir) = cache_dir {
            match Ensemble::load(dir, &stem) {
                Ok(Some(model)) => return Ok(Self::from_model(model, Provenance::Cached)),
                Ok(None) => {}
                // A damaged cache is not fatal: retrain and overwrite it.
                Err(e) => tracing::warn!(error = %e, "ignoring unreadable cached intent model"),
            }
        }
        let (examples, labels) = to_examples(data);
        let vectors = embed_examples(encoder, &examples)?;
        let model = ensemble::train(
            ensemble::Data {
                examples: &examples,
                vectors: vectors.as_deref(),
            },
            labels,
            params,
            &dense_params,
            None,
            OosTarget {
                recall: 0.0,
                default_threshold: oos_threshold,
            },
        )?;
        if let Some(dir) = cache_dir {
            model.save(dir, &stem)?;
        }
        Ok(Self::from_model(model, Provenance::Trained))
    }
}

/// Encoder vectors of normalised examples, from the content cache where possible.
pub fn embed_examples(
    encoder: Option<&Encoder>,
    examples: &[Example],
) -> Result<Option<Vec<Arc<[f32]>>>, NluError> {
    let Some(encoder) = encoder else {
        return Ok(None);
    };
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    Ok(Some(encoder.embed_content(&texts)?))
}

/// Normalises texts and numbers labels in order of first appearance.
pub fn to_examples(data: &[LabelledText]) -> (Vec<Example>, Vec<String>) {
    let mut labels: Vec<String> = Vec::new();
    let examples = data
        .iter()
        .map(|d| {
            let label = match labels.iter().position(|l| *l == d.label) {
                Some(i) => i,
                None => {
                    labels.push(d.label.clone());
                    labels.len() - 1
                }
            };
            Example {
                text: normalize(&d.text),
                label,
            }
        })
        .collect();
    (examples, labels)
}

/// Bumped when training or calibration changes what a cached model would hold (2: a
/// separate mixture for Chinese text; 3: temperatures fitted with intents left out; 4: the
/// n-gram model's wide half).
const CALIBRATION_VERSION: u32 = 4;

fn cache_key(
    data: &[LabelledText],
    params: &TrainParams,
    dense_params: &DenseParams,
    oos_threshold: f32,
    encoder: Option<&Encoder>,
) -> String {
    let mut h = Sha256::new();
    h.update(features::FEATURE_VERSION.to_le_bytes());
    // How a trained model is calibrated: models cached by an older Baton are retrained.
    h.update(CALIBRATION_VERSION.to_le_bytes());
    h.update(serde_json::to_vec(params).unwrap_or_default());
    if let Some(e) = encoder {
        h.update(e.model.fingerprint().as_bytes());
        h.update(serde_json::to_vec(dense_params).unwrap_or_default());
    }
    h.update(oos_threshold.to_le_bytes());
    for d in data {
        h.update(d.label.as_bytes());
        h.update([0]);
        h.update(d.text.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<LabelledText> {
        [
            ("hello", "greeting"),
            ("hi there", "greeting"),
            ("你好", "greeting"),
            ("在吗", "greeting"),
            ("refund please", "refund"),
            ("where is my refund", "refund"),
            ("退款到账了吗", "refund"),
            ("钱什么时候退回来", "refund"),
        ]
        .iter()
        .map(|(t, l)| LabelledText {
            text: t.to_string(),
            label: l.to_string(),
        })
        .collect()
    }

    /// Small, quick training settings for the n-gram model's unit tests.
    pub(super) fn params() -> TrainParams {
        TrainParams {
            epochs: 30,
            dim: 16,
            learning_rate: 0.05,
            weight_decay: 0.0,
            seed: 3,
        }
    }

    #[test]
    fn unchanged_data_is_not_retrained() {
        let dir = tempfile::tempdir().unwrap();
        let a = IntentClassifier::train_cached(&data(), &params(), 0.3, Some(dir.path()), None)
            .unwrap();
        assert_eq!(a.provenance, Provenance::Trained);
        let b = IntentClassifier::train_cached(&data(), &params(), 0.3, Some(dir.path()), None)
            .unwrap();
        assert_eq!(b.provenance, Provenance::Cached);
        assert_eq!(a.classify("refund", None), b.classify("refund", None));
        let mut changed = data();
        changed[0].text = "hey".into();
        let c = IntentClassifier::train_cached(&changed, &params(), 0.3, Some(dir.path()), None)
            .unwrap();
        assert_eq!(c.provenance, Provenance::Trained);
    }

    #[test]
    fn prediction_ranks_and_flags() {
        let c = IntentClassifier::train_cached(&data(), &params(), 0.0, None, None).unwrap();
        let p = c.classify(&normalize("退款"), None);
        assert_eq!(p.label, "refund");
        assert_eq!(p.alternatives.len(), 1);
        assert!(!p.out_of_scope);
        // A threshold above any probability flags everything.
        let c = IntentClassifier::train_cached(&data(), &params(), 1.5, None, None).unwrap();
        assert!(c.classify(&normalize("退款"), None).out_of_scope);
    }
}
