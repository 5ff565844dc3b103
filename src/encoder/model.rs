//! A BERT-family sentence encoder: tokenizer → transformer → masked mean pooling → L2
//! normalisation, the pipeline sentence-transformers runs for all-MiniLM-L6-v2.
//!
//! Data flow: texts → `tokenizer.json` (truncation at 256 tokens) → forward passes over
//! texts of similar length, each padded to its longest → candle-transformers' `BertModel`
//! (last hidden state) → the mean of the hidden states of real tokens (padding masked out) →
//! unit vectors. Cosine similarity of two outputs is their dot product.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{Encoding, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

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

    /// Embeds one batch of texts in one forward pass: one unit vector per text, in order.
    /// Every text costs as much as the longest; [`SentenceEncoder::embed_many`] avoids that.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let encodings = self.tokenize(texts)?;
        let rows: Vec<&Encoding> = encodings.iter().collect();
        self.forward(&rows)
    }

    /// Embeds any number of texts, each forward pass over texts of similar length (see
    /// [`similar_length_groups`]); results come back in the order of `texts`. What the
    /// encoder's workers run on a micro-batch, and what bulk embedding runs.
    pub fn embed_many(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        const MAX_BATCH: usize = 32;
        let encodings = self.tokenize(texts)?;
        let lengths: Vec<usize> = encodings.iter().map(real_tokens).collect();
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for group in similar_length_groups(&lengths, MAX_BATCH) {
            let rows: Vec<&Encoding> = group.iter().map(|&i| &encodings[i]).collect();
            for (&i, v) in group.iter().zip(self.forward(&rows)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Token ids of `texts`, truncated at [`MAX_TOKENS`] and padded on the right to the
    /// longest of them.
    fn tokenize(&self, texts: &[&str]) -> Result<Vec<Encoding>, EncoderError> {
        self.tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))
    }

    /// One forward pass over `rows`, padded only to the longest of them: right padding
    /// means each row's first `len` positions hold all its real tokens.
    fn forward(&self, rows: &[&Encoding]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let Some(len) = rows.iter().map(|e| real_tokens(e)).max() else {
            return Ok(Vec::new());
        };
        let batch = rows.len();
        let mut ids = Vec::with_capacity(batch * len);
        let mut mask = Vec::with_capacity(batch * len);
        for e in rows {
            ids.extend_from_slice(&e.get_ids()[..len]);
            mask.extend_from_slice(&e.get_attention_mask()[..len]);
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
}

/// The number of real (not padding) tokens of an encoding.
fn real_tokens(e: &Encoding) -> usize {
    e.get_attention_mask().iter().filter(|&&m| m != 0).count()
}

/// Texts with `lengths` (in tokens) split into forward passes: each pass holds at most
/// `max_batch` texts, and its longest text is at most twice its shortest (lengths under
/// [`SHORT_TOKENS`] count as that much, so short questions share a pass freely).
///
/// In one pass every text costs as much as the longest, so a single long message batched
/// with fifteen short ones would cost sixteen long ones: one client sending long messages
/// would slow every shopper whose message shares its pass. Grouped, a text costs at most
/// twice its own length.
pub fn similar_length_groups(lengths: &[usize], max_batch: usize) -> Vec<Vec<usize>> {
    let max_batch = max_batch.max(1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut shortest = 0;
    for i in order {
        let length = lengths[i].max(SHORT_TOKENS);
        match groups.last_mut() {
            Some(group) if group.len() < max_batch && length <= 2 * shortest => group.push(i),
            _ => {
                groups.push(vec![i]);
                shortest = length;
            }
        }
    }
    groups
}

/// Below this many tokens, texts batch together whatever their lengths.
pub const SHORT_TOKENS: usize = 16;

/// Dot product of two equal-length vectors (cosine similarity for unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths_of(groups: &[Vec<usize>], lengths: &[usize]) -> Vec<Vec<usize>> {
        groups
            .iter()
            .map(|g| g.iter().map(|&i| lengths[i]).collect())
            .collect()
    }

    #[test]
    fn a_long_text_gets_a_forward_pass_of_its_own() {
        let lengths = [9, 240, 12, 7, 11];
        let groups = similar_length_groups(&lengths, 16);
        assert_eq!(
            lengths_of(&groups, &lengths),
            vec![vec![7, 9, 11, 12], vec![240]]
        );
    }

    #[test]
    fn every_text_once_no_pass_too_big_or_too_uneven() {
        let lengths: Vec<usize> = (0..200).map(|i| (i * 37) % 257).collect();
        let groups = similar_length_groups(&lengths, 8);
        let mut seen: Vec<usize> = groups.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        for g in lengths_of(&groups, &lengths) {
            assert!(!g.is_empty() && g.len() <= 8, "{g:?}");
            let (lo, hi) = (g[0].max(SHORT_TOKENS), g[g.len() - 1].max(SHORT_TOKENS));
            assert!(hi <= 2 * lo, "{g:?}");
        }
        assert!(similar_length_groups(&[], 8).is_empty());
        assert_eq!(
            similar_length_groups(&[5, 5], 0).len(),
            2,
            "a batch of at least one"
        );
    }
}
