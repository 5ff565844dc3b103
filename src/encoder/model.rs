//! A BERT-family sentence encoder: tokenizer → transformer → masked mean pooling → L2
//! normalisation, the pipeline sentence-transformers runs for all-MiniLM-L6-v2.
//!
//! Data flow: texts → `tokenizer.json` (padding to the longest text in the batch, truncation
//! at 256 tokens) → candle-transformers' `BertModel` (last hidden state) → the mean of the
//! hidden states of real tokens (padding masked out) → unit vectors. Cosine similarity of two
//! outputs is their dot product.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// What goes wrong loading or running an encoder.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("{path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("encoder: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The inference queue is full; the caller should retry shortly.
    #[error("the sentence encoder is saturated; retry shortly")]
    Busy,
    /// The inference workers have stopped (the process is shutting down).
    #[error("the sentence encoder has stopped")]
    Stopped,
}

/// The longest input the encoder reads, in tokens; longer text is truncated, as
/// sentence-transformers does for this model.
pub const MAX_TOKENS: usize = 256;

/// A loaded sentence encoder. Immutable and shareable across threads.
pub struct SentenceEncoder {
    model: BertModel,
    tokenizer: Tokenizer,
    dim: usize,
    /// Identifies the weights and tokenizer: embeddings cached under another key are not
    /// reused.
    fingerprint: String,
    name: String,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("name", &self.name)
            .field("dim", &self.dim)
            .finish()
    }
}

impl SentenceEncoder {
    /// The three files a model directory must hold.
    pub const FILES: [&'static str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

    /// True when `dir` looks like a model directory (all three files present).
    pub fn is_model_dir(dir: &Path) -> bool {
        Self::FILES.iter().all(|f| dir.join(f).is_file())
    }

    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<SentenceEncoder, EncoderError> {
        let path_of = |f: &str| dir.join(f);
        let load_err = |f: &str, message: String| EncoderError::Load {
            path: path_of(f),
            message,
        };
        let read = |f: &str| std::fs::read(path_of(f)).map_err(|e| load_err(f, e.to_string()));

        let config_bytes = read("config.json")?;
        let config: BertConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| load_err("config.json", e.to_string()))?;
        let tokenizer_bytes = read("tokenizer.json")?;
        let mut tokenizer = Tokenizer::from_bytes(&tokenizer_bytes)
            .map_err(|e| load_err("tokenizer.json", e.to_string()))?;
        // The shipped tokenizer pads every input to 128 tokens, which costs five times the
        // compute for a short question; pad a batch only to its longest member.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| load_err("tokenizer.json", e.to_string()))?;

        let weights = path_of("model.safetensors");
        let weight_bytes = read("model.safetensors")?;
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(&config_bytes);
        hasher.update(&tokenizer_bytes);
        hasher.update(&weight_bytes);
        let fingerprint = format!("{:032x}", hasher.digest128());
        let vb = VarBuilder::from_buffered_safetensors(weight_bytes, DType::F32, &Device::Cpu)
            .map_err(|e| load_err("model.safetensors", e.to_string()))?;
        let model = BertModel::load(vb, &config).map_err(|e| EncoderError::Load {
            path: weights.clone(),
            message: e.to_string(),
        })?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "encoder".into());
        Ok(SentenceEncoder {
            model,
            tokenizer,
            dim: config.hidden_size,
            fingerprint,
            name,
        })
    }

    /// Length of the vectors this encoder produces.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// A hash of the weights, tokenizer and configuration.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The model directory's name, for logs and reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Embeds one batch of texts: one unit vector per text, in order. Texts of similar length
    /// batch best; [`SentenceEncoder::embed_many`] arranges that.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
        let batch = encodings.len();
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(batch * len);
        let mut mask = Vec::with_capacity(batch * len);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let device = Device::Cpu;
        let ids = Tensor::from_vec(ids, (batch, len), &device)?;
        let mask = Tensor::from_vec(mask, (batch, len), &device)?;
        let token_types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &token_types, Some(&mask))?;
        // Masked mean over tokens: padding contributes nothing to the sum or the count.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        let unit = mean.broadcast_div(&norms)?;
        Ok(unit.to_vec2::<f32>()?)
    }

    /// Embeds any number of texts, batching texts of similar length together; results come
    /// back in the order of `texts`.
    pub fn embed_many(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        const BATCH: usize = 32;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        // Character count is a cheap stand-in for token count.
        order.sort_by_key(|&i| texts[i].chars().count());
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            for (&i, v) in chunk.iter().zip(self.embed_batch(&batch)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

/// Dot product of two equal-length vectors (cosine similarity for unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
