//! The knowledge Baton serves: validated content plus what was built from it (the trained
//! intent classifier and the FAQ index), as one immutable snapshot.
//!
//! [`Knowledge::load`] goes from directories to a snapshot: read and validate (any error stops
//! here, with every diagnostic; near-duplicate FAQs are found by meaning when an encoder is
//! loaded, and are among the snapshot's warnings), train or load the cached classifier, index the FAQs — with
//! the sentence encoder's vectors when one is loaded (it is shared by all snapshots, and the
//! snapshot keeps it so a message is embedded by the encoder its models were built with). Readers
//! hold an `Arc<Knowledge>`, so a newer snapshot can replace it atomically while requests in
//! flight finish on the one they started with.
//!
//! [`live`] holds the serving snapshot behind a swappable handle; [`reload`] watches the
//! directories and swaps rebuilt snapshots in. [`Knowledge::understand`] is what the models
//! make of one message, and [`recent`] keeps that for texts seen again; [`gate`] says when the
//! cheap models' understanding ([`Knowledge::understand_without_encoder`]) already is what the
//! encoder would make of it.

pub mod gate;
pub mod live;
pub mod recent;
pub mod reload;

pub use live::LiveKnowledge;
pub use recent::{RecentUnderstanding, Understood};

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::{Config, EncoderGate, NluConfig};
use crate::content::{self, Content, Diagnostic};
use crate::encoder::{Encoder, EncoderError};
use crate::kb::{FaqIndex, KbError};
use crate::nlu::{IntentClassifier, NluError, TrainParams};

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("content has {} error(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Nlu(#[from] NluError),
    #[error(transparent)]
    Kb(#[from] KbError),
}

/// One consistent generation of content and models.
#[derive(Debug)]
pub struct Knowledge {
    pub content: Content,
    pub classifier: IntentClassifier,
    pub index: FaqIndex,
    /// The encoder the models were built with; `None` runs on n-grams and BM25 alone.
    pub encoder: Option<Arc<Encoder>>,
    /// Short hash of the content: which generation answered a turn.
    pub version: String,
    /// Warnings found while loading (errors never get this far).
    pub warnings: Vec<Diagnostic>,
    /// What these models made of recent messages (in memory, emptied by a reload).
    pub recent: RecentUnderstanding,
    /// When a message is understood without the encoder.
    pub gate: EncoderGate,
}

impl Knowledge {
    /// Loads the directories named in `config`, caching the classifier under the data dir.
    pub fn load(
        config: &Config,
        encoder: Option<Arc<Encoder>>,
    ) -> Result<Knowledge, KnowledgeError> {
        let cache = config.model_cache_dir();
        Self::load_from(
            &config.kb,
            &config.intents,
            &config.nlu,
            Some(&cache),
            config.policy.intent_threshold,
            encoder,
        )
    }

    pub fn load_from(
        kb: &Path,
        intents: &Path,
        nlu: &NluConfig,
        cache_dir: Option<&Path>,
        oos_threshold: f32,
        encoder: Option<Arc<Encoder>>,
    ) -> Result<Knowledge, KnowledgeError> {
        // The encoder compares FAQ questions by meaning; the vectors it computes here are the
        // ones the FAQ index reads from the cache below.
        let report = content::load_with_encoder(kb, intents, encoder.as_deref());
        if report.has_errors() {
            return Err(KnowledgeError::Invalid(report.diagnostics));
        }
        let warnings: Vec<Diagnostic> = report.warnings().cloned().collect();
        Self::build(
            report.content,
            nlu,
            cache_dir,
            oos_threshold,
            warnings,
            encoder,
        )
    }

    pub fn build(
        content: Content,
        nlu: &NluConfig,
        cache_dir: Option<&Path>,
        oos_threshold: f32,
        warnings: Vec<Diagnostic>,
        encoder: Option<Arc<Encoder>>,
    ) -> Result<Knowledge, KnowledgeError> {
        let params = train_params(nlu);
        let classifier = IntentClassifier::train_cached(
            &content.training_data(),
            &params,
            oos_threshold,
            cache_dir,
            encoder.as_deref(),
        )?;
        let index = FaqIndex::build_calibrated(content.faqs.clone(), encoder.as_deref())?;
        let version = content_version(&content);
        Ok(Knowledge {
            content,
            classifier,
            index,
            encoder,
            version,
            warnings,
            recent: RecentUnderstanding::new(nlu.cached_messages),
            gate: nlu.encoder_gate,
        })
    }

    /// Classifies normalised `text` and finds its best `faq_candidates` FAQs. `vector` is
    /// its encoder vector ([`Self::embed_message`]), when this snapshot uses one.
    pub fn understand(
        &self,
        text: &str,
        faq_candidates: usize,
        vector: Option<&[f32]>,
    ) -> Understood {
        let intent = self.classifier.classify(text, vector);
        let faq_hits = self
            .index
            .search(text, faq_candidates, vector)
            .unwrap_or_else(search_failed);
        Understood {
            intent,
            faq_hits: faq_hits.into(),
        }
    }

    /// What the n-gram classifier and BM25 alone make of normalised `text`, when [`gate`]
    /// says the bot would decide the same with the encoder (`thresholds`: the policy's intent
    /// and FAQ thresholds). `None`: the text needs the encoder's vector — or this snapshot
    /// uses no encoder, and [`Self::understand`] is as cheap.
    pub fn understand_without_encoder(
        &self,
        text: &str,
        faq_candidates: usize,
        thresholds: (f32, f32),
    ) -> Option<Understood> {
        if !self.uses_encoder() {
            return None;
        }
        let intent = self.classifier.classify(text, None);
        let hits = self
            .index
            .search_with_signals(text, faq_candidates, None)
            .unwrap_or_else(search_failed);
        let overlap = hits.first().map(|(_, signals)| signals.overlap);
        if !self
            .gate
            .is_sure(&intent, overlap, &self.content, thresholds)
        {
            return None;
        }
        Some(Understood {
            intent,
            faq_hits: hits.into_iter().map(|(hit, _)| hit).collect(),
        })
    }

    /// Whether this snapshot's models read encoder vectors.
    fn uses_encoder(&self) -> bool {
        self.encoder.is_some() && (self.classifier.uses_vectors() || self.index.uses_vectors())
    }

    /// The encoder vector of a normalised message, when this snapshot's models use one.
    pub async fn embed_message(
        &self,
        normalized: &str,
    ) -> Result<Option<std::sync::Arc<[f32]>>, EncoderError> {
        match &self.encoder {
            Some(e) if self.uses_encoder() => e.embed_message(normalized).await.map(Some),
            _ => Ok(None),
        }
    }
}

/// The index is in memory and immutable; a failed search is a bug, not bad input.
fn search_failed<T>(e: KbError) -> Vec<T> {
    tracing::error!(error = %e, "FAQ search failed; answering without FAQ candidates");
    Vec::new()
}

/// Training hyper-parameters from configuration.
pub fn train_params(nlu: &NluConfig) -> TrainParams {
    TrainParams {
        epochs: nlu.epochs,
        dim: nlu.embedding_dim,
        learning_rate: nlu.learning_rate,
        weight_decay: 1e-4,
        seed: nlu.seed,
    }
}

fn content_version(content: &Content) -> String {
    let mut h = Sha256::new();
    for f in &content.faqs {
        h.update(serde_json::to_vec(f).unwrap_or_default());
    }
    for i in &content.intents {
        h.update(serde_json::to_vec(i).unwrap_or_default());
    }
    h.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
